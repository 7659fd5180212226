//! Staying connected to the bootstrap peers: they are dialed at start and,
//! whenever one is not connected (it restarted, the network was cut, the
//! first dial failed), dialed again every [`REDIAL_TICKS`] upkeep ticks.
//! Without this a node whose bootstrap peers all went away once would stay
//! alone until something else dialed it.
//!
//! Bootstrap peers are also the ones a node catches up with as soon as it
//! connects (see [`EventLoop::catch_up_on_connect`]).

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use tracing::{debug, warn};

use super::EventLoop;

/// Upkeep ticks (500 ms each) between redials of a missing bootstrap peer.
const REDIAL_TICKS: u32 = 20;

/// Up to this many connected peers, every new connection starts a catch-up.
pub(super) const CATCH_UP_ALL_BELOW: usize = 8;

/// One bootstrap address and the peer found there, once known.
pub(super) struct BootstrapPeer {
    addr: Multiaddr,
    peer: Option<PeerId>,
}

/// The bootstrap peers and the upkeep tick count.
#[derive(Default)]
pub(super) struct Bootstrap {
    peers: Vec<BootstrapPeer>,
    ticks: u32,
}

/// `addr` without a trailing `/p2p/PEER`.
fn without_peer(addr: &Multiaddr) -> Multiaddr {
    addr.iter()
        .filter(|p| !matches!(p, Protocol::P2p(_)))
        .collect()
}

impl Bootstrap {
    pub(super) fn new(addrs: &[Multiaddr]) -> Self {
        Self {
            peers: addrs
                .iter()
                .map(|addr| BootstrapPeer {
                    addr: addr.clone(),
                    peer: addr.iter().find_map(|p| match p {
                        Protocol::P2p(peer) => Some(peer),
                        _ => None,
                    }),
                })
                .collect(),
            ticks: 0,
        }
    }

    /// Whether `peer` is one of the bootstrap peers.
    pub(super) fn contains(&self, peer: &PeerId) -> bool {
        self.peers.iter().any(|b| b.peer == Some(*peer))
    }

    /// The bootstrap peers whose identity is known.
    pub(super) fn peer_ids(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.peers.iter().filter_map(|b| b.peer)
    }
}

impl EventLoop {
    /// Dials every bootstrap address (at start).
    pub(super) fn dial_bootstrap(&mut self) {
        let addrs: Vec<Multiaddr> = self
            .bootstrap
            .peers
            .iter()
            .map(|b| b.addr.clone())
            .collect();
        for addr in addrs {
            if let Err(e) = self.swarm.dial(addr.clone()) {
                warn!(%addr, error = %e, "cannot dial bootstrap peer");
            }
        }
    }

    /// Whether a new connection to `peer` starts a catalog sync and the
    /// governance and access catch-ups at once. It does for bootstrap peers
    /// and while the node has at most [`CATCH_UP_ALL_BELOW`] peers, so a
    /// node that starts, rejoins after a partition or has few neighbours
    /// converges at once; the many short connections of a large mesh (a
    /// DHT lookup connects to dozens of peers) are left to the
    /// anti-entropy round, which reaches every connected peer in turn.
    pub(super) fn catch_up_on_connect(&self, peer: &PeerId) -> bool {
        self.peers.len() <= CATCH_UP_ALL_BELOW || self.bootstrap.contains(peer)
    }

    /// Learns which peer a bootstrap address leads to, from a connection
    /// this node dialed.
    pub(super) fn bootstrap_connected(&mut self, peer: PeerId, dialed: &Multiaddr) {
        let dialed = without_peer(dialed);
        for b in &mut self.bootstrap.peers {
            if b.peer.is_none() && without_peer(&b.addr) == dialed {
                b.peer = Some(peer);
            }
        }
    }

    /// On every upkeep tick: every [`REDIAL_TICKS`], dials the bootstrap
    /// peers that are not connected.
    pub(super) fn redial_bootstrap(&mut self) {
        self.bootstrap.ticks += 1;
        if self.bootstrap.ticks < REDIAL_TICKS {
            return;
        }
        self.bootstrap.ticks = 0;
        let missing: Vec<Multiaddr> = self
            .bootstrap
            .peers
            .iter()
            .filter(|b| b.peer.is_none_or(|p| !self.swarm.is_connected(&p)))
            .map(|b| b.addr.clone())
            .collect();
        for addr in missing {
            debug!(%addr, "redialing bootstrap peer");
            let _ = self.swarm.dial(addr);
        }
    }
}
