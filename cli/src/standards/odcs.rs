//! ODCS v3.x (Open Data Contract Standard) import and export.
//!
//! | ODCS | descriptor |
//! | --- | --- |
//! | `version` (its major number) | schema major version |
//! | `schema[0].properties[]`: `name`, `logicalType` (+ `physicalType`), `required`, `classification`, `description` | schema fields |
//! | `schema[0].quality[]`: a `missingValues`/`nullValues` rule in percent with `mustBeLessOrEqualTo` | completeness promise (100 − value) |
//! | `slaProperties[]`: `latency` / `freshness` and `retention`, with a unit | freshness and retention |
//! | `description.purpose` | description (when the ODPS file gave none) |
//! | `tags` | tags |
//! | `customProperties` `meshFormat` | format |

use mesh_protocol::SignedDescriptor;
use mesh_protocol::descriptor::{Classification, DataType, Field, Schema};
use serde_json::{Map, Value, json};

use super::{GENERATED, Header, Notes, checked, custom, customs, text};
use crate::draft_parts::DraftParts;
use crate::error::{CliError, CliResult};

const HEADER: Header = Header {
    standard: "ODCS",
    kind: "DataContract",
    reads: |api| api.starts_with("v3."),
    versions: "ODCS v3.x",
};

/// Reads an ODCS v3 document into `parts`, noting what is not carried.
pub fn import(
    doc: &Value,
    origin: &str,
    parts: &mut DraftParts,
    notes: &mut Vec<super::Note>,
) -> CliResult<()> {
    let obj = checked(doc, origin, &HEADER)?;
    let bad = |what: String| CliError::usage(format!("invalid ODCS file {origin}: {what}"));
    let version = obj
        .get("version")
        .and_then(text)
        .ok_or_else(|| bad("`version` is required".into()))?;
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        .ok_or_else(|| bad(format!("version {version:?} does not start with a number")))?;
    let mut n = Notes::new("ODCS", notes);
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
            "status" => super::status(value, &mut n),
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
            "schema" => import_schema(value, major, parts, &mut n).map_err(&bad)?,
            "slaProperties" => import_sla(value, parts, &mut n).map_err(&bad)?,
            "customProperties" => {
                for (property, v) in customs(value) {
                    match property.as_str() {
                        "meshFormat" => {
                            let f = text(&v).unwrap_or_default();
                            parts.format =
                                Some(f.parse().map_err(|e| bad(format!("meshFormat: {e}")))?);
                        }
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
            | "team"
            | "roles"
            | "authoritativeDefinitions"
            | "slaDefaultElement" => n.not_carried(key.clone()),
            other => n.unknown(other.to_owned()),
        }
    }
    Ok(())
}

fn import_schema(
    v: &Value,
    major: u32,
    parts: &mut DraftParts,
    n: &mut Notes<'_>,
) -> Result<(), String> {
    let objects = v.as_array().ok_or("schema must be a list")?;
    for (i, object) in objects.iter().enumerate() {
        if i > 0 {
            n.add(
                format!("schema[{i}]"),
                "a mesh product is one dataset; only the first schema object is published",
            );
            continue;
        }
        let obj = object.as_object().ok_or("schema[0] must be a mapping")?;
        let mut fields = Vec::new();
        for (key, value) in obj {
            match key.as_str() {
                // The object is the product itself: its name and type.
                "name" | "logicalType" | "physicalType" => {}
                "properties" => {
                    for (j, p) in value.as_array().into_iter().flatten().enumerate() {
                        fields.push(import_property(
                            p,
                            &format!("schema[0].properties[{j}]"),
                            n,
                        )?);
                    }
                }
                "quality" => import_quality(value, parts, n),
                other => n.not_carried(format!("schema[0].{other}")),
            }
        }
        parts.schema = Some(Schema { major, fields });
    }
    Ok(())
}

fn import_property(p: &Value, at: &str, n: &mut Notes<'_>) -> Result<Field, String> {
    let obj = p
        .as_object()
        .ok_or_else(|| format!("{at} must be a mapping"))?;
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{at}.name is required"))?
        .to_owned();
    let physical = obj
        .get("physicalType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let logical = obj.get("logicalType").and_then(Value::as_str);
    let data_type = if let Some(l) = logical {
        data_type(l, &physical).map_err(|e| format!("{at}: {e}"))?
    } else {
        n.add(format!("{at}.logicalType"), "missing; published as string");
        DataType::String
    };
    if logical == Some("time") {
        n.add(
            format!("{at}.logicalType"),
            "time of day is published as string",
        );
    }
    let classification = obj
        .get("classification")
        .and_then(Value::as_str)
        .and_then(|c| classification(c, &format!("{at}.classification"), n));
    if let Some(p) = obj.get("physicalType").and_then(Value::as_str)
        && odcs_type(data_type).1 != Some(physical.as_str())
    {
        n.add(
            format!("{at}.physicalType"),
            format!("{p:?} is not carried; the field is published as {data_type:?}"),
        );
    }
    for key in obj.keys() {
        if !matches!(
            key.as_str(),
            "name" | "logicalType" | "physicalType" | "required" | "classification" | "description"
        ) {
            n.not_carried(format!("{at}.{key}"));
        }
    }
    Ok(Field {
        name,
        data_type,
        nullable: !obj
            .get("required")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        classification,
        description: obj.get("description").and_then(text).unwrap_or_default(),
        constraints: mesh_protocol::contract::Constraints::default(),
        children: Vec::new(),
    })
}

/// A mesh classification for an ODCS one (free text in the standard);
/// remapped or unknown values are noted.
fn classification(c: &str, at: &str, n: &mut Notes<'_>) -> Option<Classification> {
    let Ok(mapped) = c.parse::<Classification>() else {
        n.add(
            at,
            format!("classification {c:?} is not one of public, internal, confidential, pii; the field is published unclassified"),
        );
        return None;
    };
    if mapped.to_string() != c {
        n.add(at, format!("classification {c:?} published as {mapped}"));
    }
    Some(mapped)
}

/// The mesh type for an ODCS logical type, refined by the physical type.
fn data_type(logical: &str, physical: &str) -> Result<DataType, String> {
    Ok(match logical {
        "boolean" => DataType::Boolean,
        "integer" => match physical {
            "int32" | "int" | "integer" | "smallint" | "tinyint" => DataType::Int32,
            _ => DataType::Int64,
        },
        "number" => {
            if physical.contains("decimal") || physical.contains("numeric") {
                DataType::Decimal
            } else if matches!(physical, "float32" | "float" | "real") {
                DataType::Float32
            } else {
                DataType::Float64
            }
        }
        "string" | "time" => {
            if physical.contains("binary")
                || physical.contains("bytes")
                || physical.contains("blob")
            {
                DataType::Binary
            } else {
                DataType::String
            }
        }
        "date" => DataType::Date,
        "timestamp" => DataType::Timestamp,
        "object" => DataType::Object,
        "array" => DataType::Array,
        other => return Err(format!("unknown logicalType {other:?}")),
    })
}

/// ODCS `(logicalType, physicalType)` for a mesh type.
fn odcs_type(t: DataType) -> (&'static str, Option<&'static str>) {
    match t {
        DataType::Boolean => ("boolean", None),
        DataType::Int32 => ("integer", Some("int32")),
        DataType::Int64 => ("integer", Some("int64")),
        DataType::Float32 => ("number", Some("float32")),
        DataType::Float64 => ("number", Some("float64")),
        DataType::Decimal => ("number", Some("decimal")),
        DataType::String => ("string", None),
        DataType::Binary => ("string", Some("binary")),
        DataType::Date => ("date", None),
        DataType::Timestamp => ("timestamp", None),
        DataType::Object => ("object", None),
        DataType::Array => ("array", None),
    }
}

fn import_quality(v: &Value, parts: &mut DraftParts, n: &mut Notes<'_>) {
    for (i, rule) in v.as_array().into_iter().flatten().enumerate() {
        let metric = rule.get("metric").and_then(Value::as_str);
        let percent = rule.get("unit").and_then(Value::as_str) == Some("percent");
        let limit = rule
            .get("mustBeLessOrEqualTo")
            .or_else(|| rule.get("mustBeLessThan"))
            .and_then(Value::as_f64);
        match (metric, percent, limit) {
            (Some("missingValues" | "nullValues"), true, Some(max))
                if (0.0..=100.0).contains(&max) =>
            {
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "bounded to 0..=100 just above"
                )]
                let pct = (100.0 - max).floor() as u8;
                parts.completeness_percent = Some(pct);
            }
            _ => n.add(
                format!("schema[0].quality[{i}]"),
                "only a completeness rule (missingValues in percent) is published",
            ),
        }
    }
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

fn import_sla(v: &Value, parts: &mut DraftParts, n: &mut Notes<'_>) -> Result<(), String> {
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
            ("latency" | "freshness", Some(s)) => parts.freshness_secs = Some(s),
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

/// An ODCS v3.1.0 contract for a signed descriptor.
pub fn export(signed: &SignedDescriptor) -> Value {
    let d = &signed.value;
    let mut doc = Map::new();
    doc.insert("apiVersion".into(), json!("v3.1.0"));
    doc.insert("kind".into(), json!("DataContract"));
    doc.insert("id".into(), json!(super::odps::contract_id(&d.id)));
    doc.insert("name".into(), json!(d.title));
    doc.insert("version".into(), json!(format!("{}.0.0", d.schema.major)));
    let status = if d.deprecation.is_some() {
        "deprecated"
    } else {
        "active"
    };
    doc.insert("status".into(), json!(status));
    doc.insert("domain".into(), json!(d.domain_name));
    if !d.description.is_empty() {
        doc.insert("description".into(), json!({ "purpose": d.description }));
    }
    if !d.tags.is_empty() {
        doc.insert("tags".into(), json!(d.tags));
    }
    let properties: Vec<Value> = d
        .schema
        .fields
        .iter()
        .map(|f| {
            let (logical, physical) = odcs_type(f.data_type);
            let mut p = json!({ "name": f.name, "logicalType": logical, "required": !f.nullable });
            if let Some(physical) = physical {
                p["physicalType"] = json!(physical);
            }
            if let Some(c) = f.classification {
                p["classification"] = json!(c.to_string());
            }
            if !f.description.is_empty() {
                p["description"] = json!(f.description);
            }
            p
        })
        .collect();
    let mut object = json!({
        "name": d.id.name,
        "physicalType": "file",
        "logicalType": "object",
        "properties": properties,
    });
    if let Some(pct) = d.quality.completeness_percent {
        object["quality"] = json!([{
            "name": "completeness",
            "dimension": "completeness",
            "type": "library",
            "metric": "missingValues",
            "unit": "percent",
            "mustBeLessOrEqualTo": 100 - u32::from(pct.min(100)),
        }]);
    }
    doc.insert("schema".into(), json!([object]));
    let mut sla = Vec::new();
    if let Some(secs) = d.quality.freshness_secs {
        sla.push(json!({ "property": "latency", "value": secs, "unit": "s" }));
    }
    if let Some(days) = d.retention_days {
        sla.push(json!({ "property": "retention", "value": days, "unit": "d" }));
    }
    if !sla.is_empty() {
        doc.insert("slaProperties".into(), json!(sla));
    }
    doc.insert(
        "customProperties".into(),
        json!([
            custom("meshFormat", d.format.to_string()),
            custom("meshProductId", d.id.to_string()),
            custom("meshVersion", d.version),
        ]),
    );
    Value::Object(doc)
}
