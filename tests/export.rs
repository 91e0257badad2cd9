//! End-to-end export: the binary against a private redis-server and a real SQLite file, with the
//! Parquet file, rejects and summary read back.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampMillisecondType};
use common::{exporter, files_under, read_parquet, rfc3339, run, sqlite_db, Redis};
use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit as PqTimeUnit};

const DAY: &str = "2025-10-30";
const TZ: &str = "Asia/Bangkok";
/// 2025-10-30 in Bangkok is [2025-10-29T17:00Z, 2025-10-30T17:00Z).
const START: i64 = 1_761_757_200_000;
const END: i64 = 1_761_843_600_000;
const STREAM: &str = "ops:atomic:heartbeats";

fn sqlite_rows(path: &Path) {
    sqlite_db(
        path,
        &format!(
            "INSERT INTO ops_atomic_heartbeats VALUES
               ('r-both-same', 'heartbeat', {both_ts}, 'healthy', 100, 'mini', 'ok', 'ok', 'ok', 'loaded', 'loaded', '{{\"disk\":\"ok\"}}'),
               ('r-conflict', NULL, '2025-10-30T08:00:00+07:00', 'healthy', 50, 'mini', 'pass', NULL, NULL, NULL, NULL, NULL),
               (NULL, NULL, {last_ms}, 'Warnings', NULL, 'mini', NULL, 'warn', NULL, NULL, 'not_loaded', NULL),
               ('s-next-day', NULL, {END}, 'healthy', NULL, 'mini', NULL, NULL, NULL, NULL, NULL, NULL),
               ('s-bad', NULL, {bad_ts}, 'degraded', NULL, 'mini', NULL, NULL, NULL, NULL, NULL, NULL),
               (NULL, NULL, '2025-10-29T17:00:00Z', 'ok', 7, 'book', NULL, NULL, NULL, NULL, NULL, NULL);",
            both_ts = START + 3_600_000,
            last_ms = END - 1,
            bad_ts = START + 7_200_000,
        ),
    );
}

fn redis_entries(redis: &Redis) {
    let mut c = redis.conn();
    // In entry-ID order, as XADD requires.
    // ID half an hour before the day (inside the margin), timestamp inside it: read.
    Redis::xadd(
        &mut c,
        STREAM,
        &format!("{}-0", START - 1_800_000),
        &[
            ("timestamp", "2025-10-30T00:10:00+07:00"),
            ("status", "ok"),
            ("host", "mini"),
        ],
    );
    Redis::xadd(
        &mut c,
        STREAM,
        &format!("{}-0", START + 3_600_000),
        &[
            ("record_id", "r-both-same"),
            ("timestamp", "2025-10-29T18:00:00Z"),
            ("status", "✅ HEALTHY"),
            ("duration_ms", "100ms"),
            ("host", "mini"),
            ("redis_status", "ok"),
            ("database_status", "ok"),
            ("api_status", "ok"),
            ("launchagent_optimizer", "loaded"),
            ("launchagent_digest", "loaded"),
            ("check.disk", "ok"),
        ],
    );
    Redis::xadd(
        &mut c,
        STREAM,
        "1761786000000-0",
        &[(
            "json",
            r#"{"record_id":"r-conflict","timestamp":1761786000000,"status":"critical","host":"mini"}"#,
        )],
    );
    Redis::xadd(
        &mut c,
        STREAM,
        "1761800400000-0",
        &[
            ("timestamp", "2025-10-30T12:00:00+07:00"),
            ("status", "⚠️  WARNINGS"),
            ("duration_ms", ""),
            ("host", "book"),
            ("check.backup", "late"),
        ],
    );
    Redis::xadd(&mut c, STREAM, "1761810000000-0", &[("json", "{oops")]);
    let _: String = redis::cmd("XADD")
        .arg(STREAM)
        .arg("1761810000001-0")
        .arg("timestamp")
        .arg("2025-10-30T20:00:00+07:00")
        .arg("status")
        .arg("ok")
        .arg("host")
        .arg(&b"m\xffni"[..])
        .query(&mut c)
        .unwrap();
    // ID inside the day, timestamp on the next day within the margin: not this day's record.
    // (An entry stamped farther from its ID than the margin is a reject; see reliability.rs.)
    Redis::xadd(
        &mut c,
        STREAM,
        &format!("{}-0", END - 1),
        &[
            ("timestamp", "2025-10-31T00:30:00+07:00"),
            ("status", "ok"),
            ("host", "book"),
        ],
    );
    // Two hours after the day: outside the margin, never read although its timestamp is in it.
    Redis::xadd(
        &mut c,
        STREAM,
        &format!("{}-0", END + 7_200_000),
        &[
            ("timestamp", "2025-10-30T15:00:00+07:00"),
            ("status", "ok"),
            ("host", "late"),
        ],
    );
}

/// A temp HOME holding `ops.db` with the SQLite rows above.
fn home_with_archive() -> (tempfile::TempDir, std::path::PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("ops.db");
    sqlite_rows(&db);
    (home, db)
}

/// The same, plus a private Redis holding the stream entries above.
fn home_with_both() -> (tempfile::TempDir, std::path::PathBuf, Redis) {
    let (home, db) = home_with_archive();
    let redis = Redis::start();
    redis_entries(&redis);
    (home, db, redis)
}

fn strings(b: &RecordBatch, col: usize) -> Vec<Option<String>> {
    b.column(col)
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

fn export_args(home: &Path, db: &Path, redis_url: &str) -> std::process::Command {
    let mut cmd = exporter(home);
    cmd.args([
        "--date",
        DAY,
        "--tz",
        TZ,
        "--json",
        "--out-dir",
        "out",
        "--summary-dir",
        "reports",
    ])
    .arg("--sqlite")
    .arg(db)
    .env("PARQUET_EXPORTER_REDIS_URL", redis_url);
    cmd
}

#[test]
fn a_day_from_both_sources_is_merged_typed_and_complete() {
    let (home, db, redis) = home_with_both();

    let out = run(&mut export_args(home.path(), &db, &redis.url()));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["verdict"], "success");
    assert_eq!(report["rows"], 6);
    assert_eq!(report["merged"], 2);
    assert_eq!(report["conflicts"], 1);
    assert_eq!(report["rejected"], 3);
    assert_eq!(report["read"], 11, "read = rows + merged + rejected");
    let by_source: BTreeMap<String, (u64, u64, u64)> = report["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                (
                    s["read"].as_u64().unwrap(),
                    s["rejected"].as_u64().unwrap(),
                    s["other_day"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(
        by_source["sqlite"],
        (5, 1, 0),
        "the next day's INTEGER ts is outside the range"
    );
    assert_eq!(by_source["redis"], (6, 2, 1));

    let path = home.path().join("out/ops_atomic_20251030.parquet");
    let (batches, meta) = read_parquet(&path);
    let b = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_eq!(b.num_rows(), 6);

    assert_eq!(
        strings(&b, 0)
            .into_iter()
            .map(Option::unwrap)
            .collect::<Vec<_>>(),
        [
            "heartbeat:book:1761757200000",
            "heartbeat:mini:1761757800000",
            "r-both-same",
            "r-conflict",
            "heartbeat:book:1761800400000",
            "heartbeat:mini:1761843599999",
        ]
    );
    let ts = b.column(2).as_primitive::<TimestampMillisecondType>();
    assert_eq!(
        ts.values().to_vec(),
        [
            START,
            START + 600_000,
            START + 3_600_000,
            1_761_786_000_000,
            1_761_800_400_000,
            END - 1
        ]
    );
    assert_eq!(
        strings(&b, 12)
            .into_iter()
            .map(Option::unwrap)
            .collect::<Vec<_>>(),
        ["sqlite", "redis", "both", "both", "redis", "sqlite"]
    );
    assert_eq!(
        strings(&b, 3)
            .into_iter()
            .map(Option::unwrap)
            .collect::<Vec<_>>(),
        ["healthy", "healthy", "healthy", "healthy", "warnings", "warnings"],
        "the conflict keeps SQLite's healthy over Redis' critical"
    );
    assert!(strings(&b, 1)
        .iter()
        .all(|t| t.as_deref() == Some("heartbeat")));
    let dur = b.column(4).as_primitive::<Int64Type>();
    assert_eq!(
        (0..6)
            .map(|i| dur.is_valid(i).then(|| dur.value(i)))
            .collect::<Vec<_>>(),
        [Some(7), None, Some(100), Some(50), None, None]
    );
    assert_eq!(strings(&b, 5)[4].as_deref(), Some("book"));
    assert_eq!(strings(&b, 6)[3].as_deref(), Some("ok"), "pass -> ok");
    assert_eq!(strings(&b, 7)[5].as_deref(), Some("warn"));
    assert_eq!(
        strings(&b, 8)[0].as_deref(),
        Some("unknown"),
        "absent -> unknown"
    );
    assert_eq!(strings(&b, 10)[5].as_deref(), Some("not_loaded"));
    let checks = b.column(11).as_map();
    assert!(checks.is_null(0));
    let entries = checks.value(2);
    assert_eq!(entries.column(0).as_string::<i32>().value(0), "disk");
    assert_eq!(entries.column(1).as_string::<i32>().value(0), "ok");
    assert_eq!(
        checks.value(4).column(0).as_string::<i32>().value(0),
        "backup"
    );

    // Types and nullability as the contract's schema v1 says, in Arrow and in Parquet.
    let schema = b.schema();
    assert_eq!(schema.fields().len(), 13);
    assert_eq!(
        schema.field(2).data_type(),
        &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    );
    assert!(matches!(
        schema.field(11).data_type(),
        DataType::Map(_, false)
    ));
    let root = meta
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields()
        .to_vec();
    for f in &root {
        let want = if ["duration_ms", "host", "checks"].contains(&f.name()) {
            Repetition::OPTIONAL
        } else {
            Repetition::REQUIRED
        };
        assert_eq!(f.get_basic_info().repetition(), want, "{}", f.name());
    }
    let ts_col = meta.file_metadata().schema_descr().column(2);
    assert_eq!(
        ts_col.logical_type_ref(),
        Some(&LogicalType::timestamp(true, PqTimeUnit::MILLIS))
    );
    for rg in meta.row_groups() {
        for col in rg.columns() {
            assert_eq!(
                col.compression(),
                Compression::SNAPPY,
                "{}",
                col.column_path()
            );
            assert!(
                col.statistics().is_some(),
                "{} has statistics",
                col.column_path()
            );
        }
    }
    let kv: BTreeMap<String, String> = meta
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .iter()
        .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
        .collect();
    assert_eq!(kv["ops_atomic.schema_version"], "1");
    assert_eq!(kv["ops_atomic.day"], DAY);
    assert_eq!(kv["ops_atomic.timezone"], TZ);
    assert!(kv["ops_atomic.exporter"].starts_with("parquet-exporter "));
    assert_eq!(kv["ops_atomic.source.redis.read"], "6");
    assert_eq!(kv["ops_atomic.source.sqlite.read"], "5");
    assert_eq!(kv["ops_atomic.rejected"], "3");
    assert!(kv.contains_key("ARROW:schema"));

    // Every reject is in the rejects file with its source and reason.
    let rejects = std::fs::read_to_string(
        home.path()
            .join("reports/ops_atomic_20251030.rejects.ndjson"),
    )
    .unwrap();
    let mut reasons: Vec<(String, String)> = rejects
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["source"].as_str().unwrap().into(),
                v["reason_code"].as_str().unwrap().into(),
            )
        })
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            ("redis".to_string(), "bad_entry".to_string()),
            ("redis".into(), "invalid_utf8".into()),
            ("sqlite".into(), "unknown_status".into())
        ]
    );

    let summary = std::fs::read_to_string(
        home.path()
            .join("reports/parquet_export_summary_20251030.md"),
    )
    .unwrap();
    for want in [
        "✅ success: 6 rows exported",
        "Records read 11 = rows written 6 + duplicates merged 2 + rejected 3",
        "Validation: OK",
        "| Compression | snappy |",
    ] {
        assert!(summary.contains(want), "summary lacks {want:?}:\n{summary}");
    }
}

#[test]
fn rerunning_a_day_gives_the_same_file() {
    let (home, db, redis) = home_with_both();
    let path = home.path().join("out/ops_atomic_20251030.parquet");
    assert_eq!(
        run(&mut export_args(home.path(), &db, &redis.url())).code,
        0
    );
    let first = std::fs::read(&path).unwrap();
    assert_eq!(
        run(&mut export_args(home.path(), &db, &redis.url())).code,
        0
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        first,
        "same rows, same bytes"
    );
    // Nothing but the outputs: no temp files left behind.
    assert_eq!(
        files_under(home.path())
            .into_iter()
            .filter(|f| f != "ops.db")
            .collect::<Vec<_>>(),
        [
            "02luka/g/metrics/parquet_exporter.prom",
            "out/ops_atomic_20251030.parquet",
            "reports/.parquet-exporter.lock",
            "reports/ops_atomic_20251030.rejects.ndjson",
            "reports/parquet_export_summary_20251030.md",
            "reports/parquet_export_summary_20251030.svg"
        ],
        "the out dir holds the day file alone"
    );
}

#[test]
fn dry_run_reads_and_builds_but_creates_nothing() {
    let (home, db, redis) = home_with_both();
    let before = files_under(home.path());
    let out = run(exporter(home.path())
        .args([
            "--dry",
            "--date",
            DAY,
            "--tz",
            TZ,
            "--redis-url",
            &redis.url(),
        ])
        .arg("--sqlite")
        .arg(&db));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("dry run: nothing written"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("record_id"), "prints the schema");
    assert!(
        out.stdout
            .contains("rows:     6 (merged 2, conflicts 1, rejected 3)"),
        "{}",
        out.stdout
    );
    assert_eq!(
        files_under(home.path()),
        before,
        "no file and no directory created"
    );
    assert!(!home.path().join("02luka").exists());
}

#[test]
fn unreachable_redis_is_a_partial_run() {
    let (home, db) = home_with_archive();
    let dead = home.path().join("no-redis.sock");
    let out = run(&mut export_args(
        home.path(),
        &db,
        &format!("unix://{}", dead.display()),
    ));
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["verdict"], "partial");
    assert_eq!(report["rows"], 4, "everything SQLite had for the day");
    let summary = std::fs::read_to_string(
        home.path()
            .join("reports/parquet_export_summary_20251030.md"),
    )
    .unwrap();
    assert!(
        summary.contains("partial") && summary.contains("redis could not be read"),
        "{summary}"
    );
    assert!(!summary.contains("success"));
    let (_, meta) = read_parquet(&home.path().join("out/ops_atomic_20251030.parquet"));
    let kv = meta.file_metadata().key_value_metadata().unwrap();
    assert!(kv
        .iter()
        .any(|k| k.key == "ops_atomic.verdict" && k.value.as_deref() == Some("partial")));
}

#[test]
fn no_reachable_source_writes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let out = run(exporter(home.path())
        .args(["--date", DAY, "--tz", TZ, "--sqlite", "missing.db"])
        .env(
            "PARQUET_EXPORTER_REDIS_URL",
            "unix:///nonexistent/redis.sock",
        ));
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("no configured source could be read"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("missing.db"));
    assert_eq!(
        files_under(home.path()),
        [
            "02luka/g/metrics/parquet_exporter.prom",
            "02luka/g/reports/parquet/.parquet-exporter.lock"
        ],
        "only the run lock and the metrics of a failed run: no export, no summary"
    );
}

#[test]
fn a_missing_table_fails_and_keeps_the_previous_file() {
    let (home, db) = home_with_archive();
    let args = [
        "--date",
        DAY,
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
    let path = home.path().join("out/ops_atomic_20251030.parquet");
    let good = std::fs::read(&path).unwrap();
    let before = files_under(home.path());

    let out = run(exporter(home.path())
        .args(args)
        .arg("--sqlite")
        .arg(&db)
        .args(["--sqlite-table", "heartbeats_v2"]));
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("no table heartbeats_v2"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read(&path).unwrap(), good);
    assert_eq!(files_under(home.path()), before);

    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE no_status (ts INTEGER)")
        .unwrap();
    let out = run(exporter(home.path())
        .args(args)
        .arg("--sqlite")
        .arg(&db)
        .args(["--sqlite-table", "no_status"]));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("no column status"), "{}", out.stderr);
}

#[test]
fn a_day_without_records_is_an_empty_valid_file() {
    let (home, db) = home_with_archive();
    let out = run(exporter(home.path())
        .args([
            "--date",
            "2025-11-05",
            "--tz",
            TZ,
            "--json",
            "--out-dir",
            "out",
            "--summary-dir",
            "rep",
        ])
        .arg("--sqlite")
        .arg(&db));
    assert_eq!(out.code, 4, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["verdict"], "empty");
    let (batches, meta) = read_parquet(&home.path().join("out/ops_atomic_20251105.parquet"));
    assert_eq!(meta.file_metadata().num_rows(), 0);
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    assert_eq!(
        meta.file_metadata().schema_descr().num_columns(),
        14,
        "13 columns, map has 2 leaves"
    );
    let summary =
        std::fs::read_to_string(home.path().join("rep/parquet_export_summary_20251105.md"))
            .unwrap();
    assert!(summary.contains("empty: no record"), "{summary}");
    assert!(!home
        .path()
        .join("rep/ops_atomic_20251105.rejects.ndjson")
        .exists());
}

#[test]
fn a_password_stays_out_of_argv_and_logs() {
    let home = tempfile::tempdir().unwrap();
    let redis = Redis::start_with(&["--requirepass", "s3cret-pw"]);
    {
        let mut c = redis.conn_with_password("s3cret-pw");
        Redis::xadd(
            &mut c,
            STREAM,
            "1761760800000-0",
            &[("timestamp", "2025-10-29T18:00:00Z"), ("status", "ok")],
        );
    }
    let url_with_pw = format!("redis+unix://{}?pass=s3cret-pw", redis.socket.display());
    let url = format!("unix://{}", redis.socket.display());
    let base = [
        "--date",
        DAY,
        "--tz",
        TZ,
        "-v",
        "--out-dir",
        "out",
        "--summary-dir",
        "rep",
    ];

    // On the command line: refused (a URL with user:password@ form).
    let out = run(exporter(home.path())
        .args(base)
        .args(["--redis-url", "redis://:s3cret-pw@localhost:1"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(!out.stderr.contains("s3cret-pw"));

    // Without the password: the server refuses, which is an unreachable source.
    let out = run(exporter(home.path()).args(base).args(["--redis-url", &url]));
    assert_eq!(out.code, 5, "{}", out.stderr);

    // From the environment: works, and is never printed.
    let out = run(exporter(home.path())
        .args(base)
        .args(["--redis-url", &url])
        .env("PARQUET_EXPORTER_REDIS_PASSWORD", "s3cret-pw"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out2 = run(exporter(home.path())
        .args(base)
        .env("PARQUET_EXPORTER_REDIS_URL", &url_with_pw));
    assert_eq!(out2.code, 0, "{}", out2.stderr);
    for o in [&out, &out2] {
        assert!(!o.stdout.contains("s3cret-pw") && !o.stderr.contains("s3cret-pw"));
    }
    let summary =
        std::fs::read_to_string(home.path().join("rep/parquet_export_summary_20251030.md"))
            .unwrap();
    assert!(!summary.contains("s3cret-pw"));
}

/// An empty PARQUET_EXPORTER_REDIS_PASSWORD is no password, to `simulate` as to `export`:
/// neither sends an empty one to a server that has none.
#[test]
fn an_empty_password_variable_is_no_password_to_simulate_or_export() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let redis = Redis::start();
    let sim = run(exporter(h)
        .args(["simulate", "--date", DAY, "--tz", TZ, "--hosts", "a"])
        .args(["--redis-url", &redis.url()])
        .env("PARQUET_EXPORTER_REDIS_PASSWORD", ""));
    assert_eq!(sim.code, 0, "{}", sim.stderr);
    assert!(
        sim.stdout.contains("wrote 288 records for 2025-10-30"),
        "{}",
        sim.stdout
    );
    let out = run(common::export_cmd(h, TZ)
        .args(["--date", DAY, "--redis-url", &redis.url()])
        .env("PARQUET_EXPORTER_REDIS_PASSWORD", ""));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn export_reads_sqlite_while_a_writer_holds_a_transaction() {
    let (home, db) = home_with_archive();
    let writer = rusqlite::Connection::open(&db).unwrap();
    writer.pragma_update(None, "journal_mode", "WAL").unwrap();
    writer.execute_batch("BEGIN IMMEDIATE; INSERT INTO ops_atomic_heartbeats (ts, status) VALUES (1761760900000, 'ok');").unwrap();
    let out = run(exporter(home.path())
        .args(["--dry", "--json", "--date", DAY, "--tz", TZ])
        .arg("--sqlite")
        .arg(&db));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["rows"], 4, "the uncommitted row is not seen");
    writer.execute_batch("COMMIT").unwrap();
}

#[test]
fn help_documents_exit_codes_and_environment() {
    let home = tempfile::tempdir().unwrap();
    let out = run(exporter(home.path()).arg("--help"));
    assert_eq!(out.code, 0);
    for want in [
        "Exit status:",
        "3  partial",
        "PARQUET_EXPORTER_REDIS_PASSWORD",
        "--dry",
        "--sqlite <PATH>",
        "schema",
        "sqlite-ddl",
        "simulate",
    ] {
        assert!(
            out.stdout.contains(want),
            "help lacks {want:?}:\n{}",
            out.stdout
        );
    }
    let out = run(exporter(home.path()).arg("--dry"));
    assert_eq!(out.code, 2, "no source configured is a usage error");
    assert!(out.stderr.contains("--sqlite PATH"), "{}", out.stderr);
}

#[test]
fn simulated_day_exports_with_shared_and_single_source_rows() {
    let home = tempfile::tempdir().unwrap();
    let redis = Redis::start();
    let sim = run(exporter(home.path()).args([
        "simulate",
        "--date",
        DAY,
        "--tz",
        TZ,
        "--hosts",
        "mini,book",
        "--bad",
        "4",
        "--sqlite",
        "sim.db",
        "--redis-url",
        &redis.url(),
    ]));
    assert_eq!(sim.code, 0, "{}", sim.stderr);
    let out = run(exporter(home.path())
        .args([
            "--date",
            DAY,
            "--tz",
            TZ,
            "--json",
            "--sqlite",
            "sim.db",
            "--out-dir",
            "out",
            "--summary-dir",
            "rep",
        ])
        .env("PARQUET_EXPORTER_REDIS_URL", redis.url()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(r["rows"], 2 * 288, "{r:#}");
    assert_eq!(r["conflicts"], 0);
    assert!(r["rejected"].as_u64().unwrap() >= 4);
    let (batches, _) = read_parquet(&home.path().join("out/ops_atomic_20251030.parquet"));
    let mut sources: BTreeMap<String, usize> = BTreeMap::new();
    for b in &batches {
        for s in strings(b, 12) {
            *sources.entry(s.unwrap()).or_default() += 1;
        }
    }
    assert_eq!(
        sources.keys().collect::<Vec<_>>(),
        ["both", "redis", "sqlite"],
        "{sources:?}"
    );
}

#[test]
fn redis_page_sizes_past_the_first_page_give_the_same_files() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let redis = Redis::start();
    let out = run(exporter(h)
        .args([
            "simulate", "--date", DAY, "--tz", TZ, "--hosts", "a,b", "--bad", "4",
        ])
        .args(["--redis-url", &redis.url()]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The default reads this 576-entry day in several windows, 1000 in one request.
    let runs = export_per_page_size(h, &redis, &[None, Some("1"), Some("7"), Some("1000")]);
    let mut files = Vec::new();
    for (page, report, dir) in &runs {
        assert_eq!(report["rows"], 576, "page {page:?}");
        assert_eq!(report["rejected"], 4, "page {page:?}");
        // A page boundary read twice would be merged away: the file alone would not show it.
        assert_eq!(report["merged"], 0, "page {page:?}");
        files.push((
            std::fs::read(dir.join("ops_atomic_20251030.parquet")).unwrap(),
            std::fs::read(
                dir.with_extension("rep")
                    .join("ops_atomic_20251030.rejects.ndjson"),
            )
            .unwrap(),
        ));
    }
    for ((page, _, _), f) in runs.iter().zip(&files).skip(1) {
        assert!(
            *f == files[0],
            "page size {page:?} differs from the default"
        );
    }
}

/// Exports the day from `redis` once per page size (`None`: the default), each run into an
/// out dir of its own under `home`: each page size with its run's JSON report and out dir.
fn export_per_page_size<'p>(
    home: &Path,
    redis: &Redis,
    pages: &[Option<&'p str>],
) -> Vec<(Option<&'p str>, serde_json::Value, PathBuf)> {
    pages
        .iter()
        .map(|&page| {
            let dir = home.join(format!("out-{}", page.unwrap_or("default")));
            let mut cmd = exporter(home);
            cmd.args(["--date", DAY, "--tz", TZ, "--json"])
                .arg("--out-dir")
                .arg(&dir)
                .arg("--summary-dir")
                .arg(dir.with_extension("rep"))
                .env("PARQUET_EXPORTER_REDIS_URL", redis.url());
            if let Some(p) = page {
                cmd.args(["--redis-page-size", p]);
            }
            let out = run(&mut cmd);
            assert_eq!(out.code, 0, "page {page:?}: {}", out.stderr);
            (page, serde_json::from_str(&out.stdout).unwrap(), dir)
        })
        .collect()
}

#[test]
fn a_burst_of_entries_in_one_millisecond_reads_the_same_at_any_page_size() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let redis = Redis::start();
    let mut c = redis.conn();
    // A quiet day (one entry every 20 minutes) with a burst in its middle: 300 entries in one
    // millisecond and 40 in the next, as a backlog flushed at once would be. Replies come back
    // full inside the burst, so windows asked for ahead of them are dropped and asked again.
    let burst = START + 12 * 3_600_000 + 7;
    let mut ids = Vec::new();
    for i in 0..72 {
        let ms = START + i * 1_200_000;
        if ms > burst && ids.last().is_some_and(|(t, _, _)| *t < burst) {
            for (at, n) in [(burst, 300), (burst + 1, 40)] {
                for seq in 0..n {
                    ids.push((at, seq, format!("burst-{seq}")));
                }
            }
        }
        ids.push((ms, 0, "quiet".to_string()));
    }
    for (ms, seq, host) in &ids {
        let ts = rfc3339(*ms);
        Redis::xadd(
            &mut c,
            STREAM,
            &format!("{ms}-{seq}"),
            &[("timestamp", &ts), ("status", "ok"), ("host", host)],
        );
    }
    let pages = [None, Some("1"), Some("7"), Some("100"), Some("1000")];
    let runs = export_per_page_size(h, &redis, &pages);
    let mut files = Vec::new();
    for (page, report, dir) in &runs {
        assert_eq!(report["rows"], ids.len(), "page {page:?}");
        // An entry read twice would be merged away: the file alone would not show it.
        assert_eq!(report["merged"], 0, "page {page:?}");
        files.push(std::fs::read(dir.join("ops_atomic_20251030.parquet")).unwrap());
    }
    for ((page, _, _), f) in runs.iter().zip(&files).skip(1) {
        assert!(
            *f == files[0],
            "page size {page:?} differs from the default"
        );
    }
}

#[test]
fn completions_and_the_man_page_cover_the_commands() {
    let home = tempfile::tempdir().unwrap();
    let bash = run(exporter(home.path()).args(["completions", "bash"]));
    assert_eq!(bash.code, 0, "{}", bash.stderr);
    let script = home.path().join("parquet-exporter.bash");
    std::fs::write(&script, &bash.stdout).unwrap();
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    for word in [
        "import-legacy",
        "verify",
        "--catch-up",
        "--force",
        "--redis-url",
    ] {
        assert!(bash.stdout.contains(word), "bash completion lacks {word}");
    }
    for shell in ["zsh", "fish"] {
        let out = run(exporter(home.path()).args(["completions", shell]));
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(out.stdout.contains("--catch-up"), "{shell}");
    }
}

/// The man page as `man` shows it: one page holding every subcommand with its options, no
/// reference to a page that is not there, the exit status as a table (one code a line) and
/// the environment variables named at their flags. Rendered by man-db (`man -l`) and groff.
#[test]
fn the_man_page_renders_with_man_and_holds_every_subcommand() {
    let home = tempfile::tempdir().unwrap();
    let man = run(exporter(home.path()).arg("man"));
    assert_eq!(man.code, 0, "{}", man.stderr);
    assert!(man.stdout.starts_with(".ie") || man.stdout.contains(".TH parquet-exporter 1"));
    let page = home.path().join("parquet-exporter.1");
    std::fs::write(&page, &man.stdout).unwrap();
    let shown = std::process::Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANWIDTH", "120")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MAN_KEEP_FORMATTING", "")
        .output()
        .expect("man must be installed (apt-get install -y man-db; .ci/run does)");
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let warnings = String::from_utf8_lossy(&shown.stderr);
    assert!(warnings.trim().is_empty(), "roff warnings: {warnings}");
    let text = String::from_utf8_lossy(&shown.stdout).into_owned();
    for sub in [
        "export",
        "schema",
        "sqlite-ddl",
        "simulate",
        "import-legacy",
        "verify",
        "launchd",
        "history",
        "completions",
        "man",
        "systemd",
    ] {
        let other_page = format!("parquet-exporter-{sub}(1)");
        assert!(
            !text.contains(&other_page),
            "{other_page} is never installed"
        );
        let heading = format!("\n   parquet-exporter {sub}\n");
        assert!(text.contains(&heading), "no section for {sub}");
    }
    let section = |sub: &str| -> &str {
        let start = text
            .find(&format!("\n   parquet-exporter {sub}\n"))
            .unwrap();
        let rest = &text[start + 1..];
        let end = rest[4..]
            .find("\n   parquet-exporter ")
            .map_or(rest.len(), |e| e + 4);
        &rest[..end]
    };
    assert!(
        section("verify").contains("--report [<FILE>]"),
        "{}",
        section("verify")
    );
    assert!(
        section("history").contains("--svg"),
        "{}",
        section("history")
    );
    assert!(
        section("systemd").contains("--dry"),
        "{}",
        section("systemd")
    );
    // One line per exit code, the code first.
    let status = &text[text
        .find("\nEXIT STATUS\n")
        .expect("an EXIT STATUS section")..];
    for (code, start) in [
        (0, "success:"),
        (1, "failed:"),
        (2, "usage:"),
        (3, "partial:"),
        (4, "empty:"),
        (5, "no source:"),
        (6, "busy:"),
        (7, "pending:"),
    ] {
        let row = format!("       {code}   {start}");
        assert!(status.contains(&row), "no row {row:?} in\n{status}");
    }
    assert!(text
        .contains("May also be specified with the PARQUET_EXPORTER_MAX_SIZE environment variable"));
    assert!(text.contains("\nENVIRONMENT\n"));
}

#[test]
fn the_summary_links_a_timeline_picture_that_a_real_renderer_draws() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::archive(h, TZ, &[DAY]);
    let out = run(common::export_cmd(h, TZ).args(["--date", DAY, "--sqlite", "ops.db"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let md = std::fs::read_to_string(h.join("rep/parquet_export_summary_20251030.md")).unwrap();
    assert!(
        md.contains("](parquet_export_summary_20251030.svg)"),
        "a relative image link: {md}"
    );
    let svg = h.join("rep/parquet_export_summary_20251030.svg");
    assert!(svg.exists());
    assert!(!std::fs::read_to_string(&svg)
        .unwrap()
        .contains("more hosts"));
    common::render_svg(&svg, &h.join("timeline.png"));

    // 23 hosts: the 20 worst are drawn, and the picture says 3 more are not.
    let many = tempfile::tempdir().unwrap();
    let m = many.path();
    let hosts: Vec<String> = (0..23).map(|i| format!("host{i:02}")).collect();
    common::archive_of(m, TZ, &[DAY], &hosts.join(","), 0);
    let out = run(common::export_cmd(m, TZ).args(["--date", DAY, "--sqlite", "ops.db"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let svg = m.join("rep/parquet_export_summary_20251030.svg");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(text.matches(r#"<g class="host">"#).count(), 20);
    assert!(text.contains("+3 more hosts, not drawn"), "{text}");
    common::render_svg(&svg, &m.join("timeline.png"));
}

/// The plain TCP path (its own reply decoder, AUTH with an ACL user, SELECT of a database)
/// reads exactly what the unix-socket path reads.
#[test]
fn tcp_with_an_acl_user_and_a_database_reads_what_the_socket_reads() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pw = "Upw&x/9";
    let redis = Redis::start_with(&[
        "--port",
        &port.to_string(),
        "--user",
        "exporter",
        "on",
        &format!(">{pw}"),
        "~*",
        "&*",
        "+@all",
    ]);
    let tcp = format!("redis://exporter:Upw%26x%2F9@127.0.0.1:{port}/2");
    let mut files = Vec::new();
    for (name, url) in [("socket", redis.url()), ("tcp", tcp.clone())] {
        let sim = run(exporter(h)
            .args([
                "simulate", "--date", DAY, "--tz", TZ, "--hosts", "a,b", "--bad", "3",
            ])
            .env("PARQUET_EXPORTER_REDIS_URL", &url));
        assert_eq!(sim.code, 0, "{name}: {}", sim.stderr);
        let out = run(exporter(h)
            .args([
                "--date",
                DAY,
                "--tz",
                TZ,
                "--json",
                "--redis-page-size",
                "100",
            ])
            .args(["--out-dir", name, "--summary-dir", &format!("{name}-rep")])
            .env("PARQUET_EXPORTER_REDIS_URL", &url));
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(report["rows"], 576, "{name}");
        assert_eq!(report["rejected"], 3, "{name}");
        files.push((
            std::fs::read(h.join(name).join("ops_atomic_20251030.parquet")).unwrap(),
            std::fs::read(h.join(format!("{name}-rep/ops_atomic_20251030.rejects.ndjson")))
                .unwrap(),
        ));
    }
    assert!(
        files[0] == files[1],
        "TCP and the socket read different days"
    );
    // The day went to database 2 over TCP, not to database 0.
    let mut c = redis.conn();
    let len: usize = redis::cmd("XLEN").arg(STREAM).query(&mut c).unwrap();
    assert_eq!(len, 576 + 3, "database 0 holds only the socket's copy");
    // One more beat in database 0 only: the TCP read (database 2) must not see it.
    let at = END - 60_000; // after the simulated day's last beat, so XADD takes the ID
    Redis::xadd(
        &mut c,
        STREAM,
        &format!("{at}-0"),
        &[
            ("timestamp", &at.to_string()),
            ("status", "ok"),
            ("host", "db0-only"),
        ],
    );
    for (name, url, rows) in [("tcp2", tcp.as_str(), 576), ("socket2", &redis.url(), 577)] {
        let out = run(exporter(h)
            .args(["--date", DAY, "--tz", TZ, "--json"])
            .args(["--out-dir", name, "--summary-dir", &format!("{name}-rep")])
            .env("PARQUET_EXPORTER_REDIS_URL", url));
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(report["rows"], rows, "{name}");
    }

    // A wrong password over TCP: the source is unavailable (a partial run), and unseen.
    let out = run(exporter(h)
        .args([
            "--date",
            DAY,
            "--tz",
            TZ,
            "--out-dir",
            "bad",
            "--summary-dir",
            "bad-rep",
        ])
        .env(
            "PARQUET_EXPORTER_REDIS_URL",
            format!("redis://exporter:Wr0ngPw@127.0.0.1:{port}/2"),
        )
        .arg("--sqlite")
        .arg(h.join("none.db")));
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("WRONGPASS") || out.stderr.contains("invalid"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("Wr0ngPw") && !out.stdout.contains("Wr0ngPw"));
}

/// A day over one row group's 262,144 rows is written as several groups, so readers spread it
/// over threads, and every group records the file's order (timestamp, then record_id), as
/// pyarrow reads it. `verify` and a second run, which reads the file back, take it as one day.
#[test]
fn a_day_over_a_row_group_is_split_and_each_group_records_its_order() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // 940 hosts × 288 beats: 270,720 records, one group of 262,144 and one of the rest.
    let hosts: Vec<String> = (0..940).map(|i| format!("h{i:03}")).collect();
    let sim = run(exporter(h)
        .args(["simulate", "--date", DAY, "--tz", "UTC"])
        .args(["--sqlite", "ops.db", "--hosts", &hosts.join(",")]));
    assert_eq!(sim.code, 0, "{}", sim.stderr);
    let export = || run(common::export_cmd(h, "UTC").args(["--sqlite", "ops.db", "--date", DAY]));
    let out = export();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let file = h.join("out/ops_atomic_20251030.parquet");
    let script = format!(
        "import pyarrow.parquet as pq\n\
         m = pq.ParquetFile({:?}).metadata\n\
         groups = [m.row_group(i) for i in range(m.num_row_groups)]\n\
         print(m.num_rows, [g.num_rows for g in groups])\n\
         print(set(tuple((c.column_index, c.descending) for c in g.sorting_columns) for g in groups))\n",
        file.display().to_string()
    );
    let read = common::run_ok(
        std::process::Command::new(common::python())
            .arg("-c")
            .arg(&script),
    );
    assert_eq!(read, "270720 [262144, 8576]\n{((2, False), (0, False))}\n");
    let verify = run(exporter(h).args(["verify", "out"]));
    assert_eq!(verify.code, 0, "{}", verify.stdout);
    let again = export();
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        common::run_ok(
            std::process::Command::new(common::python())
                .arg("-c")
                .arg(&script)
        ),
        read,
        "a second run reads the groups back and keeps the day"
    );
}
