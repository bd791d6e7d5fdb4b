//! Transactions through the test kit: librdkafka's transactional producer on the mock; the
//! test sees the transactional id's state and the partition's last stable offset, and an
//! EndTxn answered CONCURRENT_TRANSACTIONS (a retriable error) is retried by the producer.
//! kafkit's transactional producer meets a retriable fault on every transaction API, a lost
//! EndTxn response and a coordinator move.

use std::time::Duration;

use kafkit_testkit::{ApiKey, ErrorCode, Fault, MockCluster, TxnState};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_is_inspected_and_a_retriable_end_txn_error_retried() {
    let cluster = MockCluster::builder()
        .topic("payments", 1)
        .start()
        .await
        .expect("cluster");
    let bootstrap = cluster.bootstrap_servers();
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("transactional.id", "payments-tx")
        .set("retry.backoff.ms", "20")
        .create()
        .expect("producer");
    tokio::task::block_in_place(|| {
        p.init_transactions(Duration::from_secs(30)).expect("init");
        p.begin_transaction().expect("begin");
        p.send(BaseRecord::to("payments").key("k").payload("p0"))
            .map_err(|(e, _)| e)
            .expect("send");
        p.flush(Duration::from_secs(10)).expect("flush");
    });
    let open = cluster.transaction("payments-tx").expect("state").expect("known");
    assert_eq!(open.state, TxnState::Ongoing);
    assert_eq!(open.partitions, [("payments".to_string(), 0)]);
    let partition = cluster.partition_state("payments", 0).expect("partition");
    assert_eq!((partition.last_stable_offset, partition.high_watermark), (0, 1));

    let fault = cluster.fault(
        Fault::on(ApiKey::EndTxn)
            .respond_error(ErrorCode::ConcurrentTransactions)
            .times(1),
    );
    tokio::task::block_in_place(|| p.commit_transaction(Duration::from_secs(30)).expect("commit"));
    assert_eq!(fault.hits(), 1);
    let done = cluster.transaction("payments-tx").expect("state").expect("known");
    assert_eq!(
        (done.state, done.producer_epoch),
        (TxnState::CompleteCommit, open.producer_epoch)
    );
    let partition = cluster.partition_state("payments", 0).expect("partition");
    assert_eq!(
        (partition.last_stable_offset, partition.high_watermark),
        (2, 2),
        "the record and its COMMIT marker"
    );
    cluster.assert_all_faults_fired();
    tokio::task::block_in_place(|| drop(p));
}

/// kafkit's transactional producer on a 3-broker mock, with every transaction API answering a
/// retriable error once (CONCURRENT_TRANSACTIONS, COORDINATOR_LOAD_IN_PROGRESS,
/// NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE), the EndTxn response lost (the commit took
/// effect; the producer retries it and the coordinator answers the retry as done), and the
/// coordinator moved to another broker between two transactions: both transactions commit,
/// each record once, and every fault fired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkits_transactional_producer_rides_out_faults_on_every_transaction_api() {
    use kafkit_producer::{ConsumerGroupMetadata, OffsetAndMetadata, ProducerRecord};

    let cluster = MockCluster::builder()
        .brokers(3)
        .topic("payments", 2)
        .topic("input", 1)
        .start()
        .await
        .expect("cluster");
    let once = |api: ApiKey, code: ErrorCode| cluster.fault(Fault::on(api).respond_error(code).times(1));
    let faults = [
        once(ApiKey::FindCoordinator, ErrorCode::CoordinatorNotAvailable),
        once(ApiKey::InitProducerId, ErrorCode::CoordinatorLoadInProgress),
        // Faults on one API stack on the same request unless told to skip some.
        cluster.fault(
            Fault::on(ApiKey::InitProducerId)
                .after_requests(1)
                .respond_error(ErrorCode::NotCoordinator)
                .times(1),
        ),
        once(ApiKey::AddPartitionsToTxn, ErrorCode::ConcurrentTransactions),
        once(ApiKey::AddOffsetsToTxn, ErrorCode::CoordinatorLoadInProgress),
        once(ApiKey::TxnOffsetCommit, ErrorCode::NotCoordinator),
        once(ApiKey::EndTxn, ErrorCode::ConcurrentTransactions),
        cluster.fault(
            Fault::on(ApiKey::EndTxn)
                .after_requests(1)
                .close_connection_after_handling()
                .times(1),
        ),
    ];

    let config = cluster
        .producer_config()
        .transactional_id(Some("payments-tx".into()))
        .retry_backoff(Duration::from_millis(10))
        .build()
        .expect("config");
    let producer = cluster.in_memory_producer(config).await.expect("producer");
    producer.init_transactions().await.expect("init");
    let initialized = cluster.transaction("payments-tx").expect("state").expect("known");

    producer.begin_transaction().expect("begin");
    let mut deliveries = Vec::new();
    for i in 0..4 {
        deliveries.push(
            producer
                .send(
                    ProducerRecord::builder("payments")
                        .partition(i % 2)
                        .value(format!("t1-{i}"))
                        .build(),
                )
                .await
                .expect("accepted"),
        );
    }
    let offsets = [(("input".to_string(), 0), OffsetAndMetadata::new(7))];
    producer
        .send_offsets_to_transaction(offsets, &ConsumerGroupMetadata::new("payments-app"))
        .await
        .expect("offsets");
    producer.commit_transaction().await.expect("commit");
    for d in deliveries.drain(..) {
        d.await.expect("delivered before the commit");
    }
    for fault in &faults {
        assert_eq!(fault.hits(), 1, "{}", fault.fault());
    }
    cluster.assert_all_faults_fired();
    assert_eq!(
        cluster
            .committed_offset("payments-app", "input", 0)
            .expect("offset"),
        Some(7)
    );

    // The coordinator moves: the next transaction finds it again.
    let coordinator = cluster
        .transaction_coordinator("payments-tx")
        .expect("state")
        .expect("looked up");
    let moved_to = (coordinator + 1) % 3;
    cluster
        .move_transaction_coordinator("payments-tx", moved_to)
        .expect("move");
    producer.begin_transaction().expect("begin");
    let mut deliveries = Vec::new();
    for i in 0..4 {
        deliveries.push(
            producer
                .send(
                    ProducerRecord::builder("payments")
                        .partition(i % 2)
                        .value(format!("t2-{i}"))
                        .build(),
                )
                .await
                .expect("accepted"),
        );
    }
    producer
        .commit_transaction()
        .await
        .expect("commit after the move");
    let done = cluster.transaction("payments-tx").expect("state").expect("known");
    assert_eq!(
        (done.state, done.producer_id, done.producer_epoch),
        (
            TxnState::CompleteCommit,
            initialized.producer_id,
            initialized.producer_epoch
        )
    );
    for p in 0..2 {
        let records = cluster.records("payments", p).expect("records");
        let committed: Vec<&str> = records
            .iter()
            .filter(|r| r.is_committed())
            .filter_map(|r| r.value_str())
            .collect();
        let want: Vec<String> = ["t1", "t2"]
            .iter()
            .flat_map(|t| [format!("{t}-{p}"), format!("{t}-{}", p + 2)])
            .collect();
        assert_eq!(committed, want, "partition {p}: each record once, committed");
        let markers: Vec<Option<bool>> = records
            .iter()
            .filter(|r| r.is_control)
            .map(|r| r.marker())
            .collect();
        assert_eq!(
            markers,
            [Some(true), Some(true)],
            "partition {p}: one COMMIT per transaction"
        );
    }
    producer.close(Duration::from_secs(10)).await;
}
