//! The `meshd` binary as an operator runs it: init, run, signals, crashes.
#![allow(
    clippy::unwrap_used,
    reason = "helpers shared by tests: a failed unwrap is a failed test"
)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mesh_node::identity;
use mesh_tests::{TestNode, Transport, meshd_binary, sample_file};

fn meshd(args: &[&str]) -> Command {
    let mut cmd = Command::new(meshd_binary());
    cmd.args(args).env("RUST_LOG", "warn");
    cmd
}

/// `meshd run` on data dir `d`, on loopback ports of the OS's choosing.
fn run(d: &str) -> Command {
    meshd(&[
        "run",
        "--data-dir",
        d,
        "--no-mdns",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--api",
        "127.0.0.1:0",
    ])
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "meshd did not exit in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn init_refuses_to_overwrite_and_run_exits_zero_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = meshd(&["init", "--data-dir", d, "--domain", "sales"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key_before = std::fs::read(dir.path().join(identity::DOMAIN_KEY_FILE)).unwrap();

    let again = meshd(&["init", "--data-dir", d, "--domain", "sales"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("refusing to overwrite"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");
    assert_eq!(
        std::fs::read(dir.path().join(identity::DOMAIN_KEY_FILE)).unwrap(),
        key_before
    );

    let mut child = run(d).stderr(Stdio::null()).spawn().unwrap();
    let info = mesh_tests::wait_node_info(dir.path(), &mut child);
    assert!(info["peer_id"].as_str().unwrap().starts_with("12D3"));

    // A second daemon on the same data dir is refused and changes nothing.
    let second = run(d).output().unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("locked"), "{err}");

    signal(&child, "-TERM");
    let status = wait_exit(&mut child);
    assert_eq!(status.code(), Some(0));
    assert!(
        !dir.path()
            .join(mesh_node::event_loop::NODE_INFO_FILE)
            .exists(),
        "info file removed on clean exit"
    );
}

#[test]
fn corrupt_key_and_bad_config_give_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    assert!(
        meshd(&["init", "--data-dir", d, "--domain", "sales"])
            .status()
            .unwrap()
            .success()
    );

    std::fs::write(dir.path().join("meshd.toml"), "[network]\nlisen = []\n").unwrap();
    let out = meshd(&["run", "--data-dir", d, "--api", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid config"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    std::fs::remove_file(dir.path().join("meshd.toml")).unwrap();
    std::fs::write(dir.path().join(identity::NODE_KEY_FILE), "not hex").unwrap();
    let out = meshd(&["run", "--data-dir", d, "--api", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("corrupt key file"), "{err}");

    let out = meshd(&["run", "--no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_publish_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    identity::init(dir.path(), "sales").unwrap();
    let file = sample_file(dir.path(), "orders.csv", 200_000);
    let mut child = Command::new(env!("CARGO_BIN_EXE_publish-and-hold"))
        .args([
            dir.path().to_str().unwrap(),
            file.to_str().unwrap(),
            "orders",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "PUBLISHED 1");
    signal(&child, "-KILL");
    wait_exit(&mut child);

    let node = TestNode::start_in(dir, mesh_tests::loopback_config(Transport::Tcp, vec![])).await;
    let product = mesh_protocol::ProductId {
        domain: node.handle.domain(),
        name: "orders".into(),
    };
    assert_eq!(node.current_version(&product).await, 1);
}

/// Logs that go to a file or a pipe (journald, `2>log`) carry plain text:
/// no terminal colour codes.
#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let dir = mesh_tests::daemon::init("sales", &[]);
    let d = dir.path().to_str().unwrap();
    let mut child = run(d)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Ends when the daemon exits and its stderr closes.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("listening")) {
        let left = deadline.saturating_duration_since(Instant::now());
        seen.push(
            rx.recv_timeout(left)
                .expect("meshd logged its listen address"),
        );
    }
    signal(&child, "-TERM");
    wait_exit(&mut child);
    seen.extend(rx.try_iter());
    assert!(
        seen.iter().all(|l| !l.contains('\u{1b}')),
        "colour codes in piped logs: {seen:?}"
    );
    assert!(seen.iter().any(|l| l.contains("INFO")), "{seen:?}");
}
