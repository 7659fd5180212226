//! Blobs whose every chunk this process checked, and the file metadata it
//! saw then: a chunk of such a blob is served without hashing it again.
//!
//! A node checks every chunk it serves against the manifest (the local
//! copy could have been changed). Hashing a 1 GiB blob costs a core about
//! 0.4 s per fetch served, and most of it is wasted: a blob this process
//! wrote (a publish hashes it while writing it; a fetch checks each chunk
//! before writing it) or read whole and checked (`Blobs::verify`) cannot
//! have changed since unless its file was written or replaced, and either
//! changes what `fstat` says of it: the inode, the size, or the change
//! time (`ctime`, which the kernel sets on every write and which no
//! system call sets back). So the stamp is taken when the blob is checked
//! or written, and every read of a chunk compares the open file's metadata
//! with it: equal, the chunk is served as read; different (or no stamp: a
//! blob from before a restart), it is hashed as before.
//!
//! The change time has the kernel's clock tick as its grain (a few ms): a
//! write in the same tick as the node's own last write before the stamp
//! leaves it unchanged. Only the node writes its private blob directory at
//! that moment (the file has a random temporary name until then), so what
//! this catches is a file changed after the node wrote it.
//!
//! What this gives up: damage below the filesystem that leaves the
//! metadata alone (a failing disk's bit rot) is no longer caught on the
//! way out. The fetcher hashes every chunk it receives, so a damaged chunk
//! is still never accepted; it is refused as corrupt and fetched from
//! another provider. Stamps live in memory only: after a restart each
//! blob's chunks are hashed on serve until it is checked whole again.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::sync::{Arc, Mutex, PoisonError};

use mesh_protocol::Hash;

/// What `fstat` says of a blob file, in the fields a write or a
/// replacement changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// The stamp of an open file.
    pub(crate) fn of(file: &File) -> std::io::Result<Self> {
        Ok(Self::from_metadata(&file.metadata()?))
    }

    #[cfg(unix)]
    fn from_metadata(m: &Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    /// Without a change time no stamp can vouch for a file: a stamp that
    /// never matches (`len` past any file) keeps every read hashed.
    #[cfg(not(unix))]
    fn from_metadata(_m: &Metadata) -> Self {
        Self {
            dev: 0,
            ino: 0,
            len: u64::MAX,
            mtime: (0, 0),
            ctime: (0, 0),
        }
    }
}

/// The stamps of the blobs this process checked whole, by manifest hash.
#[derive(Clone, Debug, Default)]
pub(crate) struct Checked(Arc<Mutex<HashMap<Hash, Stamp>>>);

impl Checked {
    /// Records that the blob of `hash`, open as `file`, was checked whole.
    /// A file whose metadata cannot be read gets no stamp: its chunks are
    /// hashed when served, which is always safe.
    pub(crate) fn record(&self, hash: Hash, file: &File) {
        if let Ok(stamp) = Stamp::of(file) {
            self.lock().insert(hash, stamp);
        }
    }

    /// Forgets the blob of `hash` (removed or found damaged).
    pub(crate) fn forget(&self, hash: &Hash) {
        self.lock().remove(hash);
    }

    /// Whether `file`, open as the blob of `hash`, is still the file that
    /// was checked whole.
    pub(crate) fn vouches(&self, hash: &Hash, file: &File) -> bool {
        let Some(kept) = self.lock().get(hash).copied() else {
            return false;
        };
        Stamp::of(file).is_ok_and(|now| now == kept)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Hash, Stamp>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::os::unix::fs::FileExt;

    use super::super::Blobs;
    use std::os::unix::fs::MetadataExt;

    /// Waits (bounded) until the filesystem's clock has moved past the
    /// change time of `path`, so a write now gets a later one.
    fn next_tick(path: &std::path::Path) {
        let then = std::fs::metadata(path).unwrap();
        let probe = path.with_extension("probe");
        for _ in 0..100_000 {
            std::fs::write(&probe, b"x").unwrap();
            let now = std::fs::metadata(&probe).unwrap();
            if (now.ctime(), now.ctime_nsec()) > (then.ctime(), then.ctime_nsec()) {
                return;
            }
        }
        panic!("the filesystem clock did not move");
    }

    fn ingested(dir: &std::path::Path) -> (Blobs, mesh_protocol::Manifest) {
        let blobs = Blobs::open(dir).unwrap();
        let src = dir.join("src");
        std::fs::write(&src, vec![7u8; 10_000]).unwrap();
        let (manifest, _pin) = blobs.ingest(&src, 4096, &mut |_: &[u8]| {}).unwrap();
        (blobs, manifest)
    }

    #[test]
    fn a_blob_written_here_is_vouched_for_until_its_file_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let (blobs, manifest) = ingested(dir.path());
        assert!(
            blobs
                .read_chunk_vouched(&manifest.hash(), &manifest, 1)
                .unwrap()
                .1
        );
        // Even the same byte written again: the change time moves.
        next_tick(&blobs.path(&manifest.hash()));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(blobs.path(&manifest.hash()))
            .unwrap();
        file.write_all_at(&[7], 5000).unwrap();
        assert!(
            !blobs
                .read_chunk_vouched(&manifest.hash(), &manifest, 1)
                .unwrap()
                .1
        );
        // A whole check vouches for it again.
        blobs.verify(&manifest).unwrap();
        assert!(
            blobs
                .read_chunk_vouched(&manifest.hash(), &manifest, 1)
                .unwrap()
                .1
        );
    }

    #[test]
    fn a_restart_or_a_removal_forgets_what_was_checked() {
        let dir = tempfile::tempdir().unwrap();
        let (blobs, manifest) = ingested(dir.path());
        let reopened = Blobs::open(dir.path()).unwrap();
        assert!(
            !reopened
                .read_chunk_vouched(&manifest.hash(), &manifest, 0)
                .unwrap()
                .1
        );
        blobs.remove(&manifest.hash());
        let src = dir.path().join("src");
        std::fs::write(&src, vec![7u8; 10_000]).unwrap();
        std::fs::copy(&src, blobs.path(&manifest.hash())).unwrap();
        assert!(
            !blobs
                .read_chunk_vouched(&manifest.hash(), &manifest, 0)
                .unwrap()
                .1
        );
    }
}
