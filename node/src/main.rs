//! `meshd`: the data mesh daemon.
//!
//! `meshd init` creates a data directory's identity and config; `meshd run`
//! starts the node and stops it cleanly on SIGINT or SIGTERM. All work is in
//! the `mesh_node` library; this file only parses arguments and reports
//! errors as one line with a non-zero exit.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use libp2p::Multiaddr;
use mesh_node::config::{CONFIG_FILE, Config, template};
use mesh_node::{NodeOptions, identity};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "meshd", version, about = "The meshd data mesh daemon")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the domain key, node key, binding and config in a data directory.
    Init {
        /// Data directory (default: $MESH_DATA_DIR or ~/.local/share/meshd).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The domain's name, e.g. `sales`.
        #[arg(long)]
        domain: String,
    },
    /// Run the node.
    Run {
        /// Data directory (default: $MESH_DATA_DIR or ~/.local/share/meshd).
        /// An empty directory is initialised first, with domain `--domain`.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Domain name used only when the data directory is empty.
        #[arg(long, default_value = "local")]
        domain: String,
        /// Listen address (repeatable), e.g. /ip4/0.0.0.0/tcp/4001.
        #[arg(long)]
        listen: Vec<Multiaddr>,
        /// Peer to dial at start (repeatable).
        #[arg(long)]
        bootstrap: Vec<Multiaddr>,
        /// Do not discover peers with mDNS.
        #[arg(long)]
        no_mdns: bool,
        /// Address of the local HTTP API (loopback only).
        #[arg(long)]
        api: Option<SocketAddr>,
        /// Gossip namespace.
        #[arg(long)]
        network_id: Option<String>,
    },
}

fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MESH_DATA_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local/share/meshd")
}

fn init(dir: &Path, domain: &str) -> anyhow::Result<()> {
    let identity = identity::init(dir, domain)?;
    mesh_node::api::token::ensure(dir)
        .with_context(|| format!("cannot write the API token in {}", dir.display()))?;
    let config_path = dir.join(CONFIG_FILE);
    if !config_path.exists() {
        std::fs::write(&config_path, template(domain))
            .with_context(|| format!("cannot write {}", config_path.display()))?;
    }
    tracing::info!(
        data_dir = %dir.display(),
        domain = %identity.domain_name,
        domain_id = %identity.domain.domain_id(),
        peer_id = %identity.node.public().to_peer_id(),
        "initialised"
    );
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Init { data_dir, domain } => {
            init(&data_dir.unwrap_or_else(default_data_dir), &domain)
        }
        Command::Run {
            data_dir,
            domain,
            listen,
            bootstrap,
            no_mdns,
            api,
            network_id,
        } => {
            let dir = data_dir.unwrap_or_else(default_data_dir);
            let empty = !dir.join(identity::DOMAIN_KEY_FILE).exists()
                && !dir.join(identity::NODE_KEY_FILE).exists()
                && !dir.join(identity::DOMAIN_FILE).exists();
            if empty {
                init(&dir, &domain)?;
            }
            let mut config = Config::load(&dir)?;
            if !listen.is_empty() {
                config.network.listen = listen;
            }
            config.network.bootstrap.extend(bootstrap);
            if no_mdns {
                config.network.mdns = false;
            }
            if let Some(api) = api {
                config.api.listen = api;
            }
            if let Some(id) = network_id {
                config.network.network_id = id;
            }
            // The store first: it holds the data directory's lock, so a
            // second daemon on the same directory is refused before it
            // touches anything else.
            let store = mesh_node::store::RocksStore::open(&dir.join("db"))?;
            let listener = mesh_node::api::bind(config.api.listen)
                .await
                .with_context(|| format!("cannot serve the API on {}", config.api.listen))?;
            config.api.listen = listener.local_addr()?;
            let node = mesh_node::start(NodeOptions {
                data_dir: dir.clone(),
                config,
                store: Some(std::sync::Arc::new(store)),
            })
            .await?;
            let state = mesh_node::api::ApiState::new(node.handle.clone(), &dir)?;
            let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
            let api = tokio::spawn(mesh_node::api::serve(listener, state, async {
                let _ = api_stopped.await;
            }));
            let mut task = node.task;
            tokio::select! {
                result = &mut task => return Ok(result??),
                signal = wait_for_signal() => signal?,
            }
            tracing::info!("signal received");
            let _ = stop_api.send(());
            node.handle.shutdown().await;
            task.await??;
            let _ = api.await;
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("meshd: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meshd: {e:#}");
            ExitCode::FAILURE
        }
    }
}
