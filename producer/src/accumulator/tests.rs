use std::collections::HashSet;
use std::task::{Context, Poll};

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafkit_protocol::record::RecordBatch;
use kafkit_protocol::Compression;

use super::batch::Outcome;
use super::*;
use crate::metadata::Metadata;

const LINGER: Duration = Duration::from_millis(5);

/// Metadata with topic `t`: partition i led by broker `leaders[i]`.
fn cluster(leaders: &[i32]) -> Arc<ClusterMetadata> {
    let (mut m, _rx) = Metadata::new(Duration::from_secs(300), Duration::from_millis(100));
    m.add_topic("t".into(), Instant::now() + Duration::from_secs(60));
    let brokers = (1..=3)
        .map(|id| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(id))
                .with_host(StrBytes::from_static_str("h"))
        })
        .collect();
    let partitions = (0..)
        .zip(leaders)
        .map(|(i, &l)| {
            MetadataResponsePartition::default()
                .with_partition_index(i)
                .with_leader_id(BrokerId(l))
        })
        .collect();
    let topic = MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
        .with_partitions(partitions);
    m.update(
        &MetadataResponse::default()
            .with_brokers(brokers)
            .with_topics(vec![topic]),
        Instant::now(),
    );
    m.cluster().clone()
}

fn accumulator(batch_size: usize) -> RecordAccumulator {
    RecordAccumulator::new(batch_size, LINGER, Compression::None, 1 << 20)
}

async fn append(acc: &RecordAccumulator, partition: i32, value: &[u8]) -> Appended {
    let topic: Arc<str> = "t".into();
    acc.append(
        &topic,
        partition,
        1_700_000_000_000,
        None,
        Some(value),
        &[],
        Duration::ZERO,
    )
    .await
    .expect("appended")
}

fn no_mute() -> HashSet<TopicPartition> {
    HashSet::new()
}

#[tokio::test(start_paused = true)]
async fn a_batch_is_ready_once_it_has_lingered() {
    let acc = accumulator(16_384);
    let c = cluster(&[1, 2]);
    let first = append(&acc, 0, b"v").await;
    assert!(
        first.wake_sender,
        "a new batch wakes the sender to start its linger timer"
    );
    let check = acc.ready(&c, &no_mute(), &HashSet::new(), Instant::now());
    assert!(check.ready_nodes.is_empty());
    assert_eq!(check.next_ready_in, Some(LINGER));
    tokio::time::advance(Duration::from_millis(3)).await;
    let second = append(&acc, 0, b"v").await;
    assert!(!second.wake_sender && second.index == 1, "same batch");
    assert_eq!(
        acc.ready(&c, &no_mute(), &HashSet::new(), Instant::now())
            .next_ready_in,
        Some(Duration::from_millis(2))
    );
    tokio::time::advance(Duration::from_millis(2)).await;
    let check = acc.ready(&c, &no_mute(), &HashSet::new(), Instant::now());
    assert_eq!(check.ready_nodes, HashSet::from([1]));
}

#[tokio::test(start_paused = true)]
async fn a_full_batch_is_ready_at_once_and_batch_size_bounds_batches() {
    let acc = accumulator(200);
    let c = cluster(&[1]);
    let value = [7u8; 50];
    let mut indexes = Vec::new();
    for _ in 0..4 {
        indexes.push(append(&acc, 0, &value).await.index);
    }
    assert_eq!(
        indexes,
        vec![0, 1, 0, 1],
        "two 50-byte records fill a 200-byte batch with its header"
    );
    let check = acc.ready(&c, &no_mute(), &HashSet::new(), Instant::now());
    assert_eq!(
        check.ready_nodes,
        HashSet::from([1]),
        "more than one batch queued: the head is full"
    );
    let mut index = 0;
    let drained = acc.drain(
        1,
        &check.node_partitions[&1],
        &c,
        1 << 20,
        &mut index,
        &mut NoIdempotence,
        Instant::now(),
    );
    assert_eq!(drained.len(), 1, "one batch per partition per request");
    let bytes = drained[0].bytes().expect("closed");
    assert!(bytes.len() <= 200);
    assert_eq!(RecordBatch::parse(bytes).expect("valid").records_count(), 2);
}

/// Records whose exact sizes add up to `batch.size` all fit in one batch (Java's `hasRoomFor`
/// counts the record's real varints, not their worst case), which is then full; an append that
/// opens a batch counts the batch header (Java's `appendedBytes` for a new batch), so the
/// sticky partitioner sees `batch.size` bytes exactly when the batch fills.
#[tokio::test(start_paused = true)]
async fn records_filling_batch_size_exactly_share_one_full_batch() {
    let value = [7u8; 50];
    let record = RecordBatchBuilder::record_size(2, 0, None, Some(&value), &[]);
    assert_eq!(
        record, 57,
        "a 50-byte value at a small offset delta, same timestamp"
    );
    let acc = accumulator(BATCH_HEADER_LEN + 3 * record);
    let mut appends = Vec::new();
    for _ in 0..4 {
        let a = append(&acc, 0, &value).await;
        appends.push((a.index, a.bytes, a.last_batch_full));
    }
    assert_eq!(
        appends,
        [
            (0, BATCH_HEADER_LEN + record, false),
            (1, record, false),
            (2, record, true),
            (0, BATCH_HEADER_LEN + record, false),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_record_larger_than_batch_size_gets_its_own_batch() {
    let acc = accumulator(100);
    let small = append(&acc, 0, b"x").await;
    let big = append(&acc, 0, &[1u8; 500]).await;
    let after = append(&acc, 0, b"y").await;
    assert!(!Arc::ptr_eq(&small.shared, &big.shared) && !Arc::ptr_eq(&big.shared, &after.shared));
    assert_eq!(big.index, 0);
    assert!(big.last_batch_full);
    assert!(
        acc.pool.used() >= 500 + 100,
        "the big batch reserved its own size"
    );
}

#[tokio::test(start_paused = true)]
async fn flush_and_close_make_everything_ready() {
    let acc = accumulator(16_384);
    let c = cluster(&[1, 2]);
    append(&acc, 1, b"v").await;
    {
        let _flush = acc.begin_flush();
        assert_eq!(
            acc.ready(&c, &no_mute(), &HashSet::new(), Instant::now())
                .ready_nodes,
            HashSet::from([2])
        );
    }
    assert!(
        acc.ready(&c, &no_mute(), &HashSet::new(), Instant::now())
            .ready_nodes
            .is_empty(),
        "flush over"
    );
    acc.close();
    assert_eq!(
        acc.ready(&c, &no_mute(), &HashSet::new(), Instant::now())
            .ready_nodes,
        HashSet::from([2])
    );
    let topic: Arc<str> = "t".into();
    let err = acc.append_now(&topic, 0, 0, None, None, &[]).expect_err("closed");
    assert_eq!(
        err,
        Error::Closed {
            may_have_been_persisted: false
        }
    );
}

#[tokio::test(start_paused = true)]
async fn unknown_leaders_are_reported_and_muted_partitions_skipped() {
    let acc = accumulator(16_384);
    let c = cluster(&[1, -1]);
    append(&acc, 1, b"v").await;
    tokio::time::advance(LINGER).await;
    let check = acc.ready(&c, &no_mute(), &HashSet::new(), Instant::now());
    assert!(check.unknown_leader && check.ready_nodes.is_empty());
    append(&acc, 0, b"v").await;
    tokio::time::advance(LINGER).await;
    let muted = HashSet::from([("t".into(), 0)]);
    assert!(acc
        .ready(&c, &muted, &HashSet::new(), Instant::now())
        .ready_nodes
        .is_empty());
}

#[tokio::test(start_paused = true)]
async fn drain_is_round_robin_and_bounded_by_max_request_size() {
    let acc = accumulator(16_384);
    let c = cluster(&[1, 1, 1]);
    for p in 0..3 {
        append(&acc, p, &[0u8; 100]).await;
    }
    tokio::time::advance(LINGER).await;
    let check = acc.ready(&c, &no_mute(), &HashSet::new(), Instant::now());
    let mut index = 1;
    let drained = acc.drain(
        1,
        &check.node_partitions[&1],
        &c,
        400,
        &mut index,
        &mut NoIdempotence,
        Instant::now(),
    );
    let partitions: Vec<i32> = drained.iter().map(|b| b.partition()).collect();
    assert_eq!(
        partitions,
        vec![1, 2],
        "starts at the drain index, stops before 400 bytes"
    );
    let drained = acc.drain(
        1,
        &check.node_partitions[&1],
        &c,
        10,
        &mut index,
        &mut NoIdempotence,
        Instant::now(),
    );
    assert_eq!(drained.len(), 1, "a batch larger than the limit still goes alone");
    assert_eq!(drained[0].partition(), 0);
}

/// A partition whose batch did not fit under `max.request.size` leads the next drain (Java's
/// drain index is the last partition visited), instead of going to the back of the round.
#[tokio::test(start_paused = true)]
async fn the_partition_that_did_not_fit_leads_the_next_drain() {
    let acc = accumulator(16_384);
    let c = cluster(&[1, 1, 1, 1]);
    for p in 0..4 {
        append(&acc, p, &[0u8; 100]).await;
    }
    tokio::time::advance(LINGER).await;
    let check = acc.ready(&c, &no_mute(), &HashSet::new(), Instant::now());
    let mut index = 0;
    let mut requests = Vec::new();
    for _ in 0..2 {
        let drained = acc.drain(
            1,
            &check.node_partitions[&1],
            &c,
            400,
            &mut index,
            &mut NoIdempotence,
            Instant::now(),
        );
        requests.push(drained.iter().map(|b| b.partition()).collect::<Vec<_>>());
    }
    assert_eq!(requests, [vec![0, 1], vec![2, 3]]);
}

#[tokio::test(start_paused = true)]
async fn retried_batches_back_off_unless_the_leader_changed() {
    let acc = accumulator(16_384);
    let c = cluster(&[1]);
    append(&acc, 0, b"v").await;
    tokio::time::advance(LINGER).await;
    let check = acc.ready(&c, &no_mute(), &HashSet::new(), Instant::now());
    let mut index = 0;
    let mut batch = acc
        .drain(
            1,
            &check.node_partitions[&1],
            &c,
            1 << 20,
            &mut index,
            &mut NoIdempotence,
            Instant::now(),
        )
        .remove(0);
    batch.attempts = 1;
    batch.retry_at = Some(Instant::now() + Duration::from_millis(100));
    acc.reenqueue(batch);
    let check = acc.ready(&c, &no_mute(), &HashSet::new(), Instant::now());
    assert!(check.ready_nodes.is_empty());
    assert_eq!(check.next_ready_in, Some(Duration::from_millis(100)));
    let moved = cluster(&[2]);
    assert_eq!(
        acc.ready(&moved, &no_mute(), &HashSet::new(), Instant::now())
            .ready_nodes,
        HashSet::from([2]),
        "leader moved"
    );
}

#[tokio::test(start_paused = true)]
async fn expired_batches_are_taken_out_and_dropped_batches_fail_their_records() {
    let acc = accumulator(16_384);
    let appended = append(&acc, 0, b"v").await;
    assert_eq!(
        acc.next_expiry(Duration::from_secs(1)),
        Some(Instant::now() + Duration::from_secs(1))
    );
    tokio::time::advance(Duration::from_millis(999)).await;
    assert!(acc.expired(Duration::from_secs(1), Instant::now()).is_empty());
    tokio::time::advance(Duration::from_millis(1)).await;
    let expired = acc.expired(Duration::from_secs(1), Instant::now());
    assert_eq!(expired.len(), 1);
    assert_eq!(acc.incomplete.len(), 1);
    drop(expired);
    assert_eq!(acc.incomplete.len(), 0);
    let waker = futures_waker();
    let mut cx = Context::from_waker(&waker);
    match appended.shared.poll_outcome(&mut cx) {
        Poll::Ready(Outcome::Failed(Error::Closed {
            may_have_been_persisted: false,
        })) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(acc.pool.used(), 0, "memory released");
}

#[tokio::test(start_paused = true)]
async fn waiting_for_memory_makes_everything_ready_and_times_out() {
    let acc = Arc::new(RecordAccumulator::new(1000, LINGER, Compression::None, 1000));
    let c = cluster(&[1]);
    append(&acc, 0, b"v").await;
    let waiting = tokio::spawn({
        let acc = acc.clone();
        async move {
            let topic: Arc<str> = "t".into();
            acc.append(
                &topic,
                0,
                0,
                None,
                Some(&[0u8; 2000]),
                &[],
                Duration::from_millis(50),
            )
            .await
        }
    });
    tokio::task::yield_now().await;
    assert_eq!(
        acc.ready(&c, &no_mute(), &HashSet::new(), Instant::now())
            .ready_nodes,
        HashSet::from([1]),
        "memory pressure"
    );
    let err = waiting.await.expect("task").expect_err("no memory");
    assert!(matches!(err, Error::BufferExhausted { .. }));
    let topic: Arc<str> = "t".into();
    let err = acc
        .append_now(&topic, 0, 0, None, Some(&[0u8; 2000]), &[])
        .expect_err("try");
    assert!(matches!(err, Error::BufferExhausted { .. }));
}

#[tokio::test(start_paused = true)]
async fn split_hands_records_and_sequences_to_the_pieces() {
    let acc = accumulator(16_384);
    let c = cluster(&[1]);
    let mut futures = Vec::new();
    for i in 0..10u8 {
        futures.push(append(&acc, 0, &[i; 40]).await);
    }
    tokio::time::advance(LINGER).await;
    let check = acc.ready(&c, &no_mute(), &HashSet::new(), Instant::now());
    let mut index = 0;
    let mut batch = acc
        .drain(
            1,
            &check.node_partitions[&1],
            &c,
            1 << 20,
            &mut index,
            &mut NoIdempotence,
            Instant::now(),
        )
        .remove(0);
    batch.restamp(Some(ProducerState {
        producer_id: 9,
        epoch: 1,
        base_sequence: 100,
        transactional: false,
    }));
    let pieces = batch.split(200, Compression::None.into()).expect("split");
    assert!(pieces.len() >= 3);
    let sequences: Vec<i32> = pieces
        .iter()
        .map(|p| p.producer_state.expect("stamped").base_sequence)
        .collect();
    let mut expected = 100;
    for (piece, seq) in pieces.iter().zip(&sequences) {
        assert_eq!(*seq, expected);
        let view = RecordBatch::parse(piece.bytes().expect("closed")).expect("valid");
        assert_eq!(view.base_sequence(), expected);
        expected += piece.record_count;
    }
    assert_eq!(expected, 110);
    assert_eq!(
        acc.incomplete.len(),
        pieces.len(),
        "pieces count for flush under the parent's id"
    );
    let waker = futures_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(matches!(
        futures[0].shared.poll_outcome(&mut cx),
        Poll::Ready(Outcome::Split(_))
    ));
}

fn futures_waker() -> std::task::Waker {
    std::task::Waker::noop().clone()
}

/// Adaptive partitioning: `ready` publishes a topic's queue lengths (in batches) once every
/// partition has a queue, leaving out leaderless partitions and unavailable brokers; equal
/// queues over every partition publish nothing (the draw stays uniform).
#[tokio::test(start_paused = true)]
async fn ready_publishes_queue_lengths_for_adaptive_partitioning() {
    // A 100-byte batch.size: every 50-byte record opens a batch of its own.
    let acc = accumulator(100);
    let c = cluster(&[1, 2, 3]);
    let none = HashSet::new();
    for p in [0, 0, 1] {
        append(&acc, p, &[7; 50]).await;
    }
    acc.ready(&c, &no_mute(), &none, Instant::now());
    assert_eq!(acc.load.get("t"), None, "partition 2 has no queue yet");

    append(&acc, 2, &[7; 50]).await;
    acc.ready(&c, &no_mute(), &none, Instant::now());
    let expected = LoadStats::from_queue_sizes(&[2, 1, 1], &[0, 1, 2], 3);
    assert_eq!(acc.load.get("t").as_deref(), expected.as_ref());
    assert!(expected.is_some());

    acc.ready(&c, &no_mute(), &HashSet::from([2]), Instant::now());
    let without_broker_2 = acc.load.get("t").expect("stats");
    assert_eq!(
        without_broker_2.partitions(),
        [0, 2],
        "broker 2 leads partition 1"
    );

    let leaderless = cluster(&[1, -1, 3]);
    acc.ready(&leaderless, &no_mute(), &none, Instant::now());
    assert_eq!(acc.load.get("t").expect("stats").partitions(), [0, 2]);

    for p in [1, 2] {
        append(&acc, p, &[7; 50]).await;
    }
    acc.ready(&c, &no_mute(), &none, Instant::now());
    assert_eq!(acc.load.get("t"), None, "2, 2, 2 batches: uniform");

    let off = accumulator(100).with_adaptive(false);
    for p in [0, 0, 1, 2] {
        append(&off, p, &[7; 50]).await;
    }
    off.ready(&c, &no_mute(), &none, Instant::now());
    assert_eq!(off.load.get("t"), None, "adaptive partitioning off");
}

/// A batch is compressed at the producer's level (`compression.gzip.level` here): the same
/// records make different batches at levels 1 and 9, and both read back the same.
#[tokio::test(start_paused = true)]
async fn batches_compress_at_the_configured_level() {
    let built = |level| {
        let codec = Codec {
            compression: Compression::Gzip,
            level: Some(level),
        };
        let mut batch = ProducerBatch::new(
            "t".into(),
            0,
            codec,
            1 << 20,
            Instant::now(),
            None,
            Arc::new(Incomplete::default()),
        );
        for i in 0..300 {
            let value = format!("order {} for customer {}", i % 17, i % 5);
            batch
                .try_append(0, None, Some(value.as_bytes()), &[])
                .expect("room");
        }
        batch.close(None).expect("compressed");
        batch.bytes().expect("closed").clone()
    };
    let (fast, best) = (built(1), built(9));
    assert_ne!(fast.len(), best.len(), "the level reached the encoder");
    for bytes in [&fast, &best] {
        let view = RecordBatch::parse(bytes).expect("valid");
        assert_eq!(
            (view.compression(), view.records_count()),
            (Some(Compression::Gzip), 300)
        );
    }
}

/// A batch that fails to close (a codec error) is never sent, so it must not keep the
/// sequences it was given: the partition's next batch takes them and drains. Before, the dead
/// batch stayed first among the partition's unacknowledged batches and every later batch got
/// sequences behind a hole that no retry would ever fill.
#[tokio::test(start_paused = true)]
async fn a_batch_that_fails_to_close_gives_its_sequences_back() {
    let acc = accumulator(16_384);
    let c = cluster(&[1]);
    let mut idempotence = crate::idempotence::IdempotenceManager::default();
    idempotence.set_producer(1000, 0);
    let failed = append(&acc, 0, b"v").await;
    lock(&acc.queue("t", 0)).front_mut().expect("queued").fail_close = true;
    assert!(
        drain_after_linger(&acc, &c, &mut idempotence).await.is_empty(),
        "nothing to send"
    );
    let waker = futures_waker();
    match failed.shared.poll_outcome(&mut Context::from_waker(&waker)) {
        Poll::Ready(Outcome::Failed(Error::Protocol(_))) => {}
        other => panic!("{other:?}"),
    }
    append(&acc, 0, b"w").await;
    let next = drain_after_linger(&acc, &c, &mut idempotence).await;
    assert_eq!(next.len(), 1);
    let state = next[0].producer_state.expect("numbered");
    assert_eq!(state.base_sequence, 0, "the failed batch's sequence is reused");
    assert!(
        idempotence.can_drain(&next[0]),
        "it is the partition's first unacknowledged batch, so a retry of it can go"
    );
}

/// Lets the linger pass and drains node 1 under `policy`.
async fn drain_after_linger(
    acc: &RecordAccumulator,
    c: &ClusterMetadata,
    policy: &mut dyn DrainPolicy,
) -> Vec<ProducerBatch> {
    tokio::time::advance(LINGER).await;
    let check = acc.ready(c, &no_mute(), &HashSet::new(), Instant::now());
    let Some(partitions) = check.node_partitions.get(&1) else {
        return Vec::new();
    };
    let mut index = 0;
    acc.drain(1, partitions, c, 1 << 20, &mut index, policy, Instant::now())
}
