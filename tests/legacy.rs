//! The legacy Node exporter's real files (../shared/fixtures/legacy-02luka): every record they
//! hold normalizes under the contract, and a day exported from them holds only that day.

mod common;

use std::path::PathBuf;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use common::{exporter, read_parquet, run};
use parquet_exporter::record::{normalize, RawRecord, RawValue, Source};

fn legacy_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/legacy-02luka");
    assert!(
        dir.is_dir(),
        "legacy fixtures not found at {}: CI puts ../shared beside the checkout",
        dir.display()
    );
    dir
}

/// The legacy file's rows as raw records, the way a source would hand them over.
fn legacy_records(name: &str) -> Vec<RawRecord> {
    let (batches, _) = read_parquet(&legacy_dir().join(name));
    let mut out = Vec::new();
    for b in batches {
        let schema = b.schema();
        for i in 0..b.num_rows() {
            let mut raw = RawRecord::new(Source::Sqlite, format!("{name}#{i}"));
            for (c, field) in schema.fields().iter().enumerate() {
                let col = b.column(c);
                let v = if col.is_null(i) {
                    RawValue::Null
                } else if let Some(s) = col.as_string_opt::<i32>() {
                    RawValue::Text(s.value(i).to_string())
                } else {
                    RawValue::Int(col.as_primitive::<Int64Type>().value(i))
                };
                raw.fields.insert(field.name().clone(), v);
            }
            out.push(raw);
        }
    }
    out
}

#[test]
fn every_legacy_record_normalizes() {
    let records = legacy_records("ops_atomic_20251030.parquet");
    assert_eq!(records.len(), 725, "the legacy file's footer says 725 rows");
    let mut statuses = std::collections::BTreeMap::new();
    for raw in &records {
        let r = normalize(raw).unwrap_or_else(|e| panic!("{} rejected: {e}", raw.locator));
        *statuses.entry(r.status.as_str()).or_insert(0) += 1;
    }
    // The legacy strings were '✅ HEALTHY', '⚠️  WARNINGS', '❌ CRITICAL'.
    assert_eq!(
        statuses.into_iter().collect::<Vec<_>>(),
        [("critical", 325), ("healthy", 366), ("warnings", 34)]
    );
}

#[test]
fn a_day_exported_from_legacy_data_holds_only_that_day() {
    // The legacy exporter wrote every record ever seen into each day's file; load them all into
    // the archive and export one UTC day.
    let records = legacy_records("ops_atomic_20251030.parquet");
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("ops.db");
    common::sqlite_db(&db, "");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut on_day = 0;
    for raw in &records {
        let get = |k: &str| match raw.fields.get(k) {
            Some(RawValue::Text(s)) => Some(s.clone()),
            Some(RawValue::Int(i)) => Some(i.to_string()),
            _ => None,
        };
        let ts = get("timestamp").unwrap();
        on_day += usize::from(ts.starts_with("2025-10-29"));
        conn.execute(
            "INSERT INTO ops_atomic_heartbeats (report_type, ts, status, duration_ms, redis_status, \
             database_status, api_status, launchagent_optimizer, launchagent_digest) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            rusqlite::params![
                get("report_type"), ts, get("status"), get("duration_ms").map(|d| d.parse::<i64>().unwrap()),
                get("redis_status"), get("database_status"), get("api_status"),
                get("launchagent_optimizer"), get("launchagent_digest")
            ],
        )
        .unwrap();
    }
    drop(conn);
    assert!(on_day > 0 && on_day < records.len());
    let out = run(exporter(home.path())
        .args([
            "--date",
            "2025-10-29",
            "--tz",
            "UTC",
            "--json",
            "--out-dir",
            "out",
            "--summary-dir",
            "out",
        ])
        .arg("--sqlite")
        .arg(&db));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (batches, meta) = read_parquet(&home.path().join("out/ops_atomic_20251029.parquet"));
    assert_eq!(meta.file_metadata().num_rows() as usize, on_day);
    let sources: Vec<_> = batches
        .iter()
        .flat_map(|b| {
            b.column(12)
                .as_string::<i32>()
                .iter()
                .map(|s| s.unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(sources.iter().all(|s| s == "sqlite"));
}
