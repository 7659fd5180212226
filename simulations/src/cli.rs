//! The command line of the `mesh-sim` binary: `mesh-sim run SCENARIO` or
//! `mesh-sim run --nodes N`, with `--seed` and `--out`, and `mesh-sim check`.
//!
//! The arguments are parsed here, apart from the binary, so their rules
//! (a file or `--nodes`, never both) are unit-tested and the binary's `main`
//! stays a thin call into the engine.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::scenario::{MAX_NODES, Scenario, ScenarioError};

/// Runs meshd nodes in simulated networks and reports how the mesh behaved.
#[derive(Debug, Parser)]
#[command(name = "mesh-sim", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario, print a summary and write report.json and report.svg.
    /// Exits non-zero when an expectation fails.
    Run(RunArgs),
    /// Parse and validate scenario files without running them.
    Check {
        /// The scenario files.
        #[arg(required = true, value_name = "SCENARIO")]
        scenarios: Vec<PathBuf>,
    },
}

/// The arguments of `mesh-sim run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file (TOML).
    #[arg(
        value_name = "SCENARIO",
        required_unless_present = "nodes",
        conflicts_with = "nodes"
    )]
    pub scenario: Option<PathBuf>,
    /// Run the built-in baseline scenario with this many nodes instead of a
    /// file.
    #[arg(long, value_name = "N", value_parser = parse_node_count)]
    pub nodes: Option<usize>,
    /// The seed for every random choice (default: the scenario's).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Where to write the report (default: `mesh-sim-out/NAME-seedS`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Threads to run the nodes on (default: every core). `--threads 1`
    /// replays a seed exactly; with more, the threads interleave
    /// differently each run, so a seed gives the same scenario but not the
    /// same event order.
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    pub threads: Option<usize>,
}

/// The most threads a run may ask for.
pub const MAX_THREADS: usize = 256;

fn parse_threads(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{text}` is not a thread count from 1 to {MAX_THREADS}"
        )),
    }
}

fn parse_node_count(text: &str) -> Result<usize, String> {
    let n: usize = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of nodes"))?;
    if n == 0 || n > MAX_NODES {
        return Err(format!("the number of nodes must be 1 to {MAX_NODES}"));
    }
    Ok(n)
}

impl RunArgs {
    /// The scenario to run: the file, or the baseline for `--nodes`, with
    /// `--seed` put in place of the scenario's seed.
    pub fn load(&self) -> Result<Scenario, ScenarioError> {
        let mut scenario = match (&self.scenario, self.nodes) {
            (Some(path), _) => Scenario::load(path)?,
            (None, Some(nodes)) => Scenario::baseline(nodes)?,
            // Clap requires one of the two; the baseline's smallest mesh
            // keeps this total without a panic.
            (None, None) => Scenario::baseline(1)?,
        };
        if let Some(seed) = self.seed {
            scenario.network.seed = seed;
        }
        Ok(scenario)
    }

    /// How to run: `--threads`, or one thread per core.
    pub fn options(&self) -> crate::engine::RunOptions {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        crate::engine::RunOptions {
            threads: self.threads.unwrap_or(cores),
        }
    }

    /// The output directory: `--out`, or `mesh-sim-out/NAME-seedS`.
    pub fn out_dir(&self, scenario: &Scenario) -> PathBuf {
        self.out.clone().unwrap_or_else(|| {
            PathBuf::from("mesh-sim-out").join(format!(
                "{}-seed{}",
                scenario.network.name, scenario.network.seed
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("mesh-sim").chain(args.iter().copied()))
    }

    fn run(args: &[&str]) -> RunArgs {
        match parse(args).unwrap().command {
            Command::Run(run) => run,
            other @ Command::Check { .. } => panic!("not run: {other:?}"),
        }
    }

    #[test]
    fn run_takes_a_file_with_seed_and_out() {
        let args = run(&[
            "run",
            "scenarios/churn-30.toml",
            "--seed",
            "7",
            "--out",
            "x",
        ]);
        assert_eq!(
            args.scenario,
            Some(PathBuf::from("scenarios/churn-30.toml"))
        );
        assert_eq!(args.seed, Some(7));
        assert_eq!(args.out, Some(PathBuf::from("x")));
        assert_eq!(args.nodes, None);
        assert_eq!(args.threads, None);
        assert!(args.options().threads >= 1);
    }

    #[test]
    fn threads_are_a_count_from_one() {
        let args = run(&["run", "--nodes", "10", "--threads", "1"]);
        assert_eq!(args.options().threads, 1);
        assert_eq!(
            run(&["run", "--nodes", "10", "--threads", "2"]).threads,
            Some(2)
        );
        assert!(parse(&["run", "--nodes", "10", "--threads", "0"]).is_err());
        assert!(parse(&["run", "--nodes", "10", "--threads", "many"]).is_err());
        assert!(parse(&["run", "--nodes", "10", "--threads", "100000"]).is_err());
    }

    #[test]
    fn run_takes_nodes_without_a_file() {
        let args = run(&["run", "--nodes", "250"]);
        assert_eq!((args.scenario, args.nodes), (None, Some(250)));
        let scenario = run(&["run", "--nodes", "25", "--seed", "3"])
            .load()
            .unwrap();
        assert_eq!(scenario.node_count(), 25);
        assert_eq!(scenario.network.seed, 3);
    }

    #[test]
    fn run_needs_exactly_one_source() {
        assert!(parse(&["run"]).is_err());
        assert!(parse(&["run", "a.toml", "--nodes", "5"]).is_err());
        assert!(parse(&["run", "--nodes", "0"]).is_err());
        assert!(parse(&["run", "--nodes", "many"]).is_err());
        assert!(parse(&["run", "--seed", "x", "a.toml"]).is_err());
    }

    #[test]
    fn out_defaults_to_name_and_seed() {
        let args = run(&["run", "--nodes", "10", "--seed", "9"]);
        let scenario = args.load().unwrap();
        assert_eq!(
            args.out_dir(&scenario),
            PathBuf::from("mesh-sim-out/baseline-10-seed9")
        );
    }

    #[test]
    fn check_takes_files() {
        match parse(&["check", "a.toml", "b.toml"]).unwrap().command {
            Command::Check { scenarios } => assert_eq!(scenarios.len(), 2),
            other @ Command::Run(_) => panic!("not check: {other:?}"),
        }
        assert!(parse(&["check"]).is_err());
    }
}
