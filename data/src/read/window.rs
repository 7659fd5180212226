//! A [`Source`] over a file while it is being copied: the one read a
//! publish makes of a Parquet or Arrow IPC file feeds both the copy (and
//! its manifest hashing) and the profile.
//!
//! Those formats are read from their end (the footer) first, so they
//! cannot be parsed from the copy's stream as CSV is. The window keeps the
//! footer, read from the file before the copy starts, and the last bytes
//! the copy passed through it (at most its capacity). A reader asks for
//! ranges:
//!
//! - inside the footer: served from the footer read up front, which the
//!   copy then compares byte for byte as it passes the same offsets (a
//!   file that changed in between fails [`Window::finish`]);
//! - not yet copied: the reader waits for the copy;
//! - held: served from memory;
//! - already dropped from the window: read back from the copy's own output
//!   file (the bytes that were hashed), never from the user's file.
//!
//! So every byte the profile reads is a byte the manifest hashed. The copy
//! waits while the window is full and the reader is busy with what it
//! holds (so the copy does not run ahead and push out what the reader is
//! about to read); when the reader waits for bytes beyond the window, the
//! copy drops the oldest instead, so the two never wait on each other. A
//! reader that reads each Parquet row group within the window's capacity
//! (the common case: row groups are written in order, each tens of MiB)
//! reads nothing twice.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::{Condvar, Mutex, MutexGuard};

use mesh_protocol::descriptor::Format;

use super::source::Source;

/// Bytes the window holds at most (besides the footer): more than the
/// row group of common writers (Spark and DuckDB write 128 MiB or ~120 k
/// rows; arrow-rs 1 Mi rows).
pub const WINDOW_BYTES: usize = 96 << 20;

/// The end of the file held from the start, with its offset.
struct Footer {
    offset: u64,
    bytes: Vec<u8>,
}

/// What the copy and the reader share.
struct State {
    /// Copied bytes still held, each buffer with its offset, in order.
    held: VecDeque<(u64, Vec<u8>)>,
    held_bytes: usize,
    /// Bytes copied so far.
    copied: u64,
    /// The copy's output, for bytes that left the window.
    spill: Option<File>,
    /// The end of the range the reader waits for (0: it does not wait).
    /// While the copy is short of it, the copy never waits.
    wanted: u64,
    /// The reader stopped reading (finished, failed or panicked).
    reader_gone: bool,
    /// The copy ended: `Ok` at the end of the file, or its error.
    ended: Option<Result<(), String>>,
    /// The copy passed the footer's offsets with other bytes.
    footer_differs: bool,
}

/// See the module doc.
pub struct Window {
    len: u64,
    capacity: usize,
    footer: Footer,
    state: Mutex<State>,
    moved: Condvar,
}

impl Window {
    /// A window over a file of `len` bytes in `format`, its footer read
    /// from `file` now (at most `max_footer` bytes: a longer claim is not
    /// read up front, and the reader then waits for the copy to reach it).
    pub fn open(file: &File, format: &Format, max_footer: usize) -> io::Result<Self> {
        let len = file.metadata()?.len();
        let span = footer_span(file, len, format, max_footer)?;
        let bytes = match span {
            Some((offset, n)) => {
                let mut bytes = vec![0u8; n];
                file.read_exact_at(&mut bytes, offset)?;
                Footer { offset, bytes }
            }
            None => Footer {
                offset: len,
                bytes: Vec::new(),
            },
        };
        Ok(Self::new(len, WINDOW_BYTES, bytes))
    }

    fn new(len: u64, capacity: usize, footer: Footer) -> Self {
        Self {
            len,
            capacity,
            footer,
            state: Mutex::new(State {
                held: VecDeque::new(),
                held_bytes: 0,
                copied: 0,
                spill: None,
                wanted: 0,
                reader_gone: false,
                ended: None,
                footer_differs: false,
            }),
            moved: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock is held leaves no broken invariant worse
        // than a short read, which the reader reports.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The copy's output file, where bytes that left the window are read
    /// back from. Bytes are written there before they are [`Self::feed`]
    /// in.
    pub fn spill_to(&self, output: File) {
        self.lock().spill = Some(output);
    }

    /// The copy's next bytes (already written to the spill file). Waits
    /// while the window is full and the reader is busy with it.
    pub fn feed(&self, bytes: &[u8]) {
        let mut s = self.lock();
        let offset = s.copied;
        if !self.footer_agrees(offset, bytes) {
            s.footer_differs = true;
        }
        while s.held_bytes + bytes.len() > self.capacity && s.copied >= s.wanted && !s.reader_gone {
            s = self
                .moved
                .wait(s)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        if s.reader_gone {
            s.held.clear();
            s.held_bytes = 0;
        } else {
            while s.held_bytes + bytes.len() > self.capacity {
                let Some((_, oldest)) = s.held.pop_front() else {
                    break;
                };
                s.held_bytes -= oldest.len();
            }
            s.held.push_back((offset, bytes.to_vec()));
            s.held_bytes += bytes.len();
        }
        s.copied += bytes.len() as u64;
        drop(s);
        self.moved.notify_all();
    }

    /// Whether `bytes` at `offset` agree with the footer where they meet it.
    fn footer_agrees(&self, offset: u64, bytes: &[u8]) -> bool {
        let (f, end) = (&self.footer, offset + bytes.len() as u64);
        let footer_end = f.offset + f.bytes.len() as u64;
        let (from, to) = (offset.max(f.offset), end.min(footer_end));
        if from >= to {
            return true;
        }
        let (Ok(a), Ok(b), Ok(n)) = (
            usize::try_from(from - offset),
            usize::try_from(from - f.offset),
            usize::try_from(to - from),
        ) else {
            return false;
        };
        bytes[a..a + n] == f.bytes[b..b + n]
    }

    /// The copy ended (`Err`: it failed, and a waiting reader fails too).
    pub fn end(&self, result: Result<(), String>) {
        self.lock().ended = Some(result);
        self.moved.notify_all();
    }

    /// The reader stopped: the copy no longer waits for it.
    pub fn reader_done(&self) {
        self.lock().reader_gone = true;
        self.moved.notify_all();
    }

    /// After the copy: whether the copy saw the file the reader read (the
    /// same length, and the footer's bytes where the footer was read up
    /// front).
    pub fn intact(&self) -> bool {
        let s = self.lock();
        matches!(s.ended, Some(Ok(()))) && s.copied == self.len && !s.footer_differs
    }
}

impl State {
    /// Fills `buf` from the held bytes and the spill file; the range is
    /// already copied.
    fn read(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let oldest = self.held.front().map_or(self.copied, |(at, _)| *at);
        let mut done = 0usize;
        if offset < oldest {
            let n = usize::try_from(oldest - offset).map_or(buf.len(), |n| n.min(buf.len()));
            let spill = self
                .spill
                .as_ref()
                .ok_or_else(|| io::Error::other("the copy's bytes are no longer held"))?;
            spill.read_exact_at(&mut buf[..n], offset)?;
            done = n;
        }
        let first = self
            .held
            .partition_point(|(at, b)| at + b.len() as u64 <= offset + done as u64);
        for (at, bytes) in self.held.range(first..) {
            if done == buf.len() {
                break;
            }
            let pos = offset + done as u64;
            let from = usize::try_from(pos - at).map_err(io::Error::other)?;
            let n = (bytes.len() - from).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&bytes[from..from + n]);
            done += n;
        }
        if done == buf.len() {
            Ok(())
        } else {
            Err(io::ErrorKind::UnexpectedEof.into())
        }
    }
}

impl Source for Window {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|end| *end <= self.len)
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        let f = &self.footer;
        if offset >= f.offset && end <= f.offset + f.bytes.len() as u64 {
            let from = usize::try_from(offset - f.offset).map_err(io::Error::other)?;
            buf.copy_from_slice(&f.bytes[from..from + buf.len()]);
            return Ok(());
        }
        let mut s = self.lock();
        while s.copied < end && s.ended.is_none() {
            s.wanted = end;
            self.moved.notify_all();
            s = self
                .moved
                .wait(s)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        s.wanted = 0;
        if s.copied < end {
            return Err(match &s.ended {
                Some(Err(e)) => io::Error::other(format!("the copy failed: {e}")),
                _ => io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file ended before its stated length (it changed while it was read)",
                ),
            });
        }
        s.read(buf, offset)
    }
}

/// The footer's offset and length for `format` (the file's trailer read
/// from `file`), when it is no longer than `max`.
fn footer_span(
    file: &File,
    len: u64,
    format: &Format,
    max: usize,
) -> io::Result<Option<(u64, usize)>> {
    let (trailer, magic): (u64, &[u8]) = match format {
        Format::Parquet => (8, super::parquet::MAGIC),
        Format::Arrow => (10, super::ipc::MAGIC),
        _ => return Ok(None),
    };
    if len < trailer {
        return Ok(None);
    }
    let mut last = [0u8; 10];
    let last = &mut last[..usize::try_from(trailer).map_err(io::Error::other)?];
    file.read_exact_at(last, len - trailer)?;
    if !last.ends_with(magic) {
        return Ok(None);
    }
    let claimed = u64::from(u32::from_le_bytes([last[0], last[1], last[2], last[3]]));
    let Some(total) = claimed.checked_add(trailer).filter(|t| *t <= len) else {
        return Ok(None);
    };
    match usize::try_from(total) {
        Ok(n) if n <= max => Ok(Some((len - total, n))),
        _ => Ok(Some((len - trailer, last.len()))),
    }
}

#[cfg(test)]
#[path = "window_tests.rs"]
mod tests;
