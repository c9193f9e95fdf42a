//! The command-line client: Redis syntax in, `redis-cli --no-raw`'s printing out.
//!
//! `sluice cli [--addr HOST:PORT] COMMAND ARGS...` runs one command and prints its reply as
//! redis-cli would, exiting 0 even on an error reply (as redis-cli does without `-e`);
//! `sluice cli` alone opens a prompt. `sluice tail STREAM [ID]` follows a stream.
//!
//! The pieces, one concept each:
//! - [`crate::command`] (shared with every front end): splits a typed line into arguments
//!   (redis-cli's quoting rules) and parses them into a typed command, with Redis's texts;
//! - [`client`]: a command over gRPC, and the answer as a [`crate::reply::Reply`];
//! - [`repl`]: what a line at the prompt means (quit, repeat counts, help);
//! - `tail`: the tail's line format;
//! - [`error`]: the failures that end a run with a non-zero exit code.

pub mod client;
pub mod connect;
pub mod error;
pub mod passwd;
pub mod repl;
pub mod tail;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

use tokio::io::AsyncBufReadExt;

use crate::reply::{render_cli, Reply};
use client::Client;
pub use connect::ServerOptions;
pub use error::CliError;
pub use passwd::PasswdArgs;
use repl::Line;

/// Where the server listens unless told otherwise.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:50051";

/// Commands slower than this print their duration at the prompt, as redis-cli does.
const SLOW_COMMAND_MS: u128 = 500;

/// `sluice cli`: run one command, or open a prompt.
#[derive(Debug, Clone, clap::Args)]
pub struct CliArgs {
    #[command(flatten)]
    pub server: ServerOptions,
    /// A command and its arguments, as redis-cli takes them (binary-safe, no unescaping).
    /// Without one, an interactive prompt opens.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<OsString>,
}

/// `sluice tail`: follow a stream live.
#[derive(Debug, Clone, clap::Args)]
pub struct TailArgs {
    #[command(flatten)]
    pub server: ServerOptions,
    /// The stream to follow.
    pub stream: OsString,
    /// Print entries after this ID: an ID, 0 for the whole stream, $ (the default) for only
    /// new entries.
    #[arg(allow_hyphen_values = true)]
    pub id: Option<OsString>,
}

/// Runs `sluice cli`.
pub async fn run(args: CliArgs) -> Result<(), CliError> {
    if args.command.is_empty() {
        return interactive(&args.server).await;
    }
    let arguments: Vec<Vec<u8>> = args
        .command
        .iter()
        .map(|argument| argument.as_bytes().to_vec())
        .collect();
    let mut client = Client::connect(&args.server).await?;
    let reply = execute(&mut client, &arguments).await?;
    print(&render_cli(&reply))
}

/// Parses and runs one command; a refused command is its error reply.
async fn execute(client: &mut Client, arguments: &[Vec<u8>]) -> Result<Reply, CliError> {
    match crate::command::parse(arguments) {
        Ok(command) => client.execute(&command).await,
        Err(error) => Ok(error.into_reply()),
    }
}

/// Writes to stdout and flushes. A reader that went away (`sluice cli ... | head`) is not an
/// error worth reporting.
fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}

/// The prompt. Like redis-cli, it starts even when the server is down, says so, and tries to
/// connect again before each command; the prompt reads "not connected> " meanwhile. The
/// prompt is only shown when stdin is a terminal, so piped commands give clean output.
async fn interactive(server: &ServerOptions) -> Result<(), CliError> {
    let show_prompt = std::io::stdin().is_terminal();
    let mut client = connect_or_report(server).await;
    let mut input = tokio::io::BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    loop {
        if show_prompt {
            let prompt = match &client {
                Some(client) => format!("{}> ", client.address()),
                None => "not connected> ".to_owned(),
            };
            print(&prompt)?;
        }
        line.clear();
        if input.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        let (repeat, arguments) = match repl::interpret(&line) {
            Line::Blank => continue,
            Line::Quit => return Ok(()),
            Line::Help => {
                print(&repl::help_text())?;
                continue;
            }
            Line::Refused(message) => {
                print(&format!("{message}\n"))?;
                continue;
            }
            Line::Run { repeat, arguments } => (repeat, arguments),
        };
        let started = Instant::now();
        for _ in 0..repeat {
            if client.is_none() {
                client = connect_or_report(server).await;
            }
            let Some(connected) = client.as_mut() else {
                break;
            };
            match execute(connected, &arguments).await {
                Ok(reply) => print(&render_cli(&reply))?,
                Err(error) => {
                    eprintln!("{error}");
                    client = None;
                    break;
                }
            }
        }
        let elapsed = started.elapsed();
        if elapsed.as_millis() >= SLOW_COMMAND_MS {
            print(&format!("({:.2}s)\n", elapsed.as_secs_f64()))?;
        }
    }
}

async fn connect_or_report(server: &ServerOptions) -> Option<Client> {
    match Client::connect(server).await {
        Ok(client) => Some(client),
        Err(error) => {
            eprintln!("{error}");
            None
        }
    }
}

/// Runs `sluice tail`: prints entries as they arrive until Ctrl-C (a clean exit), the server
/// ends the stream, or the connection fails.
pub async fn tail(args: TailArgs) -> Result<(), CliError> {
    let after = match &args.id {
        None => "$".to_owned(),
        Some(id) => id.to_str().map(str::to_owned).ok_or_else(|| {
            CliError::Usage("ERR Invalid stream ID specified as stream command argument".to_owned())
        })?,
    };
    let mut client = Client::connect(&args.server).await?;
    let mut messages = client.tail(args.stream.as_bytes(), &after).await?;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let message = tokio::select! {
            _ = &mut interrupted => return Ok(()),
            message = messages.message() => message,
        };
        let response = match message {
            Ok(Some(response)) => response,
            Ok(None) => return Err(CliError::TailEnded(args.server.address.clone())),
            Err(status) => return Err(client.tail_failure(status)),
        };
        let mut entries = Vec::with_capacity(response.entries.len());
        for entry in response.entries {
            entries.push(client::entry_from_proto(entry).map_err(CliError::Server)?);
        }
        let mut out = std::io::stdout().lock();
        match tail::write_entries(&mut out, &entries) {
            Ok(()) => {}
            // The reader went away (`sluice tail s | head`): done.
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(error) => return Err(error.into()),
        }
    }
}
