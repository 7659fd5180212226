//! The scenario's timeline: `[[events]]`, each an `action` at a simulated
//! instant (`at = "5s"`).
//!
//! Events are what happens to the mesh on purpose: publishes, fetches,
//! proposals and votes, and faults (partitions, crashes, churn, link
//! degradation). They are kept apart from the rest of the format because
//! they are the part that grows: a new kind of event is one new variant of
//! [`Action`] here plus its checks in `validate`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Quorum;
use super::nodes::{NodeRef, NodeSet};
use crate::link::{Latency, LinkSpec};
use crate::units::serde_units;

/// One thing that happens at a simulated instant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When, from the start of the run (`"5s"`).
    #[serde(with = "serde_units::duration")]
    pub at: Duration,
    /// What happens (the `action` key and its fields).
    #[serde(flatten)]
    pub action: Action,
}

fn default_size() -> u64 {
    1 << 20
}

/// What an event does. In the file, `action = "publish"` and so on, with
/// the variant's fields beside it in the same `[[events]]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// `node` publishes (a new version of) its product `product`, of `size`
    /// bytes (default 1 MiB). The product belongs to the node's domain; other
    /// events and expectations name it by `product` alone.
    Publish {
        /// The publishing node.
        node: NodeRef,
        /// The product's name.
        product: String,
        /// The product's size (`"4MiB"` or bytes).
        #[serde(default = "default_size", with = "serde_units::size")]
        size: u64,
    },
    /// Every node of `nodes` starts fetching the product's bytes.
    Fetch {
        /// The fetching nodes.
        nodes: NodeSet,
        /// The product's name.
        product: String,
    },
    /// `node` proposes a governance change; `proposal` is the label that
    /// votes and expectations use.
    Propose {
        /// The proposing node (a federation member).
        node: NodeRef,
        /// A label for the proposal, unique in the scenario.
        proposal: String,
        /// What the proposal changes.
        change: Change,
    },
    /// Every node of `nodes` votes on the proposal: a person's approval or
    /// rejection, signed with a reason. A vote cannot be changed, and a
    /// member may approve several proposals of one slot.
    Vote {
        /// The voting nodes (federation members).
        nodes: NodeSet,
        /// The proposal's label.
        proposal: String,
        /// `"yes"` (default) or `"no"`.
        #[serde(default)]
        choice: Choice,
        /// Why, as the members would write it (default: empty); at most
        /// [`MAX_VOTE_REASON`](mesh_protocol::governance::MAX_VOTE_REASON)
        /// bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The network splits: traffic between different sides is dropped.
    /// Nodes named on no side form one more side together. Replaces any
    /// earlier partition.
    Partition {
        /// The sides, each a node set: `sides = [["eu"], ["us", "asia"]]`.
        sides: Vec<NodeSet>,
    },
    /// Any partition ends.
    Heal {},
    /// Nodes stop abruptly (their stores survive for `restart`). With
    /// `fraction`, that share of `nodes`, chosen from the seed.
    Crash {
        /// The nodes.
        nodes: NodeSet,
        /// The share of `nodes` to crash, 0 to 1 (default: all of them).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fraction: Option<f64>,
    },
    /// Crashed or departed nodes among `nodes` start again with their
    /// stores.
    Restart {
        /// The nodes.
        nodes: NodeSet,
    },
    /// Nodes of a group declared with `starts_online = false` (or that left)
    /// join the mesh, bootstrapping like the others.
    Join {
        /// The nodes.
        nodes: NodeSet,
    },
    /// Nodes leave the mesh cleanly (closing their connections).
    Leave {
        /// The nodes.
        nodes: NodeSet,
    },
    /// Churn from `at` until `until` (or the end of the run): every
    /// `period`, the nodes that churn took down one period earlier restart,
    /// and a fresh `fraction` of the online `nodes` (chosen from the seed)
    /// crashes. So about `fraction` of `nodes` is offline at any time.
    Churn {
        /// The nodes that may churn (default: all).
        #[serde(default = "NodeSet::all")]
        nodes: NodeSet,
        /// The share of `nodes` offline at a time, 0 to 1.
        fraction: f64,
        /// How long a node stays down, and how often churn steps.
        #[serde(with = "serde_units::duration")]
        period: Duration,
        /// When churn stops (downed nodes restart then).
        #[serde(
            default,
            with = "serde_units::option_duration",
            skip_serializing_if = "Option::is_none"
        )]
        until: Option<Duration>,
    },
    /// Links get worse: the values given replace those of the links in
    /// scope (`region` for links inside one region, `between` for links
    /// between two, neither for every link), until `until` if given.
    Degrade {
        /// Links inside this region.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
        /// Links between these two regions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        between: Option<[String; 2]>,
        /// New latency.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        latency: Option<Latency>,
        /// New bandwidth.
        #[serde(
            default,
            with = "serde_units::option_rate",
            skip_serializing_if = "Option::is_none"
        )]
        bandwidth: Option<u64>,
        /// New loss probability.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        loss: Option<f64>,
        /// When the links recover.
        #[serde(
            default,
            with = "serde_units::option_duration",
            skip_serializing_if = "Option::is_none"
        )]
        until: Option<Duration>,
    },
}

impl Action {
    /// The action's name as written in the file (`"publish"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Publish { .. } => "publish",
            Self::Fetch { .. } => "fetch",
            Self::Propose { .. } => "propose",
            Self::Vote { .. } => "vote",
            Self::Partition { .. } => "partition",
            Self::Heal {} => "heal",
            Self::Crash { .. } => "crash",
            Self::Restart { .. } => "restart",
            Self::Join { .. } => "join",
            Self::Leave { .. } => "leave",
            Self::Churn { .. } => "churn",
            Self::Degrade { .. } => "degrade",
        }
    }

    /// For a `degrade` action, the link values it puts in place.
    pub fn degrade_spec(&self) -> Option<LinkSpec> {
        match *self {
            Self::Degrade {
                latency,
                bandwidth,
                loss,
                ..
            } => Some(LinkSpec {
                latency,
                bandwidth,
                loss,
            }),
            _ => None,
        }
    }
}

/// A governance change, as `change = { add_policy = "require-owner" }`.
/// Policy rules use the names `mesh` uses (`require-owner`,
/// `pii-never-public`, `allowed-formats=csv,parquet`, ...); the engine
/// checks them when it builds the proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Change {
    /// Put a policy rule in force.
    AddPolicy(String),
    /// Take a policy rule out of force.
    RemovePolicy(String),
    /// Admit the domain of this node as a member.
    AddMember(NodeRef),
    /// Remove the domain of this node from the members.
    RemoveMember(NodeRef),
    /// Change the quorum rule (`"3/4"`: more than three quarters).
    SetQuorum(Quorum),
}

/// A vote's choice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// For.
    #[default]
    Yes,
    /// Against.
    No,
}
