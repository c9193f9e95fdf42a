//! `sluice passwd`: makes the secrets of a `--users` file. It reads a password from stdin
//! (one line) and prints its argon2id hash, for a user's `password`; with `--token USER` it
//! makes a fresh bearer token for USER instead and prints the token (give it to the client)
//! and its hash (for the user's `tokens`). Only hashes go into the file.

use std::io::BufRead;

use crate::cli::error::CliError;
use crate::server::users::{hash_secret, new_token};

/// `sluice passwd`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct PasswdArgs {
    /// Make a bearer token for this user instead of hashing a password from stdin.
    #[arg(long, value_name = "USER")]
    pub token: Option<String>,
}

/// Runs `sluice passwd`.
pub fn run(args: PasswdArgs) -> Result<(), CliError> {
    let failed = |error: String| CliError::Usage(format!("cannot hash: {error}"));
    match args.token {
        Some(user) => {
            let token = new_token(&user).map_err(failed)?;
            let hash = hash_secret(token.as_bytes()).map_err(failed)?;
            println!("token: {token}");
            println!("hash:  {hash}");
        }
        None => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            let password = line.trim_end_matches(['\n', '\r']);
            if password.is_empty() {
                return Err(CliError::Usage(
                    "give the password on stdin, e.g. `echo -n secret | sluice passwd`".into(),
                ));
            }
            println!("{}", hash_secret(password.as_bytes()).map_err(failed)?);
        }
    }
    Ok(())
}
