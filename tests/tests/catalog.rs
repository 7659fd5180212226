//! Catalog propagation between real nodes over loopback TCP and QUIC.
#![allow(
    clippy::unwrap_used,
    reason = "helpers shared by tests: a failed unwrap is a failed test"
)]

use mesh_node::ProductDraft;
use mesh_node::node::NodeEvent;
use mesh_protocol::catalog::Query;
use mesh_protocol::descriptor::Format;
use mesh_tests::{TestNode, Transport, sample_file, wait_for};

async fn propagation(transport: Transport) {
    let mut a = TestNode::start("sales", transport, vec![]).await;
    let mut b = TestNode::start("billing", transport, vec![a.addr.clone()]).await;
    let mut c = TestNode::start("logistics", transport, vec![a.addr.clone()]).await;

    let file_a = sample_file(a.dir.path(), "orders.csv", 10_000);
    let file_b = sample_file(b.dir.path(), "invoices.csv", 3_000_000);
    let ra = a
        .handle
        .publish(&file_a, ProductDraft::new("orders", "Orders", Format::Csv))
        .await
        .unwrap();
    let rb = b
        .handle
        .publish(
            &file_b,
            ProductDraft::new("invoices", "Invoices", Format::Csv),
        )
        .await
        .unwrap();
    assert_eq!((ra.version, rb.version), (1, 1));

    c.wait_for_version(&ra.product, 1).await;
    c.wait_for_version(&rb.product, 1).await;
    a.wait_for_version(&rb.product, 1).await;
    b.wait_for_version(&ra.product, 1).await;

    let seen = c.handle.query(Query::default()).await.unwrap();
    let mut names: Vec<&str> = seen.iter().map(|d| d.value.id.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["invoices", "orders"]);
    let invoices = seen.iter().find(|d| d.value.id.name == "invoices").unwrap();
    assert_eq!(invoices.value.content.size, 3_000_000);
    assert_eq!(invoices.value.domain_name, "billing");
    invoices.verify().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_and_b_publish_and_c_sees_both_over_tcp() {
    propagation(Transport::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_and_b_publish_and_c_sees_both_over_quic() {
    propagation(Transport::Quic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_joiner_catches_up_by_sync() {
    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let mut products = Vec::new();
    for i in 0..40 {
        let file = sample_file(a.dir.path(), &format!("p{i}.csv"), 100 + i);
        let r = a
            .handle
            .publish(
                &file,
                ProductDraft::new(format!("p{i}"), "Product", Format::Csv),
            )
            .await
            .unwrap();
        products.push(r.product);
    }
    // D joins after every publish: nothing will be re-broadcast.
    let mut d = TestNode::start("late", Transport::Tcp, vec![a.addr.clone()]).await;
    let received = wait_for(&mut d.events, |e| match e {
        NodeEvent::SyncCompleted { received, .. } if *received > 0 => Some(*received),
        _ => None,
    })
    .await;
    assert_eq!(received, 40);
    for p in &products {
        assert_eq!(d.current_version(p).await, 1, "{p} missing after sync");
    }
    assert_eq!(d.handle.status().await.unwrap().counters.sync_items, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_version_supersedes_and_withdrawal_propagates() {
    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let mut b = TestNode::start("billing", Transport::Tcp, vec![a.addr.clone()]).await;
    let file = sample_file(a.dir.path(), "orders.csv", 5_000);
    let r1 = a
        .handle
        .publish(&file, ProductDraft::new("orders", "Orders v1", Format::Csv))
        .await
        .unwrap();
    b.wait_for_version(&r1.product, 1).await;

    let file2 = sample_file(a.dir.path(), "orders2.csv", 6_000);
    let r2 = a
        .handle
        .publish(
            &file2,
            ProductDraft::new("orders", "Orders v2", Format::Csv),
        )
        .await
        .unwrap();
    assert_eq!(r2.version, 2);
    b.wait_for_version(&r1.product, 2).await;
    let current = b.handle.query(Query::default()).await.unwrap();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].value.title, "Orders v2");

    let v3 = a
        .handle
        .deprecate("orders", "use orders_v2", None)
        .await
        .unwrap();
    b.wait_for_version(&r1.product, v3).await;
    assert!(
        b.handle.query(Query::default()).await.unwrap().is_empty(),
        "deprecated is hidden by default"
    );
    let with_deprecated = Query {
        include_deprecated: true,
        ..Query::default()
    };
    assert_eq!(b.handle.query(with_deprecated).await.unwrap().len(), 1);

    let v4 = a.handle.withdraw("orders", "retired").await.unwrap();
    b.wait_for_version(&r1.product, v4).await;
    let item = b.handle.get(r1.product.clone()).await.unwrap().unwrap();
    assert!(matches!(item, mesh_protocol::CatalogItem::Withdrawal(_)));
    let all = Query {
        include_deprecated: true,
        ..Query::default()
    };
    assert!(b.handle.query(all).await.unwrap().is_empty());

    // Withdrawing an unknown product is a typed error and changes nothing.
    assert!(matches!(
        a.handle.withdraw("nope", "x").await,
        Err(mesh_node::NodeError::UnknownProduct(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_node_keeps_products_and_catalog() {
    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let mut b = TestNode::start("billing", Transport::Tcp, vec![a.addr.clone()]).await;
    let fa = sample_file(a.dir.path(), "a.csv", 1_000);
    let fb = sample_file(b.dir.path(), "b.csv", 1_000);
    let ra = a
        .handle
        .publish(&fa, ProductDraft::new("alpha", "Alpha", Format::Csv))
        .await
        .unwrap();
    let rb = b
        .handle
        .publish(&fb, ProductDraft::new("beta", "Beta", Format::Csv))
        .await
        .unwrap();
    b.wait_for_version(&ra.product, 1).await;

    let dir = b.stop().await;
    let _a_dir = a.stop().await;
    // Restart alone: no peer can resupply anything.
    let b = TestNode::start_in(dir, mesh_tests::loopback_config(Transport::Tcp, vec![])).await;
    assert_eq!(b.current_version(&ra.product).await, 1);
    assert_eq!(b.current_version(&rb.product).await, 1);
    // Its own product keeps its version sequence.
    let fb2 = sample_file(b.dir.path(), "b2.csv", 2_000);
    let rb2 = b
        .handle
        .publish(&fb2, ProductDraft::new("beta", "Beta", Format::Csv))
        .await
        .unwrap();
    assert_eq!(rb2.version, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_publish_changes_nothing() {
    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let file = sample_file(a.dir.path(), "x.csv", 100);
    let bad_name = a
        .handle
        .publish(&file, ProductDraft::new("Bad Name", "X", Format::Csv))
        .await;
    assert!(matches!(bad_name, Err(mesh_node::NodeError::Descriptor(_))));
    let no_title = a
        .handle
        .publish(&file, ProductDraft::new("ok", " ", Format::Csv))
        .await;
    assert!(matches!(no_title, Err(mesh_node::NodeError::Descriptor(_))));
    let missing = a
        .handle
        .publish(
            &a.dir.path().join("absent.csv"),
            ProductDraft::new("ok", "X", Format::Csv),
        )
        .await;
    assert!(matches!(missing, Err(mesh_node::NodeError::File { .. })));
    assert_eq!(a.handle.status().await.unwrap().catalog_size, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kademlia_lookup_finds_a_product_for_a_node_that_knows_nothing_else() {
    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let b = TestNode::start("billing", Transport::Tcp, vec![a.addr.clone()]).await;
    b.wait_peers(1).await;
    let file = sample_file(a.dir.path(), "orders.csv", 1_000);
    let r = a
        .handle
        .publish(&file, ProductDraft::new("orders", "Orders", Format::Csv))
        .await
        .unwrap();

    // A light node: no catalog sync, and it joins after the gossip went by.
    let dir = tempfile::tempdir().unwrap();
    mesh_node::identity::init(dir.path(), "light").unwrap();
    let mut config = mesh_tests::loopback_config(Transport::Tcp, vec![a.addr.clone()]);
    config.network.catalog_sync = false;
    let d = TestNode::start_in(dir, config).await;
    d.wait_peers(1).await;
    assert_eq!(
        d.current_version(&r.product).await,
        0,
        "d knows nothing yet"
    );

    let found = tokio::time::timeout(mesh_tests::TIMEOUT, d.handle.lookup(r.product.clone()))
        .await
        .unwrap()
        .unwrap()
        .expect("record found in the DHT");
    assert_eq!(found.product(), &r.product);
    assert_eq!(found.version(), 1);
    // The verified item is now in d's catalog too.
    assert_eq!(d.current_version(&r.product).await, 1);

    // An unknown product: the query ends with nothing, not a hang.
    let unknown = mesh_protocol::ProductId {
        domain: a.handle.domain(),
        name: "nope".into(),
    };
    let none = tokio::time::timeout(mesh_tests::TIMEOUT, d.handle.lookup(unknown))
        .await
        .unwrap()
        .unwrap();
    assert!(none.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_made_alone_reaches_a_peer_that_connects_later_by_gossip() {
    // Neither node runs catalog sync: only gossip can carry the item, and
    // when it was published no peer was subscribed to hear it.
    let light = |domain: &str, bootstrap| {
        let dir = tempfile::tempdir().unwrap();
        mesh_node::identity::init(dir.path(), domain).unwrap();
        let mut config = mesh_tests::loopback_config(Transport::Tcp, bootstrap);
        config.network.catalog_sync = false;
        (dir, config)
    };
    let (dir, config) = light("sales", vec![]);
    let a = TestNode::start_in(dir, config).await;
    let file = sample_file(a.dir.path(), "orders.csv", 1_000);
    let r = a
        .handle
        .publish(&file, ProductDraft::new("orders", "Orders", Format::Csv))
        .await
        .unwrap();
    let (dir, config) = light("billing", vec![a.addr.clone()]);
    let mut b = TestNode::start_in(dir, config).await;
    b.wait_for_version(&r.product, 1).await;
}
