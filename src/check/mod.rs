//! `sluice check`: an offline verifier, and repairer, of a data directory no server is using.
//!
//! The check reads every file of every stream without changing a byte (it holds the data
//! directory's lock, so no server runs meanwhile): every record of every segment (framing,
//! CRC, IDs strictly increasing, batches complete), every index against its log, sealed
//! trailers' counters, tombstone files, group snapshots and journals (CRCs, and a replay of
//! their records). Each problem is judged as the server's recovery would judge it (see
//! `storage/FORMAT.md`, "Recovery rules"): a crash's leftovers that opening repairs by itself
//! are warnings; what opening refuses (the stream is quarantined) or serves with failing reads
//! or missing data is damage.
//!
//! `--repair` repairs the damage it can — cuts a damaged log or journal at its last valid
//! record (the bytes after kept aside in `.dropped-*` files, as recovery does), writes a
//! damaged header again, sets a wrong index or a damaged snapshot aside, drops damaged
//! tombstones — and then opens the store with the engine, as after a crash, so that recovery
//! does the rest (indexes rebuilt, torn tails cut); it prints every change, and checks again.
//!
//! The parts: [`report`] (what was found, and its printing), [`fix`] (the repairs), `dir` (the
//! data directory and its lock), `stream`, `segments`, `tombstones` and `groups` (the checks).
//! The check reads the storage layer's formats through its own decoders (`storage::segment`,
//! `index`, `tombstone`, `journal`, `group::record`), so it judges bytes exactly as opening does.

mod dir;
pub mod fix;
mod groups;
pub mod report;
mod segments;
mod stream;
mod tombstones;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::config::{
    Config, INDEX_INTERVAL_BYTES_DEFAULT, SEGMENT_BYTES_MAX_DEFAULT, SEGMENT_HEADER_BYTES,
};
use crate::engine::Engine;
use crate::storage::data_dir::CLEAN_FILE;
use crate::storage::repair::Repair;

pub use fix::Fix;
pub use report::{Level, Problem, Report, StreamReport};

/// The flags of `sluice check`. Like `sluice serve`'s, each can be set through an environment
/// variable; a flag wins over its variable.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// Directory to check; no server may be using it.
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Repair what the check finds, then open the store as after a crash and check again
    /// (the variable takes 1/0, true/false, yes/no, on/off).
    #[arg(long, env = "SLUICE_CHECK_REPAIR", value_parser = clap::builder::BoolishValueParser::new())]
    pub repair: bool,
    /// The server's segment size (with --repair: recovery extends an active segment to it).
    #[arg(long, env = "SLUICE_SEGMENT_BYTES_MAX", default_value_t = SEGMENT_BYTES_MAX_DEFAULT)]
    pub segment_bytes_max: u64,
    /// The server's index interval (with --repair: the density of rebuilt indexes).
    #[arg(long, env = "SLUICE_INDEX_INTERVAL_BYTES", default_value_t = INDEX_INTERVAL_BYTES_DEFAULT)]
    pub index_interval_bytes: u32,
}

/// Why a check could not be run (exit code 2); damage found is a [`Report`], not an error.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// A server (or another check) holds the data directory's lock.
    #[error("{0} is in use (its LOCK is held by a running server?): stop the server first")]
    Locked(PathBuf),
    /// The directory is not a Sluice data directory.
    #[error("{path} is not a Sluice data directory: {why}")]
    NotADataDir {
        /// The directory.
        path: PathBuf,
        /// What is missing or wrong.
        why: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The engine, opening the repaired store, failed (or the flags are invalid).
    #[error("{0}")]
    Engine(#[from] crate::Error),
}

impl CheckError {
    /// An I/O failure on `path`.
    pub fn io(path: &Path, source: io::Error) -> CheckError {
        CheckError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A file's bytes, or `None` if it does not exist.
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, CheckError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CheckError::io(path, source)),
    }
}

/// Checks the data directory `root` without changing anything. Refuses a directory in use.
pub fn check(root: &Path) -> Result<Report, CheckError> {
    let _lock = dir::lock(root, false)?;
    dir::check(root)
}

/// What `--repair` found and did.
#[derive(Debug)]
pub struct RepairOutcome {
    /// The check before repairing.
    pub found: Report,
    /// What the repair changed itself, in order.
    pub actions: Vec<Repair>,
    /// What the engine's recovery changed when it opened the store afterwards.
    pub recovery: Vec<Repair>,
    /// The check after repairing.
    pub after: Report,
}

/// Checks the data directory `config.data_dir`, repairs what the check can, opens it with the
/// engine (`config`) as after a crash so recovery repairs the rest, and checks it again.
pub fn repair(config: Config) -> Result<RepairOutcome, CheckError> {
    config.validate()?;
    let root = config.data_dir.clone();
    let lock = dir::lock(&root, true)?;
    let found = dir::check(&root)?;
    let mut actions = Vec::new();
    for (path, fix) in fixes(&found) {
        let action = fix::apply(&path, &fix)?;
        actions.push(Repair::new(path, action));
    }
    let mut recovery = Vec::new();
    if found
        .all_problems()
        .any(|problem| problem.level >= Level::Warning)
    {
        let clean = root.join(CLEAN_FILE);
        if clean.exists() {
            std::fs::remove_file(&clean).map_err(|source| CheckError::io(&clean, source))?;
            actions.push(Repair::new(
                clean,
                "removed: the store is opened as after a crash, so every recovery rule runs",
            ));
        }
        drop(lock);
        let engine = Engine::open(config).map_err(|error| match error {
            crate::Error::Locked(path) => CheckError::Locked(path),
            other => CheckError::Engine(other),
        })?;
        recovery = engine.repairs().to_vec();
        engine.close()?;
        drop(engine);
    } else {
        drop(lock);
    }
    let after = check(&root)?;
    Ok(RepairOutcome {
        found,
        actions,
        recovery,
        after,
    })
}

/// The fixes of a report, one per file and kind; of several cuts of one file, the first.
fn fixes(report: &Report) -> Vec<(PathBuf, Fix)> {
    let mut fixes: Vec<(PathBuf, Fix)> = Vec::new();
    for problem in report.all_problems() {
        let Some(fix) = problem.fix.clone() else {
            continue;
        };
        let cut = |fix: &Fix| match fix {
            Fix::CutLog { at } | Fix::CutJournal { at } => Some(*at),
            _ => None,
        };
        let same = fixes.iter_mut().find(|(path, other)| {
            *path == problem.path && std::mem::discriminant(other) == std::mem::discriminant(&fix)
        });
        match same {
            Some((_, other)) => {
                if cut(&fix) < cut(other) {
                    *other = fix;
                }
            }
            None => fixes.push((problem.path.clone(), fix)),
        }
    }
    fixes
}

/// Runs `sluice check` and prints its report on standard output; returns the exit code: 0
/// sound, 1 damage found (or left after `--repair`), 2 the check could not run.
pub fn run(args: CheckArgs) -> u8 {
    let mut out = io::stdout().lock();
    match run_to(args, &mut out) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("sluice check: {error}");
            2
        }
    }
}

fn run_to(args: CheckArgs, out: &mut dyn Write) -> Result<u8, CheckError> {
    let root = args.data_dir.clone();
    let printed = |error: io::Error| CheckError::io(Path::new("<stdout>"), error);
    if !args.repair {
        let report = check(&root)?;
        writeln!(out, "{report}").map_err(printed)?;
        return Ok(if report.is_sound() { 0 } else { 1 });
    }
    let mut config = Config::new(&root);
    config.segment_bytes_max = args.segment_bytes_max;
    config.index_interval_bytes = args.index_interval_bytes;
    // Recovery judges records by the format's limits, never by entry_bytes_max: any value the
    // segment size allows will do.
    let room = args
        .segment_bytes_max
        .saturating_sub(SEGMENT_HEADER_BYTES as u64);
    config.entry_bytes_max = config
        .entry_bytes_max
        .min(u32::try_from(room).unwrap_or(u32::MAX));
    let outcome = repair(config)?;
    writeln!(out, "{}", outcome.found).map_err(printed)?;
    let sections = [
        ("repaired:", &outcome.actions),
        ("recovery, opening the store:", &outcome.recovery),
    ];
    for (title, repairs) in sections {
        if repairs.is_empty() {
            continue;
        }
        writeln!(out, "{title}").map_err(printed)?;
        for repair in repairs {
            let path = repair.path.strip_prefix(&root).unwrap_or(&repair.path);
            writeln!(out, "  {}: {}", path.display(), repair.action).map_err(printed)?;
        }
    }
    if outcome.actions.is_empty() && outcome.recovery.is_empty() {
        writeln!(out, "nothing to repair").map_err(printed)?;
    }
    writeln!(out, "after repair:\n{}", outcome.after).map_err(printed)?;
    Ok(if outcome.after.is_sound() { 0 } else { 1 })
}
