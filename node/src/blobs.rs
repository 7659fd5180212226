//! Content files: the bytes of every product this node holds, one file per
//! manifest under `DATA_DIR/blobs/`, named by the manifest hash.
//!
//! Publishing streams the source file once: every buffer is hashed into the
//! manifest and written to a temporary file, which is synced and atomically
//! renamed once complete, so memory stays bounded whatever the size and a
//! crash never leaves a half-written blob under its final name. Chunks are
//! served by positioned reads from the same file.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use mesh_protocol::Hash;
use mesh_protocol::manifest::{Manifest, ManifestBuilder};

const BUFFER: usize = 1024 * 1024;

/// The blob directory of a data directory.
#[derive(Clone, Debug)]
pub struct Blobs {
    dir: PathBuf,
}

impl Blobs {
    /// Opens (creating) `data_dir/blobs`, removing temporaries of
    /// interrupted publishes.
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        let dir = data_dir.join("blobs");
        fs::create_dir_all(&dir)?;
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                fs::remove_file(path)?;
            }
        }
        Ok(Self { dir })
    }

    /// Path of the blob for a manifest.
    pub fn path(&self, manifest: &Hash) -> PathBuf {
        self.dir.join(manifest.to_string())
    }

    /// Copies `source` into the blob store while building its manifest.
    pub fn ingest(&self, source: &Path, chunk_size: u32) -> std::io::Result<Manifest> {
        let mut input = File::open(source)?;
        let tmp = self
            .dir
            .join(format!("ingest-{}.tmp", rand::random::<u64>()));
        let result = (|| {
            let mut output = File::create(&tmp)?;
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
            }
            output.sync_all()?;
            let manifest = builder.finish();
            fs::rename(&tmp, self.path(&manifest.hash()))?;
            File::open(&self.dir)?.sync_all()?;
            Ok(manifest)
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
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.partial_path(manifest))?;
        if file.metadata()?.len() != size {
            file.set_len(size)?;
        }
        Ok(file)
    }

    /// Turns a complete, synced partial file into the blob.
    pub fn finish_partial(&self, manifest: &Hash) -> std::io::Result<()> {
        fs::rename(self.partial_path(manifest), self.path(manifest))?;
        File::open(&self.dir)?.sync_all()
    }

    /// Puts a blob's bytes at `output`: a hard link when the output is on
    /// the same filesystem (no copy; the node verifies every chunk again
    /// before serving it, so an edited output is never served), else a copy.
    /// Either way the file appears under `output` only complete and synced,
    /// by an atomic rename.
    pub fn export(&self, manifest: &Hash, output: &Path) -> std::io::Result<()> {
        let name = output
            .file_name()
            .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
        let tmp = output.with_file_name(format!(".{name}.meshd-tmp"));
        let _ = fs::remove_file(&tmp);
        let result = fs::hard_link(self.path(manifest), &tmp)
            .or_else(|_| {
                fs::copy(self.path(manifest), &tmp)?;
                File::open(&tmp)?.sync_all()
            })
            .and_then(|()| fs::rename(&tmp, output))
            .and_then(|()| match output.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
                _ => Ok(()),
            });
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Deletes a blob (a damaged copy).
    pub fn remove(&self, manifest: &Hash) {
        let _ = fs::remove_file(self.path(manifest));
    }

    /// Reads a whole blob and checks every chunk against its manifest.
    pub fn verify(&self, manifest: &Manifest) -> std::io::Result<()> {
        let file = File::open(self.path(&manifest.hash()))?;
        let mut buf = vec![0u8; usize::try_from(manifest.chunk_size).unwrap_or(0)];
        for index in 0..u32::try_from(manifest.chunk_count()).unwrap_or(0) {
            let len = usize::try_from(manifest.chunk_len(index).unwrap_or(0)).unwrap_or(0);
            read_exact_at(&file, &mut buf[..len], manifest.chunk_offset(index))?;
            manifest
                .verify_chunk(index, &buf[..len])
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        }
        Ok(())
    }

    /// Whether the blob of a manifest is present.
    pub fn has(&self, manifest: &Hash) -> bool {
        self.path(manifest).is_file()
    }

    /// Reads chunk `index` of a blob.
    pub fn read_chunk(&self, manifest: &Manifest, index: u32) -> std::io::Result<Vec<u8>> {
        let len = manifest
            .chunk_len(index)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::NotFound, e))?;
        let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
        let file = File::open(self.path(&manifest.hash()))?;
        read_exact_at(&file, &mut buf, manifest.chunk_offset(index))?;
        Ok(buf)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path()).unwrap();
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let src = dir.path().join("src");
        fs::write(&src, &data).unwrap();
        let manifest = blobs.ingest(&src, 4096).unwrap();
        assert_eq!(manifest, Manifest::from_bytes(&data, 4096));
        assert!(blobs.has(&manifest.hash()));
        let chunk = blobs.read_chunk(&manifest, 4).unwrap();
        assert_eq!(chunk, data[4 * 4096..]);
        manifest.verify_chunk(4, &chunk).unwrap();
    }
}
