//! Parquet writer: sorted rows into schema-v1 SNAPPY Parquet with statistics, dictionary encoding
//! for the low-cardinality strings and the contract's key-value metadata, the columns built and
//! encoded on two threads. Writes to any `Write`, a whole day at once (`write_parquet`) or
//! window by window (`DayWriter`).

use std::io::Write;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

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
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;

use crate::batch::{self, BatchBuilder};
use crate::columns::{Col, Thread, COLUMNS, COUNT};
use crate::merge::Merged;
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

/// Rows handed to the writer at once: a window of the day (`Merged`, shared with the second
/// thread through an `Arc`), or for `write_parquet` the whole day as a borrowed iterator.
/// Both encoding threads read every window, each its own share of the columns. A trait, so
/// that one `Part` and one second-thread loop serve both callers and row groups and batches
/// are cut in one place. It is not implemented for a `Vec` of rows: `write_parquet`'s callers
/// hold their rows in different forms and lend them as iterators, which `Whole` wraps without
/// a copy (its second thread is then a scoped one, as the rows are borrowed).
trait Window {
    /// The rows, in output order.
    fn rows(&self) -> impl Iterator<Item = RowRef<'_>>;
}

impl Window for Merged {
    fn rows(&self) -> impl Iterator<Item = RowRef<'_>> {
        self.iter()
    }
}

impl<T: Window> Window for Arc<T> {
    fn rows(&self) -> impl Iterator<Item = RowRef<'_>> {
        (**self).rows()
    }
}

/// The whole day as an iterator over rows held elsewhere: each thread walks its own clone.
/// The marker says that the rows outlive any borrow of it.
#[derive(Clone)]
struct Whole<'a, I>(I, PhantomData<&'a ()>);

impl<'a, I: Iterator<Item = RowRef<'a>> + Clone> Window for Whole<'a, I> {
    fn rows(&self) -> impl Iterator<Item = RowRef<'_>> {
        fn shorter<'s, 'a: 's>(r: RowRef<'a>) -> RowRef<'s> {
            r
        }
        self.0.clone().map(shorter)
    }
}

/// Writes a day file window by window, so the day is never whole in memory: the rows of each
/// window follow those written before, and row groups and batches are cut as if the day had
/// come at once (every `MAX_ROW_GROUP_ROWS` rows, batches at multiples of `batch_rows` from
/// the day's first row), so the file's bytes do not depend on how the day was split.
///
/// The columns of `columns::Thread::Second` are built and encoded on a thread of the
/// writer's own, which takes the windows as they are written and goes on encoding while the
/// caller prepares the next one; at most one window waits for it, and one row group's encoded
/// columns wait for the caller. Dropping the writer without `finish` stops that thread and
/// leaves an incomplete file.
pub struct DayWriter<W: Write + Send> {
    front: Front<W, Arc<Merged>>,
    /// The second thread, joined when the writer is dropped.
    second: Option<std::thread::JoinHandle<()>>,
}

impl<W: Write + Send> DayWriter<W> {
    /// Starts the file; `batch_rows` rows per Arrow batch, as `write_parquet` takes them.
    pub fn new(out: W, batch_rows: usize) -> Result<Self> {
        Self::with_properties(out, properties(Vec::new(), MAX_ROW_GROUP_ROWS), batch_rows)
    }

    /// `new` with other properties (tests cut row groups and pages small).
    fn with_properties(out: W, props: WriterProperties, batch_rows: usize) -> Result<Self> {
        let (front, back) = Front::start(out, props, batch_rows)?;
        Self::spawn(front, back)
    }

    fn spawn(front: Front<W, Arc<Merged>>, back: Back<Arc<Merged>>) -> Result<Self> {
        let second = std::thread::Builder::new()
            .name("parquet-encode".into())
            .spawn(move || back.run())
            .context("starting the second encoding thread")?;
        Ok(DayWriter {
            front,
            second: Some(second),
        })
    }

    /// Appends the rows of `window`, in `window.iter()` order; they follow every row written
    /// before. After an error the file is incomplete and every later call fails.
    pub fn write(&mut self, window: Arc<Merged>) -> Result<()> {
        self.front.write(window)
    }

    /// Rows written so far.
    #[cfg(test)]
    pub fn rows(&self) -> usize {
        self.front.part.done
    }

    /// Adds the key-value metadata (known only once the day is written) and writes the
    /// footer, which it returns. The footer lists `ARROW:schema` first, then `metadata` in
    /// its order (`write_parquet` lists `metadata` first).
    pub fn finish(mut self, metadata: Vec<(String, String)>) -> Result<ParquetMetaData> {
        self.front.finish(metadata)
    }
}

impl<W: Write + Send> Drop for DayWriter<W> {
    fn drop(&mut self) {
        self.front.link.close();
        if let Some(second) = self.second.take() {
            // It catches its own panics and reports them as errors: nothing to raise here.
            let _ = second.join();
        }
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
    I::IntoIter: Clone + Send + 'a,
{
    write_with(
        out,
        rows,
        properties(metadata, MAX_ROW_GROUP_ROWS),
        batch_rows,
    )
}

/// `write_parquet` with other properties (tests cut row groups and pages small): the day as
/// one window, the second thread a scoped one, since the rows are borrowed.
fn write_with<'a, W: Write + Send, I>(
    out: W,
    rows: I,
    props: WriterProperties,
    batch_rows: usize,
) -> Result<ParquetMetaData>
where
    I: IntoIterator<Item = RowRef<'a>>,
    I::IntoIter: Clone + Send + 'a,
{
    let (front, back) = Front::start(out, props, batch_rows)?;
    std::thread::scope(|scope| {
        scope.spawn(move || back.run());
        // Moved in, so that it is dropped when this returns, error or not: that stops the
        // second thread before the scope waits for it.
        let mut front = front;
        front.write(Whole(rows.into_iter(), PhantomData))?;
        front.finish(Vec::new())
    })
}

/// A message to the second thread.
enum Msg<T> {
    /// Rows that follow all those sent before.
    Window(T),
    /// The day is complete: close the last row group and stop.
    End,
}

/// What the second thread sends back: a row group's column chunks, or why it stopped.
type Chunks = Result<Vec<ArrowColumnChunk>>;

/// The calling thread's side of a file: the file itself, its share of the columns, and the
/// link to the second thread.
struct Front<W: Write + Send, T> {
    file: SerializedFileWriter<W>,
    part: Part,
    link: Link<T>,
    /// Set once a call failed or the footer was written: the file takes nothing more.
    closed: bool,
}

impl<W: Write + Send, T: Window + Clone> Front<W, T> {
    /// Starts the file, and gives the second thread's side for the caller to run.
    fn start(out: W, props: WriterProperties, batch_rows: usize) -> Result<(Self, Back<T>)> {
        let group_rows = props
            .max_row_group_row_count()
            .unwrap_or(MAX_ROW_GROUP_ROWS);
        let (file, factory) = ArrowWriter::try_new(out, batch::schema(), Some(props))
            .and_then(ArrowWriter::into_serialized_writer)
            .map_err(output_error)
            .context("starting the Parquet writer")?;
        // The schema-v1 column of each leaf (the map column has two leaves).
        let descr = file.schema_descr();
        let root_of: Arc<[usize]> = (0..descr.num_columns())
            .map(|leaf| descr.get_column_root_idx(leaf))
            .collect();
        let factory = Arc::new(factory);
        let part = |second| Part::new(second, batch_rows, group_rows, &factory, &root_of);
        // At most one window waits for the second thread, and one row group's chunks for
        // this one: memory stays near a row group per thread whatever the day's size.
        let (windows, windows_rx) = std::sync::mpsc::sync_channel(1);
        let (chunks_tx, chunks) = std::sync::mpsc::sync_channel(1);
        let stop = Arc::new(AtomicBool::new(false));
        let mut back_part = part(true);
        back_part.stop = Some(stop.clone());
        let front = Front {
            file,
            part: part(false),
            link: Link {
                windows: Some(windows),
                chunks: Some(chunks),
                stop,
            },
            closed: false,
        };
        let back = Back {
            windows: windows_rx,
            part: back_part,
            chunks: chunks_tx,
        };
        Ok((front, back))
    }

    fn write(&mut self, window: T) -> Result<()> {
        self.usable()?;
        let written = self.write_window(window);
        if written.is_err() {
            self.close();
        }
        written
    }

    fn write_window(&mut self, window: T) -> Result<()> {
        // Sent first, so that the second thread encodes its share while this one does.
        self.link.send(Msg::Window(window.clone()))?;
        let Front {
            file, part, link, ..
        } = self;
        let root_of = part.root_of.clone();
        part.take(window.rows(), |here| {
            append_group(file, &root_of, here, link.recv()?)
        })
    }

    fn finish(&mut self, metadata: Vec<(String, String)>) -> Result<ParquetMetaData> {
        self.usable()?;
        let finished = self.finish_file(metadata);
        self.close();
        finished
    }

    fn finish_file(&mut self, metadata: Vec<(String, String)>) -> Result<ParquetMetaData> {
        self.link.send(Msg::End)?;
        if let Some(here) = self.part.finish()? {
            let there = self.link.recv()?;
            append_group(&mut self.file, &self.part.root_of, here, there)?;
        }
        self.link.wait_end()?;
        for (k, v) in metadata {
            self.file.append_key_value_metadata(KeyValue::new(k, v));
        }
        self.file
            .finish()
            .map_err(output_error)
            .context("finishing the Parquet footer")
    }

    fn usable(&self) -> Result<()> {
        anyhow::ensure!(
            !self.closed,
            "the Parquet file is incomplete: an earlier write failed"
        );
        Ok(())
    }

    /// Takes no more rows, and stops the second thread.
    fn close(&mut self) {
        self.closed = true;
        self.link.close();
    }
}

/// Appends one row group's column chunks, this thread's (`here`) and the second's (`there`),
/// in leaf order as the footer lists them.
fn append_group<W: Write + Send>(
    file: &mut SerializedFileWriter<W>,
    root_of: &[usize],
    here: Vec<ArrowColumnChunk>,
    there: Vec<ArrowColumnChunk>,
) -> Result<()> {
    let mut row_group = file.next_row_group().context("starting a row group")?;
    let (mut here, mut there) = (here.into_iter(), there.into_iter());
    for root in root_of {
        let chunk = if on_second_thread(*root) {
            there.next()
        } else {
            here.next()
        };
        chunk
            .context("a column chunk is missing")?
            .append_to_row_group(&mut row_group)
            .map_err(output_error)
            .context("writing a column chunk")?;
    }
    row_group
        .close()
        .map_err(output_error)
        .context("finishing a row group")?;
    Ok(())
}

/// The calling thread's ends of the channels to the second thread.
struct Link<T> {
    /// `None` once closed: the second thread then stops.
    windows: Option<SyncSender<Msg<T>>>,
    chunks: Option<Receiver<Chunks>>,
    /// Tells the second thread to stop between batches, not only between windows.
    stop: Arc<AtomicBool>,
}

impl<T> Link<T> {
    fn send(&mut self, msg: Msg<T>) -> Result<()> {
        match &self.windows {
            Some(w) if w.send(msg).is_ok() => Ok(()),
            _ => Err(self.why_stopped()),
        }
    }

    /// The second thread's chunks of the next row group.
    fn recv(&mut self) -> Result<Vec<ArrowColumnChunk>> {
        match self.chunks.as_ref().map(Receiver::recv) {
            Some(Ok(chunks)) => chunks,
            _ => Err(self.why_stopped()),
        }
    }

    /// After `Msg::End`: waits for the second thread to end, and says if it failed.
    fn wait_end(&mut self) -> Result<()> {
        if let Some(rx) = &self.chunks {
            if let Some(extra) = rx.iter().next() {
                extra?;
                anyhow::bail!("the second encoding thread wrote a row group more");
            }
        }
        Ok(())
    }

    /// The second thread's error, once it stopped: it sends one before it ends, unless it
    /// was told to stop.
    fn why_stopped(&self) -> anyhow::Error {
        self.chunks
            .as_ref()
            .and_then(|rx| rx.iter().find_map(Result::err))
            .unwrap_or_else(|| anyhow::anyhow!("the second encoding thread stopped"))
    }

    fn close(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.windows = None;
        self.chunks = None;
    }
}

impl<T> Drop for Link<T> {
    fn drop(&mut self) {
        self.close();
    }
}

/// The second thread's side: its share of the columns, and its ends of the channels.
struct Back<T> {
    windows: Receiver<Msg<T>>,
    part: Part,
    chunks: SyncSender<Chunks>,
}

impl<T: Window> Back<T> {
    /// Encodes the windows as they come, sending each row group's chunks, until the day
    /// ends, the writer closes the link, or something fails; a failure (a panic too) is
    /// sent as an error, for the writer to return.
    fn run(self) {
        let Back {
            windows,
            mut part,
            chunks,
        } = self;
        let send = |c: Vec<ArrowColumnChunk>| {
            chunks
                .send(Ok(c))
                .map_err(|_| anyhow::anyhow!("the writer stopped"))
        };
        let run = || -> Result<()> {
            for msg in windows.iter() {
                match msg {
                    Msg::Window(w) => part.take(w.rows(), send)?,
                    Msg::End => return part.finish()?.map_or(Ok(()), send),
                }
            }
            // The writer was dropped or failed: it waits for nothing.
            Ok(())
        };
        let failed = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .copied()
                    .or(panic.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("no message");
                anyhow::anyhow!("the second encoding thread panicked: {what}")
            }
        };
        // Nobody listens when the writer stopped this thread.
        let _ = chunks.send(Err(failed));
    }
}

/// One thread's share of the columns: it builds them from the rows and encodes them, one
/// row group at a time, however the rows are split into windows.
struct Part {
    second: bool,
    builder: BatchBuilder,
    batch_rows: usize,
    group_rows: usize,
    factory: Arc<ArrowRowGroupWriterFactory>,
    root_of: Arc<[usize]>,
    /// Rows of the day taken so far: batches are cut at multiples of `batch_rows`, groups
    /// at multiples of `group_rows`.
    done: usize,
    /// Rows of the day encoded so far; those after them wait in `builder`.
    encoded: usize,
    /// The open row group's writers of this thread's leaves, in leaf order.
    writers: Option<Vec<ArrowColumnWriter>>,
    /// Row groups closed so far.
    groups: usize,
    /// Checked after each batch: the writer no longer wants the rows.
    stop: Option<Arc<AtomicBool>>,
    /// Fails encoding from this row on, as a test asks.
    #[cfg(test)]
    fault: Option<(usize, tests::Fault)>,
}

impl Part {
    fn new(
        second: bool,
        batch_rows: usize,
        group_rows: usize,
        factory: &Arc<ArrowRowGroupWriterFactory>,
        root_of: &Arc<[usize]>,
    ) -> Self {
        let wanted = std::array::from_fn(|c| on_second_thread(c) == second);
        let batch_rows = batch_rows.max(1);
        Part {
            second,
            builder: BatchBuilder::of_columns(batch_rows.min(group_rows), &wanted),
            batch_rows,
            group_rows,
            factory: factory.clone(),
            root_of: root_of.clone(),
            done: 0,
            encoded: 0,
            writers: None,
            groups: 0,
            stop: None,
            #[cfg(test)]
            fault: None,
        }
    }

    /// Builds and encodes `rows`, the next of the day, giving each row group's chunks to
    /// `on_group` as it is complete. Rows after the last batch cut wait for the next call.
    fn take<'r>(
        &mut self,
        mut rows: impl Iterator<Item = RowRef<'r>>,
        mut on_group: impl FnMut(Vec<ArrowColumnChunk>) -> Result<()>,
    ) -> Result<()> {
        loop {
            let next = |n: usize| (self.done / n + 1) * n;
            let cut = next(self.batch_rows).min(next(self.group_rows));
            for row in rows.by_ref().take(cut - self.done) {
                self.builder.append(row);
                self.done += 1;
            }
            if self.done < cut {
                return Ok(());
            }
            self.encode()?;
            if self.done.is_multiple_of(self.group_rows) {
                if let Some(chunks) = self.close_group()? {
                    on_group(chunks)?;
                }
            }
            if self
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
            {
                anyhow::bail!("the writer stopped");
            }
        }
    }

    /// Encodes the rows still waiting and closes the last row group, if one is open.
    fn finish(&mut self) -> Result<Option<Vec<ArrowColumnChunk>>> {
        self.encode()?;
        self.close_group()
    }

    /// Encodes the rows built since the last call as one batch.
    fn encode(&mut self) -> Result<()> {
        if self.encoded == self.done {
            return Ok(());
        }
        #[cfg(test)]
        tests::inject(self.fault, self.done)?;
        let writers = match &mut self.writers {
            Some(w) => w,
            None => {
                let opened = self
                    .factory
                    .create_column_writers(self.groups)
                    .context("starting a row group")?
                    .into_iter()
                    .zip(self.root_of.iter())
                    .filter(|(_, root)| on_second_thread(**root) == self.second)
                    .map(|(w, _)| w)
                    .collect();
                self.writers.insert(opened)
            }
        };
        let schema = batch::schema();
        let mut leaves = writers.iter_mut();
        let roots = (0..COUNT).filter(|c| on_second_thread(*c) == self.second);
        for (root, array) in roots.zip(self.builder.finish_columns()) {
            for leaf in
                compute_leaves(schema.field(root), &array).context("computing a column's levels")?
            {
                let w = leaves.next().context("a column writer is missing")?;
                w.write(&leaf).context("encoding a column")?;
            }
        }
        self.encoded = self.done;
        Ok(())
    }

    /// The open row group's chunks, if one is open.
    fn close_group(&mut self) -> Result<Option<Vec<ArrowColumnChunk>>> {
        let Some(writers) = self.writers.take() else {
            return Ok(None);
        };
        self.groups += 1;
        let chunks = writers
            .into_iter()
            .map(|w| w.close().context("finishing a column chunk"))
            .collect::<Result<_>>()?;
        Ok(Some(chunks))
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

    /// `n` rows whose every column varies, so every column's pages differ: hosts, durations
    /// and checks come and go.
    fn varied(n: i64) -> Vec<crate::record::Row> {
        (0..n)
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
            .collect()
    }

    #[test]
    fn two_threads_write_the_bytes_arrow_writer_writes_across_row_groups() {
        let rows = varied(23);
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
            for c in crate::columns::FIXED_COLS {
                let words: Vec<String> =
                    rows.iter().map(|r| r.record.fixed.word(c).into()).collect();
                assert_eq!(text(c), words, "{}", c.name());
            }
            assert_eq!(text(Col::Source), want(|r| r.source.as_str()));
        }
    }

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

    #[test]
    fn an_output_that_fails_mid_file_fails_the_write_and_stops_both_threads() {
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

    /// A failure a test makes a `Part` meet when it encodes.
    #[derive(Debug, Clone, Copy)]
    pub(super) enum Fault {
        Error,
        Panic,
    }

    /// Fails as `fault` says once `done` rows are taken.
    pub(super) fn inject(fault: Option<(usize, Fault)>, done: usize) -> Result<()> {
        match fault {
            Some((at, Fault::Error)) if done >= at => anyhow::bail!("an injected encoding failure"),
            Some((at, Fault::Panic)) if done >= at => panic!("an injected encoding panic"),
            _ => Ok(()),
        }
    }

    /// `rows` as one merged window, as the export merges them.
    fn window(rows: &[crate::record::Row]) -> Arc<Merged> {
        let mut store = crate::rows::Rows::new();
        for r in rows {
            store.push(&r.record, r.source);
        }
        let mut merger = crate::merge::Merger::new();
        merger.extend(store, 1);
        Arc::new(merger.into_sorted().0)
    }

    /// Writes `rows` through `w`, in windows of `sizes` rows and the rest in one more.
    fn write_windows<W: Write + Send>(
        w: &mut DayWriter<W>,
        rows: &[crate::record::Row],
        sizes: &[usize],
    ) {
        let mut at = 0;
        for n in sizes.iter().copied().chain([rows.len()]) {
            let end = (at + n).min(rows.len());
            w.write(window(&rows[at..end])).unwrap();
            assert_eq!(w.rows(), end);
            at = end;
        }
    }

    /// The file a `DayWriter` writes of `rows` in windows of `sizes`, small groups and pages.
    fn day_in_windows(
        rows: &[crate::record::Row],
        sizes: &[usize],
        batch_rows: usize,
        group_rows: usize,
    ) -> (Vec<u8>, ParquetMetaData) {
        let mut buf = Vec::new();
        let mut w =
            DayWriter::with_properties(&mut buf, small_groups(group_rows), batch_rows).unwrap();
        write_windows(&mut w, rows, sizes);
        let meta = w.finish(Vec::new()).unwrap();
        (buf, meta)
    }

    /// Window sizes that add up to `rows` or more, from a fixed seed: reproducible.
    fn random_sizes(seed: u64, rows: usize, most: u64) -> Vec<usize> {
        let mut x = seed;
        let (mut sizes, mut left) = (Vec::new(), rows);
        while left > 0 {
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % (most + 1)) as usize;
            sizes.push(n);
            left -= n.min(left);
        }
        sizes
    }

    #[test]
    fn a_day_in_windows_of_any_size_is_the_file_of_the_day_at_once() {
        let rows = varied(40);
        // Batches of 4 and groups of 6: cuts at 4, 6, 8, 12, 16, 18, ...
        let (batch_rows, group_rows) = (4, 6);
        let whole = arrow_writer_bytes(&rows, batch_rows, group_rows);
        let mut splits = vec![
            vec![],
            vec![1; 40],
            vec![7; 6],
            // A split in the middle of the first batch.
            vec![2],
            // The second window straddles the first group's end (row 6), inside a batch.
            vec![5, 2],
            // Empty windows, and windows that end on group ends.
            vec![0, 6, 0, 0, 12, 0],
        ];
        splits.extend((1..=20).map(|seed| random_sizes(seed * 0x9e37_79b9, 40, 9)));
        for sizes in splits {
            let (bytes, meta) = day_in_windows(&rows, &sizes, batch_rows, group_rows);
            let groups: Vec<i64> = meta.row_groups().iter().map(|g| g.num_rows()).collect();
            assert_eq!(groups, [6, 6, 6, 6, 6, 6, 4], "windows of {sizes:?}");
            assert!(bytes == whole, "windows of {sizes:?}");
        }
        // A row group, and a batch, over many windows; and groups that end on a batch's end.
        for (batch_rows, group_rows, sizes) in [(8, 16, vec![3; 20]), (3, 12, vec![5, 13, 1])] {
            let (bytes, meta) = day_in_windows(&rows, &sizes, batch_rows, group_rows);
            let groups: Vec<i64> = meta.row_groups().iter().map(|g| g.num_rows()).collect();
            let mut want = vec![group_rows as i64; 40 / group_rows];
            want.push((40 % group_rows) as i64);
            assert_eq!(groups, want, "windows of {sizes:?}");
            assert!(bytes == arrow_writer_bytes(&rows, batch_rows, group_rows));
        }
    }

    #[test]
    fn a_day_writer_writes_what_write_parquet_writes_and_the_metadata_it_is_given_at_the_end() {
        let rows = varied(50);
        let mut whole = Vec::new();
        write_parquet(
            &mut whole,
            rows.iter().map(crate::record::Row::view),
            vec![],
            3,
        )
        .unwrap();
        let mut ours = Vec::new();
        let mut w = DayWriter::new(&mut ours, 3).unwrap();
        write_windows(&mut w, &rows, &[1, 7, 0, 11]);
        w.finish(Vec::new()).unwrap();
        assert!(ours == whole, "the same rows, batches and properties");

        let mut ours = Vec::new();
        let mut w = DayWriter::new(&mut ours, 3).unwrap();
        write_windows(&mut w, &rows, &[20]);
        let kv = vec![
            ("ops_atomic.schema_version".to_string(), "1".to_string()),
            ("ops_atomic.rows".to_string(), rows.len().to_string()),
        ];
        let meta = w.finish(kv.clone()).unwrap();
        assert_eq!(meta.file_metadata().num_rows(), 50);
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(ours)).unwrap();
        let footer = reader
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .unwrap();
        for (k, v) in &kv {
            assert!(
                footer
                    .iter()
                    .any(|f| &f.key == k && f.value.as_ref() == Some(v)),
                "{k} in {footer:?}"
            );
        }
        assert!(footer.iter().any(|f| f.key == "ARROW:schema"));
        let back: Vec<RecordBatch> = reader.build().unwrap().collect::<Result<_, _>>().unwrap();
        let ids: Vec<String> = back
            .iter()
            .flat_map(|b| {
                let col = b.column(Col::RecordId as usize).as_string::<i32>();
                (0..col.len())
                    .map(|i| col.value(i).to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        let want: Vec<String> = rows
            .iter()
            .map(|r| r.record.record_id.to_string())
            .collect();
        assert_eq!(ids, want);
    }

    /// The export may hand the writer to another thread (to write beside the analysis).
    const _: fn() = || {
        fn send<T: Send>() {}
        send::<DayWriter<std::fs::File>>();
    };

    #[test]
    fn a_day_writer_of_no_rows_writes_a_valid_file() {
        let mut buf = Vec::new();
        let mut w = DayWriter::new(&mut buf, 8).unwrap();
        w.write(window(&[])).unwrap();
        assert_eq!(w.rows(), 0);
        let meta = w.finish(kv()).unwrap();
        assert_eq!(meta.num_row_groups(), 0);
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(buf)).unwrap();
        assert_eq!(reader.schema().fields(), batch::schema().fields());
    }

    /// Runs `f` on a thread of its own, and gives its result, or fails if it is not back
    /// within a minute (it hangs).
    fn within_a_minute<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
        let (done, wait) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(f()).unwrap());
        wait.recv_timeout(std::time::Duration::from_secs(60))
            .expect("the writer did not return: it waits on its second thread")
    }

    /// Writes `windows` and finishes: the first error, as text, and whether a write after it
    /// failed too.
    fn first_error<W: Write + Send>(
        mut w: DayWriter<W>,
        windows: Vec<Arc<Merged>>,
    ) -> (String, bool) {
        for win in windows {
            if let Err(e) = w.write(win) {
                let again = w.write(window(&[])).is_err();
                return (format!("{e:#}"), again);
            }
        }
        let e = w.finish(kv()).map(|_| ()).unwrap_err();
        (format!("{e:#}"), true)
    }

    #[test]
    fn an_output_that_fails_fails_a_write_or_the_finish_never_hangs() {
        let rows: Vec<_> = (0..2000)
            .map(|i| row(&format!("{i:0>100}"), i, &[]))
            .collect();
        let windows: Vec<_> = rows.chunks(70).map(window).collect();
        let mut whole = Vec::new();
        let mut w = DayWriter::with_properties(&mut whole, small_groups(200), 50).unwrap();
        for win in &windows {
            w.write(win.clone()).unwrap();
        }
        w.finish(kv()).unwrap();
        // Full early: a write fails, and so does any after it. Full at the footer: the finish.
        for left in [100, whole.len() - 10] {
            let windows = windows.clone();
            let (err, again) = within_a_minute(move || {
                let w = DayWriter::with_properties(Full { left }, small_groups(200), 50).unwrap();
                first_error(w, windows)
            });
            assert_eq!(err.matches("No space left on device").count(), 1, "{err}");
            assert!(again, "a write after a failed one was taken");
        }
    }

    #[test]
    fn a_failure_on_either_thread_is_an_error_from_the_writer() {
        let rows = varied(500);
        let windows: Vec<_> = rows.chunks(70).map(window).collect();
        for (second, fault, says) in [
            (true, Fault::Error, "an injected encoding failure"),
            (true, Fault::Panic, "panicked: an injected encoding panic"),
            (false, Fault::Error, "an injected encoding failure"),
        ] {
            // From the first rows (before any chunk was sent), inside a group, at the last group.
            for at in [1, 130, 450] {
                let windows = windows.clone();
                let (err, _) = within_a_minute(move || {
                    let (mut front, mut back) =
                        Front::start(Vec::new(), small_groups(200), 50).unwrap();
                    let part = if second {
                        &mut back.part
                    } else {
                        &mut front.part
                    };
                    part.fault = Some((at, fault));
                    first_error(DayWriter::spawn(front, back).unwrap(), windows)
                });
                assert!(err.contains(says), "{fault:?} at row {at}: {err}");
            }
        }
    }

    #[test]
    fn dropping_a_writer_unfinished_stops_its_thread() {
        let rows: Vec<_> = (0..3000).map(|i| row(&format!("id{i}"), i, &[])).collect();
        let day = window(&rows);
        for windows in [0, 1, 2] {
            let day = day.clone();
            let (stop_held, day_held) = within_a_minute(move || {
                let mut w = DayWriter::with_properties(Vec::new(), small_groups(200), 50).unwrap();
                let stop = w.front.link.stop.clone();
                for _ in 0..windows {
                    w.write(day.clone()).unwrap();
                }
                drop(w);
                (Arc::strong_count(&stop), Arc::strong_count(&day))
            });
            assert_eq!(
                stop_held, 1,
                "the thread still runs after {windows} windows"
            );
            assert_eq!(
                day_held, 2,
                "a window is still held after {windows} windows"
            );
        }
    }
}
