//! Test helper: starts a node on a data dir, dials a provider, starts a
//! fetch and prints `CHUNKS <n>` each time the verified chunk count grows,
//! so the test can SIGKILL it mid-transfer. Exits by itself after 120 s.

use std::time::Duration;

use mesh_node::NodeOptions;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(peer), Some(product), Some(output)) =
        (args.next(), args.next(), args.next(), args.next())
    else {
        anyhow::bail!("usage: fetch-and-hold DATA_DIR PEER_ADDR PRODUCT OUTPUT");
    };
    let config = mesh_tests::loopback_config(mesh_tests::Transport::Tcp, vec![peer.parse()?]);
    let node = mesh_node::start(NodeOptions {
        data_dir: dir.into(),
        config,
        store: None,
        transport: None,
    })
    .await?;
    let product: mesh_protocol::ProductId = product.parse()?;
    // Wait (bounded) for the catalog sync to bring the product.
    let mut known = false;
    for _ in 0..600 {
        if node.handle.get(product.clone()).await?.is_some() {
            known = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::ensure!(known, "product never arrived");
    let mut fetch = node.handle.fetch(product, None, output.as_ref()).await?;
    let hold = async {
        let mut last = 0;
        while fetch.progress.changed().await.is_ok() {
            let done = fetch.progress.borrow().chunks_done;
            if done > last {
                last = done;
                println!("CHUNKS {done}");
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(120), hold).await;
    Ok(())
}
