//! In-memory implementation of [`Store`], for unit tests and the simulator.
//! Never used by the daemon: nothing here survives the process.

use std::collections::BTreeMap;
use std::sync::Mutex;

use mesh_protocol::{CatalogItem, Hash, Manifest, ProductId};

use super::{Entries, HISTORY_KEEP, Store, StoreError, Table, history_key, product_key};

#[derive(Default)]
struct Tables {
    catalog: BTreeMap<Vec<u8>, CatalogItem>,
    history: BTreeMap<Vec<u8>, CatalogItem>,
    evidence: BTreeMap<Hash, CatalogItem>,
    manifests: BTreeMap<Hash, Manifest>,
    meta: BTreeMap<String, Vec<u8>>,
    keyed: BTreeMap<Table, BTreeMap<Vec<u8>, Vec<u8>>>,
}

/// A store that lives in memory.
#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
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
        self.with(|t| {
            t.catalog.insert(product_key(item), item.clone());
            let (product, version) = (item.product(), item.version());
            t.history
                .insert(history_key(product, version), item.clone());
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

    fn versions(&self, product: &ProductId) -> Result<Vec<CatalogItem>, StoreError> {
        self.with(|t| {
            t.history
                .range(history_key(product, 0)..=history_key(product, u64::MAX))
                .rev()
                .map(|(_, item)| item.clone())
                .collect()
        })
    }

    fn items(&self) -> Result<Vec<CatalogItem>, StoreError> {
        self.with(|t| t.catalog.values().cloned().collect())
    }

    fn put_evidence(&self, items: &[CatalogItem]) -> Result<(), StoreError> {
        self.with(|t| {
            for item in items {
                t.evidence.insert(item.hash(), item.clone());
            }
        })
    }

    fn put_manifest(&self, manifest: &Manifest) -> Result<(), StoreError> {
        self.with(|t| {
            t.manifests.insert(manifest.hash(), manifest.clone());
        })
    }

    fn manifest(&self, hash: &Hash) -> Result<Option<Manifest>, StoreError> {
        self.with(|t| t.manifests.get(hash).cloned())
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
