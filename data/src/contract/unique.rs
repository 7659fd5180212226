//! The `unique` check over a column of any length, in bounded memory: an
//! external merge sort (Knuth, *The Art of Computer Programming* vol. 3,
//! §5.4.1, sorted runs and a k-way merge with a heap, and §5.4.9, merging
//! runs level by level so every pair is written O(log runs) times).
//!
//! Every `(key, row)` pair of a field declared `unique` goes into a
//! buffer. A full buffer is sorted and written as a run to an unnamed file
//! in the scratch directory (`O_TMPFILE`: nothing to clean up, even after a
//! crash). When [`FAN_IN`] runs of one level exist they are merged into one
//! run of the next level. At the end every run and the sorted rest of the
//! buffer are merged in `(key, row)` order; in each group of equal keys
//! every row but the first repeats a value.
//!
//! A value's key ([`key`]) is the value itself for integers, dates and
//! timestamps (so an increasing `id` column arrives sorted: sorting its
//! buffer is one pass, its runs do not interleave and their varint deltas
//! are a byte or two) and its identity hash otherwise; two values have the
//! same key exactly when they have the same identity.
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
use std::collections::binary_heap::PeekMut;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Seek, Write};
use std::path::PathBuf;

use mesh_protocol::profile::MAX_EXAMPLE_ROWS;

use super::value::ValueRef;

/// Pairs kept in memory before a run is written (24 bytes each: 24 MiB).
pub const BUFFER_PAIRS: usize = 1 << 20;

/// Runs merged at once, at every level and at the end (each read through a
/// 64 KiB buffer).
const FAN_IN: usize = 64;

const READ_BUFFER: usize = 64 << 10;

/// The sort key of a value with identity `identity`: for a fixed-width
/// integer kind, a tag bit, the kind and the value with its sign bit
/// flipped (so keys sort as the values do); for any other value, its
/// identity with the tag bit cleared. Equal keys are equal values (for
/// hashed kinds, equal identities, as the distinct count sees them).
#[allow(clippy::cast_sign_loss, reason = "the sign bit is flipped first")]
pub(crate) fn key(value: ValueRef<'_>, identity: u128) -> u128 {
    const TAG: u128 = 1 << 127;
    let fixed = |kind: u128, v: i64| TAG | (kind << 64) | u128::from((v as u64) ^ (1 << 63));
    match value {
        ValueRef::Int(i) => fixed(1, i),
        ValueRef::Date(d) => fixed(3, i64::from(d)),
        ValueRef::Timestamp(t) => fixed(4, t),
        _ => identity & !TAG,
    }
}

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
    /// Every key so far was above the one before. Keys in strictly
    /// increasing order cannot repeat, so [`Self::finish`] then merges
    /// nothing: an `id` column written in order costs no final merge.
    ascending: bool,
    /// The last key added.
    last: Option<u128>,
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
            ascending: true,
            last: None,
        }
    }

    /// The value with key `id` ([`key`]) is in the column at `row`.
    pub(crate) fn add(&mut self, id: u128, row: u64) {
        if self.failed.is_some() {
            return;
        }
        self.ascending &= self.last.is_none_or(|last| id > last);
        self.last = Some(id);
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
        if self.ascending {
            return Ok(Repeats::default());
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

/// A run being written. A run is sorted, so each pair is written as the
/// difference from the one before: the key's (never negative) and the
/// row's (zigzag), each as a LEB128 varint. A column of increasing
/// integers (the common `id`) costs about two bytes a pair instead of 24;
/// hashed keys, spread over 128 bits, cost about what they did.
struct Writer {
    out: BufWriter<File>,
    last: (u128, u64),
}

impl Writer {
    fn new(scratch: &PathBuf) -> io::Result<Self> {
        Ok(Self {
            out: BufWriter::with_capacity(READ_BUFFER, tempfile::tempfile_in(scratch)?),
            last: (0, 0),
        })
    }

    fn push(&mut self, (key, row): (u128, u64)) -> io::Result<()> {
        let (last_key, last_row) = self.last;
        self.last = (key, row);
        let mut buf = [0u8; 2 * MAX_VARINT];
        let mut len = varint(key.wrapping_sub(last_key), &mut buf);
        len += varint(
            u128::from(zigzag(row.wrapping_sub(last_row))),
            &mut buf[len..],
        );
        self.out.write_all(&buf[..len])
    }

    /// The run, rewound for reading.
    fn finish(self) -> io::Result<File> {
        let mut file = self
            .out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        file.rewind()?;
        Ok(file)
    }
}

/// The longest LEB128 varint of a `u128`.
const MAX_VARINT: usize = 19;

/// Writes `value` as a LEB128 varint at the start of `out`; its length.
#[allow(clippy::cast_possible_truncation, reason = "seven bits at a time")]
fn varint(mut value: u128, out: &mut [u8]) -> usize {
    let mut n = 0;
    while let Some(slot) = out.get_mut(n) {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            *slot = byte;
            return n + 1;
        }
        *slot = byte | 0x80;
        n += 1;
    }
    n
}

/// A signed difference as an unsigned number near zero.
#[allow(
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "bit patterns"
)]
fn zigzag(delta: u64) -> u64 {
    let d = delta as i64;
    ((d << 1) ^ (d >> 63)) as u64
}

#[allow(
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "bit patterns"
)]
fn unzigzag(z: u64) -> u64 {
    ((z >> 1) as i64 ^ -((z & 1) as i64)) as u64
}

/// Reads a LEB128 varint; `None` at the end of the input (before its
/// first byte).
fn read_varint(reader: &mut BufReader<File>) -> io::Result<Option<u128>> {
    let mut value = 0u128;
    for n in 0..MAX_VARINT {
        let Some(&byte) = reader.fill_buf()?.first() else {
            return if n == 0 {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        };
        reader.consume(1);
        value |= u128::from(byte & 0x7f) << (7 * n);
        if byte & 0x80 == 0 {
            return Ok(Some(value));
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "a run's varint is too long",
    ))
}

/// One sorted input of a merge.
enum Source {
    Run {
        reader: BufReader<File>,
        last: (u128, u64),
    },
    Memory(std::vec::IntoIter<(u128, u64)>),
}

impl Source {
    fn run(file: File) -> Self {
        Self::Run {
            reader: BufReader::with_capacity(READ_BUFFER, file),
            last: (0, 0),
        }
    }

    fn next(&mut self) -> io::Result<Option<(u128, u64)>> {
        match self {
            Self::Memory(pairs) => Ok(pairs.next()),
            Self::Run { reader, last } => {
                let Some(key_delta) = read_varint(reader)? else {
                    return Ok(None);
                };
                let row_delta = read_varint(reader)?
                    .and_then(|z| u64::try_from(z).ok())
                    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "a run is cut"))?;
                let pair = (
                    last.0.wrapping_add(key_delta),
                    last.1.wrapping_add(unzigzag(row_delta)),
                );
                *last = pair;
                Ok(Some(pair))
            }
        }
    }
}

/// Merges sorted sources into one sorted stream, handing each pair to
/// `sink` (Knuth §5.4.1, a heap of the sources' heads). The head taken is
/// replaced in place by its source's next pair: when that is still the
/// smallest (runs that do not interleave, as an increasing column gives)
/// the heap settles in two comparisons.
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
    while let Some(mut top) = heads.peek_mut() {
        let Reverse((pair, i)) = *top;
        sink(pair)?;
        match sources.get_mut(i) {
            Some(source) => match source.next()? {
                Some(next) => *top = Reverse((next, i)),
                None => {
                    PeekMut::pop(top);
                }
            },
            None => {
                PeekMut::pop(top);
            }
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
    fn integer_keys_sort_as_the_values_and_never_meet_hashed_ones() {
        let k = |i: i64| key(ValueRef::Int(i), 0);
        assert!(k(i64::MIN) < k(-1) && k(-1) < k(0) && k(0) < k(7) && k(7) < k(i64::MAX));
        assert_ne!(k(5), key(ValueRef::Date(5), 0));
        assert_ne!(k(5), key(ValueRef::Timestamp(5), 0));
        // A hashed key never has the tag bit, whatever the identity.
        assert!(key(ValueRef::Text("x"), u128::MAX) < k(i64::MIN));
    }

    #[test]
    fn an_increasing_column_spills_compactly_and_a_late_repeat_is_found() {
        // Keys as an increasing id column gives them, then one repeat.
        let mut ids: Vec<u128> = (0..20_000i64).map(|i| key(ValueRef::Int(i), 0)).collect();
        ids.push(key(ValueRef::Int(17), 0));
        ids.push(key(ValueRef::Int(-3), 0));
        let expected = reference(&ids);
        assert_eq!(expected.count, 1);
        for buffer in [64, 1_000, 1 << 20] {
            assert_eq!(check(&ids, buffer), expected, "buffer {buffer}");
        }
        // A run of increasing keys costs two bytes a pair.
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::new(&dir.path().to_path_buf()).unwrap();
        for (row, id) in ids.iter().take(1_000).enumerate() {
            w.push((*id, row as u64 + 1)).unwrap();
        }
        let file = w.finish().unwrap();
        assert!(file.metadata().unwrap().len() <= 2 * 1_000 + 2 * MAX_VARINT as u64);
    }

    #[test]
    fn keys_in_strictly_increasing_order_skip_the_merge_and_an_equal_neighbour_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut unique = UniqueCheck::with_buffer(dir.path().to_path_buf(), 10);
        for i in 0..100u64 {
            unique.add(u128::from(i) * 3, i + 1);
        }
        assert!(unique.ascending);
        assert_eq!(unique.finish().unwrap(), Repeats::default());
        for ids in [vec![1u128, 2, 2, 3], vec![5, 6, 7, 4, 5], vec![9, 9]] {
            let expected = reference(&ids);
            assert_eq!(expected.count, 1);
            assert_eq!(check(&ids, 2), expected, "{ids:?}");
        }
    }

    #[test]
    fn a_damaged_run_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let run = |bytes: &[u8]| {
            let mut f = tempfile::tempfile_in(dir.path()).unwrap();
            f.write_all(bytes).unwrap();
            f.rewind().unwrap();
            let mut source = Source::run(f);
            let mut out = Vec::new();
            loop {
                match source.next() {
                    Ok(Some(pair)) => out.push(pair),
                    Ok(None) => return Ok(out),
                    Err(e) => return Err(e),
                }
            }
        };
        // A varint that never ends, a key without its row, a row cut short.
        assert!(run(&[0x80; 40]).is_err());
        assert!(run(&[0x05]).is_err());
        assert!(run(&[0x05, 0x82]).is_err());
        // Random bytes: pairs or an error, never a panic.
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let noise: Vec<u8> = (0..4_096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()[0]
            })
            .collect();
        let _ = run(&noise);
        // A well-formed pair round-trips.
        assert_eq!(run(&[0x05, 0x02]).unwrap(), vec![(5, 1)]);
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
