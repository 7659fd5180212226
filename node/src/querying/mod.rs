//! SQL over the products this node may read (`mesh query`,
//! `POST /v1/query`).
//!
//! The node resolves every table a statement names to a product in its
//! catalog (a domain name or id, the latest live version or the pinned
//! one), fetches a product it does not hold (verified and access-checked
//! like `mesh fetch`, kept in the blob store), pins each copy so the
//! collector leaves it alone while the query runs, and plans the statement
//! with `mesh-query`. Queries run on their own runtime (`meshd-query`
//! threads), never on the threads of the event loop, so gossip, serving
//! and governance go on while a query computes.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use futures::StreamExt;
use mesh_protocol::descriptor::{Descriptor, Format};
use mesh_protocol::{CatalogItem, DomainId, ProductId, SignedDescriptor};
use mesh_query::{Engine, EngineConfig, Input, ProductRef, Query, QueryError};
use tokio::sync::mpsc;

use crate::blobs::Pin;
use crate::fetch::FetchError;
use crate::node::{NodeError, NodeHandle};

mod deriving;
mod running;

pub use deriving::DerivedAnswer;
pub use running::{MAX_QUERY_ID_LEN, RunningQuery};

/// Batches a running query may have ready before its reader takes them.
const AHEAD: usize = 2;

/// Why a query did not run.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The engine refused or failed the statement.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A table names no product in the catalog.
    #[error("unknown table {table}{}", suggest(.closest))]
    UnknownTable {
        /// The table as written.
        table: String,
        /// The closest product names the catalog knows.
        closest: Vec<String>,
    },
    /// A domain name two domains share.
    #[error(
        "table {table}: several domains are named {domain} ({ids}); write the domain id in quotes instead"
    )]
    Ambiguous {
        /// The table as written.
        table: String,
        /// The name.
        domain: String,
        /// The ids, comma separated.
        ids: String,
    },
    /// Fetching an input failed (access denied, no provider, ...).
    #[error("{0}")]
    Fetch(#[from] FetchError),
    /// The node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

fn suggest(closest: &[String]) -> String {
    if closest.is_empty() {
        "; list products with `mesh list`".to_owned()
    } else {
        format!("; did you mean {}?", closest.join(", "))
    }
}

/// One table of a statement and the product it reads.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SqlInput {
    /// The table as the statement names it.
    pub table: String,
    /// `DOMAINID/name`.
    pub product: String,
    /// The version read.
    pub version: u64,
    /// Whether this node holds a verified copy.
    pub held: bool,
}

/// The query engine of a node and the threads it runs on.
pub(crate) struct SqlEngine {
    engine: Engine,
    runtime: Option<tokio::runtime::Runtime>,
    running: running::Running,
    scratch: PathBuf,
}

impl Drop for SqlEngine {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl SqlEngine {
    /// An engine as `[query]` says (memory budget, DataFusion settings),
    /// spilling under `spill_dir`;
    /// results published as products are written under
    /// `spill_dir/results` first (emptied with the rest at start).
    pub(crate) fn new(
        query: &crate::config::QueryConfig,
        spill_dir: &std::path::Path,
    ) -> Result<Self, NodeError> {
        let spill_dir = spill_dir.to_owned();
        let mut config = EngineConfig::new(spill_dir.clone());
        config.memory_limit = usize::try_from(query.memory_limit_mib << 20).unwrap_or(usize::MAX);
        config.settings = query.datafusion_settings()?;
        let threads = config.partitions.max(1);
        // Spill files hold other domains' rows: private to the daemon's
        // user like the rest of the data directory.
        let mut dir = std::fs::DirBuilder::new();
        dir.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
        dir.create(&spill_dir).map_err(|source| NodeError::File {
            path: spill_dir.clone(),
            source,
        })?;
        // Spill files of a query cut off by a crash are nobody's.
        if let Ok(entries) = std::fs::read_dir(&spill_dir) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let engine = Engine::new(config).map_err(|e| match e {
            // A setting DataFusion refused.
            QueryError::User(m) => NodeError::Config(crate::config::ConfigError::Invalid(m)),
            e => NodeError::File {
                path: spill_dir.clone(),
                source: std::io::Error::other(e.to_string()),
            },
        })?;
        // DataFusion makes its own directory inside with the process's
        // umask; the 0700 parent already closes it, and so does this.
        #[cfg(unix)]
        if let Ok(entries) = std::fs::read_dir(&spill_dir) {
            use std::os::unix::fs::PermissionsExt;
            for entry in entries.flatten() {
                let _ =
                    std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o700));
            }
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("meshd-query")
            .enable_all()
            .build()
            .map_err(|source| NodeError::File {
                path: spill_dir.clone(),
                source,
            })?;
        Ok(Self {
            engine,
            runtime: Some(runtime),
            running: running::Running::default(),
            scratch: spill_dir.join("results"),
        })
    }
}

/// A planned query with the copies it reads pinned.
pub struct SqlQuery {
    query: Query,
    engine: Arc<SqlEngine>,
    sql: String,
    inputs: Vec<SqlInput>,
    /// The descriptor each of the query's inputs was read from, in the
    /// order of [`Query::inputs_all`].
    descriptors: Vec<SignedDescriptor>,
    pins: Vec<Pin>,
}

impl std::fmt::Debug for SqlQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlQuery")
            .field("inputs", &self.inputs)
            .finish_non_exhaustive()
    }
}

/// A running query's batches. Dropping it cancels the query.
pub struct SqlRows {
    /// The result's columns.
    pub schema: SchemaRef,
    /// The id the query runs under (see [`NodeHandle::cancel_query`]).
    pub id: String,
    rows: mpsc::Receiver<Result<RecordBatch, QueryError>>,
    _pins: Vec<Pin>,
}

impl SqlRows {
    /// The next batch; `None` at the end.
    pub async fn next(&mut self) -> Option<Result<RecordBatch, QueryError>> {
        self.rows.recv().await
    }

    /// Writes up to `limit` rows to `path` (its extension names the
    /// format; see [`mesh_query::FileSink`]); returns the rows written.
    pub async fn write_file(
        &mut self,
        path: &std::path::Path,
        limit: Option<u64>,
    ) -> Result<u64, QueryError> {
        let schema = self.schema.clone();
        let mut sink = mesh_query::FileSink::create(path, &schema)?;
        let mut left = limit.unwrap_or(u64::MAX);
        while left > 0
            && let Some(batch) = self.next().await
        {
            let batch = batch?;
            let take = usize::try_from(left.min(batch.num_rows() as u64)).unwrap_or(0);
            sink.write(&batch.slice(0, take))?;
            left -= take as u64;
        }
        tokio::task::spawn_blocking(move || sink.finish(&schema))
            .await
            .map_err(|_| QueryError::Failed("the writer stopped".into()))?
    }
}

impl SqlQuery {
    /// The planned query (schema, lineage, notes, explain).
    pub fn query(&self) -> &Query {
        &self.query
    }

    /// The products the statement reads, as resolved.
    pub fn inputs(&self) -> &[SqlInput] {
        &self.inputs
    }

    /// Runs the query on the engine's threads, under `id` (or a fresh
    /// one) until it ends or is cancelled.
    pub fn run(self, id: Option<String>) -> Result<SqlRows, SqlError> {
        let schema = self.query.schema();
        let (tx, rows) = mpsc::channel(AHEAD);
        let query = self.query;
        let (id, mut cancelled) = self.engine.running.register(id, &self.sql)?;
        let engine = Arc::clone(&self.engine);
        let guard_id = id.clone();
        if let Some(rt) = &self.engine.runtime {
            rt.spawn(async move {
                let _registered = engine.running.guard(guard_id);
                let mut stream = match query.run().await {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                loop {
                    tokio::select! {
                        () = tx.closed() => return,
                        _ = &mut cancelled => {
                            drop(stream);
                            let _ = tx.send(Err(QueryError::Cancelled)).await;
                            return;
                        }
                        next = stream.next() => match next {
                            None => return,
                            Some(batch) => {
                                let stop = batch.is_err();
                                if tx.send(batch.map_err(QueryError::from)).await.is_err() || stop {
                                    return;
                                }
                            }
                        },
                    }
                }
            });
        }
        Ok(SqlRows {
            schema,
            id,
            rows,
            _pins: self.pins,
        })
    }
}

impl NodeHandle {
    /// The products `sql` reads, resolved, and whether this node holds
    /// each (so a client can fetch them first with progress).
    pub async fn sql_inputs(&self, sql: &str) -> Result<Vec<SqlInput>, SqlError> {
        let parsed = self.sql_engine.engine.parse(sql)?;
        let mut out = Vec::new();
        for named in &parsed.products {
            let signed = self.sql_product(named).await?;
            out.push(SqlInput {
                table: named.to_string(),
                product: signed.value.id.to_string(),
                version: signed.value.version,
                held: self.blobs.has(&signed.value.content.manifest_hash),
            });
        }
        Ok(out)
    }

    /// Plans `sql`, fetching the inputs this node does not hold when
    /// `fetch` is set (refusing them otherwise).
    pub async fn sql(&self, sql: &str, fetch: bool) -> Result<SqlQuery, SqlError> {
        let parsed = self.sql_engine.engine.parse(sql)?;
        let mut inputs = Vec::new();
        let mut views = Vec::new();
        let mut descriptors = Vec::new();
        let mut pins = Vec::new();
        for named in &parsed.products {
            let signed = self.sql_product(named).await?;
            let d = &signed.value;
            let hash = d.content.manifest_hash;
            let pin = self.blobs.pin(hash);
            let held = self.blobs.has(&hash);
            if !held {
                if !fetch {
                    return Err(NodeError::NotHeld(d.id.to_string()).into());
                }
                self.fetch(d.id.clone(), Some(d.version), std::path::Path::new(""))
                    .await?
                    .finish()
                    .await?;
            }
            views.push(SqlInput {
                table: named.to_string(),
                product: d.id.to_string(),
                version: d.version,
                held,
            });
            inputs.push(input(named.clone(), d, self.blobs.path(&hash)));
            pins.push(pin);
            descriptors.push(signed);
        }
        let engine = Arc::clone(&self.sql_engine);
        let owner = Arc::clone(&engine);
        let planned = async move { owner.engine.plan(parsed, inputs).await };
        let query = match &engine.runtime {
            Some(rt) => rt
                .spawn(planned)
                .await
                .map_err(|_| QueryError::Failed("the query engine stopped".into()))??,
            None => return Err(NodeError::Stopped.into()),
        };
        Ok(SqlQuery {
            query,
            engine,
            sql: sql.to_owned(),
            inputs: views,
            descriptors,
            pins,
        })
    }

    /// The queries running now, oldest first.
    pub fn running_queries(&self) -> Vec<RunningQuery> {
        self.sql_engine.running.list()
    }

    /// Cancels the query running under `id`; false if none runs under it.
    pub fn cancel_query(&self, id: &str) -> bool {
        self.sql_engine.running.cancel(id)
    }

    /// The descriptor a table names: its domain by id or by name, the
    /// pinned version or the latest live one.
    async fn sql_product(&self, named: &ProductRef) -> Result<SignedDescriptor, SqlError> {
        let unknown = || async {
            SqlError::UnknownTable {
                table: named.to_string(),
                closest: self.closest(named).await,
            }
        };
        let id = if let Ok(domain) = named.domain.parse::<DomainId>() {
            ProductId {
                domain,
                name: named.product.clone(),
            }
        } else {
            let mut ids = self
                .resolve(named.domain.clone(), named.product.clone())
                .await?;
            match ids.len() {
                0 => return Err(unknown().await),
                1 => ids.remove(0),
                _ => {
                    return Err(SqlError::Ambiguous {
                        table: named.to_string(),
                        domain: named.domain.clone(),
                        ids: ids
                            .iter()
                            .map(|i| i.domain.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            }
        };
        let versions = self.versions(id.clone()).await?;
        let newest = versions.iter().map(CatalogItem::version).max();
        let found = versions
            .into_iter()
            .filter_map(|i| match i {
                CatalogItem::Descriptor(d) => Some(d),
                CatalogItem::Withdrawal(_) => None,
            })
            .filter(|d| named.version.is_none_or(|v| d.value.version == v))
            .max_by_key(|d| d.value.version);
        match (found, named.version, newest) {
            (Some(d), _, _) => Ok(d),
            (None, Some(v), Some(current)) => Err(FetchError::UnknownVersion {
                product: named.to_string(),
                wanted: v,
                current,
            }
            .into()),
            (None, None, Some(_)) => Err(FetchError::Withdrawn(named.to_string()).into()),
            (None, _, None) => Err(unknown().await),
        }
    }

    /// Up to three `domain.product` names of the catalog closest to
    /// `named` (edit distance on the whole name).
    async fn closest(&self, named: &ProductRef) -> Vec<String> {
        let wanted = format!("{}.{}", named.domain, named.product);
        let Ok(all) = self.query(mesh_protocol::catalog::Query::default()).await else {
            return Vec::new();
        };
        let mut scored: Vec<(usize, String)> = all
            .iter()
            .map(|d| format!("{}.{}", d.value.domain_name, d.value.id.name))
            .map(|name| (distance(&wanted, &name), name))
            .filter(|(d, _)| *d <= wanted.len().max(3) / 2)
            .collect();
        scored.sort();
        scored.dedup();
        scored.into_iter().take(3).map(|(_, n)| n).collect()
    }
}

/// A product's copy as the engine reads it.
fn input(named: ProductRef, d: &Descriptor, path: PathBuf) -> Input {
    Input {
        named,
        domain: d.domain_name.clone(),
        product: d.id.name.clone(),
        version: d.version,
        path,
        format: d.format.clone(),
        csv: match d.format {
            Format::Csv => d.csv.clone().unwrap_or_default(),
            _ => mesh_protocol::contract::CsvDialect::default(),
        },
        fields: d.schema.fields.clone(),
        conforms: d
            .profile
            .as_ref()
            .map(mesh_protocol::profile::Profile::conforms),
    }
}

/// Levenshtein distance, on characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::distance;

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(distance("sales.orders", "sales.orders"), 0);
        assert_eq!(distance("sales.order", "sales.orders"), 1);
        assert_eq!(distance("sales.ordres", "sales.orders"), 2);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
