//! Measurements of a real meshd mesh on loopback, printed as JSON lines.
//!
//! ```text
//! cargo run --release -p mesh-node --example mesh_bench -- propagation --nodes 20 --publishes 20
//! cargo run --release -p mesh-node --example mesh_bench -- catchup --descriptors 10000
//! cargo run --release -p mesh-node --example mesh_bench -- publish --bytes 2147483648
//! cargo run --release -p mesh-node --example mesh_bench -- governance --members 30 --rounds 5
//! ```
//!
//! - `propagation`: N nodes in one process over loopback TCP, each dialing up
//!   to three earlier ones; each publish is timed until every other node's
//!   catalog holds it (gossip only: anti-entropy sync is slowed to a minute).
//! - `catchup`: one node publishes D descriptors, then a new node joins and is
//!   timed until its catalog holds all of them (catalog sync only).
//! - `publish`: one node publishes a file of B bytes; reports throughput and
//!   the process's peak RSS (VmHWM).
//! - `governance`: M member nodes of one federation (quorum above two
//!   thirds); each round one policy is proposed, all but one of the needed
//!   yes votes are cast and spread, then the deciding vote is timed until
//!   every node has applied the certificate.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::expect_used,
    reason = "a measuring tool: figures are printed, not computed on; constants parse"
)]

#[allow(dead_code, reason = "shared with the other examples")]
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use mesh_node::node::NodeEvent;
use mesh_node::{Config, NodeOptions, ProductDraft, RunningNode};
use mesh_protocol::descriptor::Format;
use tokio::sync::broadcast;

const WAIT: Duration = Duration::from_secs(600);

struct BenchNode {
    _dir: tempfile::TempDir,
    node: RunningNode,
    addr: Multiaddr,
}

fn config(bootstrap: Vec<Multiaddr>, sync_ms: u64) -> Config {
    let mut c = Config::default();
    c.network.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("multiaddr")];
    c.network.bootstrap = bootstrap;
    c.network.mdns = false;
    c.network.sync_interval_ms = sync_ms;
    c
}

async fn start(name: &str, bootstrap: Vec<Multiaddr>, sync_ms: u64) -> anyhow::Result<BenchNode> {
    let dir = tempfile::tempdir()?;
    mesh_node::identity::init(dir.path(), name)?;
    start_in(dir, bootstrap, sync_ms).await
}

async fn start_in(
    dir: tempfile::TempDir,
    bootstrap: Vec<Multiaddr>,
    sync_ms: u64,
) -> anyhow::Result<BenchNode> {
    let mut node = mesh_node::start(NodeOptions {
        data_dir: dir.path().to_owned(),
        config: config(bootstrap, sync_ms),
        store: None,
        transport: None,
    })
    .await?;
    let listen = wait(&mut node.events, |e| match e {
        NodeEvent::Listening(a) => Some(a.clone()),
        _ => None,
    })
    .await?;
    let addr = listen.with(Protocol::P2p(node.handle.peer_id()));
    Ok(BenchNode {
        _dir: dir,
        node,
        addr,
    })
}

async fn wait<T>(
    events: &mut broadcast::Receiver<NodeEvent>,
    mut pick: impl FnMut(&NodeEvent) -> Option<T>,
) -> anyhow::Result<T> {
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Ok(e) => {
                    if let Some(found) = pick(&e) {
                        return Ok(found);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => bail!("node stopped"),
            }
        }
    })
    .await
    .context("timed out")?
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round();
    sorted[usize::try_from(rank as i64)
        .unwrap_or(0)
        .min(sorted.len() - 1)]
}

async fn propagation(nodes: usize, publishes: usize) -> anyhow::Result<()> {
    let mut mesh: Vec<BenchNode> = Vec::with_capacity(nodes);
    for i in 0..nodes {
        let bootstrap = mesh.iter().rev().take(3).map(|n| n.addr.clone()).collect();
        mesh.push(start(&format!("d{i}"), bootstrap, 60_000).await?);
    }
    // Let connections settle and gossipsub meshes form (a few heartbeats).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut receivers: Vec<broadcast::Receiver<NodeEvent>> =
        mesh.iter().map(|n| n.node.handle.subscribe()).collect();
    let dir = tempfile::tempdir()?;
    let mut times = Vec::new();
    for p in 0..publishes {
        let origin = p % nodes;
        let file = dir.path().join(format!("p{p}"));
        std::fs::write(&file, format!("product {p}"))?;
        let start = Instant::now();
        let receipt = mesh[origin]
            .node
            .handle
            .publish(
                &file,
                ProductDraft::new(format!("p{p}"), "Bench", Format::Csv),
            )
            .await?;
        let mut arrival: HashMap<usize, f64> = HashMap::new();
        for (i, rx) in receivers.iter_mut().enumerate() {
            if i == origin {
                continue;
            }
            let product = receipt.product.clone();
            wait(rx, |e| match e {
                NodeEvent::CatalogUpdated { product: got, .. } if *got == product => Some(()),
                _ => None,
            })
            .await?;
            arrival.insert(i, start.elapsed().as_secs_f64() * 1000.0);
        }
        let all = arrival.values().copied().fold(0.0, f64::max);
        times.push(all);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"bench\":\"propagation\",\"nodes\":{nodes},\"publishes\":{publishes},\"reach_all_ms_p50\":{:.1},\"reach_all_ms_max\":{:.1},\"peak_rss_mib\":{:.0}}}",
        percentile(&times, 50.0),
        times.last().copied().unwrap_or(0.0),
        common::peak_rss_mib("self")
    );
    Ok(())
}

async fn catchup(descriptors: usize) -> anyhow::Result<()> {
    let a = start("origin", vec![], 60_000).await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("tiny.csv");
    std::fs::write(&file, "a,b\n1,2\n")?;
    let t = Instant::now();
    for i in 0..descriptors {
        a.node
            .handle
            .publish(
                &file,
                ProductDraft::new(format!("p{i}"), "Bench", Format::Csv),
            )
            .await?;
    }
    let publish_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut late = start("late", vec![a.addr.clone()], 60_000).await?;
    let mut have = 0;
    while have < descriptors {
        wait(&mut late.node.events, |e| match e {
            NodeEvent::CatalogUpdated { .. } => Some(()),
            _ => None,
        })
        .await?;
        have += 1;
    }
    let catchup_s = t.elapsed().as_secs_f64();
    let size = late.node.handle.status().await?.catalog_size;
    println!(
        "{{\"bench\":\"catchup\",\"descriptors\":{descriptors},\"held_after\":{size},\"catchup_s\":{catchup_s:.2},\"publish_all_s\":{publish_s:.1},\"publishes_per_s\":{:.0}}}",
        descriptors as f64 / publish_s
    );
    Ok(())
}

async fn publish(bytes: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("big.bin");
    common::write_file(&file, bytes)?;
    let before = common::peak_rss_mib("self");
    let a = start("origin", vec![], 60_000).await?;
    let t = Instant::now();
    let receipt = a
        .node
        .handle
        .publish(
            &file,
            ProductDraft::new("big", "Big file", Format::Other("bin".into())),
        )
        .await?;
    let s = t.elapsed().as_secs_f64();
    println!(
        "{{\"bench\":\"publish\",\"bytes\":{},\"seconds\":{s:.2},\"mb_per_s\":{:.0},\"peak_rss_mib\":{:.0},\"peak_rss_mib_before_publish\":{before:.0}}}",
        receipt.size,
        receipt.size as f64 / s / 1e6,
        common::peak_rss_mib("self")
    );
    Ok(())
}

/// Polls `check` every 5 ms until it holds (bounded by [`WAIT`]).
async fn poll<F, Fut>(mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !check().await {
        if Instant::now() > deadline {
            bail!("timed out");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

async fn governance(members: usize, rounds: usize) -> anyhow::Result<()> {
    use mesh_protocol::governance::{Change, Genesis, Member, ProposalId, Quorum};
    use mesh_protocol::policy::PolicyRule;

    let mut dirs = Vec::new();
    let mut founders = Vec::new();
    for i in 0..members {
        let dir = tempfile::tempdir()?;
        let id = mesh_node::identity::init(dir.path(), &format!("d{i}"))?;
        founders.push(Member {
            name: format!("d{i}"),
            key: id.domain.public(),
        });
        dirs.push(dir);
    }
    let genesis = Genesis::new(
        "bench",
        founders,
        Quorum::TWO_THIRDS,
        std::collections::BTreeSet::new(),
        mesh_protocol::Timestamp(1),
    )?;
    let needed = Quorum::TWO_THIRDS.threshold(members);
    let mut mesh: Vec<BenchNode> = Vec::with_capacity(members);
    for dir in dirs {
        std::fs::write(
            dir.path().join(mesh_node::governance::GENESIS_FILE),
            serde_json::to_string(&genesis)?,
        )?;
        let bootstrap = mesh.iter().rev().take(3).map(|n| n.addr.clone()).collect();
        mesh.push(start_in(dir, bootstrap, 60_000).await?);
        eprintln!("started member {}", mesh.len());
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut times = Vec::new();
    for round in 0..rounds {
        let rule = PolicyRule::MaxRetentionDays(u32::try_from(round + 1)?);
        let proposal = mesh[0]
            .node
            .handle
            .propose(Change::AddPolicy(rule), String::new(), 600_000)
            .await?;
        let id: ProposalId = proposal.id.parse()?;
        for n in &mesh {
            poll(|| async {
                n.node
                    .handle
                    .proposals()
                    .await
                    .is_ok_and(|p| p.iter().any(|p| p.id == proposal.id))
            })
            .await?;
        }
        eprintln!("round {round}: proposal everywhere");
        // All but the deciding vote, spread everywhere.
        for n in &mesh[..needed - 1] {
            n.node.handle.vote(id, true, String::new()).await?;
        }
        for n in &mesh {
            poll(|| async {
                n.node
                    .handle
                    .proposals()
                    .await
                    .is_ok_and(|p| p.iter().any(|p| p.id == proposal.id && p.yes == needed - 1))
            })
            .await?;
        }
        eprintln!("round {round}: {} votes everywhere", needed - 1);
        let version = u64::try_from(round + 1)?;
        let mut receivers: Vec<_> = mesh.iter().map(|n| n.node.handle.subscribe()).collect();
        let start = Instant::now();
        mesh[needed - 1]
            .node
            .handle
            .vote(id, true, String::new())
            .await?;
        let mut last = 0.0f64;
        for (i, rx) in receivers.iter_mut().enumerate() {
            let already = mesh[i].node.handle.federation().await?.version >= version;
            if !already {
                wait(rx, |e| match e {
                    NodeEvent::FederationAdvanced { version: v } if *v >= version => Some(()),
                    _ => None,
                })
                .await?;
            }
            last = last.max(start.elapsed().as_secs_f64() * 1000.0);
        }
        times.push(last);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"bench\":\"governance\",\"members\":{members},\"rounds\":{rounds},\"quorum\":{needed},\"deciding_vote_to_all_applied_ms_p50\":{:.1},\"deciding_vote_to_all_applied_ms_max\":{:.1},\"peak_rss_mib\":{:.0}}}",
        percentile(&times, 50.0),
        times.last().copied().unwrap_or(0.0),
        common::peak_rss_mib("self")
    );
    Ok(())
}

fn arg(args: &[String], name: &str, default: u64) -> anyhow::Result<u64> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .context("missing value")?
            .parse()
            .with_context(|| format!("{name} takes a number")),
        None => Ok(default),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Node logs on stderr when RUST_LOG asks for them.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("propagation") => {
            propagation(
                usize::try_from(arg(&args, "--nodes", 20)?)?,
                usize::try_from(arg(&args, "--publishes", 20)?)?,
            )
            .await
        }
        Some("catchup") => catchup(usize::try_from(arg(&args, "--descriptors", 10_000)?)?).await,
        Some("publish") => publish(arg(&args, "--bytes", 2 << 30)?).await,
        Some("governance") => {
            governance(
                usize::try_from(arg(&args, "--members", 30)?)?,
                usize::try_from(arg(&args, "--rounds", 5)?)?,
            )
            .await
        }
        _ => bail!(
            "usage: mesh_bench propagation|catchup|publish|governance [--nodes N] [--publishes N] [--descriptors N] [--bytes N] [--members N] [--rounds N]"
        ),
    }
}
