//! Carry-over: a day file only grows. The records the day's existing file holds that this
//! run's sources no longer do (a stream trimmed since, an archive that lags, an earlier run's
//! other source) go into the new file with the `source` they had, so no re-export takes a
//! record away unless forced.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use arrow::array::BooleanArray;
use arrow::compute::filter_record_batch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use crate::batch;
use crate::record::{Interner, Row};
use crate::rows::{id_hash, Rows};
use crate::verify;

/// Every row of a schema-v1 day file that passed `verify`'s checks, with the strings shared
/// through `strings`.
pub fn read_rows(path: &Path, strings: &mut Interner) -> Result<Vec<Row>> {
    let (file, _, views) =
        verify::open_for_reading(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, views)
        .build()
        .with_context(|| format!("reading {}", path.display()))?;
    let mut rows = Vec::new();
    for b in reader {
        let b = b.with_context(|| format!("reading {}", path.display()))?;
        rows.extend(batch::rows_from_batch(&b, strings).map_err(anyhow::Error::msg)?);
    }
    Ok(rows)
}

/// The sources' record ids, by hash, for telling which of a previous file's rows they hold.
/// A hash maps to where its first id is, so a hit is confirmed by comparing the text: no
/// record is dropped because another id merely hashes alike.
pub struct Held<'s> {
    sources: &'s [&'s Rows],
    at: HashMap<u64, (u32, u32), foldhash::fast::FixedState>,
    buf: String,
}

impl<'s> Held<'s> {
    pub fn new(sources: &'s [&'s Rows]) -> Held<'s> {
        let mut at: HashMap<u64, (u32, u32), foldhash::fast::FixedState> = Default::default();
        let mut buf = String::new();
        for (p, rows) in sources.iter().enumerate() {
            for i in 0..rows.len() {
                let h = rows
                    .hashed_id(i)
                    .unwrap_or_else(|| id_hash(rows.get(i).record_id(&mut buf)));
                at.entry(h).or_insert((p as u32, i as u32));
            }
        }
        Held { sources, at, buf }
    }

    /// Whether a source holds `id`.
    pub fn holds(&mut self, id: &str) -> bool {
        let Some(&(p, i)) = self.at.get(&id_hash(id)) else {
            return false;
        };
        if self.sources[p as usize]
            .get(i as usize)
            .record_id(&mut self.buf)
            == id
        {
            return true;
        }
        // Two ids with one hash (in practice never): ask every row.
        let buf = &mut self.buf;
        self.sources
            .iter()
            .any(|rows| (0..rows.len()).any(|j| rows.get(j).record_id(buf) == id))
    }
}

/// The rows of the valid day file at `path` that no source holds. Its ids are read first, on
/// their own: a re-export whose sources still hold every record (the common case: a re-run, an
/// intraday run) reads one column and builds no row. Only the rows found missing are then
/// read whole, a batch at a time, so only the carried rows stay in memory.
pub fn missing_from_file(held: &mut Held, path: &Path) -> Result<Rows> {
    let (file, _, views) =
        verify::open_for_reading(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let reading = || format!("reading {}", path.display());
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, views.clone());
    let ids = ProjectionMask::roots(builder.parquet_schema(), [batch::col("record_id")]);
    let mut missing: Vec<bool> = Vec::new();
    for b in builder.with_projection(ids).build().with_context(reading)? {
        let b = b.with_context(reading)?;
        let col = batch::Text::of(b.column(0)).context("record_id is not text")?;
        missing.extend((0..b.num_rows()).map(|i| !held.holds(col.value(i))));
    }
    let mut carried = Rows::new();
    if !missing.contains(&true) {
        return Ok(carried);
    }
    let (file, _, _) =
        verify::open_for_reading(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, views)
        .build()
        .with_context(reading)?;
    let mut strings = Interner::default();
    let mut at = 0;
    for b in reader {
        let b = b.with_context(reading)?;
        let marks = missing
            .get(at..at + b.num_rows())
            .context("the file changed between its two reads")?;
        let mask = BooleanArray::from(marks.to_vec());
        at += b.num_rows();
        let b = filter_record_batch(&b, &mask).with_context(reading)?;
        let rows = batch::rows_from_batch(&b, &mut strings).map_err(anyhow::Error::msg)?;
        rows.iter().for_each(|r| carried.push(&r.record, r.source));
    }
    Ok(carried)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::Fixed;
    use crate::record::{Record, Source, Status};

    fn record(id: &str, ts: i64) -> Record {
        Record {
            record_id: id.into(),
            report_type: "heartbeat".into(),
            ts_ms: ts,
            status: Status::Healthy,
            duration_ms: None,
            labels: Default::default(),
            fixed: Fixed::all_ok(),
            checks: Default::default(),
        }
    }

    #[test]
    fn the_sources_hold_what_either_read_hashed_or_not() {
        let mut redis = Rows::new();
        redis.push(&record("b", 2), Source::Redis);
        redis.hash_ids();
        let mut sqlite = Rows::new();
        // Not hashed: the lookup must hash it itself.
        sqlite.push(&record("c", 3), Source::Sqlite);
        // A derived id is written out when compared.
        sqlite.push(&record("heartbeat:-:4", 4), Source::Sqlite);
        let sources = [&redis, &sqlite];
        let mut held = Held::new(&sources);
        for (id, holds) in [("a", false), ("b", true), ("c", true), ("d", false)] {
            assert_eq!(held.holds(id), holds, "{id}");
        }
        let none: [&Rows; 0] = [];
        assert!(!Held::new(&none).holds("b"));
    }
}
