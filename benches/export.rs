//! Export benchmark: wall time and peak memory of one day's export at several fleet sizes, from
//! SQLite and from a private Redis. Run with `cargo bench --bench export`.
//!
//! Each measured export runs in a fresh child process (this binary re-executed), so the peak
//! resident set (VmHWM) is the export's own and not the data generation's.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDate;

#[path = "../tests/common/mod.rs"]
mod common;
use parquet_exporter::config::{Config, Plan, RedisConfig, SqliteConfig};
use parquet_exporter::day::Day;
use parquet_exporter::export;
use parquet_exporter::simulate;
use parquet_exporter::source::redis::Target;

const RUNS: usize = 5;
const TZ: &str = "Asia/Bangkok";

fn day() -> Day {
    Day::new(
        NaiveDate::from_ymd_opt(2025, 10, 30).unwrap(),
        TZ.parse().unwrap(),
    )
    .unwrap()
}

fn hosts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("host-{i:04}")).collect()
}

/// Child mode: one export, then report time and peak RSS on stdout.
fn child(kind: &str, arg: &str, out: &Path) {
    let mut cfg = Config {
        day: day(),
        plan: Plan::Single,
        yesterday: day().date(),
        lock_timeout: Duration::ZERO,
        redis: None,
        sqlite: None,
        out_dir: out.to_path_buf(),
        summary_dir: out.to_path_buf(),
        dry: false,
        json: false,
        force: false,
        max_bytes: None,
        batch_rows: 8192,
        config_file: None,
    };
    match kind {
        "sqlite" => {
            cfg.sqlite = Some(SqliteConfig {
                path: arg.into(),
                table: "ops_atomic_heartbeats".into(),
            })
        }
        _ => {
            cfg.redis = Some(RedisConfig {
                target: Target {
                    url: arg.into(),
                    password: None,
                    ca_file: None,
                },
                stream: "ops:atomic:heartbeats".into(),
                margin: Duration::from_secs(3600),
                page_size: 1000,
            })
        }
    }
    let t = Instant::now();
    let report = export::run(&cfg).expect("export");
    let elapsed = t.elapsed();
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .unwrap_or_else(|| "0".into());
    println!(
        "{} {} {} {}",
        elapsed.as_micros(),
        hwm,
        report.rows,
        report.bytes.unwrap_or(0)
    );
}

struct Sample {
    micros: Vec<u128>,
    hwm_kib: u64,
    rows: u64,
    bytes: u64,
}

fn measure(kind: &str, arg: &str, dir: &Path) -> Sample {
    let exe = std::env::current_exe().unwrap();
    let mut s = Sample {
        micros: Vec::new(),
        hwm_kib: 0,
        rows: 0,
        bytes: 0,
    };
    for _ in 0..RUNS {
        let out = Command::new(&exe)
            .env(
                "PARQUET_EXPORTER_BENCH_CHILD",
                format!("{kind}|{arg}|{}", dir.display()),
            )
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        assert!(out.status.success(), "child export failed");
        let line = String::from_utf8(out.stdout).unwrap();
        let f: Vec<u64> = line
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        s.micros.push(u128::from(f[0]));
        s.hwm_kib = s.hwm_kib.max(f[1]);
        s.rows = f[2];
        s.bytes = f[3];
    }
    s.micros.sort();
    s
}

fn report(kind: &str, n_hosts: usize, s: &Sample) {
    let median = s.micros[s.micros.len() / 2] as f64 / 1000.0;
    let best = s.micros[0] as f64 / 1000.0;
    let rate = s.rows as f64 / (median / 1000.0);
    println!(
        "| {kind:<6} | {n_hosts:>5} | {:>7} | {median:>9.1} | {best:>9.1} | {rate:>10.0} | {:>8.1} | {:>9.1} |",
        s.rows,
        s.hwm_kib as f64 / 1024.0,
        s.bytes as f64 / 1024.0,
    );
}

fn main() {
    if let Ok(spec) = std::env::var("PARQUET_EXPORTER_BENCH_CHILD") {
        let parts: Vec<&str> = spec.splitn(3, '|').collect();
        child(parts[0], parts[1], Path::new(parts[2]));
        return;
    }
    // `cargo bench` passes --bench; `cargo test --benches` would too: only run when benching.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let sizes = [1usize, 100, 1000];
    println!("one day ({TZ}), 5-minute cadence per host; {RUNS} runs each, child process per run");
    println!(
        "| source | hosts |    rows | median ms |   best ms |     rows/s | peak MiB | file KiB |"
    );
    println!(
        "|--------|------:|--------:|----------:|----------:|-----------:|---------:|---------:|"
    );
    for &n in &sizes {
        let db = tmp.path().join(format!("day_{n}.db"));
        let beats = simulate::beats(&day(), &hosts(n), 0, 1);
        simulate::write_sqlite(&db, "ops_atomic_heartbeats", &beats).unwrap();
        let out = tmp.path().join(format!("out_sqlite_{n}"));
        std::fs::create_dir_all(&out).unwrap();
        report("sqlite", n, &measure("sqlite", db.to_str().unwrap(), &out));
    }
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("(redis-server not found: Redis rows skipped)");
        return;
    }
    let server = common::Redis::start();
    let url = server.url();
    for &n in &sizes {
        let stream_url = url.clone();
        let target = Target {
            url: stream_url.clone(),
            password: None,
            ca_file: None,
        };
        let mut conn = parquet_exporter::source::redis::connect(&target).unwrap();
        let _: () = redis::cmd("FLUSHALL").query(&mut conn).unwrap(); // our private server only
        let beats = simulate::beats(&day(), &hosts(n), 0, 1);
        simulate::write_redis(&target, "ops:atomic:heartbeats", &beats).unwrap();
        let out = tmp.path().join(format!("out_redis_{n}"));
        std::fs::create_dir_all(&out).unwrap();
        report("redis", n, &measure("redis", &stream_url, &out));
    }
    drop(server);
}
