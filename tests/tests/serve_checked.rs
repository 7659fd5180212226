//! What a node serves is checked against the manifest: a blob whose file
//! changed after the node checked it is hashed again, and a damaged chunk
//! is refused, never served.
#![allow(
    clippy::unwrap_used,
    reason = "helpers shared by tests: a failed unwrap is a failed test"
)]

use std::os::unix::fs::{FileExt, MetadataExt};

use mesh_node::ProductDraft;
use mesh_protocol::descriptor::Format;
use mesh_protocol::wire::{ErrorCode, Request, Response};
use mesh_tests::data_client::{ask, data_client};
use mesh_tests::{TestNode, Transport, sample_file};

const CHUNK: u32 = 64 * 1024;
const CHUNKS: u32 = 8;

/// Waits (bounded) until the filesystem's clock has moved past the change
/// time of `path`, so a write now gets a later one.
fn next_tick(path: &std::path::Path) {
    let then = std::fs::metadata(path).unwrap();
    let probe = path.with_extension("probe");
    for _ in 0..100_000 {
        std::fs::write(&probe, b"x").unwrap();
        let now = std::fs::metadata(&probe).unwrap();
        if (now.ctime(), now.ctime_nsec()) > (then.ctime(), then.ctime_nsec()) {
            std::fs::remove_file(&probe).unwrap();
            return;
        }
    }
    panic!("the filesystem clock did not move");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_changed_on_disk_is_hashed_again_and_its_damage_refused() {
    let owner = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let file = sample_file(owner.dir.path(), "orders.csv", (CHUNKS * CHUNK) as usize);
    let original = std::fs::read(&file).unwrap();
    let mut draft = ProductDraft::new("orders", "Data", Format::Csv);
    draft.chunk_size = Some(CHUNK);
    let receipt = owner.handle.publish(&file, draft).await.unwrap();
    let (product, manifest) = (receipt.product, receipt.manifest_hash);
    let chunk = |index: u32| Request::GetChunk {
        product: product.clone(),
        manifest,
        index,
    };
    let bytes_of = |index: u32| {
        let start = (index * CHUNK) as usize;
        original[start..start + CHUNK as usize].to_vec()
    };
    let mut client = data_client();

    // Published here: the node wrote and hashed every byte of the blob.
    let first = ask(&mut client, &owner.addr, chunk(0)).await;
    assert!(
        matches!(&first, Response::Chunk(b) if b.0 == bytes_of(0)),
        "{first:?}"
    );

    // One byte of chunk 3 changes on disk behind the node's back, after
    // the filesystem's clock moved past the blob's last write.
    let blob = owner.dir.path().join("blobs").join(manifest.to_string());
    next_tick(&blob);
    let handle = std::fs::OpenOptions::new().write(true).open(&blob).unwrap();
    let at = 3 * CHUNK + 17;
    handle
        .write_all_at(&[original[at as usize] ^ 0xff], u64::from(at))
        .unwrap();
    drop(handle);

    let damaged = ask(&mut client, &owner.addr, chunk(3)).await;
    assert!(
        matches!(
            &damaged,
            Response::Error {
                code: ErrorCode::NotHeld,
                message,
            } if message.contains("damaged")
        ),
        "a changed chunk is refused, not served: {damaged:?}"
    );
    // The chunks that did not change still match their hashes.
    let intact = ask(&mut client, &owner.addr, chunk(5)).await;
    assert!(
        matches!(&intact, Response::Chunk(b) if b.0 == bytes_of(5)),
        "{intact:?}"
    );
}
