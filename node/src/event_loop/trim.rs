//! Keeping the number of connected peers between two water marks.
//!
//! libp2p closes a connection once it has been idle for the swarm's idle
//! timeout, but gossipsub holds a stream open on every connection to a
//! subscribed peer for as long as the connection lives, so no connection
//! between two meshd nodes ever counts as idle. Every peer a Kademlia
//! lookup touched would stay connected forever: the simulator showed each
//! node of a 150-node mesh holding a connection to every other, and a
//! larger mesh running into `max_connections`, after which even the
//! connections a fetch needs are refused.
//!
//! So on every upkeep tick, when more than `network.peers_high` peers are
//! connected, the node disconnects the least recently used until
//! `network.peers_low` remain ([`crate::peers::PeerTable::surplus`]). It
//! only closes connections it opened itself, and never those to its gossip
//! mesh peers, its bootstrap peers, peers it has a request out to, the
//! providers of a running fetch, or any peer used within [`GRACE`] (long
//! enough for the request a connection was opened for to be answered).

use std::collections::HashSet;
use std::time::Duration;

use libp2p::PeerId;
use tracing::debug;

use super::{EventLoop, fetching};
use crate::peers::TrimPolicy;

/// How long a peer is spared after it was last used.
pub(super) const GRACE: Duration = Duration::from_secs(2);

impl EventLoop {
    /// Disconnects the peers above the high-water mark (see the module docs).
    pub(super) fn trim_peers(&mut self) {
        let policy = TrimPolicy {
            low: self.config.network.peers_low,
            high: self.config.network.peers_high,
            grace: GRACE,
        };
        if self.peers.len() <= policy.high {
            return;
        }
        let mut protected: HashSet<PeerId> = self
            .swarm
            .behaviour()
            .gossipsub
            .all_mesh_peers()
            .copied()
            .collect();
        protected.extend(self.bootstrap.peer_ids());
        protected.extend(self.pending.values().map(|(peer, _)| *peer));
        protected.extend(self.jobs.values().flat_map(fetching::Job::peers));
        let surplus = self
            .peers
            .surplus(policy, tokio::time::Instant::now(), |p| {
                protected.contains(p)
            });
        if !surplus.is_empty() {
            debug!(
                connected = self.peers.len(),
                closing = surplus.len(),
                "trimming least recently used peers"
            );
        }
        for peer in surplus {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }
}
