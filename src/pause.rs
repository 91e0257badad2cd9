//! Named points in a run where a test can stop the exporter: to kill it there (crash tests),
//! or to change the world under it and let it go on (another writer between its read and its
//! write). The stop lands at a chosen step of the run's progress, not after a delay measured
//! once, so the test means the same on a busy machine. Unset (always, outside tests), a point
//! costs one lookup.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The point to stop at (`PARQUET_EXPORTER_PAUSE_AT`), and the file created there so the test
/// knows the run has reached it (`PARQUET_EXPORTER_PAUSE_FLAG`); the run goes on once the test
/// removes that file. Not documented for users.
const AT: &str = "PARQUET_EXPORTER_PAUSE_AT";
const FLAG: &str = "PARQUET_EXPORTER_PAUSE_FLAG";

/// How long a paused run waits before it goes on by itself: a test that failed to kill or
/// release it must not leave it waiting for ever.
const DEADLINE: Duration = Duration::from_secs(120);

/// A run stops once: a retried step does not stop again.
static STOPPED: AtomicBool = AtomicBool::new(false);

/// Stops here when the environment names `point`, until the flag file is removed, the process
/// is killed, or the deadline passes.
pub fn at(point: &str) {
    if std::env::var_os(AT).is_none_or(|want| want != point) {
        return;
    }
    if STOPPED.swap(true, Ordering::SeqCst) {
        return;
    }
    let flag = std::env::var_os(FLAG);
    if let Some(flag) = &flag {
        let _ = std::fs::write(flag, point);
    }
    let started = Instant::now();
    while started.elapsed() < DEADLINE {
        if flag
            .as_ref()
            .is_some_and(|f| std::fs::symlink_metadata(f).is_err())
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
