//! `mesh demo`: the whole flow on one machine, in under a minute. Three real
//! daemons (RocksDB, TCP, the HTTP API; the same code as `meshd run`) start
//! on loopback in temporary data directories; one publishes a sample CSV,
//! the others see it in their catalogs, the third fetches and verifies it.
//! Every step is printed with its time, and everything is removed at the
//! end unless `--keep`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mesh_node::config::Config;
use mesh_node::daemon::{self, Daemon};
use mesh_node::node::{PublishReceipt, Status};
use serde::Serialize;
use serde_json::json;

use crate::args::{DemoArgs, FetchArgs};
use crate::connect::Api;
use crate::error::{CliError, CliResult};
use crate::output;
use crate::product_ref::{self, ProductRef};

/// Longest any demo step may wait for the mesh.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Serialize)]
struct Step {
    step: String,
    ms: u128,
}

struct Demo {
    json: bool,
    started: Instant,
    steps: Vec<Step>,
}

impl Demo {
    fn step(&mut self, what: String, since: Instant) {
        let ms = since.elapsed().as_millis();
        if !self.json {
            crate::outln!(
                "[{:>6.2} s] {what} ({ms} ms)",
                self.started.elapsed().as_secs_f64()
            );
            let _ = std::io::stdout().flush();
        }
        self.steps.push(Step { step: what, ms });
    }
}

fn failed(what: &str) -> impl Fn(String) -> CliError + '_ {
    move |e| CliError::failed(format!("demo: {what}: {e}"))
}

/// Polls `check` every 20 ms until it answers `Some`, for at most
/// [`STEP_TIMEOUT`].
fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> CliResult<T> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(CliError::failed(format!(
                "demo: {what} did not happen within {} s",
                STEP_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A sample CSV of about `bytes` bytes.
fn sample(path: &Path, bytes: u64) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut written = 0u64;
    written += out.write(b"order_id,region,amount_cents\n")? as u64;
    let regions = ["north", "south", "east", "west"];
    let mut i = 0u64;
    while written < bytes {
        let line = format!(
            "{i},{},{}\n",
            regions[(i % 4) as usize],
            (i * 7919) % 100_000
        );
        out.write_all(line.as_bytes())?;
        written += line.len() as u64;
        i += 1;
    }
    out.flush()
}

struct Node {
    name: &'static str,
    daemon: Daemon,
    api: Api,
}

async fn start_node(
    root: &Path,
    name: &'static str,
    network: &str,
    bootstrap: Option<String>,
) -> Result<Node, String> {
    let dir = root.join(name);
    daemon::init(&dir, name).map_err(|e| e.to_string())?;
    let mut config = Config::load(&dir).map_err(|e| e.to_string())?;
    config.network.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().map_err(|e| format!("{e}"))?];
    config.network.mdns = false;
    config.network.network_id = network.to_owned();
    if let Some(addr) = bootstrap {
        config.network.bootstrap = vec![addr.parse().map_err(|e| format!("{e}"))?];
    }
    config.api.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let daemon = daemon::launch(&dir, config)
        .await
        .map_err(|e| e.to_string())?;
    let token = std::fs::read_to_string(dir.join(mesh_node::api::token::TOKEN_FILE))
        .map_err(|e| e.to_string())?;
    let api = Api::new(daemon.api, token.trim().to_owned());
    Ok(Node { name, daemon, api })
}

pub(super) fn run(args: &DemoArgs, json: bool) -> CliResult<()> {
    let root = tempfile::Builder::new()
        .prefix("mesh-demo-")
        .tempdir()
        .map_err(|e| CliError::failed(format!("demo: cannot create a temporary directory: {e}")))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("demo: cannot start a runtime: {e}")))?;
    let mut demo = Demo {
        json,
        started: Instant::now(),
        steps: Vec::new(),
    };
    let network = format!("demo-{}", std::process::id());
    let mut nodes = Vec::new();
    let result = flow(&mut demo, &runtime, root.path(), &network, &mut nodes, args);
    let t = Instant::now();
    for node in nodes {
        let _ = runtime.block_on(node.daemon.stop());
    }
    let dir = root.path().to_path_buf();
    let kept = if args.keep {
        Some(root.keep())
    } else {
        drop(root);
        None
    };
    let outcome = result?;
    demo.step(
        match &kept {
            Some(dir) => format!("stopped the nodes; data kept in {}", dir.display()),
            None => "stopped the nodes and removed their data".to_owned(),
        },
        t,
    );
    if json {
        output::json(&json!({
            "ok": true,
            "dir": dir,
            "kept": kept.is_some(),
            "result": outcome,
            "steps": demo.steps,
            "seconds": demo.started.elapsed().as_secs_f64(),
        }))?;
    } else {
        crate::outln!(
            "done in {:.1} s. Next: run your own node with `meshd run`, then `mesh status`.",
            demo.started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// The demo's steps; started nodes are pushed to `nodes` so the caller
/// stops them whatever happens.
fn flow(
    demo: &mut Demo,
    runtime: &tokio::runtime::Runtime,
    root: &Path,
    network: &str,
    nodes: &mut Vec<Node>,
    args: &DemoArgs,
) -> CliResult<serde_json::Value> {
    let t = Instant::now();
    let first = runtime
        .block_on(start_node(root, "sales", network, None))
        .map_err(failed("starting node sales"))?;
    let status: Status = wait_for("node sales listening", || {
        first
            .api
            .get::<Status>("/v1/status")
            .ok()
            .filter(|s| !s.listen_addrs.is_empty())
    })?;
    let bootstrap = format!("{}/p2p/{}", status.listen_addrs[0], status.peer_id);
    demo.step(
        format!("started node sales, API at {}", first.api.addr()),
        t,
    );
    nodes.push(first);
    for name in ["logistics", "finance"] {
        let t = Instant::now();
        let node = runtime
            .block_on(start_node(root, name, network, Some(bootstrap.clone())))
            .map_err(failed("starting a node"))?;
        demo.step(
            format!("started node {name}, API at {}", node.api.addr()),
            t,
        );
        nodes.push(node);
    }
    let t = Instant::now();
    for node in &nodes[1..] {
        wait_for("peers connecting", || {
            node.api
                .get::<Status>("/v1/status")
                .ok()
                .filter(|s| s.peers > 0)
        })?;
    }
    demo.step("logistics and finance connected to sales".into(), t);

    let t = Instant::now();
    let file = root.join("orders.csv");
    let receipt = publish_sample(&nodes[0], &file, args.bytes)?;
    demo.step(
        format!(
            "sales published sales/orders version {} ({}, manifest {})",
            receipt.version,
            output::bytes(receipt.size),
            &receipt.manifest_hash.to_string()[..16]
        ),
        t,
    );

    let t = Instant::now();
    let path = product_ref::path(&receipt.product);
    for node in &nodes[1..] {
        wait_for("the product reaching every catalog", || {
            node.api.get::<serde_json::Value>(&path).ok()
        })?;
        demo.step(
            format!(
                "sales/orders appeared in {}'s catalog after the publish",
                node.name
            ),
            t,
        );
    }

    let t = Instant::now();
    let output_path: PathBuf = root.join("finance-orders.csv");
    let fetched = super::fetch::fetch(
        &nodes[2].api,
        &FetchArgs {
            product: ProductRef {
                domain: receipt.product.domain.to_string(),
                name: receipt.product.name.clone(),
            },
            version: None,
            output: output_path.clone(),
        },
        !demo.json,
    )?;
    let same = same_bytes(&file, &output_path)
        .map_err(|e| failed("comparing the files")(e.to_string()))?;
    if !same {
        return Err(CliError::failed(
            "demo: the fetched file differs from the original",
        ));
    }
    demo.step(
        format!(
            "finance fetched sales/orders ({}, {:.0} MB/s) and verified it: identical to the original",
            output::bytes(fetched.size),
            mb_per_s(fetched.size, fetched.seconds)
        ),
        t,
    );
    Ok(json!({ "product": receipt.product.to_string(), "size": fetched.size }))
}

/// Writes the sample and publishes it on `sales` through its API.
fn publish_sample(sales: &Node, file: &Path, bytes: u64) -> CliResult<PublishReceipt> {
    sample(file, bytes).map_err(|e| failed("writing the sample")(e.to_string()))?;
    let publish = crate::args::PublishArgs {
        file: file.to_path_buf(),
        name: Some("orders".into()),
        descriptor: None,
        contract: None,
        table: None,
        title: Some("Daily orders (demo)".into()),
        description: Some("Sample orders written by `mesh demo`.".into()),
        tags: vec!["demo".into()],
        format: Some("csv".into()),
    };
    let (draft, _, _) = super::publish::draft(&publish)?;
    let size = std::fs::metadata(file).map_or(0, |m| m.len());
    let mut reader = std::io::BufReader::new(
        std::fs::File::open(file).map_err(|e| failed("opening the sample")(e.to_string()))?,
    );
    let uploaded: serde_json::Value = sales.api.post_stream("/v1/uploads", &mut reader, size)?;
    let receipt: PublishReceipt = sales.api.post(
        "/v1/publish",
        &json!({ "upload_id": uploaded["upload_id"], "draft": draft }),
    )?;
    Ok(receipt)
}

/// Whether two files hold the same bytes, read in blocks.
fn same_bytes(left: &Path, right: &Path) -> std::io::Result<bool> {
    use std::io::Read as _;
    let mut left = std::fs::File::open(left)?;
    let mut right = std::fs::File::open(right)?;
    let mut ours = vec![0u8; 1 << 16];
    let mut theirs = vec![0u8; 1 << 16];
    loop {
        let len = left.read(&mut ours)?;
        if len == 0 {
            return Ok(right.read(&mut theirs[..1])? == 0);
        }
        right.read_exact(&mut theirs[..len]).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                std::io::Error::other("the fetched file is shorter")
            } else {
                e
            }
        })?;
        if ours[..len] != theirs[..len] {
            return Ok(false);
        }
    }
}

#[allow(
    clippy::cast_precision_loss,
    reason = "a display figure; 52 bits of mantissa cover any real size"
)]
fn mb_per_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / 1e6 / seconds.max(1e-3)
}
