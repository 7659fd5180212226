//! ODPS v1.0.0 (Open Data Product Standard) import and export.
//!
//! | ODPS | descriptor |
//! | --- | --- |
//! | `name` | title |
//! | `description.purpose` | description |
//! | `tags` | tags |
//! | `team.members[]` with `role: owner` | owner name and email |
//! | `support[]` with a `mailto:` url | owner email (if none yet) |
//! | `inputPorts[].contractId` naming a mesh product | lineage |
//! | `outputPorts[0]` custom property `format` | format |
//! | `domain` | checked against the publishing node's domain |
//! | `customProperties` `meshAccess`, `meshReshare`, `meshRetentionDays`, `meshFreshnessSecs`, `meshCompletenessPercent` | access, retention, quality |
//!
//! `id`, `version` and `productCreatedTs` are decided by the mesh (product
//! id, node-assigned version, creation time). `status` `draft` and
//! `proposed` are kept as the tags `status-draft` / `status-proposed` and
//! exported back as the status; a deprecated product exports `deprecated`.

use mesh_protocol::descriptor::{AccessMode, AccessPolicy};
use mesh_protocol::{ProductId, SignedDescriptor, encoding};
use serde_json::{Value, json};

use super::{GENERATED, Header, Notes, checked, custom, customs, text, time};
use crate::draft_parts::DraftParts;
use crate::error::{CliError, CliResult};

/// Versions of ODPS this importer reads.
pub const API_VERSIONS: [&str; 2] = ["v1.0.0", "v0.9.0"];

const HEADER: Header = Header {
    standard: "ODPS",
    kind: "DataProduct",
    reads: |api| API_VERSIONS.contains(&api),
    versions: "ODPS v1.0.0 and v0.9.0",
};

/// Reads an ODPS document into `parts`, noting what is not carried.
pub fn import(
    doc: &Value,
    origin: &str,
    parts: &mut DraftParts,
    notes: &mut Vec<super::Note>,
) -> CliResult<()> {
    let obj = checked(doc, origin, &HEADER)?;
    let bad = |what: String| CliError::usage(format!("invalid ODPS file {origin}: {what}"));
    let mut n = Notes::new("ODPS", notes);
    // The team's owner first: a support address only fills a missing email.
    if let Some(team) = obj.get("team") {
        import_team(team, parts, &mut n);
    }
    for (key, value) in obj {
        match key.as_str() {
            // Decided by the mesh (kind, version) or by the node (created);
            // the team was read first.
            "apiVersion" | "kind" | "productCreatedTs" | "team" => {}
            "id" => {
                if value
                    .as_str()
                    .and_then(|s| s.parse::<ProductId>().ok())
                    .is_none()
                {
                    n.add(
                        "id",
                        "the mesh names a product DOMAIN/NAME; this id is not published",
                    );
                }
            }
            "name" => parts.title = text(value),
            "version" => {
                if !is_generated_version(obj) {
                    n.add(
                        "version",
                        "the node assigns versions (one above the current); not published",
                    );
                }
            }
            "status" => super::status(value, parts, &mut n),
            "domain" => parts.claimed_domain = text(value),
            "tags" => super::tags(value, parts, &mut n),
            "description" => import_description(value, parts, &mut n),
            "support" => import_support(value, parts, &mut n),
            "inputPorts" => import_inputs(value, parts, &mut n),
            "outputPorts" => import_outputs(value, parts, &mut n).map_err(&bad)?,
            "customProperties" => import_customs(value, parts, &mut n).map_err(&bad)?,
            "tenant" | "managementPorts" | "authoritativeDefinitions" => n.not_carried(key.clone()),
            other => n.unknown(other.to_owned()),
        }
    }
    Ok(())
}

fn is_generated_version(obj: &serde_json::Map<String, Value>) -> bool {
    obj.get("customProperties")
        .map(customs)
        .is_some_and(|c| c.iter().any(|(p, _)| p == "meshVersion"))
}

fn import_description(v: &Value, parts: &mut DraftParts, n: &mut Notes<'_>) {
    let Some(obj) = v.as_object() else {
        n.not_carried("description");
        return;
    };
    for (key, value) in obj {
        if key == "purpose" {
            parts.description = text(value);
        } else {
            n.not_carried(format!("description.{key}"));
        }
    }
}

fn import_team(v: &Value, parts: &mut DraftParts, n: &mut Notes<'_>) {
    let members = v.get("members").and_then(Value::as_array);
    let mut owner_taken = false;
    for (i, m) in members.into_iter().flatten().enumerate() {
        let is_owner = m
            .get("role")
            .and_then(Value::as_str)
            .is_some_and(|r| r.eq_ignore_ascii_case("owner"));
        if is_owner && !owner_taken {
            owner_taken = true;
            let username = m.get("username").and_then(text).unwrap_or_default();
            parts.owner_name = m.get("name").and_then(text).or(Some(username.clone()));
            if username.contains('@') {
                parts.owner_email = Some(username);
            }
        } else {
            n.add(
                format!("team.members[{i}]"),
                "only the owner (role: owner) is published",
            );
        }
    }
    if let Some(obj) = v.as_object() {
        for key in obj.keys().filter(|k| *k != "members") {
            n.not_carried(format!("team.{key}"));
        }
    }
}

fn import_support(v: &Value, parts: &mut DraftParts, n: &mut Notes<'_>) {
    for (i, s) in v.as_array().into_iter().flatten().enumerate() {
        let mail = s
            .get("url")
            .and_then(Value::as_str)
            .and_then(|u| u.strip_prefix("mailto:"));
        match mail {
            // The owner's own address, as exports write it.
            Some(mail) if parts.owner_email.as_deref() == Some(mail) => {}
            Some(mail) if parts.owner_email.is_none() => {
                parts.owner_email = Some(mail.to_owned());
            }
            _ => n.not_carried(format!("support[{i}]")),
        }
    }
}

fn import_inputs(v: &Value, parts: &mut DraftParts, n: &mut Notes<'_>) {
    for (i, port) in v.as_array().into_iter().flatten().enumerate() {
        // Exports write the input's contract id, `DOMAINID/name/contract`;
        // a plain product id is accepted too.
        let input = port
            .get("contractId")
            .and_then(Value::as_str)
            .and_then(|c| {
                c.strip_suffix("/contract")
                    .unwrap_or(c)
                    .parse::<ProductId>()
                    .ok()
            });
        match input {
            Some(id) => parts.lineage.push(id),
            None => n.add(
                format!("inputPorts[{i}]"),
                "lineage names mesh products (contractId DOMAINID/name); this input is not published",
            ),
        }
    }
}

fn import_outputs(v: &Value, parts: &mut DraftParts, n: &mut Notes<'_>) -> Result<(), String> {
    for (i, port) in v.as_array().into_iter().flatten().enumerate() {
        if i > 0 {
            n.add(
                format!("outputPorts[{i}]"),
                "a mesh product is one dataset; only the first output port is published",
            );
            continue;
        }
        let Some(obj) = port.as_object() else {
            continue;
        };
        for (key, value) in obj {
            match key.as_str() {
                "name" | "version" | "contractId" | "description" | "type" => {}
                "customProperties" => {
                    for (property, value) in customs(value) {
                        if property == "format" {
                            let f = text(&value).unwrap_or_default();
                            parts.format =
                                Some(f.parse().map_err(|e| format!("output port format: {e}"))?);
                        } else {
                            n.not_carried(format!("outputPorts[0].customProperties.{property}"));
                        }
                    }
                }
                other => n.not_carried(format!("outputPorts[0].{other}")),
            }
        }
    }
    Ok(())
}

fn number<T: TryFrom<u64>>(value: &Value, what: &str) -> Result<T, String> {
    value
        .as_u64()
        .or_else(|| text(value).and_then(|t| t.parse().ok()))
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| format!("custom property {what} must be a whole number in range"))
}

fn import_customs(v: &Value, parts: &mut DraftParts, n: &mut Notes<'_>) -> Result<(), String> {
    for (property, value) in customs(v) {
        match property.as_str() {
            p if GENERATED.contains(&p) => {}
            "meshAccess" => {
                let mut policy = parts.access.take().unwrap_or_default();
                policy.mode = access_mode(&value)?;
                parts.access = Some(policy);
            }
            "meshReshare" => {
                let mut policy = parts.access.take().unwrap_or_default();
                policy.reshare = value.as_bool().ok_or("meshReshare must be true or false")?;
                parts.access = Some(policy);
            }
            "meshRetentionDays" => parts.retention_days = Some(number(&value, &property)?),
            "meshFreshnessSecs" => parts.freshness_secs = Some(number(&value, &property)?),
            "meshCompletenessPercent" => {
                parts.completeness_percent = Some(number(&value, &property)?);
            }
            "meshChunkSizeWanted" => parts.chunk_size = Some(number(&value, &property)?),
            other => n.not_carried(format!("customProperties.{other}")),
        }
    }
    Ok(())
}

fn access_mode(v: &Value) -> Result<AccessMode, String> {
    match v {
        Value::String(s) if s == "public" => Ok(AccessMode::Public),
        Value::String(s) if s == "owner-granted" => Ok(AccessMode::OwnerGranted),
        Value::Array(domains) => domains
            .iter()
            .map(|d| {
                d.as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("meshAccess domain {d} is not a domain id"))
            })
            .collect::<Result<_, _>>()
            .map(AccessMode::Domains),
        other => Err(format!(
            "meshAccess {other}: use \"public\", \"owner-granted\" or a list of domain ids"
        )),
    }
}

fn access_value(policy: &AccessPolicy) -> Value {
    match &policy.mode {
        AccessMode::Public => json!("public"),
        AccessMode::OwnerGranted => json!("owner-granted"),
        AccessMode::Domains(d) => json!(d.iter().map(ToString::to_string).collect::<Vec<_>>()),
    }
}

/// The ODCS contract id exported beside a product.
pub fn contract_id(product: &ProductId) -> String {
    format!("{product}/contract")
}

/// An ODPS v1.0.0 document for a signed descriptor. `with_contract` links
/// the output port to the ODCS contract exported beside it.
pub fn export(signed: &SignedDescriptor, with_contract: bool) -> Value {
    let d = &signed.value;
    let mut doc = serde_json::Map::new();
    doc.insert("apiVersion".into(), json!("v1.0.0"));
    doc.insert("kind".into(), json!("DataProduct"));
    doc.insert("id".into(), json!(d.id.to_string()));
    doc.insert("name".into(), json!(d.title));
    doc.insert("version".into(), json!(d.version.to_string()));
    doc.insert("domain".into(), json!(d.domain_name));
    doc.insert("status".into(), json!(super::export_status(d)));
    if !d.description.is_empty() {
        doc.insert("description".into(), json!({ "purpose": d.description }));
    }
    let tags: Vec<&String> = d
        .tags
        .iter()
        .filter(|t| !super::STATUS_TAGS.contains(&t.as_str()))
        .collect();
    if !tags.is_empty() {
        doc.insert("tags".into(), json!(tags));
    }
    if let Some(member) = super::owner_member(&d.owner) {
        doc.insert("team".into(), json!({ "members": [member] }));
    }
    if !d.owner.email.is_empty() {
        doc.insert(
            "support".into(),
            json!([{ "channel": "email", "tool": "email", "url": format!("mailto:{}", crate::connect::percent_encode(&d.owner.email, b"@+")) }]),
        );
    }
    if !d.lineage.is_empty() {
        let inputs: Vec<Value> = d
            .lineage
            .iter()
            .map(|p| json!({ "name": p.name, "version": "current", "contractId": contract_id(p) }))
            .collect();
        doc.insert("inputPorts".into(), json!(inputs));
    }
    let mut port = json!({
        "name": d.id.name,
        "version": d.version.to_string(),
        "description": d.title,
        "type": "file",
        "customProperties": [custom("format", d.format.to_string())],
    });
    if with_contract {
        port["contractId"] = json!(contract_id(&d.id));
    }
    doc.insert("outputPorts".into(), json!([port]));
    // A date-time has a four-digit year; a later signed time is left out.
    if d.created_at.0 < time::YEAR_10000_MS {
        doc.insert(
            "productCreatedTs".into(),
            json!(time::rfc3339(d.created_at.0)),
        );
    }
    let mut props = vec![
        custom("meshProductId", d.id.to_string()),
        custom("meshDomainId", d.id.domain.to_string()),
        custom("meshVersion", d.version),
        custom("meshManifestHash", d.content.manifest_hash.to_string()),
        custom("meshSize", d.content.size),
        custom("meshChunkSize", d.content.chunk_size),
        custom("meshCreatedAt", d.created_at.0),
        custom("meshAccess", access_value(&d.access)),
        custom("meshReshare", d.access.reshare),
    ];
    if let Some(days) = d.retention_days {
        props.push(custom("meshRetentionDays", days));
    }
    if let Some(secs) = d.quality.freshness_secs {
        props.push(custom("meshFreshnessSecs", secs));
    }
    if let Some(pct) = d.quality.completeness_percent {
        props.push(custom("meshCompletenessPercent", pct));
    }
    if let Some(dep) = &d.deprecation {
        props.push(custom("meshDeprecationReason", dep.reason.clone()));
        if let Some(s) = &dep.successor {
            props.push(custom("meshSuccessor", s.to_string()));
        }
    }
    props.push(custom("meshSigner", signed.signer.to_string()));
    props.push(custom(
        "meshSignature",
        mesh_protocol::bytes::to_hex(&signed.signature),
    ));
    props.push(custom(
        "meshSignedDescriptor",
        mesh_protocol::bytes::to_hex(&encoding::to_bytes(signed)),
    ));
    doc.insert("customProperties".into(), json!(props));
    Value::Object(doc)
}
