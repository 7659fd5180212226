//! Request-response as the answering side: the rate limit, the access
//! check on every manifest and chunk, and the answers themselves.

use super::{
    AccessMode, CatalogItem, DIGEST_COST, ErrorCode, EventLoop, MAX_FETCH_BATCH,
    MAX_ITEMS_PER_RESPONSE, MAX_SUMMARY_ENTRIES, NodeBinding, PeerId, ProductId, Request,
    RequestFrame, Response, Signed, info_span, now,
};
use mesh_protocol::wire::Have;

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
        Request::GetHave { .. } => "have",
    }
}

/// What the loop does with a request it admitted.
pub(super) enum Answer {
    /// Answer at once.
    Now(Response),
    /// Read a chunk the requester may read, on the disk pool
    /// (`chunks.rs`), and answer with it then.
    Chunk {
        product: ProductId,
        manifest: mesh_protocol::Hash,
        index: u32,
    },
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
        self.may_read(peer, requester, product, manifest)?;
        if !self.blobs.has(manifest) {
            // A fetch under way serves the chunks it has verified.
            return self
                .fetching(manifest)
                .and_then(super::fetching::Job::manifest)
                .map(|m| m.as_ref().clone())
                .ok_or_else(|| Response::error(ErrorCode::NotHeld, "bytes not held here"));
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

    /// Whether the requester may read `manifest`, the current version of
    /// `product`, from this node: what the catalog and the grants say,
    /// without touching the disk.
    fn may_read(
        &self,
        peer: PeerId,
        requester: Option<&Signed<NodeBinding>>,
        product: &ProductId,
        manifest: &mesh_protocol::Hash,
    ) -> Result<(), Response> {
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
        Ok(())
    }

    pub(super) fn answer(&mut self, peer: PeerId, frame: RequestFrame) -> Answer {
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
            return Answer::Now(Response::error(
                ErrorCode::Busy,
                "request rate over this node's per-peer limit; retry later",
            ));
        }
        self.metrics.request(request_label(&frame.request));
        Answer::Now(match frame.request {
            Request::CatalogDigest(digest) => {
                if digest.buckets.len() != mesh_protocol::catalog::SYNC_BUCKETS {
                    return Answer::Now(Response::error(
                        ErrorCode::BadRequest,
                        "digest must have 256 buckets",
                    ));
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
                    return Answer::Now(Response::error(
                        ErrorCode::BadRequest,
                        "too many products in one fetch",
                    ));
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
                return match self.may_read(peer, frame.requester.as_ref(), &product, &manifest) {
                    Ok(()) => Answer::Chunk {
                        product,
                        manifest,
                        index,
                    },
                    Err(refusal) => Answer::Now(refusal),
                };
            }
            Request::GovernanceCatchUp {
                federation,
                from_version,
            } => self.answer_catch_up(federation, from_version),
            Request::AccessCatchUp { digest } => self.answer_access_catch_up(digest),
            Request::GetHave { product, manifest } => {
                match self.may_read(peer, frame.requester.as_ref(), &product, &manifest) {
                    Err(refusal) => refusal,
                    Ok(()) if self.blobs.has(&manifest) => Response::Have(Have::All),
                    Ok(()) => match self.fetching(&manifest) {
                        Some(job) if job.manifest().is_some() => Response::Have(job.have()),
                        _ => Response::error(ErrorCode::NotHeld, "bytes not held here"),
                    },
                }
            }
        })
    }
}
