//! Export benchmark: whole-process wall time and peak memory of the release binary exporting one
//! simulated day, at several sizes, from SQLite only, Redis only, and both with overlap (records
//! in time order; SQLite holds the first 60%, the Redis stream the last 60%, so 20% are in both,
//! as when the archive lags and the hot buffer is trimmed).
//!
//! `cargo bench --bench export`. Environment:
//! - `BENCH_SIZES` records per day, comma-separated [default: 288,100000,1000000]
//! - `BENCH_MODES` of sqlite, redis, both [default: all three]
//! - `BENCH_RUNS` timed runs per case, after one warm-up [default: 3]
//! - `BENCH_INTRADAY=1` also times each case as the intraday export at 23:59 (`--intraday`
//!   with the clock there): what one 10-minute run costs at the end of the day, when it
//!   re-reads the most; its row's source is suffixed `+i`.
//! - `BENCH_COMPARE=1` also time, on the same records of the largest size, DuckDB's NDJSON →
//!   Parquet conversion and a pyarrow pipeline (sorted, typed, SNAPPY), with the Python in
//!   `PARQUET_EXPORTER_TEST_PYTHON` or `target/ci-venv/bin/python`, and print the ratios:
//!   of the medians, and the median of the ratios of `BENCH_RUNS` turns that time the
//!   two-source export, DuckDB and pyarrow one after the other (this machine's speed drifts
//!   between the first runs and the last).
//!
//! With two or more sizes, the two largest two-source days are also timed in turn
//! (`BENCH_RUNS` turns), and the median of the turns' ratios printed: the scaling, free of the
//! drift between the table's rows.
//!
//! Peak RSS comes from `/usr/bin/time -f %M` (Debian's `time` package); without it only the
//! wall time is reported.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use chrono::NaiveDate;

#[path = "../tests/common/mod.rs"]
mod common;
use parquet_exporter::day::Day;
use parquet_exporter::simulate::{self, Beat};
use parquet_exporter::source::redis::RedisAddress;

const TZ: &str = "UTC";
const DATE: &str = "2025-10-30";
const STREAM: &str = "ops:atomic:heartbeats";

fn day() -> Day {
    Day::new(DATE.parse::<NaiveDate>().unwrap(), TZ.parse().unwrap()).unwrap()
}

/// Exactly `n` beats of one day, in timestamp order: 288 per host, the last host's cut short.
fn beats(n: usize) -> Vec<Beat> {
    let hosts: Vec<String> = (0..n.div_ceil(288).max(1))
        .map(|i| format!("host-{i:05}"))
        .collect();
    let mut b = simulate::beats(&day(), &hosts, 0, 1);
    if b.len() > n {
        // Drop beats of the last host, which has the highest index in `hosts`.
        let last = hosts.last().unwrap().clone();
        let mut extra = b.len() - n;
        b.retain(|x| {
            if extra > 0 && x.host == last {
                extra -= 1;
                false
            } else {
                true
            }
        });
    }
    assert!(
        b.len() <= n && b.len() + 288 > n,
        "{} beats for {n}",
        b.len()
    );
    b
}

struct Case {
    mode: &'static str,
    /// Run as the intraday export at 23:59 instead of the day's export.
    intraday: bool,
    /// Run over the day file the run before wrote (a re-export: catch-up, a re-run, every
    /// intraday run), which is read and carried over; otherwise each run writes a new day.
    again: bool,
    records: usize,
    sqlite: Option<PathBuf>,
    redis: Option<String>,
    stream: String,
}

struct Sample {
    wall_s: Vec<f64>,
    peak_kib: Option<u64>,
    rows: u64,
    bytes: u64,
}

/// The two largest two-source days against each other, timed in turn (small, large, small,
/// ...) so that the machine's drift between the two table rows' runs does not enter the ratio.
fn scaling(boths: &[(usize, f64, Case)], runs: usize, out: &Path) {
    let [.., (small, _, a), (large, _, b)] = boths else {
        return;
    };
    // Each day in its own out dir, as in the table's runs. In one dir each run replaced the
    // other size's day file: the 1M run freeing the 5M day's 95 MB took it 25 ms longer (0.92
    // against 0.895 s, 6 runs each) and the 5M run freed only 19 MB, which made the ratio
    // look smaller than it is.
    let (out_small, out_large) = (out.join("small"), out.join("large"));
    for dir in [&out_small, &out_large] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let turns: Vec<(f64, f64)> = (0..runs)
        .map(|_| {
            let t_small = export_once(a, &out_small).0;
            let t_large = export_once(b, &out_large).0;
            (t_small, t_large)
        })
        .collect();
    let mut ratios: Vec<f64> = turns.iter().map(|(s, l)| l / s).collect();
    ratios.sort_by(f64::total_cmp);
    let (m, records) = (ratios[ratios.len() / 2], *large as f64 / *small as f64);
    println!(
        "\nthe {large}-record day against the {small}-record day, timed in turn ({runs} turns): \
         the median of the turns' ratios is {m:.2}× (from {:.2} to {:.2}) for {records:.0}× the records",
        ratios[0],
        ratios[ratios.len() - 1]
    );
    let each: Vec<String> = turns
        .iter()
        .map(|(s, l)| format!("{s:.3} / {l:.3}"))
        .collect();
    println!(
        "(the turns, {small} / {large} records, s: {})",
        each.join(", ")
    );
}

fn time_available() -> bool {
    Path::new("/usr/bin/time").exists()
}

/// Runs the exporter once as a whole process; (wall seconds, peak KiB, --json report). A run
/// that is not `again` starts from an out dir without the day's file.
fn export_once(case: &Case, out: &Path) -> (f64, Option<u64>, serde_json::Value) {
    if !case.again {
        remove_day_files(out);
    }
    let bin = env!("CARGO_BIN_EXE_parquet-exporter");
    let rss_file = out.join("rss.txt");
    let mut cmd = if time_available() {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-f").arg("%M").arg("-o").arg(&rss_file).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    if case.intraday {
        cmd.args(["--intraday", "--now", &format!("{DATE}T23:59:00Z")]);
    } else {
        cmd.args(["--date", DATE]);
    }
    cmd.args(["--tz", TZ, "--json", "-q", "--max-size", "0"])
        .arg("--out-dir")
        .arg(out)
        .arg("--summary-dir")
        .arg(out.with_extension("summaries"))
        // The benchmark's runs are no one's nightly export: they leave no metrics in HOME.
        .env("PARQUET_EXPORTER_METRICS_FILE", "")
        .env_remove("PARQUET_EXPORTER_REDIS_URL");
    if let Some(db) = &case.sqlite {
        cmd.arg("--sqlite").arg(db);
    }
    if let Some(url) = &case.redis {
        cmd.args(["--redis-stream", &case.stream])
            .env("PARQUET_EXPORTER_REDIS_URL", url);
    }
    let started = Instant::now();
    let output = cmd.output().expect("run the exporter");
    let wall = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let peak = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|s| s.trim().lines().last()?.trim().parse().ok());
    (wall, peak, serde_json::from_slice(&output.stdout).unwrap())
}

fn measure(case: &Case, runs: usize, out: &Path) -> Sample {
    std::fs::create_dir_all(out).unwrap();
    export_once(case, out); // warm-up: page cache, Redis
    let mut s = Sample {
        wall_s: Vec::new(),
        peak_kib: None,
        rows: 0,
        bytes: 0,
    };
    for _ in 0..runs {
        let (wall, peak, report) = export_once(case, out);
        s.wall_s.push(wall);
        s.peak_kib = s.peak_kib.max(peak);
        s.rows = report["rows"].as_u64().unwrap();
        s.bytes = report["bytes"].as_u64().unwrap();
        let want = if case.intraday {
            "incomplete"
        } else {
            "success"
        };
        assert_eq!(report["verdict"], want);
    }
    s.wall_s.sort_by(f64::total_cmp);
    s
}

/// The day files under `out`, removed so that the next run writes a new day.
fn remove_day_files(out: &Path) {
    let Ok(entries) = std::fs::read_dir(out) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().ends_with(".parquet") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
}

fn print_row(case: &Case, s: &Sample) {
    let median = s.wall_s[s.wall_s.len() / 2];
    let suffix = match (case.intraday, case.again) {
        (true, _) => "+i",
        (false, true) => "+r",
        (false, false) => "",
    };
    println!(
        "| {:<6} | {:>9} | {:>9} | {:>8.3} | {:>8.3} | {:>10.0} | {:>8} | {:>8.2} | {:>9.1} |",
        format!("{}{suffix}", case.mode),
        case.records,
        s.rows,
        median,
        s.wall_s[0],
        s.rows as f64 / median,
        s.peak_kib
            .map_or("?".to_string(), |k| format!("{:.1}", k as f64 / 1024.0)),
        s.bytes as f64 / 1e6,
        s.bytes as f64 / s.rows.max(1) as f64,
    );
}

fn python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("PARQUET_EXPORTER_TEST_PYTHON").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv/bin/python")),
    ];
    candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .args(["-c", "import duckdb, pyarrow"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// The day's records as NDJSON, one object per record with the contract's fields.
fn write_ndjson(beats: &[Beat], path: &Path) {
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for b in beats {
        let ts = chrono::DateTime::from_timestamp_millis(b.ts_ms)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut v = serde_json::json!({
            "record_id": format!("heartbeat:{}:{}", b.host, b.ts_ms),
            "report_type": "heartbeat",
            "timestamp": ts,
            "status": b.status,
            "duration_ms": b.duration_ms,
            "host": b.host,
            "redis_status": b.redis,
            "database_status": b.database,
            "api_status": b.api,
            "launchagent_optimizer": b.optimizer,
            "launchagent_digest": b.digest,
            "source": "sqlite",
        });
        if let Some(d) = b.disk {
            v["checks"] = serde_json::json!({ "disk": d });
        }
        serde_json::to_writer(&mut w, &v).unwrap();
        w.write_all(b"\n").unwrap();
    }
}

const DUCKDB: &str = r#"
import duckdb, sys
src, dst = sys.argv[1], sys.argv[2]
duckdb.sql(f"""COPY (SELECT * FROM read_json('{src}', format='newline_delimited', columns={{
    'record_id': 'VARCHAR', 'report_type': 'VARCHAR', 'timestamp': 'TIMESTAMPTZ',
    'status': 'VARCHAR', 'duration_ms': 'BIGINT', 'host': 'VARCHAR',
    'redis_status': 'VARCHAR', 'database_status': 'VARCHAR', 'api_status': 'VARCHAR',
    'launchagent_optimizer': 'VARCHAR', 'launchagent_digest': 'VARCHAR',
    'checks': 'MAP(VARCHAR, VARCHAR)', 'source': 'VARCHAR'}})
  ORDER BY timestamp, record_id) TO '{dst}' (FORMAT parquet, COMPRESSION snappy)""")
"#;

const PYARROW: &str = r#"
import sys, pyarrow as pa, pyarrow.json as pj, pyarrow.parquet as pq
src, dst = sys.argv[1], sys.argv[2]
schema = pa.schema([('record_id', pa.string()), ('report_type', pa.string()),
    ('timestamp', pa.timestamp('ms', tz='UTC')), ('status', pa.string()),
    ('duration_ms', pa.int64()), ('host', pa.string()), ('redis_status', pa.string()),
    ('database_status', pa.string()), ('api_status', pa.string()),
    ('launchagent_optimizer', pa.string()), ('launchagent_digest', pa.string()),
    ('checks', pa.struct([('disk', pa.string())])), ('source', pa.string())])
t = pj.read_json(src, parse_options=pj.ParseOptions(explicit_schema=schema))
t = t.sort_by([('timestamp', 'ascending'), ('record_id', 'ascending')])
pq.write_table(t, dst, compression='snappy')
"#;

/// Waits until the kernel has written `file` to disk, so that the write-back of a freshly made
/// input (600 MB of SQLite for the 5M day) does not run during the timed processes.
fn settle(file: &Path) {
    std::fs::File::open(file)
        .and_then(|f| f.sync_all())
        .unwrap();
}

fn time_process(cmd: &mut Command) -> f64 {
    let started = Instant::now();
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed().as_secs_f64()
}

fn main() {
    // `cargo test --benches` passes no --bench: only run when benching.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let env_list = |name: &str, default: &str| -> Vec<String> {
        std::env::var(name)
            .unwrap_or_else(|_| default.to_string())
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let sizes: Vec<usize> = env_list("BENCH_SIZES", "288,100000,1000000")
        .iter()
        .map(|s| s.parse().expect("BENCH_SIZES: numbers"))
        .collect();
    let modes = env_list("BENCH_MODES", "sqlite,redis,both");
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let compare = std::env::var("BENCH_COMPARE").is_ok_and(|v| v == "1");
    let intraday = std::env::var("BENCH_INTRADAY").is_ok_and(|v| v == "1");
    let again = std::env::var("BENCH_AGAIN").is_ok_and(|v| v == "1");
    let tmp = tempfile::tempdir().unwrap();
    let redis = if modes.iter().any(|m| m != "sqlite") {
        Some(common::Redis::start())
    } else {
        None
    };

    println!(
        "one day ({DATE}, {TZ}); {runs} timed runs after a warm-up; whole process of the release binary"
    );
    println!("| source | records   | rows      | median s | best s   |  records/s | peak MiB | file MB  | bytes/row |");
    println!("|--------|----------:|----------:|---------:|---------:|-----------:|---------:|---------:|----------:|");
    // The two-source cases, kept for the comparisons: (records, median wall s, case).
    let mut boths: Vec<(usize, f64, Case)> = Vec::new();
    for &n in &sizes {
        let all = beats(n);
        let dir = tmp.path().join(n.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let (lo, hi) = (n * 2 / 5, n * 3 / 5);
        let target = redis.as_ref().map(|r| RedisAddress {
            url: r.url(),
            password: None,
            ca_file: None,
        });
        for mode in &modes {
            let mut case = Case {
                intraday: false,
                again: false,
                mode: match mode.as_str() {
                    "sqlite" => "sqlite",
                    "redis" => "redis",
                    "both" => "both",
                    other => panic!("BENCH_MODES: unknown mode {other}"),
                },
                records: n,
                sqlite: None,
                redis: None,
                stream: format!("{STREAM}:{mode}:{n}"),
            };
            match case.mode {
                "sqlite" => {
                    let db = dir.join("sqlite.db");
                    simulate::write_sqlite(&db, "ops_atomic_heartbeats", &all).unwrap();
                    settle(&db);
                    case.sqlite = Some(db);
                }
                "redis" => {
                    let t = target.as_ref().unwrap();
                    simulate::write_redis(t, &case.stream, &all).unwrap();
                    case.redis = Some(t.url.clone());
                }
                _ => {
                    let db = dir.join("both.db");
                    simulate::write_sqlite(&db, "ops_atomic_heartbeats", &all[..hi]).unwrap();
                    settle(&db);
                    let t = target.as_ref().unwrap();
                    simulate::write_redis(t, &case.stream, &all[lo..]).unwrap();
                    case.sqlite = Some(db);
                    case.redis = Some(t.url.clone());
                }
            }
            let s = measure(&case, runs, &dir.join(format!("out-{mode}")));
            print_row(&case, &s);
            if again {
                // The same day exported again over its file, which is read and carried over.
                case.again = true;
                let sr = measure(&case, runs, &dir.join(format!("out-{mode}")));
                print_row(&case, &sr);
                case.again = false;
            }
            if intraday {
                // The same sources at 23:59, into a directory of its own: each run replaces
                // the previous intraday file, as the 10-minute schedule does.
                case.intraday = true;
                case.again = true;
                let si = measure(&case, runs, &dir.join(format!("out-{mode}-intraday")));
                print_row(&case, &si);
                case.intraday = false;
                case.again = false;
            }
            if case.mode == "both" {
                // Kept for the comparisons, which time it again in turn with others.
                boths.push((n, s.wall_s[s.wall_s.len() / 2], case));
            } else {
                if let Some(db) = &case.sqlite {
                    let _ = std::fs::remove_file(db);
                }
                if let (Some(r), Some(_)) = (&redis, &case.redis) {
                    let _: () = redis::cmd("DEL")
                        .arg(&case.stream)
                        .query(&mut r.conn())
                        .unwrap();
                }
            }
        }
        if compare && Some(n) == sizes.iter().copied().max() {
            let Some(py) = python() else {
                println!(
                    "\n(BENCH_COMPARE: no Python with duckdb and pyarrow; comparison skipped)"
                );
                continue;
            };
            let nd = dir.join("day.ndjson");
            write_ndjson(&all, &nd);
            settle(&nd);
            let mut duck = Vec::new();
            let mut arrow = Vec::new();
            // This machine's speed drifts from minute to minute: the exporter is timed again in
            // turn with the two others, and each turn's ratios are kept.
            let both = boths.last().filter(|(m, _, _)| *m == n);
            let (mut to_duck, mut to_arrow) = (Vec::new(), Vec::new());
            let out = dir.join("out-compare");
            std::fs::create_dir_all(&out).unwrap();
            for _ in 0..runs {
                let ours = both.map(|(_, _, case)| export_once(case, &out).0);
                duck.push(time_process(
                    Command::new(&py)
                        .args(["-c", DUCKDB])
                        .arg(&nd)
                        .arg(dir.join("duck.parquet")),
                ));
                arrow.push(time_process(
                    Command::new(&py)
                        .args(["-c", PYARROW])
                        .arg(&nd)
                        .arg(dir.join("pa.parquet")),
                ));
                if let Some(ours) = ours {
                    to_duck.push(ours / duck.last().unwrap());
                    to_arrow.push(ours / arrow.last().unwrap());
                }
            }
            for r in [&mut to_duck, &mut to_arrow] {
                r.sort_by(f64::total_cmp);
            }
            duck.sort_by(f64::total_cmp);
            arrow.sort_by(f64::total_cmp);
            let (d, a) = (duck[duck.len() / 2], arrow[arrow.len() / 2]);
            println!("\nthe same {n} records as NDJSON → sorted, typed, SNAPPY Parquet (median of {runs}):");
            println!("- DuckDB: {d:.3} s; pyarrow: {a:.3} s");
            if let Some((_, ours, _)) = both {
                println!(
                    "- this exporter, both sources with overlap: {ours:.3} s = {:.2}× DuckDB, {:.2}× pyarrow",
                    ours / d,
                    ours / a
                );
                let m = to_duck.len() / 2;
                println!(
                    "- timed in turn with each ({runs} turns), the median of the turns' ratios: {:.2}× DuckDB (from {:.2} to {:.2}), {:.2}× pyarrow",
                    to_duck[m],
                    to_duck[0],
                    to_duck[to_duck.len() - 1],
                    to_arrow[m]
                );
            }
        }
    }
    scaling(&boths, runs, &tmp.path().join("out-scaling"));
}
