//! Schema v1 (docs/contract.md, "Output schema v1") in Arrow, from the column table (`columns`), and the builder that
//! turns merged rows into Arrow record batches, reusing its column builders from one batch to
//! the next.

use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Int64Builder, MapBuilder, MapFieldNames,
    RecordBatch, StringArray, StringBuilder, StringViewArray, TimestampMillisecondBuilder,
    UInt8Array,
};
use arrow::datatypes::{
    DataType, Field, Fields, Int64Type, Schema, SchemaRef, TimeUnit, TimestampMillisecondType,
    UInt8Type,
};

use crate::columns::{self, Col, Fixed, Kind, COUNT, FIXED_COLS, LABEL_COLS};
pub use crate::contract::SCHEMA_VERSION;
use crate::record::{Interner, Record, Row, Source, Status};
use crate::rows::RowRef;

/// Timezone of the `timestamp` column: instants are stored in UTC.
const TS_TZ: &str = "UTC";

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let fields: Vec<Field> = columns::COLUMNS
        .iter()
        .map(|c| Field::new(c.name, arrow_type(c.kind), c.nullable))
        .collect();
    Arc::new(Schema::new(fields))
});

/// Number of columns in schema v1.
pub const COLUMNS: usize = COUNT;

/// The Arrow type of a column of `kind`.
fn arrow_type(kind: Kind) -> DataType {
    match kind {
        Kind::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some(TS_TZ.into())),
        Kind::Duration => DataType::Int64,
        Kind::Checks => checks_type(),
        Kind::Id
        | Kind::ReportType
        | Kind::Status
        | Kind::Label
        | Kind::Check(_)
        | Kind::Source => DataType::Utf8,
    }
}

/// The Arrow schema every export has, without file-level metadata.
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

fn map_names() -> MapFieldNames {
    // Parquet's own names for a MAP group, so every reader sees the canonical layout.
    MapFieldNames {
        entry: "key_value".into(),
        key: "key".into(),
        value: "value".into(),
    }
}

fn checks_type() -> DataType {
    let names = map_names();
    let entries = Fields::from(vec![
        Field::new(names.key, DataType::Utf8, false),
        Field::new(names.value, DataType::Utf8, true),
    ]);
    DataType::Map(
        Arc::new(Field::new(names.entry, DataType::Struct(entries), false)),
        false,
    )
}

/// Column builders for schema v1, or for some of its columns; `finish` empties them for the
/// next batch.
pub struct BatchBuilder {
    /// The builders of the columns this builder fills, in schema order.
    columns: Vec<ColumnBuilder>,
}

/// One column's builder, by the column's kind: each knows where in a row its value is, so a
/// row is appended without looking a column up.
enum ColumnBuilder {
    /// `record_id`, with the buffer a derived id is written out in.
    Id(StringBuilder, String),
    ReportType(StringBuilder),
    Timestamp(TimestampMillisecondBuilder),
    Status(Enumerated),
    Duration(Int64Builder),
    /// A label, and its place in the row's labels.
    Label(StringBuilder, usize),
    /// A fixed check, and its place in the row's fixed checks.
    Check(Enumerated, usize),
    /// Boxed: far larger than the others.
    Checks(Box<MapBuilder<StringBuilder, StringBuilder>>),
    Source(Enumerated),
}

impl ColumnBuilder {
    fn new(col: Col, rows: usize) -> Self {
        let text = || StringBuilder::with_capacity(rows, rows * 8);
        let values = || Enumerated::new(rows, col.values().expect("an enumerated column"));
        match col.kind() {
            Kind::Id => {
                ColumnBuilder::Id(StringBuilder::with_capacity(rows, rows * 40), String::new())
            }
            Kind::ReportType => ColumnBuilder::ReportType(text()),
            Kind::Timestamp => ColumnBuilder::Timestamp(
                TimestampMillisecondBuilder::with_capacity(rows).with_timezone(TS_TZ),
            ),
            Kind::Status => ColumnBuilder::Status(values()),
            Kind::Duration => ColumnBuilder::Duration(Int64Builder::with_capacity(rows)),
            Kind::Label => ColumnBuilder::Label(text(), col.label_slot()),
            Kind::Check(_) => ColumnBuilder::Check(values(), col.fixed_slot()),
            Kind::Checks => ColumnBuilder::Checks(Box::new(MapBuilder::new(
                Some(map_names()),
                StringBuilder::new(),
                StringBuilder::new(),
            ))),
            Kind::Source => ColumnBuilder::Source(values()),
        }
    }

    fn append(&mut self, r: &RowRef<'_>) {
        match self {
            ColumnBuilder::Id(ids, buf) => ids.append_value(r.record_id(buf)),
            ColumnBuilder::ReportType(b) => b.append_value(r.report_type),
            ColumnBuilder::Timestamp(b) => b.append_value(r.ts_ms),
            ColumnBuilder::Status(e) => e.push(r.status as u8),
            ColumnBuilder::Duration(b) => b.append_option(r.duration_ms),
            ColumnBuilder::Label(b, slot) => b.append_option(r.labels[*slot]),
            ColumnBuilder::Check(e, slot) => e.push(r.fixed.0[*slot]),
            ColumnBuilder::Checks(b) => {
                for (k, v) in r.checks {
                    b.keys().append_value(k);
                    b.values().append_value(v);
                }
                // Keys are never null here, so append cannot fail.
                b.append(!r.checks.is_empty())
                    .expect("map keys are never null");
            }
            ColumnBuilder::Source(e) => e.push(r.source as u8),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Id(b, _) | ColumnBuilder::ReportType(b) | ColumnBuilder::Label(b, _) => {
                Arc::new(b.finish())
            }
            ColumnBuilder::Timestamp(b) => Arc::new(b.finish()),
            ColumnBuilder::Duration(b) => Arc::new(b.finish()),
            ColumnBuilder::Checks(b) => Arc::new(b.finish()),
            ColumnBuilder::Status(e) | ColumnBuilder::Check(e, _) | ColumnBuilder::Source(e) => {
                e.finish()
            }
        }
    }
}

impl BatchBuilder {
    pub fn with_capacity(rows: usize) -> Self {
        Self::of_columns(rows, &[true; COUNT])
    }

    /// A builder that fills only the `wanted` columns (for encoding columns on separate
    /// threads); `finish_columns` gives them.
    pub fn of_columns(rows: usize, wanted: &[bool; COUNT]) -> Self {
        let columns = Col::ALL
            .into_iter()
            .filter(|c| wanted[*c as usize])
            .map(|c| ColumnBuilder::new(c, rows))
            .collect();
        BatchBuilder { columns }
    }

    pub fn append(&mut self, r: RowRef<'_>) {
        for c in &mut self.columns {
            c.append(&r);
        }
    }

    /// The rows appended since the last call, as one batch of schema v1. Only for a builder
    /// of every column.
    pub fn finish(&mut self) -> RecordBatch {
        assert_eq!(self.columns.len(), COUNT, "a batch needs every column");
        let columns = self
            .finish_columns()
            .into_iter()
            .map(|c| match c.as_any_dictionary_opt() {
                Some(d) => arrow::compute::take(d.values(), d.keys(), None)
                    .expect("keys index their values"),
                None => c,
            })
            .collect();
        RecordBatch::try_new(schema(), columns).expect("builders match schema v1")
    }

    /// The wanted columns of the rows appended since the last call, in schema order, for the
    /// Parquet encoder: the enumerated string columns come as dictionary arrays of their
    /// values (which the encoder reads as the strings they stand for, into the same bytes),
    /// so that no string is copied per row only to be looked up again.
    pub fn finish_columns(&mut self) -> Vec<ArrayRef> {
        self.columns.iter_mut().map(ColumnBuilder::finish).collect()
    }
}

/// A string column of a few fixed values, kept as each row's place in `values`.
struct Enumerated {
    keys: Vec<u8>,
    values: ArrayRef,
}

impl Enumerated {
    fn new(rows: usize, values: &[&str]) -> Self {
        Enumerated {
            keys: Vec::with_capacity(rows),
            values: Arc::new(StringArray::from_iter_values(values)),
        }
    }

    fn push(&mut self, key: u8) {
        debug_assert!((key as usize) < self.values.len());
        self.keys.push(key);
    }

    fn finish(&mut self) -> ArrayRef {
        let rows = self.keys.len();
        let keys = UInt8Array::from(std::mem::replace(&mut self.keys, Vec::with_capacity(rows)));
        // Every key is a discriminant of the enum whose values these are.
        Arc::new(
            DictionaryArray::<UInt8Type>::try_new(keys, self.values.clone())
                .expect("keys in range"),
        )
    }
}

/// Splits sorted rows into batches of at most `batch_rows`, reusing one builder.
pub fn batches<'a, I>(rows: I, batch_rows: usize) -> impl Iterator<Item = RecordBatch> + 'a
where
    I: IntoIterator<Item = RowRef<'a>>,
    I::IntoIter: ExactSizeIterator + 'a,
{
    let mut rows = rows.into_iter();
    let batch_rows = batch_rows.max(1);
    let mut builder = BatchBuilder::with_capacity(batch_rows.min(rows.len().max(1)));
    std::iter::from_fn(move || {
        let mut n = 0;
        for row in rows.by_ref().take(batch_rows) {
            builder.append(row);
            n += 1;
        }
        (n > 0).then(|| builder.finish())
    })
}

/// A column type as the contract and the readers write it (`string`, `int64`,
/// `timestamp[ms, tz=UTC]`, `map<string, string>`), not Arrow's debug form.
pub fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => "string".into(),
        DataType::Int64 => "int64".into(),
        DataType::Timestamp(unit, tz) => {
            let unit = match unit {
                TimeUnit::Second => "s",
                TimeUnit::Millisecond => "ms",
                TimeUnit::Microsecond => "us",
                TimeUnit::Nanosecond => "ns",
            };
            match tz {
                Some(tz) => format!("timestamp[{unit}, tz={tz}]"),
                None => format!("timestamp[{unit}]"),
            }
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => format!(
                "map<{}, {}>",
                type_name(kv[0].data_type()),
                type_name(kv[1].data_type())
            ),
            other => format!("map<{}>", type_name(other)),
        },
        other => other.to_string(),
    }
}

/// The position of schema v1's column `name`: code names columns, never numbers, so a column
/// added anywhere moves no one's reads.
pub fn col(name: &str) -> usize {
    Col::by_name(name).unwrap_or_else(|| panic!("{name} is not a schema-v1 column")) as usize
}

/// The positions of schema v1's columns `names`.
pub fn cols<const N: usize>(names: [&str; N]) -> [usize; N] {
    names.map(col)
}

/// `t` with every string, at any depth (the `checks` map's keys and values too), as a view:
/// how untrusted files are read, so that a dictionary-encoded value is shared by the rows that
/// hold it instead of being copied into each (a 4 MB value in 1,000 rows would be 4 GB).
pub fn view_type(t: &DataType) -> DataType {
    let field = |f: &Field| f.clone().with_data_type(view_type(f.data_type()));
    match t {
        DataType::Utf8 => DataType::Utf8View,
        DataType::Map(entries, sorted) => DataType::Map(Arc::new(field(entries)), *sorted),
        DataType::Struct(fields) => {
            DataType::Struct(fields.iter().map(|f| field(f)).collect::<Fields>())
        }
        other => other.clone(),
    }
}

/// Whether `got` is schema v1, its strings read plain or as views.
pub fn is_v1(got: &Schema) -> bool {
    let want = schema();
    got.fields().len() == want.fields().len()
        && got.fields().iter().zip(want.fields()).all(|(g, w)| {
            g.name() == w.name()
                && g.is_nullable() == w.is_nullable()
                && view_type(g.data_type()) == view_type(w.data_type())
        })
}

/// A string column as Arrow holds it: plain, or as views (how untrusted files are read).
#[derive(Clone, Copy)]
pub enum Text<'a> {
    Plain(&'a StringArray),
    View(&'a StringViewArray),
}

impl<'a> Text<'a> {
    /// The column as text, or `None` for another type.
    pub fn of(a: &'a dyn Array) -> Option<Text<'a>> {
        match a.data_type() {
            DataType::Utf8 => Some(Text::Plain(a.as_string::<i32>())),
            DataType::Utf8View => Some(Text::View(a.as_string_view())),
            _ => None,
        }
    }

    pub fn value(&self, i: usize) -> &'a str {
        match self {
            Text::Plain(a) => a.value(i),
            Text::View(a) => a.value(i),
        }
    }

    pub fn is_valid(&self, i: usize) -> bool {
        match self {
            Text::Plain(a) => a.is_valid(i),
            Text::View(a) => a.is_valid(i),
        }
    }
}

/// The rows of a schema-v1 batch, as the writer's input: the inverse of `BatchBuilder`, for
/// rewriting a day file with rows added. Strings are shared through `strings`.
pub fn rows_from_batch(batch: &RecordBatch, strings: &mut Interner) -> Result<Vec<Row>, String> {
    if !is_v1(&batch.schema()) {
        return Err("not a schema-v1 batch".into());
    }
    let column = |c: Col| batch.column(c as usize);
    let text = |c: Col| Text::of(column(c)).expect("schema v1 holds text here");
    let (ids, types, statuses, sources) = (
        text(Col::RecordId),
        text(Col::ReportType),
        text(Col::Status),
        text(Col::Source),
    );
    let ts = column(Col::Timestamp).as_primitive::<TimestampMillisecondType>();
    let durations = column(Col::DurationMs).as_primitive::<Int64Type>();
    let checks = column(Col::Checks).as_map();
    let labels = LABEL_COLS.map(text);
    let fixed = FIXED_COLS.map(|c| (c, text(c), c.values().expect("a fixed check is enumerated")));
    let bad = |c: Col, v: &str| format!("{} holds {v:?}, not a schema-v1 value", c.name());
    let mut rows = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let status =
            Status::parse(statuses.value(i)).ok_or_else(|| bad(Col::Status, statuses.value(i)))?;
        let mut codes = Fixed::default();
        for (slot, (c, t, values)) in fixed.iter().enumerate() {
            let v = t.value(i);
            let code = values
                .iter()
                .position(|w| *w == v)
                .ok_or_else(|| bad(*c, v))?;
            codes.0[slot] = code as u8;
        }
        let mut extra = Vec::new();
        if checks.is_valid(i) {
            let entries = checks.value(i);
            let (k, v) = (
                Text::of(entries.column(0)).expect("map keys are text"),
                Text::of(entries.column(1)).expect("map values are text"),
            );
            for j in 0..entries.len() {
                extra.push((strings.intern(k.value(j)), strings.intern(v.value(j))));
            }
        }
        rows.push(Row {
            record: Record {
                record_id: ids.value(i).to_string(),
                report_type: strings.intern(types.value(i)),
                ts_ms: ts.value(i),
                status,
                duration_ms: durations.is_valid(i).then(|| durations.value(i)),
                labels: labels.map(|l| l.is_valid(i).then(|| strings.intern(l.value(i)))),
                fixed: codes,
                checks: extra.into(),
            },
            source: Source::parse(sources.value(i))
                .ok_or_else(|| bad(Col::Source, sources.value(i)))?,
        });
    }
    Ok(rows)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::record::{AgentStatus, CheckStatus, Record, Source, Status};
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::TimestampMillisecondType;

    pub(crate) fn row(id: &str, ts: i64, checks: &[(&str, &str)]) -> Row {
        let mut record = Record {
            record_id: id.into(),
            report_type: "heartbeat".into(),
            ts_ms: ts,
            status: Status::Warnings,
            duration_ms: (ts % 2 == 0).then_some(ts),
            labels: Default::default(),
            fixed: Fixed::default()
                .with(Col::RedisStatus, CheckStatus::Ok)
                .with(Col::DatabaseStatus, CheckStatus::Warn)
                .with(Col::ApiStatus, CheckStatus::Error)
                .with(Col::LaunchagentOptimizer, AgentStatus::Loaded)
                .with(Col::LaunchagentDigest, AgentStatus::NotLoaded),
            checks: checks
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        };
        *record.host_mut() = Some("mac-1".into());
        Row {
            record,
            source: Source::Both,
        }
    }

    #[test]
    fn schema_v1_columns_in_order() {
        // The table pins the names (columns.rs); the Arrow schema must follow it.
        let names: Vec<_> = schema().fields().iter().map(|f| f.name().clone()).collect();
        let table: Vec<String> = crate::columns::Col::ALL
            .iter()
            .map(|c| c.name().into())
            .collect();
        assert_eq!(names, table);
        let schema = schema();
        let nullable: Vec<_> = schema
            .fields()
            .iter()
            .filter(|f| f.is_nullable())
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(nullable, ["duration_ms", "host", "checks"]);
    }

    #[test]
    fn builder_fills_every_column_and_resets() {
        let rows = vec![row("a", 1, &[("disk", "ok")]), row("b", 2, &[])];
        let mut b = BatchBuilder::with_capacity(4);
        for r in &rows {
            b.append(r.view());
        }
        let batch = b.finish();
        assert_eq!(batch.num_rows(), 2);
        let column = |c: Col| batch.column(c as usize);
        let ts = column(Col::Timestamp).as_primitive::<TimestampMillisecondType>();
        assert_eq!(ts.value(1), 2);
        let dur = column(Col::DurationMs).as_primitive::<arrow::datatypes::Int64Type>();
        assert!(dur.is_null(0));
        assert_eq!(dur.value(1), 2);
        let checks = column(Col::Checks).as_map();
        assert!(checks.is_valid(0));
        assert!(checks.is_null(1), "no extra checks is a null map");
        assert_eq!(checks.keys().as_string::<i32>().value(0), "disk");
        let text = |c: Col| column(c).as_string::<i32>().value(0).to_string();
        assert_eq!(text(Col::Source), "both");
        assert_eq!(text(Col::ApiStatus), "error");
        assert_eq!(text(Col::LaunchagentDigest), "not_loaded");
        // Reused: a second batch starts empty.
        b.append(rows[0].view());
        assert_eq!(b.finish().num_rows(), 1);
    }

    #[test]
    fn batches_split_by_size() {
        let rows: Vec<_> = (0..5).map(|i| row(&i.to_string(), i, &[])).collect();
        let sizes: Vec<_> = batches(rows.iter().map(Row::view), 2)
            .map(|b| b.num_rows())
            .collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert_eq!(batches(std::iter::empty(), 2).count(), 0);
    }

    #[test]
    fn rows_read_back_from_a_batch_are_the_rows_written() {
        let mut rows = vec![row("a", 1, &[("disk", "ok"), ("x", "1")]), row("b", 2, &[])];
        *rows[1].record.host_mut() = None;
        rows[1].source = Source::Legacy;
        let batch = batches(rows.iter().map(Row::view), 10).next().unwrap();
        let back = rows_from_batch(&batch, &mut Interner::default()).unwrap();
        assert_eq!(back, rows);
    }
}
