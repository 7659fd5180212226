//! Publishing this domain's own products: a version assigned, signed,
//! stored (synced) and merged, then announced by gossip, the DHT record and
//! the provider record; withdrawals and deprecations likewise.

use super::{
    CatalogItem, Deprecation, EventLoop, GossipMessage, NodeError, NodeEvent, ProductId,
    PublishReceipt, Record, Signed, Withdrawal, debug, encoding, fetching, info, kad, now,
    record_key,
};

impl EventLoop {
    /// Announces in the DHT every product whose bytes this node holds and
    /// may serve (provider records are not persisted across restarts).
    pub(super) fn announce_held_blobs(&mut self) {
        let own = self.domain.domain_id();
        let keys: Vec<_> = self
            .catalog
            .items()
            .filter_map(CatalogItem::descriptor)
            .filter(|d| d.id.domain == own || d.access.reshare)
            .map(|d| d.content.manifest_hash)
            .filter(|h| self.blobs.has(h))
            .map(|h| fetching::provider_key(&h))
            .collect();
        for key in keys {
            let _ = self.swarm.behaviour_mut().kad.start_providing(key);
        }
    }

    pub(super) fn own_product(&self, name: &str) -> ProductId {
        ProductId {
            domain: self.domain.domain_id(),
            name: name.to_owned(),
        }
    }

    pub(super) fn next_version(&self, product: &ProductId) -> u64 {
        self.catalog.get(product).map_or(1, |i| i.version() + 1)
    }

    pub(super) fn publish(
        &mut self,
        publication: crate::command::Publication,
    ) -> Result<PublishReceipt, NodeError> {
        let crate::command::Publication {
            draft,
            content,
            manifest,
            profile,
            created_at,
            derivation,
        } = publication;
        let manifest = &manifest;
        let product = self.own_product(&draft.name);
        let version = self.next_version(&product);
        let descriptor = draft.into_descriptor(
            self.domain.domain_id(),
            &self.domain_name,
            crate::draft::Release {
                version,
                content,
                created_at,
                deprecation: None,
                profile,
                derivation,
            },
        );
        descriptor.validate()?;
        if let Some(gov) = &self.gov {
            let previous = self.previous_descriptor(&product, version);
            let issues = gov.check(&descriptor, previous.as_ref());
            if !issues.is_empty() {
                return Err(NodeError::Policy(issues));
            }
        }
        let receipt = PublishReceipt {
            product: product.clone(),
            version,
            manifest_hash: descriptor.content.manifest_hash,
            size: descriptor.content.size,
            profile: descriptor.profile.clone(),
        };
        self.store.put_manifest(manifest)?;
        let descriptor_profile = descriptor.profile.clone();
        let item = CatalogItem::Descriptor(Signed::sign(descriptor, &self.domain));
        self.commit_own(&item)?;
        self.metrics.published();
        match &descriptor_profile {
            Some(p) if !p.conforms() => info!(
                %product, version, size = receipt.size, violations = p.violation_count(),
                "published; its data breaks its contract"
            ),
            _ => info!(%product, version, size = receipt.size, "published"),
        }
        Ok(receipt)
    }

    pub(super) fn withdraw(&mut self, name: &str, reason: String) -> Result<u64, NodeError> {
        let product = self.own_product(name);
        match self.catalog.get(&product) {
            Some(CatalogItem::Descriptor(_)) => {}
            _ => return Err(NodeError::UnknownProduct(product.to_string())),
        }
        let version = self.next_version(&product);
        let withdrawal = Withdrawal {
            product: product.clone(),
            version,
            reason,
            at: now(),
        };
        withdrawal.validate()?;
        self.commit_own(&CatalogItem::Withdrawal(Signed::sign(
            withdrawal,
            &self.domain,
        )))?;
        info!(%product, version, "withdrawn");
        Ok(version)
    }

    pub(super) fn deprecate(
        &mut self,
        name: &str,
        reason: String,
        successor: Option<ProductId>,
    ) -> Result<u64, NodeError> {
        let product = self.own_product(name);
        let Some(CatalogItem::Descriptor(current)) = self.catalog.get(&product) else {
            return Err(NodeError::UnknownProduct(product.to_string()));
        };
        let mut next = current.value.clone();
        next.version += 1;
        next.created_at = now();
        next.deprecation = Some(Deprecation { reason, successor });
        next.validate()?;
        // A new version is a publish: only a member's counts. (Policies are
        // not re-checked: deprecating a product that breaks a newer rule
        // must stay possible.)
        if let Some(gov) = &self.gov
            && let Some(issue) = gov
                .check(&next, None)
                .into_iter()
                .find(|i| i.rule == "membership")
        {
            return Err(NodeError::Policy(vec![issue]));
        }
        let version = next.version;
        self.commit_own(&CatalogItem::Descriptor(Signed::sign(next, &self.domain)))?;
        info!(%product, version, "deprecated");
        Ok(version)
    }

    /// Merges, persists and announces an item this node signed.
    pub(super) fn commit_own(&mut self, item: &CatalogItem) -> Result<(), NodeError> {
        self.catalog.preview(item)?;
        self.store.put_item(item, true)?;
        self.catalog.insert_shared(self.store.share(item))?;
        self.digest_cache = None;
        if item.version() > 1 {
            // An older version was superseded or withdrawn.
            self.gc.soon();
        }
        self.emit_update(item);
        self.announce(item);
        Ok(())
    }

    pub(super) fn emit_update(&self, item: &CatalogItem) {
        self.emit(NodeEvent::CatalogUpdated {
            product: item.product().clone(),
            version: item.version(),
            withdrawn: matches!(item, CatalogItem::Withdrawal(_)),
        });
    }

    pub(super) fn announce(&mut self, item: &CatalogItem) {
        // With no subscribed peer yet (alone, or just started) the item
        // waits in the outbox instead of being dropped: a node that does
        // not run catalog sync would otherwise never hear of it.
        self.gossip_or_defer(self.topic.clone(), GossipMessage::Catalog(item.clone()));
        if let CatalogItem::Descriptor(d) = item
            && self.blobs.has(&d.value.content.manifest_hash)
        {
            let key = fetching::provider_key(&d.value.content.manifest_hash);
            if let Err(e) = self.swarm.behaviour_mut().kad.start_providing(key) {
                debug!(error = %e, "cannot announce as provider");
            }
        }
        let record = Record::new(record_key(item.product()), encoding::to_bytes(item));
        if let Err(e) = self
            .swarm
            .behaviour_mut()
            .kad
            .put_record(record, kad::Quorum::One)
        {
            debug!(error = %e, "kademlia put failed");
        }
    }
}
