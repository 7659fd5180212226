//! What happens in a node, broadcast to observers (tests, the API, the
//! CLI): below the event loop that emits it and the handle that hands it out.

use std::path::PathBuf;

use libp2p::{Multiaddr, PeerId};
use mesh_protocol::ProductId;

/// Something that happened in the node, for observers (tests, API, CLI).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    /// Listening on a new address.
    Listening(Multiaddr),
    /// A connection to a peer opened.
    PeerConnected(PeerId),
    /// The last connection to a peer closed.
    PeerDisconnected(PeerId),
    /// The catalog took a new item.
    CatalogUpdated {
        /// The product.
        product: ProductId,
        /// Its new version.
        version: u64,
        /// Whether it is now withdrawn.
        withdrawn: bool,
    },
    /// A message or item was refused.
    Rejected {
        /// Who sent it.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// A fetched product's bytes give another profile than the one its
    /// owner signed (the evidence is kept).
    ProfileDisputed {
        /// The product.
        product: ProductId,
        /// The version.
        version: u64,
    },
    /// A fetch finished and its output file is in place.
    FetchCompleted {
        /// The product.
        product: ProductId,
        /// The output file.
        path: PathBuf,
    },
    /// The federation applied a certificate.
    FederationAdvanced {
        /// Its new version.
        version: u64,
    },
    /// A catalog sync with a peer finished.
    SyncCompleted {
        /// The peer.
        peer: PeerId,
        /// Items taken in.
        received: usize,
    },
}
