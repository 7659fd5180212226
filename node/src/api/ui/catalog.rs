//! The catalog page: every product of the mesh this node knows, searched by
//! text, domain, tag, classification and format, sorted by any column, and
//! paged (a page renders at most [`PAGE`] rows, whatever the catalog's
//! size).

use std::collections::HashMap;

use axum::Extension;
use axum::extract::{Query, State};
use maud::{Markup, html};
use mesh_protocol::catalog::Query as CatalogQuery;
use mesh_protocol::descriptor::{Classification, Descriptor};
use mesh_protocol::{ProductId, SignedDescriptor};
use serde::Deserialize;

use super::layout::{self, Nav, Tone};
use super::session::Session;
use super::{Page, UiError, no_federation};
use crate::api::{ApiError, ApiState};
use crate::governance::Compliance;

/// Rows on one page.
pub(super) const PAGE: usize = 50;

/// The search form's fields; all optional.
#[derive(Deserialize, Default, Clone)]
pub(super) struct Search {
    #[serde(default)]
    q: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    classification: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    deprecated: Option<String>,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    dir: String,
    #[serde(default)]
    page: Option<usize>,
}

impl Search {
    /// This search as a query string, with `change` applied.
    fn href(&self, change: impl FnOnce(&mut Self)) -> String {
        let mut s = self.clone();
        change(&mut s);
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", &s.q),
            ("domain", &s.domain),
            ("tag", &s.tag),
            ("classification", &s.classification),
            ("format", &s.format),
            ("sort", &s.sort),
            ("dir", &s.dir),
        ] {
            if !v.is_empty() {
                out.append_pair(k, v);
            }
        }
        if s.deprecated.is_some() {
            out.append_pair("deprecated", "on");
        }
        if let Some(p) = s.page.filter(|p| *p > 1) {
            out.append_pair("page", &p.to_string());
        }
        format!("/?{}", out.finish())
    }
}

fn given(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// The strictest classification among a product's fields.
pub(super) fn strictest(d: &Descriptor) -> Option<Classification> {
    d.schema
        .fields
        .iter()
        .filter_map(mesh_protocol::descriptor::Field::strictest_classification)
        .max()
}

fn sort_key(sort: &str, a: &Descriptor, b: &Descriptor) -> std::cmp::Ordering {
    match sort {
        "domain" => a.domain_name.cmp(&b.domain_name),
        "version" => a.version.cmp(&b.version),
        "size" => a.content.size.cmp(&b.content.size),
        "updated" => a.created_at.0.cmp(&b.created_at.0),
        "rows" => {
            let rows = |d: &Descriptor| d.profile.as_ref().map(|p| p.rows);
            rows(a).cmp(&rows(b))
        }
        _ => a.id.name.cmp(&b.id.name),
    }
    .then_with(|| a.id.to_string().cmp(&b.id.to_string()))
}

/// `GET /`.
pub(super) async fn page(
    State(s): State<ApiState>,
    Extension(session): Extension<Session>,
    Query(search): Query<Search>,
) -> Page {
    let classification = given(&search.classification)
        .map(|c| c.parse::<Classification>())
        .transpose()
        .map_err(ApiError::bad_request)?;
    let query = CatalogQuery {
        domain: None,
        domain_name: given(&search.domain),
        tag: given(&search.tag),
        classification,
        text: given(&search.q),
        include_deprecated: search.deprecated.is_some(),
    };
    let format = given(&search.format).map(|f| f.to_ascii_lowercase());
    let mut found: Vec<SignedDescriptor> = s
        .handle
        .query(query)
        .await?
        .into_iter()
        .filter(|d| {
            format
                .as_deref()
                .is_none_or(|f| d.value.format.to_string() == f)
        })
        .collect();
    found.sort_by(|a, b| sort_key(&search.sort, &a.value, &b.value));
    if search.dir == "desc" {
        found.reverse();
    }
    let total = found.len();
    let pages = total.div_ceil(PAGE).max(1);
    let page = search.page.unwrap_or(1).clamp(1, pages);
    let shown: Vec<&Descriptor> = found
        .iter()
        .skip((page - 1) * PAGE)
        .take(PAGE)
        .map(|d| &d.value)
        .collect();
    let ids: Vec<ProductId> = shown.iter().map(|d| d.id.clone()).collect();
    let compliance: Option<HashMap<String, Compliance>> = if ids.is_empty() {
        Some(HashMap::new())
    } else {
        match s.handle.compliance(Some(ids)).await {
            Ok(list) => Some(list.into_iter().map(|c| (c.product.clone(), c)).collect()),
            Err(e) if no_federation(&e) => None,
            Err(e) => return Err(UiError::from(e)),
        }
    };
    let body = html! {
        h1 { "Catalog" }
        (form(&search))
        p.summary aria-live="polite" id="result-count" {
            (total) " product" @if total != 1 { "s" } " found"
            @if pages > 1 { ", page " (page) " of " (pages) }
        }
        @if shown.is_empty() {
            p.empty { "No product matches. Products published anywhere in the mesh appear here once gossip brings them." }
        } @else {
            (table(&search, &shown, compliance.as_ref()))
        }
        @if pages > 1 {
            nav.pager aria-label="Pages" {
                @if page > 1 {
                    a rel="prev" href=(search.href(|s| s.page = Some(page - 1))) { "← Previous" }
                }
                span { "Page " (page) " of " (pages) }
                @if page < pages {
                    a rel="next" href=(search.href(|s| s.page = Some(page + 1))) { "Next →" }
                }
            }
        }
    };
    Ok(layout::page("Catalog", Nav::Catalog, &session, &body))
}

fn form(search: &Search) -> Markup {
    let select = |name: &str, label: &str, current: &str, options: &[&str]| {
        html! {
            div.field {
                label for=(name) { (label) }
                select id=(name) name=(name) {
                    option value="" { "any" }
                    @for o in options {
                        @if *o == current {
                            option value=(o) selected { (o) }
                        } @else {
                            option value=(o) { (o) }
                        }
                    }
                }
            }
        }
    };
    html! {
        form.search role="search" method="get" action="/" {
            div.field.wide {
                label for="q" { "Search" }
                input id="q" name="q" type="search" value=(search.q) placeholder="words in name, title, description or tags";
            }
            div.field {
                label for="domain" { "Domain" }
                input id="domain" name="domain" type="text" value=(search.domain) placeholder="domain name";
            }
            div.field {
                label for="tag" { "Tag" }
                input id="tag" name="tag" type="text" value=(search.tag);
            }
            (select("classification", "Classification", &search.classification, &["public", "internal", "confidential", "pii"]))
            (select("format", "Format", &search.format, &["csv", "jsonl", "json", "parquet", "arrow", "avro"]))
            div.field.check {
                @if search.deprecated.is_some() {
                    input id="deprecated" name="deprecated" type="checkbox" checked;
                } @else {
                    input id="deprecated" name="deprecated" type="checkbox";
                }
                label for="deprecated" { "include deprecated" }
            }
            input type="hidden" name="sort" value=(search.sort);
            input type="hidden" name="dir" value=(search.dir);
            button type="submit" id="search-button" { "Search" }
        }
    }
}

fn table(
    search: &Search,
    shown: &[&Descriptor],
    compliance: Option<&HashMap<String, Compliance>>,
) -> Markup {
    let now = layout::now_ms();
    let header = |key: &str, label: &str| {
        let current = search.sort == key || (search.sort.is_empty() && key == "name");
        let desc = current && search.dir == "desc";
        let next_dir = if current && !desc { "desc" } else { "asc" };
        let href = search.href(|s| {
            key.clone_into(&mut s.sort);
            next_dir.clone_into(&mut s.dir);
            s.page = None;
        });
        let aria = match (current, desc) {
            (false, _) => "none",
            (true, false) => "ascending",
            (true, true) => "descending",
        };
        html! {
            th scope="col" aria-sort=(aria) {
                a href=(href) { (label) @if current { @if desc { " ↓" } @else { " ↑" } } }
            }
        }
    };
    html! {
        div.scroll {
            table.catalog id="catalog" {
                thead { tr {
                    (header("name", "Product"))
                    (header("domain", "Owner domain"))
                    (header("version", "Version"))
                    (header("size", "Size"))
                    (header("updated", "Freshness"))
                    (header("rows", "Rows"))
                    th scope="col" { "Contract" }
                    th scope="col" { "Compliance" }
                } }
                tbody {
                    @for d in shown {
                        (row(d, now, compliance))
                    }
                }
            }
        }
    }
}

fn row(d: &Descriptor, now: u64, compliance: Option<&HashMap<String, Compliance>>) -> Markup {
    let id = d.id.to_string();
    let stale = d
        .quality
        .freshness_secs
        .map(|f| now.saturating_sub(d.created_at.0) > f.saturating_mul(1000));
    html! {
        tr data-product=(id) {
            td {
                a.product href=(layout::product_href(&id)) { (d.title) }
                div.sub { code { (d.id.name) } " · " (d.format.to_string())
                    " " (layout::classification(strictest(d)))
                    @if d.deprecation.is_some() { " " (layout::state("deprecated", Tone::Bad)) }
                }
            }
            td { (d.domain_name) div.sub { code title=(d.id.domain.to_string()) { (layout::short_domain(&d.id.domain.to_string())) } } }
            td.num { (d.version) }
            td.num { (layout::bytes(d.content.size)) }
            td {
                (layout::ago(d.created_at.0, now))
                @match stale {
                    Some(true) => { " " (layout::state("stale", Tone::Bad)) }
                    Some(false) => { " " (layout::state("fresh", Tone::Good)) }
                    None => {}
                }
            }
            td.num { @match &d.profile { Some(p) => { (p.rows) } None => { "—" } } }
            td { (contract_state(d)) }
            td {
                @match compliance.and_then(|c| c.get(&id)) {
                    Some(c) if c.compliant => { (layout::state("compliant", Tone::Good)) }
                    Some(c) => { (layout::state(&format!("{} issue{}", c.issues.len(), if c.issues.len() == 1 { "" } else { "s" }), Tone::Bad)) }
                    None => { span.muted { "no federation" } }
                }
            }
        }
    }
}

/// Whether the signed profile says the data meets its contract.
pub(super) fn contract_state(d: &Descriptor) -> Markup {
    match &d.profile {
        None => html! { span.muted { "no profile" } },
        Some(p) if p.conforms() => layout::state("meets contract", Tone::Good),
        Some(p) => {
            let n = p.violation_count();
            layout::state(
                &format!("{n} violation{}", if n == 1 { "" } else { "s" }),
                Tone::Bad,
            )
        }
    }
}
