//! Gossip as it arrives: every message decoded (bounded), its origin
//! checked once, handed to the catalog, governance or access state, and
//! given exactly one validation verdict.

use super::{
    CatalogItem, EventLoop, GossipMessage, Merge, MergeError, MessageAcceptance, NodeEvent, PeerId,
    debug, gossip, gossipsub, info_span, now, warn,
};

impl EventLoop {
    /// Checks a gossip message and merges it; returns the verdict.
    pub(super) fn handle_gossip(
        &mut self,
        peer: PeerId,
        message: &gossipsub::Message,
    ) -> MessageAcceptance {
        let span = info_span!("gossip", %peer);
        let _guard = span.enter();
        let verdict = match self.check_gossip(peer, message) {
            Ok(true) => MessageAcceptance::Accept,
            Ok(false) => MessageAcceptance::Ignore,
            Err(reason) => {
                warn!(%reason, "gossip rejected");
                self.emit(NodeEvent::Rejected {
                    peer,
                    reason: reason.clone(),
                });
                MessageAcceptance::Reject
            }
        };
        match verdict {
            MessageAcceptance::Accept => self.metrics.gossip("accepted"),
            MessageAcceptance::Ignore => self.metrics.gossip("ignored"),
            MessageAcceptance::Reject => self.metrics.gossip("rejected"),
        }
        verdict
    }

    /// `Ok(true)`: news, forward. `Ok(false)`: harmless, drop. `Err`: forged
    /// or malformed, drop and penalise.
    pub(super) fn check_gossip(
        &mut self,
        peer: PeerId,
        message: &gossipsub::Message,
    ) -> Result<bool, String> {
        let opened = gossip::open(&message.data, now()).map_err(|e| e.to_string())?;
        let origin_domain = opened.domain;
        self.peers.bound(&opened.node, origin_domain);
        match opened.message {
            GossipMessage::Catalog(item) => {
                if item.product().domain != origin_domain {
                    return Err(format!(
                        "node of domain {origin_domain} sent an item of domain {}",
                        item.product().domain
                    ));
                }
                match self.merge_remote(&item) {
                    Ok(news) => Ok(news),
                    Err(MergeError::Item(e)) => Err(e.to_string()),
                    Err(e @ (MergeError::Stale { .. } | MergeError::Full(_))) => {
                        debug!(reason = %e, "gossip item dropped");
                        Ok(false)
                    }
                }
            }
            m @ (GossipMessage::AccessRequest(_) | GossipMessage::AccessDecision(_)) => {
                self.check_access(origin_domain, m)
            }
            other => self.check_governance(peer, other),
        }
    }

    /// Verifies and merges an item from another node; persists news.
    /// `Ok(true)` only when the item was news and is now durable in the
    /// store and merged; a store failure leaves the catalog unchanged and
    /// answers `Ok(false)`, so the item is not forwarded.
    pub(super) fn merge_remote(&mut self, item: &CatalogItem) -> Result<bool, MergeError> {
        item.verify()?;
        let product = item.product().clone();
        let persisted = match self.catalog.preview(item)? {
            Merge::Duplicate => return Ok(false),
            Merge::Equivocation => {
                warn!(%product, version = item.version(), "equivocation: two items for one version");
                let mut items = vec![item.clone()];
                items.extend(self.catalog.get(&product).cloned());
                let becomes_current = items
                    .iter()
                    .map(CatalogItem::hash)
                    .min()
                    .is_some_and(|h| h == item.hash());
                self.store.put_evidence(&items).and_then(|()| {
                    if becomes_current {
                        self.store.put_item(item, false)
                    } else {
                        Ok(())
                    }
                })
            }
            Merge::Added | Merge::Replaced { .. } => self.store.put_item(item, false),
        };
        if let Err(e) = persisted {
            warn!(%product, error = %e, "cannot persist catalog item; not taken");
            return Ok(false);
        }
        if let Some(CatalogItem::Descriptor(previous)) = self.catalog.get(&product)
            && self.blobs.has(&previous.value.content.manifest_hash)
        {
            // Bytes held for a version this item supersedes or withdraws.
            self.gc.soon();
        }
        self.catalog.insert_shared(self.store.share(item))?;
        self.digest_cache = None;
        self.emit_update(item);
        Ok(true)
    }
}
