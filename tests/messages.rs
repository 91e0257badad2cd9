//! Error messages a person can act on: each names what failed (the path, the table, the
//! bucket) in one line, found by hostile testing.

use crate::common;

use std::path::Path;

use common::{export_cmd, exporter, run};

/// Standard output redirected to a full disk fails the run, saying it was standard output
/// (and not a bare "No space left on device" that points at no file).
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_under_standard_output_names_it() {
    let home = tempfile::tempdir().unwrap();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = run(exporter(home.path()).arg("schema").stdout(full));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("writing standard output: No space left on device"),
        "{}",
        out.stderr
    );
}

const DAY: &str = "2025-10-30";
/// 2025-10-30T12:00:00Z in Unix ms.
const NOON_MS: i64 = 1_761_825_600_000;

/// A SQLite file `ops.db` in `home` made by `sql`, as a writer that never saw the canonical
/// DDL might make it.
fn archive(home: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(home.join("ops.db")).unwrap();
    conn.execute_batch(sql).unwrap();
}

/// Exports `DAY` from `ops.db` in UTC, with `extra` flags.
fn export_sqlite(home: &Path, extra: &[&str]) -> common::Output {
    run(export_cmd(home, "UTC")
        .args(["--sqlite", "ops.db", "--date", DAY])
        .args(extra))
}

/// The record ids of the day file, in its order.
fn ids(home: &Path) -> Vec<String> {
    use arrow::array::{Array, AsArray};
    let (batches, _) = common::read_parquet(&home.join("out/ops_atomic_20251030.parquet"));
    batches
        .iter()
        .flat_map(|b| {
            let col = b.column(0).as_string::<i32>();
            (0..col.len())
                .map(|i| col.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The locators in the day's rejects file.
fn reject_locators(home: &Path) -> Vec<String> {
    std::fs::read_to_string(home.join("rep/ops_atomic_20251030.rejects.ndjson"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["locator"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Rows for `table`: two good, one with a status the contract does not know.
fn rows(table: &str) -> String {
    let (a, b) = (NOON_MS, NOON_MS + 300_000);
    format!(
        "INSERT INTO {table} (record_id, ts, status, host) VALUES ('r-1', {a}, 'healthy', 'mini');
         INSERT INTO {table} (record_id, ts, status, host) VALUES ('r-2', {b}, 'CRITICAL', 'book');
         INSERT INTO {table} (record_id, ts, status, host) VALUES ('bad-1', {b}, 'sideways', 'mini');"
    )
}

/// SQLite matches column names without regard to case; so does the exporter.
#[test]
fn sqlite_columns_match_in_any_case() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(
        h,
        &format!(
            "CREATE TABLE ops_atomic_heartbeats (RECORD_ID TEXT, TS INTEGER, Status TEXT, Host TEXT);
             CREATE INDEX hb_ts ON ops_atomic_heartbeats (TS);
             {}",
            rows("ops_atomic_heartbeats")
        ),
    );
    let out = export_sqlite(h, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ids(h), ["r-1", "r-2"]);
    assert_eq!(reject_locators(h), ["rowid 3"]);
}

/// A `WITHOUT ROWID` table has no rowid to name a reject by: its primary key does.
#[test]
fn a_without_rowid_table_is_read_and_its_rejects_named_by_primary_key() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(
        h,
        &format!(
            "CREATE TABLE hb (record_id TEXT PRIMARY KEY, ts INTEGER NOT NULL, status TEXT NOT NULL, host TEXT) WITHOUT ROWID;
             CREATE INDEX hb_ts ON hb (ts);
             {}",
            rows("hb")
        ),
    );
    let out = export_sqlite(h, &["--sqlite-table", "hb"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ids(h), ["r-1", "r-2"]);
    assert_eq!(reject_locators(h), ["primary key 'bad-1'"]);
}

/// A bucket that does not exist is named as such by the export and by `verify`, in one line,
/// not as the store's HTTP status and XML body.
#[test]
fn a_missing_bucket_says_so() {
    let moto = common::Moto::start();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::sqlite_db(&h.join("ops.db"), &rows("ops_atomic_heartbeats"));
    let url = "s3://no-such-bucket/ops";
    let export = run(moto
        .exporter(h, &moto.endpoint())
        .args(["--tz", "UTC", "--summary-dir", "rep", "--sqlite", "ops.db"])
        .args(["--date", DAY, "--out-dir", url]));
    let verify = run(moto.exporter(h, &moto.endpoint()).args(["verify", url]));
    for (what, out) in [("export", export), ("verify", verify)] {
        assert_eq!(out.code, 1, "{what}: {}", out.stderr);
        let error = out
            .stderr
            .lines()
            .find(|l| l.starts_with("parquet-exporter: error:"))
            .unwrap_or_else(|| panic!("{what}: {}", out.stderr));
        assert!(error.contains(url), "{what}: {error}");
        assert!(
            error.ends_with(
                "bucket no-such-bucket does not exist: create it, or correct the bucket in the URL"
            ),
            "{what}: {error}"
        );
        assert!(!out.stderr.contains("<?xml"), "{what}: {}", out.stderr);
    }
}

/// An empty segment in an `s3://` URL is a typing mistake the docs say is refused; it was
/// dropped without a word when it came right after the bucket.
#[test]
fn an_empty_segment_in_a_bucket_url_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    for url in ["s3://ops-data//x", "s3://ops-data//", "s3://ops-data/x//"] {
        let export = run(exporter(h)
            .args(["--tz", "UTC", "--summary-dir", "rep", "--sqlite", "ops.db"])
            .args(["--date", DAY, "--out-dir", url]));
        let verify = run(exporter(h).args(["verify", url]));
        for (what, out) in [("export", export), ("verify", verify)] {
            assert_eq!(out.code, 2, "{what} {url}: {}", out.stderr);
            assert!(
                out.stderr
                    .contains("an s3:// prefix cannot hold empty, . or .. segments"),
                "{what} {url}: {}",
                out.stderr
            );
        }
    }
}

/// A day file named for 0001-01-01 beside a current one: `verify` says which days are missing
/// as ranges, in a line and a JSON document of bounded size, not 740,000 dates.
#[test]
fn verify_lists_missing_days_as_ranges() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::sqlite_db(&h.join("ops.db"), &rows("ops_atomic_heartbeats"));
    let out = export_sqlite(h, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    std::fs::copy(
        h.join("out/ops_atomic_20251030.parquet"),
        h.join("out/ops_atomic_00010101.parquet"),
    )
    .unwrap();
    let text = run(exporter(h).args(["verify", "out"]));
    let line = text
        .stdout
        .lines()
        .find(|l| l.starts_with("Missing days:"))
        .unwrap_or_else(|| panic!("{}", text.stdout));
    assert_eq!(
        line, "Missing days: 0001-01-02 … 2025-10-29 (739552 days)",
        "{}",
        text.stdout
    );
    let json = run(exporter(h).args(["verify", "out", "--json"]));
    assert!(json.stdout.len() < 20_000, "{} bytes", json.stdout.len());
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        doc["missing_days"],
        serde_json::json!([["0001-01-02", "2025-10-29"]])
    );
    assert_eq!(doc["missing_day_count"], 739552);
}

/// A summary dir in the data tree, the out dir itself included, is refused before anything is
/// created: readers glob the out dir for day files only.
#[test]
fn a_summary_dir_inside_the_out_dir_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::sqlite_db(&h.join("ops.db"), &rows("ops_atomic_heartbeats"));
    for summary in ["out", "out/reports", "./out/../out/x"] {
        let export = run(exporter(h)
            .args(["--tz", "UTC", "--out-dir", "out", "--summary-dir", summary])
            .args(["--sqlite", "ops.db", "--date", DAY]));
        let import = run(exporter(h)
            .args([
                "import-legacy",
                "--out-dir",
                "out",
                "--summary-dir",
                summary,
            ])
            .arg("legacy"));
        for (what, out) in [("export", export), ("import-legacy", import)] {
            assert_eq!(out.code, 2, "{what} {summary}: {}", out.stderr);
            let want = format!(
                "parquet-exporter: error: --summary-dir {summary} is inside --out-dir out: the \
                 out dir holds day files only; give a summary dir outside it"
            );
            assert!(out.stderr.starts_with(&want), "{what}: {}", out.stderr);
            assert_eq!(out.stderr.lines().count(), 1, "{what}: {}", out.stderr);
            assert!(
                !h.join("out").exists(),
                "{what} {summary} created the out dir"
            );
        }
    }
}
