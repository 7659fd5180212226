//! The Arrow IPC file format read through its footer: the footer's length
//! checked against the file and `max_metadata_bytes` before it is read,
//! every block it lists checked to lie inside the data part of the file
//! and within the limits (and all of them together no bigger than the
//! file, so a footer cannot make the reader decode the same bytes over and
//! over) before `arrow-ipc`'s `FileDecoder` sees it.
//!
//! `arrow-ipc`'s `FileReader` is not used: it unwraps the block lengths it
//! reads (a negative one panics), allocates them unchecked, and unwraps the
//! footer's schema and metadata entries. The blocks are read here and
//! given to `FileDecoder`, the decoder `FileReader` itself uses.

use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom};

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::Block;
use arrow_ipc::reader::FileDecoder;

use super::{FORMAT, MAGIC, convert_schema, invalid, io_at, take_slice};
use crate::error::{Location, ReadError};
use crate::read::source::SourceReader;
use crate::read::{Batch, BatchSource, Batches, Limits, ReadOptions, no_panic};

/// Reads the IPC file format through its footer.
pub(super) fn open(
    mut file: SourceReader,
    len: u64,
    opts: &ReadOptions,
) -> Result<Batches, ReadError> {
    let limits = opts.limits;
    if len < 18 {
        return Err(invalid(
            Location::NONE,
            format!("the file has {len} bytes; an arrow file has at least 18"),
        ));
    }
    let mut tail = [0u8; 10];
    file.seek(SeekFrom::Start(len - 10))
        .map_err(io_at(len - 10))?;
    file.read_exact(&mut tail).map_err(io_at(len - 10))?;
    if &tail[4..] != MAGIC {
        return Err(invalid(
            Location::byte(len - 6),
            "no ARROW1 magic at the end",
        ));
    }
    let claimed = i32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    let footer = u64::try_from(claimed).unwrap_or(u64::MAX);
    if footer > len - 18 {
        return Err(invalid(
            Location::byte(len - 10),
            format!("arrow footer claims {claimed} bytes, file has {len}"),
        ));
    }
    if footer > limits.max_metadata_bytes as u64 {
        return Err(ReadError::limit(
            &FORMAT,
            Location::byte(len - 10),
            format!(
                "arrow footer claims {footer} bytes, more than max_metadata_bytes ({})",
                limits.max_metadata_bytes
            ),
        ));
    }
    let data_end = len - 10 - footer;
    let buf = read_at(&mut file, data_end, footer)?;
    let at = Location::byte(data_end);
    let fb = arrow_ipc::root_as_footer(&buf).map_err(|e| invalid(at, format!("footer: {e}")))?;
    let schema = convert_schema(
        fb.schema()
            .ok_or_else(|| invalid(at, "the footer has no schema"))?,
        data_end,
        &limits,
    )?;
    let dictionaries: Vec<Block> = fb
        .dictionaries()
        .map(|v| v.iter().copied().collect())
        .unwrap_or_default();
    let blocks: VecDeque<Block> = fb
        .recordBatches()
        .map(|v| v.iter().copied().collect())
        .unwrap_or_default();
    check_blocks(dictionaries.iter().chain(&blocks), data_end, &limits)?;
    let dictionary_bytes: u64 = dictionaries
        .iter()
        .map(|b| b.bodyLength().unsigned_abs())
        .sum();
    if dictionary_bytes > limits.max_batch_bytes as u64 {
        return Err(ReadError::limit(
            &FORMAT,
            at,
            format!(
                "the dictionaries take {dictionary_bytes} bytes, more than max_batch_bytes ({})",
                limits.max_batch_bytes
            ),
        ));
    }
    let mut decoder = FileDecoder::new(schema.clone(), fb.version());
    for block in &dictionaries {
        let block_at = block.offset().unsigned_abs();
        let data = read_block(&mut file, block)?;
        no_panic(
            &FORMAT,
            Location::byte(block_at),
            "decoding a dictionary",
            || {
                decoder
                    .read_dictionary(block, &data)
                    .map_err(|e| invalid(Location::byte(block_at), e.to_string()))
            },
        )?;
    }
    let source = FileSource {
        file,
        decoder,
        blocks,
        rows_read: 0,
        batch_rows: opts.rows_per_batch(),
        pending: None,
    };
    Ok(Batches::new(FORMAT, schema, Box::new(source)))
}

/// Checks every block lies in `8..data_end`, within the limits, and that
/// together they are no bigger than the data.
fn check_blocks<'a>(
    blocks: impl Iterator<Item = &'a Block>,
    data_end: u64,
    limits: &Limits,
) -> Result<(), ReadError> {
    let mut total: u64 = 0;
    for block in blocks {
        let (Ok(offset), Ok(meta), Ok(body)) = (
            u64::try_from(block.offset()),
            u64::try_from(block.metaDataLength()),
            u64::try_from(block.bodyLength()),
        ) else {
            return Err(invalid(
                Location::NONE,
                format!("a block has a negative offset or length: {block:?}"),
            ));
        };
        let at = Location::byte(offset);
        let end = offset.saturating_add(meta).saturating_add(body);
        if offset < 8 || meta < 8 || end > data_end {
            return Err(invalid(
                at,
                format!(
                    "the block at bytes {offset}..{end} is outside the data, which ends at byte {data_end}"
                ),
            ));
        }
        if meta > limits.max_metadata_bytes as u64 || body > limits.max_batch_bytes as u64 {
            return Err(ReadError::limit(
                &FORMAT,
                at,
                format!(
                    "a block claims {meta} metadata and {body} body bytes, more than \
                     max_metadata_bytes ({}) or max_batch_bytes ({})",
                    limits.max_metadata_bytes, limits.max_batch_bytes
                ),
            ));
        }
        total = total.saturating_add(meta + body);
        if total > data_end {
            return Err(invalid(
                at,
                format!("the blocks claim {total} bytes or more; the data is {data_end} bytes"),
            ));
        }
    }
    Ok(())
}

fn read_at(file: &mut SourceReader, offset: u64, len: u64) -> Result<Vec<u8>, ReadError> {
    file.seek(SeekFrom::Start(offset)).map_err(io_at(offset))?;
    let mut buf = Vec::new();
    Read::by_ref(file)
        .take(len)
        .read_to_end(&mut buf)
        .map_err(io_at(offset))?;
    if (buf.len() as u64) < len {
        return Err(invalid(Location::byte(offset), "the file ended early"));
    }
    Ok(buf)
}

/// A block's bytes (checked by `check_blocks`).
fn read_block(file: &mut SourceReader, block: &Block) -> Result<Buffer, ReadError> {
    let offset = block.offset().unsigned_abs();
    let len = u64::from(block.metaDataLength().unsigned_abs()) + block.bodyLength().unsigned_abs();
    Ok(Buffer::from_vec(read_at(file, offset, len)?))
}

struct FileSource {
    file: SourceReader,
    decoder: FileDecoder,
    blocks: VecDeque<Block>,
    rows_read: u64,
    batch_rows: usize,
    pending: Option<(RecordBatch, usize)>,
}

impl BatchSource for FileSource {
    fn next_batch(&mut self) -> Result<Option<Batch>, ReadError> {
        loop {
            if let Some(batch) = take_slice(&mut self.pending, &mut self.rows_read, self.batch_rows)
            {
                return Ok(Some(batch));
            }
            let Some(block) = self.blocks.pop_front() else {
                return Ok(None);
            };
            let at = Location::byte(block.offset().unsigned_abs());
            let data = read_block(&mut self.file, &block)?;
            let batch = no_panic(&FORMAT, at, "decoding a record batch", || {
                self.decoder
                    .read_record_batch(&block, &data)
                    .map_err(|e| invalid(at, e.to_string()))
            })?;
            if let Some(batch) = batch.filter(|b| b.num_rows() > 0) {
                self.pending = Some((batch, 0));
            }
        }
    }
}
