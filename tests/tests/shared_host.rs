//! A node on a shared host (issue #19), in-process: a local user who can
//! write where a fetch's output goes cannot make the node write anywhere
//! else, editing an output never damages the node's copy, the data
//! directory is private, and bytes nothing refers to are collected.
#![allow(
    clippy::unwrap_used,
    reason = "helpers shared by tests: a failed unwrap is a failed test"
)]

use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use mesh_node::fetch::FetchError;
use mesh_node::{NodeHandle, ProductDraft};
use mesh_protocol::ProductId;
use mesh_protocol::descriptor::Format;
use mesh_tests::{TIMEOUT, TestNode, Transport, loopback_config, sample_file};

const CHUNK: u32 = 64 * 1024;

fn draft(name: &str) -> ProductDraft {
    let mut d = ProductDraft::new(name, "Data", Format::Csv);
    d.chunk_size = Some(CHUNK);
    d
}

async fn fetch(
    handle: &NodeHandle,
    product: &ProductId,
    out: &Path,
) -> Result<PathBuf, FetchError> {
    let job = handle.fetch(product.clone(), None, out).await?;
    tokio::time::timeout(TIMEOUT, job.finish()).await.unwrap()
}

fn blob_path(node: &TestNode, hash: &mesh_protocol::Hash) -> PathBuf {
    node.dir.path().join("blobs").join(hash.to_string())
}

/// Every name the old export used or the new one could be steered to:
/// the old predictable temporary name and the output itself are links to
/// a victim; the export must write neither through them.
fn plant_links(out_dir: &Path, name: &str, victim: &Path) {
    std::os::unix::fs::symlink(victim, out_dir.join(format!(".{name}.meshd-tmp"))).unwrap();
    std::os::unix::fs::symlink(victim, out_dir.join(".meshd-.tmp")).unwrap();
}

async fn export_with_planted_links(
    node: &TestNode,
    product: &ProductId,
    data: &[u8],
    out_dir: &Path,
) {
    let victim_dir = tempfile::tempdir().unwrap();
    let victim = victim_dir.path().join("passwd");
    std::fs::write(&victim, b"root:x:0:0\n").unwrap();
    plant_links(out_dir, "orders.csv", &victim);
    let out = out_dir.join("orders.csv");
    fetch(&node.handle, product, &out).await.unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"root:x:0:0\n");
    let meta = std::fs::symlink_metadata(&out).unwrap();
    assert!(meta.is_file(), "the output is a regular file");
    assert_eq!(std::fs::read(&out).unwrap(), data);
    // No temporary file is left beside the output, and the planted links
    // are still links (never replaced, never followed).
    for entry in std::fs::read_dir(out_dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "orders.csv" {
            assert!(
                entry.file_type().unwrap().is_symlink(),
                "{name} left behind"
            );
        }
    }

    // A link at the output itself is refused and left alone.
    let link = out_dir.join("linked.csv");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let err = fetch(&node.handle, product, &link).await.unwrap_err();
    assert!(matches!(err, FetchError::Output(_)), "{err}");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"root:x:0:0\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_never_follow_planted_links_on_this_filesystem_or_another() {
    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let file = sample_file(a.dir.path(), "src.csv", 3 * CHUNK as usize + 17);
    let data = std::fs::read(&file).unwrap();
    let r = a.handle.publish(&file, draft("orders")).await.unwrap();

    let same = tempfile::tempdir().unwrap();
    export_with_planted_links(&a, &r.product, &data, same.path()).await;

    // Another filesystem: the old export fell back to a copy that followed
    // the link there.
    let shm = Path::new("/dev/shm");
    let other = shm
        .is_dir()
        .then(|| tempfile::tempdir_in(shm).ok())
        .flatten();
    match other {
        Some(dir)
            if std::fs::metadata(dir.path()).unwrap().dev()
                != std::fs::metadata(a.dir.path()).unwrap().dev() =>
        {
            export_with_planted_links(&a, &r.product, &data, dir.path()).await;
        }
        _ => println!(
            "skipped the second-filesystem half: /dev/shm is missing or on the same filesystem as {}",
            a.dir.path().display()
        ),
    }
}

/// A character device to aim outputs at: a copy of /dev/null's node in
/// `dir` when this process may create one (root, as in CI), so a
/// regression could only replace that copy; else /dev/null itself, which
/// a user who cannot create devices cannot replace either.
fn device(dir: &Path) -> PathBuf {
    let node = dir.join("null");
    let made = std::process::Command::new("mknod")
        .arg(&node)
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success());
    if made {
        node
    } else {
        PathBuf::from("/dev/null")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_fifos_and_directories_are_refused_as_outputs() {
    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let file = sample_file(a.dir.path(), "src.csv", 1000);
    let r = a.handle.publish(&file, draft("orders")).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let fifo = work.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let null = device(work.path());
    let null = null.as_path();
    for (path, kind) in [
        (null, "device"),
        (fifo.as_path(), "FIFO"),
        (work.path(), "directory"),
    ] {
        let err = fetch(&a.handle, &r.product, path).await.unwrap_err();
        assert!(matches!(err, FetchError::Output(_)), "{err}");
        assert!(err.to_string().contains(kind), "{err}");
        assert_eq!(err.to_string().lines().count(), 1);
    }
    assert!(
        std::fs::metadata(null)
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_a_fetched_output_leaves_the_node_serving_the_right_bytes() {
    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let file = sample_file(a.dir.path(), "src.csv", 3 * CHUNK as usize + 5);
    let data = std::fs::read(&file).unwrap();
    let r = a.handle.publish(&file, draft("orders")).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("orders.csv");
    fetch(&a.handle, &r.product, &out).await.unwrap();
    let blob = blob_path(&a, &r.manifest_hash);
    assert_ne!(
        std::fs::metadata(&out).unwrap().ino(),
        std::fs::metadata(&blob).unwrap().ino(),
        "the output is not a link to the blob"
    );
    // The user edits the output in place.
    let edit = std::fs::OpenOptions::new().write(true).open(&out).unwrap();
    edit.write_all_at(b"EDITED BY THE USER", 10).unwrap();
    edit.sync_all().unwrap();
    drop(edit);

    // The node still serves the right bytes: another node fetches and
    // verifies every chunk.
    let b = TestNode::start("billing", Transport::Tcp, vec![a.addr.clone()]).await;
    b.wait_known(&r.product).await;
    let got = fetch(&b.handle, &r.product, &b.dir.path().join("copy.csv"))
        .await
        .unwrap();
    assert_eq!(std::fs::read(got).unwrap(), data);
    assert_eq!(std::fs::read(&blob).unwrap(), data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_is_private_after_start() {
    let dir = tempfile::tempdir().unwrap();
    mesh_node::identity::init(dir.path(), "sales").unwrap();
    // A directory left readable by everyone, as the old node made it.
    let loose = |p: &Path, mode| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    loose(dir.path(), 0o755);
    std::fs::create_dir(dir.path().join("blobs")).unwrap();
    loose(&dir.path().join("blobs"), 0o755);
    std::fs::write(dir.path().join("blobs").join("a".repeat(64)), b"old bytes").unwrap();
    loose(&dir.path().join("blobs").join("a".repeat(64)), 0o644);
    loose(&dir.path().join("domain.json"), 0o644);

    let a = TestNode::start_in(dir, loopback_config(Transport::Tcp, vec![])).await;
    let file = sample_file(a.dir.path(), "src.csv", 1000);
    let r = a.handle.publish(&file, draft("orders")).await.unwrap();
    let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(a.dir.path()), 0o700);
    assert_eq!(mode(&a.dir.path().join("blobs")), 0o700);
    assert_eq!(mode(&blob_path(&a, &r.manifest_hash)), 0o600);
    assert_eq!(
        mode(&a.dir.path().join("blobs").join("a".repeat(64))),
        0o600
    );
    for f in ["domain.key", "node.key", "domain.json", "node-binding.bin"] {
        assert_eq!(mode(&a.dir.path().join(f)), 0o600, "{f}");
    }
    // Every directory below is closed to group and others, so nothing in
    // them (the database included) is reachable by another user.
    let mut dirs = vec![a.dir.path().to_owned()];
    while let Some(d) = dirs.pop() {
        assert_eq!(mode(&d) & 0o077, 0, "{}", d.display());
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                dirs.push(entry.path());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_publish_leaves_no_blob_behind() {
    let mut config = loopback_config(Transport::Tcp, vec![]);
    config.catalog.max_per_domain = 1;
    let a = TestNode::start_with("sales", config).await;
    let first = sample_file(a.dir.path(), "first.csv", 1000);
    a.handle.publish(&first, draft("orders")).await.unwrap();
    let blobs_before: Vec<_> = std::fs::read_dir(a.dir.path().join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let second = sample_file(a.dir.path(), "second.csv", 2000);
    let refused = a.handle.publish(&second, draft("payroll")).await;
    assert!(refused.is_err(), "the catalog holds one product per domain");
    let blobs_after: Vec<_> = std::fs::read_dir(a.dir.path().join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        blobs_after, blobs_before,
        "the refused publish's blob is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawn_bytes_are_collected_and_kept_versions_stay() {
    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let v1 = sample_file(a.dir.path(), "v1.csv", 1000);
    let v2 = sample_file(a.dir.path(), "v2.csv", 3000);
    let r1 = a.handle.publish(&v1, draft("orders")).await.unwrap();
    let r2 = a.handle.publish(&v2, draft("orders")).await.unwrap();
    let other = sample_file(a.dir.path(), "other.csv", 500);
    let r3 = a.handle.publish(&other, draft("payroll")).await.unwrap();

    // A superseded version in the kept history keeps its bytes.
    let report = a.handle.collect_garbage().await.unwrap();
    assert!(report.removed.is_empty(), "{report:?}");
    for r in [&r1, &r2, &r3] {
        assert!(blob_path(&a, &r.manifest_hash).is_file());
    }
    assert_eq!(
        a.handle.status().await.unwrap().blob_bytes,
        1000 + 3000 + 500
    );

    // A withdrawn product's bytes (every version) go.
    a.handle.withdraw("orders", "gone").await.unwrap();
    let report = a.handle.collect_garbage().await.unwrap();
    let mut removed = report.removed.clone();
    removed.sort();
    let mut expected = vec![r1.manifest_hash, r2.manifest_hash];
    expected.sort();
    assert_eq!(removed, expected, "{report:?}");
    assert!(!blob_path(&a, &r1.manifest_hash).exists());
    assert!(!blob_path(&a, &r2.manifest_hash).exists());
    assert!(blob_path(&a, &r3.manifest_hash).is_file());
    assert_eq!(a.handle.status().await.unwrap().blob_bytes, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_runs_by_itself_after_a_withdrawal() {
    let a = TestNode::start("sales", Transport::Tcp, vec![]).await;
    let file = sample_file(a.dir.path(), "src.csv", 1000);
    let r = a.handle.publish(&file, draft("orders")).await.unwrap();
    let blob = blob_path(&a, &r.manifest_hash);
    assert!(blob.is_file());
    a.handle.withdraw("orders", "gone").await.unwrap();
    // No explicit collection: the withdrawal schedules one.
    let deadline = std::time::Instant::now() + TIMEOUT;
    while blob.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the withdrawn blob was never collected"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
