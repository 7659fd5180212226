//! Domain identities and the bindings that authorise nodes.
//!
//! A *domain key* (ed25519) is the long-lived identity of a business domain;
//! it signs descriptors, votes and grants. A [`DomainId`] is derived from the
//! public key, so it cannot be claimed by anyone else. A *node key* is the
//! libp2p identity of one running daemon; a domain authorises its nodes with a
//! [`NodeBinding`] (domain key signs the node's PeerId with an expiry), so a
//! domain can run several nodes and rotate node keys without changing its id.
//!
//! This crate knows PeerIds only as opaque bytes (their multihash encoding):
//! it does not depend on libp2p.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::bytes::{HexError, fixed, from_hex, to_hex};
use crate::signed::{Signable, Signed};
use crate::time::Timestamp;

/// Length of a [`DomainId`] in bytes.
pub const DOMAIN_ID_LEN: usize = 16;
/// Longest PeerId encoding accepted in a binding.
pub const MAX_PEER_ID_LEN: usize = 64;

/// A domain's secret signing key. Never leaves the node's data directory.
pub struct DomainKeypair {
    signing: SigningKey,
}

impl DomainKeypair {
    /// A key pair from 32 secret bytes. The caller supplies the randomness:
    /// this crate reads no entropy source.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(&secret),
        }
    }

    /// The 32 secret bytes, for storing the key.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public half.
    pub fn public(&self) -> DomainPublicKey {
        DomainPublicKey(self.signing.verifying_key().to_bytes())
    }

    /// The domain id derived from the public key.
    pub fn domain_id(&self) -> DomainId {
        self.public().domain_id()
    }

    pub(crate) fn sign_raw(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }
}

impl fmt::Debug for DomainKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DomainKeypair")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

/// A domain's ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DomainPublicKey(#[serde(with = "fixed")] pub [u8; 32]);

impl DomainPublicKey {
    /// The domain id this key defines.
    pub fn domain_id(&self) -> DomainId {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"meshd/v1/domain-id\0");
        hasher.update(&self.0);
        let mut id = [0u8; DOMAIN_ID_LEN];
        id.copy_from_slice(&hasher.finalize().as_bytes()[..DOMAIN_ID_LEN]);
        DomainId(id)
    }

    /// Whether these bytes are a usable ed25519 point that is not of small
    /// order (a weak key would let forged signatures verify).
    pub fn is_valid(&self) -> bool {
        VerifyingKey::from_bytes(&self.0).is_ok_and(|k| !k.is_weak())
    }

    pub(crate) fn verifying_key(&self) -> Option<VerifyingKey> {
        VerifyingKey::from_bytes(&self.0)
            .ok()
            .filter(|k| !k.is_weak())
    }
}

impl fmt::Display for DomainPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl fmt::Debug for DomainPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DomainPublicKey({})", &to_hex(&self.0)[..16])
    }
}

impl FromStr for DomainPublicKey {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        from_hex(s.trim()).map(Self)
    }
}

/// The identity of a domain: a hash of its public key, printed as 32 hex
/// characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DomainId(#[serde(with = "fixed")] pub [u8; DOMAIN_ID_LEN]);

impl fmt::Display for DomainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl fmt::Debug for DomainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DomainId({})", &to_hex(&self.0)[..8])
    }
}

impl FromStr for DomainId {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        from_hex(s).map(Self)
    }
}

/// A domain's statement that a node (by PeerId) speaks for it until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeBinding {
    /// The authorising domain.
    pub domain: DomainId,
    /// The node's libp2p PeerId, as its multihash bytes.
    pub peer_id: Vec<u8>,
    /// When the binding was issued.
    pub issued_at: Timestamp,
    /// After this instant the binding no longer authorises the node.
    pub expires_at: Timestamp,
}

impl Signable for NodeBinding {
    const TAG: &'static str = "meshd/v1/node-binding";
}

/// Why a node binding does not authorise a node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// The signature does not verify.
    #[error("node binding signature invalid: {0}")]
    Signature(#[from] crate::signed::SignatureError),
    /// The binding was signed by a key that is not the named domain's.
    #[error("node binding for domain {claimed} was signed by domain {signer}")]
    WrongDomain {
        /// Domain named in the binding.
        claimed: DomainId,
        /// Domain of the signing key.
        signer: DomainId,
    },
    /// The binding names a different node.
    #[error("node binding is for another node")]
    WrongPeer,
    /// The binding has expired.
    #[error("node binding expired at {expires_at}, now {now}")]
    Expired {
        /// Expiry of the binding.
        expires_at: Timestamp,
        /// The time of the check.
        now: Timestamp,
    },
    /// The PeerId bytes are empty or too long.
    #[error("node binding peer id has {0} bytes; 1..={MAX_PEER_ID_LEN} allowed")]
    PeerIdLength(usize),
}

impl NodeBinding {
    /// Signs a binding of `peer_id` to `domain` valid from `now` for `valid_for_ms`.
    pub fn issue(
        domain: &DomainKeypair,
        peer_id: Vec<u8>,
        now: Timestamp,
        valid_for_ms: u64,
    ) -> Signed<NodeBinding> {
        Signed::sign(
            NodeBinding {
                domain: domain.domain_id(),
                peer_id,
                issued_at: now,
                expires_at: now.plus_millis(valid_for_ms),
            },
            domain,
        )
    }
}

impl Signed<NodeBinding> {
    /// Checks that this binding authorises `peer_id` at `now`, and returns the
    /// domain it speaks for.
    pub fn authorises(&self, peer_id: &[u8], now: Timestamp) -> Result<DomainId, BindingError> {
        let binding = self.verify()?;
        if binding.peer_id.is_empty() || binding.peer_id.len() > MAX_PEER_ID_LEN {
            return Err(BindingError::PeerIdLength(binding.peer_id.len()));
        }
        let signer = self.signer.domain_id();
        if signer != binding.domain {
            return Err(BindingError::WrongDomain {
                claimed: binding.domain,
                signer,
            });
        }
        if binding.peer_id != peer_id {
            return Err(BindingError::WrongPeer);
        }
        if now > binding.expires_at {
            return Err(BindingError::Expired {
                expires_at: binding.expires_at,
                now,
            });
        }
        Ok(binding.domain)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn keypair(seed: u8) -> DomainKeypair {
        DomainKeypair::from_secret([seed; 32])
    }

    #[test]
    fn domain_id_is_derived_from_the_key() {
        let a = keypair(1);
        let b = keypair(2);
        assert_eq!(a.domain_id(), a.public().domain_id());
        assert_ne!(a.domain_id(), b.domain_id());
        let text = a.domain_id().to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(text.parse::<DomainId>(), Ok(a.domain_id()));
        assert_eq!(
            a.public().to_string().parse::<DomainPublicKey>(),
            Ok(a.public())
        );
    }

    #[test]
    fn node_binding_checks() {
        let domain = keypair(3);
        let now = Timestamp(1_000);
        let binding = NodeBinding::issue(&domain, vec![9, 9, 9], now, 500);
        assert_eq!(binding.authorises(&[9, 9, 9], now), Ok(domain.domain_id()));
        assert_eq!(
            binding.authorises(&[9, 9, 8], now),
            Err(BindingError::WrongPeer)
        );
        assert!(matches!(
            binding.authorises(&[9, 9, 9], Timestamp(1_501)),
            Err(BindingError::Expired { .. })
        ));

        // A binding that names another domain than the signer's.
        let other = keypair(4);
        let forged = Signed::sign(
            NodeBinding {
                domain: other.domain_id(),
                peer_id: vec![1],
                issued_at: now,
                expires_at: now.plus_millis(10),
            },
            &domain,
        );
        assert!(matches!(
            forged.authorises(&[1], now),
            Err(BindingError::WrongDomain { .. })
        ));

        // Tampering with the peer id breaks the signature.
        let mut tampered = binding.clone();
        tampered.value.peer_id = vec![1];
        assert!(matches!(
            tampered.authorises(&[1], now),
            Err(BindingError::Signature(_))
        ));
    }

    #[test]
    fn weak_keys_are_invalid() {
        // The identity point is of small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(!DomainPublicKey(identity).is_valid());
        assert!(keypair(7).public().is_valid());
    }
}
