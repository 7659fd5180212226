//! The `unique` check over a column of any length, in bounded memory: an
//! external merge sort (Knuth, *The Art of Computer Programming* vol. 3,
//! §5.4.1, sorted runs and a k-way merge with a heap, and §5.4.9, merging
//! runs level by level so every pair is written O(log runs) times).
//!
//! Every `(identity, row)` pair of a field declared `unique` goes into a
//! buffer. A full buffer is sorted and written as a run to an unnamed file
//! in the scratch directory (`O_TMPFILE`: nothing to clean up, even after a
//! crash). When [`FAN_IN`] runs of one level exist they are merged into one
//! run of the next level. At the end every run and the sorted rest of the
//! buffer are merged in `(identity, row)` order; in each group of equal
//! identities every row but the first repeats a value.
//!
//! That is what a set of every value seen finds in file order: the number
//! of repeats and the first rows that repeat. The result does not depend on
//! the buffer size, on whether anything was spilled, or on the merge order,
//! so the profile stays a function of the bytes.
//!
//! A failure of the scratch directory (full disk, no permission) is the
//! checking node's problem, not the data's: it is returned as an error and
//! never becomes a violation.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::PathBuf;

use mesh_protocol::profile::MAX_EXAMPLE_ROWS;

/// Pairs kept in memory before a run is written (24 bytes each: 24 MiB).
pub const BUFFER_PAIRS: usize = 1 << 20;

/// Runs merged at once, at every level and at the end (each read through a
/// 64 KiB buffer).
const FAN_IN: usize = 64;

/// Bytes of one pair in a run file: the identity, then the row, little
/// endian.
const PAIR_LEN: usize = 24;

const READ_BUFFER: usize = 64 << 10;

/// What the check found: how many cells repeat an earlier value, and the
/// first rows that do.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Repeats {
    pub(crate) count: u64,
    pub(crate) first_rows: Vec<u64>,
}

/// The running `unique` check of one column.
pub(crate) struct UniqueCheck {
    buffer: Vec<(u128, u64)>,
    buffer_limit: usize,
    /// Runs on disk, by level: `levels[k]` holds runs made of `FAN_IN^k`
    /// buffers.
    levels: Vec<Vec<File>>,
    scratch: PathBuf,
    /// The first scratch failure; once set, nothing more is kept.
    failed: Option<io::Error>,
}

impl UniqueCheck {
    pub(crate) fn new(scratch: PathBuf) -> Self {
        Self::with_buffer(scratch, BUFFER_PAIRS)
    }

    pub(crate) fn with_buffer(scratch: PathBuf, buffer_limit: usize) -> Self {
        Self {
            buffer: Vec::new(),
            buffer_limit: buffer_limit.max(1),
            levels: Vec::new(),
            scratch,
            failed: None,
        }
    }

    /// The value with identity `id` is in the column at `row`.
    pub(crate) fn add(&mut self, id: u128, row: u64) {
        if self.failed.is_some() {
            return;
        }
        self.buffer.push((id, row));
        if self.buffer.len() >= self.buffer_limit
            && let Err(e) = self.spill()
        {
            self.failed = Some(e);
            self.buffer = Vec::new();
            self.levels.clear();
        }
    }

    /// Every repeat in the column, or the scratch directory's failure.
    pub(crate) fn finish(mut self) -> io::Result<Repeats> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.buffer.sort_unstable();
        let mut sources: Vec<Source> = Vec::new();
        for run in self.levels.drain(..).flatten() {
            sources.push(Source::run(run));
        }
        let rest = std::mem::take(&mut self.buffer);
        sources.push(Source::Memory(rest.into_iter()));
        let mut repeats = Repeats::default();
        // The largest of the first rows kept so far is on top.
        let mut first: BinaryHeap<u64> = BinaryHeap::new();
        let mut previous: Option<u128> = None;
        merge(sources, |(id, row)| {
            if previous == Some(id) {
                repeats.count += 1;
                if first.len() < MAX_EXAMPLE_ROWS {
                    first.push(row);
                } else if first.peek().is_some_and(|&top| row < top) {
                    first.pop();
                    first.push(row);
                }
            }
            previous = Some(id);
            Ok(())
        })?;
        repeats.first_rows = first.into_sorted_vec();
        Ok(repeats)
    }

    /// Writes the sorted buffer as a level-0 run, merging full levels up.
    fn spill(&mut self) -> io::Result<()> {
        self.buffer.sort_unstable();
        let mut out = Writer::new(&self.scratch)?;
        for &pair in &self.buffer {
            out.push(pair)?;
        }
        self.buffer.clear();
        let mut run = out.finish()?;
        let mut level = 0;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(run);
            if self.levels[level].len() < FAN_IN {
                return Ok(());
            }
            let runs = std::mem::take(&mut self.levels[level]);
            let mut out = Writer::new(&self.scratch)?;
            merge(runs.into_iter().map(Source::run).collect(), |pair| {
                out.push(pair)
            })?;
            run = out.finish()?;
            level += 1;
        }
    }
}

/// A run being written.
struct Writer(BufWriter<File>);

impl Writer {
    fn new(scratch: &PathBuf) -> io::Result<Self> {
        Ok(Self(BufWriter::with_capacity(
            READ_BUFFER,
            tempfile::tempfile_in(scratch)?,
        )))
    }

    fn push(&mut self, (id, row): (u128, u64)) -> io::Result<()> {
        self.0.write_all(&id.to_le_bytes())?;
        self.0.write_all(&row.to_le_bytes())
    }

    /// The run, rewound for reading.
    fn finish(self) -> io::Result<File> {
        let mut file = self
            .0
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        file.rewind()?;
        Ok(file)
    }
}

/// One sorted input of a merge.
enum Source {
    Run(BufReader<File>),
    Memory(std::vec::IntoIter<(u128, u64)>),
}

impl Source {
    fn run(file: File) -> Self {
        Self::Run(BufReader::with_capacity(READ_BUFFER, file))
    }

    fn next(&mut self) -> io::Result<Option<(u128, u64)>> {
        match self {
            Self::Memory(pairs) => Ok(pairs.next()),
            Self::Run(reader) => {
                let mut bytes = [0u8; PAIR_LEN];
                match reader.read_exact(&mut bytes) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
                    Err(e) => return Err(e),
                }
                let (id, row) = bytes.split_at(16);
                let id = u128::from_le_bytes(id.try_into().map_err(io::Error::other)?);
                let row = u64::from_le_bytes(row.try_into().map_err(io::Error::other)?);
                Ok(Some((id, row)))
            }
        }
    }
}

/// Merges sorted sources into one sorted stream, handing each pair to
/// `sink` (Knuth §5.4.1, a heap of the sources' heads).
fn merge(
    mut sources: Vec<Source>,
    mut sink: impl FnMut((u128, u64)) -> io::Result<()>,
) -> io::Result<()> {
    let mut heads = BinaryHeap::with_capacity(sources.len());
    for (i, source) in sources.iter_mut().enumerate() {
        if let Some(pair) = source.next()? {
            heads.push(Reverse((pair, i)));
        }
    }
    while let Some(Reverse((pair, i))) = heads.pop() {
        sink(pair)?;
        if let Some(source) = sources.get_mut(i)
            && let Some(next) = source.next()?
        {
            heads.push(Reverse((next, i)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// What a set of every value seen gives, in file order.
    fn reference(ids: &[u128]) -> Repeats {
        let mut seen = HashSet::new();
        let mut repeats = Repeats::default();
        for (i, id) in ids.iter().enumerate() {
            if !seen.insert(*id) {
                repeats.count += 1;
                if repeats.first_rows.len() < MAX_EXAMPLE_ROWS {
                    repeats.first_rows.push(i as u64 + 1);
                }
            }
        }
        repeats
    }

    fn check(ids: &[u128], buffer: usize) -> Repeats {
        let dir = tempfile::tempdir().unwrap();
        let mut unique = UniqueCheck::with_buffer(dir.path().to_path_buf(), buffer);
        for (i, id) in ids.iter().enumerate() {
            unique.add(*id, i as u64 + 1);
        }
        unique.finish().unwrap()
    }

    #[test]
    fn spilled_runs_give_what_a_set_gives() {
        // 10,000 values with repeats spread out, some repeated often.
        let ids: Vec<u128> = (0..10_000u128)
            .map(|i| (i * 7_919) % 6_007 + u128::from(i % 13 == 0) * (1 << 100))
            .collect();
        let expected = reference(&ids);
        assert!(expected.count > 3_000, "the input repeats: {expected:?}");
        // In memory only; a few runs; many runs and two merge levels
        // (10,000 / 2 = 5,000 runs > FAN_IN^2).
        for buffer in [1 << 20, 1_000, 2] {
            assert_eq!(check(&ids, buffer), expected, "buffer {buffer}");
        }
    }

    #[test]
    fn distinct_values_have_no_repeats_and_late_repeats_are_found() {
        let mut ids: Vec<u128> = (0..5_000u128)
            .map(|i| i.wrapping_mul(u128::MAX / 7))
            .collect();
        assert_eq!(check(&ids, 100), Repeats::default());
        ids.push(ids[0]);
        ids.push(ids[4_999]);
        let found = check(&ids, 100);
        assert_eq!(found.count, 2);
        assert_eq!(found.first_rows, vec![5_001, 5_002]);
    }

    #[test]
    fn a_missing_scratch_directory_is_an_error_not_a_verdict() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        let mut unique = UniqueCheck::with_buffer(gone, 4);
        for row in 1..=10 {
            unique.add(1, row);
        }
        assert!(unique.finish().is_err());
    }
}
