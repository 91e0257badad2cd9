//! A newcomer's first hour: defaults where a user expects them, and messages that name the
//! fix, each in the words a person reads.

use crate::common;

use common::{archive, exporter, run};

/// `verify` with no PATH checks the out dir, as `history` does; both say when that folder is
/// not there and how to name one.
#[test]
fn verify_and_history_default_to_the_out_dir_and_say_when_it_is_missing() {
    let home = tempfile::tempdir().unwrap();
    for cmd in ["verify", "history"] {
        let out = run(exporter(home.path()).arg(cmd));
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
        assert!(
            out.stderr
                .contains(&format!("`parquet-exporter {cmd} DIR`")),
            "{}",
            out.stderr
        );
    }
    let missing = run(exporter(home.path()).args(["history", "nothere"]));
    assert!(
        missing
            .stderr
            .contains("nothere does not exist: pass the folder"),
        "{}",
        missing.stderr
    );

    archive(home.path(), "UTC", &["2025-10-30"]);
    let export = run(exporter(home.path()).args([
        "--tz",
        "UTC",
        "--sqlite",
        "ops.db",
        "--date",
        "2025-10-30",
    ]));
    assert_eq!(export.code, 0, "{}", export.stderr);
    let verify = run(exporter(home.path()).arg("verify"));
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    assert!(
        verify.stdout.contains("ops_atomic_20251030.parquet"),
        "{}",
        verify.stdout
    );
}

/// A file that is not there is one line, not a report of unreadable fields.
#[test]
fn verify_of_a_missing_file_is_one_line() {
    let home = tempfile::tempdir().unwrap();
    let out = run(exporter(home.path()).args(["verify", "nothere.parquet"]));
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr.trim_end(),
        "parquet-exporter: error: nothere.parquet: no such file or directory"
    );
}
