//! Read-back validation of an exported file: footer, codecs, schema v1, row counts, order,
//! uniqueness, day bounds and allowed values. The export's own read-back uses this same code.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, TimestampMillisecondType};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::ParquetMetaData;
use serde::Serialize;

use crate::atomic;
use crate::batch::{self, SCHEMA_VERSION};
use crate::contract::{footer, Verdict};
use crate::day::Day;
use crate::escape::plain;
use crate::names;
use crate::parallel;
use crate::record::{AgentStatus, CheckStatus, Source, Status};

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

/// The size the ops acceptance script aims at: 5 MB. A file over it is reported (a warning in
/// `verify`, the summary and the report), not refused: only a limit asked for refuses it.
pub const SIZE_TARGET_BYTES: u64 = 5_000_000;

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

/// Why a file could not be checked to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A defect of the file: it is not a readable day file.
    File(String),
    /// The system failed while reading it (an error the OS reported: no descriptor left, an
    /// I/O error), which says nothing of the file.
    System(String),
}

impl Failure {
    /// `text`, as the system's failure when `cause` (or an error it wraps) is one the OS
    /// reported, else as the file's.
    fn of(text: String, cause: &(dyn std::error::Error + 'static)) -> Failure {
        if from_the_system(cause) {
            Failure::System(text)
        } else {
            Failure::File(text)
        }
    }
}

impl From<String> for Failure {
    fn from(text: String) -> Failure {
        Failure::File(text)
    }
}

impl From<Failure> for String {
    fn from(f: Failure) -> String {
        match f {
            Failure::File(t) | Failure::System(t) => t,
        }
    }
}

/// Whether `e`, or an error it wraps, is one the OS reported. A short read (a truncated file)
/// or a refused symbolic link is an `io::Error` too, but the file's, not the system's.
fn from_the_system(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.raw_os_error().is_some())
        {
            return true;
        }
        // The Parquet reader hands a read error of its batches on as text, its type gone:
        // `External:` is how it shows an error of the reader under it (the file), not of the
        // Parquet data.
        if let Some(arrow::error::ArrowError::ParquetError(text)) = e.downcast_ref() {
            return text.starts_with("External: ");
        }
        cause = e.source();
    }
    false
}

/// The size as `verify` and the summary show it: against the limit when one is set, else
/// against the target.
pub fn size_line(bytes: u64, max_bytes: Option<u64>) -> String {
    match max_bytes {
        Some(max) => format!("{} (limit {})", human_size(bytes), mb(max)),
        None if bytes > SIZE_TARGET_BYTES => format!(
            "{} (over the {} target)",
            human_size(bytes),
            mb(SIZE_TARGET_BYTES)
        ),
        None => format!("{} (target {})", human_size(bytes), mb(SIZE_TARGET_BYTES)),
    }
}

/// What a file's footer says, read without its data: enough to decide whether a day needs
/// exporting again.
#[derive(Debug, Clone)]
pub struct Footer {
    pub rows: i64,
    pub kv: BTreeMap<String, String>,
}

impl Footer {
    pub fn verdict(&self) -> Option<&str> {
        self.kv.get(footer::VERDICT).map(String::as_str)
    }
}

fn key_values(meta: &parquet::file::metadata::FileMetaData) -> BTreeMap<String, String> {
    meta.key_value_metadata()
        .map(|kvs| {
            kvs.iter()
                .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// The columns that mark the old exporter's files (it wrote them through DuckDB).
pub const LEGACY_COLUMNS: [&str; 3] = ["filename", "timestamp", "status"];

/// Whether `schema` is the old exporter's: verify points such a file to `import-legacy`.
fn is_legacy_schema(schema: &Schema) -> bool {
    LEGACY_COLUMNS
        .iter()
        .all(|c| schema.field_with_name(c).is_ok())
}

/// The longest footer read, the most row groups and the largest column chunk (uncompressed)
/// accepted from a file: a schema-v1 day of 5 million rows has a footer of a few KB, 5 row
/// groups and chunks of tens of MB. Checked before anything past the footer is decoded.
const MAX_FOOTER_BYTES: u64 = 16 << 20;
const MAX_ROW_GROUPS: usize = 10_000;
const MAX_CHUNK_BYTES: i64 = 512 << 20;

/// Opens `path` (a regular file only) and reads its footer within bounds: the footer's length
/// against the file's size and `MAX_FOOTER_BYTES` before it is parsed, then the row-group
/// count and every column chunk's sizes. A file past a bound is refused with the reason, and
/// none of its data is read: a small hostile file cannot make a reader allocate gigabytes.
pub fn open_bounded(path: &Path) -> Result<(File, Arc<ParquetMetaData>), Failure> {
    use std::io::{Read, Seek, SeekFrom};
    let cannot_open = |e: std::io::Error| Failure::of(format!("cannot open: {e}"), &e);
    let mut file = crate::fsio::open_regular(path).map_err(cannot_open)?;
    let size = file.metadata().map_err(cannot_open)?.len();
    let unreadable = |why: String| format!("not a readable Parquet file: {why}");
    if size < 12 {
        return Err(unreadable(format!("{size} bytes is too small")).into());
    }
    let mut tail = [0u8; 8];
    file.seek(SeekFrom::End(-8))
        .and_then(|_| file.read_exact(&mut tail))
        .map_err(|e| Failure::of(unreadable(e.to_string()), &e))?;
    if &tail[4..] != b"PAR1" {
        return Err(unreadable("no PAR1 magic at its end".into()).into());
    }
    let footer = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if footer + 12 > size {
        return Err(unreadable(format!(
            "its footer of {footer} bytes is longer than the file"
        ))
        .into());
    }
    if footer > MAX_FOOTER_BYTES {
        return Err(format!(
            "its footer is {}, over the {} this tool reads (a day file's is a few KB)",
            human_size(footer),
            human_size(MAX_FOOTER_BYTES)
        )
        .into());
    }
    let meta = parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(|e| Failure::of(unreadable(e.to_string()), &e))?;
    if meta.num_row_groups() > MAX_ROW_GROUPS {
        return Err(format!(
            "it has {} row groups, over the {MAX_ROW_GROUPS} this tool reads",
            meta.num_row_groups()
        )
        .into());
    }
    for (g, rg) in meta.row_groups().iter().enumerate() {
        for col in rg.columns() {
            let (packed, unpacked) = (col.compressed_size(), col.uncompressed_size());
            if !(0..=size as i64).contains(&packed) || !(0..=MAX_CHUNK_BYTES).contains(&unpacked) {
                return Err(format!(
                    "row group {g}'s {} chunk claims {packed} bytes stored and {unpacked} \
                     unpacked, outside the file or over the {} this tool reads",
                    col.column_path().string(),
                    human_size(MAX_CHUNK_BYTES as u64)
                )
                .into());
            }
        }
    }
    Ok((file, Arc::new(meta)))
}

/// Arrow metadata for reading the file with every string as a view (see `batch::view_type`).
pub fn as_views(meta: &ArrowReaderMetadata) -> Result<ArrowReaderMetadata, String> {
    let fields: Vec<Field> = meta
        .schema()
        .fields()
        .iter()
        .map(|f| {
            f.as_ref()
                .clone()
                .with_data_type(batch::view_type(f.data_type()))
        })
        .collect();
    let options = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new(fields)));
    ArrowReaderMetadata::try_new(meta.metadata().clone(), options).map_err(|e| unreadable(e).into())
}

/// `open_bounded`, then the file's Arrow metadata as it is and as views.
pub fn open_for_reading(
    path: &Path,
) -> Result<(File, ArrowReaderMetadata, ArrowReaderMetadata), String> {
    let (file, meta) = open_bounded(path)?;
    let plain = ArrowReaderMetadata::try_new(meta, Default::default())
        .map_err(|e| format!("not a readable Parquet file: {e}"))?;
    let views = as_views(&plain)?;
    Ok((file, plain, views))
}

/// Reads the footer of `path`, within `open_bounded`'s bounds.
pub fn read_footer(path: &Path) -> Result<Footer, String> {
    let (_, meta) = open_bounded(path)?;
    let fm = meta.file_metadata();
    Ok(Footer {
        rows: fm.num_rows(),
        kv: key_values(fm),
    })
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

/// How many ranges of missing days a line lists before "and N more ranges".
const LISTED_RANGES: usize = 10;

/// `ranges` for one line: `none`, or the first `LISTED_RANGES` of them and how many more.
pub fn render_ranges(ranges: &[DayRange]) -> String {
    if ranges.is_empty() {
        return "none".to_string();
    }
    let listed: Vec<String> = ranges
        .iter()
        .take(LISTED_RANGES)
        .map(DayRange::to_string)
        .collect();
    let mut line = listed.join(", ");
    if ranges.len() > LISTED_RANGES {
        line.push_str(&format!(
            " and {} more ranges",
            ranges.len() - LISTED_RANGES
        ));
    }
    line
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
    for p in paths {
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
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    let checks: Vec<FileCheck> = files.iter().map(|f| check_file(f, max_bytes)).collect();
    let placed: Vec<crate::scheme::Placed> = checks
        .iter()
        .map(|c| crate::scheme::Placed {
            path: &c.path,
            day: c.day.as_deref(),
            timezone: c.timezone.as_deref(),
        })
        .collect();
    problems.extend(crate::scheme::folder_problems(&placed));
    problems.extend(shared_ids(&checks));

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

/// How many ids `shared_ids` holds at most (8 bytes each): beyond it, the check says it did
/// not run rather than take the memory.
const MAX_IDS: usize = 20_000_000;

/// `verify`'s problem with day files of one instance that hold the same `record_id`: each
/// record belongs to one day, so readers of the folder would count it twice. Ids are kept by
/// hash; a hit is confirmed by reading the first file's ids again.
fn shared_ids(checks: &[FileCheck]) -> Vec<String> {
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

/// A limit or target in MB, as typed (`5 MB`, `2.5 MB`).
pub fn mb(bytes: u64) -> String {
    let mb = bytes as f64 / 1e6;
    if mb.fract() == 0.0 {
        format!("{mb:.0} MB")
    } else {
        format!("{mb} MB")
    }
}

/// Bytes in decimal units (the size limit is in MB), with the exact count.
pub fn human_size(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{:.2} MB ({bytes} bytes)", bytes as f64 / 1e6)
    } else {
        format!("{:.1} KB ({bytes} bytes)", bytes as f64 / 1e3)
    }
}

/// The text `verify` prints: one block per file, then the set.
pub fn render_text(r: &VerifyReport, max_bytes: Option<u64>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for c in &r.files {
        let _ = writeln!(out, "{}", plain(&c.path.display().to_string()));
        let _ = writeln!(
            out,
            "  Rows: {}",
            c.rows.map_or("unreadable".to_string(), |n| n.to_string())
        );
        let _ = writeln!(out, "  Size: {}", size_line(c.bytes, max_bytes));
        let _ = writeln!(out, "  Compression: {}", c.compression());
        let _ = writeln!(
            out,
            "  Schema: version {}, fingerprint {}",
            c.schema_version.as_deref().unwrap_or("absent"),
            c.schema_fingerprint.as_deref().unwrap_or("none")
        );
        let _ = writeln!(
            out,
            "  Day: {} ({})",
            c.day.as_deref().unwrap_or("absent"),
            c.timezone.as_deref().unwrap_or("no time zone")
        );
        for w in &c.warnings {
            let _ = writeln!(out, "  Warning: {w}");
        }
        out.push_str(&c.validation_lines("  ", "    "));
    }
    let valid = r.files.iter().filter(|c| c.ok()).count();
    let _ = writeln!(
        out,
        "
Files: {}, valid: {valid}",
        r.files.len()
    );
    let _ = writeln!(
        out,
        "Schema across files: {}",
        match r.fingerprints.len() {
            0 => "no readable schema".to_string(),
            1 => "consistent".to_string(),
            n => format!("{n} different schemas"),
        }
    );
    let _ = writeln!(out, "Missing days: {}", render_ranges(&r.missing_days));
    for p in &r.problems {
        let _ = writeln!(out, "Problem: {p}");
    }
    let _ = writeln!(out, "Validation: {}", if r.ok { "OK" } else { "FAILED" });
    out
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

    let mut rows = read_rows(path, &reader_meta, day, fm.num_rows())?;
    if !rows.suspects.is_empty() {
        rows.duplicate_ids = exact_duplicates(path, &reader_meta, &rows.suspects)?;
    }
    if rows.seen as i64 != fm.num_rows() {
        check.problems.push(format!(
            "read {} rows but the footer says {}",
            rows.seen,
            fm.num_rows()
        ));
    }
    check.problems.extend(rows.into_problems());
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

/// Reads every row of the file, in two passes over disjoint columns on two threads: ids and
/// timestamps (order, uniqueness, day bounds) here, the enumerated columns and the rest on a
/// second thread. Every column is decoded, so a file that cannot be read fails either way.
fn read_rows(
    path: &Path,
    meta: &ArrowReaderMetadata,
    day: Option<Day>,
    num_rows: i64,
) -> Result<RowChecks, Failure> {
    let values = columns(path, &as_dictionaries(meta)?, &value_columns())?;
    let ids = columns(path, &as_views(meta)?, &batch::cols(ID_COLUMNS))?;
    let mut rows = RowChecks::new(day, num_rows);
    let (value_pass, id_pass) = parallel::both(
        move || -> Result<ValueChecks, Failure> {
            let mut pass = ValueChecks::default();
            for batch in values {
                pass.batch(&batch.map_err(unreadable)?);
            }
            Ok(pass)
        },
        || -> Result<(), Failure> {
            for batch in ids {
                rows.batch(&batch.map_err(unreadable)?);
            }
            rows.find_suspects();
            Ok(())
        },
    );
    id_pass?;
    let value_pass = value_pass?;
    if value_pass.seen != rows.seen {
        rows.problems.push(format!(
            "read {} ids but {} rows of the other columns",
            rows.seen, value_pass.seen
        ));
    }
    rows.bad_values = value_pass.bad_values;
    Ok(rows)
}

/// The footer of a schema-v1 file, read with its top-level string columns as dictionaries: a
/// dictionary-encoded column comes back as its values and a key per row, so the value pass
/// checks each distinct value once instead of copying and comparing a string per row. A
/// column chunk that is not dictionary-encoded is read into a dictionary all the same.
fn as_dictionaries(meta: &ArrowReaderMetadata) -> Result<ArrowReaderMetadata, Failure> {
    let fields: Vec<Field> = batch::schema()
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 => f.as_ref().clone().with_data_type(DataType::Dictionary(
                Box::new(DataType::Int32),
                Box::new(DataType::Utf8),
            )),
            // The checks map: its strings as views, never copied per row.
            other => f.as_ref().clone().with_data_type(batch::view_type(other)),
        })
        .collect();
    let options = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new(fields)));
    ArrowReaderMetadata::try_new(meta.metadata().clone(), options).map_err(unreadable)
}

/// A reader of the `roots` columns of the file at `path`, whose footer `meta` holds. Each reader
/// opens the file itself: a cloned handle would share one offset between two threads.
fn columns(
    path: &Path,
    meta: &ArrowReaderMetadata,
    roots: &[usize],
) -> Result<ParquetRecordBatchReader, Failure> {
    let file = crate::fsio::open_regular(path)
        .map_err(|e| Failure::of(format!("cannot open: {e}"), &e))?;
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta.clone());
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots.iter().copied());
    builder.with_projection(mask).build().map_err(unreadable)
}

fn unreadable<E: std::error::Error + 'static>(e: E) -> Failure {
    Failure::of(format!("cannot read the data: {e}"), &e)
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

/// Row-level checks, streamed batch by batch. Uniqueness keeps a 64-bit hash per id, not the
/// id: a hash seen twice is a suspect that `exact_duplicates` settles by comparing the ids.
/// The hashes are sorted once at the end rather than kept in a hash set: on a day of millions
/// of rows a set's inserts miss the cache nearly every time, and a sort reads memory in order.
struct RowChecks {
    day: Option<Day>,
    seen: usize,
    last: Option<(i64, String)>,
    ids: Vec<u64>,
    suspects: HashSet<u64, IdHash>,
    unsorted: usize,
    duplicate_ids: usize,
    outside_day: usize,
    bad_values: BTreeMap<&'static str, usize>,
    problems: Vec<String>,
}

type IdHash = foldhash::quality::FixedState;

/// Schema-v1 columns of the id pass (`record_id`, `timestamp`, in that order) and of the value
/// pass (the rest).
const ID_COLUMNS: [&str; 2] = ["record_id", "timestamp"];

fn value_columns() -> Vec<usize> {
    let ids = batch::cols(ID_COLUMNS);
    (0..batch::COLUMNS).filter(|c| !ids.contains(c)).collect()
}

fn id_hash(build: &IdHash, id: &str) -> u64 {
    use std::hash::BuildHasher;
    build.hash_one(id)
}

/// How many ids whose hash is in `suspects` occur more than once: a second pass over the id
/// column only.
fn exact_duplicates(
    path: &Path,
    meta: &ArrowReaderMetadata,
    suspects: &HashSet<u64, IdHash>,
) -> Result<usize, Failure> {
    let build = IdHash::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for batch in columns(path, &as_views(meta)?, &[batch::col("record_id")])? {
        let batch = batch.map_err(unreadable)?;
        for id in batch.column(0).as_string_view().iter().flatten() {
            if suspects.contains(&id_hash(&build, id)) {
                *seen.entry(id.to_string()).or_default() += 1;
            }
        }
    }
    Ok(seen.values().map(|n| n - 1).sum())
}

impl RowChecks {
    fn new(day: Option<Day>, num_rows: i64) -> Self {
        // Sized from the footer, but not trusting a damaged one with a huge count: the vector
        // grows past this as it must.
        let expected = usize::try_from(num_rows).unwrap_or(0).min(1 << 24);
        RowChecks {
            day,
            seen: 0,
            last: None,
            ids: Vec::with_capacity(expected),
            suspects: HashSet::default(),
            unsorted: 0,
            duplicate_ids: 0,
            outside_day: 0,
            bad_values: BTreeMap::new(),
            problems: Vec::new(),
        }
    }

    /// A batch of the id pass: `record_id` and `timestamp`, in that order.
    fn batch(&mut self, batch: &RecordBatch) {
        let ids = batch.column(0).as_string_view();
        let ts = batch.column(1).as_primitive::<TimestampMillisecondType>();
        let build = IdHash::default();
        for i in 0..batch.num_rows() {
            let (t, id) = (ts.value(i), ids.value(i));
            match &mut self.last {
                Some((lt, lid)) => {
                    if (*lt, lid.as_str()) > (t, id) {
                        self.unsorted += 1;
                    }
                    // One buffer for the previous id, reused row after row.
                    *lt = t;
                    lid.clear();
                    lid.push_str(id);
                }
                None => self.last = Some((t, id.to_string())),
            }
            if let Some(d) = &self.day {
                if !d.contains(t) {
                    self.outside_day += 1;
                }
            }
            self.ids.push(id_hash(&build, id));
        }
        self.seen += batch.num_rows();
    }

    /// The hashes seen more than once.
    fn find_suspects(&mut self) {
        self.ids.sort_unstable();
        self.suspects = self
            .ids
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        self.ids = Vec::new();
    }

    fn into_problems(mut self) -> Vec<String> {
        if self.unsorted > 0 {
            self.problems.push(format!(
                "{} rows out of (timestamp, record_id) order",
                self.unsorted
            ));
        }
        if self.duplicate_ids > 0 {
            self.problems
                .push(format!("{} duplicate record_id values", self.duplicate_ids));
        }
        if self.outside_day > 0 {
            self.problems.push(format!(
                "{} timestamps outside the file's day",
                self.outside_day
            ));
        }
        for (name, n) in &self.bad_values {
            self.problems
                .push(format!("{n} values of {name} are not allowed values"));
        }
        self.problems
    }
}

/// The value pass: every column but `record_id` and `timestamp` is decoded, and the
/// enumerated ones are checked against the contract's values.
#[derive(Default)]
struct ValueChecks {
    seen: usize,
    bad_values: BTreeMap<&'static str, usize>,
}

impl ValueChecks {
    fn batch(&mut self, batch: &RecordBatch) {
        let statuses: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        let sources = Source::ALL.map(Source::as_str);
        let enums: [(&'static str, &[&str]); 7] = [
            ("status", &statuses),
            ("redis_status", &CheckStatus::VALUES),
            ("database_status", &CheckStatus::VALUES),
            ("api_status", &CheckStatus::VALUES),
            ("launchagent_optimizer", &AgentStatus::VALUES),
            ("launchagent_digest", &AgentStatus::VALUES),
            ("source", &sources),
        ];
        for (name, allowed) in enums {
            let column = batch
                .column_by_name(name)
                .expect("the value pass reads every enumerated column")
                .as_dictionary::<Int32Type>();
            let not_allowed: Vec<bool> = column
                .values()
                .as_string::<i32>()
                .iter()
                .map(|v| v.is_none_or(|v| !allowed.contains(&v)))
                .collect();
            let bad = if column.null_count() == 0 && !not_allowed.contains(&true) {
                0
            } else {
                column
                    .keys()
                    .iter()
                    // A key outside the dictionary is not an allowed value either.
                    .filter(|k| {
                        k.is_none_or(|k| {
                            usize::try_from(k)
                                .ok()
                                .and_then(|k| not_allowed.get(k))
                                .is_none_or(|bad| *bad)
                        })
                    })
                    .count()
            };
            if bad > 0 {
                *self.bad_values.entry(name).or_default() += bad;
            }
        }
        self.seen += batch.num_rows();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::tests::row;

    fn write(
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

    fn kv(rows: usize) -> Vec<(String, String)> {
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

    /// An error the OS reported is the system's, however deep it is wrapped; a short read or a
    /// defect of the Parquet data is the file's.
    #[test]
    fn system_failures_are_told_apart_by_type() {
        use parquet::errors::ParquetError;
        let os = || std::io::Error::from_raw_os_error(24);
        let short = || std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        let is_system = |f: Failure| matches!(f, Failure::System(_));
        assert!(is_system(Failure::of("x".into(), &os())));
        assert!(!is_system(Failure::of("x".into(), &short())));
        assert!(is_system(unreadable(ParquetError::from(os()))));
        assert!(!is_system(unreadable(ParquetError::General(
            "bad page".into()
        ))));
        // The batch reader's form: the Parquet error as text inside an Arrow error.
        let batch = |e: ParquetError| arrow::error::ArrowError::from(e);
        assert!(is_system(unreadable(batch(ParquetError::from(os())))));
        assert!(!is_system(unreadable(batch(ParquetError::General(
            "bad page".into()
        )))));
        // The text is what verify showed before.
        assert_eq!(
            String::from(unreadable(ParquetError::General("bad page".into()))),
            "cannot read the data: Parquet error: bad page"
        );
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
    fn the_two_passes_read_every_column_once() {
        let ids = batch::cols(ID_COLUMNS);
        let mut all: Vec<usize> = ids.iter().copied().chain(value_columns()).collect();
        all.sort();
        let schema = batch::schema();
        assert_eq!(all, (0..schema.fields().len()).collect::<Vec<_>>());
        // RowChecks::batch reads the projected ids and timestamps by position, in schema order.
        assert!(ids[0] < ids[1], "record_id before timestamp in the schema");
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
    fn missing_days_are_ranges_and_a_line_lists_a_bounded_number() {
        let day = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
        let days: BTreeSet<_> = ["0001-01-01", "2025-10-01", "2025-10-03", "2025-10-04"]
            .map(day)
            .into();
        let ranges = missing_ranges(&days);
        assert_eq!(
            render_ranges(&ranges),
            "0001-01-02 … 2025-09-30 (739523 days), 2025-10-02"
        );
        assert_eq!(
            serde_json::to_value(&ranges).unwrap(),
            serde_json::json!([["0001-01-02", "2025-09-30"], ["2025-10-02", "2025-10-02"]])
        );
        // Every other day present for a year: 182 one-day gaps, ten of them listed.
        let alternate: BTreeSet<_> = (0..365)
            .step_by(2)
            .map(|n| day("2025-01-01") + chrono::Days::new(n))
            .collect();
        let line = render_ranges(&missing_ranges(&alternate));
        assert!(line.ends_with(", 2025-01-20 and 172 more ranges"), "{line}");
        assert_eq!(render_ranges(&[]), "none");
    }

    #[test]
    fn a_directory_reports_drift_and_missing_days() {
        let dir = tempfile::tempdir().unwrap();
        let mut kv3 = kv(1);
        kv3[1].1 = "1970-01-03".into();
        write(
            dir.path(),
            "ops_atomic_19700101.parquet",
            &[row("a", 1, &[])],
            kv(1),
        );
        write(
            dir.path(),
            "ops_atomic_19700103.parquet",
            &[row("b", 2 * 86_400_000 + 1, &[])],
            kv3,
        );
        let r = verify_paths(&[dir.path().to_path_buf()], Some(SIZE_TARGET_BYTES));
        assert!(r.ok, "{:?}", r.problems);
        let day = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
        let one = DayRange {
            first: day("1970-01-02"),
            last: day("1970-01-02"),
        };
        assert_eq!(r.missing_days, [one]);
        assert_eq!(r.missing_day_count, 1);
        assert_eq!(r.fingerprints.len(), 1);
        let text = render_text(&r, Some(SIZE_TARGET_BYTES));
        assert!(
            text.contains("Rows: 1") && text.contains("Compression: snappy"),
            "{text}"
        );
        assert!(text.contains("Missing days: 1970-01-02"));
        // Over the size limit.
        let r = verify_paths(&[dir.path().to_path_buf()], Some(10));
        assert!(!r.ok);
        assert!(r.files[0]
            .problems
            .iter()
            .any(|p| p.contains("over the 0.00001 MB limit set by --max-size")));
        // A directory with no exports.
        let empty = tempfile::tempdir().unwrap();
        assert!(!verify_paths(&[empty.path().to_path_buf()], Some(SIZE_TARGET_BYTES)).ok);
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
