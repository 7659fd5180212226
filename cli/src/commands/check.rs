//! `mesh check`: the contract check re-run on the node's verified copy of a
//! product (fetched into the node's store first when it holds none), with
//! every violation, and how the result compares with the profile the
//! owner signed.
//!
//! Exit codes: 0 when the data keeps its contract, 1 when it breaks it (or
//! the check could not run), 2 for a usage error.

use mesh_node::fetch::{FetchProgress, FetchState};
use mesh_node::profiling::{CheckReport, ProfileCheck};
use mesh_protocol::profile::Profile;
use serde_json::json;
use std::fmt::Write as _;

use crate::args::CheckArgs;
use crate::connect::Api;
use crate::error::{CliError, CliResult};

pub(super) fn run(api: &Api, args: &CheckArgs, json: bool) -> CliResult<()> {
    let id = args.product.resolve(api)?;
    let ask = || -> CliResult<CheckReport> {
        api.post(
            "/v1/check",
            &json!({ "product": id.to_string(), "version": args.version }),
        )
    };
    let report = match ask() {
        Err(CliError::Api { code, .. }) if code == "not_held" => {
            // The node holds no copy: fetch one into its store (verified and
            // access-checked like any fetch), then check it.
            let progress: FetchProgress = api.post(
                "/v1/fetches",
                &json!({ "product": id.to_string(), "version": args.version }),
            )?;
            let progress = super::fetch::follow(api, progress, &args.product.to_string(), !json)?;
            if progress.state != FetchState::Done {
                return Err(CliError::failed(format!(
                    "cannot check {id}: its fetch failed: {}",
                    progress
                        .error
                        .unwrap_or_else(|| format!("{:?}", progress.state))
                )));
            }
            ask()?
        }
        other => other?,
    };
    if json {
        crate::output::json(&report)?;
    } else {
        crate::out!("{}", text(&args.product.to_string(), &report));
    }
    if report.conforms {
        Ok(())
    } else {
        Err(CliError::failed(format!(
            "{} version {} breaks its contract ({} violations)",
            args.product,
            report.version,
            report.profile.violation_count()
        )))
    }
}

/// The verdict in words: one line, then every violation, then notes and
/// the comparison with the signed profile.
fn text(product: &str, report: &CheckReport) -> String {
    let p = &report.profile;
    let mut out = if report.conforms {
        format!(
            "{product} version {}: conforms to its contract ({} rows)\n",
            report.version, p.rows
        )
    } else {
        format!(
            "{product} version {}: CONTRACT BROKEN ({}) over {} rows\n",
            report.version,
            p.violation_count(),
            p.rows
        )
    };
    out.push_str(&violations(p));
    out.push_str(match report.signed {
        ProfileCheck::Matches => "signed profile: matches the one computed here\n",
        ProfileCheck::Disputed => {
            "signed profile: DISPUTED, the owner signed another profile than its bytes give (evidence kept)\n"
        }
        ProfileCheck::NotProfiled => "signed profile: none (not profiled by its owner)\n",
        ProfileCheck::OtherMethod => "signed profile: made with other rules; not compared\n",
        ProfileCheck::NotChecked => "signed profile: not compared (this node could not recompute it)\n",
    });
    out
}

/// Every violation and note, one per line, indented.
pub(crate) fn violations(p: &Profile) -> String {
    let mut out = String::new();
    for v in &p.violations {
        out.push_str("  violation: ");
        out.push_str(&crate::output::printable(&v.to_string()));
        out.push('\n');
    }
    if p.more_violations > 0 {
        let _ = writeln!(out, "  ... and {} more violations", p.more_violations);
    }
    for n in &p.notes {
        out.push_str("  note: ");
        out.push_str(&crate::output::printable(n));
        out.push('\n');
    }
    out
}
