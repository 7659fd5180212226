//! The node's public face: [`start`] a node, then drive it through the
//! cloneable [`NodeHandle`].
//!
//! The swarm and all node state live in one task (see [`crate::event_loop`]);
//! the handle reaches it through a bounded command channel, each command
//! carrying a `oneshot` for its reply, and observes it through a broadcast
//! stream of [`NodeEvent`]s. Heavy work that needs no node state (reading
//! and hashing a file to publish) runs on blocking threads in the handle,
//! before the command is sent.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use libp2p::{Multiaddr, PeerId};
use mesh_protocol::catalog::Query;
use mesh_protocol::descriptor::{Content, DescriptorError, Format};
use mesh_protocol::manifest::DEFAULT_CHUNK_SIZE;
use mesh_protocol::{CatalogItem, DomainId, ProductId, SignedDescriptor};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::blobs::Blobs;
use crate::config::Config;
use crate::draft::ProductDraft;
use crate::event_loop::EventLoop;
use crate::fetch::{FetchError, FetchId, FetchProgress};
use crate::identity::{self, Identity};
use crate::metrics::MetricsRegistry;
use crate::peers::PeerInfo;
use crate::store::{RocksStore, Store};

pub use crate::command::PublishReceipt;
use crate::command::{Command, Publication};
pub use crate::error::NodeError;
pub use crate::events::NodeEvent;
pub use crate::network::{BoxedTransport, TransportFactory};
pub use crate::status::{Counters, Status};

/// Capacity of the command channel.
const COMMAND_QUEUE: usize = 256;
/// Capacity of the event stream (slow subscribers lag, never block the node).
const EVENT_QUEUE: usize = 4096;

/// A cloneable handle to a running node.
#[derive(Clone)]
pub struct NodeHandle {
    pub(crate) commands: mpsc::Sender<Command>,
    events: broadcast::Sender<NodeEvent>,
    pub(crate) blobs: Blobs,
    domain: DomainId,
    peer_id: PeerId,
    metrics: MetricsRegistry,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) sql_engine: Arc<crate::querying::SqlEngine>,
}

/// Options for starting a node in-process.
pub struct NodeOptions {
    /// The data directory (identity, config, database, blobs).
    pub data_dir: PathBuf,
    /// The configuration (usually [`Config::load`] plus overrides).
    pub config: Config,
    /// The store; `None` opens RocksDB under the data directory.
    pub store: Option<Arc<dyn Store>>,
    /// The transport; `None` is the daemon's TCP + QUIC. The simulator
    /// passes its in-memory links here; nothing else should.
    pub transport: Option<TransportFactory>,
}

/// A running fetch: watch its progress, await its result, or cancel it.
pub struct FetchHandle {
    /// The job id.
    pub id: FetchId,
    /// Progress, updated as chunks arrive.
    pub progress: watch::Receiver<FetchProgress>,
    pub(crate) result: oneshot::Receiver<Result<PathBuf, FetchError>>,
    pub(crate) commands: mpsc::Sender<Command>,
}

impl FetchHandle {
    /// Waits for the fetch to end; `Ok` only when the output file is
    /// complete, verified and in place.
    pub async fn finish(self) -> Result<PathBuf, FetchError> {
        self.result.await.unwrap_or(Err(FetchError::Stopped))
    }

    /// Cancels the fetch. Verified chunks are kept for a later fetch.
    pub async fn cancel(&self) {
        self.canceller().await;
    }

    /// A future that cancels the fetch, independent of this handle's lifetime.
    pub fn canceller(&self) -> impl Future<Output = ()> + Send + 'static {
        let commands = self.commands.clone();
        let id = self.id;
        async move {
            let _ = commands.send(Command::CancelFetch { id }).await;
        }
    }
}

/// A started node: its handle and the task running it.
pub struct RunningNode {
    /// The handle.
    pub handle: NodeHandle,
    /// The event loop task; resolves when the node stopped.
    pub task: JoinHandle<Result<(), NodeError>>,
    /// Events from the very start (subscribed before the task was spawned,
    /// so the first `Listening` events are not missed).
    pub events: broadcast::Receiver<NodeEvent>,
}

/// The federation's genesis, if the data directory has one.
fn read_genesis(data_dir: &Path) -> Result<Option<mesh_protocol::governance::Genesis>, NodeError> {
    let path = data_dir.join(crate::governance::GENESIS_FILE);
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(crate::governance::read_genesis(&path)?))
}

/// Starts a node from an initialised data directory.
pub async fn start(options: NodeOptions) -> Result<RunningNode, NodeError> {
    options.config.validate()?;
    let data_dir = options.data_dir;
    let store: Arc<dyn Store> = match options.store {
        Some(store) => store,
        None => Arc::new(RocksStore::open(&data_dir.join("db"))?),
    };
    let identity: Identity = identity::load(&data_dir)?;
    // After the store took the data directory's lock: nothing else runs here.
    crate::perms::secure_data_dir(&data_dir).map_err(|source| NodeError::File {
        path: data_dir.clone(),
        source,
    })?;
    let blobs = Blobs::open(&data_dir).map_err(|source| NodeError::File {
        path: data_dir.join("blobs"),
        source,
    })?;
    let (commands_tx, commands_rx) = mpsc::channel(COMMAND_QUEUE);
    let (events_tx, _) = broadcast::channel(EVENT_QUEUE);
    let domain = identity.domain.domain_id();
    let peer_id = identity.node.public().to_peer_id();
    let genesis = read_genesis(&data_dir)?;
    let mut registry = prometheus_client::registry::Registry::default();
    crate::metrics::register_store(&mut registry, store.clone());
    let handle_store = store.clone();
    let sql_engine = Arc::new(crate::querying::SqlEngine::new(
        &options.config.query,
        &data_dir.join("query-spill"),
    )?);
    let event_loop = EventLoop::new(
        crate::event_loop::Parts {
            identity,
            config: options.config,
            store,
            blobs: blobs.clone(),
            data_dir,
            commands: commands_rx,
            events: events_tx.clone(),
            genesis,
            transport: options.transport,
        },
        &mut registry,
    )?;
    let events = events_tx.subscribe();
    let task = tokio::spawn(event_loop.run());
    Ok(RunningNode {
        events,
        handle: NodeHandle {
            commands: commands_tx,
            events: events_tx,
            blobs,
            domain,
            peer_id,
            metrics: MetricsRegistry(Arc::new(registry)),
            store: handle_store,
            sql_engine,
        },
        task,
    })
}

impl NodeHandle {
    pub(crate) async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)
    }

    /// The node's PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The node's domain.
    pub fn domain(&self) -> DomainId {
        self.domain
    }

    /// Subscribes to node events.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// Publishes the file at `path` as a new version of the draft's product.
    /// Returns once the descriptor is durable in the store and announced.
    pub async fn publish(
        &self,
        path: &Path,
        draft: ProductDraft,
    ) -> Result<PublishReceipt, NodeError> {
        self.publish_with(path, draft, None).await
    }

    /// [`Self::publish`], with the derivation of a product computed by a
    /// query (see [`crate::querying`]).
    pub(crate) async fn publish_with(
        &self,
        path: &Path,
        draft: ProductDraft,
        derivation: Option<mesh_protocol::derivation::Derivation>,
    ) -> Result<PublishReceipt, NodeError> {
        let chunk_size = draft.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE);
        if !chunk_size.is_power_of_two()
            || !(mesh_protocol::manifest::MIN_CHUNK_SIZE..=mesh_protocol::manifest::MAX_CHUNK_SIZE)
                .contains(&chunk_size)
        {
            return Err(DescriptorError::ChunkSize(chunk_size).into());
        }
        mesh_protocol::descriptor::check_name(&draft.name).map_err(DescriptorError::Name)?;
        let blobs = self.blobs.clone();
        let source = path.to_owned();
        // The version's creation time is fixed before the data is read:
        // freshness is measured against it, by this node and by every
        // consumer that recomputes the profile.
        let created_at = crate::clock::now();
        let contract = mesh_data::contract::Contract {
            fields: draft.schema.fields.clone(),
            quality: draft.quality.clone(),
            csv: draft.csv.clone().unwrap_or_default(),
            created_at,
            scratch: Some(self.blobs.scratch_dir()),
        };
        let format = draft.format.clone();
        // The blob comes back pinned: no collection round removes it
        // before the publish is committed or refused.
        let (manifest, pin, profile) = tokio::task::spawn_blocking(move || {
            crate::profiling::ingest_and_profile(&blobs, &source, chunk_size, &format, &contract)
        })
        .await
        .map_err(|_| NodeError::Stopped)?
        .map_err(|source| NodeError::File {
            path: path.to_owned(),
            source,
        })?;
        let content = Content {
            size: manifest.size,
            chunk_size,
            manifest_hash: manifest.hash(),
        };
        let result = self
            .ask(|reply| Command::Publish {
                publication: Box::new(Publication {
                    draft,
                    content,
                    manifest,
                    profile,
                    created_at,
                    derivation,
                }),
                reply,
            })
            .await?;
        drop(pin);
        if result.is_err() {
            // A refused publish leaves nothing behind: its blob goes unless
            // something else refers to the same bytes.
            if let Err(e) = self.collect_garbage().await {
                tracing::warn!(error = %e, "cannot remove the blob of a refused publish");
            }
        }
        result
    }

    /// Runs a blob collection round now (see [`crate::gc`]) and returns
    /// what it removed.
    pub async fn collect_garbage(&self) -> Result<crate::gc::CollectReport, NodeError> {
        self.ask(|reply| Command::CollectGarbage { reply })
            .await?
            .map_err(|e| NodeError::File {
                path: self.blobs.dir().to_owned(),
                source: std::io::Error::other(e),
            })
    }

    /// Follows every fetch running now (those resumed at start included).
    pub async fn running_fetches(&self) -> Result<Vec<FetchHandle>, NodeError> {
        let started = self.ask(|reply| Command::RunningFetches { reply }).await?;
        Ok(started
            .into_iter()
            .map(|(id, progress, result)| FetchHandle {
                id,
                progress,
                result,
                commands: self.commands.clone(),
            })
            .collect())
    }

    /// Withdraws one of this domain's products; returns the withdrawal's version.
    pub async fn withdraw(&self, name: &str, reason: &str) -> Result<u64, NodeError> {
        self.ask(|reply| Command::Withdraw {
            name: name.to_owned(),
            reason: reason.to_owned(),
            reply,
        })
        .await?
    }

    /// Publishes a deprecated version of one of this domain's products.
    pub async fn deprecate(
        &self,
        name: &str,
        reason: &str,
        successor: Option<ProductId>,
    ) -> Result<u64, NodeError> {
        self.ask(|reply| Command::Deprecate {
            name: name.to_owned(),
            reason: reason.to_owned(),
            successor,
            reply,
        })
        .await?
    }

    /// Searches the local catalog.
    pub async fn query(&self, query: Query) -> Result<Vec<SignedDescriptor>, NodeError> {
        self.ask(|reply| Command::Query {
            query: Box::new(query),
            reply,
        })
        .await
    }

    /// The current catalog item of a product.
    pub async fn get(&self, product: ProductId) -> Result<Option<CatalogItem>, NodeError> {
        self.ask(|reply| Command::Get { product, reply }).await
    }

    /// Looks a product up in the DHT (for a node that knows nothing else).
    pub async fn lookup(&self, product: ProductId) -> Result<Option<CatalogItem>, NodeError> {
        self.ask(|reply| Command::Lookup { product, reply }).await
    }

    /// Dials a peer address.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NodeError> {
        self.ask(|reply| Command::Dial { addr, reply }).await?
    }

    /// Starts fetching a product's bytes into `output`. The handle reports
    /// progress and resolves when the file is complete and verified. A
    /// fetch of bytes already held completes at once.
    pub async fn fetch(
        &self,
        product: ProductId,
        version: Option<u64>,
        output: &Path,
    ) -> Result<FetchHandle, FetchError> {
        let output = if output.is_absolute() || output.as_os_str().is_empty() {
            output.to_owned()
        } else {
            std::env::current_dir()
                .map_err(|e| FetchError::Local(e.to_string()))?
                .join(output)
        };
        let (id, progress, result) = self
            .ask(|reply| Command::Fetch {
                product,
                version,
                output,
                reply,
            })
            .await
            .map_err(|_| FetchError::Stopped)??;
        Ok(FetchHandle {
            id,
            progress,
            result,
            commands: self.commands.clone(),
        })
    }

    /// Connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NodeError> {
        self.ask(|reply| Command::Peers { reply }).await
    }

    /// The versions of a product this node took in, newest first.
    pub async fn versions(&self, product: ProductId) -> Result<Vec<CatalogItem>, NodeError> {
        self.ask(|reply| Command::Versions { product, reply })
            .await?
    }

    /// Peers that announce a copy of the product's current bytes (this
    /// node included when it holds one), from the DHT.
    pub async fn providers(&self, product: ProductId) -> Result<Vec<String>, NodeError> {
        self.ask(|reply| Command::Providers { product, reply })
            .await
    }

    /// The products written `DOMAINNAME/name`: every catalog entry (live
    /// or withdrawn) with that name whose domain's descriptors bear that
    /// domain name.
    pub async fn resolve(
        &self,
        domain_name: String,
        name: String,
    ) -> Result<Vec<ProductId>, NodeError> {
        self.ask(|reply| Command::Resolve {
            domain_name,
            name,
            reply,
        })
        .await
    }

    /// The federation's state.
    pub async fn federation(&self) -> Result<crate::governance::FederationView, NodeError> {
        self.ask(|reply| Command::Federation { reply }).await?
    }

    /// Open proposals with tallies.
    pub async fn proposals(&self) -> Result<Vec<crate::governance::ProposalView>, NodeError> {
        self.ask(|reply| Command::Proposals { reply }).await?
    }

    /// Proposes a change, open for `ttl_ms`.
    pub async fn propose(
        &self,
        change: mesh_protocol::governance::Change,
        reason: String,
        ttl_ms: u64,
    ) -> Result<crate::governance::ProposalView, NodeError> {
        self.ask(|reply| Command::Propose {
            change,
            reason,
            ttl_ms,
            reply,
        })
        .await?
    }

    /// Approves or rejects a proposal as this node's domain, with a reason.
    pub async fn vote(
        &self,
        proposal: mesh_protocol::governance::ProposalId,
        approve: bool,
        reason: String,
    ) -> Result<crate::governance::VoteReceipt, NodeError> {
        self.ask(|reply| Command::Vote {
            proposal,
            approve,
            reason,
            reply,
        })
        .await?
    }

    /// Compliance of products with the federation's rules (all when `None`).
    pub async fn compliance(
        &self,
        products: Option<Vec<ProductId>>,
    ) -> Result<Vec<crate::governance::Compliance>, NodeError> {
        self.ask(|reply| Command::Compliance { products, reply })
            .await?
    }

    /// Every access request and decision this node knows, from its
    /// domain's side.
    pub async fn access(&self) -> Result<Vec<crate::access::AccessView>, NodeError> {
        self.ask(|reply| Command::AccessList { reply }).await
    }

    /// Asks the owner of `product` for read access, with a reason.
    pub async fn request_access(
        &self,
        product: ProductId,
        reason: String,
    ) -> Result<crate::access::AccessView, NodeError> {
        self.ask(|reply| Command::RequestAccess {
            product,
            reason,
            reply,
        })
        .await?
    }

    /// Grants, denies or revokes `domain`'s access to this domain's product
    /// `name`; `domain` is a domain id or a name the node can resolve.
    pub async fn decide_access(
        &self,
        name: String,
        domain: String,
        verdict: mesh_protocol::access::Verdict,
    ) -> Result<crate::access::AccessView, NodeError> {
        self.ask(|reply| Command::DecideAccess {
            name,
            domain,
            verdict,
            reply,
        })
        .await?
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &MetricsRegistry {
        &self.metrics
    }

    /// Why the store cannot write right now (a full disk...), or `None`
    /// when it is healthy; a degraded store tries to recover first. Blocks
    /// while it does (call from a blocking thread).
    pub fn store_degraded(&self) -> Option<String> {
        self.store.degraded()
    }

    /// The node's status.
    pub async fn status(&self) -> Result<Status, NodeError> {
        let mut status = self.ask(|reply| Command::Status { reply }).await?;
        let blobs = self.blobs.clone();
        // A directory walk: on a blocking thread, not the loop.
        status.blob_bytes = tokio::task::spawn_blocking(move || blobs.bytes_used())
            .await
            .map_err(|_| NodeError::Stopped)?
            .unwrap_or(0);
        Ok(status)
    }

    /// Asks the node to stop; await [`RunningNode::task`] to know it did.
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown).await;
    }
}

/// The default format name for files without one.
pub fn guess_format(path: &Path) -> Format {
    path.extension()
        .and_then(|e| e.to_str())
        .and_then(|e| e.parse().ok())
        .unwrap_or(Format::Other("bin".into()))
}
