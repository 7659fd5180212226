//! Staying connected to the bootstrap peers: they are dialed at start and,
//! whenever one is not connected (it restarted, the network was cut, the
//! first dial failed), dialed again every [`REDIAL_TICKS`] upkeep ticks.
//! Without this a node whose bootstrap peers all went away once would stay
//! alone until something else dialed it.

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use tracing::{debug, warn};

use super::EventLoop;

/// Upkeep ticks (500 ms each) between redials of a missing bootstrap peer.
const REDIAL_TICKS: u32 = 20;

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
