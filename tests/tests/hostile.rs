//! A hostile peer on the catalog topic: forged, stale, malformed and
//! oversized gossip is refused by the node it reaches and never forwarded.
#![allow(
    clippy::unwrap_used,
    reason = "helpers shared by tests: a failed unwrap is a failed test"
)]

use std::time::Duration;

use libp2p::gossipsub;
use mesh_node::ProductDraft;
use mesh_node::network::gossip;
use mesh_node::node::NodeEvent;
use mesh_protocol::descriptor::Format;
use mesh_protocol::wire::GossipMessage;
use mesh_protocol::{CatalogItem, DomainKeypair, NodeBinding, ProductId, Signed};
use mesh_tests::gossip_peer::GossipPeer;
use mesh_tests::{TIMEOUT, TestNode, Transport, sample_file, wait_for};

/// A peer with gossipsub's defaults (signed messages, rust-libp2p's own
/// message ids) but a size limit above the node's, to send oversized
/// messages.
fn hostile() -> GossipPeer {
    let config = gossipsub::ConfigBuilder::default()
        .max_transmit_size(2 * 1024 * 1024)
        .build()
        .unwrap();
    GossipPeer::new(config, [66; 32])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_stale_malformed_and_oversized_gossip_is_not_forwarded() {
    let mut a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let mut b = TestNode::start("billing", Transport::Tcp, vec![a.addr.clone()]).await;
    b.wait_peers(1).await;

    let mut mallory = hostile();
    mallory.join(a.addr.clone()).await;
    let product = mallory.descriptor("hprod", 2).id.clone();

    // 1. A valid item: accepted and forwarded.
    let v2 = CatalogItem::Descriptor(Signed::sign(
        mallory.descriptor("hprod", 2),
        &mallory.domain,
    ));
    mallory.send(mallory.envelope(v2));
    // 2. A stale version: ignored, not forwarded.
    let v1 = CatalogItem::Descriptor(Signed::sign(
        mallory.descriptor("hprod", 1),
        &mallory.domain,
    ));
    mallory.send(mallory.envelope(v1));
    // 3. A tampered (forged) newer version: rejected.
    let mut forged = Signed::sign(mallory.descriptor("hprod", 3), &mallory.domain);
    forged.value.title = "tampered".into();
    mallory.send(mallory.envelope(CatalogItem::Descriptor(forged)));
    // 4. Bytes that are no message at all: rejected.
    mallory.send(b"\xff\xfe definitely not a gossip envelope".to_vec());
    // 5. An item of another domain sent under this node's binding: rejected.
    let victim = DomainKeypair::from_secret([7; 32]);
    let mut stolen = mallory.descriptor("victim", 1);
    stolen.id.domain = victim.domain_id();
    mallory.send(mallory.envelope(CatalogItem::Descriptor(Signed::sign(stolen, &victim))));
    // 6. An oversized message (beyond the node's gossip limit).
    mallory.send(vec![0u8; 400 * 1024]);
    mallory.flush().await;

    // A refuses at least the first two bad messages (after that its peer
    // score may graylist mallory, which drops the rest unseen).
    let mut rejections = 0;
    while rejections < 2 {
        wait_for(&mut a.events, |e| {
            matches!(e, NodeEvent::Rejected { .. }).then_some(())
        })
        .await;
        rejections += 1;
    }
    a.wait_for_version(&product, 2).await;

    // A marker published by A after it judged mallory's messages.
    let file = sample_file(a.dir.path(), "marker.csv", 100);
    let marker = a
        .handle
        .publish(&file, ProductDraft::new("marker", "Marker", Format::Csv))
        .await
        .unwrap();
    b.wait_for_version(&marker.product, 1).await;

    assert_eq!(
        b.current_version(&product).await,
        2,
        "only the valid version reached B"
    );
    let victim_product = ProductId {
        domain: victim.domain_id(),
        name: "victim".into(),
    };
    assert_eq!(a.current_version(&victim_product).await, 0);
    assert_eq!(b.current_version(&victim_product).await, 0);
    let b_status = b.handle.status().await.unwrap();
    assert_eq!(
        b_status.counters.gossip_rejected, 0,
        "nothing bad was forwarded to B"
    );
    let a_status = a.handle.status().await.unwrap();
    assert!(
        a_status.counters.gossip_rejected >= 2,
        "{:?}",
        a_status.counters
    );
    assert!(
        a_status.counters.gossip_ignored >= 1,
        "stale version ignored: {:?}",
        a_status.counters
    );
    assert_eq!(a_status.catalog_size, 2, "hprod and marker only");
}

/// The envelope's own signature is what ties a message to the node its
/// binding names (gossipsub's signature only names the peer that published
/// it): an envelope around an item its domain really signed, but carrying a
/// binding for a node whose key the sender does not hold, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_under_another_nodes_binding_is_refused() {
    let mut a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let mut mallory = hostile();
    mallory.join(a.addr.clone()).await;

    let elsewhere = libp2p::identity::Keypair::generate_ed25519();
    let replayed = NodeBinding::issue(
        &mallory.domain,
        elsewhere.public().to_peer_id().to_bytes(),
        mesh_node::clock::now(),
        3_600_000,
    );
    let borrowed = mallory.descriptor("borrowed", 1);
    let borrowed_id = borrowed.id.clone();
    let item = CatalogItem::Descriptor(Signed::sign(borrowed, &mallory.domain));
    mallory.send(gossip::seal(
        &mallory.key,
        &replayed,
        GossipMessage::Catalog(item),
    ));
    let honest = mallory.descriptor("honest", 1);
    let honest_id = honest.id.clone();
    mallory.send(mallory.envelope(CatalogItem::Descriptor(Signed::sign(
        honest,
        &mallory.domain,
    ))));
    mallory.flush().await;

    let reason = wait_for(&mut a.events, |e| match e {
        NodeEvent::Rejected { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(reason.contains("not signed by the node"), "{reason}");
    // The sender's own, correctly sealed message still arrives after it.
    a.wait_for_version(&honest_id, 1).await;
    assert_eq!(a.current_version(&borrowed_id).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_grants_are_refused_and_a_real_request_arrives() {
    use mesh_protocol::access::{AccessDecision, AccessRequest, Verdict};
    use mesh_protocol::descriptor::{AccessMode, AccessPolicy};

    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let mut b = TestNode::start("billing", Transport::Tcp, vec![a.addr.clone()]).await;
    b.wait_peers(1).await;
    let file = sample_file(a.dir.path(), "payroll.csv", 1000);
    let mut draft = ProductDraft::new("payroll", "Payroll", Format::Csv);
    draft.access = AccessPolicy {
        mode: AccessMode::OwnerGranted,
        reshare: false,
    };
    let payroll = a.handle.publish(&file, draft).await.unwrap().product;
    b.wait_for_version(&payroll, 1).await;

    let mut mallory = hostile();
    mallory.join(a.addr.clone()).await;
    let now = mesh_node::clock::now();
    let me = mallory.domain.domain_id();
    let grant = |signer: &DomainKeypair| {
        Signed::sign(
            AccessDecision {
                product: payroll.clone(),
                grantee: me,
                verdict: Verdict::Granted { expires: None },
                at: now,
            },
            signer,
        )
    };
    // 1. A genuine request (first: rejections below cost mallory its peer
    // score, after which it may be ignored), signed by its own domain: accepted.
    let request = Signed::sign(
        AccessRequest {
            product: payroll.clone(),
            requester: mallory.domain.domain_id(),
            requester_name: "mallory".into(),
            reason: "curious".into(),
            at: now,
        },
        &mallory.domain,
    );
    mallory.send(mallory.gossip(GossipMessage::AccessRequest(request)));
    mallory.flush().await;
    wait_until_access(&a, |views| !views.is_empty()).await;
    // 2. A grant to itself, signed with its own key.
    let forged = grant(&mallory.domain);
    mallory.send(mallory.gossip(GossipMessage::AccessDecision(forged)));
    // 3. A grant claiming the owner's key, with a signature that is not.
    let mut stolen = grant(&mallory.domain);
    stolen.signer = a.handle.status().await.unwrap().domain_key.parse().unwrap();
    mallory.send(mallory.gossip(GossipMessage::AccessDecision(stolen)));
    mallory.flush().await;

    // The request reaches the owner and B; no grant exists anywhere.
    for node in [&a, &b] {
        let seen = wait_until_access(node, |views| {
            views
                .iter()
                .any(|v| v.domain_name.as_deref() == Some("mallory"))
        })
        .await;
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].state, "requested");
        assert!(!seen[0].can_read);
    }
    let a_status = a.handle.status().await.unwrap();
    assert!(
        a_status.counters.gossip_rejected >= 1,
        "{:?}",
        a_status.counters
    );
    let b_status = b.handle.status().await.unwrap();
    assert_eq!(
        b_status.counters.gossip_rejected, 0,
        "nothing forged forwarded"
    );
}

/// Polls a node's access views until `check` holds (bounded).
async fn wait_until_access(
    node: &TestNode,
    check: impl Fn(&[mesh_node::access::AccessView]) -> bool,
) -> Vec<mesh_node::access::AccessView> {
    let poll = async {
        loop {
            let views = node.handle.access().await.unwrap();
            if check(&views) {
                return views;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(TIMEOUT, poll).await.unwrap()
}
