//! Scenarios that need nothing but produce and read back: they run on every target.

use std::time::Duration;

use kafkit_producer::partitioner::partition_for_key;
use kafkit_producer::ProducerRecord;
use kafkit_testkit::{Target, TargetKind};
use rstest::rstest;

use crate::librdkafka::LibrdkafkaMock;
use crate::{producer, target, TestResult};

/// Keyed records land on Java's partitions: murmur2 of the key, masked, modulo all partitions.
async fn keyed_records_land_on_javas_partitions(target: &dyn Target) -> TestResult {
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
async fn offsets_are_contiguous_with_timestamps(target: &dyn Target) -> TestResult {
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
async fn every_codec_round_trips(target: &dyn Target) -> TestResult {
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
async fn nulls_empties_and_headers_survive(target: &dyn Target) -> TestResult {
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
async fn records_larger_than_batch_size(target: &dyn Target) -> TestResult {
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
async fn every_acks_setting_stores(target: &dyn Target) -> TestResult {
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

/// Where a scenario of [`on_every_target!`] runs: the test kit's three targets and librdkafka's
/// mock cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// kafkit's in-process MockCluster, one broker (always).
    Kafkit,
    /// librdkafka's mock cluster, one broker, through the `rdkafka` crate (always).
    Librdkafka,
    /// The cluster `KAFKIT_BOOTSTRAP` names (skipped, with the reason printed, when unset).
    External,
    /// Apache Kafka in Docker (skipped, with the reason printed, without the testkit's
    /// `testcontainers` feature or a reachable Docker daemon).
    Kafka,
}

impl On {
    /// Starts the target, or prints why it is skipped and returns `None`.
    pub async fn start(self) -> Result<Option<Box<dyn Target>>, Box<dyn std::error::Error>> {
        match self {
            On::Kafkit => target(TargetKind::Mock).await,
            On::Librdkafka => Ok(Some(Box::new(LibrdkafkaMock::start().await?))),
            On::External => target(TargetKind::External).await,
            On::Kafka => target(TargetKind::Kafka).await,
        }
    }
}

/// One test per scenario and target: `on_every::<scenario>::on_<n>_On__<target>`.
macro_rules! on_every_target {
    ($($name:ident),* $(,)?) => {
        $(
            #[rstest]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name(
                #[values(On::Kafkit, On::Librdkafka, On::External, On::Kafka)] on: On,
            ) -> TestResult {
                match on.start().await? {
                    Some(t) => super::$name(&*t).await,
                    None => Ok(()), // unavailable here; the reason was printed
                }
            }
        )*
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
    );
}
