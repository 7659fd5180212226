//! When the blob collector runs: every `[blobs] collect_interval_secs`,
//! soon after a withdrawal or a new version (at most once per
//! [`SOON_SPACING`]), and on request ([`crate::NodeHandle::collect_garbage`],
//! which a refused publish uses to drop its blob). One round at a time, on
//! a blocking thread (`crate::gc::collect` reads the directory and the
//! store and unlinks files); the loop only stops announcing what was
//! removed.

use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::warn;

use super::{EventLoop, Internal, fetching};
use crate::gc::{CollectError, CollectReport};

/// Shortest time between two rounds started by catalog changes.
const SOON_SPACING: Duration = Duration::from_secs(10);

/// Who waits for a round's report.
type Waiter = oneshot::Sender<Result<CollectReport, String>>;

/// The collector's schedule.
pub(super) struct Collector {
    period: Duration,
    next: Instant,
    last_start: Option<Instant>,
    running: bool,
    soon: bool,
    /// Waiting for the round running now.
    waiting: Vec<Waiter>,
    /// Asked while a round ran: served by the next one, whose reading of
    /// the store follows their request.
    waiting_next: Vec<Waiter>,
}

impl Collector {
    pub(super) fn new(period: Duration) -> Self {
        Self {
            period,
            next: Instant::now() + period,
            last_start: None,
            running: false,
            soon: false,
            waiting: Vec::new(),
            waiting_next: Vec::new(),
        }
    }

    /// Asks for a round soon (a version was superseded or withdrawn).
    pub(super) fn soon(&mut self) {
        self.soon = true;
    }
}

impl EventLoop {
    /// Upkeep: starts a round when one is due.
    pub(super) fn tick_collector(&mut self) {
        let gc = &self.gc;
        if gc.running {
            return;
        }
        let now = Instant::now();
        let spaced = gc
            .last_start
            .is_none_or(|t| now.duration_since(t) >= SOON_SPACING);
        if now >= gc.next || (gc.soon && spaced) || !gc.waiting_next.is_empty() {
            self.start_collection();
        }
    }

    /// A caller wants a round and its report.
    pub(super) fn request_collection(&mut self, reply: Waiter) {
        self.gc.waiting_next.push(reply);
        if !self.gc.running {
            self.start_collection();
        }
    }

    fn start_collection(&mut self) {
        let now = Instant::now();
        let gc = &mut self.gc;
        gc.running = true;
        gc.soon = false;
        gc.last_start = Some(now);
        gc.next = now + gc.period;
        gc.waiting.append(&mut gc.waiting_next);
        let blobs = self.blobs.clone();
        let store = self.store.clone();
        let done = self.internal.clone();
        tokio::task::spawn_blocking(move || {
            let result = crate::gc::collect(&blobs, store.as_ref());
            let _ = done.blocking_send(Internal::Collected(result));
        });
    }

    /// A round ended: stop announcing what it removed, answer its waiters.
    pub(super) fn on_collected(&mut self, result: Result<CollectReport, CollectError>) {
        self.gc.running = false;
        match &result {
            Ok(report) => {
                for hash in &report.removed {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .stop_providing(&fetching::provider_key(hash));
                }
            }
            Err(e) => warn!(error = %e, "blob collection failed; nothing removed this round"),
        }
        let answer = result.map_err(|e| e.to_string());
        for waiter in std::mem::take(&mut self.gc.waiting) {
            let _ = waiter.send(answer.clone());
        }
        if !self.gc.waiting_next.is_empty() {
            self.start_collection();
        }
    }
}
