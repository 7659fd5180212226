//! `mesh`: parse the command line, run it, print one line on failure and
//! exit 0, 1 (operational failure) or 2 (usage error).

use std::process::ExitCode;

use clap::Parser;
use mesh_cli::args::Cli;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            // Help and version go out whole; a usage error is one line.
            if !e.use_stderr() || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                let _ = e.print();
                return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
            }
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("mesh: {first}; see `mesh --help`");
            return ExitCode::from(2);
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
