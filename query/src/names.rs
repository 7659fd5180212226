//! How SQL names a data product: `domain.product`, or `domain.product@3`
//! for one version.
//!
//! `@` is not part of an SQL identifier in most dialects, so a pinned name
//! is rewritten into quoted identifiers (`"domain"."product@3"`) before the
//! statement is parsed, by splicing the original text at the tokens'
//! positions: string literals and comments stay byte for byte. Unquoted
//! names are compared in lower case, as SQL does; a quoted name keeps its
//! case.

use datafusion::common::TableReference;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::QueryError;

/// One product as a query names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProductRef {
    /// The owner's domain name (or id), as written.
    pub domain: String,
    /// The product's name.
    pub product: String,
    /// The version pinned with `@N`; `None` reads the latest.
    pub version: Option<u64>,
}

impl std::fmt::Display for ProductRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.domain, self.product)?;
        if let Some(v) = self.version {
            write!(f, "@{v}")?;
        }
        Ok(())
    }
}

impl ProductRef {
    /// The product a table reference of a statement names; a name without
    /// a domain, or with a catalog, is the user's mistake.
    pub fn from_table(table: &TableReference) -> Result<Self, QueryError> {
        let (domain, name) = match table {
            TableReference::Partial { schema, table } => (schema.as_ref(), table.as_ref()),
            TableReference::Bare { table } => {
                return Err(QueryError::User(format!(
                    "table {table:?} names no domain: write domain.{table}"
                )));
            }
            TableReference::Full { .. } => {
                return Err(QueryError::User(format!(
                    "table {table} has three parts: write domain.product or domain.product@N"
                )));
            }
        };
        let (product, version) = match name.rsplit_once('@') {
            Some((product, v)) => {
                let version = v.parse::<u64>().ok().filter(|v| *v > 0).ok_or_else(|| {
                    QueryError::User(format!(
                        "table {domain}.{name}: the version after @ must be a number from 1"
                    ))
                })?;
                (product, Some(version))
            }
            None => (name, None),
        };
        if product.is_empty() || domain.is_empty() {
            return Err(QueryError::User(format!("table {table} has an empty name")));
        }
        Ok(Self {
            domain: domain.to_owned(),
            product: product.to_owned(),
            version,
        })
    }

    /// The reference the engine registers this product's table under.
    pub fn table_reference(&self) -> TableReference {
        let table = match self.version {
            Some(v) => format!("{}@{v}", self.product),
            None => self.product.clone(),
        };
        TableReference::partial(self.domain.as_str(), table)
    }
}

/// `sql` with every `a.b@N` (written without spaces) turned into
/// `"a"."b@N"`, and every unquoted part of such a name lower-cased.
pub fn rewrite(sql: &str) -> Result<String, QueryError> {
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .with_unescape(false)
        .tokenize_with_location()
        .map_err(|e| QueryError::User(format!("SQL syntax error: {e}")))?;
    let lines: Vec<usize> = std::iter::once(0)
        .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let mut out = String::with_capacity(sql.len() + 8);
    let mut copied = 0;
    let mut i = 0;
    while i < tokens.len() {
        if let Some((domain, product, last)) = pinned(&tokens, i) {
            let (Some(start), Some(end)) = (
                offset(sql, &lines, tokens[i].span.start),
                offset(sql, &lines, tokens[last].span.end),
            ) else {
                i += 1;
                continue;
            };
            out.push_str(&sql[copied..start]);
            out.push_str(&quoted(&domain));
            out.push('.');
            out.push_str(&quoted(&product));
            copied = end;
            i = last + 1;
        } else {
            i += 1;
        }
    }
    out.push_str(&sql[copied..]);
    Ok(out)
}

/// The name starting at token `i` when it is a pinned product name: its
/// domain, its `product@N` and the index of its last token.
fn pinned(tokens: &[TokenWithSpan], i: usize) -> Option<(String, String, usize)> {
    let word = |k: usize| match &tokens.get(k)?.token {
        Token::Word(w) => Some((w.value.clone(), w.quote_style.is_some())),
        _ => None,
    };
    let case = |(v, quoted): (String, bool)| if quoted { v } else { v.to_lowercase() };
    let (domain, domain_quoted) = word(i)?;
    if tokens.get(i + 1)?.token != Token::Period {
        return None;
    }
    let (product, product_quoted) = word(i + 2)?;
    let domain = case((domain, domain_quoted));
    if !product_quoted && product.contains('@') {
        // GenericDialect reads `product@3` as one word.
        return Some((domain, product.to_lowercase(), i + 2));
    }
    match (&tokens.get(i + 3)?.token, &tokens.get(i + 4)?.token) {
        (Token::AtSign, Token::Number(n, false)) => Some((
            domain,
            format!("{}@{n}", case((product, product_quoted))),
            i + 4,
        )),
        _ => None,
    }
}

/// The byte offset of a 1-based line and character column.
fn offset(sql: &str, lines: &[usize], at: Location) -> Option<usize> {
    let line = usize::try_from(at.line).ok()?.checked_sub(1)?;
    let column = usize::try_from(at.column).ok()?.checked_sub(1)?;
    let start = *lines.get(line)?;
    Some(
        sql[start..]
            .char_indices()
            .nth(column)
            .map_or(sql.len(), |(i, _)| start + i),
    )
}

fn quoted(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_names_become_quoted_identifiers_and_nothing_else_changes() {
        assert_eq!(
            rewrite("SELECT * FROM sales.orders@3 o JOIN Crm.Customers c ON o.c = c.id").unwrap(),
            "SELECT * FROM \"sales\".\"orders@3\" o JOIN Crm.Customers c ON o.c = c.id"
        );
        assert_eq!(
            rewrite("select 'a.b@3' -- x.y@2\n, Sales.Orders@12, a.b @ 2 from t").unwrap(),
            "select 'a.b@3' -- x.y@2\n, \"sales\".\"orders@12\", a.b @ 2 from t"
        );
        assert_eq!(
            rewrite("select * from \"Sales\".orders@1").unwrap(),
            "select * from \"Sales\".\"orders@1\""
        );
        assert_eq!(
            rewrite("SELECT ' é ' , a.b@2").unwrap(),
            "SELECT ' é ' , \"a\".\"b@2\""
        );
        assert!(matches!(rewrite("select 'open"), Err(QueryError::User(_))));
    }

    #[test]
    fn table_references_name_a_domain_a_product_and_maybe_a_version() {
        let r = ProductRef::from_table(&TableReference::partial("sales", "orders@3")).unwrap();
        assert_eq!(
            (r.domain.as_str(), r.product.as_str(), r.version),
            ("sales", "orders", Some(3))
        );
        assert_eq!(r.to_string(), "sales.orders@3");
        assert_eq!(
            r.table_reference(),
            TableReference::partial("sales", "orders@3")
        );
        let latest = ProductRef::from_table(&TableReference::partial("sales", "orders")).unwrap();
        assert_eq!(latest.version, None);
        for bad in [
            TableReference::bare("orders"),
            TableReference::full("c", "sales", "orders"),
            TableReference::partial("sales", "orders@0"),
            TableReference::partial("sales", "orders@x"),
            TableReference::partial("sales", "@3"),
        ] {
            assert!(
                matches!(ProductRef::from_table(&bad), Err(QueryError::User(_))),
                "{bad}"
            );
        }
    }
}
