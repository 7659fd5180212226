//! YAML output that every reader types the same way.
//!
//! A YAML 1.1 reader (PyYAML's `safe_load`, many Java tools) turns plain
//! `2026-11-25T12:00:00Z` into a datetime and `yes`, `no`, `on`, `off`,
//! `y`, `n` into booleans. Here a string is written plain only when it
//! starts with a letter, holds nothing but letters, digits and ` _./@+-`,
//! and is not one of those words (nor `true`, `false`, `null`); anything
//! else is double-quoted with JSON escapes, which YAML reads as the same
//! string. Mappings and sequences are written in block style, keys in
//! document order.

use serde_json::Value;

/// The document as YAML.
pub(crate) fn to_string(doc: &Value) -> String {
    let mut out = String::new();
    match doc {
        Value::Object(map) if !map.is_empty() => mapping(map, 0, &mut out),
        Value::Array(items) if !items.is_empty() => sequence(items, 0, &mut out),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

/// A scalar or empty collection, as it is written after `key: ` or `- `.
fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => text(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        _ => false,
    }
}

/// A string as a YAML scalar: plain when every reader gives it back as
/// this string, else double-quoted.
pub(crate) fn text(s: &str) -> String {
    const RETYPED: [&str; 11] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf",
    ];
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && !s.ends_with(' ')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || " _./@+-".contains(c))
        && !RETYPED.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_owned()
    } else {
        // A JSON string is a YAML double-quoted scalar with the same value.
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

fn mapping(map: &serde_json::Map<String, Value>, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for (key, value) in map {
        out.push_str(&pad);
        out.push_str(&text(key));
        out.push(':');
        if is_block(value) {
            out.push('\n');
            block(value, indent + 2, out);
        } else {
            out.push(' ');
            out.push_str(&scalar(value));
            out.push('\n');
        }
    }
}

fn sequence(items: &[Value], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for item in items {
        if is_block(item) {
            // The item's first line goes on the `- ` line.
            let mut inner = String::new();
            block(item, indent + 2, &mut inner);
            out.push_str(&pad);
            out.push_str("- ");
            out.push_str(inner.get(indent + 2..).unwrap_or_default());
        } else {
            out.push_str(&pad);
            out.push_str("- ");
            out.push_str(&scalar(item));
            out.push('\n');
        }
    }
}

fn block(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(map) => mapping(map, indent, out),
        Value::Array(items) => sequence(items, indent, out),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn retyped_words_and_timestamps_are_quoted() {
        for s in [
            "yes", "No", "on", "OFF", "y", "null", "true", "1.0", "", " a",
        ] {
            assert!(text(s).starts_with('"'), "{s:?} left plain");
        }
        assert_eq!(
            text("2026-11-25T12:00:00.000Z"),
            "\"2026-11-25T12:00:00.000Z\""
        );
        assert_eq!(text("Daily orders"), "Daily orders");
        assert_eq!(text("a: b"), "\"a: b\"");
    }

    #[test]
    fn nested_documents_parse_back_the_same() {
        let doc = json!({
            "a": [ { "b": 1, "c": ["x", "yes", {"d": null}] }, [], {}, [[1, 2]] ],
            "e": { "f": { "g": "2026-01-01" } },
            "h": "line\nbreak \"quoted\"",
        });
        let text = to_string(&doc);
        let back: Value = serde_yaml_ng::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(back, doc, "{text}");
    }
}
