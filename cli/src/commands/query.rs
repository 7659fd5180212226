//! `mesh query`: SQL over data products. The inputs the node does not hold
//! are fetched first (verified and access-checked, with the progress bar of
//! `mesh fetch`); then the node runs the query and the result is printed as
//! a table, JSON (`--json`), CSV (`--csv`), or written to a file (`-o`).
//!
//! Exit codes: 2 for what the user typed wrong (a syntax error, an unknown
//! table or column, a type error), 1 for what failed (a denied input, the
//! memory budget).

use std::io::IsTerminal;
use std::path::PathBuf;

use mesh_node::api::query::{InputsAnswer, QueryAnswer};
use mesh_node::fetch::{FetchProgress, FetchState};
use serde_json::{Value, json};

use crate::args::QueryArgs;
use crate::connect::Api;
use crate::error::{CliError, CliResult};
use crate::output;

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
    user_errors(fetch_inputs(api, &args.sql, !json))?;
    let mut request = json!({ "sql": args.sql, "limit": args.limit });
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
