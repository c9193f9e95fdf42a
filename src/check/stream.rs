//! Checking one stream directory: which files it holds, then its segments, tombstones and group
//! files, and the figures and counters that follow from them (live IDs strictly increasing
//! across segments, entries-added not below the length).

use std::collections::BTreeMap;
use std::path::Path;

use crate::check::fix::Fix;
use crate::check::report::{Level, Problem, StreamReport};
use crate::check::segments::Checked;
use crate::check::{groups, segments, tombstones, CheckError};
use crate::storage::segment::{self, FileKind};
use crate::storage::tombstone::DeadSet;
use crate::storage::{catalog, retention};

/// The files of a stream directory, sorted out.
#[derive(Default)]
struct Listing {
    /// Segments that have a log, in order.
    segments: Vec<u64>,
    /// Every file name (group files are picked from these).
    names: Vec<String>,
}

/// Checks the stream `name` in `dir`.
pub(super) fn check(name: Option<Vec<u8>>, dir: &Path) -> Result<StreamReport, CheckError> {
    let mut report = StreamReport {
        name,
        dir: dir.to_path_buf(),
        ..StreamReport::default()
    };
    let listing = list(dir, &mut report.problems)?;
    if listing.segments.is_empty() {
        report.problems.push(Problem::new(
            Level::Warning,
            dir,
            "no segment: the server starts an empty one on open",
        ));
    }
    let checked = segments::check(dir, &listing.segments, &mut report.problems)?;
    let dead = tombstones::check(dir, &checked, &mut report.problems)?;
    report.groups = groups::check(dir, &listing.names, &mut report.problems)?;
    report.segments = checked.len();
    report.bytes = checked.iter().map(|segment| segment.committed_end).sum();
    summarize(&mut report, &checked, &dead);
    // In file order (stable: one file's problems stay in the order found).
    report
        .problems
        .sort_by(|a, b| (&a.path, a.offset).cmp(&(&b.path, b.offset)));
    Ok(report)
}

/// Sorts the directory's files out: segment files (those without a log are strays opening
/// removes), group files, kept-aside bytes, leftovers.
fn list(dir: &Path, problems: &mut Vec<Problem>) -> Result<Listing, CheckError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CheckError::io(dir, source))?;
    let mut listing = Listing::default();
    let mut kinds: BTreeMap<u64, Vec<FileKind>> = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|source| CheckError::io(dir, source))?;
        let path = entry.path();
        let Ok(name) = entry.file_name().into_string() else {
            problems.push(Problem::new(Level::Info, &path, "not a Sluice file"));
            continue;
        };
        if let Some((id, kind)) = segment::parse_file_name(&name) {
            kinds.entry(id).or_default().push(kind);
        } else if name.contains(".dropped-") {
            problems.push(Problem::new(
                Level::Info,
                &path,
                "bytes an earlier recovery or repair cut off, kept for inspection",
            ));
        } else if name == retention::FILE_NAME {
            check_retention(&path, problems)?;
        } else if name.ends_with(".tmp") {
            problems.push(Problem::new(
                Level::Warning,
                &path,
                "temporary file of an interrupted rewrite: the server removes it on open",
            ));
        } else if name != catalog::NAME_FILE
            && crate::storage::journal::parse_file_name(&name).is_none()
        {
            problems.push(Problem::new(
                Level::Info,
                &path,
                "not a Sluice file: the server leaves it alone",
            ));
        }
        listing.names.push(name);
    }
    for (id, kinds) in kinds {
        if kinds.contains(&FileKind::Log) {
            listing.segments.push(id);
            continue;
        }
        for kind in kinds {
            problems.push(Problem::new(
                Level::Warning,
                dir.join(segment::file_name(id, kind)),
                "belongs to no segment (its log is gone): the server removes it on open",
            ));
        }
    }
    Ok(listing)
}

/// The stream's retention policy file decodes (the server quarantines a stream whose file
/// does not; `--repair` moves it aside, leaving the stream without a policy).
fn check_retention(path: &Path, problems: &mut Vec<Problem>) -> Result<(), CheckError> {
    let bytes = std::fs::read(path).map_err(|source| CheckError::io(path, source))?;
    if let Err(detail) = retention::decode(&bytes) {
        problems.push(
            Problem::new(
                Level::Damage,
                path,
                format!("{detail}: the server quarantines the stream"),
            )
            .fixed_by(Fix::SetRetentionAside),
        );
    }
    Ok(())
}

/// The stream's figures, and the checks that need all segments: live IDs strictly increase
/// across segments, and the newest header's entries-added covers the length.
fn summarize(report: &mut StreamReport, checked: &[Checked], dead: &[DeadSet]) {
    let mut previous = None;
    // Reported once: every entry after a misplaced one may look misplaced too.
    let mut disordered = false;
    for (segment, dead) in checked.iter().zip(dead) {
        report.records += segment.records.len() as u64;
        report.deleted += u64::from(dead.dead());
        let live = segment
            .records
            .iter()
            .filter(|record| !dead.is_dead(record.ordinal));
        for record in live {
            if !disordered && previous.is_some_and(|previous| record.id <= previous) {
                disordered = true;
                report.problems.push(
                    Problem::new(
                        Level::Damage,
                        report
                            .dir
                            .join(segment::file_name(segment.id, FileKind::Log)),
                        format!(
                            "entry {} does not follow the entry before it ({}): IDs must \
                             increase across segments",
                            record.id,
                            previous.unwrap_or_default()
                        ),
                    )
                    .at(u64::from(record.offset)),
                );
            }
            report.first_id.get_or_insert(record.id);
            report.entries += 1;
            previous = Some(record.id);
        }
    }
    report.last_id = previous;
    let Some(newest) = checked.last() else {
        return;
    };
    if let Some(header) = newest.header {
        let entries_added = header.entries_added_before + newest.records.len() as u64;
        if entries_added < report.entries {
            report.problems.push(Problem::new(
                Level::Damage,
                report
                    .dir
                    .join(segment::file_name(newest.id, FileKind::Log)),
                format!(
                    "counters: entries-added is {entries_added}, below the stream's length {}",
                    report.entries
                ),
            ));
        }
    }
}
