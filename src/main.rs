//! The `sluice` binary: `sluice serve` runs the gRPC server, `sluice cli` is a redis-cli-like
//! client, `sluice tail` follows a stream, `sluice check` verifies (and repairs) a data
//! directory offline. Each subcommand lives in the library; this only
//! parses the command line and turns the outcome into an exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: a server allocates per request (messages, field
/// values, IDs) from several threads, where glibc's malloc showed as ~12% of CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sluice: Redis Streams made durable.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about)]
struct Arguments {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the streams over gRPC (data in ./data, listening on 127.0.0.1:50051 by default).
    Serve(Box<sluice::server::ServeArgs>),
    /// Run a Redis stream command against a server, or open a prompt (like redis-cli).
    Cli(sluice::cli::CliArgs),
    /// Follow a stream live, one line per entry, until Ctrl-C.
    Tail(sluice::cli::TailArgs),
    /// Hash a password from stdin (or make a bearer token) for a --users file.
    Passwd(sluice::cli::PasswdArgs),
    /// Verify a data directory no server is using (exit 0 sound, 1 damaged, 2 cannot check);
    /// with --repair, repair it.
    Check(sluice::check::CheckArgs),
}

fn main() -> ExitCode {
    let arguments = Arguments::parse();
    let runtime = match &arguments.command {
        Command::Serve(args) => sluice::server::runtime::build(args.worker_threads),
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    };
    match runtime {
        Ok(runtime) => runtime.block_on(run(arguments.command)),
        Err(error) => {
            eprintln!("sluice: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> ExitCode {
    match command {
        Command::Serve(args) => {
            sluice::server::init_logging();
            match sluice::server::run(*args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("sluice serve: {error}");
                    ExitCode::from(error.exit_code())
                }
            }
        }
        Command::Cli(args) => client_exit(sluice::cli::run(args).await),
        Command::Tail(args) => client_exit(sluice::cli::tail(args).await),
        Command::Passwd(args) => client_exit(sluice::cli::passwd::run(args)),
        Command::Check(args) => ExitCode::from(sluice::check::run(args)),
    }
}

fn client_exit(result: Result<(), sluice::cli::CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
