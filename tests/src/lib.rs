//! Harness for meshd's integration tests: start real nodes in-process on
//! loopback (each with its own temp dir and OS-chosen ports), wait for their
//! events with timeouts, and find the built `meshd` binary.
#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test harness: a failed expectation is a failed test"
)]

use std::path::PathBuf;
use std::time::Duration;

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use mesh_node::node::NodeEvent;
use mesh_node::{Config, NodeHandle, NodeOptions, RunningNode};
use mesh_protocol::ProductId;
use tokio::sync::broadcast;

pub mod browser;
pub mod cli;
pub mod daemon;
pub mod data_client;
pub mod federation;
pub mod gossip_peer;
pub mod query;

/// A plain rust-libp2p swarm over loopback-ready TCP (noise, yamux) with
/// `key` and the behaviour `make` builds: the stand-in for another libp2p
/// implementation or a hostile peer in the tests.
pub fn tcp_swarm<B: libp2p::swarm::NetworkBehaviour>(
    key: libp2p::identity::Keypair,
    make: impl FnOnce(&libp2p::identity::Keypair) -> B,
) -> libp2p::Swarm<B> {
    libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .expect("tcp transport")
        .with_behaviour(make)
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// How long any wait in a test may take before it fails.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Which transport a test node listens on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// TCP + noise + yamux.
    Tcp,
    /// QUIC.
    Quic,
}

/// A node running in this process.
pub struct TestNode {
    /// Its data directory (deleted on drop).
    pub dir: tempfile::TempDir,
    /// The handle.
    pub handle: NodeHandle,
    /// Its events, subscribed before start-up finished.
    pub events: broadcast::Receiver<NodeEvent>,
    /// Its dialable address, with `/p2p/PEERID`.
    pub addr: Multiaddr,
    /// The event loop task.
    pub task: tokio::task::JoinHandle<Result<(), mesh_node::NodeError>>,
}

/// A config for a loopback test node.
pub fn loopback_config(transport: Transport, bootstrap: Vec<Multiaddr>) -> Config {
    let mut config = Config::default();
    config.network.listen = vec![
        match transport {
            Transport::Tcp => "/ip4/127.0.0.1/tcp/0",
            Transport::Quic => "/ip4/127.0.0.1/udp/0/quic-v1",
        }
        .parse()
        .expect("valid multiaddr"),
    ];
    config.network.bootstrap = bootstrap;
    config.network.mdns = false;
    config.network.sync_interval_ms = 1_000;
    config
}

impl TestNode {
    /// Initialises a fresh data dir for `domain` and starts a node.
    pub async fn start(domain: &str, transport: Transport, bootstrap: Vec<Multiaddr>) -> TestNode {
        let dir = tempfile::tempdir().expect("temp dir");
        mesh_node::identity::init(dir.path(), domain).expect("init identity");
        Self::start_in(dir, loopback_config(transport, bootstrap)).await
    }

    /// Initialises a fresh data dir for `domain` and starts a node with `config`.
    pub async fn start_with(domain: &str, config: Config) -> TestNode {
        let dir = tempfile::tempdir().expect("temp dir");
        mesh_node::identity::init(dir.path(), domain).expect("init identity");
        Self::start_in(dir, config).await
    }

    /// Starts a node on an existing data dir.
    pub async fn start_in(dir: tempfile::TempDir, config: Config) -> TestNode {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_test_writer()
            .try_init();
        let RunningNode {
            handle,
            task,
            mut events,
        } = mesh_node::start(NodeOptions {
            data_dir: dir.path().to_owned(),
            config,
            store: None,
            transport: None,
        })
        .await
        .expect("node starts");
        let listen = wait_for(&mut events, |e| match e {
            NodeEvent::Listening(a) => Some(a.clone()),
            _ => None,
        })
        .await;
        let addr = listen.with(Protocol::P2p(handle.peer_id()));
        TestNode {
            dir,
            handle,
            events,
            addr,
            task,
        }
    }

    /// Stops the node and waits for it, returning its data dir.
    pub async fn stop(self) -> tempfile::TempDir {
        self.handle.shutdown().await;
        tokio::time::timeout(TIMEOUT, self.task)
            .await
            .expect("node stops in time")
            .expect("task joins")
            .expect("clean shutdown");
        self.dir
    }

    /// Waits until this node's catalog holds `product` at `version` or above.
    pub async fn wait_for_version(&mut self, product: &ProductId, version: u64) {
        if self.current_version(product).await >= version {
            return;
        }
        let wanted = product.clone();
        wait_for(&mut self.events, |e| match e {
            NodeEvent::CatalogUpdated {
                product,
                version: v,
                ..
            } if *product == wanted && *v >= version => Some(()),
            _ => None,
        })
        .await;
    }

    /// Waits until this node is connected to at least `n` peers. (Start-up
    /// consumed the events before `Listening`, and a bootstrap connection
    /// can come first, so this checks the status as well as the events.)
    pub async fn wait_peers(&self, n: usize) {
        let mut events = self.handle.subscribe();
        let wait = async {
            loop {
                if self.handle.status().await.expect("node answers").peers >= n {
                    return;
                }
                let _ = events.recv().await;
            }
        };
        tokio::time::timeout(TIMEOUT, wait)
            .await
            .expect("peers did not connect in time");
    }

    /// Waits until this node's catalog holds `product` at any version.
    pub async fn wait_known(&self, product: &ProductId) {
        let mut events = self.handle.subscribe();
        if self.current_version(product).await > 0 {
            return;
        }
        let wanted = product.clone();
        wait_for(&mut events, |e| match e {
            NodeEvent::CatalogUpdated { product, .. } if *product == wanted => Some(()),
            _ => None,
        })
        .await;
    }

    /// The version of a product in this node's catalog (0 if absent).
    pub async fn current_version(&self, product: &ProductId) -> u64 {
        self.handle
            .get(product.clone())
            .await
            .expect("node answers")
            .map_or(0, |i| i.version())
    }
}

/// Waits for the first event for which `pick` returns `Some`, failing the
/// test after [`TIMEOUT`].
pub async fn wait_for<T>(
    events: &mut broadcast::Receiver<NodeEvent>,
    mut pick: impl FnMut(&NodeEvent) -> Option<T>,
) -> T {
    let wait = async {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Some(found) = pick(&event) {
                        return found;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("node stopped while waiting"),
            }
        }
    };
    tokio::time::timeout(TIMEOUT, wait)
        .await
        .expect("event did not arrive in time")
}

/// Writes `len` bytes of deterministic data to a file in `dir`.
pub fn sample_file(dir: &std::path::Path, name: &str, len: usize) -> PathBuf {
    let path = dir.join(name);
    let data: Vec<u8> = (0..len)
        .map(|i| u8::try_from(i % 251).unwrap_or(0))
        .collect();
    std::fs::write(&path, data).expect("write sample file");
    path
}

/// Waits (bounded) until a `meshd` process wrote `node-info.json` in its
/// data dir with a listen address; fails the test if the process exits.
pub fn wait_node_info(dir: &std::path::Path, child: &mut std::process::Child) -> serde_json::Value {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        if let Ok(text) = std::fs::read_to_string(dir.join(mesh_node::event_loop::NODE_INFO_FILE))
            && let Ok(info) = serde_json::from_str::<serde_json::Value>(&text)
            && info["listen_addrs"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        {
            return info;
        }
        assert!(
            child.try_wait().expect("process state").is_none(),
            "meshd exited early"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "meshd did not start in time"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `meshd` binary built beside this test binary.
pub fn meshd_binary() -> PathBuf {
    workspace_binary("meshd")
}

/// The `mesh` CLI binary built beside this test binary.
pub fn mesh_binary() -> PathBuf {
    workspace_binary("mesh")
}

fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory");
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} not built; run the tests with `cargo test --workspace`",
        bin.display()
    );
    bin
}
