//! Parquet writer: sorted rows into schema-v1 SNAPPY Parquet with statistics, dictionary encoding
//! for the low-cardinality strings and the contract's key-value metadata, the columns built and
//! encoded on two threads. Writes to any `Write`.

use std::io::Write;

use anyhow::{Context, Result};
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::metadata::SortingColumn;
use parquet::file::metadata::{KeyValue, ParquetMetaData};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::batch::{self, BatchBuilder};
use crate::columns::{Col, Thread, COLUMNS, COUNT};
use crate::parallel;
use crate::rows::RowRef;

/// Rows per row group, 2^18. DuckDB, Spark and pyarrow read one row group per thread: a
/// 1M-record day in one group was read on one thread, in four it is read on four. Groups this
/// size still hold thousands of rows per page, so snappy and the dictionaries lose nothing
/// that matters, and each group keeps its own statistics for pruning by time.
pub const MAX_ROW_GROUP_ROWS: usize = 1 << 18;

/// The order the rows are written in (docs/contract.md, "Output schema v1"): by timestamp,
/// then record_id, ascending. Recorded in every row group so readers can skip a sort.
fn sorting_columns() -> Vec<SortingColumn> {
    [Col::Timestamp, Col::RecordId]
        .into_iter()
        .map(|c| SortingColumn {
            column_idx: c as i32,
            descending: false,
            nulls_first: false,
        })
        .collect()
}

fn properties(metadata: Vec<(String, String)>, group_rows: usize) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(group_rows))
        .set_sorting_columns(Some(sorting_columns()))
        .set_created_by(format!("parquet-exporter {}", env!("CARGO_PKG_VERSION")))
        // Unique per row: a dictionary would only add a page that never repeats.
        .set_column_dictionary_enabled(ColumnPath::from(Col::RecordId.name()), false)
        .set_column_dictionary_enabled(ColumnPath::from(Col::Timestamp.name()), false)
        .set_key_value_metadata(Some(
            metadata
                .into_iter()
                .map(|(k, v)| KeyValue::new(k, v))
                .collect(),
        ))
        .build()
}

/// Whether schema-v1 column `c` is built and encoded on the second thread (`columns::Thread`);
/// the calling thread does the rest. A column chunk is encoded by one thread from the same
/// batches `ArrowWriter` would have been given, so the file is the same bytes.
fn on_second_thread(c: usize) -> bool {
    COLUMNS[c].thread == Thread::Second
}

/// A Parquet error whose cause is the output's I/O error, as that error: Parquet's wrapper
/// prints its cause twice ("External: No space left on device: No space left on device").
fn output_error(e: ParquetError) -> anyhow::Error {
    match e {
        ParquetError::External(cause) => match cause.downcast::<std::io::Error>() {
            Ok(io) => anyhow::Error::from(*io),
            Err(cause) => ParquetError::External(cause).into(),
        },
        e => e.into(),
    }
}

/// Writes `rows` (already sorted) as one Parquet file to `out`, `batch_rows` rows per Arrow
/// batch, and returns the footer that was written. Row groups are cut as `ArrowWriter` cuts
/// them: every `MAX_ROW_GROUP_ROWS` rows, a batch split where a group ends.
pub fn write_parquet<'a, W: Write + Send, I>(
    out: W,
    rows: I,
    metadata: Vec<(String, String)>,
    batch_rows: usize,
) -> Result<ParquetMetaData>
where
    I: IntoIterator<Item = RowRef<'a>>,
    I::IntoIter: ExactSizeIterator + Clone + Send + 'a,
{
    write_with(
        out,
        rows,
        properties(metadata, MAX_ROW_GROUP_ROWS),
        batch_rows,
    )
}

/// `write_parquet` with other properties (tests cut row groups and pages small).
fn write_with<'a, W: Write + Send, I>(
    out: W,
    rows: I,
    props: WriterProperties,
    batch_rows: usize,
) -> Result<ParquetMetaData>
where
    I: IntoIterator<Item = RowRef<'a>>,
    I::IntoIter: ExactSizeIterator + Clone + Send + 'a,
{
    let group_rows = props
        .max_row_group_row_count()
        .unwrap_or(MAX_ROW_GROUP_ROWS);
    let (mut file, factory) = ArrowWriter::try_new(out, batch::schema(), Some(props))
        .and_then(ArrowWriter::into_serialized_writer)
        .map_err(output_error)
        .context("starting the Parquet writer")?;
    // The schema-v1 column of each leaf (the map column has two leaves).
    let descr = file.schema_descr();
    let root_of: Vec<usize> = (0..descr.num_columns())
        .map(|leaf| descr.get_column_root_idx(leaf))
        .collect();
    let rows = rows.into_iter();
    let total = rows.len();
    let groups = total.div_ceil(group_rows);
    let second_rows = rows.clone();
    let (factory, root_of) = (&factory, &root_of[..]);
    // The second thread runs at most one row group ahead: one group's chunks wait here.
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let ((), written) = parallel::both(
        move || {
            let mut part = Part::new(true, batch_rows, group_rows, factory, root_of);
            let mut rows = second_rows;
            for group in 0..groups {
                let chunks = part.group(group, &mut rows, total);
                let failed = chunks.is_err();
                // A closed channel means the other thread failed; it reports why.
                if tx.send(chunks).is_err() || failed {
                    break;
                }
            }
        },
        || -> Result<()> {
            // Owned here, so that an early return closes the channel and the second thread
            // stops instead of waiting to send.
            let rx = rx;
            let mut part = Part::new(false, batch_rows, group_rows, factory, root_of);
            let mut rows = rows;
            for group in 0..groups {
                let here = part.group(group, &mut rows, total)?;
                let there = rx.recv().context("the second encoding thread stopped")??;
                let mut row_group = file.next_row_group().context("starting a row group")?;
                // Appended in leaf order, as the footer lists them.
                let (mut here, mut there) = (here.into_iter(), there.into_iter());
                for root in root_of {
                    let chunk = if on_second_thread(*root) {
                        there.next()
                    } else {
                        here.next()
                    };
                    chunk
                        .expect("one chunk per leaf")
                        .append_to_row_group(&mut row_group)
                        .map_err(output_error)
                        .context("writing a column chunk")?;
                }
                row_group
                    .close()
                    .map_err(output_error)
                    .context("finishing a row group")?;
            }
            Ok(())
        },
    );
    written?;
    file.close()
        .map_err(output_error)
        .context("finishing the Parquet footer")
}

/// One thread's share of the columns: it builds them from the rows and encodes them.
struct Part<'f> {
    second: bool,
    builder: BatchBuilder,
    batch_rows: usize,
    group_rows: usize,
    factory: &'f ArrowRowGroupWriterFactory,
    root_of: &'f [usize],
    /// Rows of the day taken so far (batches are cut at multiples of `batch_rows`).
    done: usize,
}

impl<'f> Part<'f> {
    fn new(
        second: bool,
        batch_rows: usize,
        group_rows: usize,
        factory: &'f ArrowRowGroupWriterFactory,
        root_of: &'f [usize],
    ) -> Self {
        let wanted = std::array::from_fn(|c| on_second_thread(c) == second);
        let batch_rows = batch_rows.max(1);
        Part {
            second,
            builder: BatchBuilder::of_columns(batch_rows.min(group_rows), &wanted),
            batch_rows,
            group_rows,
            factory,
            root_of,
            done: 0,
        }
    }

    /// Builds and encodes row group `group` of a day of `total` rows from `rows`.
    fn group<'a>(
        &mut self,
        group: usize,
        rows: &mut impl Iterator<Item = RowRef<'a>>,
        total: usize,
    ) -> Result<Vec<ArrowColumnChunk>> {
        let schema = batch::schema();
        let mut writers: Vec<(ArrowColumnWriter, usize)> = self
            .factory
            .create_column_writers(group)
            .context("starting a row group")?
            .into_iter()
            .zip(self.root_of.iter().copied())
            .filter(|(_, root)| on_second_thread(*root) == self.second)
            .collect();
        let end = total.min((group + 1) * self.group_rows);
        while self.done < end {
            let take = (self.batch_rows - self.done % self.batch_rows).min(end - self.done);
            for row in rows.by_ref().take(take) {
                self.builder.append(row);
            }
            self.done += take;
            let mut leaves = writers.iter_mut();
            let roots = (0..COUNT).filter(|c| on_second_thread(*c) == self.second);
            for (root, array) in roots.zip(self.builder.finish_columns()) {
                for leaf in compute_leaves(schema.field(root), &array)
                    .context("computing a column's levels")?
                {
                    let (w, _) = leaves.next().expect("one writer per leaf");
                    w.write(&leaf).context("encoding a column")?;
                }
            }
        }
        writers
            .into_iter()
            .map(|(w, _)| w.close().context("finishing a column chunk"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::tests::row;
    use crate::record::{AgentStatus, CheckStatus, Source, Status};
    use arrow::array::{Array, AsArray, RecordBatch};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn read_back(bytes: Vec<u8>) -> Vec<RecordBatch> {
        ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .unwrap()
            .build()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn writes_snappy_with_metadata_to_memory() {
        let rows: Vec<_> = (0..10)
            .map(|i| row(&format!("id{i}"), i, &[("disk", "ok")]))
            .collect();
        let mut buf = Vec::new();
        let meta = write_parquet(
            &mut buf,
            rows.iter().map(crate::record::Row::view),
            vec![("ops_atomic.schema_version".into(), "1".into())],
            3,
        )
        .unwrap();
        assert_eq!(meta.file_metadata().num_rows(), 10);
        for rg in meta.row_groups() {
            for col in rg.columns() {
                assert_eq!(
                    col.compression(),
                    Compression::SNAPPY,
                    "{}",
                    col.column_path()
                );
                assert!(col.statistics().is_some(), "{}", col.column_path());
            }
        }
        let kv = meta.file_metadata().key_value_metadata().unwrap();
        assert!(kv.iter().any(|k| k.key == "ops_atomic.schema_version"));
        assert!(kv.iter().any(|k| k.key == "ARROW:schema"));
        let batches = read_back(buf);
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 10);
        assert_eq!(batches[0].schema().fields(), batch::schema().fields());
    }

    /// The export's properties with `group_rows` per row group, and a page cut after every
    /// write of two rows or more, so that where batches are cut shows in the bytes.
    fn small_groups(group_rows: usize) -> WriterProperties {
        properties(kv(), group_rows)
            .into_builder()
            .set_data_page_row_count_limit(2)
            .build()
    }

    /// What `ArrowWriter` alone writes from the same rows, batches and properties.
    fn arrow_writer_bytes(
        rows: &[crate::record::Row],
        batch_rows: usize,
        group_rows: usize,
    ) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut w = ArrowWriter::try_new(&mut buf, batch::schema(), Some(small_groups(group_rows)))
            .unwrap();
        for b in batch::batches(rows.iter().map(crate::record::Row::view), batch_rows) {
            w.write(&b).unwrap();
        }
        w.close().unwrap();
        buf
    }

    fn kv() -> Vec<(String, String)> {
        vec![("ops_atomic.schema_version".into(), "1".into())]
    }

    #[test]
    fn two_threads_write_the_bytes_arrow_writer_writes_across_row_groups() {
        // Varied rows, so every column's pages differ: hosts, durations and checks come and go.
        let rows: Vec<_> = (0..23)
            .map(|i| {
                let mut r = row(
                    &format!("id{i:02}"),
                    i,
                    &[("disk", "ok"), ("n", "1")][..i as usize % 3],
                );
                if i % 4 == 0 {
                    *r.record.host_mut() = None;
                }
                // Enumerated columns (encoded from dictionary arrays) with values in a
                // different order in each, so each column's dictionary order is its own.
                let at = |n: usize, k: usize| i as usize * k / 2 % n;
                let (checks, agents) = (CheckStatus::ALL, AgentStatus::ALL);
                r.record.status = Status::ALL[at(3, 1)];
                r.record.fixed.set(Col::RedisStatus, checks[at(4, 3)]);
                r.record
                    .fixed
                    .set(Col::DatabaseStatus, checks[(at(4, 1) + 2) % 4]);
                r.record.fixed.set(Col::ApiStatus, checks[3 - at(4, 1)]);
                r.record
                    .fixed
                    .set(Col::LaunchagentOptimizer, agents[at(3, 5)]);
                r.record
                    .fixed
                    .set(Col::LaunchagentDigest, agents[2 - at(3, 1)]);
                r.source = Source::ALL[at(4, 1)];
                r
            })
            .collect();
        // Groups cut inside a batch (5 of 3-row batches), on a batch's end (6), and one group.
        for (batch_rows, group_rows) in [(3, 5), (3, 6), (4, 100), (1, 2)] {
            let mut ours = Vec::new();
            let meta = write_with(
                &mut ours,
                rows.iter().map(crate::record::Row::view),
                small_groups(group_rows),
                batch_rows,
            )
            .unwrap();
            assert_eq!(
                meta.num_row_groups(),
                rows.len().div_ceil(group_rows),
                "batches of {batch_rows}, groups of {group_rows}"
            );
            for rg in meta.row_groups() {
                let order: Vec<(i32, bool)> = rg
                    .sorting_columns()
                    .expect("every row group records the sort order")
                    .iter()
                    .map(|s| (s.column_idx, s.descending))
                    .collect();
                assert_eq!(
                    order,
                    [
                        (Col::Timestamp as i32, false),
                        (Col::RecordId as i32, false)
                    ]
                );
            }
            assert!(
                ours == arrow_writer_bytes(&rows, batch_rows, group_rows),
                "batches of {batch_rows}, groups of {group_rows}"
            );
            // And the values read back are the rows' own, not only the same as ArrowWriter's.
            let back = read_back(ours);
            let text = |c: Col| -> Vec<String> {
                back.iter()
                    .flat_map(|b| {
                        let col = b.column(c as usize).as_string::<i32>();
                        (0..col.len())
                            .map(|i| col.value(i).to_string())
                            .collect::<Vec<_>>()
                    })
                    .collect()
            };
            let want = |f: fn(&crate::record::Row) -> &'static str| -> Vec<String> {
                rows.iter().map(|r| f(r).to_string()).collect()
            };
            assert_eq!(text(Col::Status), want(|r| r.record.status.as_str()));
            assert_eq!(
                text(Col::RedisStatus),
                want(|r| r.record.fixed.word(Col::RedisStatus))
            );
            assert_eq!(
                text(Col::DatabaseStatus),
                want(|r| r.record.fixed.word(Col::DatabaseStatus))
            );
            assert_eq!(
                text(Col::ApiStatus),
                want(|r| r.record.fixed.word(Col::ApiStatus))
            );
            assert_eq!(
                text(Col::LaunchagentOptimizer),
                want(|r| r.record.fixed.word(Col::LaunchagentOptimizer))
            );
            assert_eq!(
                text(Col::LaunchagentDigest),
                want(|r| r.record.fixed.word(Col::LaunchagentDigest))
            );
            assert_eq!(text(Col::Source), want(|r| r.source.as_str()));
        }
    }

    #[test]
    fn an_output_that_fails_mid_file_fails_the_write_and_stops_both_threads() {
        /// Accepts `left` bytes, then fails every write.
        struct Full {
            left: usize,
        }
        impl Write for Full {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                if self.left == 0 {
                    return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
                }
                let n = buf.len().min(self.left);
                self.left -= n;
                Ok(n)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        // Ten row groups of 30 KB or so each: the file writer's buffer is smaller, so the output
        // fails while the first groups are appended and the second thread is still ahead.
        let rows: Vec<_> = (0..2000)
            .map(|i| row(&format!("{i:0>100}"), i, &[]))
            .collect();
        let (done, wait) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let r = write_with(
                Full { left: 100 },
                rows.iter().map(crate::record::Row::view),
                small_groups(200),
                50,
            );
            done.send(r.map(|_| ()).map_err(|e| format!("{e:#}")))
                .unwrap();
        });
        let r = wait
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the write did not return: it waits on its second thread");
        // The OS's words, once: not wrapped and repeated by the Parquet error.
        let err = r.unwrap_err();
        assert_eq!(err.matches("No space left on device").count(), 1, "{err}");
    }

    #[test]
    fn zero_rows_is_a_valid_file_with_the_schema() {
        let mut buf = Vec::new();
        let meta = write_parquet(&mut buf, std::iter::empty(), vec![], 8).unwrap();
        assert_eq!(meta.file_metadata().num_rows(), 0);
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(buf)).unwrap();
        assert_eq!(reader.schema().fields(), batch::schema().fields());
    }
}
