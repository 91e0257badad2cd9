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

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the temp file over the target and makes the rename durable.
    pub fn publish(self) -> Result<PathBuf> {
        let Staged { tmp, target } = self;
        tmp.persist(&target)
            .map_err(|e| e.error)
            .with_context(|| format!("renaming the temp file to {}", target.display()))?;
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
    // tempfile creates 0600; an export is meant to be read by DuckDB/Grafana under other users.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("setting permissions on {}", tmp.path().display()))?;
    }
    {
        let mut out = BufWriter::new(tmp.as_file());
        write(&mut out).with_context(|| format!("writing {}", path.display()))?;
        out.flush()
            .with_context(|| format!("writing {}", path.display()))?;
    }
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("syncing {}", tmp.path().display()))?;
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
