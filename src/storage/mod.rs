//! The storage engine's on-disk layer: segmented, checksummed, append-only stream logs, and the
//! data directory that holds them.
//!
//! What it knows: bytes, files, the fsync policy and crash recovery; stream IDs and entries
//! as records; and, below the Redis commands that drive them, the mechanics of removing
//! entries — a deletion by ID (what XDEL needs) and a trim by length or by ID, exact or by
//! whole segments (what XTRIM and XADD's trimming need), expressed as [`crate::model::TrimSpec`].
//! What it does not know: how IDs are picked or checked against Redis's rules (`stream`),
//! which streams exist (`engine`), or anything about the network. The byte layout of every
//! file is documented in `FORMAT.md` next to this module and in the module that writes it.
//!
//! Modules, lowest first:
//! - [`bytes`]: little-endian fields and IDs, as every structure stores them;
//! - [`fs`]: the file-system seam (real files; a simulated disk for tests behind the
//!   `sim-fs` feature);
//! - [`record`]: one entry's frame in a log; [`segment`]: a segment file's name, header and
//!   validating scan; [`index`]: a segment's sparse index; [`tombstone`]: deletions and trims;
//! - [`handles`]: the bounded cache of open files and maps;
//! - [`sync`]: group commit (many writers share an fdatasync); [`zeros`]: zeros written
//!   ahead of appends, so that syncs overwrite allocated blocks;
//! - [`journal`]: a stream's group journal and snapshots (opaque records, CRC-framed);
//! - [`repair`]: what recovery reports; [`metrics`]: the counters of appends and reads;
//! - [`retention`]: a stream's retention policy file;
//! - [`log`]: one stream's log (write path, views, reads, opening and recovery);
//! - [`catalog`]: stream names to directory names;
//! - [`data_dir`]: the data directory (lock, format, clean marker, stream directories).

pub mod bytes;
pub mod catalog;
pub mod data_dir;
pub mod fs;
pub mod handles;
pub mod index;
pub mod journal;
pub mod log;
pub mod metrics;
pub mod record;
pub mod repair;
pub mod retention;
pub mod segment;
#[cfg(any(test, feature = "sim-fs"))]
pub mod sim_fs;
pub mod sync;
pub mod tombstone;
pub mod zeros;
