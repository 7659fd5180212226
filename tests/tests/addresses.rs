//! What a node tells the DHT about its peers: only the addresses they
//! listen on (from identify, or the one this node dialed), never the
//! ephemeral port an inbound connection came from, which nobody can dial.
#![allow(
    clippy::unwrap_used,
    reason = "helpers shared by tests: a failed unwrap is a failed test"
)]

use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, identify, kad};
use mesh_protocol::wire::KAD_PROTOCOL;
use mesh_tests::{TIMEOUT, TestNode, Transport};

fn tcp_port(addr: &Multiaddr) -> Option<u16> {
    addr.iter().find_map(|p| match p {
        Protocol::Tcp(port) => Some(port),
        _ => None,
    })
}

/// What B runs: identify, to tell its listen address, and Kademlia, to
/// answer the probe's query.
#[derive(NetworkBehaviour)]
struct Plain {
    identify: identify::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
}

/// B: a plain libp2p peer that listens, tells its listen address over
/// identify, and dials A from a fresh (ephemeral) port, as a peer without
/// TCP port reuse does.
async fn peer_from_an_ephemeral_port(a: &Multiaddr) -> (Swarm<Plain>, u16) {
    let mut b = mesh_tests::tcp_swarm(libp2p::identity::Keypair::generate_ed25519(), |k| {
        let me = k.public().to_peer_id();
        let mut kad = kad::Behaviour::with_config(
            me,
            kad::store::MemoryStore::new(me),
            kad::Config::new(StreamProtocol::new(KAD_PROTOCOL)),
        );
        kad.set_mode(Some(kad::Mode::Server));
        Plain {
            identify: identify::Behaviour::new(identify::Config::new(
                "/meshd/id/1".into(),
                k.public(),
            )),
            kad,
        }
    });
    b.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    let listen = tokio::time::timeout(TIMEOUT, async {
        loop {
            if let SwarmEvent::NewListenAddr { address, .. } = b.select_next_some().await {
                return tcp_port(&address).unwrap();
            }
        }
    })
    .await
    .unwrap();
    let opts = DialOpts::unknown_peer_id()
        .address(a.clone())
        .allocate_new_port()
        .build();
    b.dial(opts).unwrap();
    (b, listen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dht_names_a_peer_by_its_listen_address_not_its_inbound_port() {
    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let a_addr: Multiaddr = a
        .addr
        .iter()
        .filter(|p| !matches!(p, Protocol::P2p(_)))
        .collect();
    let (mut b, b_listen) = peer_from_an_ephemeral_port(&a_addr).await;
    let b_peer = *b.local_peer_id();
    // B runs on its own, answering identify, for the rest of the test.
    let b_task = tokio::spawn(async move {
        let _ = tokio::time::timeout(4 * TIMEOUT, async {
            loop {
                b.select_next_some().await;
            }
        })
        .await;
    });
    a.wait_peers(1).await;
    let seen = a.handle.peers().await.unwrap();
    let inbound: Multiaddr = seen
        .iter()
        .find(|p| p.peer_id == b_peer.to_string())
        .unwrap()
        .address
        .parse()
        .unwrap();
    let inbound_port = tcp_port(&inbound).unwrap();
    assert_ne!(inbound_port, b_listen, "B dialed from a port of its own");

    // A Kademlia client asks A for the peers closest to B.
    let key = libp2p::identity::Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let mut probe = mesh_tests::tcp_swarm(key, |_| {
        let mut kad = kad::Behaviour::with_config(
            me,
            kad::store::MemoryStore::new(me),
            kad::Config::new(StreamProtocol::new(KAD_PROTOCOL)),
        );
        kad.set_mode(Some(kad::Mode::Client));
        kad
    });
    let a_peer: PeerId = a.handle.status().await.unwrap().peer_id.parse().unwrap();
    probe.behaviour_mut().add_address(&a_peer, a_addr);

    // A learns B's listen address from identify soon after they connect;
    // ask until A names B (bounded by the test timeout).
    let named = tokio::time::timeout(TIMEOUT, async {
        loop {
            probe.behaviour_mut().get_closest_peers(b_peer);
            let addrs = loop {
                if let SwarmEvent::Behaviour(kad::Event::OutboundQueryProgressed {
                    result: kad::QueryResult::GetClosestPeers(result),
                    step,
                    ..
                }) = probe.select_next_some().await
                    && step.last
                {
                    let peers = match result {
                        Ok(ok) => ok.peers,
                        Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
                    };
                    break peers
                        .into_iter()
                        .find(|p| p.peer_id == b_peer)
                        .map(|p| p.addrs);
                }
            };
            if let Some(addrs) = addrs
                && !addrs.is_empty()
            {
                return addrs;
            }
        }
    })
    .await
    .unwrap();

    let ports: Vec<Option<u16>> = named.iter().map(tcp_port).collect();
    assert!(
        ports.contains(&Some(b_listen)),
        "A names B's listen port {b_listen}: {named:?}"
    );
    assert!(
        !ports.contains(&Some(inbound_port)),
        "A never names the inbound port {inbound_port}: {named:?}"
    );
    b_task.abort();
}
