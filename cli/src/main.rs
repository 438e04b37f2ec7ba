//! `mon`: one binary for every role of the metrics pipeline. This file parses
//! the command line and dispatches; each subcommand lives in `commands/`.

mod bus;
mod commands;
mod config;
mod logging;
mod shutdown;

use std::process::ExitCode;

use clap::Parser;

use commands::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Log lines on stderr would tear through `mon top`'s screen, and the
    // dashboard shows what matters (link state, server errors) itself.
    if !matches!(cli.command, Command::Top(_)) {
        logging::init(cli.global.log_format);
    }
    let result = match cli.command {
        Command::Agent(args) => commands::agent::run(&cli.global, args),
        Command::Aggregator(args) => commands::aggregator::run(&cli.global, args),
        Command::Alerts(args) => commands::alerts::run(&cli.global, args),
        Command::Serve(args) => commands::serve::run(&cli.global, *args),
        Command::Gateway(args) => commands::gateway::run(&cli.global, args),
        Command::Edge(args) => commands::edge::run(args),
        Command::Query(args) => commands::query::run(&cli.global, args),
        Command::Top(args) => commands::top::run(args),
        Command::Config(args) => commands::config::run(args),
        Command::Bench(args) => commands::bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit_code(&e)
        }
    }
}

/// 2 for a store that cannot be used at start-up (a wrong or unreachable
/// `--store`), as for a bad flag; 1 for everything else.
fn exit_code(e: &anyhow::Error) -> ExitCode {
    use server::store::StoreError;
    let bad_store =
        |s: &StoreError| matches!(s, StoreError::Unreachable { .. } | StoreError::BadUrl(_));
    for cause in e.chain() {
        let store = cause
            .downcast_ref::<StoreError>()
            .or_else(
                || match cause.downcast_ref::<server::aggregator::AggregatorError>() {
                    Some(server::aggregator::AggregatorError::Store(s)) => Some(s),
                    _ => None,
                },
            )
            .or_else(
                || match cause.downcast_ref::<server::gateway::GatewayError>() {
                    Some(server::gateway::GatewayError::Store(s)) => Some(s),
                    _ => None,
                },
            );
        if store.is_some_and(bad_store) {
            return ExitCode::from(2);
        }
    }
    ExitCode::FAILURE
}
