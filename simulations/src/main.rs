//! `mesh-sim`: run a scenario (or the baseline with `--nodes N`) with real
//! meshd nodes over a simulated network, print a summary, write
//! `report.json` and `report.svg`, and exit non-zero when an expectation
//! fails. `mesh-sim check` validates scenario files without running them.

use std::process::ExitCode;

use clap::Parser;
use mesh_sim::cli::{Cli, Command};
use mesh_sim::{Scenario, engine};

/// jemalloc instead of glibc's malloc. A large run spends much of its time
/// allocating and freeing small per-connection and per-message buffers, a
/// churn glibc serves slowly from its unsorted bins; at 300 nodes jemalloc
/// ran the baseline 10-17% faster with 5% less peak memory (mimalloc was
/// faster still but took 20% more memory, and memory is what caps the node
/// count). Only this binary: the library, its tests and meshd keep the
/// system allocator.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error,mesh_sim=info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mesh-sim: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { scenarios } => {
            for path in scenarios {
                let scenario = Scenario::load(&path)?;
                let missing = engine::unsupported(&scenario);
                if missing.is_empty() {
                    println!("{}: ok ({})", path.display(), scenario.headline());
                } else {
                    println!(
                        "{}: valid, but needs what the simulator cannot run yet: {}",
                        path.display(),
                        missing.join(", ")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => {
            let scenario = args.load()?;
            let out = args.out_dir(&scenario);
            eprintln!("mesh-sim: running {}", scenario.headline());
            let report = engine::run_with(&scenario, args.options())?;
            let written = report.write_to(&out)?;
            print!("{}", report.summary());
            println!(
                "report: {} and {}",
                written.json.display(),
                written.svg.display()
            );
            Ok(if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
