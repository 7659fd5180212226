//! `mesh status` and `mesh peers`.

use mesh_node::node::Status;
use mesh_node::peers::PeerInfo;

use crate::connect::Api;
use crate::error::CliResult;
use crate::output;

pub(super) fn status(api: &Api, json: bool) -> CliResult<()> {
    let s: Status = api.get("/v1/status")?;
    if json {
        return output::json(&s);
    }
    let listening = if s.listen_addrs.is_empty() {
        "(none yet)".to_owned()
    } else {
        s.listen_addrs.join("\n             ")
    };
    crate::out!(
        "{}",
        output::block(&[
            ("domain", format!("{} ({})", s.domain_name, s.domain_id)),
            ("peer id", s.peer_id.clone()),
            ("listening", listening),
            ("api", api.addr().to_string()),
            ("peers", s.peers.to_string()),
            ("catalog", format!("{} products", s.catalog_size)),
            ("blobs", output::bytes(s.blob_bytes)),
            ("version", s.version.clone()),
        ])
    );
    Ok(())
}

pub(super) fn peers(api: &Api, json: bool) -> CliResult<()> {
    let peers: Vec<PeerInfo> = api.get("/v1/peers")?;
    if json {
        return output::json(&peers);
    }
    if peers.is_empty() {
        crate::outln!("no peers connected; start another node, or check --bootstrap and mDNS");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = peers
        .iter()
        .map(|p| {
            vec![
                p.peer_id.clone(),
                p.domain_id.clone().unwrap_or_else(|| "-".into()),
                p.direction.clone(),
                p.rtt_ms
                    .map_or_else(|| "-".into(), |r| format!("{r:.1} ms")),
                p.address.clone(),
                p.agent.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    crate::out!(
        "{}",
        output::table(
            &["PEER", "DOMAIN", "DIRECTION", "RTT", "ADDRESS", "AGENT"],
            &rows
        )
    );
    Ok(())
}
