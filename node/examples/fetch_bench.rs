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

    let server = start(&bin, "server", &transport, None)?;
    let scratch = tempfile::tempdir()?;
    let domain = publish_bytes(&server, scratch.path(), "bench", bytes)?;

    let client = start(&bin, "client", &transport, Some(&server.addr))?;
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
