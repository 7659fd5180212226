//! Who each node knows when it starts: the scenario's `bootstrap` shape and
//! the bootstrap lists it yields.
//!
//! Real nodes find the rest of the mesh from a few bootstrap peers (then
//! Kademlia and gossip do the rest), so the shape of those first lists is
//! part of what a scenario tests. The lists are computed here, from the
//! seed, so the engine only dials them.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use rand::{Rng, RngExt};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::NodeIndex;

/// The shape of the bootstrap lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topology {
    /// `"ring"`: each node knows the next and the previous node.
    Ring,
    /// `"star"`: every node knows node 0 (the first node of the first
    /// group), which knows nobody.
    Star,
    /// `"full"`: every node knows every other (small meshes only).
    Full,
    /// `"random:K"`: each node knows `K` other nodes chosen from the seed
    /// (all others when there are `K` or fewer).
    Random {
        /// How many peers each node knows.
        peers: usize,
    },
}

impl Default for Topology {
    /// `random:8`.
    fn default() -> Self {
        Self::Random { peers: 8 }
    }
}

/// Why a `bootstrap` value does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a bootstrap shape: use \"ring\", \"star\", \"full\" or \"random:K\" (K at least 1)"
)]
pub struct TopologyError(pub String);

impl FromStr for Topology {
    type Err = TopologyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "ring" => Ok(Self::Ring),
            "star" => Ok(Self::Star),
            "full" => Ok(Self::Full),
            other => other
                .strip_prefix("random:")
                .and_then(|k| k.trim().parse::<usize>().ok())
                .filter(|k| *k > 0)
                .map(|peers| Self::Random { peers })
                .ok_or_else(|| TopologyError(s.to_owned())),
        }
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ring => f.write_str("ring"),
            Self::Star => f.write_str("star"),
            Self::Full => f.write_str("full"),
            Self::Random { peers } => write!(f, "random:{peers}"),
        }
    }
}

impl Serialize for Topology {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Topology {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Topology {
    /// The bootstrap list of each of `nodes` nodes (indexed like the
    /// scenario's nodes). No list holds its own node or a duplicate. Only
    /// `random:K` draws from `rng`.
    pub fn bootstrap_lists<R: Rng + ?Sized>(
        &self,
        nodes: usize,
        rng: &mut R,
    ) -> Vec<Vec<NodeIndex>> {
        (0..nodes)
            .map(|node| match *self {
                Self::Ring => {
                    let mut peers = BTreeSet::new();
                    if nodes > 1 {
                        peers.insert((node + 1) % nodes);
                        peers.insert((node + nodes - 1) % nodes);
                    }
                    peers.into_iter().collect()
                }
                Self::Star => {
                    if node == 0 {
                        Vec::new()
                    } else {
                        vec![0]
                    }
                }
                Self::Full => (0..nodes).filter(|p| *p != node).collect(),
                Self::Random { peers } => random_peers(node, nodes, peers, rng),
            })
            .collect()
    }
}

/// `k` distinct nodes other than `node`, uniformly, in the order drawn.
fn random_peers<R: Rng + ?Sized>(
    node: NodeIndex,
    nodes: usize,
    k: usize,
    rng: &mut R,
) -> Vec<NodeIndex> {
    let others = nodes.saturating_sub(1);
    if k >= others {
        return (0..nodes).filter(|p| *p != node).collect();
    }
    // Draw from the others (indices 0..others, skipping `node`).
    let skip = |i: usize| if i >= node { i + 1 } else { i };
    if k * 2 <= others {
        let mut chosen = BTreeSet::new();
        let mut out = Vec::with_capacity(k);
        while out.len() < k {
            let pick = skip(rng.random_range(0..others));
            if chosen.insert(pick) {
                out.push(pick);
            }
        }
        out
    } else {
        // A partial Fisher–Yates shuffle when most nodes are picked anyway.
        let mut pool: Vec<NodeIndex> = (0..others).map(skip).collect();
        for i in 0..k {
            let j = rng.random_range(i..others);
            pool.swap(i, j);
        }
        pool.truncate(k);
        pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn shapes_parse_and_print() {
        for text in ["ring", "star", "full", "random:8"] {
            assert_eq!(text.parse::<Topology>().unwrap().to_string(), text);
        }
        assert!("random:0".parse::<Topology>().is_err());
        assert!("mesh".parse::<Topology>().is_err());
    }

    #[test]
    fn lists_never_hold_self_or_duplicates() {
        let mut rng = StdRng::seed_from_u64(9);
        for shape in ["ring", "star", "full", "random:3", "random:8", "random:50"] {
            let topology: Topology = shape.parse().unwrap();
            for nodes in [1, 2, 3, 10, 100] {
                let lists = topology.bootstrap_lists(nodes, &mut rng);
                assert_eq!(lists.len(), nodes);
                for (node, list) in lists.iter().enumerate() {
                    assert!(!list.contains(&node), "{shape} {nodes}");
                    let unique: BTreeSet<_> = list.iter().collect();
                    assert_eq!(unique.len(), list.len(), "{shape} {nodes}");
                    assert!(list.iter().all(|p| *p < nodes));
                }
            }
        }
    }

    #[test]
    fn random_lists_have_k_peers_and_follow_the_seed() {
        let topology = Topology::Random { peers: 8 };
        let lists = |seed| topology.bootstrap_lists(1000, &mut StdRng::seed_from_u64(seed));
        assert!(lists(1).iter().all(|l| l.len() == 8));
        assert_eq!(lists(1), lists(1));
        assert_ne!(lists(1), lists(2));
        let most = Topology::Random { peers: 7 }.bootstrap_lists(10, &mut StdRng::seed_from_u64(1));
        assert!(most.iter().all(|l| l.len() == 7));
    }
}
