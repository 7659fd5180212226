//! What a node tells the DHT about its peers: only the addresses they
//! listen on (from identify, or the one this node dialed), never the
//! ephemeral port an inbound connection came from, which nobody can dial.
#![allow(
    clippy::unwrap_used,
    reason = "helpers shared by tests: a failed unwrap is a failed test"
)]

use futures::StreamExt;
use libp2p::core::transport::ListenerId;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::DialError;
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
async fn peer_from_an_ephemeral_port(a: &Multiaddr) -> (Swarm<Plain>, ListenerId, u16) {
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
    let listener = b
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
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
    (b, listener, listen)
}

/// A Kademlia client that knows only A.
fn probe(a_peer: PeerId, a_addr: Multiaddr) -> Swarm<kad::Behaviour<kad::store::MemoryStore>> {
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
    probe.behaviour_mut().add_address(&a_peer, a_addr);
    probe
}

/// The addresses of `b` that a fresh Kademlia client, asking A for the
/// peers closest to `b`, dials and fails to reach.
async fn addresses_a_stranger_tries(
    a_peer: PeerId,
    a_addr: Multiaddr,
    b: PeerId,
) -> Vec<Multiaddr> {
    let mut stranger = probe(a_peer, a_addr);
    stranger.behaviour_mut().get_closest_peers(b);
    let mut tried: Vec<Multiaddr> = Vec::new();
    tokio::time::timeout(TIMEOUT, async {
        loop {
            match stranger.select_next_some().await {
                SwarmEvent::OutgoingConnectionError {
                    peer_id: Some(peer),
                    error: DialError::Transport(errors),
                    ..
                } if peer == b => tried.extend(errors.into_iter().map(|(addr, _)| addr)),
                SwarmEvent::Behaviour(kad::Event::OutboundQueryProgressed { step, .. })
                    if step.last =>
                {
                    return;
                }
                _ => {}
            }
        }
    })
    .await
    .unwrap();
    tried
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dht_names_a_peer_by_its_listen_address_not_its_inbound_port() {
    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let a_addr: Multiaddr = a
        .addr
        .iter()
        .filter(|p| !matches!(p, Protocol::P2p(_)))
        .collect();
    let (mut b, listener, b_listen) = peer_from_an_ephemeral_port(&a_addr).await;
    let b_peer = *b.local_peer_id();
    // B runs on its own, answering identify and Kademlia, until told to
    // stop listening (it says when it has).
    let (stop, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (closed_tx, closed) = tokio::sync::oneshot::channel::<()>();
    let b_task = tokio::spawn(async move {
        let mut closed_tx = Some(closed_tx);
        let mut stopped = false;
        let _ = tokio::time::timeout(4 * TIMEOUT, async {
            loop {
                tokio::select! {
                    event = b.select_next_some() => {
                        if let SwarmEvent::ListenerClosed { .. } = event
                            && let Some(tx) = closed_tx.take()
                        {
                            let _ = tx.send(());
                        }
                    }
                    Ok(()) = &mut stop_rx, if !stopped => {
                        stopped = true;
                        b.remove_listener(listener);
                    }
                }
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
    let a_peer: PeerId = a.handle.status().await.unwrap().peer_id.parse().unwrap();
    let mut client = probe(a_peer, a_addr.clone());

    // A learns B's listen address from identify soon after they connect;
    // ask until A names B (bounded by the test timeout).
    let named = tokio::time::timeout(TIMEOUT, async {
        loop {
            client.behaviour_mut().get_closest_peers(b_peer);
            let addrs = loop {
                if let SwarmEvent::Behaviour(kad::Event::OutboundQueryProgressed {
                    result: kad::QueryResult::GetClosestPeers(result),
                    step,
                    ..
                }) = client.select_next_some().await
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

    // Every address A names for B is one a stranger dials: B stops
    // listening, and a fresh client asking A again tries each of them, in
    // vain, and says which.
    stop.send(()).unwrap();
    tokio::time::timeout(TIMEOUT, closed)
        .await
        .unwrap()
        .unwrap();
    let tried = addresses_a_stranger_tries(a_peer, a_addr, b_peer).await;
    let tried_ports: Vec<Option<u16>> = tried.iter().map(tcp_port).collect();
    assert!(
        tried_ports.contains(&Some(b_listen)),
        "the stranger tried B's listen port: {tried:?}"
    );
    assert!(
        !tried_ports.contains(&Some(inbound_port)),
        "A never names the inbound port {inbound_port}: {tried:?}"
    );
    b_task.abort();
}
