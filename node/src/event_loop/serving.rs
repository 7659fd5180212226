//! Request-response as the answering side: the rate limit, the access
//! check on every manifest and chunk, and the answers themselves.

use super::{
    AccessMode, CatalogItem, DIGEST_COST, ErrorCode, EventLoop, MAX_FETCH_BATCH,
    MAX_ITEMS_PER_RESPONSE, MAX_SUMMARY_ENTRIES, NodeBinding, PeerId, ProductId, Request,
    RequestFrame, Response, Signed, fetching, info_span, now, warn,
};

/// The metrics label of a request kind.
pub(super) fn request_label(request: &Request) -> &'static str {
    match request {
        Request::CatalogDigest(_) => "catalog_digest",
        Request::CatalogFetch(_) => "catalog_fetch",
        Request::GetDescriptor { .. } => "descriptor",
        Request::GetManifest { .. } => "manifest",
        Request::GetChunk { .. } => "chunk",
        Request::GovernanceCatchUp { .. } => "governance",
        Request::AccessCatchUp { .. } => "access",
    }
}

impl EventLoop {
    /// The manifest of a product's current version, if the requester may
    /// read it and this node holds the bytes.
    pub(super) fn readable_manifest(
        &self,
        peer: PeerId,
        requester: Option<&Signed<NodeBinding>>,
        product: &ProductId,
        manifest: &mesh_protocol::Hash,
    ) -> Result<mesh_protocol::Manifest, Response> {
        let Some(CatalogItem::Descriptor(d)) = self.catalog.get(product) else {
            return Err(Response::error(
                ErrorCode::UnknownProduct,
                product.to_string(),
            ));
        };
        if d.value.content.manifest_hash != *manifest {
            return Err(Response::error(
                ErrorCode::UnknownVersion,
                "manifest is not the current version's",
            ));
        }
        let reader = requester.and_then(|b| b.authorises(&peer.to_bytes(), now()).ok());
        // The owner's grants open a product to domains beyond its list.
        let allowed = match &d.value.access.mode {
            AccessMode::Public => true,
            AccessMode::Domains(domains) => {
                reader.is_some_and(|r| r == product.domain || domains.contains(&r))
                    || self.granted(product, reader)
            }
            AccessMode::OwnerGranted => {
                reader == Some(product.domain) || self.granted(product, reader)
            }
        };
        if !allowed {
            return Err(Response::error(
                ErrorCode::Denied,
                format!("{product} is not readable by this domain"),
            ));
        }
        if product.domain != self.domain.domain_id() && !d.value.access.reshare {
            return Err(Response::error(
                ErrorCode::NotHeld,
                "the owner does not allow re-serving",
            ));
        }
        if !self.blobs.has(manifest) {
            return Err(Response::error(ErrorCode::NotHeld, "bytes not held here"));
        }
        match self.store.manifest(manifest) {
            Ok(Some(m)) => Ok(m),
            Ok(None) => Err(Response::error(
                ErrorCode::NotHeld,
                "manifest not held here",
            )),
            Err(e) => Err(Response::error(ErrorCode::Busy, e.to_string())),
        }
    }

    pub(super) fn answer(&mut self, peer: PeerId, frame: RequestFrame) -> Response {
        let span = info_span!("request", %peer);
        let _guard = span.enter();
        // A digest costs the whole catalog to compare: charge more for it.
        let cost = match &frame.request {
            Request::CatalogDigest(_) | Request::GovernanceCatchUp { .. } => DIGEST_COST,
            // An up-to-date asker costs one comparison of digests.
            Request::AccessCatchUp { digest } if *digest != self.access.book().digest() => {
                DIGEST_COST
            }
            _ => 1,
        };
        if !self.limiter.admit_cost(peer, cost) {
            self.metrics.busy();
            return Response::error(
                ErrorCode::Busy,
                "request rate over this node's per-peer limit; retry later",
            );
        }
        self.metrics.request(request_label(&frame.request));
        match frame.request {
            Request::CatalogDigest(digest) => {
                if digest.buckets.len() != mesh_protocol::catalog::SYNC_BUCKETS {
                    return Response::error(ErrorCode::BadRequest, "digest must have 256 buckets");
                }
                let mine = self
                    .digest_cache
                    .get_or_insert_with(|| self.catalog.digest())
                    .clone();
                let buckets: std::collections::BTreeSet<usize> = (0..mine.buckets.len())
                    .filter(|&i| mine.buckets[i] != digest.buckets[i])
                    .collect();
                let mut entries = self.catalog.summaries_in(&buckets);
                entries.truncate(MAX_SUMMARY_ENTRIES);
                Response::CatalogSummary(entries)
            }
            Request::CatalogFetch(products) => {
                if products.len() > MAX_FETCH_BATCH {
                    return Response::error(
                        ErrorCode::BadRequest,
                        "too many products in one fetch",
                    );
                }
                let items = products
                    .iter()
                    .filter_map(|p| self.catalog.get(p).cloned())
                    .take(MAX_ITEMS_PER_RESPONSE)
                    .collect();
                Response::CatalogItems(items)
            }
            Request::GetDescriptor { product, version } => match self.catalog.get(&product) {
                None => Response::error(ErrorCode::UnknownProduct, product.to_string()),
                Some(item) if version.is_some_and(|v| v != item.version()) => Response::error(
                    ErrorCode::UnknownVersion,
                    format!("{product} is at version {}", item.version()),
                ),
                Some(item) => Response::Item(Box::new(item.clone())),
            },
            Request::GetManifest { product, manifest } => {
                match self.readable_manifest(peer, frame.requester.as_ref(), &product, &manifest) {
                    Ok(m) => Response::Manifest(m),
                    Err(refusal) => refusal,
                }
            }
            Request::GetChunk {
                product,
                manifest,
                index,
            } => {
                let m = match self.readable_manifest(
                    peer,
                    frame.requester.as_ref(),
                    &product,
                    &manifest,
                ) {
                    Ok(m) => m,
                    Err(refusal) => return refusal,
                };
                match self.blobs.read_chunk(&m, index) {
                    // Verified again before it leaves: the local copy may be
                    // damaged (bit rot; outputs are copies, never links).
                    Ok(bytes) if m.verify_chunk(index, &bytes).is_ok() => {
                        self.metrics.served(bytes.len());
                        Response::Chunk(mesh_protocol::bytes::ByteBuf(bytes))
                    }
                    Ok(_) => {
                        warn!(%product, index, "local copy is damaged; no longer serving it");
                        let key = fetching::provider_key(&manifest);
                        self.swarm.behaviour_mut().kad.stop_providing(&key);
                        Response::error(ErrorCode::NotHeld, "local copy damaged")
                    }
                    Err(e) => Response::error(ErrorCode::NotHeld, e.to_string()),
                }
            }
            Request::GovernanceCatchUp {
                federation,
                from_version,
            } => self.answer_catch_up(federation, from_version),
            Request::AccessCatchUp { digest } => self.answer_access_catch_up(digest),
        }
    }
}
