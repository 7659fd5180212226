//! Governance that never wedges, over real nodes on loopback TCP: a
//! proposal that fails (3 yes, 3 no among six) or two that split the members
//! (4-4 among eight) leave the slot free, and a later proposal that every
//! member approves is decided by the members' consensus rounds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use mesh_protocol::governance::{Change, ProposalId, Quorum};
use mesh_protocol::policy::PolicyRule;
use mesh_tests::TestNode;
use mesh_tests::federation::{
    founders, start_all, wait_federation, wait_proposal, wait_proposal_where,
};

async fn federation(n: usize) -> Vec<TestNode> {
    let names: Vec<String> = (0..n).map(|i| format!("d{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (dirs, genesis) = founders(&refs, Quorum::TWO_THIRDS);
    let nodes = start_all(dirs, &genesis).await;
    for node in &nodes[1..] {
        node.wait_peers(1).await;
    }
    nodes
}

/// Proposes `change` on `nodes[0]` and waits until every node holds it.
async fn propose(nodes: &[TestNode], change: Change, ttl_ms: u64) -> (String, ProposalId) {
    let p = nodes[0]
        .handle
        .propose(change, "test".into(), ttl_ms)
        .await
        .unwrap();
    for node in nodes {
        wait_proposal(node, &p.id).await;
    }
    let id = p.id.parse().unwrap();
    (p.id, id)
}

/// Every node in `approve` approves, every other one rejects with a reason.
async fn vote(nodes: &[TestNode], id: ProposalId, approve: impl Fn(usize) -> bool) {
    for (i, node) in nodes.iter().enumerate() {
        let yes = approve(i);
        let reason = if yes { "" } else { "not like this" };
        node.handle.vote(id, yes, reason.into()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_vote_frees_the_slot_for_the_next_proposal() {
    let nodes = federation(6).await;
    // X: three approve, three reject (with reasons). Five of six are needed.
    let (x_text, x) = propose(&nodes, Change::AddPolicy(PolicyRule::RequireOwner), 15_000).await;
    vote(&nodes, x, |i| i < 3).await;
    for node in &nodes {
        let shown = wait_proposal_where(node, &x_text, |p| p.yes == 3 && p.no == 3).await;
        assert_eq!(shown.status, "rejected", "{}", shown.status_reason);
        assert_eq!(shown.votes.len(), 6);
        assert!(shown.votes.iter().any(|v| v.reason == "not like this"));
    }
    // Y, which everyone approves, including the three who approved X: the
    // old rule refused them ("already voted yes ... for slot 0").
    let (_, y) = propose(
        &nodes,
        Change::AddPolicy(PolicyRule::PiiNeverPublic),
        600_000,
    )
    .await;
    vote(&nodes, y, |_| true).await;
    let reference = wait_federation(&nodes[0], |v| v.version == 1).await;
    for node in &nodes {
        let view = wait_federation(node, |v| v.version == 1).await;
        assert_eq!(view.policies, ["pii-never-public"]);
        assert_eq!(view.head, reference.head, "one chain");
        assert_eq!(view.decisions[0].proposal, y.to_string());
        assert!(view.decisions[0].precommits >= 5);
        // The next slot is open and quiet: nothing is eligible in it.
        assert_eq!((view.slot.slot, view.slot.state.as_str()), (1, "waiting"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_between_two_proposals_does_not_wedge_the_slot() {
    let nodes = federation(8).await;
    // X and Y split the members 4-4; six of eight are needed.
    let (_, x) = propose(&nodes, Change::AddPolicy(PolicyRule::RequireOwner), 600_000).await;
    let (_, y) = propose(
        &nodes,
        Change::AddPolicy(PolicyRule::RequireQualityPromises),
        600_000,
    )
    .await;
    vote(&nodes, x, |i| i < 4).await;
    vote(&nodes, y, |i| i >= 4).await;
    for node in &nodes {
        for id in [x, y] {
            let p = wait_proposal_where(node, &id.to_string(), |p| p.yes + p.no == 8).await;
            assert_eq!(p.status, "rejected");
        }
    }
    // Z, which everyone approves, is decided.
    let (_, z) = propose(
        &nodes,
        Change::AddPolicy(PolicyRule::PiiNeverPublic),
        600_000,
    )
    .await;
    vote(&nodes, z, |_| true).await;
    for node in &nodes {
        let view = wait_federation(node, |v| v.version == 1).await;
        assert_eq!(view.policies, ["pii-never-public"]);
        assert_eq!(view.decisions[0].proposal, z.to_string());
    }
}
