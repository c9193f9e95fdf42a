//! Checking a stream's consumer-group files: which snapshot opening would start from, every
//! journal's header and frames (CRCs), and a replay of every record into the groups, as
//! `storage/journal.rs` and `Stream::new` do it, without changing a byte.

use std::path::{Path, PathBuf};

use crate::check::fix::Fix;
use crate::check::report::{Level, Problem};
use crate::check::CheckError;
use crate::group::{decode_batch, Groups, Record};
use crate::storage::journal::{self, JournalFile, HEADER_BYTES};

/// A journal's frames as read: its path and each frame's offset and body.
struct Journal {
    path: PathBuf,
    frames: Vec<(u64, Vec<u8>)>,
}

/// Checks the group files among `names` (the stream directory's files); returns how many
/// groups the replay ends with.
pub(super) fn check(
    dir: &Path,
    names: &[String],
    problems: &mut Vec<Problem>,
) -> Result<usize, CheckError> {
    let mut journals = Vec::new();
    let mut snapshots = Vec::new();
    for name in names {
        match journal::parse_file_name(name) {
            Some((generation, JournalFile::Journal)) => journals.push(generation),
            Some((generation, JournalFile::Snapshot)) => snapshots.push(generation),
            None => {}
        }
    }
    journals.sort_unstable();
    snapshots.sort_unstable();
    let (base, mut groups) = pick_snapshot(dir, &snapshots, problems)?;
    let files = journals
        .iter()
        .map(|generation| (*generation, JournalFile::Journal))
        .chain(
            snapshots
                .iter()
                .map(|generation| (*generation, JournalFile::Snapshot)),
        );
    for (generation, kind) in files {
        if base.is_some_and(|base| generation < base) {
            problems.push(Problem::new(
                Level::Warning,
                dir.join(journal::file_name(generation, kind)),
                "a generation older than the newest snapshot: the server removes it on open",
            ));
        }
    }
    let live: Vec<u64> = journals
        .iter()
        .copied()
        .filter(|generation| base.is_none_or(|base| *generation >= base))
        .collect();
    if let Some(base) = base.filter(|base| live.last().is_none_or(|newest| newest < base)) {
        problems.push(Problem::new(
            Level::Warning,
            dir.join(journal::file_name(base, JournalFile::Journal)),
            "the newest snapshot's journal is missing: the server creates it on open",
        ));
    }
    for journal in read_journals(dir, &live, problems)? {
        replay_journal(&journal, &mut groups, problems);
    }
    Ok(groups.len())
}

fn read(path: &Path) -> Result<Vec<u8>, CheckError> {
    std::fs::read(path).map_err(|source| CheckError::io(path, source))
}

/// The newest snapshot whose header, frames, count and records are all valid, and the groups
/// it holds; newer ones are damage (the server ignores them, losing what only they held).
fn pick_snapshot(
    dir: &Path,
    snapshots: &[u64],
    problems: &mut Vec<Problem>,
) -> Result<(Option<u64>, Groups), CheckError> {
    let mut damaged = Vec::new();
    let mut picked = (None, Groups::default());
    for &generation in snapshots.iter().rev() {
        let path = dir.join(journal::file_name(generation, JournalFile::Snapshot));
        let records = journal::parse_snapshot(&read(&path)?, generation).and_then(|bodies| {
            let decoded: Result<Vec<Vec<Record>>, _> =
                bodies.iter().map(|body| decode_batch(body)).collect();
            decoded.ok()
        });
        if let Some(records) = records {
            let mut groups = Groups::default();
            for record in records.iter().flatten() {
                groups.apply(record);
            }
            picked = (Some(generation), groups);
            break;
        }
        damaged.push(path);
    }
    let fallback = match picked.0 {
        Some(generation) => format!("snapshot {generation}"),
        None => "no snapshot".to_owned(),
    };
    for path in damaged {
        problems.push(
            Problem::new(
                Level::Damage,
                path,
                format!(
                    "damaged group snapshot: the server ignores it and starts from {fallback} \
                     and the journals after it; what only this snapshot held is lost"
                ),
            )
            .fixed_by(Fix::SetSnapshotAside),
        );
    }
    Ok(picked)
}

/// Reads the journals `generations` (oldest first), newest first as opening does: a damaged
/// tail is a torn append while no later journal holds a record, corruption after that.
fn read_journals(
    dir: &Path,
    generations: &[u64],
    problems: &mut Vec<Problem>,
) -> Result<Vec<Journal>, CheckError> {
    let mut read_back = Vec::with_capacity(generations.len());
    let mut later_has_records = false;
    for (position, &generation) in generations.iter().enumerate().rev() {
        let path = dir.join(journal::file_name(generation, JournalFile::Journal));
        let bytes = read(&path)?;
        let newest = position + 1 == generations.len();
        if !journal::check_header(&bytes, JournalFile::Journal, generation) {
            let empty = bytes
                .get(HEADER_BYTES as usize..)
                .is_none_or(|rest| rest.iter().all(|&byte| byte == 0));
            if newest && empty {
                problems.push(Problem::new(
                    Level::Warning,
                    &path,
                    "torn header of a journal whose creation a crash cut short: the server \
                     writes it again on open",
                ));
                continue;
            }
            problems.push(
                Problem::new(
                    Level::Damage,
                    &path,
                    "group journal header damaged: the server will not open the stream \
                     (quarantine)",
                )
                .at(0)
                .fixed_by(Fix::WriteJournalHeader { generation }),
            );
        }
        let frames = journal::read_frames(&bytes);
        judge_tail(&path, &frames, later_has_records, problems);
        later_has_records |= !frames.bodies.is_empty();
        read_back.push(Journal {
            path,
            frames: frames.bodies,
        });
    }
    read_back.reverse();
    Ok(read_back)
}

/// Judges what follows a journal's last valid frame.
fn judge_tail(
    path: &Path,
    frames: &journal::Frames,
    later_has_records: bool,
    problems: &mut Vec<Problem>,
) {
    let at = frames.end;
    let problem = if frames.damaged && later_has_records {
        Problem::new(
            Level::Damage,
            path,
            "damaged frame (checksum or length) in a journal a later one with records follows: \
             not a torn append; the server will not open the stream (quarantine)",
        )
        .fixed_by(Fix::CutJournal { at })
    } else if frames.damaged {
        Problem::new(
            Level::Warning,
            path,
            "torn append at the end of the journal (a crash): the server cuts it on open, losing \
             only that command",
        )
    } else if frames.leftovers {
        Problem::new(
            Level::Warning,
            path,
            "non-zero bytes after the last frame (a torn write's leftovers): the server clears \
             them on open",
        )
    } else {
        return;
    };
    problems.push(problem.at(at));
}

/// Replays a journal's frames into `groups`; a frame whose records do not decode stops the
/// replay as it stops opening.
fn replay_journal(journal: &Journal, groups: &mut Groups, problems: &mut Vec<Problem>) {
    for (offset, body) in &journal.frames {
        match decode_batch(body) {
            Ok(records) => {
                for record in &records {
                    groups.apply(record);
                }
            }
            Err(error) => {
                problems.push(
                    Problem::new(
                        Level::Damage,
                        &journal.path,
                        format!(
                            "{error} in a frame with a valid checksum: the server will not \
                             open the stream (quarantine)"
                        ),
                    )
                    .at(*offset)
                    .fixed_by(Fix::CutJournal { at: *offset }),
                );
                return;
            }
        }
    }
}
