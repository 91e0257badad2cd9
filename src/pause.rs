//! Named points in a run where a crash test can stop the exporter and kill it: the kill lands
//! at a chosen step of the run's progress, not after a delay measured once, so the test means
//! the same on a busy machine. Unset (always, outside tests), a point costs one lookup.

use std::time::{Duration, Instant};

/// The point to stop at (`PARQUET_EXPORTER_PAUSE_AT`), and the file to create there so the
/// test knows the run has reached it (`PARQUET_EXPORTER_PAUSE_FLAG`). Not documented for users.
const AT: &str = "PARQUET_EXPORTER_PAUSE_AT";
const FLAG: &str = "PARQUET_EXPORTER_PAUSE_FLAG";

/// How long a paused run waits to be killed before it goes on: a test that failed to kill it
/// must not leave it running for ever.
const DEADLINE: Duration = Duration::from_secs(120);

/// Stops here when the environment names `point`, until killed or the deadline passes.
pub fn at(point: &str) {
    if std::env::var_os(AT).is_none_or(|want| want != point) {
        return;
    }
    if let Some(flag) = std::env::var_os(FLAG) {
        let _ = std::fs::write(flag, point);
    }
    let started = Instant::now();
    while started.elapsed() < DEADLINE {
        std::thread::sleep(Duration::from_millis(50));
    }
}
