//! Where a reader's bytes come from: a file, or anything else that can
//! answer "these bytes at this offset".
//!
//! The readers seek (Parquet and Arrow IPC read their footers first), so a
//! source is random access. A file is one; the node's partial copy of a
//! product it has not fetched whole is another: it answers only from the
//! chunks it holds and tells its owner which ones a read wanted, so a
//! preview can fetch the few chunks it needs instead of the product.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// Random-access bytes of a known length.
pub trait Source: Send + Sync {
    /// The length in bytes.
    fn len(&self) -> u64;

    /// Whether the source is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `buf` with the bytes at `offset`; an error when they cannot all
    /// be read (past the end, an I/O error, bytes the source does not hold).
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;

    /// The unit in which the source holds its bytes, if it has one: a
    /// streaming read stops at the next multiple of it, so a reader that
    /// buffers ahead asks for one more unit at a time, not a buffer's worth.
    /// A partial copy held in chunks answers its chunk size.
    fn granularity(&self) -> Option<u64> {
        None
    }
}

/// A file read in place.
pub struct FileSource {
    file: File,
    len: u64,
}

impl FileSource {
    /// A source over `file`, its length taken now.
    pub fn new(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Self { file, len })
    }
}

impl Source for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(&self.file, buf, offset)
    }
}

/// A cursor over a shared [`Source`]: `Read` and `Seek` for the readers
/// that stream. Clones share the source, not the position.
#[derive(Clone)]
pub struct SourceReader {
    source: Arc<dyn Source>,
    pos: u64,
}

impl SourceReader {
    /// A cursor at the start of `source`.
    pub fn new(source: Arc<dyn Source>) -> Self {
        Self { source, pos: 0 }
    }

    /// The source's length.
    pub fn len(&self) -> u64 {
        self.source.len()
    }

    /// Whether the source is empty.
    pub fn is_empty(&self) -> bool {
        self.source.is_empty()
    }

    /// Reads `buf.len()` bytes at `offset`, not moving the cursor.
    pub fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.source.read_exact_at(buf, offset)
    }
}

impl Read for SourceReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut left = self.source.len().saturating_sub(self.pos);
        if let Some(unit) = self.source.granularity().filter(|u| *u > 0) {
            left = left.min(unit - self.pos % unit);
        }
        let n = usize::try_from(left).map_or(buf.len(), |left| left.min(buf.len()));
        if n == 0 {
            return Ok(0);
        }
        self.source.read_exact_at(&mut buf[..n], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SourceReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.source.len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let Some(target) = target else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the source",
            ));
        };
        self.pos = target;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Bytes(Vec<u8>);

    impl Source for Bytes {
        fn len(&self) -> u64 {
            self.0.len() as u64
        }
        fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
            let start = usize::try_from(offset).map_err(io::Error::other)?;
            let end = start
                .checked_add(buf.len())
                .ok_or(io::ErrorKind::InvalidInput)?;
            let slice = self.0.get(start..end).ok_or(io::ErrorKind::UnexpectedEof)?;
            buf.copy_from_slice(slice);
            Ok(())
        }
    }

    #[test]
    fn reads_seeks_and_stops_at_the_end() {
        let mut r = SourceReader::new(Arc::new(Bytes((0u8..100).collect())));
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        assert_eq!(all, (0u8..100).collect::<Vec<_>>());
        assert_eq!(r.seek(SeekFrom::End(-10)).unwrap(), 90);
        let mut tail = [0u8; 4];
        r.read_exact(&mut tail).unwrap();
        assert_eq!(tail, [90, 91, 92, 93]);
        assert!(r.seek(SeekFrom::Current(-1000)).is_err());
        r.seek(SeekFrom::Start(500)).unwrap();
        assert_eq!(r.read(&mut tail).unwrap(), 0);
    }

    #[test]
    fn an_error_from_the_source_reaches_the_reader() {
        struct Holes;
        impl Source for Holes {
            fn len(&self) -> u64 {
                10
            }
            fn read_exact_at(&self, _: &mut [u8], _: u64) -> io::Result<()> {
                Err(io::Error::other("not held"))
            }
        }
        let mut r = SourceReader::new(Arc::new(Holes));
        let mut buf = [0u8; 4];
        assert_eq!(r.read(&mut buf).unwrap_err().to_string(), "not held");
    }

    #[test]
    fn a_streaming_read_stops_at_the_sources_unit() {
        struct Chunked(Bytes);
        impl Source for Chunked {
            fn len(&self) -> u64 {
                self.0.len()
            }
            fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
                self.0.read_exact_at(buf, offset)
            }
            fn granularity(&self) -> Option<u64> {
                Some(16)
            }
        }
        let mut r = SourceReader::new(Arc::new(Chunked(Bytes((0u8..40).collect()))));
        let mut buf = [0u8; 64];
        assert_eq!(r.read(&mut buf).unwrap(), 16);
        r.seek(SeekFrom::Start(20)).unwrap();
        assert_eq!(r.read(&mut buf).unwrap(), 12, "to the end of the unit");
        assert_eq!(r.read(&mut buf).unwrap(), 8, "to the end of the source");
        assert_eq!(buf[..8], [32, 33, 34, 35, 36, 37, 38, 39]);
    }
}
