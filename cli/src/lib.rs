//! # mesh-cli: the `mesh` command-line tool
//!
//! `mesh` is how a person or a script uses a meshd node: it talks to the
//! node's local HTTP API only (found from `--data-dir` or `MESH_API` and
//! `MESH_TOKEN`), prints tables by default and JSON with `--json`, and
//! fails with one line and a documented exit code.
//!
//! - [`args`]: the command line (clap).
//! - [`connect`]: finding the node, calling the API, mapping its errors.
//! - [`commands`]: one module per command.
//! - [`product_ref`]: `DOMAIN/NAME` arguments and their resolution.
//! - [`mesh_yaml`], [`standards`]: descriptor files: meshd's own YAML and
//!   the Bitol standards (ODPS, ODCS), in and out.
//! - [`draft_parts`]: a draft assembled from files and flags.
//! - [`output`], [`error`]: printing and failing.
//! - [`duration`]: `30s`/`10m`/`2h`/`7d` arguments.

pub mod args;
pub mod commands;
pub mod connect;
pub mod draft_parts;
pub mod duration;
pub mod error;
pub mod mesh_yaml;
pub mod output;
pub mod product_ref;
pub mod standards;
