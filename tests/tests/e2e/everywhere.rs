//! Scenarios that need nothing but produce and read back: they run on every target.

use std::time::Duration;

use kafkit_producer::partitioner::{partition_for_key, StickyPartitioner};
use kafkit_producer::{DeliveryFuture, Error, ProducerRecord};
use kafkit_protocol::record::BATCH_HEADER_LEN;
use kafkit_protocol::RecordBatchBuilder;
use kafkit_testkit::in_memory::PARTITIONER_SEED;
use kafkit_testkit::{StoredRecord, Target, TargetKind};
use rstest::rstest;

use crate::librdkafka::LibrdkafkaMock;
use crate::{producer, target, TestResult};

/// Keyed records land on Java's partitions: murmur2 of the key, masked, modulo all partitions.
pub(crate) async fn keyed_records_land_on_javas_partitions(target: &dyn Target) -> TestResult {
    let topic = target.create_unique_topic("keyed", 12).await?;
    let producer = producer(target, &[]).await?;
    let keys = [
        "21",
        "foobar",
        "a-little-bit-long-string",
        "a-little-bit-longer-string",
        "abc",
        "",
    ];
    for key in keys {
        let record = ProducerRecord::builder(topic.clone())
            .key(key.as_bytes().to_vec())
            .value("v")
            .build();
        let sent = producer.send(record).await?.await?;
        assert_eq!(
            sent.partition,
            partition_for_key(key.as_bytes(), 12),
            "key {key:?}"
        );
        let stored = target.read_partition(&topic, sent.partition).await?;
        assert!(
            stored.iter().any(|r| r.key.as_deref() == Some(key.as_bytes())),
            "key {key:?} stored"
        );
    }
    producer.close(Duration::from_secs(10)).await;
    Ok(())
}

/// Offsets run from 0 without gaps in every partition, and each record keeps its timestamp.
pub(crate) async fn offsets_are_contiguous_with_timestamps(target: &dyn Target) -> TestResult {
    let topic = target.create_unique_topic("offsets", 3).await?;
    let producer = producer(target, &[("linger.ms", "2")]).await?;
    let mut deliveries = Vec::new();
    for i in 0..300i64 {
        let record = ProducerRecord::builder(topic.clone())
            .partition((i % 3) as i32)
            .value(format!("{i}"))
            .timestamp(1_700_000_000_000 + i)
            .build();
        deliveries.push(producer.send(record).await?);
    }
    for d in deliveries {
        d.await?;
    }
    for p in 0..3 {
        let stored = target.read_partition(&topic, p).await?;
        let offsets: Vec<i64> = stored.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, (0..100).collect::<Vec<_>>(), "partition {p}");
        for r in &stored {
            let i: i64 = r.value_str().expect("value").parse()?;
            assert_eq!((i % 3, r.timestamp), (i64::from(p), 1_700_000_000_000 + i));
        }
    }
    producer.close(Duration::from_secs(10)).await;
    Ok(())
}

/// Every codec stores records that read back unchanged.
pub(crate) async fn every_codec_round_trips(target: &dyn Target) -> TestResult {
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = target.create_unique_topic(codec, 1).await?;
        let producer = producer(target, &[("compression.type", codec)]).await?;
        for i in 0..50 {
            let record = ProducerRecord::builder(topic.clone())
                .value(format!("{codec}-{i}-{}", "x".repeat(i)))
                .build();
            producer.send(record).await?.await?;
        }
        let stored = target.read_partition(&topic, 0).await?;
        assert_eq!(stored.len(), 50, "{codec}");
        assert_eq!(
            stored[49].value_str(),
            Some(format!("{codec}-49-{}", "x".repeat(49)).as_str())
        );
        assert_eq!(stored[0].compression.name(), codec);
        producer.close(Duration::from_secs(10)).await;
    }
    Ok(())
}

/// Null and empty keys and values stay distinct; repeated header keys keep their order.
pub(crate) async fn nulls_empties_and_headers_survive(target: &dyn Target) -> TestResult {
    let topic = target.create_unique_topic("nulls", 1).await?;
    let producer = producer(target, &[]).await?;
    let records = [
        ProducerRecord::builder(topic.clone()).partition(0).build(),
        ProducerRecord::builder(topic.clone())
            .partition(0)
            .key(Vec::new())
            .value(Vec::new())
            .build(),
        ProducerRecord::builder(topic.clone())
            .partition(0)
            .value("h")
            .header("trace", Some("1"))
            .header("trace", None::<Vec<u8>>)
            .header("other", Some(""))
            .build(),
    ];
    for record in records {
        producer.send(record).await?.await?;
    }
    let stored = target.read_partition(&topic, 0).await?;
    assert_eq!(
        (stored[0].key.as_deref(), stored[0].value.as_deref()),
        (None, None)
    );
    assert_eq!(
        (stored[1].key.as_deref(), stored[1].value.as_deref()),
        (Some(&b""[..]), Some(&b""[..]))
    );
    let headers: Vec<(&str, Option<&[u8]>)> = stored[2]
        .headers
        .iter()
        .map(|h| (h.key.as_str(), h.value.as_deref()))
        .collect();
    assert_eq!(
        headers,
        [
            ("trace", Some(&b"1"[..])),
            ("trace", None),
            ("other", Some(&b""[..]))
        ]
    );
    producer.close(Duration::from_secs(10)).await;
    Ok(())
}

/// A record larger than batch.size gets a batch of its own and is stored whole.
pub(crate) async fn records_larger_than_batch_size(target: &dyn Target) -> TestResult {
    let topic = target.create_unique_topic("large", 1).await?;
    let producer = producer(target, &[("batch.size", "1024")]).await?;
    let big = vec![7u8; 100_000];
    producer
        .send(ProducerRecord::builder(topic.clone()).value(big.clone()).build())
        .await?
        .await?;
    producer
        .send(ProducerRecord::builder(topic.clone()).value("small").build())
        .await?
        .await?;
    let stored = target.read_partition(&topic, 0).await?;
    assert_eq!(stored[0].value.as_deref(), Some(&big[..]));
    assert_ne!(stored[0].batch_base_offset, stored[1].batch_base_offset);
    producer.close(Duration::from_secs(10)).await;
    Ok(())
}

/// acks 0, 1 and all each store every record (acks=0 reports offset -1, as Java does).
pub(crate) async fn every_acks_setting_stores(target: &dyn Target) -> TestResult {
    for (acks, idempotence) in [("0", "false"), ("1", "false"), ("all", "true")] {
        let topic = target.create_unique_topic("acks", 1).await?;
        let producer = producer(target, &[("acks", acks), ("enable.idempotence", idempotence)]).await?;
        let mut last = None;
        for i in 0..20 {
            last = Some(
                producer
                    .send(ProducerRecord::new(topic.clone(), format!("{i}")))
                    .await?
                    .await?,
            );
        }
        producer.flush().await;
        let expected_offset = if acks == "0" { -1 } else { 19 };
        assert_eq!(last.map(|m| m.offset), Some(expected_offset), "acks={acks}");
        // acks=0 completes on write, before the broker has appended: wait (bounded) for it.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut stored = target.read_partition(&topic, 0).await?;
        while stored.len() < 20 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            stored = target.read_partition(&topic, 0).await?;
        }
        assert_eq!(stored.len(), 20, "acks={acks}");
        producer.close(Duration::from_secs(10)).await;
    }
    Ok(())
}

/// Where Java's producer puts each of `records` keyless records of `record_bytes` bytes (one
/// timestamp, offset deltas below 64) on a topic of `partitions`, following KIP-794 as
/// `RecordAccumulator` and `BuiltInPartitioner` apply it, with the draws of a sticky
/// partitioner seeded as `producer_config()` seeds it. Returns `(partition, batch)` per record,
/// batches numbered in the order they open.
///
/// - A record joins its partition's last batch if its exact size still fits in `batch.size`,
///   else opens a batch; the bytes it adds count the batch header when it opens one.
/// - The batch is full once its size reaches `batch.size`.
/// - After each record: switch (draw again) once `batch.size` bytes went to the partition and
///   its last batch is full, or unconditionally at twice `batch.size`.
fn kip_794(
    topic: &str,
    partitions: i32,
    batch_size: usize,
    record_bytes: usize,
    records: usize,
) -> Vec<(i32, usize)> {
    let mut draws = StickyPartitioner::new(batch_size, Some(PARTITIONER_SEED));
    let all: Vec<i32> = (0..partitions).collect();
    // Per partition: the open batch's number and size.
    let mut open: Vec<Option<(usize, usize)>> = vec![None; all.len()];
    let (mut batches, mut produced) = (0, 0);
    let mut placed = Vec::new();
    for _ in 0..records {
        let p = draws.partition(topic, partitions, &all);
        let slot = &mut open[p as usize];
        let (batch, size, appended) = match *slot {
            Some((batch, size)) if size + record_bytes <= batch_size => {
                (batch, size + record_bytes, record_bytes)
            }
            _ => {
                batches += 1;
                (
                    batches - 1,
                    BATCH_HEADER_LEN + record_bytes,
                    BATCH_HEADER_LEN + record_bytes,
                )
            }
        };
        *slot = Some((batch, size));
        placed.push((p, batch));
        produced += appended;
        if (produced >= batch_size && size >= batch_size) || produced >= 2 * batch_size {
            draws.switch(topic, partitions, &all);
            produced = 0;
        }
    }
    placed
}

/// Keyless records follow KIP-794's uniform sticky rule exactly as Java's producer applies it
/// (see [`kip_794`]), on two shapes of traffic, each checked against the model in what every
/// delivery reports and in the batches the target stored:
///
/// - records that fill `batch.size` exactly (8 x 109 bytes + the 61-byte header = 933): the
///   producer switches as each batch fills, so every batch is one stint of 8 records;
/// - records that never fill it (150 bytes, `batch.size` 1000: 6 per batch, 961 bytes): no
///   batch is ever full, so the producer only switches at twice `batch.size` (13 records from
///   a fresh partition: two batches of 6 and the first record of a third, which a later visit
///   to that partition keeps filling).
///
/// What shapes the batches must be the sends alone: a sender that drains while records are
/// still coming takes partly filled batches along with a full one for the same broker (Java's
/// drain does too), which moves the switch points. So the scenario runs on a current-thread
/// runtime, where `send` (metadata known, memory free) completes without yielding and the
/// sender drains nothing before the final flush, and with a long linger; the seeded draws fix
/// the partitions.
pub(crate) async fn keyless_records_follow_the_sticky_rule(target: &dyn Target) -> TestResult {
    const PARTITIONS: i32 = 4;
    const RECORDS: usize = 60;
    for (batch_size, value_bytes, record_bytes) in [(933, 100, 109), (1000, 141, 150)] {
        let value = |i: usize| format!("{i:0>value_bytes$}");
        let size = RecordBatchBuilder::record_size(63, 0, None, Some(value(0).as_bytes()), &[]);
        assert_eq!(size, record_bytes, "record size at any offset delta below 64");
        let topic = target.create_unique_topic("sticky", PARTITIONS).await?;
        let producer = producer(
            target,
            &[("batch.size", &batch_size.to_string()), ("linger.ms", "10000")],
        )
        .await?;
        let timestamp = now_ms();
        let mut deliveries = Vec::new();
        for i in 0..RECORDS {
            let record = ProducerRecord::builder(topic.clone())
                .value(value(i))
                .timestamp(timestamp)
                .build();
            deliveries.push(producer.send(record).await?);
        }
        producer.flush().await;
        let mut partitions = Vec::new();
        for d in deliveries {
            partitions.push(d.await?.partition);
        }

        let model = kip_794(&topic, PARTITIONS, batch_size, record_bytes, RECORDS);
        let expected: Vec<i32> = model.iter().map(|&(p, _)| p).collect();
        assert_eq!(
            partitions, expected,
            "batch.size {batch_size}: partition of each record"
        );
        let used: std::collections::BTreeSet<i32> = partitions.iter().copied().collect();
        assert!(used.len() > 1, "the draws spread the stints: {partitions:?}");

        let mut expected_batches: Vec<Vec<usize>> = Vec::new();
        for (i, &(_, batch)) in model.iter().enumerate() {
            expected_batches.resize(expected_batches.len().max(batch + 1), Vec::new());
            expected_batches[batch].push(i);
        }
        if batch_size == 933 {
            let stints: Vec<Vec<usize>> = (0..RECORDS)
                .collect::<Vec<_>>()
                .chunks(8)
                .map(<[usize]>::to_vec)
                .collect();
            assert_eq!(expected_batches, stints, "the model: one full batch per stint");
        }
        let mut stored_batches: Vec<Vec<usize>> = Vec::new();
        for p in 0..PARTITIONS {
            let mut base = None;
            for r in target.read_partition(&topic, p).await? {
                let i: usize = r.value_str().expect("value").parse()?;
                assert_eq!(partitions[i], p, "record {i} stored where it was reported");
                if base != Some(r.batch_base_offset) {
                    stored_batches.push(Vec::new());
                    base = Some(r.batch_base_offset);
                }
                stored_batches.last_mut().expect("a batch").push(i);
            }
        }
        stored_batches.sort();
        assert_eq!(
            stored_batches, expected_batches,
            "batch.size {batch_size}: stored batches"
        );
        producer.close(Duration::from_secs(10)).await;
    }
    Ok(())
}

/// A record larger than `max.request.size` fails in `send` with `RecordTooLarge` naming the
/// limit, before anything is sent (Java's `RecordTooLargeException` from
/// `ensureValidRecordSize`); a record exactly at the limit is accepted. The limit applies to the
/// record's upper-bound size in a batch of its own: batch header plus the record with
/// worst-case varints.
pub(crate) async fn record_over_max_request_size_fails_before_sending(target: &dyn Target) -> TestResult {
    let topic = target.create_unique_topic("max-request", 1).await?;
    let at_limit = vec![b'a'; 5000];
    let limit = BATCH_HEADER_LEN + RecordBatchBuilder::record_size_upper_bound(None, Some(&at_limit), &[]);
    let producer = producer(target, &[("max.request.size", &limit.to_string())]).await?;

    let over = vec![b'b'; 5001];
    let refused = producer
        .send(ProducerRecord::builder(topic.clone()).value(over).build())
        .await;
    assert_eq!(
        refused.err(),
        Some(Error::RecordTooLarge {
            size: limit + 1,
            limit,
            limit_key: "max.request.size",
        })
    );
    let refused_now = producer.try_send(
        ProducerRecord::builder(topic.clone())
            .value(vec![b'c'; 6000])
            .build(),
    );
    assert!(
        matches!(
            refused_now,
            Err(Error::RecordTooLarge {
                limit_key: "max.request.size",
                ..
            })
        ),
        "{refused_now:?}"
    );
    let sent = producer
        .send(
            ProducerRecord::builder(topic.clone())
                .value(at_limit.clone())
                .build(),
        )
        .await?
        .await?;
    assert_eq!(sent.offset, 0, "nothing was stored before it");
    let stored = target.read_partition(&topic, 0).await?;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].value.as_deref(), Some(&at_limit[..]));
    producer.close(Duration::from_secs(10)).await;
    Ok(())
}

/// `flush` waits for exactly the records sent before it: afterwards each of them is
/// acknowledged, while records sent after it keep lingering (`linger.ms` of a minute) and are
/// not in the log. `close` sends what lingers and returns once it is acknowledged; later sends
/// fail with `Closed` (nothing sent).
pub(crate) async fn flush_covers_earlier_records_and_close_drains(target: &dyn Target) -> TestResult {
    let topic = target.create_unique_topic("flush", 1).await?;
    let producer = producer(target, &[("linger.ms", "60000")]).await?;
    let send_five = |from: usize| {
        let producer = producer.clone();
        let topic = topic.clone();
        async move {
            let mut deliveries = Vec::new();
            for i in from..from + 5 {
                deliveries.push(
                    producer
                        .send(ProducerRecord::new(topic.clone(), format!("{i}")))
                        .await?,
                );
            }
            Ok::<_, Error>(deliveries)
        }
    };
    let offsets = |deliveries: &[DeliveryFuture]| -> Vec<Option<i64>> {
        deliveries
            .iter()
            .map(|d| d.try_result().and_then(Result::ok).map(|m| m.offset))
            .collect()
    };

    let before = send_five(0).await?;
    assert_eq!(offsets(&before), [None; 5], "lingering before the flush");
    producer.flush().await;
    assert_eq!(offsets(&before), (0..5).map(Some).collect::<Vec<_>>());

    let after = send_five(5).await?;
    assert_eq!(
        offsets(&after),
        [None; 5],
        "a flush that returned does not cover them"
    );
    let stored = target.read_partition(&topic, 0).await?;
    assert_eq!(values(&stored), ["0", "1", "2", "3", "4"]);

    producer.close(Duration::from_secs(10)).await;
    assert_eq!(
        offsets(&after),
        (5..10).map(Some).collect::<Vec<_>>(),
        "close drained them"
    );
    let stored = target.read_partition(&topic, 0).await?;
    assert_eq!(
        values(&stored),
        ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
    );
    let late = producer.send(ProducerRecord::new(topic.clone(), "late")).await;
    assert_eq!(
        late.err(),
        Some(Error::Closed {
            may_have_been_persisted: false
        })
    );
    Ok(())
}

/// The values of `records`, as text.
fn values(records: &[StoredRecord]) -> Vec<&str> {
    records
        .iter()
        .map(|r| r.value_str().unwrap_or("<not text>"))
        .collect()
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Where a scenario of [`on_every_target!`] runs: kafkit's mock, librdkafka's mock cluster and
/// `KAFKIT_BOOTSTRAP`. Apache Kafka runs the same scenarios in one test of their own
/// ([`crate::on_kafka`]), which counts and reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// kafkit's in-process MockCluster, one broker (always).
    Kafkit,
    /// librdkafka's mock cluster, one broker, through the `rdkafka` crate (always).
    Librdkafka,
    /// The cluster `KAFKIT_BOOTSTRAP` names (skipped, with the reason printed, when unset).
    External,
}

impl On {
    /// Starts the target, or prints why it is skipped and returns `None`.
    pub async fn start(self) -> Result<Option<Box<dyn Target>>, Box<dyn std::error::Error>> {
        match self {
            On::Kafkit => target(TargetKind::Mock).await,
            On::Librdkafka => Ok(Some(Box::new(LibrdkafkaMock::start().await?))),
            On::External => target(TargetKind::External).await,
        }
    }
}

/// One test per scenario and target: `on_every::<scenario>::on_<n>_On__<target>`. Scenarios
/// listed after `current_thread:` run on a current-thread runtime, where the producer's sender
/// task runs only when the scenario awaits something pending (see
/// [`keyless_records_follow_the_sticky_rule`]); the others on two worker threads.
macro_rules! on_every_target {
    (@test $name:ident, $($flavor:tt)*) => {
        #[rstest]
        #[tokio::test($($flavor)*)]
        async fn $name(
            #[values(On::Kafkit, On::Librdkafka, On::External)] on: On,
        ) -> TestResult {
            match on.start().await? {
                Some(t) => super::$name(&*t).await,
                None => Ok(()), // unavailable here; the reason was printed
            }
        }
    };
    ($($name:ident),* $(,)? ; current_thread: $($sequential:ident),* $(,)?) => {
        $( on_every_target!(@test $name, flavor = "multi_thread", worker_threads = 2); )*
        $( on_every_target!(@test $sequential, flavor = "current_thread"); )*
    };
}

mod on_every {
    use super::*;

    on_every_target!(
        keyed_records_land_on_javas_partitions,
        offsets_are_contiguous_with_timestamps,
        every_codec_round_trips,
        nulls_empties_and_headers_survive,
        records_larger_than_batch_size,
        every_acks_setting_stores,
        record_over_max_request_size_fails_before_sending,
        flush_covers_earlier_records_and_close_drains;
        current_thread: keyless_records_follow_the_sticky_rule,
    );
}
