//! Carry-over: a day file only grows. The records the day's existing file holds that this
//! run's sources no longer do (a stream trimmed since, an archive that lags, an earlier run's
//! other source) go into the new file with the `source` they had, so no re-export takes a
//! record away unless forced.

use std::path::Path;
use std::sync::mpsc::SyncSender;

use anyhow::{Context, Result};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::batch;
use crate::record::{Interner, Row};
use crate::rows::Rows;
use crate::source::Part;
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

/// Hands the rows of the valid day file at `path` on to `feed`, in the file's order (by
/// timestamp, as `verify` checked), with the `source` each had. In the merge they rank below
/// every source: a row stands only where no source has its id (`merge`, precedence 0). Parts of
/// `part_rows` rows.
pub fn stream_file(path: &Path, feed: &SyncSender<Part>, part_rows: usize) -> Result<()> {
    let reading = || format!("reading {}", path.display());
    let (file, _, views) =
        verify::open_for_reading(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, views)
        .build()
        .with_context(reading)?;
    let mut strings = Interner::default();
    let mut rows = Rows::new();
    let mut last = i64::MIN;
    for b in reader {
        let b = b.with_context(reading)?;
        for r in batch::rows_from_batch(&b, &mut strings).map_err(anyhow::Error::msg)? {
            last = r.record.ts_ms;
            rows.push(&r.record, r.source);
        }
        if rows.len() >= part_rows {
            let part = std::mem::replace(&mut rows, Rows::new());
            if feed
                .send(Part {
                    rows: part,
                    bound: last,
                })
                .is_err()
            {
                // The run stopped; it says why.
                return Ok(());
            }
        }
    }
    let _ = feed.send(Part {
        rows,
        bound: i64::MAX,
    });
    Ok(())
}
