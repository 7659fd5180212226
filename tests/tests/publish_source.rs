//! `mesh publish` of a source that is not a stable regular file: one
//! truncated or appended to while it is read is refused (never a hang,
//! never an orphan upload), a `/proc` file is published with its real
//! content, a FIFO is refused with the reason; the node itself bounds how
//! long a body may stall and refuses an upload that is not what the client
//! read.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test: a failed unwrap is a failed test"
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mesh_tests::cli::{mesh, stdout_json};
use mesh_tests::daemon::{Daemon, init, run, start};
use mesh_tests::{TIMEOUT, mesh_binary};
use serde_json::json;

/// Bytes of the file changed under the CLI: large enough that the upload
/// is still running when the test stops the CLI.
const BIG: u64 = 256 * 1024 * 1024;

fn big_file(dir: &Path) -> PathBuf {
    let path = dir.join("big.csv");
    let file = std::fs::File::create(&path).unwrap();
    // Sparse: quick to make, read as zeros.
    file.set_len(BIG).unwrap();
    path
}

/// The upload's partial file, once the node has started receiving it.
fn wait_partial(node: &Daemon, cli: &mut Child) -> PathBuf {
    let uploads = node.dir.path().join("uploads");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        // The directory appears once the API is ready (after node-info.json).
        if let Some(part) = std::fs::read_dir(&uploads)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "part"))
        {
            return part;
        }
        assert!(
            cli.try_wait().unwrap().is_none(),
            "mesh publish ended early"
        );
        assert!(Instant::now() < deadline, "the upload never started");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn signal(child: &Child, sig: &str) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success()
    );
}

/// Waits (bounded) for a process to end; kills it and fails if it hangs.
fn finish(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("mesh publish hung for over {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Waits (bounded) until the node's upload directory is empty.
fn wait_no_uploads(node: &Daemon) {
    let uploads = node.dir.path().join("uploads");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left: Vec<_> = std::fs::read_dir(&uploads).into_iter().flatten().collect();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "uploads left behind: {left:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Publishes `file` while `change` alters it mid-upload; returns what
/// `mesh publish` printed.
fn publish_changing(node: &Daemon, file: &Path, change: impl FnOnce(&Path)) -> Output {
    let mut cli = Command::new(mesh_binary())
        .arg("--data-dir")
        .arg(node.dir.path())
        .arg("publish")
        .arg(file)
        .args(["--name", "orders", "--title", "Orders", "--format", "csv"])
        .env_remove("MESH_API")
        .env_remove("MESH_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let part = wait_partial(node, &mut cli);
    // Freeze the CLI mid-file, change the file, let it go on.
    signal(&cli, "-STOP");
    let received = std::fs::metadata(&part).map_or(0, |m| m.len());
    assert!(
        received + 64 * 1024 * 1024 < BIG,
        "the CLI had nearly finished before it could be stopped ({received} bytes)"
    );
    change(file);
    signal(&cli, "-CONT");
    finish(cli, Duration::from_secs(120))
}

fn refused_as_changed(out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("changed while it was being published"),
        "{err}"
    );
    assert!(err.contains("nothing was published"), "{err}");
}

#[test]
fn a_file_truncated_or_appended_while_published_is_refused_without_leftovers() {
    let node = start("sales", None);
    let dir = tempfile::tempdir().unwrap();

    let file = big_file(dir.path());
    let truncated = publish_changing(&node, &file, |f| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(f)
            .unwrap()
            .set_len(BIG / 2)
            .unwrap();
    });
    refused_as_changed(&truncated);
    wait_no_uploads(&node);

    let file = big_file(dir.path());
    let appended = publish_changing(&node, &file, |f| {
        let mut out = std::fs::OpenOptions::new().append(true).open(f).unwrap();
        out.write_all(&vec![b'x'; 1024 * 1024]).unwrap();
    });
    refused_as_changed(&appended);
    wait_no_uploads(&node);

    // Nothing was published by either.
    let listed = stdout_json(&mesh(Some(&node), &["list", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 0, "{listed}");
}

#[test]
fn proc_files_publish_their_content_and_fifos_are_refused() {
    let node = start("sales", None);
    let out = mesh(
        Some(&node),
        &[
            "publish",
            "/proc/self/status",
            "--name",
            "status",
            "--title",
            "S",
            "--format",
            "csv",
            "--json",
        ],
    );
    let receipt = stdout_json(&out);
    let size = receipt["size"].as_u64().unwrap();
    assert!(size > 0, "an empty product was published: {receipt}");
    let blob = node
        .dir
        .path()
        .join("blobs")
        .join(receipt["manifest_hash"].as_str().unwrap());
    let bytes = std::fs::read(blob).unwrap();
    assert_eq!(bytes.len() as u64, size);
    assert!(
        bytes.starts_with(b"Name:\tmesh"),
        "{}",
        String::from_utf8_lossy(&bytes)
    );

    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let out = mesh(
        Some(&node),
        &[
            "publish",
            fifo.to_str().unwrap(),
            "--name",
            "pipe",
            "--title",
            "P",
            "--format",
            "csv",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("it is a FIFO"), "{err}");
}

#[test]
fn the_node_refuses_an_upload_that_is_not_what_the_client_read() {
    let node = start("sales", None);
    let upload = node.upload(b"id,amount\n1,2\n");
    let draft = json!({"name": "orders", "title": "Orders", "format": "Csv"});
    let wrong = node.post(
        "/v1/publish",
        &json!({"upload_id": upload, "draft": draft, "size": 15, "blake3": "00".repeat(32)}),
    );
    assert_eq!(
        wrong.status,
        409,
        "{}",
        String::from_utf8_lossy(&wrong.body)
    );
    assert_eq!(wrong.json().unwrap()["code"], "upload_mismatch");
    // The upload is gone; nothing was published.
    let again = node.post("/v1/publish", &json!({"upload_id": upload, "draft": draft}));
    assert_eq!(again.status, 404);
    wait_no_uploads(&node);
}

#[test]
fn a_stalled_upload_body_is_cut_and_removed() {
    let dir = init("sales", &[]);
    let config = dir.path().join("meshd.toml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("body_timeout_secs = 30", "body_timeout_secs = 2");
    std::fs::write(&config, text).unwrap();
    let node = run(dir, None, &[]);
    let mut stream = TcpStream::connect(node.api).unwrap();
    let head = format!(
        "POST /v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Transfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n4\r\nabcd\r\n",
        node.token
    );
    stream.write_all(head.as_bytes()).unwrap();
    // ... and nothing more. The node answers (or closes) within its body
    // timeout, and keeps nothing.
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the stalled body was never cut"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    wait_no_uploads(&node);
}
