//! The swarm effect between real nodes on loopback: a node that is still
//! fetching a product serves the chunks it has verified.
#![allow(
    clippy::unwrap_used,
    reason = "helpers shared by tests: a failed unwrap is a failed test"
)]

use std::collections::BTreeSet;

use mesh_node::{Config, ProductDraft};
use mesh_protocol::ProductId;
use mesh_protocol::descriptor::Format;
use mesh_protocol::wire::{ErrorCode, Have, Request, Response};
use mesh_tests::data_client::{ask, data_client};
use mesh_tests::{TIMEOUT, TestNode, Transport, loopback_config, sample_file};

const CHUNK: u32 = 64 * 1024;
const CHUNKS: u32 = 120;

fn draft(name: &str) -> ProductDraft {
    let mut d = ProductDraft::new(name, "Data", Format::Csv);
    d.chunk_size = Some(CHUNK);
    d
}

/// An owner slowed by a low request rate, on a fixed port so it can come
/// back at the same address.
fn slow_owner_config() -> Config {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = loopback_config(Transport::Tcp, vec![]);
    config.serve.requests_per_sec = 40;
    config.serve.burst = 4;
    config.network.listen = vec![format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()];
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_still_fetching_serves_the_chunks_it_has() {
    let config = slow_owner_config();
    let owner = TestNode::start_with("sales", config.clone()).await;
    let a = TestNode::start("logistics", Transport::Tcp, vec![owner.addr.clone()]).await;
    let file = sample_file(owner.dir.path(), "orders.csv", (CHUNKS * CHUNK) as usize);
    let product = owner
        .handle
        .publish(&file, draft("orders"))
        .await
        .unwrap()
        .product;
    a.wait_known(&product).await;
    let a_out = a.dir.path().join("orders-out");
    let a_fetch = a.handle.fetch(product.clone(), None, &a_out).await.unwrap();
    let mut a_progress = a_fetch.progress.clone();
    tokio::time::timeout(TIMEOUT, a_progress.wait_for(|p| p.chunks_done >= 20))
        .await
        .unwrap()
        .unwrap();

    // The owner goes away: whatever B gets now, it gets from A's partial copy.
    let owner_dir = owner.stop().await;
    let held_by_a = a_progress.borrow().chunks_done;
    assert!(held_by_a < CHUNKS, "A must still be fetching: {held_by_a}");
    let b = TestNode::start("finance", Transport::Tcp, vec![a.addr.clone()]).await;
    b.wait_known(&product).await;
    let b_out = b.dir.path().join("orders-out");
    let b_fetch = b.handle.fetch(product.clone(), None, &b_out).await.unwrap();
    let mut b_progress = b_fetch.progress.clone();
    tokio::time::timeout(TIMEOUT, b_progress.wait_for(|p| p.chunks_done >= held_by_a))
        .await
        .unwrap()
        .unwrap();
    let a_id = a.handle.peer_id().to_string();
    let partial = b_progress.borrow().clone();
    assert_eq!(
        partial.chunks_by_provider.keys().collect::<Vec<_>>(),
        vec![&a_id],
        "with the owner gone, every chunk came from A: {partial:?}"
    );
    assert!(partial.chunks_done < CHUNKS, "{partial:?}");

    // The owner comes back; both fetches complete with the right bytes.
    let mut config = config;
    config.network.bootstrap = vec![a.addr.clone(), b.addr.clone()];
    let _owner = TestNode::start_in(owner_dir, config).await;
    let expected = std::fs::read(&file).unwrap();
    for fetch in [a_fetch, b_fetch] {
        let path = tokio::time::timeout(TIMEOUT * 2, fetch.finish())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(std::fs::read(path).unwrap(), expected);
    }
    let last = b_progress.borrow().clone();
    assert_eq!(
        last.chunks_fetched, CHUNKS,
        "no chunk fetched twice: {last:?}"
    );
    assert!(
        last.chunks_by_provider.get(&a_id).copied().unwrap_or(0) >= held_by_a,
        "{last:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_holder_tells_its_chunks_and_refuses_the_others() {
    let config = slow_owner_config();
    let owner = TestNode::start_with("sales", config).await;
    let a = TestNode::start("logistics", Transport::Tcp, vec![owner.addr.clone()]).await;
    let file = sample_file(owner.dir.path(), "orders.csv", (CHUNKS * CHUNK) as usize);
    let receipt = owner.handle.publish(&file, draft("orders")).await.unwrap();
    let (product, manifest): (ProductId, _) = (receipt.product, receipt.manifest_hash);
    a.wait_known(&product).await;
    let a_out = a.dir.path().join("orders-out");
    let a_fetch = a.handle.fetch(product.clone(), None, &a_out).await.unwrap();
    let mut progress = a_fetch.progress.clone();
    tokio::time::timeout(TIMEOUT, progress.wait_for(|p| p.chunks_done >= 8))
        .await
        .unwrap()
        .unwrap();
    let _owner_dir = owner.stop().await;

    let mut client = data_client();
    let get_have = Request::GetHave {
        product: product.clone(),
        manifest,
    };
    let Response::Have(Have::Some(bits)) = ask(&mut client, &a.addr, get_have).await else {
        panic!("a node still fetching answers with its bitfield");
    };
    let have = Have::Some(bits);
    let held: BTreeSet<u32> = (0..CHUNKS).filter(|i| have.has(*i)).collect();
    assert_eq!(held.len(), progress.borrow().chunks_done as usize);
    let original = std::fs::read(&file).unwrap();
    let first = *held.first().unwrap();
    let chunk = ask(
        &mut client,
        &a.addr,
        Request::GetChunk {
            product: product.clone(),
            manifest,
            index: first,
        },
    )
    .await;
    let start = (first * CHUNK) as usize;
    assert!(
        matches!(&chunk, Response::Chunk(b) if b.0 == original[start..start + CHUNK as usize]),
        "a held chunk is served"
    );
    let missing = (0..CHUNKS).find(|i| !held.contains(i)).unwrap();
    let refused = ask(
        &mut client,
        &a.addr,
        Request::GetChunk {
            product,
            manifest,
            index: missing,
        },
    )
    .await;
    assert!(
        matches!(
            refused,
            Response::Error {
                code: ErrorCode::NotHeld,
                ..
            }
        ),
        "a chunk not yet held is refused: {refused:?}"
    );
}
