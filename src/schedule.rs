//! Unattended runs: which days a run exports (one day, a backfill range, or catch-up of missing
//! and short days) and the lock that keeps two runs from exporting at once.

use std::fs::{File, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::NaiveDate;

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use crate::contract::Verdict;
use crate::names::{self, Layout};
use crate::target::Target;
use crate::verify;

/// The name of the lock file in the output directory.
pub const LOCK_FILE: &str = ".parquet-exporter.lock";

/// Whether a day's file holds the whole day, as far as catch-up can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayFile {
    Complete,
    /// A valid file whose footer says the sources held nothing for the day: looked at again
    /// (records may still arrive), but finding it empty again is no new failure.
    Empty,
    /// The file fails `verify`'s checks: the first problem found.
    Invalid(String),
    /// A valid file whose footer says the day is short of records (partial or incomplete).
    Short(Verdict),
}

impl DayFile {
    /// Why catch-up exports the day again, when it does for what the file is (not for its
    /// absence).
    pub fn short_why(&self) -> Option<String> {
        match self {
            DayFile::Complete | DayFile::Empty => None,
            DayFile::Invalid(problem) => Some(format!("it fails verify: {problem}")),
            DayFile::Short(v) => Some(format!("its footer says {v}")),
        }
    }
}

/// This exporter's day files in `target` (its `layout`, its instance) for the days in
/// `window`, each judged as `verify` judges it (a remote's downloaded to a temp dir first). A
/// missing directory has none.
pub fn day_files(
    target: &Target,
    layout: &Layout,
    window: &RangeInclusive<NaiveDate>,
) -> Result<BTreeMap<NaiveDate, DayFile>> {
    let scratch = tempfile::tempdir().context("creating a temp dir for day files")?;
    let wanted = |rel: &str| layout.day_of(rel).is_some_and(|d| window.contains(&d));
    let depth = if layout.hive { 3 } else { 1 };
    let mut days = BTreeMap::new();
    for (copy, rel) in target.local_copies(scratch.path(), depth, &wanted)? {
        if let Some(day) = layout.day_of(&rel) {
            days.insert(day, judge(&copy));
        }
    }
    Ok(days)
}

/// A day is done only when its file passes every check `verify` makes (name, day, schema,
/// counts, every row, read within bounds) and its footer does not say it is short: a file
/// that merely claims to be complete is not trusted.
fn judge(path: &Path) -> DayFile {
    let check = verify::check_file(path, None);
    if let Some(problem) = check.problems.first() {
        return DayFile::Invalid(problem.clone());
    }
    // A verdict this exporter does not write failed verify above.
    match check.footer_verdict() {
        Some(Verdict::Empty) => DayFile::Empty,
        Some(v) if v.is_short() => DayFile::Short(v),
        _ => DayFile::Complete,
    }
}

/// The days catch-up considers: the `window` days ending `yesterday`.
pub fn window(yesterday: NaiveDate, window: u32) -> RangeInclusive<NaiveDate> {
    (yesterday - chrono::Days::new(u64::from(window.max(1)) - 1))..=yesterday
}

/// The days catch-up exports, oldest first, at most `max_days` (the next run continues): over
/// the `window` days ending `yesterday`, from the oldest day file inside the window (just
/// yesterday when there is none) through yesterday, every day with no file or a short one.
/// Days before the window are history for `--from/--to`, and files dated after yesterday do not
/// move the start, so neither a first install nor a stray future file hides a day.
pub fn catch_up_days(
    files: &BTreeMap<NaiveDate, DayFile>,
    yesterday: NaiveDate,
    window: u32,
    max_days: u32,
) -> Vec<NaiveDate> {
    let start = files
        .range(self::window(yesterday, window))
        .next()
        .map_or(yesterday, |(d, _)| *d);
    range_days(start, yesterday)
        .into_iter()
        .filter(|d| files.get(d) != Some(&DayFile::Complete))
        .take(max_days as usize)
        .collect()
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

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn files(days: &[(&str, DayFile)]) -> BTreeMap<NaiveDate, DayFile> {
        days.iter().map(|(s, f)| (d(s), f.clone())).collect()
    }

    #[test]
    fn catch_up_fills_holes_inside_the_window_oldest_first() {
        use DayFile::*;
        let f = files(&[("2025-10-20", Complete), ("2025-10-26", Complete)]);
        assert_eq!(
            catch_up_days(&f, d("2025-10-29"), 14, 7),
            [
                d("2025-10-21"),
                d("2025-10-22"),
                d("2025-10-23"),
                d("2025-10-24"),
                d("2025-10-25"),
                d("2025-10-27"),
                d("2025-10-28")
            ],
            "the hole before the newest file too, bounded by --max-days"
        );
        assert_eq!(
            catch_up_days(&f, d("2025-10-29"), 5, 7),
            [d("2025-10-27"), d("2025-10-28"), d("2025-10-29")],
            "2025-10-20 is outside a 5-day window: history for --from/--to"
        );
        assert!(
            catch_up_days(&f, d("2025-10-26"), 14, 7).len() == 5,
            "20 to 26: five holes"
        );
        assert_eq!(
            catch_up_days(&BTreeMap::new(), d("2025-10-29"), 14, 7),
            [d("2025-10-29")]
        );
    }

    #[test]
    fn short_files_are_redone_and_future_files_do_not_count() {
        use DayFile::*;
        let f = files(&[
            ("2025-10-26", Complete),
            ("2025-10-27", Short(Verdict::Partial)),
            ("2025-10-28", Complete),
            ("2030-01-01", Complete),
        ]);
        assert_eq!(
            catch_up_days(&f, d("2025-10-29"), 14, 7),
            [d("2025-10-27"), d("2025-10-29")]
        );
        let only_future = files(&[("2030-01-01", Complete)]);
        assert_eq!(
            catch_up_days(&only_future, d("2025-10-29"), 14, 7),
            [d("2025-10-29")]
        );
    }

    #[test]
    fn ranges_are_inclusive() {
        assert_eq!(range_days(d("2025-10-30"), d("2025-11-01")).len(), 3);
        assert!(range_days(d("2025-11-01"), d("2025-10-30")).is_empty());
    }

    #[test]
    fn day_files_reads_names_and_footers() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "ops_atomic_20251030.parquet",
            "ops_atomic_20251030.rejects.ndjson",
            "notes.txt",
            "ops_atomic_2025.parquet",
        ] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let all = d("2025-01-01")..=d("2025-12-31");
        let target = Target::Dir(dir.path().to_path_buf());
        let found = day_files(&target, &Layout::default(), &all).unwrap();
        assert_eq!(found.len(), 1);
        assert!(
            matches!(&found[&d("2025-10-30")], DayFile::Invalid(why) if why.contains("not a readable Parquet file")),
            "{found:?}"
        );
        let missing = Target::Dir(dir.path().join("missing"));
        assert!(day_files(&missing, &Layout::default(), &all)
            .unwrap()
            .is_empty());
        let elsewhere = d("2025-11-01")..=d("2025-11-14");
        assert!(day_files(&target, &Layout::default(), &elsewhere)
            .unwrap()
            .is_empty());
    }

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
