//! Unattended runs: which days a run exports (one day, a backfill range, or catch-up after
//! missed days) and the lock that keeps two runs from exporting at once.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::NaiveDate;

use crate::verify::day_of_name;

/// The name of the lock file in the output directory.
pub const LOCK_FILE: &str = ".parquet-exporter.lock";

/// Days that have an export in `out_dir` (by file name). A missing directory has none.
pub fn existing_days(out_dir: &Path) -> Result<Vec<NaiveDate>> {
    let entries = match std::fs::read_dir(out_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("listing {}", out_dir.display())),
    };
    let mut days = Vec::new();
    for e in entries {
        let e = e.with_context(|| format!("listing {}", out_dir.display()))?;
        if let Some(d) = day_of_name(&e.path()) {
            days.push(d);
        }
    }
    days.sort();
    Ok(days)
}

/// The days catch-up exports: every day after the newest export up to `yesterday`, oldest
/// first, at most `max_days` of them (the next run continues from there). With no export yet,
/// just yesterday.
pub fn catch_up_days(
    existing: &[NaiveDate],
    yesterday: NaiveDate,
    max_days: u32,
) -> Vec<NaiveDate> {
    match existing.iter().max() {
        None => vec![yesterday],
        Some(newest) => newest
            .iter_days()
            .skip(1)
            .take_while(|d| *d <= yesterday)
            .take(max_days as usize)
            .collect(),
    }
}

/// Every day from `from` to `to`, inclusive.
pub fn range_days(from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    from.iter_days().take_while(|d| *d <= to).collect()
}

/// Another run holds the lock (exit status 6).
#[derive(Debug, thiserror::Error)]
#[error("another parquet-exporter run holds the lock {path} (its PID: {holder}); gave up after {waited:?} (see --lock-timeout)")]
pub struct LockBusy {
    pub path: PathBuf,
    pub holder: String,
    pub waited: Duration,
}

/// An OS file lock on `<out_dir>/.parquet-exporter.lock`, held until dropped. The kernel
/// releases it if the process dies, so a crash never leaves a stale lock.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// Takes the lock, waiting up to `timeout` for another run to finish.
pub fn acquire(out_dir: &Path, timeout: Duration) -> Result<RunLock> {
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("creating output directory {}", out_dir.display()))?;
    let path = out_dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening lock file {}", path.display()))?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                return Err(LockBusy {
                    path,
                    holder: holder.trim().to_string(),
                    waited: started.elapsed(),
                }
                .into());
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
    }
    // Who holds it, for the message a second run prints.
    file.set_len(0)?;
    write!(file, "{}", std::process::id())?;
    Ok(RunLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn catch_up_fills_the_hole_oldest_first() {
        let existing = [d("2025-10-20"), d("2025-10-26")];
        assert_eq!(
            catch_up_days(&existing, d("2025-10-29"), 7),
            [d("2025-10-27"), d("2025-10-28"), d("2025-10-29")]
        );
        assert!(
            catch_up_days(&existing, d("2025-10-26"), 7).is_empty(),
            "up to date"
        );
        assert_eq!(catch_up_days(&[], d("2025-10-29"), 7), [d("2025-10-29")]);
        assert_eq!(
            catch_up_days(&existing, d("2025-11-30"), 2),
            [d("2025-10-27"), d("2025-10-28")],
            "bounded; the next run continues"
        );
    }

    #[test]
    fn ranges_are_inclusive() {
        assert_eq!(range_days(d("2025-10-30"), d("2025-11-01")).len(), 3);
        assert!(range_days(d("2025-11-01"), d("2025-10-30")).is_empty());
    }

    #[test]
    fn existing_days_reads_names_only() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "ops_atomic_20251030.parquet",
            "ops_atomic_20251030.rejects.ndjson",
            "notes.txt",
            "ops_atomic_2025.parquet",
        ] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        assert_eq!(existing_days(dir.path()).unwrap(), [d("2025-10-30")]);
        assert!(existing_days(&dir.path().join("missing"))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_second_lock_waits_then_fails() {
        let dir = tempfile::tempdir().unwrap();
        let held = acquire(dir.path(), Duration::ZERO).unwrap();
        let err = acquire(dir.path(), Duration::from_millis(250)).unwrap_err();
        let busy = err.downcast_ref::<LockBusy>().expect("LockBusy");
        assert!(busy.waited >= Duration::from_millis(250));
        assert_eq!(busy.holder, std::process::id().to_string());
        drop(held);
        acquire(dir.path(), Duration::ZERO).expect("free again once released");
    }
}
