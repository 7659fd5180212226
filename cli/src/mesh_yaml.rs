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
//!     - { name: id, type: int64, nullable: false, constraints: { unique: true } }
//!     - name: email
//!       type: string
//!       classification: pii
//!       constraints: { pattern: "[^@]+@[^@]+", max_null_percent: 5 }
//!     - { name: status, type: string, constraints: { allowed_values: [new, paid] } }
//!     - { name: amount, type: decimal, constraints: { min: "0", max: "10000" } }
//!     - { name: at, type: timestamp, nullable: false }
//!     - name: address              # object fields hold inner `fields:`
//!       type: object
//!       fields:
//!         - { name: city, type: string }
//!     - name: lines                # an array holds one element field
//!       type: array
//!       items:                     # (or `fields:` with one entry)
//!         - { name: items, type: string }
//! quality:
//!   freshness_secs: 86400
//!   completeness_percent: 99
//!   min_rows: 1
//!   max_rows: 1000000
//!   event_time_field: at
//! csv: { delimiter: ";", quote: "\"", null: "NULL", empty_is_value: true }
//! lineage: [DOMAINID/customers]
//! access: public            # or owner-granted, or { domains: [DOMAINID, ...] }
//! reshare: true
//! retention_days: 365
//! ```
//!
//! Constraint values (`allowed_values`, `min`, `max`) are the values' text:
//! numbers may be written bare, but quote any whose spelling matters
//! (`"1.50"`). [`export`] writes a draft back in this form.

use std::collections::BTreeSet;

use mesh_node::draft::ProductDraft;
use mesh_protocol::contract::{Constraints, CsvDialect};
use mesh_protocol::descriptor::{AccessMode, DataType, Field, MAX_FIELD_DEPTH, Schema};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::draft_parts::DraftParts;
use crate::error::{CliError, CliResult};
use crate::standards::Extras;

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
    csv: Option<CsvYaml>,
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
    constraints: Option<ConstraintsYaml>,
    /// An object's inner fields, or an array's one element field.
    #[serde(default)]
    fields: Vec<FieldYaml>,
    /// An array's element field (as `mesh schema infer` writes it).
    items: Option<OneOrMore>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMore {
    One(Box<FieldYaml>),
    More(Vec<FieldYaml>),
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConstraintsYaml {
    #[serde(default)]
    unique: bool,
    pattern: Option<String>,
    #[serde(default)]
    allowed_values: Vec<Scalar>,
    min: Option<Scalar>,
    max: Option<Scalar>,
    max_null_percent: Option<u8>,
}

/// A value written bare or quoted; constraints keep its text.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(String),
}

impl Scalar {
    fn text(self) -> String {
        match self {
            Self::Bool(b) => b.to_string(),
            Self::Int(i) => i.to_string(),
            Self::UInt(u) => u.to_string(),
            Self::Float(f) => f.to_string(),
            Self::Text(s) => s,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QualityYaml {
    freshness_secs: Option<u64>,
    completeness_percent: Option<u8>,
    min_rows: Option<u64>,
    max_rows: Option<u64>,
    event_time_field: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CsvYaml {
    delimiter: Option<String>,
    quote: Option<String>,
    null: Option<String>,
    empty_is_value: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum AccessYaml {
    Named(String),
    Domains { domains: Vec<String> },
}

/// Reads a mesh YAML descriptor into `parts`. A file that sets what only
/// [`import_with`] carries (row counts, event time, a CSV dialect) is
/// refused rather than published without it.
pub fn import(text: &str, origin: &str, parts: &mut DraftParts) -> CliResult<()> {
    let mut extras = Extras::default();
    import_with(text, origin, parts, &mut extras)?;
    if extras.is_empty() {
        Ok(())
    } else {
        Err(CliError::usage(format!(
            "invalid descriptor file {origin}: {} cannot be published by this command yet",
            extras.keys().join(", ")
        )))
    }
}

/// Reads a mesh YAML descriptor into `parts` and `extras`.
pub fn import_with(
    text: &str,
    origin: &str,
    parts: &mut DraftParts,
    extras: &mut Extras,
) -> CliResult<()> {
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
        let fields = schema
            .fields
            .into_iter()
            .map(|f| field(f, 1))
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        parts.schema = Some(Schema {
            major: schema.major.unwrap_or(1),
            fields,
        });
    }
    if let Some(q) = file.quality {
        parts.freshness_secs = q.freshness_secs.or(parts.freshness_secs);
        parts.completeness_percent = q.completeness_percent.or(parts.completeness_percent);
        extras.min_rows = q.min_rows.or(extras.min_rows);
        extras.max_rows = q.max_rows.or(extras.max_rows);
        extras.event_time_field = q.event_time_field.or(extras.event_time_field.take());
    }
    if let Some(csv) = file.csv {
        extras.csv = Some(dialect(csv).map_err(|e| bad(format!("csv: {e}")))?);
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

fn field(f: FieldYaml, depth: usize) -> Result<Field, String> {
    let name = f.name;
    let at = |e: String| format!("field {name}: {e}");
    let data_type: DataType = f.data_type.parse().map_err(at)?;
    let classification = f
        .classification
        .map(|c| c.parse())
        .transpose()
        .map_err(at)?;
    let mut inner = f.fields;
    match f.items {
        Some(_) if data_type != DataType::Array => {
            return Err(at(
                "`items:` is for array fields; an object's inner fields go under `fields:`".into(),
            ));
        }
        Some(_) if !inner.is_empty() => {
            return Err(at(
                "give an array's element under `items:` or `fields:`, not both".into(),
            ));
        }
        Some(OneOrMore::One(item)) => inner.push(*item),
        Some(OneOrMore::More(items)) => inner = items,
        None => {}
    }
    if !inner.is_empty() && depth >= MAX_FIELD_DEPTH {
        return Err(at(format!("nested deeper than {MAX_FIELD_DEPTH} levels")));
    }
    let children = inner
        .into_iter()
        .map(|c| field(c, depth + 1))
        .collect::<Result<Vec<_>, _>>()?;
    let constraints = f.constraints.map(constraints).unwrap_or_default();
    constraints.validate(&name).map_err(|e| e.to_string())?;
    Ok(Field {
        name,
        data_type,
        nullable: f.nullable,
        classification,
        description: f.description,
        constraints,
        children,
    })
}

fn constraints(c: ConstraintsYaml) -> Constraints {
    Constraints {
        unique: c.unique,
        pattern: c.pattern,
        allowed_values: c.allowed_values.into_iter().map(Scalar::text).collect(),
        min: c.min.map(Scalar::text),
        max: c.max.map(Scalar::text),
        max_null_percent: c.max_null_percent,
    }
}

fn dialect(c: CsvYaml) -> Result<CsvDialect, String> {
    let byte = |text: Option<String>, what: &str, default: u8| match text {
        None => Ok(default),
        Some(t) if t.len() == 1 && t.is_ascii() => Ok(t.as_bytes()[0]),
        Some(t) => Err(format!("{what} {t:?} must be one ASCII character")),
    };
    let defaults = CsvDialect::default();
    let dialect = CsvDialect {
        delimiter: byte(c.delimiter, "delimiter", defaults.delimiter)?,
        quote: byte(c.quote, "quote", defaults.quote)?,
        null: c.null.unwrap_or_default(),
        empty_is_value: c.empty_is_value.unwrap_or(false),
    };
    dialect.validate().map_err(|e| e.to_string())?;
    Ok(dialect)
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

/// A draft as a mesh YAML descriptor file, which [`import_with`] reads back
/// to the same draft.
pub fn export(draft: &ProductDraft) -> String {
    let mut doc = Map::new();
    doc.insert("name".into(), json!(draft.name));
    doc.insert("title".into(), json!(draft.title));
    if !draft.description.is_empty() {
        doc.insert("description".into(), json!(draft.description));
    }
    if draft.owner != mesh_protocol::descriptor::Owner::default() {
        doc.insert(
            "owner".into(),
            json!({ "name": draft.owner.name, "email": draft.owner.email }),
        );
    }
    doc.insert("format".into(), json!(draft.format.to_string()));
    if !draft.tags.is_empty() {
        doc.insert("tags".into(), json!(draft.tags));
    }
    let fields: Vec<Value> = draft.schema.fields.iter().map(field_value).collect();
    doc.insert(
        "schema".into(),
        json!({ "major": draft.schema.major, "fields": fields }),
    );
    let q = &draft.quality;
    let mut quality = Map::new();
    let mut put = |key: &str, v: Option<Value>| {
        if let Some(v) = v {
            quality.insert(key.into(), v);
        }
    };
    put("freshness_secs", q.freshness_secs.map(Value::from));
    put(
        "completeness_percent",
        q.completeness_percent.map(Value::from),
    );
    put("min_rows", q.min_rows.map(Value::from));
    put("max_rows", q.max_rows.map(Value::from));
    put(
        "event_time_field",
        q.event_time_field.clone().map(Value::from),
    );
    if !quality.is_empty() {
        doc.insert("quality".into(), Value::Object(quality));
    }
    if let Some(csv) = &draft.csv {
        doc.insert(
            "csv".into(),
            json!({
                "delimiter": char::from(csv.delimiter).to_string(),
                "quote": char::from(csv.quote).to_string(),
                "null": csv.null,
                "empty_is_value": csv.empty_is_value,
            }),
        );
    }
    if !draft.lineage.is_empty() {
        let inputs: Vec<String> = draft.lineage.iter().map(ToString::to_string).collect();
        doc.insert("lineage".into(), json!(inputs));
    }
    let access = match &draft.access.mode {
        AccessMode::Public => json!("public"),
        AccessMode::OwnerGranted => json!("owner-granted"),
        AccessMode::Domains(d) => {
            json!({ "domains": d.iter().map(ToString::to_string).collect::<Vec<_>>() })
        }
    };
    doc.insert("access".into(), access);
    doc.insert("reshare".into(), json!(draft.access.reshare));
    if let Some(days) = draft.retention_days {
        doc.insert("retention_days".into(), json!(days));
    }
    if let Some(size) = draft.chunk_size {
        doc.insert("chunk_size".into(), json!(size));
    }
    crate::standards::yaml::to_string(&Value::Object(doc))
}

fn field_value(f: &Field) -> Value {
    let mut v = json!({
        "name": f.name,
        "type": format!("{:?}", f.data_type).to_lowercase(),
        "nullable": f.nullable,
    });
    if let Some(c) = f.classification {
        v["classification"] = json!(c.to_string());
    }
    if !f.description.is_empty() {
        v["description"] = json!(f.description);
    }
    let c = &f.constraints;
    if !c.is_empty() {
        let mut m = Map::new();
        if c.unique {
            m.insert("unique".into(), json!(true));
        }
        if let Some(p) = &c.pattern {
            m.insert("pattern".into(), json!(p));
        }
        if !c.allowed_values.is_empty() {
            m.insert("allowed_values".into(), json!(c.allowed_values));
        }
        if let Some(min) = &c.min {
            m.insert("min".into(), json!(min));
        }
        if let Some(max) = &c.max {
            m.insert("max".into(), json!(max));
        }
        if let Some(pct) = c.max_null_percent {
            m.insert("max_null_percent".into(), json!(pct));
        }
        v["constraints"] = Value::Object(m);
    }
    if !f.children.is_empty() {
        let children: Vec<Value> = f.children.iter().map(field_value).collect();
        v["fields"] = json!(children);
    }
    v
}
