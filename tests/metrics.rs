//! The metrics every run writes and the alerts shipped for them, against the real tools:
//! `promtool check metrics` reads each file a run writes (a success, a partial, a failure, a
//! busy run), `promtool test rules` runs the rules' unit tests, node_exporter serves the
//! folder through its textfile collector, and Prometheus scrapes it with the rules loaded: it
//! raises the no-success alert when the last success is 30 hours old and drops it after a
//! fresh successful run. Every server is this test's own, on a free port of 127.0.0.1, stopped
//! by its PID.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

const TZ: &str = "UTC";
/// Where runs write their metrics by default, under HOME.
const DEFAULT_FILE: &str = "02luka/g/metrics/parquet_exporter.prom";

fn promtool() -> PathBuf {
    program(
        &["promtool"],
        "apt-get install -y prometheus, or brew install prometheus",
    )
}

fn rules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dashboards/prometheus")
}

/// The metrics file a run in `home` wrote at the default place, after `promtool check
/// metrics` read it and said nothing.
fn checked(home: &Path) -> String {
    let text = std::fs::read_to_string(home.join(DEFAULT_FILE)).unwrap();
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {said}\n{text}"
    );
    text
}

/// The value of the line `series` (name and labels, as written) in `text`.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no line {series} in\n{text}"))
        .parse()
        .unwrap()
}

fn daily(family: &str) -> String {
    format!("parquet_exporter_{family}{{job=\"daily\"}}")
}

/// A success, a partial run, a failed run and a busy run each rewrite the file, which promtool
/// accepts every time; the failures move the last run's lines and leave the last success.
#[test]
fn every_run_rewrites_the_file_and_a_failure_keeps_the_last_success() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, TZ, &["2025-10-30"]);
    let base = || {
        let mut cmd = export_cmd(h, TZ);
        cmd.args(["--date", "2025-10-30", "--sqlite", "ops.db"]);
        cmd
    };

    let before = chrono::Utc::now().timestamp() as f64;
    assert_eq!(run(&mut base()).code, 0);
    let text = checked(h);
    let success = value(&text, &daily("last_success_timestamp_seconds"));
    assert!(success >= before, "{text}");
    assert_eq!(success, value(&text, &daily("last_run_timestamp_seconds")));
    assert_eq!(value(&text, &daily("last_run_exit_code")), 0.0);
    assert_eq!(value(&text, &daily("day_rows")), 288.0);
    // 2025-10-30T00:00:00Z
    assert_eq!(
        value(&text, &daily("day_start_timestamp_seconds")),
        1_761_782_400.0
    );
    assert_eq!(
        value(&text, &daily("day_end_timestamp_seconds")),
        1_761_868_800.0
    );
    assert_eq!(
        value(
            &text,
            "parquet_exporter_day_verdict{job=\"daily\",verdict=\"success\"}"
        ),
        1.0
    );
    assert_eq!(value(&text, &daily("day_coverage_ratio")), 1.0);
    let version = format!(
        "parquet_exporter_build_info{{version=\"{}\",schema=\"1\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&text, &version), 1.0);

    let partial = run(base().args(["--redis-url", &format!("unix://{}/none.sock", h.display())]));
    assert_eq!(partial.code, 3, "{}", partial.stderr);
    let text = checked(h);
    assert_eq!(value(&text, &daily("last_run_exit_code")), 3.0);
    assert_eq!(
        value(&text, &daily("last_success_timestamp_seconds")),
        success
    );
    assert_eq!(
        value(&text, "parquet_exporter_day_source_state{job=\"daily\",source=\"redis\",state=\"unavailable\"}"),
        1.0
    );
    assert_eq!(value(&text, &daily("consecutive_partial_runs")), 1.0);
    assert_eq!(
        value(
            &text,
            "parquet_exporter_source_consecutive_failed_runs{job=\"daily\",source=\"redis\"}"
        ),
        1.0
    );

    // Over a size limit of 1 KB: the run fails (exit 1) and publishes nothing.
    let failed = run(base().args(["--max-size", "0.001"]));
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    let text = checked(h);
    assert_eq!(value(&text, &daily("last_run_exit_code")), 1.0);
    assert_eq!(
        value(&text, &daily("last_success_timestamp_seconds")),
        success
    );
    assert!(value(&text, &daily("last_run_timestamp_seconds")) > success);

    // Another run holds the summary dir's lock: busy, exit 6.
    let lock = std::fs::File::create(h.join("rep/.parquet-exporter.lock")).unwrap();
    lock.try_lock().unwrap();
    let busy = run(&mut base());
    assert_eq!(busy.code, 6, "{}", busy.stderr);
    drop(lock);
    let text = checked(h);
    assert_eq!(value(&text, &daily("last_run_exit_code")), 6.0);
    assert_eq!(
        value(&text, &daily("last_success_timestamp_seconds")),
        success
    );
    // The busy run exported no day: the partial streak is the last exporting run's.
    assert_eq!(value(&text, &daily("consecutive_partial_runs")), 1.0);
}

/// Catch-up counts its window after the run; an intraday run and an import write their own
/// job's lines and leave the daily job's as they were.
#[test]
fn each_job_has_its_lines_and_catch_up_counts_its_window() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(
        h,
        TZ,
        &["2025-10-30", "2025-10-31", "2025-11-01", "2025-11-02"],
    );
    let now = "2025-11-03T06:00:00Z";
    let out = run(export_cmd(h, TZ).args(["--date", "2025-10-30", "--sqlite", "ops.db"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Two of the three days after the oldest file: yesterday (11-02) is left for the next run.
    let out = run(export_cmd(h, TZ).args([
        "--catch-up",
        "--max-days",
        "2",
        "--now",
        now,
        "--sqlite",
        "ops.db",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = checked(h);
    let days = |state: &str| {
        value(
            &text,
            &format!("parquet_exporter_catch_up_dates{{state=\"{state}\"}}"),
        )
    };
    assert_eq!(
        (days("complete"), days("missing"), days("partial")),
        (3.0, 1.0, 0.0),
        "{text}"
    );
    // The run's time is its --now; the day it covered the last it exported.
    assert_eq!(
        value(&text, &daily("last_success_timestamp_seconds")),
        1_762_149_600.0
    );
    assert_eq!(
        value(&text, &daily("day_start_timestamp_seconds")),
        1_761_955_200.0
    );

    let out = run(exporter(h).args([
        "simulate",
        "--date",
        "2025-11-03",
        "--tz",
        TZ,
        "--sqlite",
        "ops.db",
        "--now",
        now,
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(export_cmd(h, TZ).args(["--intraday", "--now", now, "--sqlite", "ops.db"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = checked(h);
    let intraday = |family: &str| {
        value(
            &text,
            &format!("parquet_exporter_{family}{{job=\"intraday\"}}"),
        )
    };
    // The intraday file ends at its cut, 06:00.
    assert_eq!(intraday("day_end_timestamp_seconds"), 1_762_149_600.0);
    assert_eq!(intraday("day_hosts_silent"), 0.0);
    assert_eq!(
        value(
            &text,
            "parquet_exporter_day_verdict{job=\"intraday\",verdict=\"incomplete\"}"
        ),
        1.0
    );
    assert_eq!(
        value(&text, &daily("last_success_timestamp_seconds")),
        1_762_149_600.0
    );
    assert_eq!(
        value(
            &text,
            "parquet_exporter_schedule_installed{job=\"intraday\"}"
        ),
        0.0
    );
    assert_eq!(
        days("missing"),
        1.0,
        "only a catch-up run counts the window"
    );
    // An hour later the host has sent nothing since 06:00: silent at the end of the data.
    let out = run(export_cmd(h, TZ).args([
        "--intraday",
        "--now",
        "2025-11-03T07:00:00Z",
        "--sqlite",
        "ops.db",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = checked(h);
    let intraday = |family: &str| {
        value(
            &text,
            &format!("parquet_exporter_{family}{{job=\"intraday\"}}"),
        )
    };
    assert_eq!(intraday("day_hosts_silent"), 1.0, "{text}");
    assert!(intraday("day_end_silence_seconds") > 3600.0, "{text}");

    let legacy = h.join("legacy");
    std::fs::create_dir(&legacy).unwrap();
    // 2025-10-25 from 00:00 UTC, a day before the daily files.
    write_legacy_rows(
        &legacy.join("old.parquet"),
        &legacy_beats(1_761_350_400_000, 10),
    );
    let out = run(exporter(h).args([
        "import-legacy",
        "legacy",
        "--tz",
        TZ,
        "--out-dir",
        "out",
        "--summary-dir",
        "rep",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = checked(h);
    let import = |family: &str| {
        value(
            &text,
            &format!("parquet_exporter_{family}{{job=\"import\"}}"),
        )
    };
    assert_eq!(import("last_run_exit_code"), 0.0);
    assert_eq!(import("day_start_timestamp_seconds"), 1_761_350_400.0);
    assert!(!text.contains("parquet_exporter_day_rows{job=\"import\"}"));
    assert_eq!(
        value(&text, &daily("last_success_timestamp_seconds")),
        1_762_149_600.0
    );
}

/// A metrics file that cannot be written (its folder is a file) is a warning: the run's
/// outputs and exit status are as they would be without it.
#[test]
fn a_metrics_file_that_cannot_be_written_is_a_warning_not_a_failure() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, TZ, &["2025-10-30"]);
    std::fs::write(h.join("not-a-folder"), "").unwrap();
    for (extra, code) in [
        (None, 0),
        (Some(format!("unix://{}/none.sock", h.display())), 3),
    ] {
        let mut cmd = export_cmd(h, TZ);
        cmd.args([
            "--date",
            "2025-10-30",
            "--sqlite",
            "ops.db",
            "--metrics-file",
            "not-a-folder/m.prom",
        ]);
        if let Some(url) = extra {
            cmd.args(["--redis-url", &url]);
        }
        let out = run(&mut cmd);
        assert_eq!(out.code, code, "{}", out.stderr);
        assert!(
            out.stderr
                .contains("the metrics file not-a-folder/m.prom was not updated")
                && out
                    .stderr
                    .contains(&format!("the run's exit status ({code}) is unchanged")),
            "{}",
            out.stderr
        );
        assert!(h.join("out/ops_atomic_20251030.parquet").is_file());
        assert!(h.join("rep/parquet_export_summary_20251030.md").is_file());
    }
}

/// The flag, its variable and the config file's `metrics_file` name the file; an empty value
/// turns the metrics off; a dry run writes none. The schedules pass the file on.
#[test]
fn the_file_comes_from_flag_environment_or_config_and_dry_runs_write_none() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, TZ, &["2025-10-30"]);
    let base = || {
        let mut cmd = export_cmd(h, TZ);
        cmd.args(["--date", "2025-10-30", "--sqlite", "ops.db"]);
        cmd
    };
    assert_eq!(run(base().arg("--dry")).code, 0);
    assert!(!h.join("02luka").exists(), "a dry run creates nothing");

    let env_file = h.join("env/m.prom");
    assert_eq!(
        run(base().env("PARQUET_EXPORTER_METRICS_FILE", &env_file)).code,
        0
    );
    assert!(env_file.is_file());
    let flag_file = h.join("flag/m.prom");
    let out = run(base()
        .env("PARQUET_EXPORTER_METRICS_FILE", &env_file)
        .arg("--metrics-file")
        .arg(&flag_file));
    assert_eq!(out.code, 0);
    assert!(flag_file.is_file(), "the flag wins over the environment");

    std::fs::write(h.join("cfg.toml"), "metrics_file = \"~/cfg/m.prom\"\n").unwrap();
    assert_eq!(run(base().args(["--config", "cfg.toml"])).code, 0);
    assert!(
        h.join("cfg/m.prom").is_file(),
        "~ is HOME in the config file"
    );

    std::fs::write(h.join("off.toml"), "metrics_file = \"\"\n").unwrap();
    assert_eq!(run(base().args(["--config", "off.toml"])).code, 0);
    assert!(
        !h.join(DEFAULT_FILE).exists(),
        "set empty, the metrics are off"
    );

    // The schedules carry the file this shell resolves, so a run started by launchd or
    // systemd writes where node_exporter is told to look.
    let want = h.join(DEFAULT_FILE).display().to_string();
    let plist = run(exporter(h).args(["launchd", "print"]));
    assert!(
        plist.stdout.contains(&format!(
            "<key>PARQUET_EXPORTER_METRICS_FILE</key>\n\t\t<string>{want}</string>"
        )),
        "{}",
        plist.stdout
    );
    let units = run(exporter(h).args(["systemd", "print", "--intraday"]));
    assert!(
        units.stdout.contains(&format!(
            "Environment=\"PARQUET_EXPORTER_METRICS_FILE={want}\""
        )),
        "{}",
        units.stdout
    );
    let off = run(exporter(h).args(["--config", "off.toml", "systemd", "print"]));
    assert!(
        !off.stdout.contains("PARQUET_EXPORTER_METRICS_FILE"),
        "{}",
        off.stdout
    );
}

/// Every alert has a unit test, and promtool runs them all.
#[test]
fn the_alert_rules_pass_their_promtool_unit_tests() {
    let rules = std::fs::read_to_string(rules_dir().join("parquet_exporter.rules.yml")).unwrap();
    let tests =
        std::fs::read_to_string(rules_dir().join("parquet_exporter.rules.test.yml")).unwrap();
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(alerts.len() >= 7, "{alerts:?}");
    for a in &alerts {
        assert!(
            tests.contains(&format!(
                "alertname: {a}\n        exp_alerts:\n          - exp_labels:"
            )),
            "{a} has no test in which it fires"
        );
    }
    let check = Command::new(promtool())
        .args(["check", "rules", "parquet_exporter.rules.yml"])
        .current_dir(rules_dir())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let test = Command::new(promtool())
        .args(["test", "rules", "parquet_exporter.rules.test.yml"])
        .current_dir(rules_dir())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&test.stdout);
    assert!(
        test.status.success() && said.contains("SUCCESS"),
        "{said}{}",
        String::from_utf8_lossy(&test.stderr)
    );
}

/// The state of the alert `name` Prometheus reports (`pending`, `firing`), if it is active.
fn alert_state(prometheus: &Server, name: &str) -> Option<String> {
    let (status, body) = prometheus.get("/api/v1/alerts");
    assert_eq!(status, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    doc["data"]["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == name && a["labels"]["job"] == "daily")
        .and_then(|a| a["state"].as_str().map(str::to_string))
}

/// Polls `ready` every 250 ms until it holds or `limit` passes, then fails with `why` and the
/// server's log.
fn wait_until(limit: Duration, server: &Server, why: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{why} within {limit:?}; the server's log ends:\n{}",
            server.log_tail()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The whole path, as an ops team runs it: the binary writes the file, node_exporter serves
/// its folder, Prometheus scrapes it every second with the shipped rules. A last success 30
/// hours old raises the no-success alert; a fresh successful run clears it.
#[test]
fn prometheus_alerts_on_a_stale_success_through_node_exporter_and_not_after_a_fresh_one() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let now = chrono::Utc::now();
    let then = now - chrono::Duration::hours(30);
    let old_day = then.date_naive().pred_opt().unwrap().to_string();
    let fresh_day = now.date_naive().pred_opt().unwrap().to_string();
    archive(h, TZ, &[&old_day, &fresh_day]);

    // A run 30 hours ago (a replay with --now), which succeeded.
    let out = run(export_cmd(h, TZ).args([
        "--date",
        &old_day,
        "--sqlite",
        "ops.db",
        "--now",
        &then.to_rfc3339(),
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = checked(h);
    assert_eq!(
        value(&text, &daily("last_success_timestamp_seconds")),
        then.timestamp_millis() as f64 / 1000.0
    );

    let work = tempfile::tempdir().unwrap();
    let node = node_exporter(&h.join("02luka/g/metrics"), &work.path().join("node.log"));
    let (status, page) = node.get("/metrics");
    assert_eq!(status, 200);
    assert!(page.contains("\nnode_textfile_scrape_error 0\n"), "{page}");
    assert!(
        page.contains("parquet_exporter_last_success_timestamp_seconds{job=\"daily\"}"),
        "{page}"
    );

    let config = work.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: node\n    honor_labels: true\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            rules_dir().join("parquet_exporter.rules.yml").display(),
            node.port
        ),
    )
    .unwrap();
    let prom = prometheus(
        &config,
        &work.path().join("data"),
        &work.path().join("prometheus.log"),
    );
    // Until its storage is open it answers 503.
    wait_until(
        Duration::from_secs(120),
        &prom,
        "Prometheus not ready",
        || prom.get("/-/ready").0 == 200,
    );
    let name = "ParquetExporterNoRecentSuccess";
    wait_until(
        Duration::from_secs(120),
        &prom,
        "no pending or firing no-success alert",
        || {
            matches!(
                alert_state(&prom, name).as_deref(),
                Some("pending" | "firing")
            )
        },
    );

    let out = run(export_cmd(h, TZ).args(["--date", &fresh_day, "--sqlite", "ops.db"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    wait_until(
        Duration::from_secs(120),
        &prom,
        "the no-success alert still active after a fresh success",
        || alert_state(&prom, name).is_none(),
    );
    let (_, page) = node.get("/metrics");
    assert!(page.contains("\nnode_textfile_scrape_error 0\n"), "{page}");
}

/// A metrics file path that names another file (the SQLite source, a day file) leaves that
/// file as it is: the run warns, naming it and why, and exits as it would have.
#[test]
fn a_metrics_path_naming_another_file_leaves_that_file_alone() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, TZ, &["2025-10-30"]);
    let base = |metrics: &str| {
        let mut cmd = export_cmd(h, TZ);
        cmd.args([
            "--date",
            "2025-10-30",
            "--sqlite",
            "ops.db",
            "--metrics-file",
            metrics,
        ]);
        cmd
    };
    let first = run(&mut base("m.prom"));
    assert_eq!(first.code, 0, "{}", first.stderr);
    for other in ["ops.db", "out/ops_atomic_20251030.parquet"] {
        let before = std::fs::read(h.join(other)).unwrap();
        let out = run(&mut base(other));
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(std::fs::read(h.join(other)).unwrap(), before, "{other}");
        assert!(
            out.stderr
                .contains(&format!("the metrics file {other} was not updated"))
                && out.stderr.contains("left as it is")
                && out
                    .stderr
                    .contains("the run's exit status (0) is unchanged"),
            "{}",
            out.stderr
        );
    }
}

/// Two instances on one machine: each writes its own default file, every series labelled with
/// its name, and node_exporter serves both from one folder without a clash. One instance
/// never takes over the other's file.
#[test]
fn instances_have_their_own_files_and_labels() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, TZ, &["2025-10-30"]);
    let base = |instance: &str| {
        let mut cmd = export_cmd(h, TZ);
        cmd.args([
            "--date",
            "2025-10-30",
            "--sqlite",
            "ops.db",
            "--instance",
            instance,
        ]);
        cmd
    };
    for i in ["site-a", "site-b"] {
        let out = run(&mut base(i));
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let dir = h.join("02luka/g/metrics");
    assert!(!dir.join("parquet_exporter.prom").exists());
    for i in ["site-a", "site-b"] {
        let text = std::fs::read_to_string(dir.join(format!("parquet_exporter.{i}.prom"))).unwrap();
        let series = format!(
            "parquet_exporter_last_run_exit_code{{exporter_instance=\"{i}\",job=\"daily\"}}"
        );
        assert_eq!(value(&text, &series), 0.0, "{text}");
        assert!(text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .all(|l| l.contains(&format!("exporter_instance=\"{i}\""))));
    }
    let work = tempfile::tempdir().unwrap();
    let node = node_exporter(&dir, &work.path().join("node.log"));
    let (status, page) = node.get("/metrics");
    assert_eq!(status, 200);
    assert!(page.contains("\nnode_textfile_scrape_error 0\n"), "{page}");
    for i in ["site-a", "site-b"] {
        assert!(
            page.contains(&format!(
                "parquet_exporter_last_run_exit_code{{exporter_instance=\"{i}\",job=\"daily\"}} 0"
            )),
            "{page}"
        );
    }
    // site-b pointed at site-a's file: not its own, left as it is.
    let a = dir.join("parquet_exporter.site-a.prom");
    let before = std::fs::read(&a).unwrap();
    let out = run(base("site-b").arg("--metrics-file").arg(&a));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("left as it is"), "{}", out.stderr);
    assert_eq!(std::fs::read(&a).unwrap(), before);
}

/// A lone source that cannot be read fails the run with exit 5 (no source): each such run
/// still counts in its failing streak, and a run that reads it resets the streak.
#[test]
fn a_lone_failing_source_counts_in_its_streak() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, TZ, &["2025-10-30"]);
    let url = format!("unix://{}/none.sock", h.display());
    let streak = "parquet_exporter_source_consecutive_failed_runs{job=\"daily\",source=\"redis\"}";
    for n in [1.0, 2.0] {
        let out = run(export_cmd(h, TZ).args(["--date", "2025-10-30", "--redis-url", &url]));
        assert_eq!(out.code, 5, "{}", out.stderr);
        let text = checked(h);
        assert_eq!(value(&text, streak), n, "{text}");
    }
    let out = run(export_cmd(h, TZ).args(["--date", "2025-10-30", "--sqlite", "ops.db"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = checked(h);
    assert!(
        !text.contains(streak),
        "redis is not configured now: {text}"
    );
    assert_eq!(
        value(
            &text,
            "parquet_exporter_source_consecutive_failed_runs{job=\"daily\",source=\"sqlite\"}"
        ),
        0.0
    );
}

/// A run that keeps the day's existing file publishes nothing: the file figures are those of
/// the file that stands. A partial daily run beside a complete file, and an intraday run under
/// the day's complete file, both report the complete file.
#[test]
fn a_run_that_keeps_the_file_reports_the_file_that_stands() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, TZ, &["2025-10-30"]);
    let out = run(export_cmd(h, TZ).args(["--date", "2025-10-30", "--sqlite", "ops.db"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let url = format!("unix://{}/none.sock", h.display());
    let out = run(export_cmd(h, TZ).args([
        "--date",
        "2025-10-30",
        "--sqlite",
        "ops.db",
        "--redis-url",
        &url,
    ]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    let text = checked(h);
    let verdict = |job: &str, v: &str| {
        value(
            &text,
            &format!("parquet_exporter_day_verdict{{job=\"{job}\",verdict=\"{v}\"}}"),
        )
    };
    assert_eq!(verdict("daily", "success"), 1.0, "{text}");
    assert_eq!(verdict("daily", "partial"), 0.0, "{text}");
    assert_eq!(value(&text, &daily("day_rows")), 288.0);
    // The run itself was partial: its source and streak say so.
    assert_eq!(value(&text, &daily("consecutive_partial_runs")), 1.0);

    let out = run(export_cmd(h, TZ).args([
        "--intraday",
        "--now",
        "2025-10-30T06:00:00Z",
        "--sqlite",
        "ops.db",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = checked(h);
    let verdict = |v: &str| {
        value(
            &text,
            &format!("parquet_exporter_day_verdict{{job=\"intraday\",verdict=\"{v}\"}}"),
        )
    };
    assert_eq!(
        (verdict("success"), verdict("incomplete")),
        (1.0, 0.0),
        "{text}"
    );
    let intraday = |family: &str| {
        value(
            &text,
            &format!("parquet_exporter_{family}{{job=\"intraday\"}}"),
        )
    };
    assert_eq!(intraday("day_rows"), 288.0);
    // The complete file's data ends at the day's end, not at the run's 06:00 cut.
    assert_eq!(intraday("day_end_timestamp_seconds"), 1_761_868_800.0);
}

/// The Debian steps keep node_exporter's own textfile folder (other collectors write there,
/// and node_exporter refuses the flag twice): the metrics file goes into it, ARGS stay as
/// they are.
#[test]
fn the_debian_steps_write_into_node_exporters_folder_and_keep_its_flags() {
    let docs = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/operations.md"),
    )
    .unwrap();
    assert!(
        !docs.contains("s|^ARGS="),
        "the steps must not replace ARGS"
    );
    assert!(!docs.contains("/etc/default/prometheus-node-exporter"));
    assert!(
        docs.contains("metrics_file = \"/var/lib/prometheus/node-exporter/parquet_exporter.prom\"")
    );
    assert!(docs.contains("setfacl -m u:$USER:rwx /var/lib/prometheus/node-exporter"));
    assert!(docs.contains("$(brew --prefix)/etc/node_exporter.args"));
}

/// A path with a newline in it stays on one line of the warning, in the reason quoted from the
/// system too, as the path itself is escaped.
#[test]
fn a_path_in_the_warnings_reason_is_escaped() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, TZ, &["2025-10-30"]);
    std::fs::write(h.join("odd\nname.prom"), [0xff, 0xfe]).unwrap();
    let out = run(export_cmd(h, TZ).args([
        "--date",
        "2025-10-30",
        "--sqlite",
        "ops.db",
        "--metrics-file",
        "odd\nname.prom",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("was not updated"))
        .unwrap_or_else(|| panic!("{}", out.stderr));
    assert!(
        line.contains("not UTF-8") && line.contains("is unchanged"),
        "{line}"
    );
    assert_eq!(line.matches("odd\\u{a}name.prom").count(), 2, "{line}");
    assert!(!out.stderr.contains("odd\nname"), "{}", out.stderr);
}
