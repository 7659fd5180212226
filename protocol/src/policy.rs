//! Policy rules: the computational half of federated governance.
//!
//! A rule is data (so it can be proposed, voted on and carried in a
//! certificate) and code (so every node checks it the same way).
//! [`evaluate`] checks one descriptor, and optionally the previous version of
//! the same product, against a set of rules and returns every violation with
//! a reason a person can act on. An empty result means compliant.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::descriptor::{AccessMode, Classification, Descriptor, Field, Format};

/// Longest name pattern accepted in a rule.
pub const MAX_PATTERN_LEN: usize = 256;

/// A rule every data product in the federation must meet.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PolicyRule {
    /// The owner's name and email are filled in.
    RequireOwner,
    /// Every schema field has a classification.
    RequireClassification,
    /// A product with a pii field is never publicly readable.
    PiiNeverPublic,
    /// The product's format is one of these.
    AllowedFormats(BTreeSet<Format>),
    /// Retention is stated and at most this many days.
    MaxRetentionDays(u32),
    /// The product name matches this regular expression (whole name).
    NamePattern(String),
    /// Freshness and completeness promises are stated.
    RequireQualityPromises,
    /// A breaking schema change (field removed, type narrowed, field made
    /// required) comes with a higher schema major version.
    SchemaCompatibility,
    /// The product carries a signed profile (its data was read and checked
    /// by its publisher).
    RequireProfile,
    /// The signed profile shows no contract violation. A product without a
    /// profile has nothing to show and breaks this rule too.
    DataConforms,
}

/// One way a descriptor breaks a rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The rule broken.
    pub rule: PolicyRule,
    /// What is wrong and what would fix it.
    pub reason: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule, self.reason)
    }
}

/// Why a rule itself is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The name pattern does not compile or is too long.
    #[error("invalid name pattern: {0}")]
    Pattern(String),
    /// An allowed-formats rule with no format.
    #[error("allowed-formats names no format")]
    NoFormats,
    /// Text that names no rule.
    #[error(
        "unknown rule {0:?}; known: require-owner, require-classification, pii-never-public, allowed-formats=F,F, max-retention-days=N, name-pattern=REGEX, require-quality, schema-compatibility, require-profile, data-conforms"
    )]
    Unknown(String),
}

impl PolicyRule {
    /// Checks that the rule can be evaluated.
    pub fn validate(&self) -> Result<(), RuleError> {
        match self {
            Self::NamePattern(pattern) => compile(pattern).map(|_| ()),
            Self::AllowedFormats(formats) if formats.is_empty() => Err(RuleError::NoFormats),
            _ => Ok(()),
        }
    }
}

fn compile(pattern: &str) -> Result<regex_lite::Regex, RuleError> {
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(RuleError::Pattern(format!(
            "{} bytes; at most {MAX_PATTERN_LEN}",
            pattern.len()
        )));
    }
    regex_lite::Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| RuleError::Pattern(e.to_string()))
}

impl fmt::Display for PolicyRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RequireOwner => f.write_str("require-owner"),
            Self::RequireClassification => f.write_str("require-classification"),
            Self::PiiNeverPublic => f.write_str("pii-never-public"),
            Self::AllowedFormats(formats) => {
                let names: Vec<String> = formats.iter().map(ToString::to_string).collect();
                write!(f, "allowed-formats={}", names.join(","))
            }
            Self::MaxRetentionDays(days) => write!(f, "max-retention-days={days}"),
            Self::NamePattern(p) => write!(f, "name-pattern={p}"),
            Self::RequireQualityPromises => f.write_str("require-quality"),
            Self::SchemaCompatibility => f.write_str("schema-compatibility"),
            Self::RequireProfile => f.write_str("require-profile"),
            Self::DataConforms => f.write_str("data-conforms"),
        }
    }
}

impl FromStr for PolicyRule {
    type Err = RuleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, arg) = match s.split_once('=') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (s.trim(), None),
        };
        let rule = match (name, arg) {
            ("require-owner", None) => Self::RequireOwner,
            ("require-classification", None) => Self::RequireClassification,
            ("pii-never-public", None) => Self::PiiNeverPublic,
            ("require-quality", None) => Self::RequireQualityPromises,
            ("schema-compatibility", None) => Self::SchemaCompatibility,
            ("require-profile", None) => Self::RequireProfile,
            ("data-conforms", None) => Self::DataConforms,
            ("allowed-formats", Some(list)) => {
                let mut formats = BTreeSet::new();
                for item in list.split(',').filter(|i| !i.trim().is_empty()) {
                    formats.insert(
                        item.trim()
                            .parse::<Format>()
                            .map_err(|_| RuleError::Unknown(s.to_owned()))?,
                    );
                }
                Self::AllowedFormats(formats)
            }
            ("max-retention-days", Some(n)) => {
                Self::MaxRetentionDays(n.parse().map_err(|_| RuleError::Unknown(s.to_owned()))?)
            }
            ("name-pattern", Some(p)) => Self::NamePattern(p.to_owned()),
            _ => return Err(RuleError::Unknown(s.to_owned())),
        };
        rule.validate()?;
        Ok(rule)
    }
}

/// Checks `descriptor` (and, for schema compatibility, the `previous`
/// version of the same product) against `rules`. Returns every violation.
pub fn evaluate<'a>(
    descriptor: &Descriptor,
    previous: Option<&Descriptor>,
    rules: impl IntoIterator<Item = &'a PolicyRule>,
) -> Vec<Violation> {
    let mut out = Vec::new();
    for rule in rules {
        for reason in check(rule, descriptor, previous) {
            out.push(Violation {
                rule: rule.clone(),
                reason,
            });
        }
    }
    out
}

fn check(rule: &PolicyRule, d: &Descriptor, previous: Option<&Descriptor>) -> Vec<String> {
    let mut reasons = Vec::new();
    match rule {
        PolicyRule::RequireOwner => {
            if d.owner.name.trim().is_empty() {
                reasons.push("owner name is empty; set the owning team".to_owned());
            }
            if d.owner.email.trim().is_empty() {
                reasons.push("owner email is empty; set a contact address".to_owned());
            }
        }
        PolicyRule::RequireClassification => {
            for field in d
                .schema
                .fields
                .iter()
                .flat_map(Field::walk)
                .filter(|f| f.classification.is_none())
            {
                reasons.push(format!(
                    "field {:?} has no classification; mark it public, internal, confidential or pii",
                    field.name
                ));
            }
        }
        PolicyRule::PiiNeverPublic => {
            if d.has_pii() && d.access.mode == AccessMode::Public {
                reasons.push(
                    "product has pii fields but public access; restrict access to domains or grants"
                        .to_owned(),
                );
            }
        }
        PolicyRule::AllowedFormats(formats) => {
            if !formats.contains(&d.format) {
                let names: Vec<String> = formats.iter().map(ToString::to_string).collect();
                reasons.push(format!(
                    "format {} is not allowed; use one of {}",
                    d.format,
                    names.join(", ")
                ));
            }
        }
        PolicyRule::MaxRetentionDays(max) => match d.retention_days {
            None => reasons.push(format!(
                "retention is not stated; at most {max} days allowed"
            )),
            Some(days) if days > *max => reasons.push(format!(
                "retention of {days} days exceeds the maximum of {max} days"
            )),
            Some(_) => {}
        },
        PolicyRule::NamePattern(pattern) => match compile(pattern) {
            Ok(re) if re.is_match(&d.id.name) => {}
            Ok(_) => reasons.push(format!(
                "name {:?} does not match the pattern {pattern:?}",
                d.id.name
            )),
            Err(e) => reasons.push(format!("rule is unusable: {e}")),
        },
        PolicyRule::RequireQualityPromises => {
            if d.quality.freshness_secs.is_none() {
                reasons.push("no freshness promise; state freshness in seconds".to_owned());
            }
            if d.quality.completeness_percent.is_none() {
                reasons.push("no completeness promise; state completeness in percent".to_owned());
            }
        }
        PolicyRule::SchemaCompatibility => {
            if let Some(prev) = previous {
                check_compatibility(prev, d, &mut reasons);
            }
        }
        PolicyRule::RequireProfile => {
            if d.profile.is_none() {
                reasons.push(
                    "the product is not profiled; publish it with a format meshd reads (csv, jsonl, parquet, arrow)"
                        .to_owned(),
                );
            }
        }
        PolicyRule::DataConforms => match &d.profile {
            None => reasons
                .push("the product is not profiled, so nothing shows its data conforms".to_owned()),
            Some(profile) => {
                reasons.extend(profile.violations.iter().map(ToString::to_string));
                if profile.more_violations > 0 {
                    reasons.push(format!(
                        "and {} more contract violations",
                        profile.more_violations
                    ));
                }
            }
        },
    }
    reasons
}

/// The breaking changes from `prev` to `next`, if `next` does not raise the
/// schema major version.
fn check_compatibility(prev: &Descriptor, next: &Descriptor, reasons: &mut Vec<String>) {
    if next.schema.major > prev.schema.major {
        return;
    }
    let mut breaks = Vec::new();
    for old in &prev.schema.fields {
        match next.schema.fields.iter().find(|f| f.name == old.name) {
            None => breaks.push(format!("field {:?} was removed", old.name)),
            Some(new) => {
                if !old.data_type.widens_to(new.data_type) {
                    breaks.push(format!(
                        "field {:?} changed type from {:?} to {:?}",
                        old.name, old.data_type, new.data_type
                    ));
                }
                if old.nullable && !new.nullable {
                    breaks.push(format!("field {:?} became required", old.name));
                }
            }
        }
    }
    for new in &next.schema.fields {
        if !new.nullable && !prev.schema.fields.iter().any(|f| f.name == new.name) {
            breaks.push(format!("new field {:?} is required", new.name));
        }
    }
    for b in breaks {
        reasons.push(format!(
            "{b}: a breaking change needs schema major version {} (is {})",
            u64::from(prev.schema.major) + 1,
            next.schema.major
        ));
    }
}

/// The most sensitive classification in a descriptor.
pub fn highest_classification(d: &Descriptor) -> Option<Classification> {
    d.schema
        .fields
        .iter()
        .filter_map(Field::strictest_classification)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptor::DataType;
    use crate::descriptor::tests::sample;
    use crate::identity::DomainKeypair;

    fn base() -> Descriptor {
        sample(&DomainKeypair::from_secret([1; 32]), "orders", 1)
    }

    fn violations(rule: &PolicyRule, d: &Descriptor, prev: Option<&Descriptor>) -> usize {
        evaluate(d, prev, [rule]).len()
    }

    #[test]
    fn require_owner() {
        let d = base();
        assert_eq!(violations(&PolicyRule::RequireOwner, &d, None), 0);
        let mut bad = d.clone();
        bad.owner.email.clear();
        assert_eq!(violations(&PolicyRule::RequireOwner, &bad, None), 1);
    }

    #[test]
    fn require_classification() {
        let d = base();
        assert_eq!(violations(&PolicyRule::RequireClassification, &d, None), 0);
        let mut bad = d.clone();
        bad.schema.fields[1].classification = None;
        let v = evaluate(&bad, None, [&PolicyRule::RequireClassification]);
        assert_eq!(v.len(), 1);
        assert!(v[0].reason.contains("\"email\""), "{}", v[0].reason);
    }

    #[test]
    fn data_rules_need_a_profile_and_a_clean_verdict() {
        use crate::profile::{Check, PROFILE_METHOD, Profile, Violation as DataViolation};
        let mut d = base();
        d.profile = None;
        assert_eq!(violations(&PolicyRule::RequireProfile, &d, None), 1);
        assert_eq!(violations(&PolicyRule::DataConforms, &d, None), 1);
        let clean = Profile {
            method: PROFILE_METHOD,
            rows: 1,
            fields: vec![],
            completeness_percent: Some(100),
            violations: vec![],
            more_violations: 0,
            notes: vec![],
        };
        d.profile = Some(clean.clone());
        assert_eq!(violations(&PolicyRule::RequireProfile, &d, None), 0);
        assert_eq!(violations(&PolicyRule::DataConforms, &d, None), 0);
        let broken = DataViolation {
            field: Some("order_id".into()),
            check: Check::NotNull,
            count: 2,
            first_rows: vec![3, 9],
            detail: "declared not nullable".into(),
        };
        d.profile = Some(Profile {
            violations: vec![broken.clone(), broken],
            more_violations: 3,
            ..clean
        });
        let found = evaluate(&d, None, [&PolicyRule::DataConforms]);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found[0].reason.contains("order_id: not-null"),
            "{}",
            found[0].reason
        );
        assert_eq!("data-conforms".parse(), Ok(PolicyRule::DataConforms));
        assert_eq!("require-profile".parse(), Ok(PolicyRule::RequireProfile));
    }

    #[test]
    fn pii_never_public() {
        let d = base();
        assert_eq!(violations(&PolicyRule::PiiNeverPublic, &d, None), 0);
        let mut bad = d.clone();
        bad.access.mode = AccessMode::Public;
        assert_eq!(violations(&PolicyRule::PiiNeverPublic, &bad, None), 1);
        // Public without pii is fine.
        bad.schema.fields[1].classification = Some(Classification::Internal);
        assert_eq!(violations(&PolicyRule::PiiNeverPublic, &bad, None), 0);
    }

    #[test]
    fn allowed_formats() {
        let rule: PolicyRule = "allowed-formats=csv,parquet".parse().unwrap();
        let mut d = base();
        assert_eq!(violations(&rule, &d, None), 0);
        d.format = Format::Json;
        assert_eq!(violations(&rule, &d, None), 1);
    }

    #[test]
    fn max_retention() {
        let rule = PolicyRule::MaxRetentionDays(30);
        let mut d = base();
        assert_eq!(violations(&rule, &d, None), 0);
        d.retention_days = Some(31);
        assert_eq!(violations(&rule, &d, None), 1);
        d.retention_days = None;
        assert_eq!(violations(&rule, &d, None), 1);
    }

    #[test]
    fn name_pattern() {
        let rule: PolicyRule = "name-pattern=[a-z]+_v[0-9]+".parse().unwrap();
        let mut d = base();
        assert_eq!(violations(&rule, &d, None), 1);
        d.id.name = "orders_v2".into();
        assert_eq!(violations(&rule, &d, None), 0);
        assert!("name-pattern=(".parse::<PolicyRule>().is_err());
    }

    #[test]
    fn require_quality() {
        let mut d = base();
        assert_eq!(violations(&PolicyRule::RequireQualityPromises, &d, None), 0);
        d.quality.freshness_secs = None;
        assert_eq!(violations(&PolicyRule::RequireQualityPromises, &d, None), 1);
    }

    #[test]
    fn schema_compatibility() {
        let prev = base();
        let rule = PolicyRule::SchemaCompatibility;

        // Adding a nullable field and widening a type are compatible.
        let mut ok = prev.clone();
        ok.version = 2;
        ok.schema.fields[0].data_type = DataType::Decimal;
        ok.schema.fields.push(Field {
            name: "note".into(),
            data_type: DataType::String,
            nullable: true,
            classification: Some(Classification::Public),
            description: String::new(),
            constraints: crate::contract::Constraints::default(),
            children: Vec::new(),
        });
        assert_eq!(violations(&rule, &ok, Some(&prev)), 0);

        // Removing a field, narrowing a type, making a field required: breaking.
        let mut removed = prev.clone();
        removed.schema.fields.pop();
        assert_eq!(violations(&rule, &removed, Some(&prev)), 1);
        let mut narrowed = prev.clone();
        narrowed.schema.fields[0].data_type = DataType::Int32;
        assert_eq!(violations(&rule, &narrowed, Some(&prev)), 1);
        let mut required = prev.clone();
        required.schema.fields[1].nullable = false;
        assert_eq!(violations(&rule, &required, Some(&prev)), 1);

        // The same breaking change with a new major version is allowed.
        let mut major = removed.clone();
        major.schema.major = 2;
        assert_eq!(violations(&rule, &major, Some(&prev)), 0);
    }

    #[test]
    fn rule_text_roundtrip() {
        for text in [
            "require-owner",
            "require-classification",
            "pii-never-public",
            "allowed-formats=csv,parquet",
            "max-retention-days=90",
            "name-pattern=sales_.*",
            "require-quality",
            "schema-compatibility",
        ] {
            let rule: PolicyRule = text.parse().unwrap();
            assert_eq!(rule.to_string(), text);
        }
        assert!(matches!(
            "no-such-rule".parse::<PolicyRule>(),
            Err(RuleError::Unknown(_))
        ));
    }
}
