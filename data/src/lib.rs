//! Reads the data files of meshd data products as Apache Arrow record
//! batches.
//!
//! A data product's bytes are whatever its owner published: CSV, JSON Lines,
//! Parquet or Arrow IPC, possibly written by a hostile domain. This crate is
//! the one place that turns those bytes into typed columns, so the contract
//! check, the profile and the query engine all see the same rows with the
//! same row numbers.
//!
//! Two promises hold for every reader:
//!
//! - **Bounded memory.** Files stream in batches of at most
//!   [`ReadOptions::batch_rows`] rows. Every length a file claims (a line, a
//!   Parquet footer or page, an IPC message) is checked against [`Limits`]
//!   before anything of that size is allocated.
//! - **No panics on input.** Every failure is a [`ReadError`] naming the
//!   format and, where known, the row and byte offset. The decoder
//!   panics that cannot be ruled out beforehand (in `arrow-ipc` and
//!   `parquet`, see [`read`]) are caught and turned into errors.
//!
//! # Layout
//!
//! - [`read`]: options, [`open`] and [`from_reader`], the [`Batches`]
//!   stream, and one submodule per format.
//! - [`text`]: text-to-value parsers (booleans, integers, dates, ...) shared
//!   by inference and the contract check.
//! - [`types`]: the mapping between Arrow types and mesh [`DataType`]s.
//! - [`infer`](mod@infer): a whole-file pass that proposes a mesh schema.
//! - [`error`]: [`ReadError`] and [`Location`].
//!
//! [`DataType`]: mesh_protocol::descriptor::DataType

pub mod contract;
pub mod error;
pub mod infer;
pub mod preview;
pub mod read;
pub mod text;
pub mod types;

pub use error::{Location, ReadError};
pub use infer::{InferredField, InferredSchema, declared_field, infer};
pub use read::{
    Batch, Batches, CsvDialect, JsonlValues, Limits, ReadOptions, from_reader, jsonl_values, open,
};
