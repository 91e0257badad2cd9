//! Two machines, one bucket: exporters with separate homes (summary dirs, locks) write the
//! same day and instance to one prefix. A day object only grows there too: each writes by a
//! conditional PUT, reads and merges again when the other got there first, and claims only
//! what the object holds.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{run, Moto, Output, MOTO_BUCKET as BUCKET};

const DAY: &str = "2025-10-25";
const KEY: &str = "fleet/ops_atomic_20251025.site.parquet";

/// A machine: its own home with a SQLite archive of the day from its own two hosts.
fn machine(name: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let hosts = format!("{name}-1,{name}-2");
    common::archive_of(home.path(), "UTC", &[DAY], &hosts, 0);
    home
}

/// The export of the day from `home` to the shared prefix, as one instance.
fn export(moto: &Moto, home: &Path) -> Command {
    let mut cmd = moto.exporter(home, &moto.endpoint());
    cmd.args(["--date", DAY, "--tz", "UTC", "--sqlite", "ops.db"])
        .args([
            "--out-dir",
            &format!("s3://{BUCKET}/fleet"),
            "--summary-dir",
            "rep",
        ])
        .args(["--instance", "site", "--json", "-q"]);
    cmd
}

/// The record ids of the day object as it stands.
fn object_ids(moto: &Moto) -> BTreeSet<String> {
    let bytes = moto.object(KEY).expect("the day object is there");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("day.parquet");
    std::fs::write(&path, bytes).unwrap();
    common::record_ids(&path)
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr))
}

/// Both machines' records are in the object after any number of races, and `verify` passes.
#[test]
fn two_machines_racing_on_one_day_keep_every_record() {
    let moto = Moto::start_serial();
    let (a, b) = (machine("a"), machine("b"));
    let mut retried = 0;
    for round in 0..6 {
        let spawn = |home: &Path| {
            export(&moto, home)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (ca, cb) = (spawn(a.path()), spawn(b.path()));
        for (who, child) in [("a", ca), ("b", cb)] {
            let out = child.wait_with_output().unwrap();
            let out = Output {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            };
            assert_eq!(out.code, 0, "round {round}, machine {who}: {}", out.stderr);
            retried += u64::from(json(&out)["tries"].as_u64().unwrap() > 1);
        }
        assert_eq!(
            object_ids(&moto).len(),
            1152,
            "round {round}: 576 records of each machine"
        );
    }
    println!("{retried} of 12 runs read the object again after the other's write");
    let out = run(moto
        .exporter(a.path(), &moto.endpoint())
        .args(["verify", &format!("s3://{BUCKET}/fleet")]));
    assert_eq!(out.code, 0, "{}", out.stdout);
}

/// Another machine publishes the day between this run's read and its write: the conditional
/// PUT fails, the run reads the object again, carries the other's records over and writes
/// again; its report says it took two tries and whose records it carried.
#[test]
fn an_object_changed_between_read_and_write_is_read_again_and_merged() {
    let moto = Moto::start_serial();
    let (a, b) = (machine("a"), machine("b"));
    // Machine a stops after its read and before its upload.
    let flag = a.path().join("paused");
    let paused = common::hold_at(&mut export(&moto, a.path()), "staged", &flag)
        .expect("a reached its upload");
    // Meanwhile machine b publishes the day.
    let out = run(&mut export(&moto, b.path()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(object_ids(&moto).len(), 576);
    // Machine a goes on: its PUT expected no object, finds b's, and tries again.
    std::fs::remove_file(&flag).unwrap();
    let out = paused.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["tries"], 2, "{doc}");
    assert_eq!(doc["carried"], 576, "{doc}");
    assert!(doc["carried_from"].is_string(), "{doc}");
    assert!(
        doc["publication"]
            .as_str()
            .is_some_and(|p| p.contains("If-Match") && p.contains("try 2")),
        "{doc}"
    );
    assert_eq!(object_ids(&moto).len(), 1152);
    let summary =
        std::fs::read_to_string(a.path().join("rep/parquet_export_summary_20251025.md")).unwrap();
    assert!(
        summary.contains("| Published | by a conditional PUT (If-Match the version read), try 2 |"),
        "{summary}"
    );
}

/// A store configured without conditional writes gets a plain PUT, and every output says so.
#[test]
fn a_store_without_conditional_writes_is_said() {
    let moto = Moto::start_serial();
    let a = machine("a");
    let out = run(export(&moto, a.path()).env("AWS_CONDITIONAL_PUT", "disabled"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = json(&out);
    assert!(
        doc["publication"]
            .as_str()
            .is_some_and(|p| p.contains("plain PUT (AWS_CONDITIONAL_PUT=disabled)")),
        "{doc}"
    );
    let summary =
        std::fs::read_to_string(a.path().join("rep/parquet_export_summary_20251025.md")).unwrap();
    assert!(
        summary.contains("a second machine writing this prefix can overwrite"),
        "{summary}"
    );
}

/// A proxy in front of moto (`common::Proxy`) that answers any conditional PUT (`If-Match`,
/// `If-None-Match`) with 501, as S3-compatible stores without conditional writes do, and
/// forwards the rest.
const REFUSING_UP: &str = r#"
BODY = b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code><Message>A header you provided implies functionality that is not implemented</Message></Error>'
def up(c, s):
    buf = b''
    try:
        while True:
            d = c.recv(65536)
            if not d: break
            buf = (buf + d)[-65536:]
            at = buf.rfind(b'PUT /')
            end = buf.find(b'\r\n\r\n', at) if at >= 0 else -1
            head = buf[at:end].lower() if end >= 0 else b''
            if b'\r\nif-match:' in head or b'\r\nif-none-match:' in head:
                c.sendall(b'HTTP/1.1 501 Not Implemented\r\nContent-Type: application/xml\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' % len(BODY) + BODY)
                c.close(); s.close(); return
            s.sendall(d)
    except OSError: pass
"#;

/// A store that refuses conditional writes: the run fails naming the setting that makes it
/// write unconditionally, and with that setting it publishes, saying what it gave up.
#[test]
fn a_store_that_refuses_conditional_writes_names_the_setting() {
    let moto = Moto::start();
    let a = machine("a");
    let proxy = common::Proxy::start(REFUSING_UP, moto.port, &[]);
    let endpoint = proxy.endpoint();
    let through = |extra: Option<(&str, &str)>| {
        let mut cmd = moto.exporter(a.path(), &endpoint);
        cmd.args(["--date", DAY, "--tz", "UTC", "--sqlite", "ops.db"])
            .args([
                "--out-dir",
                &format!("s3://{BUCKET}/fleet"),
                "--summary-dir",
                "rep",
            ])
            .args(["--instance", "site", "--json"]);
        if let Some((k, v)) = extra {
            cmd.env(k, v);
        }
        run(&mut cmd)
    };
    let out = through(None);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("AWS_CONDITIONAL_PUT=disabled"),
        "{}",
        out.stderr
    );
    assert!(moto.object(KEY).is_none(), "nothing was published");
    let out = through(Some(("AWS_CONDITIONAL_PUT", "disabled")));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("can overwrite"), "{}", out.stderr);
    assert_eq!(object_ids(&moto).len(), 576);
}
