//! Carry-over: a day file only grows. The records the day's existing file holds that this
//! run's sources no longer do (a stream trimmed since, an archive that lags, an earlier run's
//! other source) go into the new file with the `source` they had, so no re-export takes a
//! record away unless forced.

use std::collections::HashSet;
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

/// The rows of `previous` whose `record_id` none of `sources` holds, as one more part for the
/// merge: they never meet a source's copy there, so the sources' copies win every conflict.
pub fn missing_from(sources: &[&Rows], previous: Vec<Row>) -> Rows {
    let mut buf = String::new();
    let mut held: HashSet<u64, foldhash::fast::FixedState> = Default::default();
    for rows in sources {
        for i in 0..rows.len() {
            let h = rows
                .hashed_id(i)
                .unwrap_or_else(|| id_hash(rows.get(i).record_id(&mut buf)));
            held.insert(h);
        }
    }
    // A hash the sources hold is nearly always the same id; the few that only hash alike are
    // told apart by their text below, so no record is dropped on a collision.
    let (absent, maybe): (Vec<Row>, Vec<Row>) = previous
        .into_iter()
        .partition(|r| !held.contains(&id_hash(&r.record.record_id)));
    drop(held);
    let mut carried = Rows::new();
    for r in &absent {
        carried.push(&r.record, r.source);
    }
    if !maybe.is_empty() {
        let mut unseen: HashSet<&str> = maybe.iter().map(|r| r.record.record_id.as_str()).collect();
        for rows in sources {
            for i in 0..rows.len() {
                unseen.remove(rows.get(i).record_id(&mut buf));
            }
        }
        for r in maybe
            .iter()
            .filter(|r| unseen.contains(r.record.record_id.as_str()))
        {
            carried.push(&r.record, r.source);
        }
    }
    carried
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
        let carried = missing_from(&[&redis, &sqlite], previous);
        assert_eq!(
            ids(&carried),
            vec![("a".into(), Source::Both), ("d".into(), Source::Legacy)]
        );
    }

    #[test]
    fn nothing_previous_carries_nothing() {
        let mut redis = Rows::new();
        redis.push(&row("b", 2, Source::Redis).record, Source::Redis);
        assert!(missing_from(&[&redis], Vec::new()).is_empty());
        assert_eq!(missing_from(&[], vec![row("x", 1, Source::Redis)]).len(), 1);
    }
}
