//! Whether a node serving bulk data keeps gossiping: its event loop's turn
//! time while it serves several 1 GiB fetches, and how fast a descriptor it
//! publishes then reaches 20 peers, against the same node idle.
//!
//! ```text
//! cargo run --release -p mesh-node --example serve_bench -- --bytes 1073741824 --consumers 4 --watchers 20
//! ```
//!
//! The serving node is a `meshd` daemon in its own process; so is each
//! consumer. The watchers are nodes in this process, each connected to the
//! server, each reporting the moment its catalog takes a new descriptor.
//! The server first publishes `--publishes` small products while idle,
//! then again while the consumers fetch; each is timed twice: the publish
//! request (signing, the synced store write, gossip), and from its answer
//! until every watcher holds it. The turn times come from the
//! server's `meshd_loop_turn_seconds` histogram, counted over the time it
//! served. Prints one JSON line.
#![allow(
    clippy::cast_precision_loss,
    reason = "a measuring tool: figures are printed, not computed on"
)]

#[allow(dead_code, reason = "shared with the other examples")]
mod common;

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use common::daemon::{Daemon, meshd, publish_bytes, publish_upload, start, upload_bytes, wait};
use mesh_node::node::NodeEvent;
use serde_json::json;
use tokio::sync::broadcast;

/// The server's turn histogram: (upper bound in seconds, cumulative count).
fn turn_buckets(server: &Daemon) -> anyhow::Result<Vec<(f64, u64)>> {
    let answer =
        mesh_node::api::client::call(server.api, "GET", "/metrics", Some(&server.token), None)?;
    let text = String::from_utf8_lossy(&answer.body).into_owned();
    let mut buckets = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("meshd_loop_turn_seconds_bucket{le=\"") else {
            continue;
        };
        let (bound, count) = rest.split_once("\"} ").context("bucket line")?;
        let bound = if bound == "+Inf" {
            f64::INFINITY
        } else {
            bound.parse()?
        };
        buckets.push((bound, count.trim().parse()?));
    }
    ensure!(!buckets.is_empty(), "no turn histogram in /metrics");
    Ok(buckets)
}

/// The bucket bound under which `q` of the turns between two readings
/// fell, with the number of turns.
fn quantile(before: &[(f64, u64)], after: &[(f64, u64)], q: f64) -> (f64, u64) {
    let total = after.last().map_or(0, |b| b.1) - before.last().map_or(0, |b| b.1);
    for (b, a) in before.iter().zip(after) {
        if (a.1 - b.1) as f64 >= q * total as f64 {
            return (a.0, total);
        }
    }
    (f64::INFINITY, total)
}

/// Times of one publish: the publish request, and from its answer until
/// every watcher's catalog holds the descriptor (0 when all had it first).
struct Delivery {
    publish_ms: f64,
    reach_ms: f64,
}

/// Publishes `count` small products named `{prefix}{i}` on the server (each
/// uploaded first, untimed) and times each publish and its spread.
async fn deliveries(
    server: &Daemon,
    scratch: &std::path::Path,
    watchers: &mut [broadcast::Receiver<NodeEvent>],
    prefix: &str,
    count: usize,
) -> anyhow::Result<Vec<Delivery>> {
    let mut times = Vec::new();
    for i in 0..count {
        let name = format!("{prefix}{i}");
        let upload = tokio::task::block_in_place(|| upload_bytes(server, scratch, &name, 1024))?;
        let started = Instant::now();
        tokio::task::block_in_place(|| publish_upload(server, &name, &upload))?;
        let published = started.elapsed();
        for rx in watchers.iter_mut() {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            loop {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Ok(NodeEvent::CatalogUpdated { product, .. })) if product.name == name => {
                        break;
                    }
                    Ok(Ok(_) | Err(broadcast::error::RecvError::Lagged(_))) => {}
                    Ok(Err(e)) => anyhow::bail!("watcher events ended: {e}"),
                    Err(_) => anyhow::bail!("{name} did not reach a watcher in 60 s"),
                }
            }
        }
        let reached = started.elapsed();
        times.push(Delivery {
            publish_ms: published.as_secs_f64() * 1000.0,
            reach_ms: reached.saturating_sub(published).as_secs_f64() * 1000.0,
        });
    }
    Ok(times)
}

/// The median of one figure of a run of deliveries, in ms to 0.1.
fn median(deliveries: &[Delivery], figure: impl Fn(&Delivery) -> f64) -> f64 {
    let mut v: Vec<f64> = deliveries.iter().map(figure).collect();
    v.sort_by(f64::total_cmp);
    (v.get(v.len() / 2).copied().unwrap_or(f64::NAN) * 10.0).round() / 10.0
}

/// Starts `count` watcher nodes in this process, each dialing the server,
/// and waits until each has synced its catalog.
async fn start_watchers(
    server: &Daemon,
    count: usize,
) -> anyhow::Result<(Vec<WatcherNode>, Vec<broadcast::Receiver<NodeEvent>>)> {
    let mut watchers = Vec::new();
    let mut events = Vec::new();
    for i in 0..count {
        let mut config = mesh_node::Config::default();
        config.network.bootstrap = vec![server.addr.parse()?];
        let (dir, node) = common::start_node(&format!("w{i}"), config).await?;
        events.push(node.handle.subscribe());
        watchers.push((dir, node));
    }
    for (_, node) in &watchers {
        let deadline = Instant::now() + Duration::from_secs(60);
        while node.handle.status().await?.catalog_size == 0 {
            ensure!(Instant::now() < deadline, "a watcher never synced");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok((watchers, events))
}

/// A watcher: its data dir and the node.
type WatcherNode = (tempfile::TempDir, mesh_node::RunningNode);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let bytes: u64 = get("--bytes").map_or(Ok(1 << 30), |b| b.parse())?;
    let consumers: usize = get("--consumers").map_or(Ok(4), |b| b.parse())?;
    let watcher_count: usize = get("--watchers").map_or(Ok(20), |b| b.parse())?;
    let publishes: usize = get("--publishes").map_or(Ok(5), |b| b.parse())?;
    let bin = meshd()?;

    let server = start(&bin, "server", "tcp", &[])?;
    let scratch = tempfile::tempdir()?;
    let domain = publish_bytes(&server, scratch.path(), "bench", bytes)?;

    let (_watchers, mut events) = start_watchers(&server, watcher_count).await?;
    // Let gossipsub meshes form (a few heartbeats) before timing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = deliveries(&server, scratch.path(), &mut events, "idle", publishes).await?;

    let mut clients = Vec::new();
    for i in 0..consumers {
        clients.push(start(&bin, &format!("c{i}"), "tcp", &[&server.addr])?);
    }
    for client in &clients {
        tokio::task::block_in_place(|| {
            wait(client, &format!("/v1/products/{domain}/bench"), |s, _| {
                s == 200
            })
        })?;
    }
    let before = turn_buckets(&server)?;
    let started = Instant::now();
    let mut fetches = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        let output = client.dir.path().join(format!("out{i}.bin"));
        let (status, started) = client.json(
            "POST",
            "/v1/fetches",
            Some(&json!({"product": format!("{domain}/bench"), "output": output})),
        )?;
        ensure!(status == 200, "fetch refused: {started}");
        fetches.push(started["id"].as_u64().context("fetch id")?);
    }
    for (client, id) in clients.iter().zip(&fetches) {
        tokio::task::block_in_place(|| {
            wait(client, &format!("/v1/fetches/{id}"), |_, v| {
                v["bytes_done"].as_u64().is_some_and(|b| b > 0)
            })
        })?;
    }
    let loaded = deliveries(&server, scratch.path(), &mut events, "busy", publishes).await?;
    let mut still_fetching = 0;
    for (client, id) in clients.iter().zip(&fetches) {
        let (_, v) = client.json("GET", &format!("/v1/fetches/{id}"), None)?;
        if v["state"] == "Fetching" {
            still_fetching += 1;
        }
    }
    for (client, id) in clients.iter().zip(&fetches) {
        let done = tokio::task::block_in_place(|| {
            wait(client, &format!("/v1/fetches/{id}"), |_, v| {
                v["state"] == "Done"
            })
        })?;
        ensure!(done["bytes_done"] == bytes, "a fetch came up short: {done}");
    }
    let seconds = started.elapsed().as_secs_f64();
    let after = turn_buckets(&server)?;
    let (p99, turns) = quantile(&before, &after, 0.99);
    let (p50, _) = quantile(&before, &after, 0.50);
    let (p999, _) = quantile(&before, &after, 0.999);
    println!(
        "{}",
        json!({
            "bench": "serve",
            "bytes": bytes,
            "consumers": consumers,
            "watchers": watcher_count,
            "fetch_seconds": (seconds * 1000.0).round() / 1000.0,
            "served_mb_per_s": ((bytes as f64 * consumers as f64 / seconds / 1e6) * 10.0).round() / 10.0,
            "turns": turns,
            "turn_p50_le_ms": p50 * 1000.0,
            "turn_p99_le_ms": p99 * 1000.0,
            "turn_p999_le_ms": p999 * 1000.0,
            "publish_idle_ms_median": median(&idle, |d| d.publish_ms),
            "publish_serving_ms_median": median(&loaded, |d| d.publish_ms),
            "reach_idle_ms_median": median(&idle, |d| d.reach_ms),
            "reach_serving_ms_median": median(&loaded, |d| d.reach_ms),
            "total_idle_ms_median": median(&idle, |d| d.publish_ms + d.reach_ms),
            "total_serving_ms_median": median(&loaded, |d| d.publish_ms + d.reach_ms),
            "publishes_made_while_all_fetches_ran": still_fetching == consumers,
            "peak_rss_mib_server": server.peak_rss_mib().round(),
        })
    );
    Ok(())
}
