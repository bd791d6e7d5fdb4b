//! Targets: one scenario on the mock cluster, on an external broker reached over TCP (a
//! kafkit broker started here, or whatever `KAFKIT_BOOTSTRAP` names), and on a Kafka
//! container when Docker is reachable.

use bytes::Bytes;
use kafkit_broker::{Cluster, ClusterConfig};
use kafkit_producer::{Compression, DeliveryFuture, ProducerRecord};
use kafkit_testkit::fixtures::{external_target, kafka_target, mock_target};
use kafkit_testkit::{
    ApiKey, Error, ErrorCode, ExternalBroker, MockCluster, RecordHeader, Target, TargetKind,
};
use rstest::rstest;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The scenario every target runs: keyed records with headers and timestamps to one
/// partition of a new topic, read back with every field, in order, once each.
async fn keyed_records_with_headers_come_back_in_order(target: &dyn Target) -> TestResult {
    let topic = target.create_unique_topic("orders", 2).await?;
    let producer = target.producer().await?;
    let mut deliveries: Vec<DeliveryFuture> = Vec::new();
    for i in 0..20_i64 {
        let record = ProducerRecord::builder(topic.clone())
            .partition(1)
            .key(format!("k{i}"))
            .value(format!("v{i}"))
            .header("n", Some(i.to_string()))
            .header("n", None::<Bytes>)
            .timestamp(1_700_000_000_000 + i)
            .build();
        deliveries.push(producer.send(record).await?);
    }
    for (i, delivery) in deliveries.into_iter().enumerate() {
        assert_eq!(delivery.await?.offset, i as i64);
    }

    let stored = target.read_partition(&topic, 1).await?;
    assert_eq!(stored.len(), 20, "on {}", target.name());
    for (i, record) in stored.iter().enumerate() {
        assert_eq!(record.offset, i as i64);
        assert_eq!(record.key_str(), Some(format!("k{i}").as_str()));
        assert_eq!(record.value_str(), Some(format!("v{i}").as_str()));
        assert_eq!(record.timestamp, 1_700_000_000_000 + i as i64);
        assert_eq!(
            record.headers,
            [
                RecordHeader {
                    key: "n".into(),
                    value: Some(Bytes::from(i.to_string()))
                },
                RecordHeader {
                    key: "n".into(),
                    value: None
                },
            ]
        );
        assert_eq!(record.sequence, Some(i as i32), "idempotent by default");
    }
    assert!(target.read_partition(&topic, 0).await?.is_empty());
    if let Some(mock) = target.mock() {
        assert_eq!(mock.records(&topic, 1)?, stored);
    }
    producer.close(std::time::Duration::from_secs(5)).await;
    Ok(())
}

/// The scenario on every target; the ones not available here are skipped with the reason
/// printed.
#[rstest]
#[tokio::test]
async fn scenario_runs_on_every_available_target(
    #[values(TargetKind::Mock, TargetKind::External, TargetKind::Kafka)] kind: TargetKind,
) -> TestResult {
    let Some(target) = kind.start().await? else {
        return Ok(());
    };
    assert_eq!(target.supports_faults(), kind == TargetKind::Mock);
    keyed_records_with_headers_come_back_in_order(&*target).await
}

/// The external-target path for real: a kafkit broker cluster on TCP stands for
/// `KAFKIT_BOOTSTRAP`; topic creation, the producer and the read-back all go over sockets.
#[tokio::test]
async fn external_target_runs_the_scenario_against_a_broker_on_tcp() -> TestResult {
    let cluster = Cluster::start(ClusterConfig {
        brokers: 2,
        ..Default::default()
    })
    .await?;
    let target = TargetKind::External
        .start_with_bootstrap(Some(&cluster.bootstrap_servers()))
        .await?
        .expect("the address stands for KAFKIT_BOOTSTRAP");
    assert!(!target.supports_faults() && !target.supports_inspection() && target.mock().is_none());
    keyed_records_with_headers_come_back_in_order(&*target).await
}

/// What the fetch client reads back equals what the log stores, field for field, over
/// compressed batches, a leader move (two leader epochs) and a leader on the second node.
#[tokio::test]
async fn fetched_records_equal_the_stored_log() -> TestResult {
    let cluster = MockCluster::builder()
        .brokers(2)
        .topic("orders", 1)
        .start()
        .await?;
    let config = cluster.producer_config().compression(Compression::Lz4).build()?;
    let producer = cluster.in_memory_producer(config).await?;
    for round in 0..2 {
        let mut deliveries = Vec::new();
        for i in 0..30 {
            let record = ProducerRecord::builder("orders")
                .key(format!("k{i}"))
                .value(format!("{round}-{i}"))
                .header("h", Some("x"))
                .build();
            deliveries.push(producer.send(record).await?);
        }
        for delivery in deliveries {
            delivery.await?;
        }
        if round == 0 {
            cluster.move_leader("orders", 0, 1)?;
        }
    }
    let external = ExternalBroker::connect(cluster.bootstrap_servers()).await?;

    let fetched = external.read_partition("orders", 0).await?;

    let stored = cluster.records("orders", 0)?;
    assert_eq!(fetched.len(), 60);
    assert_eq!(fetched, stored);
    assert!(fetched.iter().all(|r| r.compression == Compression::Lz4));
    let epochs: std::collections::BTreeSet<i32> = fetched.iter().map(|r| r.partition_leader_epoch).collect();
    assert_eq!(epochs.into_iter().collect::<Vec<_>>(), [0, 1]);
    let fetches = cluster.journal().requests(ApiKey::Fetch);
    assert!(
        !fetches.is_empty() && fetches.iter().all(|e| e.node_id == 1),
        "fetched from the leader"
    );
    Ok(())
}

/// CreateTopics through the external client: the topic exists with its partitions once the
/// call returns; a second create is TOPIC_ALREADY_EXISTS.
#[tokio::test]
async fn external_create_topic_waits_for_leaders_and_refuses_a_duplicate() -> TestResult {
    let cluster = MockCluster::builder().brokers(3).start().await?;
    let external = ExternalBroker::connect(cluster.bootstrap_servers()).await?;

    external.create_topic("payments", 6).await?;

    assert!(cluster.topics()?.contains(&("payments".to_string(), 6)));
    assert!(matches!(
        external.create_topic("payments", 6).await,
        Err(Error::Kafka {
            code: ErrorCode::TopicAlreadyExists,
            ..
        })
    ));
    assert_eq!(cluster.journal().count(ApiKey::CreateTopics), 2);
    Ok(())
}

/// An unset or blank `KAFKIT_BOOTSTRAP` skips the external target; a set but unreachable one
/// is an error, not a skip.
#[tokio::test]
async fn external_target_is_skipped_when_unset_and_fails_when_unreachable() {
    for value in [None, Some(""), Some("  ")] {
        let target = TargetKind::External.start_with_bootstrap(value).await;
        assert!(matches!(target, Ok(None)), "{value:?}");
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let unreachable = ExternalBroker::from_env_value(Some(&closed.to_string())).await;
    assert!(matches!(unreachable, Err(Error::Io { .. })), "{unreachable:?}");
}

/// The mock fixture: a cluster that supports everything.
#[rstest]
#[tokio::test]
async fn mock_fixture_supports_faults_and_inspection(#[future(awt)] mock_target: MockCluster) -> TestResult {
    assert!(mock_target.supports_faults() && mock_target.supports_inspection());
    keyed_records_with_headers_come_back_in_order(&mock_target).await
}

/// The external fixture: runs the scenario when `KAFKIT_BOOTSTRAP` is set.
#[rstest]
#[tokio::test]
async fn external_fixture_runs_when_kafkit_bootstrap_is_set(
    #[future(awt)] external_target: Option<ExternalBroker>,
) -> TestResult {
    let Some(broker) = external_target else {
        return Ok(());
    };
    keyed_records_with_headers_come_back_in_order(&broker).await
}

/// The Kafka fixture: runs the scenario on Apache Kafka when one is at hand (its jars, a running
/// one, or Docker); otherwise prints why it skipped.
#[rstest]
#[tokio::test]
async fn kafka_fixture_runs_on_apache_kafka_when_one_is_at_hand(
    #[future(awt)] kafka_target: Option<Box<dyn Target>>,
) -> TestResult {
    let Some(kafka) = kafka_target else {
        return Ok(());
    };
    keyed_records_with_headers_come_back_in_order(&*kafka).await
}

/// A private three-node Kafka from its jars (when they are at hand): every node serves, a
/// topic with replication factor 3 gets a leader on each partition, and kafkit's producer
/// writes to it and reads back.
#[tokio::test]
async fn a_three_node_kafka_process_serves_the_scenario() -> TestResult {
    let libs = match kafkit_testkit::target::kafka_libs() {
        Ok(libs) => libs,
        Err(reason) => {
            eprintln!("skipped: no Kafka jars: {reason}");
            return Ok(());
        }
    };
    let kafka = kafkit_testkit::target::KafkaProcess::builder(libs)
        .nodes(3)
        .start()
        .await?;
    assert_eq!(kafka.node_addrs().len(), 3);
    keyed_records_with_headers_come_back_in_order(&kafka).await
}
