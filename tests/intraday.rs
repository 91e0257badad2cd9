//! The intraday export through a whole day, with the clock set by the test (`--now`): at 10:00
//! and 14:35 the running day so far, marked incomplete everywhere; after midnight the complete
//! file over it; the catch-up the morning after; the rules that keep a better file; and the
//! 02:30 collision of the daily and the 10-minute schedules.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{exporter, files_under, read_parquet, run, Output};

const DAY: &str = "2025-10-30";
const FILE: &str = "out/ops_atomic_20251030.parquet";

fn export(h: &Path, args: &[&str]) -> Output {
    run(common::export_cmd(h, "UTC")
        .args(["--sqlite", "ops.db"])
        .args(args))
}

fn intraday(h: &Path, now: &str) -> Output {
    export(h, &["--intraday", "--now", now])
}

fn footer(h: &Path) -> std::collections::BTreeMap<String, String> {
    let (_, meta) = read_parquet(&h.join(FILE));
    meta.file_metadata()
        .key_value_metadata()
        .unwrap()
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
        .collect()
}

fn verdict_and_rows(f: &std::collections::BTreeMap<String, String>) -> (&str, &str) {
    (&f["ops_atomic.verdict"], &f["ops_atomic.rows"])
}

fn summary(h: &Path) -> String {
    std::fs::read_to_string(h.join("rep/parquet_export_summary_20251030.md")).unwrap()
}

/// Two hosts, a whole simulated day (288 beats each) in the archive.
fn home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    common::archive_of(home.path(), "UTC", &[DAY], "mini,book", 0);
    home
}

#[test]
fn a_day_goes_from_intraday_files_to_the_complete_file() {
    let home = home();
    let h = home.path();

    // 10:00: the day so far.
    let out = intraday(h, "2025-10-30T10:00:00Z");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("verdict:  incomplete (the day so far: up to 2025-10-30T10:00:00.000+00:00)"),
        "{}",
        out.stdout
    );
    let f = footer(h);
    assert_eq!(f["ops_atomic.verdict"], "incomplete");
    assert_eq!(f["ops_atomic.covers_until"], "2025-10-30T10:00:00.000Z");
    assert_eq!(
        f["ops_atomic.rows"], "240",
        "2 hosts x 120 beats before 10:00"
    );
    let md = summary(h);
    assert!(
        md.contains("**Verdict:** ⏳ incomplete: covers 00:00–10:00 local, 240 rows so far"),
        "{md}"
    );
    assert!(!md.contains('✅'), "{md}");
    let json = run(common::export_cmd(h, "UTC").args([
        "--sqlite",
        "ops.db",
        "--intraday",
        "--now",
        "2025-10-30T10:00:00Z",
        "--dry",
        "--json",
    ]));
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        (doc["verdict"].as_str(), doc["covers_until"].as_str()),
        (Some("incomplete"), Some("2025-10-30T10:00:00.000+00:00"))
    );

    // Nothing reports it as a finished day.
    let verify = run(exporter(h).args(["verify", FILE]));
    assert_eq!(
        verify.code, 0,
        "a valid incomplete file passes: {}",
        verify.stdout
    );
    assert!(
        verify.stdout.contains(
            "intraday export, incomplete: it holds the day only up to 2025-10-30T10:00:00.000Z"
        ),
        "{}",
        verify.stdout
    );
    let history = run(exporter(h).args(["history", "out"]));
    assert!(
        history.stdout.contains("so far, until 10:00"),
        "{}",
        history.stdout
    );
    assert!(
        history.stdout.contains("coverage 100.0%"),
        "coverage of the day so far: {}",
        history.stdout
    );

    // 14:35: a newer intraday file replaces it.
    let out = intraday(h, "2025-10-30T14:35:00Z");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(footer(h)["ops_atomic.rows"], "350");
    assert_eq!(
        footer(h)["ops_atomic.covers_until"],
        "2025-10-30T14:35:00.000Z"
    );

    // One cut earlier (a clock set back) keeps the later file and its summary, and says so.
    let before = std::fs::read(h.join(FILE)).unwrap();
    let summary_before = summary(h);
    let out = intraday(h, "2025-10-30T12:00:00Z");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(std::fs::read(h.join(FILE)).unwrap(), before);
    assert_eq!(summary(h), summary_before);
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(
        said.contains(
            "it holds 350 rows up to 2025-10-30T14:35:00.000Z, later than this run's cut"
        ),
        "{said}"
    );

    // After midnight: the plain export of the finished day replaces it with the complete file.
    let out = export(h, &["--date", DAY, "--now", "2025-10-31T00:30:00Z"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let f = footer(h);
    assert_eq!(verdict_and_rows(&f), ("success", "576"));
    assert!(!f.contains_key("ops_atomic.covers_until"));
    let complete = std::fs::read(h.join(FILE)).unwrap();

    // An intraday run never replaces a complete file (here its clock is a day behind), nor
    // the complete day's summary and rejects, and says so, forced or not.
    let complete_summary = summary(h);
    let rejects_before = files_under(&h.join("rep"));
    // Nothing is even staged beside it: its folder is not touched.
    let folder = h.join(FILE).parent().unwrap().to_path_buf();
    let touched = || std::fs::metadata(&folder).unwrap().modified().unwrap();
    let folder_before = touched();
    for force in [&[][..], &["--force"][..]] {
        let args = [&["--intraday", "--now", "2025-10-30T23:50:00Z"][..], force].concat();
        let out = export(h, &args);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(std::fs::read(h.join(FILE)).unwrap(), complete);
        assert_eq!(touched(), folder_before, "{force:?}");
        assert_eq!(summary(h), complete_summary, "{force:?}");
        assert_eq!(files_under(&h.join("rep")), rejects_before, "{force:?}");
        let said = format!("{}{}", out.stdout, out.stderr);
        assert!(said.contains("it is the day's complete file (576 rows, its verdict: success), which an intraday export never replaces, with or without --force"), "{said}");
    }

    // The catch-up the morning after finds nothing to redo.
    let out = export(h, &["--catch-up", "--now", "2025-10-31T02:30:00Z"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(std::fs::read(h.join(FILE)).unwrap(), complete);
}

/// When the machine slept through the night, the catch-up the morning after treats the day's
/// intraday file as not done and exports the complete day over it.
#[test]
fn catch_up_never_takes_an_intraday_file_for_a_finished_day() {
    let home = home();
    let h = home.path();
    assert_eq!(intraday(h, "2025-10-30T23:50:00Z").code, 0);
    assert_eq!(footer(h)["ops_atomic.verdict"], "incomplete");
    let out = export(h, &["--catch-up", "--now", "2025-10-31T09:00:00Z"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let f = footer(h);
    assert_eq!(verdict_and_rows(&f), ("success", "576"));
    // A plain export of a day that has not ended is still refused.
    let out = export(
        h,
        &["--date", "2025-10-31", "--now", "2025-10-31T09:00:00Z"],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
}

fn wrapper() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("launchd/run_parquet_exporter.sh")
}

/// At 02:30 both schedules fire. With the intraday run holding the lock, the daily run, as its
/// agent runs it (the wrapper with the agent's arguments), waits and exports; the intraday run
/// never waits, so it can never hold the daily one up for long.
#[test]
fn the_0230_run_waits_for_the_intraday_run_instead_of_exiting_busy() {
    let home = home();
    let h = home.path();
    let bin = assert_cmd::cargo::cargo_bin("parquet-exporter");
    // The daily agent's arguments, from the plist the binary renders.
    let plist = run(exporter(h)
        .args(["launchd", "print", "--wrapper"])
        .arg(wrapper()));
    let v = plist::Value::from_reader_xml(plist.stdout.as_bytes()).unwrap();
    let args: Vec<String> = v.as_dictionary().unwrap()["ProgramArguments"]
        .as_array()
        .unwrap()
        .iter()
        .skip(2)
        .map(|a| a.as_string().unwrap().to_string())
        .collect();
    assert_eq!(args, ["--catch-up", "--lock-timeout", "900"]);

    let summary_dir = h.join("02luka/g/reports/parquet");
    std::fs::create_dir_all(&summary_dir).unwrap();
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(summary_dir.join(".parquet-exporter.lock"))
        .unwrap();
    lock.lock().unwrap();
    let agent = |extra: &[String], now: &str| {
        std::process::Command::new("bash")
            .arg(wrapper())
            .args(extra)
            .args(["--now", now])
            .env("HOME", h)
            .env("PARQUET_EXPORTER_BIN", &bin)
            .env("PARQUET_EXPORTER_TZ", "UTC")
            .env("PARQUET_EXPORTER_SQLITE", h.join("ops.db"))
            .current_dir(h)
            .output()
            .unwrap()
    };
    // The intraday run, meeting a held lock, exits 6 at once.
    let started = Instant::now();
    let busy = agent(&["--intraday".to_string()], "2025-10-31T02:30:00Z");
    assert_eq!(
        busy.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&busy.stdout)
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // The daily run waits until the lock is released, then exports the day.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        drop(lock);
    });
    let daily = agent(&args, "2025-10-31T02:30:00Z");
    releaser.join().unwrap();
    assert_eq!(
        daily.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&daily.stdout)
    );
    let file = h.join("02luka/g/analytics/ops_atomic_20251030.parquet");
    let (_, meta) = read_parquet(&file);
    assert_eq!(meta.file_metadata().num_rows(), 576);
}

/// Where the clocks skip local midnight (São Paulo, 2018-11-04, DST from 00:00 to 01:00), the
/// running day starts at 01:00, and the summary says so rather than 00:00.
#[test]
fn the_span_an_intraday_file_covers_is_the_days_real_start() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let tz = "America/Sao_Paulo";
    common::archive(h, tz, &["2018-11-04"]);
    let out = run(common::export_cmd(h, tz).args([
        "--sqlite",
        "ops.db",
        "--intraday",
        "--now",
        "2018-11-04T15:00:00Z",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let md = std::fs::read_to_string(h.join("rep/parquet_export_summary_20181104.md")).unwrap();
    assert!(
        md.contains("⏳ incomplete: covers 01:00–13:00 local"),
        "{md}"
    );
    assert!(
        md.contains("| Covers | 01:00–13:00 local: the day so far (intraday) |"),
        "{md}"
    );
}
