//! The checks a scenario must pass after it parses: everything it names
//! exists, its times fall inside the run, its numbers are in range.
//!
//! Serde already refused unknown keys and malformed values; what is left
//! needs the whole scenario at once (does group `eu` exist? is product
//! `orders` published before it is fetched?). Every problem found is
//! reported, not only the first, each with the path of the field at fault so
//! `locate` can add its line.

mod events;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::locate::FieldPath;
use super::{
    Action, Behaviour, Check, NodeIndex, NodeSet, Problem, RESERVED_NAMES, Role, Scenario,
    SelectError, nodes::is_group_name,
};
use crate::link::{LinkError, LinkSpec};
use crate::scenario::MAX_NODES;
use crate::units::format_duration;

/// Every problem in `scenario`, in file order (lines are added later).
pub(super) fn check(scenario: &Scenario) -> Vec<Problem> {
    let mut checker = Checker {
        scenario,
        problems: Vec::new(),
    };
    checker.network();
    checker.links();
    checker.groups();
    checker.federation();
    checker.node();
    checker.events();
    checker.adversaries();
    checker.expectations();
    checker.problems
}

struct Checker<'a> {
    scenario: &'a Scenario,
    problems: Vec<Problem>,
}

/// When each product is first published and each proposal made.
struct Timeline<'a> {
    published: BTreeMap<&'a str, Duration>,
    proposed: BTreeMap<&'a str, Duration>,
    fetched: BTreeMap<&'a str, Duration>,
    last_fetch: Option<Duration>,
    last_heal: Option<Duration>,
}

fn fmt_d(d: Duration) -> String {
    format_duration(d)
}

fn fraction_ok(f: f64) -> bool {
    f > 0.0 && f <= 1.0
}

fn link_field(error: &LinkError) -> &'static str {
    match error {
        LinkError::UniformOrder { .. } => "latency",
        LinkError::Loss(_) => "loss",
        LinkError::ZeroBandwidth => "bandwidth",
        LinkError::NodeOnTwoSides(_) => "sides",
    }
}

impl<'a> Checker<'a> {
    fn problem(&mut self, field: &FieldPath, message: impl Into<String>) {
        self.problems.push(Problem {
            field: field.to_string(),
            line: None,
            message: message.into(),
        });
    }

    fn link_spec(&mut self, path: &FieldPath, spec: &LinkSpec) {
        if let Err(e) = spec.check() {
            self.problem(&path.key(link_field(&e)), e.to_string());
        }
    }

    /// Resolves a node set; on failure records `context names <error>`.
    fn nodes(
        &mut self,
        path: &FieldPath,
        context: &str,
        set: &NodeSet,
    ) -> Option<BTreeSet<NodeIndex>> {
        match self.scenario.resolve(set) {
            Ok(nodes) => Some(nodes),
            Err(e) => {
                let message = match &e {
                    SelectError::Empty(_) => format!("{context}: {e}"),
                    _ => format!("{context} names {e}"),
                };
                self.problem(path, message);
                None
            }
        }
    }

    fn name_of(&self, node: NodeIndex) -> String {
        let mut start = 0;
        for group in &self.scenario.groups {
            if node < start + group.count {
                return format!("{}/{}", group.name, node - start);
            }
            start += group.count;
        }
        format!("#{node}")
    }

    fn role_of(&self, node: NodeIndex) -> Option<(&'a str, Role)> {
        let mut start = 0;
        for group in &self.scenario.groups {
            if node < start + group.count {
                return Some((&group.name, group.role));
            }
            start += group.count;
        }
        None
    }

    fn network(&mut self) {
        let s = self.scenario;
        let net = FieldPath::new("network");
        if s.network.name.trim().is_empty() {
            self.problem(&net.key("name"), "the scenario needs a name");
        }
        if s.network.run_for.is_zero() {
            self.problem(&net.key("run_for"), "the run must last longer than zero");
        }
        if s.network.start_over >= s.network.run_for && !s.network.start_over.is_zero() {
            self.problem(
                &net.key("start_over"),
                format!(
                    "the rolling start ({}) must end before the run does ({})",
                    fmt_d(s.network.start_over),
                    fmt_d(s.network.run_for)
                ),
            );
        }
        match (s.network.nodes, s.groups.is_empty()) {
            (Some(0), true) => self.problem(&net.key("nodes"), "a mesh needs at least one node"),
            (Some(_), false) => self.problem(
                &net.key("nodes"),
                "give either `[network] nodes` or `[[groups]]`, not both",
            ),
            (None, true) => self.problem(
                &net,
                "no nodes: give `[network] nodes = N` or at least one `[[groups]]`",
            ),
            // Loading turns `nodes = N` into a group, so only a scenario
            // built in code gets here.
            (Some(_), true) => self.problem(
                &net.key("nodes"),
                "a scenario built in code lists its nodes in `groups`",
            ),
            (None, false) => {}
        }
        let total: usize = s.groups.iter().map(|g| g.count).sum();
        if total > MAX_NODES {
            self.problem(
                &FieldPath::new("groups"),
                format!("{total} nodes in all; at most {MAX_NODES} are supported"),
            );
        }
    }

    fn links(&mut self) {
        let s = self.scenario;
        self.link_spec(&FieldPath::new("link"), &s.link);
        let mut seen = BTreeSet::new();
        for (i, region) in s.regions.iter().enumerate() {
            let path = FieldPath::at("regions", i);
            if !is_group_name(&region.name) {
                self.problem(
                    &path.key("name"),
                    format!(
                        "`{}` is not a region name (use letters, digits, `_` and `-`)",
                        region.name
                    ),
                );
            } else if !seen.insert(region.name.as_str()) {
                self.problem(
                    &path.key("name"),
                    format!("region `{}` is declared twice", region.name),
                );
            }
            self.link_spec(&path, &region.link());
        }
        let mut pairs = BTreeSet::new();
        for (i, link) in s.links.iter().enumerate() {
            let path = FieldPath::at("links", i);
            let [a, b] = &link.between;
            let mut known = true;
            for name in [a, b] {
                if s.region_id(name).is_none() {
                    known = false;
                    self.problem(
                        &path.key("between"),
                        format!("link names unknown region `{name}`"),
                    );
                }
            }
            if known && a == b {
                self.problem(
                    &path.key("between"),
                    format!(
                        "a link joins two different regions; set links inside `{a}` on the region"
                    ),
                );
            } else if known {
                let pair = if a <= b { (a, b) } else { (b, a) };
                if !pairs.insert(pair) {
                    self.problem(
                        &path.key("between"),
                        format!("the link between `{a}` and `{b}` is declared twice"),
                    );
                }
            }
            self.link_spec(&path, &link.link());
        }
    }

    fn groups(&mut self) {
        let s = self.scenario;
        let mut seen = BTreeSet::new();
        for (i, group) in s.groups.iter().enumerate() {
            let path = FieldPath::at("groups", i);
            if !is_group_name(&group.name) {
                self.problem(
                    &path.key("name"),
                    format!(
                        "`{}` is not a group name (use letters, digits, `_` and `-`)",
                        group.name
                    ),
                );
            } else if RESERVED_NAMES.contains(&group.name.as_str()) {
                self.problem(
                    &path.key("name"),
                    format!(
                        "`{}` selects nodes by role and cannot name a group",
                        group.name
                    ),
                );
            } else if !seen.insert(group.name.as_str()) {
                self.problem(
                    &path.key("name"),
                    format!("group `{}` is declared twice", group.name),
                );
            }
            if group.count == 0 {
                self.problem(&path.key("count"), "a group needs at least one node");
            }
            match (&group.region, s.regions.is_empty()) {
                (None, false) => self.problem(
                    &path,
                    format!(
                        "group `{}` needs a `region`: the scenario declares regions",
                        group.name
                    ),
                ),
                (Some(region), _) if s.region_id(region).is_none() => self.problem(
                    &path.key("region"),
                    format!(
                        "group `{}` names unknown region `{region}` (declare it in `[[regions]]`)",
                        group.name
                    ),
                ),
                _ => {}
            }
        }
    }

    fn federation(&mut self) {
        let path = FieldPath::new("federation").key("members");
        let members = self.scenario.federation.members.clone();
        self.nodes(&path, "the federation", &members);
    }

    /// The node settings make a configuration meshd accepts.
    fn node(&mut self) {
        let mut config = mesh_node::Config::default();
        self.scenario.node.apply(&mut config);
        if let Err(e) = config.validate() {
            self.problem(&FieldPath::new("node"), e.to_string());
        }
    }

    fn members(&self) -> BTreeSet<NodeIndex> {
        self.scenario
            .resolve(&self.scenario.federation.members)
            .unwrap_or_default()
    }

    fn timeline(&self) -> Timeline<'a> {
        let mut t = Timeline {
            published: BTreeMap::new(),
            proposed: BTreeMap::new(),
            fetched: BTreeMap::new(),
            last_fetch: None,
            last_heal: None,
        };
        let earliest = |map: &mut BTreeMap<&'a str, Duration>, key: &'a str, at: Duration| {
            let entry = map.entry(key).or_insert(at);
            *entry = (*entry).min(at);
        };
        for event in &self.scenario.events {
            match &event.action {
                Action::Publish { product, .. } => earliest(&mut t.published, product, event.at),
                Action::Propose { proposal, .. } => earliest(&mut t.proposed, proposal, event.at),
                Action::Fetch { product, .. } => {
                    let last = t.fetched.entry(product.as_str()).or_insert(event.at);
                    *last = (*last).max(event.at);
                    t.last_fetch = t.last_fetch.max(Some(event.at));
                }
                Action::Heal {} => t.last_heal = t.last_heal.max(Some(event.at)),
                _ => {}
            }
        }
        t
    }

    fn within_run(&mut self, path: &FieldPath, what: &str, at: Duration) {
        let end = self.scenario.network.run_for;
        if at > end {
            self.problem(
                path,
                format!(
                    "{what} at {} is after the end of the run ({})",
                    fmt_d(at),
                    fmt_d(end)
                ),
            );
        }
    }

    fn until(&mut self, path: &FieldPath, context: &str, from: Duration, until: Option<Duration>) {
        if let Some(until) = until {
            if until <= from {
                self.problem(
                    path,
                    format!(
                        "{context}: `until` ({}) must be after {}",
                        fmt_d(until),
                        fmt_d(from)
                    ),
                );
            } else {
                self.within_run(path, "`until`", until);
            }
        }
    }

    fn product_name(&mut self, path: &FieldPath, context: &str, product: &str) {
        if product.trim().is_empty() || product.chars().any(char::is_whitespace) {
            self.problem(
                path,
                format!("{context}: `{product}` is not a product name (no spaces, not empty)"),
            );
        }
    }

    fn adversaries(&mut self) {
        let s = self.scenario;
        for (i, adversary) in s.adversaries.iter().enumerate() {
            let path = FieldPath::at("adversaries", i);
            let kind = adversary.behaviour.name();
            let ctx = format!("adversary `{kind}`");
            if let Some(nodes) = self.nodes(&path.key("nodes"), &ctx, &adversary.nodes) {
                let honest = nodes
                    .iter()
                    .find_map(|n| self.role_of(*n).filter(|(_, r)| *r == Role::Honest));
                if let Some((group, _)) = honest {
                    self.problem(
                        &path.key("nodes"),
                        format!(
                            "{ctx} names group `{group}`, whose role is honest; \
                             give that group `role = \"adversary\"`"
                        ),
                    );
                }
            }
            let from = adversary.from.unwrap_or_default();
            self.within_run(&path.key("from"), "`from`", from);
            self.until(&path.key("until"), &ctx, from, adversary.until);
            match &adversary.behaviour {
                Behaviour::ForgeDescriptors { rate }
                | Behaviour::ReplayStale { rate }
                | Behaviour::SpamGossip { rate, .. }
                    if !(rate.is_finite() && *rate > 0.0) =>
                {
                    self.problem(
                        &path.key("rate"),
                        format!("{ctx}: rate {rate} must be above zero"),
                    );
                }
                Behaviour::CorruptChunks { fraction } if !fraction_ok(*fraction) => {
                    self.problem(
                        &path.key("fraction"),
                        format!("{ctx}: fraction {fraction} is not above 0 and at most 1"),
                    );
                }
                Behaviour::SpamGossip { size: 0, .. } => {
                    self.problem(&path.key("size"), format!("{ctx}: size must be above zero"));
                }
                _ => {}
            }
        }
    }

    fn deadline(&mut self, path: &FieldPath, ctx: &str, start: (&str, Duration), within: Duration) {
        if within.is_zero() {
            self.problem(
                &path.key("within"),
                format!("{ctx}: `within` must be above zero"),
            );
            return;
        }
        let (what, at) = start;
        let deadline = at.saturating_add(within);
        let end = self.scenario.network.run_for;
        if deadline > end {
            self.problem(
                &path.key("within"),
                format!(
                    "{ctx}: the deadline {} ({what} at {} + {}) is after the end of the run ({})",
                    fmt_d(deadline),
                    fmt_d(at),
                    fmt_d(within),
                    fmt_d(end)
                ),
            );
        }
    }

    /// A `ratified` or `decided_after_heal` expectation names a proposal
    /// the timeline makes, and its deadline (from the proposal, or from
    /// the last heal) falls inside the run.
    fn governance_deadline(
        &mut self,
        path: &FieldPath,
        ctx: &str,
        timeline: &Timeline<'_>,
        check: &Check,
    ) {
        let (Check::Ratified {
            proposal, within, ..
        }
        | Check::DecidedAfterHeal {
            proposal, within, ..
        }) = check
        else {
            return;
        };
        let proposed = timeline.proposed.get(proposal.as_str()).copied();
        if proposed.is_none() {
            self.problem(
                &path.key("proposal"),
                format!("{ctx} names proposal `{proposal}`, which no event proposes"),
            );
        }
        match (check, proposed, timeline.last_heal) {
            (Check::Ratified { .. }, Some(at), _) => {
                self.deadline(path, ctx, ("proposal", at), *within);
            }
            (Check::DecidedAfterHeal { .. }, _, None) => self.problem(
                &path.key("kind"),
                format!("{ctx}: no `heal` event to decide after"),
            ),
            (Check::DecidedAfterHeal { .. }, _, Some(at)) => {
                self.deadline(path, ctx, ("last heal", at), *within);
            }
            _ => {}
        }
    }

    fn expectations(&mut self) {
        let s = self.scenario;
        let timeline = self.timeline();
        for (i, expectation) in s.expectations.iter().enumerate() {
            let path = FieldPath::at("expect", i);
            let ctx = match &expectation.name {
                Some(name) => format!("expectation `{name}`"),
                None => format!("`{}` expectation", expectation.check.name()),
            };
            if expectation
                .name
                .as_deref()
                .is_some_and(|n| n.trim().is_empty())
            {
                self.problem(&path.key("name"), "an empty name; leave `name` out instead");
            }
            let fraction = match &expectation.check {
                Check::Reach { fraction, .. }
                | Check::ReachAll { fraction, .. }
                | Check::FetchCompletes { fraction, .. }
                | Check::Ratified { fraction, .. }
                | Check::DecidedAfterHeal { fraction, .. } => Some(*fraction),
                _ => None,
            };
            if let Some(f) = fraction.filter(|f| !fraction_ok(*f)) {
                self.problem(
                    &path.key("fraction"),
                    format!("{ctx}: fraction {f} is not above 0 and at most 1"),
                );
            }
            match &expectation.check {
                Check::Reach {
                    product,
                    nodes,
                    within,
                    ..
                } => {
                    self.nodes(&path.key("nodes"), &ctx, nodes);
                    match timeline.published.get(product.as_str()) {
                        None => self.problem(
                            &path.key("product"),
                            format!("{ctx} names product `{product}`, which no event publishes"),
                        ),
                        Some(at) => self.deadline(&path, &ctx, ("publish", *at), *within),
                    }
                }
                Check::FetchCompletes {
                    product, within, ..
                } => {
                    let last = match product {
                        Some(p) => timeline.fetched.get(p.as_str()).copied(),
                        None => timeline.last_fetch,
                    };
                    match last {
                        None => {
                            let what = product
                                .as_ref()
                                .map_or_else(String::new, |p| format!(" of `{p}`"));
                            self.problem(
                                &path.key(if product.is_some() { "product" } else { "kind" }),
                                format!("{ctx}: no event fetches{what}"),
                            );
                        }
                        Some(at) => self.deadline(&path, &ctx, ("last fetch", at), *within),
                    }
                }
                check @ (Check::Ratified { .. } | Check::DecidedAfterHeal { .. }) => {
                    self.governance_deadline(&path, &ctx, &timeline, check);
                }
                Check::ConvergedAfterHeal { within } => match timeline.last_heal {
                    None => self.problem(
                        &path.key("kind"),
                        format!("{ctx}: no `heal` event to converge after"),
                    ),
                    Some(at) => self.deadline(&path, &ctx, ("last heal", at), *within),
                },
                Check::ReachAll { .. } => {
                    if timeline.published.is_empty() {
                        self.problem(
                            &path.key("kind"),
                            format!("{ctx}: no event publishes anything"),
                        );
                    }
                }
                Check::NoConflictingCertificates {} | Check::NoCorruptedBytes {} => {}
            }
        }
    }
}
