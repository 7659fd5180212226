//! Fetching from peers that are fetching too: the swarm effect.
//!
//! A node serves the chunks it has verified while its own fetch of the
//! product runs (`serving.rs`, `chunks.rs`), so eight nodes fetching one
//! product at once take much of it from each other rather than all of it
//! from its owner. The exchange is BitTorrent's (BEP 3, "The BitTorrent
//! Protocol Specification"): a peer says which pieces it has (its bitfield,
//! here [`Request::GetHave`] answered by [`Have`]), and a downloader asks
//! each peer only for pieces it has. Three rules from it are kept here:
//!
//! - a provider is asked for a chunk only if its last [`Have`] names it
//!   ([`Provider::may_serve`], used by `schedule`);
//! - a partial provider that has nothing more to give is asked again for
//!   its bitfield, at most every [`HAVE_REFRESH`] (the pull form of BEP 3's
//!   `have` messages; [`EventLoop::refresh_haves`]);
//! - downloaders do not all start at piece 0: each node begins its fetch at
//!   its own offset ([`start_offset`]), so peers hold different chunks and
//!   have something to give each other (BEP 3 picks pieces at random; an
//!   offset per node keeps each node's writes sequential).
//!
//! A peer that answered a probe with the manifest but does not understand
//! [`Request::GetHave`] (an older node) holds the whole product, as it did
//! before: it is treated as [`Have::All`].

use libp2p::PeerId;
use mesh_protocol::Hash;
use mesh_protocol::wire::{Have, Request, Response};
use tokio::time::{Duration, Instant};
use tracing::warn;

use super::{Job, Provider};
use crate::event_loop::{EventLoop, Pending};
use crate::fetch::FetchId;

/// A partial provider with nothing left to give is asked for its chunks
/// again at most this often.
pub(super) const HAVE_REFRESH: Duration = Duration::from_millis(250);

/// Connected peers that are not yet providers of a running job are asked
/// again this often: a peer that starts fetching the same product after
/// this job started becomes a provider.
pub(super) const SWARM_REPROBE: Duration = Duration::from_secs(1);

/// Where a node starts fetching a product of `count` chunks: a position
/// drawn from its own peer id and the manifest, so nodes fetching the same
/// bytes start at different chunks, and one node always at the same.
pub(super) fn start_offset(local: &PeerId, manifest: &Hash, count: usize) -> usize {
    if count == 0 {
        return 0;
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update(&local.to_bytes());
    hasher.update(&manifest.0);
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_bytes()[..8]);
    usize::try_from(u64::from_le_bytes(first) % count as u64).unwrap_or(0)
}

impl Provider {
    /// Whether this provider may be asked for chunk `index`: it said it
    /// holds it (a provider not yet heard from is asked nothing).
    pub(super) fn may_serve(&self, index: u32) -> bool {
        self.have.as_ref().is_some_and(|h| h.has(index))
    }
}

impl Job {
    /// Whether this job has verified and written chunk `index`.
    pub(crate) fn has(&self, index: u32) -> bool {
        self.record.has(index)
    }

    /// The chunks this job has verified and written, to tell other peers.
    pub(crate) fn have(&self) -> Have {
        Have::Some(mesh_protocol::bytes::ByteBuf(self.record.done.clone()))
    }
}

impl EventLoop {
    /// The running job fetching the bytes `manifest` names, if any.
    pub(crate) fn fetching(&self, manifest: &Hash) -> Option<&Job> {
        self.jobs.values().find(|j| j.record.manifest == *manifest)
    }

    /// Asks `peer` which chunks of job `id` it holds.
    pub(super) fn ask_have(&mut self, id: FetchId, peer: PeerId) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let Some(p) = job.providers.get_mut(&peer) else {
            return;
        };
        p.asking = true;
        p.asked = Some(Instant::now());
        let request = Request::GetHave {
            product: job.descriptor.id.clone(),
            manifest: job.record.manifest,
        };
        let frame = self.frame(request);
        let rid = self.swarm.behaviour_mut().rr.send_request(&peer, frame);
        self.pending.insert(rid, (peer, Pending::Have(id)));
    }

    /// A provider said which chunks it holds (`None`: the request failed).
    pub(crate) fn on_have(&mut self, id: FetchId, peer: PeerId, response: Option<Response>) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let chunks = job.manifest.as_ref().map_or(0, |m| m.chunk_count());
        let Some(p) = job.providers.get_mut(&peer) else {
            return;
        };
        p.asking = false;
        match response {
            Some(Response::Have(have)) if have.fits(chunks) => p.have = Some(have),
            Some(Response::Have(_)) => {
                warn!(%peer, "provider sent a bitfield longer than the manifest; dropping it");
                job.providers.remove(&peer);
                job.bad.insert(peer);
                return;
            }
            // It gave the manifest and does not say which chunks: it holds
            // them all, as every provider did before bitfields.
            _ => p.have = Some(Have::All),
        }
        self.schedule(id);
    }

    /// Asks again, for their chunks, the partial providers of job `id`
    /// that had nothing to give and were not asked for [`HAVE_REFRESH`].
    pub(super) fn refresh_haves(&mut self, id: FetchId) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        if job.queue.is_empty() {
            return;
        }
        let now = Instant::now();
        let stale: Vec<PeerId> = job
            .providers
            .iter()
            .filter(|(_, p)| {
                matches!(p.have, Some(Have::Some(_)))
                    && !p.asking
                    && p.inflight == 0
                    && p.asked
                        .is_none_or(|t| now.duration_since(t) >= HAVE_REFRESH)
            })
            .map(|(peer, _)| *peer)
            .collect();
        for peer in stale {
            self.ask_have(id, peer);
        }
    }
}
