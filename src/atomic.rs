//! Atomic file publication in two phases: `stage` writes a temp file in the target's directory
//! and fsyncs it; `Staged::publish` renames it over the target and fsyncs the directory. A
//! reader sees the old file or the new one, never a part. Staging every output before
//! publishing any lets a run check its files and fail without touching what is already there;
//! a dropped `Staged` removes its temp file.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tempfile::NamedTempFile;

/// Suffix of every temp file this exporter writes; with the leading dot it keeps
/// `ops_atomic_*.parquet` globs (DuckDB, verify) from ever matching a file being written.
const TMP_SUFFIX: &str = ".tmp";

/// An output written in full to a temp file beside its target, not yet visible under its name.
#[derive(Debug)]
pub struct Staged {
    tmp: NamedTempFile,
    target: PathBuf,
}

impl Staged {
    /// The temp file, for checks before publishing.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Renames the temp file over the target, not yet durable.
    fn rename_into_place(self) -> Result<()> {
        let Staged { tmp, target } = self;
        tmp.persist(&target)
            .map_err(|e| e.error)
            .with_context(|| format!("renaming the temp file to {}", target.display()))?;
        Ok(())
    }

    /// Renames the temp file over the target and makes the rename durable.
    pub fn publish(self) -> Result<PathBuf> {
        let target = self.target.clone();
        self.rename_into_place()?;
        let dir = parent(&target);
        // The rename is only durable once the directory entry is.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("syncing directory {}", dir.display()))?;
        Ok(target)
    }
}

fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A set of staged outputs published together: every target is checked before the first
/// rename, and if a rename still fails the outputs already renamed are rolled back to the files
/// they replaced, so a run publishes all of its outputs or none of them. `removals` are paths
/// that a successful publication deletes (a stale rejects file), rolled back the same way.
#[derive(Debug, Default)]
pub struct Publication {
    files: Vec<Staged>,
    removals: Vec<PathBuf>,
}

/// What a rename displaced, to put back if a later step fails.
struct Undo {
    target: PathBuf,
    before: Before,
}

impl Publication {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a staged output; outputs are renamed in the order added.
    pub fn add(&mut self, staged: Staged) {
        self.files.push(staged);
    }

    /// Deletes `path`, if it exists, when everything else is published.
    pub fn remove(&mut self, path: PathBuf) {
        self.removals.push(path);
    }

    /// Fails, naming it, when a target holds something a rename cannot replace.
    pub fn check(&self) -> Result<()> {
        for f in &self.files {
            replaceable(&f.target)?;
        }
        for path in &self.removals {
            replaceable(path)?;
        }
        Ok(())
    }

    /// Publishes every output or, failing that, none: see the type's documentation.
    pub fn publish(self) -> Result<Vec<PathBuf>> {
        self.check()?;
        let Publication { files, removals } = self;
        let mut undo: Vec<Undo> = Vec::new();
        let mut published = Vec::new();
        let mut failure = None;
        for staged in files {
            let target = staged.target.clone();
            let before = match keep_previous(&target) {
                Ok(b) => b,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            match staged.rename_into_place() {
                Ok(()) => {
                    undo.push(Undo {
                        target: target.clone(),
                        before,
                    });
                    published.push(target);
                    crate::pause::at(&format!("renamed-{}", published.len()));
                }
                Err(e) => {
                    before.discard();
                    failure = Some(e);
                    break;
                }
            }
        }
        if failure.is_none() {
            for path in &removals {
                match move_aside(path) {
                    Ok(Some(backup)) => undo.push(Undo {
                        target: path.clone(),
                        before: Before::Backup(backup),
                    }),
                    Ok(None) => {}
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
        }
        if let Some(e) = failure {
            return Err(roll_back(undo, e));
        }
        let mut dirs: Vec<&Path> = Vec::new();
        for u in &undo {
            u.before.discard();
            let dir = parent(&u.target);
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        for dir in dirs {
            // A rename is only durable once the directory entry is.
            File::open(dir)
                .and_then(|d| d.sync_all())
                .with_context(|| format!("syncing directory {}", dir.display()))?;
        }
        Ok(published)
    }
}

/// What stood at a target before this publication replaced it.
enum Before {
    Nothing,
    /// A hard link to the previous file, under a temp name beside it.
    Backup(PathBuf),
    /// There was a file, but no link to it could be made (a file system without hard links):
    /// a failed publication cannot bring it back.
    Lost,
}

impl Before {
    fn discard(&self) {
        if let Before::Backup(b) = self {
            let _ = std::fs::remove_file(b);
        }
    }
}

/// A temp name beside `target`, of the form `remove_stale_temps` cleans up after a crash.
fn backup_name(target: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    parent(target).join(format!(
        ".{name}.prev{}x{n}{TMP_SUFFIX}",
        std::process::id()
    ))
}

/// Keeps what `target` holds now under a temp name, as a second link, so that readers still
/// see it under its own name until it is replaced.
fn keep_previous(target: &Path) -> Result<Before> {
    match std::fs::symlink_metadata(target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Before::Nothing),
        Err(e) => Err(e).with_context(|| format!("reading {}", target.display())),
        Ok(_) => {
            let backup = backup_name(target);
            match std::fs::hard_link(target, &backup) {
                Ok(()) => Ok(Before::Backup(backup)),
                Err(e) => {
                    tracing::debug!(target = %target.display(), "no hard link for a rollback: {e}");
                    Ok(Before::Lost)
                }
            }
        }
    }
}

/// Renames `path` to a temp name beside it (a removal that can be undone); `None` if absent.
fn move_aside(path: &Path) -> Result<Option<PathBuf>> {
    let backup = backup_name(path);
    match std::fs::rename(path, &backup) {
        Ok(()) => Ok(Some(backup)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("removing stale {}", path.display())),
    }
}

/// Undoes `undo`, newest first, after `cause`: the error says what is old and what is new.
fn roll_back(undo: Vec<Undo>, cause: anyhow::Error) -> anyhow::Error {
    let mut restored = Vec::new();
    let mut stuck = Vec::new();
    for u in undo.into_iter().rev() {
        let back = match &u.before {
            Before::Backup(b) => std::fs::rename(b, &u.target).map_err(|e| e.to_string()),
            Before::Nothing => std::fs::remove_file(&u.target).map_err(|e| e.to_string()),
            Before::Lost => Err("the previous file could not be kept".to_string()),
        };
        match back {
            Ok(()) => restored.push(u.target.display().to_string()),
            Err(why) => stuck.push(format!("{} is new ({why})", u.target.display())),
        }
    }
    let outcome = if stuck.is_empty() {
        if restored.is_empty() {
            "nothing was published".to_string()
        } else {
            format!(
                "rolled back, every output is as it was before this run: {}",
                restored.join(", ")
            )
        }
    } else {
        format!(
            "only partly rolled back: {}; restored: {}; run the export again to repair",
            stuck.join("; "),
            if restored.is_empty() {
                "none".to_string()
            } else {
                restored.join(", ")
            }
        )
    };
    cause.context(format!("publishing the outputs failed; {outcome}"))
}

/// Fails when `path` holds something a rename cannot replace (a directory), naming it.
fn replaceable(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => anyhow::bail!(
            "cannot replace {}: it is a directory; nothing was published",
            path.display()
        ),
        _ => Ok(()),
    }
}

/// Writes what `write` produces to a synced temp file beside `path`. Nothing is visible under
/// `path` until `publish`.
pub fn stage(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&File>) -> Result<()>,
) -> Result<Staged> {
    let dir = parent(path);
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.to_string_lossy()))
        .suffix(TMP_SUFFIX)
        .tempfile_in(dir)
        .with_context(|| format!("creating a temp file in {}", dir.display()))?;
    // tempfile creates 0600; an output gets the mode any new file gets under the umask, as the
    // directories created for it do (docs/operations.md, "File permissions").
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(crate::fsio::file_mode()))
            .with_context(|| format!("setting permissions on {}", tmp.path().display()))?;
    }
    {
        let mut out = BufWriter::new(tmp.as_file());
        write(&mut out).with_context(|| format!("writing {}", path.display()))?;
        out.flush()
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // Some file systems (NFS, delayed allocation) report a full disk only here: the error
    // names the output, not only the temp file's made-up name.
    tmp.as_file().sync_all().with_context(|| {
        format!(
            "writing {} (syncing its temp file {})",
            path.display(),
            tmp.path().display()
        )
    })?;
    Ok(Staged {
        tmp,
        target: path.to_path_buf(),
    })
}

/// Replaces `path` with what `write` produces, in one step.
pub fn replace(path: &Path, write: impl FnOnce(&mut BufWriter<&File>) -> Result<()>) -> Result<()> {
    stage(path, write)?.publish().map(|_| ())
}

/// Whether `name` is a temp file that `stage` made for a target whose name `is_target` accepts.
pub fn is_temp_for(name: &OsStr, is_target: impl Fn(&str) -> bool) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    let Some(inner) = name
        .strip_prefix('.')
        .and_then(|n| n.strip_suffix(TMP_SUFFIX))
    else {
        return false;
    };
    // `.<target>.<random>.tmp`: the random part has no dot.
    inner
        .rsplit_once('.')
        .is_some_and(|(target, random)| !random.is_empty() && is_target(target))
}

/// Removes the temp files that `stage` left in `dir` for targets `is_target` accepts (a run
/// killed mid-write leaves them). Only call it while holding the run lock: another run's temp
/// file would otherwise vanish under it. Returns the names removed.
pub fn remove_stale_temps(dir: &Path, is_target: impl Fn(&str) -> bool) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    let mut removed = Vec::new();
    for e in entries {
        let e = e.with_context(|| format!("listing {}", dir.display()))?;
        if !is_temp_for(&e.file_name(), &is_target) || !e.file_type()?.is_file() {
            continue;
        }
        std::fs::remove_file(e.path())
            .with_context(|| format!("removing stale temp file {}", e.path().display()))?;
        removed.push(e.file_name().to_string_lossy().into_owned());
    }
    removed.sort();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "old").unwrap();
        replace(&path, |w| Ok(w.write_all(b"new")?)).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(leftovers(dir.path()), ["a.txt"]);
    }

    #[test]
    fn failure_keeps_the_old_file_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "old").unwrap();
        let err = replace(&path, |w| -> Result<()> {
            w.write_all(b"half")?;
            anyhow::bail!("boom")
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("boom"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(leftovers(dir.path()), ["a.txt"]);
    }

    #[test]
    fn a_staged_file_is_invisible_until_published_and_gone_if_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "old").unwrap();
        let staged = stage(&path, |w| Ok(w.write_all(b"new")?)).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_to_string(staged.path()).unwrap(), "new");
        drop(staged);
        assert_eq!(leftovers(dir.path()), ["a.txt"]);
        stage(&path, |w| Ok(w.write_all(b"new")?))
            .unwrap()
            .publish()
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    }

    #[test]
    fn a_blocked_target_publishes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.md"));
        std::fs::write(&a, "old a").unwrap();
        std::fs::create_dir_all(b.join("x")).unwrap();
        let mut p = Publication::new();
        p.add(stage(&a, |w| Ok(w.write_all(b"new a")?)).unwrap());
        p.add(stage(&b, |w| Ok(w.write_all(b"new b")?)).unwrap());
        let err = format!("{:#}", p.publish().unwrap_err());
        assert!(err.contains("b.md: it is a directory"), "{err}");
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "old a");
        assert_eq!(leftovers(dir.path()), ["a.parquet", "b.md"]);
    }

    #[test]
    fn a_rename_that_fails_rolls_back_the_ones_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        std::fs::write(&a, "old a").unwrap();
        std::fs::write(&c, "stale c").unwrap();
        let mut p = Publication::new();
        p.add(stage(&a, |w| Ok(w.write_all(b"new a")?)).unwrap());
        p.add(stage(&b, |w| Ok(w.write_all(b"new b")?)).unwrap());
        p.remove(c.clone());
        // The second rename fails: its temp file is gone.
        std::fs::remove_file(p.files[1].path()).unwrap();
        let err = format!("{:#}", p.publish().unwrap_err());
        assert!(err.contains("rolled back"), "{err}");
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "old a");
        assert!(!b.exists());
        assert_eq!(std::fs::read_to_string(&c).unwrap(), "stale c");
        assert_eq!(leftovers(dir.path()), ["a", "c"]);

        // And when all goes well: both new, the stale file gone, no backup left.
        let mut p = Publication::new();
        p.add(stage(&a, |w| Ok(w.write_all(b"new a")?)).unwrap());
        p.add(stage(&b, |w| Ok(w.write_all(b"new b")?)).unwrap());
        p.remove(c.clone());
        p.publish().unwrap();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "new a");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "new b");
        assert_eq!(leftovers(dir.path()), ["a", "b"]);
    }

    #[test]
    fn only_our_own_stale_temps_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let ours = |t: &str| t.starts_with("ops_atomic_");
        let staged = stage(&dir.path().join("ops_atomic_20251030.parquet"), |_| Ok(())).unwrap();
        let tmp_name = staged.path().file_name().unwrap().to_owned();
        // Simulate a killed run: the temp file stays behind.
        staged.tmp.keep().unwrap();
        for other in [
            ".other.abc.tmp",
            "ops_atomic_20251030.parquet",
            ".ops_atomic_x.tmp",
            "notes.tmp",
        ] {
            std::fs::write(dir.path().join(other), "").unwrap();
        }
        let removed = remove_stale_temps(dir.path(), ours).unwrap();
        assert_eq!(removed, [tmp_name.to_string_lossy().into_owned()]);
        assert_eq!(
            leftovers(dir.path()),
            [
                ".ops_atomic_x.tmp",
                ".other.abc.tmp",
                "notes.tmp",
                "ops_atomic_20251030.parquet"
            ]
        );
    }
}
