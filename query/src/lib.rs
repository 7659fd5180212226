//! SQL over data products, with Apache DataFusion embedded.
//!
//! Each product is a table named `domain.product` (the latest version) or
//! `domain.product@N` (one version), typed by its signed descriptor's
//! schema, read from the node's verified copy. A query's plan says which
//! products (and versions) it read and which input columns each output
//! column comes from, so a derived product's lineage and classifications
//! are read off the plan, never typed.
//!
//! - [`names`]: how SQL names products (`@N` pins a version).
//! - [`table`]: a product's copy as a table (CSV typed by its contract).
//! - [`engine`]: the runtime (memory budget, spill directory), parsing,
//!   planning, running.
//! - [`dynamic_filter`]: joins' dynamic filters applied to scanned rows.
//! - [`shared_cte`]: a grouping CTE named more than once computed once.
//! - [`lineage`]: where each output column comes from.
//! - [`output`]: results as CSV, JSON Lines, Arrow IPC, Parquet, JSON rows.
//! - [`error`]: the user's mistakes apart from failures.
//!
//! The crate knows nothing of the network: the node resolves the products
//! a statement names (checking access, fetching what it lacks) between
//! [`Engine::parse`] and [`Engine::plan`].

pub mod dynamic_filter;
pub mod engine;
pub mod error;
pub mod lineage;
pub mod names;
pub mod output;
pub mod shared_cte;
pub mod table;

pub use engine::{Engine, EngineConfig, Parsed, Query, check_settings};
pub use error::QueryError;
pub use lineage::{OutputColumn, Sources};
pub use names::ProductRef;
pub use output::{Encoder, FileSink, ResultFormat, json_rows};
pub use table::Input;
