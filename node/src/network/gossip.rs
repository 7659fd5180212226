//! Gossip as the mesh speaks it: the gossipsub message-id rule, and
//! sealing and opening gossip envelopes with the origin node's key.
//!
//! Two signatures travel with every message, and they answer different
//! questions. gossipsub signs each message with its author's libp2p key
//! (`StrictSign`, the default of every libp2p implementation) and checks it
//! on every copy: that is the transport's, and it is what lets a libp2p peer
//! in its default configuration take part in the topic at all (such peers
//! drop unsigned messages). The envelope carries the origin node's binding
//! to its domain and that node's signature over the message
//! ([`mesh_protocol::wire::GOSSIP_VERSION`] 6), which the node checks once,
//! on the first copy, in [`open`]: that is what ties a message to a domain,
//! and it survives any number of forwarding peers that are not meshd nodes.
//! The node key lives in libp2p's identity types, which mesh-protocol does
//! not depend on, hence this module here rather than there.

use libp2p::PeerId;
use libp2p::gossipsub;
use libp2p::identity::{Keypair, PublicKey};
use mesh_protocol::bytes::ByteBuf;
use mesh_protocol::identity::BindingError;
use mesh_protocol::wire::{self, GOSSIP_VERSION, GossipEnvelope, GossipMessage, WireError};
use mesh_protocol::{DomainId, NodeBinding, Signed, Timestamp};

/// The multihash code of an identity hash: a peer id that embeds its key.
const IDENTITY_MULTIHASH: u64 = 0;

/// Why a gossip envelope was refused.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Not a well-formed envelope of this gossip version.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The binding names no peer id this node can take a key from.
    #[error("origin binding names no ed25519 peer id")]
    PeerId,
    /// The envelope's signature is not the bound node's.
    #[error("envelope not signed by the node its binding names")]
    Signature,
    /// The binding does not authorise its node now.
    #[error("origin binding: {0}")]
    Binding(#[from] BindingError),
}

/// A gossip message whose origin checked out.
#[derive(Debug)]
pub struct Opened {
    /// The node that first sent it.
    pub node: PeerId,
    /// The domain that node speaks for.
    pub domain: DomainId,
    /// The message.
    pub message: GossipMessage,
}

/// The id gossipsub gives a message: its author's peer id (as bytes)
/// followed by its sequence number (eight bytes, big-endian, as sent).
///
/// Message ids cross the wire in IHAVE and IWANT, so two peers must compute
/// the same id for the same message, or each asks the other for messages it
/// already holds and counts the answer as a broken promise. This is the
/// rule of the pubsub specification as go-libp2p and js-libp2p implement it
/// by default. rust-libp2p's default renders the same two fields as text
/// (base58 peer id and decimal number), so a rust-libp2p peer sets
/// `message_id_fn` to this rule (README, "Joining the mesh from another
/// libp2p implementation"); it still receives and forwards every message
/// without doing so, since mesh peers push messages whatever their ids.
/// A content hash would merge copies that different authors published, but
/// no libp2p default uses one, and the envelope check dedups those anyway.
/// A message without author or sequence number is refused by gossipsub's
/// strict validation before any id is asked for; it gets a content hash.
pub fn message_id(message: &gossipsub::Message) -> gossipsub::MessageId {
    match (message.source, message.sequence_number) {
        (Some(author), Some(sequence)) => {
            let mut id = author.to_bytes();
            id.extend_from_slice(&sequence.to_be_bytes());
            gossipsub::MessageId::from(id)
        }
        _ => gossipsub::MessageId::from(blake3::hash(&message.data).as_bytes().to_vec()),
    }
}

/// Encodes `message` in an envelope carrying `origin` and signed with
/// `key`, the node key `origin` binds.
pub fn seal(key: &Keypair, origin: &Signed<NodeBinding>, message: GossipMessage) -> Vec<u8> {
    let hash = GossipEnvelope::origin_hash(GOSSIP_VERSION, origin, &message);
    // Signing fails only for key types that cannot sign (none meshd uses);
    // an empty signature is then refused by every receiver.
    let signature = key.sign(&hash.0).unwrap_or_default();
    wire::encode_gossip(&GossipEnvelope {
        version: GOSSIP_VERSION,
        origin: origin.clone(),
        message,
        signature: ByteBuf(signature),
    })
}

/// Decodes untrusted gossip bytes and checks that the node named by the
/// envelope's binding signed it and that the binding authorises that node
/// at `now`.
pub fn open(bytes: &[u8], now: Timestamp) -> Result<Opened, OpenError> {
    let envelope = wire::decode_gossip(bytes)?;
    let node = PeerId::from_bytes(&envelope.origin.value.peer_id).map_err(|_| OpenError::PeerId)?;
    let key = embedded_key(&node).ok_or(OpenError::PeerId)?;
    let hash = GossipEnvelope::origin_hash(envelope.version, &envelope.origin, &envelope.message);
    if !key.verify(&hash.0, &envelope.signature.0) {
        return Err(OpenError::Signature);
    }
    let domain = envelope.origin.authorises(&node.to_bytes(), now)?;
    Ok(Opened {
        node,
        domain,
        message: envelope.message,
    })
}

/// The public key an identity-hashed peer id (every ed25519 one) embeds.
fn embedded_key(peer: &PeerId) -> Option<PublicKey> {
    let hash = peer.as_ref();
    if hash.code() != IDENTITY_MULTIHASH {
        return None;
    }
    PublicKey::try_decode_protobuf(hash.digest()).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use mesh_protocol::DomainKeypair;
    use mesh_protocol::access::AccessRequest;
    use mesh_protocol::descriptor::ProductId;

    use super::*;

    fn node(seed: u8) -> (Keypair, Signed<NodeBinding>) {
        let key = Keypair::ed25519_from_bytes([seed; 32]).unwrap();
        let domain = DomainKeypair::from_secret([seed; 32]);
        let binding = NodeBinding::issue(
            &domain,
            key.public().to_peer_id().to_bytes(),
            Timestamp(1_000),
            60_000,
        );
        (key, binding)
    }

    fn request(reason: &str) -> GossipMessage {
        let domain = DomainKeypair::from_secret([9; 32]);
        let request = AccessRequest {
            product: ProductId {
                domain: domain.domain_id(),
                name: "orders".into(),
            },
            requester: domain.domain_id(),
            requester_name: "sales".into(),
            reason: reason.into(),
            at: Timestamp(1_500),
        };
        GossipMessage::AccessRequest(Signed::sign(request, &domain))
    }

    fn message() -> GossipMessage {
        request("reporting")
    }

    #[test]
    fn a_sealed_envelope_opens_as_its_node_and_domain() {
        let (key, binding) = node(1);
        let opened = open(&seal(&key, &binding, message()), Timestamp(2_000)).unwrap();
        assert_eq!(opened.node, key.public().to_peer_id());
        assert_eq!(opened.domain, binding.value.domain);
        assert_eq!(opened.message, message());
    }

    #[test]
    fn another_nodes_binding_or_a_changed_message_is_refused() {
        let (key, _) = node(1);
        let (_, stolen) = node(2);
        // A node presenting a binding that names another node.
        let sealed = seal(&key, &stolen, message());
        assert!(matches!(
            open(&sealed, Timestamp(2_000)),
            Err(OpenError::Signature)
        ));
        // A relay that swaps the message under a valid signature.
        let (key, binding) = node(1);
        let mut envelope = wire::decode_gossip(&seal(&key, &binding, message())).unwrap();
        envelope.message = request("something else");
        let tampered = wire::encode_gossip(&envelope);
        assert!(matches!(
            open(&tampered, Timestamp(2_000)),
            Err(OpenError::Signature)
        ));
    }

    #[test]
    fn an_expired_binding_or_a_garbled_peer_id_is_refused() {
        let (key, binding) = node(1);
        assert!(matches!(
            open(&seal(&key, &binding, message()), Timestamp(1_000_000)),
            Err(OpenError::Binding(BindingError::Expired { .. }))
        ));
        let mut envelope = wire::decode_gossip(&seal(&key, &binding, message())).unwrap();
        envelope.origin.value.peer_id = vec![0xff; 8];
        assert!(matches!(
            open(&wire::encode_gossip(&envelope), Timestamp(2_000)),
            Err(OpenError::PeerId)
        ));
        assert!(matches!(
            open(b"\x00\x01", Timestamp(2_000)),
            Err(OpenError::Wire(_))
        ));
    }
}
