//! A client nobody here wrote against kafkit's broker: librdkafka (the `rdkafka` crate)
//! produces with idempotence on and each codec to a [`MockCluster`] over TCP, its consumer reads
//! everything back, and the segment files the broker wrote pass `kafkit-broker dump-log`
//! ([`kafkit_broker::dump_log`]) without a problem.
//!
//! The broker crate's own `rdkafka_roundtrip` test covers the plain round trip on a bare
//! broker; this one adds what the suite can see through the mock: null keys and values, empty
//! values, repeated and null headers, the producer id, sequences and codec of every stored
//! batch, and dump-log's record listing compared with what was produced.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use kafkit_testkit::{MockCluster, RestartMode, TimestampType};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use rstest::rstest;

const PARTITIONS: i32 = 3;
const RECORDS: usize = 240;
const BASE_TIMESTAMP: i64 = 1_700_000_000_000;
/// Bound of every wait (real time: librdkafka runs its own threads and sockets).
const WAIT: Duration = Duration::from_secs(60);

/// One record as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp: i64,
}

/// The `i`-th record: null keys, null and empty values, repeated and null headers now and
/// then, and values repetitive enough that every codec shrinks its batches.
fn record(i: usize) -> Record {
    let mut headers = vec![("trace".to_string(), Some(format!("t{i}").into_bytes()))];
    if i.is_multiple_of(3) {
        headers.push(("trace".to_string(), None));
    }
    if i.is_multiple_of(4) {
        headers.push(("empty".to_string(), Some(Vec::new())));
    }
    Record {
        key: (!i.is_multiple_of(10)).then(|| format!("key-{i}").into_bytes()),
        value: match i % 25 {
            0 => None,
            5 => Some(Vec::new()),
            _ => Some(format!("value-{i}-{}", "kafkit ".repeat(i % 40)).into_bytes()),
        },
        headers,
        timestamp: BASE_TIMESTAMP + i as i64,
    }
}

/// Produces every record with librdkafka (idempotence on, `codec`), partition `i % PARTITIONS`;
/// returns them by the partition and offset librdkafka's delivery reports gave.
async fn produce(bootstrap: &str, topic: &str, codec: &str) -> BTreeMap<(i32, i64), Record> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("compression.type", codec)
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    let mut deliveries = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let r = record(i);
        let headers = r.headers.iter().fold(OwnedHeaders::new(), |h, (key, value)| {
            h.insert(Header {
                key,
                value: value.as_deref(),
            })
        });
        let mut future = FutureRecord::<[u8], [u8]>::to(topic)
            .partition(i as i32 % PARTITIONS)
            .timestamp(r.timestamp)
            .headers(headers);
        if let Some(key) = &r.key {
            future = future.key(key);
        }
        if let Some(value) = &r.value {
            future = future.payload(value);
        }
        let delivery = producer.send_result(future).expect("enqueued");
        deliveries.push((delivery, r));
    }
    let mut produced = BTreeMap::new();
    for (delivery, r) in deliveries {
        let d = tokio::time::timeout(WAIT, delivery)
            .await
            .expect("delivery report in time")
            .expect("not cancelled")
            .expect("delivered");
        assert!(
            produced.insert((d.partition, d.offset), r).is_none(),
            "two records acknowledged at {}-{}",
            d.partition,
            d.offset
        );
    }
    produced
}

/// Reads every partition from the beginning with librdkafka's consumer (manual assignment, no
/// group coordination) until `expected` records arrived or `WAIT` passed.
fn consume(bootstrap: &str, topic: &str, expected: usize) -> BTreeMap<(i32, i64), Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "kafkit-e2e-real-clients")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&assignment).expect("assign");
    let mut read = BTreeMap::new();
    let deadline = std::time::Instant::now() + WAIT;
    while read.len() < expected && std::time::Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = message.expect("consumed");
        assert!(
            matches!(m.timestamp(), rdkafka::Timestamp::CreateTime(_)),
            "{:?}",
            m.timestamp()
        );
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        let r = Record {
            key: m.key().map(<[u8]>::to_vec),
            value: m.payload().map(<[u8]>::to_vec),
            headers,
            timestamp: m.timestamp().to_millis().expect("timestamp"),
        };
        assert!(
            read.insert((m.partition(), m.offset()), r).is_none(),
            "read {}-{} twice",
            m.partition(),
            m.offset()
        );
    }
    read
}

/// Runs `kafkit-broker dump-log --records` on every segment and index file of `topic` under
/// `data_dir`; returns the number of files and, per partition, the offsets dump-log listed.
/// Panics on any problem it reports.
fn dump_log_clean(data_dir: &Path, topic: &str, codec: &str) -> (usize, BTreeMap<i32, Vec<i64>>) {
    let mut files = 0;
    let mut listed = BTreeMap::new();
    for p in 0..PARTITIONS {
        let dir = data_dir.join(format!("{topic}-{p}"));
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .expect("partition directory")
            .map(|e| e.expect("entry").path())
            .filter(|f| {
                f.extension()
                    .is_some_and(|e| e == "log" || e == "index" || e == "timeindex")
            })
            .collect();
        paths.sort();
        for path in paths {
            let report = kafkit_broker::dump_log::dump_file(&path, true).expect("readable");
            assert!(
                report.problems.is_empty(),
                "{}: {:?}\n{}",
                path.display(),
                report.problems,
                report.text
            );
            files += 1;
            if path.extension().is_some_and(|e| e == "log") {
                let batches = report.text.lines().filter(|l| l.starts_with("baseOffset:"));
                for batch in batches {
                    assert!(
                        batch.contains(&format!("compresscodec: {codec}")) && batch.contains("isvalid: true"),
                        "{batch}"
                    );
                }
                let offsets = report
                    .text
                    .lines()
                    .filter_map(|l| l.strip_prefix("| offset: "))
                    .map(|l| {
                        l.split(' ')
                            .next()
                            .and_then(|o| o.parse::<i64>().ok())
                            .expect("offset")
                    });
                listed.entry(p).or_insert_with(Vec::new).extend(offsets);
            }
        }
    }
    (files, listed)
}

/// librdkafka's idempotent producer and its consumer round-trip through kafkit's broker with
/// each codec: the consumer reads exactly the keys (null included), values (null and empty
/// included), headers (repeated and null included) and CreateTime timestamps that were
/// produced, at the offsets the delivery reports gave, contiguous from 0 in every partition.
/// The broker stored them in batches of that codec, under one producer id with sequences equal
/// to the offsets; after a clean stop the files pass dump-log, which lists every offset.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_round_trips_through_kafkit_with_idempotence(
    #[values("none", "gzip", "snappy", "lz4", "zstd")] codec: &str,
) {
    let topic = format!("real-clients-{codec}");
    let cluster = MockCluster::builder()
        .topic(&topic, PARTITIONS)
        .start()
        .await
        .expect("cluster");
    let bootstrap = cluster.bootstrap_servers();

    let produced = produce(&bootstrap, &topic, codec).await;
    assert_eq!(produced.len(), RECORDS);
    let per_partition = RECORDS / PARTITIONS as usize;
    for p in 0..PARTITIONS {
        let offsets: Vec<i64> = produced.keys().filter(|k| k.0 == p).map(|k| k.1).collect();
        assert_eq!(
            offsets,
            (0..per_partition as i64).collect::<Vec<_>>(),
            "partition {p}"
        );
    }
    let (b, t) = (bootstrap.clone(), topic.clone());
    let consumed = tokio::task::spawn_blocking(move || consume(&b, &t, RECORDS))
        .await
        .expect("consumer thread");
    assert_eq!(
        consumed, produced,
        "{codec}: read back differs from what was acknowledged"
    );

    let mut producer_ids = std::collections::BTreeSet::new();
    for p in 0..PARTITIONS {
        for r in cluster.records(&topic, p).expect("records") {
            assert_eq!(r.compression.name(), codec, "{p}@{}", r.offset);
            assert_eq!(r.timestamp_type, TimestampType::CreateTime);
            assert_eq!(r.sequence.map(i64::from), Some(r.offset), "{p}@{}", r.offset);
            producer_ids.insert(r.producer_id.expect("idempotent batch"));
        }
    }
    assert_eq!(producer_ids.len(), 1, "one producer id: {producer_ids:?}");

    // A clean stop closes the segments (indexes trimmed) as a broker shutdown would.
    cluster.restart(RestartMode::Clean).await.expect("restart");
    let (files, listed) = dump_log_clean(cluster.data_dir(), &topic, codec);
    assert_eq!(
        files,
        PARTITIONS as usize * 3,
        "one segment with its two indexes each"
    );
    for p in 0..PARTITIONS {
        assert_eq!(
            listed.get(&p).cloned().unwrap_or_default(),
            (0..per_partition as i64).collect::<Vec<_>>(),
            "dump-log lists partition {p}"
        );
    }
}
