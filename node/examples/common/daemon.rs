//! `meshd` daemons for the measuring examples: started from the release
//! binary on fresh temp data dirs, driven through their HTTP API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use mesh_node::api::client::{call, json_body};
use serde_json::{Value, json};

/// A running daemon; stopped (SIGTERM) when dropped.
pub(crate) struct Daemon {
    pub(crate) child: Child,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) api: SocketAddr,
    pub(crate) token: String,
    /// Its dialable address with `/p2p/PEERID`.
    pub(crate) addr: String,
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
    pub(crate) fn peak_rss_mib(&self) -> f64 {
        super::peak_rss_mib(&self.child.id().to_string())
    }

    /// The sum of a metric's samples in `/metrics` (every label set).
    pub(crate) fn metric(&self, name: &str) -> anyhow::Result<f64> {
        let answer = call(self.api, "GET", "/metrics", Some(&self.token), None)?;
        ensure!(answer.status == 200, "/metrics answered {}", answer.status);
        let text = String::from_utf8_lossy(&answer.body).into_owned();
        let mut sum = 0.0;
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(name) else {
                continue;
            };
            if rest.starts_with(' ') || rest.starts_with('{') {
                let value = rest.rsplit(' ').next().context("metric line")?;
                sum += value.parse::<f64>()?;
            }
        }
        Ok(sum)
    }

    pub(crate) fn json(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
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
pub(crate) fn meshd() -> anyhow::Result<PathBuf> {
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

/// Starts a daemon for domain `name` on loopback over `transport`.
pub(crate) fn start(
    bin: &Path,
    name: &str,
    transport: &str,
    bootstrap: &[&str],
) -> anyhow::Result<Daemon> {
    let dir = tempfile::tempdir()?;
    let d = dir.path().display().to_string();
    let ok = Command::new(bin)
        .args(["init", "--data-dir", &d, "--domain", name])
        .env(
            "RUST_LOG",
            std::env::var("BENCH_MESHD_LOG").unwrap_or_else(|_| "warn".into()),
        )
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
    for b in bootstrap {
        args.extend(["--bootstrap", b]);
    }
    let mut child = Command::new(bin)
        .args(&args)
        .env(
            "RUST_LOG",
            std::env::var("BENCH_MESHD_LOG").unwrap_or_else(|_| "warn".into()),
        )
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
        dir,
    })
}

/// Polls `path` until `done` holds (10 ms apart, at most 10 minutes).
pub(crate) fn wait(
    daemon: &Daemon,
    path: &str,
    done: impl Fn(u16, &Value) -> bool,
) -> anyhow::Result<Value> {
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

/// Uploads `len` incompressible bytes (written to `scratch`) to `daemon`
/// and publishes them as product `name`; the owning domain's id comes back.
pub(crate) fn publish_bytes(
    daemon: &Daemon,
    scratch: &Path,
    name: &str,
    len: u64,
) -> anyhow::Result<String> {
    let upload_id = upload_bytes(daemon, scratch, name, len)?;
    publish_upload(daemon, name, &upload_id)
}

/// Uploads `len` incompressible bytes (written to `scratch`, removed after)
/// to `daemon`: the upload's id.
pub(crate) fn upload_bytes(
    daemon: &Daemon,
    scratch: &Path,
    name: &str,
    len: u64,
) -> anyhow::Result<Value> {
    let file = scratch.join(format!("{name}.bin"));
    super::write_file(&file, len)?;
    let mut reader = std::fs::File::open(&file)?;
    let upload = call(
        daemon.api,
        "POST",
        "/v1/uploads",
        Some(&daemon.token),
        Some((&mut reader, len, "application/octet-stream")),
    )?;
    ensure!(
        upload.status == 200,
        "upload failed: {}",
        String::from_utf8_lossy(&upload.body)
    );
    let _ = std::fs::remove_file(&file);
    Ok(upload.json()?["upload_id"].clone())
}

/// Publishes an upload as product `name`: the owning domain's id.
pub(crate) fn publish_upload(
    daemon: &Daemon,
    name: &str,
    upload_id: &Value,
) -> anyhow::Result<String> {
    let draft = json!({"name": name, "title": name, "format": {"Other": "bin"}});
    let (status, receipt) = daemon.json(
        "POST",
        "/v1/publish",
        Some(&json!({"upload_id": upload_id, "draft": draft})),
    )?;
    ensure!(status == 200, "publish failed: {receipt}");
    Ok(receipt["product"]["domain"]
        .as_str()
        .context("receipt")?
        .to_owned())
}
