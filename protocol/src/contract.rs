//! The data contract's promises about values: what a descriptor says the
//! data holds, beyond names and types.
//!
//! A descriptor's schema says which fields exist and their types; this
//! module adds what a contract standard (ODCS) says about their values: per
//! field [`Constraints`] (unique, pattern, allowed values, bounds, a maximum
//! share of nulls), and how a CSV file spells its cells ([`CsvDialect`]).
//! They are data only: the checks that hold data to them run outside this
//! crate (in `mesh-data`), and their results come back signed as a
//! [`crate::profile::Profile`]. Validation here is structural: sizes and
//! whether a pattern compiles.

use serde::{Deserialize, Serialize};

/// Longest regular expression in a `pattern` constraint.
pub const MAX_VALUE_PATTERN_LEN: usize = 1024;
/// Most entries in an `allowed_values` list.
pub const MAX_ALLOWED_VALUES: usize = 256;
/// Longest allowed value, bound or null spelling, in bytes.
pub const MAX_VALUE_LEN: usize = 256;

/// Promises about one field's values. The default promises nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Constraints {
    /// No two non-null values are equal.
    pub unique: bool,
    /// Every non-null value, as text, matches this regular expression as a
    /// whole (anchored at both ends).
    pub pattern: Option<String>,
    /// Every non-null value, as text, is one of these.
    pub allowed_values: Vec<String>,
    /// Smallest allowed value, written as a value of the field's type.
    pub min: Option<String>,
    /// Largest allowed value, written as a value of the field's type.
    pub max: Option<String>,
    /// Largest share of null values, in percent of rows.
    pub max_null_percent: Option<u8>,
}

impl Constraints {
    /// Whether the field promises nothing beyond its type and nullability.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// Why constraints are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    /// The pattern does not compile or is too long.
    #[error("field {field:?}: invalid pattern: {reason}")]
    Pattern {
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Too many allowed values, or one too long.
    #[error("field {field:?}: {reason}")]
    Values {
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A share above 100%.
    #[error("field {field:?}: max null share {percent}% is above 100%")]
    NullShare {
        /// The field.
        field: String,
        /// The share given.
        percent: u8,
    },
}

impl Constraints {
    /// Checks sizes and that the pattern compiles.
    pub fn validate(&self, field: &str) -> Result<(), ConstraintError> {
        if let Some(pattern) = &self.pattern {
            compile_value_pattern(pattern).map_err(|reason| ConstraintError::Pattern {
                field: field.to_owned(),
                reason,
            })?;
        }
        let values = |reason: String| ConstraintError::Values {
            field: field.to_owned(),
            reason,
        };
        if self.allowed_values.len() > MAX_ALLOWED_VALUES {
            return Err(values(format!(
                "{} allowed values; at most {MAX_ALLOWED_VALUES}",
                self.allowed_values.len()
            )));
        }
        for text in self
            .allowed_values
            .iter()
            .chain(self.min.iter())
            .chain(self.max.iter())
        {
            if text.len() > MAX_VALUE_LEN {
                return Err(values(format!(
                    "a value of {} bytes; at most {MAX_VALUE_LEN}",
                    text.len()
                )));
            }
        }
        if let Some(percent) = self.max_null_percent
            && percent > 100
        {
            return Err(ConstraintError::NullShare {
                field: field.to_owned(),
                percent,
            });
        }
        Ok(())
    }
}

/// Most memory a compiled value pattern may take, and most its lazy DFA
/// may cache per thread: a short pattern can still compile to a large
/// automaton (`a{1000}{1000}`), so the size is bounded, not just the text.
pub const MAX_VALUE_PATTERN_MEMORY: usize = 1 << 20;

/// Compiles a value pattern, anchored at both ends.
///
/// The syntax is the `regex` crate's (since `PROFILE_METHOD` 2), with its
/// Unicode defaults: `\d`, `\w` and `\s` match Unicode digits, word
/// characters and spaces, `(?i)` folds Unicode case; write `[0-9]` for
/// ASCII digits only. No look-around and no back-references, so a match
/// takes time linear in the value.
pub fn compile_value_pattern(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.len() > MAX_VALUE_PATTERN_LEN {
        return Err(format!(
            "{} bytes; at most {MAX_VALUE_PATTERN_LEN}",
            pattern.len()
        ));
    }
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(MAX_VALUE_PATTERN_MEMORY)
        .dfa_size_limit(MAX_VALUE_PATTERN_MEMORY)
        .build()
        .map_err(|e| e.to_string())
}

/// How a CSV product spells its cells. The default is RFC 4180 with a header
/// row: `,` between cells, `"` around quoted cells, an empty cell is null.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CsvDialect {
    /// Byte between cells.
    pub delimiter: u8,
    /// Byte around quoted cells.
    pub quote: u8,
    /// The text that means "no value" (empty by default).
    pub null: String,
    /// Whether an empty cell is a value (the empty string) rather than a
    /// missing one. Only meaningful when `null` is not empty.
    pub empty_is_value: bool,
}

impl Default for CsvDialect {
    fn default() -> Self {
        Self {
            delimiter: b',',
            quote: b'"',
            null: String::new(),
            empty_is_value: false,
        }
    }
}

/// Why a CSV dialect is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialectError {
    /// Delimiter or quote is not printable ASCII or tab, or they are equal,
    /// or one is a line break.
    #[error(
        "csv delimiter and quote must be two different ASCII characters other than a line break"
    )]
    Bytes,
    /// The null spelling is too long or holds a line break.
    #[error("csv null spelling must be at most {MAX_VALUE_LEN} bytes without line breaks")]
    Null,
}

impl CsvDialect {
    /// Checks that a reader can use the dialect.
    pub fn validate(&self) -> Result<(), DialectError> {
        let usable = |b: u8| b == b'\t' || (b.is_ascii() && !b.is_ascii_control());
        if !usable(self.delimiter) || !usable(self.quote) || self.delimiter == self.quote {
            return Err(DialectError::Bytes);
        }
        if self.null.len() > MAX_VALUE_LEN || self.null.contains(['\n', '\r']) {
            return Err(DialectError::Null);
        }
        Ok(())
    }

    /// Whether a cell's text means "no value" under this dialect.
    pub fn is_null(&self, cell: &str) -> bool {
        if cell.is_empty() {
            self.null.is_empty() || !self.empty_is_value
        } else {
            cell == self.null
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_cells_are_null_unless_declared_values() {
        let default = CsvDialect::default();
        assert!(default.is_null(""));
        assert!(!default.is_null("NULL"));
        let spelled = CsvDialect {
            null: "NULL".into(),
            empty_is_value: true,
            ..CsvDialect::default()
        };
        assert!(spelled.is_null("NULL"));
        assert!(!spelled.is_null(""));
        let both = CsvDialect {
            null: "NA".into(),
            ..CsvDialect::default()
        };
        assert!(both.is_null("") && both.is_null("NA") && !both.is_null("x"));
    }

    #[test]
    fn value_patterns_are_anchored_unicode_and_bounded_in_memory() {
        let digits = compile_value_pattern(r"\d+").unwrap_or_else(|e| panic!("{e}"));
        let ascii = compile_value_pattern("[0-9]+").unwrap_or_else(|e| panic!("{e}"));
        assert!(digits.is_match("12") && !digits.is_match("12a"));
        // Arabic-Indic digits: a Unicode digit, not an ASCII one.
        assert!(digits.is_match("\u{663}\u{664}"));
        assert!(!ascii.is_match("\u{663}\u{664}"));
        // A short pattern whose automaton would be far larger than the
        // bound is refused, not compiled.
        let huge = compile_value_pattern("a{1000}{1000}");
        assert!(
            huge.as_ref().is_err_and(|e| e.contains("size limit")),
            "{huge:?}"
        );
    }

    #[test]
    fn constraints_validate_sizes_and_patterns() {
        let ok = Constraints {
            pattern: Some("[a-z]+@[a-z.]+".into()),
            allowed_values: vec!["a".into()],
            max_null_percent: Some(100),
            ..Constraints::default()
        };
        assert_eq!(ok.validate("f"), Ok(()));
        let bad = Constraints {
            pattern: Some("(".into()),
            ..Constraints::default()
        };
        assert!(matches!(
            bad.validate("f"),
            Err(ConstraintError::Pattern { .. })
        ));
        let share = Constraints {
            max_null_percent: Some(101),
            ..Constraints::default()
        };
        assert!(share.validate("f").is_err());
        let many = Constraints {
            allowed_values: vec![String::new(); MAX_ALLOWED_VALUES + 1],
            ..Constraints::default()
        };
        assert!(many.validate("f").is_err());
        assert!(compile_value_pattern("abc").is_ok_and(|r| !r.is_match("xabc")));
    }

    #[test]
    fn dialect_refuses_line_breaks_and_equal_bytes() {
        let same = CsvDialect {
            quote: b',',
            ..CsvDialect::default()
        };
        assert_eq!(same.validate(), Err(DialectError::Bytes));
        let newline = CsvDialect {
            delimiter: b'\n',
            ..CsvDialect::default()
        };
        assert_eq!(newline.validate(), Err(DialectError::Bytes));
        let tab = CsvDialect {
            delimiter: b'\t',
            ..CsvDialect::default()
        };
        assert_eq!(tab.validate(), Ok(()));
    }
}
