//! Arrow IPC: the file format (magic `ARROW1` at both ends, a footer
//! listing the blocks) and the stream format (a sequence of messages),
//! told apart by the magic.
//!
//! `arrow-ipc`'s own readers trust the lengths they read: `StreamReader`
//! zero-fills a buffer of whatever metadata length (up to 2 GiB) and body
//! length (any `i64`, cast to `usize`) a message claims, and `FileReader`
//! unwraps block lengths from the footer (a negative one panics) and
//! allocates them. So the framing is done here and every length is
//! checked before anything is allocated or read: a message's metadata
//! against `max_metadata_bytes`, its body against `max_batch_bytes` (read
//! as it arrives, so a truncated stream allocates only what it has), the
//! footer against the file and `max_metadata_bytes`, and every block
//! inside the data part of the file, the blocks together no more than the
//! file. Only whole, bounded messages reach `arrow-ipc`'s decoders
//! (`read_record_batch`, `read_dictionary`, `FileDecoder`).
//!
//! Those decoders still panic on some malformed metadata (schema types
//! with impossible widths, buffers outside the body, missing buffers), so
//! they run under `no_panic`. Compressed IPC bodies are refused (the
//! `lz4`/`zstd` features of `arrow-ipc` are off: their decompression
//! allocates whatever length the body's prefix claims). Dictionaries are
//! kept within `max_batch_bytes` together.
//!
//! [`crate::from_reader`] reads the file format as a stream (it contains
//! one after its magic), so IPC files too can be read in one pass; the
//! footer is then read to the end and not used.

mod file;

use std::collections::HashMap;
use std::io::{self, BufReader, Cursor, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_buffer::Buffer;
use arrow_ipc::MessageHeader;
use arrow_ipc::reader::{read_dictionary, read_record_batch};
use arrow_schema::{Schema, SchemaRef};
use mesh_protocol::descriptor::Format;

use super::source::SourceReader;
use super::{Batch, BatchSource, Batches, Limits, ReadOptions, no_panic, read_full};
use crate::error::{Location, ReadError};

pub(super) const FORMAT: Format = Format::Arrow;
pub(super) const MAGIC: &[u8; 6] = b"ARROW1";
const CONTINUATION: [u8; 4] = [0xff; 4];
/// The most zero padding accepted after a file's leading magic.
const MAX_PADDING: u64 = 4096;

pub(super) fn invalid(at: Location, message: impl Into<String>) -> ReadError {
    ReadError::invalid(&FORMAT, at, message)
}

pub(super) fn io_at(at: u64) -> impl Fn(io::Error) -> ReadError {
    move |e| ReadError::io(&FORMAT, Location::byte(at), e)
}

/// Opens an IPC file (file or stream format).
pub(crate) fn open(mut file: SourceReader, opts: &ReadOptions) -> Result<Batches, ReadError> {
    let len = file.len();
    let mut head = [0u8; 6];
    let n = read_full(&mut file, &mut head).map_err(io_at(0))?;
    if n == head.len() && &head == MAGIC {
        return file::open(file, len, opts);
    }
    file.seek(SeekFrom::Start(0)).map_err(io_at(0))?;
    stream(BufReader::with_capacity(64 << 10, file), opts)
}

/// Reads IPC from `r` front to back: the stream format, or the file format
/// as a stream.
pub(crate) fn stream<R: Read + Send + 'static>(
    mut r: R,
    opts: &ReadOptions,
) -> Result<Batches, ReadError> {
    let mut head = [0u8; 8];
    let n = read_full(&mut r, &mut head).map_err(io_at(0))?;
    let file_format = n >= MAGIC.len() && &head[..MAGIC.len()] == MAGIC;
    let mut offset = 0;
    let mut n = n;
    if file_format {
        // The magic is padded with zeros to the writer's alignment (8
        // bytes by the spec, 64 by arrow-rs); a message never starts with
        // eight zero bytes.
        while offset == 0 || head == [0; 8] {
            if n < head.len() || offset > MAX_PADDING {
                return Err(invalid(
                    Location::byte(offset),
                    "no stream after the ARROW1 magic",
                ));
            }
            offset += 8;
            n = read_full(&mut r, &mut head).map_err(io_at(offset))?;
        }
    }
    let input: Box<dyn Read + Send> = Box::new(Cursor::new(head[..n].to_vec()).chain(r));
    let mut messages = Messages {
        r: BufReader::with_capacity(64 << 10, input),
        offset,
        limits: opts.limits,
    };
    let Some((meta, _, at)) = messages.next()? else {
        return Err(invalid(
            Location::byte(offset),
            "no schema message: the stream is empty",
        ));
    };
    let message = arrow_ipc::root_as_message(&meta)
        .map_err(|e| invalid(Location::byte(at), format!("message: {e}")))?;
    let fb = message
        .header_as_schema()
        .ok_or_else(|| invalid(Location::byte(at), "the first message is not a schema"))?;
    let schema = convert_schema(fb, at, &opts.limits)?;
    let source = StreamSource {
        messages,
        schema: schema.clone(),
        dictionaries: HashMap::new(),
        rows_read: 0,
        batch_rows: opts.rows_per_batch(),
        pending: None,
        file_format,
    };
    Ok(Batches::new(FORMAT, schema, Box::new(source)))
}

/// Converts a flatbuffer schema, checked against the limits.
pub(super) fn convert_schema(
    fb: arrow_ipc::Schema<'_>,
    at: u64,
    limits: &Limits,
) -> Result<SchemaRef, ReadError> {
    if !fb.endianness().equals_to_target_endianness() {
        return Err(invalid(
            Location::byte(at),
            "the data is big-endian; only little-endian is read",
        ));
    }
    let schema: Schema = no_panic(&FORMAT, Location::byte(at), "converting the schema", || {
        Ok(arrow_ipc::convert::fb_to_schema(fb))
    })?;
    let columns = schema.flattened_fields().len();
    if columns > limits.max_columns {
        return Err(ReadError::limit(
            &FORMAT,
            Location::byte(at),
            format!(
                "the schema has {columns} fields, more than max_columns ({})",
                limits.max_columns
            ),
        ));
    }
    Ok(Arc::new(schema))
}

/// Splits a stream into messages, every length checked before it is read.
struct Messages {
    r: BufReader<Box<dyn Read + Send>>,
    offset: u64,
    limits: Limits,
}

impl Messages {
    /// The next message's metadata and body, and its byte offset; `None`
    /// at the end-of-stream marker or a clean end of the input.
    fn next(&mut self) -> Result<Option<(Vec<u8>, Buffer, u64)>, ReadError> {
        let at = self.offset;
        let mut prefix = [0u8; 4];
        match read_full(&mut self.r, &mut prefix).map_err(io_at(at))? {
            0 => return Ok(None),
            4 => {}
            _ => return Err(invalid(Location::byte(at), "truncated message length")),
        }
        self.offset += 4;
        if prefix == CONTINUATION {
            if read_full(&mut self.r, &mut prefix).map_err(io_at(at))? != 4 {
                return Err(invalid(Location::byte(at), "truncated message length"));
            }
            self.offset += 4;
        }
        let meta_len = i32::from_le_bytes(prefix);
        if meta_len == 0 {
            return Ok(None);
        }
        let Ok(meta_len) = usize::try_from(meta_len) else {
            return Err(invalid(
                Location::byte(at),
                format!("message claims {meta_len} metadata bytes"),
            ));
        };
        if meta_len > self.limits.max_metadata_bytes {
            return Err(ReadError::limit(
                &FORMAT,
                Location::byte(at),
                format!(
                    "message claims {meta_len} metadata bytes, more than max_metadata_bytes ({})",
                    self.limits.max_metadata_bytes
                ),
            ));
        }
        let meta = self.read_exactly(meta_len, at, "metadata")?;
        let message = arrow_ipc::root_as_message(&meta)
            .map_err(|e| invalid(Location::byte(at), format!("message: {e}")))?;
        let claimed = message.bodyLength();
        let body_len = usize::try_from(claimed).map_err(|_| {
            invalid(
                Location::byte(at),
                format!("message claims {claimed} body bytes"),
            )
        })?;
        if body_len > self.limits.max_batch_bytes {
            return Err(ReadError::limit(
                &FORMAT,
                Location::byte(at),
                format!(
                    "message claims {body_len} body bytes, more than max_batch_bytes ({})",
                    self.limits.max_batch_bytes
                ),
            ));
        }
        let body = self.read_exactly(body_len, at, "body")?;
        Ok(Some((meta, Buffer::from_vec(body), at)))
    }

    /// Reads `len` bytes, growing the buffer only as bytes arrive.
    fn read_exactly(&mut self, len: usize, at: u64, what: &str) -> Result<Vec<u8>, ReadError> {
        let mut buf = Vec::new();
        let got = (&mut self.r)
            .take(len as u64)
            .read_to_end(&mut buf)
            .map_err(io_at(self.offset))?;
        self.offset += got as u64;
        if got < len {
            return Err(invalid(
                Location::byte(at),
                format!("truncated: the message claims {len} {what} bytes, {got} follow"),
            ));
        }
        Ok(buf)
    }

    /// Reads the rest of the input; returns its length and last 6 bytes.
    fn drain(&mut self) -> Result<(u64, [u8; 6]), ReadError> {
        let mut tail = Tail {
            len: 0,
            last: [0; 6],
        };
        io::copy(&mut self.r, &mut tail).map_err(io_at(self.offset))?;
        Ok((tail.len, tail.last))
    }
}

/// A sink that remembers how much it got and its last 6 bytes.
struct Tail {
    len: u64,
    last: [u8; 6],
}

impl Write for Tail {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.len += buf.len() as u64;
        for &b in buf.iter().rev().take(6).rev() {
            self.last.rotate_left(1);
            self.last[5] = b;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Yields `batch` in slices of at most `batch_rows` rows.
pub(super) fn take_slice(
    pending: &mut Option<(RecordBatch, usize)>,
    rows_read: &mut u64,
    batch_rows: usize,
) -> Option<Batch> {
    let (batch, from) = pending.take()?;
    let len = batch_rows.min(batch.num_rows() - from);
    let first_row = *rows_read + 1;
    *rows_read += len as u64;
    let slice = batch.slice(from, len);
    if from + len < batch.num_rows() {
        *pending = Some((batch, from + len));
    }
    Some(Batch {
        first_row,
        batch: slice,
    })
}

struct StreamSource {
    messages: Messages,
    schema: SchemaRef,
    dictionaries: HashMap<i64, ArrayRef>,
    rows_read: u64,
    batch_rows: usize,
    pending: Option<(RecordBatch, usize)>,
    file_format: bool,
}

impl StreamSource {
    /// After the last message: reads the rest (so a tee sees every byte)
    /// and checks it.
    fn finish(&mut self) -> Result<(), ReadError> {
        let at = self.messages.offset;
        let (rest, last) = self.messages.drain()?;
        if self.file_format && (rest < 10 || &last != MAGIC) {
            return Err(invalid(
                Location::byte(at),
                "the file does not end with the ARROW1 magic",
            ));
        }
        if !self.file_format && rest > 0 {
            return Err(invalid(
                Location::byte(at),
                format!("{rest} bytes after the end of the stream"),
            ));
        }
        Ok(())
    }

    fn check_dictionaries(&self, at: u64) -> Result<(), ReadError> {
        let size: usize = self
            .dictionaries
            .values()
            .map(|a| a.get_array_memory_size())
            .sum();
        let max = self.messages.limits.max_batch_bytes;
        if size > max {
            return Err(ReadError::limit(
                &FORMAT,
                Location::byte(at),
                format!("the dictionaries take {size} bytes, more than max_batch_bytes ({max})"),
            ));
        }
        Ok(())
    }
}

impl BatchSource for StreamSource {
    fn next_batch(&mut self) -> Result<Option<Batch>, ReadError> {
        if let Some(batch) = take_slice(&mut self.pending, &mut self.rows_read, self.batch_rows) {
            return Ok(Some(batch));
        }
        loop {
            let Some((meta, body, at)) = self.messages.next()? else {
                self.finish()?;
                return Ok(None);
            };
            let loc = Location::byte(at);
            let message = arrow_ipc::root_as_message(&meta)
                .map_err(|e| invalid(loc, format!("message: {e}")))?;
            let version = message.version();
            match message.header_type() {
                MessageHeader::RecordBatch => {
                    let fb = message
                        .header_as_record_batch()
                        .ok_or_else(|| invalid(loc, "bad record batch message"))?;
                    let batch = no_panic(&FORMAT, loc, "decoding a record batch", || {
                        let schema = self.schema.clone();
                        read_record_batch(&body, fb, schema, &self.dictionaries, None, &version)
                            .map_err(|e| invalid(loc, e.to_string()))
                    })?;
                    if batch.num_rows() == 0 {
                        continue;
                    }
                    self.pending = Some((batch, 0));
                    return Ok(take_slice(
                        &mut self.pending,
                        &mut self.rows_read,
                        self.batch_rows,
                    ));
                }
                MessageHeader::DictionaryBatch => {
                    let fb = message
                        .header_as_dictionary_batch()
                        .ok_or_else(|| invalid(loc, "bad dictionary message"))?;
                    no_panic(&FORMAT, loc, "decoding a dictionary", || {
                        read_dictionary(&body, fb, &self.schema, &mut self.dictionaries, &version)
                            .map_err(|e| invalid(loc, e.to_string()))
                    })?;
                    self.check_dictionaries(at)?;
                }
                MessageHeader::NONE => {}
                MessageHeader::Schema => return Err(invalid(loc, "a second schema message")),
                other => return Err(invalid(loc, format!("unexpected {other:?} message"))),
            }
        }
    }
}
