//! The libp2p behaviours a meshd node runs, and how they are configured.
#![allow(
    missing_docs,
    reason = "the NetworkBehaviour derive generates an undocumented event enum"
)]

use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    StreamProtocol, connection_limits, gossipsub, identify, kad, mdns, ping, request_response,
};
use mesh_protocol::wire::{DATA_PROTOCOL, IDENTIFY_PROTOCOL, KAD_PROTOCOL, MAX_GOSSIP_BYTES};

use super::codec::MeshCodec;
use crate::config::{NetworkConfig, ServeConfig};

/// Everything the swarm speaks.
#[derive(NetworkBehaviour)]
pub struct MeshBehaviour {
    /// Connection limits.
    pub limits: connection_limits::Behaviour,
    /// Exchange of listen addresses and protocols.
    pub identify: identify::Behaviour,
    /// Liveness.
    pub ping: ping::Behaviour,
    /// Local network discovery (off with `--no-mdns`).
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// The mesh's DHT: product records and providers.
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    /// Catalog and governance broadcast.
    pub gossipsub: gossipsub::Behaviour,
    /// Data and sync requests.
    pub rr: request_response::Behaviour<MeshCodec>,
}

/// Why the behaviours could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BehaviourError {
    /// Gossipsub rejected its configuration.
    #[error("gossipsub: {0}")]
    Gossipsub(String),
    /// mDNS could not start.
    #[error("mdns: {0}")]
    Mdns(#[from] std::io::Error),
}

impl MeshBehaviour {
    /// Builds the behaviours for a node key and network config.
    pub fn new(
        key: &Keypair,
        config: &NetworkConfig,
        serve: &ServeConfig,
    ) -> Result<Self, BehaviourError> {
        let peer_id = key.public().to_peer_id();
        let limits = connection_limits::Behaviour::new(
            connection_limits::ConnectionLimits::default()
                .with_max_established(Some(config.max_connections))
                .with_max_established_per_peer(Some(config.max_connections_per_peer))
                .with_max_pending_incoming(Some(128)),
        );
        let identify = identify::Behaviour::new(identify::Config::new(
            IDENTIFY_PROTOCOL.to_owned(),
            key.public(),
        ));
        let mdns = if config.mdns {
            Some(mdns::tokio::Behaviour::new(
                mdns::Config::default(),
                peer_id,
            )?)
        } else {
            None
        };

        let mut kad_config = kad::Config::new(StreamProtocol::new(KAD_PROTOCOL));
        kad_config.set_record_filtering(kad::StoreInserts::FilterBoth);
        kad_config.set_query_timeout(Duration::from_secs(30));
        kad_config.set_max_packet_size(MAX_GOSSIP_BYTES + 4096);
        let store = kad::store::MemoryStore::with_config(
            peer_id,
            kad::store::MemoryStoreConfig {
                max_records: 100_000,
                max_value_bytes: MAX_GOSSIP_BYTES,
                ..Default::default()
            },
        );
        let mut kad = kad::Behaviour::with_config(peer_id, store, kad_config);
        kad.set_mode(Some(kad::Mode::Server));

        // Signed by the author and checked on every copy, with the message
        // id of go- and js-libp2p: what a libp2p peer in its default
        // configuration expects (see `network::gossip`). The envelope's own
        // origin signature is still checked once per new message.
        let gossip_config = gossipsub::ConfigBuilder::default()
            .validation_mode(gossipsub::ValidationMode::Strict)
            .validate_messages()
            .max_transmit_size(MAX_GOSSIP_BYTES)
            .heartbeat_interval(Duration::from_millis(500))
            .message_id_fn(super::gossip::message_id)
            .build()
            .map_err(|e| BehaviourError::Gossipsub(e.to_string()))?;
        let mut gossipsub = gossipsub::Behaviour::new(
            gossipsub::MessageAuthenticity::Signed(key.clone()),
            gossip_config,
        )
        .map_err(|e| BehaviourError::Gossipsub(e.to_owned()))?;
        let (params, thresholds) = score_params(&catalog_topic(&config.network_id));
        gossipsub
            .with_peer_score(params, thresholds)
            .map_err(BehaviourError::Gossipsub)?;

        let rr = request_response::Behaviour::with_codec(
            MeshCodec,
            [(
                StreamProtocol::new(DATA_PROTOCOL),
                request_response::ProtocolSupport::Full,
            )],
            request_response::Config::default()
                .with_request_timeout(Duration::from_secs(30))
                .with_max_concurrent_streams(serve.max_concurrent_streams),
        );

        Ok(Self {
            limits,
            identify,
            ping: ping::Behaviour::new(ping::Config::new()),
            mdns: mdns.into(),
            kad,
            gossipsub,
            rr,
        })
    }
}

/// The catalog gossip topic of a network.
pub fn catalog_topic(network_id: &str) -> gossipsub::IdentTopic {
    gossipsub::IdentTopic::new(mesh_protocol::wire::topic(network_id, "catalog"))
}

/// Topic scoring that makes every message mesh-protocol rejects cost its
/// sender (gossipsub's P4), so a forging peer is soon graylisted.
pub(crate) fn rejection_penalty() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.5,
        ..Default::default()
    }
}

/// Peer scoring: the default thresholds, and on the catalog topic a heavy
/// penalty for every message mesh-protocol rejects (gossipsub's P4), so a
/// forging peer is soon graylisted.
///
/// The IP-colocation penalty (P6) spares loopback: every node of a test,
/// a demo or a simulation shares 127.0.0.1, and beyond ten such peers the
/// penalty graylists them all, which silently drops their subscriptions
/// (a 30-member federation on one machine could not gossip at all).
fn score_params(
    topic: &gossipsub::IdentTopic,
) -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let mut params = gossipsub::PeerScoreParams::default();
    params.ip_colocation_factor_whitelist.extend([
        std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST),
        std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
    ]);
    params.topics.insert(topic.hash(), rejection_penalty());
    (params, gossipsub::PeerScoreThresholds::default())
}
