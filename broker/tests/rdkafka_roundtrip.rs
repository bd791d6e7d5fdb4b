//! librdkafka (the `rdkafka` crate, built from its bundled sources) against kafkit's broker: a
//! client nobody here wrote produces with every codec and with idempotence on, then consumes
//! everything back, and the stored files pass `dump-log`.

use std::collections::BTreeMap;
use std::time::Duration;

use kafkit_broker::{Cluster, ClusterConfig};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const RECORDS: usize = 300;
const PARTITIONS: i32 = 3;
const BASE_TS: i64 = 1_700_000_000_000;

/// What was acknowledged for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    key: Vec<u8>,
    value: Vec<u8>,
    header: Vec<u8>,
    timestamp: i64,
}

async fn produce_all(bootstrap: &str, topic: &str, codec: &str) -> BTreeMap<(i32, i64), Stored> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("compression.type", codec)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "20000")
        .create()
        .expect("producer");
    let mut sends = Vec::new();
    for i in 0..RECORDS {
        let key = format!("key-{i}");
        let value = format!("value-{i}-{}", "x".repeat(i % 50));
        let header = format!("h{i}");
        let timestamp = BASE_TS + i as i64;
        let record = FutureRecord::to(topic)
            .partition(i as i32 % PARTITIONS)
            .key(&key)
            .payload(&value)
            .timestamp(timestamp)
            .headers(OwnedHeaders::new().insert(Header {
                key: "trace",
                value: Some(&header),
            }));
        let delivery = producer.send_result(record).expect("enqueue");
        sends.push((
            delivery,
            Stored {
                key: key.into_bytes(),
                value: value.into_bytes(),
                header: header.into_bytes(),
                timestamp,
            },
        ));
    }
    let mut stored = BTreeMap::new();
    for (delivery, record) in sends {
        let d = delivery.await.expect("delivery future").expect("delivered");
        let (partition, offset) = (d.partition, d.offset);
        assert!(
            stored.insert((partition, offset), record).is_none(),
            "two records at {partition}/{offset}"
        );
    }
    stored
}

fn consume_all(bootstrap: &str, topic: &str, expected: usize) -> BTreeMap<(i32, i64), Stored> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "kafkit-roundtrip")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .expect("assign");
    }
    consumer.assign(&assignment).expect("assign");
    let mut read = BTreeMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while read.len() < expected && std::time::Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = message.expect("consume");
        let header = m
            .headers()
            .and_then(|h| h.get_as::<[u8]>(0).ok())
            .and_then(|h| h.value.map(<[u8]>::to_vec));
        let stored = Stored {
            key: m.key().expect("key").to_vec(),
            value: m.payload().expect("value").to_vec(),
            header: header.expect("header"),
            timestamp: m.timestamp().to_millis().expect("timestamp"),
        };
        read.insert((m.partition(), m.offset()), stored);
    }
    read
}

/// Every codec, idempotence on: librdkafka's producer stores exactly what its consumer reads back,
/// at contiguous offsets from 0 in each partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_round_trips_every_codec() {
    let dir = tempfile::tempdir().expect("data dir");
    let config = ClusterConfig {
        num_partitions: PARTITIONS,
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let cluster = Cluster::start(config).await.expect("cluster");
    let bootstrap = cluster.bootstrap_servers();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("roundtrip-{codec}");
        let produced = produce_all(&bootstrap, &topic, codec).await;
        assert_eq!(produced.len(), RECORDS);
        for p in 0..PARTITIONS {
            let offsets: Vec<i64> = produced
                .keys()
                .filter(|(part, _)| *part == p)
                .map(|(_, o)| *o)
                .collect();
            assert_eq!(
                offsets,
                (0..offsets.len() as i64).collect::<Vec<_>>(),
                "{codec}: partition {p} offsets"
            );
        }
        let b = bootstrap.clone();
        let t = topic.clone();
        let consumed = tokio::task::spawn_blocking(move || consume_all(&b, &t, RECORDS))
            .await
            .expect("consumer task");
        assert_eq!(
            consumed, produced,
            "{codec}: consumed records differ from acknowledged ones"
        );
    }
    cluster.shutdown().await.expect("clean shutdown");
    let mut files = 0;
    for partition_dir in std::fs::read_dir(dir.path()).expect("data dir") {
        let partition_dir = partition_dir.expect("entry").path();
        if !partition_dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&partition_dir).expect("partition dir") {
            let file = file.expect("entry").path();
            let name = file.to_string_lossy().to_string();
            if name.ends_with(".log") || name.ends_with(".index") || name.ends_with(".timeindex") {
                let report = kafkit_broker::dump_log::dump_file(&file, true).expect("readable");
                assert!(report.problems.is_empty(), "{name}: {:?}", report.problems);
                files += 1;
            }
        }
    }
    assert_eq!(
        files,
        5 * PARTITIONS as usize * 3,
        "one segment (log + 2 indexes) per partition"
    );
}
