//! The storage engine's on-disk layer: segmented, checksummed, append-only stream logs.
//!
//! Nothing here knows about Redis commands or the network. The byte layout of every file is
//! documented in `FORMAT.md` next to this module and in the module that writes it.

pub mod catalog;
pub mod fs;
pub mod handles;
pub mod index;
pub mod read;
pub mod record;
pub mod recovery;
pub mod segment;
pub mod sim_fs;
pub mod stream_log;
pub mod sync;
pub mod tombstone;
