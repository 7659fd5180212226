//! meshd's own descriptor file: a YAML mapping with exactly the fields a
//! descriptor has. Unknown keys are an error (with the key named), so a typo
//! never silently drops a promise.
//!
//! ```yaml
//! name: orders
//! title: Orders
//! description: Every order, one line each.
//! owner: { name: Sales data team, email: sales-data@example.com }
//! format: csv
//! tags: [orders, daily]
//! schema:
//!   major: 1
//!   fields:
//!     - { name: id, type: int64, nullable: false }
//!     - { name: email, type: string, classification: pii }
//! quality: { freshness_secs: 86400, completeness_percent: 99 }
//! lineage: [DOMAINID/customers]
//! access: public            # or owner-granted, or { domains: [DOMAINID, ...] }
//! reshare: true
//! retention_days: 365
//! ```

use std::collections::BTreeSet;

use mesh_protocol::descriptor::{AccessMode, Field, Schema};
use serde::Deserialize;

use crate::draft_parts::DraftParts;
use crate::error::{CliError, CliResult};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: Option<String>,
    title: Option<String>,
    description: Option<String>,
    owner: Option<OwnerYaml>,
    format: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    schema: Option<SchemaYaml>,
    quality: Option<QualityYaml>,
    #[serde(default)]
    lineage: Vec<String>,
    access: Option<AccessYaml>,
    reshare: Option<bool>,
    retention_days: Option<u32>,
    chunk_size: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnerYaml {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaYaml {
    major: Option<u32>,
    #[serde(default)]
    fields: Vec<FieldYaml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldYaml {
    name: String,
    #[serde(rename = "type")]
    data_type: String,
    #[serde(default = "yes")]
    nullable: bool,
    classification: Option<String>,
    #[serde(default)]
    description: String,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QualityYaml {
    freshness_secs: Option<u64>,
    completeness_percent: Option<u8>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum AccessYaml {
    Named(String),
    Domains { domains: Vec<String> },
}

/// Reads a mesh YAML descriptor into `parts`.
pub fn import(text: &str, origin: &str, parts: &mut DraftParts) -> CliResult<()> {
    let bad = |what: String| CliError::usage(format!("invalid descriptor file {origin}: {what}"));
    let file: File = serde_yaml_ng::from_str(text).map_err(|e| bad(e.to_string()))?;
    parts.name = file.name.or(parts.name.take());
    parts.title = file.title.or(parts.title.take());
    parts.description = file.description.or(parts.description.take());
    if let Some(owner) = file.owner {
        parts.owner_name = Some(owner.name);
        parts.owner_email = Some(owner.email);
    }
    if let Some(format) = file.format {
        parts.format = Some(format.parse().map_err(|e| bad(format!("format: {e}")))?);
    }
    parts.tags.extend(file.tags);
    if let Some(schema) = file.schema {
        let mut fields = Vec::with_capacity(schema.fields.len());
        for f in schema.fields {
            fields.push(Field {
                data_type: f
                    .data_type
                    .parse()
                    .map_err(|e| bad(format!("field {}: {e}", f.name)))?,
                classification: f
                    .classification
                    .map(|c| c.parse())
                    .transpose()
                    .map_err(|e| bad(format!("field {}: {e}", f.name)))?,
                name: f.name,
                nullable: f.nullable,
                description: f.description,
                constraints: mesh_protocol::contract::Constraints::default(),
                children: Vec::new(),
            });
        }
        parts.schema = Some(Schema {
            major: schema.major.unwrap_or(1),
            fields,
        });
    }
    if let Some(q) = file.quality {
        parts.freshness_secs = q.freshness_secs.or(parts.freshness_secs);
        parts.completeness_percent = q.completeness_percent.or(parts.completeness_percent);
    }
    for input in file.lineage {
        parts.lineage.push(
            input
                .parse()
                .map_err(|e| bad(format!("lineage {input}: {e}")))?,
        );
    }
    if file.access.is_some() || file.reshare.is_some() {
        let mut policy = parts.access.take().unwrap_or_default();
        if let Some(access) = file.access {
            policy.mode = access_mode(access).map_err(bad)?;
        }
        if let Some(reshare) = file.reshare {
            policy.reshare = reshare;
        }
        parts.access = Some(policy);
    }
    parts.retention_days = file.retention_days.or(parts.retention_days);
    parts.chunk_size = file.chunk_size.or(parts.chunk_size);
    Ok(())
}

fn access_mode(access: AccessYaml) -> Result<AccessMode, String> {
    match access {
        AccessYaml::Named(name) => match name.as_str() {
            "public" => Ok(AccessMode::Public),
            "owner-granted" | "owner_granted" => Ok(AccessMode::OwnerGranted),
            other => Err(format!(
                "access {other:?}: use public, owner-granted or {{domains: [...]}}"
            )),
        },
        AccessYaml::Domains { domains } => {
            let set: Result<BTreeSet<_>, _> = domains
                .iter()
                .map(|d| d.parse().map_err(|e| format!("access domain {d}: {e}")))
                .collect();
            Ok(AccessMode::Domains(set?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_protocol::descriptor::{Classification, DataType, Format};

    #[test]
    fn a_full_file_fills_every_part() {
        let text = "name: orders\ntitle: Orders\nformat: csv\ntags: [a, b]\n\
            owner: {name: Team, email: t@example.com}\n\
            schema: {major: 2, fields: [{name: id, type: int64, nullable: false}, {name: mail, type: string, classification: pii}]}\n\
            quality: {freshness_secs: 60, completeness_percent: 99}\n\
            access: owner-granted\nreshare: false\nretention_days: 30\n";
        let mut parts = DraftParts::default();
        import(text, "f.yaml", &mut parts).unwrap();
        assert_eq!(parts.name.as_deref(), Some("orders"));
        assert_eq!(parts.format, Some(Format::Csv));
        let schema = parts.schema.unwrap();
        assert_eq!(schema.major, 2);
        assert_eq!(schema.fields[0].data_type, DataType::Int64);
        assert!(!schema.fields[0].nullable);
        assert_eq!(schema.fields[1].classification, Some(Classification::Pii));
        assert_eq!(parts.completeness_percent, Some(99));
        let access = parts.access.unwrap();
        assert_eq!(access.mode, AccessMode::OwnerGranted);
        assert!(!access.reshare);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let mut parts = DraftParts::default();
        let e = import("name: x\ntitel: typo\n", "f.yaml", &mut parts).unwrap_err();
        assert!(e.to_string().contains("titel"), "{e}");
        let e = import(
            "schema: {fields: [{name: a, type: nope}]}\n",
            "f.yaml",
            &mut parts,
        )
        .unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
        let e = import("access: everyone\n", "f.yaml", &mut parts).unwrap_err();
        assert!(e.to_string().contains("everyone"), "{e}");
    }
}
