//! librdkafka against injected faults: retries, reconnects and idempotent de-duplication,
//! checked in what the cluster stored and in the journal.

use std::time::Duration;

use kafkit_testkit::{ApiKey, Delivery, ErrorCode, Fault, MockCluster};
use rdkafka::producer::FutureRecord;

use crate::common::{producer, send, values, WAIT};

async fn cluster(brokers: usize) -> MockCluster {
    MockCluster::builder()
        .brokers(brokers)
        .topic("orders", 1)
        .start()
        .await
        .expect("cluster")
}

/// NOT_LEADER_OR_FOLLOWER twice, then success: the idempotent producer retries with the same
/// sequence and the record is stored once.
#[tokio::test]
async fn retries_after_not_leader_and_delivers_once() {
    let cluster = cluster(2).await;
    let fault = cluster.fault(
        Fault::on(ApiKey::Produce)
            .topic_partition("orders", 0)
            .respond_error(ErrorCode::NotLeaderOrFollower)
            .times(2),
    );
    let producer = producer(&cluster, &[]);
    assert_eq!(send(&producer, "orders", 0, "once").await, (0, 0));

    assert_eq!(fault.hits(), 2);
    assert_eq!(values(&cluster, "orders", 0), ["once"]);
    let attempts = cluster.journal().produce_requests_to("orders", 0);
    let errors: Vec<Option<ErrorCode>> = attempts.iter().map(|p| p.batches[0].error).collect();
    assert_eq!(
        errors,
        [
            Some(ErrorCode::NotLeaderOrFollower),
            Some(ErrorCode::NotLeaderOrFollower),
            Some(ErrorCode::None)
        ]
    );
    assert!(
        attempts.iter().all(|p| p.batches[0].base_sequence == 0),
        "every attempt is the same batch"
    );
    cluster.assert_all_faults_fired();
}

/// The response to an appended batch is dropped; librdkafka times the request out, retries,
/// and the broker answers the retry as a duplicate with the original offset: stored once.
#[tokio::test]
async fn lost_response_with_idempotence_stores_once() {
    let cluster = cluster(1).await;
    let lost = cluster.fault(
        Fault::on(ApiKey::Produce)
            .topic_partition("orders", 0)
            .drop_response_after_append(),
    );
    // librdkafka times requests out after socket.timeout.ms (request.timeout.ms is the ack
    // timeout it sends to the broker).
    let producer = producer(
        &cluster,
        &[("request.timeout.ms", "500"), ("socket.timeout.ms", "1000")],
    );
    assert_eq!(send(&producer, "orders", 0, "exactly-once").await, (0, 0));

    assert_eq!(lost.hits(), 1);
    assert_eq!(values(&cluster, "orders", 0), ["exactly-once"]);
    let attempts = cluster.journal().produce_requests_to("orders", 0);
    assert!(attempts.len() >= 2, "the client retried");
    assert_eq!(attempts[0].entry.delivery, Delivery::Dropped);
    let retry = attempts.last().expect("retry");
    assert_eq!(
        (retry.batches[0].base_sequence, retry.batches[0].base_offset),
        (0, Some(0)),
        "the retry is the same batch, answered with the original offset"
    );
    cluster.assert_all_faults_fired();
}

/// A connection closed instead of handling, and one closed after handling: librdkafka
/// reconnects and retries, and each record is stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_closed_connections() {
    let cluster = cluster(1).await;
    let producer = producer(&cluster, &[]);
    assert_eq!(send(&producer, "orders", 0, "warm-up").await, (0, 0));

    let before = cluster.fault(Fault::on(ApiKey::Produce).close_connection());
    assert_eq!(send(&producer, "orders", 0, "first").await, (0, 1));
    let after = cluster.fault(Fault::on(ApiKey::Produce).close_connection_after_handling());
    assert_eq!(send(&producer, "orders", 0, "second").await, (0, 2));

    assert_eq!(values(&cluster, "orders", 0), ["warm-up", "first", "second"]);
    assert_eq!((before.hits(), after.hits()), (1, 1));
    let connections: std::collections::BTreeSet<u64> = cluster
        .journal()
        .requests(ApiKey::Produce)
        .iter()
        .map(|e| e.connection_id)
        .collect();
    assert!(
        connections.len() >= 3,
        "each close cost a connection: {connections:?}"
    );
    cluster.assert_all_faults_fired();
}

/// A held produce is not appended until released; the delivery then completes.
#[tokio::test]
async fn held_produce_completes_after_release() {
    let cluster = cluster(1).await;
    let hold = cluster.fault(Fault::on(ApiKey::Produce).hold());
    let producer = producer(&cluster, &[]);
    let record = FutureRecord::<str, str>::to("orders")
        .partition(0)
        .payload("held");
    let delivery = producer.send_result(record).expect("queued");

    hold.wait_for_hits(1, WAIT).await.expect("held");
    assert!(values(&cluster, "orders", 0).is_empty());
    hold.release();
    let delivered = tokio::time::timeout(WAIT, delivery)
        .await
        .expect("in time")
        .expect("not cancelled")
        .expect("delivered");
    assert_eq!((delivered.partition, delivered.offset), (0, 0));
    assert_eq!(values(&cluster, "orders", 0), ["held"]);
    cluster.assert_all_faults_fired();
}

/// A delayed Produce is answered no sooner than the delay.
#[tokio::test]
async fn delayed_produce_is_answered_after_the_delay() {
    let cluster = cluster(1).await;
    let slow = cluster.fault(Fault::on(ApiKey::Produce).delay(Duration::from_millis(300)));
    let producer = producer(&cluster, &[]);
    let started = std::time::Instant::now();
    assert_eq!(send(&producer, "orders", 0, "slow").await, (0, 0));
    assert!(started.elapsed() >= Duration::from_millis(300));
    let entry = &cluster.journal().requests(ApiKey::Produce)[0];
    assert!(entry.elapsed.expect("answered") >= Duration::from_millis(300));
    assert_eq!(slow.hits(), 1);
    cluster.assert_all_faults_fired();
}
