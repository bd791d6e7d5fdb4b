//! Sequence assignment and epoch bumps as plain state-machine steps.

use std::sync::Arc;

use kafkit_protocol::Compression;
use tokio::time::Instant;

use super::*;
use crate::accumulator::batch::Incomplete;

fn batch(partition: i32, records: i32) -> ProducerBatch {
    let mut b = ProducerBatch::new(
        "t".into(),
        partition,
        Compression::None.into(),
        1 << 20,
        Instant::now(),
        None,
        Arc::new(Incomplete::default()),
    );
    for _ in 0..records {
        b.try_append(0, None, Some(b"v"), &[]).expect("room");
    }
    b
}

/// Drains `batch` as the sender does: assign, close, mark sent.
fn drain(m: &mut IdempotenceManager, mut b: ProducerBatch) -> ProducerBatch {
    assert!(m.can_drain(&b), "drainable");
    let state = if b.producer_state.is_none() {
        m.assign(&b)
    } else {
        None
    };
    b.close(state).expect("closed");
    b.sent = true;
    m.on_sent(&(b.topic().clone(), b.partition()));
    b
}

fn tp_of(b: &ProducerBatch) -> TopicPartition {
    (b.topic().clone(), b.partition())
}

fn seq(b: &ProducerBatch) -> (i16, i32) {
    let s = b.producer_state.expect("stamped");
    (s.epoch, s.base_sequence)
}

fn manager() -> IdempotenceManager {
    let mut m = IdempotenceManager::default();
    assert!(m.set_producer(1000, 0).is_empty());
    m
}

#[test]
fn nothing_drains_before_init_producer_id() {
    let m = IdempotenceManager::default();
    assert!(!m.can_drain(&batch(0, 1)));
}

#[test]
fn sequences_are_assigned_at_drain_per_partition_and_advance_by_record_count() {
    let mut m = manager();
    let a = drain(&mut m, batch(0, 3));
    let b = drain(&mut m, batch(0, 2));
    let other = drain(&mut m, batch(1, 4));
    assert_eq!((seq(&a), seq(&b), seq(&other)), ((0, 0), (0, 3), (0, 0)));
    let view = kafkit_protocol::RecordBatch::parse(b.bytes().expect("closed")).expect("valid");
    assert_eq!(
        (view.producer_id(), view.producer_epoch(), view.base_sequence()),
        (1000, 0, 3)
    );
}

#[test]
fn a_retry_goes_only_as_the_first_unacknowledged_batch() {
    let mut m = manager();
    let a = drain(&mut m, batch(0, 1));
    let b = drain(&mut m, batch(0, 1));
    for x in [&a, &b] {
        m.on_request_done(&tp_of(x));
    }
    // Both failed with NOT_LEADER: retriable, no bump.
    assert!(m.can_retry(&a, ErrorCode::NotLeaderOrFollower, -1));
    assert!(m.can_retry(&b, ErrorCode::NotLeaderOrFollower, -1));
    assert!(!m.can_drain(&b), "b must wait for a");
    let a = drain(&mut m, a);
    assert_eq!(seq(&a), (0, 0), "a retry keeps its sequence");
    assert!(!m.can_drain(&b), "still behind a, which is on the wire");
    m.on_request_done(&tp_of(&a));
    m.on_success(&a, 10);
    let b = drain(&mut m, b);
    assert_eq!(seq(&b), (0, 1));
    assert!(m.partitions_to_bump().is_empty());
}

#[test]
fn out_of_order_behind_a_failed_batch_is_retried_without_a_bump() {
    let mut m = manager();
    let a = drain(&mut m, batch(0, 1));
    let b = drain(&mut m, batch(0, 1));
    m.on_request_done(&tp_of(&a));
    m.on_request_done(&tp_of(&b));
    assert!(m.can_retry(&a, ErrorCode::NotLeaderOrFollower, -1));
    assert!(
        m.can_retry(&b, ErrorCode::OutOfOrderSequenceNumber, -1),
        "b is not the next expected"
    );
    assert!(m.partitions_to_bump().is_empty());
}

#[test]
fn out_of_order_on_the_head_batch_bumps_the_epoch_and_resequences_from_zero() {
    let mut m = manager();
    let a = drain(&mut m, batch(0, 2));
    m.on_request_done(&tp_of(&a));
    m.on_success(&a, 0);
    let b = drain(&mut m, batch(0, 1));
    let c = drain(&mut m, batch(0, 1));
    m.on_request_done(&tp_of(&b));
    assert!(
        m.can_retry(&b, ErrorCode::OutOfOrderSequenceNumber, 0),
        "retried after the bump"
    );
    assert!(!m.can_drain(&b), "held until the bump");
    assert!(m.partitions_to_bump().is_empty(), "c is still on the wire");
    m.on_request_done(&tp_of(&c));
    assert!(m.can_retry(&c, ErrorCode::OutOfOrderSequenceNumber, 0));
    let tp: TopicPartition = ("t".into(), 0);
    assert_eq!(m.partitions_to_bump(), vec![tp.clone()]);
    assert!(m.bump_epoch());
    assert_eq!(m.producer(), Some((1000, 1)));
    // The accumulator re-stamps the queued b and c from 0 under epoch 1.
    m.resequenced(tp, vec![(0, 1), (1, 1)]);
    let mut b = b;
    b.restamp(Some(ProducerState {
        producer_id: 1000,
        epoch: 1,
        base_sequence: 0,
        transactional: false,
    }));
    assert!(m.can_drain(&b));
    let d = drain(&mut m, batch(0, 1));
    assert_eq!(
        seq(&d),
        (1, 2),
        "new batches continue after the re-sequenced ones"
    );
}

#[test]
fn other_partitions_move_to_a_new_epoch_once_idle() {
    let mut m = manager();
    let p1 = drain(&mut m, batch(1, 1));
    let a = drain(&mut m, batch(0, 1));
    m.on_request_done(&tp_of(&a));
    m.on_failed(&a); // e.g. INVALID_RECORD after it was sent: a hole
    let tp0: TopicPartition = ("t".into(), 0);
    assert_eq!(m.partitions_to_bump(), vec![tp0.clone()]);
    assert!(m.bump_epoch());
    m.resequenced(tp0, Vec::new());
    assert!(
        !m.can_drain(&batch(1, 1)),
        "partition 1 has a batch of epoch 0 in flight"
    );
    m.on_request_done(&tp_of(&p1));
    m.on_success(&p1, 5);
    let next = drain(&mut m, batch(1, 1));
    assert_eq!(seq(&next), (1, 0), "partition 1 restarts at 0 under epoch 1");
    assert_eq!(seq(&drain(&mut m, batch(0, 1))), (1, 0));
}

#[test]
fn unknown_producer_id_is_retried_and_bumps_unless_the_log_start_is_unknown() {
    let mut m = manager();
    let a = drain(&mut m, batch(0, 1));
    m.on_request_done(&tp_of(&a));
    assert!(m.can_retry(&a, ErrorCode::UnknownProducerId, -1));
    assert!(m.partitions_to_bump().is_empty());
    assert!(m.can_retry(&a, ErrorCode::UnknownProducerId, 100));
    assert_eq!(m.partitions_to_bump().len(), 1);
}

#[test]
fn an_expired_batch_that_landed_resolves_without_a_bump() {
    let mut m = manager();
    let a = drain(&mut m, batch(0, 1));
    let b = drain(&mut m, batch(0, 1));
    m.on_fate_unknown(&a);
    assert!(!m.can_drain(&batch(0, 1)), "no new batch while unresolved");
    m.on_request_done(&tp_of(&a));
    m.on_request_done(&tp_of(&b));
    m.on_success(&b, 7); // b landed, so a did too
    assert!(m.partitions_to_bump().is_empty());
    assert!(m.can_drain(&batch(0, 1)), "resolved");
}

#[test]
fn an_expired_batch_that_left_a_gap_bumps_the_epoch() {
    let mut m = manager();
    let a = drain(&mut m, batch(0, 1));
    m.on_request_done(&tp_of(&a));
    m.on_fate_unknown(&a);
    assert_eq!(m.partitions_to_bump().len(), 1);
}

#[test]
fn a_non_retriable_error_is_not_retried_and_stale_batches_are_not_either() {
    let mut m = manager();
    let a = drain(&mut m, batch(0, 1));
    m.on_request_done(&tp_of(&a));
    assert!(!m.can_retry(&a, ErrorCode::InvalidRecord, -1));
    assert!(m.can_retry(&a, ErrorCode::RequestTimedOut, -1));
    m.set_producer(2000, 0);
    assert!(
        !m.can_retry(&a, ErrorCode::RequestTimedOut, -1),
        "numbered under an old producer id"
    );
}

#[test]
fn epoch_exhaustion_asks_for_a_new_producer_id() {
    let mut m = IdempotenceManager::default();
    m.set_producer(1, i16::MAX);
    assert!(!m.bump_epoch());
    assert_eq!(m.producer(), None);
}
