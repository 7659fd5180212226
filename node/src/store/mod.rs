//! Persistent state of a node, behind the [`Store`] trait.
//!
//! The daemon always uses [`RocksStore`] (RocksDB on disk, one column family
//! per kind of state, every acknowledged write synced). [`MemoryStore`]
//! exists for unit tests and the simulator only.
//!
//! **Invariant:** a method that returns `Ok` has made its write durable; the
//! node acknowledges an operation only after that.
//!
//! A write that fails on IO (a full disk) leaves the store *degraded*:
//! [`Store::degraded`] says why, for `/health` and `meshd_store_degraded`,
//! and the store recovers by itself once the cause is gone (see `rocks`).

mod memory;
mod rocks;

pub use memory::{ItemPool, MemoryStore};
pub use rocks::RocksStore;

use std::sync::Arc;

use mesh_protocol::{CatalogItem, Hash, Manifest, ProductId};

/// Key/value pairs read in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Versions of a product kept in its history; older ones are pruned when a
/// newer one is stored.
pub const HISTORY_KEEP: u64 = 16;

/// The keyed tables whose layout belongs to their owner module rather than
/// to the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Table {
    /// Federation state, ballots and evidence (`crate::governance`).
    Governance,
    /// Access requests and decisions (`crate::access`).
    Access,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error.
    #[error("database: {0}")]
    Db(String),
    /// The data directory is used by another running meshd.
    #[error("data directory {0} is locked by another running meshd")]
    Locked(String),
    /// The disk is full: the write was not made, and writes fail until
    /// space is freed (the store then recovers by itself).
    #[error("no space left on device while {0}")]
    NoSpace(&'static str),
    /// An IO error: the write was not made, and writes fail until the
    /// store recovers.
    #[error("cannot write the database while {what}: {reason}")]
    Io {
        /// What was being written.
        what: &'static str,
        /// The database's words.
        reason: String,
    },
    /// The store is degraded after an earlier failed write and could not
    /// recover yet.
    #[error("{0}")]
    Degraded(String),
    /// A stored value does not decode: the store is damaged.
    #[error("corrupt record in {table}: {reason}")]
    Corrupt {
        /// Column family.
        table: &'static str,
        /// Decode error.
        reason: String,
    },
}

/// Where a node keeps its state.
pub trait Store: Send + Sync + 'static {
    /// Stores a verified catalog item (replacing the product's previous
    /// item); `own` marks products this node's domain published.
    fn put_item(&self, item: &CatalogItem, own: bool) -> Result<(), StoreError>;
    /// A shared copy of `item` for the node's catalog to hold: the store's
    /// own where it keeps items in memory, a fresh one otherwise.
    fn share(&self, item: &CatalogItem) -> Arc<CatalogItem> {
        Arc::new(item.clone())
    }
    /// Earlier and current items of one product, newest first (the last
    /// [`HISTORY_KEEP`] versions this node took in).
    fn versions(&self, product: &ProductId) -> Result<Vec<CatalogItem>, StoreError>;
    /// Every stored catalog item.
    fn items(&self) -> Result<Vec<CatalogItem>, StoreError>;
    /// Keeps conflicting items as equivocation evidence.
    fn put_evidence(&self, items: &[CatalogItem]) -> Result<(), StoreError>;
    /// Stores a manifest by its hash.
    fn put_manifest(&self, manifest: &Manifest) -> Result<(), StoreError>;
    /// A manifest by hash.
    fn manifest(&self, hash: &Hash) -> Result<Option<Manifest>, StoreError>;

    /// Forgets a manifest whose bytes are gone (synced).
    fn delete_manifest(&self, hash: &Hash) -> Result<(), StoreError>;
    /// A node metadata value.
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets a node metadata value.
    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Every metadata entry whose key starts with `prefix`.
    fn metas(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Deletes a metadata value.
    fn delete_meta(&self, key: &str) -> Result<(), StoreError>;
    /// Applies writes to one keyed table in one atomic, synced batch;
    /// `None` deletes the key.
    fn write(&self, table: Table, writes: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), StoreError>;
    /// Entries of one keyed table whose key starts with `prefix`, in key
    /// order.
    fn scan(&self, table: Table, prefix: &[u8]) -> Result<Entries, StoreError>;
    /// Flushes everything to disk (at shutdown).
    fn flush(&self) -> Result<(), StoreError>;
    /// Why writes fail right now (a full disk, an IO error), or `None`
    /// when the store is healthy. A degraded store tries to recover first,
    /// so this turns `None` once the cause is gone.
    fn degraded(&self) -> Option<String> {
        None
    }
}

/// Key of a product in the catalog tables. The encoding is length-prefixed,
/// so no product's key is a prefix of another's.
pub(crate) fn product_key(item: &CatalogItem) -> Vec<u8> {
    id_key(item.product())
}

/// Key of a product id in the catalog tables.
pub(crate) fn id_key(product: &ProductId) -> Vec<u8> {
    mesh_protocol::encoding::to_bytes(product)
}

/// Key of one version in the history table: product key, then the version
/// big-endian so versions sort numerically.
pub(crate) fn history_key(product: &ProductId, version: u64) -> Vec<u8> {
    let mut key = id_key(product);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

/// A catalog item of `version` for the store tests: a withdrawal of one
/// product, signed by one fixed domain.
#[cfg(test)]
pub(crate) fn test_item(version: u64) -> CatalogItem {
    use mesh_protocol::descriptor::Withdrawal;
    use mesh_protocol::{DomainKeypair, Signed, Timestamp};

    let key = DomainKeypair::from_secret([1; 32]);
    CatalogItem::Withdrawal(Signed::sign(
        Withdrawal {
            product: ProductId {
                domain: key.domain_id(),
                name: "orders".into(),
            },
            version,
            reason: String::new(),
            at: Timestamp(1),
        },
        &key,
    ))
}
