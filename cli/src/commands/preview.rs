//! `mesh preview`: the first rows of a product as a table (`--json`: the
//! columns and rows), read from the node's verified copy.
//!
//! A product the node does not hold is fetched into its store first
//! (verified and access-checked like any fetch). Fetching only the chunks a
//! preview needs is not built yet: the whole product is fetched.

use mesh_node::api::data::PreviewView;
use mesh_node::fetch::{FetchProgress, FetchState};
use serde_json::json;

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
        path.push_str(&format!("&version={v}"));
    }
    let shown: PreviewView = match api.get(&path) {
        Err(CliError::Api { code, .. }) if code == "not_held" => {
            let progress: FetchProgress = api.post(
                "/v1/fetches",
                &json!({ "product": id.to_string(), "version": args.version }),
            )?;
            let progress = super::fetch::follow(api, progress, &args.product.to_string(), !json)?;
            if progress.state != FetchState::Done {
                return Err(CliError::failed(format!(
                    "cannot preview {id}: its fetch failed: {}",
                    progress
                        .error
                        .unwrap_or_else(|| format!("{:?}", progress.state))
                )));
            }
            api.get(&path)?
        }
        other => other?,
    };
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
    crate::outln!(
        "({} rows of {} version {})",
        shown.rows.len(),
        args.product,
        shown.version
    );
    Ok(())
}
