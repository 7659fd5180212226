//! How a derived product was made: the query, the exact input versions it
//! read, and which input columns each output column comes from.
//!
//! A product published from a query (`mesh query --publish`) carries its
//! [`Derivation`] inside the signed descriptor, so a consumer sees how the
//! product was computed without asking its owner, and every input is named
//! by version and descriptor hash: the lineage says which bytes were read,
//! not only which product. The node fills it in from the query plan; no
//! publisher types it. [`Derivation::validate`] keeps it bounded and
//! consistent with the descriptor's `lineage` list, which stays the
//! version-free summary older tools read.

use serde::{Deserialize, Serialize};

use crate::Hash;
use crate::descriptor::{MAX_FIELDS, MAX_LINEAGE, ProductId};

/// Longest query text a descriptor carries.
pub const MAX_QUERY_LEN: usize = 16 * 1024;
/// Most (column, source) pairs across a derivation's columns.
pub const MAX_COLUMN_SOURCES: usize = 4096;

/// One input a derived product read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivedInput {
    /// The product.
    pub product: ProductId,
    /// The version read.
    pub version: u64,
    /// The hash of that version's descriptor (see
    /// [`crate::Descriptor::hash`]): names the exact bytes and contract.
    pub descriptor: Hash,
}

/// One input column an output column is computed from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnSource {
    /// Index into [`Derivation::inputs`].
    pub input: u32,
    /// The input's column.
    pub column: String,
}

/// One output column and where its values come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivedColumn {
    /// The output column (a top-level schema field).
    pub name: String,
    /// The input columns it is computed from; empty for a constant.
    pub sources: Vec<ColumnSource>,
}

/// How a derived product was computed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Derivation {
    /// The SQL statement as the publisher ran it.
    pub query: String,
    /// Every product the query read, at the version read.
    pub inputs: Vec<DerivedInput>,
    /// Column-level lineage, one entry per output column.
    pub columns: Vec<DerivedColumn>,
}

/// Why a derivation is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DerivationError {
    /// No query text.
    #[error("derivation: the query is empty")]
    EmptyQuery,
    /// Query text too long.
    #[error("derivation: the query has {0} bytes; at most {MAX_QUERY_LEN} allowed")]
    QueryTooLong(usize),
    /// No inputs, or more than the lineage may list.
    #[error("derivation: {0} inputs; between 1 and {MAX_LINEAGE} allowed")]
    Inputs(usize),
    /// Too many columns or column sources.
    #[error("derivation: {0} columns or column sources is over the limit")]
    TooManyColumns(usize),
    /// A column source names an input that is not listed.
    #[error("derivation: column {column:?} names input {input}, which is not listed")]
    UnknownInput {
        /// The output column.
        column: String,
        /// The index.
        input: u32,
    },
    /// The descriptor's lineage is not the derivation's inputs.
    #[error("derivation: the lineage must list exactly the derivation's input products")]
    LineageMismatch,
    /// A derivation column is not a schema field.
    #[error("derivation: column {0:?} is not a field of the schema")]
    UnknownColumn(String),
}

impl Derivation {
    /// The distinct input products in first-read order: what the
    /// descriptor's `lineage` lists.
    pub fn lineage(&self) -> Vec<ProductId> {
        let mut out: Vec<ProductId> = Vec::new();
        for input in &self.inputs {
            if !out.contains(&input.product) {
                out.push(input.product.clone());
            }
        }
        out
    }

    /// Checks limits and that every reference resolves. `lineage` is the
    /// descriptor's list; `fields` its top-level field names.
    pub fn validate<'a>(
        &self,
        lineage: &[ProductId],
        mut fields: impl Iterator<Item = &'a str>,
    ) -> Result<(), DerivationError> {
        if self.query.trim().is_empty() {
            return Err(DerivationError::EmptyQuery);
        }
        if self.query.len() > MAX_QUERY_LEN {
            return Err(DerivationError::QueryTooLong(self.query.len()));
        }
        if self.inputs.is_empty() || self.inputs.len() > MAX_LINEAGE {
            return Err(DerivationError::Inputs(self.inputs.len()));
        }
        if self.lineage() != lineage {
            return Err(DerivationError::LineageMismatch);
        }
        if self.columns.len() > MAX_FIELDS {
            return Err(DerivationError::TooManyColumns(self.columns.len()));
        }
        let sources: usize = self.columns.iter().map(|c| c.sources.len()).sum();
        if sources > MAX_COLUMN_SOURCES {
            return Err(DerivationError::TooManyColumns(sources));
        }
        let names: Vec<&str> = fields.by_ref().collect();
        for column in &self.columns {
            if !names.contains(&column.name.as_str()) {
                return Err(DerivationError::UnknownColumn(column.name.clone()));
            }
            if let Some(s) = column
                .sources
                .iter()
                .find(|s| s.input as usize >= self.inputs.len())
            {
                return Err(DerivationError::UnknownInput {
                    column: column.name.clone(),
                    input: s.input,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DomainKeypair;

    fn product(name: &str) -> ProductId {
        ProductId {
            domain: DomainKeypair::from_secret([7; 32]).domain_id(),
            name: name.into(),
        }
    }

    fn derivation() -> Derivation {
        let input = |name: &str, version| DerivedInput {
            product: product(name),
            version,
            descriptor: Hash::of(name.as_bytes()),
        };
        Derivation {
            query: "SELECT email FROM sales.orders".into(),
            // The same product read at two versions lists it once.
            inputs: vec![input("orders", 2), input("orders", 1), input("users", 5)],
            columns: vec![DerivedColumn {
                name: "email".into(),
                sources: vec![ColumnSource {
                    input: 2,
                    column: "email".into(),
                }],
            }],
        }
    }

    #[test]
    fn a_consistent_derivation_validates() {
        let d = derivation();
        assert_eq!(d.lineage(), vec![product("orders"), product("users")]);
        assert_eq!(d.validate(&d.lineage(), ["email", "n"].into_iter()), Ok(()));
    }

    #[test]
    fn every_inconsistency_is_refused() {
        let d = derivation();
        let fields = || ["email"].into_iter();
        assert_eq!(
            d.validate(&[product("orders")], fields()),
            Err(DerivationError::LineageMismatch)
        );
        let mut bad = d.clone();
        bad.columns[0].sources[0].input = 3;
        assert!(matches!(
            bad.validate(&d.lineage(), fields()),
            Err(DerivationError::UnknownInput { input: 3, .. })
        ));
        assert_eq!(
            d.validate(&d.lineage(), ["other"].into_iter()),
            Err(DerivationError::UnknownColumn("email".into()))
        );
        let mut bad = d.clone();
        bad.query = " ".into();
        assert_eq!(
            bad.validate(&d.lineage(), fields()),
            Err(DerivationError::EmptyQuery)
        );
        bad.query = "x".repeat(MAX_QUERY_LEN + 1);
        assert_eq!(
            bad.validate(&d.lineage(), fields()),
            Err(DerivationError::QueryTooLong(MAX_QUERY_LEN + 1))
        );
        let mut bad = d.clone();
        bad.inputs.clear();
        assert_eq!(bad.validate(&[], fields()), Err(DerivationError::Inputs(0)));
    }
}
