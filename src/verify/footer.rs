//! A file's footer read without its data, within bounds a hostile file cannot get past, and
//! why a read failed: the file's defect or the system's.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::file::metadata::ParquetMetaData;

use super::size::human_size;
use crate::batch;
use crate::contract::footer;

/// Why a file could not be checked to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A defect of the file: it is not a readable day file.
    File(String),
    /// The system failed while reading it (an error the OS reported: no descriptor left, an
    /// I/O error), which says nothing of the file.
    System(String),
}

impl Failure {
    /// `text`, as the system's failure when `cause` (or an error it wraps) is one the OS
    /// reported, else as the file's.
    pub(super) fn of(text: String, cause: &(dyn std::error::Error + 'static)) -> Failure {
        if from_the_system(cause) {
            Failure::System(text)
        } else {
            Failure::File(text)
        }
    }
}

impl From<String> for Failure {
    fn from(text: String) -> Failure {
        Failure::File(text)
    }
}

impl From<Failure> for String {
    fn from(f: Failure) -> String {
        match f {
            Failure::File(t) | Failure::System(t) => t,
        }
    }
}

/// Whether `e`, or an error it wraps, is one the OS reported. A short read (a truncated file)
/// or a refused symbolic link is an `io::Error` too, but the file's, not the system's.
fn from_the_system(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.raw_os_error().is_some())
        {
            return true;
        }
        // The Parquet reader hands a read error of its batches on as text, its type gone:
        // `External:` is how it shows an error of the reader under it (the file), not of the
        // Parquet data.
        if let Some(arrow::error::ArrowError::ParquetError(text)) = e.downcast_ref() {
            return text.starts_with("External: ");
        }
        cause = e.source();
    }
    false
}

/// A read of the data that failed, the file's or the system's as `Failure::of` tells.
pub(super) fn unreadable<E: std::error::Error + 'static>(e: E) -> Failure {
    Failure::of(format!("cannot read the data: {e}"), &e)
}

/// What a file's footer says, read without its data: enough to decide whether a day needs
/// exporting again.
#[derive(Debug, Clone)]
pub struct Footer {
    pub rows: i64,
    pub kv: BTreeMap<String, String>,
}

impl Footer {
    pub fn verdict(&self) -> Option<&str> {
        self.kv.get(footer::VERDICT).map(String::as_str)
    }
}

pub(super) fn key_values(meta: &parquet::file::metadata::FileMetaData) -> BTreeMap<String, String> {
    meta.key_value_metadata()
        .map(|kvs| {
            kvs.iter()
                .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// The columns that mark the old exporter's files (it wrote them through DuckDB).
pub const LEGACY_COLUMNS: [&str; 3] = ["filename", "timestamp", "status"];

/// Whether `schema` is the old exporter's: verify points such a file to `import-legacy`.
pub(super) fn is_legacy_schema(schema: &Schema) -> bool {
    LEGACY_COLUMNS
        .iter()
        .all(|c| schema.field_with_name(c).is_ok())
}

/// The longest footer read, the most row groups and the largest column chunk (uncompressed)
/// accepted from a file: a schema-v1 day of 5 million rows has a footer of a few KB, 5 row
/// groups and chunks of tens of MB. Checked before anything past the footer is decoded.
const MAX_FOOTER_BYTES: u64 = 16 << 20;
const MAX_ROW_GROUPS: usize = 10_000;
const MAX_CHUNK_BYTES: i64 = 512 << 20;

/// Opens `path` (a regular file only) and reads its footer within bounds: the footer's length
/// against the file's size and `MAX_FOOTER_BYTES` before it is parsed, then the row-group
/// count and every column chunk's sizes. A file past a bound is refused with the reason, and
/// none of its data is read: a small hostile file cannot make a reader allocate gigabytes.
pub fn open_bounded(path: &Path) -> Result<(File, Arc<ParquetMetaData>), Failure> {
    use std::io::{Read, Seek, SeekFrom};
    let cannot_open = |e: std::io::Error| Failure::of(format!("cannot open: {e}"), &e);
    let mut file = crate::fsio::open_regular(path).map_err(cannot_open)?;
    let size = file.metadata().map_err(cannot_open)?.len();
    let unreadable = |why: String| format!("not a readable Parquet file: {why}");
    if size < 12 {
        return Err(unreadable(format!("{size} bytes is too small")).into());
    }
    let mut tail = [0u8; 8];
    file.seek(SeekFrom::End(-8))
        .and_then(|_| file.read_exact(&mut tail))
        .map_err(|e| Failure::of(unreadable(e.to_string()), &e))?;
    if &tail[4..] != b"PAR1" {
        return Err(unreadable("no PAR1 magic at its end".into()).into());
    }
    let footer = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if footer + 12 > size {
        return Err(unreadable(format!(
            "its footer of {footer} bytes is longer than the file"
        ))
        .into());
    }
    if footer > MAX_FOOTER_BYTES {
        return Err(format!(
            "its footer is {}, over the {} this tool reads (a day file's is a few KB)",
            human_size(footer),
            human_size(MAX_FOOTER_BYTES)
        )
        .into());
    }
    let meta = parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(|e| Failure::of(unreadable(e.to_string()), &e))?;
    if meta.num_row_groups() > MAX_ROW_GROUPS {
        return Err(format!(
            "it has {} row groups, over the {MAX_ROW_GROUPS} this tool reads",
            meta.num_row_groups()
        )
        .into());
    }
    for (g, rg) in meta.row_groups().iter().enumerate() {
        for col in rg.columns() {
            let (packed, unpacked) = (col.compressed_size(), col.uncompressed_size());
            if !(0..=size as i64).contains(&packed) || !(0..=MAX_CHUNK_BYTES).contains(&unpacked) {
                return Err(format!(
                    "row group {g}'s {} chunk claims {packed} bytes stored and {unpacked} \
                     unpacked, outside the file or over the {} this tool reads",
                    col.column_path().string(),
                    human_size(MAX_CHUNK_BYTES as u64)
                )
                .into());
            }
        }
    }
    Ok((file, Arc::new(meta)))
}

/// Arrow metadata for reading the file with every string as a view (see `batch::view_type`).
pub fn as_views(meta: &ArrowReaderMetadata) -> Result<ArrowReaderMetadata, String> {
    let fields: Vec<Field> = meta
        .schema()
        .fields()
        .iter()
        .map(|f| {
            f.as_ref()
                .clone()
                .with_data_type(batch::view_type(f.data_type()))
        })
        .collect();
    let options = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new(fields)));
    ArrowReaderMetadata::try_new(meta.metadata().clone(), options).map_err(|e| unreadable(e).into())
}

/// `open_bounded`, then the file's Arrow metadata as it is and as views.
pub fn open_for_reading(
    path: &Path,
) -> Result<(File, ArrowReaderMetadata, ArrowReaderMetadata), String> {
    let (file, meta) = open_bounded(path)?;
    let plain = ArrowReaderMetadata::try_new(meta, Default::default())
        .map_err(|e| format!("not a readable Parquet file: {e}"))?;
    let views = as_views(&plain)?;
    Ok((file, plain, views))
}

/// Reads the footer of `path`, within `open_bounded`'s bounds.
pub fn read_footer(path: &Path) -> Result<Footer, String> {
    let (_, meta) = open_bounded(path)?;
    let fm = meta.file_metadata();
    Ok(Footer {
        rows: fm.num_rows(),
        kv: key_values(fm),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error the OS reported is the system's, however deep it is wrapped; a short read or a
    /// defect of the Parquet data is the file's.
    #[test]
    fn system_failures_are_told_apart_by_type() {
        use parquet::errors::ParquetError;
        let os = || std::io::Error::from_raw_os_error(24);
        let short = || std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        let is_system = |f: Failure| matches!(f, Failure::System(_));
        assert!(is_system(Failure::of("x".into(), &os())));
        assert!(!is_system(Failure::of("x".into(), &short())));
        assert!(is_system(unreadable(ParquetError::from(os()))));
        assert!(!is_system(unreadable(ParquetError::General(
            "bad page".into()
        ))));
        // The batch reader's form: the Parquet error as text inside an Arrow error.
        let batch = |e: ParquetError| arrow::error::ArrowError::from(e);
        assert!(is_system(unreadable(batch(ParquetError::from(os())))));
        assert!(!is_system(unreadable(batch(ParquetError::General(
            "bad page".into()
        )))));
        // The text is what verify showed before.
        assert_eq!(
            String::from(unreadable(ParquetError::General("bad page".into()))),
            "cannot read the data: Parquet error: bad page"
        );
    }
}
