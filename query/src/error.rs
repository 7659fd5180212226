//! What can go wrong with a query, split by whose mistake it is: the
//! CLI exits 2 for what the user typed and 1 for what failed.

use datafusion::error::DataFusionError;

/// A query that did not answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The statement is wrong: a syntax error, an unknown table or
    /// column, a type error, a statement that is not a query.
    #[error("{0}")]
    User(String),
    /// The engine needed more memory than its budget and could not spill.
    #[error(
        "out of memory budget: {0}; raise [query] memory_limit_mib in meshd.toml, or narrow the query"
    )]
    OutOfMemory(String),
    /// The query was cancelled before it finished.
    #[error("query cancelled")]
    Cancelled,
    /// Anything else: a product's file could not be read, the spill disk
    /// failed.
    #[error("{0}")]
    Failed(String),
}

impl QueryError {
    /// Whether the user can fix it by changing the statement.
    pub fn is_user_error(&self) -> bool {
        matches!(self, Self::User(_))
    }
}

impl From<DataFusionError> for QueryError {
    fn from(e: DataFusionError) -> Self {
        let root = e.find_root();
        match root {
            DataFusionError::ResourcesExhausted(m) => Self::OutOfMemory(one_line(m)),
            DataFusionError::SQL(p, _) => {
                Self::User(format!("SQL syntax error: {}", one_line(&p.to_string())))
            }
            DataFusionError::Plan(m) => Self::User(one_line(m)),
            DataFusionError::SchemaError(s, _) => Self::User(one_line(&s.to_string())),
            DataFusionError::NotImplemented(m) => {
                Self::User(format!("not supported: {}", one_line(m)))
            }
            _ => Self::Failed(one_line(&root.to_string())),
        }
    }
}

/// `text` on one line, without DataFusion's backtrace hint.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
