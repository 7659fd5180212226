//! Real `meshd` processes for end-to-end tests of the API and the CLI.
#![allow(
    clippy::unwrap_used,
    reason = "test harness: a failed unwrap is a failed test"
)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mesh_node::api::client::{Answer, call, json_body};
use serde_json::Value;

use crate::meshd_binary;

/// A `meshd run` process on loopback (TCP, no mDNS, API on a free port),
/// killed when dropped.
pub struct Daemon {
    child: Child,
    /// Its data directory.
    pub dir: tempfile::TempDir,
    /// Its API address.
    pub api: SocketAddr,
    /// Its API token.
    pub token: String,
    /// Its dialable address, with `/p2p/PEERID`.
    pub addr: String,
    /// Its PeerId.
    pub peer_id: String,
}

impl Daemon {
    /// Kills the process with SIGKILL (no shutdown at all) and returns its
    /// data directory.
    pub fn kill(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Initialises a data directory for `domain` with `meshd init`, plus
/// `extra` arguments (e.g. `--genesis FILE`).
pub fn init(domain: &str, extra: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_owned();
    let ok = Command::new(meshd_binary())
        .args(["init", "--data-dir", &d, "--domain", domain])
        .args(extra)
        .env("RUST_LOG", "warn")
        .status()
        .unwrap();
    assert!(ok.success());
    dir
}

/// Initialises a data directory for `domain` and runs `meshd` on it.
pub fn start(domain: &str, bootstrap: Option<&str>) -> Daemon {
    run(init(domain, &[]), bootstrap, &[])
}

/// Runs `meshd run` on an initialised data directory, with `extra`
/// arguments.
pub fn run(dir: tempfile::TempDir, bootstrap: Option<&str>, extra: &[&str]) -> Daemon {
    // A node killed with -9 leaves its info file behind.
    let _ = std::fs::remove_file(dir.path().join(mesh_node::event_loop::NODE_INFO_FILE));
    let d = dir.path().to_str().unwrap().to_owned();
    let mut args = vec![
        "run".to_owned(),
        "--data-dir".into(),
        d,
        "--no-mdns".into(),
        "--listen".into(),
        "/ip4/127.0.0.1/tcp/0".into(),
        "--api".into(),
        "127.0.0.1:0".into(),
    ];
    if let Some(b) = bootstrap {
        args.extend(["--bootstrap".into(), b.to_owned()]);
    }
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let mut child = Command::new(meshd_binary())
        .args(&args)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let info = crate::wait_node_info(dir.path(), &mut child);
    let token = std::fs::read_to_string(dir.path().join("api.token"))
        .unwrap()
        .trim()
        .to_owned();
    let addr = format!(
        "{}/p2p/{}",
        info["listen_addrs"][0].as_str().unwrap(),
        info["peer_id"].as_str().unwrap()
    );
    Daemon {
        child,
        api: info["api"].as_str().unwrap().parse().unwrap(),
        token,
        dir,
        addr,
        peer_id: info["peer_id"].as_str().unwrap().to_owned(),
    }
}

impl Daemon {
    /// GET with the token.
    pub fn get(&self, path: &str) -> Answer {
        call(self.api, "GET", path, Some(&self.token), None).unwrap()
    }

    /// DELETE with the token.
    pub fn delete(&self, path: &str) -> Answer {
        call(self.api, "DELETE", path, Some(&self.token), None).unwrap()
    }

    /// POST JSON with the token.
    pub fn post(&self, path: &str, body: &Value) -> Answer {
        let bytes = json_body(body);
        let mut reader = &bytes[..];
        call(
            self.api,
            "POST",
            path,
            Some(&self.token),
            Some((&mut reader, bytes.len() as u64, "application/json")),
        )
        .unwrap()
    }

    /// Uploads bytes; returns the upload id.
    pub fn upload(&self, data: &[u8]) -> Value {
        let mut reader = data;
        let up = call(
            self.api,
            "POST",
            "/v1/uploads",
            Some(&self.token),
            Some((&mut reader, data.len() as u64, "application/octet-stream")),
        )
        .unwrap();
        assert_eq!(up.status, 200, "{}", String::from_utf8_lossy(&up.body));
        up.json().unwrap()["upload_id"].clone()
    }

    /// Publishes `data` as a CSV product `name` (64 KiB chunks) through
    /// the API; the answer must be 200. Returns the publish receipt.
    pub fn publish_csv(&self, name: &str, data: &[u8]) -> Value {
        let draft = serde_json::json!({"name": name, "title": "Orders", "format": "Csv", "chunk_size": 65536});
        let answer = self.post(
            "/v1/publish",
            &serde_json::json!({"upload_id": self.upload(data), "draft": draft}),
        );
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        answer.json().unwrap()
    }

    /// Polls (bounded) until `check` holds for the answer of `path`.
    pub fn wait_until(&self, path: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + crate::TIMEOUT;
        loop {
            let v = self.get(path).json().unwrap();
            if check(&v) {
                return v;
            }
            assert!(Instant::now() < deadline, "{path} never satisfied: {v}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
