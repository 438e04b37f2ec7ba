//! `mon`: one binary for every role of the metrics pipeline. This file parses
//! the command line and dispatches; each subcommand lives in `commands/`.
//!
//! Built without the `roles` feature, the binary is an agent alone: `mon
//! agent` and `mon config`.

#[cfg(feature = "roles")]
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
    if !cli.command.draws_on_the_terminal() {
        logging::init(cli.global.log_format);
    }
    let result = match cli.command {
        Command::Agent(args) => commands::agent::run(&cli.global, args),
        #[cfg(feature = "roles")]
        Command::Aggregator(args) => commands::aggregator::run(&cli.global, args),
        #[cfg(feature = "roles")]
        Command::Alerts(args) => commands::alerts::run(&cli.global, args),
        #[cfg(feature = "roles")]
        Command::Serve(args) => commands::serve::run(&cli.global, *args),
        #[cfg(feature = "roles")]
        Command::Gateway(args) => commands::gateway::run(&cli.global, args),
        #[cfg(feature = "roles")]
        Command::Edge(args) => commands::edge::run(args),
        #[cfg(feature = "roles")]
        Command::Query(args) => commands::query::run(&cli.global, args),
        #[cfg(feature = "top")]
        Command::Top(args) => commands::top::run(args),
        Command::Config(args) => commands::config::run(args),
        #[cfg(feature = "roles")]
        Command::Bench(args) => commands::bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Errors also say their causes in their messages; the chain
            // goes on the line only as far as it says something new.
            eprintln!("error: {}", server::error_chain::one_line(e.as_ref()));
            exit_code(&e)
        }
    }
}

/// 2 for a store that cannot be used at start-up (a wrong or unreachable
/// `--store`), as for a bad flag; 1 for everything else.
#[cfg(feature = "roles")]
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

/// The agent-only build has no store: every failure is 1.
#[cfg(not(feature = "roles"))]
fn exit_code(_: &anyhow::Error) -> ExitCode {
    ExitCode::FAILURE
}
