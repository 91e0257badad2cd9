//! The defects hostile testing found (issue "never replace a good day with a worse one"), each
//! reproduced with the commands that showed it, against the binary, a private redis-server and
//! real SQLite files.

use crate::common;

use std::path::{Path, PathBuf};

use common::{exporter, files_under, read_parquet, run, Output, Redis};

const TZ: &str = "Asia/Bangkok";
const DAY: &str = "2025-10-30";
/// 2025-10-30 in Bangkok is [2025-10-29T17:00Z, 2025-10-30T17:00Z).
const START: i64 = 1_761_757_200_000;

/// A SQLite archive with a simulated day (288 beats) for each date.
fn archive(home: &Path, dates: &[&str]) -> PathBuf {
    common::archive(home, TZ, dates)
}

/// `PE --tz … --out-dir out --summary-dir rep` in `home`, to add to.
fn pe_cmd(home: &Path) -> std::process::Command {
    common::export_cmd(home, TZ)
}

/// `PE --tz … --out-dir out --summary-dir rep` in `home`, plus `args`.
fn pe(home: &Path, args: &[&str]) -> Output {
    run(pe_cmd(home).args(args))
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn rows_in(p: &Path) -> usize {
    read_parquet(p).0.iter().map(|b| b.num_rows()).sum()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout {:?} stderr {}", out.stdout, out.stderr))
}

fn temp_files(dir: &Path) -> Vec<String> {
    files_under(dir)
        .into_iter()
        .filter(|f| f.ends_with(".tmp"))
        .collect()
}

/// A unix socket path where no server listens: a configured but unreachable Redis.
fn dead_redis(home: &Path) -> String {
    format!("unix://{}", home.join("no-such.sock").display())
}

#[test]
fn catch_up_goes_back_for_holes_and_short_days_and_ignores_future_files() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let days = [
        "2026-11-14",
        "2026-11-15",
        "2026-11-16",
        "2026-11-17",
        "2026-11-18",
        "2026-11-19",
    ];
    archive(h, &days);
    for d in ["2026-11-15", "2026-11-19"] {
        let out = pe(h, &["--sqlite", "ops.db", "--date", d]);
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    // 11-17 exported while Redis was down: partial, so catch-up must redo it.
    let out = run(pe_cmd(h)
        .args(["--sqlite", "ops.db", "--date", "2026-11-17"])
        .env("PARQUET_EXPORTER_REDIS_URL", dead_redis(h)));
    assert_eq!(out.code, 3, "{}", out.stderr);
    // A stray file dated in the future does not count as the newest day.
    std::fs::copy(
        h.join("out/ops_atomic_20261115.parquet"),
        h.join("out/ops_atomic_20300101.parquet"),
    )
    .unwrap();

    let out = pe(
        h,
        &[
            "--sqlite",
            "ops.db",
            "--catch-up",
            "--today",
            "2026-11-20",
            "--json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let done: Vec<String> = json(&out)["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["day"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        done,
        ["2026-11-16", "2026-11-17", "2026-11-18"],
        "11-14 is before the oldest file in the window: history for --from/--to"
    );
    let verdict = |d: &str| {
        let meta = read_parquet(&h.join(format!("out/ops_atomic_{d}.parquet"))).1;
        meta.file_metadata()
            .key_value_metadata()
            .unwrap()
            .iter()
            .find(|k| k.key == "ops_atomic.verdict")
            .and_then(|k| k.value.clone())
            .unwrap()
    };
    assert_eq!(verdict("20261117"), "success");
    assert_eq!(rows_in(&h.join("out/ops_atomic_20261117.parquet")), 288);

    let again = pe(
        h,
        &[
            "--sqlite",
            "ops.db",
            "--catch-up",
            "--today",
            "2026-11-20",
            "--json",
        ],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(json(&again)["days"].as_array().unwrap().len(), 0);
}

#[test]
fn a_day_that_has_not_ended_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, &["2026-11-19"]);
    for args in [
        &["--date", "2026-11-20", "--today", "2026-11-20"][..],
        &["--date", "2030-01-01", "--today", "2026-11-20"],
        &[
            "--from",
            "2026-11-19",
            "--to",
            "2026-11-20",
            "--today",
            "2026-11-20",
        ],
    ] {
        let out = pe(h, &[&["--sqlite", "ops.db"][..], args].concat());
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("has not ended yet"), "{}", out.stderr);
    }
    assert!(!h.join("out").exists(), "nothing written");
    // A dry run may look at the day so far.
    let out = pe(
        h,
        &[
            "--sqlite",
            "ops.db",
            "--date",
            "2026-11-20",
            "--today",
            "2026-11-20",
            "--dry",
        ],
    );
    assert_eq!(out.code, 4, "{}", out.stderr);
}

#[test]
fn a_redis_entry_stamped_far_from_its_id_is_rejected_on_the_ids_day() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let redis = Redis::start();
    let mut c = redis.conn();
    // Filed at noon on the 30th, stamped on 5 November: no day's read range holds both.
    Redis::xadd(
        &mut c,
        "s",
        &format!("{}-0", START + 12 * 3_600_000),
        &[("timestamp", "2025-11-05T12:00:00+07:00"), ("status", "ok")],
    );
    let base = ["--redis-stream", "s", "--json"];
    let out = run(pe_cmd(h)
        .args(["--date", DAY])
        .args(base)
        .env("PARQUET_EXPORTER_REDIS_URL", redis.url()));
    assert_eq!(out.code, 4, "{}", out.stderr);
    let r = json(&out);
    assert_eq!(r["rejected"], 1, "{r}");
    assert!(
        r["reject_reasons"]["timestamp_far_from_entry_id"].as_u64() > Some(0),
        "{r}"
    );
    assert!(
        r["reject_reasons"].is_object() && r["statuses"].is_object(),
        "one shape for both"
    );
    let rejects =
        std::fs::read_to_string(h.join("rep/ops_atomic_20251030.rejects.ndjson")).unwrap();
    assert!(rejects.contains("2025-11-05T12:00:00+07:00"), "{rejects}");
    // On its timestamp's day it is not read at all, so it is not counted twice.
    let out = run(pe_cmd(h)
        .args(["--date", "2025-11-05"])
        .args(base)
        .env("PARQUET_EXPORTER_REDIS_URL", redis.url()));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert_eq!(json(&out)["read"], 0);
}

#[test]
fn a_file_that_fails_its_checks_replaces_nothing() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, &[DAY]);
    let out = pe(h, &["--sqlite", "ops.db", "--date", DAY]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let good = read(&h.join("out/ops_atomic_20251030.parquet"));
    let summary = read(&h.join("rep/parquet_export_summary_20251030.md"));
    // More hosts make a bigger file, which is over a 5 kB limit: it must not be published.
    let out = run(exporter(h).args([
        "simulate", "--date", DAY, "--tz", TZ, "--sqlite", "ops.db", "--hosts", "a,b,c", "--bad",
        "3",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = pe(
        h,
        &["--sqlite", "ops.db", "--date", DAY, "--max-size", "0.005"],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("over the 0.005 MB limit set by --max-size"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("was not published"), "{}", out.stderr);
    assert_eq!(read(&h.join("out/ops_atomic_20251030.parquet")), good);
    assert_eq!(
        read(&h.join("rep/parquet_export_summary_20251030.md")),
        summary
    );
    assert!(!h.join("rep/ops_atomic_20251030.rejects.ndjson").exists());
    assert_eq!(temp_files(h), Vec::<String>::new());
    // Without the limit the bigger day is published, rejects and all.
    let out = pe(h, &["--sqlite", "ops.db", "--date", DAY, "--max-size", "0"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(rows_in(&h.join("out/ops_atomic_20251030.parquet")) > 288);
    assert!(h.join("rep/ops_atomic_20251030.rejects.ndjson").exists());
}

#[test]
fn an_unwritable_summary_dir_fails_before_anything_is_replaced() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, &[DAY]);
    let out = pe(h, &["--sqlite", "ops.db", "--date", DAY]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let good = read(&h.join("out/ops_atomic_20251030.parquet"));
    let summary = read(&h.join("rep/parquet_export_summary_20251030.md"));
    // A smaller day, with the summary dir a regular file.
    rusqlite::Connection::open(h.join("ops.db"))
        .unwrap()
        .execute_batch("DELETE FROM ops_atomic_heartbeats WHERE rowid % 2 = 0")
        .unwrap();
    std::fs::write(h.join("not-a-dir"), "").unwrap();
    let out = run(exporter(h).args([
        "--tz",
        TZ,
        "--out-dir",
        "out",
        "--summary-dir",
        "not-a-dir",
        "--sqlite",
        "ops.db",
        "--date",
        DAY,
    ]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("not-a-dir"), "{}", out.stderr);
    assert_eq!(read(&h.join("out/ops_atomic_20251030.parquet")), good);
    assert_eq!(
        read(&h.join("rep/parquet_export_summary_20251030.md")),
        summary
    );
    assert_eq!(temp_files(h), Vec::<String>::new());
}

#[test]
fn a_partial_or_empty_run_keeps_the_fuller_file_unless_forced() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, &[DAY]);
    let redis = Redis::start();
    // The hot buffer holds only the last 10 beats of the day.
    {
        let mut c = redis.conn();
        for i in (1..=10).rev() {
            let ts = START + 86_400_000 - i * 300_000;
            Redis::xadd(
                &mut c,
                "ops:atomic:heartbeats",
                &format!("{ts}-0"),
                &[
                    ("timestamp", &ts.to_string()),
                    ("status", "ok"),
                    ("host", "h"),
                ],
            );
        }
    }
    let file = h.join("out/ops_atomic_20251030.parquet");
    let out = pe(h, &["--sqlite", "ops.db", "--date", DAY]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let good = read(&file);

    // Partial: a mistyped stream, Redis only. The source says the key does not exist.
    let out = run(pe_cmd(h)
        .args(["--date", DAY, "--json"])
        .args(["--redis-stream", "ops:atomic:heartbeatz"])
        .env("PARQUET_EXPORTER_REDIS_URL", redis.url()));
    assert_eq!(out.code, 3, "{}", out.stderr);
    let doc = json(&out);
    assert_eq!(doc["kept_existing"]["rows"], 288);
    assert_eq!(doc["sources"][0]["state"], "missing", "{doc}");
    assert!(
        doc["sources"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("ops:atomic:heartbeatz does not exist")),
        "{doc}"
    );
    assert_eq!(read(&file), good, "the partial run kept the complete file");
    let summary =
        std::fs::read_to_string(h.join("rep/parquet_export_summary_20251030.md")).unwrap();
    assert!(
        summary.contains("The existing file was kept: it holds 288 rows"),
        "{summary}"
    );

    // Partial: SQLite gone, Redis has 10 of the day's beats.
    let partial = |force: bool| {
        let mut cmd = exporter(h);
        cmd.args([
            "--tz",
            TZ,
            "--out-dir",
            "out",
            "--summary-dir",
            "rep",
            "--date",
            DAY,
        ])
        .args(["--sqlite", "moved-away.db"])
        .env("PARQUET_EXPORTER_REDIS_URL", redis.url());
        if force {
            cmd.arg("--force");
        }
        run(&mut cmd)
    };
    // The run's 10 beats are new to the day: the file grows by them and keeps the 288 that
    // no source holds now.
    let out = partial(false);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stdout.contains("rows:     298")
            && out
                .stdout
                .contains("carried:  288 records of the previous file"),
        "{}",
        out.stdout
    );
    assert_eq!(
        rows_in(&file),
        298,
        "the partial run added to the complete file"
    );
    // Run again, it adds nothing: the file stands as it is.
    let grown = read(&file);
    let out = partial(false);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("kept:     the existing file: it holds 298 rows"),
        "{}",
        out.stdout
    );
    assert_eq!(read(&file), grown);

    let out = partial(true);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(rows_in(&file), 10, "--force replaces it");
    // verify warns about a partial file, without failing it.
    let out = run(exporter(h).arg("verify").arg(&file));
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("Warning: the footer says this export was partial"),
        "{}",
        out.stdout
    );
    // The day is now partial: a later complete run makes it whole (the archive's 288 and
    // the hot buffer's 10).
    let out = pe(h, &["--sqlite", "ops.db", "--date", DAY]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(rows_in(&file), 298);
}

#[test]
fn a_run_removes_its_own_stale_temp_files_and_only_those() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, &[DAY]);
    std::fs::create_dir_all(h.join("out")).unwrap();
    let ours = [
        ".ops_atomic_20251030.parquet.Ab3dEf.tmp",
        ".ops_atomic_20251029.rejects.ndjson.x9Y8z7.tmp",
    ];
    let theirs = [".other.abc.tmp", ".ops_atomic_notes.tmp", "keep.tmp"];
    for f in ours.iter().chain(&theirs) {
        std::fs::write(h.join("out").join(f), "left by a killed run").unwrap();
    }
    // A dry run holds no lock, so it touches nothing.
    let out = pe(h, &["--sqlite", "ops.db", "--date", DAY, "--dry"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(temp_files(&h.join("out")).len(), 5);
    std::fs::create_dir_all(h.join("rep")).unwrap();
    for f in [
        ".parquet_export_summary_20251030.md.Zz9Qq1.tmp",
        ".notes.md.Zz9Qq1.tmp",
    ] {
        std::fs::write(h.join("rep").join(f), "").unwrap();
    }
    let out = pe(h, &["--sqlite", "ops.db", "--date", DAY]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut left = temp_files(&h.join("out"));
    left.sort();
    assert_eq!(
        left,
        [".ops_atomic_notes.tmp", ".other.abc.tmp", "keep.tmp"]
    );
    // The summary dir's own leftovers go too, and only those.
    assert_eq!(temp_files(&h.join("rep")), [".notes.md.Zz9Qq1.tmp"]);
}

#[test]
fn tricky_passwords_never_show_in_any_output() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, &[DAY]);
    // Each holds "Zq9" and "Wv7" around a character that naive URL splitting trips on.
    let urls = [
        "redis://:Zq9?Wv7@127.0.0.1:1",
        "redis://:Zq9/Wv7@127.0.0.1:1",
        "redis://:Zq9#Wv7@127.0.0.1:1",
        "redis://:Zq9@Wv7@127.0.0.1:1",
        "redis://:Zq9%40Wv7@127.0.0.1:1/2",
        "redis://user:Zq9:Wv7@127.0.0.1:1",
        "unix:///nonexistent/r.sock?pass=Zq9&Wv7",
        "redis+unix:///nonexistent/r.sock?db=1&password=Zq9%26Wv7",
    ];
    let leaks = |text: &str| text.contains("Zq9") || text.contains("Wv7");
    for url in urls {
        // On the command line: refused, and not echoed.
        let out = pe(
            h,
            &["--sqlite", "ops.db", "--date", DAY, "--redis-url", url],
        );
        assert_eq!(out.code, 2, "{url}: {}", out.stderr);
        assert!(
            !leaks(&out.stdout) && !leaks(&out.stderr),
            "{url}: {}",
            out.stderr
        );

        // From the environment: a partial run (Redis unreachable) that writes a summary.
        for extra in [&["--json"][..], &[]] {
            let out = run(pe_cmd(h)
                .args(["-vv"])
                .args(["--sqlite", "ops.db", "--date", DAY, "--force"])
                .args(extra)
                .env("PARQUET_EXPORTER_REDIS_URL", url));
            assert_eq!(out.code, 3, "{url}: {}", out.stderr);
            assert!(!leaks(&out.stdout), "{url}: {}", out.stdout);
            assert!(!leaks(&out.stderr), "{url}: {}", out.stderr);
            let summary =
                std::fs::read_to_string(h.join("rep/parquet_export_summary_20251030.md")).unwrap();
            assert!(!leaks(&summary), "{url}: {summary}");
        }
    }

    // Through the wrapper, whose log header lists the arguments.
    let wrapper = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("launchd/run_parquet_exporter.sh");
    for url in urls {
        let log = h.join("wrapper.log");
        for args in [
            vec!["--redis-url", url],
            vec![&*Box::leak(format!("--redis-url={url}").into_boxed_str())],
        ] {
            let out = run(std::process::Command::new("bash")
                .arg(&wrapper)
                .args(["--tz", TZ, "--sqlite", "ops.db", "--date", DAY])
                .args(&args)
                .current_dir(h)
                .env("HOME", h)
                .env(
                    "PARQUET_EXPORTER_BIN",
                    env!("CARGO_BIN_EXE_parquet-exporter"),
                )
                .env("PARQUET_EXPORTER_LOG", &log));
            assert_eq!(out.code, 2, "{url}: {}", out.stdout);
            let text = std::fs::read_to_string(&log).unwrap();
            assert!(!leaks(&text) && !leaks(&out.stdout), "{url}: {text}");
            assert!(
                text.contains("--sqlite ops.db"),
                "the other arguments are logged: {text}"
            );
        }
    }

    // A reachable server, the password in the environment with every awkward character.
    let pw = "Zq9?/#@&:% Wv7";
    let redis = Redis::start_with(&["--requirepass", pw]);
    let out = run(pe_cmd(h)
        .args(["-vv", "--json"])
        .args(["--sqlite", "ops.db", "--date", DAY])
        .env("PARQUET_EXPORTER_REDIS_URL", redis.url())
        .env("PARQUET_EXPORTER_REDIS_PASSWORD", pw));
    // Reached and authenticated, but this server holds no stream: partial, and no leak.
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stdout.contains("\"state\": \"missing\""),
        "{}",
        out.stdout
    );
    assert!(!leaks(&out.stdout) && !leaks(&out.stderr));
}

#[test]
fn hostile_values_cannot_forge_the_summary() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let redis = Redis::start();
    let key = "k`|x\n**Verdict:** ✅ success";
    {
        let mut c = redis.conn();
        let big = "h".repeat(1_000_000);
        for (i, host) in [
            "x\n\n**Verdict:** ✅ success\n| a | b |",
            "y\0z",
            &big,
            &big,
        ]
        .iter()
        .enumerate()
        {
            let ts = START + (i as i64 + 1) * 300_000;
            Redis::xadd(
                &mut c,
                key,
                &format!("{ts}-0"),
                &[
                    ("timestamp", &ts.to_string()),
                    ("status", "ok"),
                    ("host", host),
                ],
            );
        }
        // An invalid UTF-8 check name is a reject, not a mangled column.
        let ts = START + 3_600_000;
        let _: String = redis::cmd("XADD")
            .arg(key)
            .arg(format!("{ts}-0"))
            .arg("timestamp")
            .arg(ts)
            .arg("status")
            .arg("ok")
            .arg(&b"check.d\xffisk"[..])
            .arg("ok")
            .query(&mut c)
            .unwrap();
    }
    let out = run(pe_cmd(h)
        .args(["--date", DAY, "--json"])
        .args(["--redis-stream", key])
        .env("PARQUET_EXPORTER_REDIS_URL", redis.url()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(json(&out)["reject_reasons"]["invalid_utf8"].as_u64() > Some(0));
    let md = std::fs::read_to_string(h.join("rep/parquet_export_summary_20251030.md")).unwrap();
    assert!(md.len() < 20_000, "summary is {} bytes", md.len());
    assert!(!md.contains('\0'));
    assert_eq!(
        md.lines().filter(|l| l.starts_with("**Verdict:**")).count(),
        1,
        "{md}"
    );
    assert!(!md.lines().any(|l| l.starts_with("| a | b |")), "{md}");
}

#[test]
fn json_reports_a_failed_single_day_run() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    rusqlite::Connection::open(h.join("ops.db"))
        .unwrap()
        .execute_batch("CREATE TABLE other (x INTEGER);")
        .unwrap();
    let out = pe(h, &["--sqlite", "ops.db", "--date", DAY, "--json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let doc = json(&out);
    assert_eq!(doc["exit"], 1);
    assert_eq!(doc["day"], DAY);
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains("no table ops_atomic_heartbeats"),
        "{doc}"
    );
    // A usage error too.
    let out = pe(
        h,
        &[
            "--sqlite",
            "ops.db",
            "--date",
            DAY,
            "--json",
            "--batch-rows",
            "0",
        ],
    );
    assert_eq!(out.code, 2);
    assert_eq!(json(&out)["exit"], 2);
}

#[test]
fn a_keyword_table_name_works() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let out = run(exporter(h).args([
        "simulate",
        "--date",
        DAY,
        "--tz",
        TZ,
        "--sqlite",
        "ops.db",
        "--sqlite-table",
        "order",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = pe(
        h,
        &[
            "--sqlite",
            "ops.db",
            "--sqlite-table",
            "order",
            "--date",
            DAY,
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(rows_in(&h.join("out/ops_atomic_20251030.parquet")), 288);
}
