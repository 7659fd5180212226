//! TPC-H through a meshd node against DuckDB on the same files.
//!
//! ```text
//! pip install duckdb
//! cargo run --release -p mesh-node --example query_bench -- --sf 1
//! ```
//!
//! Generates the eight TPC-H tables at scale factor `--sf` (the
//! `tpchgen-arrow` generator, strings written as plain UTF-8) as Parquet
//! files, publishes each as a product of a node of the domain `tpch`
//! started in this process (contract check and profile on, as any
//! publish), then runs the 22 queries through the node's SQL path (the one
//! `POST /v1/query` and `mesh query` use: table names resolved through the
//! catalog, the copies pinned, the plan on the `meshd-query` threads),
//! `--runs` times each (default 3), and the same queries through DuckDB
//! (`python3`, `pip install duckdb`) on the same files with as many
//! threads, the two engines taking turns run by run (A B A B) so that a
//! change in the machine's speed falls on both. Both answers are compared
//! cell by cell (numbers to a relative 1e-6). Prints a table (per query:
//! meshd's and DuckDB's median seconds, the ratio, whether the answers
//! agree) and one JSON line with the
//! figures, the geometric means and meshd's peak RSS (VmHWM, reset after
//! generation and publishing) against its memory limit (`--memory-mib`,
//! default 1024). `--set KEY=VALUE` (repeatable) applies a DataFusion
//! setting as `[query.settings]` in `meshd.toml` would. A query that
//! fails (beyond the memory budget at a large scale factor) is reported
//! as such and the others still run.
#![allow(
    clippy::cast_precision_loss,
    reason = "a measuring tool: figures are printed, not computed on"
)]

#[path = "../common/mod.rs"]
#[allow(dead_code, reason = "shared with the other examples")]
mod common;
mod duck;
mod queries;
mod tables;

use std::time::Instant;

use anyhow::{Context, ensure};
use serde_json::{Value, json};

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Whether two answers agree: same rows in the same order, numbers equal
/// to a relative 1e-6 (plus a cent), text equal.
fn agree(ours: &[Vec<Value>], theirs: &[Value]) -> Result<(), String> {
    if ours.len() != theirs.len() {
        return Err(format!("{} rows against {}", ours.len(), theirs.len()));
    }
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        let b = b.as_array().ok_or("DuckDB row is not an array")?;
        if a.len() != b.len() {
            return Err(format!("row {i}: {} cells against {}", a.len(), b.len()));
        }
        for (x, y) in a.iter().zip(b) {
            let same = match (number(x), number(y)) {
                (Some(p), Some(q)) => (p - q).abs() <= 1e-6 * p.abs().max(q.abs()) + 0.01,
                _ => text(x) == text(y),
            };
            if !same {
                return Err(format!("row {i}: {x} against {y}"));
            }
        }
    }
    Ok(())
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        // Decimals too wide for a JSON number arrive as text.
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim_end().to_owned(),
        other => other.to_string(),
    }
}

/// Runs query `sql` on the node: its rows as JSON values, the seconds
/// from resolving the tables to the last batch, and of those the seconds
/// until the plan was ready (tables resolved, copies pinned, planned).
async fn run(
    node: &mesh_node::NodeHandle,
    sql: &str,
) -> anyhow::Result<(Vec<Vec<Value>>, f64, f64)> {
    let t = Instant::now();
    let planned = node.sql(sql, false).await?;
    let plan_seconds = t.elapsed().as_secs_f64();
    let mut rows = planned.run(None)?;
    let mut batches = Vec::new();
    while let Some(batch) = rows.next().await {
        batches.push(batch?);
    }
    let seconds = t.elapsed().as_secs_f64();
    let mut out = Vec::new();
    for b in &batches {
        out.extend(mesh_query::json_rows(b)?);
    }
    Ok((out, seconds, plan_seconds))
}

/// One query's runs on the node.
struct Measured {
    /// Seconds of each run, resolving to last batch.
    seconds: Vec<f64>,
    /// Seconds of each run until the plan was ready.
    plan_seconds: Vec<f64>,
    /// The rows of the last run.
    rows: Vec<Vec<Value>>,
}

/// Runs every query of `list` `runs` times on the node and, turn about
/// after each run (A B A B), on DuckDB when it is there. Returns the
/// node's runs and DuckDB's as `{seconds, rows}` (or `{error}`) per query.
async fn measure(
    node: &mesh_node::NodeHandle,
    mut duck: Option<&mut duck::Duck>,
    list: &[Value],
    runs: usize,
) -> (Vec<Measured>, Vec<Value>) {
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for q in list {
        let sql = q["sql"].as_str().unwrap_or_default();
        let mut m = Measured {
            seconds: Vec::new(),
            plan_seconds: Vec::new(),
            rows: Vec::new(),
        };
        let (mut duck_seconds, mut duck_rows, mut duck_error) = (Vec::new(), Vec::new(), None);
        let mut failed = false;
        for _ in 0..runs {
            if !failed {
                match run(node, sql).await {
                    Ok((r, s, p)) => {
                        m.rows = r;
                        m.seconds.push(s);
                        m.plan_seconds.push(p);
                    }
                    // A query beyond the memory budget fails; the others run.
                    Err(e) => {
                        eprintln!("Q{} failed: {e:#}", q["n"]);
                        failed = true;
                        m.seconds = vec![f64::NAN];
                        m.plan_seconds = vec![f64::NAN];
                    }
                }
            }
            if let Some(d) = duck.as_deref_mut()
                && duck_error.is_none()
            {
                match d.run(sql) {
                    Ok((s, r)) => {
                        duck_seconds.push(s);
                        duck_rows = r;
                    }
                    Err(e) => duck_error = Some(format!("{e:#}")),
                }
            }
        }
        eprintln!(
            "Q{}: {:.3} s (planned in {:.3} s), DuckDB {:.3} s",
            q["n"],
            median(&m.seconds),
            median(&m.plan_seconds),
            median(&duck_seconds)
        );
        ours.push(m);
        theirs.push(match duck_error {
            Some(e) => json!({ "error": e }),
            None => json!({ "seconds": duck_seconds, "rows": duck_rows }),
        });
    }
    (ours, theirs)
}

/// Prints the per-query table; returns the JSON lines, the summed logs
/// of both sides' medians with the number compared, and whether every
/// answer agreed.
fn report(ours: &[Measured], theirs: &[Value]) -> (Vec<Value>, (f64, f64, u32), bool) {
    println!("query   meshd s   plan s  duckdb s   ratio  answers");
    let mut lines = Vec::new();
    let (mut log_ours, mut log_theirs, mut compared) = (0.0, 0.0, 0);
    let mut all_agree = true;
    for (i, m) in ours.iter().enumerate() {
        let (rows, mine, plan) = (&m.rows, median(&m.seconds), median(&m.plan_seconds));
        let other = theirs.get(i);
        let duck_s = other
            .and_then(|o| o["seconds"].as_array())
            .map(|s| median(&s.iter().filter_map(Value::as_f64).collect::<Vec<_>>()));
        let verdict = match other.and_then(|o| o["rows"].as_array()) {
            Some(r) => agree(rows, r),
            None => Err("no DuckDB answer".to_owned()),
        };
        all_agree &= verdict.is_ok();
        if let Some(d) = duck_s
            && mine.is_finite()
        {
            log_ours += mine.ln();
            log_theirs += d.ln();
            compared += 1;
        }
        println!(
            "Q{:<5} {mine:>8.3} {plan:>8.3}  {:>8}  {:>6}  {}",
            i + 1,
            duck_s.map_or("-".into(), |d| format!("{d:.3}")),
            duck_s.map_or("-".into(), |d| format!("{:.2}", mine / d)),
            verdict
                .as_ref()
                .map_or_else(|e| format!("DIFFER: {e}"), |()| "same".into())
        );
        lines.push(json!({
            "query": i + 1, "meshd_s": mine, "meshd_plan_s": plan, "duckdb_s": duck_s,
            "ratio": duck_s.map(|d| mine / d), "rows": rows.len(),
            "answers_agree": verdict.is_ok(),
        }));
    }
    (lines, (log_ours, log_theirs, compared), all_agree)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sf: f64 = arg(&args, "--sf").map_or(Ok(1.0), str::parse)?;
    let runs: usize = arg(&args, "--runs").map_or(Ok(3), str::parse)?;
    let memory_mib: u64 = arg(&args, "--memory-mib").map_or(Ok(1024), str::parse)?;
    ensure!(sf > 0.0 && runs > 0, "--sf and --runs must be positive");
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);

    let scratch = tempfile::tempdir()?;
    let t = Instant::now();
    let sizes = tables::generate(scratch.path(), sf)?;
    let bytes: u64 = sizes.iter().map(|(_, b, _)| b).sum();
    eprintln!(
        "generated TPC-H sf {sf}: {bytes} bytes of Parquet in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let mut config = mesh_node::Config::default();
    config.query.memory_limit_mib = memory_mib;
    // `--set KEY=VALUE` (repeatable): a `[query.settings]` entry.
    for pair in args
        .windows(2)
        .filter(|w| w[0] == "--set")
        .map(|w| w[1].as_str())
    {
        let (key, value) = pair
            .split_once('=')
            .context("--set takes KEY=VALUE (a DataFusion setting)")?;
        config
            .query
            .settings
            .insert(key.to_owned(), toml::Value::String(value.to_owned()));
    }
    config.validate()?;
    let config_settings = config.query.datafusion_settings()?;
    let (_dir, node) = common::start_node("tpch", config).await?;
    let t = Instant::now();
    for (table, _, fields) in &sizes {
        let mut draft = mesh_node::ProductDraft::new(
            table.clone(),
            format!("TPC-H {table}"),
            mesh_protocol::descriptor::Format::Parquet,
        );
        draft.schema.fields.clone_from(fields);
        let receipt = node
            .handle
            .publish(&scratch.path().join(format!("{table}.parquet")), draft)
            .await?;
        let profile = receipt.profile.context("no profile")?;
        ensure!(
            profile.conforms(),
            "{table} breaks its contract: {profile:?}"
        );
    }
    eprintln!("published 8 products in {:.1} s", t.elapsed().as_secs_f64());

    // DuckDB runs in its own process: the node's peak RSS is its own.
    let mut duck = duck::Duck::start(scratch.path(), threads);
    if let Err(e) = &duck {
        eprintln!("DuckDB is not there ({e:#}); meshd's times only");
    }
    let duck_version = duck.as_ref().ok().map(|d| d.version.clone());
    let duck_error = duck.as_ref().err().map(|e| format!("{e:#}"));
    let reset = common::reset_peak_rss();
    let rss_before = common::peak_rss_mib("self");
    let list: Vec<Value> = (1..=22)
        .filter_map(|n| queries::query(n, sf).map(|sql| json!({"n": n, "sql": sql})))
        .collect();
    let (ours, theirs) = measure(&node.handle, duck.as_mut().ok(), &list, runs).await;
    let peak_rss = common::peak_rss_mib("self");
    drop(duck);
    node.handle.shutdown().await;

    let (lines, geomeans, all_agree) = report(&ours, &theirs);
    let (log_ours, log_theirs, compared) = geomeans;
    let geo = |sum: f64| (sum / f64::from(compared.max(1))).exp();
    // meshd's own mean over the queries it answered, whatever DuckDB did.
    let answered: Vec<f64> = ours
        .iter()
        .map(|m| median(&m.seconds))
        .filter(|s| s.is_finite())
        .collect();
    let meshd_geomean =
        (answered.iter().map(|s| s.ln()).sum::<f64>() / answered.len().max(1) as f64).exp();
    let line = json!({
        "sf": sf,
        "parquet_bytes": bytes,
        "runs": runs,
        "threads": threads,
        "meshd_geomean_s": meshd_geomean,
        "meshd_answered": answered.len(),
        "meshd_geomean_over_compared_s": (compared > 0).then(|| geo(log_ours)),
        "duckdb_geomean_s": (compared > 0).then(|| geo(log_theirs)),
        "geomean_ratio": (compared > 0).then(|| geo(log_ours) / geo(log_theirs)),
        "all_answers_agree": all_agree,
        "peak_rss_mib": peak_rss,
        "rss_before_queries_mib": rss_before,
        "peak_rss_reset_before_queries": reset,
        "memory_limit_mib": memory_mib,
        "settings": config_settings,
        "duckdb_version": duck_version,
        "duckdb_error": duck_error,
        "interleaved": true,
        "queries": lines,
    });
    println!("{line}");
    Ok(())
}
