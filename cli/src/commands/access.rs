//! `mesh request`, `mesh requests`, `mesh grant`, `mesh deny`, `mesh
//! revoke`: the access life cycle of owner-granted products, as the asking
//! domain and the owning domain each see it.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::lifecycle::own_name;
use crate::args::{DenyArgs, GrantArgs, RequestArgs, RequestsArgs, RevokeArgs};
use crate::connect::{Api, encode_query};
use crate::error::{CliError, CliResult};
use crate::output;
use crate::standards::rfc3339;

/// One `(product, domain)` pair as the node reports it (`/v1/access`).
#[derive(Serialize, Deserialize)]
struct AccessView {
    product: String,
    product_name: String,
    owner: String,
    owner_name: Option<String>,
    domain: String,
    domain_name: Option<String>,
    direction: String,
    state: String,
    can_read: bool,
    reason: Option<String>,
    denial_reason: Option<String>,
    requested_at_ms: Option<u64>,
    decided_at_ms: Option<u64>,
    expires_at_ms: Option<u64>,
}

impl AccessView {
    fn product_label(&self) -> String {
        let owner = self
            .owner_name
            .clone()
            .unwrap_or_else(|| self.owner.clone());
        format!("{owner}/{}", self.product_name)
    }

    fn domain_label(&self) -> String {
        match &self.domain_name {
            Some(name) => format!("{name} ({})", &self.domain[..8.min(self.domain.len())]),
            None => self.domain.clone(),
        }
    }

    /// The state with what matters about it: expiry, denial reason.
    fn state_label(&self) -> String {
        match (self.state.as_str(), self.expires_at_ms, &self.denial_reason) {
            ("granted", Some(at), _) => format!("granted until {}", rfc3339(at)),
            ("expired", Some(at), _) => format!("expired at {}", rfc3339(at)),
            ("denied", _, Some(reason)) if !reason.is_empty() => format!("denied: {reason}"),
            (state, _, _) => state.to_owned(),
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn print_one(view: &AccessView, json: bool, line: &str) -> CliResult<()> {
    if json {
        return output::json(view);
    }
    crate::outln!("{line}");
    Ok(())
}

pub(super) fn request(api: &Api, args: &RequestArgs, json: bool) -> CliResult<()> {
    if args.reason.trim().is_empty() {
        return Err(CliError::usage(
            "--reason must say why this domain needs the data; the owner reads it",
        ));
    }
    let product = args.product.resolve(api)?;
    let view: AccessView = api.post(
        "/v1/access/requests",
        &json!({ "product": product.to_string(), "reason": args.reason }),
    )?;
    print_one(
        &view,
        json,
        &format!(
            "asked {} for access to {}; follow it with `mesh requests --outgoing`",
            view.owner_name.as_deref().unwrap_or(&view.owner),
            view.product_label()
        ),
    )
}

pub(super) fn list(api: &Api, args: &RequestsArgs, json: bool) -> CliResult<()> {
    let mut query = Vec::new();
    if args.incoming {
        query.push("direction=incoming");
    }
    if args.outgoing {
        query.push("direction=outgoing");
    }
    if args.pending {
        query.push("pending=true");
    }
    let path = if query.is_empty() {
        "/v1/access".to_owned()
    } else {
        format!("/v1/access?{}", query.join("&"))
    };
    let views: Vec<AccessView> = api.get(&path)?;
    if json {
        return output::json(&views);
    }
    if views.is_empty() {
        crate::outln!(
            "no access requests or grants; ask for one with `mesh request DOMAIN/NAME --reason ...`"
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = views
        .iter()
        .map(|v| {
            vec![
                v.direction.clone(),
                v.product_label(),
                v.domain_label(),
                v.state_label(),
                v.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    crate::out!(
        "{}",
        output::table(
            &["DIRECTION", "PRODUCT", "DOMAIN", "STATE", "REASON"],
            &rows
        )
    );
    Ok(())
}

fn decide(api: &Api, product: &str, body: &serde_json::Value) -> CliResult<AccessView> {
    let (_, name) = own_name(api, product)?;
    api.post(&format!("/v1/own/{}/access", encode_query(&name)), body)
}

pub(super) fn grant(api: &Api, args: &GrantArgs, json: bool) -> CliResult<()> {
    let expires_at_ms = match &args.expires {
        Some(text) => {
            let secs = crate::duration::secs("--expires", text)?;
            Some(now_ms().saturating_add(secs.saturating_mul(1000)))
        }
        None => None,
    };
    let view = decide(
        api,
        &args.product,
        &json!({ "domain": args.domain, "action": "grant", "expires_at_ms": expires_at_ms }),
    )?;
    let until = view.expires_at_ms.map_or_else(
        || " until revoked".to_owned(),
        |at| format!(" until {}", rfc3339(at)),
    );
    print_one(
        &view,
        json,
        &format!(
            "granted {} read access to {}{until}",
            view.domain_label(),
            view.product_label()
        ),
    )
}

pub(super) fn deny(api: &Api, args: &DenyArgs, json: bool) -> CliResult<()> {
    let view = decide(
        api,
        &args.product,
        &json!({ "domain": args.domain, "action": "deny", "reason": args.reason }),
    )?;
    print_one(
        &view,
        json,
        &format!(
            "denied {} access to {}",
            view.domain_label(),
            view.product_label()
        ),
    )
}

pub(super) fn revoke(api: &Api, args: &RevokeArgs, json: bool) -> CliResult<()> {
    let view = decide(
        api,
        &args.product,
        &json!({ "domain": args.domain, "action": "revoke" }),
    )?;
    print_one(
        &view,
        json,
        &format!(
            "revoked {}'s access to {}; its nodes are refused from now on",
            view.domain_label(),
            view.product_label()
        ),
    )
}
