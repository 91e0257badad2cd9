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
    let mut rows = Vec::new();
    each_batch(path, strings, |batch| {
        rows.extend(batch);
        true
    })?;
    Ok(rows)
}

/// The rows of the day file at `path` a batch at a time, in the file's order, to `each` until
/// it says to stop.
fn each_batch(
    path: &Path,
    strings: &mut Interner,
    mut each: impl FnMut(Vec<Row>) -> bool,
) -> Result<()> {
    let reading = || format!("reading {}", path.display());
    let (file, _, views) =
        verify::open_for_reading(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, views)
        .build()
        .with_context(reading)?;
    for b in reader {
        let b = b.with_context(reading)?;
        if !each(batch::rows_from_batch(&b, strings).map_err(anyhow::Error::msg)?) {
            break;
        }
    }
    Ok(())
}

/// Hands the rows of the valid day file at `path` on to `feed`, in the file's order (by
/// timestamp, as `verify` checked), with the `source` each had. In the merge they rank below
/// every source: a row stands only where no source has its id (`merge`, precedence 0). Parts of
/// `part_rows` rows.
pub fn stream_file(path: &Path, feed: &SyncSender<Part>, part_rows: usize) -> Result<()> {
    let mut rows = Rows::new();
    let mut last = i64::MIN;
    each_batch(path, &mut Interner::default(), |batch| {
        for r in batch {
            last = r.record.ts_ms;
            rows.push(&r.record, r.source);
        }
        if rows.len() < part_rows {
            return true;
        }
        let part = std::mem::replace(&mut rows, Rows::new());
        // A closed channel: the run stopped, and says why.
        feed.send(Part {
            rows: part,
            bound: last,
        })
        .is_ok()
    })?;
    let _ = feed.send(Part {
        rows,
        bound: i64::MAX,
    });
    Ok(())
}
