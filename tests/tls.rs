//! rediss://: the exporter reads a stream over TLS from a private redis-server, trusting a CA
//! that the test makes with openssl, and refuses a server it cannot verify.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{exporter, run, Redis};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed (apt-get install -y openssl; .ci/run does)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it.
fn certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        dir,
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=parquet-exporter test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_tls_stream_is_read_with_a_trusted_ca_and_refused_without() {
    let home = tempfile::tempdir().unwrap();
    certificates(home.path());
    let port = free_port().to_string();
    let file = |n: &str| home.path().join(n).display().to_string();
    let _redis = Redis::start_with(&[
        "--bind",
        "127.0.0.1",
        "--tls-port",
        &port,
        "--tls-cert-file",
        &file("server.pem"),
        "--tls-key-file",
        &file("server.key"),
        "--tls-ca-cert-file",
        &file("ca.pem"),
        "--tls-auth-clients",
        "no",
    ]);
    let url = format!("rediss://127.0.0.1:{port}");
    let sim = run(exporter(home.path()).args([
        "simulate",
        "--date",
        "2025-10-30",
        "--tz",
        "UTC",
        "--redis-url",
        &url,
        "--redis-ca-file",
        "ca.pem",
    ]));
    assert_eq!(sim.code, 0, "{}", sim.stderr);

    let export = |ca: Option<&str>| {
        let mut cmd = exporter(home.path());
        cmd.args([
            "--date",
            "2025-10-30",
            "--tz",
            "UTC",
            "--json",
            "--out-dir",
            "out",
            "--summary-dir",
            "rep",
        ])
        .env("PARQUET_EXPORTER_REDIS_URL", &url);
        if let Some(ca) = ca {
            cmd.env("PARQUET_EXPORTER_REDIS_CA_FILE", ca);
        }
        run(&mut cmd)
    };
    let out = export(Some("ca.pem"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["rows"], 288);
    assert_eq!(v["sources"][0]["name"], "redis");

    // The system's trust store does not know the test CA: the server cannot be verified.
    let out = export(None);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.to_lowercase().contains("certificate"),
        "{}",
        out.stderr
    );
}
