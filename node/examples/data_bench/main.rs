//! Publish throughput of a data product with its contract check and profile
//! on, against the same publish with them off, and against DuckDB running
//! the same checks as SQL on the same file.
//!
//! ```text
//! cargo run --release -p mesh-node --example data_bench -- --format csv --bytes 1073741824
//! cargo run --release -p mesh-node --example data_bench -- --format parquet --bytes 1073741824
//! ```
//!
//! A child process (this binary again) writes a file of about N bytes, ten
//! columns of mixed types with a few deliberate violations, so generating
//! it does not count in this process's memory. Then a node started in this
//! process with its own temp data dir publishes it declared with its
//! schema and constraints (the check and the profile run while it is
//! hashed), and a fresh node publishes the same bytes declared as a format
//! meshd does not read (`Other("raw")`: hashing and storing only). DuckDB
//! (`python3 -c 'import duckdb'`) then runs the checks as one SQL query.
//! Prints one JSON line: seconds and MB/s of both publishes, the process's
//! peak RSS (VmHWM, reset after start-up where the kernel allows) during
//! the checked one, DuckDB's seconds, and the ratio.
#![allow(
    clippy::cast_precision_loss,
    reason = "a measuring tool: figures are printed, not computed on"
)]

#[path = "../common/mod.rs"]
#[allow(dead_code, reason = "shared with the other examples")]
mod common;
mod generate;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use mesh_node::{ProductDraft, PublishReceipt};
use mesh_protocol::descriptor::Format;
use serde_json::{Value, json};

/// Publishes `file` as `draft` on a fresh node; the receipt and seconds.
async fn publish(file: &Path, draft: ProductDraft) -> anyhow::Result<(PublishReceipt, f64)> {
    let (_dir, node) = common::start_node("bench", mesh_node::Config::default()).await?;
    let t = Instant::now();
    let receipt = node.handle.publish(file, draft).await?;
    let seconds = t.elapsed().as_secs_f64();
    node.handle.shutdown().await;
    node.task.await??;
    Ok((receipt, seconds))
}

/// Runs the DuckDB script on `file`: its JSON answer, or a note.
fn duckdb(file: &Path, format: &str) -> Value {
    common::python(
        include_str!("duck.py"),
        &[file.as_os_str(), std::ffi::OsStr::new(format)],
    )
}

/// The violation counts of a profile, keyed `field/Check`.
fn violations(receipt: &PublishReceipt) -> BTreeMap<String, u64> {
    receipt
        .profile
        .iter()
        .flat_map(|p| &p.violations)
        .map(|v| {
            let field = v.field.as_deref().unwrap_or("*");
            (format!("{field}/{:?}", v.check), v.count)
        })
        .collect()
}

/// Whether meshd's counts are DuckDB's, for what both count.
fn agree(receipt: &PublishReceipt, duck: &Value) -> Option<bool> {
    let profile = receipt.profile.as_ref()?;
    let mine = violations(receipt);
    let count = |key: &str| mine.get(key).copied().unwrap_or(0);
    let duck = |key: &str| duck.get(key).and_then(Value::as_u64);
    let note_nulls = profile
        .fields
        .iter()
        .find(|f| f.name == "note")
        .map(|f| f.nulls);
    Some(
        duck("rows")? == profile.rows
            && duck("pattern_code")? == count("code/Pattern")
            && duck("allowed_status")? == count("status/AllowedValues")
            && duck("range_qty")? == count("qty/Max") + count("qty/Min")
            && duck("range_day")? == count("day/Max") + count("day/Min")
            && duck("range_price")? == count("price/Max") + count("price/Min")
            && Some(duck("nulls_note")?) == note_nulls,
    )
}

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let format = arg(&args, "--format").unwrap_or("csv").to_owned();
    let bytes: u64 = arg(&args, "--bytes")
        .map_or(Ok(1 << 30), str::parse)
        .context("--bytes takes a number")?;
    let declared = match format.as_str() {
        "csv" => Format::Csv,
        "parquet" => Format::Parquet,
        other => bail!("unknown format {other}; use csv or parquet"),
    };
    if let Some(path) = arg(&args, "--generate-into") {
        // The child: write the file, print its rows.
        let rows = match declared {
            Format::Csv => generate::csv(Path::new(path), bytes)?,
            _ => generate::parquet(Path::new(path), bytes)?,
        };
        println!("{rows}");
        return Ok(());
    }

    let scratch = tempfile::tempdir()?;
    let file = scratch.path().join(format!("data.{format}"));
    let t = Instant::now();
    let child = Command::new(std::env::current_exe()?)
        .args(["--format", &format, "--bytes", &bytes.to_string()])
        .arg("--generate-into")
        .arg(&file)
        .output()?;
    ensure!(
        child.status.success(),
        "generating the file failed: {}",
        String::from_utf8_lossy(&child.stderr)
    );
    let rows: u64 = String::from_utf8_lossy(&child.stdout).trim().parse()?;
    let size = std::fs::metadata(&file)?.len();
    eprintln!(
        "generated {size} bytes, {rows} rows in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let reset = common::reset_peak_rss();
    let rss_at_start = common::peak_rss_mib("self");
    let (schema, quality) = generate::contract();
    let mut draft = ProductDraft::new("bench", "Data bench", declared);
    draft.schema = schema;
    draft.quality = quality;
    let (checked, seconds) = publish(&file, draft).await?;
    let peak_rss = common::peak_rss_mib("self");
    let profile = checked
        .profile
        .as_ref()
        .context("the checked publish has no profile")?;
    ensure!(
        profile.rows == rows,
        "profiled {} rows of {rows}",
        profile.rows
    );
    eprintln!("checked publish: {seconds:.2} s");

    let off_as = Format::Other("raw".into());
    let (unchecked, off_seconds) =
        publish(&file, ProductDraft::new("bench", "Data bench", off_as)).await?;
    ensure!(
        unchecked.profile.is_none(),
        "the unchecked publish profiled"
    );
    ensure!(unchecked.size == size, "published {} bytes", unchecked.size);
    eprintln!("unchecked publish: {off_seconds:.2} s");

    let duck = duckdb(&file, &format);
    let duck_seconds = duck.get("seconds").and_then(Value::as_f64);
    let mb = |s: f64| size as f64 / s / 1e6;
    let mut line = json!({
        "format": format,
        "bytes": size,
        "rows": rows,
        "seconds": seconds,
        "mb_per_s": mb(seconds),
        "peak_rss_mib": peak_rss,
        "rss_before_publish_mib": rss_at_start,
        "peak_rss_reset_after_generation": reset,
        "checks_off_as": "the same bytes declared Format::Other(\"raw\"), which meshd does not read: hashed and stored, no check, no profile",
        "checks_off_seconds": off_seconds,
        "checks_off_mb_per_s": mb(off_seconds),
        "conforms": profile.conforms(),
        "violations": violations(&checked),
        "notes": profile.notes,
        "duckdb_seconds": duck_seconds,
        "duckdb_mb_per_s": duck_seconds.map(mb),
        "meshd_over_duckdb_seconds": duck_seconds.map(|d| seconds / d),
        "duckdb_counts_agree": agree(&checked, &duck),
        "duckdb_threads": duck.get("threads"),
    });
    if let Some(error) = duck.get("error") {
        line["note"] = json!(format!(
            "{error}; install it with `pip install duckdb` to compare"
        ));
    }
    println!("{line}");
    Ok(())
}
