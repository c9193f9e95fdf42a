//! The storage engine's counters, as handles taken from the process's `metrics` recorder when
//! the engine opens. The append and read paths count through them instead of naming a metric
//! on every call, which makes the recorder hash the name and allocate a key each time (two
//! allocations of the ~50 a unary gRPC Add made). A recorder installed after the engine opened
//! does not see these counts: the server installs its exporter first.

use metrics::Counter;

/// Counters of what the logs appended and returned (see the README's metrics table).
pub struct StorageMetrics {
    /// `sluice_entries_appended_total`.
    pub entries_appended: Counter,
    /// `sluice_bytes_appended_total`: encoded bytes.
    pub bytes_appended: Counter,
    /// `sluice_entries_read_total`, by every kind of read.
    pub entries_read: Counter,
    /// `sluice_bytes_read_total`, as a reply accounts them.
    pub bytes_read: Counter,
}

impl StorageMetrics {
    /// Handles from the recorder installed now (no-ops if none is).
    pub fn new() -> StorageMetrics {
        StorageMetrics {
            entries_appended: metrics::counter!("sluice_entries_appended_total"),
            bytes_appended: metrics::counter!("sluice_bytes_appended_total"),
            entries_read: metrics::counter!("sluice_entries_read_total"),
            bytes_read: metrics::counter!("sluice_bytes_read_total"),
        }
    }
}

impl Default for StorageMetrics {
    fn default() -> StorageMetrics {
        StorageMetrics::new()
    }
}
