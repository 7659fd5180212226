//! # mesh-sim: the meshd network simulator
//!
//! `mesh-sim` shows platform teams how a mesh of hundreds or thousands of
//! meshd nodes behaves under latency, loss, partitions, churn and
//! misbehaving peers, before they roll a change out. It will start real
//! nodes from the `mesh-node` library in one process, over libp2p's
//! in-memory transport wrapped in a link model, in virtual time.
//!
//! This crate holds the parts of the simulator that do no networking and
//! are deterministic: given a scenario and a seed, everything here computes
//! the same thing every time. The engine that runs nodes, and the binary,
//! are built on top of them.
//!
//! ## Layout
//!
//! - [`scenario`]: the TOML scenario format (nodes, regions, links, the
//!   timeline of events and faults, adversaries, expectations), loading and
//!   validation with line-numbered errors. The format reference is
//!   `simulations/README.md`; the shipped scenarios are in
//!   `simulations/scenarios/`.
//! - [`link`]: the link model: per-message delay from a latency
//!   distribution and bandwidth, loss, partitions, degradations.
//! - [`units`]: durations, sizes and rates as written in scenario files.
//! - [`stats`]: nearest-rank percentiles and per-node spreads.
//! - [`report`]: the [`Report`] of a run, its JSON form and text summary.
//! - [`plot`]: the report drawn as an SVG.
//! - [`cli`]: the `mesh-sim` command line.
//!
//! ## Determinism
//!
//! Every random choice takes an explicit generator; the engine seeds one
//! from the scenario's seed (`rand::rngs::StdRng::seed_from_u64`) and passes
//! it down, so a run is reproduced by its scenario and seed. Nothing here
//! reads a clock: times are simulated `Duration`s from the start of the run.

pub mod cli;
pub mod link;
pub mod plot;
pub mod report;
pub mod scenario;
pub mod stats;
pub mod units;

pub use link::{Latency, LinkModel, LinkParams, Partition, RegionId};
pub use report::Report;
pub use scenario::{Scenario, ScenarioError};
