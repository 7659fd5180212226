//! `mesh preview`: the first rows of a product as a table (`--json`: the
//! columns and rows), read from the node's verified copy, or, for a product
//! the node does not hold, from only the chunks those rows need (fetched,
//! verified and access-checked like any fetch; the product stays unfetched).

use mesh_node::api::data::PreviewView;
use std::fmt::Write as _;

use crate::args::PreviewArgs;
use crate::connect::{Api, encode_query};
use crate::error::{CliError, CliResult};
use crate::output;

pub(super) fn run(api: &Api, args: &PreviewArgs, json: bool) -> CliResult<()> {
    if args.rows == 0 || args.rows > 1000 {
        return Err(CliError::usage("--rows must be between 1 and 1000"));
    }
    let id = args.product.resolve(api)?;
    let mut path = format!(
        "/v1/preview?product={}&rows={}",
        encode_query(&id.to_string()),
        args.rows
    );
    if let Some(v) = args.version {
        let _ = write!(path, "&version={v}");
    }
    let shown: PreviewView = api.get(&path)?;
    if json {
        return output::json(&shown);
    }
    let header: Vec<String> = shown.columns.iter().map(|c| output::printable(c)).collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = shown
        .rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| {
                    c.as_deref()
                        .map_or_else(|| "NULL".to_owned(), output::printable)
                })
                .collect()
        })
        .collect();
    crate::out!("{}", output::table(&header, &rows));
    let source = if shown.held {
        String::new()
    } else {
        format!(
            "; read from {} of its {} chunks",
            shown.chunks_held, shown.chunks_total
        )
    };
    crate::outln!(
        "({} rows of {} version {}{source})",
        shown.rows.len(),
        args.product,
        shown.version
    );
    Ok(())
}
