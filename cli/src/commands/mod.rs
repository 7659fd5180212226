//! One module per command; each takes the parsed arguments, talks to the
//! node through [`Api`](crate::connect::Api) and prints text or JSON.

mod access;
mod check;
mod completions;
mod demo;
mod federation;
mod fetch;
mod lifecycle;
mod lineage;
mod list;
mod node;
mod preview;
mod publish;
mod query;
mod schema;
mod show;

use crate::args::{Cli, Command};
use crate::connect::Target;
use crate::error::CliResult;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> CliResult<()> {
    let target = Target {
        data_dir: cli.target.data_dir,
        api: cli.target.api,
        token: cli.target.token,
        token_file: cli.target.token_file,
    };
    let json = cli.json;
    match cli.command {
        Command::Completions { shell } => {
            completions::run(shell);
            Ok(())
        }
        Command::Demo(args) => demo::run(&args, json),
        Command::Federation {
            command: crate::args::FederationCommand::Create(args),
        } => federation::create(&args, json),
        Command::Federation {
            command: crate::args::FederationCommand::Show,
        } => federation::show(&target.connect()?, json),
        Command::Propose(args) => federation::propose(&target.connect()?, &args, json),
        Command::Proposals { open } => federation::proposals(&target.connect()?, open, json),
        Command::Vote {
            proposal,
            choice,
            reason,
        } => federation::vote(&target.connect()?, &proposal, choice, reason, json),
        Command::Status => node::status(&target.connect()?, json),
        Command::Peers => node::peers(&target.connect()?, json),
        Command::Publish(args) => publish::run(&target.connect()?, &args, json),
        Command::Export(args) => publish::export(&target.connect()?, &args, json),
        Command::List(args) => list::run(&target.connect()?, &args, json),
        Command::Show(args) => show::run(&target.connect()?, &args, json),
        Command::Fetch(args) => fetch::run(&target.connect()?, &args, json),
        Command::Check(args) => check::run(&target.connect()?, &args, json),
        Command::Preview(args) => preview::run(&target.connect()?, &args, json),
        Command::Query(args) => query::run(&target.connect()?, &args, json),
        Command::Lineage(args) => lineage::run(&target.connect()?, &args, json),
        Command::Schema {
            command: crate::args::SchemaCommand::Infer(args),
        } => schema::infer(&args, json),
        Command::Withdraw(args) => lifecycle::withdraw(&target.connect()?, &args, json),
        Command::Deprecate(args) => lifecycle::deprecate(&target.connect()?, &args, json),
        Command::Request(args) => access::request(&target.connect()?, &args, json),
        Command::Requests(args) => access::list(&target.connect()?, &args, json),
        Command::Grant(args) => access::grant(&target.connect()?, &args, json),
        Command::Deny(args) => access::deny(&target.connect()?, &args, json),
        Command::Revoke(args) => access::revoke(&target.connect()?, &args, json),
    }
}
