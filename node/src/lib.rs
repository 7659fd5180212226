//! # mesh-node: the meshd daemon, as a library
//!
//! A node publishes its domain's data products, holds the whole mesh's
//! catalog, and serves what it holds, over libp2p, with its state in RocksDB.
//! The `meshd` binary is a thin wrapper; tests and the simulator start nodes
//! in-process with [`start`].
//!
//! ## Layout
//!
//! - [`api`]: the local HTTP API (axum, loopback, bearer token) and a
//!   minimal client for it.
//! - [`config`]: the TOML config, its defaults and checks.
//! - [`daemon`]: what `meshd run` runs (store, node, API) as one call.
//! - [`identity`]: domain key, node key and binding files.
//! - [`store`]: the [`store::Store`] trait, RocksDB and in-memory stores.
//! - [`blobs`]: content files, named by manifest hash.
//! - [`network`]: libp2p behaviours and the request-response codec.
//! - [`event_loop`]: the one task that owns the swarm and the node state.
//! - [`node`]: [`start`], [`NodeHandle`] and the events a node emits.
//! - [`fetch`]: fetch progress, errors and the resumable fetch record.
//! - [`peers`]: what the node knows about each connected peer.
//! - [`gc`]: the blob collector (unreferenced bytes are removed).
//! - [`perms`]: file modes on a shared host (private data directory).
//! - [`metrics`]: the Prometheus registry (libp2p's and meshd's metrics).
//! - [`rlimit`]: the open-file limit, raised at start, and the API's share.
//! - [`draft`]: what a publisher writes about a product.
//! - [`clock`]: wall-clock time for the protocol.
//! - [`governance`]: the federation, ballots and policy checks, persisted.
//! - [`access`]: access requests and grants, persisted, and their views.

pub mod access;
pub mod api;
pub mod blobs;
pub mod clock;
mod command;
pub mod config;
pub mod daemon;
pub mod draft;
mod error;
pub mod event_loop;
mod events;
pub mod fetch;
pub mod gc;
pub mod governance;
pub mod identity;
pub mod lineage;
pub mod metrics;
pub mod network;
pub mod node;
pub mod peers;
pub mod perms;
pub mod preview;
pub mod profiling;
pub mod querying;
pub mod rlimit;
mod schemas;
mod status;
pub mod store;

pub use config::Config;
pub use draft::ProductDraft;
pub use node::{
    NodeError, NodeEvent, NodeHandle, NodeOptions, PublishReceipt, RunningNode, Status, start,
};
