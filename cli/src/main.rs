//! `mesh`: parse the command line, run it, print one line on failure and
//! exit 0, 1 (operational failure) or 2 (usage error).

use std::process::ExitCode;

use clap::Parser;
use mesh_cli::args::Cli;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match mesh_cli::commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", e.line());
            e.exit_code()
        }
    }
}
