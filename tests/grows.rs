//! A day file only grows: re-exports over a trimmed stream or a lagging archive keep every
//! record a published file held, in every layout and with an instance; one out dir holds one
//! zone; an instance's flat files are day files to `verify`, `history` and catch-up.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{exporter, read_parquet, record_ids, run, Output, Redis};

const DAY: &str = "2025-10-30";
const STREAM: &str = "ops:atomic:heartbeats";

fn footer(path: &Path, key: &str) -> Option<String> {
    let (_, meta) = read_parquet(path);
    meta.file_metadata()
        .key_value_metadata()?
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone())
}

fn verify_ok(h: &Path, what: &str) {
    let out = run(exporter(h).args(["verify", "out"]));
    assert_eq!(out.code, 0, "verify after {what}:\n{}", out.stdout);
}

/// The export in `h` in UTC with `args`, as of `now`: of `DAY`, or with `--intraday` of the
/// day so far.
fn export(h: &Path, now: &str, args: &[&str]) -> Output {
    let mut cmd = common::export_cmd(h, "UTC");
    if !args.contains(&"--intraday") {
        cmd.args(["--date", DAY]);
    }
    run(cmd.args(["--now", now]).args(args))
}

/// Every id `before` held is still in the file at `path`.
fn still_holds(path: &Path, before: &BTreeSet<String>, step: &str) -> BTreeSet<String> {
    let after = record_ids(path);
    let lost: Vec<&String> = before.difference(&after).collect();
    assert!(
        lost.is_empty(),
        "{step} lost {} records: {lost:?}",
        lost.len()
    );
    after
}

/// The layouts a day file can be in: flat or hive, with or without an instance.
const LAYOUTS: [&[&str]; 4] = [
    &[],
    &["--instance", "site-a"],
    &["--layout", "hive"],
    &["--layout", "hive", "--instance", "site-a"],
];

fn day_file(h: &Path, layout: &[&str]) -> std::path::PathBuf {
    h.join(match layout {
        [] => "out/ops_atomic_20251030.parquet",
        [_, "site-a"] => "out/ops_atomic_20251030.site-a.parquet",
        [_, "hive"] => "out/day=2025-10-30/ops_atomic_20251030.parquet",
        _ => "out/instance=site-a/day=2025-10-30/ops_atomic_20251030.parquet",
    })
}

/// Intraday → intraday → daily over a stream trimmed between the runs: each file holds every
/// record of the one before, the trimmed ones carried over and counted, in every layout.
#[test]
fn a_stream_trimmed_between_runs_takes_no_record_away() {
    for layout in LAYOUTS {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let redis = Redis::start();
        let sim = run(exporter(h)
            .args(["simulate", "--date", DAY, "--tz", "UTC", "--redis-url"])
            .arg(redis.url()));
        assert_eq!(sim.code, 0, "{}", sim.stderr);
        let url = redis.url();
        let with = |extra: &[&str]| -> Vec<String> {
            let mut v: Vec<String> = vec!["--redis-url".into(), url.clone()];
            v.extend(layout.iter().chain(extra).map(|s| s.to_string()));
            v
        };
        let file = day_file(h, layout);

        let args = with(&["--intraday"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = export(h, "2025-10-30T10:00:00Z", &args);
        assert_eq!(out.code, 0, "{layout:?}: {}", out.stderr);
        let first = record_ids(&file);
        assert_eq!(first.len(), 120, "{layout:?}");

        // The stream loses everything before 14:00; the 14:00 run still holds the morning.
        let trimmed: i64 = redis::cmd("XTRIM")
            .arg(STREAM)
            .arg("MAXLEN")
            .arg(120)
            .query(&mut redis.conn())
            .unwrap();
        assert_eq!(trimmed, 168);
        let out = export(h, "2025-10-30T20:00:00Z", &args);
        assert_eq!(
            out.code, 3,
            "a trimmed stream alone is partial: {}",
            out.stderr
        );
        let second = still_holds(&file, &first, "intraday after a trim");
        assert!(
            second.len() > first.len(),
            "{layout:?}: the run added its records"
        );
        assert_eq!(footer(&file, "ops_atomic.carried").as_deref(), Some("120"));
        verify_ok(h, "intraday after a trim");

        // The complete day after midnight, from what the stream still holds.
        let args = with(&[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = export(h, "2025-10-31T02:30:00Z", &args);
        assert_eq!(out.code, 3, "{}", out.stderr);
        still_holds(&file, &second, "the daily run after intraday runs");
        assert!(
            out.stdout
                .contains("carried:  120 records of the previous file"),
            "{}",
            out.stdout
        );
        verify_ok(h, "daily after intraday");
    }
}

/// Daily → daily over an archive that lost rows: the run is a success from SQLite, and the
/// file still holds every record; `--force` is the one way to take them away.
#[test]
fn rows_deleted_from_the_archive_stay_in_the_day_file_unless_forced() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let db = common::archive(h, "UTC", &[DAY]);
    let file = h.join("out/ops_atomic_20251030.parquet");
    let out = export(h, "2025-10-31T02:30:00Z", &["--sqlite", "ops.db"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let full = record_ids(&file);
    assert_eq!(full.len(), 288);

    let conn = rusqlite::Connection::open(&db).unwrap();
    let noon = 1_761_825_600_000i64; // 2025-10-30T12:00:00Z
    let gone = conn
        .execute("DELETE FROM ops_atomic_heartbeats WHERE ts < ?1", [noon])
        .unwrap();
    assert!(gone > 100, "{gone}");
    // A dry run reports the rows the real run writes, carried ones included, and writes none.
    let before = std::fs::read(&file).unwrap();
    let out = export(
        h,
        "2025-10-31T03:00:00Z",
        &["--sqlite", "ops.db", "--dry", "--json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (doc["rows"].as_u64(), doc["carried"].as_u64()),
        (Some(288), Some(gone as u64))
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
    let out = export(h, "2025-10-31T03:00:00Z", &["--sqlite", "ops.db"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    still_holds(&file, &full, "a re-export over a thinned archive");
    assert_eq!(footer(&file, "ops_atomic.carried"), Some(gone.to_string()));
    assert_eq!(
        footer(&file, "ops_atomic.verdict").as_deref(),
        Some("success")
    );
    let summary =
        std::fs::read_to_string(h.join("rep/parquet_export_summary_20251030.md")).unwrap();
    assert!(
        summary.contains(&format!(
            "Records read {} + carried over from the previous file {gone} = rows written 288",
            288 - gone
        )),
        "{summary}"
    );
    verify_ok(h, "a carried-over re-export");

    let out = export(
        h,
        "2025-10-31T03:30:00Z",
        &["--sqlite", "ops.db", "--force"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        record_ids(&file).len(),
        288 - gone,
        "--force replaces the file with what is read"
    );
}

/// An instance's flat files are day files to every reader: `verify` passes them, a fuller
/// file is not replaced by an intraday or empty run, catch-up reaches yesterday and then
/// has nothing to do, and `history` lists every instance's file of a day.
#[test]
fn flat_files_with_an_instance_are_day_files_everywhere() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let days = ["2025-10-27", "2025-10-28", "2025-10-29", DAY];
    common::archive(h, "UTC", &days);
    let pe = |args: &[&str]| {
        run(common::export_cmd(h, "UTC")
            .args(["--sqlite", "ops.db", "--instance", "site-a"])
            .args(args))
    };
    let out = pe(&["--from", "2025-10-27", "--to", DAY]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let file = h.join("out/ops_atomic_20251030.site-a.parquet");
    let complete = std::fs::read(&file).unwrap();
    verify_ok(h, "four instance days");

    let out = pe(&["--intraday", "--now", "2025-10-30T06:00:00Z"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        complete,
        "intraday over a complete file"
    );
    common::sqlite_db(&h.join("empty.db"), "");
    let out = run(common::export_cmd(h, "UTC").args([
        "--sqlite",
        "empty.db",
        "--instance",
        "site-a",
        "--date",
        DAY,
    ]));
    assert_eq!(out.code, 4, "an empty day: {}", out.stderr);
    assert_eq!(std::fs::read(&file).unwrap(), complete, "an empty run");

    // Catch-up the morning of the 31st: every day has its file; nothing to redo.
    let stamp = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let before: Vec<_> = days
        .iter()
        .map(|d| {
            stamp(&h.join(format!(
                "out/ops_atomic_{}.site-a.parquet",
                d.replace('-', "")
            )))
        })
        .collect();
    let out = pe(&["--catch-up", "--now", "2025-10-31T02:30:00Z", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let after: Vec<_> = days
        .iter()
        .map(|d| {
            stamp(&h.join(format!(
                "out/ops_atomic_{}.site-a.parquet",
                d.replace('-', "")
            )))
        })
        .collect();
    assert_eq!(
        before, after,
        "catch-up re-exported a good day: {}",
        out.stdout
    );

    // A missing day's hint names the folder's instance: without it the export is refused.
    std::fs::remove_file(h.join("out/ops_atomic_20251028.site-a.parquet")).unwrap();
    let history = run(exporter(h).args(["history", "out"]));
    assert!(
        history.stdout.contains(
            "parquet-exporter --from 2025-10-28 --to 2025-10-28 --instance site-a fills it"
        ),
        "{}",
        history.stdout
    );

    // A second instance in the same folder: history shows both files of the day.
    let out = run(common::export_cmd(h, "UTC").args([
        "--sqlite",
        "ops.db",
        "--instance",
        "site-b",
        "--date",
        DAY,
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let history = run(exporter(h).args(["history", "out", "--days", "1"]));
    assert_eq!(history.code, 0, "{}", history.stderr);
    for i in ["site-a", "site-b"] {
        assert!(
            history.stdout.contains(&format!("{DAY} {i}  rows     288")),
            "{}",
            history.stdout
        );
    }
    verify_ok(h, "two instances");
}

/// One out dir holds one zone: a day already exported in another zone is refused, naming it
/// and the fix, and the file stays as it was.
#[test]
fn a_day_file_of_another_zone_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::archive(h, "UTC", &[DAY]);
    let out = run(common::export_cmd(h, "UTC").args(["--sqlite", "ops.db", "--date", DAY]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let file = h.join("out/ops_atomic_20251030.parquet");
    let before = std::fs::read(&file).unwrap();
    let out =
        run(common::export_cmd(h, "Asia/Bangkok").args(["--sqlite", "ops.db", "--date", DAY]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("zone UTC") && out.stderr.contains("--tz"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

/// One out dir, one scheme: a second layout, instance naming or zone is refused before
/// anything is written, and `verify` fails a folder that holds two.
#[test]
fn a_second_scheme_in_one_folder_is_refused_and_fails_verify() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::archive(h, "UTC", &["2025-10-29", DAY]);
    let pe = |tz: &str, args: &[&str]| {
        run(common::export_cmd(h, tz)
            .args(["--sqlite", "ops.db"])
            .args(args))
    };
    let out = pe("UTC", &["--date", "2025-10-29"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for (tz, other) in [
        ("UTC", &["--layout", "hive"][..]),
        ("UTC", &["--instance", "b"][..]),
        ("Asia/Bangkok", &[][..]),
    ] {
        let out = pe(tz, &[&["--date", DAY][..], other].concat());
        assert_eq!(out.code, 2, "{tz} {other:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("already holds ops_atomic_20251029.parquet (flat layout, without --instance, zone UTC)")
                && out.stderr.contains("one out dir holds one scheme"),
            "{}",
            out.stderr
        );
        assert_eq!(
            common::files_under(&h.join("out")),
            ["ops_atomic_20251029.parquet"]
        );
        assert!(
            !h.join("out/day=2025-10-30").exists(),
            "a refused run created a partition"
        );
    }

    // Made by hand (two folders poured into one): verify names the mix and the overlap.
    let out = run(exporter(h).args([
        "--tz",
        "Asia/Bangkok",
        "--out-dir",
        "bkk",
        "--summary-dir",
        "rep-bkk",
        "--sqlite",
        "ops.db",
        "--date",
        DAY,
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    std::fs::rename(
        h.join("bkk/ops_atomic_20251030.parquet"),
        h.join("out/ops_atomic_20251030.parquet"),
    )
    .unwrap();
    let out = run(exporter(h).args(["verify", "out"]));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("the folder mixes schemes")
            && out.stdout.contains("cover overlapping hours"),
        "{}",
        out.stdout
    );
}

/// Each folder named to `verify` is an out dir of its own: a flat folder and a hive backup of
/// the same day, or two machines' folders, hold one scheme and the same records each, and
/// pass together; the same files in one folder fail.
#[test]
fn verify_of_two_folders_checks_each_folder_alone() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::archive(h, "UTC", &[DAY]);
    let export = |out: &str, args: &[&str]| {
        let out = run(exporter(h)
            .args(["--tz", "UTC", "--sqlite", "ops.db", "--date", DAY])
            .args(["--out-dir", out, "--summary-dir", &format!("rep-{out}")])
            .args(args));
        assert_eq!(out.code, 0, "{}", out.stderr);
    };
    export("flat", &[]);
    export("hive", &["--layout", "hive", "--instance", "b"]);
    let out = run(exporter(h).args(["verify", "flat", "hive"]));
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("Files: 2, valid: 2"), "{}", out.stdout);

    std::fs::rename(h.join("hive/instance=b"), h.join("flat/instance=b")).unwrap();
    let out = run(exporter(h).args(["verify", "flat"]));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("the folder mixes schemes"),
        "{}",
        out.stdout
    );
}

/// Two days of one instance that hold the same record (an id reused with another timestamp):
/// every export is valid alone, but `verify` of the folder says readers would count it twice.
#[test]
fn verify_names_a_record_id_two_day_files_share() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let (d29, d30) = (1_761_739_200_000i64, 1_761_825_600_000i64); // both at 12:00 UTC
    common::sqlite_db(
        &h.join("ops.db"),
        &format!(
            "INSERT INTO ops_atomic_heartbeats (record_id, ts, status) VALUES \
             ('dup-1', {d29}, 'ok'), ('only-29', {d29}, 'ok'), ('dup-1x', {d30}, 'ok');"
        ),
    );
    let out = run(common::export_cmd(h, "UTC").args([
        "--sqlite",
        "ops.db",
        "--from",
        "2025-10-29",
        "--to",
        DAY,
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(exporter(h).args(["verify", "out"]));
    assert_eq!(out.code, 0, "distinct ids pass: {}", out.stdout);

    // The same id again on the 30th, exported with --force over that day alone.
    let conn = rusqlite::Connection::open(h.join("ops.db")).unwrap();
    conn.execute(
        "UPDATE ops_atomic_heartbeats SET record_id = 'dup-1' WHERE record_id = 'dup-1x'",
        [],
    )
    .unwrap();
    let out =
        run(common::export_cmd(h, "UTC").args(["--sqlite", "ops.db", "--date", DAY, "--force"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(exporter(h).args(["verify", "out"]));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("both hold record_id dup-1: readers of the folder count it twice"),
        "{}",
        out.stdout
    );
}

/// A day file over a `--max-size` set since it was written still holds records: they are
/// carried, the new file fails the limit, and nothing is replaced.
#[test]
fn a_size_limit_set_later_never_drops_records() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let db = common::archive(h, "UTC", &[DAY]);
    let file = h.join("out/ops_atomic_20251030.parquet");
    let out = export(h, "2025-10-31T02:30:00Z", &["--sqlite", "ops.db"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let before = std::fs::read(&file).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("DELETE FROM ops_atomic_heartbeats WHERE rowid > 20", [])
        .unwrap();
    // A limit under the existing file's size, over what the thinned archive alone would make.
    let limit = format!("{:.4}", (before.len() as f64 - 1.0) / 1e6);
    let out = export(
        h,
        "2025-10-31T03:00:00Z",
        &["--sqlite", "ops.db", "--max-size", &limit],
    );
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("--max-size"), "{}", out.stderr);
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

/// The old exporter's file under a day's name holds records: the export refuses to replace
/// it (naming `import-legacy`), unless forced.
#[test]
fn the_old_exporters_file_at_a_days_name_is_not_replaced_unforced() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::archive(h, "UTC", &[DAY]);
    std::fs::create_dir_all(h.join("out")).unwrap();
    let legacy = h.join("out/ops_atomic_20251030.parquet");
    let beats = common::legacy_beats(1_761_782_400_000, 12);
    common::write_legacy_rows(&legacy, &beats);
    let before = std::fs::read(&legacy).unwrap();
    let out = run(common::export_cmd(h, "UTC").args(["--sqlite", "ops.db", "--date", DAY]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("is the old exporter's file for this day: `parquet-exporter import-legacy"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read(&legacy).unwrap(), before);
    let out =
        run(common::export_cmd(h, "UTC").args(["--sqlite", "ops.db", "--date", DAY, "--force"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(record_ids(&legacy).len(), 288);
}

/// `import-legacy` keeps the one-scheme rule: into a hive out dir it refuses, before writing.
#[test]
fn import_legacy_refuses_an_out_dir_of_another_scheme() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::archive(h, "UTC", &[DAY]);
    let out = run(common::export_cmd(h, "UTC")
        .args(["--sqlite", "ops.db", "--date", DAY, "--layout", "hive"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    std::fs::create_dir_all(h.join("old")).unwrap();
    common::write_legacy_rows(
        &h.join("old/ops_atomic_20251029.parquet"),
        &common::legacy_beats(1_761_696_000_000, 12),
    );
    let before = common::files_under(&h.join("out"));
    let out = run(exporter(h).args([
        "import-legacy",
        "old",
        "--tz",
        "UTC",
        "--out-dir",
        "out",
        "--summary-dir",
        "rep",
    ]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("one out dir holds one scheme"),
        "{}",
        out.stderr
    );
    assert_eq!(common::files_under(&h.join("out")), before);
}

/// Two runs on one out dir with different summary dirs: the second waits for the first (here
/// it gives up at once, exit 6), so neither removes the other's temp files or loses records.
#[test]
fn one_out_dir_is_one_run_at_a_time_whatever_the_summary_dir() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::archive(h, "UTC", &[DAY]);
    let flag = h.join("paused");
    let base = |rep: &str| {
        let mut cmd = exporter(h);
        cmd.args(["--tz", "UTC", "--out-dir", "out", "--summary-dir", rep])
            .args(["--sqlite", "ops.db", "--date", DAY]);
        cmd
    };
    let mut first = base("rep1")
        .env("PARQUET_EXPORTER_PAUSE_AT", "staged")
        .env("PARQUET_EXPORTER_PAUSE_FLAG", &flag)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !flag.exists() {
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first run ended early"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the first run never got there"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = run(base("rep2").args(["--lock-timeout", "0"]));
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(
        out.stderr.contains("a run with another --summary-dir"),
        "{}",
        out.stderr
    );
    std::fs::remove_file(&flag).unwrap();
    assert!(first.wait().unwrap().success());
    assert_eq!(
        record_ids(&h.join("out/ops_atomic_20251030.parquet")).len(),
        288
    );
}
