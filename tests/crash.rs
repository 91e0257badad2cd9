//! Crash safety: an export killed with SIGKILL at random moments leaves the previous complete
//! day file or the new complete one, never a part, and the next run clears its temp files.

use crate::common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

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

fn export(home: &Path, db: &str) -> std::process::Command {
    let mut cmd = exporter(home);
    cmd.args([
        "--date",
        DAY,
        "--tz",
        "UTC",
        "-q",
        "--out-dir",
        "out",
        "--summary-dir",
        "out",
    ])
    .args(["--sqlite", db])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    cmd
}

fn temps(home: &Path) -> Vec<String> {
    files_under(&home.join("out"))
        .into_iter()
        .filter(|f| f.ends_with(".tmp"))
        .collect()
}

/// xorshift64: random kill moments without a dependency; the seed is printed for a rerun.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

#[test]
fn kill_9_at_random_moments_leaves_a_complete_file() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, "a.db", "a");
    archive(h, "b.db", "b");
    // The complete file of each archive (re-runs are byte-identical), and how long a run takes.
    // Warm up (page cache, binary), so that a cold first run does not stretch the window.
    assert!(export(h, "a.db").status().unwrap().success());
    let mut complete = Vec::new();
    let mut longest = Duration::ZERO;
    for db in ["a.db", "b.db"] {
        let started = Instant::now();
        assert!(export(h, db).status().unwrap().success());
        longest = longest.max(started.elapsed());
        complete.push(std::fs::read(h.join(FILE)).unwrap());
    }
    assert_ne!(complete[0], complete[1]);

    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let window_us = (longest.as_micros() as u64) * 13 / 10;
    let (mut kept_previous, mut published_new, mut temps_left) = (0, 0, 0);
    let mut previous = 1; // b.db ran last
    for i in 0..50 {
        let target = i % 2;
        let db = ["a.db", "b.db"][target];
        let mut child = export(h, db).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(rng.below(window_us)));
        let _ = child.kill(); // SIGKILL; the run may already have finished
        child.wait().unwrap();

        let now = std::fs::read(h.join(FILE)).expect("a day file is always there");
        if now == complete[previous] {
            kept_previous += 1;
        } else if now == complete[target] {
            published_new += 1;
        } else {
            panic!(
                "kill {i} (seed {seed}) left a file that is neither the previous nor the new one"
            );
        }
        if !temps(h).is_empty() {
            temps_left += 1;
        }
        // The next run, left to finish, removes what the killed one left and publishes.
        assert!(export(h, db).status().unwrap().success(), "kill {i}");
        assert_eq!(temps(h), Vec::<String>::new(), "kill {i} (seed {seed})");
        assert_eq!(std::fs::read(h.join(FILE)).unwrap(), complete[target]);
        previous = target;
    }
    println!("previous kept {kept_previous}, new published {published_new}, temp files left by {temps_left} kills");
    assert!(
        kept_previous > 0 && published_new > 0,
        "kills landed both before and after publishing (seed {seed})"
    );
}
