//! Shared test fixtures: a private redis-server per test on a unix socket, the binary with a
//! clean environment, a private moto S3 server, and helpers to read an exported Parquet file back.
#![allow(dead_code)]

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use assert_cmd::cargo::CommandCargoExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::ParquetMetaData;
use tempfile::TempDir;

/// A redis-server of this test's own, on a unix socket in a temp dir, never on 6379. Stopped by
/// its PID when dropped.
pub struct Redis {
    child: Child,
    pub socket: PathBuf,
    _dir: TempDir,
}

impl Redis {
    pub fn start() -> Redis {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Redis {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("redis.sock");
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--save",
                "",
                "--appendonly",
                "no",
                "--unixsocket",
            ])
            .arg(&socket)
            .arg("--dir")
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install -y redis-server)");
        let mut redis = Redis {
            child,
            socket,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        // Until a connection is accepted: the socket file exists from bind(), a moment before
        // redis-server listens on it (a connection in that moment is refused).
        while std::os::unix::net::UnixStream::connect(&redis.socket).is_err() {
            if let Ok(Some(status)) = redis.child.try_wait() {
                panic!("redis-server exited at start: {status}");
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    pub fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    pub fn conn_with_password(&self, pw: &str) -> redis::Connection {
        redis::Client::open(format!("redis+unix://{}?pass={pw}", self.socket.display()))
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// XADD with an explicit entry ID and flat field/value pairs.
    pub fn xadd(conn: &mut redis::Connection, key: &str, id: &str, fields: &[(&str, &str)]) {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(key).arg(id);
        for (k, v) in fields {
            cmd.arg(*k).arg(*v);
        }
        let _: String = cmd.query(conn).unwrap();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ms` as the RFC 3339 text monitors write (`2025-10-30T12:00:00.007Z`).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The binary with none of the exporter's environment, HOME in `home` and no TZ, so nothing
/// from the machine running the tests leaks in.
pub fn exporter(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("parquet-exporter").unwrap();
    for (k, _) in std::env::vars() {
        if k.starts_with("PARQUET_EXPORTER_") || k == "TZ" || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", home).current_dir(home);
    cmd
}

/// The export command line most tests run, in `home`: `--tz TZ --out-dir out --summary-dir
/// rep`, to add the day, the sources and other flags to.
pub fn export_cmd(home: &Path, tz: &str) -> Command {
    let mut cmd = exporter(home);
    cmd.args(["--tz", tz, "--out-dir", "out", "--summary-dir", "rep"]);
    cmd
}

/// Runs `cmd` (a reader in Python, a shell), fails the test with its stderr if it fails, and
/// returns what it printed.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// All batches of a Parquet file, and its footer.
pub fn read_parquet(path: &Path) -> (Vec<RecordBatch>, ParquetMetaData) {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let meta = builder.metadata().as_ref().clone();
    let batches = builder
        .build()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (batches, meta)
}

/// Every file below `dir`, relative, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Creates the canonical table in a new SQLite file and runs `inserts`.
pub fn sqlite_db(path: &Path, inserts: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let ddl = Command::cargo_bin("parquet-exporter")
        .unwrap()
        .arg("sqlite-ddl")
        .output()
        .unwrap();
    assert!(ddl.status.success());
    conn.execute_batch(std::str::from_utf8(&ddl.stdout).unwrap())
        .unwrap();
    conn.execute_batch(inserts).unwrap();
}

/// Runs `cmd` (a Python reader) with `input` on its stdin; fails the test with its stderr if it
/// fails, and returns its stdout.
pub fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python with the readers (bash .ci/run installs them in target/ci-venv)");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The Python that has duckdb and pyarrow: `PARQUET_EXPORTER_TEST_PYTHON`, else the venv that
/// `.ci/run` makes, else `python3`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("PARQUET_EXPORTER_TEST_PYTHON") {
        return p.into();
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv/bin/python");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

/// A SQLite archive `ops.db` in `home` with a simulated day (288 beats) for each date in `tz`.
pub fn archive(home: &Path, tz: &str, dates: &[&str]) -> PathBuf {
    archive_of(home, tz, dates, "ops-mini", 0)
}

/// The same for the comma-separated `hosts` (288 beats each a day), with `bad` malformed
/// records a day.
pub fn archive_of(home: &Path, tz: &str, dates: &[&str], hosts: &str, bad: usize) -> PathBuf {
    for d in dates {
        let out = run(exporter(home)
            .args(["simulate", "--date", d, "--tz", tz, "--sqlite", "ops.db"])
            .args(["--hosts", hosts, "--bad", &bad.to_string()]));
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    home.join("ops.db")
}

/// Renders `svg` to a PNG with a real SVG renderer, and fails the test if it cannot.
pub fn render_svg(svg: &Path, png: &Path) {
    let render = Command::new("rsvg-convert")
        .arg("-o")
        .arg(png)
        .arg(svg)
        .output()
        .expect("rsvg-convert must be installed (apt-get install -y librsvg2-bin; .ci/run does)");
    assert!(
        render.status.success(),
        "{}",
        String::from_utf8_lossy(&render.stderr)
    );
    let bytes = std::fs::read(png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "rsvg-convert wrote no PNG");
}

/// The real files of the old exporter (`../shared/fixtures/legacy-02luka`), which CI puts beside
/// the checkout and a clone of the repository alone does not have (nor a run with
/// `PARQUET_EXPORTER_NO_SHARED=1`). `None` then: the test named `test` is skipped, and its name
/// goes to `target/skipped-tests.txt`, which `.ci/run` prints; the generated legacy files below
/// cover the same code.
pub fn shared_fixtures(test: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/legacy-02luka");
    if std::env::var_os("PARQUET_EXPORTER_NO_SHARED").is_none() && dir.is_dir() {
        return Some(dir);
    }
    eprintln!(
        "skipped {test}: no {} (a clone of the repository alone)",
        dir.display()
    );
    let list = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/skipped-tests.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(list)
    {
        use std::io::Write;
        let _ = writeln!(f, "{test}");
    }
    None
}

/// A legacy-format file, as the old exporter wrote it through DuckDB: every column a string but
/// `duration_ms`. Each row: filename, report_type, timestamp, status, duration_ms, then the five
/// checks.
pub fn write_legacy(path: &Path, rows: &[[&str; 10]]) {
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use std::sync::Arc;
    let names = [
        "filename",
        "report_type",
        "timestamp",
        "status",
        "duration_ms",
        "redis_status",
        "database_status",
        "api_status",
        "launchagent_optimizer",
        "launchagent_digest",
    ];
    let cols: Vec<(&str, ArrayRef)> = names
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let col: ArrayRef = if *name == "duration_ms" {
                Arc::new(Int64Array::from_iter(
                    rows.iter().map(|r| r[c].parse::<i64>().ok()),
                ))
            } else {
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r[c])))
            };
            (*name, col)
        })
        .collect();
    // Nullable columns, SNAPPY: as DuckDB wrote the old exporter's files.
    let batch =
        RecordBatch::try_from_iter_with_nullable(cols.into_iter().map(|(n, c)| (n, c, true)))
            .unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        File::create(path).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// The old exporter's beats, as its cumulative exports held them: one every 5 minutes from
/// `first_ms`, `n` of them, with its emoji statuses, string timestamps and report file names.
pub fn legacy_beats(first_ms: i64, n: usize) -> Vec<[String; 10]> {
    const STATUS: [&str; 3] = ["✅ HEALTHY", "⚠️  WARNINGS", "❌ CRITICAL"];
    (0..n)
        .map(|i| {
            let ms = first_ms + i as i64 * 300_000;
            let t = chrono::DateTime::from_timestamp_millis(ms).unwrap();
            [
                format!("heartbeat_{}.md", t.format("%Y-%m-%d_%H-%M-%S")),
                "heartbeat".into(),
                rfc3339(ms),
                STATUS[i * 7 % 3].into(),
                (60 + i % 50).to_string(),
                if i % 5 == 0 { "error" } else { "ok" }.into(),
                "ok".into(),
                if i % 3 == 0 { "warn" } else { "ok" }.into(),
                "loaded".into(),
                if i % 4 == 0 { "not_loaded" } else { "loaded" }.into(),
            ]
        })
        .collect()
}

/// `rows` written as a legacy export at `path`.
pub fn write_legacy_rows(path: &Path, rows: &[[String; 10]]) {
    let borrowed: Vec<[&str; 10]> = rows
        .iter()
        .map(|r| std::array::from_fn(|c| r[c].as_str()))
        .collect();
    write_legacy(path, &borrowed);
}

/// A heartbeat report as the old monitor wrote it (`heartbeat_<time>.md`).
pub fn legacy_report(ms: i64, status: &str) -> String {
    format!(
        "# OPS-Atomic Monitor Heartbeat\n\n**Timestamp:** {}\n**Status:** {status}\n**Duration:** 60ms\n\n---\n\n\
         ## Health Checks\n\n### Redis\n\n- **Status:** ✅ Redis responding\n\n### Database\n\n\
         - **Status:** ✅ Database file exists\n\n### API Endpoints\n\n- **API Health:** ⚠️ Endpoint not responding\n\n\
         ### LaunchAgents\n\n- **com.02luka.optimizer:** ✅ LaunchAgent loaded\n\
         - **com.02luka.digest:** ❌ LaunchAgent not loaded\n\n---\n\n*Generated by ops_atomic_monitor.cjs*\n",
        rfc3339(ms)
    )
}

/// The days of the reader and dashboard tests: 2025-10-28 to 2025-10-30.
pub const THREE_DAYS: [&str; 3] = ["2025-10-28", "2025-10-29", "2025-10-30"];

/// Three days of two hosts (`mini`, `book`; 288 beats each a day) with three malformed records
/// a day, archived in `home/ops.db` and exported under `root`: in the flat layout, or in the
/// hive layout by two instances (`a`, `b`) each exporting every day. Summaries and rejects go
/// to `home/rep…`, beside and not under the data tree.
pub fn export_three_days(home: &Path, root: &Path, hive: bool) {
    archive_of(home, "UTC", &THREE_DAYS, "mini,book", 3);
    let instances: &[&str] = if hive { &["a", "b"] } else { &[""] };
    for day in THREE_DAYS {
        for inst in instances {
            let mut cmd = exporter(home);
            cmd.args(["--date", day, "--tz", "UTC", "--sqlite", "ops.db"])
                .arg("--out-dir")
                .arg(root)
                .args(["--summary-dir", &format!("rep{inst}")]);
            if hive {
                cmd.args(["--layout", "hive", "--instance", inst]);
            }
            let out = run(&mut cmd);
            assert_eq!(out.code, 0, "{}", out.stderr);
        }
    }
}

/// Stand-ins for launchctl, systemctl and loginctl, which CI machines cannot run for a user: a
/// directory to put first on PATH, whose `launchctl print` and `systemctl --user
/// is-enabled/is-active` answer as the real ones do (exit status and words) for a schedule that
/// is loaded when `HOME/.schedule-loaded` exists and not otherwise (`enable`/`bootstrap` load
/// it), and whose `loginctl show-user` says `Linger=yes` when `HOME/.linger` exists. Every call is logged to
/// `HOME/.service-calls`, so a test can see what was asked.
pub fn service_manager(home: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = home.join(".fake-service-manager");
    std::fs::create_dir_all(&bin).unwrap();
    let scripts = [
        (
            "launchctl",
            r#"#!/bin/sh
echo "launchctl $*" >> "$HOME/.service-calls"
case "$1" in
  print)
    if [ -e "$HOME/.schedule-loaded" ]; then echo "$2 = {"; echo "	state = not running"; echo "}"; exit 0; fi
    echo "Could not find service \"${2##*/}\" in domain for user gui: $(id -u)" >&2; exit 113 ;;
  bootstrap) touch "$HOME/.schedule-loaded" ;;
  bootout) rm -f "$HOME/.schedule-loaded" ;;
esac
exit 0
"#,
        ),
        (
            "systemctl",
            r#"#!/bin/sh
echo "systemctl $*" >> "$HOME/.service-calls"
[ "$1" = --user ] && shift
case "$1" in
  is-enabled) if [ -e "$HOME/.schedule-loaded" ]; then echo enabled; exit 0; fi; echo disabled; exit 1 ;;
  is-active) if [ -e "$HOME/.schedule-loaded" ]; then echo active; exit 0; fi; echo inactive; exit 3 ;;
  enable) touch "$HOME/.schedule-loaded" ;;
  disable) rm -f "$HOME/.schedule-loaded" ;;
esac
exit 0
"#,
        ),
        (
            "loginctl",
            r#"#!/bin/sh
echo "loginctl $*" >> "$HOME/.service-calls"
if [ -e "$HOME/.linger" ]; then echo Linger=yes; else echo Linger=no; fi
"#,
        ),
    ];
    for (name, text) in scripts {
        let p = bin.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

/// PATH with `first` in front of this process's PATH.
pub fn path_with(first: &Path) -> std::ffi::OsString {
    let mut dirs = vec![first.to_path_buf()];
    if let Some(p) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(dirs).unwrap()
}

/// The bucket every `Moto` server starts with.
pub const MOTO_BUCKET: &str = "ops-data";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited at start: {status}");
        }
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A moto S3 server of this test's own (bucket `MOTO_BUCKET`), with IAM authentication: one user whose key may do
/// anything in S3, and the bucket. Stopped by its PID when dropped.
pub struct Moto {
    child: Child,
    pub port: u16,
    pub key_id: String,
    pub secret: String,
}

impl Moto {
    pub fn start() -> Moto {
        let port = free_port();
        let moto = python().with_file_name("moto_server");
        let program = if moto.exists() {
            moto
        } else {
            "moto_server".into()
        };
        let mut cmd = Command::new(program);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        Moto::start_as(cmd, port)
    }

    /// A moto server that handles one request at a time, as S3 applies a conditional write
    /// atomically: moto's threaded server checks `If-Match` and stores the object in two
    /// steps that two requests can interleave.
    pub fn start_serial() -> Moto {
        let port = free_port();
        let mut cmd = Command::new(python());
        cmd.arg("-c").arg(format!(
            r#"
import os
os.environ['MOTO_PORT'] = '{port}'
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
run_simple('127.0.0.1', {port}, DomainDispatcherApplication(create_backend_app), threaded=False, request_handler=MotoRequestHandler)
"#
        ));
        Moto::start_as(cmd, port)
    }

    fn start_as(mut cmd: Command, port: u16) -> Moto {
        let mut child = cmd
            // The first three requests (the IAM set-up below) are let through; from then on
            // every request must be signed with a key IAM knows.
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server (bash .ci/run installs moto[server] into its venv)");
        wait_for_port(port, &mut child, "moto_server");
        let out = py(
            port,
            "",
            "",
            r#"
iam = boto3.client('iam', endpoint_url=EP, region_name='us-east-1', aws_access_key_id='setup', aws_secret_access_key='setup')
iam.create_user(UserName='exporter')
k = iam.create_access_key(UserName='exporter')['AccessKey']
iam.put_user_policy(UserName='exporter', PolicyName='s3', PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': 's3:*', 'Resource': '*'}]}))
print(json.dumps([k['AccessKeyId'], k['SecretAccessKey']]))
"#,
        );
        let [key_id, secret]: [String; 2] = serde_json::from_str(out.trim()).unwrap();
        let moto = Moto {
            child,
            port,
            key_id,
            secret,
        };
        moto.py(&format!("s3.create_bucket(Bucket='{MOTO_BUCKET}')"));
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs Python with `s3` (boto3) and `fs` (pyarrow) bound to this server and key.
    pub fn py(&self, code: &str) -> String {
        py(self.port, &self.key_id, &self.secret, code)
    }

    /// The exporter, with the AWS environment pointing at `endpoint` (this server by default).
    pub fn exporter(&self, home: &Path, endpoint: &str) -> Command {
        let mut cmd = exporter(home);
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("AWS_ACCESS_KEY_ID", &self.key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", endpoint);
        cmd
    }

    pub fn object(&self, key: &str) -> Option<Vec<u8>> {
        let out = self.py(&format!(
            r#"
try:
    print(s3.get_object(Bucket='{MOTO_BUCKET}', Key='{key}')['Body'].read().hex())
except s3.exceptions.NoSuchKey:
    print('absent')
"#
        ));
        let out = out.trim();
        (out != "absent").then(|| {
            (0..out.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&out[i..i + 2], 16).unwrap())
                .collect()
        })
    }

    pub fn keys(&self) -> Vec<String> {
        let out = self.py(&format!(
            "print(json.dumps([o['Key'] for o in s3.list_objects_v2(Bucket='{MOTO_BUCKET}').get('Contents', [])]))"
        ));
        serde_json::from_str(out.trim()).unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn py(port: u16, key: &str, secret: &str, code: &str) -> String {
    let prelude = format!(
        r#"
import json, boto3
import pyarrow.fs
EP = 'http://127.0.0.1:{port}'
s3 = boto3.client('s3', endpoint_url=EP, region_name='us-east-1', aws_access_key_id='{key}', aws_secret_access_key='{secret}')
fs = pyarrow.fs.S3FileSystem(endpoint_override='127.0.0.1:{port}', scheme='http', access_key='{key}', secret_key='{secret}', region='us-east-1')
"#
    );
    run_ok(
        Command::new(python())
            .arg("-c")
            .arg(format!("{prelude}\n{code}")),
    )
}

/// Runs `cmd` and kills it if it has not finished after `limit`: a hang fails the test with
/// what the process printed instead of stalling the suite.
pub fn run_within(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?}: stderr {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

/// `parquet-exporter ARGS` in `home`, with its exit status, its output and its peak RSS in MB
/// (the child's own, as `getrusage` counts it in a Python parent of its own).
pub fn peak_rss_mb(home: &Path, args: &[&str]) -> (i32, String, u64) {
    peak_rss_mb_with(home, args, &[])
}

/// `peak_rss_mb` with `envs` set for the exporter, and nothing else of this process's
/// `PARQUET_EXPORTER_*` settings. The run has 300 s at most: a deadline, not a measure.
pub fn peak_rss_mb_with(home: &Path, args: &[&str], envs: &[(&str, &str)]) -> (i32, String, u64) {
    let mut cmd = Command::new(python());
    for (k, _) in std::env::vars() {
        if k.starts_with("PARQUET_EXPORTER_") || k == "TZ" || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .arg("-c")
        .arg(
            "import resource, subprocess, sys\n\
             r = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=300)\n\
             print(r.returncode)\n\
             print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)\n\
             print(r.stdout + r.stderr)",
        )
        .arg(assert_cmd::cargo::cargo_bin("parquet-exporter"))
        .args(args)
        .envs(envs.iter().copied())
        .env("HOME", home)
        .current_dir(home)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let code = lines.next().unwrap().parse().unwrap();
    let mb = lines.next().unwrap().parse().unwrap();
    (code, lines.collect::<Vec<_>>().join("\n"), mb)
}

/// The record ids of the day file at `path`.
pub fn record_ids(path: &Path) -> std::collections::BTreeSet<String> {
    use arrow::array::AsArray;
    let (batches, _) = read_parquet(path);
    let mut out = std::collections::BTreeSet::new();
    for b in batches {
        let col = b.column(b.schema().index_of("record_id").unwrap());
        let col = arrow::compute::cast(col, &arrow::datatypes::DataType::Utf8).unwrap();
        out.extend(
            col.as_string::<i32>()
                .iter()
                .map(|v| v.unwrap().to_string()),
        );
    }
    out
}

/// Starts `cmd` held at the named point of its run (src/pause.rs), and returns it once it is
/// there: to kill it at that step, or to change the world under it and let it go on by
/// removing `flag`. `None` when the run ended before the point (a run that publishes nothing
/// never reaches it).
pub fn hold_at(cmd: &mut Command, point: &str, flag: &Path) -> Option<Child> {
    let _ = std::fs::remove_file(flag);
    let mut child = cmd
        .env("PARQUET_EXPORTER_PAUSE_AT", point)
        .env("PARQUET_EXPORTER_PAUSE_FLAG", flag)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A deadline only so that a run that never gets there fails the test instead of hanging.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !flag.exists() {
        if child.try_wait().unwrap().is_some() {
            return None;
        }
        assert!(Instant::now() < deadline, "the run never reached {point}");
        std::thread::sleep(Duration::from_millis(10));
    }
    Some(child)
}

/// xorshift64, seeded: a random walk or kill order without a dependency, printed so that a
/// failing run can be replayed.
pub struct Rng(u64);

impl Rng {
    /// Seeded from the environment variable `var` when set (a replay), else from the clock;
    /// the seed is printed as `VAR=seed` and returned beside the generator.
    pub fn seeded(var: &str) -> (Rng, u64) {
        let seed = std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        println!("{var}={seed}");
        (Rng(seed), seed)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// The named points a run can be held at (src/pause.rs), in the order a run reaches them.
/// The day file is the first output renamed, so from `renamed-1` on it is the new one.
pub const PAUSE_POINTS: [&str; 6] = [
    "read",
    "written",
    "staged",
    "renamed-1",
    "renamed-2",
    "published",
];

/// A TCP proxy of the test's own, in a Python process on a free port of 127.0.0.1, in front of
/// the server on `target`: `up`, the test's Python function `up(c, s)`, decides what of the
/// client's bytes reach the server (`sys.argv[3:]` are its extra arguments); the server's
/// bytes go back as they are. Stopped by its PID when dropped.
pub struct Proxy {
    child: Child,
    pub port: u16,
}

const PROXY: &str = r#"
import socket, sys, threading, time
listen, target = int(sys.argv[1]), int(sys.argv[2])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('127.0.0.1', listen)); srv.listen(16)
def down(s, c):
    try:
        while True:
            d = s.recv(65536)
            if not d: break
            c.sendall(d)
    except OSError: pass
    try: c.shutdown(socket.SHUT_RDWR)
    except OSError: pass
UP
while True:
    c, _ = srv.accept()
    s = socket.create_connection(('127.0.0.1', target))
    threading.Thread(target=up, args=(c, s), daemon=True).start()
    threading.Thread(target=down, args=(s, c), daemon=True).start()
"#;

impl Proxy {
    pub fn start(up: &str, target: u16, extra: &[&std::ffi::OsStr]) -> Proxy {
        let port = free_port();
        let mut child = Command::new(python())
            .arg("-c")
            .arg(PROXY.replace("UP", up.trim()))
            .args([port.to_string(), target.to_string()])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(port, &mut child, "the proxy");
        Proxy { child, port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills the proxy: the endpoint dies under whatever it was forwarding.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A program found on PATH under the first of `names` there is (Debian calls node_exporter
/// `prometheus-node-exporter`, Homebrew `node_exporter`); the test fails with how to install
/// it otherwise.
pub fn program(names: &[&str], install: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names
        .iter()
        .flat_map(|n| std::env::split_paths(&path).map(move |dir| dir.join(n)))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{} must be installed ({install}; bash .ci/run does)",
                names.join(" or ")
            )
        })
}

/// A server of this test's own (node_exporter, Prometheus) on a free port of 127.0.0.1, its
/// output in a log file beside its data; stopped by its PID when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Server {
    /// Starts `cmd`, which listens on `port`, and waits until it accepts connections.
    pub fn start(cmd: &mut Command, port: u16, log: &Path, what: &str) -> Server {
        let out = File::create(log).unwrap();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {what}: {e}"));
        wait_for_port(port, &mut child, what);
        Server {
            child,
            port,
            log: log.to_path_buf(),
        }
    }

    /// The end of what it logged, for a failure's message.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// GET `path` of this server: the status and the body.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.port, path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` from 127.0.0.1:`port` over HTTP/1.0 (a whole body, no chunks): the status and
/// the body.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_string())
}

/// node_exporter with only its textfile collector, reading `dir`.
pub fn node_exporter(dir: &Path, log: &Path) -> Server {
    let bin = program(
        &["node_exporter", "prometheus-node-exporter"],
        "apt-get install -y prometheus-node-exporter, or brew install node_exporter",
    );
    let port = free_port();
    Server::start(
        Command::new(bin)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--collector.disable-defaults")
            .arg("--collector.textfile")
            .arg(format!("--collector.textfile.directory={}", dir.display())),
        port,
        log,
        "node_exporter",
    )
}

/// Prometheus with `config`, its data in `data`.
pub fn prometheus(config: &Path, data: &Path, log: &Path) -> Server {
    let bin = program(
        &["prometheus"],
        "apt-get install -y prometheus, or brew install prometheus",
    );
    let port = free_port();
    Server::start(
        Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}")),
        port,
        log,
        "prometheus",
    )
}
