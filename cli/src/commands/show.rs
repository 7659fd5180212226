//! `mesh show`: one product in full, with its signature checked here, the
//! versions the node keeps and who holds its bytes.

use std::fmt::Write as _;

use mesh_protocol::descriptor::{AccessMode, Descriptor};
use mesh_protocol::{CatalogItem, ProductId};
use serde::{Deserialize, Serialize};

use crate::args::ShowArgs;
use crate::connect::Api;
use crate::error::CliResult;
use crate::output;
use crate::product_ref;

#[derive(Deserialize)]
struct Providers {
    providers: Vec<String>,
}

/// `mesh show --json`.
#[derive(Serialize)]
struct Shown {
    product: String,
    version: u64,
    withdrawn: bool,
    /// Whether the signature verifies (checked by `mesh`, not the node).
    signature_valid: bool,
    signer: String,
    versions: Vec<u64>,
    providers: Vec<String>,
    /// Federation policy compliance; `null` while the mesh runs no
    /// federation.
    compliance: Option<serde_json::Value>,
    /// What its data holds: `conforms`, `contract-broken`, `disputed` or
    /// `not-profiled` (the signed profile is in `item`).
    data: &'static str,
    /// For a product computed by a query: each input as
    /// `domain/name@version` (domain names as this node's catalog knows
    /// them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    inputs: Vec<String>,
    item: CatalogItem,
}

pub(super) fn run(api: &Api, args: &ShowArgs, json: bool) -> CliResult<()> {
    let id = args.product.resolve(api)?;
    let path = product_ref::path(&id);
    let item: CatalogItem = match args.version {
        Some(v) => api.get(&format!("{path}?version={v}"))?,
        None => api.get(&path)?,
    };
    let versions: Vec<CatalogItem> = api.get(&format!("{path}/versions"))?;
    let providers: Providers = api.get(&format!("{path}/providers"))?;
    let compliance = super::federation::compliance(api, Some(&id))?
        .and_then(|list| list.into_iter().next())
        .map(|c| serde_json::json!({ "compliant": c.compliant, "issues": c.issues }));
    let disputed = super::list::disputed(api)?.contains(&(id.to_string(), item.version()));
    let data = match (&item, disputed) {
        (_, true) => "disputed",
        (CatalogItem::Descriptor(d), false) => match &d.value.profile {
            None => "not-profiled",
            Some(p) if p.conforms() => "conforms",
            Some(_) => "contract-broken",
        },
        (CatalogItem::Withdrawal(_), false) => "not-profiled",
    };
    let inputs = match &item {
        CatalogItem::Descriptor(d) => d
            .value
            .derivation
            .iter()
            .flat_map(|x| &x.inputs)
            .map(|i| {
                let name = match api.get::<CatalogItem>(&product_ref::path(&i.product)) {
                    Ok(CatalogItem::Descriptor(d)) => {
                        format!("{}/{}", d.value.domain_name, i.product.name)
                    }
                    _ => i.product.to_string(),
                };
                format!("{name}@{}", i.version)
            })
            .collect(),
        CatalogItem::Withdrawal(_) => Vec::new(),
    };
    let shown = Shown {
        product: id.to_string(),
        version: item.version(),
        withdrawn: matches!(item, CatalogItem::Withdrawal(_)),
        signature_valid: item.verify().is_ok(),
        signer: match &item {
            CatalogItem::Descriptor(d) => d.signer.to_string(),
            CatalogItem::Withdrawal(w) => w.signer.to_string(),
        },
        versions: versions.iter().map(CatalogItem::version).collect(),
        providers: providers.providers,
        compliance,
        data,
        inputs,
        item,
    };
    if json {
        return output::json(&shown);
    }
    crate::out!("{}", text(&id, &shown));
    Ok(())
}

fn text(id: &ProductId, s: &Shown) -> String {
    let signature = if s.signature_valid {
        format!("valid, by domain key {}", s.signer)
    } else {
        "INVALID: this item does not verify; do not trust it".to_owned()
    };
    let versions = s
        .versions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let mut pairs: Vec<(&str, String)> = Vec::new();
    match &s.item {
        CatalogItem::Withdrawal(w) => {
            pairs.push(("product", id.to_string()));
            pairs.push(("version", s.version.to_string()));
            pairs.push(("status", format!("withdrawn: {}", w.value.reason)));
        }
        CatalogItem::Descriptor(d) => {
            describe(&mut pairs, &d.value);
            if let Some(x) = &d.value.derivation {
                pairs.push(("inputs", s.inputs.join(", ")));
                let query: Vec<&str> = x.query.split_whitespace().collect();
                pairs.push(("query", output::printable(&query.join(" "))));
            }
        }
    }
    pairs.push(("versions", format!("{versions} (kept by this node)")));
    pairs.push(("signature", signature));
    let providers = if s.providers.is_empty() {
        "none found".to_owned()
    } else {
        format!("{}: {}", s.providers.len(), s.providers.join(", "))
    };
    pairs.push(("providers", providers));
    let compliance = match &s.compliance {
        None if s.withdrawn => "not applicable: withdrawn".to_owned(),
        None => "not checked: this node runs no federation".to_owned(),
        Some(c) if c["compliant"] == true => "meets every rule of the federation".to_owned(),
        Some(c) => {
            let issues: Vec<String> = c["issues"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| {
                    format!(
                        "{}: {}",
                        i["rule"].as_str().unwrap_or_default(),
                        i["reason"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            format!("NON-COMPLIANT: {}", issues.join("; "))
        }
    };
    pairs.push(("compliance", compliance));
    let mut out = output::block(&pairs);
    if let CatalogItem::Descriptor(d) = &s.item {
        out.push_str(&data_section(s.data, d.value.profile.as_ref()));
    }
    out
}

/// The data's state, every violation, and each column's figures.
fn data_section(state: &str, profile: Option<&mesh_protocol::profile::Profile>) -> String {
    let Some(p) = profile else {
        return "data        not profiled (its owner published no profile)\n".to_owned();
    };
    let mut out = match state {
        "disputed" => format!(
            "data        PROFILE DISPUTED: this node recomputed another profile from the verified bytes (evidence: GET /v1/disputes)\n            signed: {} rows, {} violations\n",
            p.rows,
            p.violation_count()
        ),
        "contract-broken" => format!(
            "data        CONTRACT BROKEN ({}) over {} rows\n",
            p.violation_count(),
            p.rows
        ),
        _ => format!("data        conforms to its contract, {} rows\n", p.rows),
    };
    out.push_str(&super::check::violations(p));
    if let Some(c) = p.completeness_percent {
        let _ = writeln!(out, "            {c}% of declared cells hold a value");
    }
    let rows: Vec<Vec<String>> = p
        .fields
        .iter()
        .map(|f| {
            vec![
                output::printable(&f.name),
                f.nulls.to_string(),
                if f.distinct_exact {
                    f.distinct.to_string()
                } else {
                    format!("~{}", f.distinct)
                },
                output::printable(f.min.as_deref().unwrap_or("-")),
                output::printable(f.max.as_deref().unwrap_or("-")),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.push_str(&output::table(
            &["COLUMN", "NULLS", "DISTINCT", "MIN", "MAX"],
            &rows,
        ));
    }
    out
}

fn describe(pairs: &mut Vec<(&str, String)>, d: &Descriptor) {
    pairs.push((
        "product",
        format!("{}/{}  ({})", d.domain_name, d.id.name, d.id),
    ));
    pairs.push(("version", d.version.to_string()));
    pairs.push(("title", output::printable(&d.title)));
    if !d.description.is_empty() {
        pairs.push(("description", output::printable(&d.description)));
    }
    if !d.owner.name.is_empty() || !d.owner.email.is_empty() {
        pairs.push(("owner", format!("{} <{}>", d.owner.name, d.owner.email)));
    }
    pairs.push(("format", d.format.to_string()));
    let chunks = d.content.size.div_ceil(u64::from(d.content.chunk_size));
    pairs.push((
        "size",
        format!(
            "{} ({} bytes) in {chunks} chunks of {}",
            output::bytes(d.content.size),
            d.content.size,
            output::bytes(u64::from(d.content.chunk_size))
        ),
    ));
    pairs.push(("manifest", d.content.manifest_hash.to_string()));
    if !d.tags.is_empty() {
        pairs.push((
            "tags",
            d.tags.iter().cloned().collect::<Vec<_>>().join(", "),
        ));
    }
    if !d.schema.fields.is_empty() {
        let fields: Vec<String> = d
            .schema
            .fields
            .iter()
            .map(|f| {
                let mut t = format!("{} {:?}", f.name, f.data_type).to_lowercase();
                if !f.nullable {
                    t.push_str(" not null");
                }
                if let Some(c) = f.classification {
                    let _ = write!(t, " [{c}]");
                }
                t
            })
            .collect();
        pairs.push((
            "schema",
            format!("v{}: {}", d.schema.major, fields.join("; ")),
        ));
    }
    let mut quality = Vec::new();
    if let Some(s) = d.quality.freshness_secs {
        quality.push(format!("fresh within {s} s"));
    }
    if let Some(p) = d.quality.completeness_percent {
        quality.push(format!("{p}% complete"));
    }
    if !quality.is_empty() {
        pairs.push(("quality", quality.join(", ")));
    }
    if !d.lineage.is_empty() {
        let inputs: Vec<String> = d.lineage.iter().map(ToString::to_string).collect();
        pairs.push(("lineage", inputs.join(", ")));
    }
    let access = match &d.access.mode {
        AccessMode::Public => "public".to_owned(),
        AccessMode::OwnerGranted => "granted by the owner".to_owned(),
        AccessMode::Domains(ds) => format!(
            "domains {}",
            ds.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let reshare = if d.access.reshare {
        "holders may re-serve"
    } else {
        "only the owner serves"
    };
    pairs.push(("access", format!("{access}; {reshare}")));
    if let Some(days) = d.retention_days {
        pairs.push(("retention", format!("{days} days")));
    }
    pairs.push(("created", crate::standards::rfc3339(d.created_at.0)));
    let status = match &d.deprecation {
        None => "active".to_owned(),
        Some(dep) => match &dep.successor {
            Some(s) => format!("deprecated: {} (use {s})", dep.reason),
            None => format!("deprecated: {}", dep.reason),
        },
    };
    pairs.push(("status", status));
}
