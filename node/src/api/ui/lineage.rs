//! The lineage page: a product's upstream and downstream graph across
//! domains (from [`crate::lineage::graph`], the same walk as the API's),
//! drawn as SVG on the server.
//!
//! Layout is layered by depth, as in Sugiyama-style drawings of DAGs: one
//! column per depth (upstream left, downstream right), nodes in a column
//! sorted by id so the drawing is the same on every load, edges as curves
//! from an input's right edge to the product's left edge. Each known node
//! is a link to its product page; an input the catalog does not know is
//! drawn dashed and links nowhere.

use std::collections::{BTreeMap, HashMap};

use axum::Extension;
use axum::extract::{Path, State};
use maud::{Markup, html};

use super::layout::{self, Nav};
use super::product::{product_id, unknown};
use super::session::Session;
use super::{Page, UiError};
use crate::api::ApiState;
use crate::lineage::{LineageGraph, LineageNode};

const BOX_W: i64 = 200;
const BOX_H: i64 = 52;
const GAP_X: i64 = 80;
const GAP_Y: i64 = 24;
const MARGIN: i64 = 12;

/// Text cut to `max` characters, with an ellipsis.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// Where each node's box goes: (x, y) of its top-left corner.
fn place(graph: &LineageGraph) -> (HashMap<&str, (i64, i64)>, i64, i64) {
    let mut columns: BTreeMap<i32, Vec<&LineageNode>> = BTreeMap::new();
    for n in &graph.nodes {
        columns.entry(n.depth).or_default().push(n);
    }
    let mut at = HashMap::new();
    let mut height = 0;
    let mut x = MARGIN;
    for nodes in columns.values_mut() {
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        let mut y = MARGIN;
        for n in nodes.iter() {
            at.insert(n.id.as_str(), (x, y));
            y += BOX_H + GAP_Y;
        }
        height = height.max(y);
        x += BOX_W + GAP_X;
    }
    (at, x - GAP_X + MARGIN, height - GAP_Y + MARGIN)
}

/// The graph as an SVG element.
pub(super) fn svg(graph: &LineageGraph) -> Markup {
    let (at, width, height) = place(graph);
    let view = format!("0 0 {} {}", width.max(1), height.max(1));
    html! {
        svg.lineage xmlns="http://www.w3.org/2000/svg" viewBox=(view) width=(width) height=(height)
            role="img" aria-labelledby="lineage-title" {
            title id="lineage-title" { "Lineage of " (graph.root) }
            @for e in &graph.edges {
                @if let (Some(from), Some(to)) = (at.get(e.from.as_str()), at.get(e.to.as_str())) {
                    path.edge d=(edge_path(*from, *to)) {}
                }
            }
            @for n in &graph.nodes {
                @if let Some((x, y)) = at.get(n.id.as_str()) {
                    (node(n, *x, *y, n.id == graph.root))
                }
            }
        }
    }
}

/// A curve from the right middle of one box to the left middle of another.
fn edge_path(from: (i64, i64), to: (i64, i64)) -> String {
    let (start_x, start_y) = (from.0 + BOX_W, from.1 + BOX_H / 2);
    let (end_x, end_y) = (to.0, to.1 + BOX_H / 2);
    let mid = i64::midpoint(start_x, end_x);
    format!("M{start_x},{start_y} C{mid},{start_y} {mid},{end_y} {end_x},{end_y}")
}

fn node(n: &LineageNode, left: i64, top: i64, root: bool) -> Markup {
    let class = match (root, n.known) {
        (true, _) => "node root",
        (false, true) => "node",
        (false, false) => "node unknown",
    };
    let who = n.domain_name.as_deref().unwrap_or("unknown domain");
    let label = cut(&format!("{who}/{}", n.name), 28);
    let sub = match (n.version, &n.title) {
        (Some(v), Some(t)) => cut(&format!("v{v} · {t}"), 30),
        _ => "not in this node's catalog".to_owned(),
    };
    let inner = html! {
        rect class=(class) x=(left) y=(top) width=(BOX_W) height=(BOX_H) rx="6" {}
        text x=(left + 10) y=(top + 21) class="label" { (label) }
        text x=(left + 10) y=(top + 40) class="sub" { (sub) }
    };
    html! {
        g data-node=(n.id) {
            title { (n.id) }
            @if n.known {
                a href=(layout::product_href(&n.id)) { (inner) }
            } @else {
                (inner)
            }
        }
    }
}

/// `GET /products/{domain}/{name}/lineage`.
pub(super) async fn page(
    State(s): State<ApiState>,
    Extension(session): Extension<Session>,
    Path((domain, name)): Path<(String, String)>,
) -> Page {
    let id = product_id(&domain, &name)?;
    let graph = crate::api::lineage::graph_of(&s, &id)
        .await?
        .ok_or_else(|| UiError::from(unknown(&id.to_string())))?;
    let body = html! {
        h1 { "Lineage of " a href=(layout::product_href(&graph.root)) { (id.name) } }
        p.hint { "Inputs on the left, products derived from it on the right. Each box links to its product." }
        @if graph.truncated { p.error { "The graph is larger than " (crate::lineage::MAX_NODES) " products; it was cut there." } }
        div.scroll { (svg(&graph)) }
        h2 { "Edges" }
        ul id="edges" {
            @for e in &graph.edges {
                li { a href=(layout::product_href(&e.from)) { (e.from) } " → " a href=(layout::product_href(&e.to)) { (e.to) }
                    @if !e.versions.is_empty() { " (read version " (e.versions.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")) ")" } }
            }
            @if graph.edges.is_empty() { li.muted { "No inputs and no derived products." } }
        }
    };
    Ok(layout::page("Lineage", Nav::Catalog, &session, &body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineage::LineageEdge;

    fn n(id: &str, depth: i32, known: bool) -> LineageNode {
        LineageNode {
            id: id.to_owned(),
            domain_name: known.then(|| "<b>sales</b>".to_owned()),
            name: id.rsplit('/').next().unwrap_or(id).to_owned(),
            version: known.then_some(1),
            title: known.then(|| "T".to_owned()),
            known,
            query: None,
            depth,
        }
    }

    #[test]
    fn columns_by_depth_links_for_known_nodes_and_escaped_text() {
        let graph = LineageGraph {
            root: "d/mid".to_owned(),
            nodes: vec![
                n("d/mid", 0, true),
                n("d/up", -1, true),
                n("x/gone", -1, false),
                n("d/down", 1, true),
            ],
            edges: vec![
                LineageEdge {
                    from: "d/up".to_owned(),
                    to: "d/mid".to_owned(),
                    versions: vec![],
                },
                LineageEdge {
                    from: "d/mid".to_owned(),
                    to: "d/down".to_owned(),
                    versions: vec![1],
                },
            ],
            truncated: false,
        };
        let (at, w, _) = place(&graph);
        assert!(at["d/up"].0 < at["d/mid"].0 && at["d/mid"].0 < at["d/down"].0);
        assert_eq!(at["d/up"].0, at["x/gone"].0, "same depth, same column");
        assert!(w > 3 * BOX_W);
        let out = svg(&graph).into_string();
        assert!(out.contains("href=\"/products/d/down\""), "{out}");
        assert!(!out.contains("href=\"/products/x/gone\""), "{out}");
        assert_eq!(out.matches("<path").count(), 2, "{out}");
        assert!(!out.contains("<b>"), "{out}");
    }
}
