//! The access page: requests other domains made for this domain's
//! owner-granted products, with grant / deny / revoke, and this domain's
//! own requests with their state.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use axum::{Extension, Form};
use maud::{Markup, html};
use mesh_protocol::Timestamp;
use mesh_protocol::access::Verdict;
use serde::Deserialize;

use super::Page;
use super::layout::{self, Nav, Tone};
use super::session::Session;
use crate::access::{AccessView, Direction};
use crate::api::{ApiError, ApiState};

/// `GET /access`.
pub(super) async fn page(
    State(s): State<ApiState>,
    Extension(session): Extension<Session>,
) -> Page {
    let all = s.handle.access().await?;
    let (incoming, outgoing): (Vec<&AccessView>, Vec<&AccessView>) =
        all.iter().partition(|v| v.direction == Direction::Incoming);
    let body = html! {
        h1 { "Access" }
        section aria-labelledby="incoming" {
            h2 id="incoming" { "Requests for this domain's products" }
            @if incoming.is_empty() { p.muted { "No requests." } }
            @for v in &incoming { (incoming_entry(v, &session)) }
        }
        section aria-labelledby="outgoing" {
            h2 id="outgoing" { "This domain's requests" }
            @if outgoing.is_empty() { p.muted { "No requests. Ask for an owner-granted product from its page." } }
            @else {
                div.scroll {
                    table id="outgoing-table" {
                        thead { tr { th scope="col" { "Product" } th scope="col" { "Owner" } th scope="col" { "State" }
                            th scope="col" { "Asked" } th scope="col" { "Decided" } } }
                        tbody { @for v in &outgoing { tr data-product=(v.product) {
                            td { a href=(layout::product_href(&v.product)) { (v.product_name) } }
                            td { (v.owner_name.as_deref().unwrap_or(&v.owner)) }
                            td { (state(v)) @if let Some(r) = &v.denial_reason { " (" (r) ")" } }
                            td { @if let Some(t) = v.requested_at_ms { (layout::date(t)) } }
                            td { @if let Some(t) = v.decided_at_ms { (layout::date(t)) } }
                        } } }
                    }
                }
            }
        }
    };
    Ok(layout::page("Access", Nav::Access, &session, &body))
}

fn state(v: &AccessView) -> Markup {
    let tone = match v.state.as_str() {
        "granted" => Tone::Good,
        "denied" | "revoked" | "expired" => Tone::Bad,
        _ => Tone::Neutral,
    };
    let label = match (v.state.as_str(), v.expires_at_ms) {
        ("granted", Some(at)) => format!("granted until {}", layout::date(at)),
        (s, _) => s.to_owned(),
    };
    layout::state(&label, tone)
}

fn incoming_entry(v: &AccessView, session: &Session) -> Markup {
    let who = v.domain_name.as_deref().unwrap_or(&v.domain);
    // The name comes from another node's record: only a well-formed one
    // goes into the form's path.
    let actionable = layout::safe_id(&v.product);
    let name = v.product.split_once('/').map_or("", |(_, name)| name);
    let action = format!("/access/{name}/decide");
    let form = |verb: &str, label: &str, extra: Markup| {
        html! {
            form method="post" action=(action) {
                (layout::csrf(session))
                input type="hidden" name="domain" value=(v.domain);
                input type="hidden" name="action" value=(verb);
                (extra)
                button type="submit" class=(verb) { (label) }
            }
        }
    };
    let key = format!("{}-{}", v.product_name, v.domain);
    html! {
        article.request data-product=(v.product) data-domain=(v.domain) {
            h3 { strong { (who) } " asks for " a href=(layout::product_href(&v.product)) { (v.product_name) } }
            p { (state(v))
                @if let Some(t) = v.requested_at_ms { " · asked " (layout::date(t)) }
                @if let Some(r) = &v.reason { " · “" (r) "”" } }
            div.actions {
                @if !actionable { p.error { "This request names a malformed product; use the CLI." } }
                @else if v.state != "granted" {
                    (form("grant", "Grant", html! {
                        label for=(format!("days-{key}")) { "Days (empty: no expiry)" }
                        input id=(format!("days-{key}")) name="days" type="number" min="1" max="3650";
                    }))
                }
                @if actionable && v.state == "requested" {
                    (form("deny", "Deny", html! {
                        label for=(format!("deny-{key}")) { "Reason" }
                        input id=(format!("deny-{key}")) name="reason" type="text" maxlength="1000";
                    }))
                }
                @if actionable && v.state == "granted" { (form("revoke", "Revoke", html! {})) }
            }
        }
    }
}

/// A decision from the page.
#[derive(Deserialize)]
pub(super) struct DecideForm {
    domain: String,
    action: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    reason: String,
}

/// `POST /access/{name}/decide`.
pub(super) async fn decide(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Form(form): Form<DecideForm>,
) -> Page {
    let verdict = match form.action.as_str() {
        "grant" => {
            let days = form.days.trim();
            let expires = if days.is_empty() {
                None
            } else {
                let days: u64 = days
                    .parse()
                    .ok()
                    .filter(|d| (1..=3650).contains(d))
                    .ok_or_else(|| {
                        ApiError::bad_request("Days must be a number from 1 to 3650.")
                    })?;
                Some(Timestamp(
                    layout::now_ms().saturating_add(days.saturating_mul(86_400_000)),
                ))
            };
            Verdict::Granted { expires }
        }
        "deny" => Verdict::Denied {
            reason: form.reason,
        },
        "revoke" => Verdict::Revoked,
        other => return Err(ApiError::bad_request(format!("unknown action {other:?}")).into()),
    };
    s.handle.decide_access(name, form.domain, verdict).await?;
    Ok(Redirect::to("/access#incoming").into_response())
}
