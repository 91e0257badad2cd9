//! Carry-over: a day file only grows. The records the day's existing file holds that this
//! run's sources no longer do (a stream trimmed since, an archive that lags, an earlier run's
//! other source) go into the new file with the `source` they had, so no re-export takes a
//! record away unless forced.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

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

/// Adds to `carried` the rows of `previous` that no source holds: one more part for the merge,
/// where they never meet a source's copy, so the sources' copies win every conflict.
fn keep_missing(carried: &mut Rows, held: &mut Held, previous: impl IntoIterator<Item = Row>) {
    for r in previous {
        if !held.holds(&r.record.record_id) {
            carried.push(&r.record, r.source);
        }
    }
}

/// The rows of the valid day file at `path` that no source holds, read a batch at a time so
/// that only the carried rows stay in memory.
pub fn missing_from_file(held: &mut Held, path: &Path) -> Result<Rows> {
    let (file, _, views) =
        verify::open_for_reading(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, views)
        .build()
        .with_context(|| format!("reading {}", path.display()))?;
    let mut strings = Interner::default();
    let mut carried = Rows::new();
    for b in reader {
        let b = b.with_context(|| format!("reading {}", path.display()))?;
        let rows = batch::rows_from_batch(&b, &mut strings).map_err(anyhow::Error::msg)?;
        keep_missing(&mut carried, held, rows);
    }
    Ok(carried)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{AgentStatus, CheckStatus, Record, Source, Status};

    fn row(id: &str, ts: i64, source: Source) -> Row {
        Row {
            record: Record {
                record_id: id.into(),
                report_type: "heartbeat".into(),
                ts_ms: ts,
                status: Status::Healthy,
                duration_ms: None,
                host: None,
                redis_status: CheckStatus::Ok,
                database_status: CheckStatus::Ok,
                api_status: CheckStatus::Ok,
                launchagent_optimizer: AgentStatus::Loaded,
                launchagent_digest: AgentStatus::Loaded,
                checks: Default::default(),
            },
            source,
        }
    }

    fn ids(rows: &Rows) -> Vec<(String, Source)> {
        let mut buf = String::new();
        (0..rows.len())
            .map(|i| {
                let r = rows.get(i);
                (r.record_id(&mut buf).to_string(), r.source)
            })
            .collect()
    }

    #[test]
    fn only_what_the_sources_lack_is_carried_with_its_own_source() {
        let mut redis = Rows::new();
        redis.push(&row("b", 2, Source::Redis).record, Source::Redis);
        redis.hash_ids();
        let mut sqlite = Rows::new();
        // Not hashed: the lookup must hash it itself.
        sqlite.push(&row("c", 3, Source::Sqlite).record, Source::Sqlite);
        let previous = vec![
            row("a", 1, Source::Both),
            row("b", 2, Source::Both),
            row("c", 3, Source::Sqlite),
            row("d", 4, Source::Legacy),
        ];
        let sources = [&redis, &sqlite];
        let mut carried = Rows::new();
        keep_missing(&mut carried, &mut Held::new(&sources), previous);
        assert_eq!(
            ids(&carried),
            vec![("a".into(), Source::Both), ("d".into(), Source::Legacy)]
        );
    }

    #[test]
    fn nothing_previous_carries_nothing() {
        let mut redis = Rows::new();
        redis.push(&row("b", 2, Source::Redis).record, Source::Redis);
        let sources = [&redis];
        let mut carried = Rows::new();
        keep_missing(&mut carried, &mut Held::new(&sources), Vec::new());
        assert!(carried.is_empty());
        let none: [&Rows; 0] = [];
        keep_missing(
            &mut carried,
            &mut Held::new(&none),
            vec![row("x", 1, Source::Redis)],
        );
        assert_eq!(carried.len(), 1);
    }
}
