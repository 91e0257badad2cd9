//! Hostile testing, round two: each defect reproduced with the command that showed it, against
//! the binary, private redis-servers, real SQLite files and files made to be hostile. Every
//! run that could hang if its fix were removed runs under a deadline.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{exporter, mkfifo, peak_rss_mb, read_parquet, run, run_within, Redis};

const TZ: &str = "Asia/Bangkok";
const DAY: &str = "2025-10-30";
/// 2025-10-30 in Bangkok is [2025-10-29T17:00Z, 2025-10-30T17:00Z).
#[allow(dead_code)]
const START: i64 = 1_761_757_200_000;

/// `PE --tz … --out-dir out --summary-dir rep` in `home`, to add to.
fn pe(home: &Path) -> Command {
    common::export_cmd(home, TZ)
}

fn archive(home: &Path, dates: &[&str]) -> PathBuf {
    common::archive(home, TZ, dates)
}

fn rows_in(p: &Path) -> usize {
    read_parquet(p).0.iter().map(|b| b.num_rows()).sum()
}

#[test]
fn a_symlinked_lock_never_truncates_its_target() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, &[DAY]);
    std::fs::create_dir_all(h.join("out")).unwrap();
    std::fs::write(h.join("victim"), "precious\n").unwrap();
    std::fs::create_dir_all(h.join("rep")).unwrap();
    std::os::unix::fs::symlink("../victim", h.join("rep/.parquet-exporter.lock")).unwrap();

    let out = run(pe(h).args(["--sqlite", "ops.db", "--date", DAY]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("is a symbolic link, not a regular file"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(h.join("victim")).unwrap(),
        "precious\n"
    );
    assert!(!h.join("out/ops_atomic_20251030.parquet").exists());

    // import-legacy takes the same lock.
    std::fs::create_dir_all(h.join("legacy")).unwrap();
    let out = run(exporter(h)
        .args(["import-legacy", "legacy", "--tz", TZ])
        .args(["--out-dir", "out", "--summary-dir", "rep"]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(h.join("victim")).unwrap(),
        "precious\n"
    );
}

#[test]
fn the_wrapper_refuses_a_symlinked_log() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::write(h.join("victim"), "precious\n").unwrap();
    std::os::unix::fs::symlink(h.join("victim"), h.join("log")).unwrap();
    let wrapper = Path::new(env!("CARGO_MANIFEST_DIR")).join("launchd/run_parquet_exporter.sh");
    let out = run(Command::new("bash")
        .arg(&wrapper)
        .arg("--version")
        .env(
            "PARQUET_EXPORTER_BIN",
            assert_cmd::cargo::cargo_bin("parquet-exporter"),
        )
        .env("PARQUET_EXPORTER_LOG", h.join("log"))
        .env("HOME", h));
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(out.stderr.contains("symbolic link"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(h.join("victim")).unwrap(),
        "precious\n"
    );
}

#[test]
fn fifos_where_files_belong_never_block() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, &["2025-10-29"]);
    std::fs::create_dir_all(h.join("out")).unwrap();
    mkfifo(&h.join("out/ops_atomic_20251029.parquet"));
    let limit = Duration::from_secs(60);

    let out = run_within(exporter(h).args(["verify", "out"]), limit);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("a FIFO"), "{}", out.stdout);

    let out = run_within(exporter(h).args(["history", "out", "--days", "3"]), limit);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("a FIFO"), "{}", out.stdout);

    // Catch-up redoes the day: the FIFO is replaced by a real day file.
    let out = run_within(
        pe(h).args(["--sqlite", "ops.db", "--catch-up", "--today", "2025-10-30"]),
        limit,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(rows_in(&h.join("out/ops_atomic_20251029.parquet")), 288);

    mkfifo(&h.join("x.fifo"));
    let out = run_within(pe(h).args(["--sqlite", "x.fifo", "--date", DAY]), limit);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("a FIFO"), "{}", out.stderr);

    // A directory as the database says so, not "disk I/O error".
    std::fs::create_dir_all(h.join("db.dir")).unwrap();
    let out = run_within(pe(h).args(["--sqlite", "db.dir", "--date", DAY]), limit);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("a directory"), "{}", out.stderr);

    // A summary-named FIFO does not hold up the verification report.
    std::fs::create_dir_all(h.join("rep")).unwrap();
    mkfifo(&h.join("rep/parquet_export_summary_20251028.md"));
    let out = run_within(
        exporter(h).args(["verify", "--report", "--tz", TZ]).args([
            "--out-dir",
            "out",
            "--summary-dir",
            "rep",
            "--sqlite",
            "ops.db",
        ]),
        limit,
    );
    assert!(
        out.code == 0 || out.code == 3 || out.code == 7,
        "{}",
        out.stderr
    );
}

#[test]
fn posix_tz_forms_name_their_zone() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::archive(h, "UTC", &[DAY]);
    for (tz, zone) in [
        (":/usr/share/zoneinfo/Asia/Bangkok", "Asia/Bangkok"),
        ("/usr/share/zoneinfo/Asia/Bangkok", "Asia/Bangkok"),
        ("UTC0", "UTC"),
        (":UTC", "UTC"),
    ] {
        if tz.contains("zoneinfo") && !Path::new("/usr/share/zoneinfo/Asia/Bangkok").exists() {
            continue;
        }
        let out = run(exporter(h)
            .args(["--sqlite", "ops.db", "--date", DAY, "--dry"])
            .env("TZ", tz));
        assert_eq!(out.code, 0, "TZ={tz}: {}", out.stderr);
        assert!(
            out.stdout.contains(&format!("({zone}, ")),
            "TZ={tz}: {}",
            out.stdout
        );
    }
    // A rule with DST names no zone: the system's zone is used, and the log says so.
    let out = run(exporter(h)
        .args(["--sqlite", "ops.db", "--date", DAY, "--dry"])
        .env("TZ", "CET-1CEST,M3.5.0,M10.5.0/3"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("names no IANA zone"), "{}", out.stderr);
}

#[test]
fn a_day_before_a_skipped_day_exports_and_the_skipped_day_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::archive(h, "UTC", &[DAY]);
    let apia = |date: &str| {
        run(common::export_cmd(h, "Pacific/Apia").args(["--sqlite", "ops.db", "--date", date]))
    };
    let out = apia("2011-12-29");
    assert_eq!(out.code, 4, "an empty but normal day: {}", out.stderr);
    assert!(
        out.stdout.contains("(Pacific/Apia, 24 h)"),
        "{}",
        out.stdout
    );
    let out = apia("2011-12-30");
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("never happened"), "{}", out.stderr);
}

#[test]
fn flags_on_the_command_line_win_over_the_environment() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, &["2025-10-28", "2025-10-29"]);
    let out = run(pe(h)
        .args(["--sqlite", "ops.db", "--catch-up", "--today", "2025-10-30"])
        .env("PARQUET_EXPORTER_DATE", "2025-10-28"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(pe(h)
        .args([
            "--sqlite",
            "ops.db",
            "--from",
            "2025-10-28",
            "--to",
            "2025-10-29",
        ])
        .env("PARQUET_EXPORTER_DATE", "2025-10-28"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(pe(h)
        .args(["--sqlite", "ops.db", "--date", "2025-10-28"])
        .env("PARQUET_EXPORTER_CATCH_UP", "1"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Alone, the variable still chooses the day.
    let out = run(pe(h)
        .args(["--sqlite", "ops.db", "--json"])
        .env("PARQUET_EXPORTER_DATE", "2025-10-28"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("\"day\": \"2025-10-28\""),
        "{}",
        out.stdout
    );
}

#[test]
fn out_of_range_windows_and_ranges_are_usage_errors() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, &[DAY]);
    for args in [
        &["--catch-up", "--catch-up-window", "100000000"][..],
        &["--from", "0025-10-01", "--to", "2025-10-01"][..],
        &["--from", "2024-01-01", "--to", "2025-10-01"][..],
    ] {
        let out = run(pe(h).args(["--sqlite", "ops.db"]).args(args));
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
    }
    let out = run(pe(h).args([
        "--sqlite",
        "ops.db",
        "--from",
        "2024-01-01",
        "--to",
        "2025-10-01",
    ]));
    assert!(out.stderr.contains("--long-range"), "{}", out.stderr);
    let out = run(exporter(h).args(["history", "out", "--days", "100000000"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = run(exporter(h).args(["verify", "--report", "--days", "100000000"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn a_closed_stdout_does_not_fail_a_published_run() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, &[DAY]);
    // `| head -c0`: the reader has gone before the report is printed.
    let out = run(Command::new("bash")
        .arg("-c")
        .arg(r#""$PE" --sqlite ops.db --date 2025-10-30 --tz Asia/Bangkok --out-dir out --summary-dir rep --json | head -c0; echo "status ${PIPESTATUS[0]}""#)
        .env("PE", assert_cmd::cargo::cargo_bin("parquet-exporter"))
        .env_remove("TZ")
        .env("HOME", h)
        .current_dir(h));
    assert!(
        out.stdout.contains("status 0"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(rows_in(&h.join("out/ops_atomic_20251030.parquet")), 288);
}

#[test]
fn a_stream_trimmed_inside_the_day_is_partial_and_keeps_the_fuller_file() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let redis = Redis::start();
    // The day before too: a stream that begins inside the day is as short as a trimmed one.
    for date in ["2025-10-29", DAY] {
        let sim = run(exporter(h)
            .args(["simulate", "--date", date, "--tz", TZ, "--redis-url"])
            .arg(redis.url()));
        assert_eq!(sim.code, 0, "{}", sim.stderr);
    }
    let export = |extra: &[&str]| {
        run(pe(h)
            .args(["--date", DAY, "--redis-url"])
            .arg(redis.url())
            .args(extra))
    };
    let out = export(&[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let day_file = h.join("out/ops_atomic_20251030.parquet");
    assert_eq!(rows_in(&day_file), 288);

    let _: i64 = redis::cmd("XTRIM")
        .arg("ops:atomic:heartbeats")
        .arg("MAXLEN")
        .arg(100)
        .query(&mut redis.conn())
        .unwrap();
    let out = export(&[]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("trimmed, read 100")
            && out.stdout.contains("first entry at 2025-10-30T"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("kept:"), "{}", out.stdout);
    assert_eq!(rows_in(&day_file), 288, "the fuller file is kept");
    let summary =
        std::fs::read_to_string(h.join("rep/parquet_export_summary_20251030.md")).unwrap();
    assert!(summary.contains("trimmed: first entry at"), "{summary}");

    let out = export(&["--dry", "--json"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stdout.contains("\"state\": \"trimmed\""),
        "{}",
        out.stdout
    );

    // Beside an archive that holds the whole day, a trimmed hot buffer is normal operation.
    common::archive(h, TZ, &[DAY]);
    let out = export(&["--sqlite", "ops.db"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("trimmed, read 100"), "{}", out.stdout);
    assert_eq!(rows_in(&day_file), 288);
}

#[test]
fn without_xinfo_a_stream_that_begins_inside_the_day_is_unverified() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // A least-privilege user: what the export needs, and no XINFO.
    let redis = Redis::start_with(&[
        "--user", "reader", "on", ">pw", "~*", "&*", "+type", "+xrange", "+ping",
    ]);
    let sim = run(exporter(h)
        .args(["simulate", "--date", DAY, "--tz", TZ, "--redis-url"])
        .arg(redis.url()));
    assert_eq!(sim.code, 0, "{}", sim.stderr);
    let url = format!(
        "redis+unix://{}?user=reader&pass=pw",
        redis.socket.display()
    );
    let out = run(pe(h)
        .args(["--date", DAY])
        .env("PARQUET_EXPORTER_REDIS_URL", &url));
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    // Not claimed trimmed: the check could not run.
    assert!(
        out.stdout.contains("unverified, read 288"),
        "{}",
        out.stdout
    );
    // With XINFO the same stream is known never to have lost an entry.
    let out = run(pe(h).args(["--date", DAY, "--redis-url"]).arg(redis.url()));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
}

#[test]
fn a_blocked_output_publishes_nothing_and_the_next_run_repairs() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, &[DAY]);
    let out = run(pe(h).args(["--sqlite", "ops.db", "--date", DAY]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let day_file = h.join("out/ops_atomic_20251030.parquet");
    let summary = h.join("rep/parquet_export_summary_20251030.md");
    let (old_day, old_summary) = (
        std::fs::read(&day_file).unwrap(),
        std::fs::read(&summary).unwrap(),
    );

    // A second archive whose day has rejects, and the rejects file's name blocked by a
    // directory; then the summary's picture blocked the same way.
    let other = tempfile::tempdir().unwrap();
    common::archive_of(other.path(), TZ, &[DAY], "ops-mini,ops-book", 3);
    std::fs::copy(other.path().join("ops.db"), h.join("ops2.db")).unwrap();
    for blocked in [
        "rep/ops_atomic_20251030.rejects.ndjson/x",
        "rep/parquet_export_summary_20251030.svg/x",
    ] {
        let dir = blocked.trim_end_matches("/x");
        let _ = std::fs::remove_file(h.join(dir));
        std::fs::create_dir_all(h.join(blocked)).unwrap();
        let out = run(pe(h).args(["--sqlite", "ops2.db", "--date", DAY]));
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert!(
            out.stderr
                .contains(&format!("{dir}: it is a directory; nothing was published")),
            "{}",
            out.stderr
        );
        assert_eq!(
            std::fs::read(&day_file).unwrap(),
            old_day,
            "the day file is the old one"
        );
        assert_eq!(
            std::fs::read(&summary).unwrap(),
            old_summary,
            "and so is its summary"
        );
        std::fs::remove_dir_all(h.join(dir)).unwrap();
    }
    let out = run(pe(h).args(["--sqlite", "ops2.db", "--date", DAY]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(rows_in(&day_file), 576);
    assert!(h.join("rep/ops_atomic_20251030.rejects.ndjson").is_file());
}

#[test]
fn a_day_over_the_size_target_is_published_with_a_warning() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // 1,000 hosts make a day of about 5.5 MB.
    let hosts: Vec<String> = (1..=1000).map(|i| format!("host-{i:04}")).collect();
    common::archive_of(h, "UTC", &[DAY], &hosts.join(","), 0);
    let export = |extra: &[&str]| {
        run(common::export_cmd(h, "UTC")
            .args(["--sqlite", "ops.db", "--date", DAY])
            .args(extra))
    };
    let out = export(&[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let summary =
        std::fs::read_to_string(h.join("rep/parquet_export_summary_20251030.md")).unwrap();
    assert!(summary.contains("(over the 5 MB target)"), "{summary}");
    let out = run(exporter(h).args(["verify", "out"]));
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("MB (5"), "{}", out.stdout);
    assert!(
        out.stdout.contains("(over the 5 MB target)"),
        "{}",
        out.stdout
    );
    // A hard limit stays available when asked for, and names its flag.
    let out = run(exporter(h).args(["verify", "out", "--max-size", "5"]));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("limit set by --max-size"),
        "{}",
        out.stdout
    );
    let out = export(&["--max-size", "5"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("limit set by --max-size"),
        "{}",
        out.stderr
    );
}

/// Runs `code` in the test Python (pyarrow), failing the test if it fails.
fn pyarrow(code: &str) {
    common::run_ok(Command::new(common::python()).arg("-c").arg(format!(
        "import pyarrow as pa, pyarrow.parquet as pq\n{code}"
    )));
}

#[test]
fn catch_up_redoes_every_day_whose_file_verify_rejects() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let days = ["2025-10-27", "2025-10-28", "2025-10-29"];
    archive(h, &days);
    let out = run(pe(h).args(["--sqlite", "ops.db", "--from", days[0], "--to", days[2]]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let file = |d: &str| h.join(format!("out/ops_atomic_{}.parquet", d.replace('-', "")));
    // 10-29: another day's good file under its name (its footer is for 10-27).
    std::fs::copy(file(days[0]), file(days[2])).unwrap();
    // 10-27: no rows, the verdict forged to "complete".
    // 10-28: a wrong schema that says success.
    pyarrow(&format!(
        r#"
t = pq.read_table('{f27}')
meta = {{k: v for k, v in pq.read_metadata('{f27}').metadata.items() if k != b'ARROW:schema'}}
meta[b'ops_atomic.verdict'] = b'complete'
meta[b'ops_atomic.rows'] = b'0'
pq.write_table(t.slice(0, 0).replace_schema_metadata(meta), '{f27}', compression='snappy')
other = pa.table({{'record_id': ['x'], 'n': [1]}}).replace_schema_metadata({{
    'ops_atomic.schema_version': '1', 'ops_atomic.day': '2025-10-28',
    'ops_atomic.timezone': '{TZ}', 'ops_atomic.verdict': 'success', 'ops_atomic.rows': '1'}})
pq.write_table(other, '{f28}', compression='snappy')
"#,
        f27 = file(days[0]).display(),
        f28 = file(days[1]).display(),
    ));
    let out = run(pe(h).args([
        "--sqlite",
        "ops.db",
        "--catch-up",
        "--today",
        "2025-10-30",
        "--json",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let redone: Vec<&str> = doc["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["day"].as_str().unwrap())
        .collect();
    assert_eq!(redone, days, "{}", out.stderr);
    let verify = run(exporter(h).args(["verify", "out"]));
    assert_eq!(verify.code, 0, "{}", verify.stdout);
    for d in days {
        assert_eq!(rows_in(&file(d)), 288);
    }
}

#[test]
fn small_hostile_parquet_files_fail_within_bounded_memory() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, &[DAY]);
    let out = run(pe(h).args(["--sqlite", "ops.db", "--date", DAY]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    for d in ["bomb", "host", "groups"] {
        std::fs::create_dir_all(h.join(d)).unwrap();
    }
    // From the real day file: a record_id that is one 4 MB value in every row (dictionary-
    // encoded, so the file stays small; 1.15 GB once copied into each row), a 1 MB host in
    // every row, and 10,368 row groups. The long values are built as chunks sharing one buffer.
    pyarrow(&format!(
        r#"
src = '{day}'
meta = {{k: v for k, v in pq.read_metadata(src).metadata.items() if k != b'ARROW:schema'}}
t = pq.read_table(src)
n = t.num_rows
def put(name, value, path):
    i = t.schema.get_field_index(name)
    col = pa.chunked_array([pa.array([value])] * n)
    table = t.set_column(i, t.schema.field(i), col).replace_schema_metadata(meta)
    pq.write_table(table, path, compression='snappy', use_dictionary=True,
                   dictionary_pagesize_limit=64 << 20)
put('record_id', 'x' * 4_000_000, '{h}/bomb/ops_atomic_20251030.parquet')
put('host', 'h' * 1_000_000, '{h}/host/ops_atomic_20251030.parquet')
big = pa.concat_tables([t] * 36)
meta[b'ops_atomic.rows'] = str(big.num_rows).encode()
pq.write_table(big.replace_schema_metadata(meta), '{h}/groups/ops_atomic_20251030.parquet',
               compression='snappy', row_group_size=1)
"#,
        day = h.join("out/ops_atomic_20251030.parquet").display(),
        h = h.display(),
    ));
    let size = |d: &str| {
        std::fs::metadata(h.join(d).join("ops_atomic_20251030.parquet"))
            .unwrap()
            .len()
    };
    assert!(
        size("bomb") < 2_000_000,
        "the bomb is small: {}",
        size("bomb")
    );

    let (code, text, mb) = peak_rss_mb(h, &["verify", "bomb"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("Validation: FAILED"), "{text}");
    assert!(mb < 600, "verify took {mb} MB: {text}");

    let (code, text, mb) = peak_rss_mb(h, &["history", "host", "--days", "2"]);
    assert_eq!(code, 0, "{text}");
    assert!(mb < 200, "history took {mb} MB: {text}");

    let (code, text, mb) = peak_rss_mb(h, &["verify", "groups"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("row groups, over the") || text.contains("its footer is"),
        "{text}"
    );
    assert!(mb < 300, "verify took {mb} MB: {text}");

    // Catch-up treats such a file as a day to redo.
    std::fs::copy(
        h.join("bomb/ops_atomic_20251030.parquet"),
        h.join("out/ops_atomic_20251030.parquet"),
    )
    .unwrap();
    let out = run(pe(h).args(["--sqlite", "ops.db", "--catch-up", "--today", "2025-10-31"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(rows_in(&h.join("out/ops_atomic_20251030.parquet")), 288);
}

/// A "Redis" on loopback that answers every command with a reply it never finishes: a byte
/// every `every`. Each connection's thread ends when the client hangs up.
fn dripping_redis(every: Duration) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf);
                let mut byte: &[u8] = b"+";
                while s.write_all(byte).is_ok() {
                    byte = b"s";
                    std::thread::sleep(every);
                }
            });
        }
    });
    format!("redis://127.0.0.1:{port}")
}

#[test]
fn a_redis_that_drips_its_reply_is_unreachable_by_the_deadline() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, &[DAY]);
    let url = dripping_redis(Duration::from_millis(500));
    // The whole read's deadline.
    let started = Instant::now();
    let out = run_within(
        pe(h)
            .args(["--sqlite", "ops.db", "--date", DAY, "--redis-timeout", "3"])
            .env("PARQUET_EXPORTER_REDIS_URL", &url),
        Duration::from_secs(60),
    );
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(out.stdout.contains("--redis-timeout"), "{}", out.stdout);
    // Each reply's: 30 s, whatever the whole read may take.
    let started = Instant::now();
    let out = run_within(
        pe(h)
            .args([
                "--sqlite",
                "ops.db",
                "--date",
                DAY,
                "--redis-timeout",
                "600",
            ])
            .env("PARQUET_EXPORTER_REDIS_URL", &url),
        Duration::from_secs(90),
    );
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "{:?}",
        started.elapsed()
    );
    assert!(
        out.stdout.contains("no complete reply within 30 s"),
        "{}",
        out.stdout
    );
}

#[test]
fn running_out_of_file_descriptors_is_named_as_such() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, &[DAY]);
    let out = run(Command::new("bash")
        .arg("-c")
        .arg(r#"ulimit -n 8; exec "$PE" --sqlite ops.db --date 2025-10-30 --tz Asia/Bangkok --out-dir out --summary-dir rep"#)
        .env("PE", assert_cmd::cargo::cargo_bin("parquet-exporter"))
        .env("HOME", h)
        .current_dir(h));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("Too many open files"), "{}", out.stderr);
    assert!(!out.stderr.contains("failed its checks"), "{}", out.stderr);
}

#[test]
fn simulate_into_a_stream_with_later_entries_fails_in_one_line() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let redis = Redis::start();
    let sim = || {
        run(exporter(h)
            .args(["simulate", "--date", DAY, "--tz", TZ, "--redis-url"])
            .arg(redis.url()))
    };
    assert_eq!(sim().code, 0);
    let out = sim();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("already holds entries up to"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_config_file_with_a_password_that_others_can_read_is_named() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, &[DAY]);
    let config = h.join("pe.toml");
    std::fs::write(
        &config,
        "sqlite = \"ops.db\"\nredis_password = \"s3cret-pw\"\n",
    )
    .unwrap();
    let dry = || {
        run(pe(h)
            .args(["--date", DAY, "--dry", "--config"])
            .arg(&config))
    };
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = dry();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("other users can read it (mode 0644)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("chmod 600"), "{}", out.stderr);
    assert!(!out.stderr.contains("s3cret-pw"));
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = dry();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("chmod 600"), "{}", out.stderr);
}

#[test]
fn files_and_directories_follow_the_umask_alike() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, &[DAY]);
    for (umask, file, dir) in [
        ("077", 0o600, 0o700),
        ("027", 0o640, 0o750),
        ("022", 0o644, 0o755),
    ] {
        let out = run(Command::new("bash")
            .arg("-c")
            .arg(format!(r#"umask {umask}; exec "$PE" --sqlite ops.db --date 2025-10-30 --tz UTC --out-dir o{umask}/data --summary-dir o{umask}/rep"#))
            .env("PE", assert_cmd::cargo::cargo_bin("parquet-exporter"))
            .env("HOME", h)
            .current_dir(h));
        assert_eq!(out.code, 0, "{}", out.stderr);
        let mode = |p: &str| {
            std::fs::metadata(h.join(format!("o{umask}/{p}")))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("data"), dir, "umask {umask}");
        assert_eq!(mode("rep"), dir, "umask {umask}");
        assert_eq!(
            mode("data/ops_atomic_20251030.parquet"),
            file,
            "umask {umask}"
        );
        assert_eq!(
            mode("rep/parquet_export_summary_20251030.md"),
            file,
            "umask {umask}"
        );
    }
}

#[test]
fn a_partition_directory_replaced_by_a_link_is_not_written_through() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, &[DAY]);
    std::fs::create_dir_all(h.join("out")).unwrap();
    std::fs::create_dir_all(h.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink("../elsewhere", h.join("out/day=2025-10-30")).unwrap();
    let out = run(pe(h).args(["--sqlite", "ops.db", "--date", DAY, "--layout", "hive"]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("refusing to write through it"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read_dir(h.join("elsewhere")).unwrap().count(), 0);
}

/// Readers pointed at the out dir's root (issue "every reader works as shipped"): pyarrow's
/// dataset and DuckDB's `root/**` failed on the rejects file and the lock beside the day files.
/// The data tree now holds day files only, and an installation of an earlier version has its
/// rejects and lock moved out on its first run, which its summary says.
#[test]
fn the_data_tree_holds_day_files_only_and_old_installs_are_moved_out() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::archive_of(h, TZ, &["2025-10-29", DAY], "mini,book", 2);
    // What an earlier version left: rejects beside a day file, and its lock.
    std::fs::create_dir_all(h.join("out/day=2025-10-29")).unwrap();
    std::fs::write(
        h.join("out/day=2025-10-29/ops_atomic_20251029.rejects.ndjson"),
        "{}\n",
    )
    .unwrap();
    std::fs::write(h.join("out/.parquet-exporter.lock"), "123").unwrap();
    let out = run(pe(h).args([
        "--sqlite",
        "ops.db",
        "--layout",
        "hive",
        "--from",
        "2025-10-29",
        "--to",
        DAY,
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let data: Vec<String> = common::files_under(&h.join("out"));
    assert_eq!(
        data,
        [
            "day=2025-10-29/ops_atomic_20251029.parquet",
            "day=2025-10-30/ops_atomic_20251030.parquet"
        ]
    );
    assert!(h.join("rep/ops_atomic_20251029.rejects.ndjson").is_file());
    assert!(h.join("rep/ops_atomic_20251030.rejects.ndjson").is_file());
    let first = std::fs::read_to_string(h.join("rep/parquet_export_summary_20251029.md")).unwrap();
    assert!(first.contains("Moved out of the data directory"), "{first}");
    let second = std::fs::read_to_string(h.join("rep/parquet_export_summary_20251030.md")).unwrap();
    assert!(!second.contains("Moved out"), "{second}");

    let script = format!(
        r#"
import duckdb, pyarrow.dataset as ds
root = '{root}'
t = ds.dataset(root, format='parquet', partitioning='hive').to_table()
print(t.num_rows, sorted(set(t.column('day').to_pylist())))
print(duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{{root}}/**', hive_partitioning = true)").fetchone()[0])
"#,
        root = h.join("out").display()
    );
    let text = common::run_ok(Command::new(common::python()).arg("-c").arg(script));
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["1152 ['2025-10-29', '2025-10-30']", "1152"],
        "{text}"
    );
}

/// Operator truth: catch-up's exit status says what changed or failed in this run. A day
/// newly found empty is news (exit 4); re-checked and still empty, it is what it was (exit 0),
/// so one empty day does not fail the nightly job for the whole window.
#[test]
fn catch_up_does_not_fail_every_night_for_an_old_empty_day() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // 10-28 has no record at all.
    archive(h, &["2025-10-27", "2025-10-29"]);
    for d in ["2025-10-27", "2025-10-29"] {
        let out = run(pe(h).args(["--sqlite", "ops.db", "--date", d]));
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let catch_up = || {
        run(pe(h).args([
            "--sqlite",
            "ops.db",
            "--catch-up",
            "--today",
            "2025-10-30",
            "--json",
        ]))
    };
    let out = catch_up();
    assert_eq!(out.code, 4, "the hole is found empty: news. {}", out.stderr);
    let out = catch_up();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["days"][0]["day"], "2025-10-28", "{doc}");
    assert_eq!(
        doc["days"][0]["verdict"], "empty",
        "re-checked all the same: {doc}"
    );
}

/// Moving an older version's rejects out of the data tree loses and leaks nothing: a file
/// whose new name is taken stays where it was, a link is neither followed nor copied, a FIFO
/// does not block the run, and only what moved is reported as moved. The summary dir is on
/// another file system where the machine has one (/dev/shm), so the copy path runs too.
#[test]
fn moving_old_rejects_never_loses_or_leaks_a_file() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let shm = Path::new("/dev/shm");
    let rep_home = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let rep = rep_home.path();
    common::archive(h, TZ, &[DAY]);
    let out_dir = h.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let old = |d: &str| out_dir.join(format!("ops_atomic_{d}.rejects.ndjson"));
    // Moves: a plain old rejects file.
    std::fs::write(old("20251020"), "{\"old\":1}\n").unwrap();
    // Stays: its new name is a directory.
    std::fs::write(old("20251021"), "{\"old\":2}\n").unwrap();
    std::fs::create_dir_all(rep.join("ops_atomic_20251021.rejects.ndjson")).unwrap();
    // Neither followed nor copied: a link to a file the exporter can read.
    let secret = h.join("secret.txt");
    std::fs::write(&secret, "not for the summary dir").unwrap();
    std::os::unix::fs::symlink(&secret, old("20251022")).unwrap();
    // Never opened: a FIFO.
    mkfifo(&old("20251023"));

    let out = run_within(
        exporter(h)
            .args(["--tz", TZ, "--out-dir", "out", "--summary-dir"])
            .arg(rep)
            .args(["--sqlite", "ops.db", "--date", DAY]),
        Duration::from_secs(60),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(rep.join("ops_atomic_20251020.rejects.ndjson")).unwrap(),
        "{\"old\":1}\n"
    );
    assert!(!old("20251020").exists());
    assert_eq!(
        std::fs::read_to_string(old("20251021")).unwrap(),
        "{\"old\":2}\n"
    );
    assert!(std::fs::symlink_metadata(old("20251022"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::symlink_metadata(rep.join("ops_atomic_20251022.rejects.ndjson")).is_err());
    assert!(std::fs::symlink_metadata(old("20251023")).is_ok());
    let summary = std::fs::read_to_string(rep.join("parquet_export_summary_20251030.md")).unwrap();
    assert!(
        summary.contains("ops_atomic_20251020.rejects.ndjson"),
        "{summary}"
    );
    for stayed in ["20251021", "20251022", "20251023"] {
        assert!(
            !summary.contains(&format!("ops_atomic_{stayed}.rejects.ndjson")),
            "{stayed} reported as moved: {summary}"
        );
    }
    assert!(
        out.stderr.contains("left in the data tree"),
        "{}",
        out.stderr
    );
}
