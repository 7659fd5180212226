//! `futures_timer::Delay` on tokio's clock (see README.md for why this
//! crate stands in for the crates.io one).
//!
//! Inside a tokio runtime a [`Delay`] is a [`tokio::time::Sleep`], so a
//! paused runtime clock (the simulator's) governs it like every other
//! tokio timer. Created or polled outside a runtime, it waits on one
//! shared background thread against the wall clock instead.

use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// A future that completes once its duration has passed.
#[derive(Debug)]
pub struct Delay {
    clock: Clock,
}

#[derive(Debug)]
enum Clock {
    /// tokio's clock (real or paused).
    Tokio(Pin<Box<tokio::time::Sleep>>),
    /// The wall clock, watched by the fallback thread.
    Wall(Instant),
}

fn in_runtime() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

fn clock_for(dur: Duration) -> Clock {
    if in_runtime() {
        Clock::Tokio(Box::pin(tokio::time::sleep(dur)))
    } else {
        Clock::Wall(Instant::now().checked_add(dur).unwrap_or_else(far_future))
    }
}

/// A deadline that never comes, for durations too long to add.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

impl Delay {
    /// A delay that completes `dur` from now.
    pub fn new(dur: Duration) -> Delay {
        Delay {
            clock: clock_for(dur),
        }
    }

    /// Restarts the delay to complete `dur` from now.
    pub fn reset(&mut self, dur: Duration) {
        match &mut self.clock {
            Clock::Tokio(sleep) if in_runtime() => {
                let deadline = tokio::time::Instant::now()
                    .checked_add(dur)
                    .unwrap_or_else(|| tokio::time::Instant::from_std(far_future()));
                sleep.as_mut().reset(deadline);
            }
            clock => *clock = clock_for(dur),
        }
    }
}

impl Future for Delay {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.clock {
            Clock::Tokio(sleep) => sleep.as_mut().poll(cx),
            Clock::Wall(deadline) => {
                if Instant::now() >= *deadline {
                    Poll::Ready(())
                } else {
                    fallback().wake_at(*deadline, cx.waker().clone());
                    Poll::Pending
                }
            }
        }
    }
}

/// A waker due at a deadline (the heap keeps the earliest on top).
struct Due(Instant, Waker);

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.0.cmp(&self.0)
    }
}

/// The wall-clock fallback: one thread that wakes wakers at their
/// deadlines.
struct Fallback {
    due: Mutex<BinaryHeap<Due>>,
    changed: Condvar,
}

fn fallback() -> &'static Fallback {
    static FALLBACK: OnceLock<&'static Fallback> = OnceLock::new();
    FALLBACK.get_or_init(|| {
        let fallback: &'static Fallback = Box::leak(Box::new(Fallback {
            due: Mutex::new(BinaryHeap::new()),
            changed: Condvar::new(),
        }));
        let spawned = std::thread::Builder::new()
            .name("futures-timer".into())
            .spawn(move || fallback.run());
        if spawned.is_err() {
            // Without the thread, pending wall-clock delays are woken only
            // by their next poll; nothing in this workspace polls a Delay
            // outside a runtime.
        }
        fallback
    })
}

impl Fallback {
    fn wake_at(&self, deadline: Instant, waker: Waker) {
        let mut due = self
            .due
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        due.push(Due(deadline, waker));
        self.changed.notify_one();
    }

    fn run(&self) {
        let mut due = self
            .due
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            let now = Instant::now();
            while due.peek().is_some_and(|d| d.0 <= now) {
                if let Some(Due(_, waker)) = due.pop() {
                    waker.wake();
                }
            }
            due = match due.peek().map(|d| d.0) {
                Some(next) => {
                    self.changed
                        .wait_timeout(due, next.saturating_duration_since(now))
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0
                }
                None => self
                    .changed
                    .wait(due)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn follows_a_paused_tokio_clock() {
        let start = tokio::time::Instant::now();
        let wall = Instant::now();
        Delay::new(Duration::from_secs(3600)).await;
        assert!(start.elapsed() >= Duration::from_secs(3600));
        // An hour of paused clock is not an hour of wall clock.
        assert!(wall.elapsed() < Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn reset_moves_the_deadline() {
        let start = tokio::time::Instant::now();
        let mut delay = Delay::new(Duration::from_secs(1));
        delay.reset(Duration::from_secs(10));
        (&mut delay).await;
        assert!(start.elapsed() >= Duration::from_secs(10));
    }

    #[test]
    fn works_without_a_runtime_on_the_wall_clock() {
        let start = Instant::now();
        let delay = Delay::new(Duration::from_millis(30));
        // Block on it with a minimal executor: park until woken.
        let thread = std::thread::current();
        let waker = Waker::from(std::sync::Arc::new(Unpark(thread)));
        let mut cx = Context::from_waker(&waker);
        let mut delay = Box::pin(delay);
        let deadline = Instant::now() + Duration::from_secs(10);
        while delay.as_mut().poll(&mut cx).is_pending() {
            assert!(Instant::now() < deadline, "never completed");
            std::thread::park_timeout(Duration::from_millis(100));
        }
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
}
