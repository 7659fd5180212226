//! A node's status and counters, as its handle, its API and its metrics
//! report them.

use serde::{Deserialize, Serialize};

/// A snapshot of the node's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Status {
    /// Domain name.
    pub domain_name: String,
    /// Domain id.
    pub domain_id: String,
    /// Domain public key (hex): what a federation's genesis or an
    /// add-member proposal names.
    pub domain_key: String,
    /// The federation this node takes part in, if any: its id and version.
    pub federation: Option<String>,
    /// Whether this node's domain is a member of that federation.
    pub member: bool,
    /// libp2p PeerId.
    pub peer_id: String,
    /// Listen addresses.
    pub listen_addrs: Vec<String>,
    /// Connected peers.
    pub peers: usize,
    /// Products in the catalog (including withdrawn).
    pub catalog_size: usize,
    /// Counters.
    pub counters: Counters,
    /// Bytes on disk in blobs and partial fetches (`DATA_DIR/blobs`).
    #[serde(default)]
    pub blob_bytes: u64,
    /// Software version.
    pub version: String,
}

/// Counters of what the node refused and did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Counters {
    /// Gossip messages accepted and forwarded.
    pub gossip_accepted: u64,
    /// Gossip messages rejected as forged or malformed.
    pub gossip_rejected: u64,
    /// Gossip messages ignored (stale, duplicate, over capacity).
    pub gossip_ignored: u64,
    /// Items taken in through catalog sync.
    pub sync_items: u64,
    /// Items refused in catalog sync.
    pub sync_rejected: u64,
    /// Requests answered "busy" because a peer was over its rate.
    pub requests_refused_busy: u64,
    /// Kademlia bootstraps that ran in full (own-id and bucket lookups).
    #[serde(default)]
    pub dht_bootstraps_full: u64,
    /// Kademlia bootstraps cut to their own-id lookup because a full one
    /// ran shortly before.
    #[serde(default)]
    pub dht_bootstraps_shortened: u64,
}
