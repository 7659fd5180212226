//! ODCS schema properties as descriptor fields, and back.
//!
//! | ODCS property | field |
//! | --- | --- |
//! | `name`, `logicalType` (+ `physicalType`), `required`, `classification`, `description` | name, type, nullable, classification, description |
//! | `unique` | constraints.unique |
//! | `logicalTypeOptions.pattern` (string types) | constraints.pattern |
//! | `logicalTypeOptions.minimum` / `maximum` (integer, number, date, timestamp, time) | constraints.min / max, as text |
//! | `quality[]` (see `odcs_quality`) | null share, unique, allowed values, pattern |
//! | `properties[]` of an object property | inner fields |
//! | `items` of an array property (its `name` defaults to `items`) | the one element field |
//! | `customProperties` `meshMinimum` / `meshMaximum` | min / max the ODCS type has no place for |
//!
//! A pattern matches a value's whole text (meshd anchors it at both ends).

use mesh_protocol::contract::Constraints;
use mesh_protocol::descriptor::{Classification, DataType, Field, MAX_FIELD_DEPTH};
use serde_json::{Map, Value, json};

use super::{Notes, custom, customs, odcs_quality, text};

/// The name an array's element field takes when ODCS gives none.
const ITEMS: &str = "items";

/// Reads one property (at depth 1 for a table's own columns).
pub(super) fn import(
    p: &Value,
    at: &str,
    depth: usize,
    n: &mut Notes<'_>,
) -> Result<Field, String> {
    let obj = p
        .as_object()
        .ok_or_else(|| format!("{at} must be a mapping"))?;
    let name = match obj.get("name").and_then(Value::as_str) {
        Some(name) => name.to_owned(),
        None if depth > 1 && at.rsplit('.').next() == Some(ITEMS) => ITEMS.to_owned(),
        None => return Err(format!("{at}.name is required")),
    };
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
    let mut constraints = Constraints {
        unique: obj.get("unique").and_then(Value::as_bool).unwrap_or(false),
        ..Constraints::default()
    };
    let mut children = Vec::new();
    for (key, value) in obj {
        match key.as_str() {
            "name" | "logicalType" | "physicalType" | "required" | "classification"
            | "description" | "unique" => {}
            "logicalTypeOptions" => {
                options(value, logical, &format!("{at}.{key}"), &mut constraints, n);
            }
            "quality" => odcs_quality::import_property(value, at, &mut constraints, n),
            "customProperties" => {
                for (property, v) in customs(value) {
                    match (property.as_str(), text(&v)) {
                        ("meshMinimum", Some(t)) => constraints.min = Some(t),
                        ("meshMaximum", Some(t)) => constraints.max = Some(t),
                        _ => n.not_carried(format!("{at}.customProperties.{property}")),
                    }
                }
            }
            "properties" if data_type == DataType::Object => {
                if depth >= MAX_FIELD_DEPTH {
                    return Err(format!("{at}: nested deeper than {MAX_FIELD_DEPTH} levels"));
                }
                for (j, inner) in value.as_array().into_iter().flatten().enumerate() {
                    children.push(import(
                        inner,
                        &format!("{at}.properties[{j}]"),
                        depth + 1,
                        n,
                    )?);
                }
            }
            "items" if data_type == DataType::Array => {
                if depth >= MAX_FIELD_DEPTH {
                    return Err(format!("{at}: nested deeper than {MAX_FIELD_DEPTH} levels"));
                }
                children.push(import(value, &format!("{at}.items"), depth + 1, n)?);
            }
            other => n.not_carried(format!("{at}.{other}")),
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
        constraints,
        children,
    })
}

/// `logicalTypeOptions`: the pattern and bounds meshd checks.
fn options(v: &Value, logical: Option<&str>, at: &str, c: &mut Constraints, n: &mut Notes<'_>) {
    let bounded = matches!(
        logical,
        Some("integer" | "number" | "date" | "timestamp" | "time")
    );
    for (key, value) in v.as_object().into_iter().flatten() {
        match (key.as_str(), text(value)) {
            ("pattern", Some(p)) if logical == Some("string") => c.pattern = Some(p),
            ("minimum", Some(t)) if bounded => c.min = Some(t),
            ("maximum", Some(t)) if bounded => c.max = Some(t),
            _ => n.not_carried(format!("{at}.{key}")),
        }
    }
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
pub(super) fn odcs_type(t: DataType) -> (&'static str, Option<&'static str>) {
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

/// A bound as ODCS writes it for `logical`, if the type has a place for it
/// and the value reads back as the same text.
fn bound(logical: &str, t: &str) -> Option<Value> {
    match logical {
        "date" | "timestamp" => Some(json!(t)),
        "integer" | "number" => {
            let n: serde_json::Number = serde_json::from_str(t).ok()?;
            (n.to_string() == t).then_some(Value::Number(n))
        }
        _ => None,
    }
}

/// One field as an ODCS property; an array's element is written as its
/// `items` (named only when not `items`).
pub(super) fn export(f: &Field, element: bool) -> Value {
    let (logical, physical) = odcs_type(f.data_type);
    let mut p = Map::new();
    if !element || f.name != ITEMS {
        p.insert("name".into(), json!(f.name));
    }
    p.insert("logicalType".into(), json!(logical));
    p.insert("required".into(), json!(!f.nullable));
    if let Some(physical) = physical {
        p.insert("physicalType".into(), json!(physical));
    }
    if let Some(c) = f.classification {
        p.insert("classification".into(), json!(c.to_string()));
    }
    if !f.description.is_empty() {
        p.insert("description".into(), json!(f.description));
    }
    let c = &f.constraints;
    if c.unique {
        p.insert("unique".into(), json!(true));
    }
    let mut opts = Map::new();
    let mut customs = Vec::new();
    let pattern_in_options = logical == "string" && c.pattern.is_some();
    if pattern_in_options {
        opts.insert("pattern".into(), json!(c.pattern));
    }
    for (key, custom_key, value) in [
        ("minimum", "meshMinimum", &c.min),
        ("maximum", "meshMaximum", &c.max),
    ] {
        if let Some(t) = value {
            match bound(logical, t) {
                Some(v) => {
                    opts.insert(key.into(), v);
                }
                None => customs.push(custom(custom_key, t.as_str())),
            }
        }
    }
    if !opts.is_empty() {
        p.insert("logicalTypeOptions".into(), Value::Object(opts));
    }
    let rules = odcs_quality::export_property(c, !pattern_in_options);
    if !rules.is_empty() {
        p.insert("quality".into(), json!(rules));
    }
    match f.data_type {
        DataType::Object if !f.children.is_empty() => {
            let inner: Vec<Value> = f.children.iter().map(|c| export(c, false)).collect();
            p.insert("properties".into(), json!(inner));
        }
        DataType::Array => {
            if let Some(item) = f.children.first() {
                p.insert("items".into(), export(item, true));
            }
        }
        _ => {}
    }
    if !customs.is_empty() {
        p.insert("customProperties".into(), json!(customs));
    }
    Value::Object(p)
}
