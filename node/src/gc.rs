//! The blob collector: removes the bytes nothing refers to any more.
//!
//! Without it a node's disk only grows: a refused publish left its blob
//! behind, and every superseded or withdrawn version kept its bytes
//! forever. A blob (`blobs/HASH`) is kept while any of these refers to it:
//! a descriptor in the kept history of a product that is not withdrawn
//! (the store's last [`HISTORY_KEEP`](crate::store::HISTORY_KEEP) versions,
//! the current one included), or a fetch record (running or paused). A
//! partial file (`blobs/HASH.partial`) is kept while a fetch record names
//! it. Anything pinned (a publish between ingest and commit, a running
//! fetch job) is never removed, and neither is a blob unpinned after the
//! round began (see [`crate::blobs`]), so the store read here can lag
//! behind the node without losing bytes that just became referenced.
//!
//! [`collect`] does blocking file and store work: the event loop runs it on
//! a blocking thread, on a schedule (`[blobs] collect_interval_secs`) and
//! soon after a withdrawal or a new version.

use std::collections::HashSet;

use mesh_protocol::{CatalogItem, Hash};
use serde::{Deserialize, Serialize};

use crate::blobs::{BlobFile, Blobs};
use crate::fetch::FetchRecord;
use crate::store::{Store, StoreError};

/// What one collection round did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectReport {
    /// Blobs and partial files removed, by manifest hash.
    pub removed: Vec<Hash>,
    /// Bytes freed.
    pub removed_bytes: u64,
    /// Bytes still held in blobs and partial files.
    pub kept_bytes: u64,
}

/// Why a round removed nothing.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The blob directory could not be read or a file removed.
    #[error("blob collection: {0}")]
    Io(#[from] std::io::Error),
    /// The store could not be read (nothing is removed then).
    #[error("blob collection: {0}")]
    Store(#[from] StoreError),
}

/// Runs one collection round: removes every blob and partial file that
/// nothing refers to. Blocking.
pub fn collect(blobs: &Blobs, store: &dyn Store) -> Result<CollectReport, CollectError> {
    let round = blobs.begin_round();
    let files = blobs.files()?;
    let mut report = CollectReport::default();
    if files.is_empty() {
        return Ok(report);
    }
    let (records, versions) = referenced(store, &files)?;
    for (hash, kind, len) in files {
        let kept = match kind {
            BlobFile::Blob => versions.contains(&hash) || records.contains(&hash),
            BlobFile::Partial => records.contains(&hash),
        };
        if kept || !blobs.discard(&hash, kind, round)? {
            report.kept_bytes += len;
        } else {
            tracing::info!(manifest = %hash, ?kind, bytes = len, "collected unreferenced bytes");
            if kind == BlobFile::Blob {
                // The manifest row goes with its bytes: a refused or
                // collected publish leaves nothing behind.
                store.delete_manifest(&hash)?;
            }
            report.removed.push(hash);
            report.removed_bytes += len;
        }
    }
    Ok(report)
}

/// The manifests named by fetch records, and those of kept versions.
fn referenced(
    store: &dyn Store,
    files: &[(Hash, BlobFile, u64)],
) -> Result<(HashSet<Hash>, HashSet<Hash>), StoreError> {
    let mut records = HashSet::new();
    for prefix in [FetchRecord::PREFIX, FetchRecord::PAUSED_PREFIX] {
        for (key, _) in store.metas(prefix)? {
            // The key names the manifest, so even an undecodable record
            // keeps its partial file.
            if let Some(bytes) = key
                .strip_prefix(prefix)
                .and_then(|hex| mesh_protocol::bytes::from_hex::<32>(hex).ok())
            {
                records.insert(Hash(bytes));
            }
        }
    }
    let mut versions = HashSet::new();
    let mut live = Vec::new();
    for item in store.items()? {
        if let CatalogItem::Descriptor(d) = item {
            versions.insert(d.value.content.manifest_hash);
            live.push(d.value.id);
        }
    }
    // Older versions are read only when some blob is not a current one.
    let pending = files.iter().any(|(h, kind, _)| {
        *kind == BlobFile::Blob && !versions.contains(h) && !records.contains(h)
    });
    if pending {
        for product in live {
            for item in store.versions(&product)? {
                if let CatalogItem::Descriptor(d) = item {
                    versions.insert(d.value.content.manifest_hash);
                }
            }
        }
    }
    Ok((records, versions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn an_unreferenced_blob_goes_with_its_manifest_and_a_pinned_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path()).unwrap();
        let store = MemoryStore::default();
        let write = |name: &str, len: usize| {
            let path = dir.path().join(name);
            std::fs::write(&path, vec![7u8; len]).unwrap();
            let (manifest, pin) = blobs.ingest(&path, 1024, &mut |_: &[u8]| {}).unwrap();
            store.put_manifest(&manifest).unwrap();
            (manifest, pin)
        };
        let (orphan, orphan_pin) = write("orphan.csv", 3000);
        drop(orphan_pin);
        let (pinned, _pin) = write("pinned.csv", 2000);
        let report = collect(&blobs, &store).unwrap();
        assert_eq!(report.removed, vec![orphan.hash()]);
        assert!(!blobs.has(&orphan.hash()));
        assert_eq!(store.manifest(&orphan.hash()).unwrap(), None);
        assert!(blobs.has(&pinned.hash()));
        assert!(store.manifest(&pinned.hash()).unwrap().is_some());
    }
}
