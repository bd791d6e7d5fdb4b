//! Transactions through the test kit: librdkafka's transactional producer on the mock; the
//! test sees the transactional id's state and the partition's last stable offset, and an
//! EndTxn answered CONCURRENT_TRANSACTIONS (a retriable error) is retried by the producer.

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
