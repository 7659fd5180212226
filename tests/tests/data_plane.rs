//! Serving and fetching product bytes between real nodes on loopback.
#![allow(
    clippy::unwrap_used,
    reason = "helpers shared by tests: a failed unwrap is a failed test"
)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use futures::StreamExt;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{StreamProtocol, Swarm};
use mesh_node::fetch::{FetchError, FetchState};
use mesh_node::network::codec::MeshCodec;
use mesh_node::node::NodeEvent;
use mesh_node::{Config, ProductDraft};
use mesh_protocol::bytes::ByteBuf;
use mesh_protocol::descriptor::{AccessMode, AccessPolicy, Format};
use mesh_protocol::manifest::Manifest;
use mesh_protocol::wire::{DATA_PROTOCOL, Request, RequestFrame, Response};
use mesh_protocol::{DomainKeypair, ProductId};
use mesh_tests::{TIMEOUT, TestNode, Transport, loopback_config, sample_file, wait_for};

const CHUNK: u32 = 64 * 1024;

fn draft(name: &str) -> ProductDraft {
    let mut d = ProductDraft::new(name, "Data", Format::Csv);
    d.chunk_size = Some(CHUNK);
    d
}

async fn fetch_into(
    node: &TestNode,
    product: &ProductId,
) -> (std::path::PathBuf, mesh_node::fetch::FetchProgress) {
    node.wait_known(product).await;
    let out = node.dir.path().join(format!("fetched-{}", product.name));
    let handle = node
        .handle
        .fetch(product.clone(), None, &out)
        .await
        .unwrap();
    let progress = handle.progress.clone();
    let path = tokio::time::timeout(TIMEOUT, handle.finish())
        .await
        .unwrap()
        .unwrap();
    let last = progress.borrow().clone();
    (path, last)
}

async fn transfer(transport: Transport) {
    let a = TestNode::start("sales", transport, vec![]).await;
    let c = TestNode::start("logistics", transport, vec![a.addr.clone()]).await;
    let file = sample_file(a.dir.path(), "orders.csv", 3 * CHUNK as usize + 123);
    let r = a.handle.publish(&file, draft("orders")).await.unwrap();
    let (path, progress) = fetch_into(&c, &r.product).await;
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&file).unwrap());
    assert_eq!(progress.state, FetchState::Done);
    assert_eq!(progress.chunks_fetched, 4);
    assert_eq!(progress.bad_chunks, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_fetches_a_product_and_the_bytes_are_identical_over_tcp() {
    transfer(Transport::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_fetches_a_product_and_the_bytes_are_identical_over_quic() {
    transfer(Transport::Quic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_sizes_empty_one_chunk_and_one_chunk_plus_one_byte() {
    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let c = TestNode::start("logistics", Transport::Tcp, vec![a.addr.clone()]).await;
    for (name, len) in [
        ("empty", 0),
        ("one", CHUNK as usize),
        ("oneplus", CHUNK as usize + 1),
    ] {
        let file = sample_file(a.dir.path(), name, len);
        let r = a.handle.publish(&file, draft(name)).await.unwrap();
        let (path, progress) = fetch_into(&c, &r.product).await;
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(&file).unwrap(),
            "{name}"
        );
        assert_eq!(
            progress.chunks_total,
            u32::try_from(len.div_ceil(CHUNK as usize)).unwrap()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_from_two_providers_uses_both() {
    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let b = TestNode::start("billing", Transport::Tcp, vec![a.addr.clone()]).await;
    let file = sample_file(a.dir.path(), "big.csv", 64 * CHUNK as usize);
    let r = a.handle.publish(&file, draft("big")).await.unwrap();
    // B fetches first and so becomes a provider (the policy allows re-serving).
    let _ = fetch_into(&b, &r.product).await;
    let c = TestNode::start(
        "logistics",
        Transport::Tcp,
        vec![a.addr.clone(), b.addr.clone()],
    )
    .await;
    c.wait_peers(2).await;
    let (path, progress) = fetch_into(&c, &r.product).await;
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&file).unwrap());
    assert_eq!(
        progress.chunks_by_provider.len(),
        2,
        "{:?}",
        progress.chunks_by_provider
    );
    assert!(
        progress
            .chunks_by_provider
            .contains_key(&a.handle.peer_id().to_string())
    );
    assert!(
        progress
            .chunks_by_provider
            .contains_key(&b.handle.peer_id().to_string())
    );
    assert_eq!(progress.chunks_fetched, 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_product_and_unknown_version_are_typed_errors() {
    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let c = TestNode::start("logistics", Transport::Tcp, vec![a.addr.clone()]).await;
    let unknown = ProductId {
        domain: a.handle.domain(),
        name: "nope".into(),
    };
    let out = c.dir.path().join("out");
    assert!(matches!(
        c.handle.fetch(unknown, None, &out).await,
        Err(FetchError::UnknownProduct(_))
    ));
    let file = sample_file(a.dir.path(), "x", 10);
    let r = a.handle.publish(&file, draft("x")).await.unwrap();
    c.wait_known(&r.product).await;
    assert!(matches!(
        c.handle.fetch(r.product.clone(), Some(7), &out).await,
        Err(FetchError::UnknownVersion {
            wanted: 7,
            current: 1,
            ..
        })
    ));
    assert!(!out.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_peer_gets_a_denial_and_no_data() {
    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let c = TestNode::start("logistics", Transport::Tcp, vec![a.addr.clone()]).await;
    let file = sample_file(a.dir.path(), "secret.csv", 5 * CHUNK as usize);
    let mut d = draft("secret");
    let someone_else = DomainKeypair::from_secret([9; 32]).domain_id();
    d.access = AccessPolicy {
        mode: AccessMode::Domains(BTreeSet::from([someone_else])),
        reshare: false,
    };
    let r = a.handle.publish(&file, d).await.unwrap();
    c.wait_known(&r.product).await;
    let out = c.dir.path().join("secret-out");
    let handle = c.handle.fetch(r.product.clone(), None, &out).await.unwrap();
    let progress = handle.progress.clone();
    let result = tokio::time::timeout(TIMEOUT, handle.finish())
        .await
        .unwrap();
    assert!(matches!(result, Err(FetchError::Denied(_))), "{result:?}");
    assert_eq!(progress.borrow().chunks_fetched, 0);
    assert!(!out.exists());

    // Allowed domains read it: the owner itself lists C's domain.
    let mut d = draft("shared");
    d.access = AccessPolicy {
        mode: AccessMode::Domains(BTreeSet::from([c.handle.domain()])),
        reshare: false,
    };
    let r = a.handle.publish(&file, d).await.unwrap();
    let (path, _) = fetch_into(&c, &r.product).await;
    assert_eq!(std::fs::read(path).unwrap(), std::fs::read(&file).unwrap());
}

/// A provider that answers manifests honestly and serves corrupted chunks.
fn corrupt_provider(
    manifest: Manifest,
    data: Vec<u8>,
    target: libp2p::Multiaddr,
) -> libp2p::PeerId {
    let mut swarm: Swarm<request_response::Behaviour<MeshCodec>> =
        mesh_tests::tcp_swarm(libp2p::identity::Keypair::generate_ed25519(), |_| {
            request_response::Behaviour::with_codec(
                MeshCodec,
                [(StreamProtocol::new(DATA_PROTOCOL), ProtocolSupport::Full)],
                request_response::Config::default(),
            )
        });
    let peer = *swarm.local_peer_id();
    swarm.dial(target).unwrap();
    tokio::spawn(async move {
        while let Some(event) = swarm.next().await {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            }) = event
            {
                let RequestFrame { request, .. } = request;
                let response = match request {
                    Request::GetManifest { .. } => Response::Manifest(manifest.clone()),
                    Request::GetChunk { index, .. } => {
                        let start = usize::try_from(manifest.chunk_offset(index)).unwrap();
                        let len = usize::try_from(manifest.chunk_len(index).unwrap()).unwrap();
                        let mut bytes = data[start..start + len].to_vec();
                        bytes[0] ^= 0xff;
                        Response::Chunk(ByteBuf(bytes))
                    }
                    Request::CatalogDigest(_) => Response::CatalogSummary(vec![]),
                    _ => Response::error(mesh_protocol::wire::ErrorCode::NotHeld, "no"),
                };
                let _ = swarm.behaviour_mut().send_response(channel, response);
            }
        }
    });
    peer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_chunk_is_detected_and_fetched_from_an_honest_provider() {
    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let mut c = TestNode::start("logistics", Transport::Tcp, vec![a.addr.clone()]).await;
    let file = sample_file(a.dir.path(), "orders.csv", 40 * CHUNK as usize);
    let data = std::fs::read(&file).unwrap();
    let r = a.handle.publish(&file, draft("orders")).await.unwrap();
    c.wait_known(&r.product).await;
    let manifest = Manifest::from_bytes(&data, CHUNK);
    let bad = corrupt_provider(manifest, data.clone(), c.addr.clone());
    wait_for(&mut c.events, |e| {
        matches!(e, NodeEvent::PeerConnected(p) if *p == bad).then_some(())
    })
    .await;

    let (path, progress) = fetch_into(&c, &r.product).await;
    assert_eq!(
        std::fs::read(&path).unwrap(),
        data,
        "no corrupted byte in the output"
    );
    assert!(progress.bad_chunks >= 1, "{progress:?}");
    assert_eq!(progress.bad_providers, vec![bad.to_string()]);
    assert_eq!(progress.chunks_fetched, 40);
    assert!(!progress.chunks_by_provider.contains_key(&bad.to_string()));
}

/// A provider slowed by a low request rate, so a transfer takes seconds.
fn slow_provider_config(bootstrap: Vec<libp2p::Multiaddr>) -> Config {
    let mut config = loopback_config(Transport::Tcp, bootstrap);
    config.serve.requests_per_sec = 40;
    config.serve.burst = 4;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_survives_the_server_restarting_mid_transfer() {
    // A listens on a fixed port so it comes back at the same address.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = slow_provider_config(vec![]);
    config.network.listen = vec![format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()];
    let a = TestNode::start_with("sales", config.clone()).await;
    let c = TestNode::start("logistics", Transport::Tcp, vec![a.addr.clone()]).await;
    let file = sample_file(a.dir.path(), "orders.csv", 120 * CHUNK as usize);
    let r = a.handle.publish(&file, draft("orders")).await.unwrap();
    c.wait_known(&r.product).await;
    let out = c.dir.path().join("orders-out");
    let handle = c.handle.fetch(r.product.clone(), None, &out).await.unwrap();
    let mut progress = handle.progress.clone();
    tokio::time::timeout(TIMEOUT, progress.wait_for(|p| p.chunks_done >= 20))
        .await
        .unwrap()
        .unwrap();

    let a_dir = a.stop().await;
    let mut config = config;
    config.network.bootstrap = vec![c.addr.clone()];
    let _a = TestNode::start_in(a_dir, config).await;

    let path = tokio::time::timeout(TIMEOUT * 2, handle.finish())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), std::fs::read(&file).unwrap());
    let last = progress.borrow().clone();
    assert_eq!(
        last.chunks_fetched, 120,
        "no verified chunk was fetched twice: {last:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_survives_the_client_being_killed_and_restarted() {
    let a = TestNode::start_with("sales", slow_provider_config(vec![])).await;
    let file = sample_file(a.dir.path(), "orders.csv", 150 * CHUNK as usize);
    let r = a.handle.publish(&file, draft("orders")).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    mesh_node::identity::init(dir.path(), "logistics").unwrap();
    let out = dir.path().join("orders-out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fetch-and-hold"))
        .args([
            dir.path().to_str().unwrap(),
            &a.addr.to_string(),
            &r.product.to_string(),
            out.to_str().unwrap(),
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once more than one sync batch (64 chunks) is done.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("helper printed progress").unwrap();
        let done: u32 = line.trim_start_matches("CHUNKS ").parse().unwrap();
        if done >= 80 {
            break;
        }
    }
    Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    assert!(!out.exists(), "no partial output file");

    // Restarted, the node resumes the fetch by itself.
    let c = TestNode::start_in(dir, loopback_config(Transport::Tcp, vec![a.addr.clone()])).await;
    c.wait_known(&r.product).await;
    let handle = c.handle.fetch(r.product.clone(), None, &out).await.unwrap();
    let progress = handle.progress.clone();
    let path = tokio::time::timeout(TIMEOUT * 2, handle.finish())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), std::fs::read(&file).unwrap());
    let last = progress.borrow().clone();
    assert!(
        last.chunks_resumed >= 64,
        "verified chunks were kept: {last:?}"
    );
    assert_eq!(
        last.chunks_resumed + last.chunks_fetched,
        150,
        "none fetched twice: {last:?}"
    );
    // The provider's per-peer rate limit answered "busy" and the client
    // backed off and carried on.
    let served = a.handle.status().await.unwrap();
    assert!(
        served.counters.requests_refused_busy > 0,
        "{:?}",
        served.counters
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_fetch_stops_and_a_later_fetch_resumes() {
    let a = TestNode::start_with("sales", slow_provider_config(vec![])).await;
    let c = TestNode::start("logistics", Transport::Tcp, vec![a.addr.clone()]).await;
    let file = sample_file(a.dir.path(), "orders.csv", 100 * CHUNK as usize);
    let r = a.handle.publish(&file, draft("orders")).await.unwrap();
    c.wait_known(&r.product).await;
    let out = c.dir.path().join("orders-out");
    let handle = c.handle.fetch(r.product.clone(), None, &out).await.unwrap();
    let mut progress = handle.progress.clone();
    tokio::time::timeout(TIMEOUT, progress.wait_for(|p| p.chunks_done >= 10))
        .await
        .unwrap()
        .unwrap();
    handle.cancel().await;
    let result = tokio::time::timeout(TIMEOUT, handle.finish())
        .await
        .unwrap();
    assert_eq!(result, Err(FetchError::Cancelled));
    assert!(!out.exists());
    let (_, last) = fetch_into(&c, &r.product).await;
    assert!(last.chunks_resumed >= 10, "{last:?}");
    assert_eq!(last.chunks_resumed + last.chunks_fetched, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_output_is_never_passed_on_as_verified() {
    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let c = TestNode::start("logistics", Transport::Tcp, vec![a.addr.clone()]).await;
    let file = sample_file(a.dir.path(), "orders.csv", 6 * CHUNK as usize);
    let original = std::fs::read(&file).unwrap();
    let r = a.handle.publish(&file, draft("orders")).await.unwrap();
    let (first, _) = fetch_into(&c, &r.product).await;

    // The user edits the output in place (it may share the node's copy).
    let mut edited = original.clone();
    edited[10] ^= 0xff;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&first)
        .and_then(|mut f| std::io::Write::write_all(&mut f, &edited))
        .unwrap();

    // A second fetch to another path still yields the verified bytes.
    let second = c.dir.path().join("second.csv");
    let handle = c
        .handle
        .fetch(r.product.clone(), None, &second)
        .await
        .unwrap();
    tokio::time::timeout(TIMEOUT, handle.finish())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(std::fs::read(&second).unwrap(), original);
}
