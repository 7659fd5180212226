//! ODCS library quality rules (`metric` with one `mustBe...` operator), on
//! a schema object and on a property.
//!
//! | rule | descriptor |
//! | --- | --- |
//! | object `missingValues`/`nullValues`, unit percent, `mustBeLessOrEqualTo` (or `mustBeLessThan`) x | completeness 100 − x |
//! | object `rowCount` `mustBe`, `mustBeBetween`, `mustBeGreaterThan`, `mustBeGreaterOrEqualTo`, `mustBeLessThan`, `mustBeLessOrEqualTo` | min_rows / max_rows |
//! | property `nullValues`, unit percent, `mustBeLessOrEqualTo` x (whole number) | max_null_percent x |
//! | property `nullValues` `mustBe 0` (any unit) | max_null_percent 0 |
//! | property `duplicateValues` `mustBe 0` | unique |
//! | property `invalidValues` `mustBe 0` with `arguments.validValues` | allowed_values |
//! | property `invalidValues` `mustBe 0` with `arguments.pattern` | pattern |
//!
//! Every other rule (sql, custom, text, other thresholds) is noted.

use mesh_protocol::contract::Constraints;
use mesh_protocol::descriptor::Quality;
use serde_json::{Map, Value, json};

use super::Notes;
use super::extras::Extras;

/// Keys of a rule that describe it and are not lost when it is mapped.
const DESCRIBING: [&str; 8] = [
    "id",
    "name",
    "description",
    "dimension",
    "type",
    "unit",
    "severity",
    "businessImpact",
];

/// A rule's one comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Be(f64),
    Greater(f64),
    GreaterOrEqual(f64),
    Less(f64),
    LessOrEqual(f64),
    Between(f64, f64),
    /// `mustNotBe`, `mustNotBeBetween`, a non-number, or several operators.
    Other,
}

const OPERATORS: [&str; 8] = [
    "mustBe",
    "mustNotBe",
    "mustBeGreaterThan",
    "mustBeGreaterOrEqualTo",
    "mustBeLessThan",
    "mustBeLessOrEqualTo",
    "mustBeBetween",
    "mustNotBeBetween",
];

fn op(rule: &Map<String, Value>) -> Op {
    let present: Vec<&str> = OPERATORS
        .into_iter()
        .filter(|k| rule.contains_key(*k))
        .collect();
    let [key] = present.as_slice() else {
        return Op::Other;
    };
    let value = &rule[*key];
    let number = value.as_f64();
    match (*key, number) {
        ("mustBe", Some(x)) => Op::Be(x),
        ("mustBeGreaterThan", Some(x)) => Op::Greater(x),
        ("mustBeGreaterOrEqualTo", Some(x)) => Op::GreaterOrEqual(x),
        ("mustBeLessThan", Some(x)) => Op::Less(x),
        ("mustBeLessOrEqualTo", Some(x)) => Op::LessOrEqual(x),
        ("mustBeBetween", _) => match value.as_array().map(Vec::as_slice) {
            Some([a, b]) => match (a.as_f64(), b.as_f64()) {
                (Some(a), Some(b)) if a <= b => Op::Between(a, b),
                _ => Op::Other,
            },
            _ => Op::Other,
        },
        _ => Op::Other,
    }
}

/// `x` as a count, if it is a whole number that fits.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "checked: whole, non-negative and below 2^53"
)]
fn count(x: f64) -> Option<u64> {
    (x.fract() == 0.0 && (0.0..9_007_199_254_740_992.0).contains(&x)).then_some(x as u64)
}

/// Notes the keys of a mapped rule that say more than the mapping keeps.
fn note_rest(rule: &Map<String, Value>, at: &str, n: &mut Notes<'_>) {
    for key in rule.keys() {
        let known = DESCRIBING.contains(&key.as_str())
            || OPERATORS.contains(&key.as_str())
            || matches!(key.as_str(), "metric" | "rule" | "arguments");
        if !known {
            n.not_carried(format!("{at}.{key}"));
        }
    }
}

fn metric(rule: &Map<String, Value>) -> Option<&str> {
    rule.get("metric")
        .or_else(|| rule.get("rule"))
        .and_then(Value::as_str)
}

/// Reads a schema object's rules: completeness into `quality`, row counts
/// into `extras`.
pub(super) fn import_object(
    v: &Value,
    at: &str,
    quality: &mut Quality,
    extras: &mut Extras,
    n: &mut Notes<'_>,
) {
    for (i, rule) in v.as_array().into_iter().flatten().enumerate() {
        let at = format!("{at}.quality[{i}]");
        let Some(rule) = rule.as_object() else {
            n.not_carried(at);
            continue;
        };
        let percent = rule.get("unit").and_then(Value::as_str) == Some("percent");
        let mapped = match (metric(rule), op(rule)) {
            (Some("missingValues" | "nullValues"), Op::LessOrEqual(max) | Op::Less(max))
                if percent && (0.0..=100.0).contains(&max) =>
            {
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "bounded to 0..=100 just above"
                )]
                let pct = (100.0 - max).floor() as u8;
                quality.completeness_percent = Some(pct);
                true
            }
            (Some("rowCount"), op) => row_count(op, extras),
            _ => false,
        };
        if mapped {
            note_rest(rule, &at, n);
        } else {
            n.add(
                at,
                "only a completeness rule (missingValues or nullValues in percent) and rowCount bounds are published for a table",
            );
        }
    }
}

fn row_count(op: Op, extras: &mut Extras) -> bool {
    let (min, max) = match op {
        Op::Be(x) => (count(x), count(x)),
        Op::Between(a, b) => (count(a), count(b)),
        Op::GreaterOrEqual(x) => (count(x), None),
        Op::Greater(x) => (count(x).and_then(|c| c.checked_add(1)), None),
        Op::LessOrEqual(x) => (None, count(x)),
        Op::Less(x) => (None, count(x).and_then(|c| c.checked_sub(1))),
        Op::Other => return false,
    };
    if min.is_none() && max.is_none() {
        return false;
    }
    extras.min_rows = min.or(extras.min_rows);
    extras.max_rows = max.or(extras.max_rows);
    true
}

/// Reads a property's rules into its constraints.
pub(super) fn import_property(v: &Value, at: &str, c: &mut Constraints, n: &mut Notes<'_>) {
    for (i, rule) in v.as_array().into_iter().flatten().enumerate() {
        let at = format!("{at}.quality[{i}]");
        let Some(rule) = rule.as_object() else {
            n.not_carried(at);
            continue;
        };
        let percent = rule.get("unit").and_then(Value::as_str) == Some("percent");
        let none = matches!(op(rule), Op::Be(x) | Op::LessOrEqual(x) if count(x) == Some(0));
        let args = rule.get("arguments").and_then(Value::as_object);
        let mapped = match (metric(rule), op(rule)) {
            (Some("nullValues"), _) if none && args.is_none() => {
                c.max_null_percent = Some(0);
                true
            }
            (Some("nullValues"), Op::LessOrEqual(x)) if percent && args.is_none() => {
                match count(x)
                    .and_then(|x| u8::try_from(x).ok())
                    .filter(|x| *x <= 100)
                {
                    Some(pct) => {
                        c.max_null_percent = Some(pct);
                        true
                    }
                    None => false,
                }
            }
            (Some("duplicateValues"), _) if none && args.is_none() => {
                c.unique = true;
                true
            }
            (Some("invalidValues"), _) if none => invalid_values(args, c),
            _ => false,
        };
        if mapped {
            note_rest(rule, &at, n);
        } else {
            n.add(
                at,
                "only nullValues (mustBe 0, or at most a whole percent), duplicateValues mustBe 0 and invalidValues mustBe 0 with validValues or pattern are published for a property",
            );
        }
    }
}

fn invalid_values(args: Option<&Map<String, Value>>, c: &mut Constraints) -> bool {
    let Some(args) = args else {
        return false;
    };
    let valid = args.get("validValues").and_then(Value::as_array);
    let pattern = args.get("pattern").and_then(Value::as_str);
    let only_known = args.keys().all(|k| k == "validValues" || k == "pattern");
    if !only_known || (valid.is_none() && pattern.is_none()) {
        return false;
    }
    if let Some(values) = valid {
        let texts: Option<Vec<String>> = values.iter().map(super::text).collect();
        let Some(texts) = texts else {
            return false;
        };
        c.allowed_values = texts;
    }
    if let Some(p) = pattern {
        c.pattern = Some(p.to_owned());
    }
    true
}

/// A schema object's rules for a descriptor's quality and row counts.
pub(super) fn export_object(q: &Quality) -> Vec<Value> {
    let mut rules = Vec::new();
    if let Some(pct) = q.completeness_percent {
        rules.push(json!({
            "name": "completeness",
            "dimension": "completeness",
            "type": "library",
            "metric": "missingValues",
            "unit": "percent",
            "mustBeLessOrEqualTo": 100 - u32::from(pct.min(100)),
        }));
    }
    let bound = match (q.min_rows, q.max_rows) {
        (Some(a), Some(b)) if a == b => Some(("mustBe", json!(a))),
        (Some(a), Some(b)) => Some(("mustBeBetween", json!([a, b]))),
        (Some(a), None) => Some(("mustBeGreaterOrEqualTo", json!(a))),
        (None, Some(b)) => Some(("mustBeLessOrEqualTo", json!(b))),
        (None, None) => None,
    };
    if let Some((operator, value)) = bound {
        let mut rule = json!({
            "name": "rows",
            "dimension": "completeness",
            "type": "library",
            "metric": "rowCount",
            "unit": "rows",
        });
        rule[operator] = value;
        rules.push(rule);
    }
    rules
}

/// A property's rules for its constraints (`unique` is the property's own
/// key; the pattern goes to `logicalTypeOptions` when its type has one).
pub(super) fn export_property(c: &Constraints, pattern_here: bool) -> Vec<Value> {
    let mut rules = Vec::new();
    if let Some(pct) = c.max_null_percent {
        rules.push(json!({
            "dimension": "completeness",
            "type": "library",
            "metric": "nullValues",
            "unit": "percent",
            "mustBeLessOrEqualTo": pct,
        }));
    }
    let mut args = Map::new();
    if !c.allowed_values.is_empty() {
        args.insert("validValues".into(), json!(c.allowed_values));
    }
    if pattern_here && let Some(p) = &c.pattern {
        args.insert("pattern".into(), json!(p));
    }
    if !args.is_empty() {
        rules.push(json!({
            "dimension": "conformity",
            "type": "library",
            "metric": "invalidValues",
            "arguments": args,
            "mustBe": 0,
        }));
    }
    rules
}
