//! The engine: one DataFusion runtime per node (one memory budget, one
//! spill directory), one session per query.
//!
//! A query goes through three steps so the node can work between them:
//! [`Engine::parse`] names the products the statement reads (before
//! anything is planned); the node resolves each to a verified copy it
//! holds, fetching it first and checking access; [`Engine::plan`]
//! registers those copies as tables and plans the statement. Only queries
//! are planned: DDL, DML, `COPY` and `SET` are refused.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::TableReference;
use datafusion::common::config::Dialect;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::displayable;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast;

use crate::dynamic_filter::DynamicFilterRows;
use crate::lineage::{self, OutputColumn};
use crate::shared_cte::ShareRepeatedCtes;
use crate::table::{self, FILES_SCHEMA};
use crate::{Input, ProductRef, QueryError, names};

/// How the engine may use the machine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Bytes the engine's operators may hold (sorts, joins, aggregates);
    /// beyond it they spill, or the query fails with
    /// [`QueryError::OutOfMemory`].
    pub memory_limit: usize,
    /// Where spill files go (created if missing; emptied of the engine's
    /// files when they are no longer needed).
    pub spill_dir: PathBuf,
    /// At most this many bytes of spill files at once.
    pub spill_limit: u64,
    /// Partitions a query is split into (threads it may keep busy).
    pub partitions: usize,
    /// Rows per batch.
    pub batch_rows: usize,
    /// DataFusion settings applied to every query's session after the
    /// ones above, in order (`datafusion.execution.*` and
    /// `datafusion.optimizer.*` only; see [`check_settings`]).
    pub settings: Vec<(String, String)>,
}

impl EngineConfig {
    /// 1 GiB of memory, spilling under `spill_dir` (at most 64 GiB), one
    /// partition per core.
    pub fn new(spill_dir: PathBuf) -> Self {
        Self {
            memory_limit: 1 << 30,
            spill_dir,
            spill_limit: 64 << 30,
            partitions: std::thread::available_parallelism().map_or(2, NonZeroUsize::get),
            batch_rows: 8192,
            settings: Vec::new(),
        }
    }
}

/// The prefixes of the DataFusion settings a node's owner may change:
/// how queries execute and are optimised. The catalog, the SQL parser's
/// dialect and the runtime (memory pool, spill disk) stay the engine's.
const SETTABLE: [&str; 2] = ["datafusion.execution.", "datafusion.optimizer."];

/// Checks DataFusion settings as [`EngineConfig::settings`] takes them:
/// every key must be a known setting under an allowed prefix and every
/// value must parse as the setting's type. The error names the first
/// that does not.
pub fn check_settings(settings: &[(String, String)]) -> Result<(), QueryError> {
    session_config(&EngineConfig {
        settings: settings.to_vec(),
        ..EngineConfig::new(PathBuf::new())
    })
    .map(drop)
}

/// The session configuration every query of an engine starts from.
fn session_config(config: &EngineConfig) -> Result<SessionConfig, QueryError> {
    let mut session = SessionConfig::new()
        .with_target_partitions(config.partitions.max(1))
        .with_batch_size(config.batch_rows.max(1))
        .with_information_schema(false);
    // A hash join whose smaller side is estimated under 64 MiB or 2 M rows
    // builds it once for every partition (CollectLeft) instead of
    // hash-repartitioning both sides; DataFusion's 1 MiB / 128 k rows
    // suit many cores, but on few cores repartitioning the large probe
    // side costs more than it gains. Measured with query_bench (TPC-H
    // sf 1, 2 cores, interleaved with DuckDB): Q7's ratio from 2.8 to 1.9,
    // the geometric mean's from 1.71 to 1.62-1.69.
    // The build side is held in memory either way (a hash join cannot
    // spill) and is reserved from the same budget.
    let optimizer = &mut session.options_mut().optimizer;
    optimizer.hash_join_single_partition_threshold = 64 << 20;
    optimizer.hash_join_single_partition_threshold_rows = 2 << 20;
    for (key, value) in &config.settings {
        if !SETTABLE.iter().any(|p| key.starts_with(p)) {
            return Err(QueryError::User(format!(
                "query setting {key}: only datafusion.execution.* and datafusion.optimizer.* settings can be changed"
            )));
        }
        session.options_mut().set(key, value).map_err(|e| {
            QueryError::User(format!(
                "query setting {key} = {value:?}: {}",
                e.strip_backtrace()
            ))
        })?;
    }
    Ok(session)
}

/// The query engine of a node.
#[derive(Clone)]
pub struct Engine {
    runtime: Arc<RuntimeEnv>,
    config: EngineConfig,
    session: SessionConfig,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A statement, parsed, with the products it reads.
#[derive(Debug)]
pub struct Parsed {
    statement: Statement,
    /// Every product the statement names, once each, in order.
    pub products: Vec<ProductRef>,
}

/// A planned query.
pub struct Query {
    frame: DataFrame,
    inputs: Vec<Input>,
    /// The names scans of each input go by (the product's table, and the
    /// file under a CSV's typed view), with the input's index.
    tables: Vec<(TableReference, usize)>,
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("inputs", &self.inputs)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with its memory pool and spill directory.
    pub fn new(config: EngineConfig) -> Result<Self, QueryError> {
        // Settings first: a refused one leaves no directory behind.
        let session = session_config(&config)?;
        std::fs::create_dir_all(&config.spill_dir).map_err(|e| {
            QueryError::Failed(format!(
                "spill directory {}: {e}",
                config.spill_dir.display()
            ))
        })?;
        let pool = TrackConsumersPool::new(
            FairSpillPool::new(config.memory_limit),
            NonZeroUsize::MIN.saturating_add(2),
        );
        let disk = DiskManagerBuilder::default()
            .with_mode(DiskManagerMode::Directories(vec![config.spill_dir.clone()]))
            .with_max_temp_directory_size(config.spill_limit);
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(pool))
            .with_disk_manager_builder(disk)
            .build_arc()?;
        Ok(Self {
            runtime,
            config,
            session,
        })
    }

    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    fn session(&self) -> SessionContext {
        let state = SessionStateBuilder::new()
            .with_config(self.session.clone())
            .with_runtime_env(Arc::clone(&self.runtime))
            .with_default_features()
            .with_analyzer_rule(Arc::new(ShareRepeatedCtes))
            .with_physical_optimizer_rule(Arc::new(DynamicFilterRows))
            .build();
        SessionContext::new_with_state(state)
    }

    /// Parses one statement and names the products it reads.
    pub fn parse(&self, sql: &str) -> Result<Parsed, QueryError> {
        let sql = names::rewrite(sql)?;
        let state = self.session().state();
        let statement = state.sql_to_statement(&sql, &Dialect::Generic)?;
        match &statement {
            Statement::Statement(s) if matches!(s.as_ref(), ast::Statement::Query(_)) => {}
            Statement::Explain(_) => return Err(explain_refused()),
            Statement::Statement(s) if matches!(s.as_ref(), ast::Statement::Explain { .. }) => {
                return Err(explain_refused());
            }
            _ => return Err(only_queries()),
        }
        let mut products = Vec::new();
        for table in state.resolve_table_references(&statement)? {
            let product = ProductRef::from_table(&table)?;
            if product.domain == FILES_SCHEMA {
                return Err(QueryError::User(format!("unknown table {table}")));
            }
            if !products.contains(&product) {
                products.push(product);
            }
        }
        Ok(Parsed {
            statement,
            products,
        })
    }

    /// Plans `parsed` over `inputs`, one for each of its products.
    pub async fn plan(&self, parsed: Parsed, inputs: Vec<Input>) -> Result<Query, QueryError> {
        let ctx = self.session();
        let catalog = ctx
            .catalog("datafusion")
            .ok_or_else(|| QueryError::Failed("the engine has no default catalog".into()))?;
        let mut schemas = BTreeSet::new();
        for input in &inputs {
            schemas.insert(input.named.domain.clone());
        }
        schemas.insert(FILES_SCHEMA.to_owned());
        for schema in schemas {
            catalog.register_schema(&schema, Arc::new(MemorySchemaProvider::new()))?;
        }
        let mut tables = Vec::with_capacity(2 * inputs.len());
        for (i, input) in inputs.iter().enumerate() {
            let scanned = table::register(&ctx, input, i).await?;
            tables.push((input.named.table_reference(), i));
            tables.push((scanned, i));
        }
        let plan = ctx.state().statement_to_plan(parsed.statement).await?;
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|_| only_queries())?;
        if let LogicalPlan::Explain(_) | LogicalPlan::Analyze(_) = plan {
            return Err(explain_refused());
        }
        let frame = ctx.execute_logical_plan(plan).await?;
        Ok(Query {
            frame,
            inputs,
            tables,
        })
    }
}

fn only_queries() -> QueryError {
    QueryError::User("only queries can run here (no DDL, DML, COPY or SET)".into())
}

fn explain_refused() -> QueryError {
    QueryError::User("use --explain (or \"explain\": true) instead of EXPLAIN".into())
}

impl Query {
    /// The result's columns.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(self.frame.schema().inner())
    }

    /// The inputs the plan reads (a product named but never scanned, e.g.
    /// in a branch the planner removed, is not one).
    pub fn inputs(&self) -> Result<Vec<&Input>, QueryError> {
        let read = lineage::scanned(self.frame.logical_plan(), &self.tables)?;
        Ok(read
            .into_iter()
            .filter_map(|i| self.inputs.get(i))
            .collect())
    }

    /// Every input the query was planned over, in the order the sources
    /// of [`Self::columns`] index them.
    pub fn inputs_all(&self) -> &[Input] {
        &self.inputs
    }

    /// Every output column with its sources and derived classification.
    pub fn columns(&self) -> Result<Vec<OutputColumn>, QueryError> {
        lineage::columns(self.frame.logical_plan(), &self.tables, &self.inputs)
    }

    /// Notes a reader of the result should see: inputs that break their
    /// contract.
    pub fn notes(&self) -> Result<Vec<String>, QueryError> {
        Ok(self
            .inputs()?
            .into_iter()
            .filter_map(|i| match i.conforms {
                Some(false) => Some(format!(
                    "{} does not conform to its contract (see `mesh check`); cells that are not of their declared type read as null",
                    i.exact()
                )),
                None => Some(format!("{} has no profile: its data was never checked against its contract", i.exact())),
                Some(true) => None,
            })
            .collect())
    }

    /// The plan as text: the logical plan, the physical plan, and the
    /// products (and versions) it reads.
    pub async fn explain(&self) -> Result<String, QueryError> {
        let logical = self.frame.clone().into_optimized_plan()?;
        let physical = self.frame.clone().create_physical_plan().await?;
        let mut out = String::from("reads:\n");
        for input in self.inputs()? {
            let _ = writeln!(
                out,
                "  {} ({}, {})",
                input.exact(),
                input.format,
                input.path.display()
            );
        }
        out.push_str("\nlogical plan:\n");
        out.push_str(&logical.display_indent().to_string());
        out.push_str("\n\nphysical plan:\n");
        out.push_str(&displayable(physical.as_ref()).indent(true).to_string());
        Ok(out)
    }

    /// Runs the query: its batches as they come. Dropping the stream
    /// cancels the query and frees what it holds, spill files included.
    pub async fn run(self) -> Result<SendableRecordBatchStream, QueryError> {
        Ok(self.frame.execute_stream().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn settings_reach_every_session() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = EngineConfig::new(dir.path().join("spill"));
        config.settings = settings(&[
            ("datafusion.execution.parquet.pushdown_filters", "true"),
            ("datafusion.optimizer.prefer_hash_join", "false"),
        ]);
        let engine = Engine::new(config).unwrap();
        let state = engine.session().state();
        let options = state.config().options();
        assert!(options.execution.parquet.pushdown_filters);
        assert!(!options.optimizer.prefer_hash_join);
        // The engine's join threshold where no setting overrides it.
        assert_eq!(
            options.optimizer.hash_join_single_partition_threshold,
            64 << 20
        );
        // The engine's own choices stay where no setting names them.
        assert!(!options.catalog.information_schema);
    }

    #[test]
    fn settings_outside_execution_and_optimizer_are_refused() {
        let e = check_settings(&settings(&[(
            "datafusion.catalog.information_schema",
            "true",
        )]))
        .unwrap_err();
        assert!(e.is_user_error());
        assert!(
            e.to_string()
                .contains("datafusion.catalog.information_schema"),
            "{e}"
        );
        let e =
            check_settings(&settings(&[("datafusion.runtime.memory_limit", "1G")])).unwrap_err();
        assert!(e.to_string().contains("only datafusion.execution"), "{e}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let e =
            check_settings(&settings(&[("datafusion.execution.no_such_thing", "1")])).unwrap_err();
        assert!(e.to_string().contains("no_such_thing"), "{e}");
        let e =
            check_settings(&settings(&[("datafusion.execution.batch_size", "many")])).unwrap_err();
        assert!(e.to_string().contains("batch_size"), "{e}");
        assert!(check_settings(&settings(&[("datafusion.execution.batch_size", "4096")])).is_ok());
        assert!(check_settings(&[]).is_ok());
    }

    #[test]
    fn joins_dynamic_filters_reach_scanned_rows() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::new(EngineConfig::new(dir.path().join("spill"))).unwrap();
        let state = engine.session().state();
        let rules: Vec<&str> = state
            .physical_optimizers()
            .iter()
            .map(|r| r.name())
            .collect();
        // Last, so that it sees where DataFusion's rules put each filter.
        assert_eq!(rules.last(), Some(&"dynamic_filter_rows"), "{rules:?}");
    }

    #[test]
    fn a_setting_overrides_the_engines_own_choice() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = EngineConfig::new(dir.path().join("spill"));
        config.settings = settings(&[(
            "datafusion.optimizer.hash_join_single_partition_threshold_rows",
            "131072",
        )]);
        let engine = Engine::new(config).unwrap();
        let state = engine.session().state();
        let optimizer = &state.config().options().optimizer;
        assert_eq!(optimizer.hash_join_single_partition_threshold_rows, 131_072);
        assert_eq!(optimizer.hash_join_single_partition_threshold, 64 << 20);
    }
}
