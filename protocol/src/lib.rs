//! # mesh-protocol: the language of the meshd data mesh
//!
//! This crate defines everything nodes say and decide, and nothing about how
//! they do IO. It is deterministic: it reads no clock (time is an argument,
//! see [`Timestamp`]), no entropy (keys come from caller-supplied bytes), no
//! sockets and no files. The node (`mesh-node`) and the simulator drive it.
//!
//! ## Layout
//!
//! - [`encoding`]: canonical bincode bytes and bounded decoding; the one
//!   place the codec lives.
//! - [`identity`]: domain keys, [`DomainId`], node bindings.
//! - [`signed`]: [`Signed<T>`], signatures with domain-separation tags.
//! - [`descriptor`]: the data product descriptor and its structural rules.
//! - [`manifest`]: chunking and per-chunk BLAKE3 verification.
//! - [`catalog`]: the order-independent merge rule, queries and sync digests.
//! - [`wire`]: gossip and request-response messages and their decoders.
//! - [`governance`]: genesis, proposals, votes, certificates, the federation
//!   state machine and the Tendermint rounds that decide each slot.
//! - [`policy`]: policy rules and [`policy::evaluate`].
//! - [`access`]: access requests and owners' grants, denials and
//!   revocations for owner-granted products.
//!
//! ## How to drive it
//!
//! A node holds a [`catalog::Catalog`], a [`governance::Federation`], a
//! [`governance::Ballots`] and a [`governance::Consensus`] for the current
//! slot (whose outputs, messages and timers, the node carries out). For every message it
//! receives it calls [`wire::decode_gossip`] or [`wire::decode_request`],
//! then hands the value to the matching state (`Catalog::insert`,
//! `Ballots::add_vote`, `Federation::apply`, ...). Each returns either what
//! changed (which the node persists, then forwards) or a typed error (which
//! the node logs and counts, and does not forward). Nothing in this crate
//! panics on input.

pub mod access;
pub mod bytes;
pub mod catalog;
pub mod contract;
pub mod derivation;
pub mod descriptor;
pub mod encoding;
pub mod governance;
pub mod identity;
pub mod manifest;
pub mod policy;
pub mod profile;
pub mod signed;
pub mod time;
pub mod wire;

pub use bytes::Hash;
pub use catalog::{Catalog, CatalogItem};
pub use descriptor::{Descriptor, ProductId, SignedDescriptor};
pub use identity::{DomainId, DomainKeypair, DomainPublicKey, NodeBinding};
pub use manifest::Manifest;
pub use signed::Signed;
pub use time::Timestamp;

/// The protocol version this crate speaks, carried in every request frame.
///
/// 2: governance catch-up carries consensus round messages, and votes and
/// certificates have the round-based form (see [`governance`]).
/// 3: descriptors carry field constraints, nested fields, a CSV dialect and
/// the signed profile (see [`profile`]).
/// 4: descriptors of products published from a query carry their
/// [`derivation`] (the query, the exact inputs, column lineage).
pub const PROTOCOL_VERSION: u16 = 4;
