//! A common table expression named more than once is computed once.
//!
//! DataFusion inlines every reference to a CTE, so a query that reads an
//! aggregate twice (TPC-H Q15 compares each supplier's revenue with the
//! largest: `revenue0` is scanned, filtered and aggregated twice) does the
//! work twice. DuckDB and PostgreSQL materialise such a CTE instead.
//!
//! [`ShareRepeatedCtes`] is an analyzer rule, run after DataFusion's own:
//! where the same aliased subquery appears more than once (a CTE's
//! references are identical subtrees once planned) and its result comes
//! from grouping (an aggregate, `DISTINCT` or a window, so it is usually
//! far smaller than its input), each reference becomes a scan of one
//! [`SharedTable`]. The first reference to run computes the result once,
//! every partition of it held in memory reserved from the engine's budget,
//! and every reference replays it. Filters and projections above a
//! reference are not pushed into the shared plan, as with any
//! materialised CTE; a CTE without grouping is left inlined, since there
//! pushing a reference's filters down usually saves more than sharing.
//!
//! If the result outgrows the memory the budget grants, nothing fails:
//! the held batches are dropped and each reference runs its own copy of
//! the plan, as it would have inlined. The lineage of a query is read
//! from its plan before this rule runs, so it still names the tables the
//! CTE reads.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::config::ConfigOptions;
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::common::{DataFusionError, HashMap, Result};
use datafusion::datasource::provider_as_source;
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, SubqueryAlias, TableType};
use datafusion::optimizer::AnalyzerRule;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
    SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::OnceCell;

/// The analyzer rule (see the module docs).
#[derive(Debug, Default)]
pub struct ShareRepeatedCtes;

impl AnalyzerRule for ShareRepeatedCtes {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        // How many times each grouping subquery appears, subqueries in
        // expressions included.
        let mut seen: HashMap<SubqueryAlias, usize> = HashMap::new();
        plan.apply_with_subqueries(|node| {
            if let LogicalPlan::SubqueryAlias(alias) = node
                && groups(&alias.input)
            {
                *seen.entry(alias.clone()).or_default() += 1;
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        // A reference whose shared scan cannot keep its schema stays inlined.
        let shared: HashMap<SubqueryAlias, LogicalPlan> = seen
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .filter_map(|(alias, _)| shared_scan(&alias).ok().map(|scan| (alias, scan)))
            .collect();
        if shared.is_empty() {
            return Ok(plan);
        }
        plan.transform_down_with_subqueries(|node| match &node {
            LogicalPlan::SubqueryAlias(alias) => match shared.get(alias) {
                Some(replacement) => Ok(Transformed::new(
                    replacement.clone(),
                    true,
                    TreeNodeRecursion::Jump,
                )),
                None => Ok(Transformed::no(node)),
            },
            _ => Ok(Transformed::no(node)),
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &'static str {
        "share_repeated_ctes"
    }
}

/// Whether `plan`'s rows come from grouping: an aggregate, `DISTINCT` or
/// a window, under projections, filters, sorts and limits.
fn groups(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Aggregate(_) | LogicalPlan::Distinct(_) | LogicalPlan::Window(_) => true,
        LogicalPlan::Projection(_)
        | LogicalPlan::Filter(_)
        | LogicalPlan::Sort(_)
        | LogicalPlan::Limit(_)
        | LogicalPlan::SubqueryAlias(_) => plan.inputs().first().is_some_and(|i| groups(i)),
        _ => false,
    }
}

/// `alias` over a scan of a [`SharedTable`] of its input, with the same
/// schema as before.
fn shared_scan(alias: &SubqueryAlias) -> Result<LogicalPlan> {
    let provider = SharedTable {
        schema: Arc::clone(alias.input.schema().inner()),
        plan: alias.input.as_ref().clone(),
        state: Arc::new(SharedState::default()),
    };
    let scan = LogicalPlanBuilder::scan(
        alias.alias.clone(),
        provider_as_source(Arc::new(provider)),
        None,
    )?
    .build()?;
    let replaced = SubqueryAlias::try_new(Arc::new(scan), alias.alias.clone())?;
    if replaced.schema.as_arrow() != alias.schema.as_arrow() {
        return Err(DataFusionError::Plan(format!(
            "the shared scan of {} changes its schema",
            alias.alias
        )));
    }
    Ok(LogicalPlan::SubqueryAlias(replaced))
}

/// What the references to one CTE share: the plan that computes it (made
/// by the first reference planned) and its result once computed.
#[derive(Debug, Default)]
struct SharedState {
    plan: OnceCell<Arc<dyn ExecutionPlan>>,
    result: OnceCell<Result<Option<Arc<Held>>, String>>,
}

/// A CTE's result: every partition's batches, and the memory they hold.
#[derive(Debug)]
struct Held {
    partitions: Vec<Vec<RecordBatch>>,
    _reservations: Vec<MemoryReservation>,
}

/// A CTE's result as a table its references scan.
#[derive(Debug)]
pub struct SharedTable {
    schema: SchemaRef,
    plan: LogicalPlan,
    state: Arc<SharedState>,
}

#[async_trait]
impl TableProvider for SharedTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // This reference's own copy of the plan, run only if the shared
        // result outgrew the budget; and the plan that computes the
        // shared result, made once.
        let own = state.create_physical_plan(&self.plan).await?;
        let computes = self
            .state
            .plan
            .get_or_try_init(|| state.create_physical_plan(&self.plan))
            .await?;
        let exec: Arc<dyn ExecutionPlan> = Arc::new(SharedExec::new(
            own,
            Arc::clone(computes),
            Arc::clone(&self.state),
        ));
        let Some(columns) = projection else {
            return Ok(exec);
        };
        let schema = exec.schema();
        let exprs = columns
            .iter()
            .map(|&i| {
                let name = schema.field(i).name();
                (Arc::new(Column::new(name, i)) as _, name.clone())
            })
            .collect::<Vec<_>>();
        Ok(Arc::new(ProjectionExec::try_new(exprs, exec)?))
    }
}

/// One reference to a shared CTE: replays the shared result, computing
/// it first if no reference has yet.
#[derive(Debug)]
pub struct SharedExec {
    own: Arc<dyn ExecutionPlan>,
    computes: Arc<dyn ExecutionPlan>,
    state: Arc<SharedState>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl SharedExec {
    fn new(
        own: Arc<dyn ExecutionPlan>,
        computes: Arc<dyn ExecutionPlan>,
        state: Arc<SharedState>,
    ) -> Self {
        let properties = Arc::new(PlanProperties::new(
            own.equivalence_properties().clone(),
            own.output_partitioning().clone(),
            own.pipeline_behavior(),
            own.boundedness(),
        ));
        Self {
            own,
            computes,
            state,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for SharedExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "SharedExec: a CTE computed once for all its references")
    }
}

impl ExecutionPlan for SharedExec {
    fn name(&self) -> &'static str {
        "SharedExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        // Both plans are complete physical plans already; the optimiser
        // has nothing to do with them here.
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(
            &Arc<dyn datafusion::physical_expr::PhysicalExpr>,
        ) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "SharedExec has no children".into(),
            ))
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let own = Arc::clone(&self.own);
        let computes = Arc::clone(&self.computes);
        let state = Arc::clone(&self.state);
        let schema = self.own.schema();
        let metrics = MetricBuilder::new(&self.metrics);
        let computed_here = metrics.clone().counter("computed", partition);
        let replayed = metrics.clone().counter("rows_replayed", partition);
        let own_plan = metrics.counter("ran_own_plan", partition);
        let stream = futures::stream::once(async move {
            let result = state
                .result
                .get_or_init(|| {
                    computed_here.add(1);
                    compute(computes, Arc::clone(&context))
                })
                .await;
            let stream: SendableRecordBatchStream = match result {
                Ok(Some(held)) => {
                    // The computing plan and this one are the same plan,
                    // so their partitions match; if not, deal them out.
                    let n = own.output_partitioning().partition_count().max(1);
                    let batches: Vec<RecordBatch> = held
                        .partitions
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % n == partition)
                        .flat_map(|(_, b)| b.iter().cloned())
                        .collect();
                    replayed.add(batches.iter().map(RecordBatch::num_rows).sum());
                    Box::pin(RecordBatchStreamAdapter::new(
                        own.schema(),
                        futures::stream::iter(batches.into_iter().map(Ok)),
                    ))
                }
                Ok(None) => {
                    own_plan.add(1);
                    own.execute(partition, context)?
                }
                Err(e) => return Err(DataFusionError::Execution(e.clone())),
            };
            Ok::<_, DataFusionError>(stream)
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// Runs `plan` to the end, every partition at once, holding its batches
/// in memory reserved from the query's pool; `None` if the pool would not
/// grant it.
async fn compute(
    plan: Arc<dyn ExecutionPlan>,
    context: Arc<TaskContext>,
) -> Result<Option<Arc<Held>>, String> {
    let consumer = MemoryConsumer::new("SharedExec");
    let partitions = plan.output_partitioning().partition_count();
    let mut tasks = Vec::with_capacity(partitions);
    for partition in 0..partitions {
        let plan = Arc::clone(&plan);
        let context = Arc::clone(&context);
        let reservation = consumer.clone_with_new_id().register(context.memory_pool());
        tasks.push(SpawnedTask::spawn(async move {
            let mut stream = plan.execute(partition, context)?;
            let mut batches = Vec::new();
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                if reservation.try_grow(batch.get_array_memory_size()).is_err() {
                    return Ok(None);
                }
                batches.push(batch);
            }
            Ok::<_, DataFusionError>(Some((batches, reservation)))
        }));
    }
    let mut held = Vec::with_capacity(partitions);
    let mut reservations = Vec::with_capacity(partitions);
    for task in tasks {
        match task.join().await {
            Ok(Ok(Some((batches, reservation)))) => {
                held.push(batches);
                reservations.push(reservation);
            }
            Ok(Ok(None)) => return Ok(None),
            Ok(Err(e)) => return Err(e.strip_backtrace()),
            Err(e) => return Err(format!("a shared CTE's task failed: {e}")),
        }
    }
    Ok(Some(Arc::new(Held {
        partitions: held,
        _reservations: reservations,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::execution::memory_pool::GreedyMemoryPool;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::execution::session_state::SessionStateBuilder;
    use datafusion::physical_plan::collect;
    use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};

    use crate::dynamic_filter::tests::{run_finding, tables};

    async fn context(dir: &std::path::Path, rule: bool) -> SessionContext {
        let mut state = SessionStateBuilder::new()
            .with_config(SessionConfig::new().with_target_partitions(2))
            .with_default_features();
        if rule {
            state = state.with_analyzer_rule(Arc::new(ShareRepeatedCtes));
        }
        let ctx = SessionContext::new_with_state(state.build());
        let path = dir.join("facts.parquet");
        ctx.register_parquet(
            "facts",
            path.to_str().unwrap(),
            ParquetReadOptions::default(),
        )
        .await
        .unwrap();
        ctx
    }

    /// The answer as text and the plan's `SharedExec` nodes after running.
    async fn run(ctx: &SessionContext, sql: &str) -> (String, Vec<Arc<dyn ExecutionPlan>>) {
        run_finding::<SharedExec>(ctx, sql).await
    }

    fn total(plans: &[Arc<dyn ExecutionPlan>], name: &str) -> usize {
        plans
            .iter()
            .map(|p| {
                p.metrics()
                    .unwrap()
                    .sum_by_name(name)
                    .map_or(0, |m| m.as_usize())
            })
            .sum()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_grouping_cte_named_twice_is_computed_once() {
        let dir = tempfile::tempdir().unwrap();
        tables(dir.path(), 0);
        // TPC-H Q15's shape: each key's total against the largest.
        let sql = "with r as (select k, sum(v) as total from facts group by k) \
                   select r.k, r.total from r where r.total = (select max(total) from r)";
        let (answer, shared) = run(&context(dir.path(), true).await, sql).await;
        assert_eq!(shared.len(), 2, "one SharedExec per reference");
        assert_eq!(total(&shared, "computed"), 1);
        assert_eq!(total(&shared, "ran_own_plan"), 0);
        // 1,000 groups, replayed to each reference.
        assert_eq!(total(&shared, "rows_replayed"), 2_000);
        let (inlined, none) = run(&context(dir.path(), false).await, sql).await;
        assert!(none.is_empty());
        assert_eq!(answer, inlined);
        // Key 999 holds the largest values: 999, 1999, ..., 299999.
        assert!(answer.contains("| 999 | 45149700 |"), "{answer}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn projections_and_filters_above_a_reference_still_apply() {
        let dir = tempfile::tempdir().unwrap();
        tables(dir.path(), 0);
        let sql = "with r as (select k, count(*) as n, sum(v) as total from facts group by k) \
                   select a.k, b.n from r a join r b on a.k = b.k + 1 \
                   where a.total > 45000000 order by a.k";
        let (answer, shared) = run(&context(dir.path(), true).await, sql).await;
        assert_eq!(shared.len(), 2);
        assert_eq!(total(&shared, "computed"), 1);
        let (inlined, _) = run(&context(dir.path(), false).await, sql).await;
        assert_eq!(answer, inlined);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cte_without_grouping_or_named_once_stays_inlined() {
        let dir = tempfile::tempdir().unwrap();
        tables(dir.path(), 0);
        let ctx = context(dir.path(), true).await;
        let (_, shared) = run(
            &ctx,
            "with r as (select k, v from facts where v < 100) \
             select count(*) from r a join r b on a.k = b.k",
        )
        .await;
        assert!(shared.is_empty(), "a plain scan was shared");
        let (_, shared) = run(
            &ctx,
            "with r as (select k, sum(v) as total from facts group by k) select max(total) from r",
        )
        .await;
        assert!(shared.is_empty(), "a CTE named once was shared");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_result_beyond_the_budget_runs_each_reference_itself() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from_iter_values(0..10_000))],
        )
        .unwrap();
        let source = || {
            MemorySourceConfig::try_new_exec(&[vec![batch.clone()]], Arc::clone(&schema), None)
                .unwrap() as Arc<dyn ExecutionPlan>
        };
        // 1 KiB of budget: the 80 KB result cannot be held.
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(GreedyMemoryPool::new(1024)))
            .build_arc()
            .unwrap();
        let context = Arc::new(TaskContext::default().with_runtime(runtime));
        let state = Arc::new(SharedState::default());
        let mut answers = Vec::new();
        let mut plans: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        for _ in 0..2 {
            let exec: Arc<dyn ExecutionPlan> =
                Arc::new(SharedExec::new(source(), source(), Arc::clone(&state)));
            answers.push(
                collect(Arc::clone(&exec), Arc::clone(&context))
                    .await
                    .unwrap(),
            );
            plans.push(exec);
        }
        for batches in &answers {
            let rows = datafusion::arrow::compute::concat_batches(&schema, batches).unwrap();
            assert_eq!(rows, batch);
        }
        assert_eq!(total(&plans, "computed"), 1);
        assert_eq!(total(&plans, "ran_own_plan"), 2);
        assert_eq!(total(&plans, "rows_replayed"), 0);
        assert_eq!(
            context.memory_pool().reserved(),
            0,
            "memory held after giving up"
        );
    }
}
