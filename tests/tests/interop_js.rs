//! A js-libp2p peer (`tests/js/peer.mjs`, gossipsub with its default
//! settings: signed messages, its own message ids, its limits) between two
//! nodes that reach each other only through it: it receives a node's
//! announcement, forwards it to the other, and both nodes take one it
//! publishes. `scripts/setup.sh` installs its packages (`npm ci`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers shared by tests: a failed unwrap is a failed test"
)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use mesh_node::ProductDraft;
use mesh_node::network::gossip;
use mesh_protocol::descriptor::Format;
use mesh_protocol::wire::GossipMessage;
use mesh_protocol::{CatalogItem, Signed};
use mesh_tests::gossip_peer::GossipPeer;
use mesh_tests::{TIMEOUT, TestNode, Transport, sample_file};
use serde_json::Value;

/// The js peer's process, its event lines and its command input.
struct JsPeer {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Drop for JsPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl JsPeer {
    fn start(topic: &str, dial: &[String]) -> Self {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("js");
        assert!(
            dir.join("node_modules").exists(),
            "the js peer's packages are missing: run scripts/setup.sh (npm ci in tests/js)"
        );
        let mut child = Command::new("node")
            .arg("peer.mjs")
            .arg(topic)
            .args(dial)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs (Node.js 20 or later)");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        // Ends when the process closes its stdout (it stops by itself
        // after 120 s at the latest).
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send(v).is_err()
                {
                    return;
                }
            }
        });
        Self { child, lines }
    }

    /// The first event line `pick` takes, waiting at most the test timeout.
    fn wait<T>(&self, mut pick: impl FnMut(&Value) -> Option<T>) -> T {
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .expect("the js peer said nothing in time");
            assert_ne!(line["event"], "error", "js peer: {line}");
            if let Some(found) = pick(&line) {
                return found;
            }
        }
    }

    fn publish(&mut self, bytes: &[u8]) {
        let hex = bytes.iter().fold(String::new(), |mut hex, b| {
            use std::fmt::Write as _;
            let _ = write!(hex, "{b:02x}");
            hex
        });
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "publish {hex}").unwrap();
        stdin.flush().unwrap();
    }
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_js_libp2p_peer_receives_forwards_and_publishes_announcements() {
    let mut a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let mut b = TestNode::start("billing", Transport::Tcp, vec![]).await;
    // A domain and a node binding to seal the js peer's announcement with
    // (this peer never dials anyone).
    let domain_peer = GossipPeer::new(libp2p::gossipsub::Config::default(), [68; 32]);
    let topic = domain_peer.topic.to_string();
    let js = tokio::task::block_in_place(|| {
        let js = JsPeer::start(&topic, &[a.addr.to_string(), b.addr.to_string()]);
        js.wait(|v| (v["event"] == "mesh" && v["peers"] == 2).then_some(()));
        js
    });
    let mut js = js;
    assert_eq!(a.handle.status().await.unwrap().peers, 1);
    assert_eq!(b.handle.status().await.unwrap().peers, 1);

    // 1. A's announcement reaches the js peer, which forwards it to B.
    let file = sample_file(a.dir.path(), "orders.csv", 1_000);
    let orders = a
        .handle
        .publish(&file, ProductDraft::new("orders", "Orders", Format::Csv))
        .await
        .unwrap();
    let a_peer = a.handle.status().await.unwrap().peer_id;
    let data = tokio::task::block_in_place(|| {
        js.wait(|v| {
            (v["event"] == "message" && v["from"] == a_peer.as_str())
                .then(|| v["data"].as_str().unwrap().to_owned())
        })
    });
    let opened = gossip::open(&unhex(&data), mesh_node::clock::now()).unwrap();
    assert!(
        matches!(&opened.message, GossipMessage::Catalog(item) if item.product() == &orders.product)
    );
    b.wait_for_version(&orders.product, 1).await;

    // 2. An announcement the js peer publishes itself, under its own
    //    gossipsub signature, carrying an envelope sealed by a domain's node
    //    (made here: the js peer need not understand what it carries). Both
    //    nodes check it as any other and take it.
    let own = domain_peer.descriptor("weather", 1);
    let own_id = own.id.clone();
    js.publish(&domain_peer.envelope(CatalogItem::Descriptor(Signed::sign(
        own,
        &domain_peer.domain,
    ))));
    a.wait_for_version(&own_id, 1).await;
    b.wait_for_version(&own_id, 1).await;
    for node in [&a, &b] {
        let status = node.handle.status().await.unwrap();
        assert_eq!(status.counters.gossip_rejected, 0, "{:?}", status.counters);
    }
    drop(js);
}
