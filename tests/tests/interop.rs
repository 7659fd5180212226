//! A rust-libp2p peer in gossipsub's default configuration joins the
//! catalog topic between two nodes that know nothing else of each other: it
//! receives a node's announcement, forwards it to the other node, and both
//! nodes accept an announcement it publishes itself, validated as any other.
#![allow(
    clippy::unwrap_used,
    reason = "helpers shared by tests: a failed unwrap is a failed test"
)]

use futures::StreamExt;
use libp2p::gossipsub;
use libp2p::swarm::SwarmEvent;
use mesh_node::ProductDraft;
use mesh_node::network::gossip;
use mesh_protocol::descriptor::Format;
use mesh_protocol::wire::GossipMessage;
use mesh_protocol::{CatalogItem, Signed};
use mesh_tests::gossip_peer::GossipPeer;
use mesh_tests::{TIMEOUT, TestNode, Transport, sample_file};
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_gossipsub_peer_receives_forwards_and_publishes_announcements() {
    let mut a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let mut b = TestNode::start("billing", Transport::Tcp, vec![]).await;
    let mut peer = GossipPeer::new(gossipsub::Config::default(), [67; 32]);
    peer.join(a.addr.clone()).await;
    peer.join(b.addr.clone()).await;
    peer.wait_mesh(2).await;
    let own = peer.descriptor("weather", 1);
    let own_id = own.id.clone();
    let own_envelope = peer.envelope(CatalogItem::Descriptor(Signed::sign(own, &peer.domain)));

    // The peer runs on its own: what it receives comes out of `received`,
    // what goes into `outgoing` it publishes. Bounded by the test's timeout.
    let (received_tx, mut received) = mpsc::unbounded_channel();
    let (outgoing, mut outgoing_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let driver = tokio::spawn(async move {
        let run = async {
            loop {
                tokio::select! {
                    event = peer.swarm.select_next_some() => {
                        if let SwarmEvent::Behaviour(gossipsub::Event::Message { message, .. }) = event {
                            let _ = received_tx.send(message);
                        }
                    }
                    Some(bytes) = outgoing_rx.recv() => peer.send(bytes),
                }
            }
        };
        let _ = tokio::time::timeout(4 * TIMEOUT, run).await;
    });

    // The nodes reach each other only through the peer, which speaks
    // gossipsub and nothing else of meshd's.
    assert_eq!(a.handle.status().await.unwrap().peers, 1);
    assert_eq!(b.handle.status().await.unwrap().peers, 1);

    // 1. A's announcement reaches the peer, signed by A at the gossipsub
    //    layer (what a default peer demands), and the peer forwards it to B.
    let file = sample_file(a.dir.path(), "orders.csv", 1_000);
    let orders = a
        .handle
        .publish(&file, ProductDraft::new("orders", "Orders", Format::Csv))
        .await
        .unwrap();
    let a_peer: libp2p::PeerId = a.handle.status().await.unwrap().peer_id.parse().unwrap();
    let message = tokio::time::timeout(TIMEOUT, received.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message.source, Some(a_peer), "signed by its author");
    assert!(message.sequence_number.is_some());
    let opened = gossip::open(&message.data, mesh_node::clock::now()).unwrap();
    match opened.message {
        GossipMessage::Catalog(item) => assert_eq!(item.product(), &orders.product),
        other => panic!("unexpected message {other:?}"),
    }
    b.wait_for_version(&orders.product, 1).await;

    // 2. The peer's own announcement: both nodes check it as any other and
    //    take it.
    outgoing.send(own_envelope).unwrap();
    a.wait_for_version(&own_id, 1).await;
    b.wait_for_version(&own_id, 1).await;
    for node in [&a, &b] {
        let status = node.handle.status().await.unwrap();
        assert_eq!(status.counters.gossip_rejected, 0, "{:?}", status.counters);
        assert_eq!(status.peers, 1, "still only the peer between them");
    }
    driver.abort();
}

#[test]
fn message_ids_are_the_author_then_the_sequence_number_as_go_and_js_compute_them() {
    let author = libp2p::identity::Keypair::generate_ed25519()
        .public()
        .to_peer_id();
    let message = gossipsub::Message {
        source: Some(author),
        data: b"anything".to_vec(),
        sequence_number: Some(0x0102_0304_0506_0708),
        topic: gossipsub::IdentTopic::new("t").hash(),
    };
    let mut expected = author.to_bytes();
    expected.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(gossip::message_id(&message).0, expected);
    // The same author and number give the same id whatever the data: a
    // message is named by who sent it, not by what it says.
    let other = gossipsub::Message {
        data: b"else".to_vec(),
        ..message.clone()
    };
    assert_eq!(gossip::message_id(&other), gossip::message_id(&message));
}
