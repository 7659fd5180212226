//! In-memory implementation of [`Store`], for unit tests and the simulator.
//! Never used by the daemon: nothing here survives the process.
//!
//! In a simulated mesh every node stores every product, so the same
//! catalog items are held once per node: at 1,000 nodes, a million copies.
//! Stores built on one [`ItemPool`] hold one shared copy of each item
//! instead; a store's own catalog and history tables share theirs too, and
//! [`Store::share`] hands the node's catalog that same copy.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use mesh_protocol::{CatalogItem, Hash, Manifest, ProductId};

use super::{Entries, HISTORY_KEEP, Store, StoreError, Table, history_key, product_key};

/// Catalog items shared by the stores built on it, by item hash.
///
/// The pool holds weak references only: an item lives as long as some
/// store or catalog still holds it.
#[derive(Default)]
pub struct ItemPool {
    items: Mutex<PoolItems>,
}

#[derive(Default)]
struct PoolItems {
    by_hash: HashMap<Hash, Weak<CatalogItem>>,
    /// Entries at the last sweep of dead ones; the next sweep comes when
    /// the map has doubled, so sweeping costs amortised constant time.
    swept_at: usize,
}

impl ItemPool {
    /// The pool's copy of `item`, added if no store holds it yet.
    pub fn intern(&self, item: &CatalogItem) -> Arc<CatalogItem> {
        self.intern_hashed(item.hash(), item)
    }

    /// [`ItemPool::intern`] for an item whose hash the caller has.
    fn intern_hashed(&self, hash: Hash, item: &CatalogItem) -> Arc<CatalogItem> {
        let mut pool = self.lock();
        if let Some(shared) = pool.by_hash.get(&hash).and_then(Weak::upgrade) {
            return shared;
        }
        let shared = Arc::new(item.clone());
        pool.by_hash.insert(hash, Arc::downgrade(&shared));
        if pool.by_hash.len() >= 2 * pool.swept_at.max(1024) {
            pool.by_hash.retain(|_, w| w.strong_count() > 0);
            pool.swept_at = pool.by_hash.len();
        }
        shared
    }

    /// Items some store or catalog still holds.
    #[cfg(test)]
    fn live(&self) -> usize {
        self.lock()
            .by_hash
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    fn lock(&self) -> MutexGuard<'_, PoolItems> {
        // The map is consistent after every statement; a panic elsewhere
        // cannot leave it half-updated.
        self.items
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[derive(Default)]
struct Tables {
    catalog: BTreeMap<Vec<u8>, Arc<CatalogItem>>,
    history: BTreeMap<Vec<u8>, Arc<CatalogItem>>,
    evidence: BTreeMap<Hash, Arc<CatalogItem>>,
    manifests: BTreeMap<Hash, Manifest>,
    meta: BTreeMap<String, Vec<u8>>,
    keyed: BTreeMap<Table, BTreeMap<Vec<u8>, Vec<u8>>>,
}

/// A store that lives in memory.
#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
    pool: Arc<ItemPool>,
}

impl MemoryStore {
    /// A store that shares its catalog items with every other store on
    /// `pool`.
    pub fn with_pool(pool: Arc<ItemPool>) -> Self {
        Self {
            tables: Mutex::default(),
            pool,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Tables) -> T) -> Result<T, StoreError> {
        let mut guard = self
            .tables
            .lock()
            .map_err(|_| StoreError::Db("memory store poisoned".into()))?;
        Ok(f(&mut guard))
    }
}

impl Store for MemoryStore {
    fn put_item(&self, item: &CatalogItem, _own: bool) -> Result<(), StoreError> {
        let shared = self.pool.intern(item);
        self.with(|t| {
            t.catalog.insert(product_key(item), shared.clone());
            let (product, version) = (item.product(), item.version());
            t.history.insert(history_key(product, version), shared);
            let oldest_kept = history_key(product, version.saturating_sub(HISTORY_KEEP - 1));
            let stale: Vec<_> = t
                .history
                .range(history_key(product, 0)..oldest_kept)
                .map(|(k, _)| k.clone())
                .collect();
            for key in stale {
                t.history.remove(&key);
            }
        })
    }

    /// The copy this store just took for `item`'s product when it is that
    /// item (the usual case: the node stores, then shares), without
    /// hashing it again; the pool's otherwise.
    fn share(&self, item: &CatalogItem) -> Arc<CatalogItem> {
        let held = self
            .with(|t| {
                t.catalog
                    .get(&product_key(item))
                    .filter(|held| ***held == *item)
                    .cloned()
            })
            .ok()
            .flatten();
        held.unwrap_or_else(|| self.pool.intern(item))
    }

    fn versions(&self, product: &ProductId) -> Result<Vec<CatalogItem>, StoreError> {
        self.with(|t| {
            t.history
                .range(history_key(product, 0)..=history_key(product, u64::MAX))
                .rev()
                .map(|(_, item)| CatalogItem::clone(item))
                .collect()
        })
    }

    fn items(&self) -> Result<Vec<CatalogItem>, StoreError> {
        self.with(|t| t.catalog.values().map(|i| CatalogItem::clone(i)).collect())
    }

    fn put_evidence(&self, items: &[CatalogItem]) -> Result<(), StoreError> {
        let shared: Vec<_> = items
            .iter()
            .map(|i| {
                let hash = i.hash();
                (hash, self.pool.intern_hashed(hash, i))
            })
            .collect();
        self.with(|t| t.evidence.extend(shared))
    }

    fn put_manifest(&self, manifest: &Manifest) -> Result<(), StoreError> {
        self.with(|t| {
            t.manifests.insert(manifest.hash(), manifest.clone());
        })
    }

    fn manifest(&self, hash: &Hash) -> Result<Option<Manifest>, StoreError> {
        self.with(|t| t.manifests.get(hash).cloned())
    }

    fn delete_manifest(&self, hash: &Hash) -> Result<(), StoreError> {
        self.with(|t| {
            t.manifests.remove(hash);
        })
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|t| t.meta.get(key).cloned())
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.with(|t| {
            t.meta.insert(key.to_owned(), value.to_vec());
        })
    }

    fn metas(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.with(|t| {
            t.meta
                .range(prefix.to_owned()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
    }

    fn delete_meta(&self, key: &str) -> Result<(), StoreError> {
        self.with(|t| {
            t.meta.remove(key);
        })
    }

    fn write(&self, table: Table, writes: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), StoreError> {
        self.with(|t| {
            let keyed = t.keyed.entry(table).or_default();
            for (key, value) in writes {
                match value {
                    Some(v) => keyed.insert(key.clone(), v.clone()),
                    None => keyed.remove(key),
                };
            }
        })
    }

    fn scan(&self, table: Table, prefix: &[u8]) -> Result<Entries, StoreError> {
        self.with(|t| {
            t.keyed
                .get(&table)
                .into_iter()
                .flat_map(|keyed| keyed.range(prefix.to_vec()..))
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::store::test_item as item;

    fn held(store: &MemoryStore) -> Arc<CatalogItem> {
        store
            .with(|t| t.catalog.values().next().cloned())
            .unwrap()
            .unwrap()
    }

    /// A pool and two stores on it that both took `item(1)`.
    fn two_stores_holding_one_item() -> (Arc<ItemPool>, MemoryStore, MemoryStore) {
        let pool = Arc::new(ItemPool::default());
        let a = MemoryStore::with_pool(pool.clone());
        let b = MemoryStore::with_pool(pool.clone());
        a.put_item(&item(1), false).unwrap();
        b.put_item(&item(1), false).unwrap();
        (pool, a, b)
    }

    #[test]
    fn stores_on_one_pool_hold_one_copy_of_an_item() {
        let (pool, a, b) = two_stores_holding_one_item();
        assert!(Arc::ptr_eq(&held(&a), &held(&b)));
        assert_eq!(pool.live(), 1);
        // The copy a node's catalog takes is that same one.
        assert!(Arc::ptr_eq(&a.share(&item(1)), &held(&b)));
        // Catalog and history of both stores: four holders of one copy.
        assert_eq!(Arc::strong_count(&held(&a)), 5);
        assert_eq!(a.items().unwrap(), vec![item(1)]);
        assert_eq!(b.versions(item(1).product()).unwrap(), vec![item(1)]);

        // A different version is a different item.
        b.put_item(&item(2), false).unwrap();
        assert!(!Arc::ptr_eq(&held(&a), &held(&b)));
        assert_eq!(pool.live(), 2);
    }

    #[test]
    fn an_item_no_store_holds_leaves_the_pool() {
        let (pool, a, b) = two_stores_holding_one_item();
        drop(a);
        assert_eq!(pool.live(), 1);
        drop(b);
        assert_eq!(pool.live(), 0);
        // Interned again from scratch, not resurrected.
        let c = MemoryStore::with_pool(pool.clone());
        c.put_item(&item(1), false).unwrap();
        assert_eq!(c.items().unwrap(), vec![item(1)]);
        assert_eq!(pool.live(), 1);
    }

    #[test]
    fn dead_entries_are_swept_as_the_pool_grows() {
        let pool = ItemPool::default();
        for v in 0..5_000 {
            // Each item is dropped at once: only its weak entry remains.
            drop(pool.intern(&item(v)));
        }
        let entries = pool.lock().by_hash.len();
        assert!(entries < 2_048, "{entries} entries kept for dead items");
        assert_eq!(pool.live(), 0);
    }
}
