//! Where day files live, behind one seam: a local directory, or a prefix in an object store.
//! The export, catch-up and `verify` list, read, check and publish day files through `Target`
//! and never ask which it is. Another object store is one more `Remote` (S3's is
//! `store::Bucket`) and its arm in `Target::open`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::atomic::{self, Publication, Staged};
use crate::config::OutDir;
use crate::store::{Bucket, BucketUrl, Expect, Uploaded, Version};
use crate::verify::{self, FileCheck};

/// An object store holding day files under a prefix.
pub trait Remote {
    /// `rel` as reports show it: `s3://bucket/prefix/rel`.
    fn show(&self, rel: &str) -> String;
    /// Writes the object `rel` into `out`; `None` when there is none, else its version.
    fn download(&self, rel: &str, out: &mut dyn Write) -> Result<Option<Version>>;
    /// Every object whose relative path `wanted` accepts, downloaded under `dir`: (local copy,
    /// relative path) pairs.
    fn download_all(
        &self,
        dir: &Path,
        wanted: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<(PathBuf, String)>>;
    /// Uploads the local file as `rel`, complete or not at all, if the object is still what
    /// `expect` says (else a `Changed` error).
    fn upload(&self, rel: &str, file: &Path, expect: &Expect) -> Result<Uploaded>;
    /// Deletes `rel`; an absent object is no error.
    fn delete(&self, rel: &str) -> Result<()>;
}

/// A day file already published, checked, and where its bytes can be read here.
pub struct Existing {
    pub check: FileCheck,
    local: Local,
    /// A remote object's version as read, for the conditional write that replaces it.
    pub version: Option<Version>,
}

enum Local {
    Path(PathBuf),
    Copy(Staged),
}

impl Existing {
    /// Where the file's bytes are on this machine.
    pub fn path(&self) -> &Path {
        match &self.local {
            Local::Path(p) => p,
            Local::Copy(c) => c.path(),
        }
    }
}

/// A directory of day files, or a remote prefix.
pub enum Target {
    Dir(PathBuf),
    Remote(Box<dyn Remote>),
}

impl Target {
    /// Where `out` points. A remote's client is built from its environment; nothing is sent.
    pub fn open(out: &OutDir) -> Result<Target> {
        Ok(match out {
            OutDir::Local(dir) => Target::Dir(dir.clone()),
            OutDir::Bucket(url) => Target::Remote(Box::new(Bucket::open(url)?)),
        })
    }

    /// A path `verify` was given: a file or directory, or `s3://bucket/prefix`.
    pub fn of_arg(arg: &Path) -> Result<Target> {
        match arg.to_str().and_then(BucketUrl::parse) {
            None => Ok(Target::Dir(arg.to_path_buf())),
            Some(Err(why)) => {
                Err(crate::config::UsageError(format!("{}: {why}", arg.display())).into())
            }
            Some(Ok(url)) => Ok(Target::Remote(Box::new(Bucket::open(&url)?))),
        }
    }

    /// The files under the root whose relative path `wanted` accepts (at most `depth` levels
    /// down), each readable at a local path: the file itself in a directory, a copy downloaded
    /// under `scratch` from a remote. (local path, relative path) pairs.
    pub fn local_copies(
        &self,
        scratch: &Path,
        depth: usize,
        wanted: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<(PathBuf, String)>> {
        match self {
            Target::Dir(root) => Ok(verify::relative_files(root, depth)?
                .into_iter()
                .filter(|rel| wanted(rel))
                .map(|rel| (root.join(&rel), rel))
                .collect()),
            Target::Remote(r) => r.download_all(scratch, wanted),
        }
    }

    /// What `verify` checks for this target: the path itself, which `verify` expands, or every
    /// day file under the remote prefix, downloaded under `scratch`, with the URL to show it by.
    pub fn verify_inputs(&self, scratch: &Path) -> Result<Vec<(PathBuf, Option<String>)>> {
        match self {
            Target::Dir(path) => Ok(vec![(path.clone(), None)]),
            Target::Remote(r) => {
                let day_file = |rel: &str| {
                    crate::names::looks_like_parquet(rel.rsplit('/').next().unwrap_or(rel))
                };
                let copies = r.download_all(scratch, &day_file)?;
                anyhow::ensure!(
                    !copies.is_empty(),
                    "no ops_atomic_*.parquet object under {}",
                    r.show("")
                );
                Ok(copies
                    .into_iter()
                    .map(|(local, rel)| (local, Some(r.show(&rel))))
                    .collect())
            }
        }
    }

    /// The day file at `rel` as it stands, checked as `verify` checks it, when there is one,
    /// readable at a local path: the file itself in a directory, a copy downloaded to a temp
    /// file beside `staging` from a remote (removed when the `Existing` is dropped).
    pub fn existing(
        &self,
        rel: &str,
        staging: &Path,
        max_bytes: Option<u64>,
    ) -> Result<Option<Existing>> {
        match self {
            Target::Dir(root) => {
                let path = root.join(rel);
                // A link or a FIFO at the day file's name is a file to report, not to follow.
                if std::fs::symlink_metadata(&path).is_err() {
                    return Ok(None);
                }
                let check = verify::check_file(&path, max_bytes);
                Ok(Some(Existing {
                    check,
                    local: Local::Path(path),
                    version: None,
                }))
            }
            Target::Remote(r) => {
                let mut found = None;
                let copy = atomic::stage(staging, |w| {
                    found = r.download(rel, w)?;
                    Ok(())
                })?;
                let Some(version) = found else {
                    return Ok(None);
                };
                let mut check = verify::check_file(copy.path(), max_bytes);
                check.path = r.show(rel).into();
                Ok(Some(Existing {
                    check,
                    local: Local::Copy(copy),
                    version: Some(version),
                }))
            }
        }
    }

    /// Hands the staged day file over for publishing: in a directory it joins `publication`,
    /// renamed with the run's other outputs (all or none); for a remote it is returned, to be
    /// uploaded by `upload` once every local output is ready.
    pub fn add_day(&self, day: Staged, publication: &mut Publication) -> Option<Staged> {
        match self {
            Target::Dir(_) => {
                publication.add(day);
                None
            }
            Target::Remote(_) => Some(day),
        }
    }

    /// Uploads what `add_day` returned as `rel` on the condition `expect`, reads it back, and
    /// deletes the object `stale` (a file of an earlier layout) that it supersedes. The run
    /// claims only what is there: the object read back is the one it wrote (by version and
    /// bytes), or a later writer's that holds every record it wrote.
    pub fn upload(
        &self,
        day: Option<Staged>,
        rel: &str,
        stale: &str,
        expect: &Expect,
    ) -> Result<Option<Uploaded>> {
        let (Target::Remote(r), Some(day)) = (self, day) else {
            return Ok(None);
        };
        let uploaded = r.upload(rel, day.path(), expect)?;
        let served = atomic::stage(day.path(), |w| {
            let found = r.download(rel, w)?;
            anyhow::ensure!(
                found.is_some(),
                "{} is not there after its upload",
                r.show(rel)
            );
            Ok(())
        })?;
        let ours = std::fs::read(day.path())
            .with_context(|| format!("reading {}", day.path().display()))?;
        let theirs = std::fs::read(served.path())
            .with_context(|| format!("reading {}", served.path().display()))?;
        if theirs != ours {
            holds_every_record(served.path(), day.path())
                .with_context(|| format!("{} after this run's upload", r.show(rel)))?;
        }
        r.delete(stale)?;
        // Uploaded; dropping the staged copies removes the local temp files.
        drop(day);
        Ok(Some(uploaded))
    }
}

/// Fails unless the day file at `theirs` holds every record id of the one at `ours`: another
/// writer may replace this run's object, but only by one that carried its records over.
fn holds_every_record(theirs: &Path, ours: &Path) -> Result<()> {
    let mut strings = crate::record::Interner::default();
    let held: std::collections::HashSet<String> = crate::carry::read_rows(theirs, &mut strings)?
        .into_iter()
        .map(|r| r.record.record_id)
        .collect();
    let missing = crate::carry::read_rows(ours, &mut strings)?
        .into_iter()
        .filter(|r| !held.contains(&r.record.record_id))
        .count();
    anyhow::ensure!(
        missing == 0,
        "another writer replaced the object with one that lacks {missing} of this run's records"
    );
    Ok(())
}

impl Remote for Bucket {
    fn show(&self, rel: &str) -> String {
        self.url().show(rel)
    }

    fn download(&self, rel: &str, out: &mut dyn Write) -> Result<Option<Version>> {
        Bucket::download(self, rel, &mut { out })
    }

    fn download_all(
        &self,
        dir: &Path,
        wanted: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<(PathBuf, String)>> {
        Bucket::download_all(self, dir, wanted)
    }

    fn upload(&self, rel: &str, file: &Path, expect: &Expect) -> Result<Uploaded> {
        Bucket::upload(self, rel, file, expect)
    }

    fn delete(&self, rel: &str) -> Result<()> {
        Bucket::delete(self, rel)
    }
}
