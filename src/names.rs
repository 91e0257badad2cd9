//! The contract's file names, in one place: the day file, its rejects file and its summary
//! (docs/contract.md, "Output schema v1"). Everything that writes, lists or checks these files asks here.

use chrono::NaiveDate;

const DAY_PREFIX: &str = "ops_atomic_";
const PARQUET_SUFFIX: &str = ".parquet";
pub const REJECTS_SUFFIX: &str = ".rejects.ndjson";
const LEGACY_REJECTS_SUFFIX: &str = ".legacy-rejects.ndjson";
const SUMMARY_PREFIX: &str = "parquet_export_summary_";
const SUMMARY_SUFFIX: &str = ".md";
/// The hive layout's partition directories: `day=YYYY-MM-DD/`, under `instance=NAME/` when
/// the exporter has an instance name.
pub const DAY_DIR_PREFIX: &str = "day=";
pub const INSTANCE_DIR_PREFIX: &str = "instance=";

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

/// The day of a day file's name (`ops_atomic_YYYYMMDD.parquet`, or with an instance,
/// `ops_atomic_YYYYMMDD.NAME.parquet`), `None` for any other name.
pub fn day_of_parquet(name: &str) -> Option<NaiveDate> {
    date_with_instance(name, PARQUET_SUFFIX)
}

/// `prefix` + 8 digits + optional `.INSTANCE` + `suffix`.
fn date_with_instance(name: &str, suffix: &str) -> Option<NaiveDate> {
    let inner = name.strip_prefix(DAY_PREFIX)?.strip_suffix(suffix)?;
    let digits = match inner.split_once('.') {
        Some((digits, instance)) if valid_instance(instance) => digits,
        Some(_) => return None,
        None => inner,
    };
    date_between(digits, "", "")
}

/// An `--instance` name: 1 to 64 ASCII letters, digits, `-` or `_` (it becomes part of file
/// names, object keys and a partition directory).
pub fn valid_instance(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Where a day's files go under the out dir or bucket prefix: `flat` puts
/// `ops_atomic_YYYYMMDD.parquet` at the top (with an instance, `ops_atomic_YYYYMMDD.NAME.parquet`);
/// `hive` puts it under `day=YYYY-MM-DD/` (with an instance, `instance=NAME/day=YYYY-MM-DD/`),
/// the partition directories DuckDB, Hive/Trino, Spark and Athena read as columns.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Layout {
    pub hive: bool,
    pub instance: Option<String>,
}

impl Layout {
    fn name(&self, date: NaiveDate, suffix: &str) -> String {
        match (&self.instance, self.hive) {
            (Some(i), false) => format!("{DAY_PREFIX}{}.{i}{suffix}", compact(date)),
            _ => format!("{DAY_PREFIX}{}{suffix}", compact(date)),
        }
    }

    /// The day's directory, `/`-terminated, or empty in the flat layout.
    pub fn dir(&self, date: NaiveDate) -> String {
        if !self.hive {
            return String::new();
        }
        let instance = self
            .instance
            .as_ref()
            .map(|i| format!("{INSTANCE_DIR_PREFIX}{i}/"))
            .unwrap_or_default();
        format!("{instance}{DAY_DIR_PREFIX}{}/", date.format("%Y-%m-%d"))
    }

    /// The day file, relative to the out dir or prefix, `/`-separated.
    pub fn day_file(&self, date: NaiveDate) -> String {
        format!("{}{}", self.dir(date), self.name(date, PARQUET_SUFFIX))
    }

    /// The day's rejects file, next to the day file.
    /// The day's rejects file, in the summary dir: the data tree holds day files only, so
    /// that every reader can be pointed at its root. The instance's name is in it in either
    /// layout, as several instances may share a summary dir's neighbourhood.
    pub fn rejects_file(&self, date: NaiveDate) -> String {
        match &self.instance {
            Some(i) => format!("{DAY_PREFIX}{}.{i}{REJECTS_SUFFIX}", compact(date)),
            None => rejects(date),
        }
    }

    /// Where earlier versions put the rejects file: beside the day file, in the data tree.
    pub fn old_rejects_file(&self, date: NaiveDate) -> String {
        format!("{}{}", self.dir(date), self.name(date, REJECTS_SUFFIX))
    }

    /// The day of `rel` when it is exactly this layout's day file for that day (another
    /// instance's files, or another layout's, are not this exporter's days).
    pub fn day_of(&self, rel: &str) -> Option<NaiveDate> {
        let date = day_of_parquet(rel.rsplit('/').next()?)?;
        (self.day_file(date) == rel).then_some(date)
    }
}

/// The one rule for reading a day file's place: the day and the layout (flat or hive, with or
/// without an instance) of `rel`, a path relative to the out dir or bucket prefix, when it is
/// exactly where that layout puts that day's file. Export, `verify`, `history`, catch-up and the
/// report all read day files through this, so that a file one of them writes is a day file to
/// every other.
pub fn day_file_of(rel: &str) -> Option<(NaiveDate, Layout)> {
    let mut parts = rel.rsplit('/');
    let name = parts.next()?;
    let date = day_of_parquet(name)?;
    let (dir, instance_dir) = (parts.next(), parts.next());
    let instance = match instance_dir.and_then(|d| d.strip_prefix(INSTANCE_DIR_PREFIX)) {
        Some(i) => Some(i.to_string()),
        None => name
            .strip_prefix(DAY_PREFIX)
            .and_then(|n| n.strip_suffix(PARQUET_SUFFIX))
            .and_then(|n| n.split_once('.'))
            .map(|(_, i)| i.to_string()),
    };
    let layout = Layout {
        hive: dir.is_some(),
        instance,
    };
    let named = layout.instance.as_deref().is_none_or(valid_instance);
    (named && layout.day_file(date) == rel).then_some((date, layout))
}

/// The day and layout of a day file at `path` on disk, read from its last components (the
/// hive layout's partition directories, when there are any).
pub fn day_file_at(path: &std::path::Path) -> Option<(NaiveDate, Layout)> {
    let parts: Vec<&str> = path
        .components()
        .rev()
        .take(3)
        .map(|c| c.as_os_str().to_str())
        .collect::<Option<Vec<_>>>()?;
    // Longest first: `instance=a/day=…/file` is hive with an instance, not a flat file.
    (1..=parts.len()).rev().find_map(|n| {
        let rel: Vec<&str> = parts[..n].iter().rev().copied().collect();
        day_file_of(&rel.join("/"))
    })
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
/// A rejects file of an export or an import: what older versions left in the data tree.
pub fn is_rejects(name: &str) -> bool {
    date_with_instance(name, REJECTS_SUFFIX).is_some()
        || date_between(name, DAY_PREFIX, LEGACY_REJECTS_SUFFIX).is_some()
        || name == legacy_undated_rejects()
}

pub fn is_out_dir_output(name: &str) -> bool {
    day_of_parquet(name).is_some()
        || date_with_instance(name, REJECTS_SUFFIX).is_some()
        || date_between(name, DAY_PREFIX, LEGACY_REJECTS_SUFFIX).is_some()
        || name == legacy_undated_rejects()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_place_and_recognise_day_files() {
        let d = NaiveDate::from_ymd_opt(2025, 10, 30).unwrap();
        let flat = Layout::default();
        let hive = Layout {
            hive: true,
            instance: None,
        };
        let flat_i = Layout {
            hive: false,
            instance: Some("site-b".into()),
        };
        let hive_i = Layout {
            hive: true,
            instance: Some("site-b".into()),
        };
        assert_eq!(flat.day_file(d), "ops_atomic_20251030.parquet");
        assert_eq!(
            hive.day_file(d),
            "day=2025-10-30/ops_atomic_20251030.parquet"
        );
        assert_eq!(flat_i.day_file(d), "ops_atomic_20251030.site-b.parquet");
        assert_eq!(
            hive_i.day_file(d),
            "instance=site-b/day=2025-10-30/ops_atomic_20251030.parquet"
        );
        // Rejects live beside the summaries, named with their instance in either layout.
        assert_eq!(hive.rejects_file(d), "ops_atomic_20251030.rejects.ndjson");
        assert_eq!(
            hive_i.rejects_file(d),
            "ops_atomic_20251030.site-b.rejects.ndjson"
        );
        assert_eq!(
            flat_i.rejects_file(d),
            "ops_atomic_20251030.site-b.rejects.ndjson"
        );
        assert_eq!(
            hive.old_rejects_file(d),
            "day=2025-10-30/ops_atomic_20251030.rejects.ndjson"
        );
        for l in [&flat, &hive, &flat_i, &hive_i] {
            assert_eq!(l.day_of(&l.day_file(d)), Some(d), "{l:?}");
            for other in [&flat, &hive, &flat_i, &hive_i] {
                if other != l {
                    assert_eq!(
                        l.day_of(&other.day_file(d)),
                        None,
                        "{l:?} took {other:?}'s file"
                    );
                }
            }
        }
        assert_eq!(
            day_of_parquet("ops_atomic_20251030.site-b.parquet"),
            Some(d)
        );
        assert_eq!(day_of_parquet("ops_atomic_20251030.a/b.parquet"), None);
        assert!(is_out_dir_output(
            "ops_atomic_20251030.site-b.rejects.ndjson"
        ));
        assert!(!valid_instance("") && !valid_instance("a b") && !valid_instance("x/y"));
    }

    #[test]
    fn one_rule_reads_back_every_layout() {
        let d = NaiveDate::from_ymd_opt(2025, 10, 30).unwrap();
        for hive in [false, true] {
            for instance in [None, Some("site-b".to_string())] {
                let l = Layout { hive, instance };
                assert_eq!(day_file_of(&l.day_file(d)), Some((d, l.clone())));
                let abs = std::path::Path::new("/srv/out").join(l.day_file(d));
                assert_eq!(day_file_at(&abs), Some((d, l.clone())), "{l:?}");
            }
        }
        for not in [
            "day=2025-10-31/ops_atomic_20251030.parquet",
            "x/ops_atomic_20251030.parquet",
            "day=2025-10-30/ops_atomic_20251030.a.parquet",
            "instance=a/ops_atomic_20251030.parquet",
            "instance=/day=2025-10-30/ops_atomic_20251030.parquet",
        ] {
            assert_eq!(day_file_of(not), None, "{not}");
        }
        // A flat file in any folder is still a flat file there.
        assert_eq!(
            day_file_at(std::path::Path::new("/srv/x/ops_atomic_20251030.a.parquet")),
            Some((
                d,
                Layout {
                    hive: false,
                    instance: Some("a".into())
                }
            ))
        );
    }

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
