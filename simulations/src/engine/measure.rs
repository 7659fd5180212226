//! From what a run observed to its [`Report`]: propagation per product,
//! convergence after the last heal, each proposal's way from its deciding
//! vote to its decision, the federation's decisions and equivocation
//! evidence, fetch times, traffic per node, and every expectation checked
//! against the measured values.

use std::time::Duration;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mesh_node::governance::FederationView;

use crate::report::{
    Convergence, ExpectationResult, FederationOutcome, FetchStats, Propagation, Ratification,
    Report, Traffic,
};
use crate::scenario::{Check, NodeIndex};
use crate::stats::{Spread, millis, share};

use super::{Published, Sim, fleet};

/// Above this many products, propagation is reported pooled over all of
/// them (one entry) instead of one entry per product.
const MAX_PRODUCT_ENTRIES: usize = 20;

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

/// Each honest node's federation at the end of the run.
pub(super) type Views = HashMap<NodeIndex, FederationView>;

impl Sim {
    /// The federation as every honest node that is up sees it.
    pub(super) async fn federation_views(&self) -> Views {
        if self.proposals.is_empty() && !self.has_certificate_checks() {
            return Views::new();
        }
        let asks = self.honest_up().into_iter().filter_map(|i| {
            let handle = self.nodes[i].handle()?;
            Some(async move { (i, handle.federation().await) })
        });
        futures::future::join_all(asks)
            .await
            .into_iter()
            .filter_map(|(i, view)| Some((i, view.ok()?)))
            .collect()
    }

    /// Kademlia bootstraps (full, shortened) of every honest node that is
    /// up at the end, since its last start.
    pub(super) async fn bootstraps(&self) -> Vec<(u64, u64)> {
        let asks = self
            .honest_up()
            .into_iter()
            .filter_map(|i| self.nodes[i].handle())
            .map(mesh_node::NodeHandle::status);
        futures::future::join_all(asks)
            .await
            .into_iter()
            .filter_map(Result::ok)
            .map(|s| {
                (
                    s.counters.dht_bootstraps_full,
                    s.counters.dht_bootstraps_shortened,
                )
            })
            .collect()
    }

    fn has_certificate_checks(&self) -> bool {
        self.scenario.expectations.iter().any(|e| {
            matches!(
                e.check,
                Check::Ratified { .. }
                    | Check::DecidedAfterHeal { .. }
                    | Check::NoConflictingCertificates {}
            )
        })
    }

    /// The version at which `proposal` was decided, per node that holds it.
    fn decided(views: &Views, proposal: &str) -> BTreeMap<NodeIndex, u64> {
        views
            .iter()
            .filter_map(|(i, v)| {
                v.decisions
                    .iter()
                    .find(|d| d.proposal == proposal)
                    .map(|d| (*i, d.version))
            })
            .collect()
    }

    /// When node `i` first reached `version` (from its events).
    fn reached_version(&self, i: NodeIndex, version: u64) -> Option<Duration> {
        let observed = fleet::lock(&self.observed);
        observed
            .advanced
            .get(&i)?
            .iter()
            .filter(|(v, _)| *v >= version)
            .map(|(_, t)| *t)
            .min()
    }

    /// When each node that holds `label`'s certificate applied it.
    fn ratified_at(&self, views: &Views, label: &str) -> Vec<Duration> {
        let Some(record) = self.proposals.get(label) else {
            return Vec::new();
        };
        Self::decided(views, &record.id)
            .into_iter()
            .filter_map(|(i, version)| self.reached_version(i, version))
            .collect()
    }

    /// When each approval of proposal `label` was signed, the timeline's and
    /// adversary members', earliest first.
    fn approval_times(&self, label: &str) -> Vec<Duration> {
        let Some(record) = self.proposals.get(label) else {
            return Vec::new();
        };
        let mut times: Vec<Duration> = record
            .votes
            .iter()
            .filter(|(_, approve)| *approve)
            .map(|(at, _)| *at)
            .collect();
        times.extend(
            fleet::lock(&self.observed)
                .adversary_approvals
                .iter()
                .filter(|(id, _)| *id == record.id)
                .map(|(_, at)| *at),
        );
        times.sort_unstable();
        times
    }

    /// The label of the proposal that took `slot`, by the honest nodes'
    /// decisions (the label of any one of them; the id if the run did not
    /// propose it).
    fn slot_winner(&self, views: &Views, slot: u64) -> Option<String> {
        let id = views
            .values()
            .flat_map(|v| v.decisions.iter())
            .find(|d| d.version == slot + 1)
            .map(|d| d.proposal.clone())?;
        Some(
            self.proposals
                .iter()
                .find(|(_, r)| r.id == id)
                .map_or(id, |(label, _)| format!("`{label}`")),
        )
    }

    /// Where a proposal the honest nodes did not decide stood, and what
    /// became of its slot.
    fn undecided(
        &self,
        views: &Views,
        record: &super::ProposalRecord,
        approvals: usize,
        rejections: usize,
    ) -> String {
        let standing = if approvals >= record.needed {
            "approved (eligible)"
        } else if rejections > record.members.saturating_sub(record.needed) {
            "rejected"
        } else {
            "short of a quorum of approvals"
        };
        match self.slot_winner(views, record.slot) {
            Some(winner) => format!("{standing}; slot {} went to {winner}", record.slot),
            None => format!("{standing}; slot {} undecided", record.slot),
        }
    }

    fn ratification(&self, views: &Views) -> Vec<Ratification> {
        let mut labels: Vec<&String> = self.proposals.keys().collect();
        labels.sort();
        labels
            .into_iter()
            .map(|label| {
                let record = &self.proposals[label];
                let applied = self.ratified_at(views, label);
                let approvals = self.approval_times(label);
                let rejections = record.votes.iter().filter(|(_, a)| !*a).count();
                // The approval that completed the quorum: from then on the
                // proposal was eligible wherever the votes had arrived.
                let deciding = record
                    .needed
                    .checked_sub(1)
                    .and_then(|k| approvals.get(k))
                    .copied();
                let since = |t: Duration| deciding.map(|v| millis(t.saturating_sub(v)));
                let everywhere = (!applied.is_empty() && applied.len() == views.len())
                    .then(|| applied.iter().max().copied())
                    .flatten();
                let decided: Vec<(u32, u64)> = views
                    .values()
                    .flat_map(|v| v.decisions.iter())
                    .filter(|d| d.proposal == record.id)
                    .map(|d| (d.round, d.version))
                    .collect();
                let round = decided.iter().map(|(r, _)| *r).min();
                let outcome = match decided.first() {
                    Some((_, version)) => format!(
                        "decided in round {} as version {version}",
                        round.unwrap_or_default()
                    ),
                    None => self.undecided(views, record, approvals.len(), rejections),
                };
                Ratification {
                    proposal: label.clone(),
                    proposed_at_ms: millis(record.proposed_at),
                    slot: record.slot,
                    first_vote_at_ms: record.first_vote().map(millis),
                    approvals: approvals.len(),
                    rejections,
                    needed: record.needed,
                    deciding_vote_at_ms: deciding.map(millis),
                    vote_to_certificate_ms: applied.iter().min().copied().and_then(since),
                    vote_to_everywhere_ms: everywhere.and_then(since),
                    round,
                    outcome,
                }
            })
            .collect()
    }

    /// The decisions and equivocation evidence the honest nodes hold.
    fn federation_outcome(views: &Views) -> FederationOutcome {
        let mut by_version: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
        for view in views.values() {
            for d in &view.decisions {
                by_version.entry(d.version).or_default().insert(&d.proposal);
            }
        }
        let evidence: BTreeSet<_> = views
            .values()
            .flat_map(|v| {
                v.equivocations
                    .iter()
                    .map(|e| (&e.member, e.slot, e.round, &e.kind))
            })
            .collect();
        let members: BTreeSet<_> = evidence.iter().map(|(m, ..)| *m).collect();
        FederationOutcome {
            nodes: views.len(),
            versions_decided: by_version.len(),
            conflicting_versions: by_version.values().filter(|p| p.len() > 1).count(),
            equivocating_members: members.len(),
            equivocations: evidence.len(),
            nodes_with_evidence: views
                .values()
                .filter(|v| !v.equivocations.is_empty())
                .count(),
        }
    }

    /// Honest nodes that are up now.
    fn honest_up(&self) -> Vec<NodeIndex> {
        self.honest
            .iter()
            .copied()
            .filter(|&i| self.nodes[i].is_up())
            .collect()
    }

    /// Time from publish to arrival, for each of `nodes` that got it.
    fn arrivals(&self, published: &Published, nodes: &[NodeIndex]) -> Vec<Duration> {
        let observed = fleet::lock(&self.observed);
        let Some(reached) = observed.reached.get(&published.id) else {
            return Vec::new();
        };
        nodes
            .iter()
            .filter_map(|i| reached.get(i))
            .map(|&t| t.saturating_sub(published.at))
            .collect()
    }

    /// The share of `nodes` that held `published` within `within` of its
    /// publish, and the slowest arrival among them.
    fn reached_in_time(
        &self,
        published: &Published,
        nodes: &[NodeIndex],
        within: Duration,
    ) -> (f64, Duration) {
        let arrivals = self.arrivals(published, nodes);
        let in_time = arrivals.iter().filter(|&&t| t <= within).count();
        let slowest = arrivals.iter().max().copied().unwrap_or_default();
        (share(in_time, nodes.len()), slowest)
    }

    fn propagation(&self) -> Vec<Propagation> {
        let up = self.honest_up();
        let mut products: Vec<(&String, &Published)> = self.published.iter().collect();
        products.sort_by_key(|(_, p)| p.at);
        if products.len() <= MAX_PRODUCT_ENTRIES {
            return products
                .iter()
                .map(|(name, p)| {
                    Propagation::new(name.as_str(), p.at, up.len(), self.arrivals(p, &up))
                })
                .collect();
        }
        let mut pooled = Vec::new();
        for (_, p) in &products {
            pooled.extend(self.arrivals(p, &up));
        }
        let first = products.first().map_or(Duration::ZERO, |(_, p)| p.at);
        vec![Propagation::new(
            format!("all {} products (pooled)", products.len()),
            first,
            up.len() * products.len(),
            pooled,
        )]
    }

    fn fetch_stats(&self, product: Option<&str>) -> FetchStats {
        let all = fleet::lock(&self.fetches);
        let chosen: Vec<_> = all
            .iter()
            .filter(|f| product.is_none_or(|p| f.product == p))
            .collect();
        let done = chosen
            .iter()
            .filter_map(|f| f.finished.map(|t| t.saturating_sub(f.started)))
            .collect();
        FetchStats::new(chosen.len(), done)
    }

    fn traffic(&self, bootstraps: &[(u64, u64)]) -> Traffic {
        let per_node = self.net.traffic();
        let spread = |f: fn(&crate::transport::NodeTraffic) -> u64| {
            Spread::of(&per_node.iter().map(f).collect::<Vec<_>>())
        };
        Traffic {
            messages_sent: spread(|t| t.messages_sent),
            messages_received: spread(|t| t.messages_received),
            bytes_sent: spread(|t| t.bytes_sent),
            bytes_received: spread(|t| t.bytes_received),
            peak_connections: spread(|t| t.peak_connections),
            connections_opened: spread(|t| t.connections_opened),
            connections_at_end: spread(|t| t.connections),
            dht_bootstraps_full: Spread::of(&bootstraps.iter().map(|b| b.0).collect::<Vec<_>>()),
            dht_bootstraps_shortened: Spread::of(
                &bootstraps.iter().map(|b| b.1).collect::<Vec<_>>(),
            ),
        }
    }

    fn check(&self, check: &Check, views: &Views) -> (bool, String) {
        match check {
            Check::Reach {
                product,
                nodes,
                fraction,
                within,
            } => self.check_reach(product, nodes, *fraction, *within),
            Check::ReachAll { fraction, within } => self.check_reach_all(*fraction, *within),
            Check::FetchCompletes {
                product,
                fraction,
                within,
            } => self.check_fetches(product.as_deref(), *fraction, *within),
            Check::ConvergedAfterHeal { within } => match (self.healed_at, self.converged_after) {
                (None, _) => (false, "no heal happened".into()),
                (Some(_), None) => (false, "never converged".into()),
                (Some(_), Some(after)) => (after <= *within, format!("{} after heal", secs(after))),
            },
            Check::NoCorruptedBytes {} => self.check_corruption(),
            Check::Ratified {
                proposal,
                fraction,
                within,
            } => self.check_ratified(views, proposal, *fraction, *within),
            Check::DecidedAfterHeal {
                proposal,
                fraction,
                within,
            } => self.check_decided_after_heal(views, proposal, *fraction, *within),
            Check::NoConflictingCertificates {} => Self::check_conflicts(views),
        }
    }

    fn check_reach(
        &self,
        product: &str,
        nodes: &crate::scenario::NodeSet,
        fraction: f64,
        within: Duration,
    ) -> (bool, String) {
        let Some(published) = self.published.get(product) else {
            return (false, format!("{product} was never published"));
        };
        let set: Vec<NodeIndex> = self
            .scenario
            .resolve(nodes)
            .unwrap_or_default()
            .into_iter()
            .filter(|&i| self.nodes[i].is_up())
            .collect();
        let (got, slowest) = self.reached_in_time(published, &set, within);
        (
            got >= fraction,
            format!(
                "{} of {} nodes within {} (slowest {})",
                percent(got),
                set.len(),
                secs(within),
                secs(slowest)
            ),
        )
    }

    fn check_reach_all(&self, fraction: f64, within: Duration) -> (bool, String) {
        let up = self.honest_up();
        let mut worst: Option<(f64, &str)> = None;
        let mut slowest = Duration::ZERO;
        for (name, published) in &self.published {
            let (got, last) = self.reached_in_time(published, &up, within);
            slowest = slowest.max(last);
            if worst.is_none_or(|(w, _)| got < w) {
                worst = Some((got, name));
            }
        }
        let Some((got, name)) = worst else {
            return (false, "nothing was published".into());
        };
        (
            got >= fraction,
            format!(
                "{} products; the least spread (`{name}`) reached {} of {} nodes in time; slowest arrival {}",
                self.published.len(),
                percent(got),
                up.len(),
                secs(slowest)
            ),
        )
    }

    fn check_fetches(
        &self,
        product: Option<&str>,
        fraction: f64,
        within: Duration,
    ) -> (bool, String) {
        let stats = self.fetch_stats(product);
        let in_time = stats
            .samples_ms
            .iter()
            .filter(|&&ms| ms <= millis(within))
            .count();
        let got = share(in_time, stats.started);
        (
            stats.started > 0 && got >= fraction,
            format!(
                "{} of {} fetches within {}",
                percent(got),
                stats.started,
                secs(within)
            ),
        )
    }

    fn check_corruption(&self) -> (bool, String) {
        let all = fleet::lock(&self.fetches);
        let finished = all.iter().filter(|f| f.finished.is_some()).count();
        let bad = all.iter().filter(|f| f.corrupted).count();
        (
            bad == 0,
            format!("{bad} of {finished} fetched files differ from what was published"),
        )
    }

    fn check_ratified(
        &self,
        views: &Views,
        proposal: &str,
        fraction: f64,
        within: Duration,
    ) -> (bool, String) {
        let Some(record) = self.proposals.get(proposal) else {
            return (false, format!("{proposal} was never proposed"));
        };
        let in_time = self
            .ratified_at(views, proposal)
            .iter()
            .filter(|&&t| t.saturating_sub(record.proposed_at) <= within)
            .count();
        let got = share(in_time, views.len());
        (
            got >= fraction,
            format!(
                "ratified at {} of {} honest nodes within {}",
                percent(got),
                views.len(),
                secs(within)
            ),
        )
    }

    /// The slot of `proposal` is decided at `fraction` of the honest nodes
    /// up at the end, each within `within` of the last heal (a node that
    /// decided before the heal is in time).
    fn check_decided_after_heal(
        &self,
        views: &Views,
        proposal: &str,
        fraction: f64,
        within: Duration,
    ) -> (bool, String) {
        let Some(record) = self.proposals.get(proposal) else {
            return (false, format!("{proposal} was never proposed"));
        };
        let Some(healed) = self.healed_at else {
            return (false, "no heal ended the last partition".into());
        };
        let slot = record.slot;
        let after: Vec<Duration> = views
            .iter()
            .filter(|(_, v)| v.version > slot)
            .filter_map(|(i, _)| self.reached_version(*i, slot + 1))
            .map(|t| t.saturating_sub(healed))
            .collect();
        let in_time = after.iter().filter(|&&t| t <= within).count();
        let got = share(in_time, views.len());
        let last = after
            .iter()
            .max()
            .map_or_else(|| "never".to_owned(), |t| secs(*t));
        let winner = self
            .slot_winner(views, slot)
            .map_or_else(String::new, |w| format!(", by {w}"));
        (
            !views.is_empty() && got >= fraction,
            format!(
                "slot {slot} decided at {} of {} honest nodes within {} of the heal{winner}; the last {last} after it",
                percent(got),
                views.len(),
                secs(within)
            ),
        )
    }

    fn check_conflicts(views: &Views) -> (bool, String) {
        let f = Self::federation_outcome(views);
        (
            f.conflicting_versions == 0,
            format!(
                "{} conflicting versions among {} decided across {} nodes; {} equivocations caught against {} members",
                f.conflicting_versions,
                f.versions_decided,
                f.nodes,
                f.equivocations,
                f.equivocating_members
            ),
        )
    }

    pub(super) fn report(&self, views: &Views, bootstraps: &[(u64, u64)]) -> Report {
        let expectations = self
            .scenario
            .expectations
            .iter()
            .map(|e| {
                let (pass, measured) = self.check(&e.check, views);
                ExpectationResult {
                    name: e.label(),
                    pass,
                    measured,
                    target: e.check.to_string(),
                }
            })
            .collect();
        Report {
            scenario: self.scenario.network.name.clone(),
            seed: self.scenario.network.seed,
            nodes: self.nodes.len(),
            wall_time_ms: 0.0,
            simulated_time_ms: millis(self.now()),
            peak_rss_bytes: None,
            parallelism: crate::engine::Parallelism::default(),
            propagation: self.propagation(),
            convergence: self.healed_at.map(|healed| Convergence {
                healed_at_ms: millis(healed),
                converged_after_ms: self.converged_after.map(millis),
            }),
            ratification: self.ratification(views),
            federation: (!views.is_empty()).then(|| Self::federation_outcome(views)),
            fetches: self.fetch_stats(None),
            traffic: self.traffic(bootstraps),
            expectations,
            notes: self.run_notes(),
        }
    }

    fn run_notes(&self) -> Vec<String> {
        let mut notes = self.notes.clone();
        if self.refused_votes > 0 {
            notes.push(format!(
                "{} votes were refused by their nodes (a second vote on one proposal, a proposal not yet received, or a slot already decided)",
                self.refused_votes
            ));
        }
        let lagged = fleet::lock(&self.observed).lagged;
        if lagged > 0 {
            notes.push(format!(
                "node event streams lagged {lagged} times; arrival times read from catalogs then are upper bounds"
            ));
        }
        notes
    }
}
