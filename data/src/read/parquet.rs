//! Parquet: the footer and every column chunk checked against the file
//! before the parquet crate reads anything, then its Arrow reader in
//! batches.
//!
//! The footer is read here rather than by the parquet crate so that its
//! length is checked (against the file and `max_metadata_bytes`) before a
//! byte of it is allocated. The metadata is then checked: the leaf column
//! count against `max_columns`; every column chunk's offsets non-negative
//! (the crate's `byte_range` asserts they are) and its byte range inside
//! the data part of the file; the chunks' compressed sizes together no
//! more than the file, so hostile metadata cannot make the reader decode
//! the same bytes over and over; and the decoded width of a row (the
//! chunks' uncompressed, or unencoded byte-array, sizes over the row count)
//! under `max_batch_bytes`. That width also sizes the batches. Page headers
//! are checked as they are read (see `pages`), and each decoded batch is
//! measured against `max_batch_bytes`.
//!
//! What stays unbounded: a dictionary-encoded column whose writer recorded
//! no unencoded size decodes each row to a full copy of its dictionary
//! value, so one batch may be far larger than the metadata suggests (up to
//! the 2 GiB a `Utf8` array's `i32` offsets allow, per column) before the
//! batch measurement stops the stream.

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use arrow_array::Array;
use arrow_schema::DataType;
use mesh_protocol::descriptor::Format;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use super::pages::GuardedFile;
use super::source::SourceReader;
use super::{Batch, BatchSource, Batches, Limits, ReadOptions, no_panic};
use crate::error::{Location, ReadError};

const FORMAT: Format = Format::Parquet;
pub(super) const MAGIC: &[u8; 4] = b"PAR1";
/// Estimated decoded bytes per value beyond its data (offsets, validity).
const VALUE_OVERHEAD: u64 = 8;

/// Opens a Parquet file for reading in batches.
pub(crate) fn open(mut file: SourceReader, opts: &ReadOptions) -> Result<Batches, ReadError> {
    let limits = opts.limits;
    let len = file.len();
    let (metadata, data_end) = read_metadata(&mut file, len, &limits)?;
    let width = check_metadata(&metadata, data_end, &limits)?;
    let total_rows = metadata.file_metadata().num_rows().max(0).unsigned_abs();
    // The embedded Arrow schema (if any) is decoded by arrow-ipc, which
    // panics on some malformed schemas.
    let arrow_metadata = no_panic(&FORMAT, Location::NONE, "reading the Arrow schema", || {
        ArrowReaderMetadata::try_new(Arc::new(metadata), ArrowReaderOptions::new())
            .map_err(|e| ReadError::invalid(&FORMAT, Location::NONE, e.to_string()))
    })?;
    let schema = arrow_metadata.schema().clone();
    let by_width = usize::try_from(limits.max_batch_bytes as u64 / width).unwrap_or(usize::MAX);
    let batch_rows = opts.rows_per_batch().min(by_width.max(1));
    let input = GuardedFile {
        file,
        len,
        max_page_bytes: limits.max_batch_bytes,
    };
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(input, arrow_metadata)
        .with_batch_size(batch_rows)
        .build()
        .map_err(|e| ReadError::invalid(&FORMAT, Location::NONE, e.to_string()))?;
    let source = ParquetSource {
        reader,
        rows_read: 0,
        total_rows,
        batch_rows,
        max_batch_bytes: limits.max_batch_bytes,
    };
    Ok(Batches::new(FORMAT, schema, Box::new(source)))
}

/// Reads and decodes the footer, its length checked first. Returns the
/// metadata and where the data part of the file ends (the footer's start).
fn read_metadata(
    file: &mut SourceReader,
    len: u64,
    limits: &Limits,
) -> Result<(ParquetMetaData, u64), ReadError> {
    let io = |at: u64| move |e| ReadError::io(&FORMAT, Location::byte(at), e);
    if len < 12 {
        return Err(ReadError::invalid(
            &FORMAT,
            Location::NONE,
            format!("the file has {len} bytes; a parquet file has at least 12"),
        ));
    }
    let mut head = [0u8; 4];
    file.seek(SeekFrom::Start(0)).map_err(io(0))?;
    file.read_exact(&mut head).map_err(io(0))?;
    if &head != MAGIC {
        return Err(ReadError::invalid(
            &FORMAT,
            Location::byte(0),
            "no PAR1 magic at the start",
        ));
    }
    let mut tail = [0u8; 8];
    file.seek(SeekFrom::Start(len - 8)).map_err(io(len - 8))?;
    file.read_exact(&mut tail).map_err(io(len - 8))?;
    if &tail[4..] == b"PARE" {
        return Err(ReadError::invalid(
            &FORMAT,
            Location::byte(len - 4),
            "encrypted parquet footers are not supported",
        ));
    }
    if &tail[4..] != MAGIC {
        return Err(ReadError::invalid(
            &FORMAT,
            Location::byte(len - 4),
            "no PAR1 magic at the end",
        ));
    }
    let footer = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if footer > len - 12 {
        return Err(ReadError::invalid(
            &FORMAT,
            Location::byte(len - 8),
            format!("parquet footer claims {footer} bytes, file has {len}"),
        ));
    }
    if footer > limits.max_metadata_bytes as u64 {
        return Err(ReadError::limit(
            &FORMAT,
            Location::byte(len - 8),
            format!(
                "parquet footer claims {footer} bytes, more than max_metadata_bytes ({})",
                limits.max_metadata_bytes
            ),
        ));
    }
    let start = len - 8 - footer;
    let mut buf = Vec::new();
    file.seek(SeekFrom::Start(start)).map_err(io(start))?;
    file.by_ref()
        .take(footer)
        .read_to_end(&mut buf)
        .map_err(io(start))?;
    let metadata = ParquetMetaDataReader::decode_metadata(&buf)
        .map_err(|e| ReadError::invalid(&FORMAT, Location::byte(start), format!("footer: {e}")))?;
    Ok((metadata, start))
}

/// Checks the metadata against the file and the limits (see the module
/// doc). Returns the estimated decoded bytes of the widest row.
fn check_metadata(
    meta: &ParquetMetaData,
    data_end: u64,
    limits: &Limits,
) -> Result<u64, ReadError> {
    let columns = meta.file_metadata().schema_descr().num_columns();
    if columns > limits.max_columns {
        return Err(ReadError::limit(
            &FORMAT,
            Location::NONE,
            format!(
                "the file has {columns} columns, more than max_columns ({})",
                limits.max_columns
            ),
        ));
    }
    let invalid = |message: String| Err(ReadError::invalid(&FORMAT, Location::NONE, message));
    let mut total: u64 = 0;
    let mut widest: u64 = 1;
    for (i, group) in meta.row_groups().iter().enumerate() {
        let Ok(rows) = u64::try_from(group.num_rows()) else {
            return invalid(format!("row group {i} claims {} rows", group.num_rows()));
        };
        if group.columns().len() != columns {
            return invalid(format!(
                "row group {i} has {} column chunks; the schema has {columns} columns",
                group.columns().len()
            ));
        }
        let mut decoded: u64 = 0;
        for chunk in group.columns() {
            let name = chunk.column_path().string();
            let start = chunk
                .dictionary_page_offset()
                .unwrap_or(chunk.data_page_offset());
            let (Ok(start), Ok(data), Ok(size), Ok(unpacked)) = (
                u64::try_from(start),
                u64::try_from(chunk.data_page_offset()),
                u64::try_from(chunk.compressed_size()),
                u64::try_from(chunk.uncompressed_size()),
            ) else {
                return invalid(format!(
                    "row group {i}, column {name}: negative offset or size"
                ));
            };
            let end = start.saturating_add(size);
            if start < 4 || data < start || end > data_end {
                return invalid(format!(
                    "row group {i}, column {name}: the chunk at bytes {start}..{end} \
                     is outside the data, which ends at byte {data_end}"
                ));
            }
            total = total.saturating_add(size);
            if total > data_end {
                return invalid(format!(
                    "the column chunks claim {total} bytes or more; the data is {data_end} bytes"
                ));
            }
            let unencoded = chunk.unencoded_byte_array_data_bytes().unwrap_or(0);
            let unencoded = u64::try_from(unencoded).unwrap_or(0);
            decoded = decoded.saturating_add(unpacked.max(unencoded));
        }
        let width = decoded / rows.max(1) + VALUE_OVERHEAD * columns as u64;
        if width > limits.max_batch_bytes as u64 {
            return Err(ReadError::limit(
                &FORMAT,
                Location::NONE,
                format!(
                    "row group {i}: a row decodes to about {width} bytes, \
                     more than max_batch_bytes ({})",
                    limits.max_batch_bytes
                ),
            ));
        }
        widest = widest.max(width);
    }
    Ok(widest)
}

struct ParquetSource {
    reader: ParquetRecordBatchReader,
    rows_read: u64,
    total_rows: u64,
    batch_rows: usize,
    max_batch_bytes: usize,
}

impl BatchSource for ParquetSource {
    fn next_batch(&mut self) -> Result<Option<Batch>, ReadError> {
        let first_row = self.rows_read + 1;
        let last = (self.rows_read + self.batch_rows as u64).min(self.total_rows.max(first_row));
        let at = Location::rows(first_row, last);
        // The parquet crate panics on some corrupt pages (an assertion in
        // arrow-buffer's bit chunk iterator while decoding definition
        // levels was found by the hostile-input tests): catch it.
        let next = no_panic(&FORMAT, at, "decoding a row group", || {
            Ok(self.reader.next())
        })?;
        let batch = match next {
            None => return Ok(None),
            Some(Ok(batch)) => batch,
            Some(Err(e)) => return Err(ReadError::invalid(&FORMAT, at, e.to_string())),
        };
        // In release builds the parquet crate assembles dictionary arrays
        // with `build_unchecked` (in debug builds the same corrupt input
        // panics in `build().unwrap()`, caught above): validate them before
        // anyone reads them.
        for column in batch.columns() {
            if has_dictionary(column.data_type()) {
                column
                    .to_data()
                    .validate_full()
                    .map_err(|e| ReadError::invalid(&FORMAT, at, e.to_string()))?;
            }
        }
        let size = batch.get_array_memory_size();
        if size > self.max_batch_bytes {
            return Err(ReadError::limit(
                &FORMAT,
                Location::rows(first_row, self.rows_read + batch.num_rows() as u64),
                format!(
                    "a batch decoded to {size} bytes, more than max_batch_bytes ({})",
                    self.max_batch_bytes
                ),
            ));
        }
        self.rows_read += batch.num_rows() as u64;
        Ok(Some(Batch { first_row, batch }))
    }
}

/// Whether `t` is or contains a dictionary type.
fn has_dictionary(t: &DataType) -> bool {
    match t {
        DataType::Dictionary(..) => true,
        DataType::Struct(fields) => fields.iter().any(|f| has_dictionary(f.data_type())),
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::FixedSizeList(f, _)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::Map(f, _) => has_dictionary(f.data_type()),
        _ => false,
    }
}
