//! `mesh withdraw` and `mesh deprecate`: changes only a product's owner can
//! make, so they name one of this node's own products.

use mesh_node::node::Status;
use serde::Deserialize;
use serde_json::json;

use crate::args::{DeprecateArgs, WithdrawArgs};
use crate::connect::{Api, encode_query};
use crate::error::{CliError, CliResult};
use crate::output;
use crate::product_ref::ProductRef;

#[derive(Deserialize)]
struct Version {
    version: u64,
}

/// The product name, checked to be of this node's domain.
pub(super) fn own_name(api: &Api, given: &str) -> CliResult<(Status, String)> {
    let status: Status = api.get("/v1/status")?;
    let Some((domain, _)) = given.split_once('/') else {
        return Ok((status, given.to_owned()));
    };
    let product: ProductRef = given.parse().map_err(CliError::usage)?;
    if domain != status.domain_name && domain != status.domain_id {
        return Err(CliError::usage(format!(
            "{given} is not a product of this node's domain {}; only a product's owner can change it",
            status.domain_name
        )));
    }
    Ok((status, product.name))
}

fn report(status: &Status, name: &str, verb: &str, version: u64, json: bool) -> CliResult<()> {
    let product = format!("{}/{name}", status.domain_id);
    if json {
        return output::json(&json!({ "product": product, "version": version }));
    }
    crate::outln!(
        "{verb} {}/{name} (version {version}); every node will see it within seconds",
        status.domain_name
    );
    Ok(())
}

pub(super) fn withdraw(api: &Api, args: &WithdrawArgs, json: bool) -> CliResult<()> {
    let (status, name) = own_name(api, &args.product)?;
    let v: Version = api.post(
        &format!("/v1/own/{}/withdraw", encode_query(&name)),
        &json!({ "reason": args.reason }),
    )?;
    report(&status, &name, "withdrew", v.version, json)
}

pub(super) fn deprecate(api: &Api, args: &DeprecateArgs, json: bool) -> CliResult<()> {
    let (status, name) = own_name(api, &args.product)?;
    let successor = match &args.successor {
        Some(s) => Some(s.resolve(api)?.to_string()),
        None => None,
    };
    let v: Version = api.post(
        &format!("/v1/own/{}/deprecate", encode_query(&name)),
        &json!({ "reason": args.reason, "successor": successor }),
    )?;
    report(&status, &name, "deprecated", v.version, json)
}
