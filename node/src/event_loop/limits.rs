//! Per-peer request admission for serving: a token bucket per peer, so one
//! greedy or hostile peer gets "busy" answers instead of starving the node.
//! Concurrent inbound streams (and so bytes in flight: streams times the
//! largest chunk) are bounded by the request-response behaviour's own
//! stream limit, set from the same config.

use std::collections::HashMap;

use libp2p::PeerId;
use tokio::time::Instant;

use crate::config::ServeConfig;

/// Most peers tracked at once; the idle ones are forgotten first.
const MAX_TRACKED: usize = 4096;

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets by peer.
pub(super) struct Limiter {
    config: ServeConfig,
    buckets: HashMap<PeerId, Bucket>,
}

impl Limiter {
    pub(super) fn new(config: ServeConfig) -> Self {
        Self {
            config,
            buckets: HashMap::new(),
        }
    }

    /// Takes `cost` tokens (never more than half the burst) from the peer's
    /// bucket; `false` means over the limit.
    pub(super) fn admit_cost(&mut self, peer: PeerId, cost: u32) -> bool {
        let now = Instant::now();
        let rate = f64::from(self.config.requests_per_sec);
        let burst = f64::from(self.config.burst);
        if self.buckets.len() >= MAX_TRACKED && !self.buckets.contains_key(&peer) {
            self.forget_idle();
        }
        let bucket = self.buckets.entry(peer).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        let elapsed = now.duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.last = now;
        // However expensive, a request never takes more than half the
        // burst, so the cheap follow-up requests of a sync still fit.
        let cost = f64::from(cost).min((burst / 2.0).max(1.0));
        if bucket.tokens >= cost {
            bucket.tokens -= cost;
            true
        } else {
            false
        }
    }

    /// Drops buckets that have refilled (their peers are idle).
    pub(super) fn forget_idle(&mut self) {
        let rate = f64::from(self.config.requests_per_sec);
        let burst = f64::from(self.config.burst);
        let now = Instant::now();
        self.buckets
            .retain(|_, b| b.tokens + now.duration_since(b.last).as_secs_f64() * rate < burst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_busy() {
        let mut l = Limiter::new(ServeConfig {
            requests_per_sec: 1,
            burst: 3,
            max_concurrent_streams: 8,
        });
        let peer = PeerId::random();
        assert!(l.admit_cost(peer, 1) && l.admit_cost(peer, 1) && l.admit_cost(peer, 1));
        assert!(
            !l.admit_cost(peer, 1),
            "fourth request in the same instant is over the burst"
        );
        assert!(
            l.admit_cost(PeerId::random(), 1),
            "other peers are unaffected"
        );
        // A cost above the burst is charged as half the burst, so it can pass.
        assert!(l.admit_cost(PeerId::random(), 100));
    }

    /// Buckets refill in tokio time: under mesh-sim's paused clock they
    /// follow simulated seconds, not the wall clock (which barely moves in a
    /// small run and races ahead in a large one).
    #[tokio::test(start_paused = true)]
    async fn buckets_refill_in_tokio_time() {
        let mut l = Limiter::new(ServeConfig {
            requests_per_sec: 1,
            burst: 2,
            max_concurrent_streams: 8,
        });
        let peer = PeerId::random();
        assert!(l.admit_cost(peer, 1) && l.admit_cost(peer, 1));
        assert!(!l.admit_cost(peer, 1));
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        assert!(l.admit_cost(peer, 1), "one simulated second adds a token");
        assert!(!l.admit_cost(peer, 1));
    }
}
