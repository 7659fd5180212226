//! The signed profile: what the data of one product version actually holds,
//! and whether it keeps its contract.
//!
//! The owner computes a profile while publishing and signs it as part of the
//! descriptor; every consumer that fetches the bytes computes it again and
//! compares. A profile is therefore a *deterministic function of the bytes
//! and the descriptor*: the same inputs give the same profile, byte for
//! byte, on every node. The rules that make it so (row numbering, the text
//! form of values, how distinct values are counted, which violations are
//! listed and in what order) are written in `mesh-data`'s `profile` module
//! and versioned by [`PROFILE_METHOD`]; a node that computes with another
//! method does not judge the signed one.
//!
//! This module holds the data only, with the size limits every node checks
//! before it stores or forwards a descriptor carrying one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::descriptor::{DataType, MAX_FIELDS};

/// The version of the profile rules. Raised whenever a rule changes the
/// bytes of a profile.
///
/// 2: value patterns use the `regex` crate's syntax (Unicode classes)
/// instead of regex-lite's (ASCII classes).
/// 3: `unique` is checked over every value (it spills to disk) instead of
/// stopping after the first 4Mi values with a note.
/// 4: the identity of a fixed-width value (boolean, integer, float, date,
/// timestamp) is a pair of bijective finalisers of its bits instead of
/// XXH3-128, so distinct estimates above the exact limit differ.
pub const PROFILE_METHOD: u16 = 4;
/// Longest min/max text kept in a field profile, in bytes (longer values
/// are cut at a character boundary at or below this length).
pub const MAX_PROFILE_VALUE_LEN: usize = 64;
/// Most row numbers listed per violation.
pub const MAX_EXAMPLE_ROWS: usize = 5;
/// Most violations listed (the rest are counted in `more_violations`).
pub const MAX_VIOLATIONS: usize = 256;
/// Most notes listed.
pub const MAX_NOTES: usize = 64;
/// Longest note or violation detail, in bytes.
pub const MAX_DETAIL_LEN: usize = 256;
/// Distinct values are counted exactly up to this many; beyond it the count
/// is an estimate (see `mesh-data`'s `profile` module).
pub const DISTINCT_EXACT_LIMIT: u64 = 4096;

/// What one product version's data holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The rules it was computed with ([`PROFILE_METHOD`]).
    pub method: u16,
    /// Data rows (a CSV header is not a row).
    pub rows: u64,
    /// One entry per top-level column found in the data, in file order.
    pub fields: Vec<FieldProfile>,
    /// Measured completeness: see `mesh-data`'s `profile` module for the
    /// exact definition. `None` when the schema declares no field.
    pub completeness_percent: Option<u8>,
    /// Every way the data breaks its contract, ordered by field position
    /// then check. Empty means the data conforms.
    pub violations: Vec<Violation>,
    /// Violations beyond [`MAX_VIOLATIONS`], counted but not listed.
    pub more_violations: u64,
    /// Things worth knowing that break nothing (an undeclared column).
    pub notes: Vec<String>,
}

impl Profile {
    /// Whether the data keeps every promise of its contract.
    pub fn conforms(&self) -> bool {
        self.violations.is_empty() && self.more_violations == 0
    }

    /// The number of violations, listed or not.
    pub fn violation_count(&self) -> u64 {
        self.violations.len() as u64 + self.more_violations
    }
}

/// What one column holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldProfile {
    /// Column name as the file has it.
    pub name: String,
    /// The type the file stores the column as, for typed formats (Parquet,
    /// Arrow); `None` for text formats (CSV, JSON Lines).
    pub stored_as: Option<DataType>,
    /// Null values.
    pub nulls: u64,
    /// Smallest non-null value, as text, for orderable types.
    pub min: Option<String>,
    /// Largest non-null value, as text, for orderable types.
    pub max: Option<String>,
    /// Distinct non-null values.
    pub distinct: u64,
    /// Whether `distinct` is exact (at most [`DISTINCT_EXACT_LIMIT`]).
    pub distinct_exact: bool,
}

/// Which promise a violation breaks. JSON and YAML spell it in
/// kebab-case (`not-null`), as `mesh show` prints it; the signed encoding
/// is the variant's index, so the spelling is not part of any signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// The file does not parse as its declared format.
    Unreadable,
    /// A declared field is not in the data.
    Missing,
    /// A value is not a value of the declared type, or the stored type
    /// does not widen to it.
    Type,
    /// A null in a field declared not nullable.
    NotNull,
    /// A repeated value in a field declared unique.
    Unique,
    /// A value that does not match the field's pattern.
    Pattern,
    /// A value outside the field's allowed values.
    AllowedValues,
    /// A value below the field's minimum.
    Min,
    /// A value above the field's maximum.
    Max,
    /// More nulls than the field's maximum share.
    NullShare,
    /// Fewer or more rows than the quality rules allow.
    RowCount,
    /// Less complete than promised.
    Completeness,
    /// Older than promised.
    Freshness,
}

impl Check {
    const NAMES: [(Self, &'static str); 13] = [
        (Self::Unreadable, "unreadable"),
        (Self::Missing, "missing"),
        (Self::Type, "type"),
        (Self::NotNull, "not-null"),
        (Self::Unique, "unique"),
        (Self::Pattern, "pattern"),
        (Self::AllowedValues, "allowed-values"),
        (Self::Min, "min"),
        (Self::Max, "max"),
        (Self::NullShare, "null-share"),
        (Self::RowCount, "row-count"),
        (Self::Completeness, "completeness"),
        (Self::Freshness, "freshness"),
    ];

    /// The check's name as the CLI and API print it.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("unknown", |(_, n)| n)
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Check {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(c, _)| *c)
            .ok_or_else(|| format!("unknown check {s:?}"))
    }
}

/// One way the data breaks its contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The field, for field checks; `None` for the whole product.
    pub field: Option<String>,
    /// The promise broken.
    pub check: Check,
    /// How many values (or rows) break it.
    pub count: u64,
    /// The first rows that break it (1-based data row numbers), at most
    /// [`MAX_EXAMPLE_ROWS`].
    pub first_rows: Vec<u64>,
    /// What was expected and found, in words.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}: {}", self.check, self.detail)?,
            None => write!(f, "{}: {}", self.check, self.detail)?,
        }
        if self.count > 0 {
            write!(f, " ({} ", self.count)?;
            f.write_str(if self.count == 1 { "value" } else { "values" })?;
            if !self.first_rows.is_empty() {
                let rows: Vec<String> = self.first_rows.iter().map(u64::to_string).collect();
                write!(f, "; rows {}", rows.join(", "))?;
                if self.count > self.first_rows.len() as u64 {
                    f.write_str(", ...")?;
                }
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Why a profile is structurally unacceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// A list is over its limit.
    #[error("profile {what} has {count} entries; at most {max} allowed")]
    TooMany {
        /// Which list.
        what: &'static str,
        /// Its length.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A text is over its limit.
    #[error("profile {what} has {len} bytes; at most {max} allowed")]
    TooLong {
        /// Which text.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Completeness above 100%.
    #[error("profile completeness {0}% is above 100%")]
    Completeness(u8),
}

impl Profile {
    /// Checks every size limit, so a profile can never make a descriptor
    /// unbounded.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let many = |what, count, max| {
            if count > max {
                Err(ProfileError::TooMany { what, count, max })
            } else {
                Ok(())
            }
        };
        let long = |what, len, max| {
            if len > max {
                Err(ProfileError::TooLong { what, len, max })
            } else {
                Ok(())
            }
        };
        many("fields", self.fields.len(), MAX_FIELDS)?;
        many("violations", self.violations.len(), MAX_VIOLATIONS)?;
        many("notes", self.notes.len(), MAX_NOTES)?;
        if let Some(c) = self.completeness_percent
            && c > 100
        {
            return Err(ProfileError::Completeness(c));
        }
        for field in &self.fields {
            long("field name", field.name.len(), MAX_DETAIL_LEN)?;
            for value in field.min.iter().chain(field.max.iter()) {
                long("min/max value", value.len(), MAX_PROFILE_VALUE_LEN)?;
            }
        }
        for violation in &self.violations {
            many("example rows", violation.first_rows.len(), MAX_EXAMPLE_ROWS)?;
            long("violation detail", violation.detail.len(), MAX_DETAIL_LEN)?;
            if let Some(field) = &violation.field {
                long("violation field", field.len(), MAX_DETAIL_LEN)?;
            }
        }
        for note in &self.notes {
            long("note", note.len(), MAX_DETAIL_LEN)?;
        }
        Ok(())
    }
}

/// Cuts `text` to at most `max` bytes at a character boundary.
pub fn truncate_text(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        Profile {
            method: PROFILE_METHOD,
            rows: 3,
            fields: vec![FieldProfile {
                name: "id".into(),
                stored_as: None,
                nulls: 0,
                min: Some("1".into()),
                max: Some("3".into()),
                distinct: 3,
                distinct_exact: true,
            }],
            completeness_percent: Some(100),
            violations: vec![],
            more_violations: 0,
            notes: vec![],
        }
    }

    #[test]
    fn conforming_profile_validates() {
        let p = profile();
        assert!(p.conforms());
        assert_eq!(p.validate(), Ok(()));
    }

    #[test]
    fn oversized_parts_are_refused() {
        let mut p = profile();
        p.fields[0].max = Some("x".repeat(MAX_PROFILE_VALUE_LEN + 1));
        assert!(matches!(p.validate(), Err(ProfileError::TooLong { .. })));
        let mut p = profile();
        p.violations.push(Violation {
            field: None,
            check: Check::RowCount,
            count: 1,
            first_rows: vec![1; MAX_EXAMPLE_ROWS + 1],
            detail: String::new(),
        });
        assert!(!p.conforms());
        assert!(matches!(p.validate(), Err(ProfileError::TooMany { .. })));
    }

    #[test]
    fn check_names_round_trip() {
        for (check, name) in Check::NAMES {
            assert_eq!(name.parse::<Check>(), Ok(check));
            assert_eq!(check.to_string(), name);
        }
        assert!("nope".parse::<Check>().is_err());
    }

    #[test]
    fn violation_reads_as_a_sentence() {
        let v = Violation {
            field: Some("age".into()),
            check: Check::Type,
            count: 7,
            first_rows: vec![2, 5],
            detail: "expected int32".into(),
        };
        assert_eq!(
            v.to_string(),
            "age: type: expected int32 (7 values; rows 2, 5, ...)"
        );
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate_text("héllo", 2), "h");
        assert_eq!(truncate_text("abc", 5), "abc");
    }
}
