//! A [`Source`] that remembers what it was asked for, so that the reading
//! can be proved to have seen the same bytes as another copy.
//!
//! Parquet and Arrow IPC files are read from their end (the footer) first,
//! so they cannot be profiled from the stream of bytes a publish copies
//! into the blob store. Profiling the stored blob after the copy makes the
//! two passes run one after the other; profiling the user's file while it
//! is copied runs them side by side, but the file could change between
//! the two reads. A witness closes that gap: it records, for every range
//! the reader read, the range and an XXH3-128 of its bytes; once the copy
//! is done, [`Witness::matches`] reads the same ranges of the stored blob
//! and compares. A profile whose ranges all match was computed from the
//! blob's bytes (bar a hash collision, which an honest file does not
//! meet by chance and which a dishonest publisher gains nothing from: a
//! false profile is flagged by every consumer that re-derives it).

use std::io;
use std::sync::Mutex;

use twox_hash::XxHash3_128;

use super::source::Source;

/// Reads recorded at most (40 bytes each: 40 MiB). A reader that makes
/// more leaves the witness incomplete ([`Witness::complete`]) and the
/// caller proves nothing with it.
const MAX_SEEN: usize = 1 << 20;

/// What one read saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    offset: u64,
    len: usize,
    hash: u128,
}

/// A source that records a hash of every range read through it.
pub struct Witness<S> {
    inner: S,
    seen: Mutex<Vec<Seen>>,
    /// Reads recorded at most ([`MAX_SEEN`]).
    limit: usize,
    overflowed: std::sync::atomic::AtomicBool,
}

impl<S: Source> Witness<S> {
    /// Records the reads of `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            seen: Mutex::new(Vec::new()),
            limit: MAX_SEEN,
            overflowed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether every read was recorded: `false` once a reader made more
    /// than [`MAX_SEEN`] reads, when [`Self::matches`] is always `false`.
    pub fn complete(&self) -> bool {
        !self.overflowed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether `other` holds, at every range read so far, the bytes that
    /// were read, and has the same length. Reads `other` range by range
    /// (each no longer than the longest read the reader made).
    pub fn matches(&self, other: &dyn Source) -> io::Result<bool> {
        if !self.complete() || other.len() != self.inner.len() {
            return Ok(false);
        }
        let seen = self
            .seen
            .lock()
            .map_err(|_| io::Error::other("a reader panicked while reading"))?
            .clone();
        let mut buf = Vec::new();
        for s in seen {
            buf.resize(s.len, 0);
            other.read_exact_at(&mut buf, s.offset)?;
            if XxHash3_128::oneshot(&buf) != s.hash {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl<S: Source> Source for Witness<S> {
    fn len(&self) -> u64 {
        self.inner.len()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_exact_at(buf, offset)?;
        let seen = Seen {
            offset,
            len: buf.len(),
            hash: XxHash3_128::oneshot(buf),
        };
        let mut all = self
            .seen
            .lock()
            .map_err(|_| io::Error::other("a reader panicked while reading"))?;
        if all.len() < self.limit {
            all.push(seen);
        } else {
            self.overflowed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    fn granularity(&self) -> Option<u64> {
        self.inner.granularity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::FileSource;

    fn file(bytes: &[u8]) -> (tempfile::NamedTempFile, FileSource) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, bytes).unwrap();
        let source = FileSource::new(f.reopen().unwrap()).unwrap();
        (f, source)
    }

    #[test]
    fn a_copy_with_the_same_bytes_matches_and_a_changed_one_does_not() {
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let (_a, source) = file(&bytes);
        let witness = Witness::new(source);
        let mut buf = [0u8; 100];
        witness.read_exact_at(&mut buf, 9_900).unwrap();
        witness.read_exact_at(&mut buf[..10], 0).unwrap();
        let (_b, same) = file(&bytes);
        assert!(witness.matches(&same).unwrap());
        // A byte changed inside a range read.
        let mut changed = bytes.clone();
        changed[9_950] ^= 1;
        let (_c, other) = file(&changed);
        assert!(!witness.matches(&other).unwrap());
        // A byte changed where nothing was read: the profile did not see it.
        let mut elsewhere = bytes.clone();
        elsewhere[5_000] ^= 1;
        let (_d, untouched) = file(&elsewhere);
        assert!(witness.matches(&untouched).unwrap());
        // Another length never matches.
        let (_e, shorter) = file(&bytes[..9_999]);
        assert!(!witness.matches(&shorter).unwrap());
    }

    #[test]
    fn a_witness_of_too_many_reads_proves_nothing() {
        let bytes = vec![7u8; 64];
        let (_a, source) = file(&bytes);
        let mut witness = Witness::new(source);
        witness.limit = 4;
        let mut buf = [0u8; 8];
        for at in 0..4 {
            witness.read_exact_at(&mut buf, at * 8).unwrap();
        }
        let (_b, same) = file(&bytes);
        assert!(witness.complete());
        assert!(witness.matches(&same).unwrap());
        witness.read_exact_at(&mut buf, 32).unwrap();
        assert!(!witness.complete());
        assert!(!witness.matches(&same).unwrap());
    }
}
