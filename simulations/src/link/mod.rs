//! The link model: how long a message of a given size takes between two
//! regions, whether it is lost, and whether a partition blocks it.
//!
//! It is pure data plus a caller-supplied random number generator, so a run
//! is reproducible from its seed and the model is tested without a network.
//! The engine asks [`LinkModel::transmit`] once per message and delivers the
//! message after the returned delay, or drops it on `None`.
//!
//! A message's delay is one latency sample from the link's [`Latency`]
//! distribution plus its serialisation time (`size / bandwidth`). Loss is a
//! coin flip per message. Queueing behind earlier messages on the same link
//! is not modelled here: the model keeps no per-link state beyond its
//! configuration.
//!
//! Links are configured in layers: the scenario's default `[link]`, then a
//! region's own values for links inside it, or a `[[links]]` entry for links
//! between two regions, then any active degradation (`degrade` events), the
//! latest last. A [`Partition`] blocks every message between nodes on
//! different sides, whatever the link.

mod latency;

use std::collections::BTreeMap;
use std::time::Duration;

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

pub use latency::Latency;

use crate::scenario::{NodeIndex, Scenario};
use crate::units::{format_duration, serde_units};

/// Why link parameters are invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinkError {
    /// A uniform latency whose minimum is above its maximum.
    #[error("latency min {} is above max {}", format_duration(*.min), format_duration(*.max))]
    UniformOrder {
        /// The minimum given.
        min: Duration,
        /// The maximum given.
        max: Duration,
    },
    /// A loss probability outside 0..=1.
    #[error("loss {0} is not between 0 and 1")]
    Loss(f64),
    /// A bandwidth of zero.
    #[error("bandwidth must be above zero")]
    ZeroBandwidth,
    /// A node placed on two sides of one partition.
    #[error("node {0} is on two sides of the partition")]
    NodeOnTwoSides(NodeIndex),
}

/// Values for a link, any of which may be left out to keep the value of the
/// layer below (see the module doc). This is the shape of `[link]`, of a
/// region's and a `[[links]]` entry's link fields, and of a `degrade` event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// One-way latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// Bytes per second; absent means unlimited.
    #[serde(
        default,
        with = "serde_units::option_rate",
        skip_serializing_if = "Option::is_none"
    )]
    pub bandwidth: Option<u64>,
    /// Probability that a message is lost, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
}

impl LinkSpec {
    /// The values of `base` with those given here put over them.
    pub fn over(&self, base: &LinkParams) -> LinkParams {
        LinkParams {
            latency: self.latency.unwrap_or(base.latency),
            bandwidth: self.bandwidth.or(base.bandwidth),
            loss: self.loss.unwrap_or(base.loss),
        }
    }

    /// Checks every value given.
    pub fn check(&self) -> Result<(), LinkError> {
        if let Some(latency) = &self.latency {
            latency.check()?;
        }
        if self.bandwidth == Some(0) {
            return Err(LinkError::ZeroBandwidth);
        }
        if let Some(loss) = self.loss
            && !(0.0..=1.0).contains(&loss)
        {
            return Err(LinkError::Loss(loss));
        }
        Ok(())
    }
}

/// The complete values of one link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkParams {
    /// One-way latency.
    pub latency: Latency,
    /// Bytes per second; `None` is unlimited.
    pub bandwidth: Option<u64>,
    /// Probability that a message is lost, 0 to 1.
    pub loss: f64,
}

impl LinkParams {
    /// What a scenario's links are when its `[link]` says nothing: 10 ms
    /// fixed latency, unlimited bandwidth, no loss.
    pub const DEFAULT: LinkParams = LinkParams {
        latency: Latency::Fixed(Duration::from_millis(10)),
        bandwidth: None,
        loss: 0.0,
    };

    /// The time to put `size` bytes on the link: `size / bandwidth`, zero
    /// when bandwidth is unlimited.
    pub fn serialisation_delay(&self, size: u64) -> Duration {
        match self.bandwidth {
            None | Some(0) => Duration::ZERO,
            Some(bandwidth) => {
                let ns = u128::from(size) * 1_000_000_000 / u128::from(bandwidth);
                Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
            }
        }
    }

    /// The delay of one message of `size` bytes, or `None` when it is lost.
    /// Draws the loss coin first (only when loss is above zero), then the
    /// latency.
    pub fn delay<R: Rng + ?Sized>(&self, size: u64, rng: &mut R) -> Option<Duration> {
        if self.loss > 0.0 && rng.random::<f64>() < self.loss {
            return None;
        }
        Some(
            self.latency
                .sample(rng)
                .saturating_add(self.serialisation_delay(size)),
        )
    }
}

/// A region, by its position in the scenario's `[[regions]]` (region 0 when
/// the scenario declares none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RegionId(pub usize);

/// One end of a message: the node and the region it sits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The node.
    pub node: NodeIndex,
    /// Its region.
    pub region: RegionId,
}

/// Which links a degradation touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkScope {
    /// Every link.
    All,
    /// Links with both ends in this region.
    Within(RegionId),
    /// Links between these two regions, either direction.
    Between(RegionId, RegionId),
}

impl LinkScope {
    /// Whether the link from `from` to `to` is in scope.
    pub fn covers(&self, from: RegionId, to: RegionId) -> bool {
        match *self {
            Self::All => true,
            Self::Within(r) => from == r && to == r,
            Self::Between(a, b) => (from == a && to == b) || (from == b && to == a),
        }
    }
}

/// Names an active degradation, to lift it later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DegradationId(u64);

/// Which side of a partition each node is on. Nodes named on no side are
/// together on one more side of their own. The empty partition blocks
/// nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Partition {
    side_of: BTreeMap<NodeIndex, usize>,
}

impl Partition {
    /// No partition: every node reaches every other.
    pub fn none() -> Self {
        Self::default()
    }

    /// A partition into the given sides (node indices). Fails if a node is
    /// on two sides.
    pub fn new<S, I>(sides: S) -> Result<Self, LinkError>
    where
        S: IntoIterator<Item = I>,
        I: IntoIterator<Item = NodeIndex>,
    {
        let mut side_of = BTreeMap::new();
        for (side, nodes) in sides.into_iter().enumerate() {
            for node in nodes {
                if side_of.insert(node, side).is_some_and(|s| s != side) {
                    return Err(LinkError::NodeOnTwoSides(node));
                }
            }
        }
        Ok(Self { side_of })
    }

    /// Whether traffic between `a` and `b` is blocked.
    pub fn blocks(&self, a: NodeIndex, b: NodeIndex) -> bool {
        self.side_of.get(&a) != self.side_of.get(&b)
    }

    /// Whether this partition blocks anything at all.
    pub fn is_none(&self) -> bool {
        self.side_of.is_empty()
    }
}

/// All links of a run: the configured layers, the active degradations and
/// the current partition.
#[derive(Clone, Debug)]
pub struct LinkModel {
    default: LinkParams,
    within: BTreeMap<RegionId, LinkParams>,
    between: BTreeMap<(RegionId, RegionId), LinkParams>,
    degradations: BTreeMap<DegradationId, (LinkScope, LinkSpec)>,
    next_degradation: u64,
    partition: Partition,
}

impl LinkModel {
    /// A model where every link has `default`'s values.
    pub fn new(default: LinkParams) -> Self {
        Self {
            default,
            within: BTreeMap::new(),
            between: BTreeMap::new(),
            degradations: BTreeMap::new(),
            next_degradation: 0,
            partition: Partition::none(),
        }
    }

    /// The model a scenario describes: its `[link]` over
    /// [`LinkParams::DEFAULT`], each region's values for links inside it and
    /// each `[[links]]` entry for links between two regions (both over the
    /// default). Region ids follow the scenario's `[[regions]]` order.
    /// Expects a validated scenario; entries naming unknown regions are
    /// skipped.
    pub fn from_scenario(scenario: &Scenario) -> Self {
        let default = scenario.link.over(&LinkParams::DEFAULT);
        let mut model = Self::new(default);
        for (i, region) in scenario.regions.iter().enumerate() {
            model.set_within(RegionId(i), region.link().over(&default));
        }
        for link in &scenario.links {
            let [a, b] = &link.between;
            if let (Some(a), Some(b)) = (scenario.region_id(a), scenario.region_id(b)) {
                model.set_between(a, b, link.link().over(&default));
            }
        }
        model
    }

    /// Sets the links inside `region`.
    pub fn set_within(&mut self, region: RegionId, params: LinkParams) {
        self.within.insert(region, params);
    }

    /// Sets the links between `a` and `b`, both directions.
    pub fn set_between(&mut self, a: RegionId, b: RegionId, params: LinkParams) {
        self.between.insert(ordered(a, b), params);
    }

    /// Puts `spec` over the links in `scope` until [`LinkModel::restore`]
    /// is called with the returned id.
    pub fn degrade(&mut self, scope: LinkScope, spec: LinkSpec) -> DegradationId {
        let id = DegradationId(self.next_degradation);
        self.next_degradation += 1;
        self.degradations.insert(id, (scope, spec));
        id
    }

    /// Lifts a degradation. Returns `false` if it was not active.
    pub fn restore(&mut self, id: DegradationId) -> bool {
        self.degradations.remove(&id).is_some()
    }

    /// Replaces the partition.
    pub fn set_partition(&mut self, partition: Partition) {
        self.partition = partition;
    }

    /// Ends any partition.
    pub fn heal(&mut self) {
        self.partition = Partition::none();
    }

    /// The current partition.
    pub fn partition(&self) -> &Partition {
        &self.partition
    }

    /// The values of the link from `from` to `to` now, degradations
    /// included.
    pub fn params(&self, from: RegionId, to: RegionId) -> LinkParams {
        let mut params = if from == to {
            self.within.get(&from).copied().unwrap_or(self.default)
        } else {
            self.between
                .get(&ordered(from, to))
                .copied()
                .unwrap_or(self.default)
        };
        for (scope, spec) in self.degradations.values() {
            if scope.covers(from, to) {
                params = spec.over(&params);
            }
        }
        params
    }

    /// The delay of a message of `size` bytes from region `from` to region
    /// `to`, or `None` if it is lost. Ignores the partition.
    pub fn delay<R: Rng + ?Sized>(
        &self,
        from: RegionId,
        to: RegionId,
        size: u64,
        rng: &mut R,
    ) -> Option<Duration> {
        self.params(from, to).delay(size, rng)
    }

    /// The delay of a message of `size` bytes between two nodes, or `None`
    /// if the partition blocks it or it is lost. A blocked message draws
    /// nothing from `rng`.
    pub fn transmit<R: Rng + ?Sized>(
        &self,
        from: Endpoint,
        to: Endpoint,
        size: u64,
        rng: &mut R,
    ) -> Option<Duration> {
        if self.partition.blocks(from.node, to.node) {
            return None;
        }
        self.delay(from.region, to.region, size, rng)
    }
}

fn ordered(a: RegionId, b: RegionId) -> (RegionId, RegionId) {
    if a <= b { (a, b) } else { (b, a) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn fixed(ms: u64) -> Latency {
        Latency::Fixed(Duration::from_millis(ms))
    }

    fn params(latency: Latency, bandwidth: Option<u64>, loss: f64) -> LinkParams {
        LinkParams {
            latency,
            bandwidth,
            loss,
        }
    }

    #[test]
    fn no_loss_never_drops() {
        let mut rng = StdRng::seed_from_u64(1);
        let link = params(fixed(5), None, 0.0);
        for _ in 0..10_000 {
            assert_eq!(link.delay(100, &mut rng), Some(Duration::from_millis(5)));
        }
    }

    #[test]
    fn full_loss_always_drops() {
        let mut rng = StdRng::seed_from_u64(2);
        let link = params(fixed(5), None, 1.0);
        for _ in 0..10_000 {
            assert_eq!(link.delay(100, &mut rng), None);
        }
    }

    #[test]
    fn partial_loss_drops_about_that_share() {
        let mut rng = StdRng::seed_from_u64(3);
        let link = params(fixed(5), None, 0.25);
        let dropped = (0..20_000)
            .filter(|_| link.delay(100, &mut rng).is_none())
            .count();
        assert!((4_000..6_000).contains(&dropped), "{dropped}");
    }

    #[test]
    fn partition_blocks_across_sides_only() {
        let mut model = LinkModel::new(params(fixed(1), None, 0.0));
        model.set_partition(Partition::new([vec![0, 1], vec![2, 3]]).unwrap());
        let at = |node| Endpoint {
            node,
            region: RegionId(0),
        };
        let mut rng = StdRng::seed_from_u64(4);
        assert!(model.transmit(at(0), at(1), 10, &mut rng).is_some());
        assert!(model.transmit(at(2), at(3), 10, &mut rng).is_some());
        assert!(model.transmit(at(0), at(2), 10, &mut rng).is_none());
        assert!(model.transmit(at(3), at(1), 10, &mut rng).is_none());
        // Nodes named on no side are a side of their own.
        assert!(model.transmit(at(4), at(5), 10, &mut rng).is_some());
        assert!(model.transmit(at(4), at(0), 10, &mut rng).is_none());
        model.heal();
        assert!(model.transmit(at(0), at(2), 10, &mut rng).is_some());
    }

    #[test]
    fn a_node_on_two_sides_is_refused() {
        assert_eq!(
            Partition::new([vec![0, 1], vec![1, 2]]),
            Err(LinkError::NodeOnTwoSides(1))
        );
    }

    #[test]
    fn bandwidth_adds_size_over_bandwidth() {
        let mut rng = StdRng::seed_from_u64(7);
        let link = params(fixed(20), Some(1_000_000), 0.0);
        // 500 kB at 1 MB/s is half a second on top of the latency.
        assert_eq!(
            link.delay(500_000, &mut rng),
            Some(Duration::from_millis(520))
        );
        assert_eq!(link.serialisation_delay(0), Duration::ZERO);
        let unlimited = params(fixed(20), None, 0.0);
        assert_eq!(
            unlimited.delay(u64::MAX, &mut rng),
            Some(Duration::from_millis(20))
        );
    }

    #[test]
    fn same_seed_gives_the_same_sequence() {
        let link = params(
            Latency::Normal {
                mean: Duration::from_millis(40),
                stddev: Duration::from_millis(15),
            },
            Some(10_000_000),
            0.1,
        );
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..1000)
                .map(|i| link.delay(i * 100, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }

    #[test]
    fn layers_and_degradations_combine() {
        let (eu, us) = (RegionId(0), RegionId(1));
        let mut model = LinkModel::new(params(fixed(100), None, 0.0));
        model.set_within(eu, params(fixed(5), None, 0.0));
        model.set_between(eu, us, params(fixed(80), Some(1000), 0.0));
        assert_eq!(model.params(eu, eu).latency, fixed(5));
        assert_eq!(model.params(us, us).latency, fixed(100));
        assert_eq!(model.params(us, eu).latency, fixed(80));
        let id = model.degrade(
            LinkScope::Between(us, eu),
            LinkSpec {
                latency: Some(fixed(300)),
                loss: Some(0.5),
                ..LinkSpec::default()
            },
        );
        let degraded = model.params(eu, us);
        assert_eq!(degraded.latency, fixed(300));
        assert_eq!(degraded.bandwidth, Some(1000));
        assert!((degraded.loss - 0.5).abs() < f64::EPSILON);
        assert_eq!(model.params(eu, eu).latency, fixed(5));
        assert!(model.restore(id));
        assert!(!model.restore(id));
        assert_eq!(model.params(eu, us).latency, fixed(80));
    }

    #[test]
    fn spec_checks_its_values() {
        assert_eq!(
            LinkSpec {
                loss: Some(1.5),
                ..LinkSpec::default()
            }
            .check(),
            Err(LinkError::Loss(1.5))
        );
        assert_eq!(
            LinkSpec {
                bandwidth: Some(0),
                ..LinkSpec::default()
            }
            .check(),
            Err(LinkError::ZeroBandwidth)
        );
        let backwards = Latency::Uniform {
            min: Duration::from_millis(30),
            max: Duration::from_millis(10),
        };
        assert!(backwards.check().is_err());
    }
}
