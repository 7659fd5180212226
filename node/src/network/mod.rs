//! The libp2p side of the node: behaviours, the request-response codec and
//! the transport.

pub mod behaviour;
pub mod codec;
pub mod gossip;

pub use behaviour::MeshBehaviour;
