//! The metrics file on disk: read the previous one, write the next one whole (a temp file
//! renamed over it in the same folder, as node_exporter's textfile collector asks), one run
//! at a time.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::text::{self, MetricsState};

/// How long a run waits for another run that is writing the metrics file: a write takes
/// milliseconds, so a longer hold is a stuck process, not a busy one.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// More than any metrics file this exporter writes (a few KB).
const READ_LIMIT: u64 = 1 << 20;

/// Replaces the metrics file at `path` with `next` of what it says now, holding a lock on its
/// folder so that two runs ending together (the daily run and a busy intraday one) cannot
/// each write over the other's lines.
/// The file's series carry `instance`'s label; a file of another instance's is not this run's.
pub fn update(
    path: &Path,
    instance: Option<&str>,
    next: impl FnOnce(MetricsState) -> MetricsState,
) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} names no file", path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let folder = crate::fsio::open_dir(dir)
        .with_context(|| format!("opening {} to lock it", dir.display()))?;
    lock(&folder, dir)?;
    // Holding the lock, a temp file of this name is a leftover of a killed run.
    crate::atomic::remove_stale_temps(dir, |t| t == name)?;
    let previous = match crate::fsio::read_text(path, READ_LIMIT) {
        Ok(t) => match text::foreign_line(&t, instance) {
            None => text::parse(&t),
            // Someone else's file (the SQLite source, a day file, a hand-made one) at the path
            // the run was given: a typo in the flag must not destroy it.
            Some(n) => anyhow::bail!(
                "it holds other text than this exporter's metrics (line {n}), so it is left as it is"
            ),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => MetricsState::default(),
        // Too big, not UTF-8, not a regular file or unreadable: nothing says it is ours.
        Err(e) => anyhow::bail!("{e}, so it is left as it is"),
    };
    let body = text::render(
        &next(previous),
        env!("CARGO_PKG_VERSION"),
        crate::contract::SCHEMA_VERSION,
        instance,
    );
    crate::atomic::replace(path, |w| Ok(w.write_all(body.as_bytes())?))
}

/// Takes `folder`'s lock, waiting up to `LOCK_WAIT`.
fn lock(folder: &std::fs::File, dir: &Path) -> Result<()> {
    let started = Instant::now();
    loop {
        match folder.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "another process held the lock on {} for {} s",
                dir.display(),
                LOCK_WAIT.as_secs()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", dir.display()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::text::{JobMetrics, MetricsJob};

    fn with_run(at: f64) -> impl FnOnce(MetricsState) -> MetricsState {
        move |mut s| {
            s.jobs.insert(
                MetricsJob::Daily,
                JobMetrics {
                    last_run_s: at,
                    ..Default::default()
                },
            );
            s
        }
    }

    #[test]
    fn the_file_is_replaced_whole_and_read_back_by_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics/parquet_exporter.prom");
        update(&path, None, with_run(5.0)).unwrap();
        // A temp file a killed run left is cleaned up; another file of the folder is not.
        std::fs::write(
            dir.path().join("metrics/.parquet_exporter.prom.abc123.tmp"),
            "x",
        )
        .unwrap();
        std::fs::write(dir.path().join("metrics/other.prom"), "x").unwrap();
        let mut seen = None;
        update(&path, None, |s| {
            seen = Some(s.jobs[&MetricsJob::Daily].last_run_s);
            with_run(7.0)(s)
        })
        .unwrap();
        assert_eq!(seen, Some(5.0));
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("metrics"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["other.prom", "parquet_exporter.prom"]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("parquet_exporter_last_run_timestamp_seconds{job=\"daily\"} 7\n"),
            "{text}"
        );
    }

    /// Only an absent or empty file, or one of this exporter's metrics, is replaced: a
    /// mistyped `--metrics-file` naming the SQLite source or a day file leaves it as it is.
    #[test]
    fn a_file_that_is_not_this_exporters_metrics_is_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.prom");
        let big = format!("# {}\n", "x".repeat(READ_LIMIT as usize));
        let others: [&[u8]; 5] = [
            &[0xff, 0xfe, 0x00],
            b"SQLite format 3\0",
            b"PAR1",
            b"# HELP node_load1 x\nnode_load1 0.5\n",
            big.as_bytes(),
        ];
        for bytes in others {
            std::fs::write(&path, bytes).unwrap();
            let mut called = false;
            let e = update(&path, None, |s| {
                called = true;
                s
            })
            .unwrap_err();
            assert!(format!("{e:#}").contains("left as it is"), "{e:#}");
            assert!(!called);
            assert_eq!(std::fs::read(&path).unwrap(), bytes);
        }
        for ours in [
            "",
            "\n# a note\n\nparquet_exporter_last_run_exit_code{job=\"daily\"} 0\n",
        ] {
            std::fs::write(&path, ours).unwrap();
            update(&path, None, with_run(5.0)).unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.contains("{job=\"daily\"} 5\n"), "{text}");
        }
    }

    #[test]
    fn a_second_writer_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let held = crate::fsio::open_dir(dir.path()).unwrap();
        held.try_lock().unwrap();
        let path = dir.path().join("m.prom");
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(held);
        });
        let started = Instant::now();
        update(&path, None, |s| s).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(150));
        releaser.join().unwrap();
    }
}
