//! Wire messages: what nodes say to each other, and the bounded decoders for
//! what they hear.
//!
//! Two channels:
//! - **gossip** ([`GossipEnvelope`]): catalog items, proposals, votes,
//!   certificates and access records, broadcast on topics namespaced by the network id;
//! - **request-response** ([`RequestFrame`] and [`Response`]): descriptor,
//!   manifest and chunk fetches, catalog sync, governance and access
//!   catch-up.
//!
//! Every decoder takes untrusted bytes, refuses input over its limit before
//! decoding, never lets a length prefix allocate beyond that limit, accepts
//! only the canonical encoding of a message and never panics: see
//! [`crate::encoding`].

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::access::{AccessDecision, AccessRequest};
use crate::bytes::ByteBuf;
use crate::catalog::{CatalogItem, SyncDigest, SyncEntry};
use crate::descriptor::ProductId;
use crate::encoding::{self, DecodeError};
use crate::governance::{Certificate, FederationId, Proposal, RoundMessage, Vote};
use crate::identity::NodeBinding;
use crate::manifest::{MAX_CHUNK_SIZE, Manifest};
use crate::signed::Signed;
use crate::{Hash, PROTOCOL_VERSION};

/// Request-response protocol for data and catalog requests.
pub const DATA_PROTOCOL: &str = "/meshd/data/1";
/// Kademlia protocol name of the mesh's DHT.
pub const KAD_PROTOCOL: &str = "/meshd/kad/1";
/// Identify protocol version string.
pub const IDENTIFY_PROTOCOL: &str = "/meshd/id/1";

/// Largest gossip message.
pub const MAX_GOSSIP_BYTES: usize = 256 * 1024;
/// Largest request.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// Largest response: one maximal chunk plus framing.
pub const MAX_RESPONSE_BYTES: usize = MAX_CHUNK_SIZE as usize + 64 * 1024;
/// Most products asked for in one [`Request::CatalogFetch`].
pub const MAX_FETCH_BATCH: usize = 512;
/// Most items in one catalog response.
pub const MAX_ITEMS_PER_RESPONSE: usize = 512;

/// Version of the gossip envelope, carried in it and in the topic names.
///
/// 6: gossipsub messages are signed by the node that first publishes them
/// (gossipsub's `StrictSign`, the default of rust-, go- and js-libp2p), and
/// a message's id is its author's peer id followed by its sequence number
/// (the rule go- and js-libp2p use by default), so a libp2p peer in its
/// default configuration can join the catalog topic: version 2's unsigned
/// messages were dropped by such peers. The envelope keeps its own origin
/// signature: the gossip signature is the transport's, and a descriptor's
/// signature is still what a node trusts.
///
/// 5: descriptors carry the derivation of a product computed by a query
/// (protocol version 4).
///
/// 4: descriptors carry constraints, nested fields and the signed profile
/// (protocol version 3).
///
/// 3: votes carry a reason and no longer bind a member to one proposal per
/// slot; consensus round messages ([`GossipMessage::Round`]) decide slots.
///
/// 2: gossipsub messages carry no signature of their own (gossipsub's
/// `Anonymous` mode); instead the envelope carries the origin node's
/// signature ([`GossipEnvelope::origin_hash`]). gossipsub verified its
/// signature on every copy a node received, before dropping duplicates,
/// while the receiving node checks the envelope's once per new message.
/// Version 1 nodes and version 2 nodes gossip on different topics, so
/// neither penalises the other's messages; they still sync catalogs over
/// request-response ([`PROTOCOL_VERSION`]).
pub const GOSSIP_VERSION: u16 = 6;

/// The gossip topic for one kind of traffic in one network.
pub fn topic(network: &str, kind: &str) -> String {
    format!("meshd/{network}/{kind}/v{GOSSIP_VERSION}")
}

/// A gossip message with the binding of the node that first sent it, signed
/// by that node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GossipEnvelope {
    /// Gossip version of the sender ([`GOSSIP_VERSION`]).
    pub version: u16,
    /// Proof that the originating node speaks for its domain.
    pub origin: Signed<NodeBinding>,
    /// The message.
    pub message: GossipMessage,
    /// The originating node's signature of [`GossipEnvelope::origin_hash`],
    /// made with the node key `origin` binds (libp2p's ed25519 node key, so
    /// it is checked where that key is known: in mesh-node).
    pub signature: ByteBuf,
}

impl GossipEnvelope {
    /// What the originating node signs: a tagged hash of the version, the
    /// binding and the message.
    pub fn origin_hash(
        version: u16,
        origin: &Signed<NodeBinding>,
        message: &GossipMessage,
    ) -> Hash {
        encoding::tagged_hash("meshd/v1/gossip-origin", &(version, origin, message))
    }
}

/// What gossip carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(
    clippy::large_enum_variant,
    reason = "catalog items are most of the traffic; the enum lives briefly on the stack"
)]
pub enum GossipMessage {
    /// A descriptor or withdrawal.
    Catalog(CatalogItem),
    /// A governance proposal.
    Proposal(Signed<Proposal>),
    /// A vote.
    Vote(Signed<Vote>),
    /// A ratified certificate.
    Certificate(Box<Certificate>),
    /// A consensus round message (proposer's pick, prevote, precommit).
    Round(RoundMessage),
    /// A domain asks for access to an owner-granted product.
    AccessRequest(Signed<AccessRequest>),
    /// An owner grants, denies or revokes access.
    AccessDecision(Signed<AccessDecision>),
}

/// A request with the requester's optional node binding (needed where the
/// answer depends on who asks, e.g. access-controlled chunks).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFrame {
    /// Protocol version of the requester.
    pub version: u16,
    /// Proof of the requester's domain.
    pub requester: Option<Signed<NodeBinding>>,
    /// The request.
    pub request: Request,
}

/// Requests between nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// A product's current descriptor, or a given version.
    GetDescriptor {
        /// The product.
        product: ProductId,
        /// A specific version, or the current one.
        version: Option<u64>,
    },
    /// The manifest with this hash.
    GetManifest {
        /// The product (for access checks).
        product: ProductId,
        /// The manifest hash from the descriptor.
        manifest: Hash,
    },
    /// One chunk.
    GetChunk {
        /// The product (for access checks).
        product: ProductId,
        /// The manifest hash.
        manifest: Hash,
        /// Chunk index.
        index: u32,
    },
    /// Catalog sync, step 1: here are my bucket digests.
    CatalogDigest(SyncDigest),
    /// Catalog sync, step 2: send me these products' current items.
    CatalogFetch(BTreeSet<ProductId>),
    /// Governance catch-up: certificates after `from_version`, and open
    /// proposals, votes and the current slot's round messages.
    GovernanceCatchUp {
        /// The federation.
        federation: FederationId,
        /// The requester's current version.
        from_version: u64,
    },
    /// Access catch-up: every access record, unless the answerer's book
    /// has this digest (then nothing).
    AccessCatchUp {
        /// The requester's [`crate::access::AccessBook::digest`].
        digest: Hash,
    },
    /// Which chunks of these bytes the answerer holds verified: a node
    /// still fetching a product serves the chunks it has (BitTorrent's
    /// bitfield message, BEP 3). Appended last, so every earlier request
    /// keeps its encoding.
    GetHave {
        /// The product (for access checks).
        product: ProductId,
        /// The manifest hash.
        manifest: Hash,
    },
}

/// Typed refusal codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// No such product.
    UnknownProduct,
    /// No such version or manifest.
    UnknownVersion,
    /// The chunk is not held here.
    NotHeld,
    /// The requester may not read this product.
    Denied,
    /// The server is over a limit; retry later or elsewhere.
    Busy,
    /// The request is malformed or too large.
    BadRequest,
    /// Unknown federation.
    UnknownFederation,
}

/// Responses between nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// A catalog item.
    Item(Box<CatalogItem>),
    /// A manifest.
    Manifest(Manifest),
    /// Chunk bytes.
    Chunk(ByteBuf),
    /// Catalog sync: summaries of the entries in the buckets that differ.
    CatalogSummary(Vec<SyncEntry>),
    /// Catalog sync: the requested items.
    CatalogItems(Vec<CatalogItem>),
    /// Governance catch-up.
    Governance {
        /// Certificates after the requested version, in order.
        certificates: Vec<Certificate>,
        /// Open proposals.
        proposals: Vec<Signed<Proposal>>,
        /// Votes on open proposals.
        votes: Vec<Signed<Vote>>,
        /// The current slot's consensus round messages.
        rounds: Vec<RoundMessage>,
    },
    /// Access catch-up: the answerer's records (empty when the digests
    /// match).
    Access {
        /// Requests.
        requests: Vec<Signed<AccessRequest>>,
        /// Decisions.
        decisions: Vec<Signed<AccessDecision>>,
    },
    /// A refusal.
    Error {
        /// What kind.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
    },
    /// The answer to [`Request::GetHave`].
    Have(Have),
}

/// Which chunks of a manifest's bytes a node holds, verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Have {
    /// Every chunk: the node holds the whole product.
    All,
    /// The chunks whose bit is set: bit `i % 8` of byte `i / 8` is chunk
    /// `i`. At most
    /// [`MAX_CHUNKS`](crate::manifest::MAX_CHUNKS) bits.
    Some(ByteBuf),
}

impl Have {
    /// Whether chunk `index` is held.
    pub fn has(&self, index: u32) -> bool {
        match self {
            Self::All => true,
            Self::Some(bits) => usize::try_from(index / 8)
                .ok()
                .and_then(|byte| bits.0.get(byte))
                .is_some_and(|b| b & (1 << (index % 8)) != 0),
        }
    }

    /// Whether the bitfield fits a manifest of `chunks` chunks: no byte
    /// beyond the last chunk's.
    pub fn fits(&self, chunks: usize) -> bool {
        match self {
            Self::All => true,
            Self::Some(bits) => bits.0.len() <= chunks.div_ceil(8),
        }
    }
}

impl Response {
    /// A refusal.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error {
            code,
            message: message.into(),
        }
    }
}

/// Why a received message was refused before it reached the node's logic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Bytes did not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The sender speaks another protocol (or gossip) version.
    #[error("version {got} is not supported (this node speaks {supported})")]
    Version {
        /// The version received.
        got: u16,
        /// The version this node speaks.
        supported: u16,
    },
}

/// Encodes a gossip envelope.
pub fn encode_gossip(envelope: &GossipEnvelope) -> Vec<u8> {
    encoding::to_bytes(envelope)
}

/// Decodes a gossip envelope from untrusted bytes.
pub fn decode_gossip(bytes: &[u8]) -> Result<GossipEnvelope, WireError> {
    let envelope: GossipEnvelope = encoding::from_canonical_bytes(bytes, MAX_GOSSIP_BYTES)?;
    if envelope.version != GOSSIP_VERSION {
        return Err(WireError::Version {
            got: envelope.version,
            supported: GOSSIP_VERSION,
        });
    }
    Ok(envelope)
}

/// Encodes a request frame.
pub fn encode_request(frame: &RequestFrame) -> Vec<u8> {
    encoding::to_bytes(frame)
}

/// Decodes a request frame from untrusted bytes.
pub fn decode_request(bytes: &[u8]) -> Result<RequestFrame, WireError> {
    let frame: RequestFrame = encoding::from_canonical_bytes(bytes, MAX_REQUEST_BYTES)?;
    if frame.version != PROTOCOL_VERSION {
        return Err(WireError::Version {
            got: frame.version,
            supported: PROTOCOL_VERSION,
        });
    }
    Ok(frame)
}

/// Encodes a response.
pub fn encode_response(response: &Response) -> Vec<u8> {
    encoding::to_bytes(response)
}

/// Decodes a response from untrusted bytes.
pub fn decode_response(bytes: &[u8]) -> Result<Response, WireError> {
    Ok(encoding::from_canonical_bytes(bytes, MAX_RESPONSE_BYTES)?)
}
