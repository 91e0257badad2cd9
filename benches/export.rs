//! Export benchmark: whole-process wall time and peak memory of the release binary exporting one
//! simulated day, at several sizes, from SQLite only, Redis only, and both with overlap (records
//! in time order; SQLite holds the first 60%, the Redis stream the last 60%, so 20% are in both,
//! as when the archive lags and the hot buffer is trimmed).
//!
//! For every case that reads Redis, the table also gives redis-server's own time in XRANGE
//! during each timed run (`CONFIG RESETSTAT` before the run, `cmdstat_xrange`'s `usec` from
//! `INFO commandstats` after): `XRANGE s`, the median of those times, and `×XRANGE`, the median
//! of the runs' wall time over their XRANGE time, which says how far the export is from the
//! time the server alone needs to hand out the stream. Both are blank for SQLite only.
//!
//! `cargo bench --bench export`. Environment:
//! - `BENCH_SIZES` records per day, comma-separated
//!   [default: 288,100000,1000000,5000000,10000000]
//! - `BENCH_MODES` of sqlite, redis, both, for every size [default: all three]. On two cores
//!   the default sizes take about 12 minutes with all three and about 5 with `both` alone
//!   (estimated from one two-source run at 1M, 5M and 10M and the 1M rows of the others),
//!   most of it at 5M and 10M (a 10M two-source day's inputs take 45 s to write, its export
//!   20 s a run, 800 MiB at its peak).
//! - `BENCH_RUNS` timed runs per case, after one warm-up [default: 3]
//! - `BENCH_AGAIN=1` also times each case as a re-export over the day file the run before
//!   wrote, which is read and carried over; its row's source is suffixed `+r`.
//! - `BENCH_INTRADAY=1` also times each case as the intraday export at 23:59 (`--intraday`
//!   with the clock there): what one 10-minute run costs at the end of the day, when it
//!   re-reads the most; its row's source is suffixed `+i`.
//! - `BENCH_COMPARE=1` also time, on the same records of the 1M-record day (the largest size
//!   when it is not benched), DuckDB's NDJSON →
//!   Parquet conversion and a pyarrow pipeline (sorted, typed, SNAPPY), with the Python in
//!   `PARQUET_EXPORTER_TEST_PYTHON` or `target/ci-venv/bin/python`, and print the ratios:
//!   of the medians, and the median of the ratios of `BENCH_RUNS` turns that time the
//!   two-source export, DuckDB and pyarrow one after the other (this machine's speed drifts
//!   between the first runs and the last).
//!
//! Each size's inputs are written before its first run, and how long that took goes to stderr
//! with this process's and redis-server's memory. With two or more sizes, the two largest
//! two-source days are also timed in turn (`BENCH_RUNS` turns), and with them the 1M and 5M
//! days when both are benched (the targets' ratio), and the median of the turns' ratios is
//! printed: the scaling, free of the drift between the table's rows.
//!
//! Peak RSS comes from `/usr/bin/time -f %M` (Debian's `time` package); without it only the
//! wall time is reported.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::NaiveDate;

#[path = "../tests/common/mod.rs"]
mod common;
use parquet_exporter::day::Day;
use parquet_exporter::simulate::{self, Beat};
use parquet_exporter::source::redis::RedisAddress;

const TZ: &str = "UTC";
const DATE: &str = "2025-10-30";
const STREAM: &str = "ops:atomic:heartbeats";
const SIZES: &str = "288,100000,1000000,5000000,10000000";
const MODES: [&str; 3] = ["sqlite", "redis", "both"];
/// The two sizes the targets compare (the 5M day within 5× the 1M day): timed in turn
/// whenever both are benched, whatever the largest sizes are.
const TARGET_PAIR: (usize, usize) = (1_000_000, 5_000_000);

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

/// The run's choices, from the environment (see the top of this file).
struct Config {
    sizes: Vec<usize>,
    modes: Vec<&'static str>,
    runs: usize,
    compare: bool,
    intraday: bool,
    again: bool,
}

impl Config {
    fn from_env() -> Config {
        let list = |name: &str| -> Option<Vec<String>> {
            let v = std::env::var(name).ok()?;
            Some(
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            )
        };
        let flag = |name: &str| std::env::var(name).is_ok_and(|v| v == "1");
        Config {
            sizes: list("BENCH_SIZES")
                .unwrap_or_else(|| SIZES.split(',').map(String::from).collect())
                .iter()
                .map(|s| s.parse().expect("BENCH_SIZES: numbers"))
                .collect(),
            modes: modes(list("BENCH_MODES")),
            runs: std::env::var("BENCH_RUNS")
                .ok()
                .and_then(|r| r.parse().ok())
                .unwrap_or(3),
            compare: flag("BENCH_COMPARE"),
            intraday: flag("BENCH_INTRADAY"),
            again: flag("BENCH_AGAIN"),
        }
    }

    fn reads_redis(&self) -> bool {
        self.modes.iter().any(|m| *m != "sqlite")
    }
}

/// `BENCH_MODES`, or all three.
fn modes(given: Option<Vec<String>>) -> Vec<&'static str> {
    let Some(given) = given else {
        return MODES.to_vec();
    };
    given
        .iter()
        .map(|m| {
            *MODES
                .iter()
                .find(|k| *k == m)
                .unwrap_or_else(|| panic!("BENCH_MODES: unknown mode {m}"))
        })
        .collect()
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
    /// Each timed run's wall seconds, sorted.
    wall_s: Vec<f64>,
    /// redis-server's seconds in XRANGE during each timed run, sorted; empty without Redis.
    xrange_s: Vec<f64>,
    /// Each timed run's wall time over its XRANGE time, sorted; empty without Redis.
    per_xrange: Vec<f64>,
    peak_kib: Option<u64>,
    rows: u64,
    bytes: u64,
}

/// The middle of a sorted list.
fn median(sorted: &[f64]) -> Option<f64> {
    sorted.get(sorted.len() / 2).copied()
}

/// redis-server's own account of its time in a command, from its command statistics: the
/// wall time of a run does not tell how much of it the server needed to hand out the stream.
struct CommandClock(redis::Connection);

impl CommandClock {
    fn reset(&mut self) {
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query(&mut self.0)
            .unwrap();
    }

    /// Seconds in `command` (lower case) since the reset; none of it at all means a broken
    /// case (or a changed `INFO` format), not a zero.
    fn seconds(&mut self, command: &str) -> f64 {
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut self.0)
            .unwrap();
        let (calls, usec) = command_stats(&info, command);
        assert!(calls > 0, "no {command} in INFO commandstats:\n{info}");
        usec as f64 / 1e6
    }
}

/// (calls, usec) from the `cmdstat_xrange:calls=3,usec=1234,usec_per_call=411.33,...` line of
/// `INFO commandstats` for `command`; (0, 0) when it has not run since the statistics were
/// reset.
fn command_stats(info: &str, command: &str) -> (u64, u64) {
    let prefix = format!("cmdstat_{command}:");
    let Some(line) = info
        .lines()
        .find_map(|l| l.trim().strip_prefix(prefix.as_str()))
    else {
        return (0, 0);
    };
    let field = |name: &str| -> u64 {
        line.split(',')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
            .unwrap_or(0)
    };
    (field("calls"), field("usec"))
}

/// A value of `INFO memory` (bytes), as MiB.
fn redis_memory_mib(redis: &common::Redis, field: &str) -> f64 {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query(&mut redis.conn())
        .unwrap();
    let bytes: f64 = info
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix(field)?
                .strip_prefix(':')?
                .parse()
                .ok()
        })
        .unwrap_or(f64::NAN);
    bytes / 1024.0 / 1024.0
}

/// This process's peak and current RSS, MiB: the beats of a 10M day are held here while its
/// inputs are written, and should be gone when the runs are timed.
fn own_rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |field: &str| -> f64 {
        status
            .lines()
            .find_map(|l| {
                l.strip_prefix(field)?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(f64::NAN)
    };
    (kib("VmHWM:") / 1024.0, kib("VmRSS:") / 1024.0)
}

/// One size's cases with their inputs written, and the NDJSON of the day when `ndjson`. All
/// of a size's inputs are written before its first run so that the day's beats (about 250
/// bytes each in this process) are freed before any run is timed. How long the writing took
/// goes to stderr.
fn seed(
    n: usize,
    modes: &[&'static str],
    dir: &Path,
    redis: Option<&common::Redis>,
    ndjson: bool,
) -> Vec<Case> {
    eprintln!("seeding the {n}-record day ({})", modes.join(", "));
    let started = Instant::now();
    let all = beats(n);
    let made = started.elapsed();
    let url = redis.map(common::Redis::url);
    let cases: Vec<Case> = modes
        .iter()
        .map(|&mode| Case {
            mode,
            intraday: false,
            again: false,
            records: n,
            sqlite: (mode != "redis").then(|| dir.join(format!("{mode}.db"))),
            redis: (mode != "sqlite")
                .then(|| url.clone().expect("a redis-server for the Redis modes")),
            stream: format!("{STREAM}:{mode}:{n}"),
        })
        .collect();
    let mut stats = redis.map(|r| CommandClock(r.conn()));
    if let Some(c) = stats.as_mut() {
        c.reset();
    }
    // The SQLite files in a thread of their own while the streams are written: each writer
    // keeps about a core busy (the streams' with redis-server's part), and the inputs of a big
    // day are ready in the time of the streams alone.
    let (in_sqlite, in_redis) = std::thread::scope(|s| {
        let sqlite = s.spawn(|| write_sqlite_inputs(&cases, &all));
        let in_redis = write_redis_inputs(&cases, &all, redis);
        (sqlite.join().unwrap(), in_redis)
    });
    let xadd = stats.as_mut().map(|c| c.seconds("xadd"));
    if ndjson {
        let nd = dir.join("day.ndjson");
        write_ndjson(&all, &nd);
        settle(&nd);
    }
    drop(all);
    // The hosts' names are small allocations, which glibc keeps for this process unless told
    // to hand them back: 300 MiB after a 10M day.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it reads or writes no memory of ours.
    unsafe {
        libc::malloc_trim(0);
    }
    let (peak, now) = own_rss_mib();
    eprintln!(
        "seeded the {n}-record day in {:.1} s: the beats {:.1} s, then at once SQLite {:.1} s \
         and Redis {:.1} s{}; this process's peak RSS {peak:.0} MiB (now {now:.0}){}",
        started.elapsed().as_secs_f64(),
        made.as_secs_f64(),
        in_sqlite.as_secs_f64(),
        in_redis.as_secs_f64(),
        xadd.map_or(String::new(), |x| format!(
            " (redis-server's XADD {x:.1} s)"
        )),
        redis.map_or(String::new(), |r| format!(
            ", redis-server's used memory {:.0} MiB",
            redis_memory_mib(r, "used_memory")
        )),
    );
    cases
}

/// The part of the day a source holds in a mode: all of it alone; with two sources, SQLite
/// the first 60% and the stream the last 60%.
fn part<'a>(all: &'a [Beat], mode: &str, sqlite: bool) -> &'a [Beat] {
    let (lo, hi) = (all.len() * 2 / 5, all.len() * 3 / 5);
    match (mode, sqlite) {
        ("both", true) => &all[..hi],
        ("both", false) => &all[lo..],
        _ => all,
    }
}

/// Writes the cases' SQLite files, each synced to disk; the time it took.
fn write_sqlite_inputs(cases: &[Case], all: &[Beat]) -> Duration {
    let started = Instant::now();
    for case in cases {
        if let Some(db) = &case.sqlite {
            simulate::write_sqlite(db, "ops_atomic_heartbeats", part(all, case.mode, true))
                .unwrap();
            settle(db);
        }
    }
    started.elapsed()
}

/// Writes the cases' streams; the time it took.
fn write_redis_inputs(cases: &[Case], all: &[Beat], redis: Option<&common::Redis>) -> Duration {
    let started = Instant::now();
    for case in cases.iter().filter(|c| c.redis.is_some()) {
        let target = RedisAddress {
            url: redis.expect("a redis-server for the Redis modes").url(),
            password: None,
            ca_file: None,
        };
        simulate::write_redis(&target, &case.stream, part(all, case.mode, false)).unwrap();
    }
    started.elapsed()
}

/// The two largest two-source days, and the targets' pair (`TARGET_PAIR`) when both are here,
/// timed in turn, smallest first, so that the machine's drift between the table's rows does
/// not enter the ratios.
fn scaling(boths: &[(usize, f64, Case)], runs: usize, out: &Path) {
    let mut sizes: Vec<usize> = boths.iter().map(|b| b.0).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let mut pairs = Vec::new();
    if sizes.contains(&TARGET_PAIR.0) && sizes.contains(&TARGET_PAIR.1) {
        pairs.push(TARGET_PAIR);
    }
    if let [.., small, large] = sizes[..] {
        if !pairs.contains(&(small, large)) {
            pairs.push((small, large));
        }
    }
    if pairs.is_empty() {
        return;
    }
    let mut timed: Vec<usize> = pairs.iter().flat_map(|&(s, l)| [s, l]).collect();
    timed.sort_unstable();
    timed.dedup();
    // Each day in its own out dir, as in the table's runs. In one dir each run replaced the
    // other size's day file: the 1M run freeing the 5M day's 95 MB took it 25 ms longer (0.92
    // against 0.895 s, 6 runs each) and the 5M run freed only 19 MB, which made the ratio
    // look smaller than it is.
    let days: Vec<(&Case, PathBuf)> = timed
        .iter()
        .map(|n| {
            let case = &boths.iter().find(|b| b.0 == *n).unwrap().2;
            let dir = out.join(n.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            (case, dir)
        })
        .collect();
    let turns: Vec<Vec<f64>> = (0..runs)
        .map(|_| {
            days.iter()
                .map(|(case, dir)| export_once(case, dir).0)
                .collect()
        })
        .collect();
    for (small, large) in pairs {
        let at = |n| timed.iter().position(|&t| t == n).unwrap();
        let (i, j) = (at(small), at(large));
        let mut ratios: Vec<f64> = turns.iter().map(|t| t[j] / t[i]).collect();
        ratios.sort_by(f64::total_cmp);
        let (m, records) = (ratios[ratios.len() / 2], large as f64 / small as f64);
        println!(
            "\nthe {large}-record day against the {small}-record day, timed in turn ({runs} turns): \
             the median of the turns' ratios is {m:.2}× (from {:.2} to {:.2}) for {records:.0}× the records",
            ratios[0],
            ratios[ratios.len() - 1]
        );
    }
    if !turns.is_empty() {
        let names: Vec<String> = timed.iter().map(usize::to_string).collect();
        let each: Vec<String> = turns
            .iter()
            .map(|t| {
                let s: Vec<String> = t.iter().map(|x| format!("{x:.3}")).collect();
                s.join(" / ")
            })
            .collect();
        println!(
            "(the turns, {} records, s: {})",
            names.join(" / "),
            each.join(", ")
        );
    }
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

/// Times `runs` runs of the case after a warm-up; with `redis`, a case that reads it also has
/// redis-server's XRANGE time of each run.
fn measure(case: &Case, runs: usize, out: &Path, redis: Option<&common::Redis>) -> Sample {
    std::fs::create_dir_all(out).unwrap();
    export_once(case, out); // warm-up: page cache, Redis
    let mut clock = case
        .redis
        .as_ref()
        .and(redis)
        .map(|r| CommandClock(r.conn()));
    let mut s = Sample {
        wall_s: Vec::new(),
        xrange_s: Vec::new(),
        per_xrange: Vec::new(),
        peak_kib: None,
        rows: 0,
        bytes: 0,
    };
    for _ in 0..runs {
        if let Some(c) = clock.as_mut() {
            c.reset();
        }
        let (wall, peak, report) = export_once(case, out);
        if let Some(c) = clock.as_mut() {
            let x = c.seconds("xrange");
            s.xrange_s.push(x);
            s.per_xrange.push(wall / x);
        }
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
    for v in [&mut s.wall_s, &mut s.xrange_s, &mut s.per_xrange] {
        v.sort_by(f64::total_cmp);
    }
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

const HEADER: &str = "\
| source   | records   | rows      | median s | best s   |  records/s | peak MiB | file MB  | bytes/row | XRANGE s | ×XRANGE |
|----------|----------:|----------:|---------:|---------:|-----------:|---------:|---------:|----------:|---------:|--------:|";

fn print_row(case: &Case, s: &Sample) {
    let median_s = median(&s.wall_s).unwrap();
    let suffix = match (case.intraday, case.again) {
        (true, _) => "+i",
        (false, true) => "+r",
        (false, false) => "",
    };
    let blank_or =
        |v: Option<f64>, places: usize| v.map_or(String::new(), |v| format!("{v:.places$}"));
    println!(
        "| {:<8} | {:>9} | {:>9} | {:>8.3} | {:>8.3} | {:>10.0} | {:>8} | {:>8.2} | {:>9.1} | {:>8} | {:>7} |",
        format!("{}{suffix}", case.mode),
        case.records,
        s.rows,
        median_s,
        s.wall_s[0],
        s.rows as f64 / median_s,
        s.peak_kib
            .map_or("?".to_string(), |k| format!("{:.1}", k as f64 / 1024.0)),
        s.bytes as f64 / 1e6,
        s.bytes as f64 / s.rows.max(1) as f64,
        blank_or(median(&s.xrange_s), 4),
        blank_or(median(&s.per_xrange), 2),
    );
}

/// Times the case and prints its rows: a new day, then with `BENCH_AGAIN` a re-export over
/// the day's file, and with `BENCH_INTRADAY` the 23:59 intraday run. The new day's median.
fn run_case(case: &mut Case, cfg: &Config, dir: &Path, redis: Option<&common::Redis>) -> f64 {
    let out = dir.join(format!("out-{}", case.mode));
    let s = measure(case, cfg.runs, &out, redis);
    print_row(case, &s);
    if cfg.again {
        // The same day exported again over its file, which is read and carried over.
        case.again = true;
        let sr = measure(case, cfg.runs, &out, redis);
        print_row(case, &sr);
        case.again = false;
    }
    if cfg.intraday {
        // The same sources at 23:59, into a directory of its own: each run replaces the
        // previous intraday file, as the 10-minute schedule does.
        case.intraday = true;
        case.again = true;
        let out = dir.join(format!("out-{}-intraday", case.mode));
        let si = measure(case, cfg.runs, &out, redis);
        print_row(case, &si);
        case.intraday = false;
        case.again = false;
    }
    median(&s.wall_s).unwrap()
}

/// A one-source case's inputs, removed once it is timed: the 10M day's SQLite file is over a
/// gigabyte, its stream as much of redis-server's memory.
fn remove_inputs(case: &Case, redis: Option<&common::Redis>) {
    if let Some(db) = &case.sqlite {
        let _ = std::fs::remove_file(db);
    }
    if let (Some(r), Some(_)) = (redis, &case.redis) {
        let _: () = redis::cmd("DEL")
            .arg(&case.stream)
            .query(&mut r.conn())
            .unwrap();
    }
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

/// The day's records (`day.ndjson` in `dir`, written when seeding) converted by DuckDB and by
/// pyarrow, each timed in turn with the two-source export of the same day when it was benched.
fn compare(n: usize, dir: &Path, both: Option<&(usize, f64, Case)>, runs: usize) {
    let Some(py) = python() else {
        println!("\n(BENCH_COMPARE: no Python with duckdb and pyarrow; comparison skipped)");
        return;
    };
    let nd = dir.join("day.ndjson");
    let mut duck = Vec::new();
    let mut arrow = Vec::new();
    // This machine's speed drifts from minute to minute: the exporter is timed again in turn
    // with the two others, and each turn's ratios are kept.
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
    for r in [&mut to_duck, &mut to_arrow, &mut duck, &mut arrow] {
        r.sort_by(f64::total_cmp);
    }
    let (d, a) = (duck[duck.len() / 2], arrow[arrow.len() / 2]);
    println!(
        "\nthe same {n} records as NDJSON → sorted, typed, SNAPPY Parquet (median of {runs}):"
    );
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

fn main() {
    // `cargo test --benches` passes no --bench: only run when benching.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let cfg = Config::from_env();
    let tmp = tempfile::tempdir().unwrap();
    let redis = cfg.reads_redis().then(common::Redis::start);
    let redis = redis.as_ref();
    println!(
        "one day ({DATE}, {TZ}); {} timed runs after a warm-up; whole process of the release binary",
        cfg.runs
    );
    println!("{HEADER}");
    // The two-source cases, kept for the comparisons: (records, median wall s, case).
    let mut boths: Vec<(usize, f64, Case)> = Vec::new();
    // The targets compare the 1M-record day; without it, the largest.
    let compared = match cfg.sizes.contains(&1_000_000) {
        true => Some(1_000_000),
        false => cfg.sizes.iter().copied().max(),
    };
    for &n in &cfg.sizes {
        let dir = tmp.path().join(n.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let compare_here = cfg.compare && Some(n) == compared;
        for mut case in seed(n, &cfg.modes, &dir, redis, compare_here) {
            let median_s = run_case(&mut case, &cfg, &dir, redis);
            if case.mode == "both" {
                // Kept for the comparisons, which time it again in turn with others.
                boths.push((n, median_s, case));
            } else {
                remove_inputs(&case, redis);
            }
        }
        if compare_here {
            compare(n, &dir, boths.last().filter(|b| b.0 == n), cfg.runs);
        }
    }
    scaling(&boths, cfg.runs, &tmp.path().join("out-scaling"));
}
