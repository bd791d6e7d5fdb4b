//! Restarts on the same data directory and ports: records, producer state and leadership
//! survive, and a connected librdkafka producer carries on.

use kafkit_testkit::{ApiKey, ErrorCode, Fault, MockCluster, RestartMode};
use rstest::rstest;

use crate::common::{producer, send, values};

/// After a clean or a crash restart the stored records are all there, the same producer
/// reconnects by itself, and its next records follow without duplicates.
#[rstest]
#[case::clean(RestartMode::Clean)]
#[case::crash(RestartMode::Crash)]
#[tokio::test]
async fn restart_keeps_records_and_clients_reconnect(#[case] mode: RestartMode) {
    let cluster = MockCluster::builder()
        .brokers(2)
        .topic("orders", 2)
        .start()
        .await
        .expect("cluster");
    cluster.move_leader("orders", 1, 0).expect("move");
    let producer = producer(&cluster, &[]);
    for (i, value) in ["a", "b", "c"].iter().enumerate() {
        assert_eq!(send(&producer, "orders", 1, value).await, (1, i as i64));
    }
    let before = cluster.partition_state("orders", 1).expect("state");
    let producer_state = cluster.producer_state("orders", 1).expect("producers");
    let addrs = cluster.addrs().to_vec();

    cluster.restart(mode).await.expect("restart");

    assert_eq!(cluster.addrs(), addrs);
    assert_eq!(values(&cluster, "orders", 1), ["a", "b", "c"]);
    let after = cluster.partition_state("orders", 1).expect("state");
    assert_eq!(after.leader, Some(0), "leadership is kept");
    assert!(after.leader_epoch > before.leader_epoch, "and re-elected");
    assert_eq!(
        cluster.producer_state("orders", 1).expect("producers"),
        producer_state,
        "producer state is kept (rebuilt from the log after a crash)"
    );

    assert_eq!(send(&producer, "orders", 1, "d").await, (1, 3));
    assert_eq!(values(&cluster, "orders", 1), ["a", "b", "c", "d"]);
}

/// Faults and the journal belong to the mock cluster, not to one run of it.
#[tokio::test]
async fn faults_and_journal_survive_a_restart() {
    let cluster = MockCluster::builder()
        .topic("orders", 1)
        .start()
        .await
        .expect("cluster");
    let fault = cluster.fault(
        Fault::on(ApiKey::Produce)
            .respond_error(ErrorCode::NotEnoughReplicas)
            .after_requests(1),
    );
    let mut c = kafkit_testkit::WireClient::new(cluster.connect_in_memory(0).expect("connect"), "t");
    assert_eq!(
        c.produce("orders", 0, &["a"]).await.expect("produce").0,
        ErrorCode::None
    );
    cluster.restart(RestartMode::Clean).await.expect("restart");
    let mut c = kafkit_testkit::WireClient::new(cluster.connect_in_memory(0).expect("connect"), "t");
    assert_eq!(
        c.produce("orders", 0, &["b"]).await.expect("produce").0,
        ErrorCode::NotEnoughReplicas
    );
    assert_eq!(cluster.journal().count(ApiKey::Produce), 2);
    assert_eq!(fault.hits(), 1);
    cluster.assert_all_faults_fired();
}

/// Partitions added to a topic are on disk like the first ones: they and their records are
/// there after a restart, and a count that is not larger is refused with Kafka's code.
#[tokio::test]
async fn added_partitions_survive_a_restart() {
    let cluster = MockCluster::builder()
        .topic("orders", 2)
        .start()
        .await
        .expect("cluster");
    cluster.create_partitions("orders", 3).expect("grow");
    let refused = cluster.create_partitions("orders", 3).expect_err("not larger");
    assert!(
        matches!(
            &refused,
            kafkit_testkit::Error::Kafka {
                code: ErrorCode::InvalidPartitions,
                ..
            }
        ),
        "{refused}"
    );
    let producer = producer(&cluster, &[]);
    assert_eq!(send(&producer, "orders", 2, "new").await, (2, 0));

    cluster.restart(RestartMode::Clean).await.expect("restart");

    assert!(cluster
        .topics()
        .expect("topics")
        .contains(&("orders".to_string(), 3)));
    assert_eq!(values(&cluster, "orders", 2), ["new"]);
}

/// Producer ids are never handed out twice (Kafka allocates them in blocks it records before
/// use). A producer that got its id but had written nothing when the cluster restarted, and a
/// producer that connects after the restart, have different ids, and the first record of each
/// is stored. Before, the next id came from the ids found in the logs: the second producer got
/// the first one's id, and its first batch (epoch 0, sequence 0, one record) was answered as a
/// duplicate of the first producer's and not stored.
#[rstest]
#[case::clean(RestartMode::Clean)]
#[case::crash(RestartMode::Crash)]
#[tokio::test]
async fn producer_ids_handed_out_before_a_restart_are_not_handed_out_again(#[case] mode: RestartMode) {
    use std::time::Duration;

    use kafkit_producer::ProducerRecord;

    let cluster = MockCluster::builder()
        .topic("orders", 1)
        .start()
        .await
        .expect("cluster");
    let config = || cluster.producer_config().build().expect("config");
    let early = cluster.in_memory_producer(config()).await.expect("producer");
    cluster
        .wait_until(
            |c| c.journal().count(ApiKey::InitProducerId) == 1,
            Duration::from_secs(10),
        )
        .await
        .expect("the first producer has its id");

    cluster.restart(mode).await.expect("restart");

    let late = cluster.in_memory_producer(config()).await.expect("producer");
    let mut offsets = Vec::new();
    for (producer, value) in [(&early, "early"), (&late, "late")] {
        let record = ProducerRecord::builder("orders")
            .partition(0)
            .value(value)
            .build();
        let delivery = producer.send(record).await.expect("accepted");
        offsets.push(delivery.await.expect("acked").offset);
    }
    assert_eq!(offsets, [0, 1], "two records, two offsets");
    assert_eq!(values(&cluster, "orders", 0), ["early", "late"]);
    let ids: Vec<Option<i64>> = cluster
        .records("orders", 0)
        .expect("records")
        .iter()
        .map(|r| r.producer_id)
        .collect();
    assert!(ids[0] != ids[1] && ids[1] > ids[0], "{ids:?}");
    early.close(Duration::from_secs(5)).await;
    late.close(Duration::from_secs(5)).await;
}
