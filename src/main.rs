//! The `sluice` binary: a thin entry point over the library's subcommands.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Sluice: Redis Streams made durable.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about)]
struct Arguments {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a Redis stream command against a server, or open a prompt (like redis-cli).
    Cli(sluice::cli::CliArgs),
    /// Follow a stream live, one line per entry, until Ctrl-C.
    Tail(sluice::cli::TailArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let arguments = Arguments::parse();
    let result = match arguments.command {
        Command::Cli(args) => sluice::cli::run(args).await,
        Command::Tail(args) => sluice::cli::tail(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
