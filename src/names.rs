//! The contract's file names, in one place: the day file, its rejects file and its summary
//! (CONTRACT.md §3). Everything that writes, lists or checks these files asks here.

use chrono::NaiveDate;

const DAY_PREFIX: &str = "ops_atomic_";
const PARQUET_SUFFIX: &str = ".parquet";
const REJECTS_SUFFIX: &str = ".rejects.ndjson";
const LEGACY_REJECTS_SUFFIX: &str = ".legacy-rejects.ndjson";
const SUMMARY_PREFIX: &str = "parquet_export_summary_";
const SUMMARY_SUFFIX: &str = ".md";

fn compact(date: NaiveDate) -> String {
    date.format("%Y%m%d").to_string()
}

/// `ops_atomic_YYYYMMDD.parquet`
pub fn parquet(date: NaiveDate) -> String {
    format!("{DAY_PREFIX}{}{PARQUET_SUFFIX}", compact(date))
}

/// `ops_atomic_YYYYMMDD.rejects.ndjson`
pub fn rejects(date: NaiveDate) -> String {
    format!("{DAY_PREFIX}{}{REJECTS_SUFFIX}", compact(date))
}

/// `parquet_export_summary_YYYYMMDD.md`
pub fn summary(date: NaiveDate) -> String {
    format!("{SUMMARY_PREFIX}{}{SUMMARY_SUFFIX}", compact(date))
}

/// The day of a summary's name, `None` for any other name.
pub fn day_of_summary(name: &str) -> Option<NaiveDate> {
    date_between(name, SUMMARY_PREFIX, SUMMARY_SUFFIX)
}

fn date_between<'a>(name: &'a str, prefix: &str, suffix: &str) -> Option<NaiveDate> {
    let digits: &'a str = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

/// The day of a day file's name, `None` for any other name.
pub fn day_of_parquet(name: &str) -> Option<NaiveDate> {
    date_between(name, DAY_PREFIX, PARQUET_SUFFIX)
}

/// Whether `name` looks like a day file, even one whose date is unreadable (for listings that
/// must report such a file rather than skip it).
pub fn looks_like_parquet(name: &str) -> bool {
    name.starts_with(DAY_PREFIX) && name.ends_with(PARQUET_SUFFIX)
}

/// `ops_atomic_YYYYMMDD.legacy-rejects.ndjson`: the rejects of a legacy import, apart from an
/// export's own rejects file for that day.
pub fn legacy_rejects(date: NaiveDate) -> String {
    format!("{DAY_PREFIX}{}{LEGACY_REJECTS_SUFFIX}", compact(date))
}

/// Where an import puts rejects that no date can be found for.
pub fn legacy_undated_rejects() -> String {
    "legacy_import_undated.rejects.ndjson".into()
}

/// `legacy_import_summary_FIRST_LAST.md` for an import covering those days (`YYYY-MM-DD`).
pub fn import_summary(first: &str, last: &str) -> String {
    format!(
        "legacy_import_summary_{}_{}.md",
        first.replace('-', ""),
        last.replace('-', "")
    )
}

/// `parquet_exporter_verification_YYYYMMDD.md`: `verify --report`'s deployment report.
pub fn verification(date: NaiveDate) -> String {
    format!("parquet_exporter_verification_{}.md", compact(date))
}

/// `parquet_export_summary_YYYYMMDD.svg`: the day's timeline picture, beside its summary.
pub fn timeline(date: NaiveDate) -> String {
    format!("{SUMMARY_PREFIX}{}.svg", compact(date))
}

/// Whether `name` is a summary's file name, or its timeline picture's.
pub fn is_summary(name: &str) -> bool {
    date_between(name, SUMMARY_PREFIX, SUMMARY_SUFFIX).is_some()
        || date_between(name, SUMMARY_PREFIX, ".svg").is_some()
}

/// Whether `name` is one of the files an export writes into the output directory.
pub fn is_out_dir_output(name: &str) -> bool {
    day_of_parquet(name).is_some()
        || date_between(name, DAY_PREFIX, REJECTS_SUFFIX).is_some()
        || date_between(name, DAY_PREFIX, LEGACY_REJECTS_SUFFIX).is_some()
        || name == legacy_undated_rejects()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let d = NaiveDate::from_ymd_opt(2025, 10, 30).unwrap();
        assert_eq!(parquet(d), "ops_atomic_20251030.parquet");
        assert_eq!(rejects(d), "ops_atomic_20251030.rejects.ndjson");
        assert_eq!(summary(d), "parquet_export_summary_20251030.md");
        assert_eq!(day_of_parquet(&parquet(d)), Some(d));
        assert!(is_out_dir_output(&rejects(d)) && is_out_dir_output(&parquet(d)));
        for other in [
            "ops_atomic_2025.parquet",
            "ops_atomic_20251399.parquet",
            "ops_atomic_+2025103.parquet",
            "notes.txt",
            "parquet_export_summary_20251030.md",
        ] {
            assert_eq!(day_of_parquet(other), None, "{other}");
            assert!(!is_out_dir_output(other), "{other}");
        }
        assert!(looks_like_parquet("ops_atomic_2025.parquet"));
        assert!(is_summary(&summary(d)) && !is_summary(&parquet(d)));
    }
}
