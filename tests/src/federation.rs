//! Federations of real nodes for the governance tests: data dirs with
//! identities and a genesis naming them, nodes started on loopback, and
//! bounded waits on what a node's federation shows.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test harness: a failed unwrap is a failed test"
)]

use std::collections::BTreeSet;
use std::time::Duration;

use libp2p::Multiaddr;
use mesh_node::governance::{FederationView, GENESIS_FILE, ProposalView};
use mesh_protocol::Timestamp;
use mesh_protocol::governance::{Genesis, Member, Quorum};

use crate::{TIMEOUT, TestNode, Transport, loopback_config};

/// Data dirs with identities for `names`, and the genesis naming them.
pub fn founders(names: &[&str], quorum: Quorum) -> (Vec<tempfile::TempDir>, Genesis) {
    let mut dirs = Vec::new();
    let mut members = Vec::new();
    for name in names {
        let dir = tempfile::tempdir().unwrap();
        let id = mesh_node::identity::init(dir.path(), name).unwrap();
        members.push(Member {
            name: (*name).to_owned(),
            key: id.domain.public(),
        });
        dirs.push(dir);
    }
    let genesis = Genesis::new("acme", members, quorum, BTreeSet::new(), Timestamp(1)).unwrap();
    (dirs, genesis)
}

/// A data dir that joins `genesis`; `domain` need not be a member.
pub fn joining(domain: &str, genesis: &Genesis) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    mesh_node::identity::init(dir.path(), domain).unwrap();
    install(&dir, genesis);
    dir
}

/// Writes the genesis file into a data dir.
pub fn install(dir: &tempfile::TempDir, genesis: &Genesis) {
    std::fs::write(
        dir.path().join(GENESIS_FILE),
        serde_json::to_string(genesis).unwrap(),
    )
    .unwrap();
}

/// Starts every data dir in `genesis`'s federation, each dialing the first.
pub async fn start_all(dirs: Vec<tempfile::TempDir>, genesis: &Genesis) -> Vec<TestNode> {
    let mut nodes: Vec<TestNode> = Vec::new();
    for dir in dirs {
        install(&dir, genesis);
        let bootstrap = nodes
            .first()
            .map(|n| vec![n.addr.clone()])
            .unwrap_or_default();
        nodes.push(start(dir, bootstrap).await);
    }
    nodes
}

/// Starts one node over TCP on loopback.
pub async fn start(dir: tempfile::TempDir, bootstrap: Vec<Multiaddr>) -> TestNode {
    TestNode::start_in(dir, loopback_config(Transport::Tcp, bootstrap)).await
}

/// Polls (bounded) until `check` holds for the node's federation view.
pub async fn wait_federation(
    node: &TestNode,
    check: impl Fn(&FederationView) -> bool,
) -> FederationView {
    let wait = async {
        let mut events = node.handle.subscribe();
        loop {
            let view = node.handle.federation().await.unwrap();
            if check(&view) {
                return view;
            }
            // Wake on any event, or re-check every 100 ms.
            let _ = tokio::time::timeout(Duration::from_millis(100), events.recv()).await;
        }
    };
    tokio::time::timeout(TIMEOUT, wait)
        .await
        .expect("federation never got there")
}

/// Polls (bounded) until the node's proposal `id` passes `check`.
pub async fn wait_proposal_where(
    node: &TestNode,
    id: &str,
    check: impl Fn(&ProposalView) -> bool,
) -> ProposalView {
    let wait = async {
        loop {
            let found = node
                .handle
                .proposals()
                .await
                .unwrap()
                .into_iter()
                .find(|p| p.id == id && check(p));
            if let Some(p) = found {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(TIMEOUT, wait)
        .await
        .expect("proposal never got there")
}

/// Polls (bounded) until the node holds proposal `id`.
pub async fn wait_proposal(node: &TestNode, id: &str) {
    wait_proposal_where(node, id, |_| true).await;
}
