//! The canonical encoding of every value the mesh signs, hashes or sends.
//!
//! All encoding goes through this module so the codec could be swapped in one
//! place. The codec is bincode 2 through its serde layer with the standard
//! (varint, little-endian) configuration. Because signed types contain only
//! ordered collections, encoding a value always yields the same bytes: that is
//! what signatures and content hashes are computed over.
//!
//! Decoding is for hostile input: the caller states the largest input it will
//! accept, bincode is told the same limit so no length prefix can make it
//! allocate beyond it, and trailing bytes are refused so every accepted message
//! has exactly one encoding.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The largest value bincode may claim to read while decoding, whatever the
/// caller's own limit: a hard ceiling on decoder allocations.
pub const DECODE_CEILING: usize = 64 * 1024 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_CEILING>()
}

/// Why bytes could not be decoded into a value.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The input is longer than the limit the caller accepts.
    #[error("message of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Length of the input.
        len: usize,
        /// The caller's limit.
        limit: usize,
    },
    /// The bytes are not a valid encoding of the expected type.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A valid value was followed by extra bytes.
    #[error("{extra} trailing bytes after the message")]
    TrailingBytes {
        /// How many bytes were left over.
        extra: usize,
    },
}

/// Encodes a value into its canonical bytes.
///
/// Encoding the mesh's own types cannot fail: they contain no maps with
/// non-string keys and no unbounded sequences of unknown length. A failure
/// here is a bug, so it returns an empty vector only in release builds and is
/// caught by a debug assertion in tests.
pub fn to_bytes<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    match bincode::serde::encode_to_vec(value, config()) {
        Ok(bytes) => bytes,
        Err(err) => {
            debug_assert!(false, "canonical encoding failed: {err}");
            Vec::new()
        }
    }
}

/// Decodes a value from exactly `bytes`, refusing inputs longer than `limit`.
pub fn from_bytes<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            limit,
        });
    }
    let (value, used) = bincode::serde::decode_from_slice::<T, _>(bytes, config())
        .map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            extra: bytes.len() - used,
        });
    }
    Ok(value)
}

/// BLAKE3 hash of a domain-separation tag followed by the canonical bytes of
/// a value: the identity of a value (descriptor hash, proposal id, ...).
pub fn tagged_hash<T: Serialize + ?Sized>(tag: &str, value: &T) -> crate::Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(tag.as_bytes());
    hasher.update(&[0]);
    hasher.update(&to_bytes(value));
    crate::Hash(*hasher.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = to_bytes(&(7u32, String::from("x")));
        bytes.push(0);
        let err = from_bytes::<(u32, String)>(&bytes, 1024).unwrap_err();
        assert_eq!(err, DecodeError::TrailingBytes { extra: 1 });
    }

    #[test]
    fn oversized_input_is_refused_before_decoding() {
        let bytes = vec![0u8; 100];
        let err = from_bytes::<Vec<u8>>(&bytes, 99).unwrap_err();
        assert_eq!(
            err,
            DecodeError::TooLarge {
                len: 100,
                limit: 99
            }
        );
    }

    #[test]
    fn huge_length_prefix_does_not_allocate() {
        // A varint length prefix claiming u64::MAX elements.
        let bytes = [253u8, 255, 255, 255, 255, 255, 255, 255, 255];
        assert!(matches!(
            from_bytes::<Vec<u64>>(&bytes, 1024),
            Err(DecodeError::Malformed(_))
        ));
    }
}
