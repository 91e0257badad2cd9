//! One day file checked as `verify` checks it, never panicking on a bad file: every defect is
//! a problem line. A new day file is staged and checked this way before it is published.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::datatypes::Schema;
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use serde::Serialize;

use super::footer::{is_legacy_schema, key_values, open_bounded, Failure};
use super::passes::row_problems;
use super::size::{human_size, mb, SIZE_TARGET_BYTES};
use crate::atomic;
use crate::batch::{self, SCHEMA_VERSION};
use crate::contract::{footer, Verdict};
use crate::day::Day;
use crate::escape::plain;
use crate::names;

/// What reading a file back found. `problems` empty means valid.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileCheck {
    pub path: PathBuf,
    pub bytes: u64,
    pub rows: Option<i64>,
    /// Codec of each column chunk, by column path (one entry per column; "mixed" if they differ).
    pub codecs: BTreeMap<String, String>,
    pub schema_version: Option<String>,
    pub schema_fingerprint: Option<String>,
    pub day: Option<String>,
    pub timezone: Option<String>,
    /// The export's verdict as its footer records it (`ops_atomic.verdict`).
    pub verdict: Option<String>,
    /// An intraday file's cut (`ops_atomic.covers_until`); `None` for a whole day's file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub covers_until: Option<String>,
    /// The machine that wrote it (`ops_atomic.written_by`), when the footer says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written_by: Option<String>,
    /// The old exporter's format: records `import-legacy` can bring over, not a broken file.
    #[serde(skip)]
    pub legacy: bool,
    pub problems: Vec<String>,
    /// The problem that stopped the check when it was the system's (no file descriptor left,
    /// an I/O error), not the file's: it is also among `problems`, but says nothing of the file.
    #[serde(skip)]
    pub system_failure: Option<String>,
    /// Not defects of the file, but what a reader should know (e.g. a partial day).
    pub warnings: Vec<String>,
}

impl FileCheck {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Whether the file holds the whole day: not an intraday file (cut, or marked incomplete).
    pub fn whole_day(&self) -> bool {
        self.covers_until.is_none() && self.footer_verdict() != Some(Verdict::Incomplete)
    }

    /// The footer's verdict, when it is one this exporter writes (`verify` reports any other
    /// value as a problem of the file).
    pub fn footer_verdict(&self) -> Option<Verdict> {
        self.verdict.as_deref().and_then(|v| v.parse().ok())
    }

    /// `Validation: OK`, or `Validation: FAILED` and one `- problem` line per problem; the
    /// verdict line starts with `head`, each problem line with `item`.
    pub fn validation_lines(&self, head: &str, item: &str) -> String {
        if self.ok() {
            return format!("{head}Validation: OK\n");
        }
        let mut out = format!("{head}Validation: FAILED\n");
        for p in &self.problems {
            out.push_str(&format!("{item}- {p}\n"));
        }
        out
    }

    /// "snappy" when every column chunk is SNAPPY, else the distinct codecs; for a file with no
    /// column chunk, why there is none.
    pub fn compression(&self) -> String {
        if self.codecs.is_empty() {
            return match self.rows {
                Some(0) => "none: a zero-row file has no column chunk".into(),
                _ => "unknown".into(),
            };
        }
        let set: BTreeSet<&str> = self.codecs.values().map(String::as_str).collect();
        set.into_iter().collect::<Vec<_>>().join(", ")
    }
}

/// A stable fingerprint of an Arrow schema's names, types and nullability (FNV-1a, 64 bits).
pub fn fingerprint(schema: &Schema) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for f in schema.fields() {
        for b in format!("{}:{}:{};", f.name(), f.data_type(), f.is_nullable()).bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    format!("{h:016x}")
}

/// Checks one file, and its size against the hard limit `max_bytes` (`--max-size`) when given;
/// a file over the 5 MB target without a limit gets a warning. Never panics on a bad file:
/// every defect becomes a problem line.
pub fn check_file(path: &Path, max_bytes: Option<u64>) -> FileCheck {
    let mut check = FileCheck {
        path: path.to_path_buf(),
        ..Default::default()
    };
    match inspect(path, &mut check) {
        Ok(()) => {}
        Err(Failure::File(e)) => check.problems.push(e),
        Err(Failure::System(e)) => {
            check.system_failure = Some(e.clone());
            check.problems.push(e);
        }
    }
    match max_bytes {
        Some(max) if check.bytes > max => check.problems.push(format!(
            "file is {}, over the {} limit set by --max-size",
            human_size(check.bytes),
            mb(max)
        )),
        None if check.bytes > SIZE_TARGET_BYTES => check.warnings.push(format!(
            "{} is over the {} target (set --max-size to refuse such files)",
            human_size(check.bytes),
            mb(SIZE_TARGET_BYTES)
        )),
        _ => {}
    }
    check
}

/// The new day file failed the checks `verify` applies, so it was not published (exit status 1).
#[derive(Debug, thiserror::Error)]
#[error("the new {path} failed its checks and was not published; the previous file, if any, is untouched: {}", problems.join("; "))]
pub struct NotPublished {
    pub path: String,
    pub problems: Vec<String>,
}

/// Writes a day file with `write` to a temp file beside `path` and checks it as `verify` does
/// (with `max_bytes`, when given): the staged file, ready to publish, and what the check found.
/// A file that fails is not published (`NotPublished`) and its temp file is removed.
pub fn stage_checked(
    path: &Path,
    max_bytes: Option<u64>,
    write: impl FnOnce(&mut std::io::BufWriter<&File>) -> anyhow::Result<()>,
) -> anyhow::Result<(atomic::Staged, FileCheck)> {
    let staged = atomic::stage(path, write)?;
    check_staged(staged, path, max_bytes)
}

/// The second half of `stage_checked`, for a caller that staged the file itself.
pub fn check_staged(
    staged: atomic::Staged,
    path: &Path,
    max_bytes: Option<u64>,
) -> anyhow::Result<(atomic::Staged, FileCheck)> {
    let mut check = check_file(staged.path(), max_bytes);
    check.path = path.to_path_buf();
    // An error of the system (no file descriptor left, an I/O error) says nothing of the file:
    // name it as what it is, not as a check the new file failed.
    if let Some(p) = &check.system_failure {
        anyhow::bail!(
            "could not read back the new {} to check it, so it was not published: {}",
            path.display(),
            plain(p)
        );
    }
    if !check.ok() {
        return Err(NotPublished {
            path: path.display().to_string(),
            problems: check.problems,
        }
        .into());
    }
    Ok((staged, check))
}

fn inspect(path: &Path, check: &mut FileCheck) -> Result<(), Failure> {
    check.bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let (_, meta) = open_bounded(path)?;
    let reader_meta = ArrowReaderMetadata::try_new(meta.clone(), Default::default())
        .map_err(|e| Failure::of(format!("not a readable Parquet file: {e}"), &e))?;
    let fm = meta.file_metadata();
    check.rows = Some(fm.num_rows());

    let kv = key_values(fm);
    check.schema_version = kv.get(footer::SCHEMA_VERSION).cloned();
    check.day = kv.get(footer::DAY).cloned();
    check.timezone = kv.get(footer::TIMEZONE).cloned();
    check.verdict = kv.get(footer::VERDICT).cloned();
    check.covers_until = kv.get(footer::COVERS_UNTIL).cloned();
    check.written_by = kv.get(footer::WRITTEN_BY).cloned();
    match check.footer_verdict() {
        Some(Verdict::Partial) => check.warnings.push(
            "the footer says this export was partial: a source could not be read, so the day \
             may lack records (catch-up exports it again)"
                .into(),
        ),
        Some(Verdict::Incomplete) => check.warnings.push(format!(
            "the footer says this is an intraday export, incomplete: it holds the day only up to \
             {} (the day's complete export replaces it; catch-up exports it again)",
            kv.get(footer::COVERS_UNTIL)
                .map_or("an instant it does not record".into(), |u| plain(u))
        )),
        _ => {}
    }
    check.schema_fingerprint = Some(fingerprint(reader_meta.schema()));

    for rg in meta.row_groups() {
        for col in rg.columns() {
            let name = col.column_path().string();
            let codec = format!("{:?}", col.compression()).to_lowercase();
            let codec = codec.split('(').next().unwrap_or_default().to_string();
            match check.codecs.get(&name) {
                Some(c) if *c != codec => {
                    check.codecs.insert(name, "mixed".into());
                }
                Some(_) => {}
                None => {
                    check.codecs.insert(name, codec);
                }
            }
        }
    }
    let not_snappy: Vec<&String> = check
        .codecs
        .iter()
        .filter(|(_, c)| c.as_str() != "snappy")
        .map(|(n, _)| n)
        .collect();
    if !not_snappy.is_empty() {
        check.problems.push(format!(
            "column chunks not SNAPPY-compressed: {}",
            not_snappy
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }

    if check.schema_version.as_deref() != Some(SCHEMA_VERSION) {
        check.problems.push(format!(
            "schema version is {}, expected {SCHEMA_VERSION}",
            check.schema_version.as_deref().unwrap_or("absent")
        ));
    }
    let want = batch::schema();
    let got = reader_meta.schema();
    if got.fields() != want.fields() {
        check.problems.push(schema_difference(&want, got));
        if is_legacy_schema(got) {
            check.legacy = true;
            check.problems.push(
                "this is the old exporter's format: `parquet-exporter import-legacy PATH` turns \
                 it into a schema-v1 day file"
                    .into(),
            );
        }
        // The data checks below assume schema v1.
        return Ok(());
    }
    check.problems.extend(footer_counts(&kv, fm.num_rows()));
    let day = match (&check.day, &check.timezone) {
        (Some(d), Some(tz)) => match (d.parse(), tz.parse()) {
            (Ok(d), Ok(tz)) => Day::new(d, tz).ok(),
            _ => None,
        },
        _ => None,
    };
    if day.is_none() {
        check
            .problems
            .push("metadata lacks a valid ops_atomic.day and ops_atomic.timezone".into());
    }
    if let (Some(d), Some(name)) = (&day, path.file_name().and_then(|n| n.to_str())) {
        if names::looks_like_parquet(name) {
            check.problems.extend(name_problem(path, name, d, &kv));
        }
    }

    check
        .problems
        .extend(row_problems(path, &reader_meta, day, fm.num_rows())?);
    Ok(())
}

/// Whether a day file stands where its layout puts its day, by the one rule
/// (`names::day_file_at`): the day in its name and partition is the footer's, and so is the
/// instance (in the name, flat; in the `instance=` directory, hive).
fn name_problem(
    path: &Path,
    name: &str,
    day: &Day,
    kv: &BTreeMap<String, String>,
) -> Option<String> {
    let written_by = kv.get(footer::INSTANCE).map(String::as_str);
    match names::day_file_at(path) {
        Some((date, _)) if date != day.date() => {
            Some(format!("file name {name} does not match its day {day}"))
        }
        Some((_, layout)) if layout.instance.as_deref() != written_by => Some(format!(
            "{name} stands as instance {} but its footer says {}",
            layout.instance.as_deref().unwrap_or("(none)"),
            written_by.unwrap_or("(none)")
        )),
        Some(_) => None,
        None => Some(format!(
            "file name {name} does not match its day {day} in either layout"
        )),
    }
}

/// What the footer's counts say against the rows the file holds: the row count it records, a
/// verdict this exporter writes and that fits the rows (a success has rows, an empty day has
/// none), and an export's accounting, records read (plus rows carried over from the day's
/// previous file, and legacy rows imported into it since) = rows + merged + rejected. A file whose
/// footer was edited to look complete fails here, so catch-up redoes its day.
fn footer_counts(kv: &BTreeMap<String, String>, num_rows: i64) -> Vec<String> {
    let mut problems = Vec::new();
    let count = |key: &str| kv.get(key).and_then(|v| v.parse::<i64>().ok());
    match kv.get(footer::ROWS) {
        None => problems.push("the footer records no row count (ops_atomic.rows)".to_string()),
        Some(rows) if rows.parse::<i64>().ok() != Some(num_rows) => problems.push(format!(
            "footer has {num_rows} rows but its metadata says {rows}"
        )),
        Some(_) => {}
    }
    let written = kv.get(footer::VERDICT).map(|v| (v, v.parse::<Verdict>()));
    let verdict = match written {
        None => {
            problems.push("the footer records no verdict (ops_atomic.verdict)".to_string());
            None
        }
        Some((v, Err(_))) => {
            problems.push(format!(
                "the footer's verdict {:?} is not one this exporter writes",
                plain(v)
            ));
            None
        }
        Some((_, Ok(v))) => Some(v),
    };
    match verdict {
        Some(Verdict::Success) if num_rows == 0 => {
            problems.push("the footer says success for a file with no rows".to_string())
        }
        Some(Verdict::Empty) if num_rows != 0 => problems.push(format!(
            "the footer says empty for a file with {num_rows} rows"
        )),
        _ => {}
    }
    // An unknown verdict is a problem already; its counts are still checked as an export's.
    if written.is_some() && verdict != Some(Verdict::Imported) {
        // Records read from the sources, and the legacy rows an import added since.
        let read: Option<i64> = kv
            .iter()
            .filter(|(k, _)| {
                (k.starts_with(footer::SOURCE_PREFIX)
                    && (k.ends_with(".read") || *k == footer::LEGACY_ROWS))
                    || *k == footer::CARRIED
            })
            .map(|(_, v)| v.parse::<i64>().ok())
            .sum();
        let accounted = [
            Some(num_rows),
            count(footer::MERGED),
            count(footer::REJECTED),
        ]
        .into_iter()
        .sum::<Option<i64>>();
        if read.is_none() || accounted.is_none() || read != accounted {
            problems.push(format!(
                "the footer's counts do not add up: records read {} != rows {num_rows} + merged \
                 {} + rejected {}",
                read.map_or("?".into(), |n| n.to_string()),
                count(footer::MERGED).map_or("?".into(), |n| n.to_string()),
                count(footer::REJECTED).map_or("?".into(), |n| n.to_string()),
            ));
        }
    }
    problems
}

fn schema_difference(want: &Schema, got: &Schema) -> String {
    let show = |f: &arrow::datatypes::Field| {
        format!(
            "{}{}",
            f.data_type(),
            if f.is_nullable() { "" } else { " not null" }
        )
    };
    let mut parts = Vec::new();
    let missing: Vec<&str> = want
        .fields()
        .iter()
        .filter(|f| got.field_with_name(f.name()).is_err())
        .map(|f| f.name().as_str())
        .collect();
    if !missing.is_empty() {
        parts.push(format!("missing columns {}", missing.join(", ")));
    }
    let extra: Vec<&str> = got
        .fields()
        .iter()
        .filter(|f| want.field_with_name(f.name()).is_err())
        .map(|f| f.name().as_str())
        .collect();
    if !extra.is_empty() {
        parts.push(format!("unexpected columns {}", extra.join(", ")));
    }
    let changed: Vec<String> = got
        .fields()
        .iter()
        .filter_map(|g| {
            let w = want.field_with_name(g.name()).ok()?;
            (show(w) != show(g)).then(|| format!("{} is {} (v1: {})", g.name(), show(g), show(w)))
        })
        .collect();
    if !changed.is_empty() {
        parts.push(changed.join("; "));
    }
    if parts.is_empty() {
        parts.push("columns are out of order".into());
    }
    format!("schema is not v1: {}", parts.join("; "))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::batch::tests::row;
    use arrow::array::RecordBatch;

    pub(crate) fn write(
        dir: &Path,
        name: &str,
        rows: &[crate::record::Row],
        kv: Vec<(String, String)>,
    ) -> PathBuf {
        let p = dir.join(name);
        let f = File::create(&p).unwrap();
        crate::writer::write_parquet(f, rows.iter().map(crate::record::Row::view), kv, 100)
            .unwrap();
        p
    }

    fn check_file_unsized(p: &Path) -> FileCheck {
        check_file(p, None)
    }

    pub(crate) fn kv(rows: usize) -> Vec<(String, String)> {
        let verdict = if rows == 0 { "empty" } else { "success" };
        vec![
            ("ops_atomic.schema_version".into(), "1".into()),
            ("ops_atomic.day".into(), "1970-01-01".into()),
            ("ops_atomic.timezone".into(), "UTC".into()),
            ("ops_atomic.rows".into(), rows.to_string()),
            ("ops_atomic.merged".into(), "0".into()),
            ("ops_atomic.rejected".into(), "0".into()),
            ("ops_atomic.verdict".into(), verdict.into()),
            ("ops_atomic.source.sqlite.read".into(), rows.to_string()),
        ]
    }

    #[test]
    fn a_footer_edited_to_look_complete_fails() {
        let dir = tempfile::tempdir().unwrap();
        let with = |rows: &[crate::record::Row], key: &str, value: &str| {
            let mut meta = kv(rows.len());
            meta.retain(|(k, _)| k != key);
            meta.push((key.into(), value.into()));
            check_file(
                &write(dir.path(), "ops_atomic_19700101.parquet", rows, meta),
                None,
            )
            .problems
        };
        let three = [row("a", 1, &[]), row("b", 2, &[]), row("c", 3, &[])];
        assert!(
            with(&[], "ops_atomic.verdict", "complete")[0].contains("not one this exporter writes")
        );
        assert!(with(&[], "ops_atomic.verdict", "success")[0]
            .contains("success for a file with no rows"));
        assert!(
            with(&three, "ops_atomic.verdict", "empty")[0].contains("empty for a file with 3 rows")
        );
        assert!(with(&three, "ops_atomic.source.sqlite.read", "2")[0].contains("do not add up"));
        assert!(with(&three, "ops_atomic.merged", "x")[0].contains("do not add up"));
        assert!(with(&three, "ops_atomic.verdict", "partial").is_empty());
    }

    #[test]
    fn a_good_file_passes() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![
            row("a", 1, &[]),
            row("b", 1, &[("disk", "ok")]),
            row("a2", 5, &[]),
        ];
        let c = check_file_unsized(&write(
            dir.path(),
            "ops_atomic_19700101.parquet",
            &rows,
            kv(3),
        ));
        assert!(c.ok(), "{:?}", c.problems);
        assert_eq!(c.rows, Some(3));
        assert_eq!(c.compression(), "snappy");
        assert_eq!(c.codecs.len(), 14, "13 columns, the map has two leaves");
        assert_eq!(
            c.schema_fingerprint.as_deref(),
            Some(fingerprint(&batch::schema()).as_str())
        );
    }

    #[test]
    fn row_defects_are_each_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut bad = row("b", 1, &[]);
        bad.record.ts_ms = 86_400_000; // next day
        let rows = vec![row("b", 2, &[]), row("a", 1, &[]), bad];
        let c = check_file_unsized(&write(
            dir.path(),
            "ops_atomic_19700102.parquet",
            &rows,
            kv(9),
        ));
        let all = c.problems.join("\n");
        for want in [
            "out of (timestamp, record_id) order",
            "duplicate record_id",
            "outside the file's day",
            "metadata says 9",
            "does not match its day",
        ] {
            assert!(all.contains(want), "missing {want:?} in {all}");
        }
    }

    #[test]
    fn duplicate_ids_are_counted_exactly_whether_or_not_they_name_their_time() {
        let dir = tempfile::tempdir().unwrap();
        let at = |id: &str, t: i64| row(id, t, &[]);
        // (rows in file order, duplicates): ids naming their own time side by side; text ids;
        // an id naming another row's time; and the same out of order.
        let cases = [
            (
                vec![
                    at("heartbeat:h:1", 1),
                    at("heartbeat:h:1", 1),
                    at("heartbeat:h:1", 1),
                ],
                2,
            ),
            (vec![at("a", 1), at("heartbeat:h:2", 2), at("a", 3)], 1),
            (
                vec![at("heartbeat:h:1", 1), at("x", 2), at("heartbeat:h:1", 3)],
                1,
            ),
            (
                vec![
                    at("heartbeat:h:2", 2),
                    at("heartbeat:h:1", 1),
                    at("heartbeat:h:2", 2),
                ],
                1,
            ),
            (vec![at("heartbeat:h:1", 1), at("heartbeat:h:2", 2)], 0),
        ];
        for (i, (rows, want)) in cases.iter().enumerate() {
            let name = format!("ops_atomic_1970010{}.parquet", i + 1);
            let c = check_file_unsized(&write(dir.path(), &name, rows, kv(rows.len())));
            let dups = c
                .problems
                .iter()
                .find(|p| p.contains("duplicate record_id"));
            let got = dups.map_or(0, |p| p.split(' ').next().unwrap().parse().unwrap());
            assert_eq!(got, *want, "case {i}: {:?}", c.problems);
        }
    }

    #[test]
    fn values_outside_the_contract_are_counted_per_column() {
        use arrow::array::{ArrayRef, StringArray};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<_> = (0..5).map(|i| row(&format!("id{i}"), i, &[])).collect();
        let good = batch::batches(rows.iter().map(crate::record::Row::view), 10)
            .next()
            .unwrap();
        let mut columns = good.columns().to_vec();
        let text = |v: &[&str]| -> ArrayRef { Arc::new(StringArray::from(v.to_vec())) };
        // Two bad statuses (one only in case), one bad source; the other columns stay valid.
        columns[3] = text(&["healthy", "bogus", "warnings", "HEALTHY", "critical"]);
        columns[12] = text(&["redis", "sqlite", "both", "redis", "kafka"]);
        let bad = RecordBatch::try_new(batch::schema(), columns).unwrap();
        // Dictionary-encoded as the exporter writes, and plain, as another writer may: the
        // value pass reads both as dictionaries.
        for dictionary in [true, false] {
            let p = dir.path().join("ops_atomic_19700101.parquet");
            let props = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::SNAPPY)
                .set_dictionary_enabled(dictionary)
                .set_key_value_metadata(Some(
                    kv(5)
                        .into_iter()
                        .map(|(k, v)| parquet::file::metadata::KeyValue::new(k, v))
                        .collect(),
                ))
                .build();
            let mut w = parquet::arrow::ArrowWriter::try_new(
                File::create(&p).unwrap(),
                batch::schema(),
                Some(props),
            )
            .unwrap();
            w.write(&bad).unwrap();
            w.close().unwrap();
            let c = check_file_unsized(&p);
            assert_eq!(
                c.problems,
                [
                    "1 values of source are not allowed values",
                    "2 values of status are not allowed values"
                ],
                "dictionary encoding {dictionary}"
            );
        }
    }

    #[test]
    fn junk_files_fail_without_panicking() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.parquet");
        std::fs::write(&empty, b"").unwrap();
        let text = dir.path().join("text.parquet");
        std::fs::write(&text, b"hello, this is not parquet at all").unwrap();
        let good = write(
            dir.path(),
            "ops_atomic_19700101.parquet",
            &[row("a", 1, &[])],
            kv(1),
        );
        let bytes = std::fs::read(&good).unwrap();
        let cut = dir.path().join("cut.parquet");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        for p in [empty, text, cut, dir.path().join("missing.parquet")] {
            let c = check_file(&p, None);
            assert!(!c.ok(), "{}", p.display());
        }
    }
}
