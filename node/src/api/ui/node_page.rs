//! The node page: who this node is, where it listens, its peers, its
//! catalog and storage, and the counters `/metrics` exports.

use axum::Extension;
use axum::extract::State;
use maud::html;

use super::Page;
use super::layout::{self, Nav, Tone};
use super::session::Session;
use crate::api::ApiState;

/// `GET /node`.
pub(super) async fn page(
    State(s): State<ApiState>,
    Extension(session): Extension<Session>,
) -> Page {
    let status = s.handle.status().await?;
    let peers = s.handle.peers().await?;
    let degraded = {
        let handle = s.handle.clone();
        tokio::task::spawn_blocking(move || handle.store_degraded())
            .await
            .unwrap_or_else(|e| Some(format!("the check failed: {e}")))
    };
    let c = &status.counters;
    let counters = serde_json::to_value(c).unwrap_or_default();
    let body = html! {
        h1 { "Node: " (status.domain_name) }
        div.grid {
            section aria-labelledby="identity-h" {
                h2 id="identity-h" { "Identity" }
                dl {
                    dt { "Domain" } dd id="node-domain" { (status.domain_name) " " code.key { (status.domain_id) } }
                    dt { "Domain key" } dd { code.key { (status.domain_key) } }
                    dt { "Peer id" } dd { code.key id="peer-id" { (status.peer_id) } }
                    dt { "Federation" } dd { (status.federation.as_deref().unwrap_or("none"))
                        @if status.member { " (member)" } }
                    dt { "meshd" } dd { (status.version) }
                    dt { "Store" } dd { @match &degraded {
                        None => { (layout::state("writing", Tone::Good)) }
                        Some(why) => { (layout::state("degraded", Tone::Bad)) " " (why) }
                    } }
                }
            }
            section aria-labelledby="figures-h" {
                h2 id="figures-h" { "Figures" }
                dl {
                    dt { "Products in the catalog" } dd id="catalog-size" { (status.catalog_size) }
                    dt { "Connected peers" } dd id="peer-count" { (status.peers) }
                    dt { "Product bytes held" } dd { (layout::bytes(status.blob_bytes)) }
                    @if let Some(map) = counters.as_object() {
                        @for (k, v) in map { dt { (k.replace('_', " ")) } dd { (v.to_string()) } }
                    }
                }
                p.hint { "All counters and libp2p's own metrics: " code { "GET /metrics" } " with the API token." }
            }
        }
        section aria-labelledby="addrs-h" {
            h2 id="addrs-h" { "Listening on" }
            ul id="listen-addrs" { @for a in &status.listen_addrs { li { code { (a) } } } }
        }
        section aria-labelledby="peers-h" {
            h2 id="peers-h" { "Peers" }
            @if peers.is_empty() { p.muted { "No peer connected." } }
            @else {
                div.scroll {
                    table id="peers" {
                        thead { tr { th scope="col" { "Peer" } th scope="col" { "Address" } th scope="col" { "Direction" }
                            th scope="col" { "Domain" } th scope="col" { "Agent" } th scope="col" { "RTT" } th scope="col" { "Since" } } }
                        tbody { @for p in &peers { tr {
                            td { code.key title=(p.peer_id) { (layout::short_domain(&p.peer_id)) } }
                            td { code { (p.address) } }
                            td { (p.direction) }
                            td { @if let Some(d) = &p.domain_id { code.key { (layout::short_domain(d)) } } }
                            td { (p.agent.as_deref().unwrap_or("")) }
                            td.num { @if let Some(r) = p.rtt_ms { (format!("{r:.1} ms")) } }
                            td { (layout::date(p.connected_since_ms)) }
                        } } }
                    }
                }
            }
        }
    };
    Ok(layout::page("Node", Nav::Node, &session, &body))
}
