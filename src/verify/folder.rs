//! `verify` over files and folders: each day file checked, then the set as a whole (one
//! scheme, one schema, no record in two files of an instance, the days missing between them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use serde::Serialize;

use super::file::{check_file, FileCheck};
use super::footer::read_footer;
use crate::batch;
use crate::contract::footer;
use crate::names;

/// The result of `verify` over files and directories.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub files: Vec<FileCheck>,
    /// Fingerprint → files that have it; one key means the schema never drifts.
    pub fingerprints: BTreeMap<String, Vec<PathBuf>>,
    /// Days between the first and the last file that have no file, as ranges: a hostile
    /// name (`ops_atomic_00010101.parquet`) would otherwise make this 740,000 dates long.
    pub missing_days: Vec<DayRange>,
    /// How many days `missing_days` holds.
    pub missing_day_count: i64,
    /// Problems that concern the set rather than one file.
    pub problems: Vec<String>,
    pub ok: bool,
}

/// Consecutive days, `first` to `last` both included; `[first, last]` in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub first: chrono::NaiveDate,
    pub last: chrono::NaiveDate,
}

impl DayRange {
    pub fn days(&self) -> i64 {
        (self.last - self.first).num_days() + 1
    }

    /// The part of the range from `lo` to `hi` (both included), if any.
    pub fn clipped(&self, lo: chrono::NaiveDate, hi: chrono::NaiveDate) -> Option<DayRange> {
        let (first, last) = (self.first.max(lo), self.last.min(hi));
        (first <= last).then_some(DayRange { first, last })
    }
}

impl std::fmt::Display for DayRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{} … {} ({} days)", self.first, self.last, self.days())
        }
    }
}

impl Serialize for DayRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        [self.first.to_string(), self.last.to_string()].serialize(s)
    }
}

/// The gaps between `days`: one range per gap, however long, so the list is never longer
/// than the files that bound it.
pub fn missing_ranges(days: &BTreeSet<chrono::NaiveDate>) -> Vec<DayRange> {
    days.iter()
        .zip(days.iter().skip(1))
        .filter(|(a, b)| (**b - **a).num_days() > 1)
        .map(|(a, b)| DayRange {
            first: a.succ_opt().expect("a day before another has a next day"),
            last: b
                .pred_opt()
                .expect("a day after another has a previous day"),
        })
        .collect()
}

/// The day of a day file at `path`, by the one rule (`names::day_file_at`).
pub fn day_of_name(path: &Path) -> Option<chrono::NaiveDate> {
    names::day_file_at(path).map(|(date, _)| date)
}

/// Files under `dir` down to `depth` levels, as `/`-separated relative paths. Temp and hidden
/// entries are skipped. A missing directory has none.
pub fn relative_files(dir: &Path, depth: usize) -> anyhow::Result<Vec<String>> {
    use anyhow::Context;
    let mut out = Vec::new();
    let mut todo = vec![(dir.to_path_buf(), String::new(), 1)];
    while let Some((path, rel, level)) = todo.pop() {
        let entries = match std::fs::read_dir(&path) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("listing {}", path.display())),
        };
        for e in entries {
            let e = e.with_context(|| format!("listing {}", path.display()))?;
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let child = format!("{rel}{name}");
            let kind = e
                .file_type()
                .with_context(|| format!("reading {}", e.path().display()))?;
            if kind.is_dir() {
                if level < depth {
                    todo.push((e.path(), format!("{child}/"), level + 1));
                }
            } else {
                out.push(child);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Expands directories to their `ops_atomic_*.parquet` files (in the flat layout, or under the
/// hive layout's `instance=`/`day=` directories) and checks everything.
pub fn verify_paths(paths: &[PathBuf], max_bytes: Option<u64>) -> VerifyReport {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    // Which folder each file came from: each directory named is an out dir of its own (two
    // machines' folders, or a folder and its backup, may hold one scheme each and the same
    // records); the files named one by one are taken together.
    let mut folder_of: Vec<usize> = Vec::new();
    for (n, p) in paths.iter().enumerate() {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = match relative_files(p, 3) {
                Ok(rels) => rels
                    .into_iter()
                    .filter(|r| names::looks_like_parquet(r.rsplit('/').next().unwrap_or(r)))
                    .map(|r| p.join(r))
                    .collect(),
                Err(e) => {
                    problems.push(format!("cannot list {}: {e:#}", p.display()));
                    continue;
                }
            };
            if found.is_empty() {
                problems.push(format!("no ops_atomic_*.parquet file in {}", p.display()));
            }
            found.sort();
            folder_of.extend(std::iter::repeat_n(n + 1, found.len()));
            files.extend(found);
        } else {
            folder_of.push(0);
            files.push(p.clone());
        }
    }
    let checks: Vec<FileCheck> = files.iter().map(|f| check_file(f, max_bytes)).collect();
    let mut folders: BTreeMap<usize, Vec<&FileCheck>> = BTreeMap::new();
    for (c, f) in checks.iter().zip(&folder_of) {
        folders.entry(*f).or_default().push(c);
    }
    for folder in folders.values() {
        problems.extend(folder_problems(folder));
    }

    let mut fingerprints: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for c in &checks {
        if let Some(fp) = &c.schema_fingerprint {
            fingerprints
                .entry(fp.clone())
                .or_default()
                .push(c.path.clone());
        }
    }
    if fingerprints.len() > 1 {
        problems.push(format!(
            "schema differs between files: {} distinct fingerprints",
            fingerprints.len()
        ));
    }
    let days: BTreeSet<chrono::NaiveDate> = files.iter().filter_map(|f| day_of_name(f)).collect();
    let missing_days = missing_ranges(&days);
    let missing_day_count = missing_days.iter().map(DayRange::days).sum();
    let ok = problems.is_empty() && checks.iter().all(FileCheck::ok);
    VerifyReport {
        files: checks,
        fingerprints,
        missing_days,
        missing_day_count,
        problems,
        ok,
    }
}

/// The problems of one folder's files together: a second scheme, overlapping hours, shared ids.
fn folder_problems(checks: &[&FileCheck]) -> Vec<String> {
    let placed: Vec<crate::scheme::Placed> = checks
        .iter()
        .map(|c| crate::scheme::Placed {
            path: &c.path,
            day: c.day.as_deref(),
            timezone: c.timezone.as_deref(),
        })
        .collect();
    let mut problems = crate::scheme::folder_problems(&placed);
    problems.extend(shared_ids(checks));
    problems
}

/// How many ids `shared_ids` holds at most (8 bytes each): beyond it, the check says it did
/// not run rather than take the memory.
const MAX_IDS: usize = 20_000_000;

/// `verify`'s problem with day files of one instance that hold the same `record_id`: each
/// record belongs to one day, so readers of the folder would count it twice. Ids are kept by
/// hash; a hit is confirmed by reading the first file's ids again.
fn shared_ids(checks: &[&FileCheck]) -> Vec<String> {
    let mut by_instance: BTreeMap<Option<String>, Vec<&Path>> = BTreeMap::new();
    for c in checks.iter().filter(|c| c.ok()) {
        if let Some((_, layout)) = names::day_file_at(&c.path) {
            by_instance
                .entry(layout.instance)
                .or_default()
                .push(&c.path);
        }
    }
    let total: i64 = checks.iter().filter_map(|c| c.rows).sum();
    if total as u64 > MAX_IDS as u64 {
        return vec![format!(
            "record ids were not compared across files: {total} rows, over the {MAX_IDS} this \
             check holds"
        )];
    }
    let mut problems = Vec::new();
    for files in by_instance.values().filter(|f| f.len() > 1) {
        problems.extend(shared_in(files).unwrap_or_else(|e| vec![e]));
    }
    problems
}

/// Ids two of `files` share, as problems: (hash → first file) over every file, then each hit
/// confirmed against the first file's own ids.
fn shared_in(files: &[&Path]) -> Result<Vec<String>, String> {
    let mut first: std::collections::HashMap<u64, usize> = Default::default();
    // (first file, the id as the later file holds it, the later file)
    let mut hits: Vec<(usize, String, usize)> = Vec::new();
    for (n, path) in files.iter().enumerate() {
        for_each_id(path, |id| {
            let h = crate::rows::id_hash(id);
            match first.get(&h) {
                Some(&m) if m != n => hits.push((m, id.to_string(), n)),
                Some(_) => {}
                None => {
                    first.insert(h, n);
                }
            }
        })?;
    }
    drop(first);
    let mut problems = Vec::new();
    for (m, path) in files.iter().enumerate() {
        let wanted: std::collections::HashSet<&str> = hits
            .iter()
            .filter(|h| h.0 == m)
            .map(|h| h.1.as_str())
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let mut found = std::collections::HashSet::new();
        for_each_id(path, |id| {
            if wanted.contains(id) {
                found.insert(id.to_string());
            }
        })?;
        for (_, id, n) in hits.iter().filter(|h| h.0 == m && found.contains(&h.1)) {
            if problems.len() < 10 {
                problems.push(format!(
                    "{} and {} both hold record_id {}: readers of the folder count it twice",
                    path.display(),
                    files[*n].display(),
                    crate::escape::plain(id)
                ));
            }
        }
    }
    Ok(problems)
}

/// Calls `f` with every `record_id` of the day file at `path`, reading that column only.
fn for_each_id(path: &Path, mut f: impl FnMut(&str)) -> Result<(), String> {
    use arrow::array::AsArray;
    let fail = |e: &dyn std::fmt::Display| format!("{}: cannot read its ids: {e}", path.display());
    let file = crate::fsio::open_regular(path).map_err(|e| fail(&e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| fail(&e))?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), [batch::col("record_id")]);
    for b in builder
        .with_projection(mask)
        .build()
        .map_err(|e| fail(&e))?
    {
        let b = b.map_err(|e| fail(&e))?;
        let col = b.column(0);
        match col.as_string_opt::<i32>() {
            Some(ids) => ids.iter().flatten().for_each(&mut f),
            None => col.as_string_view().iter().flatten().for_each(&mut f),
        }
    }
    Ok(())
}

/// The day files under `root` (flat or hive, any instance), relative, each with the zone its
/// footer records: what the scheme check compares a new day with.
pub fn day_file_zones(root: &Path) -> anyhow::Result<Vec<(String, Option<String>)>> {
    Ok(relative_files(root, 3)?
        .into_iter()
        .filter(|rel| names::day_file_of(rel).is_some())
        .map(|rel| {
            let tz = read_footer(&root.join(&rel))
                .ok()
                .and_then(|f| f.kv.get(footer::TIMEZONE).cloned());
            (rel, tz)
        })
        .collect())
}
