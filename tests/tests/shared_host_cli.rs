//! A node on a shared host (issue #19), through the real binaries: `mesh
//! fetch -o` refuses what is not a regular file, token files others can
//! read are refused, `meshd` keeps its data directory private, a refused
//! second `meshd run --genesis` changes nothing, and a fetch resumed after
//! a restart is listed by the API.
#![allow(
    clippy::unwrap_used,
    reason = "helpers shared by tests: a failed unwrap is a failed test"
)]

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mesh_tests::cli::{fails, mesh, stdout_json, write};
use mesh_tests::daemon::{Daemon, init, run, start};
use mesh_tests::{mesh_binary, meshd_binary};
use serde_json::{Value, json};

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

fn publish(d: &Daemon, name: &str, data: &[u8]) -> Value {
    d.publish_csv(name, data)
}

/// A character device to aim outputs at: a copy of /dev/null's node in
/// `dir` when this process may create one (root, as in CI), so a
/// regression could only replace that copy; else /dev/null itself, which
/// a user who cannot create devices cannot replace either.
fn device(dir: &Path) -> PathBuf {
    let node = dir.join("null");
    let made = std::process::Command::new("mknod")
        .arg(&node)
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success());
    if made {
        node
    } else {
        PathBuf::from("/dev/null")
    }
}

#[test]
fn fetch_refuses_devices_fifos_and_links_as_outputs() {
    let a = start("sales", None);
    publish(&a, "orders", b"id,amount\n1,10\n");
    let work = tempfile::tempdir().unwrap();
    let victim = write(work.path(), "victim", "precious");
    let link = work.path().join("link.csv");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let null = device(work.path());
    let fifo = work.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (target, kind) in [
        (null.to_str().unwrap(), "device"),
        (fifo.to_str().unwrap(), "FIFO"),
        (link.to_str().unwrap(), "symbolic link"),
    ] {
        let out = mesh(Some(&a), &["fetch", "sales/orders", "-o", target]);
        let refusal = fails(&out, 2, "refusing to write");
        assert!(refusal.contains(kind), "{refusal}");
    }
    assert!(
        std::fs::metadata(&null)
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");

    // The node refuses them too, whoever asks.
    let refused = a.post(
        "/v1/fetches",
        // (`null` inside `json!` would be JSON's null, not the device.)
        &json!({"product": format!("{}/orders", domain_id(&a)), "output": (null.to_str().unwrap())}),
    );
    assert_eq!(
        refused.status,
        400,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    assert!(
        std::fs::metadata(&null)
            .unwrap()
            .file_type()
            .is_char_device()
    );
}

fn domain_id(d: &Daemon) -> String {
    d.get("/v1/status").json().unwrap()["domain_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn token_files_others_can_read_are_refused() {
    let a = start("sales", None);
    let token = a.dir.path().join("api.token");
    assert_eq!(mode(&token), 0o600);
    chmod(&token, 0o644);
    let line = fails(&mesh(Some(&a), &["status"]), 1, "chmod 600");
    assert!(line.contains(token.to_str().unwrap()), "{line}");

    // --token-file: a private one works, a readable one is refused.
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("token");
    std::fs::write(&file, format!("{}\n", a.token)).unwrap();
    chmod(&file, 0o600);
    let api = a.api.to_string();
    let with_file = |extra: &[&str]| {
        Command::new(mesh_binary())
            .env_remove("MESH_TOKEN")
            .env("MESH_DATA_DIR", "/nonexistent/mesh-test-default")
            .env("MESH_API", &api)
            .args(extra)
            .args(["status", "--json"])
            .output()
            .unwrap()
    };
    let ok = stdout_json(&with_file(&["--token-file", file.to_str().unwrap()]));
    assert_eq!(ok["domain_name"], "sales");
    chmod(&file, 0o640);
    fails(
        &with_file(&["--token-file", file.to_str().unwrap()]),
        1,
        "chmod 600",
    );
    // MESH_TOKEN needs no file at all.
    let env = Command::new(mesh_binary())
        .env("MESH_DATA_DIR", "/nonexistent/mesh-test-default")
        .env("MESH_API", &api)
        .env("MESH_TOKEN", &a.token)
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert!(stdout_json(&env)["blob_bytes"].is_u64());

    // meshd refuses to serve with such a token.
    let dir = a.kill();
    let _ = std::fs::remove_file(dir.path().join(mesh_node::event_loop::NODE_INFO_FILE));
    let out = Command::new(meshd_binary())
        .args([
            "run",
            "--no-mdns",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--api",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("chmod 600") && err.contains("api.token"),
        "{err}"
    );
}

#[test]
fn meshd_keeps_its_data_directory_private() {
    let dir = init("sales", &[]);
    chmod(dir.path(), 0o755);
    chmod(&dir.path().join("meshd.toml"), 0o644);
    let a = run(dir, None, &[]);
    publish(&a, "orders", b"id\n1\n");
    let status = stdout_json(&mesh(Some(&a), &["status", "--json"]));
    assert_eq!(status["blob_bytes"], 5);
    let mut pending = vec![a.dir.path().to_owned()];
    while let Some(d) = pending.pop() {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                assert_eq!(mode(&entry.path()), 0o600, "{}", entry.path().display());
            }
        }
    }
}

/// A genesis naming the domain of `dir`, under the federation name `name`.
fn genesis(work: &Path, dir: &Path, name: &str) -> String {
    let path = work
        .join(format!("{name}.json"))
        .to_str()
        .unwrap()
        .to_owned();
    let member = dir.join("domain.json").to_str().unwrap().to_owned();
    let out = mesh(
        None,
        &[
            "federation",
            "create",
            "--name",
            name,
            "--member-file",
            &member,
            "-o",
            &path,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

fn second_run(dir: &Path, genesis: &str) -> std::process::Output {
    Command::new(meshd_binary())
        .args([
            "run",
            "--no-mdns",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--api",
            "127.0.0.1:0",
            "--genesis",
            genesis,
            "--data-dir",
        ])
        .arg(dir)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn a_refused_second_run_installs_no_genesis() {
    let work = tempfile::tempdir().unwrap();
    // A node running without a federation.
    let dir = init("sales", &[]);
    let other = genesis(work.path(), dir.path(), "other");
    let a = run(dir, None, &[]);
    let out = second_run(a.dir.path(), &other);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("locked"));
    assert!(
        !a.dir.path().join("genesis.json").exists(),
        "nothing installed"
    );
    drop(a);

    // A node running with one: the file stays byte for byte.
    let dir = init("billing", &[]);
    let first = genesis(work.path(), dir.path(), "acme");
    let second = genesis(work.path(), dir.path(), "rival");
    let b = run(dir, None, &["--genesis", &first]);
    let installed = std::fs::read(b.dir.path().join("genesis.json")).unwrap();
    let out = second_run(b.dir.path(), &second);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read(b.dir.path().join("genesis.json")).unwrap(),
        installed
    );
}

#[test]
fn a_fetch_resumed_after_a_restart_is_listed() {
    let a = start("sales", None);
    let b = start("billing", Some(&a.addr));
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 241) as u8).collect();
    let receipt = publish(&a, "orders", &data);
    let product = receipt["product"]["domain"].as_str().unwrap().to_owned() + "/orders";
    b.wait_until("/v1/products", |v| {
        v.as_array().is_some_and(|a| !a.is_empty())
    });
    // The only provider goes away: B's fetch waits for one.
    drop(a);
    let out = b.dir.path().join("orders.csv");
    let started = b.post("/v1/fetches", &json!({"product": product, "output": out}));
    assert_eq!(
        started.status,
        200,
        "{}",
        String::from_utf8_lossy(&started.body)
    );

    let b = run(b.kill(), None, &[]);
    let listed = b.wait_until("/v1/fetches", |v| {
        v.as_array().is_some_and(|a| !a.is_empty())
    });
    assert_eq!(listed[0]["product"]["name"], "orders");
    assert!(
        listed[0]["state"] == "Finding" || listed[0]["state"] == "Fetching",
        "{listed}"
    );
}
