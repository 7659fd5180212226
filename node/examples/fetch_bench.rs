//! Fetch throughput between two real `meshd` processes on loopback.
//!
//! ```text
//! cargo run --release -p mesh-node --example fetch_bench -- --bytes 1073741824 --transport tcp
//! ```
//!
//! Starts two `meshd` daemons (built first if needed) with their own temp
//! data dirs and RocksDB, publishes N bytes on one through its local HTTP
//! API, fetches them on the other through its API, and prints one JSON line
//! with `transport`, `bytes`, `seconds` (fetch request to verified output in
//! place), `mb_per_s`, and each daemon's peak RSS (VmHWM from /proc).
//!
//! ```text
//! cargo run --release -p mesh-node --example fetch_bench -- --bytes 1073741824 --consumers 8
//! ```
//!
//! The swarm: one provider and N consumers, each consumer connected to the
//! provider and to every other consumer, all fetching the product at once
//! (into their stores). Prints `seconds` until the last consumer is done,
//! the first and median consumer's time, the delivered rate (N × bytes over
//! that time), what the provider uploaded (`provider_upload_bytes`, less
//! than N × bytes when consumers serve each other) and what the consumers
//! uploaded to each other, from each daemon's `/metrics`.
#![allow(
    clippy::cast_precision_loss,
    reason = "a measuring tool: figures are printed, not computed on"
)]

#[allow(dead_code, reason = "shared with the other examples")]
mod common;

use std::time::Instant;

use anyhow::{Context, ensure};
use common::daemon::{meshd, publish_bytes, start, wait};
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let bytes: u64 = get("--bytes").map_or(Ok(1 << 30), |b| b.parse())?;
    let transport = get("--transport").map_or("tcp", String::as_str).to_owned();
    let bin = meshd()?;
    if let Some(consumers) = get("--consumers") {
        return swarm(&bin, &transport, bytes, consumers.parse()?);
    }

    let server = start(&bin, "server", &transport, &[])?;
    let scratch = tempfile::tempdir()?;
    let domain = publish_bytes(&server, scratch.path(), "bench", bytes)?;

    let client = start(&bin, "client", &transport, &[&server.addr])?;
    wait(&client, &format!("/v1/products/{domain}/bench"), |s, _| {
        s == 200
    })?;
    let output = scratch.path().join("out.bin");
    let t = Instant::now();
    let (status, started) = client.json(
        "POST",
        "/v1/fetches",
        Some(&json!({"product": format!("{domain}/bench"), "output": output})),
    )?;
    ensure!(status == 200, "fetch refused: {started}");
    let id = started["id"].as_u64().context("fetch id")?;
    let done = wait(&client, &format!("/v1/fetches/{id}"), |_, v| {
        v["state"] == "Done"
    })?;
    let seconds = t.elapsed().as_secs_f64();
    ensure!(
        done["bytes_done"] == bytes,
        "fetched {} of {bytes} bytes",
        done["bytes_done"]
    );
    ensure!(
        std::fs::metadata(&output)?.len() == bytes,
        "output has the wrong size"
    );
    println!(
        "{{\"transport\":\"{transport}\",\"bytes\":{bytes},\"seconds\":{seconds:.3},\"mb_per_s\":{:.1},\"peak_rss_mib_server\":{:.1},\"peak_rss_mib_client\":{:.1}}}",
        bytes as f64 / seconds / 1e6,
        server.peak_rss_mib(),
        client.peak_rss_mib()
    );
    Ok(())
}

/// One provider, `consumers` consumers fetching from it and each other.
fn swarm(
    bin: &std::path::Path,
    transport: &str,
    bytes: u64,
    consumers: usize,
) -> anyhow::Result<()> {
    ensure!(consumers >= 1, "--consumers must be at least 1");
    let server = start(bin, "server", transport, &[])?;
    let scratch = tempfile::tempdir()?;
    let domain = publish_bytes(&server, scratch.path(), "bench", bytes)?;
    let product = format!("{domain}/bench");
    let mut nodes: Vec<common::daemon::Daemon> = Vec::new();
    for i in 0..consumers {
        let mut boot = vec![server.addr.as_str()];
        boot.extend(nodes.iter().map(|n| n.addr.as_str()));
        nodes.push(start(bin, &format!("c{i}"), transport, &boot)?);
    }
    for node in &nodes {
        wait(node, &format!("/v1/products/{product}"), |s, _| s == 200)?;
        wait(node, "/v1/status", |_, v| {
            v["peers"].as_u64().unwrap_or(0) >= consumers as u64
        })?;
    }
    let t = Instant::now();
    let mut ids = Vec::new();
    for node in &nodes {
        let (status, started) =
            node.json("POST", "/v1/fetches", Some(&json!({"product": product})))?;
        ensure!(status == 200, "fetch refused: {started}");
        ids.push(started["id"].as_u64().context("fetch id")?);
    }
    let mut finished: Vec<Option<f64>> = vec![None; consumers];
    let deadline = Instant::now() + std::time::Duration::from_secs(1800);
    while finished.iter().any(Option::is_none) {
        for (i, node) in nodes.iter().enumerate() {
            if finished[i].is_some() {
                continue;
            }
            let (_, v) = node.json("GET", &format!("/v1/fetches/{}", ids[i]), None)?;
            ensure!(v["state"] != "Failed", "consumer {i} failed: {v}");
            if v["state"] == "Done" {
                ensure!(v["bytes_done"] == bytes, "consumer {i}: {v}");
                finished[i] = Some(t.elapsed().as_secs_f64());
            }
        }
        ensure!(Instant::now() < deadline, "the swarm did not finish");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut times: Vec<f64> = finished.into_iter().flatten().collect();
    times.sort_by(f64::total_cmp);
    let seconds = times.last().copied().unwrap_or(0.0);
    let provider_upload = server.metric("meshd_served_bytes_total")?;
    let mut peer_upload = 0.0;
    let mut peak_consumer: f64 = 0.0;
    for node in &nodes {
        peer_upload += node.metric("meshd_served_bytes_total")?;
        peak_consumer = peak_consumer.max(node.peak_rss_mib());
    }
    println!(
        "{}",
        json!({
            "transport": transport,
            "bytes": bytes,
            "consumers": consumers,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "first_seconds": (times.first().copied().unwrap_or(0.0) * 1000.0).round() / 1000.0,
            "median_seconds": (times[times.len() / 2] * 1000.0).round() / 1000.0,
            "delivered_mb_per_s": (consumers as f64 * bytes as f64 / seconds / 1e5).round() / 10.0,
            "provider_upload_bytes": provider_upload,
            "provider_upload_share": (provider_upload / (consumers as f64 * bytes as f64) * 1000.0).round() / 1000.0,
            "consumer_upload_bytes": peer_upload,
            "peak_rss_mib_server": server.peak_rss_mib(),
            "peak_rss_mib_consumer_max": peak_consumer,
        })
    );
    Ok(())
}
