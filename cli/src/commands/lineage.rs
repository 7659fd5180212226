//! `mesh lineage DOMAIN/NAME`: what a product is computed from and what is
//! computed from it, across domains, as the node's catalog knows it.
//!
//! The text form is two trees around the product: its inputs above
//! (upstream, with the version a derived product read) and the products
//! made from it below (downstream). `--dot` prints the same graph for
//! Graphviz (`mesh lineage sales/orders --dot | dot -Tsvg > lineage.svg`);
//! `--json` prints the node's answer as is.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use mesh_node::lineage::{LineageEdge, LineageGraph, LineageNode};

use crate::args::LineageArgs;
use crate::connect::Api;
use crate::error::CliResult;
use crate::{output, product_ref};

pub(super) fn run(api: &Api, args: &LineageArgs, json: bool) -> CliResult<()> {
    let id = args.product.resolve(api)?;
    let graph: LineageGraph = api.get(&format!("{}/lineage", product_ref::path(&id)))?;
    if json {
        return output::json(&graph);
    }
    if args.dot {
        crate::out!("{}", dot(&graph));
    } else {
        crate::out!("{}", tree(&graph));
    }
    Ok(())
}

fn label(n: &LineageNode) -> String {
    let name = match &n.domain_name {
        Some(domain) => format!("{domain}/{}", n.name),
        None => n.id.clone(),
    };
    let mut out = output::printable(&name);
    if let Some(v) = n.version {
        let _ = write!(out, " v{v}");
    }
    if n.query.is_some() {
        out.push_str(" (derived by a query)");
    }
    if !n.known {
        out.push_str(" (not in this node's catalog)");
    }
    out
}

fn versions(e: &LineageEdge) -> String {
    match e.versions.as_slice() {
        [] => String::new(),
        vs => format!(
            " [read @{}]",
            vs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", @")
        ),
    }
}

/// Upstream above, downstream below, each a tree from the root.
fn tree(g: &LineageGraph) -> String {
    let nodes: BTreeMap<&str, &LineageNode> = g.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let Some(root) = nodes.get(g.root.as_str()) else {
        return String::new();
    };
    let mut out = format!("{}\n", label(root));
    let inputs =
        |id: &str| -> Vec<&LineageEdge> { g.edges.iter().filter(|e| e.to == id).collect() };
    let outputs =
        |id: &str| -> Vec<&LineageEdge> { g.edges.iter().filter(|e| e.from == id).collect() };
    out.push_str("upstream (computed from):\n");
    let before = out.len();
    walk(
        &mut out,
        &nodes,
        &g.root,
        &inputs,
        true,
        "  ",
        &mut HashSet::new(),
    );
    if out.len() == before {
        out.push_str("  (none: a source product)\n");
    }
    out.push_str("downstream (computed from it):\n");
    let before = out.len();
    walk(
        &mut out,
        &nodes,
        &g.root,
        &outputs,
        false,
        "  ",
        &mut HashSet::new(),
    );
    if out.len() == before {
        out.push_str("  (none known)\n");
    }
    if g.truncated {
        let _ = writeln!(
            out,
            "(more not shown: the graph stops at {} products)",
            mesh_node::lineage::MAX_NODES
        );
    }
    out
}

fn walk<'a>(
    out: &mut String,
    nodes: &BTreeMap<&str, &LineageNode>,
    id: &'a str,
    next: &dyn Fn(&str) -> Vec<&'a LineageEdge>,
    up: bool,
    indent: &str,
    seen: &mut HashSet<String>,
) {
    if !seen.insert(id.to_owned()) {
        return;
    }
    let edges = next(id);
    for (i, e) in edges.iter().enumerate() {
        let last = i + 1 == edges.len();
        let other = if up { &e.from } else { &e.to };
        let shown = nodes
            .get(other.as_str())
            .map_or_else(|| output::printable(other), |n| label(n));
        let again = if seen.contains(other.as_str()) {
            " (see above)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{indent}{}{shown}{}{again}",
            if last { "└─ " } else { "├─ " },
            versions(e)
        );
        let deeper = format!("{indent}{}", if last { "   " } else { "│  " });
        walk(out, nodes, other, next, up, &deeper, seen);
    }
}

/// Graphviz DOT: one node per product, an edge from each input to what
/// is computed from it.
fn dot(g: &LineageGraph) -> String {
    let mut out = String::from("digraph lineage {\n  rankdir=LR;\n  node [shape=box];\n");
    for n in &g.nodes {
        let style = match (n.id == g.root, n.known) {
            (true, _) => ", style=bold",
            (false, false) => ", style=dashed",
            _ => "",
        };
        let _ = writeln!(
            out,
            "  {} [label={}{style}];",
            quote(&n.id),
            quote(&label(n))
        );
    }
    for e in &g.edges {
        let tail = versions(e);
        let attrs = if tail.is_empty() {
            String::new()
        } else {
            format!(" [label={}]", quote(tail.trim()))
        };
        let _ = writeln!(out, "  {} -> {}{attrs};", quote(&e.from), quote(&e.to));
    }
    out.push_str("}\n");
    out
}

/// A DOT double-quoted string: quotes and backslashes escaped, control
/// characters dropped, so a hostile title cannot break the graph.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, depth: i32, known: bool) -> LineageNode {
        LineageNode {
            id: id.into(),
            domain_name: known.then(|| "d".to_owned()),
            name: id.into(),
            version: known.then_some(1),
            title: None,
            known,
            query: None,
            depth,
        }
    }

    fn edge(from: &str, to: &str, versions: Vec<u64>) -> LineageEdge {
        LineageEdge {
            from: from.into(),
            to: to.into(),
            versions,
        }
    }

    fn graph() -> LineageGraph {
        LineageGraph {
            root: "spend".into(),
            nodes: vec![
                node("spend", 0, true),
                node("orders", -1, true),
                node("gone", -1, false),
                node("report", 1, true),
            ],
            edges: vec![
                edge("orders", "spend", vec![2]),
                edge("gone", "spend", vec![]),
                edge("spend", "report", vec![1]),
            ],
            truncated: false,
        }
    }

    #[test]
    fn the_tree_shows_both_directions_with_versions_read() {
        let text = tree(&graph());
        assert_eq!(
            text,
            "d/spend v1\nupstream (computed from):\n  ├─ d/orders v1 [read @2]\n  └─ gone (not in this node's catalog)\ndownstream (computed from it):\n  └─ d/report v1 [read @1]\n"
        );
    }

    #[test]
    fn dot_escapes_hostile_labels() {
        let mut g = graph();
        g.nodes[1].domain_name = Some("x\"];evil[\\".into());
        let text = dot(&g);
        assert!(text.contains(r#"label="x\"];evil[\\/orders v1""#), "{text}");
        assert!(
            text.contains("\"orders\" -> \"spend\" [label=\"[read @2]\"];"),
            "{text}"
        );
        assert!(
            text.contains("\"gone\" [label=\"gone (not in this node's catalog)\", style=dashed];")
        );
        assert!(text.starts_with("digraph lineage {") && text.ends_with("}\n"));
    }
}
