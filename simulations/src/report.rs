//! What a run measured: the [`Report`] the engine fills in, written as
//! `report.json`, printed as a summary and drawn as `report.svg`.
//!
//! The report is plain data so it can be compared between runs and read by
//! other tools. Times are simulated milliseconds (`*_ms`, floating point);
//! times of an event "after" something are measured from that something
//! (a product's publish, the vote that made a proposal eligible, the last
//! heal). Absent values (`null`) mean "never happened during the run".

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::plot::{self, PlotError};
use crate::stats::{Percentiles, Spread, millis, time_to_fraction};

/// The file name of the JSON report in the output directory.
pub const REPORT_JSON: &str = "report.json";
/// The file name of the plot in the output directory.
pub const REPORT_SVG: &str = "report.svg";

/// Everything one run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// The seed the run used.
    pub seed: u64,
    /// How many nodes the scenario has.
    pub nodes: usize,
    /// Real time the run took.
    pub wall_time_ms: f64,
    /// Simulated time covered.
    pub simulated_time_ms: f64,
    /// The process's peak resident memory, when the platform tells.
    pub peak_rss_bytes: Option<u64>,
    /// The threads the nodes ran on and how long each waited for the
    /// others (absent in reports from before parallel runs: one thread).
    #[serde(default)]
    pub parallelism: crate::engine::Parallelism,
    /// Descriptor propagation, one entry per published product.
    pub propagation: Vec<Propagation>,
    /// Catalog and governance convergence after the last heal, if any.
    pub convergence: Option<Convergence>,
    /// Governance, one entry per proposal.
    pub ratification: Vec<Ratification>,
    /// The federation's decisions and the equivocation evidence, as the
    /// honest nodes held them at the end (absent when the run had no
    /// federation).
    #[serde(default)]
    pub federation: Option<FederationOutcome>,
    /// Fetch completion.
    pub fetches: FetchStats,
    /// Messages and bytes per node.
    pub traffic: Traffic,
    /// One result per `[[expect]]`, in file order.
    pub expectations: Vec<ExpectationResult>,
    /// What happened in the run that a reader should know: timeline
    /// actions a node refused (a publish breaking a policy, a vote an
    /// honest node would not sign), nodes that lagged.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// How one product's descriptor spread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Propagation {
    /// The product's name in the scenario.
    pub product: String,
    /// When it was (first) published.
    pub published_at_ms: f64,
    /// How many nodes should hold it (the honest nodes, usually).
    pub population: usize,
    /// How many did by the end of the run.
    pub reached: usize,
    /// `reached / population`.
    pub fraction_reached: f64,
    /// Time after publish until half the population held it.
    pub p50_ms: Option<f64>,
    /// ... until 90% held it.
    pub p90_ms: Option<f64>,
    /// ... until 99% held it.
    pub p99_ms: Option<f64>,
    /// ... until all held it.
    pub p100_ms: Option<f64>,
    /// Time after publish at which each node that got it got it, ascending.
    pub samples_ms: Vec<f64>,
}

impl Propagation {
    /// Summarises the times after publish at which nodes of a `population`
    /// got the product (in any order; nodes that never got it are simply
    /// absent). The percentiles are over the whole population: `p90_ms` is
    /// `None` unless 90% of it got the product.
    pub fn new(
        product: impl Into<String>,
        published_at: Duration,
        population: usize,
        mut samples: Vec<Duration>,
    ) -> Self {
        samples.sort_unstable();
        let at = |fraction| time_to_fraction(&samples, population, fraction).map(millis);
        let reached = samples.len().min(population);
        let fraction_reached = crate::stats::share(reached, population);
        Self {
            product: product.into(),
            published_at_ms: millis(published_at),
            population,
            reached,
            fraction_reached,
            p50_ms: at(0.5),
            p90_ms: at(0.9),
            p99_ms: at(0.99),
            p100_ms: at(1.0),
            samples_ms: samples.into_iter().map(millis).collect(),
        }
    }
}

/// Convergence after the last heal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Convergence {
    /// When the last heal happened.
    pub healed_at_ms: f64,
    /// Time after it until all honest online nodes held the same catalog and
    /// certificate chain; `None` if they never did during the run.
    pub converged_after_ms: Option<f64>,
}

/// How one proposal fared.
///
/// Under the round-based rules a proposal is decided in two stages: the
/// members' approvals make it *eligible* once a quorum of them is in (the
/// *deciding vote* is the approval that completed that quorum), and then
/// the members' nodes run consensus rounds that give its slot to one
/// eligible proposal. The times here run from the deciding vote, so they
/// cover the votes' spread, the rounds and the certificate's spread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ratification {
    /// The proposal's label in the scenario.
    pub proposal: String,
    /// When it was proposed.
    pub proposed_at_ms: f64,
    /// Its slot: the federation version it builds on.
    #[serde(default)]
    pub slot: u64,
    /// When the first vote on it was cast.
    pub first_vote_at_ms: Option<f64>,
    /// Approvals signed during the run (the timeline's, and adversary
    /// members').
    #[serde(default)]
    pub approvals: usize,
    /// Rejections signed during the run.
    #[serde(default)]
    pub rejections: usize,
    /// Approvals that make it eligible.
    #[serde(default)]
    pub needed: usize,
    /// When the deciding vote was cast: the approval that completed the
    /// quorum; `None` if the quorum never was.
    #[serde(default)]
    pub deciding_vote_at_ms: Option<f64>,
    /// Time from the deciding vote until some node assembled its
    /// certificate.
    pub vote_to_certificate_ms: Option<f64>,
    /// Time from the deciding vote until every honest online node held the
    /// certificate.
    pub vote_to_everywhere_ms: Option<f64>,
    /// The consensus round that decided it, if it was.
    #[serde(default)]
    pub round: Option<u32>,
    /// What became of it, in words ("decided in round 0 as version 1",
    /// "rejected; slot 0 went to `c`").
    #[serde(default)]
    pub outcome: String,
}

/// The federation at the end of the run, over the honest nodes up then.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederationOutcome {
    /// Honest nodes whose federation was read.
    pub nodes: usize,
    /// Versions some of them decided.
    pub versions_decided: usize,
    /// Versions for which two of them hold different decisions (must be
    /// zero).
    pub conflicting_versions: usize,
    /// Members some of them hold equivocation evidence against.
    pub equivocating_members: usize,
    /// Distinct equivocations caught (member, slot, round and kind).
    pub equivocations: usize,
    /// Nodes holding any evidence.
    pub nodes_with_evidence: usize,
}

/// Fetch completion over all fetches of the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FetchStats {
    /// Fetches started.
    pub started: usize,
    /// Fetches that completed, verified.
    pub completed: usize,
    /// Fetches that failed or had not completed at the end of the run.
    pub unfinished: usize,
    /// Completion times (from each fetch's start) of the completed ones.
    pub times: Option<Percentiles>,
    /// The same times, ascending.
    pub samples_ms: Vec<f64>,
}

impl FetchStats {
    /// Summarises `started` fetches of which those in `completed` finished
    /// after the given times.
    pub fn new(started: usize, mut completed: Vec<Duration>) -> Self {
        completed.sort_unstable();
        Self {
            started,
            completed: completed.len(),
            unfinished: started.saturating_sub(completed.len()),
            times: Percentiles::of(&completed),
            samples_ms: completed.into_iter().map(millis).collect(),
        }
    }
}

/// Messages and bytes per node, over the whole run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Traffic {
    /// Messages each node sent.
    pub messages_sent: Spread,
    /// Messages each node received.
    pub messages_received: Spread,
    /// Bytes each node sent.
    pub bytes_sent: Spread,
    /// Bytes each node received.
    pub bytes_received: Spread,
    /// The most connections each node had open at once.
    pub peak_connections: Spread,
    /// Connections each node took part in over the run.
    pub connections_opened: Spread,
    /// Connections each node had open when the run ended.
    pub connections_at_end: Spread,
    /// Kademlia bootstraps each honest node ran in full (up at the end,
    /// counted since its last start).
    #[serde(default)]
    pub dht_bootstraps_full: Spread,
    /// Kademlia bootstraps each honest node cut short because a full one
    /// ran shortly before.
    #[serde(default)]
    pub dht_bootstraps_shortened: Spread,
}

/// The outcome of one expectation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectationResult {
    /// The expectation's name or description.
    pub name: String,
    /// Whether it held.
    pub pass: bool,
    /// What was measured, for people ("97.0% in 30s", "2.1s", "0 conflicts").
    pub measured: String,
    /// What was required, for people ("100% within 30s").
    pub target: String,
}

/// Where [`Report::write_to`] put its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The JSON report.
    pub json: PathBuf,
    /// The plot.
    pub svg: PathBuf,
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Creating the directory or writing a file failed.
    #[error("cannot write {}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The report could not be encoded as JSON.
    #[error("cannot encode the report as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The plot could not be drawn.
    #[error(transparent)]
    Plot(#[from] PlotError),
}

impl Report {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.expectations.iter().all(|e| e.pass)
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> Result<String, ReportError> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Writes `report.json` and `report.svg` into `dir`, creating it.
    pub fn write_to(&self, dir: &Path) -> Result<Written, ReportError> {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let json = dir.join(REPORT_JSON);
        let mut text = self.to_json()?;
        text.push('\n');
        std::fs::write(&json, text).map_err(|source| ReportError::Io {
            path: json.clone(),
            source,
        })?;
        let svg = dir.join(REPORT_SVG);
        plot::write_svg(self, &svg)?;
        Ok(Written { json, svg })
    }

    /// A human-readable summary, several lines, ending in a newline.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        self.summary_header(&mut out);
        self.summary_propagation(&mut out);
        self.summary_governance(&mut out);
        self.summary_fetches_and_traffic(&mut out);
        self.summary_notes(&mut out);
        self.summary_expectations(&mut out);
        out
    }

    fn summary_notes(&self, out: &mut String) {
        if self.notes.is_empty() {
            return;
        }
        let _ = writeln!(out, "\nnotes");
        for note in &self.notes {
            let _ = writeln!(out, "  {note}");
        }
    }

    fn summary_header(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "mesh-sim: {} (seed {}), {} nodes",
            self.scenario, self.seed, self.nodes
        );
        let rss = self
            .peak_rss_bytes
            .map_or_else(String::new, |b| format!(", peak RSS {}", bytes(b)));
        let _ = writeln!(
            out,
            "  simulated {} in {} of wall time{rss}",
            ms(self.simulated_time_ms),
            ms(self.wall_time_ms)
        );
        let p = &self.parallelism;
        if p.threads > 1 {
            let waited = p
                .waited_ms
                .iter()
                .map(|w| ms(*w))
                .collect::<Vec<_>>()
                .join(" / ");
            let _ = writeln!(
                out,
                "  on {} threads in {} windows; each thread waited for the others {waited}",
                p.threads,
                ms(p.window_ms)
            );
        }
    }

    fn summary_propagation(&self, out: &mut String) {
        if self.propagation.is_empty() {
            return;
        }
        let width = self
            .propagation
            .iter()
            .map(|p| p.product.len())
            .max()
            .unwrap_or(0)
            .max("product".len());
        let _ = writeln!(
            out,
            "\ndescriptor propagation (time after publish until a share of nodes held it)"
        );
        let _ = writeln!(
            out,
            "  {:<width$}  {:>15}  {:>8}  {:>8}  {:>8}  {:>8}",
            "product", "reached", "p50", "p90", "p99", "100%"
        );
        for p in &self.propagation {
            let reached = format!(
                "{}/{} {:.1}%",
                p.reached,
                p.population,
                p.fraction_reached * 100.0
            );
            let _ = writeln!(
                out,
                "  {:<width$}  {reached:>15}  {:>8}  {:>8}  {:>8}  {:>8}",
                p.product,
                opt_ms(p.p50_ms),
                opt_ms(p.p90_ms),
                opt_ms(p.p99_ms),
                opt_ms(p.p100_ms)
            );
        }
    }

    fn summary_governance(&self, out: &mut String) {
        if let Some(c) = &self.convergence {
            let _ = writeln!(
                out,
                "\nconvergence after heal (at {}): {}",
                ms(c.healed_at_ms),
                opt_ms(c.converged_after_ms)
            );
        }
        if !self.ratification.is_empty() {
            let _ = writeln!(
                out,
                "\nvote to decision (from the deciding vote, the approval that made the proposal \
                 eligible, until a certificate / until every node)"
            );
            for r in &self.ratification {
                let _ = writeln!(
                    out,
                    "  {}: {} / {}; {} yes, {} no of {} needed; {}",
                    r.proposal,
                    opt_ms(r.vote_to_certificate_ms),
                    opt_ms(r.vote_to_everywhere_ms),
                    r.approvals,
                    r.rejections,
                    r.needed,
                    r.outcome
                );
            }
        }
        if let Some(f) = &self.federation {
            let _ = writeln!(
                out,
                "\nfederation at the end ({} honest nodes): versions decided {}, conflicting {}; \
                 equivocations caught {} (members {}), nodes holding evidence {}",
                f.nodes,
                f.versions_decided,
                f.conflicting_versions,
                f.equivocations,
                f.equivocating_members,
                f.nodes_with_evidence
            );
        }
    }

    fn summary_fetches_and_traffic(&self, out: &mut String) {
        let f = &self.fetches;
        if f.started > 0 {
            let _ = write!(out, "\nfetches: {}/{} complete", f.completed, f.started);
            if let Some(t) = &f.times {
                let _ = write!(
                    out,
                    "; p50 {}, p90 {}, p99 {}, max {}",
                    ms(t.p50_ms),
                    ms(t.p90_ms),
                    ms(t.p99_ms),
                    ms(t.max_ms)
                );
            }
            out.push('\n');
        }
        let t = &self.traffic;
        let _ = writeln!(out, "\ntraffic per node (min / mean / max)");
        for (what, spread, as_bytes) in [
            ("messages sent", &t.messages_sent, false),
            ("messages received", &t.messages_received, false),
            ("bytes sent", &t.bytes_sent, true),
            ("bytes received", &t.bytes_received, true),
            ("connections opened", &t.connections_opened, false),
            ("connections at end", &t.connections_at_end, false),
            ("peak connections", &t.peak_connections, false),
            ("DHT bootstraps run", &t.dht_bootstraps_full, false),
            ("DHT bootstraps cut", &t.dht_bootstraps_shortened, false),
        ] {
            let show = |v: u64| if as_bytes { bytes(v) } else { v.to_string() };
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            // A mean of non-negative counts, rounded for display.
            let mean = spread.mean.round() as u64;
            let _ = writeln!(
                out,
                "  {what:<18} {} / {} / {}",
                show(spread.min),
                show(mean),
                show(spread.max)
            );
        }
    }

    fn summary_expectations(&self, out: &mut String) {
        if self.expectations.is_empty() {
            let _ = writeln!(out, "\nno expectations");
            return;
        }
        let _ = writeln!(out, "\nexpectations");
        for e in &self.expectations {
            let _ = writeln!(
                out,
                "  {}  {}: measured {} (target {})",
                if e.pass { "PASS" } else { "FAIL" },
                e.name,
                e.measured,
                e.target
            );
        }
        let passed = self.expectations.iter().filter(|e| e.pass).count();
        let _ = writeln!(
            out,
            "{passed} of {} expectations passed",
            self.expectations.len()
        );
    }
}

/// `450ms`, `3.25s`, `2m 5.0s`.
pub(crate) fn ms(value: f64) -> String {
    if value < 1000.0 {
        format!("{value:.0}ms")
    } else if value < 60_000.0 {
        format!("{:.2}s", value / 1000.0)
    } else {
        let minutes = (value / 60_000.0).floor();
        format!(
            "{minutes:.0}m {:.1}s",
            (value - minutes * 60_000.0) / 1000.0
        )
    }
}

fn opt_ms(value: Option<f64>) -> String {
    value.map_or_else(|| "never".to_owned(), ms)
}

fn bytes(value: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // For display.
    let v = value as f64;
    for (unit, scale) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        #[allow(clippy::cast_precision_loss)]
        let scale = scale as f64;
        if v >= scale {
            return format!("{:.1} {unit}", v / scale);
        }
    }
    format!("{value} B")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A report with a bit of everything, for this module's and the plot's
    /// tests.
    pub(crate) fn sample() -> Report {
        let secs = |s: &[u64]| s.iter().map(|ms| Duration::from_millis(*ms)).collect();
        Report {
            scenario: "sample".into(),
            seed: 7,
            nodes: 10,
            wall_time_ms: 1234.0,
            simulated_time_ms: 90_000.0,
            parallelism: crate::engine::Parallelism::default(),
            peak_rss_bytes: Some(300 << 20),
            propagation: vec![
                Propagation::new(
                    "orders",
                    Duration::from_secs(5),
                    10,
                    secs(&[120, 80, 300, 150, 90, 200, 250, 110, 130, 400]),
                ),
                Propagation::new(
                    "invoices",
                    Duration::from_secs(10),
                    10,
                    secs(&[500, 700, 900]),
                ),
            ],
            convergence: Some(Convergence {
                healed_at_ms: 60_000.0,
                converged_after_ms: Some(2500.0),
            }),
            ratification: vec![Ratification {
                proposal: "require-owner".into(),
                proposed_at_ms: 20_000.0,
                slot: 0,
                first_vote_at_ms: Some(21_000.0),
                approvals: 8,
                rejections: 1,
                needed: 7,
                deciding_vote_at_ms: Some(21_000.0),
                vote_to_certificate_ms: Some(800.0),
                vote_to_everywhere_ms: Some(1400.0),
                round: Some(0),
                outcome: "decided in round 0 as version 1".into(),
            }],
            federation: Some(FederationOutcome {
                nodes: 10,
                versions_decided: 1,
                conflicting_versions: 0,
                equivocating_members: 1,
                equivocations: 3,
                nodes_with_evidence: 9,
            }),
            fetches: FetchStats::new(9, secs(&[1500, 1700, 2100, 900, 3000, 1200, 1300, 1600])),
            traffic: Traffic {
                messages_sent: Spread::of(&[100, 200, 300]),
                messages_received: Spread::of(&[150, 150, 300]),
                bytes_sent: Spread::of(&[1 << 20, 2 << 20, 3 << 20]),
                bytes_received: Spread::of(&[1 << 20, 2 << 20, 3 << 20]),
                peak_connections: Spread::of(&[8, 9, 12]),
                connections_opened: Spread::of(&[10, 12, 20]),
                connections_at_end: Spread::of(&[6, 8, 9]),
                dht_bootstraps_full: Spread::of(&[1, 1, 1]),
                dht_bootstraps_shortened: Spread::of(&[0, 1, 3]),
            },
            expectations: vec![
                ExpectationResult {
                    name: "`orders` reaches 100% of honest within 30s".into(),
                    pass: true,
                    measured: "100% in 400ms".into(),
                    target: "100% within 30s".into(),
                },
                ExpectationResult {
                    name: "`invoices` reaches 100% of honest within 30s".into(),
                    pass: false,
                    measured: "30% by 30s".into(),
                    target: "100% within 30s".into(),
                },
            ],
            notes: vec!["publish of `x` at 10s refused: policy".into()],
        }
    }

    #[test]
    fn propagation_percentiles_are_over_the_population() {
        let p = &sample().propagation;
        assert_eq!(p[0].reached, 10);
        assert_eq!(p[0].p50_ms, Some(130.0));
        assert_eq!(p[0].p90_ms, Some(300.0));
        assert_eq!(p[0].p100_ms, Some(400.0));
        assert_eq!(p[0].samples_ms.first(), Some(&80.0));
        assert_eq!(p[1].reached, 3);
        assert!((p[1].fraction_reached - 0.3).abs() < 1e-9);
        assert_eq!(p[1].p50_ms, None);
        assert_eq!(p[1].p100_ms, None);
    }

    #[test]
    fn fetch_stats_count_the_unfinished() {
        let f = sample().fetches;
        assert_eq!((f.started, f.completed, f.unfinished), (9, 8, 1));
        assert_eq!(f.times.map(|t| t.max_ms), Some(3000.0));
    }

    #[test]
    fn summary_shows_every_section() {
        let report = sample();
        assert!(!report.passed());
        let text = report.summary();
        for needle in [
            "mesh-sim: sample (seed 7), 10 nodes",
            "orders",
            "10/10 100.0%",
            "3/10 30.0%",
            "never",
            "convergence after heal (at 1m 0.0s): 2.50s",
            "require-owner: 800ms / 1.40s; 8 yes, 1 no of 7 needed; decided in round 0 as version 1",
            "federation at the end (10 honest nodes): versions decided 1, conflicting 0; \
             equivocations caught 3 (members 1), nodes holding evidence 9",
            "fetches: 8/9 complete",
            "bytes sent",
            "PASS  `orders`",
            "FAIL  `invoices`",
            "1 of 2 expectations passed",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    #[test]
    fn json_round_trips() {
        let report = sample();
        let json = report.to_json().unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
        assert!(json.contains("\"p90_ms\": 300.0"));
    }

    #[test]
    fn write_to_creates_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nested/out");
        let written = sample().write_to(&out).unwrap();
        assert_eq!(written.json, out.join(REPORT_JSON));
        let json = std::fs::read_to_string(&written.json).unwrap();
        assert!(serde_json::from_str::<Report>(&json).is_ok());
        assert!(written.svg.exists());
    }

    #[test]
    fn times_print_readably() {
        assert_eq!(ms(450.0), "450ms");
        assert_eq!(ms(3250.0), "3.25s");
        assert_eq!(ms(125_000.0), "2m 5.0s");
        assert_eq!(bytes(300 << 20), "300.0 MiB");
        assert_eq!(bytes(12), "12 B");
    }
}
