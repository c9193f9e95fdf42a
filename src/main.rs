//! The `sluice` command: `sluice serve` runs the gRPC server.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Sluice: Redis Streams made durable.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the streams over gRPC.
    Serve(sluice::server::ServeArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            sluice::server::init_logging();
            match sluice::server::run(args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("sluice serve: {error}");
                    ExitCode::from(error.exit_code())
                }
            }
        }
    }
}
