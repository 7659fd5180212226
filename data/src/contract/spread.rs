//! The check's columns spread over threads.
//!
//! Each column's state is touched by one thread only and in row order, so
//! the profile is the same bytes whatever the thread count or the way the
//! columns are shared out: what runs in parallel is only work that never
//! shares anything.
//!
//! The calling thread reads (parses, decompresses) the batches and hands
//! each one, shared, to every worker; a worker owns a fixed group of
//! columns for the whole file and checks its columns of each batch as it
//! arrives. There is no barrier between batches: a worker that meets a
//! slow batch (a `unique` buffer being sorted and spilled) falls behind by
//! at most [`QUEUE_BATCHES`] while the others go on, which keeps the
//! memory bound of the streaming check (a few batches in flight) and keeps
//! both cores busy.
//!
//! The groups are balanced by cost: the first batch is checked on the
//! calling thread with each column timed, and the columns are then dealt
//! out longest first to the least loaded worker (Graham's LPT rule,
//! "Bounds on multiprocessing timing anomalies", 1969).

use std::sync::Arc;
use std::sync::mpsc::sync_channel;
use std::thread;
use std::time::{Duration, Instant};

use arrow_array::ArrayRef;

use super::column::Column;
use mesh_protocol::descriptor::Format;

use crate::error::{Location, ReadError};
use crate::read::Batch;

/// Batches a worker may be behind the reader.
const QUEUE_BATCHES: usize = 16;

/// How many threads a check uses: the machine's cores, at most 4.
pub(crate) fn threads() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// The work on one column's array of a batch: the column, the array and
/// the number of the batch's first row.
pub(crate) type Work<'w> = dyn Fn(&mut Column, &ArrayRef, u64) + Sync + 'w;

/// Checks every batch of `batches` with `work`, on up to `threads` worker
/// threads. `index` maps the batch's columns to `columns` (`None`: not
/// checked); two batch columns never map to the same column. `last_row`
/// is raised to the number of the last row of every batch read, so a read
/// error that ends the check (after every batch before it was checked)
/// still leaves the rows seen counted.
pub(crate) fn check(
    format: &Format,
    columns: &mut [Column],
    index: &[Option<usize>],
    batches: impl Iterator<Item = Result<Batch, ReadError>>,
    threads: usize,
    work: &Work<'_>,
    last_row: &mut u64,
) -> Result<(), ReadError> {
    // For each checked column, the batch column it reads.
    let mut source: Vec<Option<usize>> = vec![None; columns.len()];
    for (c, i) in index.iter().enumerate() {
        if let Some(slot) = i.and_then(|i| source.get_mut(i)) {
            *slot = Some(c);
        }
    }
    let mut batches = batches.peekable();
    // The first batch, on this thread, timed per column.
    let mut cost = vec![Duration::ZERO; columns.len()];
    if let Some(first) = batches.next() {
        let first = first?;
        *last_row = (*last_row).max(first.last_row());
        for ((column, c), cost) in columns.iter_mut().zip(&source).zip(&mut cost) {
            if let Some(array) = c.and_then(|c| first.batch.columns().get(c)) {
                let t = Instant::now();
                work(column, array, first.first_row);
                *cost = t.elapsed();
            }
        }
    }
    let threads = threads.min(columns.len());
    if threads <= 1 || batches.peek().is_none() {
        for batch in batches {
            let batch = batch?;
            *last_row = (*last_row).max(batch.last_row());
            check_batch(columns.iter_mut().zip(source.iter().copied()), &batch, work);
        }
        return Ok(());
    }
    let groups = deal(columns.iter_mut().zip(source).collect(), &cost, threads);
    thread::scope(|s| {
        let mut senders = Vec::with_capacity(groups.len());
        for mut group in groups {
            let (tx, rx) = sync_channel::<Arc<Batch>>(QUEUE_BATCHES);
            let worker = move || {
                for (column, _) in &mut group {
                    column.rehome();
                }
                for batch in rx {
                    check_batch(group.iter_mut().map(|(c, s)| (&mut **c, *s)), &batch, work);
                }
            };
            match thread::Builder::new()
                .name("meshd-check".into())
                .spawn_scoped(s, worker)
            {
                Ok(_) => senders.push(tx),
                // A worker that cannot start: the group's columns would go
                // unchecked, so the file is not checked at all.
                Err(e) => return Err(ReadError::io(format, Location::NONE, e)),
            }
        }
        for batch in batches {
            let batch = Arc::new(batch?);
            *last_row = (*last_row).max(batch.last_row());
            for tx in &senders {
                // A worker only hangs up by panicking, which the scope
                // passes on when it ends.
                let _ = tx.send(Arc::clone(&batch));
            }
        }
        Ok(())
    })
}

/// Runs `work` on each column's array of `batch`.
fn check_batch<'a>(
    columns: impl Iterator<Item = (&'a mut Column, Option<usize>)>,
    batch: &Batch,
    work: &Work<'_>,
) {
    for (column, c) in columns {
        if let Some(array) = c.and_then(|c| batch.batch.columns().get(c)) {
            work(column, array, batch.first_row);
        }
    }
}

/// Deals `items` (weighed by `cost`, in the same order) into `groups`
/// groups: longest first, each to the group with the least cost so far.
fn deal<T>(items: Vec<T>, cost: &[Duration], groups: usize) -> Vec<Vec<T>> {
    let mut order: Vec<(Duration, T)> = cost.iter().copied().zip(items).collect();
    order.sort_by_key(|item| std::cmp::Reverse(item.0));
    let mut out: Vec<(Duration, Vec<T>)> = (0..groups.max(1))
        .map(|_| (Duration::ZERO, Vec::new()))
        .collect();
    for (cost, item) in order {
        if let Some(least) = out.iter_mut().min_by_key(|g| g.0) {
            least.0 += cost;
            least.1.push(item);
        }
    }
    out.into_iter()
        .map(|(_, g)| g)
        .filter(|g| !g.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use mesh_protocol::Timestamp;
    use mesh_protocol::contract::{Constraints, CsvDialect};
    use mesh_protocol::descriptor::{DataType, Field, Quality};
    use mesh_protocol::profile::Profile;

    use std::fmt::Write as _;

    use super::*;
    use crate::contract::{Contract, Profiler};

    /// The profile of the CSV at `path` checked on `threads` threads.
    fn profile_on(path: &std::path::Path, contract: &Contract, threads: usize) -> Profile {
        let mut profiler = Profiler::new(contract);
        profiler.threads = threads;
        let batches = crate::read::open(path, &contract.read_options(Format::Csv)).unwrap();
        profiler.batches(&Format::Csv, batches).unwrap();
        profiler.finish().unwrap()
    }

    #[test]
    fn the_profile_is_the_same_on_any_number_of_threads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        // Several batches (8,192 rows each) with violations in each column,
        // some in the first batch (checked on the calling thread) and some
        // after it (on the workers).
        let mut csv = String::from("id,qty,code,note\n");
        for r in 1..=30_000u64 {
            let id = if r % 9_999 == 0 { 5 } else { r };
            let qty = if r % 777 == 3 { 5_000 } else { r % 100 };
            let code = if r % 1_234 == 1 {
                "bad".to_owned()
            } else {
                format!("C{}", r % 50)
            };
            let note = if r % 3 == 0 {
                String::new()
            } else {
                format!("n{r}")
            };
            let _ = writeln!(csv, "{id},{qty},{code},{note}");
        }
        std::fs::write(&path, csv).unwrap();
        let field = |name: &str, t, nullable, c| {
            let mut f = Field::new(name, t, nullable);
            f.constraints = c;
            f
        };
        let contract = Contract {
            fields: vec![
                field(
                    "id",
                    DataType::Int64,
                    false,
                    Constraints {
                        unique: true,
                        ..Constraints::default()
                    },
                ),
                field(
                    "qty",
                    DataType::Int32,
                    false,
                    Constraints {
                        max: Some("1000".into()),
                        ..Constraints::default()
                    },
                ),
                field(
                    "code",
                    DataType::String,
                    false,
                    Constraints {
                        pattern: Some("C[0-9]+".into()),
                        ..Constraints::default()
                    },
                ),
                field("note", DataType::String, false, Constraints::default()),
            ],
            quality: Quality::default(),
            csv: CsvDialect::default(),
            created_at: Timestamp(0),
            scratch: Some(dir.path().to_owned()),
        };
        let one = profile_on(&path, &contract, 1);
        assert_eq!(one.rows, 30_000);
        let checks: Vec<String> = one
            .violations
            .iter()
            .map(|v| format!("{:?}/{:?}/{}", v.field, v.check, v.count))
            .collect();
        assert_eq!(checks.len(), 4, "{checks:?}");
        for threads in [2, 3, 4] {
            assert_eq!(
                profile_on(&path, &contract, threads),
                one,
                "{threads} threads"
            );
        }
    }

    #[test]
    fn dealing_balances_by_cost_and_keeps_every_item() {
        let ms = Duration::from_millis;
        let cost = [ms(10), ms(1), ms(6), ms(5), ms(1)];
        let groups = deal((0..5usize).collect(), &cost, 2);
        let mut all: Vec<usize> = groups.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 2, 3, 4]);
        let load = |g: &Vec<usize>| g.iter().map(|&i| cost[i]).sum::<Duration>();
        let loads: Vec<Duration> = groups.iter().map(load).collect();
        assert_eq!(loads.len(), 2);
        // 10+1+1 against 6+5: no worse than one millisecond apart.
        assert!(loads[0].abs_diff(loads[1]) <= ms(1), "{loads:?}");
        // More groups than items: no empty group.
        assert_eq!(deal(vec![1, 2], &[ms(1), ms(1)], 4).len(), 2);
    }
}
