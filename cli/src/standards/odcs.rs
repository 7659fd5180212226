//! ODCS v3.x (Open Data Contract Standard) import and export.
//!
//! | ODCS | descriptor |
//! | --- | --- |
//! | `version` | schema major version (its first number); a fuller version (`1.2.3`) is kept as the tag `contract-v1_2_3` |
//! | `status` `draft` / `proposed` | the tag `status-draft` / `status-proposed` (`active` is the default; others are noted) |
//! | `schema[]`: one table, picked by name (`--table`) when there are several | the product's dataset |
//! | `schema[].properties[]` (see `odcs_fields`), nested `properties` and `items` included | schema fields with their constraints |
//! | `schema[].quality[]` (see `odcs_quality`): completeness and `rowCount` | completeness, min_rows, max_rows |
//! | `slaProperties[]`: `latency` / `freshness` (its `element` naming the event-time field) and `retention`, with a unit | freshness, event_time_field, retention |
//! | `team`: the member with `role: owner` (else the team's name) | owner, when the ODPS file gave none |
//! | `description.purpose` | description (when the ODPS file gave none) |
//! | `tags` | tags |
//! | `customProperties` `meshFormat`, `meshCsv`, `meshEventTimeField` | format, CSV dialect, event-time field |
//!
//! Export writes the same mapping back, so import then export keeps the
//! version, status, constraints and nested fields.

use mesh_protocol::SignedDescriptor;
use mesh_protocol::contract::CsvDialect;
use mesh_protocol::descriptor::{Quality, Schema};
use serde_json::{Map, Value, json};

use super::extras::Extras;
use super::{GENERATED, Header, Notes, checked, custom, customs, odcs_fields, odcs_quality, text};
use crate::draft_parts::DraftParts;
use crate::error::{CliError, CliResult};

const HEADER: Header = Header {
    standard: "ODCS",
    kind: "DataContract",
    reads: |api| api.starts_with("v3."),
    versions: "ODCS v3.x",
};

/// Prefix of the tag that keeps a contract version fuller than its major.
const VERSION_TAG: &str = "contract-v";

/// Reads an ODCS v3 document into `parts`, noting what is not carried;
/// `table` picks one of several tables. What only [`import_with`] carries
/// (row counts, event time, a CSV dialect) is noted as not published.
pub fn import(
    doc: &Value,
    origin: &str,
    table: Option<&str>,
    parts: &mut DraftParts,
    notes: &mut Vec<super::Note>,
) -> CliResult<()> {
    let mut extras = Extras::default();
    import_with(doc, origin, table, parts, &mut extras, notes)?;
    let mut n = Notes::new("ODCS", notes);
    for key in extras.keys() {
        n.add(key, "this command cannot publish it yet; not published");
    }
    Ok(())
}

/// Reads an ODCS v3 document into `parts` and `extras`, noting what is not
/// carried; `table` picks one of several tables.
pub fn import_with(
    doc: &Value,
    origin: &str,
    table: Option<&str>,
    parts: &mut DraftParts,
    extras: &mut Extras,
    notes: &mut Vec<super::Note>,
) -> CliResult<()> {
    let obj = checked(doc, origin, &HEADER)?;
    let bad = |what: String| CliError::usage(format!("invalid ODCS file {origin}: {what}"));
    let version = obj
        .get("version")
        .and_then(text)
        .ok_or_else(|| bad("`version` is required".into()))?;
    let bare = version.trim_start_matches('v');
    let major = bare
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        .ok_or_else(|| bad(format!("version {version:?} does not start with a number")))?;
    let mut n = Notes::new("ODCS", notes);
    if bare != format!("{major}.0.0") {
        version_tag(bare, parts, &mut n);
    }
    let chosen = pick_table(obj.get("schema"), table).map_err(&bad)?;
    for (key, value) in obj {
        match key.as_str() {
            "apiVersion" | "kind" | "id" | "version" | "contractCreatedTs" => {}
            "name" => {
                if parts.title.is_none() {
                    parts.title = text(value);
                } else if parts.title != text(value) {
                    n.add(
                        "name",
                        "the product's title comes from the ODPS name or --title",
                    );
                }
            }
            "status" => super::status(value, parts, &mut n),
            "domain" => {
                if parts.claimed_domain.is_none() {
                    parts.claimed_domain = text(value);
                }
            }
            "tags" => super::tags(value, parts, &mut n),
            "description" => {
                for (k, v) in value.as_object().into_iter().flatten() {
                    if k == "purpose" && parts.description.is_none() {
                        parts.description = text(v);
                    } else if k != "purpose" {
                        n.not_carried(format!("description.{k}"));
                    }
                }
            }
            "schema" => {
                if let Some((i, _)) = &chosen {
                    import_schema(value, *i, major, parts, extras, &mut n).map_err(&bad)?;
                }
            }
            "slaProperties" => {
                let table = chosen.as_ref().map(|(_, name)| name.as_str());
                import_sla(value, table, parts, extras, &mut n).map_err(&bad)?;
            }
            "team" => import_team(value, parts, &mut n),
            "customProperties" => {
                for (property, v) in customs(value) {
                    match property.as_str() {
                        "meshFormat" => {
                            let f = text(&v).unwrap_or_default();
                            parts.format =
                                Some(f.parse().map_err(|e| bad(format!("meshFormat: {e}")))?);
                        }
                        "meshCsv" => {
                            extras.csv = Some(csv(&v).map_err(|e| bad(format!("meshCsv: {e}")))?);
                        }
                        "meshEventTimeField" => extras.event_time_field = text(&v),
                        p if GENERATED.contains(&p) => {}
                        other => n.not_carried(format!("customProperties.{other}")),
                    }
                }
            }
            "tenant"
            | "dataProduct"
            | "servers"
            | "support"
            | "price"
            | "roles"
            | "authoritativeDefinitions"
            | "slaDefaultElement" => n.not_carried(key.clone()),
            other => n.unknown(other.to_owned()),
        }
    }
    Ok(())
}

/// Keeps a version fuller than its major as a tag, or notes that it is cut.
fn version_tag(bare: &str, parts: &mut DraftParts, n: &mut Notes<'_>) {
    let tag = format!("{VERSION_TAG}{}", bare.replace('.', "_"));
    let fits = bare
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && mesh_protocol::descriptor::check_name(&tag).is_ok();
    if fits {
        parts.tags.insert(tag);
    } else {
        n.add(
            "version",
            format!("version {bare:?} is published as its major number only"),
        );
    }
}

/// The contract version a descriptor's tags keep, if its major still
/// matches the schema's.
fn version_of(tags: &std::collections::BTreeSet<String>, major: u32) -> String {
    tags.iter()
        .filter_map(|t| t.strip_prefix(VERSION_TAG))
        .map(|v| v.replace('_', "."))
        .find(|v| v.split('.').next() == Some(major.to_string().as_str()))
        .unwrap_or_else(|| format!("{major}.0.0"))
}

/// Whether a tag is one the standards mapping writes (kept out of the
/// exported `tags`, which get them back as `version` and `status`).
pub(crate) fn is_mapping_tag(tag: &str) -> bool {
    tag.starts_with(VERSION_TAG) || super::STATUS_TAGS.contains(&tag)
}

/// The index and name of the table to publish, if the contract has any.
fn pick_table(
    schema: Option<&Value>,
    table: Option<&str>,
) -> Result<Option<(usize, String)>, String> {
    let Some(schema) = schema else {
        return match table {
            Some(t) => Err(format!("--table {t}: the contract has no schema")),
            None => Ok(None),
        };
    };
    let objects = schema.as_array().ok_or("schema must be a list")?;
    let names: Vec<String> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| {
            o.get("name")
                .and_then(text)
                .unwrap_or_else(|| format!("schema[{i}]"))
        })
        .collect();
    let list = names.join(", ");
    match table {
        Some(t) => names
            .iter()
            .position(|name| name == t)
            .map(|i| Some((i, t.to_owned())))
            .ok_or_else(|| format!("--table {t}: no such table; the contract has {list}")),
        None if names.len() > 1 => Err(format!(
            "the contract has {} tables ({list}); pick one with --table NAME",
            names.len()
        )),
        None => Ok(names.into_iter().next().map(|name| (0, name))),
    }
}

fn import_schema(
    v: &Value,
    chosen: usize,
    major: u32,
    parts: &mut DraftParts,
    extras: &mut Extras,
    n: &mut Notes<'_>,
) -> Result<(), String> {
    let objects = v.as_array().ok_or("schema must be a list")?;
    for (i, object) in objects.iter().enumerate() {
        let at = format!("schema[{i}]");
        if i != chosen {
            n.add(
                at,
                "another table of the contract; not part of this product",
            );
            continue;
        }
        let obj = object
            .as_object()
            .ok_or_else(|| format!("{at} must be a mapping"))?;
        let mut fields = Vec::new();
        let mut quality = Quality {
            completeness_percent: parts.completeness_percent,
            ..Quality::default()
        };
        for (key, value) in obj {
            match key.as_str() {
                // The object is the product itself: its name and type.
                "name" | "logicalType" | "physicalType" => {}
                "properties" => {
                    for (j, p) in value.as_array().into_iter().flatten().enumerate() {
                        fields.push(odcs_fields::import(
                            p,
                            &format!("{at}.properties[{j}]"),
                            1,
                            n,
                        )?);
                    }
                }
                "quality" => odcs_quality::import_object(value, &at, &mut quality, extras, n),
                other => n.not_carried(format!("{at}.{other}")),
            }
        }
        parts.completeness_percent = quality.completeness_percent;
        parts.schema = Some(Schema { major, fields });
    }
    Ok(())
}

/// The team's owner becomes the product's owner when none was given.
fn import_team(v: &Value, parts: &mut DraftParts, n: &mut Notes<'_>) {
    // v3.1 writes an object with `members`; v3.0 a bare list of members.
    let (members, prefix) = match v {
        Value::Array(members) => (members.as_slice(), "team".to_owned()),
        _ => (
            v.get("members")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice),
            "team.members".to_owned(),
        ),
    };
    let owner = members.iter().position(|m| {
        m.get("role")
            .and_then(Value::as_str)
            .is_some_and(|r| r.eq_ignore_ascii_case("owner"))
    });
    let (name, email) = match owner.map(|i| &members[i]) {
        Some(m) => {
            let username = m.get("username").and_then(text).unwrap_or_default();
            let name = m
                .get("name")
                .and_then(text)
                .unwrap_or_else(|| username.clone());
            let email = username.contains('@').then_some(username);
            (Some(name), email)
        }
        None => (v.get("name").and_then(text), None),
    };
    let given = parts.owner_name.is_some() || parts.owner_email.is_some();
    if !given {
        parts.owner_name = name;
        parts.owner_email = email;
    } else if name.is_some()
        && (name != parts.owner_name || (email.is_some() && email != parts.owner_email))
    {
        n.add("team", "the product's owner comes from the ODPS file");
    }
    for i in (0..members.len()).filter(|i| Some(*i) != owner) {
        n.add(
            format!("{prefix}[{i}]"),
            "only the owner (role: owner) is published",
        );
    }
    let team_name_used = owner.is_none() && !given && parts.owner_name.is_some();
    if let Some(obj) = v.as_object() {
        for key in obj.keys() {
            if key != "members" && !(key == "name" && team_name_used) {
                n.not_carried(format!("team.{key}"));
            }
        }
    }
}

fn csv(v: &Value) -> Result<CsvDialect, String> {
    let byte = |key: &str, default: u8| match v.get(key).and_then(Value::as_str) {
        None => Ok(default),
        Some(t) if t.len() == 1 && t.is_ascii() => Ok(t.as_bytes()[0]),
        Some(t) => Err(format!("{key} {t:?} must be one ASCII character")),
    };
    let defaults = CsvDialect::default();
    let dialect = CsvDialect {
        delimiter: byte("delimiter", defaults.delimiter)?,
        quote: byte("quote", defaults.quote)?,
        null: v.get("null").and_then(text).unwrap_or_default(),
        empty_is_value: v
            .get("emptyIsValue")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    dialect.validate().map_err(|e| e.to_string())?;
    Ok(dialect)
}

/// Seconds in one `unit` as ODCS writes them.
fn unit_secs(unit: &str) -> Option<u64> {
    Some(match unit {
        "s" | "sec" | "second" | "seconds" => 1,
        "m" | "min" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "y" | "yr" | "year" | "years" => 365 * 86_400,
        _ => return None,
    })
}

fn import_sla(
    v: &Value,
    table: Option<&str>,
    parts: &mut DraftParts,
    extras: &mut Extras,
    n: &mut Notes<'_>,
) -> Result<(), String> {
    for (i, sla) in v.as_array().into_iter().flatten().enumerate() {
        let property = sla
            .get("property")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let value = sla
            .get("value")
            .and_then(|v| v.as_u64().or_else(|| text(v)?.parse().ok()));
        let unit = sla.get("unit").and_then(Value::as_str).unwrap_or("d");
        let secs = match (value, unit_secs(unit)) {
            (Some(v), Some(u)) => Some(v.saturating_mul(u)),
            _ => None,
        };
        match (property, secs) {
            ("latency" | "freshness", Some(s)) => {
                parts.freshness_secs = Some(s);
                if let Some(element) = sla.get("element").and_then(Value::as_str) {
                    match event_field(element, table) {
                        Some(field) => extras.event_time_field = Some(field.to_owned()),
                        None => n.add(
                            format!("slaProperties[{i}].element"),
                            format!("{element:?} is not one field of this table; freshness is published without an event-time field"),
                        ),
                    }
                }
            }
            ("retention", Some(s)) => {
                parts.retention_days =
                    Some(u32::try_from(s / 86_400).map_err(|_| "retention is too long")?);
            }
            _ => n.add(
                format!("slaProperties[{i}]"),
                "only latency/freshness and retention with a unit are published",
            ),
        }
    }
    Ok(())
}

/// The field an SLA `element` (`table.field` or `field`) names in `table`.
fn event_field<'a>(element: &'a str, table: Option<&str>) -> Option<&'a str> {
    if element.contains(',') {
        return None;
    }
    match element.split_once('.') {
        None => Some(element),
        Some((t, field)) if Some(t) == table && !field.contains('.') => Some(field),
        Some(_) => None,
    }
}

/// An ODCS v3.1.0 contract for a signed descriptor.
pub fn export(signed: &SignedDescriptor) -> Value {
    let d = &signed.value;
    let mut doc = Map::new();
    doc.insert("apiVersion".into(), json!("v3.1.0"));
    doc.insert("kind".into(), json!("DataContract"));
    doc.insert("id".into(), json!(super::odps::contract_id(&d.id)));
    doc.insert("name".into(), json!(d.title));
    doc.insert("version".into(), json!(version_of(&d.tags, d.schema.major)));
    doc.insert("status".into(), json!(super::export_status(d)));
    doc.insert("domain".into(), json!(d.domain_name));
    if !d.description.is_empty() {
        doc.insert("description".into(), json!({ "purpose": d.description }));
    }
    let tags: Vec<&String> = d.tags.iter().filter(|t| !is_mapping_tag(t)).collect();
    if !tags.is_empty() {
        doc.insert("tags".into(), json!(tags));
    }
    let properties: Vec<Value> = d
        .schema
        .fields
        .iter()
        .map(|f| odcs_fields::export(f, false))
        .collect();
    let mut object = json!({
        "name": d.id.name,
        "physicalType": "file",
        "logicalType": "object",
        "properties": properties,
    });
    let rules = odcs_quality::export_object(&d.quality);
    if !rules.is_empty() {
        object["quality"] = json!(rules);
    }
    doc.insert("schema".into(), json!([object]));
    if let Some(member) = super::owner_member(&d.owner) {
        doc.insert("team".into(), json!({ "members": [member] }));
    }
    let mut sla = Vec::new();
    if let Some(secs) = d.quality.freshness_secs {
        let mut latency = json!({ "property": "latency", "value": secs, "unit": "s" });
        if let Some(field) = &d.quality.event_time_field {
            latency["element"] = json!(format!("{}.{field}", d.id.name));
        }
        sla.push(latency);
    }
    if let Some(days) = d.retention_days {
        sla.push(json!({ "property": "retention", "value": days, "unit": "d" }));
    }
    if !sla.is_empty() {
        doc.insert("slaProperties".into(), json!(sla));
    }
    let mut props = vec![custom("meshFormat", d.format.to_string())];
    if let Some(csv) = &d.csv {
        props.push(custom(
            "meshCsv",
            json!({
                "delimiter": char::from(csv.delimiter).to_string(),
                "quote": char::from(csv.quote).to_string(),
                "null": csv.null,
                "emptyIsValue": csv.empty_is_value,
            }),
        ));
    }
    if let (Some(field), None) = (&d.quality.event_time_field, d.quality.freshness_secs) {
        props.push(custom("meshEventTimeField", field.as_str()));
    }
    props.push(custom("meshProductId", d.id.to_string()));
    props.push(custom("meshVersion", d.version));
    doc.insert("customProperties".into(), json!(props));
    Value::Object(doc)
}
