//! What readers see of a stream: an immutable [`View`] of its segments and counters, taken at
//! one committed instant. A view is an `Arc` swap away from the writer: readers never wait for
//! writers, and a view never shows a write before it is committed (durable, under `always`).

use std::sync::{Arc, Mutex, RwLock};

use crate::id::{IdRange, StreamId};
use crate::lock::read;
use crate::model::Counters;
use crate::storage::index::IndexPoint;
use crate::storage::segment::SegmentHeader;
use crate::storage::tombstone::DeadSet;

/// What a segment holds, as far as a view can see.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extent {
    /// Bytes of the log that are committed.
    pub len: u64,
    /// Committed records (live or not).
    pub count: u32,
    /// ID of the first record.
    pub first_id: Option<StreamId>,
    /// ID of the last record.
    pub last_id: Option<StreamId>,
}

/// One segment as readers see it.
pub struct Segment {
    /// Its number.
    pub id: u64,
    /// Its header.
    pub header: SegmentHeader,
    /// Which of its records are gone, as of the view holding this version of the segment.
    pub(crate) dead: Arc<DeadSet>,
    pub(crate) body: Body,
}

/// Where a segment's extent and index points are found.
#[derive(Clone)]
pub(crate) enum Body {
    Sealed { extent: Extent, points: usize },
    Active(Arc<ActiveShared>),
}

/// The active segment's in-memory index, shared between the writer and readers.
pub(crate) struct ActiveShared {
    pub(crate) points: RwLock<Vec<IndexPoint>>,
    pub(crate) persist: Mutex<Persist>,
}

/// How much of the active segment's index has reached its file.
pub(crate) struct Persist {
    /// Points already written to the index file.
    pub(crate) on_disk: usize,
    /// The segment was sealed: its index file is complete.
    pub(crate) sealed: bool,
}

impl ActiveShared {
    pub(crate) fn new(points: Vec<IndexPoint>, on_disk: usize) -> ActiveShared {
        ActiveShared {
            points: RwLock::new(points),
            persist: Mutex::new(Persist {
                on_disk,
                sealed: false,
            }),
        }
    }
}

impl Segment {
    /// A sealed segment with no deletions yet.
    pub(crate) fn sealed(header: SegmentHeader, extent: Extent, points: usize) -> Segment {
        Segment {
            id: header.segment_id,
            header,
            dead: Arc::default(),
            body: Body::Sealed { extent, points },
        }
    }

    /// The active segment with no deletions yet.
    pub(crate) fn active(header: SegmentHeader, shared: Arc<ActiveShared>) -> Segment {
        Segment {
            id: header.segment_id,
            header,
            dead: Arc::default(),
            body: Body::Active(shared),
        }
    }

    /// Live records.
    pub(crate) fn live(&self, extent: &Extent) -> u32 {
        extent.count - self.dead.dead()
    }

    pub(crate) fn is_active(&self) -> bool {
        matches!(self.body, Body::Active(_))
    }
}

/// One segment as a view sees it, summarised: what a whole-segment removal decides by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentFacts {
    /// Its number.
    pub id: u64,
    /// The ID of its first record (live or not), if it has any.
    pub first_id: Option<StreamId>,
    /// The ID of its last record (live or not), if it has any.
    pub last_id: Option<StreamId>,
    /// Its live entries.
    pub live: u64,
    /// Committed bytes of its log (header and records; not the active segment's padding).
    pub bytes: u64,
    /// Whether it is the active segment (appended to; never removed whole).
    pub active: bool,
}

/// A consistent snapshot of a stream for readers: which segments exist, how much of the active
/// one is committed, and the counters at that instant.
pub struct View {
    /// Increases with every committed write.
    pub seq: u64,
    pub(crate) segments: Arc<Vec<Arc<Segment>>>,
    pub(crate) active: Extent,
    /// The counters.
    pub counters: Counters,
}

impl View {
    /// The extent of `segment` in this view.
    pub(crate) fn extent(&self, segment: &Segment) -> Extent {
        match &segment.body {
            Body::Sealed { extent, .. } => *extent,
            Body::Active(_) => self.active,
        }
    }

    /// Whether a range read of up to `count` entries is served by the active segment alone:
    /// the newest entries, which the page cache holds. Forward, when the range starts after
    /// the entries of every sealed segment; backward, also when it ends in the active segment
    /// and that holds at least `count` records. A guess to schedule the read by, not a
    /// promise: deleted entries can make a read go further.
    pub fn served_by_active(&self, range: IdRange, rev: bool, count: usize) -> bool {
        let Some(active) = self
            .segments
            .last()
            .filter(|segment| matches!(segment.body, Body::Active(_)))
        else {
            return false;
        };
        let before = active.header.last_id_before;
        // The only segment holds every entry there is.
        self.segments.len() == 1
            || range.start > before
            || (rev && range.end > before && self.active.count as usize >= count)
    }

    /// What each segment holds, oldest first (what retention decides by).
    pub fn segment_facts(&self) -> Vec<SegmentFacts> {
        self.segments
            .iter()
            .map(|segment| {
                let extent = self.extent(segment);
                SegmentFacts {
                    id: segment.id,
                    first_id: extent.first_id,
                    last_id: extent.last_id,
                    live: u64::from(segment.live(&extent)),
                    bytes: extent.len,
                    active: segment.is_active(),
                }
            })
            .collect()
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Number of sparse index points across segments.
    pub fn index_points(&self) -> usize {
        self.segments
            .iter()
            .map(|segment| match &segment.body {
                Body::Sealed { points, .. } => *points,
                Body::Active(shared) => read(&shared.points).len(),
            })
            .sum()
    }
}
