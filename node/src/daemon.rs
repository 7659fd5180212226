//! What `meshd run` runs, as a library call: open the store (which takes
//! the data directory's lock), install a genesis if one was given, bind the
//! API, start the node and serve the API, then stop both in order. `mesh
//! demo` and tests start real daemons in-process through the same code path
//! as the binary.
//!
//! Nothing in the data directory is changed before the lock is held: a
//! second `meshd run` on a running node's directory fails without touching
//! it (its `--genesis` included).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{CONFIG_FILE, Config, template};
use crate::node::{NodeError, NodeHandle, NodeOptions};
use crate::{api, identity};

/// Why a daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The node failed to start.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// A file or socket failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DaemonError {
    let what = what.into();
    move |source| DaemonError::Io { what, source }
}

/// The default data directory: `$MESH_DATA_DIR`, else
/// `~/.local/share/meshd`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MESH_DATA_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local/share/meshd")
}

/// Whether `dir` holds no identity yet.
pub fn is_uninitialised(dir: &Path) -> bool {
    !dir.join(identity::DOMAIN_KEY_FILE).exists()
        && !dir.join(identity::NODE_KEY_FILE).exists()
        && !dir.join(identity::DOMAIN_FILE).exists()
}

/// Creates a data directory: identity, API token and a commented config.
pub fn init(dir: &Path, domain: &str) -> Result<identity::Identity, DaemonError> {
    let identity = identity::init(dir, domain).map_err(NodeError::from)?;
    api::token::ensure(dir).map_err(io(format!(
        "cannot write the API token in {}",
        dir.display()
    )))?;
    let config_path = dir.join(CONFIG_FILE);
    if !config_path.exists() {
        identity::write_private(&config_path, template(domain).as_bytes())
            .map_err(io(format!("cannot write {}", config_path.display())))?;
    }
    Ok(identity)
}

/// Makes `dir` take part in the federation of the genesis file `file`.
/// A data directory belongs to one federation: installing another one is
/// refused.
pub fn install_genesis(dir: &Path, file: &Path) -> Result<(), DaemonError> {
    let genesis = crate::governance::read_genesis(file).map_err(NodeError::from)?;
    let target = dir.join(crate::governance::GENESIS_FILE);
    if target.exists() {
        let current = crate::governance::read_genesis(&target).map_err(NodeError::from)?;
        if current.id() == genesis.id() {
            return Ok(());
        }
        return Err(
            NodeError::from(crate::governance::GovernanceError::OtherFederation {
                stored: current.id(),
                given: genesis.id(),
            })
            .into(),
        );
    }
    let text = serde_json::to_string_pretty(&genesis).map_err(|e| DaemonError::Io {
        what: "cannot encode the genesis".into(),
        source: std::io::Error::other(e),
    })?;
    let tmp = dir.join(format!("{}.tmp", crate::governance::GENESIS_FILE));
    let _ = std::fs::remove_file(&tmp);
    identity::create_private_dir(dir)
        .and_then(|()| identity::write_private(&tmp, text.as_bytes()))
        .and_then(|()| std::fs::rename(&tmp, &target))
        .map_err(io(format!("cannot write {}", target.display())))
}

/// A running daemon: node plus API.
pub struct Daemon {
    /// The node.
    pub handle: NodeHandle,
    /// Where the API listens.
    pub api: SocketAddr,
    /// The node's task.
    pub task: JoinHandle<Result<(), NodeError>>,
    stop_api: oneshot::Sender<()>,
    api_task: JoinHandle<std::io::Result<()>>,
}

/// Starts a daemon on an initialised data directory with `config`.
pub async fn launch(dir: &Path, config: Config) -> Result<Daemon, DaemonError> {
    launch_with_genesis(dir, config, None).await
}

/// Starts a daemon like [`launch`], first making the directory take part
/// in the federation of the genesis file `genesis` (see [`install_genesis`]).
/// The genesis is installed only once the data directory's lock is held.
pub async fn launch_with_genesis(
    dir: &Path,
    mut config: Config,
    genesis: Option<&Path>,
) -> Result<Daemon, DaemonError> {
    crate::rlimit::raise_nofile_limit();
    // The store first: it holds the data directory's lock, so a second
    // daemon on the same directory is refused before it touches anything.
    let store = crate::store::RocksStore::open(&dir.join("db")).map_err(NodeError::from)?;
    // A token others could read is refused before the node makes the
    // directory private (which would hide that it may have leaked).
    crate::perms::check_private_file(&dir.join(api::token::TOKEN_FILE)).map_err(|e| {
        DaemonError::Io {
            what: "refusing to serve the API".into(),
            source: std::io::Error::other(e.to_string()),
        }
    })?;
    if let Some(file) = genesis {
        install_genesis(dir, file)?;
    }
    let listener = api::bind(config.api.listen)
        .await
        .map_err(io(format!("cannot serve the API on {}", config.api.listen)))?;
    config.api.listen = listener
        .local_addr()
        .map_err(io("cannot read the API address"))?;
    let api_addr = config.api.listen;
    let api_limits = config.api.limits.clone();
    let node = crate::start(NodeOptions {
        data_dir: dir.to_path_buf(),
        config,
        store: Some(Arc::new(store)),
        transport: None,
    })
    .await?;
    let state = match api::ApiState::new(node.handle.clone(), dir) {
        Ok(state) => state,
        Err(e) => {
            // Stop the node: it holds the data directory's lock.
            node.handle.shutdown().await;
            let _ = node.task.await;
            return Err(io("cannot prepare the API state")(e));
        }
    };
    // Fetches resumed at start are listed by the API like those it started.
    for fetch in node.handle.running_fetches().await.unwrap_or_default() {
        state.track_fetch(fetch);
    }
    let (stop_api, api_stopped) = oneshot::channel::<()>();
    let api_task = tokio::spawn(api::serve(listener, state, api_limits, async {
        let _ = api_stopped.await;
    }));
    Ok(Daemon {
        handle: node.handle,
        api: api_addr,
        task: node.task,
        stop_api,
        api_task,
    })
}

impl Daemon {
    /// Stops the API, then the node; waits for both.
    pub async fn stop(self) -> Result<(), NodeError> {
        let _ = self.stop_api.send(());
        self.handle.shutdown().await;
        let result = self.task.await.map_err(|_| NodeError::Stopped)?;
        let _ = self.api_task.await;
        result
    }
}
