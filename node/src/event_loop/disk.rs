//! The data plane's disk work, done off the loop thread.
//!
//! The event loop owns the swarm: while it waits on a disk, no gossip is
//! read, no request answered and no timer fired, for every peer at once.
//! So reading a chunk to serve it, checking and writing a fetched chunk,
//! syncing a partial file and recording what it holds, and finishing a
//! completed fetch all run here; their results come back to the loop as
//! [`Internal`] messages, and the loop only routes.
//!
//! Two lanes:
//! - **the pool**: chunk reads and writes, independent of one another, on
//!   tokio's blocking threads. Reads for serving take one of
//!   [`POOL_SLOTS`] slots, and with every slot taken the loop answers
//!   "busy", so however many peers ask, neither the chunks held in memory
//!   nor the threads grow without bound. Writes of fetched chunks are
//!   bounded by each fetch's request window instead, which counts a chunk
//!   until it is written.
//! - **the journal**: the durable record of each fetch (sync the data, then
//!   record the chunks it holds; pause on cancel or failure; the final sync,
//!   manifest and rename), where order matters: one operation after another
//!   on one task, so a record written for a sync can never land after the
//!   delete of a fetch that ended meanwhile. Each fetch job has at most one
//!   sync and one end queued, so the queue is bounded by the jobs.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::Internal;

/// Chunk reads for serving running (or waiting for the loop) at once,
/// across all peers: enough to keep a disk and two cores busy, few enough
/// that the chunks in memory stay in the tens of MiB.
pub(crate) const POOL_SLOTS: usize = 32;

/// An operation of the journal: blocking work, and what to tell the loop.
type JournalOp = Box<dyn FnOnce() -> Option<Internal> + Send>;

/// Handles to both lanes; cheap to clone.
#[derive(Clone)]
pub(crate) struct Disk {
    slots: Arc<Semaphore>,
    journal: mpsc::UnboundedSender<JournalOp>,
    internal: mpsc::Sender<Internal>,
}

impl Disk {
    /// Starts the journal task; results go to `internal`.
    pub(crate) fn start(internal: mpsc::Sender<Internal>) -> Self {
        let (journal, mut ops) = mpsc::unbounded_channel::<JournalOp>();
        let out = internal.clone();
        tokio::spawn(async move {
            while let Some(op) = ops.recv().await {
                // A failed op (a panic on its thread) has nothing to report:
                // the fetch it served stays as it was recorded last.
                if let Ok(Some(message)) = tokio::task::spawn_blocking(op).await
                    && out.send(message).await.is_err()
                {
                    break;
                }
            }
        });
        Self {
            slots: Arc::new(Semaphore::new(POOL_SLOTS)),
            journal,
            internal,
        }
    }

    /// A free slot of the pool, or `None` when every slot is taken.
    pub(crate) fn try_slot(&self) -> Option<Slot> {
        let permit = self.slots.clone().try_acquire_owned().ok()?;
        Some(Slot {
            permit,
            internal: self.internal.clone(),
        })
    }

    /// Runs `work` on a blocking thread without taking a slot, for work
    /// whose count the caller bounds: a fetch's chunks, which its request
    /// window counts until they are written.
    pub(crate) fn run(&self, work: impl FnOnce() -> Internal + Send + 'static) {
        let out = self.internal.clone();
        tokio::task::spawn_blocking(move || {
            let _ = out.blocking_send(work());
        });
    }

    /// Queues `op` behind every journal operation queued before it.
    pub(crate) fn journal(&self, op: impl FnOnce() -> Option<Internal> + Send + 'static) {
        // The journal task ends only with the loop's receiver.
        let _ = self.journal.send(Box::new(op));
    }
}

/// A slot of the pool, taken: the work it runs is admitted.
pub(crate) struct Slot {
    permit: OwnedSemaphorePermit,
    internal: mpsc::Sender<Internal>,
}

impl Slot {
    /// Runs `work` on a blocking thread and sends its result to the loop.
    pub(crate) fn run(self, work: impl FnOnce() -> Internal + Send + 'static) {
        tokio::task::spawn_blocking(move || {
            let message = work();
            // The slot is held until the loop has the result: the chunk
            // bytes a result carries count against the pool until then.
            let _ = self.internal.blocking_send(message);
            drop(self.permit);
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn the_pool_admits_at_most_its_slots_and_frees_one_when_its_work_is_in() {
        let (tx, mut rx) = mpsc::channel(64);
        let disk = Disk::start(tx);
        let slots: Vec<Slot> = (0..POOL_SLOTS).map_while(|_| disk.try_slot()).collect();
        assert_eq!(slots.len(), POOL_SLOTS);
        assert!(disk.try_slot().is_none(), "every slot is taken");
        let mut slots = slots.into_iter();
        slots.next().unwrap().run(|| Internal::Synced {
            id: 7,
            synced: true,
        });
        let message = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(message, Internal::Synced { id: 7, .. }));
        // The slot is released right after its result was handed over.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while disk.try_slot().is_none() {
            assert!(tokio::time::Instant::now() < deadline, "slot never freed");
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn the_journal_runs_its_operations_in_the_order_they_were_queued() {
        let (tx, mut rx) = mpsc::channel(64);
        let disk = Disk::start(tx);
        let order = Arc::new(Mutex::new(Vec::new()));
        for i in 0..8u64 {
            let order = order.clone();
            disk.journal(move || {
                // Earlier operations take longer: run side by side, they
                // would finish in reverse.
                std::thread::sleep(Duration::from_millis(8 - i));
                order.lock().unwrap().push(i);
                (i == 7).then_some(Internal::Synced {
                    id: i,
                    synced: true,
                })
            });
        }
        let last = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(last, Internal::Synced { id: 7, .. }));
        assert_eq!(*order.lock().unwrap(), (0..8).collect::<Vec<_>>());
    }
}
