//! How the producer shapes its Produce requests (`linger.ms`, `batch.size`,
//! `max.request.size`) and what it does with the broker's MESSAGE_TOO_LARGE, checked request
//! by request in the kafkit mock's journal.
//!
//! These scenarios run on the kafkit mock only: they read the journal (no other target has
//! one; librdkafka's mock keeps no request log reachable from Rust) and lower the broker's
//! `message.max.bytes` (librdkafka's mock has no broker configuration). Each runs under
//! tokio's paused clock over the in-memory transport, so linger deadlines are exact virtual
//! instants and the tests take no real time waiting. Each scenario still takes a
//! `&dyn Target` and prints why it is skipped when handed a target without a journal.

use std::time::Duration;

use kafkit_broker::ClusterConfig;
use kafkit_producer::{DeliveryFuture, Error, ProducerRecord, RecordMetadata};
use kafkit_protocol::record::BATCH_HEADER_LEN;
use kafkit_protocol::RecordBatchBuilder;
use kafkit_testkit::{ApiKey, ErrorCode, Fault, MockCluster, ProduceRequestInfo, Target};
use tokio::time::Instant;

use crate::{producer, TestResult};

/// The kafkit mock behind `target`, or `None` after printing why `scenario` is skipped: it
/// needs `what` (the journal, faults), which only the kafkit mock has.
pub(crate) fn kafkit_mock<'a>(target: &'a dyn Target, scenario: &str, what: &str) -> Option<&'a MockCluster> {
    let mock = target.mock();
    if mock.is_none() {
        eprintln!(
            "skipped: {scenario} on {}: it needs {what}, which only the kafkit mock cluster offers",
            target.name()
        );
    }
    mock
}

/// A 100-byte value whose record takes [`RECORD_BYTES`] in a batch when sent with one fixed
/// timestamp at an offset delta below 64.
fn record(topic: &str, partition: i32, i: usize) -> ProducerRecord {
    ProducerRecord::builder(topic.to_string())
        .partition(partition)
        .value(format!("{i:0>100}"))
        .timestamp(1_700_000_000_000)
        .build()
}

/// Bytes of one [`record`] in a batch.
const RECORD_BYTES: usize = 109;

/// Sends `records` without waiting for their acknowledgements.
async fn send_all(
    producer: &kafkit_producer::Producer,
    records: impl IntoIterator<Item = ProducerRecord>,
) -> Result<Vec<DeliveryFuture>, Error> {
    let mut deliveries = Vec::new();
    for r in records {
        deliveries.push(producer.send(r).await?);
    }
    Ok(deliveries)
}

/// Waits for every delivery.
async fn delivered(deliveries: Vec<DeliveryFuture>) -> Result<Vec<RecordMetadata>, Error> {
    let mut out = Vec::new();
    for d in deliveries {
        out.push(d.await?);
    }
    Ok(out)
}

/// A request's shape: when it arrived (virtual time since the scenario's start) and its
/// batches as `(partition, records, batch bytes)`.
type Shape = (Duration, Vec<(i32, i32, usize)>);

/// The shape of each request.
fn shapes(requests: &[ProduceRequestInfo], start: Instant) -> Vec<Shape> {
    requests
        .iter()
        .map(|r| {
            let batches = r
                .batches
                .iter()
                .map(|b| (b.partition, b.record_count, b.size_bytes))
                .collect();
            (r.entry.received_instant - start, batches)
        })
        .collect()
}

/// `linger.ms` holds records back until the first batch has waited that long, then one
/// Produce request carries one batch per partition of that broker (Java's drain: at most one
/// batch per partition per request). 30 records over 3 partitions: nothing is sent 1 ms before
/// the deadline; exactly at 250 ms one request with three batches of 10.
async fn linger_gathers_records_into_one_request(target: &dyn Target) -> TestResult {
    let Some(mock) = kafkit_mock(target, "linger_gathers_records_into_one_request", "the journal") else {
        return Ok(());
    };
    let topic = target.create_unique_topic("linger", 3).await?;
    let producer = producer(target, &[("linger.ms", "250")]).await?;
    let first = producer.send(record(&topic, 0, 0)).await?;
    let start = Instant::now();
    let mut deliveries = vec![first];
    deliveries.extend(send_all(&producer, (1..30).map(|i| record(&topic, (i % 3) as i32, i))).await?);

    tokio::time::sleep(Duration::from_millis(249)).await;
    assert!(
        mock.journal().produce_requests().is_empty(),
        "still lingering at 249 ms"
    );
    delivered(deliveries).await?;
    let batch = BATCH_HEADER_LEN + 10 * RECORD_BYTES;
    assert_eq!(
        shapes(&mock.journal().produce_requests(), start),
        [(
            Duration::from_millis(250),
            vec![(0, 10, batch), (1, 10, batch), (2, 10, batch)]
        )]
    );
    producer.close(Duration::from_secs(10)).await;
    Ok(())
}

/// `batch.size` closes batches: records fill a batch up to `batch.size` bytes (header
/// included, each record counted at its exact size), a full batch is sent at once without
/// waiting for `linger.ms`, and the remainder waits out the linger. 20 records of 109 bytes
/// with `batch.size` 933 (61 + 8 x 109): batches of 8, 8 and 4; the two full ones at 0 ms, the
/// last at 1000 ms.
async fn batch_size_fills_batches_and_sends_them_at_once(target: &dyn Target) -> TestResult {
    let Some(mock) = kafkit_mock(
        target,
        "batch_size_fills_batches_and_sends_them_at_once",
        "the journal",
    ) else {
        return Ok(());
    };
    let batch_size = BATCH_HEADER_LEN + 8 * RECORD_BYTES;
    let topic = target.create_unique_topic("batch-size", 1).await?;
    let producer = producer(
        target,
        &[("batch.size", &batch_size.to_string()), ("linger.ms", "1000")],
    )
    .await?;
    let first = producer.send(record(&topic, 0, 0)).await?;
    let start = Instant::now();
    let mut deliveries = vec![first];
    deliveries.extend(send_all(&producer, (1..20).map(|i| record(&topic, 0, i))).await?);
    let offsets: Vec<i64> = delivered(deliveries).await?.iter().map(|m| m.offset).collect();
    assert_eq!(offsets, (0..20).collect::<Vec<_>>());

    assert_eq!(
        shapes(&mock.journal().produce_requests(), start),
        [
            (Duration::ZERO, vec![(0, 8, batch_size)]),
            (Duration::ZERO, vec![(0, 8, batch_size)]),
            (
                Duration::from_millis(1000),
                vec![(0, 4, BATCH_HEADER_LEN + 4 * RECORD_BYTES)]
            ),
        ]
    );
    producer.close(Duration::from_secs(10)).await;
    Ok(())
}

/// `max.request.size` bounds a request: the drain stops before the batches would exceed it, and
/// the rest go in the next request to the same broker, round-robin over its partitions. Four
/// partitions each with a 606-byte batch ready at the linger deadline and a 1300-byte limit:
/// two requests of two batches each, partitions 0 and 1 then 2 and 3.
async fn max_request_size_bounds_each_request(target: &dyn Target) -> TestResult {
    let Some(mock) = kafkit_mock(target, "max_request_size_bounds_each_request", "the journal") else {
        return Ok(());
    };
    let topic = target.create_unique_topic("max-request", 4).await?;
    let producer = producer(target, &[("max.request.size", "1300"), ("linger.ms", "100")]).await?;
    let first = producer.send(record(&topic, 0, 0)).await?;
    let start = Instant::now();
    let mut deliveries = vec![first];
    deliveries.extend(send_all(&producer, (1..20).map(|i| record(&topic, (i / 5) as i32, i))).await?);
    delivered(deliveries).await?;

    let batch = BATCH_HEADER_LEN + 5 * RECORD_BYTES;
    let linger = Duration::from_millis(100);
    assert_eq!(
        shapes(&mock.journal().produce_requests(), start),
        [
            (linger, vec![(0, 5, batch), (1, 5, batch)]),
            (linger, vec![(2, 5, batch), (3, 5, batch)]),
        ]
    );
    producer.close(Duration::from_secs(10)).await;
    Ok(())
}

/// A broker whose `message.max.bytes` is lower than a single-record batch answers
/// MESSAGE_TOO_LARGE; the producer does not retry it (Java: not retriable, and a batch of one
/// record cannot be split) and fails the record with the broker's typed error. Nothing is
/// stored, and the producer keeps working for records that fit.
async fn broker_rejects_a_record_over_message_max_bytes(target: &dyn Target) -> TestResult {
    let Some(mock) = kafkit_mock(
        target,
        "broker_rejects_a_record_over_message_max_bytes",
        "a lower broker message.max.bytes and the journal",
    ) else {
        return Ok(());
    };
    let topic = target.create_unique_topic("too-large", 1).await?;
    let producer = producer(target, &[]).await?;
    let big = vec![b'x'; MAX_MESSAGE_BYTES];
    let failed = producer
        .send(
            ProducerRecord::builder(topic.clone())
                .partition(0)
                .value(big)
                .build(),
        )
        .await?
        .await;
    match failed {
        Err(Error::Broker {
            topic: ref t,
            partition: 0,
            code: ErrorCode::MessageTooLarge,
            ..
        }) if *t == topic => {}
        other => panic!("expected MESSAGE_TOO_LARGE for {topic}-0, got {other:?}"),
    }
    let errors: Vec<Vec<(i32, Option<ErrorCode>)>> = mock
        .journal()
        .produce_requests()
        .iter()
        .map(|r| r.batches.iter().map(|b| (b.record_count, b.error)).collect())
        .collect();
    assert_eq!(
        errors,
        [vec![(1, Some(ErrorCode::MessageTooLarge))]],
        "sent once, not retried"
    );
    assert!(target.read_partition(&topic, 0).await?.is_empty());

    let small = producer
        .send(
            ProducerRecord::builder(topic.clone())
                .partition(0)
                .value("fits")
                .build(),
        )
        .await?
        .await?;
    assert_eq!(small.offset, 0);
    producer.close(Duration::from_secs(10)).await;
    Ok(())
}

/// A batch of several records that the broker refuses as MESSAGE_TOO_LARGE is split and the
/// pieces are sent again (Java's `splitAndReenqueue`), with idempotence keeping the sequences
/// contiguous: six 309-byte records in one 1915-byte batch over a 1500-byte limit come back as
/// three batches of two, sequences 0, 2 and 4; every record is stored once, in order.
async fn broker_too_large_batch_is_split_and_every_record_lands(target: &dyn Target) -> TestResult {
    let Some(mock) = kafkit_mock(
        target,
        "broker_too_large_batch_is_split_and_every_record_lands",
        "a lower broker message.max.bytes and the journal",
    ) else {
        return Ok(());
    };
    let topic = target.create_unique_topic("split", 1).await?;
    let producer = producer(target, &[("linger.ms", "100")]).await?;
    let value = |i: usize| format!("{i:0>300}");
    let record_bytes = RecordBatchBuilder::record_size(1, 0, None, Some(value(0).as_bytes()), &[]);
    assert_eq!(BATCH_HEADER_LEN + 6 * record_bytes, 1915);
    let records = (0..6).map(|i| {
        ProducerRecord::builder(topic.clone())
            .partition(0)
            .value(value(i))
            .timestamp(1_700_000_000_000)
            .build()
    });
    let deliveries = send_all(&producer, records).await?;
    let offsets: Vec<i64> = delivered(deliveries).await?.iter().map(|m| m.offset).collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4, 5]);

    let batches: Vec<(i32, i32, Option<ErrorCode>, Option<i64>)> = mock
        .journal()
        .produce_requests()
        .iter()
        .flat_map(|r| r.batches.clone())
        .map(|b| (b.record_count, b.base_sequence, b.error, b.base_offset))
        .collect();
    assert_eq!(
        batches,
        [
            (6, 0, Some(ErrorCode::MessageTooLarge), None),
            (2, 0, Some(ErrorCode::None), Some(0)),
            (2, 2, Some(ErrorCode::None), Some(2)),
            (2, 4, Some(ErrorCode::None), Some(4)),
        ]
    );
    let stored: Vec<String> = target
        .read_partition(&topic, 0)
        .await?
        .iter()
        .map(|r| r.value_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(stored, (0..6).map(value).collect::<Vec<_>>());
    producer.close(Duration::from_secs(10)).await;
    Ok(())
}

/// Quota throttling (KIP-219): the broker answers the first Produce with `throttle_time_ms`
/// = 500 (a throttle fault). The producer then holds its next Produce to that broker for
/// 500 ms, although `linger.ms` is 0 and a record is waiting: nothing is sent at 250 ms, and
/// the request goes out once the throttle has passed. (The broker also reads nothing from the
/// connection meanwhile, as Kafka does; the producer's own request counter shows that the
/// producer held back rather than the broker.)
async fn producer_waits_out_a_quota_throttle(target: &dyn Target) -> TestResult {
    let Some(mock) = kafkit_mock(target, "producer_waits_out_a_quota_throttle", "faults") else {
        return Ok(());
    };
    let topic = target.create_unique_topic("throttle", 1).await?;
    let throttle = Duration::from_millis(500);
    let fault = mock.fault(Fault::on(ApiKey::Produce).throttle(throttle));
    let producer = producer(target, &[("linger.ms", "0")]).await?;
    let start = Instant::now();
    producer.send(record(&topic, 0, 0)).await?.await?;
    let answered = start.elapsed();
    assert!(
        answered < throttle,
        "the throttled response itself comes at once: {answered:?}"
    );
    let sent = producer.metrics().requests_sent;
    let second = producer.send(record(&topic, 0, 1)).await?;
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        producer.metrics().requests_sent,
        sent,
        "nothing sent to the throttled broker at 250 ms"
    );
    second.await?;
    let requests = mock.journal().produce_requests();
    assert_eq!(requests.len(), 2);
    let throttle_ms = requests[0].entry.produce_response().map(|r| r.throttle_time_ms);
    assert_eq!(throttle_ms, Some(500));
    let gap = requests[1].entry.received_instant - requests[0].entry.received_instant;
    assert!(gap >= throttle, "the next request after the throttle: {gap:?}");
    assert_eq!(fault.hits(), 1);
    let metrics = producer.metrics();
    assert_eq!(
        (metrics.throttled_responses, metrics.throttle_time_max_ms),
        (1, 500)
    );
    producer.close(Duration::from_secs(10)).await;
    Ok(())
}

/// The broker's `message.max.bytes` in the MESSAGE_TOO_LARGE scenarios.
const MAX_MESSAGE_BYTES: usize = 1500;

/// A one-broker kafkit mock; `message.max.bytes` lowered to [`MAX_MESSAGE_BYTES`] when asked.
async fn kafkit(small_messages: bool) -> Result<MockCluster, kafkit_testkit::Error> {
    let mut config = ClusterConfig::default();
    if small_messages {
        config.validation.max_message_bytes = MAX_MESSAGE_BYTES;
    }
    MockCluster::builder().config(config).start().await
}

/// One paused-clock test per scenario, on the kafkit mock.
macro_rules! on_kafkit_mock {
    ($($name:ident: $small_messages:expr),* $(,)?) => {
        $(
            #[tokio::test(start_paused = true)]
            async fn $name() -> TestResult {
                let cluster = kafkit($small_messages).await?;
                super::$name(&cluster).await
            }
        )*
    };
}

mod on_kafkit_mock {
    use super::*;

    on_kafkit_mock!(
        linger_gathers_records_into_one_request: false,
        batch_size_fills_batches_and_sends_them_at_once: false,
        max_request_size_bounds_each_request: false,
        broker_rejects_a_record_over_message_max_bytes: true,
        broker_too_large_batch_is_split_and_every_record_lands: true,
        producer_waits_out_a_quota_throttle: false,
    );
}
