//! `mesh list`: search the catalog.

use mesh_protocol::{DomainId, SignedDescriptor};
use serde::Serialize;

use crate::args::ListArgs;
use crate::connect::{Api, encode_query};
use crate::error::CliResult;
use crate::output;

/// One product in `mesh list --json`.
#[derive(Serialize)]
pub(crate) struct Summary {
    /// `DOMAINID/name`.
    product: String,
    domain_id: String,
    domain_name: String,
    name: String,
    version: u64,
    title: String,
    format: String,
    size: u64,
    tags: Vec<String>,
    deprecated: bool,
    manifest_hash: String,
    /// Whether it meets the federation's rules (`null` without a
    /// federation).
    compliant: Option<bool>,
    /// The rules it breaks.
    issues: Vec<mesh_node::governance::Issue>,
    /// What its data holds: `conforms`, `contract-broken`, `disputed` (a
    /// consumer here recomputed another profile than the signed one) or
    /// `not-profiled`.
    data: &'static str,
    /// Rows, from the signed profile.
    rows: Option<u64>,
    /// Contract violations in the signed profile.
    violations: u64,
    /// The signed profile.
    profile: Option<mesh_protocol::profile::Profile>,
}

impl Summary {
    pub(crate) fn of(d: &SignedDescriptor) -> Self {
        let d = &d.value;
        Self {
            product: d.id.to_string(),
            domain_id: d.id.domain.to_string(),
            domain_name: d.domain_name.clone(),
            name: d.id.name.clone(),
            version: d.version,
            title: d.title.clone(),
            format: d.format.to_string(),
            size: d.content.size,
            tags: d.tags.iter().cloned().collect(),
            deprecated: d.deprecation.is_some(),
            manifest_hash: d.content.manifest_hash.to_string(),
            compliant: None,
            issues: Vec::new(),
            data: match &d.profile {
                None => "not-profiled",
                Some(p) if p.conforms() => "conforms",
                Some(_) => "contract-broken",
            },
            rows: d.profile.as_ref().map(|p| p.rows),
            violations: d
                .profile
                .as_ref()
                .map_or(0, mesh_protocol::profile::Profile::violation_count),
            profile: d.profile.clone(),
        }
    }

    /// The DATA column: the product's contract state in words.
    pub(crate) fn data_state(&self) -> String {
        match self.data {
            "disputed" => "PROFILE DISPUTED".to_owned(),
            "contract-broken" => format!("CONTRACT BROKEN ({})", self.violations),
            "conforms" => format!("ok, {} rows", self.rows.unwrap_or(0)),
            _ => "not profiled".to_owned(),
        }
    }
}

/// The products this node holds evidence of a false profile for, as
/// `(product, version)`.
pub(crate) fn disputed(api: &Api) -> CliResult<Vec<(String, u64)>> {
    let list: Vec<mesh_node::api::data::DisputeView> = api.get("/v1/disputes")?;
    Ok(list
        .iter()
        .map(|d| (d.product.to_string(), d.version))
        .collect())
}

pub(super) fn run(api: &Api, args: &ListArgs, json: bool) -> CliResult<()> {
    let mut query = Vec::new();
    if let Some(domain) = &args.domain {
        let key = if domain.parse::<DomainId>().is_ok() {
            "domain"
        } else {
            "domain_name"
        };
        query.push(format!("{key}={}", encode_query(domain)));
    }
    for (key, value) in [
        ("tag", &args.tag),
        ("classification", &args.classification),
        ("text", &args.text),
    ] {
        if let Some(v) = value {
            query.push(format!("{key}={}", encode_query(v)));
        }
    }
    if args.all {
        query.push("include_deprecated=true".into());
    }
    let path = if query.is_empty() {
        "/v1/products".to_owned()
    } else {
        format!("/v1/products?{}", query.join("&"))
    };
    let found: Vec<SignedDescriptor> = api.get(&path)?;
    let mut summaries: Vec<Summary> = found.iter().map(Summary::of).collect();
    let compliance = super::federation::compliance(api, None)?;
    if let Some(all) = &compliance {
        for s in &mut summaries {
            if let Some(c) = all.iter().find(|c| c.product == s.product) {
                s.compliant = Some(c.compliant);
                s.issues.clone_from(&c.issues);
            }
        }
    }
    let disputed = disputed(api)?;
    for s in &mut summaries {
        if disputed.contains(&(s.product.clone(), s.version)) {
            s.data = "disputed";
        }
    }
    if json {
        return output::json(&summaries);
    }
    if summaries.is_empty() {
        crate::outln!("no products match; `mesh list` with no filters shows the whole catalog");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = summaries
        .iter()
        .map(|s| {
            vec![
                format!("{}/{}", s.domain_name, s.name),
                s.version.to_string(),
                s.format.clone(),
                output::bytes(s.size),
                match (s.deprecated, s.compliant) {
                    (true, _) => "deprecated".into(),
                    (false, Some(false)) => format!("NON-COMPLIANT ({})", s.issues.len()),
                    (false, _) => "active".into(),
                },
                s.data_state(),
                output::printable(&s.title),
            ]
        })
        .collect();
    crate::out!(
        "{}",
        output::table(
            &[
                "PRODUCT", "VERSION", "FORMAT", "SIZE", "STATUS", "DATA", "TITLE"
            ],
            &rows
        )
    );
    Ok(())
}
