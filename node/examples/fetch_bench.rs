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

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use mesh_node::api::client::{call, json_body};
use serde_json::{Value, json};

struct Daemon {
    child: Child,
    _dir: tempfile::TempDir,
    api: SocketAddr,
    token: String,
    addr: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn peak_rss_mib(&self) -> f64 {
        common::peak_rss_mib(&self.child.id().to_string())
    }

    fn json(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<(u16, Value)> {
        let bytes = body.map(json_body).unwrap_or_default();
        let mut reader = &bytes[..];
        let body = body.map(|_| {
            (
                &mut reader as &mut dyn std::io::Read,
                bytes.len() as u64,
                "application/json",
            )
        });
        let answer = call(self.api, method, path, Some(&self.token), body)?;
        Ok((answer.status, answer.json().unwrap_or(Value::Null)))
    }
}

/// The `meshd` binary of this build profile, built if missing or stale.
fn meshd() -> anyhow::Result<PathBuf> {
    if let Ok(cargo) = std::env::var("CARGO") {
        let ok = Command::new(cargo)
            .args([
                "build",
                "--release",
                "-q",
                "-p",
                "mesh-node",
                "--bin",
                "meshd",
            ])
            .status()?;
        ensure!(ok.success(), "building meshd failed");
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().and_then(Path::parent).context("target dir")?;
    let bin = dir.join("meshd");
    ensure!(
        bin.exists(),
        "{} not found; build it with `cargo build --release -p mesh-node --bin meshd`",
        bin.display()
    );
    Ok(bin)
}

fn start(
    bin: &Path,
    name: &str,
    transport: &str,
    bootstrap: Option<&str>,
) -> anyhow::Result<Daemon> {
    let dir = tempfile::tempdir()?;
    let d = dir.path().display().to_string();
    let ok = Command::new(bin)
        .args(["init", "--data-dir", &d, "--domain", name])
        .env("RUST_LOG", "warn")
        .status()?;
    ensure!(ok.success(), "meshd init failed");
    let listen = match transport {
        "tcp" => "/ip4/127.0.0.1/tcp/0",
        "quic" => "/ip4/127.0.0.1/udp/0/quic-v1",
        other => bail!("unknown transport {other}; use tcp or quic"),
    };
    let mut args = vec![
        "run",
        "--data-dir",
        &d,
        "--no-mdns",
        "--listen",
        listen,
        "--api",
        "127.0.0.1:0",
    ];
    if let Some(b) = bootstrap {
        args.extend(["--bootstrap", b]);
    }
    let mut child = Command::new(bin)
        .args(&args)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::inherit())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let info: Value = loop {
        if let Ok(text) = std::fs::read_to_string(dir.path().join("node-info.json"))
            && let Ok(info) = serde_json::from_str::<Value>(&text)
            && info["listen_addrs"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        {
            break info;
        }
        ensure!(child.try_wait()?.is_none(), "meshd exited early");
        ensure!(Instant::now() < deadline, "meshd did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    let token = std::fs::read_to_string(dir.path().join("api.token"))?
        .trim()
        .to_owned();
    let addr = format!(
        "{}/p2p/{}",
        info["listen_addrs"][0].as_str().context("listen addr")?,
        info["peer_id"].as_str().context("peer id")?
    );
    Ok(Daemon {
        child,
        api: info["api"].as_str().context("api")?.parse()?,
        token,
        addr,
        _dir: dir,
    })
}

fn wait(daemon: &Daemon, path: &str, done: impl Fn(u16, &Value) -> bool) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (status, v) = daemon.json("GET", path, None)?;
        if done(status, &v) {
            return Ok(v);
        }
        ensure!(v["state"] != "Failed", "fetch failed: {v}");
        ensure!(Instant::now() < deadline, "{path} timed out: {v}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

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
    let file = scratch.path().join("data.bin");
    common::write_file(&file, bytes)?;
    let mut reader = std::fs::File::open(&file)?;
    let upload = call(
        server.api,
        "POST",
        "/v1/uploads",
        Some(&server.token),
        Some((&mut reader, bytes, "application/octet-stream")),
    )?;
    ensure!(
        upload.status == 200,
        "upload failed: {}",
        String::from_utf8_lossy(&upload.body)
    );
    let upload_id = upload.json()?["upload_id"].clone();
    let draft = json!({"name": "bench", "title": "Bench", "format": {"Other": "bin"}});
    let (status, receipt) = server.json(
        "POST",
        "/v1/publish",
        Some(&json!({"upload_id": upload_id, "draft": draft})),
    )?;
    ensure!(status == 200, "publish failed: {receipt}");
    let domain = receipt["product"]["domain"]
        .as_str()
        .context("receipt")?
        .to_owned();

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
