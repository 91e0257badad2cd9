//! Unattended runs: which days a run exports (one day, a backfill range, or catch-up of missing
//! and short days). The lock that keeps two runs apart is `lock`'s.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::NaiveDate;

use crate::contract::Verdict;
use crate::names::Layout;
use crate::target::Target;
use crate::verify;

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
}
