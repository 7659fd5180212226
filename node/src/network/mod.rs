//! The libp2p side of the node: behaviours, the request-response codec and
//! the transport.

pub mod behaviour;
pub mod codec;
pub mod gossip;

pub use behaviour::MeshBehaviour;

use libp2p::PeerId;

/// An authenticated, multiplexed libp2p transport, boxed.
pub type BoxedTransport =
    libp2p::core::transport::Boxed<(PeerId, libp2p::core::muxing::StreamMuxerBox)>;

/// Builds a node's transport from its node key.
pub type TransportFactory = Box<dyn FnOnce(&libp2p::identity::Keypair) -> BoxedTransport + Send>;
