//! Fetch throughput between two node processes on loopback.
//!
//! ```text
//! cargo run --release -p mesh-node --example fetch_bench -- --bytes 1073741824 --transport tcp
//! ```
//!
//! The parent starts two child processes of itself, each running a real
//! node from the `mesh_node` library (the code `meshd` runs) with RocksDB in
//! its own temp dir: a server that publishes N bytes, and a client that
//! fetches them. It prints one JSON line with `transport`, `bytes`,
//! `seconds` (fetch start to verified output in place), `mb_per_s`, and each
//! process's peak RSS (VmHWM from /proc).
#![allow(
    clippy::cast_precision_loss,
    clippy::expect_used,
    reason = "a measuring tool: figures are printed, not computed on; constants parse"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use mesh_node::node::NodeEvent;
use mesh_node::{Config, NodeOptions, ProductDraft};
use mesh_protocol::descriptor::Format;

fn config(transport: &str, bootstrap: Vec<Multiaddr>) -> anyhow::Result<Config> {
    let mut c = Config::default();
    c.network.listen = vec![match transport {
        "tcp" => "/ip4/127.0.0.1/tcp/0".parse()?,
        "quic" => "/ip4/127.0.0.1/udp/0/quic-v1".parse()?,
        other => bail!("unknown transport {other}; use tcp or quic"),
    }];
    c.network.bootstrap = bootstrap;
    c.network.mdns = false;
    Ok(c)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn write_file(path: &Path, len: u64) -> anyhow::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut block = vec![0u8; 1 << 20];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut left = len;
    while left > 0 {
        for b in &mut block {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state.to_le_bytes()[0];
        }
        let n = usize::try_from(left.min(block.len() as u64))?;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.flush()?;
    Ok(())
}

async fn serve(dir: &Path, bytes: u64, transport: &str) -> anyhow::Result<()> {
    mesh_node::identity::init(dir, "server")?;
    let file = dir.join("data.bin");
    write_file(&file, bytes)?;
    let mut node = mesh_node::start(NodeOptions {
        data_dir: dir.to_owned(),
        config: config(transport, vec![])?,
        store: None,
    })
    .await?;
    let listen = loop {
        if let NodeEvent::Listening(a) = node.events.recv().await? {
            break a;
        }
    };
    let receipt = node
        .handle
        .publish(
            &file,
            ProductDraft::new("bench", "Bench", Format::Other("bin".into())),
        )
        .await?;
    let addr = listen.with(Protocol::P2p(node.handle.peer_id()));
    println!("READY {addr} {}", receipt.product);
    // Serve until the parent closes stdin.
    let mut line = String::new();
    tokio::task::spawn_blocking(move || std::io::stdin().read_line(&mut line)).await??;
    println!("RSS {:.1}", peak_rss_mib());
    Ok(())
}

async fn fetch(dir: &Path, addr: &str, product: &str, transport: &str) -> anyhow::Result<()> {
    mesh_node::identity::init(dir, "client")?;
    let node = mesh_node::start(NodeOptions {
        data_dir: dir.to_owned(),
        config: config(transport, vec![addr.parse()?])?,
        store: None,
    })
    .await?;
    let product: mesh_protocol::ProductId = product.parse()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while node.handle.get(product.clone()).await?.is_none() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "product never reached the client"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = dir.join("out.bin");
    let t = Instant::now();
    let handle = node.handle.fetch(product, None, &out).await?;
    handle.finish().await?;
    let seconds = t.elapsed().as_secs_f64();
    println!("DONE {seconds:.3} {}", std::fs::metadata(&out)?.len());
    println!("RSS {:.1}", peak_rss_mib());
    Ok(())
}

fn expect_line(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    prefix: &str,
) -> anyhow::Result<String> {
    for line in lines {
        let line = line?;
        if let Some(rest) = line.strip_prefix(prefix) {
            return Ok(rest.trim().to_owned());
        }
    }
    bail!("child ended without printing {prefix}")
}

fn parent(bytes: u64, transport: &str) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let server_dir = tempfile::tempdir()?;
    let client_dir = tempfile::tempdir()?;
    let mut server = Command::new(&exe)
        .args([
            "serve",
            &server_dir.path().display().to_string(),
            &bytes.to_string(),
            transport,
        ])
        .env(
            "RUST_LOG",
            std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut server_out = BufReader::new(server.stdout.take().context("stdout")?).lines();
    let ready = expect_line(&mut server_out, "READY ")?;
    let (addr, product) = ready.split_once(' ').context("READY line")?;
    let client = Command::new(&exe)
        .args([
            "fetch",
            &client_dir.path().display().to_string(),
            addr,
            product,
            transport,
        ])
        .env(
            "RUST_LOG",
            std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .spawn()?;
    let mut client_out = BufReader::new(client.stdout.context("stdout")?).lines();
    let done = expect_line(&mut client_out, "DONE ")?;
    let client_rss: f64 = expect_line(&mut client_out, "RSS ")?.parse()?;
    drop(server.stdin.take());
    let server_rss: f64 = expect_line(&mut server_out, "RSS ")?.parse()?;
    server.wait()?;
    let (seconds, got) = done.split_once(' ').context("DONE line")?;
    let seconds: f64 = seconds.parse()?;
    let got: u64 = got.parse()?;
    anyhow::ensure!(got == bytes, "fetched {got} bytes, expected {bytes}");
    println!(
        "{{\"transport\":\"{transport}\",\"bytes\":{bytes},\"seconds\":{seconds:.3},\"mb_per_s\":{:.1},\"peak_rss_mib_server\":{server_rss:.1},\"peak_rss_mib_client\":{client_rss:.1}}}",
        bytes as f64 / seconds / 1e6
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match args.first().map(String::as_str) {
        Some("serve") if args.len() == 4 => {
            serve(Path::new(&args[1]), args[2].parse()?, &args[3]).await
        }
        Some("fetch") if args.len() == 5 => {
            fetch(Path::new(&args[1]), &args[2], &args[3], &args[4]).await
        }
        _ => {
            let get = |name: &str| {
                args.iter()
                    .position(|a| a == name)
                    .and_then(|i| args.get(i + 1))
            };
            let bytes = get("--bytes").map_or(Ok(1 << 30), |b| b.parse())?;
            let transport = get("--transport").map_or("tcp", String::as_str).to_owned();
            tokio::task::spawn_blocking(move || parent(bytes, &transport)).await?
        }
    }
}
