//! Running the real `mesh` binary against a daemon from a test, and
//! reading what it printed.
#![allow(
    clippy::unwrap_used,
    clippy::missing_panics_doc,
    reason = "test harness: a failed unwrap is a failed test"
)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::daemon::Daemon;
use crate::{TIMEOUT, mesh_binary};

/// Runs `mesh` against a node's data directory (or none) with `args`.
pub fn mesh(node: Option<&Daemon>, args: &[&str]) -> Output {
    let mut cmd = Command::new(mesh_binary());
    cmd.env_remove("MESH_API")
        .env_remove("MESH_TOKEN")
        .env("MESH_DATA_DIR", "/nonexistent/mesh-test-default");
    if let Some(node) = node {
        cmd.arg("--data-dir").arg(node.dir.path());
    }
    cmd.args(args).output().unwrap()
}

/// The JSON `mesh` printed, asserting it succeeded.
pub fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "mesh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Asserts the exit code and that stderr is exactly one line containing
/// `needle`; returns that line.
pub fn fails(out: &Output, code: i32, needle: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    assert!(err.contains(needle), "{needle:?} not in {err:?}");
    err
}

/// Runs `mesh ... --json` until `check` holds (bounded by [`TIMEOUT`]).
pub fn wait_json(node: &Daemon, args: &[&str], check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let out = mesh(Some(node), args);
        if out.status.success() {
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            if check(&v) {
                return v;
            }
        }
        assert!(Instant::now() < deadline, "mesh {args:?} never satisfied");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Writes `text` to `dir/name`; returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// `mesh federation create` from the members' domain.json files; returns
/// the genesis path and the federation id.
pub fn create_federation(work: &Path, dirs: &[tempfile::TempDir]) -> (String, String) {
    let genesis = work.join("genesis.json").to_str().unwrap().to_owned();
    let mut create = vec!["federation", "create", "--name", "acme", "--json", "-o"];
    create.push(&genesis);
    let files: Vec<String> = dirs
        .iter()
        .map(|d| d.path().join("domain.json").to_str().unwrap().to_owned())
        .collect();
    for f in &files {
        create.extend(["--member-file", f.as_str()]);
    }
    let created = stdout_json(&mesh(None, &create));
    assert_eq!(created["members"], dirs.len());
    (genesis, created["federation"].as_str().unwrap().to_owned())
}
