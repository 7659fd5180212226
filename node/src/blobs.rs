//! Content files: the bytes of every product this node holds, one file per
//! manifest under `DATA_DIR/blobs/`, named by the manifest hash.
//!
//! Publishing streams the source file once: every buffer is hashed into the
//! manifest and written to a temporary file, which is synced and atomically
//! renamed once complete, so memory stays bounded whatever the size and a
//! crash never leaves a half-written blob under its final name. Chunks are
//! served by positioned reads from the same file.
//!
//! The directory is private to the node (0700, files 0600): on a shared
//! host no other user reads a product's bytes through it. A fetch's output
//! is a copy, never a link, so editing it cannot damage the node's blob;
//! the copy is written to a randomly named file created exclusively beside
//! the output (so a planted link is never followed) and renamed into place.
//!
//! A blob this process hashed whole (written by a publish, fetched chunk
//! by chunk, or checked) is served without hashing it again while its file
//! is unchanged (`stamp.rs`).
//!
//! Blobs no longer referenced are removed by the collector (`crate::gc`).
//! Whoever is about to reference a blob (a publish between ingest and
//! commit, a running fetch) holds a [`Pin`] on it; the collector never
//! removes a pinned blob, nor one whose pin was released after its round
//! began (its reading of the store may predate that reference).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use mesh_protocol::Hash;
use mesh_protocol::manifest::{Manifest, ManifestBuilder};

mod stamp;

use stamp::{Checked, Stamp};

const BUFFER: usize = 1024 * 1024;

/// Mode of every file in the blob directory.
const PRIVATE_FILE: u32 = 0o600;
/// Mode of the blob directory.
const PRIVATE_DIR: u32 = 0o700;
/// Mode of a fetch's output (like a file `cp` makes): the user reads it
/// wherever they put it; the directory they chose governs who else can.
const OUTPUT_MODE: u32 = 0o644;
/// Random characters in the temporary name of an export.
const TEMP_RANDOM: usize = 12;

/// Why an export did not put the file in place.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The output path exists and is not a regular file.
    #[error(
        "refusing to write {path}: it is a {kind}, not a regular file; remove it or choose another path with -o"
    )]
    NotAFile {
        /// The output path.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// File IO failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The output path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Which pins are held, and since which collection round released.
#[derive(Debug, Default)]
struct Pins {
    held: HashMap<Hash, usize>,
    /// Blobs whose last pin was released during the current round.
    released: HashMap<Hash, u64>,
    round: u64,
}

/// A hold on a blob: the collector does not remove it while this lives.
#[derive(Debug)]
pub struct Pin {
    pins: Arc<Mutex<Pins>>,
    hash: Hash,
}

impl Drop for Pin {
    fn drop(&mut self) {
        let mut pins = self.pins.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = pins.held.get_mut(&self.hash) {
            *n -= 1;
            if *n == 0 {
                pins.held.remove(&self.hash);
            }
        }
        let round = pins.round;
        pins.released.insert(self.hash, round);
    }
}

/// What sees the bytes of [`Blobs::ingest`] as they are copied.
pub trait Observe {
    /// The output file, once created: each byte is written there before
    /// [`Self::bytes`] sees it, so an observer can read back what it saw.
    fn output(&mut self, _file: &File) -> std::io::Result<()> {
        Ok(())
    }

    /// The next bytes, in order.
    fn bytes(&mut self, bytes: &[u8]);
}

impl<F: FnMut(&[u8])> Observe for F {
    fn bytes(&mut self, bytes: &[u8]) {
        self(bytes);
    }
}

/// What a file in the blob directory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobFile {
    /// A complete blob.
    Blob,
    /// The partial file of an unfinished fetch.
    Partial,
}

/// The blob directory of a data directory.
#[derive(Clone, Debug)]
pub struct Blobs {
    dir: PathBuf,
    pins: Arc<Mutex<Pins>>,
    checked: Checked,
}

impl Blobs {
    /// Opens (creating, private) `data_dir/blobs`, removing temporaries of
    /// interrupted publishes and collections.
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        let dir = data_dir.join("blobs");
        create_private_dir(&dir)?;
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "tmp" || e == "trash") {
                fs::remove_file(path)?;
            }
        }
        Ok(Self {
            dir,
            pins: Arc::default(),
            checked: Checked::default(),
        })
    }

    /// The blob directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the contract check spills (unnamed files that vanish when
    /// closed): the blob directory, private and on the data's disk.
    pub fn scratch_dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// Path of the blob for a manifest.
    pub fn path(&self, manifest: &Hash) -> PathBuf {
        self.dir.join(manifest.to_string())
    }

    /// Holds `hash` against the collector until the pin is dropped.
    pub fn pin(&self, hash: Hash) -> Pin {
        let mut pins = self.pins.lock().unwrap_or_else(PoisonError::into_inner);
        *pins.held.entry(hash).or_default() += 1;
        Pin {
            pins: self.pins.clone(),
            hash,
        }
    }

    /// Copies `source` into the blob store while building its manifest;
    /// the blob comes back pinned (see [`Pin`]). `observe` sees every byte
    /// in order as it is read (the one pass a publish makes over the file),
    /// each after it was written to the output.
    pub fn ingest(
        &self,
        source: &Path,
        chunk_size: u32,
        observe: &mut dyn Observe,
    ) -> std::io::Result<(Manifest, Pin)> {
        let mut input = File::open(source)?;
        let tmp = self
            .dir
            .join(format!("ingest-{}.tmp", rand::random::<u64>()));
        let result = (|| {
            let mut output = create_private(&tmp)?;
            observe.output(&output)?;
            let mut builder = ManifestBuilder::new(chunk_size);
            let mut buf = vec![0u8; BUFFER];
            loop {
                let n = match input.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                builder.update(&buf[..n]);
                output.write_all(&buf[..n])?;
                observe.bytes(&buf[..n]);
            }
            output.sync_all()?;
            let manifest = builder.finish();
            // Pinned before it appears under its name: a collection round
            // never sees it unpinned before the publish references it.
            let pin = self.pin(manifest.hash());
            fs::rename(&tmp, self.path(&manifest.hash()))?;
            File::open(&self.dir)?.sync_all()?;
            // Every byte was hashed on its way in: no need to hash again.
            if let Ok(blob) = File::open(self.path(&manifest.hash())) {
                self.checked.record(manifest.hash(), &blob);
            }
            Ok((manifest, pin))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Path of the partial file of an unfinished fetch.
    pub fn partial_path(&self, manifest: &Hash) -> PathBuf {
        self.dir.join(format!("{manifest}.partial"))
    }

    /// Opens (creating, sized) the partial file of a fetch.
    pub fn open_partial(&self, manifest: &Hash, size: u64) -> std::io::Result<File> {
        let mut options = fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(PRIVATE_FILE);
        }
        let file = options.open(self.partial_path(manifest))?;
        if file.metadata()?.len() != size {
            file.set_len(size)?;
        }
        Ok(file)
    }

    /// Turns a complete, synced partial file into the blob. `checked_here`:
    /// this process hashed every chunk before writing it (none was resumed
    /// from an earlier run), so the blob is served without hashing again.
    pub fn finish_partial(&self, manifest: &Hash, checked_here: bool) -> std::io::Result<()> {
        fs::rename(self.partial_path(manifest), self.path(manifest))?;
        File::open(&self.dir)?.sync_all()?;
        if checked_here && let Ok(blob) = File::open(self.path(manifest)) {
            self.checked.record(*manifest, &blob);
        }
        Ok(())
    }

    /// Puts a copy of a blob's bytes at `output` (a plain copy through the
    /// descriptors, which the kernel may share copy-on-write where the
    /// filesystem offers it): never a link, so editing the output leaves
    /// the blob intact. The copy goes to a file with a random name created
    /// exclusively (never through an existing link) in the output's
    /// directory, is synced, then renamed over `output`, so it appears only
    /// complete. An `output` that exists and is not a regular file (a
    /// device, FIFO, symlink or directory) is refused and left alone.
    pub fn export(&self, manifest: &Hash, output: &Path) -> Result<(), ExportError> {
        self.export_named(manifest, output, TEMP_RANDOM)
    }

    fn export_named(
        &self,
        manifest: &Hash,
        output: &Path,
        random: usize,
    ) -> Result<(), ExportError> {
        let io = |source| ExportError::Io {
            path: output.to_owned(),
            source,
        };
        check_output(output)?;
        let dir = match output.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let mut source = File::open(self.path(manifest)).map_err(io)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".meshd-")
            .suffix(".tmp")
            .rand_bytes(random)
            .tempfile_in(dir)
            .map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(OUTPUT_MODE))
                .map_err(io)?;
        }
        std::io::copy(&mut source, tmp.as_file_mut()).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        // Checked again just before the rename: what appeared meanwhile is
        // refused too (a rename replaces a link itself, never its target).
        check_output(output)?;
        tmp.persist(output).map_err(|e| io(e.error))?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)
    }

    /// Deletes a blob (a damaged copy).
    pub fn remove(&self, manifest: &Hash) {
        self.checked.forget(manifest);
        let _ = fs::remove_file(self.path(manifest));
    }

    /// Starts a collection round: pins released from now on protect their
    /// blob from this round. Returns the round's number.
    pub(crate) fn begin_round(&self) -> u64 {
        let mut pins = self.pins.lock().unwrap_or_else(PoisonError::into_inner);
        pins.round += 1;
        pins.released.clear();
        pins.round
    }

    /// The blobs and partial files present, with their sizes.
    pub fn files(&self) -> std::io::Result<Vec<(Hash, BlobFile, u64)>> {
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let (hex, kind) = match name.strip_suffix(".partial") {
                Some(hex) => (hex, BlobFile::Partial),
                None => (name, BlobFile::Blob),
            };
            let Ok(bytes) = mesh_protocol::bytes::from_hex::<32>(hex) else {
                continue;
            };
            let meta = entry.metadata()?;
            if meta.is_file() {
                files.push((Hash(bytes), kind, meta.len()));
            }
        }
        Ok(files)
    }

    /// Bytes held in blobs and partial files.
    pub fn bytes_used(&self) -> std::io::Result<u64> {
        Ok(self.files()?.iter().map(|(_, _, len)| len).sum())
    }

    /// Removes a blob or partial file for collection round `round`, unless
    /// it is pinned or was unpinned since the round began. Returns whether
    /// it was removed.
    pub(crate) fn discard(&self, hash: &Hash, kind: BlobFile, round: u64) -> std::io::Result<bool> {
        let path = match kind {
            BlobFile::Blob => self.path(hash),
            BlobFile::Partial => self.partial_path(hash),
        };
        let trash = self.dir.join(format!("{}.trash", rand::random::<u64>()));
        {
            let pins = self.pins.lock().unwrap_or_else(PoisonError::into_inner);
            if pins.held.contains_key(hash) || pins.released.get(hash).is_some_and(|r| *r >= round)
            {
                return Ok(false);
            }
            // A rename under the lock (quick), the unlink after it: a pin
            // taken meanwhile finds the blob gone, never half removed.
            match fs::rename(&path, &trash) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        self.checked.forget(hash);
        fs::remove_file(&trash)?;
        Ok(true)
    }

    /// Reads a whole blob and checks every chunk against its manifest.
    pub fn verify(&self, manifest: &Manifest) -> std::io::Result<()> {
        let file = File::open(self.path(&manifest.hash()))?;
        let before = Stamp::of(&file)?;
        let mut buf = vec![0u8; usize::try_from(manifest.chunk_size).unwrap_or(0)];
        for index in 0..u32::try_from(manifest.chunk_count()).unwrap_or(0) {
            let len = usize::try_from(manifest.chunk_len(index).unwrap_or(0)).unwrap_or(0);
            read_exact_at(&file, &mut buf[..len], manifest.chunk_offset(index))?;
            manifest
                .verify_chunk(index, &buf[..len])
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        }
        // Vouched for only if nothing wrote the file while it was read.
        if Stamp::of(&file)? == before {
            self.checked.record(manifest.hash(), &file);
        }
        Ok(())
    }

    /// Whether the blob of a manifest is present.
    pub fn has(&self, manifest: &Hash) -> bool {
        self.path(manifest).is_file()
    }

    /// Reads chunk `index` of a blob.
    pub fn read_chunk(&self, manifest: &Manifest, index: u32) -> std::io::Result<Vec<u8>> {
        let file = File::open(self.path(&manifest.hash()))?;
        read_chunk_from(&file, manifest, index)
    }

    /// Reads chunk `index` of the blob of `hash` (`manifest`'s hash, known
    /// to the caller: hashing a large manifest per chunk is not free), and
    /// whether it needs no hashing: the file is still the one this process
    /// hashed whole (`stamp.rs`).
    pub fn read_chunk_vouched(
        &self,
        hash: &Hash,
        manifest: &Manifest,
        index: u32,
    ) -> std::io::Result<(Vec<u8>, bool)> {
        let file = File::open(self.path(hash))?;
        let vouched = self.checked.vouches(hash, &file);
        Ok((read_chunk_from(&file, manifest, index)?, vouched))
    }
}

/// Reads chunk `index` of `manifest` from `file` (a blob, or the partial
/// file of a running fetch).
pub fn read_chunk_from(file: &File, manifest: &Manifest, index: u32) -> std::io::Result<Vec<u8>> {
    let len = manifest
        .chunk_len(index)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::NotFound, e))?;
    let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
    read_exact_at(file, &mut buf, manifest.chunk_offset(index))?;
    Ok(buf)
}

/// Writes `data` at `offset` of `file`.
pub fn write_at(file: &File, data: &[u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.write_all_at(data, offset)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Seek, SeekFrom};
        let mut f = file.try_clone()?;
        f.seek(SeekFrom::Start(offset))?;
        f.write_all(data)
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

#[cfg(not(unix))]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut f = file.try_clone()?;
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
}

/// Refuses an output path that exists and is not a regular file.
pub(crate) fn check_output(output: &Path) -> Result<(), ExportError> {
    let meta = match fs::symlink_metadata(output) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(ExportError::Io {
                path: output.to_owned(),
                source,
            });
        }
    };
    let kind = file_kind(&meta.file_type());
    if kind == "regular file" {
        Ok(())
    } else {
        Err(ExportError::NotAFile {
            path: output.to_owned(),
            kind,
        })
    }
}

/// What a directory entry is, in words.
pub fn file_kind(kind: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_char_device() || kind.is_block_device() {
            return "device";
        }
        if kind.is_fifo() {
            return "FIFO";
        }
        if kind.is_socket() {
            return "socket";
        }
    }
    if kind.is_symlink() {
        "symbolic link"
    } else if kind.is_dir() {
        "directory"
    } else if kind.is_file() {
        "regular file"
    } else {
        "special file"
    }
}

/// Creates a new file readable and writable by the owner only.
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PRIVATE_FILE);
    }
    options.open(path)
}

/// Creates a directory (and its parents) usable by the owner only.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(PRIVATE_DIR);
    }
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn sample(dir: &Path) -> (Blobs, Manifest, Vec<u8>) {
        let blobs = Blobs::open(dir).unwrap();
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let src = dir.join("src");
        fs::write(&src, &data).unwrap();
        let (manifest, _pin) = blobs.ingest(&src, 4096, &mut |_: &[u8]| {}).unwrap();
        (blobs, manifest, data)
    }

    #[test]
    fn ingest_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (blobs, manifest, data) = sample(dir.path());
        assert_eq!(manifest, Manifest::from_bytes(&data, 4096));
        assert!(blobs.has(&manifest.hash()));
        let chunk = blobs.read_chunk(&manifest, 4).unwrap();
        assert_eq!(chunk, data[4 * 4096..]);
        manifest.verify_chunk(4, &chunk).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn blob_directory_and_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (blobs, manifest, _) = sample(dir.path());
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("blobs")), 0o700);
        assert_eq!(mode(&blobs.path(&manifest.hash())), 0o600);
        drop(blobs.open_partial(&Hash([7; 32]), 10).unwrap());
        assert_eq!(mode(&blobs.partial_path(&Hash([7; 32]))), 0o600);
    }

    #[test]
    fn output_is_an_independent_copy() {
        let dir = tempfile::tempdir().unwrap();
        let (blobs, manifest, data) = sample(dir.path());
        let out = dir.path().join("out");
        blobs.export(&manifest.hash(), &out).unwrap();
        assert_eq!(fs::read(&out).unwrap(), data);
        // Edit the output in place: the blob is untouched.
        let file = fs::OpenOptions::new().write(true).open(&out).unwrap();
        write_at(&file, b"EDITED", 0).unwrap();
        blobs.verify(&manifest).unwrap();
        // Exporting again replaces the edited regular file.
        blobs.export(&manifest.hash(), &out).unwrap();
        assert_eq!(fs::read(&out).unwrap(), data);
    }

    #[cfg(unix)]
    #[test]
    fn a_link_at_the_temporary_name_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let (blobs, manifest, _) = sample(dir.path());
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let out_dir = dir.path().join("out");
        fs::create_dir(&out_dir).unwrap();
        // With no random characters the temporary name is known: a link
        // planted there makes the export fail, never write through it.
        let planted = out_dir.join(".meshd-.tmp");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let out = out_dir.join("data.csv");
        assert!(blobs.export_named(&manifest.hash(), &out, 0).is_err());
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert!(
            fs::symlink_metadata(&planted)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(!out.exists());
    }

    #[cfg(unix)]
    #[test]
    fn non_regular_outputs_are_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (blobs, manifest, _) = sample(dir.path());
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        for (path, kind) in [
            (link.as_path(), "symbolic link"),
            (sub.as_path(), "directory"),
        ] {
            let err = blobs.export(&manifest.hash(), path).unwrap_err();
            assert!(
                matches!(err, ExportError::NotAFile { kind: k, .. } if k == kind),
                "{err}"
            );
            assert_eq!(err.to_string().lines().count(), 1);
        }
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        // A device node of our own (root, as in CI), so a regression could
        // only replace that copy; unprivileged runs skip this part.
        let null = dir.path().join("null");
        let made = std::process::Command::new("mknod")
            .arg(&null)
            .args(["c", "1", "3"])
            .status()
            .is_ok_and(|s| s.success());
        if made {
            let err = blobs.export(&manifest.hash(), &null).unwrap_err();
            assert!(err.to_string().contains("device"), "{err}");
            let kind = fs::symlink_metadata(&null).unwrap().file_type();
            assert!(std::os::unix::fs::FileTypeExt::is_char_device(&kind));
        }
    }

    #[test]
    fn a_pinned_blob_is_not_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let (blobs, manifest, _) = sample(dir.path());
        let hash = manifest.hash();
        let pin = blobs.pin(hash);
        let round = blobs.begin_round();
        assert!(!blobs.discard(&hash, BlobFile::Blob, round).unwrap());
        // Released during the round: still protected from this round.
        drop(pin);
        assert!(!blobs.discard(&hash, BlobFile::Blob, round).unwrap());
        let round = blobs.begin_round();
        assert!(blobs.discard(&hash, BlobFile::Blob, round).unwrap());
        assert!(!blobs.has(&hash));
        assert!(blobs.files().unwrap().is_empty());
    }
}
