//! A local attacker against a running node's API: many half-sent requests
//! held open, as in issue #19 ("21 processes holding half-sent requests
//! drove meshd to 20,000 open files").
//!
//! ```text
//! meshd run --data-dir /tmp/n &
//! cargo run --release -p mesh-node --example api_flood -- --data-dir /tmp/n --connections 19000
//! ```
//!
//! Opens `--connections` connections to the node's API (its address and pid
//! from `node-info.json`), each sending half a request line and nothing
//! more, then, while they are held: asks `/health` (no token) and counts the
//! node's open descriptors; then waits for the node to close them. Prints
//! one JSON line: `opened`, `health_status`, `health_ms`, `node_fds_before`,
//! `node_fds_during`, `closed`, `closed_within_secs`.
#![allow(
    clippy::cast_precision_loss,
    reason = "a measuring tool: figures are printed, not computed on"
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

fn open_files(pid: u64) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

fn main() -> anyhow::Result<()> {
    let mut data_dir = None;
    let mut connections = 1000usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data-dir" => data_dir = args.next().map(PathBuf::from),
            "--connections" => {
                connections = args.next().context("--connections N")?.parse()?;
            }
            other => bail!("unknown argument {other}; use --data-dir DIR --connections N"),
        }
    }
    let dir = data_dir.context("--data-dir DIR of a running meshd")?;
    let info: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("node-info.json"))?)?;
    let api: SocketAddr = info["api"]
        .as_str()
        .context("api in node-info.json")?
        .parse()?;
    let pid = info["pid"].as_u64().context("pid in node-info.json")?;
    // This process needs a descriptor per connection too.
    mesh_node::rlimit::raise_nofile_limit();

    let before = open_files(pid);
    let mut held = Vec::with_capacity(connections);
    for _ in 0..connections {
        let Ok(mut stream) = TcpStream::connect_timeout(&api, Duration::from_secs(2)) else {
            break;
        };
        if stream.write_all(b"GET /health HT").is_err() {
            break;
        }
        held.push(stream);
    }
    let during = open_files(pid);
    let asked = Instant::now();
    let health = mesh_node::api::client::call(api, "GET", "/health", None, None);
    let health_ms = asked.elapsed().as_secs_f64() * 1000.0;
    let health_status = health.map_or(0, |a| a.status);

    // How long until the node has closed them all (bounded: 5 minutes).
    let started = Instant::now();
    let mut closed = 0usize;
    let deadline = started + Duration::from_secs(300);
    let mut buf = [0u8; 256];
    for stream in &mut held {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(left))?;
        loop {
            match stream.read(&mut buf) {
                Ok(0) => {
                    closed += 1;
                    break;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break,
                Err(_) => {
                    closed += 1;
                    break;
                }
            }
        }
    }
    println!(
        "{}",
        json!({
            "opened": held.len(),
            "health_status": health_status,
            "health_ms": (health_ms * 10.0).round() / 10.0,
            "node_fds_before": before,
            "node_fds_during": during,
            "closed": closed,
            "closed_within_secs": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        })
    );
    Ok(())
}
