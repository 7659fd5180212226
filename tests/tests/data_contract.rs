//! Data-aware products between real nodes over TCP on loopback: the
//! publisher signs a profile of its data, a consumer recomputes it from the
//! verified bytes, a false profile is disputed with the evidence kept across
//! a restart, and a federation's `data-conforms` rule refuses a breaking
//! publish on every node.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use mesh_node::ProductDraft;
use mesh_node::node::{NodeError, NodeEvent};
use mesh_node::profiling::ProfileCheck;
use mesh_node::store::{RocksStore, Store};
use mesh_protocol::contract::Constraints;
use mesh_protocol::descriptor::{DataType, Field, Format};
use mesh_protocol::governance::{Change, ProposalId, Quorum};
use mesh_protocol::policy::PolicyRule;
use mesh_protocol::profile::Check;
use mesh_protocol::{CatalogItem, ProductId, Signed};
use mesh_tests::federation::{founders, start_all, wait_federation, wait_proposal};
use mesh_tests::{TestNode, Transport, wait_for};

const CLEAN: &str = "id,email,amount\n1,a@x.org,10\n2,b@x.org,20\n3,c@x.org,30\n";
/// Row 2 has no id (declared not null), row 3 a bad email and a
/// non-number amount.
const BROKEN: &str = "id,email,amount\n1,a@x.org,10\n,b@x.org,20\n3,nope,lots\n";

fn draft(name: &str) -> ProductDraft {
    let mut d = ProductDraft::new(name, "Orders", Format::Csv);
    let mut email = Field::new("email", DataType::String, true);
    email.constraints = Constraints {
        pattern: Some("[a-z]+@[a-z.]+".into()),
        ..Constraints::default()
    };
    d.schema.fields = vec![
        Field::new("id", DataType::Int64, false),
        email,
        Field::new("amount", DataType::Int64, true),
    ];
    d
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

async fn descriptor(node: &TestNode, product: &ProductId) -> mesh_protocol::SignedDescriptor {
    match node.handle.get(product.clone()).await.unwrap() {
        Some(CatalogItem::Descriptor(d)) => d,
        other => panic!("no descriptor for {product}: {other:?}"),
    }
}

/// Fetches `product` on `node` into a file and returns the profile verdict.
async fn fetch(node: &TestNode, product: &ProductId, out: &std::path::Path) -> ProfileCheck {
    let job = node.handle.fetch(product.clone(), None, out).await.unwrap();
    let progress = job.progress.clone();
    job.finish().await.unwrap();
    let verdict = progress.borrow().profile.clone();
    verdict.expect("a finished fetch reports the profile check")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_recomputes_the_signed_profile_and_it_matches() {
    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let c = TestNode::start("audit", Transport::Tcp, vec![a.addr.clone()]).await;
    c.wait_peers(1).await;
    let file = write(a.dir.path(), "orders.csv", CLEAN);
    let receipt = a.handle.publish(&file, draft("orders")).await.unwrap();
    let signed = descriptor(&a, &receipt.product).await;
    let profile = signed.value.profile.clone().expect("a csv is profiled");
    assert!(profile.conforms(), "{:?}", profile.violations);
    assert_eq!(profile.rows, 3);
    assert_eq!(profile.fields[0].min.as_deref(), Some("1"));
    assert_eq!(profile.fields[0].max.as_deref(), Some("3"));
    assert_eq!(
        (profile.fields[1].distinct, profile.fields[1].distinct_exact),
        (3, true)
    );
    c.wait_known(&receipt.product).await;
    let out = c.dir.path().join("orders-copy.csv");
    assert_eq!(
        fetch(&c, &receipt.product, &out).await,
        ProfileCheck::Matches
    );
    assert!(c.handle.profile_disputes().is_empty());
    // The check re-run on the held copy says the same.
    let report = c.handle.check(receipt.product.clone(), None).await.unwrap();
    assert!(report.conforms);
    assert_eq!(report.signed, ProfileCheck::Matches);
    assert_eq!(report.profile, profile);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_contract_is_published_honestly_with_every_violation() {
    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let file = write(a.dir.path(), "orders.csv", BROKEN);
    let receipt = a.handle.publish(&file, draft("orders")).await.unwrap();
    let profile = descriptor(&a, &receipt.product)
        .await
        .value
        .profile
        .unwrap();
    let found: Vec<(Option<&str>, Check, u64, Vec<u64>)> = profile
        .violations
        .iter()
        .map(|v| (v.field.as_deref(), v.check, v.count, v.first_rows.clone()))
        .collect();
    assert_eq!(
        found,
        vec![
            (Some("id"), Check::NotNull, 1, vec![2]),
            (Some("email"), Check::Pattern, 1, vec![3]),
            (Some("amount"), Check::Type, 1, vec![3]),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_false_profile_is_disputed_and_the_evidence_survives_a_restart() {
    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let file = write(a.dir.path(), "orders.csv", CLEAN);
    let receipt = a.handle.publish(&file, draft("orders")).await.unwrap();
    let honest = descriptor(&a, &receipt.product).await;
    // The owner signs a second version over the same bytes with a doctored
    // profile (one row more than the file has), straight into its store.
    let a_dir = a.stop().await;
    let identity = mesh_node::identity::load(a_dir.path()).unwrap();
    let mut doctored = honest.value.clone();
    doctored.version = 2;
    if let Some(p) = doctored.profile.as_mut() {
        p.rows += 1;
    }
    {
        let store = RocksStore::open(&a_dir.path().join("db")).unwrap();
        let item = CatalogItem::Descriptor(Signed::sign(doctored.clone(), &identity.domain));
        store.put_item(&item, true).unwrap();
    }
    let a = TestNode::start_in(a_dir, mesh_tests::loopback_config(Transport::Tcp, vec![])).await;
    let c = TestNode::start("audit", Transport::Tcp, vec![a.addr.clone()]).await;
    c.wait_peers(1).await;
    let mut c = c;
    c.wait_for_version(&receipt.product, 2).await;
    let mut events = c.handle.subscribe();
    let out = c.dir.path().join("orders-copy.csv");
    assert_eq!(
        fetch(&c, &receipt.product, &out).await,
        ProfileCheck::Disputed
    );
    wait_for(&mut events, |e| match e {
        NodeEvent::ProfileDisputed { version: 2, .. } => Some(()),
        _ => None,
    })
    .await;
    let disputes = c.handle.profile_disputes();
    assert_eq!(disputes.len(), 1);
    assert_eq!(disputes[0].signed.value, doctored);
    assert!(
        disputes[0].signed.verify().is_ok(),
        "the evidence is the owner's signature"
    );
    assert_eq!(disputes[0].recomputed.rows, 3);
    let metrics = c.handle.metrics().encode();
    assert!(
        metrics.contains("meshd_profile_checks_total{verdict=\"disputed\"} 1"),
        "{metrics}"
    );
    // Kept across a restart.
    let c_dir = c.stop().await;
    let c = TestNode::start_in(c_dir, mesh_tests::loopback_config(Transport::Tcp, vec![])).await;
    let disputes = c.handle.profile_disputes();
    assert_eq!(disputes.len(), 1);
    assert_eq!(disputes[0].signed.value.version, 2);
    drop(a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_conforms_ratified_by_the_federation_refuses_a_breaking_publish_on_every_node() {
    let (dirs, genesis) = founders(&["sales", "finance"], Quorum::TWO_THIRDS);
    let nodes = start_all(dirs, &genesis).await;
    nodes[1].wait_peers(1).await;
    let p = nodes[0]
        .handle
        .propose(
            Change::AddPolicy(PolicyRule::DataConforms),
            String::new(),
            600_000,
        )
        .await
        .unwrap();
    let id: ProposalId = p.id.parse().unwrap();
    for node in &nodes {
        wait_proposal(node, &p.id).await;
    }
    for node in &nodes {
        node.handle.vote(id, true, String::new()).await.unwrap();
    }
    for node in &nodes {
        wait_federation(node, |v| v.version == p.base_version + 1).await;
    }
    for (i, node) in nodes.iter().enumerate() {
        let name = format!("orders{i}");
        let broken = write(node.dir.path(), "broken.csv", BROKEN);
        let refused = node.handle.publish(&broken, draft(&name)).await;
        let Err(NodeError::Policy(issues)) = refused else {
            panic!("a breaking publish must be refused: {refused:?}");
        };
        assert_eq!(issues.len(), 3, "every violation is named: {issues:?}");
        assert!(
            issues.iter().all(|i| i.rule == "data-conforms"),
            "{issues:?}"
        );
        let product = ProductId {
            domain: node.handle.domain(),
            name: name.clone(),
        };
        assert!(
            node.handle.get(product).await.unwrap().is_none(),
            "nothing published"
        );
        let clean = write(node.dir.path(), "clean.csv", CLEAN);
        node.handle.publish(&clean, draft(&name)).await.unwrap();
    }
}
