//! The directories more than one command works in: the folder `verify` and `history` read,
//! and the run lock over the summary dir and the data tree, with the clean-up it allows.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use crate::escape::plain;
use crate::{atomic, config, lock, names};

/// The folder `history` or `verify` reads: the one given, else the out dir as `export`
/// resolves it. A folder that is not there is one line saying so and how to name another,
/// rather than a listing error.
pub(super) fn folder_or_out_dir(
    given: Option<&Path>,
    config_path: Option<&Path>,
    command: &str,
) -> Result<PathBuf> {
    let dir = match given {
        Some(d) => return Ok(d.to_path_buf()),
        None => config::default_out_dir(config_path)?,
    };
    let bucket = dir
        .to_str()
        .and_then(crate::store::BucketUrl::parse)
        .is_some();
    if !bucket && !dir.exists() {
        anyhow::bail!(
            "the out dir {} does not exist (no day file exported yet?): pass the folder of the \
             day files, `parquet-exporter {command} DIR`, or set PARQUET_EXPORTER_OUT_DIR or \
             out_dir in the config file",
            plain(&dir.display().to_string())
        );
    }
    Ok(dir)
}

/// Takes the run lock (in the summary dir, and on the out dir itself) and, holding it, removes
/// temp files a killed run left and moves what older versions kept in the data tree out of it:
/// what was moved.
pub(super) fn lock_and_clean(
    data_tree: Option<&Path>,
    summary_dir: &Path,
    timeout: Duration,
) -> Result<(lock::RunLock, Vec<String>)> {
    let held = lock::acquire(summary_dir, timeout)?;
    let held = match data_tree {
        Some(out_dir) => held.and_data_tree(out_dir, timeout)?,
        None => held,
    };
    // Holding the lock, no other run is writing here: any temp file of ours is a leftover of a
    // run that was killed. A summary dir belongs to one out dir (two out dirs sharing it would
    // overwrite each other's summaries), so its temp files are this lock's to clean too.
    let ours = |n: &str| names::is_out_dir_output(n) || names::is_summary(n);
    let mut dirs = vec![summary_dir.to_path_buf()];
    if let Some(out_dir) = data_tree {
        dirs.push(out_dir.to_path_buf());
        // The hive layout's partition directories hold day files (and their temps) too.
        dirs.extend(partition_dirs(out_dir));
    }
    for dir in &dirs {
        for name in atomic::remove_stale_temps(dir, ours)? {
            tracing::info!(file = %name, "removed a temp file left by an interrupted run");
        }
    }
    let moved = match data_tree {
        Some(out_dir) => lock::move_out_of_data_tree(out_dir, summary_dir)?,
        None => Vec::new(),
    };
    Ok((held, moved))
}

/// The hive layout's day directories under `out_dir`, with or without an instance level.
fn partition_dirs(out_dir: &Path) -> Vec<PathBuf> {
    let subdirs = |dir: &Path, prefix: &str| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .filter(|e| {
                        e.file_name()
                            .to_str()
                            .is_some_and(|n| n.starts_with(prefix))
                    })
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut dirs = subdirs(out_dir, names::DAY_DIR_PREFIX);
    for instance in subdirs(out_dir, names::INSTANCE_DIR_PREFIX) {
        dirs.extend(subdirs(&instance, names::DAY_DIR_PREFIX));
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_dirs_are_the_hive_layouts_day_directories() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in [
            "day=2025-10-30",
            "instance=east/day=2025-10-31",
            "instance=east/other",
            "other",
        ] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        // A file named like a partition is no directory to clean.
        std::fs::write(d.join("day=2025-10-29"), "").unwrap();
        let mut got = partition_dirs(d);
        got.sort();
        assert_eq!(
            got,
            [
                d.join("day=2025-10-30"),
                d.join("instance=east/day=2025-10-31")
            ]
        );
    }
}
