//! Day files in a bucket, against a real S3-compatible server: moto in server mode on
//! 127.0.0.1 on a free port, with authentication on (its IAM checks every request's signature),
//! stopped by its PID. Objects are read back with pyarrow's S3FileSystem and checked with boto3.
//! Also the hive layout in a local directory, read by DuckDB as one partitioned table.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{exporter, free_port, python, run, Moto, Output};
use serde_json::Value;

const TZ: &str = "UTC";
const DAYS: [&str; 2] = ["2025-10-29", "2025-10-30"];
const BUCKET: &str = common::MOTO_BUCKET;
const SESSION_TOKEN: &str = "Tok3n-session/+=secret-value";

fn simulate(home: &Path) {
    common::archive_of(home, TZ, &DAYS, "mini,book", 2);
}

fn export(cmd: &mut Command, day: &str, out_dir: &str, extra: &[&str]) -> Output {
    run(cmd
        .args([
            "--date",
            day,
            "--tz",
            TZ,
            "--sqlite",
            "ops.db",
            "--out-dir",
            out_dir,
        ])
        .args(["--summary-dir", "summaries"])
        .args(extra))
}

/// Every text a run leaves for people to read: stdout, stderr and the summaries.
fn texts(home: &Path, out: &Output) -> Vec<String> {
    let mut all = vec![out.stdout.clone(), out.stderr.clone()];
    if let Ok(rd) = std::fs::read_dir(home.join("summaries")) {
        for e in rd.flatten() {
            all.push(std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    all
}

fn assert_no_secret(moto: &Moto, home: &Path, out: &Output) {
    for text in texts(home, out) {
        for secret in [moto.secret.as_str(), SESSION_TOKEN] {
            assert!(!text.contains(secret), "a secret was printed: {text}");
        }
    }
}

#[test]
fn export_to_a_bucket_in_hive_layout_reads_back_with_pyarrow_and_verifies() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    simulate(h);
    let prefix = format!("s3://{BUCKET}/fleet");
    for day in DAYS {
        let out = export(
            moto.exporter(h, &moto.endpoint()).args(["-vv", "--json"]),
            day,
            &prefix,
            &["--layout", "hive", "--instance", "site-a"],
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        let doc: Value = serde_json::from_str(&out.stdout).unwrap();
        let key = format!(
            "fleet/instance=site-a/day={day}/ops_atomic_{}.parquet",
            day.replace('-', "")
        );
        assert_eq!(doc["parquet"], format!("s3://{BUCKET}/{key}"));
        assert_no_secret(&moto, h, &out);
    }
    let keys = moto.keys();
    assert_eq!(
        keys,
        vec![
            "fleet/instance=site-a/day=2025-10-29/ops_atomic_20251029.parquet",
            "fleet/instance=site-a/day=2025-10-30/ops_atomic_20251030.parquet",
        ],
        "day files only: no rejects, summary, temp or lock object"
    );
    assert!(
        !h.join("s3:").exists(),
        "nothing was written to a local directory named s3:"
    );

    // An independent reader: pyarrow over S3, the schema, the rows and the footer.
    let got = moto.py(&format!(
        r#"
import pyarrow.parquet as pq
f = pq.ParquetFile('{BUCKET}/fleet/instance=site-a/day=2025-10-30/ops_atomic_20251030.parquet', filesystem=fs)
t = f.read()
kv = {{k.decode(): v.decode() for k, v in f.metadata.metadata.items()}}
print(json.dumps({{'rows': t.num_rows, 'ts': str(t.schema.field('timestamp').type),
  'hosts': sorted(set(t.column('host').to_pylist())), 'day': kv['ops_atomic.day'],
  'instance': kv.get('ops_atomic.instance'), 'codec': f.metadata.row_group(0).column(0).compression}}))
"#
    ));
    let got: Value = serde_json::from_str(got.trim()).unwrap();
    assert_eq!(got["rows"], 576);
    assert_eq!(got["ts"], "timestamp[ms, tz=UTC]");
    assert_eq!(got["hosts"], serde_json::json!(["book", "mini"]));
    assert_eq!(got["day"], "2025-10-30");
    assert_eq!(got["instance"], "site-a");
    assert_eq!(got["codec"], "SNAPPY");

    // verify over the bucket prefix checks every day file there.
    let out = run(moto
        .exporter(h, &moto.endpoint())
        .args(["verify", "--json", &prefix]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let files: Vec<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        vec![
            format!(
                "s3://{BUCKET}/fleet/instance=site-a/day=2025-10-29/ops_atomic_20251029.parquet"
            ),
            format!(
                "s3://{BUCKET}/fleet/instance=site-a/day=2025-10-30/ops_atomic_20251030.parquet"
            ),
        ]
    );
    // A corrupt object fails verify.
    moto.py(&format!(
        "s3.put_object(Bucket='{BUCKET}', Key='fleet/instance=site-a/day=2025-10-28/ops_atomic_20251028.parquet', Body=b'PAR1 not really')"
    ));
    let out = run(moto.exporter(h, &moto.endpoint()).args(["verify", &prefix]));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("Validation: FAILED"), "{}", out.stdout);
}

#[test]
fn catch_up_lists_the_bucket_and_fills_only_the_missing_day() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    simulate(h);
    let prefix = format!("s3://{BUCKET}/flat");
    for day in DAYS {
        let out = export(&mut moto.exporter(h, &moto.endpoint()), day, &prefix, &[]);
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let first = "flat/ops_atomic_20251029.parquet";
    let second = "flat/ops_atomic_20251030.parquet";
    let kept = moto.object(first).unwrap();
    moto.py(&format!(
        "s3.delete_object(Bucket='{BUCKET}', Key='{second}')"
    ));
    assert_eq!(moto.object(second), None);

    let out = run(moto
        .exporter(h, &moto.endpoint())
        .args([
            "--catch-up",
            "--today",
            "2025-10-31",
            "--tz",
            TZ,
            "--sqlite",
            "ops.db",
        ])
        .args(["--out-dir", &prefix, "--summary-dir", "summaries", "--json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let days: Vec<&str> = doc["days"]
        .as_array()
        .unwrap_or_else(|| panic!("{doc}"))
        .iter()
        .map(|d| d["day"].as_str().unwrap())
        .collect();
    assert_eq!(days, vec!["2025-10-30"], "only the missing day is exported");
    assert!(moto.object(second).is_some());
    assert_eq!(
        moto.object(first).unwrap(),
        kept,
        "the complete day is untouched"
    );
}

#[test]
fn bad_credentials_a_missing_bucket_or_no_server_fail_clearly_and_write_nothing() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    simulate(h);
    let day = DAYS[0];
    let unreachable = format!("http://127.0.0.1:{}", free_port());
    let cases: Vec<(&str, Command, String, &str)> = vec![
        (
            "wrong secret",
            {
                let mut c = moto.exporter(h, &moto.endpoint());
                c.env("AWS_SECRET_ACCESS_KEY", "Wr0ng-Secret-Key-123");
                c
            },
            format!("s3://{BUCKET}/x"),
            "SignatureDoesNotMatch",
        ),
        (
            "missing bucket",
            moto.exporter(h, &moto.endpoint()),
            "s3://no-such-bucket/x".to_string(),
            "bucket no-such-bucket does not exist",
        ),
        (
            "unreachable endpoint",
            {
                // moto checks session tokens, so only where no server answers can one be
                // given and looked for in the output.
                let mut c = moto.exporter(h, &unreachable);
                c.env("AWS_SESSION_TOKEN", SESSION_TOKEN);
                c
            },
            format!("s3://{BUCKET}/x"),
            "error sending request",
        ),
    ];
    for (what, mut cmd, url, says) in cases {
        let started = Instant::now();
        let out = export(cmd.arg("-vv"), day, &url, &[]);
        assert_eq!(out.code, 1, "{what}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{what}: {}", out.stderr);
        assert!(
            out.stderr.contains(&url),
            "{what} names the destination: {}",
            out.stderr
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what} took {:?}",
            started.elapsed()
        );
        assert_no_secret(&moto, h, &out);
        assert!(
            !out.stderr.contains("Wr0ng-Secret-Key-123"),
            "{}",
            out.stderr
        );
        let written: Vec<String> = std::fs::read_dir(h.join("summaries"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with(".parquet-exporter.lock"))
                    .collect()
            })
            .unwrap_or_default();
        assert!(written.is_empty(), "{what} wrote {written:?}");
    }
    assert!(moto.keys().is_empty(), "nothing reached the bucket");
}

/// Where `one_day_in_the_bucket` puts its day.
const FLAT_KEY: &str = "flat/ops_atomic_20251030.parquet";

/// A home with the simulated days, and the second one exported to `s3://ops-data/flat`: the
/// home, that URL and the object's bytes.
fn one_day_in_the_bucket(moto: &Moto) -> (tempfile::TempDir, String, Vec<u8>) {
    let home = tempfile::tempdir().unwrap();
    simulate(home.path());
    let url = format!("s3://{BUCKET}/flat");
    let out = export(
        &mut moto.exporter(home.path(), &moto.endpoint()),
        DAYS[1],
        &url,
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let bytes = moto.object(FLAT_KEY).unwrap();
    (home, url, bytes)
}

/// A proxy in front of moto (`common::Proxy`) that forwards everything until the
/// exporter's upload of a `.parquet` object is under way, then stalls and says so in
/// `marker`, so that the test can kill it mid-upload.
const STALLING_UP: &str = r#"
def up(c, s):
    marker = sys.argv[3]
    buf = b''
    try:
        while True:
            d = c.recv(65536)
            if not d: break
            start = len(buf); buf += d
            at = buf.find(b'PUT /')
            head_end = buf.find(b'\r\n\r\n', at) if at >= 0 else -1
            if at >= 0 and head_end >= 0 and b'.parquet' in buf[at:buf.find(b'\r\n', at)]:
                stop = head_end + 4 + 100
                if stop > start:
                    s.sendall(buf[start:stop])
                open(marker, 'w').write('stalled')
                while True: time.sleep(1)
            s.sendall(d)
    except OSError: pass
"#;

#[test]
fn the_endpoint_killed_mid_upload_leaves_the_previous_object_and_no_upload_behind() {
    let moto = Moto::start();
    let (home, url, before) = one_day_in_the_bucket(&moto);
    let h = home.path();
    let (day, key) = (DAYS[1], FLAT_KEY);
    let summary = h.join("summaries/parquet_export_summary_20251030.md");
    let summary_before = std::fs::read(&summary).unwrap();

    // More records for the day, so that a new file would differ from the one in the bucket.
    let more = run(exporter(h).args([
        "simulate", "--date", day, "--tz", TZ, "--hosts", "third", "--sqlite", "ops.db",
    ]));
    assert_eq!(more.code, 0, "{}", more.stderr);

    let marker: PathBuf = h.join("stalled");
    let mut proxy = common::Proxy::start(STALLING_UP, moto.port, &[marker.as_os_str()]);
    let mut cmd = moto.exporter(h, &proxy.endpoint());
    cmd.args([
        "--date",
        day,
        "--tz",
        TZ,
        "--sqlite",
        "ops.db",
        "--out-dir",
        &url,
    ])
    .args(["--summary-dir", "summaries"])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let run_ = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "the upload never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The endpoint dies with the upload half sent.
    proxy.stop();
    let out = run_.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("uploading s3://ops-data/flat/ops_atomic_20251030.parquet"),
        "{stderr}"
    );

    assert_eq!(
        moto.object(key).unwrap(),
        before,
        "the previous object is intact"
    );
    let pending = moto.py(&format!(
        "print(len(s3.list_multipart_uploads(Bucket='{BUCKET}').get('Uploads', [])))"
    ));
    assert_eq!(pending.trim(), "0", "no multipart upload is left pending");
    assert_eq!(
        std::fs::read(&summary).unwrap(),
        summary_before,
        "the failed run published no summary"
    );
    let leftovers: Vec<String> = std::fs::read_dir(h.join("summaries"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_local_hive_layout_reads_as_one_partitioned_table_in_duckdb() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    simulate(h);
    // One out dir holds one scheme: the instance's tree is a folder of its own.
    for day in DAYS {
        for (dir, extra) in [
            ("hive", &["--layout", "hive"][..]),
            ("hive-b", &["--layout", "hive", "--instance", "b"][..]),
        ] {
            let out = export(&mut exporter(h), day, dir, extra);
            assert_eq!(out.code, 0, "{}", out.stderr);
        }
    }
    assert!(h
        .join("hive/day=2025-10-30/ops_atomic_20251030.parquet")
        .exists());
    assert!(h
        .join("hive-b/instance=b/day=2025-10-30/ops_atomic_20251030.parquet")
        .exists());
    let out = Command::new(python())
        .arg("-c")
        .arg(
            r#"
import duckdb, json, sys
d = sys.argv[1]
one = duckdb.sql(f"SELECT day, count(*) AS n FROM read_parquet('{d}/day=*/*.parquet', hive_partitioning = true) GROUP BY day ORDER BY day").fetchall()
types = {r[0]: r[1] for r in duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{d}/day=*/*.parquet', hive_partitioning = true)").fetchall()}
inst = duckdb.sql(f"SELECT instance, count(*) FROM read_parquet('{sys.argv[2]}/instance=*/day=*/*.parquet', hive_partitioning = true) GROUP BY ALL").fetchall()
print(json.dumps({'days': [[str(a), b] for a, b in one], 'day_type': types['day'], 'ts_type': types['timestamp'], 'instances': inst}))
"#,
        )
        .arg(h.join("hive"))
        .arg(h.join("hive-b"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        got["days"],
        serde_json::json!([["2025-10-29", 576], ["2025-10-30", 576]])
    );
    assert_eq!(got["day_type"], "DATE");
    assert_eq!(got["ts_type"], "TIMESTAMP WITH TIME ZONE");
    assert_eq!(got["instances"], serde_json::json!([["b", 1152]]));

    // verify and catch-up understand the hive directories too.
    let out = run(exporter(h).args(["verify", "hive"]));
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(
        out.stdout.matches("  Validation: OK").count(),
        2,
        "{}",
        out.stdout
    );
    std::fs::remove_file(h.join("hive/day=2025-10-30/ops_atomic_20251030.parquet")).unwrap();
    // A killed run's temp file in a partition directory is cleaned by the next run.
    let stale = h.join("hive/day=2025-10-29/.ops_atomic_20251029.parquet.x1y2z3.tmp");
    std::fs::write(&stale, b"half a file").unwrap();
    let out = run(exporter(h)
        .args([
            "--catch-up",
            "--today",
            "2025-10-31",
            "--tz",
            TZ,
            "--sqlite",
            "ops.db",
        ])
        .args([
            "--out-dir",
            "hive",
            "--summary-dir",
            "summaries",
            "--layout",
            "hive",
            "--json",
        ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["days"].as_array().unwrap().len(), 1, "{doc}");
    assert!(
        h.join("hive/day=2025-10-30/ops_atomic_20251030.parquet")
            .exists(),
        "catch-up exported the missing day again"
    );
    assert!(
        !stale.exists(),
        "the stale temp file in day=2025-10-29/ is gone"
    );
}

#[test]
fn a_partial_run_keeps_the_fuller_object_unless_forced() {
    let moto = Moto::start();
    let (home, url, full) = one_day_in_the_bucket(&moto);
    let h = home.path();
    let (day, key) = (DAYS[1], FLAT_KEY);

    // A smaller archive and an unreachable Redis: a partial run with half the rows.
    let small = tempfile::tempdir().unwrap();
    common::archive_of(small.path(), TZ, &[day], "mini", 0);
    let partial = |force: bool| {
        let mut cmd = moto.exporter(h, &moto.endpoint());
        cmd.args(["--date", day, "--tz", TZ, "--json", "--out-dir", &url])
            .args(["--summary-dir", "summaries"])
            .arg("--sqlite")
            .arg(small.path().join("ops.db"))
            .env("PARQUET_EXPORTER_REDIS_URL", "redis://127.0.0.1:1");
        if force {
            cmd.arg("--force");
        }
        run(&mut cmd)
    };
    let out = partial(false);
    assert_eq!(out.code, 3, "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["kept_existing"]["rows"], 576, "{doc}");
    assert_eq!(moto.object(key).unwrap(), full, "the fuller object is kept");

    let out = partial(true);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_ne!(moto.object(key).unwrap(), full, "--force replaces it");
}

/// Hostile round two: a prefix is stored under the key typed, whatever its characters, and
/// catch-up finds the files there afterwards.
#[test]
fn a_prefix_is_stored_exactly_as_typed() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    simulate(h);
    for typed in ["données", "ops/a\\b", "50%/x+y"] {
        let prefix = format!("s3://{BUCKET}/{typed}");
        let out = export(
            &mut moto.exporter(h, &moto.endpoint()),
            DAYS[0],
            &prefix,
            &[],
        );
        assert_eq!(out.code, 0, "{typed}: {}", out.stderr);
        let key = format!("{typed}/ops_atomic_20251029.parquet");
        assert!(
            moto.keys().contains(&key),
            "{typed}: {:?} lacks {key}",
            moto.keys()
        );
        let out = run(moto
            .exporter(h, &moto.endpoint())
            .args(["--catch-up", "--today", "2025-10-30", "--tz", TZ])
            .args(["--sqlite", "ops.db", "--out-dir", &prefix])
            .args(["--summary-dir", "summaries", "--json"]));
        assert_eq!(out.code, 0, "{typed}: {}", out.stderr);
        let doc: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(
            doc["days"],
            serde_json::json!([]),
            "{typed}: found, not redone: {doc}"
        );
    }
    // What no key can hold, or no listing can find, is refused, and says why.
    for bad in ["a\u{1}b", "~ops", "x y", "a*"] {
        let out = export(
            &mut moto.exporter(h, &moto.endpoint()),
            DAYS[0],
            &format!("s3://{BUCKET}/{bad}"),
            &[],
        );
        assert_eq!(out.code, 2, "{bad:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("cannot be an s3:// prefix"),
            "{bad:?}: {}",
            out.stderr
        );
    }
}

/// An endpoint that accepts connections and never answers fails the run within the request
/// timeout the README states (30 s), not the two minutes it once took.
#[test]
fn a_silent_endpoint_fails_within_the_request_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts and holds every connection, reading nothing, for as long as the test runs.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::archive(h, TZ, &[DAYS[0]]);
    let mut cmd = exporter(h);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret-example-key")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"));
    let started = std::time::Instant::now();
    let out = export(&mut cmd, DAYS[0], &format!("s3://{BUCKET}/x"), &[]);
    let took = started.elapsed();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        took < std::time::Duration::from_secs(50),
        "took {took:?}: {}",
        out.stderr
    );
}
