//! Streaming readers: one entry point for every format, batches of Arrow
//! rows out, bounded memory throughout.
//!
//! [`open`] reads a file by path (every format); [`from_reader`] reads any
//! [`Read`] for the formats that can be read front to back (CSV, JSON Lines,
//! Arrow IPC), so a caller can tee the bytes into a hasher and check the
//! content hash and the rows in one pass. Both return [`Batches`], an
//! iterator of [`Batch`]es that stops after the first error.
//!
//! # Where the bounds are enforced
//!
//! - CSV and JSON Lines: a row's decoded bytes are capped at
//!   [`Limits::max_row_bytes`] while it is read; a batch is cut early when
//!   its estimated decoded size would pass [`Limits::max_batch_bytes`], and
//!   wide files get fewer rows per batch (`csv`, `jsonl`).
//! - Parquet: the footer length, every column chunk's byte range, the
//!   column count and the decoded width of a row are checked from the
//!   metadata before the reader is built; every page header is checked
//!   before the parquet crate allocates its uncompressed size (`parquet`,
//!   `pages`); each decoded batch is measured.
//! - Arrow IPC: the footer, every block and every message's metadata and
//!   body lengths are checked before they are read; dictionaries are
//!   measured (`ipc`).
//!
//! # Panics in the decoders
//!
//! Both decoders panic on some malformed input that cannot be ruled out
//! without re-implementing them (found by reading their source and by the
//! hostile-input tests, `tests/hostile.rs`):
//!
//! - `arrow-ipc`: `convert::fb_to_schema` (`panic!`/`unimplemented!` on
//!   impossible type widths and units, unwraps of missing children), and
//!   its record batch decoder (`Buffer::slice_with_length` asserts on
//!   buffers outside the body, unwraps of missing buffers and nodes).
//! - `parquet`: decoding corrupt data pages (an assertion in
//!   `arrow-buffer`'s bit chunk iterator under the definition level
//!   decoder, `expect` on a dictionary decoder that was never set,
//!   `build().unwrap()` of a dictionary array; in release builds the last
//!   is `build_unchecked`, so dictionary columns are validated after
//!   decoding), and the conversion of an embedded Arrow schema (which is
//!   `arrow-ipc`'s).
//!
//! Those calls alone run under [`std::panic::catch_unwind`] (`no_panic`);
//! a panic becomes a [`ReadError::Invalid`] and ends the stream. The panic
//! message is still printed by the process's panic hook. A panic cannot be
//! caught if the binary is built with `panic = "abort"`.

mod csv;
mod ipc;
pub mod jsonl;
mod lines;
mod pages;
mod parquet;
mod source;
mod window;

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use mesh_protocol::descriptor::Format;

use crate::error::{Location, ReadError};
pub use jsonl::{JsonlValues, jsonl_values};
pub use source::{FileSource, Source, SourceReader};
pub use window::{WINDOW_BYTES, Window};

/// The CSV dialect: which bytes separate and quote cells. Rows end at `\n`,
/// `\r\n` or `\r`; a quote inside a quoted cell is written twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsvDialect {
    /// The cell separator, `b','` by default.
    pub delimiter: u8,
    /// The quote character, `b'"'` by default.
    pub quote: u8,
}

impl Default for CsvDialect {
    fn default() -> Self {
        Self {
            delimiter: b',',
            quote: b'"',
        }
    }
}

/// How big anything read from a file may be. Each limit is checked before
/// memory of that size is allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest CSV row or JSON line, in bytes (default 16 MiB).
    pub max_row_bytes: usize,
    /// The largest Parquet footer, IPC footer or IPC message header, in
    /// bytes (default 64 MiB).
    pub max_metadata_bytes: usize,
    /// The most columns (leaf columns for nested data) a file may have
    /// (default 4096).
    pub max_columns: usize,
    /// The most memory one decoded batch may take, in bytes (default
    /// 256 MiB). Also bounds a Parquet page, an IPC message body and the
    /// IPC dictionaries.
    pub max_batch_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_row_bytes: 16 << 20,
            max_metadata_bytes: 64 << 20,
            max_columns: 4096,
            max_batch_bytes: 256 << 20,
        }
    }
}

/// How to read a data file.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// The file's format: csv, jsonl, parquet or arrow (file or stream
    /// format, told apart by the magic bytes).
    pub format: Format,
    /// The CSV dialect (CSV only).
    pub csv: CsvDialect,
    /// The most rows in one batch (default 8192). Wide or large rows may
    /// give smaller batches so that a batch stays under
    /// [`Limits::max_batch_bytes`].
    pub batch_rows: usize,
    /// Size limits.
    pub limits: Limits,
    /// JSON Lines only: the Arrow schema to decode with. Fields of the file
    /// not in it are ignored. Without one, the schema is inferred from the
    /// first [`Self::json_infer_rows`] rows.
    pub json_schema: Option<SchemaRef>,
    /// JSON Lines only: how many rows schema inference looks at (default
    /// 1000); it also stops after [`Limits::max_batch_bytes`] / 16 bytes.
    pub json_infer_rows: usize,
}

impl ReadOptions {
    /// Defaults for `format`.
    pub fn new(format: Format) -> Self {
        Self {
            format,
            csv: CsvDialect::default(),
            batch_rows: 8192,
            limits: Limits::default(),
            json_schema: None,
            json_infer_rows: 1000,
        }
    }

    /// [`Self::batch_rows`], at least 1.
    pub(crate) fn rows_per_batch(&self) -> usize {
        self.batch_rows.max(1)
    }
}

/// Some consecutive rows of a file.
#[derive(Clone, Debug)]
pub struct Batch {
    /// The 1-based number of the batch's first row (a CSV header is not a
    /// row, nor is a blank JSON line).
    pub first_row: u64,
    /// The rows.
    pub batch: RecordBatch,
}

impl Batch {
    /// The number of the batch's last row (`first_row - 1` when empty).
    pub fn last_row(&self) -> u64 {
        (self.first_row + self.batch.num_rows() as u64).saturating_sub(1)
    }
}

/// One format's reader, pulled batch by batch by [`Batches`].
pub(crate) trait BatchSource: Send {
    /// The next batch, or `None` at the end of the file.
    fn next_batch(&mut self) -> Result<Option<Batch>, ReadError>;
}

/// The batches of one file, in order. Yields `Err` at most once and then
/// ends: after an error the reader's position is unknown.
pub struct Batches {
    format: Format,
    schema: SchemaRef,
    source: Option<Box<dyn BatchSource>>,
}

impl Batches {
    pub(crate) fn new(format: Format, schema: SchemaRef, source: Box<dyn BatchSource>) -> Self {
        Self {
            format,
            schema,
            source: Some(source),
        }
    }

    /// The Arrow schema every batch has. For CSV every column is nullable
    /// `Utf8` text named by the header.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The format being read.
    pub fn format(&self) -> &Format {
        &self.format
    }
}

impl fmt::Debug for Batches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batches")
            .field("format", &self.format)
            .field("schema", &self.schema)
            .field("finished", &self.source.is_none())
            .finish()
    }
}

impl Iterator for Batches {
    type Item = Result<Batch, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let source = self.source.as_mut()?;
        match source.next_batch() {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => {
                self.source = None;
                None
            }
            Err(e) => {
                self.source = None;
                Some(Err(e))
            }
        }
    }
}

/// Opens the file at `path` and reads it as `opts.format`.
pub fn open(path: &Path, opts: &ReadOptions) -> Result<Batches, ReadError> {
    let format = &opts.format;
    let file = File::open(path)
        .and_then(FileSource::new)
        .map_err(|e| ReadError::io(format, Location::NONE, e))?;
    open_source(Arc::new(file), opts)
}

/// Reads `source` as `opts.format`, seeking where the format wants to
/// (Parquet and Arrow IPC files read their footer first).
pub fn open_source(source: Arc<dyn Source>, opts: &ReadOptions) -> Result<Batches, ReadError> {
    let reader = SourceReader::new(source);
    match &opts.format {
        Format::Csv | Format::Jsonl => {
            from_reader(BufReader::with_capacity(64 << 10, reader), opts)
        }
        Format::Parquet => parquet::open(reader, opts),
        Format::Arrow => ipc::open(reader, opts),
        other => Err(ReadError::Unsupported(other.clone())),
    }
}

/// Reads `r` front to back as `opts.format`: CSV, JSON Lines or Arrow IPC
/// (stream format, or file format read as a stream). Reads `r` to its end
/// unless an error stops it. Parquet gives [`ReadError::NeedsSeek`].
///
/// `r` need not be buffered: the readers buffer it themselves.
pub fn from_reader<R: Read + Send + 'static>(
    r: R,
    opts: &ReadOptions,
) -> Result<Batches, ReadError> {
    match &opts.format {
        Format::Csv => csv::batches(r, opts),
        Format::Jsonl => jsonl::batches(r, opts),
        Format::Arrow => ipc::stream(r, opts),
        Format::Parquet => Err(ReadError::NeedsSeek(Format::Parquet)),
        other => Err(ReadError::Unsupported(other.clone())),
    }
}

/// Runs `f`, turning a panic inside it into [`ReadError::Invalid`]. Only
/// for calls into decoders known to panic on malformed input (see the
/// module doc); the caller must drop any state `f` touched on error.
pub(crate) fn no_panic<T>(
    format: &Format,
    at: Location,
    what: &str,
    f: impl FnOnce() -> Result<T, ReadError>,
) -> Result<T, ReadError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let why = payload
            .downcast_ref::<&str>()
            .map(ToString::to_string)
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(ReadError::invalid(
            format,
            at,
            format!("{what} failed on malformed input: {why}"),
        ))
    })
}

/// Reads into `buf` until it is full or the input ends; returns the bytes
/// read. Retries on [`std::io::ErrorKind::Interrupted`].
pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
