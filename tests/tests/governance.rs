//! Federated governance across real nodes on loopback TCP: ratification,
//! enforcement, catch-up of a late joiner, and a partition that cannot
//! produce two conflicting decisions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use std::time::Duration;

use mesh_node::NodeError;
use mesh_node::draft::ProductDraft;
use mesh_protocol::descriptor::{Format, Owner};
use mesh_protocol::governance::{Change, ProposalId, Quorum};
use mesh_protocol::policy::PolicyRule;
use mesh_tests::federation::{
    founders, install, joining, start, start_all, wait_federation, wait_proposal,
};
use mesh_tests::{TestNode, Transport, loopback_config, sample_file};

fn draft(name: &str, owner: bool) -> ProductDraft {
    let mut d = ProductDraft::new(name, "A product", Format::Csv);
    if owner {
        d.owner = Owner {
            name: "Data team".into(),
            email: "data@example.com".into(),
        };
    }
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_members_ratify_a_policy_and_every_node_enforces_it() {
    let names = ["sales", "billing", "logistics", "finance", "hr"];
    let (dirs, genesis) = founders(&names, Quorum::TWO_THIRDS);
    let nodes = start_all(dirs, &genesis).await;
    for node in &nodes[1..] {
        node.wait_peers(1).await;
    }
    // A product without an owner, published before the rule exists.
    let file = sample_file(nodes[0].dir.path(), "a.csv", 10_000);
    let receipt = nodes[0]
        .handle
        .publish(&file, draft("ownerless", false))
        .await
        .unwrap();
    for node in &nodes {
        node.wait_known(&receipt.product).await;
    }

    let proposal = nodes[1]
        .handle
        .propose(
            Change::AddPolicy(PolicyRule::RequireOwner),
            "owners matter".into(),
            600_000,
        )
        .await
        .unwrap();
    let id: ProposalId = proposal.id.parse().unwrap();
    for node in &nodes {
        wait_proposal(node, &proposal.id).await;
    }
    // Four of five is more than two thirds: the fourth approval makes the
    // proposal eligible, and the members' rounds decide the slot.
    for node in &nodes[..3] {
        let receipt = node.handle.vote(id, true, String::new()).await.unwrap();
        assert!(!receipt.ratified);
    }
    // Whichever node sees a quorum of precommits first assembles the
    // certificate, and every node applies it.
    nodes[3].handle.vote(id, true, String::new()).await.unwrap();
    for node in &nodes {
        let view = wait_federation(node, |v| v.version == 1).await;
        assert_eq!(view.policies, ["require-owner"]);
        assert!(view.member);
        // Every node re-checked its catalog: the ownerless product is flagged.
        let compliance = node
            .handle
            .compliance(Some(vec![receipt.product.clone()]))
            .await
            .unwrap();
        assert!(!compliance[0].compliant);
        assert!(
            compliance[0]
                .issues
                .iter()
                .any(|i| i.rule == "require-owner")
        );
    }
    // Publishing without an owner is refused everywhere, with the reason.
    let file = sample_file(nodes[2].dir.path(), "b.csv", 1_000);
    match nodes[2]
        .handle
        .publish(&file, draft("another", false))
        .await
    {
        Err(NodeError::Policy(issues)) => {
            assert!(
                issues.iter().any(|i| i.rule == "require-owner"),
                "{issues:?}"
            );
        }
        other => panic!("expected a policy refusal, got {other:?}"),
    }
    let ok = nodes[2]
        .handle
        .publish(&file, draft("another", true))
        .await
        .unwrap();
    assert_eq!(ok.version, 1);
    // A vote on a decided slot's proposal is refused (it is settled).
    assert!(nodes[4].handle.vote(id, true, String::new()).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_cannot_vote_and_a_late_joiner_catches_up() {
    let names = ["sales", "billing", "logistics"];
    let (dirs, genesis) = founders(&names, Quorum::TWO_THIRDS);
    let nodes = start_all(dirs, &genesis).await;
    let observer = start(joining("audit", &genesis), vec![nodes[0].addr.clone()]).await;
    for node in nodes[1..].iter().chain([&observer]) {
        node.wait_peers(1).await;
    }
    assert!(matches!(
        observer
            .handle
            .propose(
                Change::AddPolicy(PolicyRule::RequireOwner),
                String::new(),
                60_000
            )
            .await,
        Err(NodeError::Governance(
            mesh_node::governance::GovernanceError::NotMember(_)
        ))
    ));
    // Two decisions while the observer watches.
    for rule in [PolicyRule::RequireOwner, PolicyRule::PiiNeverPublic] {
        let p = nodes[0]
            .handle
            .propose(Change::AddPolicy(rule), String::new(), 600_000)
            .await
            .unwrap();
        let id: ProposalId = p.id.parse().unwrap();
        for node in nodes.iter().chain([&observer]) {
            wait_proposal(node, &p.id).await;
        }
        assert!(matches!(
            observer.handle.vote(id, true, String::new()).await,
            Err(NodeError::Governance(
                mesh_node::governance::GovernanceError::NotMember(_)
            ))
        ));
        for node in &nodes {
            node.handle.vote(id, true, String::new()).await.unwrap();
        }
        for node in nodes.iter().chain([&observer]) {
            wait_federation(node, |v| v.version == p.base_version + 1).await;
        }
    }
    let reference = nodes[0].handle.federation().await.unwrap();
    assert_eq!(reference.version, 2);
    let seen = observer.handle.federation().await.unwrap();
    assert_eq!(
        (seen.head.as_str(), seen.member),
        (reference.head.as_str(), false)
    );

    // A node that joins now verifies the whole chain from genesis.
    let late = start(joining("latecomer", &genesis), vec![nodes[1].addr.clone()]).await;
    let view = wait_federation(&late, |v| v.version == 2).await;
    assert_eq!(view.head, reference.head);
    assert_eq!(view.policies, reference.policies);
    // Its non-member products are flagged as such everywhere.
    let file = sample_file(late.dir.path(), "x.csv", 100);
    let refused = late.handle.publish(&file, draft("mine", true)).await;
    assert!(
        matches!(refused, Err(NodeError::Policy(ref i)) if i[0].rule == "membership"),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_decides_at_most_once_and_heals_to_one_chain() {
    // Quorum: more than half. Three of five can decide; two cannot.
    let names = ["a", "b", "c", "d", "e"];
    let quorum: Quorum = "1/2".parse().unwrap();
    let (mut dirs, genesis) = founders(&names, quorum);
    let minority_dirs = dirs.split_off(3);
    let majority = start_all(dirs, &genesis).await;
    let minority = start_all(minority_dirs, &genesis).await;
    for node in majority[1..].iter().chain(&minority[1..]) {
        node.wait_peers(1).await;
    }
    // Conflicting proposals for the same slot, one on each side.
    let left = majority[0]
        .handle
        .propose(
            Change::AddPolicy(PolicyRule::RequireOwner),
            "left".into(),
            600_000,
        )
        .await
        .unwrap();
    let right = minority[0]
        .handle
        .propose(
            Change::SetQuorum("3/4".parse().unwrap()),
            "right".into(),
            600_000,
        )
        .await
        .unwrap();
    assert_eq!((left.base_version, right.base_version), (0, 0));
    for node in &majority {
        wait_proposal(node, &left.id).await;
    }
    for node in &minority {
        wait_proposal(node, &right.id).await;
    }
    for node in &minority {
        let r = node
            .handle
            .vote(right.id.parse().unwrap(), true, String::new())
            .await
            .unwrap();
        assert!(!r.ratified, "two of five cannot decide");
    }
    for node in &majority {
        node.handle
            .vote(left.id.parse().unwrap(), true, String::new())
            .await
            .unwrap();
    }
    for node in &majority {
        wait_federation(node, |v| v.version == 1).await;
    }
    // Heal: the minority dials the majority and catches up.
    minority[0]
        .handle
        .dial(majority[0].addr.clone())
        .await
        .unwrap();
    let reference = majority[0].handle.federation().await.unwrap();
    for node in majority.iter().chain(&minority) {
        let view = wait_federation(node, |v| v.version == 1).await;
        assert_eq!(view.head, reference.head, "one chain");
        assert_eq!(view.policies, ["require-owner"]);
        assert_eq!(
            view.quorum, reference.quorum,
            "the rival change never applied"
        );
        // The rival proposal's slot is decided; it is gone.
        assert!(
            node.handle
                .proposals()
                .await
                .unwrap()
                .iter()
                .all(|p| p.id != right.id)
        );
    }
    // Slot 0 is settled: its proposals take no more votes.
    assert!(
        minority[1]
            .handle
            .vote(left.id.parse().unwrap(), true, String::new())
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_reaches_thirty_members_on_one_host() {
    // Thirty peers on 127.0.0.1 used to cross gossipsub's IP-colocation
    // threshold and graylist each other, silently dropping subscriptions.
    // Anti-entropy is slowed to a minute so only gossip can deliver here.
    let names: Vec<String> = (0..30).map(|i| format!("d{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (dirs, genesis) = founders(&refs, Quorum::TWO_THIRDS);
    let mut nodes: Vec<TestNode> = Vec::new();
    for dir in dirs {
        install(&dir, &genesis);
        let bootstrap = nodes.iter().rev().take(3).map(|n| n.addr.clone()).collect();
        let mut config = loopback_config(Transport::Tcp, bootstrap);
        config.network.sync_interval_ms = 60_000;
        nodes.push(TestNode::start_in(dir, config).await);
    }
    for node in &nodes[1..] {
        node.wait_peers(3).await;
    }
    // Let several gossipsub heartbeats (500 ms) score the peers, so that a
    // colocation penalty, if any, is in force when the proposal goes out.
    // This wait can only make the test fail, never pass by luck.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let proposal = nodes[0]
        .handle
        .propose(
            Change::AddPolicy(PolicyRule::RequireOwner),
            String::new(),
            600_000,
        )
        .await
        .unwrap();
    for node in &nodes {
        wait_proposal(node, &proposal.id).await;
    }
}
