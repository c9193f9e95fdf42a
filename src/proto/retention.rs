//! Conversions between the retention messages and the engine's [`Retention`] and
//! [`RetentionStatus`], shared by the server and the client.

use super::v1;
use crate::model::{Retention, RetentionStatus};

/// A policy for the wire.
pub fn policy_to_proto(policy: &Retention) -> v1::RetentionPolicy {
    v1::RetentionPolicy {
        max_age_ms: policy.max_age_ms,
        max_bytes: policy.max_bytes,
        max_len: policy.max_len,
        keep_unprocessed: policy.keep_unprocessed,
    }
}

/// A policy from the wire; an absent one is the empty policy (no policy).
pub fn policy_from_proto(policy: Option<v1::RetentionPolicy>) -> Retention {
    let policy = policy.unwrap_or_default();
    Retention {
        max_age_ms: policy.max_age_ms,
        max_bytes: policy.max_bytes,
        max_len: policy.max_len,
        keep_unprocessed: policy.keep_unprocessed,
    }
}

/// A status for the wire.
pub fn status_to_proto(status: &RetentionStatus) -> v1::RetentionStatus {
    v1::RetentionStatus {
        held_entries: status.held_entries,
        held_bytes: status.held_bytes,
        held_segments: status.held_segments,
        removed_entries: status.removed_entries,
        removed_bytes: status.removed_bytes,
        removed_segments: status.removed_segments,
    }
}

/// A status from the wire.
pub fn status_from_proto(status: v1::RetentionStatus) -> RetentionStatus {
    RetentionStatus {
        held_entries: status.held_entries,
        held_bytes: status.held_bytes,
        held_segments: status.held_segments,
        removed_entries: status.removed_entries,
        removed_bytes: status.removed_bytes,
        removed_segments: status.removed_segments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_and_statuses_round_trip() {
        let policy = Retention {
            max_age_ms: Some(5),
            max_bytes: None,
            max_len: Some(0),
            keep_unprocessed: true,
        };
        assert_eq!(policy_from_proto(Some(policy_to_proto(&policy))), policy);
        assert_eq!(policy_from_proto(None), Retention::default());
        let status = RetentionStatus {
            held_entries: 1,
            held_bytes: 2,
            held_segments: 3,
            removed_entries: 4,
            removed_bytes: 5,
            removed_segments: 6,
        };
        assert_eq!(status_from_proto(status_to_proto(&status)), status);
    }
}
