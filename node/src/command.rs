//! The requests the node's handle sends its event loop, each with its
//! reply channel, and the receipt of a publish: the contract between
//! `node.rs` above and `event_loop/` below.

use std::path::PathBuf;

use libp2p::Multiaddr;
use mesh_protocol::catalog::Query;
use mesh_protocol::descriptor::Content;
use mesh_protocol::{CatalogItem, Hash, ProductId, SignedDescriptor};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::draft::ProductDraft;
use crate::error::NodeError;
use crate::fetch::FetchError;
use crate::peers::PeerInfo;
use crate::status::Status;

/// The result of a publish.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublishReceipt {
    /// The product.
    #[schema(value_type = crate::schemas::ProductIdDoc)]
    pub product: ProductId,
    /// Its new version.
    pub version: u64,
    /// The manifest hash (64 hex digits).
    #[schema(value_type = String)]
    pub manifest_hash: Hash,
    /// Bytes.
    pub size: u64,
    /// The profile signed with it (`None`: a format meshd does not read).
    #[schema(value_type = Option<Object>)]
    pub profile: Option<mesh_protocol::profile::Profile>,
}

/// A publish whose file has been read: what the event loop signs.
pub(crate) struct Publication {
    pub(crate) draft: ProductDraft,
    pub(crate) content: Content,
    pub(crate) manifest: mesh_protocol::Manifest,
    /// The profile computed from the file (`None`: a format meshd does not
    /// read).
    pub(crate) profile: Option<mesh_protocol::profile::Profile>,
    /// The version's creation time, the one the profile was computed with.
    pub(crate) created_at: mesh_protocol::Timestamp,
    /// How the data was computed, for a product published from a query.
    pub(crate) derivation: Option<mesh_protocol::derivation::Derivation>,
}

/// A request to the event loop.
pub(crate) enum Command {
    ProfileChecked(Box<crate::profiling::ProfileChecked>),
    Publish {
        publication: Box<Publication>,
        reply: oneshot::Sender<Result<PublishReceipt, NodeError>>,
    },
    Withdraw {
        name: String,
        reason: String,
        reply: oneshot::Sender<Result<u64, NodeError>>,
    },
    Deprecate {
        name: String,
        reason: String,
        successor: Option<ProductId>,
        reply: oneshot::Sender<Result<u64, NodeError>>,
    },
    Query {
        query: Box<Query>,
        reply: oneshot::Sender<Vec<SignedDescriptor>>,
    },
    Get {
        product: ProductId,
        reply: oneshot::Sender<Option<CatalogItem>>,
    },
    Lookup {
        product: ProductId,
        reply: oneshot::Sender<Option<CatalogItem>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    Versions {
        product: ProductId,
        reply: oneshot::Sender<Result<Vec<CatalogItem>, NodeError>>,
    },
    Federation {
        reply: oneshot::Sender<Result<crate::governance::FederationView, NodeError>>,
    },
    Proposals {
        reply: oneshot::Sender<Result<Vec<crate::governance::ProposalView>, NodeError>>,
    },
    Propose {
        change: mesh_protocol::governance::Change,
        reason: String,
        ttl_ms: u64,
        reply: oneshot::Sender<Result<crate::governance::ProposalView, NodeError>>,
    },
    Vote {
        proposal: mesh_protocol::governance::ProposalId,
        approve: bool,
        reason: String,
        reply: oneshot::Sender<Result<crate::governance::VoteReceipt, NodeError>>,
    },
    Compliance {
        products: Option<Vec<ProductId>>,
        reply: oneshot::Sender<Result<Vec<crate::governance::Compliance>, NodeError>>,
    },
    AccessList {
        reply: oneshot::Sender<Vec<crate::access::AccessView>>,
    },
    RequestAccess {
        product: ProductId,
        reason: String,
        reply: oneshot::Sender<Result<crate::access::AccessView, NodeError>>,
    },
    DecideAccess {
        name: String,
        domain: String,
        verdict: mesh_protocol::access::Verdict,
        reply: oneshot::Sender<Result<crate::access::AccessView, NodeError>>,
    },
    Resolve {
        domain_name: String,
        name: String,
        reply: oneshot::Sender<Vec<ProductId>>,
    },
    Providers {
        product: ProductId,
        reply: oneshot::Sender<Vec<String>>,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), NodeError>>,
    },
    Status {
        reply: oneshot::Sender<Status>,
    },
    Fetch {
        product: ProductId,
        version: Option<u64>,
        output: PathBuf,
        reply: oneshot::Sender<Result<crate::fetch::FetchStarted, FetchError>>,
    },
    /// Some chunks of a product, for a preview.
    FetchChunks {
        product: ProductId,
        version: Option<u64>,
        chunks: std::collections::BTreeSet<u32>,
        reply: crate::fetch::ChunksReply,
    },
    CancelFetch {
        id: crate::fetch::FetchId,
    },
    RunningFetches {
        reply: oneshot::Sender<Vec<crate::fetch::FetchStarted>>,
    },
    CollectGarbage {
        reply: oneshot::Sender<Result<crate::gc::CollectReport, String>>,
    },
    Shutdown,
}
