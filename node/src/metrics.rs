//! Prometheus metrics of a node: libp2p's own (connections, bandwidth,
//! gossipsub, Kademlia, identify, ping) and meshd's (gossip verdicts, sync,
//! serving, fetching, whether the store is degraded), in one registry that
//! the API encodes at `/metrics`.
//!
//! The mesh counters here are the single source of truth: the JSON status
//! ([`Counters`]) is read off them, so the two views never disagree.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::status::Counters;

/// A label with one value, e.g. `verdict="accepted"`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Verdict {
    verdict: &'static str,
}

/// A label naming a kind of request or outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Kind {
    kind: &'static str,
}

/// The node's own metrics. Cheap to clone: every metric is shared.
#[derive(Clone, Default)]
pub(crate) struct MeshMetrics {
    gossip: Family<Verdict, Counter>,
    sync_items: Family<Verdict, Counter>,
    requests: Family<Kind, Counter>,
    requests_busy: Counter,
    served_bytes: Counter,
    fetched_bytes: Counter,
    fetched_chunks: Counter,
    bad_chunks: Counter,
    fetches: Family<Verdict, Counter>,
    publishes: Counter,
    dht_bootstraps: Family<Kind, Counter>,
    catalog_products: Gauge,
    connected_peers: Gauge,
    active_fetches: Gauge,
    federation_version: Gauge,
    noncompliant_products: Gauge,
    profile_checks: Family<Verdict, Counter>,
    turn: TurnHistogram,
}

/// How long one turn of the event loop takes to handle what woke it: the
/// figure that says whether anything slow (a disk, a big merge) holds up
/// networking. Buckets from 50 µs to 5 s in 1-2.5-5 steps, so a bound
/// such as "p99 under 5 ms" reads straight off one bucket.
#[derive(Clone)]
struct TurnHistogram(Histogram);

/// The turn histogram's upper bounds, in seconds.
const TURN_BUCKETS: [f64; 16] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
];

impl Default for TurnHistogram {
    fn default() -> Self {
        Self(Histogram::new(TURN_BUCKETS))
    }
}

/// A turn at least this long is logged (at debug level) with what it
/// handled, so a slow kind of event can be found.
const SLOW_TURN: std::time::Duration = std::time::Duration::from_millis(5);

/// Times one event-loop turn; records it when dropped.
pub(crate) struct TurnTimer {
    histogram: Histogram,
    kind: &'static str,
    started: std::time::Instant,
}

impl Drop for TurnTimer {
    fn drop(&mut self) {
        let took = self.started.elapsed();
        self.histogram.observe(took.as_secs_f64());
        if took >= SLOW_TURN {
            tracing::debug!(
                kind = self.kind,
                micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
                "slow event-loop turn"
            );
        }
    }
}

impl MeshMetrics {
    /// Registers the metrics under `meshd_`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let r = registry.sub_registry_with_prefix("meshd");
        // Each metric is shared: the registry keeps a clone to read from.
        macro_rules! register {
            ($(($name:literal, $help:literal, $metric:expr),)*) => {
                $(r.register($name, $help, $metric.clone());)*
            };
        }
        register!(
            (
                "gossip_messages",
                "Gossip messages by validation verdict",
                m.gossip
            ),
            (
                "sync_items",
                "Catalog items received through sync, by verdict",
                m.sync_items
            ),
            (
                "requests_answered",
                "Data-protocol requests answered, by kind",
                m.requests
            ),
            (
                "requests_refused_busy",
                "Requests answered busy because a peer was over its rate",
                m.requests_busy
            ),
            (
                "served_bytes",
                "Chunk bytes served to peers",
                m.served_bytes
            ),
            (
                "fetched_bytes",
                "Verified chunk bytes fetched from peers",
                m.fetched_bytes
            ),
            (
                "fetched_chunks",
                "Verified chunks fetched from peers",
                m.fetched_chunks
            ),
            (
                "bad_chunks",
                "Chunks that failed verification",
                m.bad_chunks
            ),
            ("fetches", "Fetch jobs ended, by result", m.fetches),
            ("publishes", "Products published", m.publishes),
            (
                "dht_bootstraps",
                "Kademlia bootstraps started, by how they ran (full or shortened)",
                m.dht_bootstraps
            ),
            (
                "catalog_products",
                "Products in the catalog",
                m.catalog_products
            ),
            (
                "connected_peers",
                "Peers with an open connection",
                m.connected_peers
            ),
            ("active_fetches", "Fetch jobs running", m.active_fetches),
            (
                "federation_version",
                "Certificates applied since the federation's genesis",
                m.federation_version
            ),
            (
                "noncompliant_products",
                "Catalog products that break the federation's rules",
                m.noncompliant_products
            ),
            (
                "profile_checks",
                "Profiles recomputed from fetched bytes, by verdict (matches, disputed, not-profiled, other-method)",
                m.profile_checks
            ),
            (
                "loop_turn_seconds",
                "Time the event loop spent handling one event (command, swarm event, timer)",
                m.turn.0
            ),
        );
        m
    }

    /// Starts timing one event-loop turn, handling an event of `kind`.
    pub(crate) fn turn(&self, kind: &'static str) -> TurnTimer {
        TurnTimer {
            histogram: self.turn.0.clone(),
            kind,
            started: std::time::Instant::now(),
        }
    }

    pub(crate) fn gossip(&self, verdict: &'static str) {
        self.gossip.get_or_create(&Verdict { verdict }).inc();
    }

    pub(crate) fn sync_items(&self, verdict: &'static str, n: u64) {
        self.sync_items
            .get_or_create(&Verdict { verdict })
            .inc_by(n);
    }

    pub(crate) fn request(&self, kind: &'static str) {
        self.requests.get_or_create(&Kind { kind }).inc();
    }

    pub(crate) fn busy(&self) {
        self.requests_busy.inc();
    }

    pub(crate) fn served(&self, bytes: usize) {
        self.served_bytes.inc_by(bytes as u64);
    }

    pub(crate) fn fetched(&self, bytes: usize) {
        self.fetched_chunks.inc();
        self.fetched_bytes.inc_by(bytes as u64);
    }

    pub(crate) fn bad_chunk(&self) {
        self.bad_chunks.inc();
    }

    pub(crate) fn fetch_ended(&self, verdict: &'static str) {
        self.fetches.get_or_create(&Verdict { verdict }).inc();
    }

    pub(crate) fn dht_bootstrap(&self, kind: &'static str) {
        self.dht_bootstraps.get_or_create(&Kind { kind }).inc();
    }

    pub(crate) fn profile_checked(&self, verdict: &'static str) {
        self.profile_checks
            .get_or_create(&Verdict { verdict })
            .inc();
    }

    pub(crate) fn published(&self) {
        self.publishes.inc();
    }

    pub(crate) fn gauges(&self, products: usize, peers: usize, fetches: usize) {
        let to_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.catalog_products.set(to_i64(products));
        self.connected_peers.set(to_i64(peers));
        self.active_fetches.set(to_i64(fetches));
    }

    pub(crate) fn federation(&self, version: u64, noncompliant: usize) {
        self.federation_version
            .set(i64::try_from(version).unwrap_or(i64::MAX));
        self.noncompliant_products
            .set(i64::try_from(noncompliant).unwrap_or(i64::MAX));
    }

    /// The status view of the counters.
    pub(crate) fn counters(&self) -> Counters {
        let gossip = |verdict| self.gossip.get_or_create(&Verdict { verdict }).get();
        let sync = |verdict| self.sync_items.get_or_create(&Verdict { verdict }).get();
        let bootstraps = |kind| self.dht_bootstraps.get_or_create(&Kind { kind }).get();
        Counters {
            gossip_accepted: gossip("accepted"),
            gossip_rejected: gossip("rejected"),
            gossip_ignored: gossip("ignored"),
            sync_items: sync("accepted"),
            sync_rejected: sync("rejected"),
            requests_refused_busy: self.requests_busy.get(),
            dht_bootstraps_full: bootstraps("full"),
            dht_bootstraps_shortened: bootstraps("shortened"),
        }
    }
}

/// `meshd_store_degraded`: 1 while the store cannot write (a full disk, an
/// IO error), read from the store on every scrape.
struct StoreDegraded(Arc<dyn crate::store::Store>);

impl std::fmt::Debug for StoreDegraded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreDegraded")
    }
}

impl prometheus_client::collector::Collector for StoreDegraded {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric as _;
        let gauge = prometheus_client::metrics::gauge::ConstGauge::new(i64::from(
            self.0.degraded().is_some(),
        ));
        let metric = encoder.encode_descriptor(
            "store_degraded",
            "1 while the store cannot write (e.g. the disk is full); see /health for why",
            None,
            gauge.metric_type(),
        )?;
        gauge.encode(metric)
    }
}

/// Registers `meshd_store_degraded`, read off `store` at each scrape.
pub(crate) fn register_store(registry: &mut Registry, store: Arc<dyn crate::store::Store>) {
    registry
        .sub_registry_with_prefix("meshd")
        .register_collector(Box::new(StoreDegraded(store)));
}

/// The registry, shared read-only once the node has started.
#[derive(Clone)]
pub struct MetricsRegistry(pub(crate) Arc<Registry>);

impl MetricsRegistry {
    /// The metrics in Prometheus text format (OpenMetrics 1.0).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.0);
        out
    }
}
