//! `meshd`: the data mesh daemon.
//!
//! `meshd init` creates a data directory's identity and config; `meshd run`
//! starts the node and stops it cleanly on SIGINT or SIGTERM. All work is in
//! the `mesh_node` library; this file only parses arguments and reports
//! errors as one line with a non-zero exit.
//!
//! The process's umask is 077: every file meshd creates (database, blobs,
//! keys) is its user's alone; a fetch's output gets its own mode.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use libp2p::Multiaddr;
use mesh_node::config::Config;
use mesh_node::daemon;
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
        /// Join the federation of this genesis file (from `mesh federation create`).
        #[arg(long)]
        genesis: Option<PathBuf>,
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
        /// Join the federation of this genesis file (once per data directory).
        #[arg(long)]
        genesis: Option<PathBuf>,
    },
}

fn init(dir: &Path, domain: &str) -> anyhow::Result<()> {
    let identity = daemon::init(dir, domain)?;
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
        Command::Init {
            data_dir,
            domain,
            genesis,
        } => {
            let dir = data_dir.unwrap_or_else(daemon::default_data_dir);
            init(&dir, &domain)?;
            if let Some(file) = genesis {
                daemon::install_genesis(&dir, &file)?;
            }
            Ok(())
        }
        Command::Run {
            data_dir,
            domain,
            listen,
            bootstrap,
            no_mdns,
            api,
            network_id,
            genesis,
        } => {
            let dir = data_dir.unwrap_or_else(daemon::default_data_dir);
            if daemon::is_uninitialised(&dir) {
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
            // The genesis is installed once the data directory's lock is held.
            let mut running = daemon::launch_with_genesis(&dir, config, genesis.as_deref()).await?;
            tokio::select! {
                result = &mut running.task => return Ok(result??),
                signal = wait_for_signal() => signal?,
            }
            tracing::info!("signal received");
            running.stop().await?;
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    // Colour codes only on a terminal: a log file or journald gets text.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
