//! Where day files live, behind one seam: a local directory, or a prefix in an object store.
//! The export, catch-up and `verify` list, read, check and publish day files through `Target`
//! and never ask which it is. Another object store is one more `Remote` (S3's is
//! `store::Bucket`) and its arm in `Target::open`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::atomic::{self, Publication, Staged};
use crate::config::OutDir;
use crate::store::{Bucket, BucketUrl};
use crate::verify::{self, FileCheck};

/// An object store holding day files under a prefix.
pub trait Remote {
    /// `rel` as reports show it: `s3://bucket/prefix/rel`.
    fn show(&self, rel: &str) -> String;
    /// Writes the object `rel` into `out`; `false` when there is none.
    fn download(&self, rel: &str, out: &mut dyn Write) -> Result<bool>;
    /// Every object whose relative path `wanted` accepts, downloaded under `dir`: (local copy,
    /// relative path) pairs.
    fn download_all(
        &self,
        dir: &Path,
        wanted: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<(PathBuf, String)>>;
    /// Uploads the local file as `rel`: complete or not at all.
    fn upload(&self, rel: &str, file: &Path) -> Result<()>;
    /// Deletes `rel`; an absent object is no error.
    fn delete(&self, rel: &str) -> Result<()>;
}

/// A day file already published, checked, and where its bytes can be read here.
pub struct Existing {
    pub check: FileCheck,
    local: Local,
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
                }))
            }
            Target::Remote(r) => {
                let mut found = false;
                let copy = atomic::stage(staging, |w| {
                    found = r.download(rel, w)?;
                    Ok(())
                })?;
                if !found {
                    return Ok(None);
                }
                let mut check = verify::check_file(copy.path(), max_bytes);
                check.path = r.show(rel).into();
                Ok(Some(Existing {
                    check,
                    local: Local::Copy(copy),
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

    /// Uploads what `add_day` returned as `rel`, reads it back to compare, and deletes the
    /// object `stale` (a file of an earlier layout) that it supersedes.
    pub fn upload(&self, day: Option<Staged>, rel: &str, stale: &str) -> Result<()> {
        let (Target::Remote(r), Some(day)) = (self, day) else {
            return Ok(());
        };
        r.upload(rel, day.path())?;
        let mut served = Vec::new();
        anyhow::ensure!(
            r.download(rel, &mut served)?,
            "{} is not there after its upload",
            r.show(rel)
        );
        let local = std::fs::read(day.path())
            .with_context(|| format!("reading {}", day.path().display()))?;
        anyhow::ensure!(
            served == local,
            "{} differs from the file uploaded",
            r.show(rel)
        );
        r.delete(stale)?;
        // Uploaded; dropping the staged copy removes the local temp file.
        drop(day);
        Ok(())
    }
}

impl Remote for Bucket {
    fn show(&self, rel: &str) -> String {
        self.url().show(rel)
    }

    fn download(&self, rel: &str, out: &mut dyn Write) -> Result<bool> {
        Bucket::download(self, rel, &mut { out })
    }

    fn download_all(
        &self,
        dir: &Path,
        wanted: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<(PathBuf, String)>> {
        Bucket::download_all(self, dir, wanted)
    }

    fn upload(&self, rel: &str, file: &Path) -> Result<()> {
        Bucket::upload(self, rel, file)
    }

    fn delete(&self, rel: &str) -> Result<()> {
        Bucket::delete(self, rel)
    }
}
