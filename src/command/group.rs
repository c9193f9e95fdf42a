//! The consumer-group commands: XGROUP (and Sluice's SETPOLICY), XREADGROUP, XACK, XPENDING,
//! XCLAIM, XAUTOCLAIM, XINFO GROUPS / CONSUMERS, and Sluice's XNACK and XRENEW.

use crate::id::StreamId;
use crate::model::{ClaimOptions, GroupPolicy, GroupStart, GroupTarget, PendingQuery};

/// XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD n], and Sluice's policy options
/// [MAXDELIVERIES n] [DEADLETTER stream] [LEASE ms].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XGroupCreate {
    /// The stream.
    pub key: Vec<u8>,
    /// The group.
    pub group: Vec<u8>,
    /// Its last-delivered ID: `$` or an ID.
    pub target: GroupTarget,
    /// MKSTREAM: create a missing stream.
    pub mkstream: bool,
    /// ENTRIESREAD (`None`: unknown, as -1 and no ENTRIESREAD say).
    pub entries_read: Option<u64>,
    /// Sluice's policy options (the default when none is given).
    pub policy: GroupPolicy,
}

/// XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] [CLAIM min-idle-time]
/// STREAMS key … id ….
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XReadGroup {
    /// The group.
    pub group: Vec<u8>,
    /// The consumer.
    pub consumer: Vec<u8>,
    /// COUNT per stream; `None` for no limit (COUNT 0 and negative COUNTs mean no limit too).
    pub count: Option<u64>,
    /// BLOCK in milliseconds (0: forever); `None` when not blocking.
    pub block_ms: Option<u64>,
    /// NOACK.
    pub noack: bool,
    /// Redis 8.4's CLAIM min-idle-time.
    pub claim_min_idle_ms: Option<u64>,
    /// The streams and where to read each, in order.
    pub streams: Vec<(Vec<u8>, GroupStart)>,
}

/// XPENDING key group [[IDLE min-idle] start end count [consumer]].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XPending {
    /// The stream.
    pub key: Vec<u8>,
    /// The group.
    pub group: Vec<u8>,
    /// The extended form's arguments; `None` for the summary.
    pub extended: Option<PendingQuery>,
}

/// XCLAIM key group consumer min-idle-time id [id …] [IDLE ms] [TIME ms] [RETRYCOUNT n]
/// [FORCE] [JUSTID] [LASTID id].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XClaim {
    /// The stream.
    pub key: Vec<u8>,
    /// The group.
    pub group: Vec<u8>,
    /// The consumer claiming.
    pub consumer: Vec<u8>,
    /// min-idle-time (a negative one is 0).
    pub min_idle_ms: u64,
    /// The IDs, in order.
    pub ids: Vec<StreamId>,
    /// The options.
    pub options: ClaimOptions,
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XAutoClaim {
    /// The stream.
    pub key: Vec<u8>,
    /// The group.
    pub group: Vec<u8>,
    /// The consumer claiming.
    pub consumer: Vec<u8>,
    /// min-idle-time (a negative one is 0).
    pub min_idle_ms: u64,
    /// Where to start (exclusive bounds resolved).
    pub start: StreamId,
    /// COUNT (default 100).
    pub count: u64,
    /// JUSTID.
    pub justid: bool,
}

/// Sluice's XNACK key group consumer [DELAY ms] [REJECT] IDS numids id [id …]: the consumer
/// gives entries back for redelivery (after DELAY), or with REJECT sends them to the group's
/// dead-letter stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XNack {
    /// The stream.
    pub key: Vec<u8>,
    /// The group.
    pub group: Vec<u8>,
    /// The consumer holding the entries.
    pub consumer: Vec<u8>,
    /// The entries.
    pub ids: Vec<StreamId>,
    /// DELAY in milliseconds (0: at once).
    pub delay_ms: u64,
    /// REJECT: to the dead-letter stream.
    pub reject: bool,
}
