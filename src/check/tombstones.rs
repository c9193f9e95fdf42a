//! Checking a stream's tombstone files: every slot decodes, and names a record its segment has.
//! A torn last slot and tombstones of records lost in a crash are what a crash leaves (opening
//! drops them); a damaged slot with valid ones after it is damage, since opening stops at it and
//! the later deletions would come undone.

use std::collections::BTreeMap;
use std::path::Path;

use crate::check::fix::Fix;
use crate::check::read_optional;
use crate::check::report::{Level, Problem};
use crate::check::segments::Checked;
use crate::check::CheckError;
use crate::storage::segment::{self, FileKind};
use crate::storage::tombstone::{self, DeadSet, Tombstone, SLOT_BYTES};

/// Checks the tombstone file of each segment of `segments`; returns each one's gone records.
pub(super) fn check(
    dir: &Path,
    segments: &[Checked],
    problems: &mut Vec<Problem>,
) -> Result<Vec<DeadSet>, CheckError> {
    let records: BTreeMap<u64, u32> = segments
        .iter()
        .map(|segment| (segment.id, segment.records.len() as u32))
        .collect();
    let records_of = |id: u64| records.get(&id).copied();
    let mut dead = Vec::with_capacity(segments.len());
    for segment in segments {
        let path = dir.join(segment::file_name(segment.id, FileKind::Deletions));
        let Some(bytes) = read_optional(&path)? else {
            dead.push(DeadSet::default());
            continue;
        };
        let loaded = tombstone::load(&bytes, segment.records.len() as u32, &records_of);
        judge_slots(&path, &bytes, problems);
        if loaded.dangling > 0 {
            problems.push(Problem::new(
                Level::Warning,
                &path,
                format!(
                    "{} tombstones name records the segment does not have (lost in a crash, or \
                     cut by a repair): the server drops them on open",
                    loaded.dangling
                ),
            ));
        }
        dead.push(loaded.dead);
    }
    Ok(dead)
}

/// Reports the first slot that does not decode: damage if valid slots follow it, a torn tail
/// otherwise.
fn judge_slots(path: &Path, bytes: &[u8], problems: &mut Vec<Problem>) {
    let mut slots = bytes.chunks(SLOT_BYTES);
    let Some(first_bad) = slots.position(|slot| Tombstone::decode(slot).is_none()) else {
        return;
    };
    let offset = (first_bad * SLOT_BYTES) as u64;
    let valid_after = slots
        .filter(|slot| Tombstone::decode(slot).is_some())
        .count();
    if valid_after > 0 {
        problems.push(
            Problem::new(
                Level::Damage,
                path,
                format!(
                    "damaged tombstone with {valid_after} valid ones after it: the server stops \
                     reading at the damage, so their deletions would come undone"
                ),
            )
            .at(offset)
            .fixed_by(Fix::KeepValidTombstones),
        );
    } else {
        problems.push(
            Problem::new(
                Level::Warning,
                path,
                format!(
                    "torn tail of {} bytes (a crash mid-append): the server drops it on open",
                    bytes.len() as u64 - offset
                ),
            )
            .at(offset),
        );
    }
}
