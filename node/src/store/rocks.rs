//! RocksDB implementation of [`Store`].

use std::path::Path;

use mesh_protocol::{CatalogItem, Hash, Manifest, ProductId, encoding};
use rocksdb::{ColumnFamilyDescriptor, DB, Options, WriteBatch, WriteOptions};

use super::{Entries, HISTORY_KEEP, Store, StoreError, Table, history_key, id_key, product_key};

const CF_OWN: &str = "own_products";
const CF_CATALOG: &str = "catalog";
const CF_EVIDENCE: &str = "evidence";
const CF_MANIFESTS: &str = "manifests";
const CF_GOVERNANCE: &str = "governance";
const CF_META: &str = "meta";
const CF_HISTORY: &str = "history";
const CF_ACCESS: &str = "access";
const FAMILIES: [&str; 8] = [
    CF_OWN,
    CF_CATALOG,
    CF_EVIDENCE,
    CF_MANIFESTS,
    CF_GOVERNANCE,
    CF_META,
    CF_HISTORY,
    CF_ACCESS,
];

/// Largest stored value decoded back (a manifest of the maximum size).
const MAX_VALUE: usize = 16 * 1024 * 1024;

/// The node's RocksDB database.
pub struct RocksStore {
    db: DB,
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "a map_err adaptor takes the error by value"
)]
fn db_err(e: rocksdb::Error) -> StoreError {
    StoreError::Db(e.to_string())
}

fn table_cf(table: Table) -> &'static str {
    match table {
        Table::Governance => CF_GOVERNANCE,
        Table::Access => CF_ACCESS,
    }
}

fn synced() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

impl RocksStore {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        options.set_max_open_files(256);
        options.set_keep_log_file_num(4);
        let families = FAMILIES
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, Options::default()));
        let db = DB::open_cf_descriptors(&options, path, families).map_err(|e| {
            let text = e.to_string();
            if text.contains("lock") {
                StoreError::Locked(path.display().to_string())
            } else {
                StoreError::Db(text)
            }
        })?;
        Ok(Self { db })
    }

    fn cf(&self, name: &'static str) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StoreError::Db(format!("column family {name} missing")))
    }

    fn decode<T: serde::de::DeserializeOwned>(
        table: &'static str,
        bytes: &[u8],
    ) -> Result<T, StoreError> {
        encoding::from_bytes(bytes, MAX_VALUE).map_err(|e| StoreError::Corrupt {
            table,
            reason: e.to_string(),
        })
    }
}

impl Store for RocksStore {
    fn put_item(&self, item: &CatalogItem, own: bool) -> Result<(), StoreError> {
        let key = product_key(item);
        let value = encoding::to_bytes(item);
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_CATALOG)?, &key, &value);
        if own {
            batch.put_cf(self.cf(CF_OWN)?, &key, item.version().to_be_bytes());
        }
        let history = self.cf(CF_HISTORY)?;
        let (product, version) = (item.product(), item.version());
        batch.put_cf(history, history_key(product, version), &value);
        if version > HISTORY_KEEP {
            batch.delete_range_cf(
                history,
                history_key(product, 0),
                history_key(product, version - HISTORY_KEEP + 1),
            );
        }
        self.db.write_opt(batch, &synced()).map_err(db_err)
    }

    fn versions(&self, product: &ProductId) -> Result<Vec<CatalogItem>, StoreError> {
        let prefix = id_key(product);
        let mut out = Vec::new();
        let mode = rocksdb::IteratorMode::From(&prefix, rocksdb::Direction::Forward);
        for entry in self.db.iterator_cf(self.cf(CF_HISTORY)?, mode) {
            let (key, value) = entry.map_err(db_err)?;
            if !key.starts_with(&prefix) {
                break;
            }
            out.push(Self::decode(CF_HISTORY, &value)?);
        }
        out.reverse();
        Ok(out)
    }

    fn items(&self) -> Result<Vec<CatalogItem>, StoreError> {
        let mut out = Vec::new();
        for entry in self
            .db
            .iterator_cf(self.cf(CF_CATALOG)?, rocksdb::IteratorMode::Start)
        {
            let (_, value) = entry.map_err(db_err)?;
            out.push(Self::decode(CF_CATALOG, &value)?);
        }
        Ok(out)
    }

    fn put_evidence(&self, items: &[CatalogItem]) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        let cf = self.cf(CF_EVIDENCE)?;
        for item in items {
            batch.put_cf(cf, item.hash().0, encoding::to_bytes(item));
        }
        self.db.write_opt(batch, &synced()).map_err(db_err)
    }

    fn put_manifest(&self, manifest: &Manifest) -> Result<(), StoreError> {
        self.db
            .put_cf_opt(
                self.cf(CF_MANIFESTS)?,
                manifest.hash().0,
                encoding::to_bytes(manifest),
                &synced(),
            )
            .map_err(db_err)
    }

    fn manifest(&self, hash: &Hash) -> Result<Option<Manifest>, StoreError> {
        match self
            .db
            .get_cf(self.cf(CF_MANIFESTS)?, hash.0)
            .map_err(db_err)?
        {
            Some(bytes) => Ok(Some(Self::decode(CF_MANIFESTS, &bytes)?)),
            None => Ok(None),
        }
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get_cf(self.cf(CF_META)?, key).map_err(db_err)
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.db
            .put_cf_opt(self.cf(CF_META)?, key, value, &synced())
            .map_err(db_err)
    }

    fn metas(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        let mode = rocksdb::IteratorMode::From(prefix.as_bytes(), rocksdb::Direction::Forward);
        for entry in self.db.iterator_cf(self.cf(CF_META)?, mode) {
            let (key, value) = entry.map_err(db_err)?;
            if !key.starts_with(prefix.as_bytes()) {
                break;
            }
            out.push((String::from_utf8_lossy(&key).into_owned(), value.to_vec()));
        }
        Ok(out)
    }

    fn delete_meta(&self, key: &str) -> Result<(), StoreError> {
        self.db
            .delete_cf_opt(self.cf(CF_META)?, key, &synced())
            .map_err(db_err)
    }

    fn write(&self, table: Table, writes: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), StoreError> {
        let cf = self.cf(table_cf(table))?;
        let mut batch = WriteBatch::default();
        for (key, value) in writes {
            match value {
                Some(v) => batch.put_cf(cf, key, v),
                None => batch.delete_cf(cf, key),
            }
        }
        self.db.write_opt(batch, &synced()).map_err(db_err)
    }

    fn scan(&self, table: Table, prefix: &[u8]) -> Result<Entries, StoreError> {
        let mut out = Vec::new();
        let mode = rocksdb::IteratorMode::From(prefix, rocksdb::Direction::Forward);
        for entry in self.db.iterator_cf(self.cf(table_cf(table))?, mode) {
            let (key, value) = entry.map_err(db_err)?;
            if !key.starts_with(prefix) {
                break;
            }
            out.push((key.to_vec(), value.to_vec()));
        }
        Ok(out)
    }

    fn flush(&self) -> Result<(), StoreError> {
        for name in FAMILIES {
            self.db.flush_cf(self.cf(name)?).map_err(db_err)?;
        }
        self.db.flush_wal(true).map_err(db_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_item as item;

    #[test]
    fn history_keeps_the_latest_versions_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let stores: [Box<dyn Store>; 2] = [
            Box::new(RocksStore::open(dir.path()).unwrap()),
            Box::new(crate::store::MemoryStore::default()),
        ];
        for store in stores {
            for v in 1..=HISTORY_KEEP + 3 {
                store.put_item(&item(v), false).unwrap();
            }
            let versions: Vec<u64> = store
                .versions(item(1).product())
                .unwrap()
                .iter()
                .map(CatalogItem::version)
                .collect();
            let expected: Vec<u64> = (4..=HISTORY_KEEP + 3).rev().collect();
            assert_eq!(versions, expected);
            let other = ProductId {
                domain: item(1).product().domain,
                name: "orders2".into(),
            };
            assert!(store.versions(&other).unwrap().is_empty());
        }
    }

    #[test]
    fn items_survive_reopen_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = RocksStore::open(dir.path()).unwrap();
            store.put_item(&item(1), true).unwrap();
            store.put_item(&item(2), true).unwrap();
            let m = Manifest::from_bytes(b"hello", 4096);
            store.put_manifest(&m).unwrap();
            store.put_meta("k", b"v").unwrap();
        }
        let store = RocksStore::open(dir.path()).unwrap();
        assert_eq!(store.items().unwrap(), vec![item(2)]);
        let m = Manifest::from_bytes(b"hello", 4096);
        assert_eq!(store.manifest(&m.hash()).unwrap(), Some(m));
        assert_eq!(store.meta("k").unwrap(), Some(b"v".to_vec()));
        store.put_meta("fetch/a", b"1").unwrap();
        store.put_meta("fetch/b", b"2").unwrap();
        store.put_meta("fetcx", b"3").unwrap();
        let found = store.metas("fetch/").unwrap();
        assert_eq!(found.len(), 2);
        store.delete_meta("fetch/a").unwrap();
        assert_eq!(
            store.metas("fetch/").unwrap(),
            vec![("fetch/b".to_owned(), b"2".to_vec())]
        );
    }

    #[test]
    fn second_open_is_refused_as_locked() {
        let dir = tempfile::tempdir().unwrap();
        let _first = RocksStore::open(dir.path()).unwrap();
        assert!(matches!(
            RocksStore::open(dir.path()),
            Err(StoreError::Locked(_))
        ));
    }
}
