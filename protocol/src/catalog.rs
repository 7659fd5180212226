//! The catalog and its merge rule: every node holds the newest valid version
//! of every product, whatever order descriptors arrive in.
//!
//! Merge rule, for items (descriptors and withdrawals) of one product:
//! 1. an item must verify (signature by the product's own domain, structure);
//! 2. a higher version replaces a lower one; a lower version is stale and is
//!    refused;
//! 3. two different items with the same version are *equivocation*: both are
//!    kept as evidence and the one with the smaller hash is current, so every
//!    node picks the same one.
//!
//! Every item at a product's highest version is compared with the current
//! one, so the current state and the evidence for current versions are the
//! same for every arrival order. An equivocation at a version that was
//! already superseded when it arrived is refused as stale without comparison:
//! that version is never served again, so nothing depends on it.
//!
//! The catalog also computes the digests used by catalog sync: products are
//! spread over [`SYNC_BUCKETS`] buckets by a hash of their id, and each
//! bucket's digest covers the (product, version, item hash) of its entries,
//! so two nodes exchange only the buckets that differ.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::Hash;
use crate::descriptor::{
    Classification, Descriptor, DescriptorError, ProductId, SignedDescriptor, Withdrawal,
};
use crate::encoding;
use crate::identity::DomainId;
use crate::signed::{SignatureError, Signed};

/// Number of sync buckets.
pub const SYNC_BUCKETS: usize = 256;

/// One catalog entry: the current descriptor of a product, or its withdrawal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(
    clippy::large_enum_variant,
    reason = "descriptors are the common case; boxing them would add an allocation per item"
)]
pub enum CatalogItem {
    /// A published version.
    Descriptor(SignedDescriptor),
    /// The product was withdrawn.
    Withdrawal(Signed<Withdrawal>),
}

/// Why an item is not acceptable at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemError {
    /// The signature does not verify.
    #[error("signature: {0}")]
    Signature(#[from] SignatureError),
    /// Signed by another domain than the product's.
    #[error("signed by domain {signer}, but the product belongs to {owner}")]
    WrongSigner {
        /// The signer.
        signer: DomainId,
        /// The product's domain.
        owner: DomainId,
    },
    /// Structurally invalid.
    #[error("invalid: {0}")]
    Invalid(#[from] DescriptorError),
}

impl CatalogItem {
    /// The product.
    pub fn product(&self) -> &ProductId {
        match self {
            Self::Descriptor(d) => &d.value.id,
            Self::Withdrawal(w) => &w.value.product,
        }
    }

    /// The version.
    pub fn version(&self) -> u64 {
        match self {
            Self::Descriptor(d) => d.value.version,
            Self::Withdrawal(w) => w.value.version,
        }
    }

    /// Hash of the whole signed item.
    pub fn hash(&self) -> Hash {
        encoding::tagged_hash("meshd/v1/catalog-item", self)
    }

    /// The descriptor, unless withdrawn.
    pub fn descriptor(&self) -> Option<&Descriptor> {
        match self {
            Self::Descriptor(d) => Some(&d.value),
            Self::Withdrawal(_) => None,
        }
    }

    /// Checks signature, signer and structure.
    pub fn verify(&self) -> Result<(), ItemError> {
        let (signer, owner) = match self {
            Self::Descriptor(d) => {
                d.verify()?;
                d.value.validate()?;
                (d.signer_domain(), d.value.id.domain)
            }
            Self::Withdrawal(w) => {
                w.verify()?;
                w.value.validate()?;
                (w.signer_domain(), w.value.product.domain)
            }
        };
        if signer != owner {
            return Err(ItemError::WrongSigner { signer, owner });
        }
        Ok(())
    }
}

/// What merging an item did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Merge {
    /// A product new to this catalog.
    Added,
    /// A newer version replaced `previous`.
    Replaced {
        /// The version replaced.
        previous: u64,
    },
    /// Already held.
    Duplicate,
    /// A different item with the current version: kept as evidence.
    Equivocation,
}

impl Merge {
    /// Whether the item carried news worth forwarding to peers.
    pub fn is_news(&self) -> bool {
        !matches!(self, Self::Duplicate)
    }
}

/// Why an item was refused by the merge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// The item does not verify.
    #[error(transparent)]
    Item(#[from] ItemError),
    /// The catalog holds a newer version.
    #[error("stale version {got}; version {have} is current")]
    Stale {
        /// Version held.
        have: u64,
        /// Version offered.
        got: u64,
    },
    /// The catalog is at its configured capacity.
    #[error("catalog full: {0}")]
    Full(&'static str),
}

/// Memory bounds of a catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatalogLimits {
    /// Most products in total.
    pub max_products: usize,
    /// Most products of any one domain.
    pub max_per_domain: usize,
    /// Most encoded bytes of current items of any one domain.
    pub max_bytes_per_domain: usize,
}

impl Default for CatalogLimits {
    fn default() -> Self {
        Self {
            max_products: 1_000_000,
            max_per_domain: 100_000,
            max_bytes_per_domain: 256 * 1024 * 1024,
        }
    }
}

/// What one domain holds in the catalog.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct DomainUsage {
    products: usize,
    bytes: usize,
}

/// A summary of one entry, as exchanged by catalog sync.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SyncEntry {
    /// The product.
    pub product: ProductId,
    /// Its current version.
    pub version: u64,
    /// Hash of the current item.
    pub hash: Hash,
}

/// Per-bucket digests of a catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncDigest {
    /// One hash per bucket ([`SYNC_BUCKETS`] of them).
    pub buckets: Vec<Hash>,
}

/// A search over the catalog. Empty fields match everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// Only this domain.
    pub domain: Option<DomainId>,
    /// Only this domain name (as stated in descriptors).
    pub domain_name: Option<String>,
    /// Only products with this tag.
    pub tag: Option<String>,
    /// Only products with at least one field of this classification.
    pub classification: Option<Classification>,
    /// Words that must all appear in the name, title or description.
    pub text: Option<String>,
    /// Include deprecated products.
    pub include_deprecated: bool,
}

impl Query {
    /// Whether a descriptor matches.
    pub fn matches(&self, d: &Descriptor) -> bool {
        if self.domain.is_some_and(|dom| dom != d.id.domain) {
            return false;
        }
        if self
            .domain_name
            .as_ref()
            .is_some_and(|n| *n != d.domain_name)
        {
            return false;
        }
        if self.tag.as_ref().is_some_and(|t| !d.tags.contains(t)) {
            return false;
        }
        if let Some(c) = self.classification
            && !d.schema.fields.iter().any(|f| f.classification == Some(c))
        {
            return false;
        }
        if !self.include_deprecated && d.deprecation.is_some() {
            return false;
        }
        if let Some(text) = &self.text {
            let haystack = format!("{} {} {}", d.id.name, d.title, d.description).to_lowercase();
            if !text
                .split_whitespace()
                .all(|w| haystack.contains(&w.to_lowercase()))
            {
                return false;
            }
        }
        true
    }
}

/// The set of current catalog entries and the evidence of equivocation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Shared, so that a node's store and catalog (and, in the simulator,
    /// every node) can hold one copy of an item.
    entries: BTreeMap<ProductId, Arc<CatalogItem>>,
    per_domain: BTreeMap<DomainId, DomainUsage>,
    evidence: BTreeMap<(ProductId, u64), BTreeMap<Hash, CatalogItem>>,
    limits: CatalogLimits,
}

impl Catalog {
    /// An empty catalog with these bounds.
    pub fn new(limits: CatalogLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Number of products (including withdrawn ones).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the catalog is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The current item of a product.
    pub fn get(&self, product: &ProductId) -> Option<&CatalogItem> {
        self.entries.get(product).map(Arc::as_ref)
    }

    /// Every current item.
    pub fn items(&self) -> impl Iterator<Item = &CatalogItem> {
        self.entries.values().map(Arc::as_ref)
    }

    /// Equivocation evidence: for each (product, version), the conflicting items.
    pub fn evidence(&self) -> &BTreeMap<(ProductId, u64), BTreeMap<Hash, CatalogItem>> {
        &self.evidence
    }

    /// Verifies an item and merges it. Changes nothing on error.
    pub fn insert(&mut self, item: CatalogItem) -> Result<Merge, MergeError> {
        item.verify()?;
        self.insert_verified(item)
    }

    /// What merging an already verified item would do, without changing
    /// anything: lets a node make the change durable before applying it.
    /// [`Catalog::insert_verified`] then returns the same outcome.
    pub fn preview(&self, item: &CatalogItem) -> Result<Merge, MergeError> {
        let product = item.product();
        let usage = self
            .per_domain
            .get(&product.domain)
            .copied()
            .unwrap_or_default();
        let size = encoding::to_bytes(item).len();
        let Some(current) = self.entries.get(product) else {
            if self.entries.len() >= self.limits.max_products {
                return Err(MergeError::Full("too many products"));
            }
            if usage.products >= self.limits.max_per_domain {
                return Err(MergeError::Full("too many products for this domain"));
            }
            if usage.bytes + size > self.limits.max_bytes_per_domain {
                return Err(MergeError::Full("too many catalog bytes for this domain"));
            }
            return Ok(Merge::Added);
        };
        let (have, got) = (current.version(), item.version());
        if got < have {
            return Err(MergeError::Stale { have, got });
        }
        if got > have {
            let freed = encoding::to_bytes(&**current).len().min(usage.bytes);
            if usage.bytes - freed + size > self.limits.max_bytes_per_domain {
                return Err(MergeError::Full("too many catalog bytes for this domain"));
            }
            return Ok(Merge::Replaced { previous: have });
        }
        let new_hash = item.hash();
        let current_hash = current.hash();
        let known = self
            .evidence
            .get(&(product.clone(), got))
            .is_some_and(|e| e.contains_key(&new_hash));
        if current_hash == new_hash || known {
            Ok(Merge::Duplicate)
        } else {
            Ok(Merge::Equivocation)
        }
    }

    /// Merges an item the caller has already verified (e.g. loaded from the
    /// node's own store).
    pub fn insert_verified(&mut self, item: CatalogItem) -> Result<Merge, MergeError> {
        self.insert_shared(Arc::new(item))
    }

    /// [`Catalog::insert_verified`] for an item whose copy is shared with
    /// its holders elsewhere (the node's store).
    pub fn insert_shared(&mut self, item: Arc<CatalogItem>) -> Result<Merge, MergeError> {
        let merge = self.preview(&item)?;
        let product = item.product().clone();
        let usage = self
            .per_domain
            .get(&product.domain)
            .copied()
            .unwrap_or_default();
        let size = encoding::to_bytes(&*item).len();
        match merge {
            Merge::Duplicate => {}
            Merge::Added => {
                self.per_domain.insert(
                    product.domain,
                    DomainUsage {
                        products: usage.products + 1,
                        bytes: usage.bytes + size,
                    },
                );
                self.entries.insert(product, item);
            }
            Merge::Replaced { .. } => {
                let freed = self
                    .entries
                    .get(&product)
                    .map_or(0, |c| encoding::to_bytes(&**c).len())
                    .min(usage.bytes);
                let bytes = usage.bytes - freed + size;
                self.per_domain
                    .insert(product.domain, DomainUsage { bytes, ..usage });
                self.entries.insert(product, item);
            }
            Merge::Equivocation => {
                let version = item.version();
                let new_hash = item.hash();
                let Some(current) = self.entries.get(&product) else {
                    return Ok(merge);
                };
                let current_hash = current.hash();
                let conflicting = self.evidence.entry((product.clone(), version)).or_default();
                conflicting.insert(current_hash, CatalogItem::clone(current));
                conflicting.insert(new_hash, CatalogItem::clone(&item));
                if new_hash < current_hash {
                    self.entries.insert(product, item);
                }
            }
        }
        Ok(merge)
    }

    /// Current, non-withdrawn descriptors matching `query`, in product order.
    pub fn query<'a>(
        &'a self,
        query: &'a Query,
    ) -> impl Iterator<Item = &'a SignedDescriptor> + 'a {
        self.entries
            .values()
            .filter_map(move |item| match item.as_ref() {
                CatalogItem::Descriptor(d) if query.matches(&d.value) => Some(d),
                _ => None,
            })
    }

    /// The bucket a product falls in.
    pub fn bucket_of(product: &ProductId) -> usize {
        usize::from(encoding::tagged_hash("meshd/v1/sync-bucket", product).0[0])
    }

    /// The sync digest of the whole catalog.
    pub fn digest(&self) -> SyncDigest {
        let mut hashers: Vec<blake3::Hasher> =
            (0..SYNC_BUCKETS).map(|_| blake3::Hasher::new()).collect();
        for entry in self.summaries() {
            hashers[Self::bucket_of(&entry.product)].update(&encoding::to_bytes(&entry));
        }
        SyncDigest {
            buckets: hashers
                .into_iter()
                .map(|h| Hash(*h.finalize().as_bytes()))
                .collect(),
        }
    }

    /// Buckets whose digest differs from `other` (all, if it is malformed).
    pub fn differing_buckets(&self, other: &SyncDigest) -> BTreeSet<usize> {
        let mine = self.digest();
        if other.buckets.len() != SYNC_BUCKETS {
            return (0..SYNC_BUCKETS).collect();
        }
        (0..SYNC_BUCKETS)
            .filter(|&i| mine.buckets[i] != other.buckets[i])
            .collect()
    }

    /// Summaries of every entry, in product order.
    pub fn summaries(&self) -> impl Iterator<Item = SyncEntry> + '_ {
        self.entries.iter().map(|(product, item)| SyncEntry {
            product: product.clone(),
            version: item.version(),
            hash: item.hash(),
        })
    }

    /// Summaries of the entries in the given buckets.
    pub fn summaries_in(&self, buckets: &BTreeSet<usize>) -> Vec<SyncEntry> {
        self.summaries()
            .filter(|e| buckets.contains(&Self::bucket_of(&e.product)))
            .collect()
    }

    /// Of a peer's summaries, the products this catalog should fetch: those
    /// it lacks, holds at a lower version, or holds with another hash at the
    /// same version (possible equivocation).
    pub fn wanted(&self, theirs: &[SyncEntry]) -> Vec<ProductId> {
        theirs
            .iter()
            .filter(|e| match self.entries.get(&e.product) {
                None => true,
                Some(mine) => {
                    e.version > mine.version()
                        || (e.version == mine.version()
                            && e.hash != mine.hash()
                            && !self
                                .evidence
                                .get(&(e.product.clone(), e.version))
                                .is_some_and(|ev| ev.contains_key(&e.hash)))
                }
            })
            .map(|e| e.product.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptor::tests::sample;
    use crate::identity::DomainKeypair;
    use crate::time::Timestamp;

    fn item(key: &DomainKeypair, name: &str, version: u64) -> CatalogItem {
        CatalogItem::Descriptor(Signed::sign(sample(key, name, version), key))
    }

    #[test]
    fn a_shared_item_is_held_not_copied() {
        let key = DomainKeypair::from_secret([1; 32]);
        let mut cat = Catalog::default();
        let shared = Arc::new(item(&key, "orders", 1));
        assert_eq!(cat.insert_shared(shared.clone()), Ok(Merge::Added));
        let held = cat.get(shared.product()).unwrap();
        assert!(std::ptr::eq(held, Arc::as_ptr(&shared)));
        assert_eq!(Arc::strong_count(&shared), 2);
        // A duplicate leaves the held copy alone; a newer one lets it go.
        assert_eq!(
            cat.insert_shared(Arc::new(item(&key, "orders", 1))),
            Ok(Merge::Duplicate)
        );
        assert!(std::ptr::eq(
            cat.get(shared.product()).unwrap(),
            Arc::as_ptr(&shared)
        ));
        assert_eq!(
            cat.insert(item(&key, "orders", 2)),
            Ok(Merge::Replaced { previous: 1 })
        );
        assert_eq!(Arc::strong_count(&shared), 1);
    }

    #[test]
    fn newer_replaces_and_stale_is_refused() {
        let key = DomainKeypair::from_secret([1; 32]);
        let mut cat = Catalog::default();
        assert_eq!(cat.insert(item(&key, "orders", 2)), Ok(Merge::Added));
        assert_eq!(
            cat.insert(item(&key, "orders", 1)),
            Err(MergeError::Stale { have: 2, got: 1 })
        );
        assert_eq!(cat.insert(item(&key, "orders", 2)), Ok(Merge::Duplicate));
        assert_eq!(
            cat.insert(item(&key, "orders", 3)),
            Ok(Merge::Replaced { previous: 2 })
        );
        assert_eq!(
            cat.get(&item(&key, "orders", 3).product().clone())
                .map(CatalogItem::version),
            Some(3)
        );
    }

    #[test]
    fn forged_and_foreign_signatures_are_refused() {
        let owner = DomainKeypair::from_secret([1; 32]);
        let thief = DomainKeypair::from_secret([2; 32]);
        let mut cat = Catalog::default();
        // Signed by another domain than the product's.
        let foreign = CatalogItem::Descriptor(Signed::sign(sample(&owner, "orders", 1), &thief));
        assert!(matches!(
            cat.insert(foreign),
            Err(MergeError::Item(ItemError::WrongSigner { .. }))
        ));
        // Tampered after signing.
        let CatalogItem::Descriptor(mut d) = item(&owner, "orders", 1) else {
            unreachable!()
        };
        d.value.title = "Changed".into();
        assert!(matches!(
            cat.insert(CatalogItem::Descriptor(d)),
            Err(MergeError::Item(ItemError::Signature(_)))
        ));
        assert!(cat.is_empty());
    }

    #[test]
    fn preview_predicts_insert_and_changes_nothing() {
        let key = DomainKeypair::from_secret([1; 32]);
        let mut other = sample(&key, "orders", 2);
        other.title = "Other".into();
        let other = CatalogItem::Descriptor(Signed::sign(other, &key));
        let inputs = [
            item(&key, "orders", 2),
            item(&key, "orders", 2),
            item(&key, "orders", 1),
            other.clone(),
            other,
            item(&key, "orders", 3),
        ];
        let mut cat = Catalog::default();
        for input in inputs {
            let before = cat.clone();
            let predicted = cat.preview(&input);
            assert_eq!(cat, before, "preview changed the catalog");
            assert_eq!(cat.insert_verified(input), predicted);
        }
    }

    #[test]
    fn equivocation_is_kept_as_evidence() {
        let key = DomainKeypair::from_secret([1; 32]);
        let a = item(&key, "orders", 1);
        let mut other = sample(&key, "orders", 1);
        other.title = "Other".into();
        let b = CatalogItem::Descriptor(Signed::sign(other, &key));
        let mut cat = Catalog::default();
        cat.insert(a.clone()).unwrap();
        assert_eq!(cat.insert(b.clone()), Ok(Merge::Equivocation));
        assert_eq!(cat.evidence().len(), 1);
        let kept = cat.get(a.product()).unwrap().hash();
        assert_eq!(kept, a.hash().min(b.hash()));
    }

    #[test]
    fn withdrawal_supersedes_and_republish_works() {
        let key = DomainKeypair::from_secret([1; 32]);
        let mut cat = Catalog::default();
        let d1 = item(&key, "orders", 1);
        cat.insert(d1.clone()).unwrap();
        let w = CatalogItem::Withdrawal(Signed::sign(
            Withdrawal {
                product: d1.product().clone(),
                version: 2,
                reason: "gone".into(),
                at: Timestamp(5),
            },
            &key,
        ));
        assert_eq!(cat.insert(w), Ok(Merge::Replaced { previous: 1 }));
        assert_eq!(cat.query(&Query::default()).count(), 0);
        assert!(matches!(cat.insert(d1), Err(MergeError::Stale { .. })));
        cat.insert(item(&key, "orders", 3)).unwrap();
        assert_eq!(cat.query(&Query::default()).count(), 1);
    }

    #[test]
    fn limits_refuse_new_products() {
        let key = DomainKeypair::from_secret([1; 32]);
        let mut cat = Catalog::new(CatalogLimits {
            max_products: 10,
            max_per_domain: 2,
            ..CatalogLimits::default()
        });
        cat.insert(item(&key, "a", 1)).unwrap();
        cat.insert(item(&key, "b", 1)).unwrap();
        assert!(matches!(
            cat.insert(item(&key, "c", 1)),
            Err(MergeError::Full(_))
        ));
        // Updates of held products still go in.
        assert!(cat.insert(item(&key, "a", 2)).is_ok());

        // A byte budget per domain: room for two items, not three.
        let one = crate::encoding::to_bytes(&item(&key, "a", 1)).len();
        let mut cat = Catalog::new(CatalogLimits {
            max_bytes_per_domain: 2 * one + one / 2,
            ..CatalogLimits::default()
        });
        cat.insert(item(&key, "a", 1)).unwrap();
        cat.insert(item(&key, "b", 1)).unwrap();
        assert_eq!(
            cat.insert(item(&key, "c", 1)),
            Err(MergeError::Full("too many catalog bytes for this domain"))
        );
        // Another domain has its own budget.
        let other = DomainKeypair::from_secret([2; 32]);
        assert_eq!(cat.insert(item(&other, "c", 1)), Ok(Merge::Added));
        // Replacing an item accounts for the bytes it frees.
        assert!(cat.insert(item(&key, "a", 2)).is_ok());
    }

    #[test]
    fn query_filters() {
        let key = DomainKeypair::from_secret([1; 32]);
        let mut cat = Catalog::default();
        cat.insert(item(&key, "orders", 1)).unwrap();
        let mut q = Query {
            tag: Some("orders".into()),
            ..Query::default()
        };
        assert_eq!(cat.query(&q).count(), 1);
        q.tag = Some("nope".into());
        assert_eq!(cat.query(&q).count(), 0);
        let q = Query {
            text: Some("EVERY order".into()),
            classification: Some(Classification::Pii),
            domain: Some(key.domain_id()),
            ..Query::default()
        };
        assert_eq!(cat.query(&q).count(), 1);
        let q = Query {
            classification: Some(Classification::Confidential),
            ..Query::default()
        };
        assert_eq!(cat.query(&q).count(), 0);
    }

    #[test]
    fn sync_finds_exactly_the_difference() {
        let a_key = DomainKeypair::from_secret([1; 32]);
        let mut a = Catalog::default();
        let mut b = Catalog::default();
        for i in 0..50 {
            let it = item(&a_key, &format!("p{i}"), 1);
            a.insert(it.clone()).unwrap();
            if i % 5 != 0 {
                b.insert(it).unwrap();
            }
        }
        // b has a newer version of p1.
        b.insert(item(&a_key, "p1", 2)).unwrap();
        let buckets = a.differing_buckets(&b.digest());
        let theirs = a.summaries_in(&buckets);
        let mut wanted = b.wanted(&theirs);
        wanted.sort();
        let mut expected: Vec<ProductId> = (0..50)
            .filter(|i| i % 5 == 0)
            .map(|i| item(&a_key, &format!("p{i}"), 1).product().clone())
            .collect();
        expected.sort();
        assert_eq!(wanted, expected);
        // And a wants p1 from b.
        let theirs = b.summaries_in(&b.differing_buckets(&a.digest()));
        assert_eq!(
            a.wanted(&theirs),
            vec![item(&a_key, "p1", 1).product().clone()]
        );
    }
}
