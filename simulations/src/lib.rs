//! # mesh-sim: the meshd network simulator
//!
//! `mesh-sim` shows platform teams how a mesh of many meshd nodes behaves
//! under latency, loss, partitions, churn and misbehaving peers, before
//! they roll a change out. It starts real nodes from the `mesh-node`
//! library in one process, over a simulated network ([`transport`]) that
//! applies the [`link`] model, in virtual time (a paused tokio clock), and
//! reports what happened ([`report`], [`plot`]).
//!
//! ## Layout
//!
//! - [`scenario`]: the TOML scenario format (nodes, regions, links, the
//!   timeline of events and faults, adversaries, expectations), loading and
//!   validation with line-numbered errors. The format reference is
//!   `simulations/README.md`; the shipped scenarios are in
//!   `simulations/scenarios/`.
//! - [`link`]: the link model: per-message delay from a latency
//!   distribution and bandwidth, loss, partitions, degradations (pure).
//! - [`transport`]: the libp2p transport that carries bytes through the
//!   link model in tokio time.
//! - [`engine`]: runs a scenario: starts the nodes and adversaries, fires
//!   the timeline, measures, checks the expectations.
//! - [`units`]: durations, sizes and rates as written in scenario files.
//! - [`stats`]: nearest-rank percentiles and per-node spreads.
//! - [`report`]: the [`Report`] of a run, its JSON form and text summary.
//! - [`plot`]: the report drawn as an SVG.
//! - [`cli`]: the `mesh-sim` command line.
//!
//! ## Determinism
//!
//! Every random choice the simulator makes takes a generator seeded from
//! the scenario's seed. What libp2p chooses on its own (gossipsub's peer
//! picks, hash map order) is not seeded, so a seed reproduces a run's
//! outcome, and on one thread its timings to within a few milliseconds. On
//! several threads ([`engine::run_with`]) the threads interleave freely
//! within each lockstep window, so the outcome is what a seed reproduces
//! (see `simulations/README.md`).

pub mod cli;
pub mod engine;
pub mod link;
pub mod plot;
pub mod report;
pub mod scenario;
pub mod stats;
pub mod transport;
pub mod units;

pub use link::{Latency, LinkModel, LinkParams, Partition, RegionId};
pub use report::Report;
pub use scenario::{Scenario, ScenarioError};
