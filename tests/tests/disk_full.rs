//! A node whose disk fills up for a while: publishing fails with the real
//! reason, `/health` and `/metrics` say the store is degraded, and once
//! space is freed the node publishes again without a restart and stops
//! cleanly (exit 0) on SIGTERM.
//!
//! The full disk is real: a small tmpfs the test mounts, so the test needs
//! root (CI runs as root). Without it the test fails and says why; it never
//! passes without having run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test: a failed unwrap is a failed test"
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mesh_node::api::client::call;
use mesh_tests::{TIMEOUT, mesh_binary, meshd_binary, wait_node_info};
use serde_json::Value;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let uid = Command::new("id").arg("-u").output().expect("run `id -u`");
        let uid = String::from_utf8_lossy(&uid.stdout).trim().to_owned();
        assert_eq!(
            uid, "0",
            "this test mounts a small tmpfs to fill a real disk, which needs root; \
             it runs as uid {uid}: run it as root (CI does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs at {} (is this a container without CAP_SYS_ADMIN?): {}",
            dir.path().display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes `path` until the filesystem is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0x5a_u8; 64 * 1024];
    loop {
        match file.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    // The last pages: byte by byte.
    while let Ok(1) = file.write(&[0x5a]) {}
    let _ = file.sync_all();
}

/// A `meshd run` on `dir`, killed when dropped unless it was stopped.
struct Node {
    child: Child,
    dir: PathBuf,
    api: std::net::SocketAddr,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path) -> Node {
    let d = dir.to_str().unwrap();
    let ok = Command::new(meshd_binary())
        .args(["init", "--data-dir", d, "--domain", "sales"])
        .env("RUST_LOG", "warn")
        .status()
        .unwrap();
    assert!(ok.success());
    let mut child = Command::new(meshd_binary())
        .args(["run", "--data-dir", d, "--no-mdns", "--listen"])
        .args(["/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let info = wait_node_info(dir, &mut child);
    Node {
        child,
        dir: dir.to_path_buf(),
        api: info["api"].as_str().unwrap().parse().unwrap(),
    }
}

impl Node {
    fn publish(&self, file: &Path, name: &str) -> Output {
        Command::new(mesh_binary())
            .arg("--data-dir")
            .arg(&self.dir)
            .arg("publish")
            .arg(file)
            .args([
                "--name", name, "--title", "Orders", "--format", "csv", "--json",
            ])
            .env_remove("MESH_API")
            .env_remove("MESH_TOKEN")
            .output()
            .unwrap()
    }

    fn health(&self) -> (u16, Value) {
        let answer = call(self.api, "GET", "/health", None, None).unwrap();
        (answer.status, answer.json().unwrap())
    }

    fn degraded_gauge(&self) -> String {
        let token = std::fs::read_to_string(self.dir.join("api.token")).unwrap();
        let answer = call(self.api, "GET", "/metrics", Some(token.trim()), None).unwrap();
        String::from_utf8(answer.body)
            .unwrap()
            .lines()
            .find(|l| l.starts_with("meshd_store_degraded "))
            .unwrap_or("meshd_store_degraded missing")
            .to_owned()
    }

    /// SIGTERM, then the exit code (bounded wait).
    fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "meshd did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_full_disk_is_reported_and_recovered_from_without_a_restart() {
    let disk = Tmpfs::mount("48m");
    let sources = tempfile::tempdir().unwrap();
    let data_dir = disk.path().join("node");
    let node = start(&data_dir);
    let big = sources.path().join("big.csv");
    std::fs::write(&big, vec![b'x'; 2 * 1024 * 1024]).unwrap();
    let empty = sources.path().join("empty.csv");
    std::fs::write(&empty, b"").unwrap();
    let first = node.publish(&big, "before");
    assert!(first.status.success(), "{}", stderr(&first));

    let filler = disk.path().join("filler");
    fill(&filler);

    // The upload itself finds the disk full: the user hears so, not
    // "Broken pipe", and no partial upload is left behind.
    let refused = node.publish(&big, "orders");
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("no space left on device on the node while receiving the upload"),
        "{}",
        stderr(&refused)
    );
    let uploads: Vec<_> = std::fs::read_dir(data_dir.join("uploads"))
        .unwrap()
        .collect();
    assert!(uploads.is_empty(), "partial uploads left: {uploads:?}");

    // An empty product needs no data pages: publishes go on until the
    // database's own log cannot grow, and that is named too.
    let mut store_refused = None;
    for i in 0..200 {
        let out = node.publish(&empty, &format!("empty{i}"));
        if !out.status.success() {
            store_refused = Some(stderr(&out));
            break;
        }
    }
    let store_refused = store_refused.expect("the database never found the disk full");
    assert!(
        store_refused.contains("no space left on device while"),
        "{store_refused}"
    );
    let (status, health) = node.health();
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["status"], "degraded");
    assert!(
        health["reason"]
            .as_str()
            .unwrap()
            .starts_with("no space left on device while"),
        "{health}"
    );
    assert_eq!(node.degraded_gauge(), "meshd_store_degraded 1");

    // Space again: publishing works without a restart.
    std::fs::remove_file(&filler).unwrap();
    let after = node.publish(&big, "orders");
    assert!(after.status.success(), "{}", stderr(&after));
    let (status, health) = node.health();
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok");
    assert_eq!(node.degraded_gauge(), "meshd_store_degraded 0");

    assert_eq!(
        node.terminate(),
        Some(0),
        "meshd must stop cleanly on SIGTERM"
    );
    drop(disk);
}
