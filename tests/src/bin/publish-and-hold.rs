//! Test helper: starts a node on a data dir, publishes one file, prints
//! `PUBLISHED <version>` once the publish is acknowledged, then keeps running
//! (at most 120 s) so the test can kill it with SIGKILL.

use std::time::Duration;

use mesh_node::{NodeOptions, ProductDraft};
use mesh_protocol::descriptor::Format;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(file), Some(name)) = (args.next(), args.next(), args.next()) else {
        anyhow::bail!("usage: publish-and-hold DATA_DIR FILE NAME");
    };
    let config = mesh_tests::loopback_config(mesh_tests::Transport::Tcp, Vec::new());
    let node = mesh_node::start(NodeOptions {
        data_dir: dir.into(),
        config,
        store: None,
        transport: None,
    })
    .await?;
    let receipt = node
        .handle
        .publish(
            file.as_ref(),
            ProductDraft::new(name, "Held product", Format::Csv),
        )
        .await?;
    println!("PUBLISHED {}", receipt.version);
    tokio::time::sleep(Duration::from_secs(120)).await;
    Ok(())
}
