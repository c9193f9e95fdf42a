//! A stream's retention policy on disk: the `retention` file in the stream's directory.
//!
//! One small CRC-checked file (layout in `FORMAT.md`), present only while the stream has a
//! policy. It is replaced atomically — written to `retention.tmp`, synced, renamed over,
//! directory synced — so a crash leaves the old policy or the new one, never a mix (a
//! leftover `retention.tmp` is removed when the stream opens, like every `*.tmp`). Being inside
//! the stream's directory, it goes with the stream through RENAME and DEL.
//!
//! A file that exists but does not decode is not a torn write (the replace is atomic): it is
//! damage, and opening the stream fails with a corruption error, which quarantines the stream
//! (its files untouched, every call refused with the reason). The policy is never guessed:
//! enforcing a wrong one could drop data, and forgetting it silently would let the stream grow
//! without the bound its owner set. Removing the file by hand opens the stream without a policy.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::model::Retention;
use crate::storage::bytes::{get_u32, get_u64};
use crate::storage::fs::{FileSystem, OpenMode};
use crate::storage::log::{Context, StreamLog};

/// The policy file's name inside a stream directory.
pub const FILE_NAME: &str = "retention";

/// The file's magic bytes.
const MAGIC: &[u8; 8] = b"SLUICERP";
/// The layout's version.
const VERSION: u32 = 1;
/// The file's size: magic, version, flags, three limits, CRC.
pub const FILE_BYTES: usize = 44;

const HAS_MAX_AGE: u32 = 1;
const HAS_MAX_BYTES: u32 = 1 << 1;
const HAS_MAX_LEN: u32 = 1 << 2;
const KEEP_UNPROCESSED: u32 = 1 << 3;
const KNOWN_FLAGS: u32 = HAS_MAX_AGE | HAS_MAX_BYTES | HAS_MAX_LEN | KEEP_UNPROCESSED;

/// The policy as the file holds it.
pub fn encode(policy: &Retention) -> [u8; FILE_BYTES] {
    let mut bytes = [0u8; FILE_BYTES];
    bytes[0..8].copy_from_slice(MAGIC);
    bytes[8..12].copy_from_slice(&VERSION.to_le_bytes());
    let mut flags = 0;
    let limits = [
        (policy.max_age_ms, HAS_MAX_AGE, 16),
        (policy.max_bytes, HAS_MAX_BYTES, 24),
        (policy.max_len, HAS_MAX_LEN, 32),
    ];
    for (value, flag, at) in limits {
        if let Some(value) = value {
            flags |= flag;
            bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
        }
    }
    if policy.keep_unprocessed {
        flags |= KEEP_UNPROCESSED;
    }
    bytes[12..16].copy_from_slice(&flags.to_le_bytes());
    let crc = crc32fast::hash(&bytes[..40]);
    bytes[40..44].copy_from_slice(&crc.to_le_bytes());
    bytes
}

/// The policy a file holds, or why it cannot be read.
pub fn decode(bytes: &[u8]) -> std::result::Result<Retention, String> {
    if bytes.len() != FILE_BYTES {
        return Err(format!(
            "retention file is {} bytes, expected {FILE_BYTES}",
            bytes.len()
        ));
    }
    if get_u32(bytes, 40) != crc32fast::hash(&bytes[..40]) {
        return Err("retention file fails its checksum".to_owned());
    }
    if &bytes[0..8] != MAGIC {
        return Err("retention file has a bad magic".to_owned());
    }
    let version = get_u32(bytes, 8);
    if version != VERSION {
        return Err(format!("retention file has unknown version {version}"));
    }
    let flags = get_u32(bytes, 12);
    if flags & !KNOWN_FLAGS != 0 {
        return Err(format!("retention file has unknown flags {flags:#x}"));
    }
    let limit = |flag: u32, at: usize| (flags & flag != 0).then(|| get_u64(bytes, at));
    Ok(Retention {
        max_age_ms: limit(HAS_MAX_AGE, 16),
        max_bytes: limit(HAS_MAX_BYTES, 24),
        max_len: limit(HAS_MAX_LEN, 32),
        keep_unprocessed: flags & KEEP_UNPROCESSED != 0,
    })
}

/// The policy stored in stream directory `dir`: `None` without a file, a corruption error for
/// a file that does not decode.
pub fn load(fs: &dyn FileSystem, dir: &Path) -> Result<Option<Retention>> {
    let path = dir.join(FILE_NAME);
    let bytes = match fs.open(&path, OpenMode::Read) {
        Ok(file) => file.read_all()?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    decode(&bytes)
        .map(Some)
        .map_err(|detail| Error::corrupt(path, detail))
}

/// Replaces the policy stored in `dir` (`None` removes the file), durably under the fsync
/// policy's rules for structural changes.
fn store(ctx: &Context, dir: &Path, policy: Option<&Retention>) -> Result<()> {
    let path = dir.join(FILE_NAME);
    let Some(policy) = policy else {
        match ctx.fs.remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(error.into()),
        }
        ctx.sync_dir(dir)?;
        return Ok(());
    };
    let mut temporary = path.clone().into_os_string();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let file = ctx.fs.open(&temporary, OpenMode::Create)?;
    file.set_len(0)?;
    file.write_all_at(&encode(policy), 0)?;
    // The rename must not become durable before the content.
    ctx.sync_file(file.as_ref())?;
    drop(file);
    ctx.fs.rename(&temporary, &path)?;
    ctx.sync_dir(dir)?;
    Ok(())
}

impl StreamLog {
    /// Stores the stream's retention policy (`None`: removes it), under the writer lock, so it
    /// never races a drop or a rename of the stream (a dropped stream fails with
    /// [`Error::Dropped`]) and a clean-shutdown marker is removed first like for any write.
    /// `then` runs under the same lock once the file is in place (the caller's in-memory
    /// copy is updated there, so the two never disagree for a concurrent enforcement pass).
    pub fn store_retention(&self, policy: Option<&Retention>, then: impl FnOnce()) -> Result<()> {
        self.write(|_| {
            store(&self.ctx, &self.dir, policy)?;
            then();
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_round_trip() {
        let policies = [
            Retention::default(),
            Retention {
                max_age_ms: Some(60_000),
                ..Retention::default()
            },
            Retention {
                max_age_ms: Some(1),
                max_bytes: Some(u64::MAX),
                max_len: Some(7),
                keep_unprocessed: true,
            },
        ];
        for policy in policies {
            assert_eq!(decode(&encode(&policy)), Ok(policy));
        }
    }

    #[test]
    fn damage_is_refused() {
        let good = encode(&Retention {
            max_len: Some(10),
            ..Retention::default()
        });
        for at in 0..FILE_BYTES {
            let mut bad = good;
            bad[at] ^= 0x40;
            assert!(decode(&bad).is_err(), "a flipped byte {at} was accepted");
        }
        assert!(decode(&good[..FILE_BYTES - 1]).is_err());
        assert!(decode(&[]).is_err());
    }
}
