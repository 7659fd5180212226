//! Fetching some chunks of a product, not all of it: what a preview of a
//! product this node does not hold needs (the first chunks of a CSV, the
//! footer and first row group of a Parquet file).
//!
//! A partial job is an ordinary fetch job limited to the wanted chunks:
//! the same providers, probes, access checks and chunk verification, and
//! the verified chunks land in the product's partial file and fetch record
//! as any fetch's do. What differs is the end: the record is kept under the
//! paused key, so the product is never recorded as held, a later full fetch
//! resumes from those chunks, and a restart does not turn a preview into a
//! download. A full fetch of the same bytes that starts meanwhile turns the
//! partial job into a full one.

use std::collections::BTreeSet;
use std::path::PathBuf;

use mesh_protocol::{ProductId, encoding};
use tracing::{debug, warn};

use super::{FetchError, FetchRecord, Job};
use crate::event_loop::EventLoop;
use crate::fetch::{Chunks, ChunksReply};

/// A waiter for some chunks.
pub(super) struct Waiter {
    chunks: BTreeSet<u32>,
    reply: ChunksReply,
}

impl EventLoop {
    /// Fetches `chunks` of a product (or joins a fetch already getting
    /// them) and answers once they are all verified.
    pub(crate) fn fetch_chunks(
        &mut self,
        product: &ProductId,
        version: Option<u64>,
        chunks: BTreeSet<u32>,
        reply: ChunksReply,
    ) {
        let descriptor = match self.fetchable(product, version) {
            Ok(d) => d,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let hash = descriptor.content.manifest_hash;
        if self.blobs.has(&hash) {
            let _ = reply.send(Ok(Chunks::Held));
            return;
        }
        let count = descriptor
            .content
            .size
            .div_ceil(u64::from(descriptor.content.chunk_size.max(1)));
        let chunks: BTreeSet<u32> = chunks
            .into_iter()
            .filter(|i| u64::from(*i) < count)
            .collect();
        if let Some(job) = self.jobs.values_mut().find(|j| j.record.manifest == hash) {
            let id = job.id;
            if let Some(want) = &mut job.want {
                let new: Vec<u32> = chunks
                    .iter()
                    .copied()
                    .filter(|i| !job.record.has(*i) && want.insert(*i))
                    .collect();
                if job.manifest.is_some() {
                    job.queue.extend(new);
                }
            }
            job.partial.push(Waiter { chunks, reply });
            self.answer_partials(id);
            self.schedule(id);
            return;
        }
        let record = self.stored_record(&descriptor);
        if chunks.iter().all(|i| record.has(*i)) {
            let path = self.blobs.partial_path(&hash);
            let _ = reply.send(Ok(Chunks::Partial { path, record }));
            return;
        }
        debug!(%product, chunks = chunks.len(), "partial fetch started");
        let mut job = self.new_job(descriptor, record);
        job.want = Some(chunks.clone());
        job.partial.push(Waiter { chunks, reply });
        let id = job.id;
        self.jobs.insert(id, job);
        self.find_providers(id, &hash);
    }

    /// A chunk of a partial job ended: answer who can be, end the job
    /// once every wanted chunk is in, or ask for more.
    pub(super) fn on_partial_chunk(&mut self, id: super::FetchId) {
        let done = self
            .jobs
            .get(&id)
            .is_some_and(|job| job.queue.is_empty() && job.inflight == 0);
        self.answer_partials(id);
        if done && let Some(job) = self.jobs.remove(&id) {
            self.finish_partial(job);
        } else {
            self.schedule(id);
        }
    }

    /// Answers every waiter whose chunks are all verified now.
    pub(super) fn answer_partials(&mut self, id: super::FetchId) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        if job.partial.is_empty() {
            return;
        }
        let path = self.blobs.partial_path(&job.record.manifest);
        let (ready, waiting): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut job.partial)
            .into_iter()
            .partition(|w| w.chunks.iter().all(|i| job.record.has(*i)));
        job.partial = waiting;
        for waiter in ready {
            let _ = waiter.reply.send(Ok(Chunks::Partial {
                path: path.clone(),
                record: job.record.clone(),
            }));
        }
    }

    /// A full fetch joined a partial job: fetch everything from now on.
    pub(super) fn make_full(&mut self, id: super::FetchId) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let Some(want) = job.want.take() else {
            return;
        };
        if let Some(manifest) = &job.manifest {
            let count = u32::try_from(manifest.chunk_count()).unwrap_or(u32::MAX);
            job.queue
                .extend((0..count).filter(|i| !job.record.has(*i) && !want.contains(i)));
        }
        let key = FetchRecord::key(&job.record.manifest);
        // The full fetch is acknowledged at once: its record is written
        // before (a running job has no pause queued).
        let _ = self.store.put_meta(&key, &encoding::to_bytes(&job.record));
        self.schedule(id);
    }

    /// A partial job has every chunk it wanted: sync them and keep the
    /// record paused, on the journal behind the job's syncs.
    pub(super) fn finish_partial(&mut self, mut job: Job) {
        let store = self.store.clone();
        let path = self.blobs.partial_path(&job.record.manifest);
        self.disk.journal(move || {
            let synced = job.file.take().map_or(Ok(()), |f| f.sync_data());
            let key = FetchRecord::paused_key(&job.record.manifest);
            let kept = synced.map_err(|e| e.to_string()).and_then(|()| {
                store
                    .put_meta(&key, &encoding::to_bytes(&job.record))
                    .map_err(|e| e.to_string())
            });
            if let Err(e) = &kept {
                warn!(product = %job.descriptor.id, error = %e, "cannot keep previewed chunks");
            }
            for waiter in std::mem::take(&mut job.partial) {
                let answer = match &kept {
                    Ok(()) if waiter.chunks.iter().all(|i| job.record.has(*i)) => {
                        Ok(Chunks::Partial {
                            path: path.clone(),
                            record: job.record.clone(),
                        })
                    }
                    Ok(()) => Err(FetchError::NoProviders(job.descriptor.id.to_string())),
                    Err(e) => Err(FetchError::Local(e.clone())),
                };
                let _ = waiter.reply.send(answer);
            }
            // The job (and its pin on the partial file) ends here, after
            // its record is stored: the collector keeps what a record names.
            drop(job);
            None
        });
    }
}

/// Answers waiters at a job's end: with the whole product, or its error.
pub(super) fn end_partials(job: &mut Job, result: &Result<PathBuf, FetchError>) {
    for waiter in std::mem::take(&mut job.partial) {
        let answer = match result {
            Ok(_) => Ok(Chunks::Held),
            Err(e) => Err(e.clone()),
        };
        let _ = waiter.reply.send(answer);
    }
}
