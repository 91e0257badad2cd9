//! Hostile testing, round three: replies that declare more than they send or end part-way,
//! numbers that would overflow, FIFOs where input files belong, and a Redis that turns the
//! exporter away. Every run that could hang if its fix were removed runs under a deadline.

use crate::common;

/// Runs `cmd`, killing it and failing the test if it has not finished after `LIMIT`.
fn run_within(cmd: &mut Command) -> Output {
    common::run_within(cmd, LIMIT)
}

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{exporter, mkfifo, read_parquet, run, Output, Redis};

const TZ: &str = "Asia/Bangkok";
const DAY: &str = "2025-10-30";
/// Generous: it only keeps a hang from stalling the suite.
const LIMIT: Duration = Duration::from_secs(20);

fn pe(home: &Path) -> Command {
    common::export_cmd(home, TZ)
}

fn rows_in(p: &Path) -> usize {
    read_parquet(p).0.iter().map(|b| b.num_rows()).sum()
}

/// The first word of the next command a client sends (`*n`, then n bulk strings), or `None`
/// once it hangs up.
fn command(r: &mut impl BufRead) -> Option<String> {
    let mut line = String::new();
    r.read_line(&mut line).ok().filter(|n| *n > 0)?;
    let n: usize = line.trim().strip_prefix('*')?.parse().ok()?;
    let mut first = None;
    for _ in 0..n {
        line.clear();
        r.read_line(&mut line).ok()?;
        let len: usize = line.trim().strip_prefix('$')?.parse().ok()?;
        let mut arg = vec![0; len + 2];
        r.read_exact(&mut arg).ok()?;
        first.get_or_insert_with(|| String::from_utf8_lossy(&arg[..len]).to_uppercase());
    }
    first
}

/// An empty stream that never lost an entry, as XINFO STREAM says it.
const XINFO: &[u8] = b"*4\r\n$6\r\nlength\r\n:0\r\n$13\r\nentries-added\r\n:0\r\n";

/// A "Redis" on loopback that answers TYPE and XINFO as for a stream, and every XRANGE with
/// `reply`; then it closes the connection (`close`) or waits for the client to hang up.
fn hostile_redis(reply: Vec<u8>, close: bool) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let reply = reply.clone();
            std::thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                while let Some(cmd) = command(&mut r) {
                    let answer: &[u8] = match cmd.as_str() {
                        "TYPE" => b"+stream\r\n",
                        "XINFO" => XINFO,
                        "XRANGE" => &reply,
                        _ => b"+OK\r\n",
                    };
                    if w.write_all(answer).is_err() || (cmd == "XRANGE" && close) {
                        return;
                    }
                }
            });
        }
    });
    format!("redis://127.0.0.1:{port}")
}

/// The exit status, output and peak RSS (MB) of an export of `DAY` from the archive in `home`
/// and the Redis at `url`, run as the only child of a Python process that measures it.
fn export_measured(home: &Path, url: &str) -> (i32, String, u64) {
    common::peak_rss_mb_with(
        home,
        &[
            "--tz",
            TZ,
            "--out-dir",
            "out",
            "--summary-dir",
            "rep",
            "--sqlite",
            "ops.db",
            "--date",
            DAY,
            "--redis-timeout",
            "60",
        ],
        &[("PARQUET_EXPORTER_REDIS_URL", url)],
    )
}

/// Exports `DAY` from an archive and from a hostile Redis answering XRANGE with `reply`:
/// partial (exit 3), the archive's day written, within `max_mb` of memory, saying `says`.
fn partial_beside_a_hostile_redis(reply: &[u8], close: bool, says: &str) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::archive(h, TZ, &[DAY]);
    let url = hostile_redis(reply.to_vec(), close);
    let (code, text, mb) = export_measured(h, &url);
    let shown = String::from_utf8_lossy(reply);
    assert_eq!(code, 3, "{shown:?}: {text}");
    assert!(text.contains(says), "{shown:?}: {text}");
    assert_eq!(rows_in(&h.join("out/ops_atomic_20251030.parquet")), 288);
    assert!(mb < 300, "{shown:?}: {mb} MB");
}

#[test]
fn a_huge_bulk_length_is_refused_without_allocating_it() {
    for len in [
        "999999999999999999",
        "9999999999",
        "4194305",
        "99999999999999999999999",
    ] {
        let reply = format!("*1\r\n*2\r\n${len}\r\n");
        partial_beside_a_hostile_redis(reply.as_bytes(), false, "over the limit");
    }
    // Inside an entry's fields, where most strings are.
    partial_beside_a_hostile_redis(
        b"*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\na\r\n$9999999999\r\n",
        false,
        "over the limit",
    );
}

#[test]
fn a_huge_array_length_is_refused() {
    for (reply, says) in [
        (&b"*999999999999999999\r\n"[..], "over the limit"),
        // More entries than the page asked for (COUNT 250).
        (b"*251\r\n", "251 entries in a reply to COUNT 250"),
        (b"*1\r\n*2\r\n$3\r\n1-0\r\n*99999999\r\n", "over the limit"),
        (
            b"*1\r\n*2\r\n$3\r\n1-0\r\n*5000\r\n",
            "over the limit of 4096",
        ),
    ] {
        partial_beside_a_hostile_redis(reply, false, says);
    }
}

#[test]
fn a_connection_closed_right_after_a_header_is_an_unavailable_source() {
    for reply in [
        &b"*1\r\n"[..],
        b"*1\r\n*2\r\n",
        b"*1\r\n*2\r\n$15\r\n",
        b"*1\r\n*2\r\n$3\r\n1-0\r\n*4\r\n",
    ] {
        partial_beside_a_hostile_redis(reply, true, "closed the connection");
    }
}

#[test]
fn a_connection_closed_inside_a_string_is_an_unavailable_source() {
    for reply in [
        &b"*1\r\n*2\r\n$15\r\n17617"[..],
        b"*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$6\r\nstatus\r\n$2000000\r\nxxxxxxxx",
        b"*1\r\n*2\r\n$3\r\n1-0\r",
    ] {
        partial_beside_a_hostile_redis(reply, true, "closed the connection");
    }
}

#[test]
fn a_redis_at_maxclients_is_unavailable_with_its_own_words() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::archive(h, TZ, &[DAY]);
    let redis = Redis::start_with(&["--maxclients", "1"]);
    // The one client it takes, once the start-up probe's connection is gone.
    let started = Instant::now();
    let _held = loop {
        let c = redis::Client::open(redis.url()).unwrap().get_connection();
        match c {
            Ok(c) => break c,
            Err(e) => assert!(started.elapsed() < LIMIT, "{e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = run_within(
        pe(h)
            .args(["--sqlite", "ops.db", "--date", DAY])
            .env("PARQUET_EXPORTER_REDIS_URL", redis.url()),
    );
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("max number of clients reached"),
        "{}",
        out.stdout
    );
    assert_eq!(rows_in(&h.join("out/ops_atomic_20251030.parquet")), 288);
}

#[test]
fn without_xinfo_permission_the_trim_check_says_it_could_not_run() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let redis = Redis::start();
    let sim = run(exporter(h)
        .args(["simulate", "--date", DAY, "--tz", TZ, "--redis-url"])
        .arg(redis.url()));
    assert_eq!(sim.code, 0, "{}", sim.stderr);
    let _: String = redis::cmd("ACL")
        .arg(
            &[
                "SETUSER", "reader", "on", ">pw", "~*", "&*", "+@all", "-xinfo",
            ][..],
        )
        .query(&mut redis.conn())
        .unwrap();
    let url = format!(
        "redis+unix://{}?user=reader&pass=pw",
        redis.socket.display()
    );
    let export = |extra: &[&str]| {
        run_within(
            pe(h)
                .args(["--date", DAY])
                .args(extra)
                .env("PARQUET_EXPORTER_REDIS_URL", &url),
        )
    };
    let out = export(&[]);
    // The stream begins inside the day: it cannot be shown to hold its start, but nothing
    // says it was trimmed.
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("unverified, read 288")
            && out.stdout.contains("the trim check could not run")
            && out.stdout.contains("NOPERM"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("trimmed"), "{}", out.stdout);
    let summary =
        std::fs::read_to_string(h.join("rep/parquet_export_summary_20251030.md")).unwrap();
    assert!(summary.contains("trim check could not run"), "{summary}");
    assert!(!summary.contains("trimmed"), "{summary}");
    // Beside an archive that holds the whole day, that is no shortfall.
    common::archive(h, TZ, &[DAY]);
    let out = export(&["--sqlite", "ops.db"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
}

/// A config file holding `text`, in `home`.
fn config(home: &Path, text: &str) -> PathBuf {
    let p = home.join("c.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn numbers_out_of_range_are_usage_errors_wherever_they_come_from() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::archive(h, TZ, &[DAY]);
    let huge = "18446744073709551615";
    let usage = |out: &Output, range: &str| {
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(
            out.stderr.contains("out of range") && out.stderr.contains(range),
            "{}",
            out.stderr
        );
    };
    let base = |h: &Path| {
        let mut cmd = pe(h);
        cmd.args(["--sqlite", "ops.db", "--date", DAY]);
        cmd
    };
    for (flag, value, range) in [
        ("--redis-timeout", huge, "1 to 86400 seconds"),
        ("--redis-timeout", "-0", "1 to 86400 seconds"),
        ("--lock-timeout", huge, "0 to 86400 seconds"),
        ("--redis-margin-minutes", "0", "1 to 1440 minutes"),
        ("--redis-margin-minutes", "4294967296", "1 to 1440 minutes"),
        ("--redis-page-size", huge, "1 to 100000 entries"),
        ("--max-days", "4294967295", "1 to 3660 days"),
        ("--catch-up-window", "-5", "1 to 3660 days"),
    ] {
        let out = run(base(h)
            .args([flag, value])
            .env("PARQUET_EXPORTER_REDIS_URL", "redis://127.0.0.1:1"));
        usage(&out, range);
    }
    let out = run(base(h).env("PARQUET_EXPORTER_REDIS_TIMEOUT", huge));
    usage(&out, "1 to 86400 seconds");
    let out = run(base(h).env("PARQUET_EXPORTER_LOCK_TIMEOUT", "99999999999999999999"));
    usage(&out, "0 to 86400 seconds");
    let c = config(h, "redis_timeout = 9223372036854775807\n");
    let out = run(base(h).arg("--config").arg(&c));
    usage(
        &out,
        "redis_timeout = 9223372036854775807 is out of range: use 1 to 86400",
    );
    let c = config(h, "redis_margin_minutes = 0\n");
    usage(&run(base(h).arg("--config").arg(&c)), "1 to 1440 minutes");
    // Past what TOML holds: refused by the parser, still a usage error.
    let c = config(h, &format!("redis_timeout = {huge}\n"));
    assert_eq!(run(base(h).arg("--config").arg(&c)).code, 2);
    // -0 is 0, and a lock wait of 0 is fine.
    let out = run(base(h).args(["--lock-timeout", "-0"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let help = run(exporter(h).arg("--help"));
    assert!(
        help.stdout
            .contains("so 0 would reject nearly every record"),
        "{}",
        help.stdout
    );
}

#[test]
fn fifos_where_input_files_belong_are_refused_without_blocking() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::archive(h, TZ, &[DAY]);
    for f in ["ca.pem", "c.toml", "x.db", "old.parquet", "beat.md"] {
        mkfifo(&h.join(f));
    }
    let fifo = |out: &Output| {
        let text = format!("{}\n{}", out.stdout, out.stderr);
        assert!(text.contains("a FIFO"), "{text}");
    };
    // The CA file is read before any deadline applies: the Redis source is unavailable.
    let out = run_within(
        pe(h)
            .args([
                "--sqlite",
                "ops.db",
                "--date",
                DAY,
                "--redis-ca-file",
                "ca.pem",
            ])
            .env("PARQUET_EXPORTER_REDIS_URL", "rediss://127.0.0.1:1"),
    );
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    fifo(&out);
    assert_eq!(rows_in(&h.join("out/ops_atomic_20251030.parquet")), 288);

    let out = run_within(pe(h).args(["--sqlite", "ops.db", "--date", DAY, "--config", "c.toml"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    fifo(&out);

    let out = run_within(pe(h).args(["--sqlite", "x.db", "--date", DAY]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    fifo(&out);

    for legacy in ["old.parquet", "beat.md"] {
        let out = run_within(
            exporter(h)
                .args(["import-legacy", legacy, "--tz", TZ])
                .args(["--out-dir", "out", "--summary-dir", "rep"]),
        );
        assert_eq!(out.code, 2, "{}", out.stderr);
        fifo(&out);
    }
}
