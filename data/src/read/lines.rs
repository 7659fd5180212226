//! A line reader with a cap on the line length, for JSON Lines.
//!
//! `BufRead::read_line` grows its buffer as long as the line goes on; a
//! file without newlines would be read whole into memory. This reader keeps
//! at most `max` bytes of a line and skips (without buffering) the rest of
//! a longer one, reporting it as too long, so a caller can report the row
//! and go on to the next line.

use std::io::{self, BufRead, BufReader, Read};

/// Where a line was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LineInfo {
    /// The 1-based line number.
    pub(crate) number: u64,
    /// The byte offset of the line's first byte.
    pub(crate) offset: u64,
    /// The line was longer than the cap: the buffer holds its first `max`
    /// bytes only.
    pub(crate) too_long: bool,
}

pub(crate) struct LineReader<R> {
    inner: BufReader<R>,
    max: usize,
    number: u64,
    offset: u64,
}

impl<R: Read> LineReader<R> {
    pub(crate) fn new(inner: R, max: usize) -> Self {
        Self {
            inner: BufReader::with_capacity(64 << 10, inner),
            max,
            number: 0,
            offset: 0,
        }
    }

    /// Reads the next line into `buf` (cleared first), without its `\n` or
    /// `\r\n`. `None` at the end of the input.
    pub(crate) fn next_line(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<LineInfo>> {
        buf.clear();
        let offset = self.offset;
        let mut seen = 0u64;
        let mut too_long = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if seen == 0 {
                    return Ok(None);
                }
                break;
            }
            let (part, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..i], i + 1),
                None => (available, available.len()),
            };
            let room = self.max.saturating_sub(buf.len());
            if part.len() > room {
                too_long = true;
            }
            buf.extend_from_slice(&part[..part.len().min(room)]);
            let newline = done > part.len();
            self.inner.consume(done);
            seen += done as u64;
            if newline {
                break;
            }
        }
        self.offset += seen;
        self.number += 1;
        if !too_long && buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Ok(Some(LineInfo {
            number: self.number,
            offset,
            too_long,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_capped_and_skipped() {
        let text = b"ab\r\n\nabcdefgh\nxy";
        let mut r = LineReader::new(&text[..], 4);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        while let Some(info) = r.next_line(&mut buf).unwrap_or(None) {
            got.push((info.number, info.offset, info.too_long, buf.clone()));
        }
        assert_eq!(
            got,
            vec![
                (1, 0, false, b"ab".to_vec()),
                (2, 4, false, Vec::new()),
                (3, 5, true, b"abcd".to_vec()),
                (4, 14, false, b"xy".to_vec()),
            ]
        );
    }
}
