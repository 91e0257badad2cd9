//! A file's rows read back in two passes over disjoint columns, on two threads: ids and
//! timestamps (order, uniqueness, day bounds), and every other column against the contract's
//! values.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, TimestampMillisecondType};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;

use super::footer::{as_views, unreadable, Failure};
use crate::batch;
use crate::columns::Col;
use crate::day::Day;
use crate::parallel;

/// Every row of the file at `path` checked, its suspect ids settled: the problems, the rows
/// read against the footer's `num_rows` first.
pub(super) fn row_problems(
    path: &Path,
    meta: &ArrowReaderMetadata,
    day: Option<Day>,
    num_rows: i64,
) -> Result<Vec<String>, Failure> {
    let mut rows = read_rows(path, meta, day, num_rows)?;
    // An id that names its own row's time was not hashed: its copies are found next to it,
    // which holds in a sorted file where no id names another row's time. Otherwise every id
    // is hashed, in a pass of its own.
    let every_id = rows.unsorted > 0 || rows.names_another_time;
    if every_id {
        rows.ids = id_hashes(path, meta, true)?;
        rows.adjacent = 0;
        rows.find_suspects();
    }
    if !rows.suspects.is_empty() {
        rows.duplicate_ids = exact_duplicates(path, meta, &rows.suspects, every_id)?;
    }
    rows.duplicate_ids += rows.adjacent;
    let mut problems = Vec::new();
    if rows.seen as i64 != num_rows {
        problems.push(format!(
            "read {} rows but the footer says {}",
            rows.seen, num_rows
        ));
    }
    problems.extend(rows.into_problems());
    Ok(problems)
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

/// Row-level checks, streamed batch by batch. Uniqueness keeps a 64-bit hash per id, not the
/// id, and only of ids that do not name their own row's time (most do: the contract's derived
/// form, `report_type:host:ts`); a hash seen twice is a suspect that `exact_duplicates`
/// settles by comparing the ids.
/// The hashes are sorted once at the end rather than kept in a hash set: on a day of millions
/// of rows a set's inserts miss the cache nearly every time, and a sort reads memory in order.
struct RowChecks {
    day: Option<Day>,
    seen: usize,
    last: Option<(i64, String)>,
    /// Hashes of the ids that do not name their own row's time.
    ids: Vec<u64>,
    suspects: HashSet<u64, IdHash>,
    /// Copies of an id that names its row's time, found next to each other.
    adjacent: usize,
    /// An id names the time of another row than its own.
    names_another_time: bool,
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

/// The time an id in the contract's derived form names (`report_type:host:ts`), if it is one.
fn named_time(id: &str) -> Option<i64> {
    id.rsplit_once(':').and_then(|(_, t)| t.parse().ok())
}

/// The ids and timestamps of the file, a batch at a time, to `each` (id, timestamp).
fn each_id(
    path: &Path,
    meta: &ArrowReaderMetadata,
    mut each: impl FnMut(&str, i64),
) -> Result<(), Failure> {
    for batch in columns(path, &as_views(meta)?, &batch::cols(ID_COLUMNS))? {
        let batch = batch.map_err(unreadable)?;
        let ids = batch.column(0).as_string_view();
        let ts = batch.column(1).as_primitive::<TimestampMillisecondType>();
        for i in 0..batch.num_rows() {
            each(ids.value(i), ts.value(i));
        }
    }
    Ok(())
}

/// The hash of every id (`all`), or of every id that does not name its own row's time.
fn id_hashes(path: &Path, meta: &ArrowReaderMetadata, all: bool) -> Result<Vec<u64>, Failure> {
    let build = IdHash::default();
    let mut hashes = Vec::new();
    each_id(path, meta, |id, t| {
        if all || named_time(id) != Some(t) {
            hashes.push(id_hash(&build, id));
        }
    })?;
    Ok(hashes)
}

/// How many ids whose hash is in `suspects` occur more than once (among every id, or among
/// those that do not name their own row's time): a second pass over the ids.
fn exact_duplicates(
    path: &Path,
    meta: &ArrowReaderMetadata,
    suspects: &HashSet<u64, IdHash>,
    every_id: bool,
) -> Result<usize, Failure> {
    let build = IdHash::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    each_id(path, meta, |id, t| {
        if (every_id || named_time(id) != Some(t)) && suspects.contains(&id_hash(&build, id)) {
            *seen.entry(id.to_string()).or_default() += 1;
        }
    })?;
    Ok(seen.values().map(|n| n - 1).sum())
}

impl RowChecks {
    fn new(day: Option<Day>, num_rows: i64) -> Self {
        // Sized from the footer, but not trusting a damaged one with a huge count: the vector
        // grows past this as it must (most ids name their own row's time, and are not kept).
        let expected = usize::try_from(num_rows).unwrap_or(0).min(1 << 16);
        RowChecks {
            day,
            seen: 0,
            last: None,
            ids: Vec::with_capacity(expected),
            suspects: HashSet::default(),
            adjacent: 0,
            names_another_time: false,
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
            let named = named_time(id);
            let own_time = named == Some(t);
            self.names_another_time |= named.is_some() && !own_time;
            match &mut self.last {
                Some((lt, lid)) => {
                    if (*lt, lid.as_str()) > (t, id) {
                        self.unsorted += 1;
                    }
                    if own_time && (*lt, lid.as_str()) == (t, id) {
                        self.adjacent += 1;
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
            if !own_time {
                self.ids.push(id_hash(&build, id));
            }
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
        // Every enumerated column of the table, with the values the contract allows.
        let enums = Col::ALL
            .into_iter()
            .filter_map(|c| Some((c.name(), c.kind().values()?)));
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
}
