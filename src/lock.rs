//! The run lock that keeps two runs from exporting at once, and the move, under it, of what
//! earlier versions kept in the data tree out of it.

use std::fs::{File, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::names;
use crate::verify;

/// The name of the lock file in the output directory.
pub const LOCK_FILE: &str = ".parquet-exporter.lock";

/// Another run holds the lock (exit status 6).
#[derive(Debug, thiserror::Error)]
#[error("another parquet-exporter run holds the lock {path} (its PID: {holder}); gave up after {waited:?} (see --lock-timeout)")]
pub struct LockBusy {
    pub path: PathBuf,
    pub holder: String,
    pub waited: Duration,
}

/// An OS file lock on `<summary_dir>/.parquet-exporter.lock` (outside the data tree, which holds
/// day files only), held until dropped. The kernel releases it if the process dies, so a crash
/// never leaves a stale lock.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    /// The out dir itself, locked too: two runs with different summary dirs must not write one
    /// data tree at once (each would take the other's temp files for stale ones).
    _data_tree: Option<File>,
}

impl RunLock {
    /// Also locks the directory `dir` (an advisory lock on the directory itself: nothing is
    /// created in the data tree), waiting up to `timeout`.
    pub fn and_data_tree(mut self, dir: &Path, timeout: Duration) -> Result<RunLock> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating directory {}", dir.display()))?;
        let file = crate::fsio::open_dir(dir)
            .with_context(|| format!("opening {} to lock it", dir.display()))?;
        wait_for(&file, dir, timeout, || {
            "a run with another --summary-dir".to_string()
        })?;
        self._data_tree = Some(file);
        Ok(self)
    }
}

/// Takes `file`'s lock, waiting up to `timeout`; `LockBusy` names `path` and `holder()`.
fn wait_for(
    file: &File,
    path: &Path,
    timeout: Duration,
    holder: impl Fn() -> String,
) -> Result<()> {
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(LockBusy {
                    path: path.to_path_buf(),
                    holder: holder().trim().to_string(),
                    waited: started.elapsed(),
                }
                .into())
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
    }
}

/// The PID the holder wrote, read through the open handle (never the path again) and bounded:
/// a few bytes are all a PID needs.
fn holder_of(file: &File) -> String {
    use std::io::{Read, Seek};
    let mut text = String::new();
    let mut f = file;
    let _ = f.rewind();
    let _ = f.take(32).read_to_string(&mut text);
    text
}

/// Moves what earlier versions kept in the data tree out of it, holding the lock: the
/// rejects files go to `summary_dir` (where a newer copy already is, the old one is dropped),
/// and the old run lock is removed, so that readers pointed at the out dir's root find day files
/// only. Returns what was moved, for the summary. The summary dir is never inside the out
/// dir (the configuration refuses it), and `move_file` never replaces a file.
pub fn move_out_of_data_tree(out_dir: &Path, summary_dir: &Path) -> Result<Vec<String>> {
    let mut moved = Vec::new();
    for rel in verify::relative_files(out_dir, 3)? {
        let Some(name) = rel.rsplit('/').next().filter(|n| names::is_rejects(n)) else {
            continue;
        };
        // The hive layout left an instance's rejects under instance=NAME/: keep the name.
        let name = match rel
            .strip_prefix("instance=")
            .and_then(|r| r.split_once('/'))
        {
            Some((instance, _)) => name.replacen(
                names::REJECTS_SUFFIX,
                &format!(".{instance}{}", names::REJECTS_SUFFIX),
                1,
            ),
            None => name.to_string(),
        };
        let (from, to) = (out_dir.join(&rel), summary_dir.join(&name));
        match move_file(&from, &to) {
            Ok(()) => moved.push(format!("{} -> {}", from.display(), to.display())),
            Err(why) => tracing::warn!("left in the data tree: {}: {why:#}", from.display()),
        }
    }
    let old_lock = out_dir.join(LOCK_FILE);
    if std::fs::symlink_metadata(&old_lock).is_ok_and(|m| !m.is_dir()) {
        std::fs::remove_file(&old_lock)
            .with_context(|| format!("removing the old lock file {}", old_lock.display()))?;
        moved.push(format!("{} removed", old_lock.display()));
    }
    for m in &moved {
        tracing::info!("moved out of the data tree: {m}");
    }
    Ok(moved)
}

/// Moves the regular file `from` to `to`, which must not exist: renamed, or across file
/// systems copied (opened without following a link), synced, linked into place and only then
/// removed. Anything at `from` that is not a regular file, or anything at `to`, is left as it
/// is: no file is deleted unless its bytes are safely at the new name.
fn move_file(from: &Path, to: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    anyhow::ensure!(
        meta.file_type().is_file(),
        "it is {}, not a regular file",
        crate::fsio::kind_of(&meta)
    );
    if std::fs::symlink_metadata(to).is_ok() {
        anyhow::bail!("{} already exists", to.display());
    }
    match std::fs::hard_link(from, to) {
        Ok(()) => {}
        // Another file system (or one without hard links): a copy, put in place only whole.
        Err(_) => {
            let mut src = crate::fsio::open_no_follow(from)?;
            let dir = to.parent().unwrap_or(Path::new("."));
            let mut tmp = tempfile::Builder::new()
                .prefix(".move")
                .suffix(".tmp")
                .tempfile_in(dir)?;
            std::io::copy(&mut src, &mut tmp)?;
            tmp.as_file().sync_all()?;
            tmp.persist_noclobber(to).map_err(|e| e.error)?;
        }
    }
    std::fs::remove_file(from).with_context(|| format!("removing {}", from.display()))?;
    Ok(())
}

/// Takes the lock in `dir` (the summary dir), waiting up to `timeout` for another run to
/// finish.
pub fn acquire(dir: &Path, timeout: Duration) -> Result<RunLock> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating directory {}", dir.display()))?;
    let path = dir.join(LOCK_FILE);
    // Never through a link, and only a regular file: the out dir may be writable by others.
    let mut file = crate::fsio::open_lock_file(&path)
        .with_context(|| format!("opening lock file {}", path.display()))?;
    wait_for(&file, &path, timeout, || holder_of(&file))?;
    // Who holds it, for the message a second run prints.
    file.set_len(0)?;
    write!(file, "{}", std::process::id())?;
    Ok(RunLock {
        _file: file,
        _data_tree: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_rejects_move_out_and_the_summary_dirs_own_stay() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let reports = dir.path().join("reports");
        std::fs::create_dir_all(out.join("day=2025-10-30")).unwrap();
        std::fs::create_dir_all(&reports).unwrap();
        std::fs::write(
            out.join("day=2025-10-30/ops_atomic_20251030.rejects.ndjson"),
            "old",
        )
        .unwrap();
        std::fs::write(
            reports.join("ops_atomic_20251029.rejects.ndjson"),
            "current",
        )
        .unwrap();
        std::fs::write(out.join(LOCK_FILE), "1").unwrap();
        let moved = move_out_of_data_tree(&out, &reports).unwrap();
        assert_eq!(moved.len(), 2, "{moved:?}");
        assert_eq!(
            std::fs::read_to_string(reports.join("ops_atomic_20251030.rejects.ndjson")).unwrap(),
            "old"
        );
        assert_eq!(
            std::fs::read_to_string(reports.join("ops_atomic_20251029.rejects.ndjson")).unwrap(),
            "current",
            "the summary dir's own rejects are left as they are"
        );
        assert!(!out.join(LOCK_FILE).exists());
        assert!(move_out_of_data_tree(&out, &reports).unwrap().is_empty());
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
