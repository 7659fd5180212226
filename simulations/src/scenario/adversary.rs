//! `[[adversaries]]`: what misbehaving nodes do.
//!
//! A scenario marks whole groups as adversaries (`role = "adversary"`), so
//! expectations about "honest nodes" know whom to leave out; this module says
//! what those nodes actually do wrong, and when. Each behaviour is one attack
//! a real node must survive (see DESIGN.md, "Quality bars").

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::nodes::NodeSet;
use crate::units::serde_units;

/// Misbehaviour given to a set of adversary nodes for a span of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adversary {
    /// The misbehaving nodes; all must be in groups with
    /// `role = "adversary"`.
    pub nodes: NodeSet,
    /// When they start (default: at the start of the run).
    #[serde(
        default,
        with = "serde_units::option_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub from: Option<Duration>,
    /// When they stop (default: never).
    #[serde(
        default,
        with = "serde_units::option_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub until: Option<Duration>,
    /// What they do (the `kind` key and its fields).
    #[serde(flatten)]
    pub behaviour: Behaviour,
}

fn one() -> f64 {
    1.0
}

fn hundred() -> f64 {
    100.0
}

fn kibibyte() -> u64 {
    1024
}

/// One kind of misbehaviour. In the file, `kind = "corrupt_chunks"` and so
/// on, with the variant's fields beside it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Behaviour {
    /// Gossip descriptors with bad signatures, or signed by the wrong domain
    /// for another domain's product, `rate` per second per node.
    ForgeDescriptors {
        /// Forgeries per second per node (default 1).
        #[serde(default = "one")]
        rate: f64,
    },
    /// Re-gossip older versions of descriptors they have seen, `rate` per
    /// second per node.
    ReplayStale {
        /// Replays per second per node (default 1).
        #[serde(default = "one")]
        rate: f64,
    },
    /// Announce themselves as providers of every product they learn of and
    /// serve chunks with `fraction` of them corrupted.
    CorruptChunks {
        /// The share of served chunks that are corrupted (default 1).
        #[serde(default = "one")]
        fraction: f64,
    },
    /// Flood the gossip topics with junk: `rate` messages per second per
    /// node, each `size` bytes.
    SpamGossip {
        /// Messages per second per node (default 100).
        #[serde(default = "hundred")]
        rate: f64,
        /// Bytes per message (default 1 KiB).
        #[serde(default = "kibibyte", with = "serde_units::size")]
        size: u64,
    },
    /// Approve every proposal (which the rules allow), and in every
    /// consensus round heard of, sign two different prevotes and two
    /// different precommits (the round's value and nil) and gossip them
    /// all: Tendermint's equivocation (these nodes must be federation
    /// members to matter).
    EquivocateVotes {},
}

impl Behaviour {
    /// The kind as written in the file.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ForgeDescriptors { .. } => "forge_descriptors",
            Self::ReplayStale { .. } => "replay_stale",
            Self::CorruptChunks { .. } => "corrupt_chunks",
            Self::SpamGossip { .. } => "spam_gossip",
            Self::EquivocateVotes {} => "equivocate_votes",
        }
    }
}
