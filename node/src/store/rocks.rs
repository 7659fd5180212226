//! RocksDB implementation of [`Store`], and its recovery from IO errors.
//!
//! RocksDB stops all writes after a failed write (a full disk, an IO
//! error) and stays stopped: before this module recovered, a node whose
//! disk filled for a moment refused every publish until restarted and
//! then exited 1 on SIGTERM. So a failed write marks the store
//! **degraded**, with the reason (e.g. "no space left on device while
//! writing the catalog"), and the next write, or a health check, reopens
//! the database once the filesystem has space again, probes it with a
//! synced write and, if that succeeds, carries on as if nothing happened.
//! Reads keep working from the stopped database meanwhile.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

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

/// Free bytes the filesystem must have before a degraded store is
/// reopened: opening writes a new log, manifest and options file.
const REOPEN_FREE: u64 = 4 * 1024 * 1024;

/// Meta key of the synced write that proves a reopened store writes.
const PROBE_KEY: &str = "store/probe";

/// The node's RocksDB database.
pub struct RocksStore {
    path: PathBuf,
    /// `None` only while it is being reopened, or if reopening failed.
    db: RwLock<Option<DB>>,
    /// Why writes fail, while they do.
    degraded: Mutex<Option<String>>,
}

fn db_err(e: &rocksdb::Error) -> StoreError {
    StoreError::Db(e.to_string())
}

/// The error of a failed write: a full disk by name, other IO errors with
/// RocksDB's words.
fn write_err(e: &rocksdb::Error, what: &'static str) -> StoreError {
    let text = e.to_string();
    if text.contains("No space left on device") || text.contains("ENOSPC") {
        StoreError::NoSpace(what)
    } else if e.kind() == rocksdb::ErrorKind::IOError {
        StoreError::Io { what, reason: text }
    } else {
        StoreError::Db(text)
    }
}

fn table_cf(table: Table) -> &'static str {
    match table {
        Table::Governance => CF_GOVERNANCE,
        Table::Access => CF_ACCESS,
    }
}

fn table_what(table: Table) -> &'static str {
    match table {
        Table::Governance => "writing governance records",
        Table::Access => "writing access records",
    }
}

fn synced() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

fn open_db(path: &Path) -> Result<DB, StoreError> {
    let mut options = Options::default();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    options.set_compression_type(rocksdb::DBCompressionType::Lz4);
    options.set_max_open_files(256);
    options.set_keep_log_file_num(4);
    let families = FAMILIES
        .iter()
        .map(|name| ColumnFamilyDescriptor::new(*name, Options::default()));
    DB::open_cf_descriptors(&options, path, families).map_err(|e| {
        let text = e.to_string();
        if text.contains("lock") {
            StoreError::Locked(path.display().to_string())
        } else {
            StoreError::Db(text)
        }
    })
}

/// The database for reading only (takes no lock, writes nothing).
fn open_read_only(path: &Path) -> Result<DB, StoreError> {
    DB::open_cf_for_read_only(&Options::default(), path, FAMILIES, false).map_err(|e| db_err(&e))
}

/// Free bytes on the filesystem holding `path` (`None`: unknown).
fn free_bytes(path: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        let stat = rustix::fs::statvfs(path).ok()?;
        Some(stat.f_bavail.saturating_mul(stat.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// A read guard on the open database.
struct Open<'a>(RwLockReadGuard<'a, Option<DB>>);

impl Open<'_> {
    fn db(&self) -> &DB {
        // `Open` is only built over `Some` (see `RocksStore::open_db`).
        self.0.as_ref().unwrap_or_else(|| unreachable!())
    }

    fn cf(&self, name: &'static str) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.db()
            .cf_handle(name)
            .ok_or_else(|| StoreError::Db(format!("column family {name} missing")))
    }
}

impl RocksStore {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = open_db(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            db: RwLock::new(Some(db)),
            degraded: Mutex::new(None),
        })
    }

    /// The database, for reading or writing.
    fn db(&self) -> Result<Open<'_>, StoreError> {
        let guard = self
            .db
            .read()
            .map_err(|_| StoreError::Db("database lock poisoned".into()))?;
        if guard.is_none() {
            let reason = self
                .reason()
                .unwrap_or_else(|| "the database is closed".into());
            return Err(StoreError::Degraded(reason));
        }
        Ok(Open(guard))
    }

    fn reason(&self) -> Option<String> {
        self.degraded.lock().ok().and_then(|d| d.clone())
    }

    fn set_reason(&self, reason: Option<String>) {
        if let Ok(mut d) = self.degraded.lock() {
            match (&*d, &reason) {
                (None, Some(r)) => tracing::error!(reason = %r, "store degraded: writes fail"),
                (Some(_), None) => tracing::info!("store recovered: writes work again"),
                _ => {}
            }
            *d = reason;
        }
    }

    /// Runs one write: first recovers a degraded store if it can, then
    /// marks the store degraded if the write fails with an IO error.
    fn write_with(
        &self,
        write: impl FnOnce(&Open<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if self.reason().is_some() {
            self.recover();
        }
        let result = write(&self.db()?);
        if let Err(e @ (StoreError::NoSpace(_) | StoreError::Io { .. })) = &result {
            self.set_reason(Some(e.to_string()));
        }
        result
    }

    /// Reopens a degraded database if its filesystem has room again, and
    /// proves it with a synced write. Returns whether the store is healthy.
    fn recover(&self) -> bool {
        if self.reason().is_none() {
            return true;
        }
        if free_bytes(&self.path).is_some_and(|free| free < REOPEN_FREE) {
            return false;
        }
        let Ok(mut guard) = self.db.write() else {
            return false;
        };
        // Close first: the open database holds the directory's lock.
        drop(guard.take());
        match open_db(&self.path) {
            Ok(db) => *guard = Some(db),
            Err(e) => {
                tracing::warn!(error = %e, "cannot reopen the degraded store yet");
                // Reads go on from a read-only copy until the next try.
                *guard = open_read_only(&self.path).ok();
                return false;
            }
        }
        drop(guard);
        let probe = self.db().and_then(|open| {
            let meta = open.cf(CF_META)?;
            open.db()
                .put_cf_opt(meta, PROBE_KEY, b"1", &synced())
                .map_err(|e| write_err(&e, "checking the database after an error"))
        });
        match probe {
            Ok(()) => {
                self.set_reason(None);
                true
            }
            Err(e) => {
                self.set_reason(Some(e.to_string()));
                false
            }
        }
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
        self.write_with(|open| {
            let mut batch = WriteBatch::default();
            batch.put_cf(open.cf(CF_CATALOG)?, &key, &value);
            if own {
                batch.put_cf(open.cf(CF_OWN)?, &key, item.version().to_be_bytes());
            }
            let history = open.cf(CF_HISTORY)?;
            let (product, version) = (item.product(), item.version());
            batch.put_cf(history, history_key(product, version), &value);
            if version > HISTORY_KEEP {
                batch.delete_range_cf(
                    history,
                    history_key(product, 0),
                    history_key(product, version - HISTORY_KEEP + 1),
                );
            }
            open.db()
                .write_opt(batch, &synced())
                .map_err(|e| write_err(&e, "writing the catalog"))
        })
    }

    fn versions(&self, product: &ProductId) -> Result<Vec<CatalogItem>, StoreError> {
        let prefix = id_key(product);
        let mut out = Vec::new();
        let open = self.db()?;
        let mode = rocksdb::IteratorMode::From(&prefix, rocksdb::Direction::Forward);
        for entry in open.db().iterator_cf(open.cf(CF_HISTORY)?, mode) {
            let (key, value) = entry.map_err(|e| db_err(&e))?;
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
        let open = self.db()?;
        for entry in open
            .db()
            .iterator_cf(open.cf(CF_CATALOG)?, rocksdb::IteratorMode::Start)
        {
            let (_, value) = entry.map_err(|e| db_err(&e))?;
            out.push(Self::decode(CF_CATALOG, &value)?);
        }
        Ok(out)
    }

    fn put_evidence(&self, items: &[CatalogItem]) -> Result<(), StoreError> {
        self.write_with(|open| {
            let mut batch = WriteBatch::default();
            let cf = open.cf(CF_EVIDENCE)?;
            for item in items {
                batch.put_cf(cf, item.hash().0, encoding::to_bytes(item));
            }
            open.db()
                .write_opt(batch, &synced())
                .map_err(|e| write_err(&e, "writing equivocation evidence"))
        })
    }

    fn put_manifest(&self, manifest: &Manifest) -> Result<(), StoreError> {
        self.write_with(|open| {
            open.db()
                .put_cf_opt(
                    open.cf(CF_MANIFESTS)?,
                    manifest.hash().0,
                    encoding::to_bytes(manifest),
                    &synced(),
                )
                .map_err(|e| write_err(&e, "writing a manifest"))
        })
    }

    fn delete_manifest(&self, hash: &Hash) -> Result<(), StoreError> {
        self.write_with(|open| {
            open.db()
                .delete_cf_opt(open.cf(CF_MANIFESTS)?, hash.0, &synced())
                .map_err(|e| write_err(&e, "removing a manifest"))
        })
    }

    fn manifest(&self, hash: &Hash) -> Result<Option<Manifest>, StoreError> {
        let open = self.db()?;
        match open
            .db()
            .get_cf(open.cf(CF_MANIFESTS)?, hash.0)
            .map_err(|e| db_err(&e))?
        {
            Some(bytes) => Ok(Some(Self::decode(CF_MANIFESTS, &bytes)?)),
            None => Ok(None),
        }
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let open = self.db()?;
        open.db()
            .get_cf(open.cf(CF_META)?, key)
            .map_err(|e| db_err(&e))
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.write_with(|open| {
            open.db()
                .put_cf_opt(open.cf(CF_META)?, key, value, &synced())
                .map_err(|e| write_err(&e, "writing node metadata"))
        })
    }

    fn metas(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        let open = self.db()?;
        let mode = rocksdb::IteratorMode::From(prefix.as_bytes(), rocksdb::Direction::Forward);
        for entry in open.db().iterator_cf(open.cf(CF_META)?, mode) {
            let (key, value) = entry.map_err(|e| db_err(&e))?;
            if !key.starts_with(prefix.as_bytes()) {
                break;
            }
            out.push((String::from_utf8_lossy(&key).into_owned(), value.to_vec()));
        }
        Ok(out)
    }

    fn delete_meta(&self, key: &str) -> Result<(), StoreError> {
        self.write_with(|open| {
            open.db()
                .delete_cf_opt(open.cf(CF_META)?, key, &synced())
                .map_err(|e| write_err(&e, "writing node metadata"))
        })
    }

    fn write(&self, table: Table, writes: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), StoreError> {
        self.write_with(|open| {
            let cf = open.cf(table_cf(table))?;
            let mut batch = WriteBatch::default();
            for (key, value) in writes {
                match value {
                    Some(v) => batch.put_cf(cf, key, v),
                    None => batch.delete_cf(cf, key),
                }
            }
            open.db()
                .write_opt(batch, &synced())
                .map_err(|e| write_err(&e, table_what(table)))
        })
    }

    fn scan(&self, table: Table, prefix: &[u8]) -> Result<Entries, StoreError> {
        let mut out = Vec::new();
        let open = self.db()?;
        let mode = rocksdb::IteratorMode::From(prefix, rocksdb::Direction::Forward);
        for entry in open.db().iterator_cf(open.cf(table_cf(table))?, mode) {
            let (key, value) = entry.map_err(|e| db_err(&e))?;
            if !key.starts_with(prefix) {
                break;
            }
            out.push((key.to_vec(), value.to_vec()));
        }
        Ok(out)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.write_with(|open| {
            let what = "flushing the database";
            for name in FAMILIES {
                open.db()
                    .flush_cf(open.cf(name)?)
                    .map_err(|e| write_err(&e, what))?;
            }
            open.db().flush_wal(true).map_err(|e| write_err(&e, what))
        })
    }

    fn degraded(&self) -> Option<String> {
        if self.recover() { None } else { self.reason() }
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
