//! Node configuration: the TOML file `meshd init` writes, its embedded
//! defaults, and the command-line overrides of `meshd run`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

/// Name of the config file inside the data directory.
pub const CONFIG_FILE: &str = "meshd.toml";
/// Default address of the local HTTP API.
pub const DEFAULT_API: &str = "127.0.0.1:7420";

/// Everything a node needs to run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Network settings.
    #[serde(default)]
    pub network: NetworkConfig,
    /// Catalog bounds.
    #[serde(default)]
    pub catalog: CatalogConfig,
    /// Local API.
    #[serde(default)]
    pub api: ApiConfig,
    /// Serving limits.
    #[serde(default)]
    pub serve: ServeConfig,
    /// Product bytes on disk.
    #[serde(default)]
    pub blobs: BlobsConfig,
    /// The SQL engine (`mesh query`).
    #[serde(default)]
    pub query: QueryConfig,
}

/// The SQL engine (`[query]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryConfig {
    /// Memory the engine's operators (sorts, joins, aggregates) may hold,
    /// in MiB; beyond it they spill to `DATA_DIR/query-spill`, or the
    /// query fails with "out of memory budget".
    #[serde(default = "default_query_memory")]
    pub memory_limit_mib: u64,
    /// DataFusion settings for every query (`[query.settings]`), as
    /// DuckDB's `SET` or DataFusion's own `SET` would take them:
    /// `datafusion.execution.*` and `datafusion.optimizer.*` keys, each a
    /// string, boolean or number.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub settings: std::collections::BTreeMap<String, toml::Value>,
}

impl QueryConfig {
    /// The settings as DataFusion takes them (key, value as text).
    pub fn datafusion_settings(&self) -> Result<Vec<(String, String)>, ConfigError> {
        self.settings
            .iter()
            .map(|(key, value)| {
                let text = match value {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Boolean(b) => b.to_string(),
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    _ => {
                        return Err(ConfigError::Invalid(format!(
                            "query.settings.\"{key}\" must be a string, boolean or number"
                        )));
                    }
                };
                Ok((key.clone(), text))
            })
            .collect()
    }
}

fn default_query_memory() -> u64 {
    1024
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            memory_limit_mib: default_query_memory(),
            settings: std::collections::BTreeMap::new(),
        }
    }
}

/// Product bytes on disk (`DATA_DIR/blobs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobsConfig {
    /// Seconds between two runs of the collector that removes bytes no
    /// kept version or fetch refers to (it also runs soon after a
    /// withdrawal or a new version).
    #[serde(default = "default_collect_interval")]
    pub collect_interval_secs: u64,
}

fn default_collect_interval() -> u64 {
    600
}

impl Default for BlobsConfig {
    fn default() -> Self {
        Self {
            collect_interval_secs: default_collect_interval(),
        }
    }
}

/// Limits on what a node serves to others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Sustained requests per second admitted from one peer.
    #[serde(default = "default_rate")]
    pub requests_per_sec: u32,
    /// Requests one peer may send in a burst.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Concurrent inbound request streams per connection (bounds bytes in
    /// flight to this many chunks).
    #[serde(default = "default_streams")]
    pub max_concurrent_streams: usize,
}

fn default_rate() -> u32 {
    2_000
}
fn default_burst() -> u32 {
    4_000
}
fn default_streams() -> usize {
    64
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            requests_per_sec: default_rate(),
            burst: default_burst(),
            max_concurrent_streams: default_streams(),
        }
    }
}

/// Network settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Addresses to listen on (TCP and QUIC multiaddrs).
    #[serde(default = "default_listen")]
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start.
    #[serde(default)]
    pub bootstrap: Vec<Multiaddr>,
    /// Discover peers on the local network with mDNS.
    #[serde(default = "yes")]
    pub mdns: bool,
    /// Namespace of the gossip topics; nodes of different networks never mix.
    #[serde(default = "default_network_id")]
    pub network_id: String,
    /// Most established connections in total.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Most established connections to one peer.
    #[serde(default = "default_max_per_peer")]
    pub max_connections_per_peer: u32,
    /// Connected peers kept when trimming (the low-water mark).
    #[serde(default = "default_peers_low")]
    pub peers_low: usize,
    /// Connected peers above which the least recently used peers this node
    /// dialed are disconnected, down to `peers_low` (the high-water mark).
    /// Gossip mesh peers, bootstrap peers and peers serving a fetch are
    /// never trimmed.
    #[serde(default = "default_peers_high")]
    pub peers_high: usize,
    /// Milliseconds between anti-entropy catalog syncs with one peer.
    #[serde(default = "default_sync_interval")]
    pub sync_interval_ms: u64,
    /// Mirror the whole catalog by syncing with peers. A light node (false)
    /// keeps only what gossip brings and looks products up in the DHT.
    #[serde(default = "yes")]
    pub catalog_sync: bool,
}

/// Catalog bounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// Most products held in total.
    #[serde(default = "default_max_products")]
    pub max_products: usize,
    /// Most products of any one domain.
    #[serde(default = "default_max_per_domain")]
    pub max_per_domain: usize,
    /// Most catalog bytes (encoded descriptors) of any one domain.
    #[serde(default = "default_max_bytes_per_domain")]
    pub max_bytes_per_domain: usize,
}

/// Local API settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Loopback address of the HTTP API.
    #[serde(default = "default_api")]
    pub listen: SocketAddr,
    /// Timeouts and the connection cap (`[api.limits]`).
    #[serde(default)]
    pub limits: crate::api::ApiLimits,
}

fn yes() -> bool {
    true
}
fn default_listen() -> Vec<Multiaddr> {
    ["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"]
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect()
}
fn default_network_id() -> String {
    "default".to_owned()
}
fn default_max_connections() -> u32 {
    512
}
fn default_max_per_peer() -> u32 {
    2
}
fn default_peers_low() -> usize {
    32
}
fn default_peers_high() -> usize {
    48
}
fn default_sync_interval() -> u64 {
    30_000
}
fn default_max_products() -> usize {
    200_000
}
fn default_max_per_domain() -> usize {
    20_000
}
fn default_max_bytes_per_domain() -> usize {
    64 * 1024 * 1024
}
fn default_api() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7420))
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            bootstrap: Vec::new(),
            mdns: true,
            network_id: default_network_id(),
            max_connections: default_max_connections(),
            max_connections_per_peer: default_max_per_peer(),
            peers_low: default_peers_low(),
            peers_high: default_peers_high(),
            sync_interval_ms: default_sync_interval(),
            catalog_sync: true,
        }
    }
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            max_products: default_max_products(),
            max_per_domain: default_max_per_domain(),
            max_bytes_per_domain: default_max_bytes_per_domain(),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: default_api(),
            limits: crate::api::ApiLimits::default(),
        }
    }
}

/// Why the config could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this config.
    #[error("invalid config {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads the config file of a data directory; a missing file means
    /// embedded defaults.
    pub fn load(data_dir: &Path) -> Result<Self, ConfigError> {
        let path = data_dir.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            message: parse_message(&text, &e),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(16..=1 << 20).contains(&self.query.memory_limit_mib) {
            return Err(ConfigError::Invalid(
                "query.memory_limit_mib must be between 16 and 1048576".into(),
            ));
        }
        mesh_query::check_settings(&self.query.datafusion_settings()?)
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if self.network.listen.is_empty() {
            return Err(ConfigError::Invalid("network.listen is empty".into()));
        }
        if self.network.network_id.is_empty()
            || !self
                .network
                .network_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ConfigError::Invalid(
                "network.network_id must be letters, digits, '-' or '_'".into(),
            ));
        }
        if !self.api.listen.ip().is_loopback() {
            return Err(ConfigError::Invalid(format!(
                "api.listen {} is not a loopback address; the API only serves this machine",
                self.api.listen
            )));
        }
        if self.serve.requests_per_sec == 0
            || self.serve.burst == 0
            || self.serve.max_concurrent_streams == 0
        {
            return Err(ConfigError::Invalid("serve limits must be above 0".into()));
        }
        if self.network.peers_low == 0 || self.network.peers_high < self.network.peers_low {
            return Err(ConfigError::Invalid(
                "network.peers_low must be above 0 and at most network.peers_high".into(),
            ));
        }
        if self.blobs.collect_interval_secs == 0 {
            return Err(ConfigError::Invalid(
                "blobs.collect_interval_secs must be above 0".into(),
            ));
        }
        if self.catalog.max_products == 0
            || self.catalog.max_per_domain == 0
            || self.catalog.max_bytes_per_domain == 0
        {
            return Err(ConfigError::Invalid(
                "catalog limits must be above 0".into(),
            ));
        }
        Ok(())
    }
}

/// A TOML error as one line with all it says: where (line and column),
/// and the whole message (e.g. "unknown field `x`, expected one of ...").
fn parse_message(text: &str, error: &toml::de::Error) -> String {
    let message = error
        .message()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    match error.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or_default();
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// The commented config file `meshd init` writes.
pub fn template(domain: &str) -> String {
    format!(
        r#"# meshd configuration for domain "{domain}".
# Every value shown is the default; command-line flags of `meshd run` override them.

[network]
# Addresses to listen on: TCP and QUIC on all interfaces, ports chosen by the OS.
listen = ["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"]
# Peers to dial at start, e.g. ["/ip4/10.0.0.5/tcp/4001/p2p/12D3Koo..."].
bootstrap = []
# Find peers on the local network.
mdns = true
# Gossip namespace: nodes of different networks never exchange messages.
network_id = "default"
max_connections = 512
max_connections_per_peer = 2
# Above peers_high connected peers, the least recently used are disconnected
# until peers_low remain (gossip mesh, bootstrap and fetch peers are kept).
peers_low = 32
peers_high = 48
# Anti-entropy: every this many milliseconds, reconcile the catalog with one peer.
sync_interval_ms = 30000
# Mirror the whole catalog from peers (false: a light node that looks products up in the DHT).
catalog_sync = true

[catalog]
# Memory bounds: products beyond these are refused, not crashed on.
max_products = 200000
max_per_domain = 20000
max_bytes_per_domain = 67108864

[api]
# The local HTTP API (loopback only).
listen = "{DEFAULT_API}"

[api.limits]
# Seconds for a request's headers to arrive (and for a keep-alive connection
# to idle between requests), for each piece of a request body to arrive, and
# for a connection with nothing to do before it is closed.
header_read_timeout_secs = 10
body_timeout_secs = 30
idle_timeout_secs = 60
# Connections served at once; lowered to leave the node its reserve of file
# descriptors (meshd raises its soft open-file limit to the hard one at start).
max_connections = 1024

[serve]
# Per-peer admission: sustained requests per second and burst; a peer over
# them gets a "busy" answer.
requests_per_sec = 2000
burst = 4000
# Concurrent inbound request streams per connection.
max_concurrent_streams = 64

[blobs]
# Seconds between runs of the collector that removes product bytes no kept
# version or fetch refers to (it also runs soon after a withdrawal or a new
# version).
collect_interval_secs = 600

[query]
# Memory the SQL engine's sorts, joins and aggregates may reserve, in MiB
# (16 to 1048576); beyond it they spill to DATA_DIR/query-spill, or the
# query fails with "out of memory budget" (a hash join cannot spill).
memory_limit_mib = 1024
# DataFusion settings for every query (datafusion.execution.* and
# datafusion.optimizer.* only), for example:
# [query.settings]
# "datafusion.execution.parquet.pushdown_filters" = true
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_to_defaults() {
        let parsed: Config = toml::from_str(&template("sales")).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn parse_errors_keep_the_whole_message_on_one_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[network]\nmdns = true\nlisen = []\n",
        )
        .unwrap();
        let err = Config::load(dir.path()).unwrap_err().to_string();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("line 3, column 1"), "{err}");
        assert!(err.contains("unknown field `lisen`"), "{err}");
        assert!(err.contains("expected one of"), "{err}");
        assert!(err.contains("`listen`"), "{err}");
    }

    #[test]
    fn bad_values_are_refused() {
        let mut c = Config::default();
        c.api.listen = "0.0.0.0:7420".parse().unwrap();
        assert!(c.validate().is_err());
        assert!(toml::from_str::<Config>("[network]\nlisen = []\n").is_err());
        for (low, high) in [(0, 48), (49, 48)] {
            let mut c = Config::default();
            c.network.peers_low = low;
            c.network.peers_high = high;
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains("peers_low"), "{err}");
        }
    }

    #[test]
    fn query_settings_are_checked_when_the_file_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        std::fs::write(
            &path,
            "[query.settings]\n\"datafusion.execution.parquet.pushdown_filters\" = true\n\"datafusion.execution.batch_size\" = 4096\n",
        )
        .unwrap();
        let config = Config::load(dir.path()).unwrap();
        assert_eq!(
            config.query.datafusion_settings().unwrap(),
            vec![
                (
                    "datafusion.execution.batch_size".to_owned(),
                    "4096".to_owned()
                ),
                (
                    "datafusion.execution.parquet.pushdown_filters".to_owned(),
                    "true".to_owned()
                ),
            ]
        );
        for (text, named) in [
            ("\"datafusion.execution.nope\" = 1", "nope"),
            (
                "\"datafusion.execution.batch_size\" = \"lots\"",
                "batch_size",
            ),
            (
                "\"datafusion.catalog.information_schema\" = true",
                "information_schema",
            ),
            (
                "\"datafusion.execution.batch_size\" = [1]",
                "string, boolean or number",
            ),
        ] {
            std::fs::write(&path, format!("[query.settings]\n{text}\n")).unwrap();
            let e = Config::load(dir.path()).unwrap_err().to_string();
            assert!(e.contains(named), "{text}: {e}");
        }
    }
}
