//! The simulated nodes: real `mesh-node` nodes, each with its own data
//! directory (identity and blobs), an in-memory store that outlives its
//! crashes (all of them on one item pool, so a product every node holds is
//! in memory once), and a [`SimTransport`](crate::transport::SimTransport) instead
//! of TCP. Starting, crashing (the task is aborted, as `kill -9` would),
//! leaving (a clean shutdown) and restarting happen here.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use libp2p::Multiaddr;
use mesh_node::node::NodeEvent;
use mesh_node::store::{ItemPool, MemoryStore};
use mesh_node::{Config, NodeHandle, NodeOptions};
use mesh_protocol::ProductId;
use mesh_protocol::catalog::Query;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::scenario::NodeIndex;
use crate::transport::Net;

/// What the run observed, shared by the node watchers and the engine.
#[derive(Default)]
pub(crate) struct Observed {
    /// When each node first held each product (since the run started).
    pub(crate) reached:
        std::collections::HashMap<ProductId, std::collections::HashMap<NodeIndex, Duration>>,
    /// When each node's federation reached each version it announced.
    pub(crate) advanced: std::collections::HashMap<NodeIndex, Vec<(u64, Duration)>>,
    /// Times a node's event stream lagged and its catalog was read instead.
    pub(crate) lagged: u64,
    /// Approvals adversary members signed: proposal id and when.
    pub(crate) adversary_approvals: Vec<(String, Duration)>,
}

/// Shared observations.
pub(crate) type Shared = Arc<Mutex<Observed>>;

/// Locks shared run state. A poisoned lock only means a panic elsewhere in
/// the simulator; what it guards is still worth reporting.
pub(crate) fn lock<T>(shared: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A node while it runs.
struct Running {
    handle: NodeHandle,
    task: JoinHandle<Result<(), mesh_node::NodeError>>,
    watcher: JoinHandle<()>,
}

/// What makes an adversary node: its keys (from the run's seed) and its
/// misbehaviours.
pub(crate) struct AdversarySpec {
    pub(crate) domain_secret: [u8; 32],
    pub(crate) node_key: libp2p::identity::Keypair,
    pub(crate) active: Vec<super::adversary::Active>,
    pub(crate) network_id: String,
    pub(crate) federation: Option<mesh_protocol::governance::FederationId>,
    pub(crate) registry: super::adversary::Registry,
}

/// One simulated node.
pub(crate) struct SimNode {
    pub(crate) index: NodeIndex,
    pub(crate) dir: PathBuf,
    pub(crate) addr: Multiaddr,
    pub(crate) name: String,
    pub(crate) domain_key: mesh_protocol::DomainPublicKey,
    pub(crate) bootstrap: Vec<Multiaddr>,
    pub(crate) settings: crate::scenario::NodeSettings,
    store: Arc<MemoryStore>,
    running: Option<Running>,
    pub(crate) adversary: Option<AdversarySpec>,
    attack: Option<JoinHandle<()>>,
}

/// Why a node could not be set up or started.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// Identity files.
    #[error("node {0}: {1}")]
    Identity(NodeIndex, String),
    /// Start-up.
    #[error("node {0} did not start: {1}")]
    Start(NodeIndex, String),
}

impl SimNode {
    /// Creates the node's data directory and identity.
    pub(crate) fn create(
        index: NodeIndex,
        name: &str,
        root: &std::path::Path,
        addr: Multiaddr,
        secrets: ([u8; 32], [u8; 32]),
        pool: &Arc<ItemPool>,
    ) -> Result<Self, FleetError> {
        let dir = root.join(format!("node-{index}"));
        std::fs::create_dir_all(&dir).map_err(|e| FleetError::Identity(index, e.to_string()))?;
        let identity = mesh_node::identity::init_with_secrets(&dir, name, secrets.0, secrets.1)
            .map_err(|e| FleetError::Identity(index, e.to_string()))?;
        Ok(Self {
            index,
            dir,
            addr,
            name: name.to_owned(),
            domain_key: identity.domain.public(),
            bootstrap: Vec::new(),
            settings: crate::scenario::NodeSettings::default(),
            store: Arc::new(MemoryStore::with_pool(pool.clone())),
            running: None,
            adversary: None,
            attack: None,
        })
    }

    /// An adversary node: no `mesh-node`, keys from `secret`.
    pub(crate) fn adversary(
        index: NodeIndex,
        name: &str,
        addr: Multiaddr,
        secret: [u8; 32],
        spec: AdversarySpec,
    ) -> Self {
        let domain = mesh_protocol::DomainKeypair::from_secret(secret);
        Self {
            index,
            dir: PathBuf::new(),
            addr,
            name: name.to_owned(),
            domain_key: domain.public(),
            bootstrap: Vec::new(),
            settings: crate::scenario::NodeSettings::default(),
            store: Arc::new(MemoryStore::default()),
            running: None,
            adversary: Some(spec),
            attack: None,
        }
    }

    /// Makes the node a participant of `genesis`'s federation.
    pub(crate) fn install_genesis(
        &self,
        genesis: &mesh_protocol::governance::Genesis,
    ) -> Result<(), FleetError> {
        let text = serde_json::to_string(genesis)
            .map_err(|e| FleetError::Identity(self.index, e.to_string()))?;
        std::fs::write(self.dir.join(mesh_node::governance::GENESIS_FILE), text)
            .map_err(|e| FleetError::Identity(self.index, e.to_string()))
    }

    pub(crate) fn is_up(&self) -> bool {
        self.running.is_some() || self.attack.is_some()
    }

    pub(crate) fn handle(&self) -> Option<&NodeHandle> {
        self.running.as_ref().map(|r| &r.handle)
    }

    fn config(&self) -> Config {
        let mut config = Config::default();
        config.network.listen = vec![self.addr.clone()];
        config.network.bootstrap.clone_from(&self.bootstrap);
        config.network.mdns = false;
        // Serving limits are token buckets in wall-clock time; the
        // simulation runs faster than that, so they would refuse what a
        // real node at real speed would serve.
        config.serve.requests_per_sec = 1_000_000;
        config.serve.burst = 1_000_000;
        self.settings.apply(&mut config);
        config
    }

    /// Starts (or restarts) the node on `net`, its tasks on `runtime`; its
    /// catalog events feed `observed`, timed from `epoch`.
    pub(crate) fn start(
        &mut self,
        net: &Net,
        observed: &Shared,
        epoch: Instant,
        runtime: &tokio::runtime::Handle,
    ) -> Result<(), FleetError> {
        if self.is_up() {
            return Ok(());
        }
        if let Some(spec) = &self.adversary {
            let plan = super::adversary::Plan {
                index: self.index,
                domain: mesh_protocol::DomainKeypair::from_secret(spec.domain_secret),
                node_key: spec.node_key.clone(),
                listen: self.addr.clone(),
                bootstrap: self.bootstrap.clone(),
                active: spec.active.clone(),
                network_id: spec.network_id.clone(),
                federation: spec.federation,
                seed: u64::from_le_bytes(spec.domain_secret[..8].try_into().unwrap_or_default()),
            };
            self.attack = Some(runtime.spawn(super::adversary::run(
                plan,
                net.clone(),
                spec.registry.clone(),
                observed.clone(),
                epoch,
            )));
            return Ok(());
        }
        let transport = net.transport(self.index);
        let factory: mesh_node::node::TransportFactory =
            Box::new(move |key| crate::transport::authenticated(transport, key));
        let options = NodeOptions {
            data_dir: self.dir.clone(),
            config: self.config(),
            store: Some(self.store.clone()),
            transport: Some(factory),
        };
        // `mesh_node::start` only builds the node and spawns its task; in
        // the context of the node's runtime, that task and every timer the
        // node makes belong to that runtime, whichever thread starts it.
        let started = {
            let _context = runtime.enter();
            mesh_node::start(options).now_or_never()
        }
        .ok_or_else(|| FleetError::Start(self.index, "start did not complete at once".into()))?
        .map_err(|e| FleetError::Start(self.index, e.to_string()))?;
        let watcher = runtime.spawn(watch(
            self.index,
            started.handle.clone(),
            started.events,
            observed.clone(),
            epoch,
        ));
        self.running = Some(Running {
            handle: started.handle,
            task: started.task,
            watcher,
        });
        Ok(())
    }

    /// Stops the node at once, as `kill -9` would: nothing is flushed; the
    /// store keeps what was written.
    pub(crate) fn crash(&mut self) {
        if let Some(attack) = self.attack.take() {
            attack.abort();
        }
        if let Some(running) = self.running.take() {
            running.watcher.abort();
            running.task.abort();
        }
    }

    /// Stops the node cleanly.
    pub(crate) async fn leave(&mut self) {
        if let Some(attack) = self.attack.take() {
            attack.abort();
        }
        if let Some(running) = self.running.take() {
            running.handle.shutdown().await;
            let _ = tokio::time::timeout(Duration::from_secs(10), running.task).await;
            running.watcher.abort();
        }
    }
}

/// Records when the node first holds each product.
async fn watch(
    index: NodeIndex,
    handle: NodeHandle,
    mut events: tokio::sync::broadcast::Receiver<NodeEvent>,
    observed: Shared,
    epoch: Instant,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match events.recv().await {
            Ok(NodeEvent::CatalogUpdated { product, .. }) => {
                let at = epoch.elapsed();
                lock(&observed)
                    .reached
                    .entry(product)
                    .or_default()
                    .entry(index)
                    .or_insert(at);
            }
            Ok(NodeEvent::FederationAdvanced { version }) => {
                let at = epoch.elapsed();
                lock(&observed)
                    .advanced
                    .entry(index)
                    .or_default()
                    .push((version, at));
            }
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => {
                // Events were missed: read the catalog; whatever is in it
                // arrived by now at the latest.
                let at = epoch.elapsed();
                let held = handle
                    .query(Query {
                        include_deprecated: true,
                        ..Query::default()
                    })
                    .await
                    .unwrap_or_default();
                let mut seen = lock(&observed);
                seen.lagged += 1;
                for d in held {
                    seen.reached
                        .entry(d.value.id.clone())
                        .or_default()
                        .entry(index)
                        .or_insert(at);
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}
