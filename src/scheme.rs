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
/// out dir `root`, naming that file and the fix. `found` is each day file there, relative to
/// `root`, with the zone its footer records. A remote prefix is checked through the day's own
/// object (its zone) only.
pub fn check_export(
    root: &Path,
    found: &[(String, Option<String>)],
    layout: &Layout,
    zone: Tz,
) -> Result<()> {
    let mine = Scheme::new(layout, Some(zone.name()));
    for (rel, tz) in found {
        let Some((_, theirs)) = names::day_file_of(rel) else {
            continue;
        };
        let found = Scheme::new(&theirs, tz.as_deref());
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

/// A day file as the folder checks see it: where it is, and the day and zone its footer
/// records.
pub struct Placed<'a> {
    pub path: &'a Path,
    pub day: Option<&'a str>,
    pub timezone: Option<&'a str>,
}

/// `verify`'s problems with a set of checked day files as one folder: more than one scheme,
/// or two files of one instance whose days overlap (days of two zones).
pub fn folder_problems(files: &[Placed]) -> Vec<String> {
    let mut schemes: BTreeMap<Scheme, &Path> = BTreeMap::new();
    // Per instance: (day start, day end, file).
    let mut spans: BTreeMap<Option<String>, Vec<(i64, i64, &Path)>> = BTreeMap::new();
    for c in files {
        let Some((_, layout)) = names::day_file_at(c.path) else {
            continue;
        };
        schemes
            .entry(Scheme::new(&layout, c.timezone))
            .or_insert(c.path);
        if let Some(day) = day_of(c) {
            let span = (day.start_ms(), day.end_ms(), c.path);
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

fn day_of(c: &Placed) -> Option<Day> {
    let date = c.day?.parse().ok()?;
    let tz: Tz = c.timezone?.parse().ok()?;
    Day::new(date, tz).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<'a>(path: &'a str, day: &'a str, tz: &'a str) -> Placed<'a> {
        Placed {
            path: Path::new(path),
            day: Some(day),
            timezone: Some(tz),
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
