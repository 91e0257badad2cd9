//! Parquet writer: schema-v1 batches into SNAPPY Parquet with statistics, dictionary encoding for
//! the low-cardinality strings and the contract's key-value metadata. Writes to any `Write`.

use std::io::Write;

use anyhow::{Context, Result};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::{KeyValue, ParquetMetaData};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::batch;
use crate::rows::RowRef;

/// Rows per row group: a busy day is well under this, so a file is one row group and readers
/// get one set of statistics per column.
pub const MAX_ROW_GROUP_ROWS: usize = 1 << 20;

fn properties(metadata: Vec<(String, String)>) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(MAX_ROW_GROUP_ROWS))
        .set_created_by(format!("parquet-exporter {}", env!("CARGO_PKG_VERSION")))
        // Unique per row: a dictionary would only add a page that never repeats.
        .set_column_dictionary_enabled(ColumnPath::from("record_id"), false)
        .set_column_dictionary_enabled(ColumnPath::from("timestamp"), false)
        .set_key_value_metadata(Some(
            metadata
                .into_iter()
                .map(|(k, v)| KeyValue::new(k, v))
                .collect(),
        ))
        .build()
}

/// Writes `rows` (already sorted) as one Parquet file to `out`, `batch_rows` rows per Arrow
/// batch, and returns the footer that was written.
pub fn write_parquet<'a, W: Write + Send, I>(
    out: W,
    rows: I,
    metadata: Vec<(String, String)>,
    batch_rows: usize,
) -> Result<ParquetMetaData>
where
    I: IntoIterator<Item = RowRef<'a>>,
    I::IntoIter: ExactSizeIterator + 'a,
{
    let mut writer = ArrowWriter::try_new(out, batch::schema(), Some(properties(metadata)))
        .context("starting the Parquet writer")?;
    for batch in batch::batches(rows, batch_rows) {
        writer.write(&batch).context("writing a record batch")?;
    }
    writer.close().context("finishing the Parquet footer")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::tests::row;
    use arrow::array::RecordBatch;
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

    #[test]
    fn zero_rows_is_a_valid_file_with_the_schema() {
        let mut buf = Vec::new();
        let meta = write_parquet(&mut buf, std::iter::empty(), vec![], 8).unwrap();
        assert_eq!(meta.file_metadata().num_rows(), 0);
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(buf)).unwrap();
        assert_eq!(reader.schema().fields(), batch::schema().fields());
    }
}
