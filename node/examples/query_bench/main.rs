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
//! threads. Both answers are compared cell by cell (numbers to a relative
//! 1e-6). Prints a table (per query: meshd's and DuckDB's median seconds,
//! the ratio, whether the answers agree) and one JSON line with the
//! figures, the geometric means and meshd's peak RSS (VmHWM, reset after
//! generation and publishing) against its memory limit (`--memory-mib`,
//! default 1024). A query that fails (beyond the memory budget at a large
//! scale factor) is reported as such and the others still run.
#![allow(
    clippy::cast_precision_loss,
    reason = "a measuring tool: figures are printed, not computed on"
)]

#[path = "../common/mod.rs"]
#[allow(dead_code, reason = "shared with the other examples")]
mod common;
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

/// Runs query `sql` on the node: its rows as JSON values and the seconds
/// from resolving the tables to the last batch.
async fn run(node: &mesh_node::NodeHandle, sql: &str) -> anyhow::Result<(Vec<Vec<Value>>, f64)> {
    let t = Instant::now();
    let mut rows = node.sql(sql, false).await?.run(None)?;
    let mut batches = Vec::new();
    while let Some(batch) = rows.next().await {
        batches.push(batch?);
    }
    let seconds = t.elapsed().as_secs_f64();
    let mut out = Vec::new();
    for b in &batches {
        out.extend(mesh_query::json_rows(b)?);
    }
    Ok((out, seconds))
}

/// Runs every query of `list` `runs` times on the node: each one's
/// seconds and the rows of its last run.
async fn measure(
    node: &mesh_node::NodeHandle,
    list: &[Value],
    runs: usize,
) -> anyhow::Result<Vec<(Vec<f64>, Vec<Vec<Value>>)>> {
    let mut ours = Vec::new();
    for q in list {
        let sql = q["sql"].as_str().unwrap_or_default();
        let mut seconds = Vec::new();
        let mut rows = Vec::new();
        for _ in 0..runs {
            match run(node, sql).await {
                Ok((r, s)) => {
                    rows = r;
                    seconds.push(s);
                }
                // A query beyond the memory budget fails; the others run.
                Err(e) => {
                    eprintln!("Q{} failed: {e:#}", q["n"]);
                    seconds = vec![f64::NAN];
                    break;
                }
            }
        }
        eprintln!("Q{}: {:.3} s", q["n"], median(&seconds));
        ours.push((seconds, rows));
    }
    Ok(ours)
}

/// Prints the per-query table; returns the JSON lines, the summed logs
/// of both sides' medians with the number compared, and whether every
/// answer agreed.
fn report(
    ours: &[(Vec<f64>, Vec<Vec<Value>>)],
    theirs: &[Value],
) -> (Vec<Value>, (f64, f64, u32), bool) {
    println!("query   meshd s  duckdb s   ratio  answers");
    let mut lines = Vec::new();
    let (mut log_ours, mut log_theirs, mut compared) = (0.0, 0.0, 0);
    let mut all_agree = true;
    for (i, (seconds, rows)) in ours.iter().enumerate() {
        let mine = median(seconds);
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
            "Q{:<5} {mine:>8.3}  {:>8}  {:>6}  {}",
            i + 1,
            duck_s.map_or("-".into(), |d| format!("{d:.3}")),
            duck_s.map_or("-".into(), |d| format!("{:.2}", mine / d)),
            verdict
                .as_ref()
                .map_or_else(|e| format!("DIFFER: {e}"), |()| "same".into())
        );
        lines.push(json!({
            "query": i + 1, "meshd_s": mine, "duckdb_s": duck_s,
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

    let reset = common::reset_peak_rss();
    let rss_before = common::peak_rss_mib("self");
    let list: Vec<Value> = (1..=22)
        .filter_map(|n| queries::query(n, sf).map(|sql| json!({"n": n, "sql": sql})))
        .collect();
    let ours = measure(&node.handle, &list, runs).await?;
    let peak_rss = common::peak_rss_mib("self");
    node.handle.shutdown().await;

    let queries_file = scratch.path().join("queries.json");
    std::fs::write(&queries_file, serde_json::to_vec(&list)?)?;
    let duck = common::python(
        include_str!("duck.py"),
        &[
            scratch.path().as_os_str(),
            queries_file.as_os_str(),
            std::ffi::OsStr::new(&runs.to_string()),
            std::ffi::OsStr::new(&threads.to_string()),
        ],
    );
    let theirs = duck["queries"].as_array().cloned().unwrap_or_default();

    let (lines, geomeans, all_agree) = report(&ours, &theirs);
    let (log_ours, log_theirs, compared) = geomeans;
    let geo = |sum: f64| (sum / f64::from(compared.max(1))).exp();
    // meshd's own mean over the queries it answered, whatever DuckDB did.
    let answered: Vec<f64> = ours
        .iter()
        .map(|(s, _)| median(s))
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
        "duckdb_version": duck.get("version"),
        "duckdb_error": duck.get("error"),
        "queries": lines,
    });
    println!("{line}");
    Ok(())
}
