//! The entries the load generator writes: one field `data` with a 96-byte value, 100 bytes
//! of field data per entry, byte for byte the same on both servers.
//!
//! The tail workload's values carry their send time, so a subscriber can tell how long an
//! entry took from the writer's call to its own receipt: the first 20 bytes are the
//! nanoseconds since the run's origin in decimal, the rest is padding. A value starting with
//! `stop` tells subscribers the writer is done.

use std::time::{Duration, Instant};

use crate::settings::VALUE_BYTES;

/// The one field name.
pub const FIELD_NAME: &str = "data";

/// Digits of a send time.
const STAMP_DIGITS: usize = 20;
/// The start of the writer's last value.
const STOP: &[u8] = b"stop";
/// Fills values out to [`VALUE_BYTES`].
const PADDING: u8 = b'x';

/// The value of the add and range workloads.
pub fn plain_value() -> Vec<u8> {
    vec![PADDING; VALUE_BYTES]
}

/// A value stamped with the time `now`, measured from `origin`.
pub fn stamped_value(origin: Instant, now: Instant) -> Vec<u8> {
    let nanoseconds = now.saturating_duration_since(origin).as_nanos();
    let mut value = format!("{nanoseconds:0width$}", width = STAMP_DIGITS).into_bytes();
    value.resize(VALUE_BYTES, PADDING);
    value
}

/// The value that ends a tail run.
pub fn stop_value() -> Vec<u8> {
    let mut value = STOP.to_vec();
    value.resize(VALUE_BYTES, PADDING);
    value
}

/// What a tail subscriber found in a value.
#[derive(Debug, PartialEq, Eq)]
pub enum Stamp {
    /// Sent at this instant.
    Sent(Instant),
    /// The writer is done.
    Stop,
    /// Not a value this generator wrote.
    Unreadable,
}

/// Reads a value written by [`stamped_value`] or [`stop_value`].
pub fn read_stamp(origin: Instant, value: &[u8]) -> Stamp {
    if value.starts_with(STOP) {
        return Stamp::Stop;
    }
    let Some(digits) = value.get(..STAMP_DIGITS) else {
        return Stamp::Unreadable;
    };
    let parsed = std::str::from_utf8(digits)
        .ok()
        .and_then(|text| text.parse::<u64>().ok());
    match parsed {
        Some(nanoseconds) => Stamp::Sent(origin + Duration::from_nanos(nanoseconds)),
        None => Stamp::Unreadable,
    }
}
