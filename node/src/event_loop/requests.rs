//! Request-response as the asking side: catalog sync (digest, then the
//! items that differ), and every answer matched to its pending request.

use super::{
    BTreeSet, ErrorCode, EventLoop, MAX_FETCH_BATCH, MAX_ITEMS_PER_RESPONSE, MergeError, NodeEvent,
    PROTOCOL_VERSION, PeerId, Pending, ProductId, Request, RequestFrame, Response, debug, info,
    request_response, warn,
};

impl EventLoop {
    pub(super) fn frame(&self, request: Request) -> RequestFrame {
        RequestFrame {
            version: PROTOCOL_VERSION,
            requester: Some(self.binding.clone()),
            request,
        }
    }

    pub(super) fn start_sync(&mut self, peer: PeerId) {
        if !self.config.network.catalog_sync {
            return;
        }
        let digest = self
            .digest_cache
            .get_or_insert_with(|| self.catalog.digest())
            .clone();
        let frame = self.frame(Request::CatalogDigest(digest));
        let id = self.swarm.behaviour_mut().rr.send_request(&peer, frame);
        self.pending.insert(id, (peer, Pending::SyncDigest));
        self.sync_received.insert(peer, 0);
    }

    pub(super) fn handle_rr(&mut self, event: request_response::Event<RequestFrame, Response>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    self.peers.used(&peer);
                    match self.answer(peer, request) {
                        super::serving::Answer::Now(response) => {
                            let _ = self
                                .swarm
                                .behaviour_mut()
                                .rr
                                .send_response(channel, response);
                        }
                        super::serving::Answer::Chunk {
                            product,
                            manifest,
                            index,
                        } => self.serve_chunk(channel, product, manifest, index),
                    }
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    self.peers.used(&peer);
                    if let Some((peer, kind)) = self.pending.remove(&request_id) {
                        self.handle_response(peer, kind, response);
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            } => match self.pending.remove(&request_id) {
                Some((_, Pending::Chunk(job, index))) => self.on_chunk(job, index, peer, None),
                Some((_, Pending::Probe(job))) => {
                    self.on_probe(
                        job,
                        peer,
                        Response::error(ErrorCode::NotHeld, error.to_string()),
                    );
                }
                Some((_, Pending::Have(job))) => self.on_have(job, peer, None),
                // Catch-up is retried on the next anti-entropy round.
                Some((_, Pending::GovCatchUp | Pending::AccessCatchUp)) => {
                    debug!(%peer, %error, "catch-up failed");
                }
                Some(_) => {
                    debug!(%peer, %error, "request failed");
                    self.sync_received.remove(&peer);
                }
                None => {}
            },
            request_response::Event::InboundFailure { peer, error, .. } => {
                debug!(%peer, %error, "inbound request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    pub(super) fn handle_response(&mut self, peer: PeerId, kind: Pending, response: Response) {
        match (kind, response) {
            (Pending::Probe(job), response) => self.on_probe(job, peer, response),
            (Pending::Have(job), response) => self.on_have(job, peer, Some(response)),
            (Pending::Chunk(job, index), response) => {
                self.on_chunk(job, index, peer, Some(response));
            }
            (Pending::SyncDigest, Response::CatalogSummary(entries)) => {
                let wanted = self.catalog.wanted(&entries);
                if wanted.is_empty() {
                    self.finish_sync(peer);
                    return;
                }
                for batch in wanted.chunks(MAX_FETCH_BATCH) {
                    let set: BTreeSet<ProductId> = batch.iter().cloned().collect();
                    let frame = self.frame(Request::CatalogFetch(set));
                    let id = self.swarm.behaviour_mut().rr.send_request(&peer, frame);
                    self.pending.insert(id, (peer, Pending::SyncFetch));
                }
            }
            (Pending::SyncFetch, Response::CatalogItems(items)) => {
                let mut taken = 0;
                for item in items.into_iter().take(MAX_ITEMS_PER_RESPONSE) {
                    match self.merge_remote(&item) {
                        Ok(true) => taken += 1,
                        Ok(false) | Err(MergeError::Stale { .. } | MergeError::Full(_)) => {}
                        Err(e) => {
                            self.metrics.sync_items("rejected", 1);
                            warn!(%peer, error = %e, "sync item rejected");
                        }
                    }
                }
                self.metrics.sync_items("accepted", taken as u64);
                *self.sync_received.entry(peer).or_default() += taken;
                let still_pending = self
                    .pending
                    .values()
                    .any(|(p, k)| *p == peer && matches!(k, Pending::SyncFetch));
                if !still_pending {
                    self.finish_sync(peer);
                }
            }
            (
                Pending::GovCatchUp,
                Response::Governance {
                    certificates,
                    proposals,
                    votes,
                    rounds,
                },
            ) => self.on_catch_up(peer, certificates, proposals, &votes, rounds),
            (
                Pending::AccessCatchUp,
                Response::Access {
                    requests,
                    decisions,
                },
            ) => self.on_access_catch_up(peer, requests, decisions),
            (Pending::GovCatchUp | Pending::AccessCatchUp, _) => {}
            (_, Response::Error { code, message }) => {
                debug!(%peer, ?code, %message, "peer refused request");
                self.sync_received.remove(&peer);
            }
            _ => {
                warn!(%peer, "unexpected response kind");
                self.sync_received.remove(&peer);
            }
        }
    }

    pub(super) fn finish_sync(&mut self, peer: PeerId) {
        let received = self.sync_received.remove(&peer).unwrap_or(0);
        info!(%peer, received, "catalog sync done");
        self.emit(NodeEvent::SyncCompleted { peer, received });
        // Access records concern catalog products, so they follow the
        // catalog (records about products not yet known are not taken).
        self.start_access_catch_up(peer);
    }
}
