//! Dynamic filters applied to rows, not only to row groups.
//!
//! DataFusion's hash joins (and TopK sorts) publish a *dynamic filter*
//! once they know their build side: the probe side's join keys must lie
//! within the build side's bounds and be in its hash table. The filter
//! is pushed down to the probe side's file scan. With Parquet's row-level
//! filter pushdown off (DataFusion's default, and the engine's: turning it
//! on made TPC-H a sixth slower overall on this project's benchmark,
//! because every static predicate then goes through parquet-rs's slower
//! late-materialisation path) the scan uses the filter only to skip whole
//! row groups by their statistics. For keys spread over every row group,
//! as a foreign key usually is, that skips nothing, and every probe row
//! reaches the operators above the scan. In TPC-H Q17 that is an
//! aggregate over all 6 M `lineitem` rows whose result the join then
//! throws away but for 204 parts.
//!
//! [`DynamicFilterRows`] is a physical optimiser rule that runs after
//! DataFusion's own: above each file scan that holds dynamic filters (or
//! above the scan's own static filter, which is cheaper per row than a
//! hash lookup) it puts a [`DynamicFilterExec`] which applies them to the
//! scan's rows.
//! Dropping rows that fail a dynamic filter is always correct: DataFusion
//! pushes such a filter only where the rows it fails cannot contribute to
//! the result (the probe side of an inner or semi join, the rows TopK
//! would never keep), which is exactly what the scan's row-level pushdown
//! would do with it.
//!
//! A filter that drops few rows only costs (a join's filter repeats its
//! hash lookup), so the operator measures itself: once it has seen
//! [`MEASURE_ROWS`] rows under one version of the filter and kept more
//! than [`KEEP_SHARE`] of them, it passes rows through untouched until
//! the filter changes.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::BatchCoalescer;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::expressions::{Column, DynamicFilterPhysicalExpr};
use datafusion::physical_expr::utils::{collect_columns, reassign_expr_columns};
use datafusion::physical_expr::{PhysicalExpr, conjunction, split_conjunction};
use datafusion::physical_expr_common::physical_expr::snapshot_generation;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
    RecordBatchStream, SendableRecordBatchStream,
};
use futures::{Stream, StreamExt};

/// Rows a version of the filter is measured on before it may be set aside.
pub const MEASURE_ROWS: usize = 128 * 1024;

/// A filter that keeps more than this share of the rows it was measured
/// on is set aside until it changes. Right below its join, a filter costs
/// a hash lookup per row it keeps (the join repeats it) and saves nothing
/// but what the operators in between would have spent on the rows it
/// drops.
pub const KEEP_SHARE: f64 = 0.5;

/// The rule that puts a [`DynamicFilterExec`] above every file scan
/// holding dynamic filters (see the module docs).
#[derive(Debug, Default)]
pub struct DynamicFilterRows;

impl PhysicalOptimizerRule for DynamicFilterRows {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // With row-level pushdown on, the scan applies every filter itself.
        if config.execution.parquet.pushdown_filters
            || !config.optimizer.enable_dynamic_filter_pushdown
        {
            return Ok(plan);
        }
        plan.transform_down(|node| {
            // A scan's own static filter costs less per row than a join's
            // hash lookup and often drops more: the dynamic filter goes
            // above it when the scan has one.
            let scan = node
                .downcast_ref::<FilterExec>()
                .map_or(&node, FilterExec::input);
            let predicate = dynamic_filters(scan).and_then(|filters| {
                let schema = node.schema();
                let over_node: Vec<_> = filters
                    .into_iter()
                    .filter_map(|f| reassign_expr_columns(f, &schema).ok())
                    .collect();
                (!over_node.is_empty()).then(|| conjunction(over_node))
            });
            Ok(match predicate {
                // Its children are not visited: the scan is done.
                Some(predicate) => Transformed::new(
                    Arc::new(DynamicFilterExec::new(node, predicate)) as _,
                    true,
                    TreeNodeRecursion::Jump,
                ),
                None => Transformed::no(node),
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &'static str {
        "dynamic_filter_rows"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The dynamic filters a file scan holds, each over the table's columns
/// by name; `None` for any other node or a scan without them. A filter
/// naming a column the scan does not output as itself is left out.
fn dynamic_filters(node: &Arc<dyn ExecutionPlan>) -> Option<Vec<Arc<dyn PhysicalExpr>>> {
    let scan = node.downcast_ref::<DataSourceExec>()?;
    let source = scan
        .data_source()
        .downcast_ref::<FileScanConfig>()?
        .file_source();
    let filter = source.filter()?;
    // Output columns that are a table column under its own name: only
    // those can be read by the filter, which names table columns.
    let plain = |name: &str| match source.projection() {
        None => true,
        Some(projection) => projection.iter().any(|p| {
            p.alias == name
                && p.expr
                    .downcast_ref::<Column>()
                    .is_some_and(|c| c.name() == name)
        }),
    };
    let dynamic: Vec<Arc<dyn PhysicalExpr>> = split_conjunction(&filter)
        .into_iter()
        .filter(|e| e.downcast_ref::<DynamicFilterPhysicalExpr>().is_some())
        .filter(|e| collect_columns(e).iter().all(|c| plain(c.name())))
        .map(Arc::clone)
        .collect();
    (!dynamic.is_empty()).then_some(dynamic)
}

/// Applies a scan's dynamic filters to its rows (see the module docs).
#[derive(Debug)]
pub struct DynamicFilterExec {
    input: Arc<dyn ExecutionPlan>,
    predicate: Arc<dyn PhysicalExpr>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl DynamicFilterExec {
    /// `predicate` over `input`'s output.
    pub fn new(input: Arc<dyn ExecutionPlan>, predicate: Arc<dyn PhysicalExpr>) -> Self {
        let properties = Arc::new(PlanProperties::new(
            input.equivalence_properties().clone(),
            input.output_partitioning().clone(),
            input.pipeline_behavior(),
            input.boundedness(),
        ));
        Self {
            input,
            predicate,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for DynamicFilterExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                write!(f, "DynamicFilterExec: {}", self.predicate)
            }
            DisplayFormatType::TreeRender => write!(f, "predicate={}", self.predicate),
        }
    }
}

impl ExecutionPlan for DynamicFilterExec {
    fn name(&self) -> &'static str {
        "DynamicFilterExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        f(&self.predicate)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [input] = <[_; 1]>::try_from(children).map_err(|c| {
            DataFusionError::Internal(format!("DynamicFilterExec takes 1 child, not {}", c.len()))
        })?;
        Ok(Arc::new(Self::new(input, Arc::clone(&self.predicate))))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, Arc::clone(&context))?;
        let schema = self.input.schema();
        Ok(Box::pin(DynamicFilterStream {
            coalescer: BatchCoalescer::new(
                Arc::clone(&schema),
                context.session_config().batch_size(),
            ),
            schema,
            input,
            predicate: Arc::clone(&self.predicate),
            measure: Measure::default(),
            done: false,
            baseline: BaselineMetrics::new(&self.metrics, partition),
            removed: MetricBuilder::new(&self.metrics).counter("rows_removed", partition),
            passed_unfiltered: MetricBuilder::new(&self.metrics)
                .counter("rows_passed_unfiltered", partition),
        }))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// How one version of the filter has done on one partition's rows.
#[derive(Debug, Default)]
struct Measure {
    generation: u64,
    seen: usize,
    kept: usize,
    set_aside: bool,
}

impl Measure {
    /// Whether to evaluate the filter on the next batch, given the
    /// filter's version now.
    fn evaluate(&mut self, generation: u64) -> bool {
        if generation != self.generation {
            *self = Self {
                generation,
                ..Self::default()
            };
        }
        !self.set_aside
    }

    fn record(&mut self, seen: usize, kept: usize) {
        self.seen += seen;
        self.kept += kept;
        #[allow(
            clippy::cast_precision_loss,
            reason = "a share of row counts, compared with a threshold"
        )]
        if self.seen >= MEASURE_ROWS && self.kept as f64 > KEEP_SHARE * self.seen as f64 {
            self.set_aside = true;
        }
    }
}

struct DynamicFilterStream {
    schema: SchemaRef,
    input: SendableRecordBatchStream,
    predicate: Arc<dyn PhysicalExpr>,
    coalescer: BatchCoalescer,
    measure: Measure,
    done: bool,
    baseline: BaselineMetrics,
    removed: Count,
    passed_unfiltered: Count,
}

impl DynamicFilterStream {
    /// Filters one input batch into the coalescer.
    fn push(&mut self, batch: RecordBatch) -> Result<()> {
        let _timer = self.baseline.elapsed_compute().timer();
        let rows = batch.num_rows();
        if !self.measure.evaluate(snapshot_generation(&self.predicate)) {
            self.passed_unfiltered.add(rows);
            return Ok(self.coalescer.push_batch(batch)?);
        }
        let mask = self.predicate.evaluate(&batch)?.into_array(rows)?;
        let mask = mask.as_boolean_opt().ok_or_else(|| {
            DataFusionError::Internal(format!(
                "a dynamic filter evaluated to {}, not booleans",
                mask.data_type()
            ))
        })?;
        // A null is not a match, as in a WHERE clause: `true_count` counts
        // valid trues and the filter below drops nulls.
        let kept = mask.true_count();
        self.measure.record(rows, kept);
        self.removed.add(rows - kept);
        Ok(self.coalescer.push_batch_with_filter(batch, mask)?)
    }
}

impl Stream for DynamicFilterStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(batch) = self.coalescer.next_completed_batch() {
                return self.baseline.record_poll(Poll::Ready(Some(Ok(batch))));
            }
            if self.done {
                return Poll::Ready(None);
            }
            match self.input.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(batch))) => {
                    if let Err(e) = self.push(batch) {
                        self.done = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => {
                    self.done = true;
                    if let Err(e) = self.coalescer.finish_buffered_batch() {
                        return Poll::Ready(Some(Err(e.into())));
                    }
                }
            }
        }
    }
}

impl RecordBatchStream for DynamicFilterStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::execution::session_state::SessionStateBuilder;
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::file::properties::WriterProperties;
    use datafusion::physical_plan::collect;
    use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};

    /// Rows of `facts`: key `i % KEYS`, value `i`.
    const FACTS: i64 = 300_000;
    const KEYS: i64 = 1_000;

    /// `facts(k, v)` with every key in every row group, and `dims(k,
    /// name)` where the first `picked` keys are named `pick`.
    pub(crate) fn tables(dir: &std::path::Path, picked: i64) {
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(50_000))
            .build();
        let facts = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Int64, false),
        ]));
        let file = std::fs::File::create(dir.join("facts.parquet")).unwrap();
        let mut w = ArrowWriter::try_new(file, Arc::clone(&facts), Some(props.clone())).unwrap();
        for start in (0..FACTS).step_by(10_000) {
            let v: Vec<i64> = (start..start + 10_000).collect();
            let k: Vec<i64> = v.iter().map(|i| i % KEYS).collect();
            let batch = RecordBatch::try_new(
                Arc::clone(&facts),
                vec![Arc::new(Int64Array::from(k)), Arc::new(Int64Array::from(v))],
            )
            .unwrap();
            w.write(&batch).unwrap();
        }
        w.close().unwrap();
        let dims = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
        ]));
        let k: Vec<i64> = (0..KEYS).collect();
        let names: Vec<&str> = k
            .iter()
            .map(|k| if *k < picked { "pick" } else { "other" })
            .collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&dims),
            vec![
                Arc::new(Int64Array::from(k)),
                Arc::new(StringArray::from(names)),
            ],
        )
        .unwrap();
        let file = std::fs::File::create(dir.join("dims.parquet")).unwrap();
        let mut w = ArrowWriter::try_new(file, dims, Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    async fn context(dir: &std::path::Path, rule: bool, pushdown: bool) -> SessionContext {
        let mut config = SessionConfig::new().with_target_partitions(2);
        config.options_mut().execution.parquet.pushdown_filters = pushdown;
        let mut state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features();
        if rule {
            state = state.with_physical_optimizer_rule(Arc::new(DynamicFilterRows));
        }
        let ctx = SessionContext::new_with_state(state.build());
        for table in ["facts", "dims"] {
            let path = dir.join(format!("{table}.parquet"));
            ctx.register_parquet(table, path.to_str().unwrap(), ParquetReadOptions::default())
                .await
                .unwrap();
        }
        ctx
    }

    /// The query's answer as text, and the filter operators of its plan
    /// after running it.
    async fn run(ctx: &SessionContext, sql: &str) -> (String, Vec<Arc<dyn ExecutionPlan>>) {
        run_finding::<DynamicFilterExec>(ctx, sql).await
    }

    /// The query's answer as text, and the operators of type `T` of its
    /// plan after running it (their metrics filled in).
    pub(crate) async fn run_finding<T: ExecutionPlan>(
        ctx: &SessionContext,
        sql: &str,
    ) -> (String, Vec<Arc<dyn ExecutionPlan>>) {
        let plan = ctx
            .sql(sql)
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let batches = collect(Arc::clone(&plan), ctx.task_ctx()).await.unwrap();
        let mut found = Vec::new();
        plan.apply(|node| {
            if node.downcast_ref::<T>().is_some() {
                found.push(Arc::clone(node));
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        (pretty_format_batches(&batches).unwrap().to_string(), found)
    }

    fn metric(plan: &Arc<dyn ExecutionPlan>, name: &str) -> usize {
        plan.metrics()
            .unwrap()
            .sum_by_name(name)
            .unwrap()
            .as_usize()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_joins_filter_drops_probe_rows_above_the_scan() {
        let dir = tempfile::tempdir().unwrap();
        tables(dir.path(), 5);
        let ctx = context(dir.path(), true, false).await;
        let sql = "select count(*) as n, sum(f.v) as total from facts f join dims d on f.k = d.k \
                   where d.name = 'pick'";
        let (answer, filters) = run(&ctx, sql).await;
        let [filter] = filters.as_slice() else {
            panic!("one DynamicFilterExec expected, got {}", filters.len())
        };
        // 5 keys of 1,000: 1,500 of 300,000 rows leave the scan's filter.
        assert_eq!(filter.metrics().unwrap().output_rows(), Some(1_500));
        assert_eq!(metric(filter, "rows_removed"), 298_500);
        assert_eq!(metric(filter, "rows_passed_unfiltered"), 0);
        let (plain, none) = run(&context(dir.path(), false, false).await, sql).await;
        assert!(none.is_empty());
        assert_eq!(answer, plain);
        assert!(answer.contains("1500"), "{answer}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn answers_are_those_without_the_rule() {
        let dir = tempfile::tempdir().unwrap();
        tables(dir.path(), 7);
        let with = context(dir.path(), true, false).await;
        let without = context(dir.path(), false, false).await;
        let queries = [
            // Inner join, the picked side built.
            "select d.name, count(*), sum(f.v) from facts f join dims d on f.k = d.k \
             where d.name = 'pick' group by d.name",
            // Semi join through an aggregate on the join key (TPC-H Q17's shape).
            "select sum(f.v) from facts f join dims d on f.k = d.k where d.name = 'pick' \
             and f.v < (select avg(v) from facts g where g.k = f.k)",
            // IN and NOT IN subqueries.
            "select count(*) from facts where k in (select k from dims where name = 'pick')",
            "select count(*) from facts f where not exists \
             (select 1 from dims d where d.k = f.k and d.name = 'pick')",
            // Outer joins: the preserved side keeps every row.
            "select count(*), count(d.k) from facts f left join dims d \
             on f.k = d.k and d.name = 'pick'",
            "select count(*), count(f.k) from (select * from dims where name = 'pick') d \
             left join facts f on f.k = d.k",
            "select count(*) from facts f right join dims d on f.k = d.k where d.name = 'pick'",
            // TopK publishes a filter that tightens as it goes.
            "select k, v from facts order by v desc limit 5",
        ];
        let mut filtered = 0;
        for sql in queries {
            let (a, filters) = run(&with, sql).await;
            let (b, _) = run(&without, sql).await;
            assert_eq!(a, b, "{sql}");
            filtered += filters.len();
        }
        assert!(filtered >= 4, "{filtered} DynamicFilterExec in all");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_filter_that_keeps_most_rows_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        tables(dir.path(), 900);
        let ctx = context(dir.path(), true, false).await;
        let (answer, filters) = run(
            &ctx,
            "select count(*) from facts f join dims d on f.k = d.k where d.name = 'pick'",
        )
        .await;
        assert!(answer.contains("270000"), "{answer}");
        let [filter] = filters.as_slice() else {
            panic!("one DynamicFilterExec expected, got {}", filters.len())
        };
        // A partition measures MEASURE_ROWS rows, finds 90% kept, and
        // passes the rest through without evaluating (how the scan splits
        // its rows between the two partitions is the scan's).
        let unfiltered = metric(filter, "rows_passed_unfiltered");
        let removed = metric(filter, "rows_removed");
        assert!(unfiltered > 0, "nothing passed unfiltered");
        assert!(unfiltered <= 300_000 - MEASURE_ROWS, "{unfiltered}");
        assert!(removed > 0 && removed < 30_000, "{removed}");
        assert_eq!(
            filter.metrics().unwrap().output_rows(),
            Some(300_000 - removed)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_scans_own_filter_goes_first() {
        let dir = tempfile::tempdir().unwrap();
        tables(dir.path(), 5);
        let ctx = context(dir.path(), true, false).await;
        let (answer, filters) = run(
            &ctx,
            "select count(*) from facts f join dims d on f.k = d.k \
             where d.name = 'pick' and f.v < 150000",
        )
        .await;
        assert!(answer.contains("750"), "{answer}");
        let [filter] = filters.as_slice() else {
            panic!("one DynamicFilterExec expected, got {}", filters.len())
        };
        let below = filter.children()[0];
        assert!(
            below.downcast_ref::<FilterExec>().is_some(),
            "{}",
            below.name()
        );
        // The static filter kept half the rows; the join's filter saw only
        // those and kept 750.
        assert_eq!(metric(filter, "rows_removed"), 150_000 - 750);
        assert_eq!(filter.metrics().unwrap().output_rows(), Some(750));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn row_level_pushdown_leaves_the_plan_alone() {
        let dir = tempfile::tempdir().unwrap();
        tables(dir.path(), 5);
        let sql = "select count(*) from facts f join dims d on f.k = d.k where d.name = 'pick'";
        let (answer, filters) = run(&context(dir.path(), true, true).await, sql).await;
        assert!(filters.is_empty());
        assert!(answer.contains("1500"), "{answer}");
    }

    #[test]
    fn a_new_version_of_the_filter_is_measured_afresh() {
        let mut m = Measure::default();
        assert!(m.evaluate(1));
        m.record(MEASURE_ROWS - 1, MEASURE_ROWS - 1);
        assert!(m.evaluate(1), "set aside before it was measured");
        m.record(1, 1);
        assert!(!m.evaluate(1), "a filter keeping every row stays on");
        assert!(m.evaluate(2), "an updated filter was not evaluated");
        m.record(MEASURE_ROWS, MEASURE_ROWS / 4);
        assert!(m.evaluate(2), "a filter dropping most rows was set aside");
    }
}
