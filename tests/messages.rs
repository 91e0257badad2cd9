//! Error messages a person can act on: each names what failed (the path, the table, the
//! bucket) in one line, found by hostile testing.

use crate::common;

use common::{exporter, run};

/// Standard output redirected to a full disk fails the run, saying it was standard output
/// (and not a bare "No space left on device" that points at no file).
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_under_standard_output_names_it() {
    let home = tempfile::tempdir().unwrap();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = run(exporter(home.path()).arg("schema").stdout(full));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("writing standard output: No space left on device"),
        "{}",
        out.stderr
    );
}
