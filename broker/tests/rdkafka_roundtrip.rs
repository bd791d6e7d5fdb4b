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
                // The consumers' group lookups created __consumer_offsets too.
                files += usize::from(name.contains("/roundtrip-"));
            }
        }
    }
    assert_eq!(
        files,
        5 * PARTITIONS as usize * 3,
        "one segment (log + 2 indexes) per partition"
    );
}

/// librdkafka's AdminClient grows a topic with CreatePartitions (an error for a count that is
/// not larger, as in Kafka); its producer then writes to a new partition, its metadata lists
/// all of them, and the records of the new partition read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_admin_creates_partitions() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::producer::Producer as _;
    use rdkafka::types::RDKafkaErrorCode;

    let cluster = Cluster::start(ClusterConfig {
        brokers: 2,
        ..Default::default()
    })
    .await
    .expect("cluster");
    let bootstrap = cluster.bootstrap_servers();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("admin");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let created = admin
        .create_topics(&[NewTopic::new("grow", 2, TopicReplication::Fixed(1))], &options)
        .await
        .expect("create topics");
    assert!(created[0].is_ok(), "{created:?}");

    let grown = admin
        .create_partitions(&[NewPartitions::new("grow", 5)], &options)
        .await
        .expect("create partitions");
    assert_eq!(grown, vec![Ok("grow".to_string())]);
    let again = admin
        .create_partitions(&[NewPartitions::new("grow", 5)], &options)
        .await
        .expect("create partitions");
    assert!(
        matches!(&again[0], Err((t, RDKafkaErrorCode::InvalidPartitions)) if t == "grow"),
        "{again:?}"
    );
    let unknown = admin
        .create_partitions(&[NewPartitions::new("missing", 3)], &options)
        .await
        .expect("create partitions");
    assert!(
        matches!(&unknown[0], Err((_, RDKafkaErrorCode::UnknownTopicOrPartition))),
        "{unknown:?}"
    );

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("message.timeout.ms", "20000")
        .create()
        .expect("producer");
    let metadata = producer
        .client()
        .fetch_metadata(Some("grow"), Duration::from_secs(10))
        .expect("metadata");
    let partitions: Vec<(i32, i32)> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| (p.id(), p.leader()))
        .collect();
    assert_eq!(
        partitions,
        [(0, 0), (1, 1), (2, 0), (3, 1), (4, 0)],
        "leaders spread"
    );
    for i in 0..3 {
        let value = format!("new-{i}");
        let delivery = producer
            .send(
                FutureRecord::<(), _>::to("grow").partition(4).payload(&value),
                Duration::from_secs(10),
            )
            .await
            .expect("delivered");
        let (partition, offset) = (delivery.partition, delivery.offset);
        assert_eq!((partition, offset), (4, i64::from(i)));
    }
    let b = bootstrap.clone();
    let values = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &b)
            .set("group.id", "kafkit-grow")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset("grow", 4, Offset::Beginning)
            .expect("assign");
        consumer.assign(&assignment).expect("assign");
        let mut values = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while values.len() < 3 && std::time::Instant::now() < deadline {
            if let Some(m) = consumer.poll(Duration::from_millis(200)) {
                let m = m.expect("consume");
                values.push(String::from_utf8(m.payload().expect("value").to_vec()).expect("utf-8"));
            }
        }
        values
    })
    .await
    .expect("consumer task");
    assert_eq!(values, ["new-0", "new-1", "new-2"]);
    cluster.shutdown().await.expect("clean shutdown");
}
