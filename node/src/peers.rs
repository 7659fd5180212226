//! What the node knows about each connected peer: where it is, which way
//! the connection was made, what software it runs (identify), its round
//! trip time (ping) and, once it has shown a valid node binding, which
//! domain it speaks for.
//!
//! Entries exist only while a peer is connected, so the table is bounded by
//! the swarm's connection limits.
//!
//! The table also remembers when each peer was last *used* (connected, a
//! request or response, a gossip message), which is what the node's
//! connection trimming ranks peers by: see [`PeerTable::surplus`].

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use libp2p::{Multiaddr, PeerId};
use mesh_protocol::{DomainId, Timestamp};
use serde::{Deserialize, Serialize};

/// One connected peer, as the API reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PeerInfo {
    /// The peer's libp2p PeerId.
    pub peer_id: String,
    /// Remote address of its first open connection.
    pub address: String,
    /// `outbound` if this node dialled, `inbound` if the peer did.
    pub direction: String,
    /// Open connections.
    pub connections: u32,
    /// When the first open connection was made (ms since the Unix epoch).
    pub connected_since_ms: u64,
    /// The peer's software (`agent_version` from identify), once known.
    pub agent: Option<String>,
    /// Last measured round trip, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// The domain the peer proved it serves (node binding), once known.
    pub domain_id: Option<String>,
}

struct Entry {
    address: Multiaddr,
    outbound: bool,
    connections: u32,
    since: Timestamp,
    agent: Option<String>,
    rtt: Option<Duration>,
    domain: Option<DomainId>,
    used: Instant,
}

/// When the node closes connections it does not need: above `high` peers
/// it closes the least recently used ones until `low` remain, sparing
/// protected peers and any used within `grace`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TrimPolicy {
    /// Peers kept after trimming.
    pub low: usize,
    /// Peers above which trimming starts.
    pub high: usize,
    /// How long a peer is spared after it was last used.
    pub grace: Duration,
}

/// Connected peers.
#[derive(Default)]
pub(crate) struct PeerTable {
    peers: HashMap<PeerId, Entry>,
}

impl PeerTable {
    pub(crate) fn connected(
        &mut self,
        peer: PeerId,
        address: Multiaddr,
        outbound: bool,
        now: Timestamp,
    ) {
        self.peers
            .entry(peer)
            .and_modify(|e| {
                e.connections += 1;
                e.used = Instant::now();
            })
            .or_insert(Entry {
                address,
                outbound,
                connections: 1,
                since: now,
                agent: None,
                rtt: None,
                domain: None,
                used: Instant::now(),
            });
    }

    /// The peer was just used: a request, a response or a gossip message.
    pub(crate) fn used(&mut self, peer: &PeerId) {
        if let Some(e) = self.peers.get_mut(peer) {
            e.used = Instant::now();
        }
    }

    /// The peers to disconnect under `policy`, least recently used first:
    /// none while at most `policy.high` peers are connected, otherwise as
    /// many as it takes to get down to `policy.low`, chosen among the peers
    /// this node dialed that are neither `protected` nor used within the
    /// grace period (so fewer when too few qualify).
    ///
    /// A connection the peer opened is the peer's to close: it knows why it
    /// dialed (this node may be its bootstrap peer, which it would redial at
    /// once), and every connection is outbound for one of its two ends.
    pub(crate) fn surplus(
        &self,
        policy: TrimPolicy,
        now: Instant,
        protected: impl Fn(&PeerId) -> bool,
    ) -> Vec<PeerId> {
        if self.peers.len() <= policy.high {
            return Vec::new();
        }
        let mut idle: Vec<(Instant, PeerId)> = self
            .peers
            .iter()
            .filter(|(peer, e)| {
                e.outbound
                    && now.saturating_duration_since(e.used) >= policy.grace
                    && !protected(peer)
            })
            .map(|(peer, e)| (e.used, *peer))
            .collect();
        idle.sort();
        let excess = self.peers.len().saturating_sub(policy.low);
        idle.into_iter().take(excess).map(|(_, p)| p).collect()
    }

    /// A connection closed; `remaining` are still open.
    pub(crate) fn closed(&mut self, peer: &PeerId, remaining: u32) {
        if remaining == 0 {
            self.peers.remove(peer);
        } else if let Some(e) = self.peers.get_mut(peer) {
            e.connections = remaining;
        }
    }

    pub(crate) fn identified(&mut self, peer: &PeerId, agent: &str) {
        if let Some(e) = self.peers.get_mut(peer) {
            e.agent = Some(agent.chars().take(128).collect());
        }
    }

    pub(crate) fn pinged(&mut self, peer: &PeerId, rtt: Duration) {
        if let Some(e) = self.peers.get_mut(peer) {
            e.rtt = Some(rtt);
        }
    }

    /// The peer showed a binding that authorises it for `domain`.
    pub(crate) fn bound(&mut self, peer: &PeerId, domain: DomainId) {
        if let Some(e) = self.peers.get_mut(peer) {
            e.domain = Some(domain);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.peers.len()
    }

    /// Every connected peer, sorted by PeerId.
    pub(crate) fn snapshot(&self) -> Vec<PeerInfo> {
        let mut out: Vec<PeerInfo> = self
            .peers
            .iter()
            .map(|(peer, e)| PeerInfo {
                peer_id: peer.to_string(),
                address: e.address.to_string(),
                direction: if e.outbound { "outbound" } else { "inbound" }.to_owned(),
                connections: e.connections,
                connected_since_ms: e.since.0,
                agent: e.agent.clone(),
                rtt_ms: e.rtt.map(|d| d.as_secs_f64() * 1000.0),
                domain_id: e.domain.map(|d| d.to_string()),
            })
            .collect();
        out.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_while_a_connection_is_open() {
        let mut table = PeerTable::default();
        let peer = PeerId::random();
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        table.connected(peer, addr.clone(), true, Timestamp(5));
        table.connected(peer, addr, false, Timestamp(6));
        table.pinged(&peer, Duration::from_millis(3));
        table.identified(&peer, "meshd/0.1.0");
        let snap = table.snapshot();
        assert_eq!(snap.len(), 1);
        assert_eq!(snap[0].connections, 2);
        assert_eq!(snap[0].direction, "outbound");
        assert_eq!(snap[0].connected_since_ms, 5);
        assert_eq!(snap[0].agent.as_deref(), Some("meshd/0.1.0"));
        assert!((snap[0].rtt_ms.unwrap() - 3.0).abs() < 1e-9);
        table.closed(&peer, 1);
        assert_eq!(table.snapshot()[0].connections, 1);
        table.closed(&peer, 0);
        assert_eq!(table.len(), 0);
        // Events about unknown peers add nothing.
        table.pinged(&peer, Duration::from_millis(1));
        assert_eq!(table.len(), 0);
    }

    const POLICY: TrimPolicy = TrimPolicy {
        low: 2,
        high: 4,
        grace: Duration::from_secs(2),
    };

    /// Five peers this node dialed, one second apart (virtual time), oldest
    /// first.
    async fn five_peers() -> (PeerTable, Vec<PeerId>) {
        let mut table = PeerTable::default();
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        let mut peers = Vec::new();
        for _ in 0..5 {
            let peer = PeerId::random();
            table.connected(peer, addr.clone(), true, Timestamp(0));
            peers.push(peer);
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        (table, peers)
    }

    #[tokio::test(start_paused = true)]
    async fn trimming_closes_the_least_recently_used_down_to_low_water() {
        let (mut table, peers) = five_peers().await;
        // The oldest peer was used just now: it moves to the back.
        table.used(&peers[0]);
        tokio::time::advance(Duration::from_secs(3)).await;
        let surplus = table.surplus(POLICY, Instant::now(), |_| false);
        assert_eq!(surplus, vec![peers[1], peers[2], peers[3]]);
    }

    #[tokio::test(start_paused = true)]
    async fn trimming_spares_protected_and_recent_peers_and_waits_for_high_water() {
        let (mut table, peers) = five_peers().await;
        // Three must go, but peers 0 and 1 are protected and peer 4 was
        // connected within the grace period: only two qualify.
        let surplus = table.surplus(POLICY, Instant::now(), |p| *p == peers[0] || *p == peers[1]);
        assert_eq!(surplus, vec![peers[2], peers[3]]);
        // At the high-water mark nothing is trimmed.
        table.closed(&peers[4], 0);
        assert!(table.surplus(POLICY, Instant::now(), |_| false).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn trimming_leaves_connections_the_peer_opened_to_the_peer() {
        let (mut table, peers) = five_peers().await;
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/2".parse().unwrap();
        let inbound = PeerId::random();
        table.connected(inbound, addr, false, Timestamp(0));
        tokio::time::advance(Duration::from_secs(10)).await;
        let surplus = table.surplus(POLICY, Instant::now(), |_| false);
        assert_eq!(surplus, peers[..4].to_vec());
        assert!(!surplus.contains(&inbound));
    }
}
