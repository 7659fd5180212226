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
//! allocate beyond it, and trailing bytes are refused. [`from_canonical_bytes`]
//! also demands that the decoded value encode back to exactly the input, so
//! every message it accepts has exactly one encoding: bincode on its own also
//! accepts over-long varints (5 spelled in three bytes) and sets or maps
//! listed out of order or with a repeated key, all of which decode to a value
//! whose canonical bytes differ. The wire decoders use it; use it for any
//! bytes that come from the network.

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
    /// The bytes decode, but are not the canonical encoding of the value
    /// (an over-long integer, a set out of order or with a repeated entry).
    #[error("message is not in canonical encoding")]
    NonCanonical,
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
///
/// This accepts some non-canonical spellings of a value (see the module
/// doc); for network input prefer [`from_canonical_bytes`].
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

/// Decodes a value from exactly `bytes` as [`from_bytes`] does, and also
/// refuses bytes that are not the value's canonical encoding, so every
/// accepted message has exactly one encoding.
pub fn from_canonical_bytes<T: Serialize + DeserializeOwned>(
    bytes: &[u8],
    limit: usize,
) -> Result<T, DecodeError> {
    let value = from_bytes(bytes, limit)?;
    if !is_encoding_of(&value, bytes) {
        return Err(DecodeError::NonCanonical);
    }
    Ok(value)
}

/// Whether `bytes` are exactly the canonical encoding of `value`. Encodes into
/// a writer that compares as it goes, so a large value (a chunk) is not copied.
fn is_encoding_of<T: Serialize + ?Sized>(value: &T, bytes: &[u8]) -> bool {
    struct Compare<'a> {
        rest: &'a [u8],
    }
    impl bincode::enc::write::Writer for Compare<'_> {
        fn write(&mut self, written: &[u8]) -> Result<(), bincode::error::EncodeError> {
            match self.rest.strip_prefix(written) {
                Some(rest) => {
                    self.rest = rest;
                    Ok(())
                }
                None => Err(bincode::error::EncodeError::Other("not canonical")),
            }
        }
    }
    let mut compare = Compare { rest: bytes };
    bincode::serde::encode_into_writer(value, &mut compare, config()).is_ok()
        && compare.rest.is_empty()
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
    fn non_canonical_input_is_refused() {
        type Set = std::collections::BTreeSet<u8>;
        // 5 as a one-byte varint is canonical; as 251 + u16 it is not.
        assert_eq!(from_canonical_bytes::<u32>(&[5], 16), Ok(5));
        assert_eq!(from_bytes::<u32>(&[251, 5, 0], 16), Ok(5));
        assert_eq!(
            from_canonical_bytes::<u32>(&[251, 5, 0], 16),
            Err(DecodeError::NonCanonical)
        );
        // A set listed out of order, or with a repeated entry.
        let set = |items: &[u8]| to_bytes(&items.to_vec());
        assert_eq!(
            from_canonical_bytes::<Set>(&set(&[1, 2]), 16),
            Ok([1, 2].into())
        );
        for bad in [&[2u8, 1][..], &[1, 1]] {
            assert!(from_bytes::<Set>(&set(bad), 16).is_ok());
            assert_eq!(
                from_canonical_bytes::<Set>(&set(bad), 16),
                Err(DecodeError::NonCanonical)
            );
        }
        // The other checks come first.
        assert_eq!(
            from_canonical_bytes::<u32>(&[5, 0], 16),
            Err(DecodeError::TrailingBytes { extra: 1 })
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
