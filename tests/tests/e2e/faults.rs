//! Fault scenarios on the in-process cluster: kafkit's producer sends a stream of records across
//! several partitions while faults hit, and the log must keep the delivery guarantee the
//! producer's configuration promises ([`guarantee`](crate::guarantee)).
//!
//! Everything runs on tokio's paused clock over in-memory connections, so request timeouts,
//! retry backoffs and fault delays of tens of seconds take no real time, and every test asserts
//! that its faults fired (a fault that never fired proves nothing).

use std::collections::BTreeSet;
use std::time::Duration;

use kafkit_producer::{Error, Producer};
use kafkit_testkit::{ApiKey, Delivery, ErrorCode, Fault, MockCluster, Response};
use rstest::rstest;

use crate::guarantee::{assert_guarantee, settle, Guarantee, Outcome, Stream, Tally};

pub(crate) const TOPIC: &str = "orders";
pub(crate) const PARTITIONS: i32 = 4;
/// Virtual time between bursts: longer than linger.ms (5 ms), so each burst makes new batches
/// and the stream spreads over many Produce requests.
const GAP: Duration = Duration::from_millis(20);
/// Bound of every wait, on the virtual clock.
const WAIT: Duration = Duration::from_secs(600);

pub(crate) async fn cluster(brokers: usize) -> MockCluster {
    MockCluster::builder()
        .brokers(brokers)
        .topic(TOPIC, PARTITIONS)
        .start()
        .await
        .expect("cluster")
}

/// kafkit's producer on in-memory connections: Java's defaults (idempotence on) plus `props`.
pub(crate) async fn producer(cluster: &MockCluster, props: &[(&str, &str)]) -> Producer {
    let mut config = cluster.producer_config();
    for (key, value) in props {
        config = config.set(key, value);
    }
    cluster
        .in_memory_producer(config.build().expect("config"))
        .await
        .expect("producer")
}

/// Sends `bursts` bursts of `per_burst` records round-robin over the partitions, `GAP` apart.
async fn bursts(stream: &mut Stream, producer: &Producer, bursts: usize, per_burst: usize) {
    for _ in 0..bursts {
        stream.send_round_robin(producer, per_burst).await;
        tokio::time::sleep(GAP).await;
    }
}

/// Every record acknowledged, each stored once.
fn all_acked(n: usize) -> Tally {
    Tally {
        sent: n,
        acked: n,
        stored: n,
        ..Tally::default()
    }
}

/// Batches of `TOPIC`/`partition` (any partition when `None`) answered with `code`.
fn answered_with(cluster: &MockCluster, partition: Option<i32>, code: ErrorCode) -> usize {
    cluster
        .journal()
        .produce_requests()
        .iter()
        .flat_map(|p| &p.batches)
        .filter(|b| b.topic == TOPIC && partition.is_none_or(|p| b.partition == p))
        .filter(|b| b.error == Some(code))
        .count()
}

/// Every batch that the broker appended but whose response the producer never got (`lost`:
/// dropped, or the connection closed after handling) was sent again with the same producer id,
/// epoch and sequence, and that retry was answered with the offset of the first append: the
/// broker recognised the duplicate. Returns how many such batches there were.
fn assert_lost_batches_deduplicated(cluster: &MockCluster, lost: Delivery) -> usize {
    let requests = cluster.journal().produce_requests();
    let mut checked = 0;
    for (i, request) in requests.iter().enumerate() {
        if request.entry.delivery != lost {
            continue;
        }
        for batch in &request.batches {
            let Some(first_offset) = batch.base_offset.filter(|_| batch.error == Some(ErrorCode::None))
            else {
                continue; // refused, so nothing to de-duplicate
            };
            let retry = requests[i + 1..].iter().flat_map(|r| &r.batches).find(|b| {
                (
                    b.topic.as_str(),
                    b.partition,
                    b.producer_id,
                    b.producer_epoch,
                    b.base_sequence,
                ) == (
                    batch.topic.as_str(),
                    batch.partition,
                    batch.producer_id,
                    batch.producer_epoch,
                    batch.base_sequence,
                )
            });
            let retry = retry.unwrap_or_else(|| panic!("no retry of the lost batch {batch:?}"));
            assert_eq!(
                (retry.error, retry.base_offset),
                (Some(ErrorCode::None), Some(first_offset)),
                "the retry of {batch:?} is answered with the first append's offset"
            );
            checked += 1;
        }
    }
    checked
}

/// Retriable produce errors (Java retries them: NOT_LEADER_OR_FOLLOWER and LEADER_NOT_AVAILABLE
/// refresh metadata first, NOT_ENOUGH_REPLICAS and REQUEST_TIMED_OUT do not) on some partitions
/// and on whole requests, mid-stream: with idempotence every record is delivered and stored
/// exactly once, at its acknowledged offset, in send order.
#[tokio::test(start_paused = true)]
async fn retriable_errors_are_retried_into_one_ordered_copy() {
    let cluster = cluster(1).await;
    let on = |partition: i32, code: ErrorCode, skip: u64, times: u64| {
        cluster.fault(
            Fault::on(ApiKey::Produce)
                .topic_partition(TOPIC, partition)
                .respond_error(code)
                .after_requests(skip)
                .times(times),
        )
    };
    let not_leader = on(0, ErrorCode::NotLeaderOrFollower, 3, 2);
    let not_enough = on(1, ErrorCode::NotEnoughReplicas, 5, 3);
    let leader_unavailable = on(3, ErrorCode::LeaderNotAvailable, 8, 1);
    let whole_request = cluster.fault(
        Fault::on(ApiKey::Produce)
            .respond_request_error(ErrorCode::RequestTimedOut)
            .after_requests(20), // after the partition faults are spent: they do not compose
    );
    let producer = producer(&cluster, &[]).await;

    let mut stream = Stream::new(TOPIC, PARTITIONS);
    bursts(&mut stream, &producer, 30, 8).await;
    let sent = stream.finish().await;
    settle(&cluster, WAIT).await.expect("settled");

    let tally = assert_guarantee(&cluster, TOPIC, PARTITIONS, &sent, Guarantee::ExactlyOnceInOrder);
    assert_eq!(tally, all_acked(240));
    assert_eq!(
        (
            not_leader.hits(),
            not_enough.hits(),
            leader_unavailable.hits(),
            whole_request.hits()
        ),
        (2, 3, 1, 1)
    );
    assert_eq!(
        answered_with(&cluster, Some(0), ErrorCode::NotLeaderOrFollower),
        2
    );
    assert_eq!(answered_with(&cluster, Some(1), ErrorCode::NotEnoughReplicas), 3);
    assert_eq!(answered_with(&cluster, Some(3), ErrorCode::LeaderNotAvailable), 1);
    let whole: Vec<_> = cluster
        .journal()
        .produce_requests()
        .into_iter()
        .filter(|p| p.entry.faults.contains(&whole_request.id()))
        .collect();
    assert_eq!(whole.len(), 1);
    assert!(
        !whole[0].batches.is_empty()
            && whole[0]
                .batches
                .iter()
                .all(|b| b.error == Some(ErrorCode::RequestTimedOut)),
        "every batch of the faulted request was refused: {:?}",
        whole[0].batches
    );
    assert!(producer.metrics().retries >= 7, "{:?}", producer.metrics());
    cluster.assert_all_faults_fired();
    producer.close(WAIT).await;
}

/// Responses lost after the append (dropped on an open connection, the request timing out, or
/// racing the next response): the idempotent producer re-sends the same batch with the same
/// sequence, and the broker answers with the first append's offset instead of appending again
/// (KIP-98). Every record is stored exactly once, in send order.
#[tokio::test(start_paused = true)]
async fn lost_responses_after_append_are_deduplicated() {
    let cluster = cluster(1).await;
    let dropped = [(1, 2), (3, 6)].map(|(partition, skip)| {
        cluster.fault(
            Fault::on(ApiKey::Produce)
                .topic_partition(TOPIC, partition)
                .drop_response_after_append()
                .after_requests(skip),
        )
    });
    let producer = producer(&cluster, &[]).await;

    let mut stream = Stream::new(TOPIC, PARTITIONS);
    bursts(&mut stream, &producer, 30, 8).await;
    let sent = stream.finish().await;
    settle(&cluster, WAIT).await.expect("settled");

    let tally = assert_guarantee(&cluster, TOPIC, PARTITIONS, &sent, Guarantee::ExactlyOnceInOrder);
    assert_eq!(tally, all_acked(240));
    assert_eq!(dropped.each_ref().map(|f| f.hits()), [1, 1]);
    assert!(assert_lost_batches_deduplicated(&cluster, Delivery::Dropped) >= 2);
    cluster.assert_all_faults_fired();
    producer.close(WAIT).await;
}

/// Connections closed before the request is handled (nothing appended) and after it is handled
/// (appended, never answered): the producer reconnects and retries every batch that was on the
/// connection; with idempotence the appended ones are recognised as duplicates, so every record
/// is stored exactly once, in send order.
#[tokio::test(start_paused = true)]
async fn dropped_connections_before_and_after_handling_lose_and_duplicate_nothing() {
    let cluster = cluster(2).await;
    let before = cluster.fault(
        Fault::on(ApiKey::Produce)
            .topic_partition(TOPIC, 0)
            .close_connection()
            .after_requests(2)
            .times(2),
    );
    let after = cluster.fault(
        Fault::on(ApiKey::Produce)
            .topic_partition(TOPIC, 3)
            .close_connection_after_handling()
            .after_requests(4)
            .times(2),
    );
    let producer = producer(&cluster, &[]).await;

    let mut stream = Stream::new(TOPIC, PARTITIONS);
    bursts(&mut stream, &producer, 30, 8).await;
    let sent = stream.finish().await;
    settle(&cluster, WAIT).await.expect("settled");

    let tally = assert_guarantee(&cluster, TOPIC, PARTITIONS, &sent, Guarantee::ExactlyOnceInOrder);
    assert_eq!(tally, all_acked(240));
    assert_eq!((before.hits(), after.hits()), (2, 2));
    let deliveries: Vec<Delivery> = cluster
        .journal()
        .requests(ApiKey::Produce)
        .iter()
        .map(|e| e.delivery)
        .collect();
    let count = |d: Delivery| deliveries.iter().filter(|&&x| x == d).count();
    assert_eq!(
        (
            count(Delivery::ClosedBeforeHandling),
            count(Delivery::ClosedAfterHandling)
        ),
        (2, 2)
    );
    assert!(assert_lost_batches_deduplicated(&cluster, Delivery::ClosedAfterHandling) >= 2);
    cluster.assert_all_faults_fired();
    producer.close(WAIT).await;
}

/// Leaders move while batches are queued and in flight (three brokers): the old leader answers
/// NOT_LEADER_OR_FOLLOWER, the producer follows the new leader (KIP-951 hint or a metadata
/// refresh) and every record is stored exactly once, in send order; each batch carries the
/// leader epoch of the leader that appended it, so epochs never go down along the log.
#[tokio::test(start_paused = true)]
async fn leader_moves_mid_stream_keep_exactly_once_in_order() {
    let cluster = cluster(3).await;
    let producer = producer(&cluster, &[]).await;
    let mut stream = Stream::new(TOPIC, PARTITIONS);
    let mut moves = Vec::new();
    bursts(&mut stream, &producer, 10, 8).await;
    for round in [[(0, 1), (1, 2)], [(0, 2), (2, 0)], [(3, 2), (1, 0)]] {
        // Right after a burst: its batches are still lingering, bound for the old leader.
        stream.send_round_robin(&producer, 8).await;
        for (partition, to) in round {
            let from = cluster
                .partition_state(TOPIC, partition)
                .expect("state")
                .leader
                .expect("leader");
            cluster.move_leader(TOPIC, partition, to).expect("move");
            moves.push((partition, from, to));
        }
        bursts(&mut stream, &producer, 10, 8).await;
    }
    let sent = stream.finish().await;
    settle(&cluster, WAIT).await.expect("settled");

    let tally = assert_guarantee(&cluster, TOPIC, PARTITIONS, &sent, Guarantee::ExactlyOnceInOrder);
    assert_eq!(tally, all_acked(8 * 43));
    let requests = cluster.journal().produce_requests();
    for &(partition, from, to) in &moves {
        let refused_by_old_leader = requests.iter().any(|p| {
            p.entry.node_id == from
                && p.batches
                    .iter()
                    .any(|b| b.partition == partition && b.error == Some(ErrorCode::NotLeaderOrFollower))
        });
        assert!(
            refused_by_old_leader,
            "{TOPIC}-{partition}: broker {from} refused after the move to {to}"
        );
    }
    for partition in 0..PARTITIONS {
        let epochs: Vec<i32> = cluster
            .records(TOPIC, partition)
            .expect("records")
            .iter()
            .map(|r| r.partition_leader_epoch)
            .collect();
        assert!(epochs.windows(2).all(|w| w[0] <= w[1]), "{partition}: {epochs:?}");
        let state = cluster.partition_state(TOPIC, partition).expect("state");
        assert_eq!(epochs.last(), Some(&state.leader_epoch), "{partition}");
        let last_to = requests
            .iter()
            .rev()
            .find(|p| p.batches.iter().any(|b| b.partition == partition))
            .map(|p| p.entry.node_id);
        assert_eq!(
            last_to, state.leader,
            "{partition}: the last batch went to the leader"
        );
    }
    let moved: BTreeSet<i32> = moves.iter().map(|m| m.0).collect();
    assert_eq!(moved.len(), 4, "every partition moved at least once");
    producer.close(WAIT).await;
}

/// A broker goes down mid-stream and comes back. Without re-election (librdkafka's mock) its
/// partitions have no leader meanwhile, the producer keeps their records until the broker is
/// back; with re-election (Kafka's controller) the producer follows the new leader at once.
/// Either way every record is stored exactly once, in send order.
#[rstest]
#[case::leaderless_until_back(false)]
#[case::reelected(true)]
#[tokio::test(start_paused = true)]
async fn broker_down_and_up_mid_stream_keeps_exactly_once(#[case] reelect: bool) {
    let cluster = cluster(3).await;
    let producer = producer(&cluster, &[]).await;
    let down_node = 1;
    let led: Vec<i32> = (0..PARTITIONS)
        .filter(|&p| cluster.partition_state(TOPIC, p).expect("state").leader == Some(down_node))
        .collect();
    assert_eq!(led, [1], "round-robin leaders: broker 1 leads partition 1");

    let mut stream = Stream::new(TOPIC, PARTITIONS);
    bursts(&mut stream, &producer, 10, 8).await;
    stream.send_round_robin(&producer, 8).await;
    let down_at = tokio::time::Instant::now();
    if reelect {
        cluster.set_broker_down_and_reelect(down_node).expect("down");
    } else {
        cluster.set_broker_down(down_node).expect("down");
    }
    let first_while_down = stream.len();
    // Two virtual seconds of stream while the broker is down.
    for _ in 0..20 {
        stream.send_round_robin(&producer, 8).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let leader_while_down = cluster.partition_state(TOPIC, 1).expect("state").leader;
    let up_at = tokio::time::Instant::now();
    cluster.set_broker_up(down_node).expect("up");
    let first_after_up = stream.len();
    bursts(&mut stream, &producer, 10, 8).await;
    let sent = stream.finish().await;
    settle(&cluster, WAIT).await.expect("settled");

    let tally = assert_guarantee(&cluster, TOPIC, PARTITIONS, &sent, Guarantee::ExactlyOnceInOrder);
    assert_eq!(tally, all_acked(8 * 41));
    let requests = cluster.journal().produce_requests();
    let handled_by_down_node = requests.iter().filter(|p| {
        p.entry.node_id == down_node
            && p.entry.received_instant >= down_at
            && p.entry.received_instant < up_at
    });
    assert_eq!(handled_by_down_node.count(), 0, "a down broker serves nothing");
    // Where the records sent while the broker was down went.
    let index_of = |r: &kafkit_testkit::StoredRecord| r.value_str().and_then(|v| v.parse::<usize>().ok());
    let epoch_of_down_records: BTreeSet<i32> = cluster
        .records(TOPIC, 1)
        .expect("records")
        .iter()
        .filter(|r| index_of(r).is_some_and(|i| (first_while_down..first_after_up).contains(&i)))
        .map(|r| r.partition_leader_epoch)
        .collect();
    if reelect {
        assert_eq!(leader_while_down, Some(2), "the next live replica leads");
        assert!(
            requests.iter().any(|p| {
                p.entry.node_id == 2
                    && (down_at..up_at).contains(&p.entry.received_instant)
                    && p.batches
                        .iter()
                        .any(|b| b.partition == 1 && b.error == Some(ErrorCode::None))
            }),
            "partition 1 was produced to its new leader while broker 1 was down"
        );
        assert_eq!(epoch_of_down_records, BTreeSet::from([1]));
    } else {
        assert_eq!(leader_while_down, None);
        let saw_leaderless = cluster.journal().requests(ApiKey::Metadata).iter().any(|e| {
            e.received_instant >= down_at
                && matches!(&e.response, Some(Response::Metadata(m))
                    if m.topics.iter().flat_map(|t| &t.partitions).any(|p| p.partition_index == 1 && p.leader_id.0 == -1))
        });
        assert!(saw_leaderless, "the producer was told partition 1 has no leader");
        assert_eq!(
            epoch_of_down_records,
            BTreeSet::from([2]),
            "held until broker 1 led again (epoch bumped on down and on up)"
        );
    }
    producer.close(WAIT).await;
}

/// A slow broker (a delay before it handles Produce requests, on broker 1 of 2, which leads
/// partitions 1 and 3):
/// - below `request.timeout.ms` the producer just waits: no retry;
/// - beyond it the request times out and is retried on a new connection, and the slow original,
///   handled later, is not appended a second time (sequence check);
/// - beyond `delivery.timeout.ms` the records fail with a typed timeout that says they may have
///   been written (the broker handles the requests late, and may append them); the producer
///   bumps its epoch, and records sent once the broker is fast again follow them in order.
#[rstest]
#[case::below_request_timeout(20, 1, &[], false)]
#[case::beyond_request_timeout(45, 1, &[], false)]
#[case::beyond_delivery_timeout(60, 3, &[("request.timeout.ms", "10000"), ("delivery.timeout.ms", "25000")], true)]
#[tokio::test(start_paused = true)]
async fn slow_broker_below_and_beyond_the_timeouts(
    #[case] delay_secs: u64,
    #[case] times: u64,
    #[case] props: &[(&str, &str)],
    #[case] records_expire: bool,
) {
    let cluster = cluster(2).await;
    let delay = Duration::from_secs(delay_secs);
    let slow = cluster.fault(
        Fault::on(ApiKey::Produce)
            .broker(1)
            .delay(delay)
            .after_requests(2)
            .times(times),
    );
    let producer = producer(&cluster, props).await;
    let beyond_request_timeout = delay > producer.config().request_timeout();

    let mut stream = Stream::new(TOPIC, PARTITIONS);
    bursts(&mut stream, &producer, 20, 8).await;
    stream.wait().await;
    settle(&cluster, WAIT).await.expect("settled");
    assert_eq!(slow.hits(), times);
    let retries_while_slow = producer.metrics().retries;
    // The broker is fast again: the stream goes on.
    bursts(&mut stream, &producer, 10, 8).await;
    let sent = stream.finish().await;
    settle(&cluster, WAIT).await.expect("settled");

    let slowed: Vec<_> = cluster
        .journal()
        .produce_requests()
        .into_iter()
        .filter(|p| p.entry.faults.contains(&slow.id()))
        .collect();
    assert_eq!(slowed.len() as u64, times);
    assert!(slowed.iter().all(|p| p.entry.elapsed.expect("handled") >= delay));
    assert_eq!(
        retries_while_slow > 0,
        beyond_request_timeout,
        "retried only when the delay exceeds request.timeout.ms"
    );
    let tally = assert_guarantee(&cluster, TOPIC, PARTITIONS, &sent, Guarantee::ExactlyOnceInOrder);
    if records_expire {
        // Only records of broker 1's partitions sent while it was slow can fail, with a timeout
        // saying whether a request carrying them was on the wire (the check above made sure
        // that "not written" ones are not stored).
        let mut in_flight_when_expired = 0;
        for s in &sent {
            match &s.outcome {
                Outcome::Acked(_) => {}
                Outcome::Failed(Error::Timeout {
                    partition,
                    may_have_been_persisted,
                    ..
                }) if *partition == s.partition && s.partition % 2 == 1 && s.index < 160 => {
                    in_flight_when_expired += usize::from(*may_have_been_persisted);
                }
                other => panic!("record {} to partition {}: {other:?}", s.index, s.partition),
            }
        }
        assert!(in_flight_when_expired > 0, "{tally:?}");
        assert_eq!(
            (tally.acked + tally.failed, tally.refused, tally.duplicates),
            (240, 0, 0)
        );
        assert!(producer.metrics().epoch_bumps > 0, "{:?}", producer.metrics());
    } else {
        assert_eq!(tally, all_acked(240));
    }
    cluster.assert_all_faults_fired();
    producer.close(WAIT).await;
}

/// Records of the Produce requests on the connection of the request that `fault` fired on, from
/// that request on, that the broker appended: what a producer that loses that connection
/// re-sends although it is already in the log.
fn appended_but_unanswered(cluster: &MockCluster, fault: &kafkit_testkit::FaultHandle) -> usize {
    let requests = cluster.journal().produce_requests();
    let lost = requests
        .iter()
        .find(|p| p.entry.faults.contains(&fault.id()))
        .expect("the faulted request");
    requests
        .iter()
        .filter(|p| p.entry.connection_id == lost.entry.connection_id && p.entry.seq >= lost.entry.seq)
        .flat_map(|p| &p.batches)
        .filter(|b| b.error == Some(ErrorCode::None))
        .map(|b| b.record_count as usize)
        .sum()
}

/// The same lost response after an append, three configurations. With idempotence the retry is
/// recognised and nothing is stored twice. Without it (Java's at-least-once: acks=all or 1,
/// retries on) every acknowledged record is still stored, but each batch that was appended and
/// then re-sent is stored twice, exactly the records of the unanswered requests; with
/// max.in.flight=1 the first copies still follow send order.
#[rstest]
#[case::idempotent(&[], Guarantee::ExactlyOnceInOrder)]
#[case::acks_all_one_in_flight(
    &[("enable.idempotence", "false"), ("acks", "all"), ("max.in.flight.requests.per.connection", "1")],
    Guarantee::AtLeastOnce { ordered: true },
)]
#[case::acks_1_five_in_flight(
    &[("enable.idempotence", "false"), ("acks", "1"), ("max.in.flight.requests.per.connection", "5")],
    Guarantee::AtLeastOnce { ordered: false },
)]
#[tokio::test(start_paused = true)]
async fn lost_response_duplicates_only_without_idempotence(
    #[case] props: &[(&str, &str)],
    #[case] guarantee: Guarantee,
) {
    let cluster = cluster(1).await;
    let lost = cluster.fault(
        Fault::on(ApiKey::Produce)
            .topic_partition(TOPIC, 1)
            .drop_response_after_append()
            .after_requests(3),
    );
    let producer = producer(&cluster, props).await;
    assert_eq!(
        producer.config().enable_idempotence(),
        guarantee == Guarantee::ExactlyOnceInOrder
    );

    let mut stream = Stream::new(TOPIC, PARTITIONS);
    bursts(&mut stream, &producer, 30, 8).await;
    let sent = stream.finish().await;
    settle(&cluster, WAIT).await.expect("settled");

    let tally = assert_guarantee(&cluster, TOPIC, PARTITIONS, &sent, guarantee);
    assert_eq!(lost.hits(), 1);
    let expected_duplicates = match guarantee {
        Guarantee::ExactlyOnceInOrder => 0,
        Guarantee::AtLeastOnce { .. } => appended_but_unanswered(&cluster, &lost),
    };
    assert_eq!(
        tally,
        Tally {
            stored: 240 + expected_duplicates,
            duplicates: expected_duplicates,
            ..all_acked(240)
        }
    );
    if guarantee != Guarantee::ExactlyOnceInOrder {
        assert!(expected_duplicates >= 2, "the lost batch was stored twice");
        let stored = cluster.records(TOPIC, 0).expect("records");
        assert!(
            stored.iter().all(|r| r.producer_id.is_none()),
            "no producer id without idempotence"
        );
    }
    cluster.assert_all_faults_fired();
    producer.close(WAIT).await;
}

/// Java's ordering rule (`max.in.flight.requests.per.connection` docs): a batch refused with a
/// retriable error while the next batch of the same partition is already in flight is stored
/// after that batch without idempotence when more than one request may be in flight; with
/// max.in.flight=1 the next batch waits (its partition is muted), and with idempotence the
/// broker refuses it as out of order until the retry lands: send order is kept. (A first record
/// makes the broker know the idempotent producer; see the next test for a first batch.)
#[rstest]
#[case::idempotent(&[], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])]
#[case::one_in_flight(
    &[("enable.idempotence", "false"), ("max.in.flight.requests.per.connection", "1")],
    &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
)]
#[case::five_in_flight(
    &[("enable.idempotence", "false"), ("max.in.flight.requests.per.connection", "5")],
    &[0, 6, 7, 8, 9, 10, 1, 2, 3, 4, 5],
)]
#[tokio::test(start_paused = true)]
async fn a_retried_batch_is_overtaken_only_with_pipelining_and_without_idempotence(
    #[case] props: &[(&str, &str)],
    #[case] expected: &[usize],
) {
    let cluster = cluster(1).await;
    // The second batch of partition 0 is answered late, and refused: the third batch is sent
    // meanwhile if the configuration allows it.
    let refused = cluster.fault(
        Fault::on(ApiKey::Produce)
            .topic_partition(TOPIC, 0)
            .after_requests(1)
            .delay(Duration::from_millis(50))
            .respond_error(ErrorCode::NotEnoughReplicas),
    );
    let producer = producer(&cluster, props).await;
    let mut stream = Stream::new(TOPIC, PARTITIONS);
    stream.send_to(&producer, 0).await;
    stream.wait().await;
    for _ in 0..2 {
        for _ in 0..5 {
            stream.send_to(&producer, 0).await;
        }
        tokio::time::sleep(GAP).await;
    }
    let sent = stream.finish().await;
    settle(&cluster, WAIT).await.expect("settled");

    let guarantee = if producer.config().enable_idempotence() {
        Guarantee::ExactlyOnceInOrder
    } else {
        Guarantee::AtLeastOnce {
            ordered: producer.config().max_in_flight_requests_per_connection() == 1,
        }
    };
    assert_eq!(
        assert_guarantee(&cluster, TOPIC, PARTITIONS, &sent, guarantee),
        all_acked(11)
    );
    assert_eq!(stored_order(&cluster, 0), expected);
    assert_eq!(refused.hits(), 1);
    assert_eq!(answered_with(&cluster, Some(0), ErrorCode::NotEnoughReplicas), 1);
    cluster.assert_all_faults_fired();
    producer.close(WAIT).await;
}

/// The send indexes stored in `TOPIC`/`partition`, in offset order.
fn stored_order(cluster: &MockCluster, partition: i32) -> Vec<usize> {
    cluster
        .records(TOPIC, partition)
        .expect("records")
        .iter()
        .map(|r| r.value_str().and_then(|v| v.parse().ok()).expect("index"))
        .collect()
}

/// Kafka's broker accepts any sequence from a producer it has no state for (KIP-360; so does
/// kafkit's). When an idempotent producer's very first batch on a partition is refused with a
/// retriable error while its second batch is in flight, the second one is appended at offset
/// 0; the first can then never be written under this epoch (OUT_OF_ORDER_SEQUENCE_NUMBER on
/// every retry, which Java retries as "an earlier batch will go first") and fails at
/// delivery.timeout.ms with a typed timeout saying it was not written. Java's producer does the
/// same. What is stored is still one copy of each, in send order.
#[tokio::test(start_paused = true)]
async fn an_idempotent_producers_first_batch_refused_behind_the_next_one_times_out() {
    let cluster = cluster(1).await;
    let refused = cluster.fault(
        Fault::on(ApiKey::Produce)
            .topic_partition(TOPIC, 0)
            .delay(Duration::from_millis(50))
            .respond_error(ErrorCode::NotEnoughReplicas),
    );
    let producer = producer(&cluster, &[]).await;
    let mut stream = Stream::new(TOPIC, PARTITIONS);
    for _ in 0..2 {
        for _ in 0..5 {
            stream.send_to(&producer, 0).await;
        }
        tokio::time::sleep(GAP).await;
    }
    let sent = stream.finish().await;
    settle(&cluster, WAIT).await.expect("settled");

    let tally = assert_guarantee(&cluster, TOPIC, PARTITIONS, &sent, Guarantee::ExactlyOnceInOrder);
    assert_eq!(
        tally,
        Tally {
            sent: 10,
            acked: 5,
            failed: 5,
            stored: 5,
            ..Tally::default()
        }
    );
    for s in &sent[..5] {
        assert!(
            matches!(
                &s.outcome,
                Outcome::Failed(Error::Timeout { partition: 0, elapsed, may_have_been_persisted: false, .. })
                    if *elapsed >= producer.config().delivery_timeout()
            ),
            "{s:?}"
        );
    }
    assert_eq!(stored_order(&cluster, 0), [5, 6, 7, 8, 9]);
    let first_batch_answers: Vec<Option<ErrorCode>> = cluster
        .journal()
        .produce_requests_to(TOPIC, 0)
        .iter()
        .flat_map(|p| &p.batches)
        .filter(|b| b.base_sequence == 0)
        .map(|b| b.error)
        .collect();
    assert_eq!(first_batch_answers[0], Some(ErrorCode::NotEnoughReplicas));
    assert!(
        first_batch_answers.len() > 2
            && first_batch_answers[1..]
                .iter()
                .all(|&e| e == Some(ErrorCode::OutOfOrderSequenceNumber)),
        "{first_batch_answers:?}"
    );
    assert_eq!(refused.hits(), 1);
    cluster.assert_all_faults_fired();
    producer.close(WAIT).await;
}
