//! Runs on several cores: the nodes spread over several single-threaded
//! runtimes whose paused clocks move in lockstep windows (a conservative
//! parallel discrete-event simulation).
//!
//! tokio's paused clock needs a current-thread runtime, so one runtime uses
//! one core however many the machine has. [`Runtimes`] builds one runtime
//! per thread; node `i` lives on runtime `i % threads`, and the engine runs
//! on runtime 0 beside its share of the nodes.
//!
//! - **One time line.** Every runtime's clock is paused at the instant the
//!   runtime was built. Before anything runs, each is advanced to the
//!   latest of those instants, so one `tokio::time::Instant` is the same
//!   simulated moment on every thread: a packet's arrival time, a node's
//!   `epoch.elapsed()` and the engine's clock compare as they would on one
//!   runtime. (Each runtime's timer wheel still rounds deadlines up to its
//!   own millisecond grid, so two runtimes may differ by under 1 ms.)
//! - **Windows.** A governor task on each runtime stops its clock at every
//!   multiple of the window `W` after the epoch and blocks its thread until
//!   every runtime has got there ([`Lockstep`]). `W` is the lowest latency
//!   any link of the scenario can have: a packet written at `t` arrives no
//!   earlier than `t + W`, and no runtime is more than `W` ahead of the
//!   writer, so no packet ever arrives in its receiver's past.
//! - **What is not exact.** Something crossing threads without a packet (an
//!   engine command to a node on another runtime, a new connection handed
//!   to its listener, a partition cutting links) takes effect at the other
//!   runtime's clock, at most one window off. The engine records the times
//!   it measures (publish, vote, fetch start) on the node's own runtime, so
//!   the measured durations are not skewed by that.
//! - **Reproducibility.** Within a window the threads interleave as the OS
//!   schedules them, so two parallel runs of one seed reach the same
//!   outcome by different paths; one thread (`--threads 1`) replays a seed
//!   exactly, as far as libp2p allows.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::EngineError;
use super::fleet::lock;

/// A barrier for the runtimes' governors, which a runtime can leave when
/// its work is done.
pub(crate) struct Lockstep {
    window: Duration,
    gate: Mutex<Gate>,
    opened: Condvar,
    /// Wall time each runtime spent waiting at the barrier, in µs.
    waited: Vec<AtomicU64>,
}

struct Gate {
    parties: usize,
    arrived: usize,
    generation: u64,
}

impl Gate {
    /// Lets everyone waiting through, if everyone still taking part is.
    fn open_if_full(&mut self, opened: &Condvar) -> bool {
        if self.arrived == 0 || self.arrived < self.parties {
            return false;
        }
        self.arrived = 0;
        self.generation += 1;
        opened.notify_all();
        true
    }
}

impl Lockstep {
    fn new(parties: usize, window: Duration) -> Self {
        Self {
            window,
            gate: Mutex::new(Gate {
                parties,
                arrived: 0,
                generation: 0,
            }),
            opened: Condvar::new(),
            waited: (0..parties).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Blocks the calling thread until every runtime still taking part has
    /// arrived at the same window's end.
    fn arrive(&self, runtime: usize) {
        let started = std::time::Instant::now();
        let mut gate = lock(&self.gate);
        gate.arrived += 1;
        if !gate.open_if_full(&self.opened) {
            let generation = gate.generation;
            while gate.generation == generation {
                gate = self
                    .opened
                    .wait(gate)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        }
        drop(gate);
        if let Some(w) = self.waited.get(runtime) {
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            w.fetch_add(micros, Ordering::Relaxed);
        }
    }

    /// A runtime stops taking part; the others no longer wait for it.
    fn leave(&self) {
        let mut gate = lock(&self.gate);
        gate.parties = gate.parties.saturating_sub(1);
        gate.open_if_full(&self.opened);
    }

    /// Stops the calling runtime's clock at every window's end until all
    /// runtimes are there.
    async fn govern(self: Arc<Self>, runtime: usize, epoch: Instant) {
        for k in 1u32.. {
            let Some(end) = epoch.checked_add(self.window.saturating_mul(k)) else {
                return;
            };
            tokio::time::sleep_until(end).await;
            self.arrive(runtime);
        }
    }
}

/// How a parallel run went: how many threads, the window, and how long each
/// thread waited for the others (what the threads could not overlap).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Parallelism {
    /// Runtimes (threads) the nodes ran on.
    pub threads: usize,
    /// The lockstep window, simulated milliseconds (0 on one thread).
    pub window_ms: f64,
    /// Wall time each thread spent waiting at window ends, milliseconds.
    pub waited_ms: Vec<f64>,
}

/// A worker thread and the way to stop it.
struct Worker {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// The runtimes of one run: the engine's (driven by the caller with
/// [`Runtimes::block_on`]) and the workers', each on its own thread.
pub(crate) struct Runtimes {
    main: Runtime,
    handles: Vec<Handle>,
    workers: Vec<Worker>,
    lockstep: Option<Arc<Lockstep>>,
}

fn paused() -> std::io::Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
}

/// Moves this runtime's paused clock to `epoch`.
async fn align(epoch: Instant) {
    let behind = epoch.saturating_duration_since(Instant::now());
    if !behind.is_zero() {
        tokio::time::advance(behind).await;
    }
}

impl Runtimes {
    /// `threads` runtimes kept `window` apart. One thread, or a zero
    /// window, is a single runtime with no governor.
    pub(crate) fn start(threads: usize, window: Duration) -> Result<Self, EngineError> {
        let runtime_error = |e: std::io::Error| EngineError::Runtime(e.to_string());
        let main = paused().map_err(runtime_error)?;
        if threads <= 1 || window.is_zero() {
            let handles = vec![main.handle().clone()];
            return Ok(Self {
                main,
                handles,
                workers: Vec::new(),
                lockstep: None,
            });
        }
        let lockstep = Arc::new(Lockstep::new(threads, window));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let mut workers = Vec::new();
        let mut epochs = Vec::new();
        for r in 1..threads {
            let (epoch_tx, epoch_rx) = oneshot::channel::<Instant>();
            let (stop_tx, stop_rx) = oneshot::channel::<()>();
            let (ready, lockstep) = (ready_tx.clone(), lockstep.clone());
            let thread = std::thread::Builder::new()
                .name(format!("mesh-sim-{r}"))
                .spawn(move || worker(r, &ready, epoch_rx, stop_rx, &lockstep))
                .map_err(runtime_error)?;
            workers.push(Worker {
                stop: Some(stop_tx),
                thread: Some(thread),
            });
            epochs.push(epoch_tx);
        }
        drop(ready_tx);
        let mut handles = vec![main.handle().clone()];
        let mut latest = main.block_on(async { Instant::now() });
        let mut ready: Vec<(usize, Handle)> = Vec::new();
        for _ in 1..threads {
            let (r, handle, now) = ready_rx
                .recv()
                .map_err(|_| EngineError::Runtime("a worker runtime did not start".into()))?
                .map_err(EngineError::Runtime)?;
            latest = latest.max(now);
            ready.push((r, handle));
        }
        ready.sort_by_key(|(r, _)| *r);
        handles.extend(ready.into_iter().map(|(_, h)| h));
        for tx in epochs {
            let _ = tx.send(latest);
        }
        main.block_on(align(latest));
        main.spawn(lockstep.clone().govern(0, latest));
        Ok(Self {
            main,
            handles,
            workers,
            lockstep: Some(lockstep),
        })
    }

    /// Runs `future` on the engine's runtime (runtime 0).
    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.main.block_on(future)
    }

    /// The handles of every runtime, the engine's first.
    pub(crate) fn handles(&self) -> Vec<Handle> {
        self.handles.clone()
    }

    /// What the run's threads did, for the report.
    pub(crate) fn parallelism(&self) -> Parallelism {
        let (window_ms, waited_ms) = self.lockstep.as_ref().map_or((0.0, vec![0.0]), |l| {
            (
                crate::stats::millis(l.window),
                l.waited
                    .iter()
                    .map(|w| {
                        #[allow(clippy::cast_precision_loss, reason = "a report figure")]
                        let ms = w.load(Ordering::Relaxed) as f64 / 1000.0;
                        ms
                    })
                    .collect(),
            )
        });
        Parallelism {
            threads: self.handles.len(),
            window_ms,
            waited_ms,
        }
    }
}

impl Default for Parallelism {
    /// One thread, no windows.
    fn default() -> Self {
        Self {
            threads: 1,
            window_ms: 0.0,
            waited_ms: vec![0.0],
        }
    }
}

impl Drop for Runtimes {
    /// The engine's runtime stops taking part, then every worker stops and
    /// drops its nodes.
    fn drop(&mut self) {
        if let Some(lockstep) = &self.lockstep {
            lockstep.leave();
        }
        for w in &mut self.workers {
            if let Some(stop) = w.stop.take() {
                let _ = stop.send(());
            }
        }
        for w in &mut self.workers {
            if let Some(thread) = w.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// A worker thread: reports its runtime, aligns its clock to the run's
/// epoch, governs its windows until told to stop.
fn worker(
    r: usize,
    ready: &std::sync::mpsc::Sender<Result<(usize, Handle, Instant), String>>,
    epoch: oneshot::Receiver<Instant>,
    stop: oneshot::Receiver<()>,
    lockstep: &Arc<Lockstep>,
) {
    let runtime = match paused() {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = ready.send(Err(format!("worker runtime {r}: {e}")));
            lockstep.leave();
            return;
        }
    };
    runtime.block_on(async {
        if ready
            .send(Ok((r, Handle::current(), Instant::now())))
            .is_err()
        {
            return;
        }
        let Ok(epoch) = epoch.await else {
            return;
        };
        align(epoch).await;
        tokio::spawn(lockstep.clone().govern(r, epoch));
        let _ = stop.await;
    });
    lockstep.leave();
    drop(runtime);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    /// Two runtimes, a ping-pong between them with 10 ms "links": every
    /// message is received no later than it is due, on a clock the two
    /// runtimes share, and the round trips take their simulated time.
    #[test]
    fn two_runtimes_share_one_clock_and_stay_a_window_apart() {
        let window = Duration::from_millis(10);
        let runtimes = Runtimes::start(2, window).unwrap();
        let handles = runtimes.handles();
        assert_eq!(handles.len(), 2);
        let (to_b, mut at_b) = tokio::sync::mpsc::unbounded_channel::<Instant>();
        let (to_a, mut at_a) = tokio::sync::mpsc::unbounded_channel::<(Instant, Duration)>();
        // Runtime 1 answers each message 10 ms after it is due, saying how
        // late it saw it.
        handles[1].spawn(async move {
            while let Some(due) = at_b.recv().await {
                let late = Instant::now().saturating_duration_since(due);
                tokio::time::sleep_until(due).await;
                if to_a.send((Instant::now() + window, late)).is_err() {
                    return;
                }
            }
        });
        let (took, worst) = runtimes.block_on(async move {
            let start = Instant::now();
            let mut worst = Duration::ZERO;
            for _ in 0..50 {
                to_b.send(Instant::now() + window).unwrap();
                let (due, late_at_b) = at_a.recv().await.unwrap();
                let late_here = Instant::now().saturating_duration_since(due);
                worst = worst.max(late_at_b).max(late_here);
                tokio::time::sleep_until(due).await;
            }
            (start.elapsed(), worst)
        });
        // Never in the receiver's past beyond the wheels' 1 ms rounding.
        assert!(worst <= Duration::from_millis(1), "{worst:?}");
        // 50 round trips of 2 x 10 ms, in simulated time.
        assert!(took >= Duration::from_secs(1), "{took:?}");
        assert!(took <= Duration::from_millis(1100), "{took:?}");
        let p = runtimes.parallelism();
        assert_eq!((p.threads, p.waited_ms.len()), (2, 2));
        assert!((p.window_ms - 10.0).abs() < f64::EPSILON);
    }

    #[test]
    fn one_thread_or_no_lookahead_is_one_runtime() {
        assert_eq!(
            Runtimes::start(1, Duration::from_millis(5))
                .unwrap()
                .handles()
                .len(),
            1
        );
        assert_eq!(
            Runtimes::start(4, Duration::ZERO).unwrap().handles().len(),
            1
        );
    }

    #[test]
    fn a_runtime_that_leaves_does_not_hold_the_others() {
        let runtimes = Runtimes::start(3, Duration::from_millis(5)).unwrap();
        let handles = runtimes.handles();
        // Runtime 2 runs 1 simulated second of timers while runtime 0 (the
        // caller's) is never driven again: it has left.
        let job = handles[2].spawn(async {
            let start = Instant::now();
            for _ in 0..100 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            start.elapsed()
        });
        let lockstep = runtimes.lockstep.clone().unwrap();
        lockstep.leave();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(futures::executor::block_on(job));
        });
        // Without the leave, runtimes 1 and 2 would wait at their first
        // window's end for runtime 0 forever.
        let took = rx.recv_timeout(Duration::from_secs(30)).unwrap().unwrap();
        assert!(took >= Duration::from_secs(1), "{took:?}");
    }
}
