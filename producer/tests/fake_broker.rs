//! The producer against a small scripted broker on in-memory streams (through the
//! [`Connector`] seam), under tokio's paused clock: deterministic, and fast in wall time.
//!
//! Unlike librdkafka's mock, this broker checks an idempotent producer's sequence numbers as
//! Kafka does (OUT_OF_ORDER_SEQUENCE_NUMBER on a gap, the original offset for a duplicate of one
//! of the last five batches, sequence 0 required after an epoch bump), so it can prove ordering
//! with five requests in flight across retries, deduplication, and epoch bumps.

#[path = "fake_broker/broker.rs"]
mod broker;

use std::sync::Arc;
use std::time::Duration;

use kafkit_producer::{Error, Producer, ProducerConfig, ProducerRecord};
use kafkit_protocol::ErrorCode;
use tokio::time::Instant;

use self::broker::{FakeBroker, Fault};

async fn producer(broker: &FakeBroker, properties: &[(&str, &str)]) -> Producer {
    let mut all = vec![("bootstrap.servers", "fake:9092")];
    all.extend_from_slice(properties);
    let config = ProducerConfig::from_properties(all).expect("config");
    Producer::with_connector(config, Arc::new(broker.clone()))
        .await
        .expect("connect")
}

fn value(i: usize) -> Vec<u8> {
    format!("value-{i:06}").into_bytes()
}

async fn send_all(producer: &Producer, n: usize) -> Vec<kafkit_producer::DeliveryFuture> {
    let mut futures = Vec::new();
    for i in 0..n {
        let record = ProducerRecord::builder("t").partition(0).value(value(i)).build();
        futures.push(producer.send(record).await.expect("accepted"));
    }
    futures
}

fn assert_log_is(broker: &FakeBroker, n: usize) {
    let log = broker.with(|s| s.logs[0].clone());
    assert_eq!(log.len(), n, "exactly once");
    assert!(log == (0..n).map(value).collect::<Vec<_>>(), "in order");
}

/// With five requests in flight, the first four rejected: the broker refuses the fifth as out
/// of order, the producer retries the four one by one first, and the log ends up exactly the
/// sequence sent.
#[tokio::test(start_paused = true)]
async fn keeps_order_with_five_in_flight_across_retries() {
    let broker = FakeBroker::new(1);
    broker.with(|s| {
        s.response_delay = Duration::from_millis(10);
        s.faults
            .extend([Fault::Reject(ErrorCode::NotLeaderOrFollower); 2]);
        s.faults.extend([Fault::Reject(ErrorCode::RequestTimedOut); 2]);
    });
    let producer = producer(
        &broker,
        &[
            ("batch.size", "500"),
            ("linger.ms", "0"),
            ("retry.backoff.ms", "5"),
        ],
    )
    .await;
    let futures = send_all(&producer, 1000).await;
    let mut offsets = Vec::new();
    for f in futures {
        offsets.push(f.await.expect("delivered").offset);
    }
    assert_eq!(
        offsets,
        (0..1000).collect::<Vec<i64>>(),
        "offsets follow send order"
    );
    assert_log_is(&broker, 1000);
    let out_of_order = broker.with(|s| s.out_of_order);
    assert!(out_of_order > 0, "requests were pipelined behind the failed ones");
    assert!(producer.metrics().retries >= 4);
    assert_eq!(producer.metrics().epoch_bumps, 0, "no real gap, no bump");
}

/// A request whose records landed but whose answer was an error is retried with the same
/// sequence numbers; the broker recognises the duplicate and the records are stored once.
#[tokio::test(start_paused = true)]
async fn a_retried_batch_that_had_landed_is_deduplicated() {
    let broker = FakeBroker::new(1);
    broker.with(|s| {
        s.faults
            .extend([Fault::AppendThenFail(ErrorCode::RequestTimedOut); 3])
    });
    let producer = producer(&broker, &[("linger.ms", "1")]).await;
    for f in send_all(&producer, 300).await {
        f.await.expect("delivered");
    }
    assert_log_is(&broker, 300);
    assert!(broker.with(|s| s.duplicates) >= 3, "the retries were duplicates");
}

/// The broker lost the producer's state: the head batch gets OUT_OF_ORDER_SEQUENCE_NUMBER, a
/// real gap, so the producer bumps its epoch, restarts the partition's sequences at 0 and
/// delivers.
#[tokio::test(start_paused = true)]
async fn a_real_sequence_gap_bumps_the_epoch() {
    let broker = FakeBroker::new(1);
    let producer = producer(&broker, &[("linger.ms", "1")]).await;
    for f in send_all(&producer, 50).await {
        f.await.expect("delivered");
    }
    broker.with(|s| s.faults.push_back(Fault::ForgetProducers));
    let mut futures = Vec::new();
    for i in 50..100 {
        let record = ProducerRecord::builder("t").partition(0).value(value(i)).build();
        futures.push(producer.send(record).await.expect("accepted"));
    }
    for f in futures {
        f.await.expect("delivered after the bump");
    }
    assert_eq!(producer.metrics().epoch_bumps, 1);
    assert!(broker.with(|s| s.out_of_order) >= 1);
    assert_log_is(&broker, 100);
}

/// MESSAGE_TOO_LARGE on a multi-record batch: the batch is split and every record delivered,
/// in order, with its own offset.
#[tokio::test(start_paused = true)]
async fn message_too_large_splits_the_batch() {
    let broker = FakeBroker::new(1);
    broker.with(|s| s.max_records_per_batch = Some(10));
    let producer = producer(&broker, &[("linger.ms", "50")]).await;
    let futures = send_all(&producer, 100).await;
    let mut offsets = Vec::new();
    for f in futures {
        offsets.push(f.await.expect("delivered").offset);
    }
    assert_eq!(offsets, (0..100).collect::<Vec<i64>>());
    assert!(
        broker.with(|s| s.too_large) >= 1,
        "the broker refused the big batch"
    );
    assert_log_is(&broker, 100);
}

/// A broker that never answers: requests time out (request.timeout.ms), are retried, and the
/// records fail after delivery.timeout.ms saying they may have been written.
#[tokio::test(start_paused = true)]
async fn unanswered_records_expire_as_possibly_persisted() {
    let broker = FakeBroker::new(1);
    let producer = producer(
        &broker,
        &[
            ("linger.ms", "0"),
            ("request.timeout.ms", "1000"),
            ("delivery.timeout.ms", "3000"),
        ],
    )
    .await;
    broker.with(|s| s.faults.extend([Fault::Hold; 100]));
    let start = Instant::now();
    let future = send_all(&producer, 1).await.remove(0);
    match future.await {
        Err(e @ Error::Timeout { .. }) => assert!(e.may_have_been_persisted(), "{e}"),
        other => panic!("expected a delivery timeout, got {other:?}"),
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(3000) && elapsed < Duration::from_millis(3100),
        "{elapsed:?}"
    );
    assert!(
        broker.with(|s| s.produce_requests) >= 2,
        "the timed-out request was retried"
    );
}

/// `buffer.memory` full: `send` waits up to max.block.ms and fails with BufferExhausted,
/// `try_send` fails at once; memory freed by deliveries lets sends through again.
#[tokio::test(start_paused = true)]
async fn a_full_buffer_blocks_send_then_fails_and_recovers() {
    let broker = FakeBroker::new(1);
    broker.with(|s| s.faults.push_back(Fault::Hold));
    let producer = producer(
        &broker,
        &[
            ("batch.size", "1000"),
            ("buffer.memory", "2000"),
            ("max.block.ms", "500"),
            ("linger.ms", "0"),
            ("request.timeout.ms", "2000"),
        ],
    )
    .await;
    let big = || {
        ProducerRecord::builder("t")
            .partition(0)
            .value(vec![7u8; 900])
            .build()
    };
    let first = producer.send(big()).await.expect("fits");
    let second = producer.send(big()).await.expect("fits");
    assert!(matches!(
        producer.try_send(big()),
        Err(Error::BufferExhausted { .. })
    ));
    let start = Instant::now();
    assert!(matches!(
        producer.send(big()).await,
        Err(Error::BufferExhausted { .. })
    ));
    assert_eq!(start.elapsed(), Duration::from_millis(500), "max.block.ms");
    assert!(producer.metrics().buffer_used >= 2000);
    // The held request times out and is retried; then memory frees up.
    first.await.expect("delivered");
    second.await.expect("delivered");
    producer
        .send(big())
        .await
        .expect("fits again")
        .await
        .expect("delivered");
}

/// `close` with a deadline: what cannot be delivered in time fails with Closed, and records in
/// flight say they may have been written.
#[tokio::test(start_paused = true)]
async fn close_fails_what_is_left_after_its_timeout() {
    let broker = FakeBroker::new(1);
    broker.with(|s| s.faults.extend([Fault::Hold; 10]));
    let producer = producer(&broker, &[("linger.ms", "0")]).await;
    let future = send_all(&producer, 1).await.remove(0);
    tokio::time::sleep(Duration::from_millis(10)).await; // the request is on the wire
    producer.close(Duration::from_millis(100)).await;
    assert_eq!(
        future.await,
        Err(Error::Closed {
            may_have_been_persisted: true
        })
    );
    assert!(matches!(
        producer.send(ProducerRecord::new("t", "late")).await,
        Err(Error::Closed { .. })
    ));
}

/// A topic the cluster does not have: `send` waits max.block.ms for its metadata, then fails;
/// `try_send` fails at once.
#[tokio::test(start_paused = true)]
async fn a_missing_topic_fails_after_max_block() {
    let broker = FakeBroker::new(1);
    let producer = producer(&broker, &[("max.block.ms", "300")]).await;
    assert!(matches!(
        producer.try_send(ProducerRecord::new("nope", "v")),
        Err(Error::MetadataTimeout { .. })
    ));
    let start = Instant::now();
    match producer.send(ProducerRecord::new("nope", "v")).await {
        Err(Error::MetadataTimeout { topic, .. }) => assert_eq!(topic, "nope"),
        other => panic!("{other:?}"),
    }
    assert_eq!(start.elapsed(), Duration::from_millis(300));
}

/// Records with an explicit partition go there; a custom partitioner decides for the others;
/// `partitioner.ignore.keys` sends keyed records through the sticky partitioner, which a seed
/// makes predictable.
#[tokio::test(start_paused = true)]
async fn partition_choice_explicit_custom_and_ignored_keys() {
    #[derive(Debug)]
    struct Last;
    impl kafkit_producer::Partitioner for Last {
        fn partition(&self, _topic: &str, _key: Option<&[u8]>, _value: Option<&[u8]>, n: i32) -> i32 {
            n - 1
        }
    }
    let broker = FakeBroker::new(4);
    let servers = "fake:9092";
    let config = ProducerConfig::builder(servers)
        .partitioner(Arc::new(Last))
        .build()
        .expect("config");
    let custom = Producer::with_connector(config, Arc::new(broker.clone()))
        .await
        .expect("connect");
    let keyed = ProducerRecord::builder("t").key("k").value("v").build();
    assert_eq!(
        custom
            .send(keyed.clone())
            .await
            .expect("accepted")
            .await
            .expect("delivered")
            .partition,
        3
    );
    let explicit = ProducerRecord::builder("t")
        .partition(1)
        .key("k")
        .value("v")
        .build();
    assert_eq!(
        custom
            .send(explicit)
            .await
            .expect("accepted")
            .await
            .expect("delivered")
            .partition,
        1
    );
    let bad = ProducerRecord::builder("t").partition(4).value("v").build();
    assert!(matches!(
        custom.send(bad).await,
        Err(Error::UnknownPartition {
            partition: 4,
            partitions: 4,
            ..
        })
    ));

    let sticky_partitions = |seed| {
        let broker = broker.clone();
        async move {
            let config = ProducerConfig::builder(servers)
                .partitioner_ignore_keys(true)
                .partitioner_seed(seed)
                .batch_size(200)
                .build()
                .expect("config");
            let producer = Producer::with_connector(config, Arc::new(broker))
                .await
                .expect("connect");
            let mut partitions = Vec::new();
            for i in 0..40 {
                let record = ProducerRecord::builder("t")
                    .key("same-key")
                    .value(value(i))
                    .build();
                partitions.push(producer.send(record).await.expect("accepted").partition());
            }
            producer.close(Duration::from_secs(5)).await;
            partitions
        }
    };
    let first = sticky_partitions(7).await;
    assert_eq!(first, sticky_partitions(7).await, "seeded: the same choices");
    let distinct: std::collections::BTreeSet<i32> = first.iter().copied().collect();
    assert!(
        distinct.len() > 1,
        "keys ignored: the sticky partitioner moved on after batch.size: {first:?}"
    );
}

/// The leader moves (epoch + 1): the old leader answers NOT_LEADER_OR_FOLLOWER with a KIP-951
/// hint, and the producer re-sends to the new leader at once, without a metadata refresh.
#[tokio::test(start_paused = true)]
async fn follows_a_kip951_leader_hint_without_a_metadata_refresh() {
    let broker = FakeBroker::new(1);
    broker.with(|s| s.nodes = 2);
    let producer = producer(&broker, &[("linger.ms", "1")]).await;
    for f in send_all(&producer, 100).await {
        f.await.expect("delivered by broker 0");
    }
    let metadata_before = broker.with(|s| {
        s.leader = 1;
        s.leader_epoch = 1;
        s.metadata_requests
    });
    let start = Instant::now();
    let mut futures = Vec::new();
    for i in 100..200 {
        let record = ProducerRecord::builder("t").partition(0).value(value(i)).build();
        futures.push(producer.send(record).await.expect("accepted"));
    }
    for f in futures {
        f.await.expect("delivered by broker 1");
    }
    assert!(broker.with(|s| s.not_leader) >= 1, "the old leader refused");
    assert_eq!(
        broker.with(|s| s.metadata_requests),
        metadata_before,
        "the hint sufficed"
    );
    assert!(
        start.elapsed() < Duration::from_millis(50),
        "no retry backoff after a leader change: {:?}",
        start.elapsed()
    );
    assert_log_is(&broker, 200);
}

/// The runtime running the producer shuts down with records pending: their futures resolve
/// with Closed (in flight: possibly written) instead of hanging.
#[test]
fn records_fail_with_closed_when_the_runtime_goes_away() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let broker = FakeBroker::new(1);
    let futures = runtime.block_on(async {
        broker.with(|s| s.faults.push_back(Fault::Hold));
        let producer = producer(&broker, &[("linger.ms", "0")]).await;
        let mut futures = send_all(&producer, 1).await;
        tokio::time::sleep(Duration::from_millis(20)).await; // on the wire, held
        futures.extend(send_all(&producer, 1).await);
        futures
    });
    drop(runtime);
    let other = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    other.block_on(async {
        let mut results = Vec::new();
        for f in futures {
            results.push(
                tokio::time::timeout(Duration::from_secs(5), f)
                    .await
                    .expect("resolves"),
            );
        }
        assert_eq!(
            results[0],
            Err(Error::Closed {
                may_have_been_persisted: true
            })
        );
        assert!(matches!(results[1], Err(Error::Closed { .. })));
    });
}

/// No broker answers: `connect` gives up after max.block.ms with an error naming the servers.
#[tokio::test(start_paused = true)]
async fn connect_fails_when_no_bootstrap_server_answers() {
    #[derive(Debug)]
    struct Refused;
    impl kafkit_producer::Connector for Refused {
        fn connect<'a>(&'a self, _: &'a str, _: u16) -> kafkit_producer::ConnectFuture<'a> {
            Box::pin(async { Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)) })
        }
    }
    let config =
        ProducerConfig::from_properties([("bootstrap.servers", "a:1,b:2"), ("max.block.ms", "2000")])
            .expect("config");
    let start = Instant::now();
    match Producer::with_connector(config, Arc::new(Refused)).await {
        Err(Error::Connection { broker, .. }) => assert_eq!(broker, "a:1,b:2"),
        other => panic!("{other:?}"),
    }
    assert_eq!(start.elapsed(), Duration::from_millis(2000));
}

/// A hostile (or broken) broker lists a partition index near 2^31 in Metadata: the producer
/// neither panics (`index + 1` overflowed) nor allocates a table that large (~16 GiB); it
/// counts the partitions listed, ignores the bogus index, and keeps producing.
#[rstest::rstest]
#[case::max(i32::MAX)]
#[case::near_max(i32::MAX - 1)]
#[case::negative(-7)]
#[tokio::test(start_paused = true)]
async fn a_metadata_partition_index_beyond_the_partitions_listed_is_ignored(#[case] bogus: i32) {
    let broker = FakeBroker::new(1);
    broker.with(|s| s.bogus_partition_index = Some(bogus));
    let producer = producer(&broker, &[]).await;
    assert_eq!(producer.partition_count("t").await.expect("metadata"), 2);
    let record = ProducerRecord::builder("t").partition(0).value("v").build();
    let meta = producer
        .send(record)
        .await
        .expect("accepted")
        .await
        .expect("acked");
    assert_eq!((meta.partition, meta.offset), (0, 0));
    producer.close(Duration::from_secs(5)).await;
}
