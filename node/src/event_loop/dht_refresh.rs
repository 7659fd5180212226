//! One full Kademlia bootstrap per [`FULL_EVERY`], however often libp2p
//! starts one.
//!
//! libp2p-kad runs a bootstrap (a lookup of the node's own id, then one
//! lookup per bucket farther out than its nearest neighbour's) every five
//! minutes, and also whenever a peer joins a routing table of fewer than
//! K (20) peers. A starting node's first bootstrap fills its table from
//! empty, so the peers it inserts on the way queue a second bootstrap that
//! kad starts the moment the first ends, and the first nodes of a new mesh
//! start one for every newcomer. Each bucket lookup contacts 20 or more
//! peers, which in a mesh of hundreds means 20 new connections, so these
//! repeats doubled what joining cost a node and its peers (measured with
//! mesh-sim, see `simulations/README.md`). Neither trigger can be
//! configured in libp2p-kad 0.49.
//!
//! So the node shortens a bootstrap instead: one that starts within
//! [`FULL_EVERY`] of the last full one keeps its own-id lookup (cheap once
//! the table is full, and it keeps the nearest neighbours fresh) and skips
//! the bucket lookups. Kad's periodic bootstrap, five minutes apart, always
//! runs in full. [`Refresh`] is the decision, kept free of the swarm so it
//! can be tested on its own.

use std::time::Duration;

use libp2p::kad;
use tokio::time::Instant;
use tracing::debug;

use super::EventLoop;

/// A bootstrap that starts at least this long after the last full one runs
/// in full.
pub(super) const FULL_EVERY: Duration = Duration::from_secs(60);

/// How a bootstrap runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Run {
    /// Own-id lookup and every bucket lookup.
    Full,
    /// Own-id lookup only.
    Shortened,
}

impl Run {
    /// The metric label.
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Shortened => "shortened",
        }
    }
}

/// What to do after one step of a bootstrap.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Verdict {
    /// Set on the first step of a bootstrap: how it runs.
    pub(super) started: Option<Run>,
    /// End the bootstrap now, skipping its remaining lookups.
    pub(super) shorten: bool,
}

/// Which bootstrap is running and when the last full one started. Generic
/// over the query id so tests need no swarm.
#[derive(Debug)]
pub(super) struct Refresh<Id> {
    last_full: Option<Instant>,
    current: Option<(Id, Run)>,
}

impl<Id> Default for Refresh<Id> {
    fn default() -> Self {
        Self {
            last_full: None,
            current: None,
        }
    }
}

impl<Id: Copy + PartialEq> Refresh<Id> {
    /// A step of bootstrap `id` ended at `now` (`last`: it was its final
    /// step). kad reports the own-id lookup as a bootstrap's first step, so
    /// the first report of an id is where its run is decided.
    pub(super) fn on_step(&mut self, id: Id, last: bool, now: Instant) -> Verdict {
        let (run, started) = match self.current {
            Some((current, run)) if current == id => (run, None),
            _ => {
                let run = match self.last_full {
                    Some(at) if now.saturating_duration_since(at) < FULL_EVERY => Run::Shortened,
                    _ => {
                        self.last_full = Some(now);
                        Run::Full
                    }
                };
                (run, Some(run))
            }
        };
        self.current = if last { None } else { Some((id, run)) };
        Verdict {
            started,
            shorten: run == Run::Shortened && !last,
        }
    }
}

impl EventLoop {
    /// A step of a Kademlia bootstrap ended: counts a new run and ends a
    /// shortened one (see the module docs).
    pub(super) fn on_bootstrap_step(&mut self, id: kad::QueryId, step: &kad::ProgressStep) {
        let verdict = self.dht_refresh.on_step(id, step.last, Instant::now());
        if let Some(run) = verdict.started {
            debug!(?id, run = run.label(), "kademlia bootstrap");
            self.metrics.dht_bootstrap(run.label());
        }
        if verdict.shorten
            && let Some(mut query) = self.swarm.behaviour_mut().kad.query_mut(&id)
        {
            query.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, secs: u64) -> Instant {
        start + Duration::from_secs(secs)
    }

    #[test]
    fn the_first_bootstrap_runs_in_full_and_a_repeat_is_shortened() {
        let t0 = Instant::now();
        let mut refresh = Refresh::default();
        assert_eq!(
            refresh.on_step(1, false, t0),
            Verdict {
                started: Some(Run::Full),
                shorten: false
            }
        );
        assert_eq!(
            refresh.on_step(1, false, at(t0, 1)),
            Verdict {
                started: None,
                shorten: false
            }
        );
        refresh.on_step(1, true, at(t0, 2));
        // kad starts the queued repeat as soon as the first ends.
        assert_eq!(
            refresh.on_step(2, false, at(t0, 3)),
            Verdict {
                started: Some(Run::Shortened),
                shorten: true
            }
        );
        // Every later step of the shortened run is ended too, and the run
        // is counted once.
        assert_eq!(
            refresh.on_step(2, false, at(t0, 3)),
            Verdict {
                started: None,
                shorten: true
            }
        );
        assert_eq!(
            refresh.on_step(2, true, at(t0, 3)),
            Verdict {
                started: None,
                shorten: false
            }
        );
    }

    #[test]
    fn a_bootstrap_long_after_the_last_full_one_runs_in_full() {
        let t0 = Instant::now();
        let mut refresh = Refresh::default();
        refresh.on_step(1, true, t0);
        let periodic = at(t0, FULL_EVERY.as_secs() + 240);
        assert_eq!(refresh.on_step(2, false, periodic).started, Some(Run::Full));
        // The window counts from the latest full run, not the first.
        let soon_after = periodic + FULL_EVERY / 2;
        assert_eq!(
            refresh.on_step(3, false, soon_after).started,
            Some(Run::Shortened)
        );
    }

    #[test]
    fn a_single_step_bootstrap_has_nothing_to_shorten() {
        let t0 = Instant::now();
        let mut refresh = Refresh::default();
        refresh.on_step(1, true, t0);
        assert_eq!(
            refresh.on_step(2, true, at(t0, 1)),
            Verdict {
                started: Some(Run::Shortened),
                shorten: false
            }
        );
        assert_eq!(
            refresh.on_step(3, true, at(t0, 2)).started,
            Some(Run::Shortened)
        );
    }
}
