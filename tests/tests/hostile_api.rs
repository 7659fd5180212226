//! The local API under hostile local connections: half-sent requests held
//! open by another process (this test) neither take the API down nor starve
//! the node of file descriptors, and are closed by the node after its header
//! timeout.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers shared by tests: a failed unwrap is a failed test"
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mesh_tests::daemon::{Daemon, init, run};
use serde_json::{Value, json};

/// Half-open connections the attacker keeps.
const HOSTILE: usize = 500;

/// Initialises `domain` with these `[api.limits]` and runs it.
fn start_with_limits(domain: &str, bootstrap: Option<&str>, limits: &str) -> Daemon {
    let dir = init(domain, &[]);
    let config = dir.path().join("meshd.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let start = text
        .find("[api.limits]")
        .expect("the template has [api.limits]");
    let end = text[start..]
        .find("\n[serve]")
        .map_or(text.len(), |i| start + i);
    let text = format!("{}[api.limits]\n{limits}\n{}", &text[..start], &text[end..]);
    std::fs::write(&config, text).unwrap();
    run(dir, bootstrap, &[])
}

/// A connection that sent half a request line and then nothing.
fn half_open(api: SocketAddr) -> Option<TcpStream> {
    let mut stream = TcpStream::connect_timeout(&api, Duration::from_secs(5)).ok()?;
    stream.write_all(b"GET /health HT").ok()?;
    Some(stream)
}

/// Keeps `n` half-open connections to `api` from another thread,
/// reopening those the node closes, until `stop` is set; then returns
/// the last ones.
fn attack(
    api: SocketAddr,
    n: usize,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<TcpStream>> {
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = (0..n).filter_map(|_| half_open(api)).collect();
        while !stop.load(Ordering::Relaxed) {
            for slot in &mut held {
                slot.set_nonblocking(true).unwrap();
                let mut byte = [0u8; 1];
                // EOF, a reset, or an answer (the node then closes it).
                let closed = match slot.peek(&mut byte) {
                    Ok(_) => true,
                    Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                };
                if closed && let Some(fresh) = half_open(api) {
                    *slot = fresh;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for slot in &held {
            slot.set_nonblocking(false).unwrap();
        }
        held
    })
}

/// Reads until the node closes `stream`; whether it did within `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false;
            }
            // A reset is a close too.
            Err(_) => return true,
        }
    }
}

fn publish(d: &Daemon, name: &str, data: &[u8]) -> Value {
    d.publish_csv(name, data)
}

/// Open descriptors of the `meshd` serving `d`.
fn open_files(d: &Daemon) -> usize {
    let info: Value = serde_json::from_str(
        &std::fs::read_to_string(d.dir.path().join(mesh_node::event_loop::NODE_INFO_FILE)).unwrap(),
    )
    .unwrap();
    let pid = info["pid"].as_u64().unwrap();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn half_open_connections_neither_block_the_api_nor_the_node_and_time_out() {
    let a = start_with_limits("sales", None, "header_read_timeout_secs = 3");
    let b = start_with_limits("billing", Some(&a.addr), "header_read_timeout_secs = 3");
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = attack(a.api, HOSTILE, stop.clone());

    // While 500 half-sent requests are held open (and reopened as the
    // node closes them): health, a publish and a peer's fetch all work.
    let health = a.get("/health");
    assert_eq!(health.status, 200);
    assert_eq!(health.json().unwrap()["status"], "ok");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    let receipt = publish(&a, "orders", &data);
    let product = receipt["product"]["domain"].as_str().unwrap().to_owned() + "/orders";
    b.wait_until("/v1/products?text=orders", |v| {
        v.as_array().is_some_and(|a| !a.is_empty())
    });
    let out = b.dir.path().join("orders.csv");
    let started = b.post("/v1/fetches", &json!({"product": product, "output": out}));
    assert_eq!(
        started.status,
        200,
        "{}",
        String::from_utf8_lossy(&started.body)
    );
    let id = started.json().unwrap()["id"].as_u64().unwrap();
    b.wait_until(&format!("/v1/fetches/{id}"), |p| p["state"] == "Done");
    assert_eq!(std::fs::read(&out).unwrap(), data);

    // The node closes every half-sent request after its header timeout.
    stop.store(true, Ordering::Relaxed);
    let held = attacker.join().unwrap();
    assert!(
        held.len() >= HOSTILE * 9 / 10,
        "only {} connected",
        held.len()
    );
    let still_open = held
        .into_iter()
        .filter(|s| !closed_within(&mut s.try_clone().unwrap(), Duration::from_secs(15)))
        .count();
    assert_eq!(
        still_open, 0,
        "{still_open} half-open connections never closed"
    );
    assert_eq!(a.get("/health").status, 200);
}

#[test]
fn connections_beyond_the_cap_wait_without_costing_descriptors() {
    let a = start_with_limits(
        "sales",
        None,
        "header_read_timeout_secs = 2\nmax_connections = 50",
    );
    let baseline = open_files(&a);
    let held: Vec<TcpStream> = (0..200).filter_map(|_| half_open(a.api)).collect();
    assert!(held.len() >= 180, "only {} connected", held.len());
    // The node holds at most the cap's worth of them; the rest wait in the
    // kernel's backlog.
    let during = open_files(&a);
    assert!(
        during <= baseline + 50 + 16,
        "{during} descriptors open with {} hostile connections (baseline {baseline}, cap 50)",
        held.len()
    );
    // And the API still answers: the header timeout frees slots, and the
    // waiting connections are served in turn (bounded by the harness).
    let answer = mesh_node::api::client::call(a.api, "GET", "/health", None, None).unwrap();
    assert_eq!(answer.status, 200);
    drop(held);
}
