//! `Signed<T>`: a value with the domain signature that vouches for it.
//!
//! The signature covers a domain-separation tag (one per message kind, with
//! the protocol version in it) followed by the canonical bytes of the value,
//! so a signature made for one kind of message can never be replayed as
//! another, and a change of any field breaks it. Verification re-encodes the
//! value rather than trusting received bytes, so there is exactly one message
//! that a signature can be valid for.

use serde::{Deserialize, Serialize};

use crate::bytes::fixed;
use crate::encoding;
use crate::identity::{DomainId, DomainKeypair, DomainPublicKey};

/// A value kind that domains sign. The tag names the kind and the protocol
/// version, e.g. `meshd/v1/descriptor`.
pub trait Signable: Serialize {
    /// Domain-separation tag for this kind of value.
    const TAG: &'static str;
}

/// A value together with its signer's public key and signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed<T> {
    /// The signed value.
    pub value: T,
    /// The key that signed it.
    pub signer: DomainPublicKey,
    /// ed25519 signature over the tag and the canonical bytes of `value`.
    #[serde(with = "fixed")]
    pub signature: [u8; 64],
}

/// Why a signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The public key is not a valid, strong ed25519 key.
    #[error("signer public key is not a valid ed25519 key")]
    BadKey,
    /// The signature does not match the value and key.
    #[error("signature does not match the signed value")]
    Mismatch,
}

/// The exact bytes a signature covers.
pub fn signing_message<T: Signable>(value: &T) -> Vec<u8> {
    let body = encoding::to_bytes(value);
    let mut msg = Vec::with_capacity(T::TAG.len() + 1 + body.len());
    msg.extend_from_slice(T::TAG.as_bytes());
    msg.push(0);
    msg.extend_from_slice(&body);
    msg
}

impl<T: Signable> Signed<T> {
    /// Signs `value` with `key`.
    pub fn sign(value: T, key: &DomainKeypair) -> Self {
        let signature = key.sign_raw(&signing_message(&value));
        Self {
            value,
            signer: key.public(),
            signature,
        }
    }

    /// Verifies the signature and returns the value it vouches for.
    pub fn verify(&self) -> Result<&T, SignatureError> {
        let key = self.signer.verifying_key().ok_or(SignatureError::BadKey)?;
        let signature = ed25519_dalek::Signature::from_bytes(&self.signature);
        key.verify_strict(&signing_message(&self.value), &signature)
            .map_err(|_| SignatureError::Mismatch)?;
        Ok(&self.value)
    }

    /// The domain whose key signed this value.
    pub fn signer_domain(&self) -> DomainId {
        self.signer.domain_id()
    }

    /// Hash of the whole signed value (value, key and signature).
    pub fn hash(&self) -> crate::Hash
    where
        T: Serialize,
    {
        encoding::tagged_hash("meshd/v1/signed", self)
    }
}

/// Verifies many signatures at once (ed25519 batch verification). Returns
/// `true` only if every signature is valid; a `false` says nothing about which
/// one failed, so callers fall back to checking one by one.
pub fn verify_batch<T: Signable>(items: &[&Signed<T>]) -> bool {
    let mut keys = Vec::with_capacity(items.len());
    for item in items {
        match item.signer.verifying_key() {
            Some(key) => keys.push(key),
            None => return false,
        }
    }
    let messages: Vec<Vec<u8>> = items.iter().map(|i| signing_message(&i.value)).collect();
    let message_refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let signatures: Vec<ed25519_dalek::Signature> = items
        .iter()
        .map(|i| ed25519_dalek::Signature::from_bytes(&i.signature))
        .collect();
    ed25519_dalek::verify_batch(&message_refs, &signatures, &keys).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::tests::keypair;

    #[derive(Serialize, Clone)]
    struct Note(String);
    impl Signable for Note {
        const TAG: &'static str = "meshd/v1/test-note";
    }
    #[derive(Serialize, Clone)]
    struct OtherNote(String);
    impl Signable for OtherNote {
        const TAG: &'static str = "meshd/v1/test-other";
    }

    #[test]
    fn sign_and_verify() {
        let key = keypair(1);
        let signed = Signed::sign(Note("hello".into()), &key);
        assert!(signed.verify().is_ok());
        assert_eq!(signed.signer_domain(), key.domain_id());
    }

    #[test]
    fn changed_value_or_key_fails() {
        let key = keypair(1);
        let mut signed = Signed::sign(Note("hello".into()), &key);
        signed.value.0.push('!');
        assert_eq!(signed.verify().err(), Some(SignatureError::Mismatch));

        let mut signed = Signed::sign(Note("hello".into()), &key);
        signed.signer = keypair(2).public();
        assert_eq!(signed.verify().err(), Some(SignatureError::Mismatch));

        let mut signed = Signed::sign(Note("hello".into()), &key);
        signed.signature[5] ^= 1;
        assert_eq!(signed.verify().err(), Some(SignatureError::Mismatch));
    }

    #[test]
    fn tag_separates_kinds() {
        // The same payload signed as one kind does not verify as another.
        let key = keypair(1);
        let note = Signed::sign(Note("x".into()), &key);
        let other = Signed {
            value: OtherNote("x".into()),
            signer: note.signer,
            signature: note.signature,
        };
        assert_eq!(other.verify().err(), Some(SignatureError::Mismatch));
    }

    #[test]
    fn batch_matches_individual() {
        let items: Vec<Signed<Note>> = (1..=5)
            .map(|i| Signed::sign(Note(format!("n{i}")), &keypair(i)))
            .collect();
        let refs: Vec<&Signed<Note>> = items.iter().collect();
        assert!(verify_batch(&refs));
        let mut bad = items.clone();
        bad[3].value.0.push('x');
        let refs: Vec<&Signed<Note>> = bad.iter().collect();
        assert!(!verify_batch(&refs));
    }
}
