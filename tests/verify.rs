//! `verify` on good and bad files, and proof that independent readers (DuckDB, pyarrow) read a
//! multi-day export directory as one typed table.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{exporter, python, run};

const TZ: &str = "Asia/Bangkok";
const DAYS: [&str; 3] = ["2025-10-28", "2025-10-29", "2025-10-31"];

/// Exports three simulated days (with 10-30 missing) for two hosts into `home/out`.
fn export_days(home: &Path) -> PathBuf {
    for day in DAYS {
        let sim = run(exporter(home).args([
            "simulate",
            "--date",
            day,
            "--tz",
            TZ,
            "--hosts",
            "mini,book",
            "--sqlite",
            "ops.db",
        ]));
        assert_eq!(sim.code, 0, "{}", sim.stderr);
        let out = run(exporter(home).args([
            "--date",
            day,
            "--tz",
            TZ,
            "--sqlite",
            "ops.db",
            "--out-dir",
            "out",
            "--summary-dir",
            "rep",
        ]));
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    home.join("out")
}

#[test]
fn fresh_exports_verify_ok_with_gaps_listed() {
    let home = tempfile::tempdir().unwrap();
    let dir = export_days(home.path());
    let out = run(exporter(home.path()).arg("verify").arg(&dir));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.stdout.matches("Rows: 576").count(), 3, "{}", out.stdout);
    assert_eq!(out.stdout.matches("Compression: snappy").count(), 3);
    assert!(out.stdout.contains("Day: 2025-10-31 (Asia/Bangkok)"));
    assert!(out.stdout.contains("Schema across files: consistent"));
    assert!(
        out.stdout.contains("Missing days: 2025-10-30"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.trim_end().ends_with("Validation: OK"));

    let out = run(exporter(home.path()).args(["verify", "--json"]).arg(&dir));
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["files"].as_array().unwrap().len(), 3);
    assert_eq!(v["fingerprints"].as_object().unwrap().len(), 1);
}

#[test]
fn every_kind_of_bad_file_fails_clearly() {
    let home = tempfile::tempdir().unwrap();
    let dir = export_days(home.path());
    let good = dir.join("ops_atomic_20251028.parquet");
    let bytes = std::fs::read(&good).unwrap();
    let bad = home.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("truncated.parquet"), &bytes[..bytes.len() - 100]).unwrap();
    std::fs::write(bad.join("zero.parquet"), b"").unwrap();
    std::fs::write(bad.join("text.parquet"), b"Rows: 725\nValidation: OK\n").unwrap();
    // The old exporter's format, as its files have it (tests/legacy.rs checks the same code on
    // the real files where ../shared is there).
    let legacy = home.path().join("ops_atomic_20251030.parquet");
    common::write_legacy_rows(&legacy, &common::legacy_beats(1_761_782_400_000, 20));

    for (path, why) in [
        (bad.join("truncated.parquet"), "not a readable Parquet file"),
        (bad.join("zero.parquet"), "not a readable Parquet file"),
        (bad.join("text.parquet"), "not a readable Parquet file"),
        (legacy.clone(), "schema is not v1"),
    ] {
        let out = run(exporter(home.path()).arg("verify").arg(&path));
        assert_eq!(out.code, 1, "{}: {}", path.display(), out.stdout);
        assert!(out.stdout.contains("Validation: FAILED"), "{}", out.stdout);
        assert!(
            out.stdout.contains(why),
            "{}: wanted {why:?} in\n{}",
            path.display(),
            out.stdout
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    // The legacy file: timestamps as strings, no version, no source column.
    let out = run(exporter(home.path()).arg("verify").arg(&legacy));
    assert!(
        out.stdout.contains("timestamp is Utf8 (v1: Timestamp("),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("missing columns record_id, host, checks, source"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("schema version is absent"));

    // A directory mixing the legacy schema with ours is schema drift.
    let mixed = home.path().join("mixed");
    std::fs::create_dir(&mixed).unwrap();
    std::fs::copy(&good, mixed.join("ops_atomic_20251028.parquet")).unwrap();
    std::fs::copy(&legacy, mixed.join("ops_atomic_20251030.parquet")).unwrap();
    let out = run(exporter(home.path()).arg("verify").arg(&mixed));
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("2 different schemas"), "{}", out.stdout);
}

const READERS: &str = r#"
import json, sys
import duckdb, pyarrow, pyarrow.dataset as ds
d = sys.argv[1]
glob = f"{d}/ops_atomic_*.parquet"
con = duckdb.connect()
per_day = con.execute(f"""
    SELECT strftime(timezone('Asia/Bangkok', timestamp), '%Y-%m-%d') AS day, count(*) AS n
    FROM read_parquet('{glob}') GROUP BY day ORDER BY day""").fetchall()
ts_type = con.execute(f"SELECT DISTINCT typeof(timestamp) FROM read_parquet('{glob}')").fetchall()
with_disk = con.execute(f"""
    SELECT count(*) FROM read_parquet('{glob}')
    WHERE list_contains(map_keys(checks), 'disk')""").fetchone()[0]
table = ds.dataset(sorted(__import__('glob').glob(glob)), format="parquet").to_table()
disk_pa = sum(1 for m in table.column("checks").to_pylist() if m and any(k == "disk" for k, _ in m))
print(json.dumps({
    "duckdb_per_day": per_day,
    "duckdb_ts_type": [t[0] for t in ts_type],
    "duckdb_with_disk": with_disk,
    "pyarrow_rows": table.num_rows,
    "pyarrow_ts_type": str(table.schema.field("timestamp").type),
    "pyarrow_checks_type": str(table.schema.field("checks").type),
    "pyarrow_with_disk": disk_pa,
    "pyarrow_version": pyarrow.__version__,
    "duckdb_version": duckdb.__version__,
}))
"#;

#[test]
fn duckdb_and_pyarrow_read_the_days_as_one_typed_table() {
    let home = tempfile::tempdir().unwrap();
    let dir = export_days(home.path());
    let py = python();
    let probe = Command::new(&py)
        .args(["-c", "import duckdb, pyarrow"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        other => panic!(
            "this test needs Python with duckdb and pyarrow ({} gave {other:?}). Install them with: \
             python3 -m venv target/ci-venv && target/ci-venv/bin/pip install duckdb pyarrow \
             (.ci/run does this), or point PARQUET_EXPORTER_TEST_PYTHON at such a Python.",
            py.display()
        ),
    }
    let out = common::run_ok(Command::new(&py).args(["-c", READERS]).arg(&dir));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["duckdb_per_day"],
        serde_json::json!([
            ["2025-10-28", 576],
            ["2025-10-29", 576],
            ["2025-10-31", 576]
        ])
    );
    assert_eq!(
        v["duckdb_ts_type"],
        serde_json::json!(["TIMESTAMP WITH TIME ZONE"])
    );
    assert_eq!(v["pyarrow_rows"], 3 * 576);
    assert_eq!(v["pyarrow_ts_type"], "timestamp[ms, tz=UTC]");
    assert!(
        v["pyarrow_checks_type"]
            .as_str()
            .unwrap()
            .starts_with("map<string, string"),
        "{v}"
    );
    let disk = v["duckdb_with_disk"].as_u64().unwrap();
    assert!(disk > 0, "simulated days have disk checks");
    assert_eq!(
        v["pyarrow_with_disk"].as_u64().unwrap(),
        disk,
        "both readers see the same map"
    );
}
