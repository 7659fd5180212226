//! A product's page: descriptor, signature, schema, profile, versions,
//! compliance, access and the fetch form with each fetch's live progress
//! (the actions and the script's JSON are in `product_actions`).

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use maud::{Markup, html};
use mesh_protocol::catalog::CatalogItem;
use mesh_protocol::descriptor::{AccessMode, Descriptor, Field};
use mesh_protocol::{ProductId, SignedDescriptor};
use serde::Deserialize;

use super::catalog::{contract_state, strictest};
use super::layout::{self, Nav, Tone};
use super::session::Session;
use super::{Page, UiError, no_federation};
use crate::api::{ApiError, ApiState};
use crate::fetch::FetchProgress;

/// Rows a page's preview shows.
pub(super) const PREVIEW_ROWS: usize = 20;

/// A product id from the path; a malformed one is as unknown as a missing
/// one.
pub(super) fn product_id(domain: &str, name: &str) -> Result<ProductId, UiError> {
    format!("{domain}/{name}")
        .parse()
        .map_err(|_| UiError::from(unknown(&format!("{domain}/{name}"))))
}

pub(super) fn unknown(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_product",
        format!("This node knows no product {id}."),
    )
}

/// Which version, and which fetch to show.
#[derive(Deserialize)]
pub(super) struct PageQuery {
    version: Option<u64>,
}

/// `GET /products/{domain}/{name}`.
pub(super) async fn page(
    State(s): State<ApiState>,
    Extension(session): Extension<Session>,
    Path((domain, name)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> Page {
    let id = product_id(&domain, &name)?;
    let Some(current) = s.handle.get(id.clone()).await? else {
        return Err(unknown(&id.to_string()).into());
    };
    let mut versions = s.handle.versions(id.clone()).await?;
    if versions.is_empty() {
        versions.push(current.clone());
    }
    let item = match q.version {
        None => current.clone(),
        Some(v) => versions
            .iter()
            .find(|i| i.version() == v)
            .cloned()
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "unknown_version",
                    format!("This node keeps no version {v} of {id}."),
                )
            })?,
    };
    let signed = match item {
        CatalogItem::Descriptor(d) => d,
        CatalogItem::Withdrawal(w) => {
            let body = html! {
                h1 { (id.name) }
                p.error { "Withdrawn by its owner (version " (w.value.version) "): " (w.value.reason) }
            };
            return Ok(layout::page(&id.name, Nav::Catalog, &session, &body));
        }
    };
    let d = &signed.value;
    let own = d.id.domain == s.handle.domain();
    let compliance = match s.handle.compliance(Some(vec![id.clone()])).await {
        Ok(list) => Some(list.into_iter().next()),
        Err(e) if no_federation(&e) => None,
        Err(e) => return Err(e.into()),
    };
    let access_state = s
        .handle
        .access()
        .await?
        .into_iter()
        .find(|a| a.product == id.to_string() && a.domain == s.handle.domain().to_string());
    let fetches = fetches_of(&s, &id);
    let body = html! {
        (heading(d, &signed))
        @if let Some(dep) = &d.deprecation {
            p.error role="note" { "Deprecated: " (dep.reason)
                @if let Some(next) = &dep.successor { " Use " a href=(layout::product_href(&next.to_string())) { (next.to_string()) } " instead." } }
        }
        div.grid {
            section aria-labelledby="about" {
                h2 id="about" { "About" }
                (about(d))
            }
            section aria-labelledby="access-h" {
                h2 id="access-h" { "Access and fetch" }
                (access_section(d, own, access_state.as_ref(), &session))
                (fetch_section(d, &fetches, &session))
            }
        }
        section aria-labelledby="schema-h" {
            h2 id="schema-h" { "Schema" }
            (schema(d))
        }
        section aria-labelledby="quality-h" {
            h2 id="quality-h" { "Quality and profile" }
            (quality(d))
        }
        (lower_sections(&id, d, compliance.as_ref(), &versions, own, &session))
    };
    Ok(layout::page(&d.title, Nav::Catalog, &session, &body))
}

/// Preview, compliance, versions, providers and the owner's actions.
fn lower_sections(
    id: &ProductId,
    d: &Descriptor,
    compliance: Option<&Option<crate::governance::Compliance>>,
    versions: &[CatalogItem],
    own: bool,
    session: &Session,
) -> Markup {
    html! {
        section aria-labelledby="preview-h" {
            h2 id="preview-h" { "Preview" }
            div id="preview" data-url=(format!("/ui/products/{id}/preview")) {
                button type="button" id="preview-button" { "Show the first " (PREVIEW_ROWS) " rows" }
                p.hint { "Reads only the chunks those rows need, from a verified copy." }
            }
        }
        section aria-labelledby="compliance-h" {
            h2 id="compliance-h" { "Compliance" }
            @match compliance {
                None => { p.muted { "This node is in no federation: no policies apply." } }
                Some(None) => { p.muted { "Not checked." } }
                Some(Some(c)) if c.compliant => { p { (layout::state("compliant", Tone::Good)) " with every policy in force." } }
                Some(Some(c)) => {
                    ul id="compliance-issues" { @for i in &c.issues { li { code { (i.rule) } ": " (i.reason) } } }
                }
            }
        }
        section aria-labelledby="versions-h" {
            h2 id="versions-h" { "Versions" }
            (versions_list(id, versions, d.version))
        }
        section aria-labelledby="providers-h" {
            h2 id="providers-h" { "Providers" }
            ul id="providers" data-url=(format!("/ui/products/{id}/providers")) {
                li.muted { "Looking up the nodes that hold a verified copy…" }
            }
        }
        @if own {
            section aria-labelledby="owner-h" {
                h2 id="owner-h" { "Owner actions" }
                form method="post" action=(format!("/products/{id}/deprecate")) {
                    (layout::csrf(session))
                    label for="dep-reason" { "Deprecate: reason" }
                    input id="dep-reason" name="reason" type="text" required maxlength="500";
                    label for="dep-successor" { "Successor (DOMAIN/name, optional)" }
                    input id="dep-successor" name="successor" type="text";
                    button type="submit" { "Deprecate" }
                }
            }
        }
    }
}

fn heading(d: &Descriptor, signed: &SignedDescriptor) -> Markup {
    let verified = signed.verify().is_ok() && signed.signer_domain() == d.id.domain;
    html! {
        h1 id="product-title" { (d.title) }
        p.sub {
            code { (d.id.name) } " · version " (d.version) " · " (d.format.to_string())
            " · owned by " strong id="owner-domain" { (d.domain_name) }
            " " (layout::classification(strictest(d)))
            " " (contract_state(d))
        }
        p id="signature" {
            @if verified {
                (layout::state("signature valid", Tone::Good))
                " signed by domain " code { (d.id.domain.to_string()) } " with key " code.key { (signed.signer.to_string()) }
            } @else {
                (layout::state("signature invalid", Tone::Bad))
            }
        }
        @if !d.description.is_empty() { p.description { (d.description) } }
    }
}

fn about(d: &Descriptor) -> Markup {
    html! {
        dl {
            dt { "Owner" } dd {
                @if d.owner.name.is_empty() && d.owner.email.is_empty() { span.muted { "not given" } }
                (d.owner.name) " " @if !d.owner.email.is_empty() { "<" (d.owner.email) ">" } }
            dt { "Domain" } dd { (d.domain_name) " " code.key { (d.id.domain.to_string()) } }
            dt { "Published" } dd { (layout::date(d.created_at.0)) }
            dt { "Size" } dd { (layout::bytes(d.content.size)) " in chunks of " (layout::bytes(u64::from(d.content.chunk_size))) }
            dt { "Manifest" } dd { code.key { (d.content.manifest_hash.to_string()) } }
            @if !d.tags.is_empty() {
                dt { "Tags" } dd { @for t in &d.tags { a.tag href=(format!("/?tag={}", form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>())) { (t) } " " } }
            }
            @if let Some(days) = d.retention_days { dt { "Retention" } dd { (days) " days" } }
            dt { "Lineage" } dd {
                @if d.lineage.is_empty() { "no inputs " }
                @for input in &d.lineage { a href=(layout::product_href(&input.to_string())) { (input.name) } " " }
                a id="lineage-link" href=(format!("/products/{}/lineage", d.id)) { "graph" }
            }
            @if let Some(x) = &d.derivation { dt { "Derived by" } dd { pre.sql { (x.query) } } }
        }
    }
}

fn access_section(
    d: &Descriptor,
    own: bool,
    state: Option<&crate::access::AccessView>,
    session: &Session,
) -> Markup {
    let mode = match &d.access.mode {
        AccessMode::Public => "public: any domain may fetch".to_owned(),
        AccessMode::Domains(list) => format!("{} named domain(s) may fetch", list.len()),
        AccessMode::OwnerGranted => "owner-granted: ask the owner for access".to_owned(),
    };
    html! {
        p id="access-mode" { "Access: " (mode) @if d.access.reshare { "; copies may be re-served" } }
        @if matches!(d.access.mode, AccessMode::OwnerGranted) && !own {
            @if let Some(a) = state {
                p id="access-state" { "Your domain's access: " strong { (a.state) } }
            }
            @if state.is_none_or(|a| !a.can_read) {
                form method="post" action=(format!("/products/{}/request", d.id)) {
                    (layout::csrf(session))
                    label for="request-reason" { "Why your domain needs it" }
                    textarea id="request-reason" name="reason" required maxlength="1000" rows="2" {}
                    button type="submit" id="request-button" { "Request access" }
                }
            }
        }
    }
}

fn fetch_section(d: &Descriptor, fetches: &[FetchProgress], session: &Session) -> Markup {
    html! {
        form method="post" action=(format!("/products/{}/fetch", d.id)) {
            (layout::csrf(session))
            label for="fetch-output" { "Save a copy to (absolute path on the node's machine; empty keeps it in the node's store)" }
            input id="fetch-output" name="output" type="text" placeholder="/data/orders.csv";
            button type="submit" id="fetch-button" { "Fetch" }
        }
        @for f in fetches { (progress_box(f)) }
    }
}

/// A fetch's progress; the script updates it in place.
fn progress_box(f: &FetchProgress) -> Markup {
    let state = format!("{:?}", f.state).to_lowercase();
    html! {
        div.fetch data-fetch=(f.id) id=(format!("fetch-{}", f.id)) {
            label for=(format!("bar-{}", f.id)) { "Fetch " (f.id) ": " span.state { (state) } }
            progress id=(format!("bar-{}", f.id)) max=(f.bytes_total.max(1)) value=(f.bytes_done) {}
            p.figures aria-live="polite" {
                span.bytes { (layout::bytes(f.bytes_done)) " of " (layout::bytes(f.bytes_total)) }
                " · " span.rate { "—" } " · " span.eta { "" }
            }
            @if let Some(e) = &f.error { p.error { (e) } }
        }
    }
}

/// The fetch jobs of this product the API tracks, newest first.
fn fetches_of(s: &ApiState, id: &ProductId) -> Vec<FetchProgress> {
    let Ok(all) = s.fetches.lock() else {
        return Vec::new();
    };
    let mut list: Vec<FetchProgress> = all
        .values()
        .map(|f| f.progress.borrow().clone())
        .filter(|p| &p.product == id)
        .collect();
    list.sort_by_key(|p| std::cmp::Reverse(p.id));
    list.truncate(5);
    list
}

fn schema(d: &Descriptor) -> Markup {
    fn rows(fields: &[Field], depth: usize) -> Markup {
        html! {
            @for f in fields {
                tr data-field=(f.name) {
                    th scope="row" class=(format!("depth-{}", depth.min(6))) { code { (f.name) } }
                    td { (format!("{:?}", f.data_type).to_lowercase()) }
                    td { @if f.nullable { "nullable" } @else { "required" } }
                    td { (layout::classification(f.classification)) }
                    td { (constraints(f)) }
                    td { (f.description) }
                }
                (rows(&f.children, depth + 1))
            }
        }
    }
    html! {
        @if d.schema.fields.is_empty() {
            p.muted { "No schema declared." }
        } @else {
            div.scroll {
                table id="schema" {
                    caption { "Schema, major version " (d.schema.major) }
                    thead { tr { th scope="col" { "Field" } th scope="col" { "Type" } th scope="col" { "Nulls" }
                        th scope="col" { "Classification" } th scope="col" { "Constraints" } th scope="col" { "Description" } } }
                    tbody { (rows(&d.schema.fields, 0)) }
                }
            }
        }
    }
}

fn constraints(f: &Field) -> Markup {
    let c = &f.constraints;
    let mut parts = Vec::new();
    if c.unique {
        parts.push("unique".to_owned());
    }
    if let Some(p) = &c.pattern {
        parts.push(format!("matches {p}"));
    }
    if !c.allowed_values.is_empty() {
        parts.push(format!("one of {}", c.allowed_values.join(", ")));
    }
    if let Some(m) = &c.min {
        parts.push(format!("≥ {m}"));
    }
    if let Some(m) = &c.max {
        parts.push(format!("≤ {m}"));
    }
    if let Some(n) = c.max_null_percent {
        parts.push(format!("≤ {n}% null"));
    }
    html! { (parts.join("; ")) }
}

fn quality(d: &Descriptor) -> Markup {
    let q = &d.quality;
    html! {
        dl {
            @if let Some(f) = q.freshness_secs { dt { "Fresh within" } dd { (f) " s" } }
            @if let Some(c) = q.completeness_percent { dt { "Completeness promised" } dd { (c) "%" } }
            @if let Some(m) = q.min_rows { dt { "At least" } dd { (m) " rows" } }
            @if let Some(m) = q.max_rows { dt { "At most" } dd { (m) " rows" } }
            @if let Some(f) = &q.event_time_field { dt { "Event time field" } dd { code { (f) } } }
        }
        @match &d.profile {
            None => { p.muted { "No signed profile: the owner's node did not read this format." } }
            Some(p) => {
                p id="profile-summary" { "Signed profile: " strong { (p.rows) } " rows"
                    @if let Some(c) = p.completeness_percent { ", " (c) "% complete" }
                    " · " (contract_state(d)) }
                @if !p.violations.is_empty() {
                    ul id="violations" { @for v in &p.violations { li { (v.to_string()) } }
                        @if p.more_violations > 0 { li { "and " (p.more_violations) " more" } } }
                }
                div.scroll {
                    table id="profile" {
                        thead { tr { th scope="col" { "Field" } th scope="col" { "Nulls" } th scope="col" { "Distinct" }
                            th scope="col" { "Min" } th scope="col" { "Max" } } }
                        tbody { @for f in &p.fields { tr {
                            th scope="row" { code { (f.name) } }
                            td.num { (f.nulls) }
                            td.num { @if !f.distinct_exact { "≈" } (f.distinct) }
                            td { (f.min.as_deref().unwrap_or("")) }
                            td { (f.max.as_deref().unwrap_or("")) }
                        } } }
                    }
                }
                @for n in &p.notes { p.hint { (n) } }
            }
        }
    }
}

fn versions_list(id: &ProductId, versions: &[CatalogItem], shown: u64) -> Markup {
    html! {
        ul id="versions" {
            @for v in versions {
                li {
                    @match v {
                        CatalogItem::Descriptor(d) => {
                            a href=(format!("{}?version={}", layout::product_href(&id.to_string()), d.value.version)) { "version " (d.value.version) }
                            " · " (layout::date(d.value.created_at.0)) " · " (layout::bytes(d.value.content.size))
                            @if d.value.version == shown { " " (layout::state("shown", Tone::Neutral)) }
                        }
                        CatalogItem::Withdrawal(w) => { "version " (w.value.version) ": withdrawn" }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::FetchState;

    #[test]
    fn a_malformed_id_is_unknown() {
        assert!(product_id("not-hex", "orders").is_err());
        assert!(product_id(&"ab".repeat(16), "Bad Name").is_err());
        assert!(product_id(&"ab".repeat(16), "orders").is_ok());
    }

    #[test]
    fn progress_shows_its_figures() {
        let p = FetchProgress {
            id: 7,
            product: format!("{}/orders", "ab".repeat(16)).parse().unwrap(),
            version: 1,
            state: FetchState::Fetching,
            bytes_done: 1024,
            bytes_total: 4096,
            chunks_done: 1,
            chunks_total: 4,
            chunks_fetched: 1,
            chunks_resumed: 0,
            bad_chunks: 0,
            providers: Vec::new(),
            bad_providers: Vec::new(),
            chunks_by_provider: std::collections::BTreeMap::new(),
            rate_bytes_per_s: 0.0,
            error: Some("<b>x</b>".to_owned()),
            profile: None,
        };
        let html = progress_box(&p).into_string();
        assert!(html.contains("data-fetch=\"7\""), "{html}");
        assert!(html.contains("value=\"1024\""), "{html}");
        assert!(html.contains("fetching"), "{html}");
        assert!(html.contains("&lt;b&gt;"), "{html}");
    }
}
