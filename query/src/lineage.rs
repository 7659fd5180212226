//! Where each column of a result comes from, read off the query's plan.
//!
//! Every output column gets the set of input columns its value is computed
//! from: the columns its expression reads, through every projection,
//! aggregate, window, union and join below it, and everything a subquery
//! inside the expression reads. Where a node's output does not line up
//! with its inputs (a semi join, grouping sets, an extension), every
//! column is said to come from every input column: an over-approximation,
//! which is the safe side for classification. Filters and join conditions
//! decide which rows appear, not what a value is, so they do not count.
//!
//! A derived column's classification is the strictest of its sources'
//! (`pii` over `confidential` over `internal` over `public`): a `pii`
//! column projected, renamed, aggregated or joined stays `pii` without
//! anyone typing it.

use std::collections::BTreeSet;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, TableReference};
use datafusion::logical_expr::{Expr, LogicalPlan};
use mesh_protocol::descriptor::Classification;

use crate::{Input, QueryError};

/// Input columns: (index into the query's inputs, column name).
pub type Sources = BTreeSet<(usize, String)>;

/// One column of a result and where it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputColumn {
    /// The column's name in the result.
    pub name: String,
    /// The input columns its values are computed from.
    pub sources: Sources,
    /// The strictest classification among the sources; `None` when no
    /// source is classified (a literal, `count(*)`).
    pub classification: Option<Classification>,
}

/// The output columns of `plan`, whose scans of `tables[i]` read
/// `inputs[i]`.
pub(crate) fn columns(
    plan: &LogicalPlan,
    tables: &[(TableReference, usize)],
    inputs: &[Input],
) -> Result<Vec<OutputColumn>, QueryError> {
    let walk = Walk { tables };
    let per_column = walk.plan(plan)?;
    Ok(plan
        .schema()
        .fields()
        .iter()
        .zip(per_column)
        .map(|(field, sources)| OutputColumn {
            name: field.name().clone(),
            classification: classification(&sources, inputs),
            sources,
        })
        .collect())
}

/// The indexes of the inputs `plan` scans, subqueries included.
pub(crate) fn scanned(
    plan: &LogicalPlan,
    tables: &[(TableReference, usize)],
) -> Result<BTreeSet<usize>, QueryError> {
    let mut read = BTreeSet::new();
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Some(i) = input_of(tables, &scan.table_name)
        {
            read.insert(i);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(read)
}

fn classification(sources: &Sources, inputs: &[Input]) -> Option<Classification> {
    sources
        .iter()
        .filter_map(|(i, column)| {
            inputs
                .get(*i)?
                .fields
                .iter()
                .find(|f| f.name == *column)?
                .classification
        })
        .max()
}

fn input_of(tables: &[(TableReference, usize)], scanned: &TableReference) -> Option<usize> {
    tables.iter().find(|(t, _)| t == scanned).map(|(_, i)| *i)
}

struct Walk<'a> {
    tables: &'a [(TableReference, usize)],
}

impl Walk<'_> {
    /// One [`Sources`] per column of `plan`'s schema.
    fn plan(&self, plan: &LogicalPlan) -> Result<Vec<Sources>, QueryError> {
        let width = plan.schema().fields().len();
        Ok(match plan {
            LogicalPlan::TableScan(scan) => {
                let input = input_of(self.tables, &scan.table_name);
                scan.projected_schema
                    .fields()
                    .iter()
                    .map(|f| {
                        input
                            .map(|i| Sources::from([(i, f.name().clone())]))
                            .unwrap_or_default()
                    })
                    .collect()
            }
            LogicalPlan::Projection(p) => {
                let below = self.plan(&p.input)?;
                self.exprs(&p.expr, p.input.schema(), &below)?
            }
            LogicalPlan::Aggregate(a) => {
                let below = self.plan(&a.input)?;
                let exprs: Vec<Expr> = a.group_expr.iter().chain(&a.aggr_expr).cloned().collect();
                fit(self.exprs(&exprs, a.input.schema(), &below)?, width)
            }
            LogicalPlan::Window(w) => {
                let below = self.plan(&w.input)?;
                let mut out = below.clone();
                out.extend(self.exprs(&w.window_expr, w.input.schema(), &below)?);
                fit(out, width)
            }
            LogicalPlan::Union(u) => {
                let mut out = vec![Sources::new(); width];
                for input in &u.inputs {
                    for (k, s) in self.plan(input)?.into_iter().enumerate().take(width) {
                        out[k].extend(s);
                    }
                }
                out
            }
            other => {
                // Filters, sorts, limits, aliases, distinct, joins: the
                // output is the inputs' columns side by side.
                let mut side_by_side = Vec::new();
                for input in other.inputs() {
                    side_by_side.extend(self.plan(input)?);
                }
                fit(side_by_side, width)
            }
        })
    }

    fn exprs(
        &self,
        exprs: &[Expr],
        schema: &DFSchema,
        below: &[Sources],
    ) -> Result<Vec<Sources>, QueryError> {
        exprs.iter().map(|e| self.expr(e, schema, below)).collect()
    }

    /// The input columns expression `e` over `schema` reads.
    fn expr(&self, e: &Expr, schema: &DFSchema, below: &[Sources]) -> Result<Sources, QueryError> {
        let mut out = Sources::new();
        for column in e.column_refs() {
            match schema.index_of_column(column) {
                Ok(i) => out.extend(below.get(i).into_iter().flatten().cloned()),
                Err(_) => out.extend(below.iter().flatten().cloned()),
            }
        }
        let mut subqueries = Vec::new();
        e.apply(|x| {
            match x {
                Expr::ScalarSubquery(q) => subqueries.push(q.subquery.clone()),
                Expr::InSubquery(q) => subqueries.push(q.subquery.subquery.clone()),
                Expr::Exists(q) => subqueries.push(q.subquery.subquery.clone()),
                _ => {}
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        for plan in subqueries {
            out.extend(self.plan(&plan)?.into_iter().flatten());
        }
        Ok(out)
    }
}

/// `columns` when they are one per output column; otherwise every output
/// column comes from all of them.
fn fit(columns: Vec<Sources>, width: usize) -> Vec<Sources> {
    if columns.len() == width {
        columns
    } else {
        let all: Sources = columns.into_iter().flatten().collect();
        vec![all; width]
    }
}
