//! A plain rust-libp2p peer on the catalog topic: TCP, noise, yamux and
//! gossipsub, nothing of meshd's own. The interop tests run it with
//! gossipsub's default configuration, the hostile tests with a larger size
//! limit, to send what a node must refuse.
#![allow(
    clippy::unwrap_used,
    reason = "test harness: a failed unwrap is a failed test"
)]

use std::time::Duration;

use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, Swarm, gossipsub};
use mesh_node::Config;
use mesh_node::network::gossip;
use mesh_protocol::descriptor::{Content, Descriptor, Format, Owner, Quality, Schema};
use mesh_protocol::wire::{GossipMessage, topic};
use mesh_protocol::{CatalogItem, DomainKeypair, Hash, NodeBinding, ProductId, Signed, Timestamp};

use crate::TIMEOUT;

/// A libp2p peer that speaks only gossipsub, with a domain of its own.
pub struct GossipPeer {
    /// The swarm.
    pub swarm: Swarm<gossipsub::Behaviour>,
    /// Its libp2p key.
    pub key: libp2p::identity::Keypair,
    /// The domain it speaks for.
    pub domain: DomainKeypair,
    /// Its node's binding to that domain.
    pub binding: Signed<NodeBinding>,
    /// The catalog topic of the default network.
    pub topic: gossipsub::IdentTopic,
}

impl GossipPeer {
    /// A peer whose gossipsub runs `config`, signing its messages with its
    /// own key (gossipsub's default authenticity), for domain `secret`.
    pub fn new(config: gossipsub::Config, secret: [u8; 32]) -> Self {
        let key = libp2p::identity::Keypair::generate_ed25519();
        let swarm = crate::tcp_swarm(key.clone(), |k| {
            gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(k.clone()), config)
                .unwrap()
        });
        let domain = DomainKeypair::from_secret(secret);
        let binding = NodeBinding::issue(
            &domain,
            key.public().to_peer_id().to_bytes(),
            mesh_node::clock::now(),
            3_600_000,
        );
        let topic =
            gossipsub::IdentTopic::new(topic(&Config::default().network.network_id, "catalog"));
        Self {
            swarm,
            key,
            domain,
            binding,
            topic,
        }
    }

    /// Dials `addr` and waits until the node there subscribes to the topic.
    pub async fn join(&mut self, addr: Multiaddr) {
        self.swarm.behaviour_mut().subscribe(&self.topic).unwrap();
        self.swarm.dial(addr).unwrap();
        let wait = async {
            loop {
                if let SwarmEvent::Behaviour(gossipsub::Event::Subscribed { .. }) =
                    self.swarm.select_next_some().await
                {
                    return;
                }
            }
        };
        tokio::time::timeout(TIMEOUT, wait).await.unwrap();
    }

    /// Drives the swarm until its mesh on the topic holds `peers` peers.
    pub async fn wait_mesh(&mut self, peers: usize) {
        let hash = self.topic.hash();
        let wait = async {
            while self.swarm.behaviour().mesh_peers(&hash).count() < peers {
                self.swarm.select_next_some().await;
            }
        };
        tokio::time::timeout(TIMEOUT, wait).await.unwrap();
    }

    /// A descriptor of this peer's domain.
    pub fn descriptor(&self, name: &str, version: u64) -> Descriptor {
        Descriptor {
            id: ProductId {
                domain: self.domain.domain_id(),
                name: name.into(),
            },
            domain_name: "mallory".into(),
            version,
            title: format!("{name} v{version}"),
            description: String::new(),
            owner: Owner::default(),
            schema: Schema::default(),
            format: Format::Csv,
            content: Content {
                size: 10,
                chunk_size: 1 << 20,
                manifest_hash: Hash::of(b"x"),
            },
            tags: std::collections::BTreeSet::default(),
            quality: Quality::default(),
            lineage: vec![],
            access: mesh_protocol::descriptor::AccessPolicy::default(),
            retention_days: None,
            created_at: Timestamp(1),
            deprecation: None,
            csv: None,
            profile: None,
            derivation: None,
        }
    }

    /// `message` sealed under this peer's binding.
    pub fn gossip(&self, message: GossipMessage) -> Vec<u8> {
        gossip::seal(&self.key, &self.binding, message)
    }

    /// A catalog item sealed under this peer's binding.
    pub fn envelope(&self, item: CatalogItem) -> Vec<u8> {
        self.gossip(GossipMessage::Catalog(item))
    }

    /// Publishes `bytes` on the topic. A publish error (e.g. the node
    /// dropped this peer) is part of what the tests watch, not a failure.
    pub fn send(&mut self, bytes: Vec<u8>) {
        let _ = self
            .swarm
            .behaviour_mut()
            .publish(self.topic.clone(), bytes);
    }

    /// Drives the swarm for a moment so queued messages go out.
    pub async fn flush(&mut self) {
        let _ = tokio::time::timeout(Duration::from_millis(300), async {
            loop {
                self.swarm.select_next_some().await;
            }
        })
        .await;
    }
}
