//! The checks on `[[events]]`: each action's nodes, products, proposals,
//! vote reasons, sides, regions and times.
//!
//! The timeline is the largest part of a scenario and the one that grows
//! with every new kind of event, so its checks sit apart from those of the
//! static parts (network, links, groups), which `validate` keeps.

use std::collections::BTreeMap;
use std::time::Duration;

use mesh_protocol::governance::MAX_VOTE_REASON;

use super::{Checker, fmt_d, fraction_ok};
use crate::link::LinkSpec;
use crate::scenario::locate::FieldPath;
use crate::scenario::{Action, Change, NodeIndex, NodeSet};

impl Checker<'_> {
    #[allow(clippy::too_many_lines)] // One arm per action reads best as one match.
    pub(super) fn events(&mut self) {
        let s = self.scenario;
        let timeline = self.timeline();
        let members = self.members();
        let mut proposals: BTreeMap<&str, Duration> = BTreeMap::new();
        for (i, event) in s.events.iter().enumerate() {
            let path = FieldPath::at("events", i);
            let at = event.at;
            let ctx = format!("event at {}", fmt_d(at));
            self.within_run(&path.key("at"), "event", at);
            match &event.action {
                Action::Publish { node, product, .. } => {
                    if let Err(e) = s.node_index(node) {
                        self.problem(&path.key("node"), format!("{ctx} names {e}"));
                    }
                    self.product_name(&path.key("product"), &ctx, product);
                }
                Action::Fetch { nodes, product } => {
                    self.nodes(&path.key("nodes"), &ctx, nodes);
                    match timeline.published.get(product.as_str()) {
                        None => self.problem(
                            &path.key("product"),
                            format!("{ctx} fetches product `{product}`, which no event publishes"),
                        ),
                        Some(first) if *first > at => self.problem(
                            &path.key("product"),
                            format!(
                                "{ctx} fetches product `{product}` before its first publish at {}",
                                fmt_d(*first)
                            ),
                        ),
                        Some(_) => {}
                    }
                }
                Action::Propose {
                    node,
                    proposal,
                    change,
                } => {
                    match s.node_index(node) {
                        Err(e) => self.problem(&path.key("node"), format!("{ctx} names {e}")),
                        Ok(index) if !members.contains(&index) => self.problem(
                            &path.key("node"),
                            format!("{ctx}: node `{node}` is not a federation member"),
                        ),
                        Ok(_) => {}
                    }
                    if proposal.trim().is_empty() {
                        self.problem(
                            &path.key("proposal"),
                            format!("{ctx}: empty proposal label"),
                        );
                    } else if let Some(earlier) = proposals.insert(proposal, at) {
                        self.problem(
                            &path.key("proposal"),
                            format!(
                                "{ctx}: proposal `{proposal}` is already made by the event at {}",
                                fmt_d(earlier)
                            ),
                        );
                    }
                    self.change(&path.key("change"), &ctx, change);
                }
                Action::Vote {
                    nodes,
                    proposal,
                    reason,
                    ..
                } => {
                    if let Some(reason) = reason
                        && reason.len() > MAX_VOTE_REASON
                    {
                        self.problem(
                            &path.key("reason"),
                            format!(
                                "{ctx}: the reason is {} bytes; a vote's reason is at most {MAX_VOTE_REASON}",
                                reason.len()
                            ),
                        );
                    }
                    if let Some(voters) = self.nodes(&path.key("nodes"), &ctx, nodes)
                        && let Some(outsider) = voters.iter().find(|n| !members.contains(n))
                    {
                        let name = self.name_of(*outsider);
                        self.problem(
                            &path.key("nodes"),
                            format!("{ctx}: node `{name}` votes but is not a federation member"),
                        );
                    }
                    match timeline.proposed.get(proposal.as_str()) {
                        None => self.problem(
                            &path.key("proposal"),
                            format!(
                                "{ctx} votes on proposal `{proposal}`, which no event proposes"
                            ),
                        ),
                        Some(made) if *made > at => self.problem(
                            &path.key("proposal"),
                            format!(
                                "{ctx} votes on proposal `{proposal}` before it is made at {}",
                                fmt_d(*made)
                            ),
                        ),
                        Some(_) => {}
                    }
                }
                Action::Partition { sides } => self.partition(&path.key("sides"), &ctx, sides),
                Action::Heal {} => {}
                Action::Crash { nodes, fraction } => {
                    self.nodes(&path.key("nodes"), &ctx, nodes);
                    if let Some(f) = fraction
                        && !fraction_ok(*f)
                    {
                        self.problem(
                            &path.key("fraction"),
                            format!("{ctx}: fraction {f} is not above 0 and at most 1"),
                        );
                    }
                }
                Action::Restart { nodes } | Action::Join { nodes } | Action::Leave { nodes } => {
                    self.nodes(&path.key("nodes"), &ctx, nodes);
                }
                Action::Churn {
                    nodes,
                    fraction,
                    period,
                    until,
                } => {
                    self.nodes(&path.key("nodes"), &ctx, nodes);
                    if !fraction_ok(*fraction) {
                        self.problem(
                            &path.key("fraction"),
                            format!("{ctx}: fraction {fraction} is not above 0 and at most 1"),
                        );
                    }
                    if period.is_zero() {
                        self.problem(
                            &path.key("period"),
                            format!("{ctx}: the churn period must be above zero"),
                        );
                    }
                    self.until(&path.key("until"), &ctx, at, *until);
                }
                Action::Degrade {
                    region,
                    between,
                    until,
                    ..
                } => {
                    self.degrade(&path, &ctx, region.as_deref(), between.as_ref());
                    if let Some(spec) = event.action.degrade_spec() {
                        if spec == LinkSpec::default() {
                            self.problem(
                                &path,
                                format!(
                                    "{ctx} degrades nothing: give `latency`, `bandwidth` or `loss`"
                                ),
                            );
                        }
                        self.link_spec(&path, &spec);
                    }
                    self.until(&path.key("until"), &ctx, at, *until);
                }
            }
        }
    }

    fn change(&mut self, path: &FieldPath, ctx: &str, change: &Change) {
        match change {
            Change::AddPolicy(rule) | Change::RemovePolicy(rule) if rule.trim().is_empty() => {
                self.problem(path, format!("{ctx}: empty policy rule"));
            }
            Change::AddMember(node) | Change::RemoveMember(node) => {
                if let Err(e) = self.scenario.node_index(node) {
                    self.problem(path, format!("{ctx} names {e}"));
                }
            }
            _ => {}
        }
    }

    fn partition(&mut self, path: &FieldPath, ctx: &str, sides: &[NodeSet]) {
        if sides.is_empty() {
            self.problem(path, format!("{ctx}: a partition needs at least one side"));
            return;
        }
        let mut side_of: BTreeMap<NodeIndex, usize> = BTreeMap::new();
        let mut clash = None;
        for (i, side) in sides.iter().enumerate() {
            let Some(nodes) = self.nodes(&path.index(i), ctx, side) else {
                continue;
            };
            for node in nodes {
                if let Some(other) = side_of.insert(node, i)
                    && other != i
                    && clash.is_none()
                {
                    clash = Some((node, other, i));
                }
            }
        }
        if let Some((node, a, b)) = clash {
            let name = self.name_of(node);
            self.problem(
                &path.index(b),
                format!("{ctx}: node `{name}` is on side {a} and side {b}"),
            );
        }
        if sides.len() == 1 && side_of.len() == self.scenario.node_count() {
            self.problem(
                path,
                format!("{ctx}: one side holding every node splits nothing; name two sides"),
            );
        }
    }

    fn degrade(
        &mut self,
        path: &FieldPath,
        ctx: &str,
        region: Option<&str>,
        between: Option<&[String; 2]>,
    ) {
        if region.is_some() && between.is_some() {
            self.problem(path, format!("{ctx}: give `region` or `between`, not both"));
        }
        let s = self.scenario;
        if let Some(region) = region
            && s.region_id(region).is_none()
        {
            self.problem(
                &path.key("region"),
                format!("{ctx} names unknown region `{region}`"),
            );
        }
        if let Some(pair) = between {
            for name in pair {
                if s.region_id(name).is_none() {
                    self.problem(
                        &path.key("between"),
                        format!("{ctx} names unknown region `{name}`"),
                    );
                }
            }
        }
    }
}
