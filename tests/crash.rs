//! Crash safety: an export killed with SIGKILL at any step leaves the previous complete day
//! file or the new complete one, never a part, and the next run clears its temp files.

use crate::common;

use std::path::Path;
use std::process::Stdio;

use common::{exporter, files_under, run};

const DAY: &str = "2025-10-30";
const FILE: &str = "out/ops_atomic_20251030.parquet";

/// Two different archives of the same day, so that each run's file differs from the last.
fn archive(home: &Path, name: &str, prefix: &str) {
    let hosts: Vec<String> = (1..=12).map(|i| format!("{prefix}{i}")).collect();
    let out = run(exporter(home).args([
        "simulate",
        "--date",
        DAY,
        "--tz",
        "UTC",
        "--sqlite",
        name,
        "--hosts",
        &hosts.join(","),
        "--bad",
        "5",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// A forced export of `db`: each archive's run gives its own file, byte for byte, whatever
/// the file before it held.
fn export(home: &Path, db: &str) -> std::process::Command {
    let mut cmd = exporter(home);
    cmd.args([
        "--force",
        "--date",
        DAY,
        "--tz",
        "UTC",
        "-q",
        "--out-dir",
        "out",
        "--summary-dir",
        "rep",
    ])
    .args(["--sqlite", db])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    cmd
}

/// Temp files left in the out dir or the summary dir (the rejects and summary are staged there).
fn temps(home: &Path) -> Vec<String> {
    ["out", "rep"]
        .into_iter()
        .flat_map(|dir| files_under(&home.join(dir)))
        .filter(|f| f.ends_with(".tmp"))
        .collect()
}

/// Starts an export that stops at `point`, waits until it is there, and kills it with SIGKILL.
fn kill_at(h: &Path, db: &str, point: &str) {
    let mut child = common::hold_at(&mut export(h, db), point, &h.join("paused"))
        .unwrap_or_else(|| panic!("the run ended before reaching {point}"));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// A run killed with SIGKILL at each step of its progress, in a random order, leaves the
/// previous complete day file or the new one, never a part; the next run clears its temp
/// files and publishes. The kill points are the run's own, so the outcome of each kill is
/// known whatever the machine's load.
#[test]
fn kill_9_at_every_step_leaves_a_complete_file() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, "a.db", "a");
    archive(h, "b.db", "b");
    // The complete file of each archive (forced re-runs are byte-identical).
    let mut complete = Vec::new();
    for db in ["a.db", "b.db"] {
        assert!(export(h, db).status().unwrap().success());
        complete.push(std::fs::read(h.join(FILE)).unwrap());
    }
    assert_ne!(complete[0], complete[1]);

    let (mut rng, seed) = common::Rng::seeded("CRASH_SEED");
    // Every point twice, in a random order.
    let points = common::PAUSE_POINTS;
    let mut order: Vec<usize> = (0..points.len() * 2).map(|i| i % points.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut previous = 1; // b.db ran last
    for (i, &p) in order.iter().enumerate() {
        let point = points[p];
        // The day file is renamed first: from there on it is the new one.
        let published = p >= points.iter().position(|&q| q == "renamed-1").unwrap();
        let target = i % 2;
        let db = ["a.db", "b.db"][target];
        kill_at(h, db, point);
        let now = std::fs::read(h.join(FILE)).expect("a day file is always there");
        let expected = if published { target } else { previous };
        assert!(
            now == complete[expected],
            "killed at {point} (kill {i}, seed {seed}): the day file is not the {} complete one",
            if published { "new" } else { "previous" }
        );
        // The next run, left to finish, removes what the killed one left and publishes.
        assert!(export(h, db).status().unwrap().success(), "kill {i}");
        assert_eq!(temps(h), Vec::<String>::new(), "kill {i} (seed {seed})");
        assert_eq!(std::fs::read(h.join(FILE)).unwrap(), complete[target]);
        previous = target;
    }
}
