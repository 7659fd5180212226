//! A guard on Parquet page headers: refuses a page whose header claims an
//! uncompressed size over the limit, before the parquet crate allocates it.
//!
//! What the parquet crate (59.x) bounds by itself, from reading its source:
//!
//! - `SerializedPageReader::get_next_page` checks a page's
//!   `compressed_page_size` against the bytes left in its column chunk
//!   (`verify_page_size`), and the column chunk's range comes from the
//!   metadata, which `parquet::check_metadata` checks against the file.
//! - Page headers are read with `read_page_stats` off (the default), so
//!   page statistics are skipped by streaming, not allocated; `skip` has a
//!   depth limit. Thrift lists in the footer are bounded by the bytes left.
//! - `decode_page` allocates `Vec::with_capacity(uncompressed_page_size)`
//!   for the decompressed page, where `uncompressed_page_size` is any
//!   non-negative `i32` from the page header: up to 2 GiB per page, and a
//!   compression bomb really fills it. Nothing in the crate bounds it.
//!   This module does: the synchronous Arrow reader reads every page header
//!   through [`ChunkReader::get_read`], so [`GuardedFile::get_read`] parses
//!   the header's `uncompressed_page_size` (thrift compact field 2) from
//!   the buffered bytes first and refuses the page when it is over
//!   `max_batch_bytes`.
//! - The thrift skipper treats boolean list elements as zero bytes, so a
//!   list header claiming 2^31 booleans loops 2^31 times without reading:
//!   a few seconds of CPU, no memory. Not guarded here.
//!
//! If the header cannot be parsed from the buffered bytes (a hostile header
//! that puts field 2 behind kilobytes of other fields), the guard lets it
//! through and the parquet crate's own checks apply.

use std::io::{BufRead, BufReader, Seek, SeekFrom};

use bytes::Bytes;
use parquet::errors::{ParquetError, Result};
use parquet::file::reader::{ChunkReader, Length};

use super::source::SourceReader;

/// How much of a page header is buffered and parsed.
const HEADER_BUFFER: usize = 16 << 10;
/// How deep nested thrift structs may go before the guard gives up.
const MAX_DEPTH: u8 = 16;

/// A Parquet file whose page headers are checked before they are read.
pub(crate) struct GuardedFile {
    pub(crate) file: SourceReader,
    pub(crate) len: u64,
    pub(crate) max_page_bytes: usize,
}

impl Length for GuardedFile {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for GuardedFile {
    type T = BufReader<SourceReader>;

    fn get_read(&self, start: u64) -> Result<Self::T> {
        let mut file = self.file.clone();
        file.seek(SeekFrom::Start(start))?;
        let mut reader = BufReader::with_capacity(HEADER_BUFFER, file);
        let header = reader.fill_buf()?;
        if let Some(size) = uncompressed_page_size(header)
            && usize::try_from(size).map_or(true, |size| size > self.max_page_bytes)
        {
            return Err(ParquetError::General(format!(
                "the page at byte {start} claims {size} uncompressed bytes, \
                 more than max_batch_bytes ({})",
                self.max_page_bytes
            )));
        }
        Ok(reader)
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes> {
        let mut buf = vec![0u8; length];
        self.file.read_exact_at(&mut buf, start)?;
        Ok(Bytes::from(buf))
    }
}

/// The `uncompressed_page_size` (field 2) of a thrift-compact `PageHeader`
/// at the start of `buf`, if it can be found there.
pub(crate) fn uncompressed_page_size(buf: &[u8]) -> Option<i32> {
    let mut c = Compact { buf, pos: 0 };
    let mut last_id: i16 = 0;
    loop {
        let (id, kind) = c.field_header(&mut last_id)?;
        if kind == 0 {
            return None;
        }
        if id == 2 && kind == 5 {
            return i32::try_from(c.zigzag()?).ok();
        }
        c.skip(kind, MAX_DEPTH)?;
    }
}

/// A thrift compact protocol cursor that only skips and reads integers.
struct Compact<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Compact<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn zigzag(&mut self) -> Option<i64> {
        let v = self.varint()?;
        #[allow(clippy::cast_possible_wrap)]
        Some((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn advance(&mut self, n: u64) -> Option<()> {
        let n = usize::try_from(n).ok()?;
        let end = self.pos.checked_add(n)?;
        (end <= self.buf.len()).then(|| self.pos = end)
    }

    /// A field header: its id and type (0 for the end of the struct).
    fn field_header(&mut self, last_id: &mut i16) -> Option<(i16, u8)> {
        let b = self.byte()?;
        let kind = b & 0x0f;
        if kind == 0 {
            return Some((0, 0));
        }
        let delta = b >> 4;
        let id = if delta == 0 {
            i16::try_from(self.zigzag()?).ok()?
        } else {
            last_id.checked_add(i16::from(delta))?
        };
        *last_id = id;
        Some((id, kind))
    }

    /// Skips one value of compact type `kind`.
    fn skip(&mut self, kind: u8, depth: u8) -> Option<()> {
        let depth = depth.checked_sub(1)?;
        match kind {
            1 | 2 => Some(()),
            3 => self.advance(1),
            4..=6 => self.varint().map(|_| ()),
            7 => self.advance(8),
            8 => {
                let n = self.varint()?;
                self.advance(n)
            }
            9 | 10 => {
                let b = self.byte()?;
                let size = if b >> 4 == 15 {
                    self.varint()?
                } else {
                    u64::from(b >> 4)
                };
                let elem = b & 0x0f;
                for _ in 0..size {
                    self.element(elem, depth)?;
                }
                Some(())
            }
            11 => {
                let size = self.varint()?;
                if size == 0 {
                    return Some(());
                }
                let kinds = self.byte()?;
                for _ in 0..size {
                    self.element(kinds >> 4, depth)?;
                    self.element(kinds & 0x0f, depth)?;
                }
                Some(())
            }
            12 => {
                let mut last_id = 0;
                loop {
                    let (_, kind) = self.field_header(&mut last_id)?;
                    if kind == 0 {
                        return Some(());
                    }
                    self.skip(kind, depth)?;
                }
            }
            _ => None,
        }
    }

    /// Skips a collection element: booleans there take a byte each.
    fn element(&mut self, kind: u8, depth: u8) -> Option<()> {
        if kind == 1 || kind == 2 {
            self.advance(1)
        } else {
            self.skip(kind, depth)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_field_two() {
        // type = 0 (i32 1: 0x15 0x00), uncompressed = 100 (i32 2: 0x15 0xc8 0x01).
        assert_eq!(
            uncompressed_page_size(&[0x15, 0x00, 0x15, 0xc8, 0x01]),
            Some(100)
        );
        // Field 2 (long form) after a binary field 1 and a struct field 3.
        let buf = [
            0x18, 0x02, b'a', b'b', // 1: binary "ab"
            0x2c, 0x15, 0x02, 0x00, // 3: struct { 1: i32 1 }
            0x05, 0x04, 0x06, // 2: i32 3, long-form header
        ];
        assert_eq!(uncompressed_page_size(&buf), Some(3));
        assert_eq!(uncompressed_page_size(&[0x15]), None);
        assert_eq!(uncompressed_page_size(&[0x00]), None);
        // A list claiming 2^62 booleans runs out of bytes, quickly.
        assert_eq!(
            uncompressed_page_size(&[0x19, 0xf1, 0xff, 0xff, 0xff, 0xff, 0x3f]),
            None
        );
    }
}
