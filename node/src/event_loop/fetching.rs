//! The fetch side of the data plane, run inside the event loop.
//!
//! Per job: probe candidate providers (connected peers, DHT providers) with
//! `GetManifest`; take the first manifest that matches the descriptor; keep
//! at most [`WINDOW_PER_PEER`] chunk requests per provider and
//! [`WINDOW`] per job in flight; verify each chunk before writing it at its
//! offset; requeue a failed or bad chunk for another provider and stop using
//! a provider that served bad data. Every [`SYNC_EVERY`] chunks the partial
//! file is synced and the job's record (its bitmap of verified chunks) is
//! written to the store, which is what makes a restart resume.
//!
//! A job pins its blob (see [`crate::blobs::Pin`]) from start to end, so the
//! collector never removes bytes a running fetch reads or writes. The copy
//! to each output runs on a blocking thread (it may be gigabytes); the job
//! comes back to the loop to answer its waiters.
//!
//! Here: starting, probing, scheduling and taking chunk responses;
//! `fetching/durable.rs` syncs, pauses and finishes jobs,
//! `fetching/partial.rs` runs the jobs that want only some chunks.

mod durable;
mod partial;
mod swarm;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use libp2p::PeerId;
use libp2p::kad::RecordKey;
use mesh_protocol::descriptor::Descriptor;
use mesh_protocol::wire::{ErrorCode, Request, Response};
use mesh_protocol::{CatalogItem, Hash, Manifest, ProductId, encoding};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::{EventLoop, Pending};
use crate::blobs::Pin;
use crate::fetch::{FetchError, FetchId, FetchProgress, FetchRecord, FetchState};

use crate::fetch::FetchStarted;

/// Most chunk requests in flight per job.
const WINDOW: usize = 64;
/// Most chunk requests in flight per provider per job.
const WINDOW_PER_PEER: usize = 32;
/// Sync and record progress every this many chunks.
const SYNC_EVERY: u32 = 64;
/// Most peers probed at once.
const MAX_PROBES: usize = 32;
/// A provider that fails this many requests in a row is dropped.
const MAX_FAILURES: u32 = 3;
/// Re-probe for providers this often while none is serving.
const REPROBE: Duration = Duration::from_secs(1);
/// Give up when no chunk arrived for this long.
const STALL_DEADLINE: Duration = Duration::from_secs(120);

/// Records of jobs just paused (cancelled or failed) kept in memory, for a
/// fetch that starts again before the journal has written them.
const PAUSING_KEPT: usize = 16;

/// The DHT key under which holders of a manifest's bytes announce themselves.
pub(crate) fn provider_key(manifest: &Hash) -> RecordKey {
    RecordKey::new(&format!("meshd/blob/{manifest}"))
}

#[derive(Default)]
struct Provider {
    inflight: usize,
    failures: u32,
    /// Answered "busy": not asked again before this instant.
    busy_until: Option<Instant>,
    /// Which chunks it holds, once it said (`swarm.rs`).
    have: Option<mesh_protocol::wire::Have>,
    /// A [`Request::GetHave`] to it is in flight.
    asking: bool,
    /// When it was last asked which chunks it holds.
    asked: Option<Instant>,
}

/// How long a provider that answered "busy" is left alone.
const BUSY_BACKOFF: Duration = Duration::from_millis(100);

/// One fetch in progress.
pub(crate) struct Job {
    id: FetchId,
    descriptor: Descriptor,
    manifest: Option<Arc<Manifest>>,
    providers: HashMap<PeerId, Provider>,
    probing: HashSet<PeerId>,
    bad: HashSet<PeerId>,
    denied: HashSet<PeerId>,
    queue: VecDeque<u32>,
    inflight: usize,
    record: FetchRecord,
    file: Option<Arc<std::fs::File>>,
    unsynced: u32,
    syncing: bool,
    progress: FetchProgress,
    watch: watch::Sender<FetchProgress>,
    /// Everyone waiting, each with the output path they asked for.
    replies: Vec<(oneshot::Sender<Result<PathBuf, FetchError>>, PathBuf)>,
    /// Waiting for the result without an output of their own (the API
    /// following a fetch resumed at start).
    observers: Vec<oneshot::Sender<Result<PathBuf, FetchError>>>,
    /// Only these chunks, for a preview (`None`: the whole product).
    want: Option<BTreeSet<u32>>,
    /// Waiting for some of the chunks (previews).
    partial: Vec<partial::Waiter>,
    /// Keeps the collector off this job's blob and partial file.
    _pin: Pin,
    started: Instant,
    last_probe: Instant,
    last_chunk: Instant,
}

impl Job {
    /// The peers this fetch is getting bytes from, or may.
    pub(super) fn peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.providers.keys().copied()
    }

    /// The partial file chunks are written to, once the job has one.
    pub(super) fn file(&self) -> Option<Arc<std::fs::File>> {
        self.file.clone()
    }

    /// The manifest chunks are checked against, once the job has one.
    pub(super) fn manifest(&self) -> Option<Arc<Manifest>> {
        self.manifest.clone()
    }
}

impl EventLoop {
    /// Starts (or joins, or resumes) a fetch of a product's current version.
    pub(crate) fn start_fetch(
        &mut self,
        product: &ProductId,
        version: Option<u64>,
        output: PathBuf,
    ) -> Result<FetchStarted, FetchError> {
        let descriptor = self.fetchable(product, version)?;
        let hash = descriptor.content.manifest_hash;
        // An empty output means "into the store only" (`mesh check`,
        // a later export): nothing to check or write.
        if !output.as_os_str().is_empty() {
            crate::blobs::check_output(&output).map_err(|e| FetchError::Output(e.to_string()))?;
        }
        let (reply, result) = oneshot::channel();
        // The same bytes already being fetched: join that job.
        if let Some(job) = self.jobs.values_mut().find(|j| j.record.manifest == hash) {
            job.replies.push((reply, output));
            let started = (job.id, job.watch.subscribe(), result);
            self.make_full(started.0);
            return Ok(started);
        }
        let mut record = self.stored_record(&descriptor);
        record.output = output.display().to_string();
        let mut job = self.new_job(descriptor, record);
        job.replies.push((reply, output));
        let id = job.id;
        let watch_rx = job.watch.subscribe();
        info!(product = %job.descriptor.id, version = job.descriptor.version, fetch = id, "fetch started");
        self.jobs.insert(id, job);
        // Bytes already held (our own product, or fetched before): check
        // them on a blocking thread (bit rot; outputs are copies, so no
        // user edit reaches them).
        if self.blobs.has(&hash)
            && let Ok(Some(manifest)) = self.store.manifest(&hash)
        {
            let blobs = self.blobs.clone();
            let done = self.internal.clone();
            tokio::task::spawn_blocking(move || {
                let ok = blobs.verify(&manifest).is_ok();
                let _ = done.blocking_send(super::Internal::BlobChecked { id, ok });
            });
        } else {
            self.start_network_fetch(id);
        }
        Ok((id, watch_rx, result))
    }

    /// The descriptor a fetch of `product` (at `version`, or its current
    /// one) gets bytes for.
    fn fetchable(
        &self,
        product: &ProductId,
        version: Option<u64>,
    ) -> Result<Descriptor, FetchError> {
        let descriptor = match self.catalog.get(product) {
            None => return Err(FetchError::UnknownProduct(product.to_string())),
            Some(CatalogItem::Withdrawal(_)) => {
                return Err(FetchError::Withdrawn(product.to_string()));
            }
            Some(CatalogItem::Descriptor(d)) => d.value.clone(),
        };
        if let Some(wanted) = version
            && wanted != descriptor.version
        {
            return Err(FetchError::UnknownVersion {
                product: product.to_string(),
                wanted,
                current: descriptor.version,
            });
        }
        Ok(descriptor)
    }

    /// A job for `descriptor`'s bytes, nobody waiting yet.
    fn new_job(&mut self, descriptor: Descriptor, record: FetchRecord) -> Job {
        let hash = descriptor.content.manifest_hash;
        let id = self.next_job;
        self.next_job += 1;
        let progress = new_progress(id, &descriptor);
        let (watch, _) = watch::channel(progress.clone());
        let now = Instant::now();
        Job {
            id,
            descriptor,
            manifest: None,
            providers: HashMap::new(),
            probing: HashSet::new(),
            bad: HashSet::new(),
            denied: HashSet::new(),
            queue: VecDeque::new(),
            inflight: 0,
            record,
            file: None,
            unsynced: 0,
            syncing: false,
            progress,
            watch,
            replies: Vec::new(),
            observers: Vec::new(),
            want: None,
            partial: Vec::new(),
            _pin: self.blobs.pin(hash),
            started: now,
            last_probe: now,
            last_chunk: now,
        }
    }

    /// The record of an interrupted (active) or cancelled (paused) fetch of
    /// these bytes, or a fresh one.
    fn stored_record(&self, descriptor: &Descriptor) -> FetchRecord {
        let hash = descriptor.content.manifest_hash;
        let stored = |key: String| {
            self.store
                .meta(&key)
                .ok()
                .flatten()
                .and_then(|b| encoding::from_bytes::<FetchRecord>(&b, 1 << 20).ok())
        };
        // A job paused a moment ago may still have its record on the
        // journal's queue: the copy kept here is at least as new.
        let pausing = self.pausing.iter().find(|r| r.manifest == hash).cloned();
        pausing
            .or_else(|| stored(FetchRecord::key(&hash)))
            .or_else(|| stored(FetchRecord::paused_key(&hash)))
            .filter(|r| r.product == descriptor.id && r.version == descriptor.version)
            .unwrap_or_else(|| FetchRecord {
                product: descriptor.id.clone(),
                version: descriptor.version,
                manifest: hash,
                output: String::new(),
                done: Vec::new(),
            })
    }

    /// The held blob of a job was checked: export it, or fetch afresh.
    pub(super) fn on_blob_checked(&mut self, id: FetchId, ok: bool) {
        let Some(job) = self.jobs.remove(&id) else {
            return;
        };
        if ok {
            self.complete_from_blob(job);
            return;
        }
        let hash = job.record.manifest;
        warn!(product = %job.descriptor.id, "held copy is damaged; fetching it again");
        self.blobs.remove(&hash);
        self.swarm
            .behaviour_mut()
            .kad
            .stop_providing(&provider_key(&hash));
        self.jobs.insert(id, job);
        self.start_network_fetch(id);
    }

    fn start_network_fetch(&mut self, id: FetchId) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        let hash = job.record.manifest;
        let key = FetchRecord::key(&hash);
        if self.pausing.iter().any(|r| r.manifest == hash) {
            // The record of a job just paused is still on the journal's
            // queue: this one goes behind it, or the pause would delete it.
            self.journal_record(key, job.record.clone());
        } else {
            // A started fetch is acknowledged at once: its record is written
            // before (one small write per fetch).
            let _ = self.store.put_meta(&key, &encoding::to_bytes(&job.record));
        }
        self.find_providers(id, &hash);
    }

    /// Writes a fetch record under `key`, on the journal.
    pub(super) fn journal_record(&self, key: String, record: FetchRecord) {
        let store = self.store.clone();
        self.disk.journal(move || {
            if let Err(e) = store.put_meta(&key, &encoding::to_bytes(&record)) {
                warn!(error = %e, "cannot record fetch progress");
            }
            None
        });
    }

    /// Asks the peers already connected (the probe) and the DHT who holds
    /// the bytes of job `id`.
    pub(super) fn find_providers(&mut self, id: FetchId, hash: &Hash) {
        self.probe(id);
        let query = self
            .swarm
            .behaviour_mut()
            .kad
            .get_providers(provider_key(hash));
        self.provider_queries.insert(query, id);
    }

    /// Resumes every fetch recorded in the store (after a restart).
    pub(super) fn resume_fetches(&mut self) {
        let records = self.store.metas(FetchRecord::PREFIX).unwrap_or_default();
        for (key, bytes) in records {
            let Ok(record) = encoding::from_bytes::<FetchRecord>(&bytes, 1 << 20) else {
                let _ = self.store.delete_meta(&key);
                continue;
            };
            info!(product = %record.product, "resuming interrupted fetch");
            let output = PathBuf::from(&record.output);
            if let Err(e) = self.start_fetch(&record.product, Some(record.version), output) {
                warn!(product = %record.product, error = %e, "interrupted fetch cannot resume");
                let _ = self.store.delete_meta(&key);
            }
        }
    }

    fn probe(&mut self, id: FetchId) {
        let peers: Vec<PeerId> = self
            .swarm
            .connected_peers()
            .copied()
            .take(MAX_PROBES)
            .collect();
        self.probe_peers(id, peers);
    }

    pub(super) fn probe_peers(&mut self, id: FetchId, peers: Vec<PeerId>) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.last_probe = Instant::now();
        let product = job.descriptor.id.clone();
        let manifest = job.record.manifest;
        let mut targets = Vec::new();
        for peer in peers {
            if !job.providers.contains_key(&peer)
                && !job.bad.contains(&peer)
                && job.probing.insert(peer)
            {
                targets.push(peer);
            }
        }
        for peer in targets {
            let frame = self.frame(Request::GetManifest {
                product: product.clone(),
                manifest,
            });
            let rid = self.swarm.behaviour_mut().rr.send_request(&peer, frame);
            self.pending.insert(rid, (peer, Pending::Probe(id)));
        }
    }

    /// Periodic upkeep: re-probe stalled jobs, fail dead ones.
    pub(super) fn tick_fetches(&mut self) {
        let now = Instant::now();
        let ids: Vec<FetchId> = self.jobs.keys().copied().collect();
        for id in ids {
            let Some(job) = self.jobs.get(&id) else {
                continue;
            };
            if now.duration_since(job.last_chunk) > STALL_DEADLINE {
                let product = job.descriptor.id.to_string();
                let error = if job.denied.is_empty() {
                    FetchError::NoProviders(product)
                } else {
                    FetchError::Denied(product)
                };
                if let Some(job) = self.jobs.remove(&id) {
                    self.fail_job(job, error);
                }
                continue;
            }
            if !job.queue.is_empty() && !job.providers.is_empty() {
                self.schedule(id);
            }
            let Some(job) = self.jobs.get(&id) else {
                continue;
            };
            if job.providers.is_empty() && now.duration_since(job.last_probe) > REPROBE {
                // Forget old probes so restarted peers are asked again.
                if let Some(job) = self.jobs.get_mut(&id) {
                    job.probing.clear();
                    job.denied.clear();
                }
                self.probe(id);
            } else if job.manifest.is_some()
                && now.duration_since(job.last_probe) > swarm::SWARM_REPROBE
            {
                // Peers that began fetching the same bytes since.
                self.probe(id);
            }
        }
    }

    /// A provider answered a probe.
    pub(super) fn on_probe(&mut self, id: FetchId, peer: PeerId, response: Response) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.probing.remove(&peer);
        match response {
            Response::Manifest(_) if job.bad.contains(&peer) => {}
            Response::Manifest(manifest) => {
                if manifest.check_against(&job.descriptor.content).is_err() {
                    warn!(%peer, "provider sent a manifest that does not match the descriptor");
                    job.bad.insert(peer);
                    return;
                }
                if job.manifest.is_none()
                    && let Err(e) = self.open_job(id, manifest)
                {
                    if let Some(job) = self.jobs.remove(&id) {
                        self.fail_job(job, FetchError::Local(e.to_string()));
                    }
                    return;
                }
                let new = self.jobs.get_mut(&id).is_some_and(|job| {
                    job.denied.remove(&peer);
                    let new = !job.providers.contains_key(&peer);
                    job.providers.entry(peer).or_default();
                    new
                });
                // Which chunks it holds: it may be fetching them too.
                if new {
                    self.ask_have(id, peer);
                }
            }
            Response::Error {
                code: ErrorCode::Denied,
                ..
            } => {
                job.denied.insert(peer);
                // Everyone asked has answered, and whoever holds it refuses.
                let querying = self.provider_queries.values().any(|j| *j == id);
                if job.providers.is_empty()
                    && job.probing.is_empty()
                    && job.manifest.is_none()
                    && !querying
                {
                    let error = FetchError::Denied(job.descriptor.id.to_string());
                    if let Some(job) = self.jobs.remove(&id) {
                        self.fail_job(job, error);
                    }
                }
            }
            other => debug!(%peer, ?other, "peer does not provide"),
        }
    }

    fn open_job(&mut self, id: FetchId, manifest: Manifest) -> std::io::Result<()> {
        let Some(job) = self.jobs.get_mut(&id) else {
            return Ok(());
        };
        let file = self
            .blobs
            .open_partial(&job.record.manifest, manifest.size)?;
        let count = u32::try_from(manifest.chunk_count()).unwrap_or(u32::MAX);
        job.progress.chunks_total = count;
        for i in 0..count {
            if job.record.has(i) {
                job.progress.chunks_done += 1;
                job.progress.chunks_resumed += 1;
                job.progress.bytes_done += manifest.chunk_len(i).unwrap_or(0);
            } else if job.want.as_ref().is_none_or(|want| want.contains(&i)) {
                job.queue.push_back(i);
            }
        }
        if job.want.is_none() {
            let local = *self.swarm.local_peer_id();
            let offset = swarm::start_offset(&local, &job.record.manifest, job.queue.len());
            job.queue.rotate_left(offset);
        }
        job.file = Some(Arc::new(file));
        job.progress.state = FetchState::Fetching;
        job.manifest = Some(Arc::new(manifest));
        let _ = job.watch.send(job.progress.clone());
        let partial = job.want.is_some();
        if job.queue.is_empty()
            && let Some(job) = self.jobs.remove(&id)
        {
            if partial {
                self.finish_partial(job);
            } else {
                self.complete(job);
            }
        }
        Ok(())
    }

    /// Fills the request window.
    fn schedule(&mut self, id: FetchId) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let mut sends = Vec::new();
        // Chunks no provider with room holds, put back in order.
        let mut skipped = Vec::new();
        let now = Instant::now();
        let ready =
            |p: &Provider| p.inflight < WINDOW_PER_PEER && p.busy_until.is_none_or(|t| t <= now);
        while job.inflight < WINDOW && job.providers.values().any(|p| ready(p) && p.have.is_some())
        {
            let Some(index) = job.queue.pop_front() else {
                break;
            };
            let best = job
                .providers
                .iter()
                .filter(|(_, p)| ready(p) && p.may_serve(index))
                .min_by_key(|(_, p)| p.inflight)
                .map(|(peer, _)| *peer);
            let Some(peer) = best else {
                skipped.push(index);
                continue;
            };
            if let Some(p) = job.providers.get_mut(&peer) {
                p.inflight += 1;
            }
            job.inflight += 1;
            sends.push((peer, index));
        }
        for index in skipped.into_iter().rev() {
            job.queue.push_front(index);
        }
        let product = job.descriptor.id.clone();
        let manifest = job.record.manifest;
        job.progress.providers = job.providers.keys().map(ToString::to_string).collect();
        for (peer, index) in sends {
            let frame = self.frame(Request::GetChunk {
                product: product.clone(),
                manifest,
                index,
            });
            let rid = self.swarm.behaviour_mut().rr.send_request(&peer, frame);
            self.pending.insert(rid, (peer, Pending::Chunk(id, index)));
        }
        self.refresh_haves(id);
    }

    /// A chunk request ended: with bytes, a refusal or a failure (`None`).
    /// Bytes go to the disk pool to be checked and written; the job's
    /// window keeps counting them until [`Self::on_stored`].
    pub(super) fn on_chunk(
        &mut self,
        id: FetchId,
        index: u32,
        peer: PeerId,
        response: Option<Response>,
    ) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        if let Some(p) = job.providers.get_mut(&peer) {
            p.inflight = p.inflight.saturating_sub(1);
        }
        if job.manifest.is_none() {
            job.inflight = job.inflight.saturating_sub(1);
            return;
        }
        if let Some(Response::Chunk(bytes)) = response {
            if self.store_chunk(id, index, peer, bytes.0) {
                return;
            }
            if let Some(job) = self.jobs.get_mut(&id) {
                job.inflight = job.inflight.saturating_sub(1);
                job.queue.push_front(index);
            }
            return;
        }
        job.inflight = job.inflight.saturating_sub(1);
        match response {
            Some(Response::Error {
                code: ErrorCode::Busy,
                ..
            }) => {
                job.queue.push_front(index);
                if let Some(p) = job.providers.get_mut(&peer) {
                    p.busy_until = Some(Instant::now() + BUSY_BACKOFF);
                }
            }
            other => {
                if let Some(Response::Error { code, message }) = &other {
                    debug!(%peer, index, ?code, %message, "chunk refused");
                }
                job.queue.push_back(index);
                let drop = match job.providers.get_mut(&peer) {
                    Some(p) => {
                        p.failures += 1;
                        p.failures >= MAX_FAILURES
                    }
                    None => false,
                };
                if drop {
                    job.providers.remove(&peer);
                }
            }
        }
        self.after_chunk(id);
    }

    /// A fetched chunk is verified and written: count it.
    pub(super) fn chunk_written(&mut self, id: FetchId, index: u32, peer: PeerId, len: usize) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.inflight = job.inflight.saturating_sub(1);
        job.record.set(index);
        job.unsynced += 1;
        job.last_chunk = Instant::now();
        if let Some(p) = job.providers.get_mut(&peer) {
            p.failures = 0;
        }
        job.progress.chunks_done += 1;
        job.progress.chunks_fetched += 1;
        *job.progress
            .chunks_by_provider
            .entry(peer.to_string())
            .or_default() += 1;
        job.progress.bytes_done += len as u64;
        self.metrics.fetched(len);
        job.progress.rate_bytes_per_s = rate(job.progress.bytes_done, job.started);
    }

    /// A provider served a chunk its manifest does not name: stop using
    /// it and ask someone else.
    pub(super) fn chunk_corrupt(&mut self, id: FetchId, index: u32, peer: PeerId) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.inflight = job.inflight.saturating_sub(1);
        warn!(%peer, index, "provider served a corrupted chunk; dropping it");
        job.progress.bad_chunks += 1;
        self.metrics.bad_chunk();
        job.bad.insert(peer);
        job.progress.bad_providers = job.bad.iter().map(ToString::to_string).collect();
        job.providers.remove(&peer);
        job.queue.push_front(index);
    }

    /// After a chunk's outcome: finish the job, sync it, or ask for more.
    pub(super) fn after_chunk(&mut self, id: FetchId) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        if job.want.is_some() {
            self.on_partial_chunk(id);
            return;
        }
        let done = job.progress.chunks_done >= job.progress.chunks_total;
        let sync = job.unsynced >= SYNC_EVERY && !job.syncing;
        self.answer_partials(id);
        if done {
            if let Some(job) = self.jobs.remove(&id) {
                self.complete(job);
            }
            return;
        }
        if sync {
            self.start_sync_job(id);
        }
        if let Some(job) = self.jobs.get(&id) {
            let _ = job.watch.send(job.progress.clone());
        }
        self.schedule(id);
    }

    /// Handles to follow every running job (for the API after a restart:
    /// the jobs resumed at start have no other follower).
    pub(super) fn running_fetches(&mut self) -> Vec<FetchStarted> {
        self.jobs
            .values_mut()
            .filter(|job| job.want.is_none())
            .map(|job| {
                let (tx, rx) = oneshot::channel();
                job.observers.push(tx);
                (job.id, job.watch.subscribe(), rx)
            })
            .collect()
    }
}

/// The progress of a job that has not started.
fn new_progress(id: FetchId, descriptor: &Descriptor) -> FetchProgress {
    let content = &descriptor.content;
    FetchProgress {
        id,
        product: descriptor.id.clone(),
        version: descriptor.version,
        state: FetchState::Finding,
        bytes_done: 0,
        bytes_total: content.size,
        chunks_done: 0,
        chunks_total: u32::try_from(content.size.div_ceil(u64::from(content.chunk_size)))
            .unwrap_or(u32::MAX),
        chunks_fetched: 0,
        chunks_resumed: 0,
        bad_chunks: 0,
        providers: Vec::new(),
        bad_providers: Vec::new(),
        chunks_by_provider: std::collections::BTreeMap::new(),
        rate_bytes_per_s: 0.0,
        profile: None,
        error: None,
    }
}

/// Average rate in bytes per second since `started`.
#[allow(
    clippy::cast_precision_loss,
    reason = "a display figure: 52 bits of mantissa cover any real byte count"
)]
fn rate(bytes: u64, started: Instant) -> f64 {
    bytes as f64 / started.elapsed().as_secs_f64().max(1e-3)
}
