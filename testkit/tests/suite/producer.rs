//! kafkit's producer on the in-memory transport, under tokio's paused clock: linger, retry
//! backoff and request timeouts run on virtual time, so these tests are exact and instant.

use std::time::Duration;

use kafkit_producer::{ProducerRecord, RecordMetadata};
use kafkit_testkit::{ApiKey, ErrorCode, Fault, MockCluster};
use tokio::time::Instant;

use crate::common::values;

async fn one_partition() -> MockCluster {
    MockCluster::builder()
        .topic("orders", 1)
        .start()
        .await
        .expect("cluster")
}

async fn deliver(producer: &kafkit_producer::Producer, value: &str) -> RecordMetadata {
    producer
        .send(ProducerRecord::new("orders", value.to_string()))
        .await
        .expect("accepted")
        .await
        .expect("delivered")
}

/// linger.ms=1000 holds the records in one batch: nothing is sent 999 ms after the first
/// record, and exactly at 1000 ms one Produce request carries all of them.
#[tokio::test(start_paused = true)]
async fn linger_holds_records_in_one_batch_until_the_clock_reaches_it() {
    let cluster = one_partition().await;
    let config = cluster
        .producer_config()
        .linger(Duration::from_millis(1000))
        .build()
        .expect("config");
    let producer = cluster.in_memory_producer(config).await.expect("producer");

    let mut deliveries = vec![producer
        .send(ProducerRecord::new("orders", "v0"))
        .await
        .expect("accepted")];
    let first_append = Instant::now();
    for i in 1..10 {
        deliveries.push(
            producer
                .send(ProducerRecord::new("orders", format!("v{i}")))
                .await
                .expect("accepted"),
        );
    }
    tokio::time::sleep(Duration::from_millis(999)).await;
    assert_eq!(cluster.journal().count(ApiKey::Produce), 0, "still lingering");

    for delivery in deliveries {
        delivery.await.expect("delivered");
    }
    let produced = cluster.journal().produce_requests();
    assert_eq!(produced.len(), 1, "one request");
    assert_eq!((produced[0].batches.len(), produced[0].record_count()), (1, 10));
    assert_eq!(
        produced[0].entry.received_instant - first_append,
        Duration::from_millis(1000)
    );
    assert_eq!(values(&cluster, "orders", 0).len(), 10);
}

/// Three NOT_LEADER_OR_FOLLOWER answers, each followed by a 10 s retry backoff on the virtual
/// clock: the record is stored once, at least 8 s (10 s less jitter) passes between attempts,
/// and the test takes far less real time than the virtual time it covers.
#[tokio::test(start_paused = true)]
async fn retry_backoff_runs_on_the_virtual_clock() {
    let cluster = one_partition().await;
    let fault = cluster.fault(
        Fault::on(ApiKey::Produce)
            .respond_error(ErrorCode::NotLeaderOrFollower)
            .times(3),
    );
    let config = cluster
        .producer_config()
        .retry_backoff(Duration::from_secs(10))
        .retry_backoff_max(Duration::from_secs(10))
        .build()
        .expect("config");
    let producer = cluster.in_memory_producer(config).await.expect("producer");
    let (wall, start) = (std::time::Instant::now(), Instant::now());

    assert_eq!(deliver(&producer, "once").await.offset, 0);

    let virtual_elapsed = start.elapsed();
    assert_eq!(fault.hits(), 3);
    let attempts = cluster.journal().produce_requests();
    assert_eq!(attempts.len(), 4);
    for pair in attempts.windows(2) {
        let gap = pair[1].entry.received_instant - pair[0].entry.received_instant;
        assert!(gap >= Duration::from_secs(8), "backoff {gap:?}");
    }
    assert!(virtual_elapsed >= Duration::from_secs(24), "{virtual_elapsed:?}");
    assert!(wall.elapsed() < virtual_elapsed, "virtual time did not run ahead");
    assert_eq!(values(&cluster, "orders", 0), ["once"]);
    cluster.assert_all_faults_fired();
}

/// A response lost after the append: the producer's request times out (30 s, virtual), it
/// retries the same sequence number, and the broker answers with the original offset instead
/// of appending again.
#[tokio::test(start_paused = true)]
async fn lost_response_is_retried_without_a_duplicate() {
    let cluster = one_partition().await;
    let fault = cluster.fault(Fault::on(ApiKey::Produce).drop_response_after_append());
    let producer = cluster.producer().await.expect("producer");

    assert_eq!(deliver(&producer, "once").await.offset, 0);

    assert_eq!(fault.hits(), 1);
    assert_eq!(values(&cluster, "orders", 0), ["once"]);
    let attempts = cluster.journal().produce_requests();
    assert_eq!(attempts.len(), 2, "the request and its retry");
    let (first, retry) = (&attempts[0].batches[0], &attempts[1].batches[0]);
    assert_eq!(
        (first.producer_id, first.base_sequence),
        (retry.producer_id, retry.base_sequence)
    );
    assert_eq!(retry.base_offset, Some(0), "answered with the original offset");
}

/// After a leader move the producer follows the new leader; the batches carry the epochs.
#[tokio::test(start_paused = true)]
async fn producer_follows_a_moved_leader() {
    let cluster = MockCluster::builder()
        .brokers(2)
        .topic("orders", 1)
        .start()
        .await
        .expect("cluster");
    let producer = cluster.producer().await.expect("producer");
    assert_eq!(deliver(&producer, "before").await.offset, 0);

    cluster.move_leader("orders", 0, 1).expect("move");
    assert_eq!(deliver(&producer, "after").await.offset, 1);

    let answers: Vec<(i32, Option<ErrorCode>)> = cluster
        .journal()
        .produce_requests()
        .iter()
        .map(|p| (p.entry.node_id, p.batches[0].error))
        .collect();
    assert!(
        answers.contains(&(0, Some(ErrorCode::NotLeaderOrFollower))),
        "{answers:?}"
    );
    assert_eq!(answers.last(), Some(&(1, Some(ErrorCode::None))));
    let epochs: Vec<i32> = cluster
        .records("orders", 0)
        .expect("records")
        .iter()
        .map(|r| r.partition_leader_epoch)
        .collect();
    assert_eq!(epochs, [0, 1]);
}

/// A producer that outlives its cluster is refused, not kept alive by its connector.
#[tokio::test(start_paused = true)]
async fn dropping_the_cluster_stops_it_under_a_live_producer() {
    let cluster = one_partition().await;
    let producer = cluster.producer().await.expect("producer");
    let connector = cluster.in_memory_connector();
    drop(cluster);
    let refused = kafkit_producer::Connector::connect(&connector, "127.0.0.1", 1).await;
    assert_eq!(
        refused.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::ConnectionRefused)
    );
    producer.close(Duration::ZERO).await;
}

/// On a current-thread runtime (`#[tokio::test]`'s default) a loop of sends that never has to
/// wait still lets the producer's sender and connections run: `send` takes from tokio's
/// cooperative budget, so requests go out while the loop is still sending, instead of after
/// it (or once buffer.memory is full).
#[tokio::test]
async fn a_tight_send_loop_leaves_the_sender_its_turns_on_one_thread() {
    let cluster = MockCluster::builder()
        .topic("tight", 1)
        .start()
        .await
        .expect("cluster");
    let config = cluster
        .producer_config()
        .set("linger.ms", "0")
        .build()
        .expect("config");
    let producer = cluster.in_memory_producer(config).await.expect("producer");
    let mut deliveries = Vec::new();
    for i in 0..5_000 {
        let record = ProducerRecord::builder("tight")
            .partition(0)
            .value(i.to_string())
            .build();
        deliveries.push(producer.send(record).await.expect("accepted"));
    }
    // No await that waits has happened yet: only the sends' own yields let requests out.
    let during = cluster.journal().count(ApiKey::Produce);
    assert!(
        during > 0,
        "no produce request went out while 5,000 records were sent"
    );
    for d in deliveries {
        d.await.expect("delivered");
    }
}
