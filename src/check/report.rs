//! What a check found: per stream, its figures and its problems, each with a level, the file
//! and offset it concerns, and the fix `--repair` would apply; and how all of it is printed.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::check::fix::Fix;
use crate::id::StreamId;

/// How serious a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Worth knowing, nothing wrong: bytes an earlier recovery kept aside, files the server
    /// ignores.
    Info,
    /// What a crash leaves and the server repairs by itself when it opens the store (a torn
    /// active tail, a stale index, an interrupted drop).
    Warning,
    /// Damage the server does not repair: it quarantines the stream, or serves it with reads
    /// that fail or data missing. Makes the check exit 1.
    Damage,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Damage => "damage",
        }
    }
}

/// One finding: where, what, and what `--repair` would do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// How serious it is.
    pub level: Level,
    /// The file (or directory) concerned.
    pub path: PathBuf,
    /// Where in the file, when it is about some bytes of it.
    pub offset: Option<u64>,
    /// What is wrong, and what the server does about it.
    pub what: String,
    /// What `--repair` does about it; `None` when the server repairs it on open (warnings) or
    /// when nothing can be done without losing more than the damage did (left for a person).
    pub fix: Option<Fix>,
}

impl Problem {
    /// A problem of `level` in `path`.
    pub fn new(level: Level, path: impl Into<PathBuf>, what: impl Into<String>) -> Problem {
        Problem {
            level,
            path: path.into(),
            offset: None,
            what: what.into(),
            fix: None,
        }
    }

    /// The same problem, at `offset`.
    pub fn at(mut self, offset: u64) -> Problem {
        self.offset = Some(offset);
        self
    }

    /// The same problem, repaired by `fix`.
    pub fn fixed_by(mut self, fix: Fix) -> Problem {
        self.fix = Some(fix);
        self
    }
}

/// One stream's figures and problems.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamReport {
    /// The stream's name (`None` when its directory does not say).
    pub name: Option<Vec<u8>>,
    /// Its directory.
    pub dir: PathBuf,
    /// Segments (log files).
    pub segments: usize,
    /// Committed records in the logs, up to any damage.
    pub records: u64,
    /// Records not deleted or trimmed (the stream's length).
    pub entries: u64,
    /// Bytes of the segment logs up to the end of their committed records (headers included).
    pub bytes: u64,
    /// The first live entry's ID.
    pub first_id: Option<StreamId>,
    /// The last live entry's ID.
    pub last_id: Option<StreamId>,
    /// Records deleted or trimmed by tombstones.
    pub deleted: u64,
    /// Consumer groups after replaying the journal.
    pub groups: usize,
    /// What was found, in file order.
    pub problems: Vec<Problem>,
}

impl StreamReport {
    /// Whether any problem is damage.
    pub fn is_damaged(&self) -> bool {
        self.problems
            .iter()
            .any(|problem| problem.level == Level::Damage)
    }
}

/// A whole data directory's check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The data directory.
    pub root: PathBuf,
    /// Whether the last shutdown was clean (the `CLEAN` marker is there).
    pub clean_shutdown: bool,
    /// Problems of the directory itself (outside any stream).
    pub problems: Vec<Problem>,
    /// Every stream, in directory-name order.
    pub streams: Vec<StreamReport>,
}

impl Report {
    /// Every problem, the directory's first.
    pub fn all_problems(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .chain(self.streams.iter().flat_map(|stream| &stream.problems))
    }

    /// Streams with damage, plus one if the directory itself has some.
    pub fn damaged(&self) -> usize {
        let streams = self.streams.iter().filter(|s| s.is_damaged()).count();
        let dir = self.problems.iter().any(|p| p.level == Level::Damage);
        streams + usize::from(dir)
    }

    /// Whether nothing is damaged (warnings and information allowed).
    pub fn is_sound(&self) -> bool {
        self.damaged() == 0
    }

    fn relative<'a>(&self, path: &'a Path) -> &'a Path {
        path.strip_prefix(&self.root).unwrap_or(path)
    }

    fn write_problem(&self, f: &mut fmt::Formatter<'_>, problem: &Problem) -> fmt::Result {
        write!(
            f,
            "  {:<7} {}",
            problem.level.label(),
            self.relative(&problem.path).display()
        )?;
        if let Some(offset) = problem.offset {
            write!(f, " @{offset}")?;
        }
        write!(f, ": {}", problem.what)?;
        if let Some(fix) = &problem.fix {
            write!(f, " [--repair: {fix}]")?;
        }
        writeln!(f)
    }
}

/// A stream name as text: printable ASCII as is, other bytes as `\xNN`, in quotes.
pub fn quoted(name: &[u8]) -> String {
    let mut text = String::from("\"");
    for &byte in name {
        match byte {
            b'"' | b'\\' => {
                text.push('\\');
                text.push(byte as char);
            }
            0x20..=0x7e => text.push(byte as char),
            _ => text.push_str(&format!("\\x{byte:02x}")),
        }
    }
    text.push('"');
    text
}

fn or_dash(id: Option<StreamId>) -> String {
    id.map_or_else(|| "-".to_owned(), |id| id.to_string())
}

impl fmt::Display for StreamReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name.as_deref().map_or_else(|| "?".to_owned(), quoted);
        let status = if self.is_damaged() {
            "DAMAGED"
        } else if self.problems.iter().any(|p| p.level == Level::Warning) {
            "ok (the server repairs the warnings on open)"
        } else {
            "ok"
        };
        writeln!(f, "stream {name}: {status}")?;
        write!(
            f,
            "  {} segments, {} log bytes; {} entries ({} records, {} deleted), IDs {} .. {}; {} groups",
            self.segments,
            self.bytes,
            self.entries,
            self.records,
            self.deleted,
            or_dash(self.first_id),
            or_dash(self.last_id),
            self.groups
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "data directory {} (last shutdown {})",
            self.root.display(),
            if self.clean_shutdown {
                "clean"
            } else {
                "not clean: the server recovers as after a crash"
            }
        )?;
        for problem in &self.problems {
            self.write_problem(f, problem)?;
        }
        for stream in &self.streams {
            writeln!(f, "{stream}")?;
            for problem in &stream.problems {
                self.write_problem(f, problem)?;
            }
        }
        let checked = self.streams.len();
        match self.damaged() {
            0 => write!(f, "checked {checked} streams: OK"),
            damaged => write!(f, "checked {checked} streams: {damaged} damaged"),
        }
    }
}
