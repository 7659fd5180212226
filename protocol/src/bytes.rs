//! Fixed-size byte strings (hashes, keys, signatures) and their text form.
//!
//! serde has no impls for arrays longer than 32, and the mesh wants hashes
//! to print as lowercase hex everywhere (logs, CLI, API), so the fixed-size
//! values share this one implementation.

use std::fmt;

use serde::de::{Error, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Lowercase hex of a byte slice.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Why a hex string could not be parsed into a fixed-size value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// The string has the wrong number of characters.
    #[error("expected {expected} hex characters, got {got}")]
    Length {
        /// Characters expected.
        expected: usize,
        /// Characters given.
        got: usize,
    },
    /// A character is not a hex digit.
    #[error("invalid hex character {0:?}")]
    Character(char),
}

/// Parses exactly `N` bytes of hex (either case).
pub fn from_hex<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
    if text.len() != N * 2 {
        return Err(HexError::Length {
            expected: N * 2,
            got: text.chars().count(),
        });
    }
    let mut out = [0u8; N];
    let digits = text.as_bytes();
    for (i, slot) in out.iter_mut().enumerate() {
        let hi = nibble(digits[2 * i])?;
        let lo = nibble(digits[2 * i + 1])?;
        *slot = (hi << 4) | lo;
    }
    Ok(out)
}

fn nibble(c: u8) -> Result<u8, HexError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(HexError::Character(char::from(c))),
    }
}

/// Serde support for `[u8; N]`, used with
/// `#[serde(with = "crate::bytes::fixed")]`: a byte string in binary formats
/// (the canonical encoding), lowercase hex in human-readable ones (JSON,
/// TOML), so keys, ids and hashes read the same in the API as in logs.
pub(crate) mod fixed {
    use super::{Deserializer, Error, Serializer, Visitor, fmt, from_hex, to_hex};

    pub(crate) fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&to_hex(bytes))
        } else {
            serializer.serialize_bytes(bytes)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        struct FixedVisitor<const N: usize>;
        impl<const N: usize> Visitor<'_> for FixedVisitor<N> {
            type Value = [u8; N];
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{N} bytes")
            }
            fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                <[u8; N]>::try_from(v).map_err(|_| E::invalid_length(v.len(), &self))
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
                from_hex::<N>(v).map_err(E::custom)
            }
        }
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(FixedVisitor::<N>)
        } else {
            deserializer.deserialize_bytes(FixedVisitor::<N>)
        }
    }
}

/// A 32-byte BLAKE3 hash.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Hash(#[serde(with = "fixed")] pub [u8; 32]);

impl Hash {
    /// The BLAKE3 hash of `data`.
    pub fn of(data: &[u8]) -> Self {
        Self(*blake3::hash(data).as_bytes())
    }

    /// Parses 64 hex characters.
    pub fn from_hex(text: &str) -> Result<Self, HexError> {
        from_hex(text).map(Self)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", &to_hex(&self.0)[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_roundtrip_and_errors() {
        let h = Hash::of(b"abc");
        assert_eq!(Hash::from_hex(&h.to_string()), Ok(h));
        assert_eq!(
            Hash::from_hex("ab"),
            Err(HexError::Length {
                expected: 64,
                got: 2
            })
        );
        assert_eq!(from_hex::<1>("zz"), Err(HexError::Character('z')));
        assert_eq!(from_hex::<2>("0aFf"), Ok([0x0a, 0xff]));
    }

    #[test]
    fn fixed_bytes_refuse_wrong_length() {
        let short = crate::encoding::to_bytes(&vec![1u8; 31]);
        assert!(crate::encoding::from_bytes::<Hash>(&short, 100).is_err());
    }
}

/// An owned byte string that encodes as one length-prefixed block (not as a
/// sequence of numbers), for chunk payloads.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ByteBuf(pub Vec<u8>);

impl fmt::Debug for ByteBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ByteBuf({} bytes)", self.0.len())
    }
}

impl Serialize for ByteBuf {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for ByteBuf {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BufVisitor;
        impl Visitor<'_> for BufVisitor {
            type Value = ByteBuf;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v))
            }
        }
        deserializer.deserialize_byte_buf(BufVisitor)
    }
}
