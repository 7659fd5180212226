//! The Bitol standards data teams already write: the Open Data Product
//! Standard (ODPS v1.0.0) for the product and the Open Data Contract
//! Standard (ODCS v3.x) for its schema, quality rules and SLA.
//!
//! Import maps what the standards say onto a descriptor draft and reports,
//! as [`Note`]s, every field meshd cannot carry; nothing is dropped
//! silently. Export writes documents that validate against the official
//! JSON Schemas (both forbid extra keys), so mesh-only facts (product id,
//! version, manifest hash, size, signer and signature, and the whole signed
//! descriptor as a detached envelope) travel in `customProperties`.

pub mod extras;
pub mod odcs;
mod odcs_fields;
mod odcs_quality;
pub mod odps;
mod time;
pub(crate) mod yaml;

pub use extras::Extras;
pub use time::rfc3339;

use serde_json::{Map, Value};

use crate::error::{CliError, CliResult};

/// A field of a standards file that meshd does not carry.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Note {
    /// `ODPS` or `ODCS`.
    pub standard: &'static str,
    /// Path of the field, e.g. `team.members[1]`.
    pub field: String,
    /// Why it is not carried.
    pub reason: String,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} `{}`: {}", self.standard, self.field, self.reason)
    }
}

/// Collects notes for one standard.
pub(crate) struct Notes<'a> {
    standard: &'static str,
    out: &'a mut Vec<Note>,
}

impl<'a> Notes<'a> {
    pub(crate) fn new(standard: &'static str, out: &'a mut Vec<Note>) -> Self {
        Self { standard, out }
    }

    pub(crate) fn add(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.out.push(Note {
            standard: self.standard,
            field: field.into(),
            reason: reason.into(),
        });
    }

    pub(crate) fn not_carried(&mut self, field: impl Into<String>) {
        self.add(
            field,
            "meshd descriptors have no place for it; not published",
        );
    }

    pub(crate) fn unknown(&mut self, field: impl Into<String>) {
        let reason = format!("not a field of {}; ignored", self.standard);
        self.add(field, reason);
    }
}

/// Custom properties the mesh writes on export and regenerates on publish:
/// importing an exported file accepts them without a note.
pub(crate) const GENERATED: [&str; 10] = [
    "meshProductId",
    "meshDomainId",
    "meshVersion",
    "meshManifestHash",
    "meshSize",
    "meshChunkSize",
    "meshSigner",
    "meshSignature",
    "meshCreatedAt",
    "meshSignedDescriptor",
];

/// Parses a standards file (YAML or JSON) into a JSON value.
pub fn parse(text: &str, origin: &str) -> CliResult<Value> {
    serde_yaml_ng::from_str::<Value>(text)
        .map_err(|e| CliError::usage(format!("invalid descriptor file {origin}: {e}")))
}

/// What kind of document a file holds, from its `kind`.
pub fn kind(doc: &Value) -> Option<&str> {
    doc.get("kind").and_then(Value::as_str)
}

/// What a standard's documents must start with.
pub(crate) struct Header {
    /// `ODPS` or `ODCS`.
    pub(crate) standard: &'static str,
    /// The required `kind`.
    pub(crate) kind: &'static str,
    /// Whether an `apiVersion` is one this importer reads.
    pub(crate) reads: fn(&str) -> bool,
    /// The versions it reads, for the error message.
    pub(crate) versions: &'static str,
}

/// The document's top-level mapping, once its header checks out: the
/// required string fields `apiVersion`, `kind`, `id` and `status`, a
/// readable `apiVersion` and the right `kind`.
pub(crate) fn checked<'a>(
    doc: &'a Value,
    origin: &str,
    header: &Header,
) -> CliResult<&'a Map<String, Value>> {
    let standard = header.standard;
    let bad = |what: String| CliError::usage(format!("invalid {standard} file {origin}: {what}"));
    let obj = doc
        .as_object()
        .ok_or_else(|| bad("the top level must be a mapping".into()))?;
    for key in ["apiVersion", "kind", "id", "status"] {
        if !obj.get(key).is_some_and(Value::is_string) {
            return Err(bad(format!("`{key}` is required and must be a string")));
        }
    }
    let api = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !(header.reads)(api) {
        return Err(bad(format!(
            "apiVersion {api:?}; meshd reads {}",
            header.versions
        )));
    }
    if kind(doc) != Some(header.kind) {
        return Err(bad(format!("kind must be {}", header.kind)));
    }
    Ok(obj)
}

/// A scalar as text (YAML turns `version: 1.0` into a number).
pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The tags that keep a `draft` or `proposed` status.
pub(crate) const STATUS_TAGS: [&str; 2] = ["status-draft", "status-proposed"];

/// The document's `status`: `active` is what publishing means; `draft` and
/// `proposed` are kept as the tag `status-draft` / `status-proposed` (and
/// exported back as the status); anything else is noted.
pub(crate) fn status(
    value: &Value,
    parts: &mut crate::draft_parts::DraftParts,
    notes: &mut Notes<'_>,
) {
    let status = value.as_str().unwrap_or_default();
    match status {
        "active" => {}
        "draft" | "proposed" => {
            parts.tags.insert(format!("status-{status}"));
        }
        _ => notes.add(
            "status",
            format!("status {status:?} is not published; deprecate with `mesh deprecate`"),
        ),
    }
}

/// The status a descriptor is exported with: `deprecated` once deprecated,
/// else the status its tags keep, else `active`.
pub(crate) fn export_status(d: &mesh_protocol::descriptor::Descriptor) -> &'static str {
    if d.deprecation.is_some() {
        "deprecated"
    } else if d.tags.contains("status-draft") {
        "draft"
    } else if d.tags.contains("status-proposed") {
        "proposed"
    } else {
        "active"
    }
}

/// The owner as a standards team member with `role: owner`.
pub(crate) fn owner_member(owner: &mesh_protocol::descriptor::Owner) -> Option<Value> {
    if owner.name.is_empty() && owner.email.is_empty() {
        return None;
    }
    let username = if owner.email.is_empty() {
        &owner.name
    } else {
        &owner.email
    };
    let mut member = serde_json::json!({ "username": username, "role": "owner" });
    if !owner.name.is_empty() {
        member["name"] = serde_json::json!(owner.name);
    }
    Some(member)
}

/// The document's `tags`, as mesh tags.
pub(crate) fn tags(
    value: &Value,
    parts: &mut crate::draft_parts::DraftParts,
    notes: &mut Notes<'_>,
) {
    for (i, t) in value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(text)
        .enumerate()
    {
        let t = tag(&t, format!("tags[{i}]"), notes);
        parts.tags.insert(t);
    }
}

/// A standards tag as a mesh tag (lowercase, spaces as `-`), noting any
/// change.
pub(crate) fn tag(raw: &str, at: String, notes: &mut Notes<'_>) -> String {
    let tag: String = raw
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_whitespace() { '-' } else { c })
        .collect();
    if tag != raw {
        notes.add(at, format!("tag {raw:?} published as {tag:?}"));
    }
    tag
}

/// A `customProperties` entry.
pub(crate) fn custom(property: &str, value: impl Into<Value>) -> Value {
    serde_json::json!({ "property": property, "value": value.into() })
}

/// The `(property, value)` pairs of a `customProperties` array.
pub(crate) fn customs(v: &Value) -> Vec<(String, Value)> {
    v.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    Some((
                        i.get("property")?.as_str()?.to_owned(),
                        i.get("value").cloned().unwrap_or(Value::Null),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Serialises a document as YAML, or JSON when the path ends in `.json`.
/// The YAML quotes every string a YAML 1.1 reader would retype
/// (timestamps, `yes`, `no`, `on`, ...).
pub fn render(doc: &Value, path: &std::path::Path) -> CliResult<String> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        serde_json::to_string_pretty(doc)
            .map(|s| s + "\n")
            .map_err(|e| CliError::failed(format!("cannot encode JSON: {e}")))
    } else {
        Ok(yaml::to_string(doc))
    }
}
