//! The legacy Node exporter's files: every record they hold normalizes under the contract, a day
//! exported from them holds only that day, and `import-legacy` turns them into day files. Each
//! check runs on legacy-format files the tests generate, and again on the real files in
//! `../shared/fixtures/legacy-02luka` where that directory is there (CI has it; a clone of the
//! repository alone skips those, by name).

use crate::common;

use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use common::{exporter, read_parquet, run};
use parquet_exporter::record::{normalize, RawRecord, RawValue, Source};

/// The legacy file's rows as raw records, the way a source would hand them over.
fn legacy_records(path: &Path) -> Vec<RawRecord> {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let (batches, _) = read_parquet(path);
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

/// Every record normalizes; the statuses found, by name.
fn statuses_of(records: &[RawRecord]) -> Vec<(&'static str, usize)> {
    let mut statuses = std::collections::BTreeMap::new();
    for raw in records {
        let r = normalize(raw).unwrap_or_else(|e| panic!("{} rejected: {e}", raw.locator));
        *statuses.entry(r.status.as_str()).or_insert(0) += 1;
    }
    statuses.into_iter().collect()
}

/// A generated cumulative export, as the old exporter wrote them: 600 beats over two UTC days
/// from 2025-10-28 20:00, written to `dir`.
fn generated_export(dir: &Path) -> PathBuf {
    let path = dir.join("ops_atomic_20251030.parquet");
    common::write_legacy_rows(&path, &common::legacy_beats(1_761_681_600_000, 600));
    path
}

#[test]
fn real_legacy_records_all_normalize() {
    let Some(dir) = common::shared_fixtures("legacy::real_legacy_records_all_normalize") else {
        return;
    };
    let records = legacy_records(&dir.join("ops_atomic_20251030.parquet"));
    assert_eq!(records.len(), 725, "the legacy file's footer says 725 rows");
    // The legacy strings were '✅ HEALTHY', '⚠️  WARNINGS', '❌ CRITICAL'.
    assert_eq!(
        statuses_of(&records),
        [("critical", 325), ("healthy", 366), ("warnings", 34)]
    );
}

#[test]
fn generated_legacy_records_all_normalize() {
    let dir = tempfile::tempdir().unwrap();
    let records = legacy_records(&generated_export(dir.path()));
    assert_eq!(records.len(), 600);
    // legacy_beats cycles the three emoji statuses.
    assert_eq!(
        statuses_of(&records),
        [("critical", 200), ("healthy", 200), ("warnings", 200)]
    );
}

#[test]
fn a_day_exported_from_real_legacy_data_holds_only_that_day() {
    let Some(dir) =
        common::shared_fixtures("legacy::a_day_exported_from_real_legacy_data_holds_only_that_day")
    else {
        return;
    };
    exported_day_holds_only_that_day(&legacy_records(&dir.join("ops_atomic_20251030.parquet")));
}

#[test]
fn a_day_exported_from_generated_legacy_data_holds_only_that_day() {
    let dir = tempfile::tempdir().unwrap();
    exported_day_holds_only_that_day(&legacy_records(&generated_export(dir.path())));
}

/// The legacy exporter wrote every record ever seen into each day's file; load them all into
/// the archive and export one UTC day, 2025-10-29.
fn exported_day_holds_only_that_day(records: &[RawRecord]) {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("ops.db");
    common::sqlite_db(&db, "");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut on_day = 0;
    for raw in records {
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
            "rep",
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

/// `import-legacy` with `args` in `home`: Bangkok days, files under `out` and `rep`.
fn import(home: &std::path::Path, args: &[&str]) -> common::Output {
    run(exporter(home)
        .args([
            "import-legacy",
            "--tz",
            "Asia/Bangkok",
            "--out-dir",
            "out",
            "--summary-dir",
            "rep",
        ])
        .args(args))
}

fn day_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    v.sort();
    v
}

/// The generated twin of the real files: two cumulative exports (the second holding the first's
/// beats and more, as the old exporter's did), their summaries, and four heartbeat reports, one
/// of them also in the exports.
#[test]
fn importing_generated_legacy_files_gives_each_record_once_on_bangkok_days() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let dir = h.join("legacy");
    std::fs::create_dir_all(&dir).unwrap();
    // From 2025-10-28 20:00Z: 300 beats, then the same and 300 more.
    let beats = common::legacy_beats(1_761_681_600_000, 600);
    common::write_legacy_rows(&dir.join("ops_atomic_20251029.parquet"), &beats[..300]);
    common::write_legacy_rows(&dir.join("ops_atomic_20251030.parquet"), &beats);
    std::fs::write(
        dir.join("parquet_export_summary_20251030.md"),
        "# Parquet Export Summary\n\n**Status:** ✅ Success\n",
    )
    .unwrap();
    // Three reports after the exports' last beat, and one that is also the exports' first.
    let last = 1_761_681_600_000 + 599 * 300_000;
    let mut report_ms = vec![1_761_681_600_000];
    report_ms.extend((1..=3).map(|i| last + i * 300_000));
    for ms in &report_ms {
        let t = chrono::DateTime::from_timestamp_millis(*ms).unwrap();
        std::fs::write(
            dir.join(format!("heartbeat_{}.md", t.format("%Y-%m-%d_%H-%M-%S"))),
            common::legacy_report(*ms, "❌ CRITICAL"),
        )
        .unwrap();
    }
    let out = import(h, &["--json", dir.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let n = |k: &str| report[k].as_u64().unwrap();
    assert_eq!(
        n("read"),
        300 + 600 + 4,
        "two cumulative exports and four reports"
    );
    assert_eq!(n("read"), n("written") + n("merged") + n("rejected"));
    assert_eq!(n("written"), 603, "600 beats and three new reports");
    let rows = all_rows(&h.join("out"));
    let ids: std::collections::BTreeSet<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!((rows.len(), ids.len()), (603, 603));
    assert!(rows.iter().all(|(_, s)| s == "legacy"));
    let days: Vec<String> = day_files(&h.join("out"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // 20:00Z is 03:00 in Bangkok: the first beat is on the 29th there.
    assert_eq!(
        days,
        [
            "ops_atomic_20251029.parquet",
            "ops_atomic_20251030.parquet",
            "ops_atomic_20251031.parquet"
        ]
    );
    let verify = run(exporter(h).args(["verify", "out"]));
    assert!(
        verify.stdout.contains("Files: 3, valid: 3"),
        "{}",
        verify.stdout
    );
    // Idempotent.
    let again = import(h, &["--json", dir.to_str().unwrap()]);
    let report: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(report["written"], 0, "{}", again.stdout);
}

/// Every row of the day files in `dir`: (record_id, source).
fn all_rows(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in day_files(dir) {
        for b in read_parquet(&f).0 {
            let ids = b.column(0).as_string::<i32>();
            let src = b.column(12).as_string::<i32>();
            for i in 0..b.num_rows() {
                out.push((ids.value(i).to_string(), src.value(i).to_string()));
            }
        }
    }
    out
}

#[test]
fn importing_the_real_legacy_files_gives_729_records_on_bangkok_days() {
    let Some(dir) = common::shared_fixtures(
        "legacy::importing_the_real_legacy_files_gives_729_records_on_bangkok_days",
    ) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let out = import(h, &["--json", dir.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let n = |k: &str| report[k].as_u64().unwrap();
    assert_eq!(
        n("read"),
        1492 + 4,
        "four cumulative exports and four reports"
    );
    assert_eq!(n("read"), n("written") + n("merged") + n("rejected"));
    assert_eq!(n("written"), 729);
    let rows = all_rows(&h.join("out"));
    let ids: std::collections::BTreeSet<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        (rows.len(), ids.len()),
        (729, 729),
        "725 records + 4 reports, once each"
    );
    assert!(rows.iter().all(|(_, s)| s == "legacy"));
    let days: Vec<String> = day_files(&h.join("out"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        days.first().unwrap(),
        "ops_atomic_20251028.parquet",
        "Bangkok is UTC+7"
    );
    assert_eq!(days.last().unwrap(), "ops_atomic_20251113.parquet");
    let verify = run(exporter(h).args(["verify", "out"]));
    assert!(
        verify.stdout.contains("Files: 5, valid: 5"),
        "{}",
        verify.stdout
    );

    // A second import changes no byte of any day file.
    let before: Vec<Vec<u8>> = day_files(&h.join("out"))
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let again = import(h, &["--json", dir.to_str().unwrap()]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let report: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(report["written"], 0);
    assert!(report["days"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["outcome"] == "unchanged"));
    let after: Vec<Vec<u8>> = day_files(&h.join("out"))
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(before == after, "a second import rewrote a day file");

    // A dry run writes nothing.
    let dry = run(exporter(h)
        .args(["import-legacy", "--tz", "Asia/Bangkok", "--dry"])
        .args(["--out-dir", "dry-out", "--summary-dir", "dry-rep"])
        .arg(&dir));
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout.contains("dry run: nothing written"),
        "{}",
        dry.stdout
    );
    assert!(!h.join("dry-out").exists() && !h.join("dry-rep").exists());
}

#[test]
fn legacy_rows_merge_into_an_exported_day_and_bad_ones_are_rejected() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // An export of 2025-10-30 (Bangkok) from the archive: one beat at 09:00 local.
    common::sqlite_db(
        &h.join("ops.db"),
        "INSERT INTO ops_atomic_heartbeats (record_id, ts, status, host) VALUES
           ('heartbeat_2025-10-30_02-00-00.md', 1761789600000, 'healthy', 'mini');",
    );
    let out = run(exporter(h)
        .args([
            "--date",
            "2025-10-30",
            "--tz",
            "Asia/Bangkok",
            "--out-dir",
            "out",
            "--summary-dir",
            "rep",
        ])
        .args(["--sqlite", "ops.db"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let row = |f: &'static str, ts: &'static str, st: &'static str| {
        [
            f,
            "heartbeat",
            ts,
            st,
            "64",
            "ok",
            "ok",
            "warn",
            "loaded",
            "loaded",
        ]
    };
    std::fs::create_dir_all(h.join("legacy")).unwrap();
    common::write_legacy(
        &h.join("legacy/old.parquet"),
        &[
            // The same record as the export's, with another status: the export's copy wins.
            row(
                "heartbeat_2025-10-30_02-00-00.md",
                "2025-10-30T02:00:00.000Z",
                "❌ CRITICAL",
            ),
            row(
                "heartbeat_2025-10-30_02-05-00.md",
                "2025-10-30T02:05:00.000Z",
                "⚠️  WARNINGS",
            ),
            row(
                "heartbeat_2025-10-30_02-10-00.md",
                "yesterday-ish",
                "✅ HEALTHY",
            ),
            row(
                "heartbeat_2025-10-30_02-15-00.md",
                "2025-10-30T02:15:00.000Z",
                "🤷 MAYBE",
            ),
        ],
    );
    let out = import(h, &["--json", "legacy"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let day = &report["days"][0];
    assert_eq!(day["day"], "2025-10-30");
    assert_eq!(day["outcome"], "merged");
    assert_eq!(
        (day["read"].as_u64(), day["written"].as_u64()),
        (Some(4), Some(1))
    );
    assert_eq!(
        (day["merged"].as_u64(), day["conflicts"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(day["rejected"], 2);
    let rows = all_rows(&h.join("out"));
    assert_eq!(
        rows,
        [
            ("heartbeat_2025-10-30_02-00-00.md".into(), "sqlite".into()),
            ("heartbeat_2025-10-30_02-05-00.md".into(), "legacy".into()),
        ],
        "the exported row is kept as it was"
    );
    let (batches, _) = read_parquet(&h.join("out/ops_atomic_20251030.parquet"));
    assert_eq!(batches[0].column(3).as_string::<i32>().value(0), "healthy");
    let rejects =
        std::fs::read_to_string(h.join("rep/ops_atomic_20251030.legacy-rejects.ndjson")).unwrap();
    let reasons: Vec<String> = rejects
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["reason_code"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(reasons, ["bad_timestamp", "unknown_status"]);
    assert!(run(exporter(h).args(["verify", "out"])).code == 0);

    // DuckDB reads the imported and the exported rows as one table.
    let py = common::python();
    let q = format!(
        "import duckdb; print(duckdb.sql(\"SELECT source, count(*) FROM read_parquet('{}/out/ops_atomic_*.parquet') GROUP BY ALL ORDER BY 1\").fetchall())",
        h.display()
    );
    let duck = std::process::Command::new(&py)
        .args(["-c", &q])
        .output()
        .unwrap();
    assert!(
        duck.status.success(),
        "{}",
        String::from_utf8_lossy(&duck.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&duck.stdout).trim(),
        "[('legacy', 1), ('sqlite', 1)]"
    );
}

#[test]
fn a_legacy_file_in_the_out_dir_is_replaced_only_when_imported() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::create_dir_all(h.join("out")).unwrap();
    // The old exporter wrote its files where the new ones go, under the same names.
    let legacy = h.join("out/ops_atomic_20251030.parquet");
    common::write_legacy(
        &legacy,
        &[[
            "heartbeat_2025-10-30_02-00-00.md",
            "heartbeat",
            "2025-10-30T02:00:00.000Z",
            "ok",
            "1",
            "ok",
            "ok",
            "ok",
            "loaded",
            "loaded",
        ]],
    );
    let original = std::fs::read(&legacy).unwrap();
    std::fs::write(
        h.join("report.md"),
        "# OPS-Atomic Monitor Heartbeat\n\n**Timestamp:** 2025-10-30T03:00:00.000Z\n**Status:** ✅ HEALTHY\n",
    )
    .unwrap();
    // Importing only the report onto that day: the legacy file is not ours to replace.
    let out = import(h, &["report.md"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("not a schema-v1 file and not among the inputs"),
        "{}",
        out.stdout
    );
    assert_eq!(std::fs::read(&legacy).unwrap(), original);
    // Importing it too: it becomes the schema-v1 day file with both records.
    let out = import(h, &["report.md", "out/ops_atomic_20251030.parquet"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(all_rows(&h.join("out")).len(), 2);
    assert_eq!(run(exporter(h).args(["verify", "out"])).code, 0);
}
