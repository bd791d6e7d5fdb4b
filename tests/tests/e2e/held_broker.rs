//! What the producer does while the broker does not answer: `buffer.memory` backpressure,
//! `delivery.timeout.ms` expiry, and `flush`/`close` with requests still out.
//!
//! These scenarios run on the kafkit mock only: they hold Produce requests at the broker until
//! released, or take a broker down, which no other target can do on demand (librdkafka's mock
//! can take brokers down and slow them, but not park one request and let it go later). Each
//! runs under tokio's paused clock over the in-memory transport, so `max.block.ms`,
//! `request.timeout.ms`, `delivery.timeout.ms` and close timeouts elapse as exact virtual
//! durations in no real time. Each scenario still takes a `&dyn Target` and prints why it is
//! skipped when handed a target without faults.

use std::time::Duration;

use kafkit_producer::{Error, ProducerRecord, RecordMetadata};
use kafkit_testkit::{ApiKey, Delivery, Fault, MockCluster, Target};
use tokio::time::Instant;

use crate::shaping::kafkit_mock;
use crate::{producer, TestResult};

/// Bound of every wait for a fault to fire (virtual time: reached at once if it never does).
const WAIT: Duration = Duration::from_secs(10);

fn record(topic: &str, value: &str) -> ProducerRecord {
    ProducerRecord::builder(topic.to_string())
        .partition(0)
        .value(value.to_string())
        .build()
}

/// The offset a delivery reported, if it completed successfully by now.
fn offset(result: Option<Result<RecordMetadata, Error>>) -> Option<i64> {
    result.and_then(Result::ok).map(|m| m.offset)
}

/// Whether the broker has handled every Produce request it received (none pending or held).
fn all_answered(cluster: &MockCluster) -> bool {
    cluster
        .journal()
        .requests(ApiKey::Produce)
        .iter()
        .all(|e| e.delivery != Delivery::Pending)
}

/// The values stored in partition 0 of `topic`.
async fn stored(target: &dyn Target, topic: &str) -> Result<Vec<String>, kafkit_testkit::Error> {
    Ok(target
        .read_partition(topic, 0)
        .await?
        .iter()
        .map(|r| r.value_str().unwrap_or_default().to_string())
        .collect())
}

/// A 12 000-byte record: two never share a 16 KiB batch, so each needs memory of its own.
fn big(topic: &str, tag: char) -> ProducerRecord {
    record(topic, &tag.to_string().repeat(12_000))
}

/// Backpressure (Java's `BufferPool`): with the broker holding every Produce, two batches of
/// `batch.size` (16 KiB) use all of a 32 KiB `buffer.memory`, and a record that needs a third
/// cannot be accepted. `try_send` then fails at once with `BufferExhausted` (waited zero);
/// `send` waits exactly `max.block.ms` (500 ms) and fails the same way, having sent nothing; a
/// `send` still waiting when the broker is released gets the memory back and is accepted.
/// Every accepted record is delivered, in order.
async fn full_buffer_memory_blocks_send_up_to_max_block(target: &dyn Target) -> TestResult {
    let Some(mock) = kafkit_mock(
        target,
        "full_buffer_memory_blocks_send_up_to_max_block",
        "a broker that holds requests (faults)",
    ) else {
        return Ok(());
    };
    let topic = target.create_unique_topic("buffer", 1).await?;
    let hold = mock.fault(Fault::on(ApiKey::Produce).topic(topic.clone()).hold().always());
    let producer = producer(
        target,
        &[
            ("buffer.memory", "32768"),
            ("batch.size", "16384"),
            ("max.block.ms", "500"),
            ("linger.ms", "0"),
        ],
    )
    .await?;
    let first = producer.send(big(&topic, 'a')).await?;
    let second = producer.send(big(&topic, 'b')).await?;
    hold.wait_for_hits(1, WAIT).await?;
    let metrics = producer.metrics();
    assert_eq!((metrics.buffer_used, metrics.buffer_total), (32768, 32768));

    assert_eq!(
        producer.try_send(big(&topic, 'x')).err(),
        Some(Error::BufferExhausted {
            waited: Duration::ZERO
        })
    );
    let start = Instant::now();
    let blocked = producer.send(big(&topic, 'x')).await;
    assert_eq!(
        blocked.err(),
        Some(Error::BufferExhausted {
            waited: Duration::from_millis(500)
        })
    );
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(500),
        "blocked for max.block.ms"
    );

    let waiting = tokio::spawn({
        let producer = producer.clone();
        let record = big(&topic, 'c');
        async move { producer.send(record).await }
    });
    // Virtual time: the send is 100 ms into its 500 ms wait for memory.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "still waiting for memory");
    hold.release();
    let third = waiting.await??;
    let offsets = [first.await?.offset, second.await?.offset, third.await?.offset];
    assert_eq!(offsets, [0, 1, 2]);
    let tags: Vec<Option<char>> = stored(target, &topic)
        .await?
        .iter()
        .map(|v| v.chars().next().filter(|_| v.len() == 12_000))
        .collect();
    assert_eq!(tags, [Some('a'), Some('b'), Some('c')]);
    producer.close(Duration::from_secs(10)).await;
    Ok(())
}

/// A send that waits for memory makes every batch ready (Java's `exhausted` rule), and the
/// sender must learn of it at once: with `linger.ms` at a minute, two lingering batches on two
/// partitions hold all of `buffer.memory`, and a record for a third partition (which has no
/// batch whose fullness would wake the sender) waits. The sender is woken,
/// sends both batches, the broker answers, the memory comes back, and the record is accepted
/// long before `max.block.ms` (1 s); nothing waits for the linger.
async fn a_send_waiting_for_memory_wakes_a_lingering_sender(target: &dyn Target) -> TestResult {
    let Some(mock) = kafkit_mock(
        target,
        "a_send_waiting_for_memory_wakes_a_lingering_sender",
        "the journal",
    ) else {
        return Ok(());
    };
    let topic = target.create_unique_topic("wake", 3).await?;
    let producer = producer(
        target,
        &[
            ("buffer.memory", "32768"),
            ("batch.size", "16384"),
            ("max.block.ms", "1000"),
            ("linger.ms", "60000"),
        ],
    )
    .await?;
    let to = |partition: i32, tag: char| {
        ProducerRecord::builder(topic.clone())
            .partition(partition)
            .value(tag.to_string().repeat(12_000))
            .build()
    };
    let first = producer.send(to(0, 'a')).await?;
    let second = producer.send(to(1, 'b')).await?;
    // The sender has seen both batches and sleeps until their linger ends.
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(producer.metrics().buffer_used, 32768);
    assert_eq!(mock.journal().count(ApiKey::Produce), 0, "both batches linger");
    let start = Instant::now();
    let third = producer.send(to(2, 'c')).await?;
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "accepted once the lingering batches went, not after max.block.ms: {:?}",
        start.elapsed()
    );
    assert_eq!((first.await?.offset, second.await?.offset), (0, 0));
    producer.flush().await;
    assert_eq!(third.await?.offset, 0);
    producer.close(Duration::from_secs(10)).await;
    Ok(())
}

/// `delivery.timeout.ms` bounds the time from `send` to the outcome, retries included: the
/// broker holds every Produce, the request times out after `request.timeout.ms` (1 s) and is
/// retried, and at 1.5 s the record fails with `Timeout`. It was in flight when it expired, so
/// the error says it may have been written; and once released, the broker does store it (once:
/// the retry carried the same producer id and sequence).
async fn delivery_timeout_expires_a_record_in_flight(target: &dyn Target) -> TestResult {
    let Some(mock) = kafkit_mock(
        target,
        "delivery_timeout_expires_a_record_in_flight",
        "a broker that holds requests (faults)",
    ) else {
        return Ok(());
    };
    let topic = target.create_unique_topic("expire-in-flight", 1).await?;
    let hold = mock.fault(Fault::on(ApiKey::Produce).topic(topic.clone()).hold().always());
    let producer = producer(
        target,
        &[
            ("request.timeout.ms", "1000"),
            ("delivery.timeout.ms", "1500"),
            ("linger.ms", "0"),
        ],
    )
    .await?;
    let start = Instant::now();
    let outcome = producer.send(record(&topic, "maybe")).await?.await;
    assert_eq!(
        outcome.err(),
        Some(Error::Timeout {
            topic: topic.clone(),
            partition: 0,
            elapsed: Duration::from_millis(1500),
            may_have_been_persisted: true,
        })
    );
    assert_eq!(start.elapsed(), Duration::from_millis(1500));
    assert_eq!(
        hold.hits(),
        2,
        "the request and its retry after request.timeout.ms"
    );

    hold.release();
    mock.wait_until(all_answered, WAIT).await?;
    assert_eq!(stored(target, &topic).await?, ["maybe"], "written, once");
    producer.close(Duration::from_secs(10)).await;
    Ok(())
}

/// A record that never left the producer (its partition's leader is down, so no connection)
/// fails with `Timeout` after `delivery.timeout.ms`, and the error says it was not written: a
/// resend cannot duplicate it. No Produce request reached any broker; once the leader is back,
/// the next record is the partition's first.
async fn delivery_timeout_expires_an_unsent_record(target: &dyn Target) -> TestResult {
    let Some(mock) = kafkit_mock(
        target,
        "delivery_timeout_expires_an_unsent_record",
        "a broker taken down (cluster events)",
    ) else {
        return Ok(());
    };
    if mock.brokers() < 2 {
        eprintln!(
            "skipped: delivery_timeout_expires_an_unsent_record: needs two brokers, the target has one"
        );
        return Ok(());
    }
    let topic = target.create_unique_topic("expire-unsent", 1).await?;
    mock.move_leader(&topic, 0, 1)?;
    mock.set_broker_down(1)?;
    let only_broker_0 = mock.addrs()[0].to_string();
    let producer = producer(
        target,
        &[
            ("bootstrap.servers", &only_broker_0),
            ("request.timeout.ms", "1000"),
            ("delivery.timeout.ms", "1500"),
            ("linger.ms", "0"),
        ],
    )
    .await?;
    let outcome = producer.send(record(&topic, "never sent")).await?.await;
    assert_eq!(
        outcome.err(),
        Some(Error::Timeout {
            topic: topic.clone(),
            partition: 0,
            elapsed: Duration::from_millis(1500),
            may_have_been_persisted: false,
        })
    );
    assert_eq!(mock.journal().count(ApiKey::Produce), 0, "nothing was sent");

    mock.set_broker_up(1)?;
    let next = producer.send(record(&topic, "after")).await?.await?;
    assert_eq!(next.offset, 0);
    assert_eq!(stored(target, &topic).await?, ["after"]);
    producer.close(Duration::from_secs(10)).await;
    Ok(())
}

/// `flush` waits for the records sent before it and no others: with the broker holding the
/// first request, a flush started then returns as soon as that request is released, while a
/// record sent during the flush is still unanswered. `close(timeout)` then waits the timeout
/// (200 ms) for what is left and fails it with `Closed`: the record in flight "may have been
/// written" (and once released, the broker does write it), the one still queued behind it (one
/// request in flight per connection) "was not sent".
async fn flush_and_close_with_requests_held(target: &dyn Target) -> TestResult {
    let Some(mock) = kafkit_mock(
        target,
        "flush_and_close_with_requests_held",
        "a broker that holds requests (faults)",
    ) else {
        return Ok(());
    };
    let topic = target.create_unique_topic("flush-held", 1).await?;
    let first_hold = mock.fault(Fault::on(ApiKey::Produce).topic(topic.clone()).hold());
    let later_holds = mock.fault(
        Fault::on(ApiKey::Produce)
            .topic(topic.clone())
            .after_requests(1)
            .hold()
            .always(),
    );
    let producer = producer(
        target,
        &[("linger.ms", "0"), ("max.in.flight.requests.per.connection", "1")],
    )
    .await?;

    let a = producer.send(record(&topic, "a")).await?;
    first_hold.wait_for_hits(1, WAIT).await?;
    // Polled once: the flush has begun (it notes which records it covers on its first poll)
    // and is waiting on the held request.
    let mut flush = Box::pin(producer.flush());
    tokio::select! {
        biased;
        () = &mut flush => panic!("flush returned while the first request is held"),
        () = std::future::ready(()) => {}
    }
    let b = producer.send(record(&topic, "b")).await?;
    first_hold.release();
    flush.await;
    assert_eq!(offset(a.try_result()), Some(0), "flushed");
    assert!(
        b.try_result().is_none(),
        "sent after the flush began: not waited for"
    );

    later_holds.wait_for_hits(1, WAIT).await?;
    let c = producer.send(record(&topic, "c")).await?;
    let start = Instant::now();
    producer.close(Duration::from_millis(200)).await;
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    assert_eq!(
        b.await.err(),
        Some(Error::Closed {
            may_have_been_persisted: true
        })
    );
    assert_eq!(
        c.await.err(),
        Some(Error::Closed {
            may_have_been_persisted: false
        })
    );
    assert_eq!(mock.journal().count(ApiKey::Produce), 2, "c never left");
    later_holds.release();
    mock.wait_until(all_answered, WAIT).await?;
    assert_eq!(
        stored(target, &topic).await?,
        ["a", "b"],
        "b was written after all"
    );
    Ok(())
}

/// One paused-clock test per scenario, on a kafkit mock with the given number of brokers.
macro_rules! on_kafkit_mock {
    ($($name:ident: $brokers:expr),* $(,)?) => {
        $(
            #[tokio::test(start_paused = true)]
            async fn $name() -> TestResult {
                let cluster = MockCluster::builder().brokers($brokers).start().await?;
                super::$name(&cluster).await
            }
        )*
    };
}

mod on_kafkit_mock {
    use super::*;

    on_kafkit_mock!(
        full_buffer_memory_blocks_send_up_to_max_block: 1,
        a_send_waiting_for_memory_wakes_a_lingering_sender: 1,
        delivery_timeout_expires_a_record_in_flight: 1,
        delivery_timeout_expires_an_unsent_record: 2,
        flush_and_close_with_requests_held: 1,
    );
}
