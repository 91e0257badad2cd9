//! One out dir, one scheme: every day file in a folder in one layout (flat or hive), one
//! instance naming (with or without `--instance`) and one time zone. Two schemes in one folder
//! double-count records (days of two zones overlap), break readers (hive partitions beside
//! flat files) and hide each other from catch-up; the export refuses to start a second one, and
//! `verify` fails a folder that holds two, or whose files of one instance share a record.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use chrono_tz::Tz;

use crate::config::UsageError;
use crate::day::Day;
use crate::names::{self, Layout};
use crate::verify::{self, FileCheck};

/// How a folder's day files are named and cut into days.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Scheme {
    hive: bool,
    instance: bool,
    /// The IANA zone, when known (a footer that records none, or a remote file not read).
    zone: Option<String>,
}

impl Scheme {
    pub fn new(layout: &Layout, zone: Option<&str>) -> Scheme {
        Scheme {
            hive: layout.hive,
            instance: layout.instance.is_some(),
            zone: zone.map(str::to_string),
        }
    }

    /// Whether the two can share a folder: same layout and instance naming, and the same zone
    /// where both are known.
    fn fits(&self, other: &Scheme) -> bool {
        self.hive == other.hive
            && self.instance == other.instance
            && (self.zone.is_none() || other.zone.is_none() || self.zone == other.zone)
    }

    fn describe(&self) -> String {
        format!(
            "{} layout, {}, zone {}",
            if self.hive { "hive" } else { "flat" },
            if self.instance {
                "named by --instance"
            } else {
                "without --instance"
            },
            self.zone.as_deref().unwrap_or("not recorded")
        )
    }
}

/// Refuses (exit 2) an export whose scheme differs from a day file already under the local
/// out dir `root`, naming that file and the fix. A remote prefix is checked by its file names
/// only when it is listed (catch-up); its zone by the day's own file.
pub fn check_export(root: &Path, layout: &Layout, zone: Tz) -> Result<()> {
    let mine = Scheme::new(layout, Some(zone.name()));
    for rel in verify::relative_files(root, 3)? {
        let Some((_, theirs)) = names::day_file_of(&rel) else {
            continue;
        };
        let footer = verify::read_footer(&root.join(&rel)).ok();
        let tz = footer
            .as_ref()
            .and_then(|f| f.kv.get(crate::contract::footer::TIMEZONE));
        let found = Scheme::new(&theirs, tz.map(String::as_str));
        if !mine.fits(&found) {
            return Err(UsageError(format!(
                "{} already holds {rel} ({}), and this run writes {}: one out dir holds one \
                 scheme. Run with the same --layout, --instance and --tz as the files there, \
                 or give this scheme its own --out-dir",
                root.display(),
                found.describe(),
                mine.describe()
            ))
            .into());
        }
    }
    Ok(())
}

/// `verify`'s problems with a set of checked day files as one folder: more than one scheme,
/// or two files of one instance whose days overlap (days of two zones).
pub fn folder_problems(checks: &[FileCheck]) -> Vec<String> {
    let mut schemes: BTreeMap<Scheme, &Path> = BTreeMap::new();
    // Per instance: (day start, day end, file).
    let mut spans: BTreeMap<Option<String>, Vec<(i64, i64, &Path)>> = BTreeMap::new();
    for c in checks {
        let Some((_, layout)) = names::day_file_at(&c.path) else {
            continue;
        };
        schemes
            .entry(Scheme::new(&layout, c.timezone.as_deref()))
            .or_insert(&c.path);
        if let Some(day) = day_of(c) {
            let span = (day.start_ms(), day.end_ms(), c.path.as_path());
            spans.entry(layout.instance).or_default().push(span);
        }
    }
    let mut problems = Vec::new();
    let list: Vec<(&Scheme, &&Path)> = schemes.iter().collect();
    if let Some((first, rest)) = list.split_first() {
        for (s, p) in rest.iter().filter(|(s, _)| !first.0.fits(s)) {
            problems.push(format!(
                "the folder mixes schemes: {} is {}, {} is {} (one out dir holds one scheme)",
                first.1.display(),
                first.0.describe(),
                p.display(),
                s.describe()
            ));
        }
    }
    for files in spans.values_mut() {
        files.sort();
        for w in files.windows(2) {
            if w[1].0 < w[0].1 {
                problems.push(format!(
                    "{} and {} cover overlapping hours (two files of one day, or days of \
                     different zones): readers count those records twice",
                    w[0].2.display(),
                    w[1].2.display()
                ));
            }
        }
    }
    problems
}

/// How many ids `shared_ids` holds at most (8 bytes each): beyond it, the check says it did
/// not run rather than take the memory.
const MAX_IDS: usize = 20_000_000;

/// `verify`'s problem with day files of one instance that hold the same `record_id`: each
/// record belongs to one day, so readers of the folder would count it twice. Ids are kept by
/// hash; a hit is confirmed by reading the first file's ids again.
pub fn shared_ids(checks: &[FileCheck]) -> Vec<String> {
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
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ProjectionMask;
    let fail = |e: &dyn std::fmt::Display| format!("{}: cannot read its ids: {e}", path.display());
    let file = crate::fsio::open_regular(path).map_err(|e| fail(&e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| fail(&e))?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), [crate::batch::col("record_id")]);
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

fn day_of(c: &FileCheck) -> Option<Day> {
    let date = c.day.as_deref()?.parse().ok()?;
    let tz: Tz = c.timezone.as_deref()?.parse().ok()?;
    Day::new(date, tz).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &str, day: &str, tz: &str) -> FileCheck {
        FileCheck {
            path: path.into(),
            day: Some(day.into()),
            timezone: Some(tz.into()),
            ..Default::default()
        }
    }

    #[test]
    fn one_scheme_passes_and_a_second_is_named() {
        let same = [
            check("/o/ops_atomic_20251029.parquet", "2025-10-29", "UTC"),
            check("/o/ops_atomic_20251030.parquet", "2025-10-30", "UTC"),
        ];
        assert!(folder_problems(&same).is_empty());
        let zones = [
            check("/o/ops_atomic_20251029.parquet", "2025-10-29", "UTC"),
            check(
                "/o/ops_atomic_20251030.parquet",
                "2025-10-30",
                "Asia/Bangkok",
            ),
        ];
        let p = folder_problems(&zones);
        assert!(p.iter().any(|p| p.contains("mixes schemes")), "{p:?}");
        // 2025-10-30 in Bangkok starts at 17:00 UTC on the 29th.
        assert!(p.iter().any(|p| p.contains("overlapping hours")), "{p:?}");
        let layouts = [
            check("/o/ops_atomic_20251029.parquet", "2025-10-29", "UTC"),
            check(
                "/o/day=2025-10-30/ops_atomic_20251030.parquet",
                "2025-10-30",
                "UTC",
            ),
        ];
        assert_eq!(folder_problems(&layouts).len(), 1);
        // Two instances, each with its own day: the same hours, not an overlap.
        let instances = [
            check("/o/ops_atomic_20251030.a.parquet", "2025-10-30", "UTC"),
            check("/o/ops_atomic_20251030.b.parquet", "2025-10-30", "UTC"),
        ];
        assert!(folder_problems(&instances).is_empty());
    }
}
