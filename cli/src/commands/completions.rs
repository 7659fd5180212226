//! `mesh completions SHELL`: a completion script on stdout.

use clap::CommandFactory;

use crate::args::Cli;

pub(super) fn run(shell: clap_complete::Shell) {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "mesh", &mut script);
    crate::output::write_stdout(&String::from_utf8_lossy(&script));
}
