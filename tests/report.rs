//! `verify --report` on a deployment built the way an operator builds one: a week of exports
//! run through the wrapper, the LaunchAgent (or systemd timer) installed, a live SQLite or Redis
//! source. Then each way it can go wrong, and the verdict and exit status it gives.

use crate::common;

use std::path::{Path, PathBuf};

use chrono::{Days, Utc};
use common::{exporter, run, Redis};
use serde_json::Value;

const PLIST: &str = "Library/LaunchAgents/com.02luka.analytics.parquet.plist";
const TIMER: &str = ".config/systemd/user/parquet-exporter.timer";

fn wrapper() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("launchd/run_parquet_exporter.sh")
}

fn yesterday() -> chrono::NaiveDate {
    Utc::now().date_naive() - Days::new(1)
}

/// The last 8 days, ending yesterday (UTC), simulated into `ops.db` and exported by one
/// backfill; then a scheduled run through the wrapper (which writes the log) and a live beat a
/// minute old.
fn deployment(home: &Path) {
    let last = yesterday();
    let first = last - Days::new(7);
    let dates: Vec<String> = first.iter_days().take(8).map(|d| d.to_string()).collect();
    let dates: Vec<&str> = dates.iter().map(String::as_str).collect();
    common::archive(home, "UTC", &dates);
    let bin = assert_cmd::cargo::cargo_bin("parquet-exporter");
    let export = run(exporter(home)
        .env("PARQUET_EXPORTER_BIN", &bin)
        .env("PARQUET_EXPORTER_TZ", "UTC")
        .env("PARQUET_EXPORTER_SQLITE", "ops.db")
        .arg("--from")
        .arg(first.to_string())
        .arg("--to")
        .arg(last.to_string()));
    assert_eq!(export.code, 0, "{}", export.stderr);
    // Through the wrapper too, as the schedule runs it, so that the log exists.
    let wrapped = std::process::Command::new("bash")
        .arg(wrapper())
        .arg("--catch-up")
        .env("HOME", home)
        .env("PARQUET_EXPORTER_BIN", &bin)
        .env("PARQUET_EXPORTER_TZ", "UTC")
        .env("PARQUET_EXPORTER_SQLITE", home.join("ops.db"))
        .current_dir(home)
        .output()
        .unwrap();
    assert!(
        wrapped.status.success(),
        "{}",
        String::from_utf8_lossy(&wrapped.stderr)
    );
    live_beat(home, 60_000);
    // The schedule counts as loaded (see common::service_manager) until a test unloads it.
    std::fs::write(home.join(".schedule-loaded"), "").unwrap();
}

fn live_beat(home: &Path, age_ms: i64) {
    let conn = rusqlite::Connection::open(home.join("ops.db")).unwrap();
    conn.execute(
        "INSERT INTO ops_atomic_heartbeats (record_id, report_type, ts, status) VALUES (?1, 'heartbeat', ?2, 'healthy')",
        rusqlite::params![format!("live-{age_ms}"), Utc::now().timestamp_millis() - age_ms],
    )
    .unwrap();
}

/// Deletes the live beats and every archived record of the last two hours: yesterday's last
/// beats are minutes old just after midnight UTC, and a test of a stale heartbeat must not
/// depend on the hour it runs at.
fn no_record_in_the_last_two_hours(home: &Path) {
    let cutoff = Utc::now() - chrono::Duration::hours(2);
    let text = cutoff.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let conn = rusqlite::Connection::open(home.join("ops.db")).unwrap();
    conn.execute(
        "DELETE FROM ops_atomic_heartbeats WHERE record_id LIKE 'live-%' \
         OR (typeof(ts) = 'integer' AND ts > ?1) OR (typeof(ts) = 'text' AND ts > ?2)",
        rusqlite::params![cutoff.timestamp_millis(), text],
    )
    .unwrap();
}

fn install_plist(home: &Path) {
    let plist = run(exporter(home)
        .args(["launchd", "print", "--wrapper"])
        .arg(wrapper()));
    assert_eq!(plist.code, 0, "{}", plist.stderr);
    let path = home.join(PLIST);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, plist.stdout).unwrap();
}

struct Report {
    code: i32,
    doc: Value,
    markdown: String,
}

fn report(home: &Path, extra: &[&str]) -> Report {
    let path = home.join("report.md");
    let path_var = common::path_with(&common::service_manager(home));
    let out = run(exporter(home)
        .env("PATH", path_var)
        .args(["verify", "--json", "--wrapper"])
        .arg(wrapper())
        .args(extra)
        .args(if extra.contains(&"--tz") {
            &[][..]
        } else {
            &["--tz", "UTC"][..]
        })
        .arg("--report")
        .arg(&path));
    assert!(
        out.stderr.is_empty() || !out.stderr.contains("error"),
        "{}",
        out.stderr
    );
    let doc: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    Report {
        code: out.code,
        doc,
        markdown: std::fs::read_to_string(&path).unwrap(),
    }
}

fn mark<'a>(doc: &'a Value, section: &str, name: &str) -> &'a str {
    doc[section]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {section}: {doc}"))["mark"]
        .as_str()
        .unwrap()
}

fn reasons(doc: &Value) -> String {
    doc["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_working_deployment_is_full_success_and_each_defect_says_why() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    deployment(h);
    install_plist(h);

    let r = report(h, &["--sqlite", "ops.db"]);
    assert_eq!(r.code, 0, "{}", r.doc);
    assert_eq!(r.doc["verdict"], "full_success", "{}", r.doc);
    for section in ["deployment", "metrics"] {
        for line in r.doc[section].as_array().unwrap() {
            assert_eq!(line["mark"], "ok", "{line}");
        }
    }
    let actual = |name: &str| metric_actual(&r.doc, name);
    let (first, last) = (yesterday() - Days::new(7), yesterday());
    assert_eq!(
        actual("Export frequency"),
        format!("8 of 8 days from {first} to {last} have a file")
    );
    assert!(
        actual("Export duration").starts_with("slowest "),
        "{}",
        actual("Export duration")
    );
    assert!(actual("Export duration").ends_with("over the last 7 summaries"));
    assert!(actual("File size").starts_with("largest "));
    assert_eq!(
        actual("Compression"),
        "snappy in every column of all 8 files"
    );
    let schedule = actual("Schedule");
    assert!(
        schedule.starts_with("LaunchAgent: 02:30 daily; loaded (`launchctl print gui/")
            && schedule.ends_with("/com.02luka.analytics.parquet`)"),
        "{schedule}"
    );
    assert!(
        actual("Heartbeat coverage").starts_with("100.0% ("),
        "{}",
        actual("Heartbeat coverage")
    );
    assert_eq!(actual("Schema consistency"), "100% (8 of 8 files)");
    assert_eq!(mark(&r.doc, "health", "Database"), "ok");
    assert_eq!(mark(&r.doc, "health", "Redis"), "not_configured");
    assert_eq!(mark(&r.doc, "health", "Heartbeat"), "ok");
    for heading in [
        "## Deployment",
        "## Verification metrics",
        "## System health",
        "## Final verdict",
        "**✅ Full success**",
    ] {
        assert!(r.markdown.contains(heading), "{heading}:\n{}", r.markdown);
    }

    // The agent installed at another hour: Partial, and why.
    let plist = h.join(PLIST);
    let good = std::fs::read_to_string(&plist).unwrap();
    std::fs::write(
        &plist,
        good.replace("<integer>2</integer>", "<integer>3</integer>"),
    )
    .unwrap();
    let r = report(h, &["--sqlite", "ops.db"]);
    assert_eq!((r.code, r.doc["verdict"].as_str()), (3, Some("partial")));
    assert!(
        reasons(&r.doc).contains("Schedule: LaunchAgent: 03:30 daily; loaded"),
        "{}",
        reasons(&r.doc)
    );
    assert!(r.markdown.contains("**⚠️ Partial success**") && r.markdown.contains("03:30 daily"));
    std::fs::write(&plist, &good).unwrap();

    // A day file gone from the middle of the week: Partial, naming the day.
    let gone = yesterday() - Days::new(3);
    let file = h.join(format!(
        "02luka/g/analytics/ops_atomic_{}.parquet",
        gone.format("%Y%m%d")
    ));
    let kept = std::fs::read(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    let r = report(h, &["--sqlite", "ops.db"]);
    assert_eq!(r.code, 3, "{}", r.doc);
    assert!(
        reasons(&r.doc).contains(&format!("missing: {gone}")),
        "{}",
        reasons(&r.doc)
    );
    std::fs::write(&file, kept).unwrap();

    // Yesterday's file gone: the exports have stopped.
    let y = h.join(format!(
        "02luka/g/analytics/ops_atomic_{}.parquet",
        yesterday().format("%Y%m%d")
    ));
    let kept = std::fs::read(&y).unwrap();
    std::fs::remove_file(&y).unwrap();
    let r = report(h, &["--sqlite", "ops.db"]);
    if Utc::now().time() >= chrono::NaiveTime::from_hms_opt(3, 0, 0).unwrap() {
        assert_eq!(r.code, 3, "{}", r.doc);
        assert!(
            reasons(&r.doc).contains("no file since"),
            "{}",
            reasons(&r.doc)
        );
    }
    std::fs::write(&y, kept).unwrap();

    // No schedule installed: Pending, and the report says where it looked.
    std::fs::remove_file(&plist).unwrap();
    let r = report(h, &["--sqlite", "ops.db"]);
    assert_eq!((r.code, r.doc["verdict"].as_str()), (7, Some("pending")));
    assert!(reasons(&r.doc).contains("no LaunchAgent or systemd timer installed"));
    assert_eq!(
        reasons(&r.doc).matches("Schedule: ").count(),
        1,
        "one reason for one missing part: {}",
        reasons(&r.doc)
    );
    assert!(r.markdown.contains("**☐ Pending validation**"));
    // In the terminal, that reason is whole.
    let terminal = run(exporter(h)
        .args(["verify", "--tz", "UTC", "--sqlite", "ops.db", "--wrapper"])
        .arg(wrapper())
        .arg("--report")
        .arg(h.join("report.md")));
    assert!(
        terminal.stdout.contains(if cfg!(target_os = "macos") {
            "parquet-exporter launchd install"
        } else {
            "parquet-exporter systemd install"
        }),
        "{}",
        terminal.stdout
    );
    assert!(
        !terminal.stdout.contains("more characters"),
        "{}",
        terminal.stdout
    );

    // A systemd timer instead of the agent: the same schedule, read from OnCalendar.
    let units = run(exporter(h)
        .args(["systemd", "print", "--wrapper"])
        .arg(wrapper()));
    let timer = units
        .stdout
        .split("/.config/systemd/user/parquet-exporter.timer\n")
        .nth(1)
        .unwrap();
    let timer = timer.split("\n# then").next().unwrap();
    std::fs::create_dir_all(h.join(TIMER).parent().unwrap()).unwrap();
    std::fs::write(h.join(TIMER), timer).unwrap();
    let r = report(h, &["--sqlite", "ops.db"]);
    assert_eq!(r.code, 0, "{}", r.doc);
    // Installed but not enabled: systemctl says so, and that is Partial.
    std::fs::remove_file(h.join(".schedule-loaded")).unwrap();
    let r = report(h, &["--sqlite", "ops.db"]);
    assert_eq!(
        (r.code, r.doc["verdict"].as_str()),
        (3, Some("partial")),
        "{}",
        r.doc
    );
    assert!(
        reasons(&r.doc).contains("**not loaded**: `systemctl --user is-enabled/is-active parquet-exporter.timer` says disabled, inactive"),
        "{}",
        reasons(&r.doc)
    );
    std::fs::write(h.join(".schedule-loaded"), "").unwrap();
    std::fs::write(h.join(TIMER), timer.replace("02:30:00", "hourly")).unwrap();
    let r = report(h, &["--sqlite", "ops.db"]);
    assert_eq!(r.code, 3, "{}", r.doc);
    assert_eq!(mark(&r.doc, "metrics", "Schedule"), "failed");
}

#[test]
fn a_stale_heartbeat_or_a_dead_source_is_partial() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    deployment(h);
    install_plist(h);
    // Without the live beat the newest record is yesterday's last.
    std::fs::remove_file(h.join("ops.db-wal")).ok();
    no_record_in_the_last_two_hours(h);
    let r = report(h, &["--sqlite", "ops.db"]);
    assert_eq!(
        (r.code, r.doc["verdict"].as_str()),
        (3, Some("partial")),
        "{}",
        r.doc
    );
    assert_eq!(mark(&r.doc, "health", "Heartbeat"), "failed");
    live_beat(h, 9 * 60_000);
    let r = report(h, &["--sqlite", "ops.db"]);
    assert_eq!(r.code, 0, "a beat 9 minutes old is live: {}", r.doc);

    // The archive gone: the database check fails.
    let r = report(h, &["--sqlite", "missing.db"]);
    assert_eq!(r.code, 3, "{}", r.doc);
    assert_eq!(mark(&r.doc, "health", "Database"), "failed");
    assert!(
        reasons(&r.doc).contains("does not exist"),
        "{}",
        reasons(&r.doc)
    );
}

#[test]
fn redis_health_is_a_real_read_and_never_shows_the_password() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    deployment(h);
    install_plist(h);
    let pw = "Zq9?/#@&:% Wv7";
    let redis = Redis::start_with(&["--requirepass", pw]);
    let mut c = redis.conn_with_password(&urlencode(pw));
    Redis::xadd(
        &mut c,
        "ops:atomic:heartbeats",
        "*",
        &[("timestamp", "1"), ("status", "ok")],
    );

    // Redis alone answers for the heartbeat: its newest entry was added just now.
    let out = |pass: &str| {
        let path = h.join("redis-report.md");
        let o = run(exporter(h)
            .args(["verify", "--json", "--tz", "UTC", "--wrapper"])
            .arg(wrapper())
            .arg("--report")
            .arg(&path)
            .env("PARQUET_EXPORTER_REDIS_URL", redis.url())
            .env("PARQUET_EXPORTER_REDIS_PASSWORD", pass));
        let md = std::fs::read_to_string(&path).unwrap();
        (o, md)
    };
    let (o, md) = out(pw);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let doc: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(mark(&doc, "health", "Redis"), "ok");
    assert_eq!(mark(&doc, "health", "Database"), "not_configured");
    assert_eq!(mark(&doc, "health", "Heartbeat"), "ok");
    for text in [&o.stdout, &o.stderr, &md] {
        assert!(
            !text.contains(pw) && !text.contains(&urlencode(pw)),
            "{text}"
        );
    }

    // A wrong password: the read fails, and neither password shows.
    let wrong = "Wr0ng!pw#x";
    let (o, md) = out(wrong);
    assert_eq!(o.code, 3, "{}\n{}", o.stdout, o.stderr);
    let doc: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(mark(&doc, "health", "Redis"), "failed");
    for text in [&o.stdout, &o.stderr, &md] {
        assert!(!text.contains(pw) && !text.contains(wrong), "{text}");
    }
}

/// A least-privilege user that can export (TYPE, XRANGE, nothing else) gets a full health
/// check: the report asks only what the export asks.
#[test]
fn redis_health_needs_only_what_the_export_needs() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    deployment(h);
    install_plist(h);
    let redis = Redis::start_with(&[
        "--user", "reader", "on", ">pw", "~*", "&*", "+type", "+xrange",
    ]);
    Redis::xadd(
        &mut redis.conn(),
        "ops:atomic:heartbeats",
        "*",
        &[("timestamp", "1"), ("status", "ok")],
    );
    let url = format!(
        "redis+unix://{}?user=reader&pass=pw",
        redis.socket.display()
    );
    let path = h.join("acl-report.md");
    let o = run(exporter(h)
        .args(["verify", "--json", "--tz", "UTC", "--wrapper"])
        .arg(wrapper())
        .arg("--report")
        .arg(&path)
        .env("PARQUET_EXPORTER_REDIS_URL", &url));
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let doc: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(mark(&doc, "health", "Redis"), "ok", "{doc}");
    assert_eq!(mark(&doc, "health", "Heartbeat"), "ok", "{doc}");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn nothing_exported_yet_is_pending() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let r = report(h, &[]);
    assert_eq!(
        (r.code, r.doc["verdict"].as_str()),
        (7, Some("pending")),
        "{}",
        r.doc
    );
    let why = reasons(&r.doc);
    for part in [
        "Day files",
        "Summaries",
        "Log file",
        "Heartbeat: no source configured",
    ] {
        assert!(why.contains(part), "{part}: {why}");
    }
}

#[test]
fn day_files_in_the_hive_layout_are_found_and_measured() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let (first, last) = (yesterday() - Days::new(2), yesterday());
    let dates: Vec<String> = first.iter_days().take(3).map(|d| d.to_string()).collect();
    let dates: Vec<&str> = dates.iter().map(String::as_str).collect();
    common::archive(h, "UTC", &dates);
    let out = run(exporter(h)
        .args(["--tz", "UTC", "--sqlite", "ops.db", "--layout", "hive"])
        .arg("--from")
        .arg(first.to_string())
        .arg("--to")
        .arg(last.to_string()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = report(h, &["--sqlite", "ops.db"]);
    assert_eq!(mark(&r.doc, "deployment", "Day files"), "ok", "{}", r.doc);
    let frequency = r.doc["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "Export frequency")
        .unwrap();
    assert_eq!(
        frequency["actual"],
        format!("3 of 3 days from {first} to {last} have a file")
    );
    assert_eq!(frequency["mark"], "ok");
}

fn metric_actual(doc: &Value, name: &str) -> String {
    doc["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no metric {name}: {doc}"))["actual"]
        .as_str()
        .unwrap()
        .to_string()
}

fn health_detail(doc: &Value, name: &str) -> String {
    doc["health"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name)
        .unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_string()
}

/// What made an afternoon's report say Full success when it should not have: a record in the
/// future taken for a live heartbeat, an agent installed but not loaded, and (below) empty days
/// and low coverage.
#[test]
fn a_future_record_or_an_unloaded_agent_is_no_success() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    deployment(h);
    install_plist(h);
    assert_eq!(report(h, &["--sqlite", "ops.db"]).code, 0);

    // The only recent record is stamped 7 hours ahead; the newest before now is an hour old.
    no_record_in_the_last_two_hours(h);
    live_beat(h, 3_600_000);
    live_beat(h, -7 * 3_600_000);
    let r = report(h, &["--sqlite", "ops.db"]);
    assert_eq!(
        (r.code, r.doc["verdict"].as_str()),
        (3, Some("partial")),
        "{}",
        r.doc
    );
    assert_eq!(mark(&r.doc, "health", "Heartbeat"), "failed");
    let detail = health_detail(&r.doc, "Heartbeat");
    assert!(
        detail.contains("newest record at or before now 60 min ago"),
        "{detail}"
    );
    assert!(
        detail.contains("stamped after now") && detail.contains("no proof of life"),
        "{detail}"
    );

    // A live beat again, but the agent is not loaded: launchctl print says so.
    live_beat(h, 30_000);
    std::fs::remove_file(h.join(".schedule-loaded")).unwrap();
    let r = report(h, &["--sqlite", "ops.db"]);
    assert_eq!(
        (r.code, r.doc["verdict"].as_str()),
        (3, Some("partial")),
        "{}",
        r.doc
    );
    let schedule = metric_actual(&r.doc, "Schedule");
    assert!(
        schedule.contains("**not loaded**: `launchctl print gui/"),
        "{schedule}"
    );
    assert!(schedule.contains("Could not find service"), "{schedule}");
    let calls = std::fs::read_to_string(h.join(".service-calls")).unwrap();
    assert!(calls.contains("launchctl print gui/"), "{calls}");

    // The report says when in the report's zone and in UTC, and ends with a sign-off block.
    let r = report(h, &["--sqlite", "ops.db", "--tz", "Asia/Bangkok"]);
    let generated = r
        .markdown
        .lines()
        .find(|l| l.starts_with("Generated "))
        .unwrap();
    assert!(
        generated.contains("+07:00 (Asia/Bangkok), ")
            && generated.contains(" UTC, by parquet-exporter"),
        "{generated}"
    );
    let signoff = &r.markdown[r.markdown.find("## Sign-off").expect("a sign-off block")..];
    for row in [
        "| Generated by | parquet-exporter ",
        "| Generated at | ",
        "| Host | `",
        "| Regenerate with | `parquet-exporter verify --json",
        "| Reviewed by | |",
        "| Review date | |",
    ] {
        assert!(signoff.contains(row), "{row}:\n{signoff}");
    }
}

/// Two empty days in a row (the sources held nothing) and a day with half its heartbeats: each
/// shows, with the day, and each makes the report Partial.
#[test]
fn empty_days_and_low_coverage_make_the_report_partial() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    deployment(h);
    install_plist(h);
    let analytics = h.join("02luka/g/analytics");
    let file_of =
        |d: chrono::NaiveDate| analytics.join(format!("ops_atomic_{}.parquet", d.format("%Y%m%d")));
    let (a, b) = (yesterday() - Days::new(3), yesterday() - Days::new(2));

    // One empty day is shown but is no failure; two in a row are.
    let reexport = |days: &[chrono::NaiveDate], delete_from_ms: i64, delete_to_ms: i64| {
        let conn = rusqlite::Connection::open(h.join("ops.db")).unwrap();
        // Integer and RFC 3339 text stamps alike (the simulated archive holds both).
        conn.execute(
            "DELETE FROM ops_atomic_heartbeats WHERE (ts >= ?1 AND ts < ?2) OR (ts >= ?3 AND ts < ?4)",
            rusqlite::params![
                delete_from_ms,
                delete_to_ms,
                common::rfc3339(delete_from_ms),
                common::rfc3339(delete_to_ms)
            ],
        )
        .unwrap();
        for d in days {
            std::fs::remove_file(file_of(*d)).unwrap();
            let out = run(exporter(h).args([
                "--tz",
                "UTC",
                "--sqlite",
                "ops.db",
                "--date",
                &d.to_string(),
            ]));
            assert!(out.code == 0 || out.code == 4, "{}", out.stderr);
        }
    };
    let ms = |d: chrono::NaiveDate, hours: u32| {
        d.and_hms_opt(hours, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    };
    reexport(&[a], ms(a, 0), ms(b, 0));
    let r = report(h, &["--sqlite", "ops.db"]);
    assert_eq!(r.code, 0, "{}", r.doc);
    let freq = metric_actual(&r.doc, "Export frequency");
    assert!(
        freq.contains(&format!("empty (no record in any source): {a}")),
        "{freq}"
    );

    reexport(&[b], ms(b, 0), ms(b + Days::new(1), 0));
    let r = report(h, &["--sqlite", "ops.db"]);
    assert_eq!(
        (r.code, r.doc["verdict"].as_str()),
        (3, Some("partial")),
        "{}",
        r.doc
    );
    let freq = metric_actual(&r.doc, "Export frequency");
    assert!(
        freq.contains(&format!("{a}, {b}")) && freq.contains("2 empty days in a row"),
        "{freq}"
    );

    // Half of yesterday's heartbeats lost (and the empty days refilled): coverage under 95%.
    let y = yesterday();
    common::archive(h, "UTC", &[&a.to_string(), &b.to_string()]);
    for d in [a, b] {
        std::fs::remove_file(file_of(d)).unwrap();
        let out = run(exporter(h).args([
            "--tz",
            "UTC",
            "--sqlite",
            "ops.db",
            "--date",
            &d.to_string(),
        ]));
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    reexport(&[y], ms(y, 0), ms(y, 14));
    let r = report(h, &["--sqlite", "ops.db", "--days", "7"]);
    assert_eq!(
        (r.code, r.doc["verdict"].as_str()),
        (3, Some("partial")),
        "{}",
        r.doc
    );
    let cov = metric_actual(&r.doc, "Heartbeat coverage");
    assert!(cov.contains(&format!("under target: {y} 41.7%")), "{cov}");
    assert_eq!(mark(&r.doc, "metrics", "Heartbeat coverage"), "failed");
}

/// Today's intraday file is the running day: the report counts it neither as a day exported
/// nor as an empty or missing one, and the deployment stays Full success.
#[test]
fn todays_intraday_file_is_no_finished_day_in_the_report() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    deployment(h);
    install_plist(h);
    let before = metric_actual(&report(h, &["--sqlite", "ops.db"]).doc, "Export frequency");
    // Early in the day: no record yet today but the live beats (a zero-row file is possible too).
    let conn = rusqlite::Connection::open(h.join("ops.db")).unwrap();
    conn.execute(
        "DELETE FROM ops_atomic_heartbeats WHERE record_id LIKE 'live-%'",
        [],
    )
    .unwrap();
    drop(conn);
    let out = run(exporter(h).args(["--tz", "UTC", "--sqlite", "ops.db", "--intraday"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let today = Utc::now().date_naive();
    assert!(h
        .join(format!(
            "02luka/g/analytics/ops_atomic_{}.parquet",
            today.format("%Y%m%d")
        ))
        .exists());
    live_beat(h, 30_000);
    let r = report(h, &["--sqlite", "ops.db"]);
    assert_eq!(
        (r.code, r.doc["verdict"].as_str()),
        (0, Some("full_success")),
        "{}",
        r.doc
    );
    assert_eq!(metric_actual(&r.doc, "Export frequency"), before);
    assert_eq!(mark(&r.doc, "metrics", "Validation"), "ok");
}
