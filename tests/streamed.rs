//! The day read, merged and written window by window. With small windows
//! (`PARQUET_EXPORTER_WINDOW_ROWS`, a test-only setting) a day of a few thousand records is
//! streamed in hundreds of windows; it must give the rows and counts of the day merged in one
//! window, through overlap, conflicts, records out of order within the margin, copies of one id
//! hours apart, text timestamps, a re-export over the day's file and a stream trimmed between
//! runs.

use std::path::Path;

use crate::common::{self, exporter, run, Output, Redis};

const DAY: &str = "2025-10-30";
const START: i64 = 1_761_782_400_000; // 2025-10-30T00:00:00Z
const STREAM: &str = "ops:atomic:heartbeats";
const HOSTS: i64 = 8;
const EVERY: i64 = 300_000;

/// A beat: (record_id, host, ts, status).
type Beat = (String, String, i64, &'static str);

fn beats() -> Vec<Beat> {
    let mut out = Vec::new();
    for h in 0..HOSTS {
        let host = format!("h{h}");
        for i in 0..288 {
            let ts = START + i * EVERY + h * 7_001;
            let status =
                ["healthy", "healthy", "healthy", "warnings", "critical"][((i + h) % 5) as usize];
            out.push((format!("heartbeat:{host}:{ts}"), host.clone(), ts, status));
        }
    }
    out
}

/// SQLite holds the first two thirds of the day, with every fifth record's status changed (a
/// conflict with the stream's copy), every seventh record's `ts` as RFC 3339 text, and some
/// ids of the overlap moved three hours later (copies of one id far apart: the stream holds
/// them at the original time); returns how many. The stream holds the last two thirds, each
/// entry's ID up to 40 minutes before or after its record's timestamp (inside the hour's
/// margin), in ID order.
fn seed(h: &Path, redis: &Redis) -> usize {
    let all = beats();
    let cut = START + 16 * 3_600_000;
    let mut sql = String::new();
    let mut moved = 0;
    for (n, (id, host, ts, status)) in all.iter().enumerate().filter(|(_, b)| b.2 < cut) {
        let status = if n % 5 == 0 { "critical" } else { status };
        let ts_sql = match n {
            _ if n % 37 == 0 && *ts > START + 8 * 3_600_000 => {
                moved += 1;
                (ts + 3 * 3_600_000 + 1).to_string()
            }
            _ if n % 7 == 0 => format!("'{}'", common::rfc3339(*ts)),
            _ => ts.to_string(),
        };
        sql.push_str(&format!(
            "INSERT INTO ops_atomic_heartbeats (record_id, ts, status, host) \
             VALUES ('{id}', {ts_sql}, '{status}', '{host}');\n"
        ));
    }
    common::sqlite_db(&h.join("ops.db"), &format!("BEGIN;\n{sql}COMMIT;"));
    let mut entries: Vec<(i64, &Beat)> = all
        .iter()
        .filter(|b| b.2 >= START + 8 * 3_600_000)
        .enumerate()
        .map(|(n, b)| (b.2 + ((n as i64 * 7919) % 80 - 40) * 60_000, b))
        .collect();
    entries.sort_by_key(|e| e.0);
    let mut c = redis.conn();
    let mut pipe = redis::pipe();
    for (seq, (id_ms, (id, host, ts, status))) in entries.iter().enumerate() {
        pipe.cmd("XADD")
            .arg(STREAM)
            .arg(format!("{id_ms}-{seq}"))
            .arg("record_id")
            .arg(id)
            .arg("timestamp")
            .arg(common::rfc3339(*ts))
            .arg("status")
            .arg(*status)
            .arg("host")
            .arg(host)
            .ignore();
    }
    pipe.query::<()>(&mut c).unwrap();
    moved
}

/// Exports the day into `out`, in windows of `window` rows (0: the default, one window for a
/// day this small).
fn export(h: &Path, redis: &Redis, out: &str, window: usize, more: &[&str]) -> Output {
    let mut cmd = exporter(h);
    cmd.args([
        "--tz",
        "UTC",
        "--out-dir",
        out,
        "--summary-dir",
        &format!("{out}-rep"),
    ])
    .args(["--date", DAY, "--sqlite", "ops.db", "--json", "-v"])
    .args(more)
    .env("PARQUET_EXPORTER_REDIS_URL", redis.url());
    if window > 0 {
        cmd.env("PARQUET_EXPORTER_WINDOW_ROWS", window.to_string());
    }
    run(&mut cmd)
}

/// The report's counts, and every row of the day file in its order, as text.
fn outcome(h: &Path, out: &Output, dir: &str) -> (Vec<u64>, Vec<String>) {
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let counts = ["read", "rows", "merged", "conflicts", "rejected", "carried"]
        .iter()
        .map(|k| {
            report[k]
                .as_u64()
                .unwrap_or_else(|| panic!("{k}: {report}"))
        })
        .collect();
    let file = h.join(dir).join("ops_atomic_20251030.parquet");
    let (batches, _) = common::read_parquet(&file);
    let mut rows = Vec::new();
    for b in batches {
        // Timestamps as their numbers: shown as text they would need a zone database.
        let columns: Vec<arrow::array::ArrayRef> = b
            .columns()
            .iter()
            .map(|c| match c.data_type() {
                arrow::datatypes::DataType::Timestamp(..) => {
                    arrow::compute::cast(c, &arrow::datatypes::DataType::Int64).unwrap()
                }
                _ => c.clone(),
            })
            .collect();
        for i in 0..b.num_rows() {
            let row: Vec<String> = columns
                .iter()
                .map(|c| arrow::util::display::array_value_to_string(c, i).unwrap())
                .collect();
            rows.push(row.join("|"));
        }
    }
    (counts, rows)
}

fn windows_in(out: &Output) -> usize {
    out.stderr.matches("DEBUG window").count()
}

#[test]
fn a_day_streamed_in_small_windows_is_the_day_merged_at_once() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let redis = Redis::start();
    let moved = seed(h, &redis);
    assert!(moved > 3, "{moved}");
    let whole = export(h, &redis, "whole", 0, &[]);
    let (counts, rows) = outcome(h, &whole, "whole");
    assert_eq!(windows_in(&whole), 0, "{}", whole.stderr);
    // Both sources overlap by eight hours, and some copies differ.
    let [read, written, merged, conflicts, rejected, carried] = counts[..] else {
        unreachable!()
    };
    // A moved id is one row (the archive's copy), its other copy a conflict.
    assert_eq!(written, (HOSTS * 288) as u64, "{}", whole.stdout);
    assert!(merged > 500 && conflicts > 100, "{counts:?}");
    assert_eq!((rejected, carried), (0, 0));
    assert_eq!(read, written + merged);
    let streamed = export(h, &redis, "streamed", 64, &[]);
    assert!(windows_in(&streamed) > 20, "{}", streamed.stderr);
    // The moved ids' copies lie in windows hours apart: the run merges the day again whole.
    assert!(
        streamed.stderr.contains("merging the day again as a whole"),
        "{}",
        streamed.stderr
    );
    assert_eq!(outcome(h, &streamed, "streamed"), (counts, rows));
}

#[test]
fn without_copies_far_apart_the_day_is_streamed_to_the_end() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let redis = Redis::start();
    let moved = seed(h, &redis);
    // The moved ids' SQLite copies go: every id's copies now share a timestamp.
    let conn = rusqlite::Connection::open(h.join("ops.db")).unwrap();
    let gone = conn
        .execute(
            "DELETE FROM ops_atomic_heartbeats WHERE typeof(ts) = 'integer' \
             AND ts % 300000 != (CAST(substr(host, 2) AS INTEGER) * 7001) % 300000",
            [],
        )
        .unwrap();
    assert_eq!(gone, moved);
    let whole = outcome(h, &export(h, &redis, "whole", 0, &[]), "whole");
    let streamed = export(h, &redis, "streamed", 64, &[]);
    assert!(windows_in(&streamed) > 20, "{}", streamed.stderr);
    assert!(
        !streamed.stderr.contains("merging the day again"),
        "{}",
        streamed.stderr
    );
    assert_eq!(outcome(h, &streamed, "streamed"), whole);
}

#[test]
fn a_stream_trimmed_between_two_streamed_runs_loses_nothing_from_the_file() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let redis = Redis::start();
    seed(h, &redis);
    let first = export(h, &redis, "out", 64, &[]);
    let (_, before) = outcome(h, &first, "out");
    // The hot buffer loses its older half, the archive its newest hours.
    let mut c = redis.conn();
    let len: usize = redis::cmd("XLEN").arg(STREAM).query(&mut c).unwrap();
    let _: usize = redis::cmd("XTRIM")
        .arg(STREAM)
        .arg("MAXLEN")
        .arg(len / 2)
        .query(&mut c)
        .unwrap();
    let conn = rusqlite::Connection::open(h.join("ops.db")).unwrap();
    conn.execute(
        "DELETE FROM ops_atomic_heartbeats WHERE typeof(ts) = 'integer' AND ts > ?1",
        [START + 12 * 3_600_000],
    )
    .unwrap();
    let again = export(h, &redis, "out", 64, &[]);
    let (counts, after) = outcome(h, &again, "out");
    assert!(counts[5] > 100, "carried {counts:?}");
    let ids = |rows: &[String]| -> std::collections::BTreeSet<String> {
        rows.iter()
            .map(|r| r.split('|').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(&after),
        ids(&before),
        "every record of the first file stays"
    );
    // The sources' rows now, as one window makes them from the same inputs, and the carried.
    let whole = export(h, &redis, "whole", 0, &[]);
    let now = outcome(h, &whole, "whole").1.len();
    assert_eq!(after.len(), now + counts[5] as usize);
}
