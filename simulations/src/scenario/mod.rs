//! Scenario files: the TOML format that describes a simulated mesh and what
//! happens to it, with loading and validation.
//!
//! A scenario is everything a run needs besides the code: the nodes (in
//! groups, placed in regions), the links between regions, who bootstraps
//! from whom, the timeline of events and faults, the adversaries, and the
//! expectations that decide pass or fail. The format reference is
//! `simulations/README.md`; the shipped scenarios are in
//! `simulations/scenarios/`.
//!
//! Loading is two steps. Parsing (serde, `deny_unknown_fields`) refuses
//! misspelt keys and malformed values, and the TOML error gives the line.
//! Validation then checks what types cannot: that every group, node,
//! region, product and proposal an event names exists, that times fall
//! inside the run, that fractions are fractions. It reports every problem
//! at once, each with its field path and line (`events[3].nodes`, line 42).
//!
//! After loading, `[network] nodes = N` has become one honest group named
//! `nodes`, and events are sorted by time (events at the same instant keep
//! their file order), so the engine reads `groups` and `events` only.

mod adversary;
mod expect;
mod locate;
mod nodes;
mod timeline;
mod topology;
mod validate;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use adversary::{Adversary, Behaviour};
pub use expect::{Check, Expectation};
pub use nodes::{NodeRef, NodeSelector, NodeSet, NodeSyntaxError, RESERVED_NAMES};
pub use timeline::{Action, Change, Choice, Event};
pub use topology::{Topology, TopologyError};

use crate::link::{Latency, LinkSpec, RegionId};
use crate::units::{format_duration, serde_units};

/// A node's position among all the scenario's nodes: groups in file order,
/// each group's nodes in index order.
pub type NodeIndex = usize;

/// The largest mesh a scenario may describe.
pub const MAX_NODES: usize = 100_000;

/// The name of the group `[network] nodes = N` stands for.
pub const DEFAULT_GROUP: &str = "nodes";

/// A whole scenario file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name, seed, duration, size and bootstrap shape.
    pub network: Network,
    /// Values for every link, unless a region or `[[links]]` entry says
    /// otherwise.
    #[serde(default, skip_serializing_if = "is_default")]
    pub link: LinkSpec,
    /// Named regions; links inside a region use its values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<Region>,
    /// Links between two regions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<RegionLink>,
    /// The nodes, in named groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Group>,
    /// The governance federation the nodes form.
    #[serde(default, skip_serializing_if = "is_default")]
    pub federation: Federation,
    /// meshd settings every node runs with, where they differ from the
    /// daemon's defaults.
    #[serde(default, skip_serializing_if = "is_default")]
    pub node: NodeSettings,
    /// The timeline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
    /// What adversary nodes do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adversaries: Vec<Adversary>,
    /// What must hold for the run to pass (`[[expect]]` in the file).
    #[serde(default, rename = "expect", skip_serializing_if = "Vec::is_empty")]
    pub expectations: Vec<Expectation>,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// `[node]`: meshd configuration values for every simulated node, so a
/// platform team can try a setting on a simulated mesh before rolling it
/// out. Unset values keep the daemon's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSettings {
    /// `network.peers_low`: peers kept when trimming connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peers_low: Option<usize>,
    /// `network.peers_high`: peers above which connections are trimmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peers_high: Option<usize>,
}

impl NodeSettings {
    /// Applies the settings to a node's configuration.
    pub fn apply(&self, config: &mut mesh_node::Config) {
        if let Some(low) = self.peers_low {
            config.network.peers_low = low;
        }
        if let Some(high) = self.peers_high {
            config.network.peers_high = high;
        }
    }
}

/// `[network]`: the run as a whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// The scenario's name, used in reports.
    pub name: String,
    /// What the scenario shows, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The seed every random choice comes from (default 0; `--seed`
    /// overrides it).
    #[serde(default)]
    pub seed: u64,
    /// How much simulated time the run lasts.
    #[serde(with = "serde_units::duration")]
    pub run_for: Duration,
    /// Shorthand for one honest group of this many nodes, named `nodes`;
    /// use either this or `[[groups]]`. `None` after loading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<usize>,
    /// The shape of the bootstrap lists (default `random:8`).
    #[serde(default)]
    pub bootstrap: Topology,
    /// A rolling start: the nodes that start online are started one after
    /// another, in node order, evenly over this span (default 0: all at
    /// the first instant).
    #[serde(
        default,
        with = "serde_units::duration",
        skip_serializing_if = "Duration::is_zero"
    )]
    pub start_over: Duration,
}

/// `[[regions]]`: a named place whose internal links have their own values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// The region's name.
    pub name: String,
    /// Latency inside the region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// Bandwidth inside the region.
    #[serde(
        default,
        with = "serde_units::option_rate",
        skip_serializing_if = "Option::is_none"
    )]
    pub bandwidth: Option<u64>,
    /// Loss inside the region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
}

impl Region {
    /// The link values this region sets.
    pub fn link(&self) -> LinkSpec {
        LinkSpec {
            latency: self.latency,
            bandwidth: self.bandwidth,
            loss: self.loss,
        }
    }
}

/// `[[links]]`: the links between two regions, both directions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionLink {
    /// The two regions.
    pub between: [String; 2],
    /// Latency between them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// Bandwidth between them.
    #[serde(
        default,
        with = "serde_units::option_rate",
        skip_serializing_if = "Option::is_none"
    )]
    pub bandwidth: Option<u64>,
    /// Loss between them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
}

impl RegionLink {
    /// The link values this entry sets.
    pub fn link(&self) -> LinkSpec {
        LinkSpec {
            latency: self.latency,
            bandwidth: self.bandwidth,
            loss: self.loss,
        }
    }
}

fn yes() -> bool {
    true
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes `&T`.
fn is_true(value: &bool) -> bool {
    *value
}

/// `[[groups]]`: nodes alike in region and role. Each node is one domain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// The group's name; its nodes are `name/0`, `name/1`, ...
    pub name: String,
    /// How many nodes.
    pub count: usize,
    /// The region (required when the scenario declares regions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `"honest"` (default) or `"adversary"`.
    #[serde(default)]
    pub role: Role,
    /// Whether the nodes are up at the start (default `true`); if not, a
    /// `join` event brings them in.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub starts_online: bool,
}

/// Whether a group's nodes follow the protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs meshd as shipped.
    #[default]
    Honest,
    /// May misbehave as `[[adversaries]]` says; left out of expectations
    /// about honest nodes.
    Adversary,
}

/// `[federation]`: the governance federation of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Federation {
    /// The founding members (default: every node).
    #[serde(default = "NodeSet::all")]
    pub members: NodeSet,
    /// The quorum rule (default `"2/3"`: more than two thirds).
    #[serde(default)]
    pub quorum: Quorum,
}

impl Default for Federation {
    fn default() -> Self {
        Self {
            members: NodeSet::all(),
            quorum: Quorum::default(),
        }
    }
}

/// A quorum rule: more than `numerator / denominator` of the members, as
/// `"2/3"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quorum {
    /// Numerator.
    pub numerator: u32,
    /// Denominator.
    pub denominator: u32,
}

impl Default for Quorum {
    /// More than two thirds.
    fn default() -> Self {
        Self {
            numerator: 2,
            denominator: 3,
        }
    }
}

impl fmt::Display for Quorum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.numerator, self.denominator)
    }
}

/// Why a quorum rule does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a quorum: write \"N/D\" with N below D (e.g. \"2/3\": more than two thirds)")]
pub struct QuorumError(pub String);

impl FromStr for Quorum {
    type Err = QuorumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || QuorumError(s.to_owned());
        let (n, d) = s.trim().split_once('/').ok_or_else(err)?;
        let numerator: u32 = n.trim().parse().map_err(|_| err())?;
        let denominator: u32 = d.trim().parse().map_err(|_| err())?;
        if denominator == 0 || numerator >= denominator {
            return Err(err());
        }
        Ok(Self {
            numerator,
            denominator,
        })
    }
}

impl Serialize for Quorum {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quorum {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One node of a loaded scenario, as the engine needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// Its position among all nodes.
    pub index: NodeIndex,
    /// Its reference (`eu/3`).
    pub name: NodeRef,
    /// Its region.
    pub region: RegionId,
    /// Its group's role.
    pub role: Role,
    /// Whether it is up at the start.
    pub starts_online: bool,
}

/// Why a node set names no nodes of this scenario.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// No group has this name.
    #[error("unknown node group `{0}`")]
    UnknownGroup(String),
    /// The group has fewer nodes.
    #[error("node `{group}/{index}` does not exist: group `{group}` has {count} nodes")]
    NoSuchNode {
        /// The group.
        group: String,
        /// The index asked for.
        index: usize,
        /// The group's size.
        count: usize,
    },
    /// The selectors are valid but match no node (`"adversaries"` with no
    /// adversary group).
    #[error("`{0}` selects no nodes")]
    Empty(String),
}

/// One thing wrong with a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field, as a path into the file (`events[3].nodes`).
    pub field: String,
    /// The line in the file, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}: {}", self.field, self.message),
            None => write!(f, "{}: {}", self.field, self.message),
        }
    }
}

/// Why a scenario could not be loaded or written.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The text is not TOML, or does not fit the format (unknown key,
    /// wrong type, malformed value). The TOML error gives line and column.
    #[error("{origin}: {source}")]
    Parse {
        /// The file, or a description of where the text came from.
        origin: String,
        /// The TOML error.
        source: Box<toml::de::Error>,
    },
    /// The scenario parses but is inconsistent; every problem found.
    #[error("{}", render_problems(origin, problems))]
    Invalid {
        /// The file, or a description of where the text came from.
        origin: String,
        /// What is wrong, in file order.
        problems: Vec<Problem>,
    },
    /// The scenario could not be written as TOML.
    #[error("cannot write scenario as TOML: {0}")]
    Write(#[from] toml::ser::Error),
}

fn render_problems(origin: &str, problems: &[Problem]) -> String {
    let line = |p: &Problem| match p.line {
        Some(line) => format!("{origin}:{line}: {}: {}", p.field, p.message),
        None => format!("{origin}: {}: {}", p.field, p.message),
    };
    match problems {
        [one] => line(one),
        many => {
            let mut out = format!("{origin}: {} problems", many.len());
            for p in many {
                out.push_str("\n  ");
                out.push_str(&line(p));
            }
            out
        }
    }
}

/// How fast the baseline (`mesh-sim run --nodes N`) starts its nodes: a
/// rolling start of ten domains a second. Started all at once, every node
/// runs its Kademlia bootstrap at the same instant, and a 300-node mesh
/// peaked at 226 connections per node against 166 with the rolling start
/// (peak RSS 3.2 GiB against 2.4 GiB); no real mesh of hundreds of domains
/// starts within one second.
pub const BASELINE_STARTS_PER_SECOND: u32 = 10;

impl Scenario {
    /// Reads, parses and validates a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses and validates scenario text. `origin` names the text in errors
    /// (usually its path).
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ScenarioError> {
        let mut scenario: Scenario =
            toml::from_str(text).map_err(|source| ScenarioError::Parse {
                origin: origin.to_owned(),
                source: Box::new(source),
            })?;
        scenario.expand_node_count();
        let mut problems = validate::check(&scenario);
        if !problems.is_empty() {
            locate::add_lines(text, &mut problems);
            return Err(ScenarioError::Invalid {
                origin: origin.to_owned(),
                problems,
            });
        }
        scenario.sort_events();
        Ok(scenario)
    }

    /// Validates a scenario built in code (problems carry no line numbers).
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let problems = validate::check(self);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ScenarioError::Invalid {
                origin: format!("scenario `{}`", self.network.name),
                problems,
            })
        }
    }

    /// When each node that starts online starts, in order: all at zero, or
    /// the `k`-th of `n` at `start_over * k / n` for a rolling start.
    pub fn start_times(&self) -> Vec<(Duration, NodeIndex)> {
        let online: Vec<NodeIndex> = self
            .nodes()
            .into_iter()
            .filter(|n| n.starts_online)
            .map(|n| n.index)
            .collect();
        let count = u32::try_from(online.len()).unwrap_or(u32::MAX);
        online
            .into_iter()
            .enumerate()
            .map(|(k, index)| {
                let k = u32::try_from(k).unwrap_or(u32::MAX);
                let at = (self.network.start_over.saturating_mul(k))
                    .checked_div(count)
                    .unwrap_or_default();
                (at, index)
            })
            .collect()
    }

    /// The scenario as TOML, in the file format.
    pub fn to_toml(&self) -> Result<String, ScenarioError> {
        Ok(toml::to_string(self)?)
    }

    /// The scenario `mesh-sim run --nodes N` runs without a file: `nodes`
    /// honest nodes in one group, `random:8` bootstrap, 50 ms links, started
    /// as a rolling start of [`BASELINE_STARTS_PER_SECOND`]; once all are
    /// up, every node publishes one 4 KiB product, the publishes spread over
    /// ten seconds from 5 s after the last start; expects every product at
    /// every node within 30 s of its publish.
    pub fn baseline(nodes: usize) -> Result<Self, ScenarioError> {
        let count = u32::try_from(nodes).unwrap_or(u32::MAX);
        let start_over = Duration::from_secs(1) * count / BASELINE_STARTS_PER_SECOND;
        let first_publish = start_over + Duration::from_secs(5);
        let spread = Duration::from_secs(10)
            .checked_div(count)
            .unwrap_or_default()
            .max(Duration::from_millis(1));
        let events = (0..nodes)
            .map(|i| Event {
                at: first_publish + spread * u32::try_from(i).unwrap_or(u32::MAX),
                action: Action::Publish {
                    node: NodeRef {
                        group: DEFAULT_GROUP.to_owned(),
                        index: i,
                    },
                    product: format!("p{i}"),
                    size: 4096,
                },
            })
            .collect();
        let scenario = Self {
            network: Network {
                name: format!("baseline-{nodes}"),
                description: Some(format!(
                    "{nodes} honest nodes on 50 ms links; every node publishes once"
                )),
                seed: 0,
                run_for: first_publish + Duration::from_secs(40),
                nodes: None,
                bootstrap: Topology::default(),
                start_over,
            },
            link: LinkSpec {
                latency: Some(Latency::Fixed(Duration::from_millis(50))),
                bandwidth: None,
                loss: None,
            },
            regions: Vec::new(),
            links: Vec::new(),
            groups: vec![Group {
                name: DEFAULT_GROUP.to_owned(),
                count: nodes,
                region: None,
                role: Role::Honest,
                starts_online: true,
            }],
            federation: Federation::default(),
            node: NodeSettings::default(),
            events,
            adversaries: Vec::new(),
            expectations: vec![Expectation {
                name: None,
                check: Check::ReachAll {
                    fraction: 1.0,
                    within: Duration::from_secs(30),
                },
            }],
        };
        scenario.validate()?;
        Ok(scenario)
    }

    /// Turns `[network] nodes = N` into the group it stands for (when no
    /// `[[groups]]` are given; validation reports a scenario with both).
    fn expand_node_count(&mut self) {
        if let Some(count) = self.network.nodes
            && self.groups.is_empty()
            && count > 0
        {
            self.groups.push(Group {
                name: DEFAULT_GROUP.to_owned(),
                count,
                region: None,
                role: Role::Honest,
                starts_online: true,
            });
            self.network.nodes = None;
        }
    }

    fn sort_events(&mut self) {
        // A stable sort keeps same-instant events in file order.
        self.events.sort_by_key(|e| e.at);
    }

    /// How many nodes the scenario has.
    pub fn node_count(&self) -> usize {
        self.groups.iter().map(|g| g.count).sum()
    }

    /// Every node, in index order.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        let mut out = Vec::with_capacity(self.node_count());
        for group in &self.groups {
            let region = group
                .region
                .as_deref()
                .and_then(|r| self.region_id(r))
                .unwrap_or_default();
            for index in 0..group.count {
                out.push(NodeInfo {
                    index: out.len(),
                    name: NodeRef {
                        group: group.name.clone(),
                        index,
                    },
                    region,
                    role: group.role,
                    starts_online: group.starts_online,
                });
            }
        }
        out
    }

    /// The region with this name.
    pub fn region_id(&self, name: &str) -> Option<RegionId> {
        self.regions
            .iter()
            .position(|r| r.name == name)
            .map(RegionId)
    }

    /// The group with this name and the index of its first node.
    fn group_start(&self, name: &str) -> Option<(&Group, NodeIndex)> {
        let mut start = 0;
        for group in &self.groups {
            if group.name == name {
                return Some((group, start));
            }
            start += group.count;
        }
        None
    }

    /// The index of one node.
    pub fn node_index(&self, node: &NodeRef) -> Result<NodeIndex, SelectError> {
        let (group, start) = self
            .group_start(&node.group)
            .ok_or_else(|| SelectError::UnknownGroup(node.group.clone()))?;
        if node.index >= group.count {
            return Err(SelectError::NoSuchNode {
                group: group.name.clone(),
                index: node.index,
                count: group.count,
            });
        }
        Ok(start + node.index)
    }

    /// The indices of the nodes a set names. Fails on an unknown group or
    /// node, or if the set names no node at all.
    pub fn resolve(&self, set: &NodeSet) -> Result<BTreeSet<NodeIndex>, SelectError> {
        let mut out = BTreeSet::new();
        let by_role = |role: Role, out: &mut BTreeSet<NodeIndex>| {
            let mut start = 0;
            for group in &self.groups {
                if group.role == role {
                    out.extend(start..start + group.count);
                }
                start += group.count;
            }
        };
        for selector in &set.0 {
            match selector {
                NodeSelector::All => out.extend(0..self.node_count()),
                NodeSelector::Honest => by_role(Role::Honest, &mut out),
                NodeSelector::Adversaries => by_role(Role::Adversary, &mut out),
                NodeSelector::Group(name) => {
                    let (group, start) = self
                        .group_start(name)
                        .ok_or_else(|| SelectError::UnknownGroup(name.clone()))?;
                    out.extend(start..start + group.count);
                }
                NodeSelector::Node(node) => {
                    out.insert(self.node_index(node)?);
                }
                NodeSelector::Range { group, start, end } => {
                    // `end - 1` is the last node; a range built in code with
                    // `end <= start` selects nothing.
                    let Some(last) = end.checked_sub(1).filter(|last| last >= start) else {
                        continue;
                    };
                    let first = self.node_index(&NodeRef {
                        group: group.clone(),
                        index: *start,
                    })?;
                    let last = self.node_index(&NodeRef {
                        group: group.clone(),
                        index: last,
                    })?;
                    out.extend(first..=last);
                }
            }
        }
        if out.is_empty() {
            return Err(SelectError::Empty(set.to_string()));
        }
        Ok(out)
    }

    /// The lowest latency any link can have at any time of the run: the
    /// scenario's links, its regions' and their degradations. A packet
    /// written at `t` arrives no earlier than `t` plus this, which is what
    /// lets a parallel run keep its threads this far apart.
    pub fn min_latency(&self) -> Duration {
        let default = self.link.over(&crate::link::LinkParams::DEFAULT).latency;
        let regions = self.regions.iter().filter_map(|r| r.latency);
        let links = self.links.iter().filter_map(|l| l.latency);
        let degradations = self
            .events
            .iter()
            .filter_map(|e| e.action.degrade_spec().and_then(|spec| spec.latency));
        std::iter::once(default)
            .chain(regions)
            .chain(links)
            .chain(degradations)
            .map(|l| l.floor())
            .min()
            .unwrap_or_default()
    }

    /// The indices of the honest nodes.
    pub fn honest_nodes(&self) -> BTreeSet<NodeIndex> {
        self.resolve(&NodeSet::honest()).unwrap_or_default()
    }

    /// A one-line description for logs: name, nodes, regions, duration.
    pub fn headline(&self) -> String {
        format!(
            "{}: {} nodes in {} groups, {} regions, {} events, runs {}",
            self.network.name,
            self.node_count(),
            self.groups.len(),
            self.regions.len().max(1),
            self.events.len(),
            format_duration(self.network.run_for)
        )
    }
}

#[cfg(test)]
mod tests;
