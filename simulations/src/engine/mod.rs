//! The engine: runs a [`Scenario`] with real `mesh-node` nodes over the
//! simulated network, in virtual time, and measures it into a [`Report`].
//!
//! [`run`] builds a current-thread tokio runtime with a paused clock: the
//! clock only moves when every node is waiting, and then jumps to the next
//! timer, so simulated minutes take as long as the nodes' CPU work.
//! [`run_with`] can spread the nodes over several such runtimes, one per
//! thread, whose clocks move in lockstep windows (see [`lockstep`]). The
//! timeline's events fire at their simulated times; node watchers record
//! when each node first holds each product; fetches record when they finish
//! and whether the bytes written match what was published.
//!
//! What is not simulated (yet) is refused up front with the list of what
//! is missing, rather than run and reported as if it were.

mod adversary;
mod fleet;
pub mod lockstep;
mod measure;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mesh_node::ProductDraft;
use mesh_protocol::ProductId;
use mesh_protocol::descriptor::Format;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::time::Instant;

use crate::link::{LinkModel, LinkScope, Partition};
use crate::report::Report;
use crate::scenario::{Action, Check, NodeIndex, Scenario};
use crate::transport::Net;
pub use fleet::FleetError;
use fleet::{Shared, SimNode};
pub use lockstep::Parallelism;
use tokio::runtime::Handle;

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The scenario uses what the engine does not simulate yet.
    #[error("this scenario needs what the simulator cannot run yet: {0}")]
    Unsupported(String),
    /// Setting up nodes failed.
    #[error(transparent)]
    Fleet(#[from] FleetError),
    /// A node set or region in the scenario did not resolve.
    #[error("scenario: {0}")]
    Scenario(String),
    /// Local IO (temporary directories, sample files).
    #[error("local: {0}")]
    Io(#[from] std::io::Error),
    /// The runtime could not be built.
    #[error("runtime: {0}")]
    Runtime(String),
}

/// What the engine cannot run yet in `scenario`, if anything.
pub fn unsupported(_scenario: &Scenario) -> Vec<String> {
    Vec::new()
}

/// How to run a scenario (what is not part of the scenario itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// Threads to run the nodes on. One replays a seed exactly; more run
    /// faster but interleave differently each time (see [`lockstep`]).
    pub threads: usize,
}

impl Default for RunOptions {
    /// One thread: a seed replays exactly.
    fn default() -> Self {
        Self { threads: 1 }
    }
}

/// Runs `scenario` on one fresh virtual-time runtime and returns its report.
pub fn run(scenario: &Scenario) -> Result<Report, EngineError> {
    run_with(scenario, RunOptions::default())
}

/// Runs `scenario` on `options.threads` virtual-time runtimes in lockstep.
/// A scenario whose links can have zero latency leaves no lookahead and
/// runs on one thread, with a note saying so.
pub fn run_with(scenario: &Scenario, options: RunOptions) -> Result<Report, EngineError> {
    let missing = unsupported(scenario);
    if !missing.is_empty() {
        return Err(EngineError::Unsupported(missing.join(", ")));
    }
    let threads = options.threads.clamp(1, scenario.node_count().max(1));
    let window = scenario.min_latency();
    let runtimes = lockstep::Runtimes::start(threads, window)?;
    let wall = std::time::Instant::now();
    let mut sim = Sim::new(scenario, runtimes.handles())?;
    if threads > 1 && window.is_zero() {
        sim.note(&format!(
            "ran on one thread, not {threads}: some link can have zero latency \
             (a normal latency can draw 0), which leaves threads no lookahead"
        ));
    }
    let mut report = runtimes.block_on(sim.run())?;
    report.parallelism = runtimes.parallelism();
    // Let aborted node tasks finish dropping before the runtimes go.
    drop(runtimes);
    report.wall_time_ms = crate::stats::millis(wall.elapsed());
    report.peak_rss_bytes = peak_rss();
    Ok(report)
}

/// Peak resident memory of this process (Linux `VmHWM`).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A published product as the run knows it.
struct Published {
    id: ProductId,
    at: Duration,
    hash: blake3::Hash,
}

/// A proposal of the run, by its label in the scenario.
pub(crate) struct ProposalRecord {
    pub(crate) id: String,
    pub(crate) proposed_at: Duration,
    /// Its slot: the federation version it builds on.
    pub(crate) slot: u64,
    /// The approvals that make it eligible (the slot's quorum).
    pub(crate) needed: usize,
    /// The members of its slot.
    pub(crate) members: usize,
    /// The votes of the timeline its nodes signed: when (on the voter's
    /// clock), and whether it approved.
    pub(crate) votes: Vec<(Duration, bool)>,
}

impl ProposalRecord {
    /// When the first vote on it was signed.
    pub(crate) fn first_vote(&self) -> Option<Duration> {
        self.votes.iter().map(|(at, _)| *at).min()
    }
}

/// The misbehaviours of each adversary node.
fn adversary_plans(
    scenario: &Scenario,
) -> Result<HashMap<NodeIndex, Vec<adversary::Active>>, EngineError> {
    let mut plans: HashMap<NodeIndex, Vec<adversary::Active>> = HashMap::new();
    for a in &scenario.adversaries {
        for i in scenario.resolve(&a.nodes).map_err(set_error)? {
            plans.entry(i).or_default().push(adversary::Active {
                behaviour: a.behaviour.clone(),
                from: a.from.unwrap_or_default(),
                until: a.until,
            });
        }
    }
    Ok(plans)
}

/// Whether the scenario needs a federation: it proposes or votes, or
/// checks certificates.
fn needs_federation(scenario: &Scenario) -> bool {
    scenario
        .events
        .iter()
        .any(|e| matches!(e.action, Action::Propose { .. } | Action::Vote { .. }))
        || scenario
            .adversaries
            .iter()
            .any(|a| matches!(a.behaviour, crate::scenario::Behaviour::EquivocateVotes {}))
        || scenario.expectations.iter().any(|e| {
            matches!(
                e.check,
                Check::Ratified { .. }
                    | Check::DecidedAfterHeal { .. }
                    | Check::NoConflictingCertificates {}
            )
        })
}

/// One fetch of the run.
pub(crate) struct FetchRecord {
    pub(crate) product: String,
    pub(crate) started: Duration,
    pub(crate) finished: Option<Duration>,
    pub(crate) corrupted: bool,
}

/// The state of one run.
struct Sim {
    scenario: Scenario,
    /// The runtimes the nodes live on: node `i` on `runtimes[i % len]`.
    runtimes: Vec<Handle>,
    net: Net,
    nodes: Vec<SimNode>,
    honest: BTreeSet<NodeIndex>,
    _root: tempfile::TempDir,
    rng: StdRng,
    epoch: Instant,
    observed: Shared,
    published: HashMap<String, Published>,
    /// Publishes still running on their nodes' runtimes.
    publishing: Vec<Publishing>,
    fetches: Arc<std::sync::Mutex<Vec<FetchRecord>>>,
    fetch_tasks: Vec<tokio::task::JoinHandle<()>>,
    healed_at: Option<Duration>,
    converged_after: Option<Duration>,
    restores: Vec<(Duration, crate::link::DegradationId)>,
    churn: Vec<Churn>,
    proposals: HashMap<String, ProposalRecord>,
    refused_votes: u64,
    notes: Vec<String>,
    registry: adversary::Registry,
    /// The last 5-second mark reported as progress.
    progress: u64,
}

/// A churn process: every `period`, the nodes taken down last time come
/// back and another `fraction` of `nodes` goes down.
struct Churn {
    nodes: Vec<NodeIndex>,
    fraction: f64,
    period: Duration,
    next: Duration,
    until: Duration,
    down: Vec<NodeIndex>,
}

fn set_error(e: impl std::fmt::Display) -> EngineError {
    EngineError::Scenario(e.to_string())
}

/// A publish running on its node's runtime.
struct Publishing {
    product: String,
    node: NodeIndex,
    data: Arc<Vec<u8>>,
    /// When it started on the node, and the node's answer.
    task: tokio::task::JoinHandle<(
        Duration,
        Result<mesh_node::PublishReceipt, mesh_node::NodeError>,
    )>,
}

impl Sim {
    fn new(scenario: &Scenario, runtimes: Vec<Handle>) -> Result<Self, EngineError> {
        let infos = scenario.nodes();
        let mut rng = StdRng::seed_from_u64(scenario.network.seed);
        let regions = infos.iter().map(|n| n.region).collect();
        let net = Net::new(LinkModel::from_scenario(scenario), regions, rng.random());
        let root = tempfile::Builder::new().prefix("mesh-sim-").tempdir()?;
        let registry = adversary::Registry::default();
        let mut plans = adversary_plans(scenario)?;
        let mut nodes = Vec::with_capacity(infos.len());
        // Every node holds every product: one shared copy of each item.
        let pool = Arc::new(mesh_node::store::ItemPool::default());
        for info in &infos {
            if info.role == crate::scenario::Role::Adversary {
                let mut secret = [0u8; 32];
                rng.fill(&mut secret[..]);
                let node_key =
                    libp2p::identity::Keypair::ed25519_from_bytes(rng.random::<[u8; 32]>())
                        .map_err(set_error)?;
                let spec = fleet::AdversarySpec {
                    domain_secret: secret,
                    node_key,
                    active: plans.remove(&info.index).unwrap_or_default(),
                    network_id: mesh_node::Config::default().network.network_id,
                    federation: None,
                    registry: registry.clone(),
                };
                let name = format!("adversary-{}", info.index);
                nodes.push(SimNode::adversary(
                    info.index,
                    &name,
                    net.address(),
                    secret,
                    spec,
                ));
                continue;
            }
            let name = format!("{}-{}", info.name.group, info.index)
                .to_ascii_lowercase()
                .replace(|c: char| !(c.is_ascii_alphanumeric() || c == '-'), "-");
            let name = if name.starts_with(|c: char| c.is_ascii_lowercase()) {
                name
            } else {
                format!("n{name}")
            };
            let secrets = (rng.random::<[u8; 32]>(), rng.random::<[u8; 32]>());
            nodes.push(SimNode::create(
                info.index,
                &name,
                root.path(),
                net.address(),
                secrets,
                &pool,
            )?);
        }
        let lists = scenario
            .network
            .bootstrap
            .bootstrap_lists(nodes.len(), &mut rng);
        for (i, list) in lists.into_iter().enumerate() {
            nodes[i].bootstrap = list.iter().map(|&j| nodes[j].addr.clone()).collect();
            nodes[i].settings.clone_from(&scenario.node);
        }
        if needs_federation(scenario) {
            let genesis = genesis(scenario, &nodes)?;
            for node in &mut nodes {
                match &mut node.adversary {
                    Some(spec) => spec.federation = Some(genesis.id()),
                    None => node.install_genesis(&genesis)?,
                }
            }
        }
        Ok(Self {
            honest: scenario.honest_nodes(),
            scenario: scenario.clone(),
            runtimes,
            net,
            nodes,
            _root: root,
            rng,
            epoch: Instant::now(),
            observed: Shared::default(),
            published: HashMap::new(),
            publishing: Vec::new(),
            fetches: Arc::default(),
            fetch_tasks: Vec::new(),
            healed_at: None,
            converged_after: None,
            restores: Vec::new(),
            churn: Vec::new(),
            proposals: HashMap::new(),
            refused_votes: 0,
            notes: Vec::new(),
            registry,
            progress: 0,
        })
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// The runtime node `i` lives on.
    fn runtime(&self, i: NodeIndex) -> &Handle {
        &self.runtimes[i % self.runtimes.len()]
    }

    /// Runs `job` on node `i`'s runtime, with the simulated time it started
    /// there: on another thread that can be up to one window from the
    /// engine's clock, and it is the node's time that counts.
    fn on_node<T: Send + 'static>(
        &self,
        i: NodeIndex,
        job: impl std::future::Future<Output = T> + Send + 'static,
    ) -> tokio::task::JoinHandle<(Duration, T)> {
        let epoch = self.epoch;
        self.runtime(i)
            .spawn(async move { (epoch.elapsed(), job.await) })
    }

    fn start_node(&mut self, i: NodeIndex) -> Result<(), EngineError> {
        let (net, observed, epoch) = (self.net.clone(), self.observed.clone(), self.epoch);
        let runtime = self.runtime(i).clone();
        self.nodes[i].start(&net, &observed, epoch, &runtime)?;
        Ok(())
    }

    async fn run(mut self) -> Result<Report, EngineError> {
        self.epoch = Instant::now();
        let mut starts = self.scenario.start_times().into_iter().peekable();
        let events = self.scenario.events.clone();
        let end = self.scenario.network.run_for;
        for event in events {
            // A node due to start at an event's instant starts before it.
            self.start_due(&mut starts, event.at).await?;
            self.advance_to(event.at).await?;
            self.apply(&event.action).await?;
        }
        self.start_due(&mut starts, Duration::MAX).await?;
        self.advance_to(end).await?;
        self.collect_publishes(true).await;
        for task in std::mem::take(&mut self.fetch_tasks) {
            task.abort();
        }
        let views = self.federation_views().await;
        let bootstraps = self.bootstraps().await;
        let report = self.report(&views, &bootstraps);
        for node in &mut self.nodes {
            node.crash();
        }
        Ok(report)
    }

    /// Starts, each at its time, the nodes of `starts` due by `until`.
    async fn start_due(
        &mut self,
        starts: &mut std::iter::Peekable<std::vec::IntoIter<(Duration, NodeIndex)>>,
        until: Duration,
    ) -> Result<(), EngineError> {
        while let Some((at, i)) = starts.next_if(|(at, _)| *at <= until) {
            self.advance_to(at).await?;
            self.start_node(i)?;
        }
        Ok(())
    }

    /// Lets simulated time pass until `at`, running churn, the end of
    /// degradations and the convergence watch on the way.
    async fn advance_to(&mut self, at: Duration) -> Result<(), EngineError> {
        const STEP: Duration = Duration::from_millis(100);
        loop {
            // Every event is applied after an advance: the publishes done by
            // then are in before it looks for them.
            self.collect_publishes(false).await;
            let now = self.now();
            if now >= at {
                return Ok(());
            }
            self.tick(now).await?;
            let bucket = now.as_secs() / 5;
            if bucket > self.progress {
                self.progress = bucket;
                tracing::info!(
                    simulated = %crate::units::format_duration(now),
                    of = %crate::units::format_duration(self.scenario.network.run_for),
                    connections = self.net.open_connections(),
                    "progress"
                );
            }
            let next = (now + STEP).min(at);
            tokio::time::sleep_until(self.epoch + next).await;
        }
    }

    /// Periodic work at simulated time `now`.
    async fn tick(&mut self, now: Duration) -> Result<(), EngineError> {
        let due: Vec<_> = self
            .restores
            .iter()
            .filter(|(t, _)| *t <= now)
            .map(|(_, id)| *id)
            .collect();
        self.restores.retain(|(t, _)| *t > now);
        for id in due {
            self.net.with_link(|l| l.restore(id));
        }
        let mut churn = std::mem::take(&mut self.churn);
        for c in &mut churn {
            if now < c.next || now >= c.until {
                continue;
            }
            c.next = now + c.period;
            for i in std::mem::take(&mut c.down) {
                self.start_node(i)?;
            }
            let count = fraction_of(c.nodes.len(), c.fraction);
            let mut pool = c.nodes.clone();
            for _ in 0..count.min(pool.len()) {
                let pick = self.rng.random_range(0..pool.len());
                let i = pool.swap_remove(pick);
                self.nodes[i].crash();
                c.down.push(i);
            }
        }
        // Churn that ended brings its last victims back.
        for c in &mut churn {
            if now >= c.until {
                for i in std::mem::take(&mut c.down) {
                    self.start_node(i)?;
                }
            }
        }
        churn.retain(|c| now < c.until || !c.down.is_empty());
        self.churn = churn;
        if let (Some(healed), None) = (self.healed_at, self.converged_after)
            && self.converged().await
        {
            self.converged_after = Some(now.saturating_sub(healed));
        }
        Ok(())
    }

    /// Whether every running honest node holds every product published.
    /// The nodes are asked at once: on several threads, each answer can
    /// take up to a window.
    async fn converged(&self) -> bool {
        let want = self.published.len();
        let asks = self
            .honest
            .iter()
            .filter_map(|i| self.nodes[*i].handle())
            .map(mesh_node::NodeHandle::status);
        futures::future::join_all(asks)
            .await
            .into_iter()
            .all(|status| status.is_ok_and(|s| s.catalog_size >= want))
    }

    fn resolve(&self, set: &crate::scenario::NodeSet) -> Result<Vec<NodeIndex>, EngineError> {
        Ok(self
            .scenario
            .resolve(set)
            .map_err(set_error)?
            .into_iter()
            .collect())
    }

    async fn apply(&mut self, action: &Action) -> Result<(), EngineError> {
        match action {
            Action::Publish {
                node,
                product,
                size,
            } => {
                let i = self.scenario.node_index(node).map_err(set_error)?;
                self.publish(i, product, *size)?;
            }
            Action::Fetch { nodes, product } => {
                for i in self.resolve(nodes)? {
                    self.fetch(i, product);
                }
            }
            Action::Partition { sides } => {
                let mut resolved = Vec::new();
                for side in sides {
                    resolved.push(self.resolve(side)?);
                }
                self.net
                    .partition(Partition::new(resolved).map_err(set_error)?);
                self.healed_at = None;
                self.converged_after = None;
            }
            Action::Heal {} => {
                self.net.heal();
                self.healed_at = Some(self.now());
                self.converged_after = None;
            }
            Action::Crash { nodes, fraction } => self.crash(nodes, *fraction)?,
            Action::Restart { nodes } | Action::Join { nodes } => {
                for i in self.resolve(nodes)? {
                    self.start_node(i)?;
                }
            }
            Action::Leave { nodes } => {
                for i in self.resolve(nodes)? {
                    self.nodes[i].leave().await;
                }
            }
            Action::Churn {
                nodes,
                fraction,
                period,
                until,
            } => {
                let now = self.now();
                self.churn.push(Churn {
                    nodes: self.resolve(nodes)?,
                    fraction: *fraction,
                    period: *period,
                    next: now,
                    until: until.unwrap_or(self.scenario.network.run_for),
                    down: Vec::new(),
                });
            }
            action @ Action::Degrade { .. } => self.degrade(action)?,
            Action::Propose {
                node,
                proposal,
                change,
            } => {
                let i = self.scenario.node_index(node).map_err(set_error)?;
                self.propose(i, proposal, change).await?;
            }
            Action::Vote {
                nodes,
                proposal,
                choice,
                reason,
            } => {
                let approve = matches!(choice, crate::scenario::Choice::Yes);
                let voters = self.resolve(nodes)?;
                let reason = reason.clone().unwrap_or_default();
                self.vote(&voters, proposal, approve, &reason).await;
            }
        }
        Ok(())
    }

    /// Records something the reader of the report should know, with the
    /// simulated time.
    fn note(&mut self, text: &str) {
        let at = crate::units::format_duration(self.now());
        tracing::info!(%at, "{text}");
        self.notes.push(format!("at {at}: {text}"));
    }

    fn crash(
        &mut self,
        nodes: &crate::scenario::NodeSet,
        fraction: Option<f64>,
    ) -> Result<(), EngineError> {
        let mut set = self.resolve(nodes)?;
        if let Some(f) = fraction {
            let keep = fraction_of(set.len(), f);
            while set.len() > keep {
                let pick = self.rng.random_range(0..set.len());
                set.swap_remove(pick);
            }
        }
        for i in set {
            self.nodes[i].crash();
        }
        Ok(())
    }

    fn degrade(&mut self, action: &Action) -> Result<(), EngineError> {
        let Action::Degrade {
            region,
            between,
            until,
            ..
        } = action
        else {
            return Ok(());
        };
        let region_id = |name: &str| {
            self.scenario
                .region_id(name)
                .ok_or_else(|| set_error(format!("unknown region {name}")))
        };
        let scope = match (region, between) {
            (Some(r), _) => LinkScope::Within(region_id(r)?),
            (None, Some([a, b])) => LinkScope::Between(region_id(a)?, region_id(b)?),
            (None, None) => LinkScope::All,
        };
        if let Some(spec) = action.degrade_spec() {
            let id = self.net.with_link(|l| l.degrade(scope, spec));
            if let Some(until) = until {
                self.restores.push((*until, id));
            }
        }
        Ok(())
    }

    async fn propose(
        &mut self,
        i: NodeIndex,
        label: &str,
        change: &crate::scenario::Change,
    ) -> Result<(), EngineError> {
        use mesh_protocol::governance::{Change, Member, Quorum};
        let change = match change {
            crate::scenario::Change::AddPolicy(rule) => {
                Change::AddPolicy(rule.parse().map_err(set_error)?)
            }
            crate::scenario::Change::RemovePolicy(rule) => {
                Change::RemovePolicy(rule.parse().map_err(set_error)?)
            }
            crate::scenario::Change::AddMember(node) => {
                let j = self.scenario.node_index(node).map_err(set_error)?;
                Change::AddMember(Member {
                    name: self.nodes[j].name.clone(),
                    key: self.nodes[j].domain_key,
                })
            }
            crate::scenario::Change::RemoveMember(node) => {
                let j = self.scenario.node_index(node).map_err(set_error)?;
                Change::RemoveMember(self.nodes[j].domain_key.domain_id())
            }
            crate::scenario::Change::SetQuorum(q) => Change::SetQuorum(Quorum {
                numerator: q.numerator,
                denominator: q.denominator,
            }),
        };
        let Some(handle) = self.nodes[i].handle().cloned() else {
            self.note(&format!("proposal `{label}` skipped: its node is down"));
            return Ok(());
        };
        let text = label.to_owned();
        let job = self.on_node(
            i,
            async move { handle.propose(change, text, 3_600_000).await },
        );
        let Ok((at, outcome)) = job.await else {
            self.note(&format!("proposal `{label}` by node {i} did not finish"));
            return Ok(());
        };
        match outcome {
            Ok(view) => {
                self.proposals.insert(
                    label.to_owned(),
                    ProposalRecord {
                        id: view.id,
                        proposed_at: at,
                        slot: view.base_version,
                        needed: view.needed,
                        members: view.members,
                        votes: Vec::new(),
                    },
                );
            }
            Err(e) => self.note(&format!("proposal `{label}` by node {i} refused: {e}")),
        }
        Ok(())
    }

    /// Every voter votes at once, each on its own runtime, with `reason`.
    async fn vote(&mut self, voters: &[NodeIndex], label: &str, approve: bool, reason: &str) {
        let Some(Ok(id)) = self.proposals.get(label).map(|r| r.id.parse()) else {
            return;
        };
        let jobs: Vec<_> = voters
            .iter()
            .filter_map(|&i| {
                let handle = self.nodes[i].handle().cloned()?;
                let reason = reason.to_owned();
                Some((
                    i,
                    self.on_node(i, async move { handle.vote(id, approve, reason).await }),
                ))
            })
            .collect();
        for (i, job) in jobs {
            match job.await {
                Ok((at, Ok(_))) => {
                    if let Some(record) = self.proposals.get_mut(label) {
                        record.votes.push((at, approve));
                    }
                }
                Ok((_, Err(e))) => {
                    // An honest node refuses a second vote on one proposal,
                    // a vote on a proposal it has not received yet or one
                    // whose slot is decided: the point of some scenarios,
                    // so they are counted, not fatal.
                    tracing::debug!(node = i, label, error = %e, "vote refused");
                    self.refused_votes += 1;
                }
                Err(e) => tracing::debug!(node = i, label, error = %e, "vote did not finish"),
            }
        }
    }

    fn publish(&mut self, i: NodeIndex, product: &str, size: u64) -> Result<(), EngineError> {
        let Some(handle) = self.nodes[i].handle().cloned() else {
            self.note(&format!("publish of `{product}` skipped: its node is down"));
            return Ok(());
        };
        let data = Arc::new(sample_bytes(self.scenario.network.seed, product, size));
        let file = self.nodes[i].dir.join(format!("{product}.src"));
        std::fs::write(&file, &*data)?;
        // The publish runs on the node's runtime, and the engine goes on
        // without waiting for it: from another thread the answer could take
        // up to a window, which would push every later event back.
        let draft = ProductDraft::new(product, product, Format::Csv);
        let task = self.on_node(i, async move { handle.publish(&file, draft).await });
        self.publishing.push(Publishing {
            product: product.to_owned(),
            node: i,
            data,
            task,
        });
        Ok(())
    }

    /// Takes in the publishes that have finished (all of them, waiting, if
    /// `wait`).
    async fn collect_publishes(&mut self, wait: bool) {
        let mut running = Vec::new();
        for publishing in std::mem::take(&mut self.publishing) {
            if !wait && !publishing.task.is_finished() {
                running.push(publishing);
                continue;
            }
            let Publishing {
                product,
                node: i,
                data,
                task,
            } = publishing;
            match task.await {
                Ok((at, Ok(receipt))) => self.published_by(i, &product, at, &data, receipt),
                Ok((_, Err(e))) => {
                    self.note(&format!("publish of `{product}` by node {i} refused: {e}"));
                }
                Err(e) => self.note(&format!("publish of `{product}` by node {i} failed: {e}")),
            }
        }
        self.publishing = running;
    }

    /// Records a publish that node `i` made at simulated time `at`.
    fn published_by(
        &mut self,
        i: NodeIndex,
        product: &str,
        at: Duration,
        data: &Arc<Vec<u8>>,
        receipt: mesh_node::PublishReceipt,
    ) {
        let manifest =
            mesh_protocol::Manifest::from_bytes(data, mesh_protocol::manifest::DEFAULT_CHUNK_SIZE);
        if manifest.hash() == receipt.manifest_hash {
            fleet::lock(&self.registry).insert(manifest.hash(), (manifest, data.clone()));
        }
        fleet::lock(&self.observed)
            .reached
            .entry(receipt.product.clone())
            .or_default()
            .entry(i)
            .or_insert(at);
        self.published.insert(
            product.to_owned(),
            Published {
                id: receipt.product,
                at,
                hash: blake3::hash(data),
            },
        );
    }

    fn fetch(&mut self, i: NodeIndex, product: &str) {
        let (Some(handle), Some(published)) =
            (self.nodes[i].handle().cloned(), self.published.get(product))
        else {
            return;
        };
        let started = self.now();
        let index = self.fetches_push(product, started);
        let (id, expected) = (published.id.clone(), published.hash);
        let out: PathBuf = self.nodes[i].dir.join(format!("{product}.fetched"));
        let fetches = self.fetches.clone();
        let epoch = self.epoch;
        self.fetch_tasks.push(self.runtime(i).spawn(async move {
            // The fetch starts on the node's clock, not the engine's.
            if let Some(record) = fleet::lock(&fetches).get_mut(index) {
                record.started = epoch.elapsed();
            }
            let Ok(job) = handle.fetch(id, None, &out).await else {
                return;
            };
            if let Ok(path) = job.finish().await {
                let corrupted =
                    std::fs::read(&path).map_or(true, |bytes| blake3::hash(&bytes) != expected);
                let mut all = fleet::lock(&fetches);
                if let Some(record) = all.get_mut(index) {
                    record.finished = Some(epoch.elapsed());
                    record.corrupted = corrupted;
                }
            }
        }));
    }

    fn fetches_push(&self, product: &str, started: Duration) -> usize {
        let mut all = fleet::lock(&self.fetches);
        all.push(FetchRecord {
            product: product.to_owned(),
            started,
            finished: None,
            corrupted: false,
        });
        all.len() - 1
    }
}

/// The federation of the scenario's members, signed by nobody (a genesis
/// is agreed out of band).
fn genesis(
    scenario: &Scenario,
    nodes: &[SimNode],
) -> Result<mesh_protocol::governance::Genesis, EngineError> {
    use mesh_protocol::governance::{Genesis, Member, Quorum};
    let members = scenario
        .resolve(&scenario.federation.members)
        .map_err(set_error)?
        .into_iter()
        .map(|i| Member {
            name: nodes[i].name.clone(),
            key: nodes[i].domain_key,
        })
        .collect();
    let quorum = Quorum {
        numerator: scenario.federation.quorum.numerator,
        denominator: scenario.federation.quorum.denominator,
    };
    Genesis::new(
        "sim",
        members,
        quorum,
        std::collections::BTreeSet::new(),
        mesh_protocol::Timestamp(1),
    )
    .map_err(set_error)
}

/// `fraction` of `n`, rounded to the nearest whole node.
fn fraction_of(n: usize, fraction: f64) -> usize {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "node counts, rounded"
    )]
    let k = (n as f64 * fraction.clamp(0.0, 1.0)).round() as usize;
    k
}

/// Deterministic content for a product: the same scenario, seed and name
/// always publish the same bytes.
fn sample_bytes(seed: u64, product: &str, size: u64) -> Vec<u8> {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&seed.to_le_bytes());
    hasher.update(product.as_bytes());
    let mut reader = hasher.finalize_xof();
    let mut data = vec![0u8; usize::try_from(size).unwrap_or(usize::MAX)];
    reader.fill(&mut data);
    data
}
