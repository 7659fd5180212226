//! `mesh completions SHELL`: a completion script on stdout.

use clap::CommandFactory;

use crate::args::Cli;

pub(super) fn run(shell: clap_complete::Shell) {
    clap_complete::generate(shell, &mut Cli::command(), "mesh", &mut std::io::stdout());
}
