//! How a fetch is made durable and how it ends: the partial file synced
//! and its record written (every `SYNC_EVERY` chunks, on the journal), a
//! pause on cancel or failure (told to waiters once recorded), and the
//! finish: fsync, manifest, rename among the blobs, then the copy to each
//! output and the profile check, off the loop.

use std::path::PathBuf;

use mesh_protocol::encoding;
use tracing::{info, warn};

use super::{EventLoop, Job, PAUSING_KEPT, SYNC_EVERY, partial, provider_key};
use crate::events::NodeEvent;
use crate::fetch::{FetchError, FetchId, FetchRecord, FetchState};

impl EventLoop {
    /// Ends a job with an error. Its record moves to the paused key: a later
    /// fetch of the same bytes resumes, a restart does not retry forever.
    pub(in crate::event_loop) fn fail_job(&mut self, job: Job, error: FetchError) {
        self.metrics.fetch_ended("failed");
        self.pause(job, false, FetchState::Failed, error);
    }

    /// Ends a job: its record moves to the paused key on the journal
    /// (after any sync of it queued before), and only then are its waiters
    /// told, so what they are told survives a crash. A later fetch of the
    /// same bytes resumes from the record, a restart does not. `sync`
    /// first syncs the partial file.
    pub(super) fn pause(&mut self, mut job: Job, sync: bool, state: FetchState, error: FetchError) {
        let file = job.file.take().filter(|_| sync);
        let record = job.record.clone();
        self.pausing.retain(|r| r.manifest != record.manifest);
        if self.pausing.len() >= PAUSING_KEPT {
            self.pausing.pop_back();
        }
        self.pausing.push_front(record.clone());
        let store = self.store.clone();
        self.disk.journal(move || {
            if let Some(file) = file {
                let _ = file.sync_data();
            }
            let hash = record.manifest;
            let _ = store.put_meta(
                &FetchRecord::paused_key(&hash),
                &encoding::to_bytes(&record),
            );
            let _ = store.delete_meta(&FetchRecord::key(&hash));
            Some(crate::event_loop::Internal::Paused {
                job: Box::new(job),
                state,
                error,
            })
        });
    }

    /// A job's pause is recorded: tell its waiters how it ended.
    pub(in crate::event_loop) fn on_paused(
        &mut self,
        job: Job,
        state: FetchState,
        error: &FetchError,
    ) {
        let hash = job.record.manifest;
        self.pausing.retain(|r| r.manifest != hash);
        end_job(job, state, &Err(error.clone()));
    }

    /// Cancels a job; its verified chunks stay for a later fetch.
    pub(in crate::event_loop) fn cancel_fetch(&mut self, id: FetchId) {
        if let Some(job) = self.jobs.remove(&id) {
            // Keep the partial file and its record under the paused key: a
            // later fetch of the same bytes resumes, a restart does not.
            self.metrics.fetch_ended("cancelled");
            self.pause(job, true, FetchState::Cancelled, FetchError::Cancelled);
        }
    }

    /// Syncs the partial file and then records the chunks that were
    /// written when the sync began, on the journal (the loop keeps moving
    /// bytes meanwhile; see `event_loop::disk`).
    pub(super) fn start_sync_job(&mut self, id: FetchId) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let Some(file) = job.file.clone() else {
            return;
        };
        job.syncing = true;
        job.unsynced = 0;
        let record = job.record.clone();
        // A preview's chunks are never an interrupted fetch to resume.
        let key = if job.want.is_some() {
            FetchRecord::paused_key(&record.manifest)
        } else {
            FetchRecord::key(&record.manifest)
        };
        let store = self.store.clone();
        self.disk.journal(move || {
            let synced = file.sync_data().map_err(|e| e.to_string()).and_then(|()| {
                store
                    .put_meta(&key, &encoding::to_bytes(&record))
                    .map_err(|e| e.to_string())
            });
            if let Err(e) = &synced {
                warn!(error = %e, "cannot record fetch progress");
            }
            Some(crate::event_loop::Internal::Synced {
                id,
                synced: synced.is_ok(),
            })
        });
    }

    /// A partial file sync and its record finished.
    pub(in crate::event_loop) fn on_synced(&mut self, id: FetchId, synced: bool) {
        // A job that ended meanwhile had its end queued behind this sync.
        if let Some(job) = self.jobs.get_mut(&id) {
            job.syncing = false;
            if !synced {
                job.unsynced = SYNC_EVERY;
            }
        }
    }

    /// Every chunk is verified: sync the file, keep its manifest and move
    /// it among the blobs, on the journal behind any sync of this job.
    pub(super) fn complete(&mut self, mut job: Job) {
        let hash = job.record.manifest;
        info!(product = %job.descriptor.id, "all chunks verified; finishing");
        let file = job.file.take();
        let manifest = job.manifest.clone();
        let store = self.store.clone();
        let blobs = self.blobs.clone();
        let checked_here = job.progress.chunks_resumed == 0;
        self.disk.journal(move || {
            let result = (|| -> Result<(), String> {
                if let Some(file) = file {
                    file.sync_all().map_err(|e| e.to_string())?;
                }
                if let Some(manifest) = &manifest {
                    store.put_manifest(manifest).map_err(|e| e.to_string())?;
                }
                blobs
                    .finish_partial(&hash, checked_here)
                    .map_err(|e| e.to_string())?;
                store
                    .delete_meta(&FetchRecord::paused_key(&hash))
                    .map_err(|e| e.to_string())?;
                store
                    .delete_meta(&FetchRecord::key(&hash))
                    .map_err(|e| e.to_string())
            })();
            Some(crate::event_loop::Internal::Finished {
                job: Box::new(job),
                result,
            })
        });
    }

    /// A completed job's bytes are durable among the blobs (or could not
    /// be made so): announce them and write the outputs.
    pub(in crate::event_loop) fn on_finished(&mut self, job: Job, result: Result<(), String>) {
        if let Err(e) = result {
            self.fail_job(job, FetchError::Local(e));
            return;
        }
        if job.descriptor.access.reshare {
            let _ = self
                .swarm
                .behaviour_mut()
                .kad
                .start_providing(provider_key(&job.record.manifest));
        }
        self.complete_from_blob(job);
    }

    pub(super) fn complete_from_blob(&mut self, mut job: Job) {
        let hash = job.descriptor.content.manifest_hash;
        job.progress.bytes_done = job.progress.bytes_total;
        job.progress.chunks_done = job.progress.chunks_total;
        self.metrics.fetch_ended("done");
        // Copying (and re-deriving the profile) may take long: off the
        // loop. The job (and its pin) goes along and comes back with the
        // results.
        let blobs = self.blobs.clone();
        let store = self.store.clone();
        let done = self.internal.clone();
        let signed = self.profile_to_check(&job.descriptor);
        tokio::task::spawn_blocking(move || {
            let _ = store.delete_meta(&FetchRecord::key(&hash));
            let _ = store.delete_meta(&FetchRecord::paused_key(&hash));
            let check = signed.map(|signed| {
                let (verdict, recomputed) =
                    crate::profiling::verify(&blobs.path(&hash), &blobs.scratch_dir(), &signed);
                crate::profiling::ProfileChecked {
                    signed,
                    verdict,
                    recomputed,
                }
            });
            let results = job
                .replies
                .iter()
                .map(|(_, output)| {
                    if output.as_os_str().is_empty() {
                        return Ok(blobs.path(&hash));
                    }
                    blobs
                        .export(&hash, output)
                        .map(|()| output.clone())
                        .map_err(|e| FetchError::Output(e.to_string()))
                })
                .collect();
            let _ = done.blocking_send(crate::event_loop::Internal::Exported {
                job: Box::new(job),
                results,
                check: check.map(Box::new),
            });
        });
    }

    /// The outputs of a finished job were written (or refused): answer.
    pub(in crate::event_loop) fn on_exported(
        &mut self,
        job: Job,
        results: Vec<Result<PathBuf, FetchError>>,
        check: Option<crate::profiling::ProfileChecked>,
    ) {
        let mut job = job;
        job.progress.state = FetchState::Done;
        job.progress.profile = Some(match check {
            Some(check) => self.record_profile_check(check),
            None => self.known_profile_check(&job.descriptor),
        });
        let mut answers = Vec::new();
        for ((reply, _), result) in std::mem::take(&mut job.replies).into_iter().zip(results) {
            match &result {
                Ok(path) => {
                    info!(product = %job.descriptor.id, path = %path.display(), "fetch complete");
                    self.emit(NodeEvent::FetchCompleted {
                        product: job.descriptor.id.clone(),
                        path: path.clone(),
                    });
                }
                Err(e) => {
                    warn!(product = %job.descriptor.id, error = %e, "fetch output not written");
                    job.progress.state = FetchState::Failed;
                    job.progress.error = Some(e.to_string());
                }
            }
            answers.push((reply, result));
        }
        // Final progress first: whoever wakes on the answer sees it.
        let _ = job.watch.send(job.progress.clone());
        let first = answers
            .first()
            .map_or(Err(FetchError::Stopped), |(_, r)| r.clone());
        for observer in job.observers {
            let _ = observer.send(first.clone());
        }
        for (reply, result) in answers {
            let _ = reply.send(result);
        }
    }
}

/// Reports a job's end to its watchers and waiters.
pub(super) fn end_job(mut job: Job, state: FetchState, result: &Result<PathBuf, FetchError>) {
    job.progress.state = state;
    if let Err(e) = result {
        job.progress.error = Some(e.to_string());
        if state == FetchState::Failed {
            warn!(product = %job.descriptor.id, error = %e, "fetch failed");
        }
    }
    let _ = job.watch.send(job.progress.clone());
    partial::end_partials(&mut job, result);
    for observer in job.observers {
        let _ = observer.send(result.clone());
    }
    for (reply, _) in job.replies {
        let _ = reply.send(result.clone());
    }
}
