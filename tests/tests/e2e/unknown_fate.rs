//! Batches whose fate is unknown: the broker appended them, and the producer never heard back.
//!
//! An idempotent producer may not treat such a batch as failed. If it bumped its epoch for the
//! "hole", the sibling batches waiting for a retry would go out again under the new epoch from
//! sequence 0, and the broker, which cannot tell them from new batches, would store them a
//! second time. Java passes `adjustSequenceNumbers = attempts < retries` and does not bump; an
//! expired batch makes its partition "unresolved" until the batches behind it say whether it
//! landed. Every scenario here runs on tokio's paused clock over in-memory connections, and
//! asserts that its faults fired.

use std::time::Duration;

use kafkit_producer::{Error, Producer, ProducerRecord};
use kafkit_testkit::{ApiKey, ErrorCode, Fault, MockCluster};

const TOPIC: &str = "fate";
/// Bound of every wait, on the virtual clock.
const WAIT: Duration = Duration::from_secs(600);

async fn cluster() -> MockCluster {
    MockCluster::builder()
        .topic(TOPIC, 1)
        .start()
        .await
        .expect("cluster")
}

async fn producer(cluster: &MockCluster, props: &[(&str, &str)]) -> Producer {
    crate::producer(cluster, props).await.expect("producer")
}

fn record(value: &str) -> ProducerRecord {
    ProducerRecord::builder(TOPIC)
        .partition(0)
        .value(value.to_string())
        .build()
}

/// How many times each value is stored, in offset order of first appearance.
fn stored(cluster: &MockCluster) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for r in cluster.records(TOPIC, 0).expect("records") {
        let value = r.value_str().unwrap_or_default().to_string();
        match counts.iter_mut().find(|(v, _)| *v == value) {
            Some((_, n)) => *n += 1,
            None => counts.push((value, 1)),
        }
    }
    counts
}

/// retries=1. The first batch is appended on its first attempt
/// and its answer lost; the second batch, sent meanwhile, likewise. Both are retried; the
/// first batch's retry (recognised as a duplicate by the broker) loses its answer again, so
/// the first batch fails for good with an unknown fate while the second waits behind it with
/// an attempt left. The second goes again under the same epoch and sequence, and the broker
/// recognises it. Each record is stored once, and the failed record says it may have been
/// written.
#[tokio::test(start_paused = true)]
async fn a_batch_failing_without_an_answer_does_not_make_its_sibling_a_duplicate() {
    let cluster = cluster().await;
    let lost = cluster.fault(
        Fault::on(ApiKey::Produce)
            .topic_partition(TOPIC, 0)
            .drop_response_after_append()
            .times(3),
    );
    let producer = producer(&cluster, &[("retries", "1")]).await;
    let first = producer.send(record("first")).await.expect("accepted");
    // The first batch is in flight: this record opens the next batch, sent behind it.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = producer.send(record("second")).await.expect("accepted");

    let error = tokio::time::timeout(WAIT, first)
        .await
        .expect("resolved")
        .expect_err("retries used up");
    assert!(
        matches!(
            error,
            Error::Broker {
                code: ErrorCode::RequestTimedOut,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.may_have_been_persisted(), "{error}");
    let acked = tokio::time::timeout(WAIT, second)
        .await
        .expect("resolved")
        .expect("the retry is recognised as a duplicate");
    assert_eq!(acked.offset, 1, "acknowledged at the offset of its first append");
    assert_eq!(
        stored(&cluster),
        [("first".to_string(), 1), ("second".to_string(), 1)],
        "nothing stored twice"
    );
    assert_eq!(producer.metrics().epoch_bumps, 0, "the gap closed: no bump");
    assert_eq!(lost.hits(), 3);
    cluster.assert_all_faults_fired();

    // The partition goes on under the same epoch.
    let third = producer.send(record("third")).await.expect("accepted");
    let third = tokio::time::timeout(WAIT, third)
        .await
        .expect("resolved")
        .expect("acked");
    assert_eq!(third.offset, 2);
    producer.close(WAIT).await;
}

/// The same with `delivery.timeout.ms` as the limit rather than `retries`: the first batch
/// waits `linger.ms` (200 ms) before it goes, the second (a record that fills a batch) goes at
/// once, and both answers are lost. The first batch's request times out exactly at its
/// delivery timeout (linger + request timeout); the second is retried after a backoff
/// shorter than the linger, within its own delivery timeout. Whichever of the timeout or the expiry the sender handles first, the
/// second batch is recognised on its retry and nothing is stored twice.
#[tokio::test(start_paused = true)]
async fn a_batch_timing_out_at_its_delivery_timeout_does_not_make_its_sibling_a_duplicate() {
    let cluster = cluster().await;
    let lost = cluster.fault(
        Fault::on(ApiKey::Produce)
            .topic_partition(TOPIC, 0)
            .drop_response_after_append()
            .times(2),
    );
    let producer = producer(
        &cluster,
        &[
            ("linger.ms", "200"),
            ("batch.size", "200"),
            ("retry.backoff.ms", "50"),
            ("request.timeout.ms", "1000"),
            ("delivery.timeout.ms", "1200"),
        ],
    )
    .await;
    let first = producer.send(record("first")).await.expect("accepted");
    tokio::time::sleep(Duration::from_millis(210)).await;
    let second = producer.send(record(&"s".repeat(300))).await.expect("accepted");

    let error = tokio::time::timeout(WAIT, first)
        .await
        .expect("resolved")
        .expect_err("delivery.timeout.ms passed");
    assert!(error.may_have_been_persisted(), "{error}");
    let acked = tokio::time::timeout(WAIT, second)
        .await
        .expect("resolved")
        .expect("the retry is recognised as a duplicate");
    assert_eq!(acked.offset, 1);
    assert_eq!(
        stored(&cluster),
        [("first".to_string(), 1), ("s".repeat(300), 1)],
        "nothing stored twice"
    );
    assert_eq!(lost.hits(), 2);
    cluster.assert_all_faults_fired();
    producer.close(WAIT).await;
}
