//! `mesh query`: SQL over data products. The inputs the node does not hold
//! are fetched first (verified and access-checked, with the progress bar of
//! `mesh fetch`); then the node runs the query and the result is printed as
//! a table, JSON (`--json`), CSV (`--csv`), or written to a file (`-o`).
//!
//! With `--publish NAME` the result becomes a new version of a product of
//! this domain, its schema, classifications and lineage taken from the
//! query by the node.
//!
//! Every query runs under an id this command picks; Ctrl-C cancels it on
//! the node (`DELETE /v1/queries/{id}`), which stops it and removes its
//! temporary files, and the command exits 130.
//!
//! Exit codes: 2 for what the user typed wrong (a syntax error, an unknown
//! table or column, a type error), 1 for what failed (a denied input, the
//! memory budget, a federation rule the derived product breaks), 130 when
//! interrupted.

use std::io::IsTerminal;
use std::path::PathBuf;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mesh_node::api::query::{InputsAnswer, QueryAnswer};
use mesh_node::draft::ProductDraft;
use mesh_node::fetch::{FetchProgress, FetchState};
use serde_json::{Value, json};

use crate::args::QueryArgs;
use crate::connect::Api;
use crate::draft_parts::DraftParts;
use crate::error::{CliError, CliResult};
use crate::output;

/// How long an interrupted command waits for the node to confirm the
/// cancellation before it exits anyway.
const CANCEL_GRACE: Duration = Duration::from_secs(10);

/// Rows a table on a terminal shows unless `--limit` says otherwise.
const TERMINAL_ROWS: u64 = 100;

/// API error codes that mean the statement is wrong.
const USER_CODES: &[&str] = &[
    "bad_query",
    "unknown_table",
    "unknown_version",
    "ambiguous_domain",
];

pub(super) fn run(api: &Api, args: &QueryArgs, json: bool) -> CliResult<()> {
    if args.sql.trim().is_empty() {
        return Err(CliError::usage("the query is empty"));
    }
    if args.csv && (json || args.output.is_some()) {
        return Err(CliError::usage(
            "--csv prints CSV; it does not go with --json or -o",
        ));
    }
    let output = args.output.as_deref().map(absolute).transpose()?;
    let draft = args
        .publish
        .as_ref()
        .map(|name| derived_draft(args, name))
        .transpose()?;
    if draft.is_some()
        && (args.csv || args.explain || args.output.is_some() || args.limit.is_some())
    {
        return Err(CliError::usage(
            "--publish writes the whole result as a product; it does not go with --csv, --explain, -o or --limit",
        ));
    }
    user_errors(fetch_inputs(api, &args.sql, !json))?;
    let id = format!("mesh-{}-{:08x}", std::process::id(), rand_suffix());
    let interrupted = cancel_on_interrupt(api, &id);
    let result = run_query(api, args, json, output.as_deref(), draft, &id);
    if interrupted.load(Ordering::SeqCst) {
        return Err(CliError::Interrupted(
            "interrupted: the query was cancelled on the node and its temporary files removed"
                .into(),
        ));
    }
    result
}

fn run_query(
    api: &Api,
    args: &QueryArgs,
    json: bool,
    output: Option<&std::path::Path>,
    draft: Option<ProductDraft>,
    id: &str,
) -> CliResult<()> {
    let mut request = json!({ "sql": args.sql, "limit": args.limit, "id": id });
    if let Some(draft) = draft {
        request["publish"] = json!(draft);
        request["limit"] = Value::Null;
        let answer: QueryAnswer = user_errors(api.post("/v1/query", &request))?;
        if json {
            return output::json(&answer);
        }
        published(&answer);
        return Ok(());
    }
    if args.explain {
        request["explain"] = json!(true);
        let answer: QueryAnswer = user_errors(api.post("/v1/query", &request))?;
        if json {
            return output::json(&answer);
        }
        crate::outln!("{}", answer.plan.unwrap_or_default());
        return Ok(());
    }
    if let Some(path) = &output {
        request["output"] = json!(path);
        let answer: QueryAnswer = user_errors(api.post("/v1/query", &request))?;
        if json {
            return output::json(&answer);
        }
        notes(&answer.notes);
        crate::outln!(
            "wrote {} rows to {}",
            answer.rows_written.unwrap_or(0),
            path.display()
        );
        return Ok(());
    }
    if args.csv {
        request["format"] = json!("csv");
        let bytes = user_errors(api.post_bytes("/v1/query", &request))?;
        output::write_stdout(&String::from_utf8_lossy(&bytes));
        return Ok(());
    }
    let terminal = std::io::stdout().is_terminal();
    if args.limit.is_none() && terminal && !json {
        request["limit"] = json!(TERMINAL_ROWS);
    }
    let answer: QueryAnswer = user_errors(api.post("/v1/query", &request))?;
    if json {
        return output::json(&answer);
    }
    let header: Vec<String> = answer
        .columns
        .iter()
        .map(|c| output::printable(&c.name))
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = answer
        .rows
        .iter()
        .map(|r| r.iter().map(cell).collect())
        .collect();
    crate::out!("{}", output::table(&header, &rows));
    if answer.truncated {
        crate::outln!(
            "({} rows shown; more not shown: use --limit N, --csv or -o FILE)",
            answer.rows.len()
        );
    } else {
        crate::outln!("({} rows)", answer.rows.len());
    }
    notes(&answer.notes);
    Ok(())
}

/// Fetches every input the node does not hold, each with its progress bar.
fn fetch_inputs(api: &Api, sql: &str, show_bar: bool) -> CliResult<()> {
    let inputs: InputsAnswer = api.post("/v1/query/inputs", &json!({ "sql": sql }))?;
    for input in inputs.inputs.iter().filter(|i| !i.held) {
        let progress: FetchProgress = api.post(
            "/v1/fetches",
            &json!({ "product": input.product, "version": input.version }),
        )?;
        let progress = super::fetch::follow(api, progress, &input.table, show_bar)?;
        if progress.state != FetchState::Done {
            return Err(CliError::failed(progress.error.unwrap_or_else(|| {
                format!("fetching {} for the query failed", input.table)
            })));
        }
    }
    Ok(())
}

/// The draft of a derived product from the flags and `--descriptor`;
/// its schema and lineage are the node's to fill in.
fn derived_draft(args: &QueryArgs, name: &str) -> CliResult<ProductDraft> {
    let mut parts = DraftParts::default();
    let mut extras = crate::standards::Extras::default();
    if let Some(path) = &args.descriptor {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::usage(format!("cannot read descriptor {}: {e}", path.display()))
        })?;
        let origin = path.display().to_string();
        crate::mesh_yaml::import_with(&text, &origin, &mut parts, &mut extras)?;
        if parts.schema.is_some() || !parts.lineage.is_empty() || extras.csv.is_some() {
            return Err(CliError::usage(format!(
                "{origin}: a derived product's schema and lineage come from the query; remove them from the descriptor"
            )));
        }
    }
    parts.name = Some(name.to_owned());
    if let Some(title) = &args.title {
        parts.title = Some(title.clone());
    }
    if let Some(description) = &args.description {
        parts.description = Some(description.clone());
    }
    parts.tags.extend(args.tags.iter().cloned());
    let format = args.format.as_deref().unwrap_or("parquet");
    let format = format
        .parse()
        .map_err(|e| CliError::usage(format!("--format {format}: {e}")))?;
    if !matches!(
        format,
        mesh_protocol::descriptor::Format::Parquet | mesh_protocol::descriptor::Format::Arrow
    ) {
        return Err(CliError::usage(format!(
            "--format {format}: a query's result is published as parquet or arrow"
        )));
    }
    parts.format = Some(format);
    let mut draft = parts.into_draft(std::path::Path::new("result.parquet"))?;
    extras.apply(&mut draft);
    mesh_protocol::descriptor::check_name(&draft.name)
        .map_err(|e| CliError::usage(format!("--publish {name}: {e}")))?;
    Ok(draft)
}

/// What `--publish` made, in a few lines.
fn published(answer: &QueryAnswer) {
    let Some(receipt) = &answer.published else {
        return;
    };
    crate::outln!(
        "published {} version {}: {} rows, {}",
        receipt.product,
        receipt.version,
        answer.rows_written.unwrap_or(0),
        output::bytes(receipt.size)
    );
    let inputs: Vec<String> = answer
        .inputs
        .iter()
        .map(|i| format!("{}@{}", i.table, i.version))
        .collect();
    crate::outln!("lineage: {}", inputs.join(", "));
    for c in &answer.columns {
        crate::outln!(
            "  {} {}{}",
            output::printable(&c.name),
            c.classification.as_deref().unwrap_or("unclassified"),
            if c.sources.is_empty() {
                String::new()
            } else {
                format!(" (from {})", c.sources.join(", "))
            }
        );
    }
    if let Some(p) = &receipt.profile
        && !p.conforms()
    {
        eprintln!(
            "note: its data breaks the contract derived for it ({} violations); see `mesh check`",
            p.violation_count()
        );
    }
    notes(&answer.notes);
}

/// On Ctrl-C, asks the node to cancel query `id`; the flag says it
/// happened. If the node does not answer the running request within
/// [`CANCEL_GRACE`], the process exits 130 on its own.
fn cancel_on_interrupt(api: &Api, id: &str) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&flag);
    let api = api.clone();
    let path = format!("/v1/queries/{id}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build();
    let Ok(runtime) = runtime else {
        return flag;
    };
    // The handler is installed before the query starts, so an early
    // Ctrl-C cancels rather than kills.
    let signal = runtime.block_on(async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
    });
    let Ok(mut signal) = signal else {
        return flag;
    };
    std::thread::spawn(move || {
        if runtime.block_on(signal.recv()).is_some() {
            seen.store(true, Ordering::SeqCst);
            eprintln!("mesh: cancelling the query…");
            let _ = api.delete_empty(&path);
            std::thread::sleep(CANCEL_GRACE);
            std::process::exit(130);
        }
    });
    flag
}

fn rand_suffix() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    t ^ std::process::id().rotate_left(16)
}

/// An API error about the statement is a usage error (exit 2).
fn user_errors<T>(result: CliResult<T>) -> CliResult<T> {
    result.map_err(|e| match e {
        CliError::Api { code, message, .. } if USER_CODES.contains(&code.as_str()) => {
            CliError::usage(message)
        }
        other => other,
    })
}

fn notes(notes: &[String]) {
    for n in notes {
        eprintln!("note: {n}");
    }
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => "NULL".to_owned(),
        Value::String(s) => output::printable(s),
        other => output::printable(&other.to_string()),
    }
}

/// `path` made absolute (the node writes it), named for a format the
/// node writes.
fn absolute(path: &std::path::Path) -> CliResult<PathBuf> {
    let known = ["parquet", "csv", "jsonl", "ndjson", "arrow"];
    if !path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| known.contains(&e.to_ascii_lowercase().as_str()))
    {
        return Err(CliError::usage(format!(
            "-o {}: name a .parquet, .csv, .jsonl or .arrow file",
            path.display()
        )));
    }
    super::fetch::absolute(path)
}
