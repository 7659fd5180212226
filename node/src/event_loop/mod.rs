//! The node's single task: it owns the libp2p swarm and the node state
//! (catalog, store, blobs), feeds what it hears into mesh-protocol and
//! carries out what comes back: persist, then forward or answer.
//!
//! **Invariants:**
//! - nothing is forwarded (gossip `Accept`) or acknowledged to a caller
//!   before the store has made it durable;
//! - every gossip message gets exactly one validation verdict: `Accept`
//!   for news, `Ignore` for stale or duplicate, `Reject` (which costs the
//!   sender peer score) for forged or malformed;
//! - every map of pending work is bounded by the swarm's own limits (one
//!   entry per in-flight request or query).

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use libp2p::kad::store::RecordStore;
use libp2p::kad::{self, GetRecordOk, QueryResult, Record, RecordKey};
use libp2p::metrics::Recorder;
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, identify, mdns, noise, ping, tcp, yamux};
use mesh_protocol::catalog::{Catalog, CatalogLimits, Merge, MergeError};
use mesh_protocol::descriptor::{AccessMode, Deprecation, Withdrawal};
use mesh_protocol::wire::{
    self, ErrorCode, GossipMessage, MAX_FETCH_BATCH, MAX_ITEMS_PER_RESPONSE, Request, RequestFrame,
    Response,
};
use mesh_protocol::{
    CatalogItem, DomainKeypair, NodeBinding, PROTOCOL_VERSION, ProductId, Signed, encoding,
};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{debug, info, info_span, warn};

use crate::blobs::Blobs;
use crate::clock::now;
use crate::command::{Command, PublishReceipt};
use crate::config::Config;
use crate::error::NodeError;
use crate::events::NodeEvent;
use crate::identity::Identity;
use crate::metrics::MeshMetrics;
use crate::network::behaviour::{MeshBehaviourEvent, catalog_topic};
use crate::network::{MeshBehaviour, gossip};
use crate::peers::PeerTable;
use crate::status::Status;
use crate::store::Store;

/// File in the data directory with the running node's PeerId and addresses.
pub const NODE_INFO_FILE: &str = "node-info.json";

/// Rate-limit tokens one catalog digest request costs.
const DIGEST_COST: u32 = 200;

/// Most summary entries answered to one catalog digest.
const MAX_SUMMARY_ENTRIES: usize = 150_000;

mod access;
mod bootstrap;
mod chunks;
mod collecting;
mod commands;
mod dht_refresh;
mod disk;
mod fetching;
mod gossip_in;
mod governing;
mod kademlia;
mod limits;
mod outbox;
mod profile_checks;

pub(crate) use crate::profiling::ProfileChecked;
mod publishing;
mod requests;
mod serving;
mod swarm_events;
mod trim;

pub use crate::governance::VoteReceipt;
use kademlia::{ProviderLookup, record_key};

/// Results of blocking work the loop handed off, coming back in.
pub(crate) enum Internal {
    /// A fetch's partial file was synced and its record written.
    Synced {
        id: crate::fetch::FetchId,
        synced: bool,
    },
    BlobChecked {
        id: crate::fetch::FetchId,
        ok: bool,
    },
    /// A chunk read for serving, or why it could not be.
    Served {
        channel: request_response::ResponseChannel<Response>,
        product: ProductId,
        manifest: mesh_protocol::Hash,
        index: u32,
        outcome: Result<Vec<u8>, chunks::Unservable>,
    },
    /// A fetched chunk checked and written, or why not.
    Stored {
        id: crate::fetch::FetchId,
        index: u32,
        peer: PeerId,
        len: usize,
        outcome: chunks::Stored,
    },
    /// An ended fetch's record moved to the paused key.
    Paused {
        job: Box<fetching::Job>,
        state: crate::fetch::FetchState,
        error: crate::fetch::FetchError,
    },
    /// A completed fetch's bytes made durable among the blobs.
    Finished {
        job: Box<fetching::Job>,
        result: Result<(), String>,
    },
    Exported {
        job: Box<fetching::Job>,
        results: Vec<Result<PathBuf, crate::fetch::FetchError>>,
        check: Option<Box<profile_checks::Checked>>,
    },
    Collected(Result<crate::gc::CollectReport, crate::gc::CollectError>),
}

impl Internal {
    /// What the message is, for the turn-time log.
    fn kind(&self) -> &'static str {
        match self {
            Internal::Synced { .. } => "synced",
            Internal::BlobChecked { .. } => "blob_checked",
            Internal::Served { .. } => "served",
            Internal::Stored { .. } => "stored",
            Internal::Paused { .. } => "paused",
            Internal::Finished { .. } => "finished",
            Internal::Exported { .. } => "exported",
            Internal::Collected(_) => "collected",
        }
    }
}

/// Capacity of the internal channel (one sync in flight per fetch job).
const INTERNAL_QUEUE: usize = 1024;

/// What an outbound request was for.
enum Pending {
    SyncDigest,
    SyncFetch,
    GovCatchUp,
    AccessCatchUp,
    Probe(crate::fetch::FetchId),
    /// Which chunks a provider holds.
    Have(crate::fetch::FetchId),
    Chunk(crate::fetch::FetchId, u32),
}

/// What a node is made of, handed to [`EventLoop::new`].
pub(crate) struct Parts {
    pub(crate) identity: Identity,
    pub(crate) config: Config,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) blobs: Blobs,
    pub(crate) data_dir: PathBuf,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) events: broadcast::Sender<NodeEvent>,
    pub(crate) genesis: Option<mesh_protocol::governance::Genesis>,
    pub(crate) transport: Option<crate::network::TransportFactory>,
}

/// The swarm task.
pub(crate) struct EventLoop {
    swarm: Swarm<MeshBehaviour>,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<NodeEvent>,
    store: Arc<dyn Store>,
    blobs: Blobs,
    catalog: Catalog,
    domain: std::sync::Arc<DomainKeypair>,
    domain_name: String,
    binding: Signed<NodeBinding>,
    /// Signs the gossip this node originates (see `network::gossip`).
    node_key: libp2p::identity::Keypair,
    topic: IdentTopic,
    config: Config,
    data_dir: PathBuf,
    listen_addrs: Vec<Multiaddr>,
    pending: HashMap<OutboundRequestId, (PeerId, Pending)>,
    sync_received: HashMap<PeerId, usize>,
    lookups: HashMap<kad::QueryId, (ProductId, oneshot::Sender<Option<CatalogItem>>)>,
    digest_cache: Option<mesh_protocol::catalog::SyncDigest>,
    metrics: MeshMetrics,
    p2p_metrics: libp2p::metrics::Metrics,
    peers: PeerTable,
    provider_lookups: HashMap<kad::QueryId, ProviderLookup>,
    gov: Option<crate::governance::Governance>,
    gov_topic: Option<IdentTopic>,
    /// Armed consensus round timers, earliest first.
    gov_timers:
        std::collections::BTreeSet<(tokio::time::Instant, mesh_protocol::governance::Timeout)>,
    outbox: outbox::Outbox,
    bootstrap: bootstrap::Bootstrap,
    dht_refresh: dht_refresh::Refresh<kad::QueryId>,
    access: crate::access::Access,
    jobs: HashMap<crate::fetch::FetchId, fetching::Job>,
    next_job: crate::fetch::FetchId,
    provider_queries: HashMap<kad::QueryId, crate::fetch::FetchId>,
    limiter: limits::Limiter,
    internal: mpsc::Sender<Internal>,
    internal_rx: mpsc::Receiver<Internal>,
    /// Where chunk reads and writes and fetch records go (`disk.rs`).
    disk: disk::Disk,
    manifests: chunks::Manifests,
    /// Records of fetch jobs just paused (`fetching.rs`).
    pausing: std::collections::VecDeque<crate::fetch::FetchRecord>,
    gc: collecting::Collector,
}

impl EventLoop {
    pub(crate) fn new(
        parts: Parts,
        registry: &mut prometheus_client::registry::Registry,
    ) -> Result<Self, NodeError> {
        let Parts {
            identity,
            config,
            store,
            blobs,
            data_dir,
            commands,
            events,
            genesis,
            transport,
        } = parts;
        let behaviour = MeshBehaviour::new(&identity.node, &config.network, &config.serve)?;
        let net = |e: &dyn std::fmt::Display| NodeError::Network(e.to_string());
        let mut swarm = build_swarm(&identity.node, behaviour, transport, registry)?;
        let topic = catalog_topic(&config.network.network_id);
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic)
            .map_err(|e| net(&e))?;
        let domain = std::sync::Arc::new(identity.domain);
        let (gov, gov_topic) = match genesis {
            Some(genesis) => {
                let (gov, topic) = governing::open(genesis, &store, &domain, &mut swarm, &config)?;
                (Some(gov), Some(topic))
            }
            None => (None, None),
        };
        for addr in &config.network.listen {
            swarm.listen_on(addr.clone()).map_err(|e| net(&e))?;
        }

        let mut catalog = Catalog::new(CatalogLimits {
            max_products: config.catalog.max_products,
            max_per_domain: config.catalog.max_per_domain,
            max_bytes_per_domain: config.catalog.max_bytes_per_domain,
        });
        for item in store.items()? {
            // Items in the store were verified before they were written.
            if let Err(e) = catalog.insert_verified(item) {
                warn!(error = %e, "stored catalog item not loaded");
            }
        }
        info!(products = catalog.len(), "catalog loaded");
        let access = crate::access::Access::open(store.clone(), now())?;
        info!(pairs = access.book().len(), "access book loaded");

        let (internal, internal_rx) = mpsc::channel(INTERNAL_QUEUE);
        Ok(Self {
            swarm,
            commands,
            events,
            store,
            blobs,
            catalog,
            domain,
            domain_name: identity.domain_name,
            binding: identity.binding,
            node_key: identity.node,
            topic,
            data_dir,
            listen_addrs: Vec::new(),
            pending: HashMap::new(),
            sync_received: HashMap::new(),
            lookups: HashMap::new(),
            digest_cache: None,
            metrics: MeshMetrics::register(registry),
            p2p_metrics: libp2p::metrics::Metrics::new(registry),
            peers: PeerTable::default(),
            provider_lookups: HashMap::new(),
            gov,
            gov_topic,
            gov_timers: std::collections::BTreeSet::new(),
            outbox: outbox::Outbox::default(),
            bootstrap: bootstrap::Bootstrap::new(&config.network.bootstrap),
            dht_refresh: dht_refresh::Refresh::default(),
            access,
            jobs: HashMap::new(),
            next_job: 1,
            provider_queries: HashMap::new(),
            limiter: limits::Limiter::new(config.serve.clone()),
            disk: disk::Disk::start(internal.clone()),
            manifests: chunks::Manifests::default(),
            pausing: std::collections::VecDeque::new(),
            internal,
            internal_rx,
            gc: collecting::Collector::new(std::time::Duration::from_secs(
                config.blobs.collect_interval_secs.max(1),
            )),
            config,
        })
    }

    fn emit(&self, event: NodeEvent) {
        let _ = self.events.send(event);
    }

    /// Runs until a shutdown command or until every handle is dropped.
    pub(crate) async fn run(mut self) -> Result<(), NodeError> {
        let peer_id = *self.swarm.local_peer_id();
        info!(%peer_id, domain = %self.domain.domain_id(), name = %self.domain_name, "node started");
        let period =
            std::time::Duration::from_millis(self.config.network.sync_interval_ms.max(100));
        let mut anti_entropy = tokio::time::interval(period);
        anti_entropy.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut round: usize = 0;
        let mut upkeep = tokio::time::interval(std::time::Duration::from_millis(500));
        upkeep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.dial_bootstrap();
        self.resume_fetches();
        self.announce_held_blobs();
        self.boot_governance();
        loop {
            let next_round_timer = self.gov_timers.first().map(|(at, _)| *at);
            tokio::select! {
                biased;
                command = self.commands.recv() => {
                    let _turn = self.metrics.turn("command");
                    match command {
                        Some(Command::Shutdown) | None => break,
                        Some(command) => self.handle_command(command),
                    }
                }
                Some(internal) = self.internal_rx.recv() => {
                    let _turn = self.metrics.turn(internal.kind());
                    match internal {
                        Internal::Synced { id, synced } => self.on_synced(id, synced),
                        Internal::Served {
                            channel,
                            product,
                            manifest,
                            index,
                            outcome,
                        } => self.on_served(channel, &product, &manifest, index, outcome),
                        Internal::Stored {
                            id,
                            index,
                            peer,
                            len,
                            outcome,
                        } => self.on_stored(id, index, peer, len, outcome),
                        Internal::Finished { job, result } => self.on_finished(*job, result),
                        Internal::Paused { job, state, error } => self.on_paused(*job, state, &error),
                        Internal::BlobChecked { id, ok } => self.on_blob_checked(id, ok),
                        Internal::Exported {
                            job,
                            results,
                            check,
                        } => self.on_exported(*job, results, check.map(|c| *c)),
                        Internal::Collected(result) => self.on_collected(result),
                    }
                }
                event = self.swarm.select_next_some() => {
                    let _turn = self.metrics.turn(swarm_events::swarm_event_kind(&event));
                    self.handle_swarm_event(event);
                }
                () = governing::sleep_until(next_round_timer) => {
                    let _turn = self.metrics.turn("round_timer");
                    self.fire_round_timers();
                }
                _ = upkeep.tick() => {
                    let _turn = self.metrics.turn("upkeep");
                    self.tick_fetches();
                    self.tick_collector();
                    self.limiter.forget_idle();
                    self.expire_provider_lookups();
                    self.retry_deferred_gossip();
                    self.redial_bootstrap();
                    self.trim_peers();
                    self.metrics.gauges(self.catalog.len(), self.peers.len(), self.jobs.len());
                }
                _ = anti_entropy.tick() => {
                    let _turn = self.metrics.turn("anti_entropy");
                    // Sync with one connected peer per period, in turn, so a
                    // gossip message lost to a race is repaired without any
                    // re-broadcast.
                    let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
                    if !peers.is_empty() {
                        round = round.wrapping_add(1);
                        let peer = peers[round % peers.len()];
                        if !self.sync_received.contains_key(&peer) {
                            self.start_sync(peer);
                        }
                        self.start_gov_catch_up(peer);
                        if !self.config.network.catalog_sync {
                            self.start_access_catch_up(peer);
                        }
                    }
                }
            }
        }
        info!("shutting down");
        self.store.flush()?;
        let _ = std::fs::remove_file(self.data_dir.join(NODE_INFO_FILE));
        Ok(())
    }

    fn write_node_info(&self) {
        let info = serde_json::json!({
            "peer_id": self.swarm.local_peer_id().to_string(),
            "domain_id": self.domain.domain_id().to_string(),
            "domain_name": self.domain_name,
            "listen_addrs": self.listen_addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "api": self.config.api.listen.to_string(),
            "pid": std::process::id(),
        });
        let path = self.data_dir.join(NODE_INFO_FILE);
        let tmp = self.data_dir.join(format!("{NODE_INFO_FILE}.tmp"));
        let written =
            std::fs::write(&tmp, info.to_string()).and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            warn!(error = %e, "cannot write node info file");
        }
    }

    // ---- commands -------------------------------------------------------

    // ---- network --------------------------------------------------------

    // ---- catalog sync and requests -------------------------------------
}

/// The swarm over the daemon's TCP + QUIC, or over `transport` when given
/// (the simulator's links).
fn build_swarm(
    key: &libp2p::identity::Keypair,
    behaviour: MeshBehaviour,
    transport: Option<crate::network::TransportFactory>,
    registry: &mut prometheus_client::registry::Registry,
) -> Result<Swarm<MeshBehaviour>, NodeError> {
    let net = |e: &dyn std::fmt::Display| NodeError::Network(e.to_string());
    let idle = |c: libp2p::swarm::Config| {
        c.with_idle_connection_timeout(std::time::Duration::from_secs(60))
    };
    let builder = libp2p::SwarmBuilder::with_existing_identity(key.clone()).with_tokio();
    let swarm = match transport {
        None => builder
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| net(&e))?
            .with_quic()
            .with_bandwidth_metrics(registry)
            .with_behaviour(|_| behaviour)
            .map_err(|e| net(&e))?
            .with_swarm_config(idle)
            .build(),
        Some(factory) => builder
            .with_other_transport(|key| factory(key))
            .map_err(|e| net(&e))?
            .with_bandwidth_metrics(registry)
            .with_behaviour(|_| behaviour)
            .map_err(|e| net(&e))?
            .with_swarm_config(idle)
            .build(),
    };
    Ok(swarm)
}
