//! Property test over generated days: mixes of valid, invalid, duplicate and conflicting
//! records across a real SQLite file and a real Redis stream, exported by the binary. Checked
//! against a small model of the contract: every record read is a row, a merged duplicate or a
//! reject; the file is sorted and unique; every reject is in the rejects file with a reason;
//! SQLite's copy wins a conflict.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::TimestampMillisecondType;
use common::{exporter, read_parquet, rfc3339, run, sqlite_db, Redis};
use proptest::prelude::*;

const DAY: &str = "2025-10-30";
/// 2025-10-30 in UTC.
const START: i64 = 1_761_782_400_000;

#[derive(Debug, Clone)]
struct Copy {
    /// Index into a small pool of ids, so that copies collide; `None` derives the id.
    id: Option<u8>,
    /// Milliseconds from the day's start; outside `0..86_400_000` is another day.
    offset: i64,
    status: &'static str,
    duration: &'static str,
    host: &'static str,
    text_ts: bool,
}

impl Copy {
    fn ts(&self) -> i64 {
        START + self.offset
    }
    fn on_day(&self) -> bool {
        (0..86_400_000).contains(&self.offset)
    }
    fn valid(&self) -> bool {
        !matches!(self.status, "bogus" | "") && !matches!(self.duration, "-5" | "fast")
    }
    fn record_id(&self) -> String {
        match self.id {
            Some(i) => format!("id-{i}"),
            None => format!("heartbeat:{}:{}", self.host, self.ts()),
        }
    }
    fn normalized_status(&self) -> &'static str {
        match self.status {
            "ok" | "healthy" | "✅ HEALTHY" => "healthy",
            "warn" | "WARNINGS" => "warnings",
            _ => "critical",
        }
    }
}

fn copy() -> impl Strategy<Value = Copy> {
    (
        prop::option::weighted(0.8, 0u8..12),
        prop_oneof![
            8 => 0i64..86_400_000,
            1 => -3_000_000i64..0,          // the day before, inside the read margin
            1 => 86_400_000i64..90_000_000, // the day after
        ],
        prop::sample::select(vec![
            "ok",
            "healthy",
            "✅ HEALTHY",
            "warn",
            "WARNINGS",
            "critical",
            "bogus",
            "",
        ]),
        prop::sample::select(vec!["", "12", "34ms", "-5", "fast"]),
        prop::sample::select(vec!["mini", "book"]),
        any::<bool>(),
    )
        .prop_map(|(id, offset, status, duration, host, text_ts)| Copy {
            id,
            // Whole seconds keep derived ids apart from ids that merely share a millisecond.
            offset: offset - offset.rem_euclid(1000),
            status,
            duration,
            host,
            text_ts,
        })
}

/// Copies of one source: at most one per id, as a source holds one copy of a record.
fn source() -> impl Strategy<Value = Vec<Copy>> {
    prop::collection::vec(copy(), 0..25).prop_map(|v| {
        let mut seen = BTreeSet::new();
        v.into_iter()
            .filter(|c| seen.insert(c.record_id()))
            .collect()
    })
}

static CASE: AtomicUsize = AtomicUsize::new(0);

fn check(redis: &Redis, sqlite: &[Copy], stream: &[Copy]) -> Result<(), TestCaseError> {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let key = format!("s{}", CASE.fetch_add(1, Ordering::Relaxed));

    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let inserts: String = sqlite
        .iter()
        .map(|c| {
            let ts = if c.text_ts {
                quote(&rfc3339(c.ts()))
            } else {
                c.ts().to_string()
            };
            let id = c.id.map_or("NULL".into(), |i| quote(&format!("id-{i}")));
            let duration = if c.duration.is_empty() {
                "NULL".into()
            } else {
                quote(c.duration)
            };
            format!(
                "INSERT INTO ops_atomic_heartbeats (record_id, ts, status, duration_ms, host) \
                 VALUES ({id}, {ts}, {}, {duration}, {});\n",
                quote(c.status),
                quote(c.host)
            )
        })
        .collect();
    sqlite_db(&h.join("ops.db"), &inserts);

    let mut entries: Vec<&Copy> = stream.iter().collect();
    entries.sort_by_key(|c| c.ts());
    let mut conn = redis.conn();
    for (seq, c) in entries.iter().enumerate() {
        let ts = if c.text_ts {
            rfc3339(c.ts())
        } else {
            c.ts().to_string()
        };
        let mut fields = vec![
            ("timestamp", ts),
            ("status", c.status.to_string()),
            ("host", c.host.to_string()),
        ];
        if let Some(i) = c.id {
            fields.push(("record_id", format!("id-{i}")));
        }
        if !c.duration.is_empty() {
            fields.push(("duration_ms", c.duration.to_string()));
        }
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Redis::xadd(&mut conn, &key, &format!("{}-{seq}", c.ts()), &pairs);
    }

    let out = run(exporter(h)
        .args([
            "--date",
            DAY,
            "--tz",
            "UTC",
            "--json",
            "--out-dir",
            "out",
            "--summary-dir",
            "rep",
        ])
        .args(["--sqlite", "ops.db", "--redis-stream", &key])
        .env("PARQUET_EXPORTER_REDIS_URL", redis.url()));
    // No entry means no stream key at all: a configured source that does not exist is partial.
    prop_assert!(
        matches!((out.code, stream.is_empty()), (0 | 4, false) | (3, true)),
        "exit {} with {} entries: {}",
        out.code,
        stream.len(),
        out.stderr
    );
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let n = |k: &str| report[k].as_u64().unwrap();

    // The model: which copies are read (on the day), which of those are rejected, and how many
    // distinct records the valid ones make.
    let on_day: Vec<(&Copy, &str)> = sqlite
        .iter()
        .map(|c| (c, "sqlite"))
        .chain(stream.iter().map(|c| (c, "redis")))
        .filter(|(c, _)| c.on_day())
        .collect();
    let rejected = on_day.iter().filter(|(c, _)| !c.valid()).count() as u64;
    let valid: Vec<&(&Copy, &str)> = on_day.iter().filter(|(c, _)| c.valid()).collect();
    let distinct: BTreeSet<String> = valid.iter().map(|(c, _)| c.record_id()).collect();

    prop_assert_eq!(n("read"), n("rows") + n("merged") + n("rejected"));
    prop_assert_eq!(n("read"), on_day.len() as u64);
    prop_assert_eq!(n("rejected"), rejected);
    prop_assert_eq!(n("rows"), distinct.len() as u64);

    // Sorted, unique, and the archive's copy of a conflict.
    let (batches, _) = read_parquet(&h.join("out/ops_atomic_20251030.parquet"));
    let mut rows: Vec<(i64, String, String, String)> = Vec::new();
    for b in &batches {
        rows.extend(rows_of(b));
    }
    prop_assert_eq!(rows.len() as u64, n("rows"));
    prop_assert!(
        rows.windows(2)
            .all(|w| (w[0].0, &w[0].1) < (w[1].0, &w[1].1)),
        "sorted and unique"
    );
    let sqlite_valid: BTreeMap<String, &Copy> = sqlite
        .iter()
        .filter(|c| c.on_day() && c.valid())
        .map(|c| (c.record_id(), c))
        .collect();
    let redis_valid: BTreeSet<String> = stream
        .iter()
        .filter(|c| c.on_day() && c.valid())
        .map(Copy::record_id)
        .collect();
    for (ts, id, status, source) in &rows {
        if let Some(c) = sqlite_valid.get(id) {
            prop_assert_eq!(status.as_str(), c.normalized_status(), "SQLite wins {}", id);
            prop_assert_eq!(*ts, c.ts());
            let want = if redis_valid.contains(id) {
                "both"
            } else {
                "sqlite"
            };
            prop_assert_eq!(source.as_str(), want);
        } else {
            prop_assert_eq!(source.as_str(), "redis");
        }
    }

    // Every reject in the rejects file, each with its reason.
    let rejects_path = h.join("rep/ops_atomic_20251030.rejects.ndjson");
    let lines: Vec<serde_json::Value> = if rejected == 0 {
        prop_assert!(!rejects_path.exists());
        Vec::new()
    } else {
        std::fs::read_to_string(&rejects_path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    prop_assert_eq!(lines.len() as u64, rejected);
    for l in &lines {
        prop_assert!(!l["reason"].as_str().unwrap().is_empty());
        prop_assert!(
            matches!(
                l["reason_code"].as_str().unwrap(),
                "unknown_status" | "missing_status" | "negative_duration" | "bad_duration"
            ),
            "{}",
            l
        );
    }
    Ok(())
}

fn rows_of(b: &RecordBatch) -> Vec<(i64, String, String, String)> {
    let ids = b.column(0).as_string::<i32>();
    let ts = b.column(2).as_primitive::<TimestampMillisecondType>();
    let status = b.column(3).as_string::<i32>();
    let source = b.column(12).as_string::<i32>();
    (0..b.num_rows())
        .map(|i| {
            (
                ts.value(i),
                ids.value(i).to_string(),
                status.value(i).to_string(),
                source.value(i).to_string(),
            )
        })
        .collect()
}

#[test]
fn any_mix_of_records_is_accounted_for() {
    let redis = Redis::start();
    let config = ProptestConfig {
        cases: 64,
        // Shrinking reruns the binary many times; a failure's first case is printed anyway.
        max_shrink_iters: 64,
        // No regression file in the source tree: the failing case is in the test's output.
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(sqlite in source(), stream in source())| {
        check(&redis, &sqlite, &stream)?;
    });
}
