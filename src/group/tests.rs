//! The group rules against Redis 7.0.15's behaviour, on a stream in memory; every test also
//! checks that the journal it produced, and a snapshot, rebuild the same state.

use crate::group::test_support::{assert_replays_to, id, MemSource};
use crate::group::{Claim, Groups, Record};
use crate::id::StreamId;
use crate::model::GroupPolicy;
use crate::model::{ClaimOptions, PendingQuery, ReadOptions};

const KEY: &[u8] = b"s";
const GROUP: &[u8] = b"g";

struct Fixture {
    groups: Groups,
    source: MemSource,
    journal: Vec<Record>,
}

impl Fixture {
    fn new(entries: u64, policy: GroupPolicy) -> Fixture {
        let mut fixture = Fixture {
            groups: Groups::default(),
            source: MemSource::with(entries),
            journal: Vec::new(),
        };
        let journal = &mut fixture.journal;
        fixture
            .groups
            .create(KEY, GROUP, StreamId::MIN, None, policy, journal)
            .expect("the group is created");
        fixture
    }

    fn read(&mut self, consumer: &str, count: usize, now: u64) -> Vec<u64> {
        let options = ReadOptions {
            count,
            ..ReadOptions::default()
        };
        let facts = self.source.facts();
        let delivered = self
            .groups
            .read_new(
                KEY,
                GROUP,
                consumer.as_bytes(),
                now,
                options,
                facts,
                &mut self.source,
                &mut self.journal,
            )
            .expect("a read");
        delivered
            .deliveries
            .iter()
            .map(|delivery| delivery.id.ms)
            .collect()
    }

    fn history(&mut self, consumer: &str, now: u64) -> Vec<(u64, bool)> {
        let delivered = self
            .groups
            .read_history(
                KEY,
                GROUP,
                consumer.as_bytes(),
                StreamId::MIN,
                0,
                now,
                &mut self.source,
                &mut self.journal,
            )
            .expect("a history read");
        delivered
            .deliveries
            .iter()
            .map(|delivery| (delivery.id.ms, delivery.fields.is_some()))
            .collect()
    }

    fn counts(&self, now: u64) -> Vec<(u64, String, u64)> {
        let query = PendingQuery {
            start: StreamId::MIN,
            end: StreamId::MAX,
            count: usize::MAX,
            consumer: None,
            min_idle_ms: 0,
        };
        self.groups
            .pending_range(KEY, GROUP, &query, now)
            .expect("the group exists")
            .into_iter()
            .map(|entry| {
                let owner = String::from_utf8_lossy(&entry.consumer).into_owned();
                (entry.id.ms, owner, entry.delivery_count)
            })
            .collect()
    }

    fn check_journal(&self) {
        assert_replays_to(&self.groups, &self.journal, &self.source.facts());
    }
}

#[test]
fn new_entries_then_history_with_counts_moving_as_redis_moves_them() {
    let mut fixture = Fixture::new(3, GroupPolicy::default());
    assert_eq!(fixture.read("alice", 2, 100), [1, 2]);
    assert_eq!(fixture.read("bob", 0, 100), [3]);
    assert_eq!(fixture.read("bob", 0, 100), Vec::<u64>::new());
    // History reads bump the count; a deleted entry comes back without fields, unchanged.
    fixture.source.delete(2);
    assert_eq!(fixture.history("alice", 200), [(1, true), (2, false)]);
    assert_eq!(fixture.history("alice", 300), [(1, true), (2, false)]);
    assert_eq!(
        fixture.counts(300),
        [
            (1, "alice".into(), 3),
            (2, "alice".into(), 1),
            (3, "bob".into(), 1)
        ]
    );
    assert_eq!(
        fixture
            .groups
            .ack(GROUP, &[id(1), id(1), id(9)], &mut fixture.journal),
        1
    );
    assert_eq!(fixture.history("carol", 300), Vec::<(u64, bool)>::new());
    fixture.check_journal();
}

#[test]
fn setid_backwards_reassigns_pending_entries_with_count_one() {
    let mut fixture = Fixture::new(2, GroupPolicy::default());
    assert_eq!(fixture.read("alice", 0, 10), [1, 2]);
    fixture.history("alice", 20);
    fixture
        .groups
        .set_id(KEY, GROUP, StreamId::MIN, None, &mut fixture.journal)
        .expect("the group exists");
    assert_eq!(fixture.read("bob", 1, 30), [1]);
    assert_eq!(
        fixture.counts(30),
        [(1, "bob".into(), 1), (2, "alice".into(), 2)]
    );
    fixture.check_journal();
}

#[test]
fn xclaim_force_justid_retrycount_and_gone_entries() {
    let mut fixture = Fixture::new(4, GroupPolicy::default());
    fixture.read("alice", 2, 0);
    fixture.source.delete(2);
    let claim = |ids: &[u64], options: ClaimOptions| Claim {
        consumer: b"bob".to_vec(),
        min_idle_ms: 0,
        ids: ids.iter().map(|ms| id(*ms)).collect(),
        options,
    };
    let force = ClaimOptions {
        force: true,
        ..ClaimOptions::default()
    };
    let claimed = fixture
        .groups
        .claim(
            KEY,
            GROUP,
            &claim(&[1, 2, 3], force),
            50,
            &mut fixture.source,
            &mut fixture.journal,
        )
        .expect("a claim");
    let ids: Vec<u64> = claimed
        .deliveries
        .iter()
        .map(|delivery| delivery.id.ms)
        .collect();
    assert_eq!(ids, [1, 3], "2 is gone: dropped from the PEL, not claimed");
    assert_eq!(
        fixture.counts(50),
        [(1, "bob".into(), 2), (3, "bob".into(), 2)]
    );
    let justid = ClaimOptions {
        force: true,
        justid: true,
        ..ClaimOptions::default()
    };
    fixture
        .groups
        .claim(
            KEY,
            GROUP,
            &claim(&[4], justid),
            60,
            &mut fixture.source,
            &mut fixture.journal,
        )
        .expect("a claim");
    let retry = ClaimOptions {
        retry_count: Some(7),
        ..ClaimOptions::default()
    };
    fixture
        .groups
        .claim(
            KEY,
            GROUP,
            &claim(&[1], retry),
            70,
            &mut fixture.source,
            &mut fixture.journal,
        )
        .expect("a claim");
    assert_eq!(
        fixture.counts(70),
        [
            (1, "bob".into(), 7),
            (3, "bob".into(), 2),
            (4, "bob".into(), 1)
        ]
    );
    fixture.check_journal();
}

#[test]
fn xautoclaim_walks_with_a_cursor_and_reports_deleted_entries() {
    let mut fixture = Fixture::new(5, GroupPolicy::default());
    fixture.read("alice", 0, 0);
    fixture.source.delete(2);
    let outcome = fixture
        .groups
        .autoclaim(
            KEY,
            GROUP,
            b"bob",
            10,
            StreamId::MIN,
            2,
            false,
            100,
            &mut fixture.source,
            &mut fixture.journal,
        )
        .expect("an autoclaim");
    let claimed: Vec<u64> = outcome.claimed.deliveries.iter().map(|d| d.id.ms).collect();
    assert_eq!(
        (claimed, outcome.deleted, outcome.cursor),
        (vec![1], vec![id(2)], id(3))
    );
    let outcome = fixture
        .groups
        .autoclaim(
            KEY,
            GROUP,
            b"bob",
            10,
            outcome.cursor,
            10,
            true,
            100,
            &mut fixture.source,
            &mut fixture.journal,
        )
        .expect("an autoclaim");
    assert_eq!(outcome.cursor, StreamId::MIN, "the end was reached");
    assert_eq!(
        fixture.counts(100),
        [
            (1, "bob".into(), 2),
            (3, "bob".into(), 1),
            (4, "bob".into(), 1),
            (5, "bob".into(), 1)
        ]
    );
    fixture.check_journal();
}

#[test]
fn delconsumer_drops_its_pending_entries() {
    let mut fixture = Fixture::new(3, GroupPolicy::default());
    fixture.read("alice", 2, 0);
    fixture.read("bob", 0, 0);
    let dropped = fixture
        .groups
        .delete_consumer(KEY, GROUP, b"alice", &mut fixture.journal);
    assert_eq!(dropped.ok(), Some(2));
    assert_eq!(fixture.counts(0), [(3, "bob".into(), 1)]);
    fixture.check_journal();
}

#[test]
fn over_the_delivery_limit_an_entry_is_marked_for_the_dead_letter_stream() {
    let policy = GroupPolicy {
        max_deliveries: 2,
        ..GroupPolicy::default()
    };
    let mut fixture = Fixture::new(2, policy);
    fixture.read("alice", 0, 0);
    assert_eq!(fixture.history("alice", 10), [(1, true), (2, true)]);
    let delivered = fixture
        .groups
        .read_history(
            KEY,
            GROUP,
            b"alice",
            StreamId::MIN,
            0,
            20,
            &mut fixture.source,
            &mut fixture.journal,
        )
        .expect("a history read");
    assert!(delivered.deliveries.is_empty());
    let dead: Vec<(u64, u64, Vec<u8>)> = delivered
        .dead_letters
        .iter()
        .map(|letter| (letter.id.ms, letter.delivery_count, letter.target.clone()))
        .collect();
    assert_eq!(
        dead,
        [
            (1, 2, b"s:dead-letter".to_vec()),
            (2, 2, b"s:dead-letter".to_vec())
        ]
    );
    // Being moved: not acknowledgeable, still counted pending until the move ends.
    assert_eq!(fixture.groups.ack(GROUP, &[id(1)], &mut fixture.journal), 0);
    assert_eq!(fixture.groups.open_moves().len(), 1);
    fixture.check_journal();
    let end = Record::DeadLetterEnd {
        group: GROUP.to_vec(),
        ids: vec![id(1), id(2)],
    };
    fixture.groups.apply(&end);
    fixture.journal.push(end);
    assert!(fixture.counts(20).is_empty());
    fixture.check_journal();
}

#[test]
fn a_lease_hands_idle_entries_to_the_next_reader_before_new_ones() {
    let policy = GroupPolicy {
        lease_ms: 100,
        ..GroupPolicy::default()
    };
    let mut fixture = Fixture::new(3, policy);
    assert_eq!(fixture.read("alice", 2, 0), [1, 2]);
    assert_eq!(fixture.read("bob", 2, 50), [3], "nothing due yet");
    assert_eq!(fixture.read("bob", 1, 100), [1], "1 and 2 are due; COUNT 1");
    assert_eq!(fixture.read("carol", 5, 120), [2]);
    assert_eq!(
        fixture.counts(120),
        [
            (1, "bob".into(), 2),
            (2, "carol".into(), 2),
            (3, "bob".into(), 1)
        ]
    );
    fixture.check_journal();
}

#[test]
fn a_negative_acknowledgement_releases_after_its_delay() {
    let mut fixture = Fixture::new(2, GroupPolicy::default());
    fixture.read("alice", 0, 0);
    let refused = fixture.groups.nack(
        KEY,
        GROUP,
        b"bob",
        &[id(1)],
        0,
        false,
        10,
        &mut fixture.source,
        &mut fixture.journal,
    );
    assert!(refused.is_err(), "bob does not hold 1");
    let dead = fixture
        .groups
        .nack(
            KEY,
            GROUP,
            b"alice",
            &[id(1)],
            50,
            false,
            10,
            &mut fixture.source,
            &mut fixture.journal,
        )
        .expect("a nack");
    assert!(dead.is_empty());
    fixture.check_journal();
    assert_eq!(fixture.read("bob", 0, 59), Vec::<u64>::new());
    assert_eq!(fixture.read("bob", 0, 60), [1]);
    fixture.check_journal();
}

#[test]
fn a_retry_count_at_its_maximum_does_not_overflow_a_later_delivery() {
    let mut fixture = Fixture::new(1, GroupPolicy::default());
    assert_eq!(fixture.read("alice", 0, 10), [1]);
    let retry = ClaimOptions {
        retry_count: Some(u64::MAX),
        ..ClaimOptions::default()
    };
    let claim = Claim {
        consumer: b"bob".to_vec(),
        min_idle_ms: 0,
        ids: vec![id(1)],
        options: retry,
    };
    fixture
        .groups
        .claim(
            KEY,
            GROUP,
            &claim,
            20,
            &mut fixture.source,
            &mut fixture.journal,
        )
        .expect("a claim");
    // A delivery of an entry whose count is at its maximum keeps it there (Redis's C counter
    // would wrap to 0).
    assert_eq!(fixture.history("bob", 30), [(1, true)]);
    let count = |fixture: &Fixture| {
        let group = fixture.groups.get(GROUP).expect("the group");
        group.pel().get(id(1)).expect("pending").delivery_count
    };
    assert_eq!(count(&fixture), u64::MAX);
    let again = Claim {
        options: ClaimOptions::default(),
        ..claim
    };
    let claimed = fixture
        .groups
        .claim(
            KEY,
            GROUP,
            &again,
            40,
            &mut fixture.source,
            &mut fixture.journal,
        )
        .expect("a claim");
    assert_eq!(claimed.deliveries.len(), 1);
    assert_eq!(count(&fixture), u64::MAX);
    fixture.check_journal();
}
