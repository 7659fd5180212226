//! Fetching a product's bytes: the public face (progress, errors, handle)
//! and the durable record that lets a fetch resume after any interruption.
//!
//! The work itself runs in the event loop (`event_loop::fetching`), which
//! owns the swarm: it finds providers, keeps a bounded window of chunk
//! requests over them, verifies every chunk against the manifest before
//! writing it, and records verified chunks in the store (after syncing the
//! partial file) so a restart of either side never refetches them.

use std::path::PathBuf;

use mesh_protocol::{Hash, ProductId};
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};

/// Identifies one fetch job in a node.
pub type FetchId = u64;

/// Where a fetch is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum FetchState {
    /// Looking for nodes that hold the product.
    Finding,
    /// Transferring chunks.
    Fetching,
    /// Complete and verified; the output file is in place.
    Done,
    /// Stopped with an error.
    Failed,
    /// Cancelled by the user (verified chunks are kept for a later fetch).
    Cancelled,
}

/// What a running fetch has done so far.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FetchProgress {
    /// The job.
    pub id: FetchId,
    /// The product.
    #[schema(value_type = crate::schemas::ProductIdDoc)]
    pub product: ProductId,
    /// The version being fetched.
    pub version: u64,
    /// State.
    pub state: FetchState,
    /// Verified bytes held.
    pub bytes_done: u64,
    /// Product size.
    pub bytes_total: u64,
    /// Verified chunks held.
    pub chunks_done: u32,
    /// Chunks in the product.
    pub chunks_total: u32,
    /// Chunks fetched over the network by this job.
    pub chunks_fetched: u32,
    /// Chunks found already verified from an earlier, interrupted fetch.
    pub chunks_resumed: u32,
    /// Chunks that failed verification (and were fetched again elsewhere).
    pub bad_chunks: u32,
    /// Peers serving this fetch now.
    pub providers: Vec<String>,
    /// Peers caught serving bad data.
    pub bad_providers: Vec<String>,
    /// Chunks fetched from each provider by this job.
    pub chunks_by_provider: std::collections::BTreeMap<String, u32>,
    /// Average transfer rate of this job, bytes per second.
    pub rate_bytes_per_s: f64,
    /// The error, if failed.
    pub error: Option<String>,
    /// Once done: whether the profile recomputed from the verified bytes
    /// is the one the owner signed.
    pub profile: Option<crate::profiling::ProfileCheck>,
}

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The product is not in the catalog.
    #[error("unknown product {0}; list products with `mesh list`")]
    UnknownProduct(String),
    /// The catalog holds another version.
    #[error("unknown version {wanted} of {product}; the current version is {current}")]
    UnknownVersion {
        /// The product.
        product: String,
        /// Version asked for.
        wanted: u64,
        /// Version held.
        current: u64,
    },
    /// The product was withdrawn.
    #[error("{0} was withdrawn")]
    Withdrawn(String),
    /// Every provider denied access.
    #[error(
        "access to {0} denied by its providers; ask its owner with `mesh request {0} --reason TEXT`"
    )]
    Denied(String),
    /// No provider could be found or all failed, until the deadline.
    #[error("no provider served {0} before the deadline")]
    NoProviders(String),
    /// Cancelled.
    #[error("fetch cancelled")]
    Cancelled,
    /// The output path is refused (it exists and is not a regular file)
    /// or could not be written.
    #[error("{0}")]
    Output(String),
    /// Local file or store error.
    #[error("local error: {0}")]
    Local(String),
    /// The node stopped.
    #[error("the node has stopped")]
    Stopped,
}

/// The durable record of an unfinished fetch (in the store's metadata).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRecord {
    /// The product.
    pub product: ProductId,
    /// The version.
    pub version: u64,
    /// The manifest being fetched.
    pub manifest: Hash,
    /// Where the finished file goes.
    pub output: String,
    /// One bit per chunk: verified and synced to the partial file.
    pub done: Vec<u8>,
}

impl FetchRecord {
    /// The metadata key of a fetch record.
    pub fn key(manifest: &Hash) -> String {
        format!("{}{manifest}", Self::PREFIX)
    }

    /// The metadata key of a cancelled fetch's record (not resumed at start).
    pub fn paused_key(manifest: &Hash) -> String {
        format!("{}{manifest}", Self::PAUSED_PREFIX)
    }

    /// Prefix of all paused (cancelled or failed) fetch record keys.
    pub const PAUSED_PREFIX: &'static str = "fetch-paused/";

    /// Prefix of all active fetch record keys.
    pub const PREFIX: &'static str = "fetch/";

    /// Whether chunk `i` is done.
    pub fn has(&self, i: u32) -> bool {
        let i = i as usize;
        self.done
            .get(i / 8)
            .is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    /// Marks chunk `i` done.
    pub fn set(&mut self, i: u32) {
        let i = i as usize;
        if self.done.len() <= i / 8 {
            self.done.resize(i / 8 + 1, 0);
        }
        self.done[i / 8] |= 1 << (i % 8);
    }
}

/// What a node holds of a product after a partial fetch.
#[derive(Clone, Debug)]
pub(crate) enum Chunks {
    /// The whole product is in the store (it was, or a full fetch finished).
    Held,
    /// Some chunks, verified, at their offsets in the partial file.
    Partial {
        /// The partial file.
        path: PathBuf,
        /// Which chunks of it are verified.
        record: FetchRecord,
    },
}

/// The answer to a partial fetch.
pub(crate) type ChunksReply = oneshot::Sender<Result<Chunks, FetchError>>;

/// What `start_fetch` hands back to the caller.
pub(crate) type FetchStarted = (
    FetchId,
    watch::Receiver<FetchProgress>,
    oneshot::Receiver<Result<PathBuf, FetchError>>,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap() {
        let mut r = FetchRecord {
            product: ProductId {
                domain: mesh_protocol::DomainId([0; 16]),
                name: "x".into(),
            },
            version: 1,
            manifest: Hash([0; 32]),
            output: String::new(),
            done: Vec::new(),
        };
        assert!(!r.has(17));
        r.set(17);
        r.set(0);
        assert!(r.has(17) && r.has(0) && !r.has(16) && !r.has(1000));
    }
}
