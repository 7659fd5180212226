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
use crate::config::Config;
use crate::identity::Identity;
use crate::metrics::MeshMetrics;
use crate::network::behaviour::{MeshBehaviourEvent, catalog_topic};
use crate::network::{MeshBehaviour, gossip};
use crate::node::{Command, NodeError, NodeEvent, PublishReceipt, Status};
use crate::peers::PeerTable;
use crate::store::Store;

/// File in the data directory with the running node's PeerId and addresses.
pub const NODE_INFO_FILE: &str = "node-info.json";

/// Rate-limit tokens one catalog digest request costs.
const DIGEST_COST: u32 = 200;

/// Most summary entries answered to one catalog digest.
const MAX_SUMMARY_ENTRIES: usize = 150_000;

mod access;
mod bootstrap;
mod collecting;
mod dht_refresh;
mod fetching;
mod governing;
mod limits;
mod outbox;
mod trim;

pub use governing::VoteReceipt;

pub(crate) use fetching::FetchStarted;

/// Results of blocking work the loop handed off, coming back in.
pub(crate) enum Internal {
    Synced {
        id: crate::fetch::FetchId,
        record: crate::fetch::FetchRecord,
        synced: bool,
    },
    BlobChecked {
        id: crate::fetch::FetchId,
        ok: bool,
    },
    Exported {
        job: Box<fetching::Job>,
        results: Vec<Result<PathBuf, crate::fetch::FetchError>>,
    },
    Collected(Result<crate::gc::CollectReport, crate::gc::CollectError>),
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
    pub(crate) transport: Option<crate::node::TransportFactory>,
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
    gc: collecting::Collector,
}

/// A DHT query for who provides a product's bytes, asked through the API.
struct ProviderLookup {
    found: BTreeSet<PeerId>,
    deadline: tokio::time::Instant,
    reply: oneshot::Sender<Vec<String>>,
}

/// Longest a provider lookup runs before it answers with what it found.
const PROVIDER_LOOKUP_TIME: std::time::Duration = std::time::Duration::from_secs(3);

fn record_key(product: &ProductId) -> RecordKey {
    RecordKey::new(&format!("meshd/product/{product}"))
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
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown) | None => break,
                    Some(command) => self.handle_command(command),
                },
                Some(internal) = self.internal_rx.recv() => match internal {
                    Internal::Synced { id, record, synced } => self.on_synced(id, &record, synced),
                    Internal::BlobChecked { id, ok } => self.on_blob_checked(id, ok),
                    Internal::Exported { job, results } => self.on_exported(*job, results),
                    Internal::Collected(result) => self.on_collected(result),
                },
                event = self.swarm.select_next_some() => self.handle_swarm_event(event),
                () = governing::sleep_until(next_round_timer) => self.fire_round_timers(),
                _ = upkeep.tick() => {
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

    /// Announces in the DHT every product whose bytes this node holds and
    /// may serve (provider records are not persisted across restarts).
    fn announce_held_blobs(&mut self) {
        let own = self.domain.domain_id();
        let keys: Vec<_> = self
            .catalog
            .items()
            .filter_map(CatalogItem::descriptor)
            .filter(|d| d.id.domain == own || d.access.reshare)
            .map(|d| d.content.manifest_hash)
            .filter(|h| self.blobs.has(h))
            .map(|h| fetching::provider_key(&h))
            .collect();
        for key in keys {
            let _ = self.swarm.behaviour_mut().kad.start_providing(key);
        }
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

    fn handle_command(&mut self, command: Command) {
        match command {
            Command::Publish {
                draft,
                content,
                manifest,
                reply,
            } => {
                let result = self.publish(*draft, content, &manifest);
                let _ = reply.send(result);
            }
            Command::Withdraw {
                name,
                reason,
                reply,
            } => {
                let _ = reply.send(self.withdraw(&name, reason));
            }
            Command::Deprecate {
                name,
                reason,
                successor,
                reply,
            } => {
                let _ = reply.send(self.deprecate(&name, reason, successor));
            }
            Command::Query { query, reply } => {
                let _ = reply.send(self.catalog.query(&query).cloned().collect());
            }
            Command::Get { product, reply } => {
                let _ = reply.send(self.catalog.get(&product).cloned());
            }
            Command::Lookup { product, reply } => {
                if let Some(item) = self.catalog.get(&product) {
                    let _ = reply.send(Some(item.clone()));
                } else {
                    let id = self
                        .swarm
                        .behaviour_mut()
                        .kad
                        .get_record(record_key(&product));
                    self.lookups.insert(id, (product, reply));
                }
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.peers.snapshot());
            }
            Command::Versions { product, reply } => {
                let _ = reply.send(self.store.versions(&product).map_err(NodeError::from));
            }
            Command::Providers { product, reply } => self.lookup_providers(&product, reply),
            command @ (Command::Federation { .. }
            | Command::Proposals { .. }
            | Command::Propose { .. }
            | Command::Vote { .. }
            | Command::Compliance { .. }) => self.handle_governance_command(command),
            command @ (Command::AccessList { .. }
            | Command::RequestAccess { .. }
            | Command::DecideAccess { .. }) => self.handle_access_command(command),
            Command::Resolve {
                domain_name,
                name,
                reply,
            } => {
                let _ = reply.send(self.resolve(&domain_name, &name));
            }
            Command::Dial { addr, reply } => {
                let result = self
                    .swarm
                    .dial(addr)
                    .map_err(|e| NodeError::Network(e.to_string()));
                let _ = reply.send(result);
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::Fetch {
                product,
                version,
                output,
                reply,
            } => {
                let _ = reply.send(self.start_fetch(&product, version, output));
            }
            Command::CancelFetch { id } => self.cancel_fetch(id),
            Command::RunningFetches { reply } => {
                let _ = reply.send(self.running_fetches());
            }
            Command::CollectGarbage { reply } => self.request_collection(reply),
            Command::Shutdown => {}
        }
    }

    fn status(&self) -> Status {
        Status {
            domain_name: self.domain_name.clone(),
            domain_id: self.domain.domain_id().to_string(),
            domain_key: self.domain.public().to_string(),
            federation: self
                .gov
                .as_ref()
                .map(|g| format!("{} v{}", g.id(), g.version())),
            member: self
                .gov
                .as_ref()
                .is_some_and(|g| g.is_member(&self.domain.domain_id())),
            peer_id: self.swarm.local_peer_id().to_string(),
            listen_addrs: self.listen_addrs.iter().map(ToString::to_string).collect(),
            peers: self.swarm.connected_peers().count(),
            catalog_size: self.catalog.len(),
            counters: self.metrics.counters(),
            // Measured by the handle, off the loop.
            blob_bytes: 0,
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    fn own_product(&self, name: &str) -> ProductId {
        ProductId {
            domain: self.domain.domain_id(),
            name: name.to_owned(),
        }
    }

    fn next_version(&self, product: &ProductId) -> u64 {
        self.catalog.get(product).map_or(1, |i| i.version() + 1)
    }

    fn publish(
        &mut self,
        draft: crate::draft::ProductDraft,
        content: mesh_protocol::descriptor::Content,
        manifest: &mesh_protocol::Manifest,
    ) -> Result<PublishReceipt, NodeError> {
        let product = self.own_product(&draft.name);
        let version = self.next_version(&product);
        let descriptor = draft.into_descriptor(
            self.domain.domain_id(),
            &self.domain_name,
            version,
            content,
            now(),
            None,
        );
        descriptor.validate()?;
        if let Some(gov) = &self.gov {
            let previous = self.previous_descriptor(&product, version);
            let issues = gov.check(&descriptor, previous.as_ref());
            if !issues.is_empty() {
                return Err(NodeError::Policy(issues));
            }
        }
        let receipt = PublishReceipt {
            product: product.clone(),
            version,
            manifest_hash: descriptor.content.manifest_hash,
            size: descriptor.content.size,
        };
        self.store.put_manifest(manifest)?;
        let item = CatalogItem::Descriptor(Signed::sign(descriptor, &self.domain));
        self.commit_own(&item)?;
        self.metrics.published();
        info!(%product, version, size = receipt.size, "published");
        Ok(receipt)
    }

    fn withdraw(&mut self, name: &str, reason: String) -> Result<u64, NodeError> {
        let product = self.own_product(name);
        match self.catalog.get(&product) {
            Some(CatalogItem::Descriptor(_)) => {}
            _ => return Err(NodeError::UnknownProduct(product.to_string())),
        }
        let version = self.next_version(&product);
        let withdrawal = Withdrawal {
            product: product.clone(),
            version,
            reason,
            at: now(),
        };
        withdrawal.validate()?;
        self.commit_own(&CatalogItem::Withdrawal(Signed::sign(
            withdrawal,
            &self.domain,
        )))?;
        info!(%product, version, "withdrawn");
        Ok(version)
    }

    fn deprecate(
        &mut self,
        name: &str,
        reason: String,
        successor: Option<ProductId>,
    ) -> Result<u64, NodeError> {
        let product = self.own_product(name);
        let Some(CatalogItem::Descriptor(current)) = self.catalog.get(&product) else {
            return Err(NodeError::UnknownProduct(product.to_string()));
        };
        let mut next = current.value.clone();
        next.version += 1;
        next.created_at = now();
        next.deprecation = Some(Deprecation { reason, successor });
        next.validate()?;
        // A new version is a publish: only a member's counts. (Policies are
        // not re-checked: deprecating a product that breaks a newer rule
        // must stay possible.)
        if let Some(gov) = &self.gov
            && let Some(issue) = gov
                .check(&next, None)
                .into_iter()
                .find(|i| i.rule == "membership")
        {
            return Err(NodeError::Policy(vec![issue]));
        }
        let version = next.version;
        self.commit_own(&CatalogItem::Descriptor(Signed::sign(next, &self.domain)))?;
        info!(%product, version, "deprecated");
        Ok(version)
    }

    /// Merges, persists and announces an item this node signed.
    fn commit_own(&mut self, item: &CatalogItem) -> Result<(), NodeError> {
        self.catalog.preview(item)?;
        self.store.put_item(item, true)?;
        self.catalog.insert_shared(self.store.share(item))?;
        self.digest_cache = None;
        if item.version() > 1 {
            // An older version was superseded or withdrawn.
            self.gc.soon();
        }
        self.emit_update(item);
        self.announce(item);
        Ok(())
    }

    fn emit_update(&self, item: &CatalogItem) {
        self.emit(NodeEvent::CatalogUpdated {
            product: item.product().clone(),
            version: item.version(),
            withdrawn: matches!(item, CatalogItem::Withdrawal(_)),
        });
    }

    fn announce(&mut self, item: &CatalogItem) {
        // With no subscribed peer yet (alone, or just started) the item
        // waits in the outbox instead of being dropped: a node that does
        // not run catalog sync would otherwise never hear of it.
        self.gossip_or_defer(self.topic.clone(), GossipMessage::Catalog(item.clone()));
        if let CatalogItem::Descriptor(d) = item
            && self.blobs.has(&d.value.content.manifest_hash)
        {
            let key = fetching::provider_key(&d.value.content.manifest_hash);
            if let Err(e) = self.swarm.behaviour_mut().kad.start_providing(key) {
                debug!(error = %e, "cannot announce as provider");
            }
        }
        let record = Record::new(record_key(item.product()), encoding::to_bytes(item));
        if let Err(e) = self
            .swarm
            .behaviour_mut()
            .kad
            .put_record(record, kad::Quorum::One)
        {
            debug!(error = %e, "kademlia put failed");
        }
    }

    // ---- network --------------------------------------------------------

    fn handle_swarm_event(&mut self, event: SwarmEvent<MeshBehaviourEvent>) {
        self.p2p_metrics.record(&event);
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "listening");
                self.listen_addrs.push(address.clone());
                self.write_node_info();
                self.emit(NodeEvent::Listening(address));
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                endpoint,
                ..
            } => {
                if endpoint.is_dialer() {
                    self.bootstrap_connected(peer_id, endpoint.get_remote_address());
                }
                self.peers.connected(
                    peer_id,
                    endpoint.get_remote_address().clone(),
                    endpoint.is_dialer(),
                    now(),
                );
                if num_established.get() > 1 {
                    return;
                }
                debug!(peer = %peer_id, addr = %endpoint.get_remote_address(), "connected");
                // Only an address this node dialed is one the peer listens
                // on; an inbound connection's is an ephemeral port nobody
                // can dial, so it stays out of the DHT (identify tells the
                // peer's listen addresses).
                if endpoint.is_dialer() {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer_id, endpoint.get_remote_address().clone());
                }
                if self.catch_up_on_connect(&peer_id) {
                    self.start_sync(peer_id);
                    self.start_gov_catch_up(peer_id);
                    if !self.config.network.catalog_sync {
                        self.start_access_catch_up(peer_id);
                    }
                }
                self.emit(NodeEvent::PeerConnected(peer_id));
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => {
                self.peers.closed(&peer_id, num_established);
                if num_established == 0 {
                    self.emit(NodeEvent::PeerDisconnected(peer_id));
                }
            }
            SwarmEvent::Behaviour(event) => self.handle_behaviour_event(event),
            _ => {}
        }
    }

    fn handle_behaviour_event(&mut self, event: MeshBehaviourEvent) {
        match &event {
            MeshBehaviourEvent::Gossipsub(e) => self.p2p_metrics.record(e),
            MeshBehaviourEvent::Kad(e) => self.p2p_metrics.record(e),
            MeshBehaviourEvent::Identify(e) => self.p2p_metrics.record(e),
            MeshBehaviourEvent::Ping(e) => self.p2p_metrics.record(e),
            _ => {}
        }
        match event {
            MeshBehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                self.peers.used(&propagation_source);
                let verdict = self.handle_gossip(propagation_source, &message);
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, verdict);
            }
            MeshBehaviourEvent::Mdns(mdns::Event::Discovered(peers)) => {
                for (peer, addr) in peers {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer, addr.clone());
                    if !self.swarm.is_connected(&peer) {
                        let _ = self.swarm.dial(addr);
                    }
                }
            }
            MeshBehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.peers.identified(&peer_id, &info.agent_version);
                for addr in info.listen_addrs.into_iter().take(16) {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                }
            }
            MeshBehaviourEvent::Ping(ping::Event {
                peer,
                result: Ok(rtt),
                ..
            }) => self.peers.pinged(&peer, rtt),
            MeshBehaviourEvent::Kad(event) => self.handle_kad(event),
            MeshBehaviourEvent::Rr(event) => self.handle_rr(event),
            _ => {}
        }
    }

    /// Checks a gossip message and merges it; returns the verdict.
    fn handle_gossip(&mut self, peer: PeerId, message: &gossipsub::Message) -> MessageAcceptance {
        let span = info_span!("gossip", %peer);
        let _guard = span.enter();
        let verdict = match self.check_gossip(peer, message) {
            Ok(true) => MessageAcceptance::Accept,
            Ok(false) => MessageAcceptance::Ignore,
            Err(reason) => {
                warn!(%reason, "gossip rejected");
                self.emit(NodeEvent::Rejected {
                    peer,
                    reason: reason.clone(),
                });
                MessageAcceptance::Reject
            }
        };
        match verdict {
            MessageAcceptance::Accept => self.metrics.gossip("accepted"),
            MessageAcceptance::Ignore => self.metrics.gossip("ignored"),
            MessageAcceptance::Reject => self.metrics.gossip("rejected"),
        }
        verdict
    }

    /// `Ok(true)`: news, forward. `Ok(false)`: harmless, drop. `Err`: forged
    /// or malformed, drop and penalise.
    fn check_gossip(&mut self, peer: PeerId, message: &gossipsub::Message) -> Result<bool, String> {
        let opened = gossip::open(&message.data, now()).map_err(|e| e.to_string())?;
        let origin_domain = opened.domain;
        self.peers.bound(&opened.node, origin_domain);
        match opened.message {
            GossipMessage::Catalog(item) => {
                if item.product().domain != origin_domain {
                    return Err(format!(
                        "node of domain {origin_domain} sent an item of domain {}",
                        item.product().domain
                    ));
                }
                match self.merge_remote(&item) {
                    Ok(news) => Ok(news),
                    Err(MergeError::Item(e)) => Err(e.to_string()),
                    Err(e @ (MergeError::Stale { .. } | MergeError::Full(_))) => {
                        debug!(reason = %e, "gossip item dropped");
                        Ok(false)
                    }
                }
            }
            m @ (GossipMessage::AccessRequest(_) | GossipMessage::AccessDecision(_)) => {
                self.check_access(origin_domain, m)
            }
            other => self.check_governance(peer, other),
        }
    }

    /// Verifies and merges an item from another node; persists news.
    /// `Ok(true)` only when the item was news and is now durable in the
    /// store and merged; a store failure leaves the catalog unchanged and
    /// answers `Ok(false)`, so the item is not forwarded.
    fn merge_remote(&mut self, item: &CatalogItem) -> Result<bool, MergeError> {
        item.verify()?;
        let product = item.product().clone();
        let persisted = match self.catalog.preview(item)? {
            Merge::Duplicate => return Ok(false),
            Merge::Equivocation => {
                warn!(%product, version = item.version(), "equivocation: two items for one version");
                let mut items = vec![item.clone()];
                items.extend(self.catalog.get(&product).cloned());
                let becomes_current = items
                    .iter()
                    .map(CatalogItem::hash)
                    .min()
                    .is_some_and(|h| h == item.hash());
                self.store.put_evidence(&items).and_then(|()| {
                    if becomes_current {
                        self.store.put_item(item, false)
                    } else {
                        Ok(())
                    }
                })
            }
            Merge::Added | Merge::Replaced { .. } => self.store.put_item(item, false),
        };
        if let Err(e) = persisted {
            warn!(%product, error = %e, "cannot persist catalog item; not taken");
            return Ok(false);
        }
        if let Some(CatalogItem::Descriptor(previous)) = self.catalog.get(&product)
            && self.blobs.has(&previous.value.content.manifest_hash)
        {
            // Bytes held for a version this item supersedes or withdraws.
            self.gc.soon();
        }
        self.catalog.insert_shared(self.store.share(item))?;
        self.digest_cache = None;
        self.emit_update(item);
        Ok(true)
    }

    fn handle_kad(&mut self, event: kad::Event) {
        match event {
            kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::PutRecord {
                        record: Some(record),
                        ..
                    },
            } => {
                let valid = encoding::from_canonical_bytes::<CatalogItem>(
                    &record.value,
                    wire::MAX_GOSSIP_BYTES,
                )
                .ok()
                .filter(|item| item.verify().is_ok() && record.key == record_key(item.product()));
                if let Some(item) = valid {
                    let _ = self.merge_remote(&item);
                    // Only the current version is served from the DHT store:
                    // a replayed older record must not replace a newer one.
                    let current = self
                        .catalog
                        .get(item.product())
                        .is_some_and(|c| c.hash() == item.hash());
                    if current {
                        let _ = self.swarm.behaviour_mut().kad.store_mut().put(record);
                    }
                } else {
                    debug!("invalid kademlia record refused");
                }
            }
            kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::AddProvider {
                        record: Some(record),
                    },
            } => {
                // Provider records name who holds bytes; the bytes themselves
                // are verified when fetched, so any well-formed record is kept
                // (the store bounds how many).
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .store_mut()
                    .add_provider(record);
            }
            kad::Event::OutboundQueryProgressed {
                id,
                result: QueryResult::GetProviders(result),
                step,
                ..
            } => {
                if let Some(lookup) = self.provider_lookups.get_mut(&id) {
                    if let Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) = &result {
                        lookup.found.extend(providers.iter().take(64));
                    }
                    if step.last {
                        self.finish_provider_lookup(id);
                    }
                } else if let Some(&job) = self.provider_queries.get(&id) {
                    if let Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) = result {
                        let local = *self.swarm.local_peer_id();
                        let peers = providers.into_iter().filter(|p| *p != local).collect();
                        self.probe_peers(job, peers);
                    }
                    if step.last {
                        self.provider_queries.remove(&id);
                    }
                }
            }
            kad::Event::OutboundQueryProgressed {
                id,
                result: QueryResult::Bootstrap(_),
                step,
                ..
            } => self.on_bootstrap_step(id, &step),
            kad::Event::OutboundQueryProgressed {
                id,
                result: QueryResult::GetRecord(result),
                step,
                ..
            } => self.on_record_lookup(id, result, &step),
            _ => {}
        }
    }

    /// A step of a product record lookup ended: merges a valid record and
    /// answers the caller once one is found or the lookup ends.
    fn on_record_lookup(
        &mut self,
        id: kad::QueryId,
        result: kad::GetRecordResult,
        step: &kad::ProgressStep,
    ) {
        let wanted = self.lookups.get(&id).map(|(p, _)| p.clone());
        let found = match result {
            Ok(GetRecordOk::FoundRecord(peer_record)) => {
                encoding::from_canonical_bytes::<CatalogItem>(
                    &peer_record.record.value,
                    wire::MAX_GOSSIP_BYTES,
                )
                .ok()
                .filter(|item| item.verify().is_ok() && Some(item.product()) == wanted.as_ref())
            }
            _ => None,
        };
        if let Some(item) = found {
            let _ = self.merge_remote(&item);
            if let Some((_, reply)) = self.lookups.remove(&id) {
                let _ = reply.send(self.catalog.get(item.product()).cloned());
            }
        } else if step.last
            && let Some((_, reply)) = self.lookups.remove(&id)
        {
            let _ = reply.send(None);
        }
    }

    /// Products named `name` of domains named `domain_name`. A withdrawn
    /// product's domain name comes from the versions kept before it.
    fn resolve(&self, domain_name: &str, name: &str) -> Vec<ProductId> {
        let mut out: Vec<ProductId> = self
            .catalog
            .items()
            .filter(|item| item.product().name == name)
            .filter(|item| match item {
                CatalogItem::Descriptor(d) => d.value.domain_name == domain_name,
                CatalogItem::Withdrawal(_) => self
                    .store
                    .versions(item.product())
                    .ok()
                    .and_then(|v| v.iter().find_map(|i| i.descriptor().cloned()))
                    .is_some_and(|d| d.domain_name == domain_name),
            })
            .map(|item| item.product().clone())
            .collect();
        out.sort();
        out
    }

    /// Asks the DHT who holds the current version's bytes; answers when the
    /// query ends or after [`PROVIDER_LOOKUP_TIME`]. This node counts when it
    /// holds a copy itself.
    fn lookup_providers(&mut self, product: &ProductId, reply: oneshot::Sender<Vec<String>>) {
        let Some(CatalogItem::Descriptor(d)) = self.catalog.get(product) else {
            let _ = reply.send(Vec::new());
            return;
        };
        let hash = d.value.content.manifest_hash;
        let mut found = BTreeSet::new();
        if self.blobs.has(&hash) {
            found.insert(*self.swarm.local_peer_id());
        }
        let id = self
            .swarm
            .behaviour_mut()
            .kad
            .get_providers(fetching::provider_key(&hash));
        self.provider_lookups.insert(
            id,
            ProviderLookup {
                found,
                deadline: tokio::time::Instant::now() + PROVIDER_LOOKUP_TIME,
                reply,
            },
        );
    }

    fn finish_provider_lookup(&mut self, id: kad::QueryId) {
        if let Some(lookup) = self.provider_lookups.remove(&id) {
            if let Some(mut query) = self.swarm.behaviour_mut().kad.query_mut(&id) {
                query.finish();
            }
            let _ = lookup
                .reply
                .send(lookup.found.iter().map(ToString::to_string).collect());
        }
    }

    fn expire_provider_lookups(&mut self) {
        let now = tokio::time::Instant::now();
        let due: Vec<kad::QueryId> = self
            .provider_lookups
            .iter()
            .filter(|(_, l)| l.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.finish_provider_lookup(id);
        }
    }

    // ---- catalog sync and requests -------------------------------------

    fn frame(&self, request: Request) -> RequestFrame {
        RequestFrame {
            version: PROTOCOL_VERSION,
            requester: Some(self.binding.clone()),
            request,
        }
    }

    fn start_sync(&mut self, peer: PeerId) {
        if !self.config.network.catalog_sync {
            return;
        }
        let digest = self
            .digest_cache
            .get_or_insert_with(|| self.catalog.digest())
            .clone();
        let frame = self.frame(Request::CatalogDigest(digest));
        let id = self.swarm.behaviour_mut().rr.send_request(&peer, frame);
        self.pending.insert(id, (peer, Pending::SyncDigest));
        self.sync_received.insert(peer, 0);
    }

    fn handle_rr(&mut self, event: request_response::Event<RequestFrame, Response>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    self.peers.used(&peer);
                    let response = self.answer(peer, request);
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .rr
                        .send_response(channel, response);
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    self.peers.used(&peer);
                    if let Some((peer, kind)) = self.pending.remove(&request_id) {
                        self.handle_response(peer, kind, response);
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            } => match self.pending.remove(&request_id) {
                Some((_, Pending::Chunk(job, index))) => self.on_chunk(job, index, peer, None),
                Some((_, Pending::Probe(job))) => {
                    self.on_probe(
                        job,
                        peer,
                        Response::error(ErrorCode::NotHeld, error.to_string()),
                    );
                }
                // Catch-up is retried on the next anti-entropy round.
                Some((_, Pending::GovCatchUp | Pending::AccessCatchUp)) => {
                    debug!(%peer, %error, "catch-up failed");
                }
                Some(_) => {
                    debug!(%peer, %error, "request failed");
                    self.sync_received.remove(&peer);
                }
                None => {}
            },
            request_response::Event::InboundFailure { peer, error, .. } => {
                debug!(%peer, %error, "inbound request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn handle_response(&mut self, peer: PeerId, kind: Pending, response: Response) {
        match (kind, response) {
            (Pending::Probe(job), response) => self.on_probe(job, peer, response),
            (Pending::Chunk(job, index), response) => {
                self.on_chunk(job, index, peer, Some(response));
            }
            (Pending::SyncDigest, Response::CatalogSummary(entries)) => {
                let wanted = self.catalog.wanted(&entries);
                if wanted.is_empty() {
                    self.finish_sync(peer);
                    return;
                }
                for batch in wanted.chunks(MAX_FETCH_BATCH) {
                    let set: BTreeSet<ProductId> = batch.iter().cloned().collect();
                    let frame = self.frame(Request::CatalogFetch(set));
                    let id = self.swarm.behaviour_mut().rr.send_request(&peer, frame);
                    self.pending.insert(id, (peer, Pending::SyncFetch));
                }
            }
            (Pending::SyncFetch, Response::CatalogItems(items)) => {
                let mut taken = 0;
                for item in items.into_iter().take(MAX_ITEMS_PER_RESPONSE) {
                    match self.merge_remote(&item) {
                        Ok(true) => taken += 1,
                        Ok(false) | Err(MergeError::Stale { .. } | MergeError::Full(_)) => {}
                        Err(e) => {
                            self.metrics.sync_items("rejected", 1);
                            warn!(%peer, error = %e, "sync item rejected");
                        }
                    }
                }
                self.metrics.sync_items("accepted", taken as u64);
                *self.sync_received.entry(peer).or_default() += taken;
                let still_pending = self
                    .pending
                    .values()
                    .any(|(p, k)| *p == peer && matches!(k, Pending::SyncFetch));
                if !still_pending {
                    self.finish_sync(peer);
                }
            }
            (
                Pending::GovCatchUp,
                Response::Governance {
                    certificates,
                    proposals,
                    votes,
                    rounds,
                },
            ) => self.on_catch_up(peer, certificates, proposals, &votes, rounds),
            (
                Pending::AccessCatchUp,
                Response::Access {
                    requests,
                    decisions,
                },
            ) => self.on_access_catch_up(peer, requests, decisions),
            (Pending::GovCatchUp | Pending::AccessCatchUp, _) => {}
            (_, Response::Error { code, message }) => {
                debug!(%peer, ?code, %message, "peer refused request");
                self.sync_received.remove(&peer);
            }
            _ => {
                warn!(%peer, "unexpected response kind");
                self.sync_received.remove(&peer);
            }
        }
    }

    fn finish_sync(&mut self, peer: PeerId) {
        let received = self.sync_received.remove(&peer).unwrap_or(0);
        info!(%peer, received, "catalog sync done");
        self.emit(NodeEvent::SyncCompleted { peer, received });
        // Access records concern catalog products, so they follow the
        // catalog (records about products not yet known are not taken).
        self.start_access_catch_up(peer);
    }

    /// The manifest of a product's current version, if the requester may
    /// read it and this node holds the bytes.
    fn readable_manifest(
        &self,
        peer: PeerId,
        requester: Option<&Signed<NodeBinding>>,
        product: &ProductId,
        manifest: &mesh_protocol::Hash,
    ) -> Result<mesh_protocol::Manifest, Response> {
        let Some(CatalogItem::Descriptor(d)) = self.catalog.get(product) else {
            return Err(Response::error(
                ErrorCode::UnknownProduct,
                product.to_string(),
            ));
        };
        if d.value.content.manifest_hash != *manifest {
            return Err(Response::error(
                ErrorCode::UnknownVersion,
                "manifest is not the current version's",
            ));
        }
        let reader = requester.and_then(|b| b.authorises(&peer.to_bytes(), now()).ok());
        // The owner's grants open a product to domains beyond its list.
        let allowed = match &d.value.access.mode {
            AccessMode::Public => true,
            AccessMode::Domains(domains) => {
                reader.is_some_and(|r| r == product.domain || domains.contains(&r))
                    || self.granted(product, reader)
            }
            AccessMode::OwnerGranted => {
                reader == Some(product.domain) || self.granted(product, reader)
            }
        };
        if !allowed {
            return Err(Response::error(
                ErrorCode::Denied,
                format!("{product} is not readable by this domain"),
            ));
        }
        if product.domain != self.domain.domain_id() && !d.value.access.reshare {
            return Err(Response::error(
                ErrorCode::NotHeld,
                "the owner does not allow re-serving",
            ));
        }
        if !self.blobs.has(manifest) {
            return Err(Response::error(ErrorCode::NotHeld, "bytes not held here"));
        }
        match self.store.manifest(manifest) {
            Ok(Some(m)) => Ok(m),
            Ok(None) => Err(Response::error(
                ErrorCode::NotHeld,
                "manifest not held here",
            )),
            Err(e) => Err(Response::error(ErrorCode::Busy, e.to_string())),
        }
    }

    fn answer(&mut self, peer: PeerId, frame: RequestFrame) -> Response {
        let span = info_span!("request", %peer);
        let _guard = span.enter();
        // A digest costs the whole catalog to compare: charge more for it.
        let cost = match &frame.request {
            Request::CatalogDigest(_) | Request::GovernanceCatchUp { .. } => DIGEST_COST,
            // An up-to-date asker costs one comparison of digests.
            Request::AccessCatchUp { digest } if *digest != self.access.book().digest() => {
                DIGEST_COST
            }
            _ => 1,
        };
        if !self.limiter.admit_cost(peer, cost) {
            self.metrics.busy();
            return Response::error(
                ErrorCode::Busy,
                "request rate over this node's per-peer limit; retry later",
            );
        }
        self.metrics.request(request_label(&frame.request));
        match frame.request {
            Request::CatalogDigest(digest) => {
                if digest.buckets.len() != mesh_protocol::catalog::SYNC_BUCKETS {
                    return Response::error(ErrorCode::BadRequest, "digest must have 256 buckets");
                }
                let mine = self
                    .digest_cache
                    .get_or_insert_with(|| self.catalog.digest())
                    .clone();
                let buckets: std::collections::BTreeSet<usize> = (0..mine.buckets.len())
                    .filter(|&i| mine.buckets[i] != digest.buckets[i])
                    .collect();
                let mut entries = self.catalog.summaries_in(&buckets);
                entries.truncate(MAX_SUMMARY_ENTRIES);
                Response::CatalogSummary(entries)
            }
            Request::CatalogFetch(products) => {
                if products.len() > MAX_FETCH_BATCH {
                    return Response::error(
                        ErrorCode::BadRequest,
                        "too many products in one fetch",
                    );
                }
                let items = products
                    .iter()
                    .filter_map(|p| self.catalog.get(p).cloned())
                    .take(MAX_ITEMS_PER_RESPONSE)
                    .collect();
                Response::CatalogItems(items)
            }
            Request::GetDescriptor { product, version } => match self.catalog.get(&product) {
                None => Response::error(ErrorCode::UnknownProduct, product.to_string()),
                Some(item) if version.is_some_and(|v| v != item.version()) => Response::error(
                    ErrorCode::UnknownVersion,
                    format!("{product} is at version {}", item.version()),
                ),
                Some(item) => Response::Item(Box::new(item.clone())),
            },
            Request::GetManifest { product, manifest } => {
                match self.readable_manifest(peer, frame.requester.as_ref(), &product, &manifest) {
                    Ok(m) => Response::Manifest(m),
                    Err(refusal) => refusal,
                }
            }
            Request::GetChunk {
                product,
                manifest,
                index,
            } => {
                let m = match self.readable_manifest(
                    peer,
                    frame.requester.as_ref(),
                    &product,
                    &manifest,
                ) {
                    Ok(m) => m,
                    Err(refusal) => return refusal,
                };
                match self.blobs.read_chunk(&m, index) {
                    // Verified again before it leaves: the local copy may be
                    // damaged (bit rot; outputs are copies, never links).
                    Ok(bytes) if m.verify_chunk(index, &bytes).is_ok() => {
                        self.metrics.served(bytes.len());
                        Response::Chunk(mesh_protocol::bytes::ByteBuf(bytes))
                    }
                    Ok(_) => {
                        warn!(%product, index, "local copy is damaged; no longer serving it");
                        let key = fetching::provider_key(&manifest);
                        self.swarm.behaviour_mut().kad.stop_providing(&key);
                        Response::error(ErrorCode::NotHeld, "local copy damaged")
                    }
                    Err(e) => Response::error(ErrorCode::NotHeld, e.to_string()),
                }
            }
            Request::GovernanceCatchUp {
                federation,
                from_version,
            } => self.answer_catch_up(federation, from_version),
            Request::AccessCatchUp { digest } => self.answer_access_catch_up(digest),
        }
    }
}

/// The metrics label of a request kind.
fn request_label(request: &Request) -> &'static str {
    match request {
        Request::CatalogDigest(_) => "catalog_digest",
        Request::CatalogFetch(_) => "catalog_fetch",
        Request::GetDescriptor { .. } => "descriptor",
        Request::GetManifest { .. } => "manifest",
        Request::GetChunk { .. } => "chunk",
        Request::GovernanceCatchUp { .. } => "governance",
        Request::AccessCatchUp { .. } => "access",
    }
}

/// The swarm over the daemon's TCP + QUIC, or over `transport` when given
/// (the simulator's links).
fn build_swarm(
    key: &libp2p::identity::Keypair,
    behaviour: MeshBehaviour,
    transport: Option<crate::node::TransportFactory>,
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
