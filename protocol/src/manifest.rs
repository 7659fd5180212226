//! Manifests: how a product's bytes are cut into verifiable chunks.
//!
//! The chunking rule is fixed-size: chunk `i` holds bytes
//! `[i * chunk_size, min((i + 1) * chunk_size, size))`; the last chunk may be
//! shorter, and an empty product has no chunks. The manifest lists the BLAKE3
//! hash of every chunk; its own hash goes into the signed descriptor, so a
//! fetcher that trusts the descriptor can check every chunk it receives
//! before writing a byte of it.
//!
//! [`ManifestBuilder`] is fed bytes in any pieces and never holds more than
//! one chunk, so building a manifest for a file of any size takes bounded
//! memory. The protocol does no IO: [`Manifest::from_reader`] takes any
//! `std::io::Read` the driver opens.

use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::Hash;
use crate::encoding;

/// Default chunk size: 1 MiB.
pub const DEFAULT_CHUNK_SIZE: u32 = 1024 * 1024;
/// Smallest allowed chunk size.
pub const MIN_CHUNK_SIZE: u32 = 4 * 1024;
/// Largest allowed chunk size.
pub const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;
/// Most chunks in one product (256 GiB at the default chunk size).
pub const MAX_CHUNKS: usize = 1 << 18;

/// The list of chunk hashes of one product's bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Total size in bytes.
    pub size: u64,
    /// Chunk size in bytes.
    pub chunk_size: u32,
    /// BLAKE3 hash of each chunk, in order.
    pub chunks: Vec<Hash>,
}

/// Why a chunk or a manifest does not match what was promised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Chunk index past the end.
    #[error("chunk {index} does not exist; the product has {count} chunks")]
    NoSuchChunk {
        /// Requested index.
        index: u32,
        /// Chunks in the manifest.
        count: usize,
    },
    /// Chunk has the wrong length.
    #[error("chunk {index} has {got} bytes; expected {expected}")]
    ChunkLength {
        /// Chunk index.
        index: u32,
        /// Bytes received.
        got: usize,
        /// Bytes expected.
        expected: u64,
    },
    /// Chunk bytes do not hash to the manifest's entry.
    #[error("chunk {index} hash mismatch")]
    ChunkHash {
        /// Chunk index.
        index: u32,
    },
    /// Manifest fields are inconsistent (chunk count versus size).
    #[error("manifest is inconsistent: {0}")]
    Inconsistent(&'static str),
    /// Manifest hash differs from the descriptor's.
    #[error("manifest hash {got} does not match descriptor's {expected}")]
    HashMismatch {
        /// Hash of the received manifest.
        got: Hash,
        /// Hash the descriptor promises.
        expected: Hash,
    },
}

impl Manifest {
    /// Builds the manifest of everything `reader` yields.
    pub fn from_reader<R: Read>(mut reader: R, chunk_size: u32) -> std::io::Result<Manifest> {
        let mut builder = ManifestBuilder::new(chunk_size);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            builder.update(&buf[..n]);
        }
        Ok(builder.finish())
    }

    /// Builds the manifest of bytes in memory.
    pub fn from_bytes(data: &[u8], chunk_size: u32) -> Manifest {
        let mut builder = ManifestBuilder::new(chunk_size);
        builder.update(data);
        builder.finish()
    }

    /// The hash the descriptor commits to.
    pub fn hash(&self) -> Hash {
        encoding::tagged_hash("meshd/v1/manifest", self)
    }

    /// Number of chunks.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Byte length of chunk `index`.
    pub fn chunk_len(&self, index: u32) -> Result<u64, ManifestError> {
        let count = self.chunks.len();
        let i = index as usize;
        if i >= count {
            return Err(ManifestError::NoSuchChunk { index, count });
        }
        let start = u64::from(index) * u64::from(self.chunk_size);
        // Saturating: a received manifest may claim more chunks than its size
        // needs (until `check_consistent` has refused it).
        Ok(self
            .size
            .saturating_sub(start)
            .min(u64::from(self.chunk_size)))
    }

    /// Byte offset of chunk `index` in the product.
    pub fn chunk_offset(&self, index: u32) -> u64 {
        u64::from(index) * u64::from(self.chunk_size)
    }

    /// Checks one chunk's bytes against the manifest.
    pub fn verify_chunk(&self, index: u32, data: &[u8]) -> Result<(), ManifestError> {
        let expected = self.chunk_len(index)?;
        if data.len() as u64 != expected {
            return Err(ManifestError::ChunkLength {
                index,
                got: data.len(),
                expected,
            });
        }
        if Hash::of(data) != self.chunks[index as usize] {
            return Err(ManifestError::ChunkHash { index });
        }
        Ok(())
    }

    /// Checks that the manifest is self-consistent and is the one the
    /// descriptor's content promises.
    pub fn check_against(&self, content: &crate::descriptor::Content) -> Result<(), ManifestError> {
        let got = self.hash();
        if got != content.manifest_hash {
            return Err(ManifestError::HashMismatch {
                got,
                expected: content.manifest_hash,
            });
        }
        // The owner signed both; a descriptor that disagrees with its own
        // manifest would let a fetch finish early or never.
        if self.size != content.size || self.chunk_size != content.chunk_size {
            return Err(ManifestError::Inconsistent(
                "manifest size or chunk size differs from the descriptor's",
            ));
        }
        self.check_consistent()
    }

    /// Checks that size, chunk size and chunk count agree.
    pub fn check_consistent(&self) -> Result<(), ManifestError> {
        if !self.chunk_size.is_power_of_two()
            || !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&self.chunk_size)
        {
            return Err(ManifestError::Inconsistent("chunk size out of range"));
        }
        if self.chunks.len() > MAX_CHUNKS {
            return Err(ManifestError::Inconsistent("too many chunks"));
        }
        let expected = self.size.div_ceil(u64::from(self.chunk_size));
        if self.chunks.len() as u64 != expected {
            return Err(ManifestError::Inconsistent(
                "chunk count does not match size",
            ));
        }
        Ok(())
    }
}

/// Incremental manifest construction over a stream of bytes.
#[derive(Debug)]
pub struct ManifestBuilder {
    chunk_size: u32,
    size: u64,
    current: blake3::Hasher,
    current_len: u32,
    chunks: Vec<Hash>,
}

impl ManifestBuilder {
    /// A builder for chunks of `chunk_size` bytes.
    pub fn new(chunk_size: u32) -> Self {
        Self {
            chunk_size,
            size: 0,
            current: blake3::Hasher::new(),
            current_len: 0,
            chunks: Vec::new(),
        }
    }

    /// Feeds the next bytes of the product.
    pub fn update(&mut self, mut data: &[u8]) {
        self.size += data.len() as u64;
        while !data.is_empty() {
            let room = (self.chunk_size - self.current_len) as usize;
            let take = room.min(data.len());
            self.current.update(&data[..take]);
            // `take` is at most chunk_size, which is a u32.
            self.current_len += u32::try_from(take).unwrap_or(u32::MAX);
            data = &data[take..];
            if self.current_len == self.chunk_size {
                self.chunks.push(Hash(*self.current.finalize().as_bytes()));
                self.current.reset();
                self.current_len = 0;
            }
        }
    }

    /// Finishes the last (short) chunk and returns the manifest.
    pub fn finish(mut self) -> Manifest {
        if self.current_len > 0 {
            self.chunks.push(Hash(*self.current.finalize().as_bytes()));
        }
        Manifest {
            size: self.size,
            chunk_size: self.chunk_size,
            chunks: self.chunks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CS: u32 = MIN_CHUNK_SIZE;

    fn data(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| u8::try_from(i * 31 % 251).expect("below 251"))
            .collect()
    }

    #[test]
    fn boundaries() {
        for (len, chunks) in [
            (0, 0),
            (1, 1),
            (CS as usize, 1),
            (CS as usize + 1, 2),
            (3 * CS as usize, 3),
        ] {
            let m = Manifest::from_bytes(&data(len), CS);
            assert_eq!(m.chunk_count(), chunks, "len {len}");
            assert_eq!(m.check_consistent(), Ok(()));
        }
        let m = Manifest::from_bytes(&data(CS as usize + 1), CS);
        assert_eq!(m.chunk_len(1), Ok(1));
        assert!(
            m.verify_chunk(1, &data(CS as usize + 1)[CS as usize..])
                .is_ok()
        );
    }

    #[test]
    fn streaming_matches_whole() {
        let bytes = data(5 * CS as usize + 17);
        let whole = Manifest::from_bytes(&bytes, CS);
        let mut b = ManifestBuilder::new(CS);
        for piece in bytes.chunks(1000) {
            b.update(piece);
        }
        assert_eq!(b.finish(), whole);
        assert_eq!(Manifest::from_reader(&bytes[..], CS).ok(), Some(whole));
    }

    #[test]
    fn verify_chunk_rejects_bad_data() {
        let bytes = data(2 * CS as usize);
        let m = Manifest::from_bytes(&bytes, CS);
        let chunk0 = &bytes[..CS as usize];
        assert!(m.verify_chunk(0, chunk0).is_ok());
        let mut bad = chunk0.to_vec();
        bad[7] ^= 0xff;
        assert_eq!(
            m.verify_chunk(0, &bad),
            Err(ManifestError::ChunkHash { index: 0 })
        );
        assert!(matches!(
            m.verify_chunk(0, &chunk0[1..]),
            Err(ManifestError::ChunkLength { .. })
        ));
        assert!(matches!(
            m.verify_chunk(2, chunk0),
            Err(ManifestError::NoSuchChunk { index: 2, count: 2 })
        ));
    }

    #[test]
    fn manifest_must_match_the_descriptor_content() {
        let m = Manifest::from_bytes(&data(3 * CS as usize), CS);
        let mut content = crate::descriptor::Content {
            size: m.size,
            chunk_size: CS,
            manifest_hash: m.hash(),
        };
        assert_eq!(m.check_against(&content), Ok(()));
        content.size += 1;
        assert!(matches!(
            m.check_against(&content),
            Err(ManifestError::Inconsistent(_))
        ));
        content.size -= 1;
        content.chunk_size *= 2;
        assert!(m.check_against(&content).is_err());
        content.chunk_size = CS;
        content.manifest_hash = Hash::of(b"other");
        assert!(matches!(
            m.check_against(&content),
            Err(ManifestError::HashMismatch { .. })
        ));
    }

    #[test]
    fn inconsistent_manifest_is_caught() {
        let mut m = Manifest::from_bytes(&data(100), CS);
        m.size = 10 * u64::from(CS);
        assert!(m.check_consistent().is_err());
    }
}
