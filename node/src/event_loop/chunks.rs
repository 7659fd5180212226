//! Chunks between the loop and the disk. A chunk to serve is read and
//! checked against its manifest on the disk pool, and the loop answers with
//! it; a fetched chunk is checked and written on the pool, and the loop
//! counts it. The loop itself never reads, hashes or writes chunk bytes.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use libp2p::PeerId;
use libp2p::request_response::ResponseChannel;
use mesh_protocol::wire::{ErrorCode, Response};
use mesh_protocol::{Hash, Manifest, ProductId};
use tracing::warn;

use super::{EventLoop, Internal, fetching};
use crate::blobs::{Blobs, read_chunk_from, write_at};
use crate::fetch::{FetchError, FetchId};
use crate::store::Store;

/// Why a chunk could not be served.
#[derive(Debug)]
pub(crate) enum Unservable {
    /// The bytes or the manifest are not here (or not at that index).
    NotHeld(String),
    /// The local copy no longer matches its manifest.
    Damaged,
    /// The store could not answer now.
    Busy(String),
}

/// What became of a fetched chunk.
#[derive(Debug)]
pub(crate) enum Stored {
    /// Verified and written at its offset.
    Written,
    /// Not the chunk the manifest names: the provider served bad data.
    Corrupt,
    /// Verified, but the partial file could not be written.
    Failed(String),
}

/// Manifests recently served from, by hash. A 1 GiB product's manifest
/// lists 1,024 chunk hashes, which would otherwise be read from the store
/// and decoded once per chunk served. Manifests are named by their hash, so
/// a kept one is never stale.
#[derive(Clone, Default)]
pub(crate) struct Manifests(Arc<Mutex<VecDeque<Kept>>>);

/// A kept manifest and its hash.
type Kept = (Hash, Arc<Manifest>);

/// Manifests kept.
const MANIFESTS_KEPT: usize = 16;

impl Manifests {
    fn get(&self, store: &dyn Store, hash: &Hash) -> Result<Option<Arc<Manifest>>, Unservable> {
        if let Ok(kept) = self.0.lock()
            && let Some((_, m)) = kept.iter().find(|(h, _)| h == hash)
        {
            return Ok(Some(m.clone()));
        }
        let Some(manifest) = store
            .manifest(hash)
            .map_err(|e| Unservable::Busy(e.to_string()))?
        else {
            return Ok(None);
        };
        let manifest = Arc::new(manifest);
        if let Ok(mut kept) = self.0.lock() {
            if kept.len() >= MANIFESTS_KEPT {
                kept.pop_back();
            }
            kept.push_front((*hash, manifest.clone()));
        }
        Ok(Some(manifest))
    }
}

/// Reads chunk `index` of the bytes `manifest` names and checks it.
fn read_checked(
    store: &dyn Store,
    blobs: &Blobs,
    manifests: &Manifests,
    manifest: &Hash,
    index: u32,
) -> Result<Vec<u8>, Unservable> {
    let m = manifests
        .get(store, manifest)?
        .ok_or_else(|| Unservable::NotHeld("manifest not held here".into()))?;
    let (bytes, vouched) = blobs.read_chunk_vouched(manifest, &m, index).map_err(|e| {
        if blobs.has(manifest) {
            Unservable::NotHeld(e.to_string())
        } else {
            Unservable::NotHeld("bytes not held here".into())
        }
    })?;
    // Checked again before it leaves, unless the file is the one this
    // process hashed whole and nothing has written it since: a copy changed
    // on disk is caught here (outputs are copies, never links).
    if !vouched {
        m.verify_chunk(index, &bytes)
            .map_err(|_| Unservable::Damaged)?;
    }
    Ok(bytes)
}

/// Reads chunk `index` from the partial file of a running fetch, which
/// verified it when it was written, and checks it again: what leaves this
/// node is always checked against the manifest.
fn read_partial(
    file: &std::fs::File,
    manifest: &Manifest,
    index: u32,
) -> Result<Vec<u8>, Unservable> {
    let bytes =
        read_chunk_from(file, manifest, index).map_err(|e| Unservable::NotHeld(e.to_string()))?;
    manifest
        .verify_chunk(index, &bytes)
        .map_err(|_| Unservable::Damaged)?;
    Ok(bytes)
}

/// Checks a fetched chunk and writes it at its offset.
fn check_and_write(file: &std::fs::File, manifest: &Manifest, index: u32, bytes: &[u8]) -> Stored {
    if manifest.verify_chunk(index, bytes).is_err() {
        return Stored::Corrupt;
    }
    match write_at(file, bytes, manifest.chunk_offset(index)) {
        Ok(()) => Stored::Written,
        Err(e) => Stored::Failed(e.to_string()),
    }
}

impl EventLoop {
    /// Serves chunk `index` of `product` (access already checked) from the
    /// disk pool, or answers "busy" when the pool is full.
    pub(super) fn serve_chunk(
        &mut self,
        channel: ResponseChannel<Response>,
        product: ProductId,
        manifest: Hash,
        index: u32,
    ) {
        // A fetch of these bytes under way: serve the chunk if it has it.
        let partial = self
            .fetching(&manifest)
            .and_then(|job| Some((job.file()?, job.manifest()?, job.has(index))));
        if let Some((_, _, false)) = partial {
            let _ = self.swarm.behaviour_mut().rr.send_response(
                channel,
                Response::error(ErrorCode::NotHeld, "chunk not held here yet"),
            );
            return;
        }
        let Some(slot) = self.disk.try_slot() else {
            self.metrics.busy();
            let _ = self.swarm.behaviour_mut().rr.send_response(
                channel,
                Response::error(ErrorCode::Busy, "disk busy; retry later"),
            );
            return;
        };
        let store = self.store.clone();
        let blobs = self.blobs.clone();
        let manifests = self.manifests.clone();
        slot.run(move || Internal::Served {
            outcome: match partial {
                Some((file, m, _)) => read_partial(&file, &m, index),
                None => read_checked(store.as_ref(), &blobs, &manifests, &manifest, index),
            },
            channel,
            product,
            manifest,
            index,
        });
    }

    /// A chunk read for serving is back from the disk: answer with it.
    pub(super) fn on_served(
        &mut self,
        channel: ResponseChannel<Response>,
        product: &ProductId,
        manifest: &Hash,
        index: u32,
        outcome: Result<Vec<u8>, Unservable>,
    ) {
        let response = match outcome {
            Ok(bytes) => {
                self.metrics.served(bytes.len());
                Response::Chunk(mesh_protocol::bytes::ByteBuf(bytes))
            }
            Err(Unservable::Damaged) => {
                warn!(%product, index, "local copy is damaged; no longer serving it");
                let key = fetching::provider_key(manifest);
                self.swarm.behaviour_mut().kad.stop_providing(&key);
                Response::error(ErrorCode::NotHeld, "local copy damaged")
            }
            Err(Unservable::NotHeld(message)) => Response::error(ErrorCode::NotHeld, message),
            Err(Unservable::Busy(message)) => Response::error(ErrorCode::Busy, message),
        };
        let _ = self
            .swarm
            .behaviour_mut()
            .rr
            .send_response(channel, response);
    }

    /// Hands a fetched chunk to the disk pool to be checked and written.
    /// `false` when the job has no file or manifest (it ended meanwhile).
    pub(super) fn store_chunk(
        &mut self,
        id: FetchId,
        index: u32,
        peer: PeerId,
        bytes: Vec<u8>,
    ) -> bool {
        let Some(job) = self.jobs.get(&id) else {
            return false;
        };
        let (Some(file), Some(manifest)) = (job.file(), job.manifest()) else {
            return false;
        };
        self.disk.run(move || Internal::Stored {
            outcome: check_and_write(&file, &manifest, index, &bytes),
            id,
            index,
            peer,
            len: bytes.len(),
        });
        true
    }

    /// A fetched chunk is back from the disk: count it, or drop its
    /// provider, or end the job on a write error.
    pub(super) fn on_stored(
        &mut self,
        id: FetchId,
        index: u32,
        peer: PeerId,
        len: usize,
        outcome: Stored,
    ) {
        match outcome {
            Stored::Written => self.chunk_written(id, index, peer, len),
            Stored::Corrupt => self.chunk_corrupt(id, index, peer),
            Stored::Failed(e) => {
                if let Some(job) = self.jobs.remove(&id) {
                    self.fail_job(job, FetchError::Local(e));
                }
                return;
            }
        }
        self.after_chunk(id);
    }
}
