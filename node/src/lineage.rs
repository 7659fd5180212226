//! The lineage graph around one product, across domains, read off this
//! node's catalog (`mesh lineage`, `GET /v1/products/{domain}/{name}/lineage`).
//!
//! Upstream follows each descriptor's `lineage` list (for a product
//! published from a query, the node filled it in from the plan, so the
//! edge also carries the input version read); downstream is every
//! descriptor that lists the product. Both walks visit a product once
//! (lineage lists may form cycles: they are signed claims, not a checked
//! DAG) and stop at [`MAX_NODES`], saying so. An input the catalog does
//! not know (withdrawn, or never gossiped here) is a node marked unknown.

use std::collections::{BTreeMap, HashMap, VecDeque};

use mesh_protocol::{Descriptor, ProductId};
use serde::{Deserialize, Serialize};

/// Most products one graph holds.
pub const MAX_NODES: usize = 500;

/// One product of the graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineageNode {
    /// `DOMAINID/name`.
    pub id: String,
    /// The owning domain's name, when the catalog knows the product.
    pub domain_name: Option<String>,
    /// The product name.
    pub name: String,
    /// The current version, when known.
    pub version: Option<u64>,
    /// Its title, when known.
    pub title: Option<String>,
    /// Whether this node's catalog holds a live descriptor for it.
    pub known: bool,
    /// The query it was computed by, for a derived product.
    pub query: Option<String>,
    /// Steps from the root: negative upstream, positive downstream.
    pub depth: i32,
}

/// "`to` is computed from `from`".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineageEdge {
    /// The input, `DOMAINID/name`.
    pub from: String,
    /// The product computed from it.
    pub to: String,
    /// The versions of `from` that `to`'s current version read (known for
    /// derived products; empty for a typed lineage).
    pub versions: Vec<u64>,
}

/// The graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineageGraph {
    /// The product asked about.
    pub root: String,
    /// Every product reached, the root first.
    pub nodes: Vec<LineageNode>,
    /// Every edge between them.
    pub edges: Vec<LineageEdge>,
    /// Whether the walk stopped at [`MAX_NODES`].
    pub truncated: bool,
}

fn node(id: &ProductId, d: Option<&Descriptor>, depth: i32) -> LineageNode {
    LineageNode {
        id: id.to_string(),
        domain_name: d.map(|d| d.domain_name.clone()),
        name: id.name.clone(),
        version: d.map(|d| d.version),
        title: d.map(|d| d.title.clone()),
        known: d.is_some(),
        query: d.and_then(|d| d.derivation.as_ref().map(|x| x.query.clone())),
        depth,
    }
}

fn versions_read(d: &Descriptor, input: &ProductId) -> Vec<u64> {
    let mut out: Vec<u64> = d
        .derivation
        .iter()
        .flat_map(|x| &x.inputs)
        .filter(|i| &i.product == input)
        .map(|i| i.version)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The graph around `root` over `catalog` (live descriptors); `None` when
/// the catalog does not know `root`.
pub fn graph(catalog: &[Descriptor], root: &ProductId) -> Option<LineageGraph> {
    let by_id: HashMap<&ProductId, &Descriptor> = catalog.iter().map(|d| (&d.id, d)).collect();
    let start = by_id.get(root)?;
    let mut downstream: HashMap<&ProductId, Vec<&Descriptor>> = HashMap::new();
    for d in catalog {
        for input in &d.lineage {
            downstream.entry(input).or_default().push(d);
        }
    }
    let mut nodes: BTreeMap<ProductId, LineageNode> = BTreeMap::new();
    let mut order = vec![root.clone()];
    nodes.insert(root.clone(), node(root, Some(start), 0));
    let mut edges: Vec<LineageEdge> = Vec::new();
    let mut truncated = false;

    // Upstream: each known product's inputs.
    let mut queue: VecDeque<(ProductId, i32)> = VecDeque::from([(root.clone(), 0)]);
    while let Some((id, depth)) = queue.pop_front() {
        let Some(d) = by_id.get(&id) else { continue };
        for input in &d.lineage {
            edges.push(LineageEdge {
                from: input.to_string(),
                to: id.to_string(),
                versions: versions_read(d, input),
            });
            if nodes.contains_key(input) {
                continue;
            }
            if nodes.len() >= MAX_NODES {
                truncated = true;
                continue;
            }
            let known = by_id.get(input).copied();
            nodes.insert(input.clone(), node(input, known, depth - 1));
            order.push(input.clone());
            queue.push_back((input.clone(), depth - 1));
        }
    }
    // Downstream: every product listing one reached downstream.
    let mut queue: VecDeque<(ProductId, i32)> = VecDeque::from([(root.clone(), 0)]);
    let mut walked = std::collections::HashSet::from([root.clone()]);
    while let Some((id, depth)) = queue.pop_front() {
        for d in downstream.get(&id).into_iter().flatten() {
            if walked.contains(&d.id) {
                // Reached both ways (a cycle): its edges are listed.
                if !edges
                    .iter()
                    .any(|e| e.from == id.to_string() && e.to == d.id.to_string())
                {
                    edges.push(LineageEdge {
                        from: id.to_string(),
                        to: d.id.to_string(),
                        versions: versions_read(d, &id),
                    });
                }
                continue;
            }
            if !nodes.contains_key(&d.id) && nodes.len() >= MAX_NODES {
                truncated = true;
                continue;
            }
            edges.push(LineageEdge {
                from: id.to_string(),
                to: d.id.to_string(),
                versions: versions_read(d, &id),
            });
            walked.insert(d.id.clone());
            if !nodes.contains_key(&d.id) {
                nodes.insert(d.id.clone(), node(&d.id, Some(d), depth + 1));
                order.push(d.id.clone());
            }
            queue.push_back((d.id.clone(), depth + 1));
        }
    }
    edges.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    edges.dedup_by(|a, b| a.from == b.from && a.to == b.to);
    let nodes = order
        .into_iter()
        .filter_map(|id| nodes.remove(&id))
        .collect();
    Some(LineageGraph {
        root: root.to_string(),
        nodes,
        edges,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_protocol::DomainKeypair;
    use mesh_protocol::descriptor::{AccessPolicy, Content, Format, Owner, Quality, Schema};

    fn id(domain: u8, name: &str) -> ProductId {
        ProductId {
            domain: DomainKeypair::from_secret([domain; 32]).domain_id(),
            name: name.into(),
        }
    }

    fn product(domain: u8, name: &str, inputs: &[ProductId]) -> Descriptor {
        Descriptor {
            id: id(domain, name),
            domain_name: format!("d{domain}"),
            version: 1,
            title: name.to_uppercase(),
            description: String::new(),
            owner: Owner::default(),
            schema: Schema::default(),
            format: Format::Parquet,
            content: Content {
                size: 1,
                chunk_size: 1 << 20,
                manifest_hash: mesh_protocol::Hash::of(name.as_bytes()),
            },
            tags: std::collections::BTreeSet::default(),
            quality: Quality::default(),
            lineage: inputs.to_vec(),
            access: AccessPolicy::default(),
            retention_days: None,
            created_at: mesh_protocol::Timestamp(0),
            deprecation: None,
            csv: None,
            profile: None,
            derivation: None,
        }
    }

    #[test]
    fn walks_up_and_down_across_domains() {
        let orders = product(1, "orders", &[]);
        let customers = product(2, "customers", &[]);
        let spend = product(3, "spend", &[orders.id.clone(), customers.id.clone()]);
        let report = product(4, "report", &[spend.id.clone(), id(9, "gone")]);
        let unrelated = product(5, "other", &[]);
        let catalog = [orders, customers, spend.clone(), report, unrelated];
        let g = graph(&catalog, &spend.id).unwrap();
        let depth: BTreeMap<&str, i32> =
            g.nodes.iter().map(|n| (n.name.as_str(), n.depth)).collect();
        assert_eq!(
            depth,
            BTreeMap::from([
                ("spend", 0),
                ("orders", -1),
                ("customers", -1),
                ("report", 1)
            ])
        );
        assert_eq!(g.nodes[0].id, spend.id.to_string());
        assert_eq!(g.edges.len(), 3, "{:?}", g.edges);
        assert!(!g.truncated);
        // The report's other input is not in the spend graph (only what
        // is reachable from the root is).
        assert!(g.nodes.iter().all(|n| n.name != "gone"));

        let g = graph(&catalog, &id(4, "report")).unwrap();
        let gone = g.nodes.iter().find(|n| n.name == "gone").unwrap();
        assert!(!gone.known && gone.version.is_none());
        assert_eq!(g.nodes.len(), 5);
        assert!(graph(&catalog, &id(9, "gone")).is_none());
    }

    #[test]
    fn cycles_end_and_size_is_bounded() {
        let a = product(1, "a", &[id(1, "b")]);
        let b = product(1, "b", &[id(1, "a")]);
        let g = graph(&[a.clone(), b], &a.id).unwrap();
        assert_eq!(g.nodes.len(), 2);
        assert_eq!(g.edges.len(), 2, "{:?}", g.edges);

        let root = product(1, "root", &[]);
        let mut catalog = vec![root.clone()];
        for i in 0..(MAX_NODES + 10) {
            catalog.push(product(2, &format!("p{i}"), std::slice::from_ref(&root.id)));
        }
        let g = graph(&catalog, &root.id).unwrap();
        assert_eq!(g.nodes.len(), MAX_NODES);
        assert!(g.truncated);
    }
}
