//! The DHT side of the loop: product records looked up for nodes that
//! know nothing else, provider lookups asked through the API, and the
//! query results that answer them.

use super::{
    BTreeSet, CatalogItem, EventLoop, GetRecordOk, PeerId, ProductId, QueryResult, RecordKey,
    RecordStore, debug, encoding, fetching, kad, oneshot, wire,
};

/// A DHT query for who provides a product's bytes, asked through the API.
pub(super) struct ProviderLookup {
    found: BTreeSet<PeerId>,
    deadline: tokio::time::Instant,
    reply: oneshot::Sender<Vec<String>>,
}

/// Longest a provider lookup runs before it answers with what it found.
const PROVIDER_LOOKUP_TIME: std::time::Duration = std::time::Duration::from_secs(3);

pub(super) fn record_key(product: &ProductId) -> RecordKey {
    RecordKey::new(&format!("meshd/product/{product}"))
}

impl EventLoop {
    pub(super) fn handle_kad(&mut self, event: kad::Event) {
        match event {
            kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::PutRecord {
                        record: Some(record),
                        ..
                    },
            } => {
                let valid = encoding::from_canonical_bytes::<CatalogItem>(
                    &record.value,
                    wire::MAX_GOSSIP_BYTES,
                )
                .ok()
                .filter(|item| item.verify().is_ok() && record.key == record_key(item.product()));
                if let Some(item) = valid {
                    let _ = self.merge_remote(&item);
                    // Only the current version is served from the DHT store:
                    // a replayed older record must not replace a newer one.
                    let current = self
                        .catalog
                        .get(item.product())
                        .is_some_and(|c| c.hash() == item.hash());
                    if current {
                        let _ = self.swarm.behaviour_mut().kad.store_mut().put(record);
                    }
                } else {
                    debug!("invalid kademlia record refused");
                }
            }
            kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::AddProvider {
                        record: Some(record),
                    },
            } => {
                // Provider records name who holds bytes; the bytes themselves
                // are verified when fetched, so any well-formed record is kept
                // (the store bounds how many).
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .store_mut()
                    .add_provider(record);
            }
            kad::Event::OutboundQueryProgressed {
                id,
                result: QueryResult::GetProviders(result),
                step,
                ..
            } => {
                if let Some(lookup) = self.provider_lookups.get_mut(&id) {
                    if let Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) = &result {
                        lookup.found.extend(providers.iter().take(64));
                    }
                    if step.last {
                        self.finish_provider_lookup(id);
                    }
                } else if let Some(&job) = self.provider_queries.get(&id) {
                    if let Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) = result {
                        let local = *self.swarm.local_peer_id();
                        let peers = providers.into_iter().filter(|p| *p != local).collect();
                        self.probe_peers(job, peers);
                    }
                    if step.last {
                        self.provider_queries.remove(&id);
                    }
                }
            }
            kad::Event::OutboundQueryProgressed {
                id,
                result: QueryResult::Bootstrap(_),
                step,
                ..
            } => self.on_bootstrap_step(id, &step),
            kad::Event::OutboundQueryProgressed {
                id,
                result: QueryResult::GetRecord(result),
                step,
                ..
            } => self.on_record_lookup(id, result, &step),
            _ => {}
        }
    }

    /// A step of a product record lookup ended: merges a valid record and
    /// answers the caller once one is found or the lookup ends.
    pub(super) fn on_record_lookup(
        &mut self,
        id: kad::QueryId,
        result: kad::GetRecordResult,
        step: &kad::ProgressStep,
    ) {
        let wanted = self.lookups.get(&id).map(|(p, _)| p.clone());
        let found = match result {
            Ok(GetRecordOk::FoundRecord(peer_record)) => {
                encoding::from_canonical_bytes::<CatalogItem>(
                    &peer_record.record.value,
                    wire::MAX_GOSSIP_BYTES,
                )
                .ok()
                .filter(|item| item.verify().is_ok() && Some(item.product()) == wanted.as_ref())
            }
            _ => None,
        };
        if let Some(item) = found {
            let _ = self.merge_remote(&item);
            if let Some((_, reply)) = self.lookups.remove(&id) {
                let _ = reply.send(self.catalog.get(item.product()).cloned());
            }
        } else if step.last
            && let Some((_, reply)) = self.lookups.remove(&id)
        {
            let _ = reply.send(None);
        }
    }

    /// Asks the DHT who holds the current version's bytes; answers when the
    /// query ends or after [`PROVIDER_LOOKUP_TIME`]. This node counts when it
    /// holds a copy itself.
    pub(super) fn lookup_providers(
        &mut self,
        product: &ProductId,
        reply: oneshot::Sender<Vec<String>>,
    ) {
        let Some(CatalogItem::Descriptor(d)) = self.catalog.get(product) else {
            let _ = reply.send(Vec::new());
            return;
        };
        let hash = d.value.content.manifest_hash;
        let mut found = BTreeSet::new();
        if self.blobs.has(&hash) {
            found.insert(*self.swarm.local_peer_id());
        }
        let id = self
            .swarm
            .behaviour_mut()
            .kad
            .get_providers(fetching::provider_key(&hash));
        self.provider_lookups.insert(
            id,
            ProviderLookup {
                found,
                deadline: tokio::time::Instant::now() + PROVIDER_LOOKUP_TIME,
                reply,
            },
        );
    }

    pub(super) fn finish_provider_lookup(&mut self, id: kad::QueryId) {
        if let Some(lookup) = self.provider_lookups.remove(&id) {
            if let Some(mut query) = self.swarm.behaviour_mut().kad.query_mut(&id) {
                query.finish();
            }
            let _ = lookup
                .reply
                .send(lookup.found.iter().map(ToString::to_string).collect());
        }
    }

    pub(super) fn expire_provider_lookups(&mut self) {
        let now = tokio::time::Instant::now();
        let due: Vec<kad::QueryId> = self
            .provider_lookups
            .iter()
            .filter(|(_, l)| l.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.finish_provider_lookup(id);
        }
    }
}
