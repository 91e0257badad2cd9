//! Unattended runs: the launchd plist and systemd units, the ops wrapper, catch-up and backfill,
//! and one run at a time.

use crate::common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{exporter, files_under, run};

const TZ: &str = "Asia/Bangkok";

fn wrapper() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("launchd/run_parquet_exporter.sh")
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_parquet-exporter"))
}

/// A SQLite archive with a simulated day (288 beats) for each date.
fn archive(home: &Path, dates: &[&str]) -> PathBuf {
    common::archive(home, TZ, dates)
}

fn parquet_days(dir: &Path) -> Vec<String> {
    files_under(dir)
        .into_iter()
        .filter(|f| f.ends_with(".parquet"))
        .collect()
}

#[test]
fn launchd_print_renders_this_machines_plist_without_secrets() {
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("02luka/config/parquet_exporter.toml");
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    std::fs::write(&cfg, "redis_url = \"redis://:topsecret@127.0.0.1:6379\"\n").unwrap();
    let out = run(exporter(home.path())
        .args(["launchd", "print"])
        .env("PARQUET_EXPORTER_REDIS_PASSWORD", "topsecret"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stdout.contains("topsecret"));
    let v = plist::Value::from_reader_xml(out.stdout.as_bytes()).expect("a valid plist");
    let d = v.as_dictionary().unwrap();
    assert_eq!(d["Label"].as_string(), Some("com.02luka.analytics.parquet"));
    let when = d["StartCalendarInterval"].as_dictionary().unwrap();
    assert_eq!(
        (
            when["Hour"].as_signed_integer(),
            when["Minute"].as_signed_integer()
        ),
        (Some(2), Some(30))
    );
    let args: Vec<String> = d["ProgramArguments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_string().unwrap().to_string())
        .collect();
    assert_eq!(
        args,
        [
            "/bin/bash".to_string(),
            wrapper().canonicalize().unwrap().display().to_string(),
            "--catch-up".into(),
            "--lock-timeout".into(),
            "900".into()
        ]
    );
    let home_s = home.path().display().to_string();
    assert_eq!(
        d["StandardOutPath"].as_string().unwrap(),
        format!("{home_s}/02luka/g/logs/parquet_exporter.launchd.out.log")
    );
    assert_eq!(
        d["StandardErrorPath"].as_string().unwrap(),
        format!("{home_s}/02luka/g/logs/parquet_exporter.launchd.err.log")
    );
    let env = d["EnvironmentVariables"].as_dictionary().unwrap();
    assert_eq!(
        env["PARQUET_EXPORTER_BIN"].as_string().unwrap(),
        bin().canonicalize().unwrap().display().to_string()
    );
    assert_eq!(
        env["PARQUET_EXPORTER_CONFIG"].as_string().unwrap(),
        cfg.display().to_string()
    );
    assert!(env["PATH"]
        .as_string()
        .unwrap()
        .contains("/opt/homebrew/bin"));

    if !cfg!(target_os = "macos") {
        let out = run(exporter(home.path()).args(["launchd", "install"]));
        assert_eq!(out.code, 1);
        assert!(out.stderr.contains("works only on macOS"), "{}", out.stderr);
        assert!(!home.path().join("Library").exists());
    }
    let out = run(exporter(home.path()).args(["systemd", "print"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("OnCalendar=*-*-* 02:30:00") && out.stdout.contains("Persistent=true")
    );
    assert!(out.stdout.contains("--catch-up"));
    // The wrapper came from the source checkout: print says so, loudly.
    assert!(out.stderr.contains("source checkout"), "{}", out.stderr);
}

/// `systemd install` as `launchd install` does it: `--dry` shows the two files and the two
/// commands and touches nothing; install writes the units, enables the timer and says what
/// linger means; uninstall undoes it. systemctl and loginctl are common::service_manager's.
#[test]
fn systemd_install_writes_both_units_enables_the_timer_and_uninstalls() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let path = common::path_with(&common::service_manager(h));
    let units = h.join(".config/systemd/user");
    let cmd = |args: &[&str]| {
        let mut c = exporter(h);
        c.env("PATH", &path)
            .args(["systemd"])
            .args(args)
            .arg("--wrapper")
            .arg(wrapper());
        run(&mut c)
    };

    let dry = cmd(&["install", "--dry"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(!units.exists(), "--dry wrote nothing");
    assert!(
        !h.join(".service-calls").exists()
            || !std::fs::read_to_string(h.join(".service-calls"))
                .unwrap()
                .contains("systemctl")
    );
    for line in [
        format!("# {}/parquet-exporter.service", units.display()),
        format!("# {}/parquet-exporter.timer", units.display()),
        "# then: systemctl --user daemon-reload".into(),
        "# then: systemctl --user enable --now parquet-exporter.timer".into(),
        "OnCalendar=*-*-* 02:30:00".into(),
    ] {
        let line = line.as_str();
        assert!(dry.stdout.contains(line), "{line}:\n{}", dry.stdout);
    }
    // Linux's PATH for the service: no Homebrew directory.
    let path_line = dry
        .stdout
        .lines()
        .find(|l| l.starts_with("Environment=\"PATH="))
        .unwrap();
    assert!(!path_line.contains("homebrew"), "{path_line}");
    assert!(path_line.contains(":/usr/bin:/bin"), "{path_line}");
    assert!(
        dry.stdout.contains("loginctl enable-linger"),
        "{}",
        dry.stdout
    );

    let install = cmd(&["install"]);
    assert_eq!(install.code, 0, "{}", install.stderr);
    let service = std::fs::read_to_string(units.join("parquet-exporter.service")).unwrap();
    let timer = std::fs::read_to_string(units.join("parquet-exporter.timer")).unwrap();
    assert!(
        dry.stdout.contains(&service) && dry.stdout.contains(&timer),
        "--dry showed what install wrote"
    );
    let calls = std::fs::read_to_string(h.join(".service-calls")).unwrap();
    assert!(
        calls.contains(
            "systemctl --user daemon-reload\nsystemctl --user enable --now parquet-exporter.timer"
        ),
        "{calls}"
    );
    assert!(
        install.stdout.contains("linger is off for"),
        "{}",
        install.stdout
    );
    assert!(
        install.stdout.contains("loginctl enable-linger"),
        "{}",
        install.stdout
    );
    std::fs::write(h.join(".linger"), "").unwrap();
    let again = cmd(&["install"]);
    assert!(again.stdout.contains("linger is on"), "{}", again.stdout);

    let un = cmd(&["uninstall"]);
    assert_eq!(un.code, 0, "{}", un.stderr);
    assert!(
        !units.join("parquet-exporter.service").exists()
            && !units.join("parquet-exporter.timer").exists()
    );
    let calls = std::fs::read_to_string(h.join(".service-calls")).unwrap();
    assert!(
        calls.contains("systemctl --user disable --now parquet-exporter.timer"),
        "{calls}"
    );
}

/// A schedule must not run the wrapper out of the source checkout: install refuses it, naming
/// the copy to make; with the wrapper next to the binary (or --wrapper) it installs.
#[test]
fn install_refuses_a_wrapper_inside_the_source_checkout() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let path = common::path_with(&common::service_manager(h));
    let out = run(exporter(h).env("PATH", &path).args(["systemd", "install"]));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stderr.contains("source checkout") && out.stderr.contains("cp "),
        "{}",
        out.stderr
    );
    assert!(!h.join(".config/systemd").exists());
}

#[test]
fn the_wrapper_logs_and_keeps_the_exit_status() {
    let home = tempfile::tempdir().unwrap();
    let db = archive(home.path(), &["2025-10-30"]);
    let wrap = |args: &[&str]| {
        let out = Command::new("bash")
            .arg(wrapper())
            .args(args)
            .env("HOME", home.path())
            .env("PARQUET_EXPORTER_BIN", bin())
            .env_remove("PARQUET_EXPORTER_LOG")
            .current_dir(home.path())
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let log = home.path().join("02luka/g/logs/parquet_exporter.log");
    let db_s = db.display().to_string();

    let (code, stdout) = wrap(&[
        "--dry",
        "--date",
        "2025-10-30",
        "--tz",
        TZ,
        "--sqlite",
        &db_s,
    ]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("dry run: nothing written"),
        "--dry passed through: {stdout}"
    );
    assert!(!home.path().join("02luka/g/analytics").exists());

    let (code, _) = wrap(&["--date", "2025-10-30", "--tz", TZ, "--sqlite", &db_s]);
    assert_eq!(code, 0);
    assert!(home
        .path()
        .join("02luka/g/analytics/ops_atomic_20251030.parquet")
        .exists());

    let (code, _) = wrap(&["--date", "2025-10-30", "--tz", TZ]);
    assert_eq!(code, 2, "a usage error's status comes through the wrapper");
    let (code, _) = wrap(&[
        "--date",
        "2025-10-30",
        "--tz",
        TZ,
        "--sqlite",
        "/nonexistent/ops.db",
    ]);
    assert_eq!(code, 5, "so does no-source");

    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        text.matches("===== ").count(),
        8,
        "a header and a footer per run:\n{text}"
    );
    assert!(
        text.contains("parquet-exporter --dry --date 2025-10-30"),
        "{text}"
    );
    assert!(text.contains("summary:"));
    assert!(text.contains("no source configured"));
    let exits: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" exit "))
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(exits, ["0", "0", "2", "5"]);

    // A log path of the caller's choosing, and a binary that is not there.
    let other = home.path().join("elsewhere/run.log");
    let out = Command::new("bash")
        .arg(wrapper())
        .arg("--help")
        .env("HOME", home.path())
        .env("PARQUET_EXPORTER_BIN", bin())
        .env("PARQUET_EXPORTER_LOG", &other)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(std::fs::read_to_string(&other)
        .unwrap()
        .contains("Exit status:"));
    let out = Command::new("bash")
        .arg(wrapper())
        .env("HOME", home.path())
        .env("PARQUET_EXPORTER_BIN", home.path().join("missing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
}

#[test]
fn the_wrapper_passes_shellcheck() {
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(wrapper())
        .status()
        .unwrap();
    assert!(syntax.success());
    let out = Command::new("shellcheck")
        .arg(wrapper())
        .output()
        .expect("shellcheck must be installed (apt-get install -y shellcheck; .ci/run does)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn catch_up_fills_a_three_day_hole_and_nothing_else() {
    let home = tempfile::tempdir().unwrap();
    let db = archive(
        home.path(),
        &["2025-10-26", "2025-10-27", "2025-10-28", "2025-10-29"],
    );
    let base = |cmd: &mut Command| {
        cmd.args(["--tz", TZ, "--out-dir", "out", "--summary-dir", "rep"])
            .arg("--sqlite")
            .arg(&db);
    };
    let mut first = exporter(home.path());
    base(first.args(["--date", "2025-10-26"]));
    assert_eq!(run(&mut first).code, 0);
    let before = std::fs::read(home.path().join("out/ops_atomic_20251026.parquet")).unwrap();

    let mut cmd = exporter(home.path());
    base(cmd.args(["--catch-up", "--today", "2025-10-30", "--json"]));
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let days: Vec<&str> = v["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["day"].as_str().unwrap())
        .collect();
    assert_eq!(
        days,
        ["2025-10-27", "2025-10-28", "2025-10-29"],
        "oldest first"
    );
    assert_eq!(
        parquet_days(&home.path().join("out")),
        [
            "ops_atomic_20251026.parquet",
            "ops_atomic_20251027.parquet",
            "ops_atomic_20251028.parquet",
            "ops_atomic_20251029.parquet"
        ]
    );
    assert_eq!(
        std::fs::read(home.path().join("out/ops_atomic_20251026.parquet")).unwrap(),
        before,
        "existing day untouched"
    );

    // Up to date: nothing to do.
    let mut again = exporter(home.path());
    base(again.args(["--catch-up", "--today", "2025-10-30"]));
    let out = run(&mut again);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("days: 0 attempted"), "{}", out.stdout);

    // --max-days bounds a long hole; the next run continues where it stopped.
    let mut later = exporter(home.path());
    base(later.args([
        "--catch-up",
        "--today",
        "2025-11-05",
        "--max-days",
        "2",
        "--json",
    ]));
    let out = run(&mut later);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let days: Vec<&str> = v["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["day"].as_str().unwrap())
        .collect();
    assert_eq!(days, ["2025-10-30", "2025-10-31"]);
    assert_eq!(out.code, 4, "days with no records are empty");
}

#[test]
fn a_backfill_continues_past_a_failed_day_and_reports_it() {
    let home = tempfile::tempdir().unwrap();
    let db = archive(home.path(), &["2025-10-27", "2025-10-28", "2025-10-29"]);
    // A directory where the 28th's file should go makes that day's write fail.
    std::fs::create_dir_all(home.path().join("out/ops_atomic_20251028.parquet/blocker")).unwrap();
    let out = run(exporter(home.path())
        .args([
            "--from",
            "2025-10-27",
            "--to",
            "2025-10-29",
            "--tz",
            TZ,
            "--out-dir",
            "out",
            "--summary-dir",
            "rep",
        ])
        .arg("--sqlite")
        .arg(&db));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("day 2025-10-28: FAILED"),
        "{}",
        out.stdout
    );
    assert!(out
        .stdout
        .contains("days: 3 attempted, 2 exported, 1 failed"));
    assert!(home
        .path()
        .join("out/ops_atomic_20251027.parquet")
        .is_file());
    assert!(home
        .path()
        .join("out/ops_atomic_20251029.parquet")
        .is_file());
    for dir in ["out", "rep"] {
        assert!(
            !files_under(&home.path().join(dir))
                .iter()
                .any(|f| f.ends_with(".tmp")),
            "no temp file left in {dir}"
        );
    }
}

#[test]
fn a_second_run_fails_cleanly_or_waits_for_the_lock() {
    let home = tempfile::tempdir().unwrap();
    let db = archive(home.path(), &["2025-10-30"]);
    let args = [
        "--date",
        "2025-10-30",
        "--tz",
        TZ,
        "--out-dir",
        "out",
        "--summary-dir",
        "rep",
    ];
    assert_eq!(
        run(exporter(home.path()).args(args).arg("--sqlite").arg(&db)).code,
        0
    );
    let before = std::fs::read(home.path().join("out/ops_atomic_20251030.parquet")).unwrap();

    // Another run holds the lock.
    let lock = File::options()
        .write(true)
        .open(home.path().join("rep/.parquet-exporter.lock"))
        .unwrap();
    lock.lock().unwrap();
    let started = Instant::now();
    let out = run(exporter(home.path()).args(args).arg("--sqlite").arg(&db));
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("another parquet-exporter run holds the lock"),
        "{}",
        out.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "default timeout 0 fails at once"
    );
    assert_eq!(
        std::fs::read(home.path().join("out/ops_atomic_20251030.parquet")).unwrap(),
        before
    );

    // With a timeout, the second run waits for the first to finish.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        drop(lock);
    });
    let out = run(exporter(home.path())
        .args(args)
        .args(["--lock-timeout", "20"])
        .arg("--sqlite")
        .arg(&db));
    releaser.join().unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        std::fs::read(home.path().join("out/ops_atomic_20251030.parquet")).unwrap(),
        before,
        "same day, same file"
    );
}

#[test]
fn a_log_captured_through_a_pipe_has_no_escape_bytes() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::archive(h, TZ, &["2025-10-30"]);
    // Verbose, with a warning too (an unreachable Redis), as a scheduled run logs to a file.
    let out = exporter(h)
        .args([
            "-v",
            "--date",
            "2025-10-30",
            "--tz",
            TZ,
            "--sqlite",
            "ops.db",
        ])
        .args(["--out-dir", "out", "--summary-dir", "rep"])
        .env(
            "PARQUET_EXPORTER_REDIS_URL",
            format!("unix://{}/none.sock", h.display()),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("WARN") && log.contains("DEBUG"), "{log}");
    assert!(
        !out.stderr.contains(&0x1b),
        "escape bytes in a piped log: {log:?}"
    );
}

#[test]
fn json_logs_are_one_object_per_line_errors_included() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::archive(h, TZ, &["2025-10-30"]);
    let lines = |out: &std::process::Output| -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .collect()
    };
    let ok = exporter(h)
        .args([
            "--log-format",
            "json",
            "-v",
            "--date",
            "2025-10-30",
            "--tz",
            TZ,
        ])
        .args([
            "--sqlite",
            "ops.db",
            "--out-dir",
            "out",
            "--summary-dir",
            "rep",
        ])
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0));
    let logged = lines(&ok);
    assert!(logged.iter().any(|l| l["level"] == "DEBUG"), "{logged:?}");
    assert!(
        logged
            .iter()
            .any(|l| l["fields"]["message"] == "export finished"),
        "{logged:?}"
    );
    // A failed run's error is a JSON line too.
    let failed = exporter(h)
        .args(["--log-format", "json", "--date", "2025-10-30", "--tz", TZ])
        .args([
            "--sqlite",
            "missing.db",
            "--out-dir",
            "out",
            "--summary-dir",
            "rep",
        ])
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(5));
    let last = lines(&failed).pop().unwrap();
    assert_eq!(
        (last["level"].as_str(), last["fields"]["exit"].as_u64()),
        (Some("ERROR"), Some(5))
    );
}

/// The wrapper's log rotates by size before a run: LOG.1 is the newest old log, no more than
/// KEEP are kept, and no run's lines are lost across a rotation.
#[test]
fn the_wrappers_log_rotates_by_size_and_keeps_a_few() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let log = h.join("logs/pe.log");
    let runs = 40;
    for i in 0..runs {
        let out = std::process::Command::new("bash")
            .arg(wrapper())
            .args(["sqlite-ddl", "--table", &format!("t{i}")])
            .env("HOME", h)
            .env("PARQUET_EXPORTER_BIN", bin())
            .env("PARQUET_EXPORTER_LOG", &log)
            .env("PARQUET_EXPORTER_LOG_MAX_BYTES", "2000")
            .env("PARQUET_EXPORTER_LOG_KEEP", "2")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let rotated = [log.with_extension("log.1"), log.with_extension("log.2")];
    for p in &rotated {
        assert!(p.exists(), "{} was written", p.display());
    }
    assert!(!log.with_extension("log.3").exists(), "only two are kept");
    // Each file is cut at the first run past the limit: under the limit plus one run's output.
    let one_run = 1200;
    for p in std::iter::once(&log).chain(&rotated) {
        assert!(
            size(p) < 2000 + one_run,
            "{}: {} bytes",
            p.display(),
            size(p)
        );
    }
    // The newest runs are in the log and LOG.1, in order, none lost between them.
    let text = std::fs::read_to_string(&rotated[1]).unwrap()
        + &std::fs::read_to_string(&rotated[0]).unwrap()
        + &std::fs::read_to_string(&log).unwrap();
    let tables: Vec<usize> = text
        .lines()
        .filter_map(|l| l.split("CREATE TABLE IF NOT EXISTS \"t").nth(1))
        .map(|rest| rest.split('"').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(tables.last(), Some(&(runs - 1)));
    assert!(tables.windows(2).all(|w| w[1] == w[0] + 1), "{tables:?}");
    assert!(!h.join("logs/pe.log.rotating").exists());

    // 0 turns rotation off.
    let before = size(&log);
    let out = std::process::Command::new("bash")
        .arg(wrapper())
        .args(["sqlite-ddl"])
        .env("HOME", h)
        .env("PARQUET_EXPORTER_BIN", bin())
        .env("PARQUET_EXPORTER_LOG", &log)
        .env("PARQUET_EXPORTER_LOG_MAX_BYTES", "0")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(size(&log) > before);
}
