//! The check's columns spread over threads.
//!
//! Each column's state is touched by one thread at a time and in row order,
//! so the profile is the same bytes whatever the thread count: what runs in
//! parallel is only work that never shared anything. The threads are
//! scoped to one batch (joined before the next batch is read), which keeps
//! the memory bound of the streaming check: one batch in flight.

use std::sync::Mutex;
use std::thread;

use arrow_array::ArrayRef;

use super::column::Column;
use crate::read::Batch;

/// Below this many cells a batch is checked on the calling thread: a
/// thread costs more than it saves.
const MIN_CELLS: usize = 16 * 1024;

/// How many threads a check uses: the machine's cores, at most 4.
pub(crate) fn threads() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Each profiled column with its array in `batch`. `index` maps the
/// batch's columns to the profiler's (`None`: not profiled); two batch
/// columns never map to the same profiler column.
pub(crate) fn pairs<'c, 'b>(
    columns: &'c mut [Column],
    index: &[Option<usize>],
    batch: &'b Batch,
) -> Vec<(&'c mut Column, &'b ArrayRef)> {
    let mut arrays: Vec<Option<&ArrayRef>> = vec![None; columns.len()];
    for (c, array) in batch.batch.columns().iter().enumerate() {
        if let Some(Some(i)) = index.get(c)
            && let Some(slot) = arrays.get_mut(*i)
        {
            *slot = Some(array);
        }
    }
    columns
        .iter_mut()
        .zip(arrays)
        .filter_map(|(column, array)| array.map(|a| (column, a)))
        .collect()
}

/// Runs `work` on every item, on up to `threads` threads (the caller's
/// among them), each taking the next item when it is free. Falls back to
/// the calling thread when the batch is small or a thread cannot start.
pub(crate) fn run<T: Send>(items: Vec<T>, cells: usize, threads: usize, work: &(dyn Fn(T) + Sync)) {
    let threads = threads.min(items.len());
    if threads <= 1 || cells < MIN_CELLS {
        items.into_iter().for_each(work);
        return;
    }
    let queue = Mutex::new(items.into_iter());
    let next = || queue.lock().ok().and_then(|mut q| q.next());
    let drain = || {
        while let Some(item) = next() {
            work(item);
        }
    };
    thread::scope(|s| {
        for _ in 1..threads {
            // A thread that cannot start leaves its share to the others.
            let _ = thread::Builder::new()
                .name("meshd-check".into())
                .spawn_scoped(s, drain);
        }
        drain();
    });
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn every_item_runs_once_on_any_thread_count() {
        for threads in [1, 2, 4] {
            for cells in [0, MIN_CELLS] {
                let seen: Vec<AtomicUsize> = (0..10).map(|_| AtomicUsize::new(0)).collect();
                run((0..10).collect(), cells, threads, &|i: usize| {
                    seen[i].fetch_add(1, Ordering::Relaxed);
                });
                assert!(seen.iter().all(|n| n.load(Ordering::Relaxed) == 1));
            }
        }
    }
}
