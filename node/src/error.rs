//! Why a node operation failed: the one error type of the node's
//! handle, below both the event loop that produces it and the API that
//! maps it to HTTP.

use std::path::PathBuf;

use mesh_protocol::catalog::MergeError;
use mesh_protocol::descriptor::DescriptorError;

use crate::identity::IdentityError;
use crate::network::behaviour::BehaviourError;
use crate::store::StoreError;

/// Why a node operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Identity files.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Config.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Network set-up.
    #[error("network: {0}")]
    Network(String),
    /// Behaviour set-up.
    #[error(transparent)]
    Behaviour(#[from] BehaviourError),
    /// File IO while publishing.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The descriptor is invalid.
    #[error("invalid descriptor: {0}")]
    Descriptor(#[from] DescriptorError),
    /// The catalog refused the item.
    #[error("catalog refused: {0}")]
    Catalog(#[from] MergeError),
    /// The product is unknown.
    #[error("unknown product {0}")]
    UnknownProduct(String),
    /// The node holds no verified copy of the product's bytes.
    #[error("this node holds no verified copy of {0}; fetch it first")]
    NotHeld(String),
    /// Governance.
    #[error(transparent)]
    Governance(#[from] crate::governance::GovernanceError),
    /// The product breaks the federation's policies.
    #[error("refused by the federation's policies: {}", .0.iter().map(|i| format!("{}: {}", i.rule, i.reason)).collect::<Vec<_>>().join("; "))]
    Policy(Vec<crate::governance::Issue>),
    /// An access request or decision was refused.
    #[error(transparent)]
    Access(#[from] crate::access::AccessCommandError),
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
}
