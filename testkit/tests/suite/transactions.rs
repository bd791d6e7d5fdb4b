//! Transactions through the test kit: librdkafka's transactional producer on the mock; the
//! test sees the transactional id's state and the partition's last stable offset, and an
//! EndTxn answered CONCURRENT_TRANSACTIONS (a retriable error) is retried by the producer.
//! kafkit's transactional producer meets a retriable fault on every transaction API, a lost
//! EndTxn response and a coordinator move.

use std::time::Duration;

use kafkit_testkit::{ApiKey, ErrorCode, Fault, MockCluster, RestartMode, TxnState};
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
        let committed = committed_values(&cluster, "payments", p);
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

/// The values a read_committed consumer gets from `topic`/`partition`, in order.
fn committed_values(cluster: &MockCluster, topic: &str, partition: i32) -> Vec<String> {
    cluster
        .records(topic, partition)
        .expect("records")
        .iter()
        .filter(|r| r.is_committed())
        .filter_map(|r| r.value_str().map(String::from))
        .collect()
}

/// A transactional producer for `cluster` with `transactional.id` = `id` and short waits.
async fn txn_producer(cluster: &MockCluster, id: &str, max_block: Duration) -> kafkit_producer::Producer {
    let config = cluster
        .producer_config()
        .transactional_id(Some(id.into()))
        .retry_backoff(Duration::from_millis(10))
        .max_block(max_block)
        .build()
        .expect("config");
    let producer = cluster.in_memory_producer(config).await.expect("producer");
    producer.init_transactions().await.expect("init");
    producer
}

/// Java's abortable errors: a topic the coordinator refuses (TOPIC_AUTHORIZATION_FAILED on
/// AddPartitionsToTxn) and a batch the leader refuses (TRANSACTION_ABORTABLE on Produce) fail
/// the record and then the commit with `TransactionAbortable`; sends fail with it too until
/// the abort, after which the same producer commits a new transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abortable_error_fails_the_commit_and_the_producer_goes_on_after_the_abort() {
    use kafkit_producer::{Error, ProducerRecord};

    let cluster = MockCluster::builder()
        .topic("payments", 1)
        .topic("audit", 1)
        .start()
        .await
        .expect("cluster");
    let producer = txn_producer(&cluster, "abortable-tx", Duration::from_secs(10)).await;
    for (fault, expected) in [
        (
            Fault::on(ApiKey::AddPartitionsToTxn).respond_error(ErrorCode::TopicAuthorizationFailed),
            ErrorCode::TopicAuthorizationFailed,
        ),
        (
            Fault::on(ApiKey::Produce)
                .topic("payments")
                .respond_error(ErrorCode::TransactionAbortable),
            ErrorCode::TransactionAbortable,
        ),
    ] {
        let handle = cluster.fault(fault.times(1));
        producer.begin_transaction().expect("begin");
        let delivery = producer
            .send(ProducerRecord::new("payments", "p"))
            .await
            .expect("accepted");
        let commit = producer.commit_transaction().await;
        let Err(Error::TransactionAbortable { code, .. }) = commit else {
            panic!("{}: the commit after a failed record: {commit:?}", handle.fault());
        };
        assert_eq!(code, expected);
        let refused = producer.send(ProducerRecord::new("audit", "a")).await;
        assert!(
            matches!(refused, Err(Error::TransactionAbortable { .. })),
            "{refused:?}"
        );
        producer.abort_transaction().await.expect("abort");
        assert!(
            delivery.await.is_err(),
            "the record of the aborted transaction failed"
        );
        assert_eq!(handle.hits(), 1);

        producer.begin_transaction().expect("usable after the abort");
        let after = producer
            .send(ProducerRecord::new("audit", "after"))
            .await
            .expect("accepted");
        producer.commit_transaction().await.expect("commit");
        after.await.expect("delivered");
    }
    assert_eq!(committed_values(&cluster, "audit", 0), ["after", "after"]);
    assert!(
        committed_values(&cluster, "payments", 0).is_empty(),
        "nothing of the failed transactions is visible"
    );
    producer.close(Duration::from_secs(10)).await;
}

/// Java's rule for a commit that outlives `max.block.ms`: the call fails with a timeout, the
/// commit goes on, and calling `commit_transaction` again waits for the same commit, which
/// then succeeds; `abort_transaction` meanwhile is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_that_times_out_is_finished_by_calling_it_again() {
    use kafkit_producer::{Error, ProducerRecord};

    let cluster = MockCluster::builder()
        .topic("payments", 1)
        .start()
        .await
        .expect("cluster");
    let producer = txn_producer(&cluster, "slow-tx", Duration::from_millis(500)).await;
    producer.begin_transaction().expect("begin");
    let delivery = producer
        .send(ProducerRecord::new("payments", "p"))
        .await
        .expect("accepted");
    let held = cluster.fault(Fault::on(ApiKey::EndTxn).hold().times(1));
    let first = producer.commit_transaction().await;
    assert!(
        matches!(
            first,
            Err(Error::TransactionTimeout {
                operation: "commit_transaction",
                ..
            })
        ),
        "{first:?}"
    );
    let abort = producer.abort_transaction().await;
    assert!(
        matches!(abort, Err(Error::InvalidTransactionState { .. })),
        "{abort:?}"
    );
    held.release();
    producer
        .commit_transaction()
        .await
        .expect("the same commit, finished");
    delivery.await.expect("delivered");
    let state = cluster.transaction("slow-tx").expect("state").expect("known");
    assert_eq!(state.state, TxnState::CompleteCommit);
    assert_eq!(held.hits(), 1);
    producer.close(Duration::from_secs(10)).await;
}

/// `send_offsets_to_transaction` with a group consumer's metadata (librdkafka's consumer in a
/// classic group; its generation and member id as the coordinator holds them): accepted while
/// they are current; once a rebalance moved the group on, a zombie's stale generation is
/// refused (ILLEGAL_GENERATION, abortable), and nothing of its transaction is committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_from_a_group_member_are_fenced_by_a_newer_generation() {
    use kafkit_producer::{ConsumerGroupMetadata, Error, OffsetAndMetadata};
    use rdkafka::consumer::{BaseConsumer, Consumer};

    let cluster = MockCluster::builder()
        .topic("orders", 2)
        .start()
        .await
        .expect("cluster");
    let member = |cluster: &MockCluster| -> BaseConsumer {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .set("group.id", "billing")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        c.subscribe(&["orders"]).expect("subscribe");
        c
    };
    let first = member(&cluster);
    let stable = |want: usize| {
        move |c: &MockCluster| {
            c.group("billing")
                .ok()
                .flatten()
                .is_some_and(|g| g.state == kafkit_testkit::GroupState::Stable && g.members.len() == want)
        }
    };
    let poll = |c: &BaseConsumer| {
        let _ = c.poll(Duration::from_millis(50));
    };
    let wait = |want: usize, consumers: Vec<&BaseConsumer>| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !stable(want)(&cluster) {
            assert!(std::time::Instant::now() < deadline, "the group did not settle");
            consumers.iter().for_each(|c| poll(c));
        }
    };
    tokio::task::block_in_place(|| wait(1, vec![&first]));
    let group = cluster.group("billing").expect("group").expect("exists");
    let current = ConsumerGroupMetadata::new("billing")
        .with_member(group.generation, group.members[0].member_id.clone());

    let producer = txn_producer(&cluster, "billing-tx", Duration::from_secs(10)).await;
    producer.begin_transaction().expect("begin");
    let offsets = [(("orders".to_string(), 0), OffsetAndMetadata::new(3))];
    producer
        .send_offsets_to_transaction(offsets.clone(), &current)
        .await
        .expect("the current generation's offsets");
    producer.commit_transaction().await.expect("commit");
    assert_eq!(
        cluster.committed_offset("billing", "orders", 0).expect("offset"),
        Some(3)
    );

    // A second member joins: the generation moves on, the first member's metadata is stale.
    let second = member(&cluster);
    tokio::task::block_in_place(|| wait(2, vec![&first, &second]));
    producer.begin_transaction().expect("begin");
    let zombie = [(("orders".to_string(), 0), OffsetAndMetadata::new(9))];
    let refused = producer.send_offsets_to_transaction(zombie, &current).await;
    assert!(
        matches!(&refused, Err(Error::TransactionAbortable { code, .. }) if *code == ErrorCode::IllegalGeneration),
        "{refused:?}"
    );
    producer.abort_transaction().await.expect("abort");
    assert_eq!(
        cluster.committed_offset("billing", "orders", 0).expect("offset"),
        Some(3)
    );
    producer.close(Duration::from_secs(10)).await;
    tokio::task::block_in_place(|| {
        drop(first);
        drop(second);
    });
}

/// A batch refused for good after it took its sequence numbers (INVALID_RECORD on Produce)
/// leaves a hole in the producer's numbering: the transaction must abort, and after the
/// abort the producer bumps its epoch with InitProducerId (KIP-360), as Java does, so the next
/// transaction's batches start from sequence 0 and commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hole_in_the_numbering_is_closed_by_an_epoch_bump_after_the_abort() {
    use kafkit_producer::{Error, ProducerRecord};

    let cluster = MockCluster::builder()
        .topic("payments", 1)
        .start()
        .await
        .expect("cluster");
    let producer = txn_producer(&cluster, "bump-tx", Duration::from_secs(10)).await;
    let before = cluster.transaction("bump-tx").expect("state").expect("known");
    producer.begin_transaction().expect("begin");
    let ok = producer
        .send(ProducerRecord::new("payments", "first"))
        .await
        .expect("accepted");
    ok.await.expect("the first batch lands");
    let refused = cluster.fault(
        Fault::on(ApiKey::Produce)
            .respond_error(ErrorCode::InvalidRecord)
            .times(1),
    );
    let lost = producer
        .send(ProducerRecord::new("payments", "refused"))
        .await
        .expect("accepted");
    assert!(matches!(
        lost.await,
        Err(Error::Broker {
            code: ErrorCode::InvalidRecord,
            ..
        })
    ));
    let commit = producer.commit_transaction().await;
    assert!(
        matches!(commit, Err(Error::TransactionAbortable { .. })),
        "{commit:?}"
    );
    producer.abort_transaction().await.expect("abort");
    let after = cluster.transaction("bump-tx").expect("state").expect("known");
    assert_eq!(
        (after.producer_id, after.producer_epoch),
        (before.producer_id, before.producer_epoch + 1),
        "the epoch was bumped after the abort"
    );
    producer.begin_transaction().expect("begin");
    let next = producer
        .send(ProducerRecord::new("payments", "next"))
        .await
        .expect("accepted");
    producer
        .commit_transaction()
        .await
        .expect("commit under the new epoch");
    next.await.expect("delivered");
    let records = cluster.records("payments", 0).expect("records");
    let committed: Vec<(&str, Option<i16>, Option<i32>)> = records
        .iter()
        .filter(|r| r.is_committed())
        .map(|r| (r.value_str().unwrap_or_default(), r.producer_epoch, r.sequence))
        .collect();
    assert_eq!(committed, [("next", Some(before.producer_epoch + 1), Some(0))]);
    assert_eq!(refused.hits(), 1);
    producer.close(Duration::from_secs(10)).await;
}

/// Closing a producer with a transaction open aborts it (Java's close: "Aborting incomplete
/// transaction due to shutdown"): the records already written end up aborted, one still
/// lingering fails with `TransactionAborted`, and the coordinator has nothing open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_with_a_transaction_open_aborts_it() {
    use kafkit_producer::{Error, ProducerRecord};
    use kafkit_testkit::TxnOutcome;

    let cluster = MockCluster::builder()
        .topic("payments", 1)
        .start()
        .await
        .expect("cluster");
    let config = cluster
        .producer_config()
        .transactional_id(Some("closing-tx".into()))
        .linger(Duration::from_secs(60))
        .build()
        .expect("config");
    let producer = cluster.in_memory_producer(config).await.expect("producer");
    producer.init_transactions().await.expect("init");
    producer.begin_transaction().expect("begin");
    let written = producer
        .send(ProducerRecord::new("payments", "written"))
        .await
        .expect("accepted");
    producer.flush().await;
    written.await.expect("written before the close");
    let lingering = producer
        .send(ProducerRecord::new("payments", "lingering"))
        .await
        .expect("accepted");
    producer.close(Duration::from_secs(10)).await;
    assert!(matches!(lingering.await, Err(Error::TransactionAborted)));

    let state = cluster.transaction("closing-tx").expect("state").expect("known");
    assert_eq!(state.state, TxnState::CompleteAbort);
    let records = cluster.records("payments", 0).expect("records");
    let data: Vec<(&str, Option<TxnOutcome>)> = records
        .iter()
        .filter(|r| !r.is_control)
        .map(|r| (r.value_str().unwrap_or_default(), r.transaction))
        .collect();
    assert_eq!(data, [("written", Some(TxnOutcome::Aborted))]);
    let markers: Vec<Option<bool>> = records
        .iter()
        .filter(|r| r.is_control)
        .map(|r| r.marker())
        .collect();
    assert_eq!(markers, [Some(false)], "one ABORT marker");
}

/// Offsets sent to a transaction are in `__consumer_offsets` at once, as Kafka writes them (a
/// transactional batch that the transaction's marker settles): a broker crash before the
/// commit keeps them pending (not visible, UNSTABLE for require_stable), the same producer's
/// commit after the restart makes them visible, and a second restart finds them committed.
#[rstest::rstest]
#[case::crash(RestartMode::Crash)]
#[case::clean(RestartMode::Clean)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_of_a_transaction_survive_a_restart_before_its_commit(#[case] mode: RestartMode) {
    use kafkit_producer::{ConsumerGroupMetadata, OffsetAndMetadata, ProducerRecord};

    let cluster = MockCluster::builder()
        .topic("input", 1)
        .topic("payments", 1)
        .start()
        .await
        .expect("cluster");
    let producer = txn_producer(&cluster, "restart-tx", Duration::from_secs(30)).await;
    producer.begin_transaction().expect("begin");
    let delivery = producer
        .send(ProducerRecord::new("payments", "p"))
        .await
        .expect("accepted");
    let offsets = [(("input".to_string(), 0), OffsetAndMetadata::new(5))];
    producer
        .send_offsets_to_transaction(offsets, &ConsumerGroupMetadata::new("app"))
        .await
        .expect("offsets");
    delivery.await.expect("delivered");

    cluster.restart(mode).await.expect("restart");
    assert_eq!(
        cluster.committed_offset("app", "input", 0).expect("offset"),
        None,
        "not visible before the commit"
    );
    producer
        .commit_transaction()
        .await
        .expect("commit after the restart");
    assert_eq!(
        cluster.committed_offset("app", "input", 0).expect("offset"),
        Some(5)
    );

    cluster.restart(mode).await.expect("second restart");
    assert_eq!(
        cluster.committed_offset("app", "input", 0).expect("offset"),
        Some(5),
        "read back from the transactional batch and its COMMIT marker"
    );
    assert_eq!(committed_values(&cluster, "payments", 0), ["p"]);
    producer.close(Duration::from_secs(10)).await;
}
