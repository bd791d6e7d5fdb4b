//! kafkit's transactional producer end to end, on every target (kafkit's mock, librdkafka's
//! mock cluster, `KAFKIT_BOOTSTRAP`) and on Apache Kafka ([`crate::on_kafka`]).
//!
//! Each scenario reads the partitions back with every record and marker, and checks what a
//! `read_committed` consumer would get ([`StoredRecord::is_committed`]): exactly the records of
//! committed transactions, each once, in order; the records of aborted transactions are in the
//! log, marked aborted.
//!
//! librdkafka's mock cluster serves the transaction APIs but keeps no transaction in its log:
//! observed here, it writes no COMMIT or ABORT markers, stores no offsets from
//! TxnOffsetCommit, never times a transaction out and does not fence an older producer. On it
//! the scenarios check what it can show: the whole call sequence succeeds against a second
//! implementation of the protocol, every record is stored in a transactional batch, and records
//! of an abort that came before they were sent fail with `TransactionAborted`. Fencing and
//! timeouts are checked on kafkit's broker and on Kafka.

use std::time::Duration;

use kafkit_producer::{ConsumerGroupMetadata, Error, OffsetAndMetadata, Producer, ProducerRecord};
use kafkit_protocol::ErrorCode;
use kafkit_testkit::{StoredRecord, Target, TxnOutcome};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use rstest::rstest;

use crate::everywhere::On;
use crate::{producer, TestResult};

/// A transactional producer with a fresh transactional id; `props` override the defaults.
async fn txn_producer(
    target: &dyn Target,
    transactional_id: &str,
    props: &[(&str, &str)],
) -> Result<Producer, Box<dyn std::error::Error>> {
    let mut all = vec![("transactional.id", transactional_id)];
    all.extend_from_slice(props);
    producer(target, &all).await
}

/// Whether `target` keeps transactions in its log (markers, offsets, fencing, timeouts): every
/// target but librdkafka's mock (see the module docs).
fn keeps_transactions(target: &dyn Target) -> bool {
    !target.name().starts_with("librdkafka mock")
}

/// The values a `read_committed` consumer gets from `records`, in order.
fn committed_values(records: &[StoredRecord]) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.is_committed())
        .map(|r| r.value_str().unwrap_or_default().to_string())
        .collect()
}

/// The values of the records of aborted transactions.
fn aborted_values(records: &[StoredRecord]) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.transaction == Some(TxnOutcome::Aborted))
        .map(|r| r.value_str().unwrap_or_default().to_string())
        .collect()
}

fn unique_id(prefix: &str) -> String {
    kafkit_testkit::target::unique_topic(prefix)
}

async fn send_all(producer: &Producer, topic: &str, partitions: i32, prefix: &str, n: usize) -> TestResult {
    let mut deliveries = Vec::new();
    for i in 0..n {
        let record = ProducerRecord::builder(topic.to_string())
            .partition((i as i32) % partitions)
            .value(format!("{prefix}-{i}"))
            .build();
        deliveries.push(producer.send(record).await?);
    }
    // Not awaited here: commit waits for them; they are checked after.
    for d in deliveries {
        d.await?;
    }
    Ok(())
}

fn expected(prefix: &str, n: usize, partitions: i32, partition: i32) -> Vec<String> {
    (0..n)
        .filter(|i| (*i as i32) % partitions == partition)
        .map(|i| format!("{prefix}-{i}"))
        .collect()
}

/// Commit, abort after the records landed, abort before they were sent (lingering: they fail
/// with `TransactionAborted`), commit: `read_committed` sees the two committed transactions'
/// records, each once, in order; the first abort's records are in the log, marked aborted.
pub(crate) async fn commits_and_aborts_are_what_read_committed_sees(target: &dyn Target) -> TestResult {
    let topic = target.create_unique_topic("txn", 2).await?;
    let id = unique_id("txn-id");
    let producer = txn_producer(target, &id, &[("linger.ms", "1000")]).await?;
    producer.init_transactions().await?;

    producer.begin_transaction()?;
    send_all(&producer, &topic, 2, "c1", 10).await?;
    producer.commit_transaction().await?;

    producer.begin_transaction()?;
    // Awaiting the deliveries is a flush: these are written before the abort.
    send_all(&producer, &topic, 2, "a1", 6).await?;
    producer.abort_transaction().await?;

    producer.begin_transaction()?;
    let mut lingering = Vec::new();
    for i in 0..4 {
        let record = ProducerRecord::builder(topic.clone())
            .partition(i % 2)
            .value(format!("a2-{i}"))
            .build();
        lingering.push(producer.send(record).await?);
    }
    producer.abort_transaction().await?;
    for d in lingering {
        match d.await {
            Err(Error::TransactionAborted) => {}
            other => panic!("a record of a transaction aborted before it was sent: {other:?}"),
        }
    }

    producer.begin_transaction()?;
    send_all(&producer, &topic, 2, "c2", 4).await?;
    producer.commit_transaction().await?;

    // Outside a transaction, a send is refused.
    match producer
        .send(ProducerRecord::builder(topic.clone()).value("x").build())
        .await
    {
        Err(Error::InvalidTransactionState {
            operation: "send",
            state: "READY",
        }) => {}
        other => panic!("send outside a transaction: {other:?}"),
    }
    producer.close(Duration::from_secs(10)).await;

    for p in 0..2 {
        let stored = target.read_partition(&topic, p).await?;
        if !keeps_transactions(target) {
            let values: Vec<&str> = stored.iter().filter_map(StoredRecord::value_str).collect();
            let mut want = expected("c1", 10, 2, p);
            want.extend(expected("a1", 6, 2, p));
            want.extend(expected("c2", 4, 2, p));
            assert_eq!(values, want, "partition {p}: stored (no markers on this target)");
            assert!(
                stored.iter().all(|r| r.is_transactional),
                "partition {p}: transactional batches"
            );
            continue;
        }
        let mut want = expected("c1", 10, 2, p);
        want.extend(expected("c2", 4, 2, p));
        assert_eq!(committed_values(&stored), want, "partition {p}: read_committed");
        assert_eq!(
            aborted_values(&stored),
            expected("a1", 6, 2, p),
            "partition {p}: aborted"
        );
        assert!(
            !stored.iter().any(|r| r.transaction == Some(TxnOutcome::Open)),
            "partition {p}: nothing left open"
        );
        assert!(
            stored
                .iter()
                .filter(|r| !r.is_control)
                .all(|r| r.is_transactional),
            "partition {p}: every record in a transaction"
        );
        let markers: Vec<bool> = stored.iter().filter_map(StoredRecord::marker).collect();
        assert_eq!(
            markers.first(),
            Some(&true),
            "partition {p}: first marker {markers:?}"
        );
        assert_eq!(
            markers.last(),
            Some(&true),
            "partition {p}: last marker {markers:?}"
        );
        assert!(
            markers.contains(&false),
            "partition {p}: an ABORT marker {markers:?}"
        );
    }
    Ok(())
}

/// A second producer with the same transactional id fences the first: the first's open
/// transaction is aborted, its commit fails with PRODUCER_FENCED (fatal), and the second one's
/// transaction commits.
pub(crate) async fn a_second_instance_fences_the_first(target: &dyn Target) -> TestResult {
    if !keeps_transactions(target) {
        println!("{}: does not fence; skipped (see the module docs)", target.name());
        return Ok(());
    }
    let topic = target.create_unique_topic("fence", 1).await?;
    let id = unique_id("fence-id");
    let first = txn_producer(target, &id, &[]).await?;
    first.init_transactions().await?;
    first.begin_transaction()?;
    send_all(&first, &topic, 1, "zombie", 5).await?;

    let second = txn_producer(target, &id, &[]).await?;
    second.init_transactions().await?;
    match first.commit_transaction().await {
        Err(Error::Fatal { code, .. }) => assert_eq!(code, ErrorCode::ProducerFenced),
        other => panic!("the fenced producer's commit: {other:?}"),
    }
    match first
        .send(ProducerRecord::builder(topic.clone()).value("late").build())
        .await
    {
        Err(Error::Fatal { code, .. }) => assert_eq!(code, ErrorCode::ProducerFenced),
        other => panic!("a send after fencing: {other:?}"),
    }
    second.begin_transaction()?;
    send_all(&second, &topic, 1, "live", 5).await?;
    second.commit_transaction().await?;
    second.close(Duration::from_secs(10)).await;
    first.close(Duration::ZERO).await;

    let stored = target.read_partition(&topic, 0).await?;
    assert_eq!(committed_values(&stored), expected("live", 5, 1, 0));
    assert_eq!(aborted_values(&stored), expected("zombie", 5, 1, 0));
    Ok(())
}

/// Offsets sent to a committed transaction are the group's committed offsets; offsets of an
/// aborted one are not.
pub(crate) async fn offsets_commit_with_their_transaction(target: &dyn Target) -> TestResult {
    let input = target.create_unique_topic("eos-in", 1).await?;
    let output = target.create_unique_topic("eos-out", 1).await?;
    let group = unique_id("eos-group");
    let producer = txn_producer(target, &unique_id("eos-id"), &[]).await?;
    producer.init_transactions().await?;
    let metadata = ConsumerGroupMetadata::new(group.clone());

    producer.begin_transaction()?;
    send_all(&producer, &output, 1, "out", 3).await?;
    let offsets = [((input.clone(), 0), OffsetAndMetadata::new(42))];
    producer.send_offsets_to_transaction(offsets, &metadata).await?;
    producer.commit_transaction().await?;

    producer.begin_transaction()?;
    let offsets = [((input.clone(), 0), OffsetAndMetadata::new(99))];
    producer.send_offsets_to_transaction(offsets, &metadata).await?;
    producer.abort_transaction().await?;
    producer.close(Duration::from_secs(10)).await;

    let stored = target.read_partition(&output, 0).await?;
    if !keeps_transactions(target) {
        assert!(stored.iter().all(|r| r.is_transactional));
        return Ok(());
    }
    let committed = committed_offset(target, &group, &input).await?;
    assert_eq!(
        committed,
        Some(42),
        "the committed transaction's offset, not the aborted one's"
    );
    assert_eq!(committed_values(&stored), expected("out", 3, 1, 0));
    Ok(())
}

/// The group's committed offset of `topic`-0, read by librdkafka (a client nobody here wrote).
async fn committed_offset(
    target: &dyn Target,
    group: &str,
    topic: &str,
) -> Result<Option<i64>, Box<dyn std::error::Error>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", target.bootstrap_servers())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, 0);
    let committed =
        tokio::task::spawn_blocking(move || consumer.committed_offsets(tpl, Duration::from_secs(10)))
            .await??;
    let offset = committed
        .elements()
        .first()
        .map(|e| e.offset())
        .unwrap_or(Offset::Invalid);
    Ok(match offset {
        Offset::Offset(o) => Some(o),
        _ => None,
    })
}

/// A transaction left open past `transaction.timeout.ms` is aborted by the coordinator: its
/// records end up aborted, and the producer, whose epoch the coordinator bumped, learns it
/// was fenced when it tries to commit.
pub(crate) async fn a_transaction_past_its_timeout_is_aborted(target: &dyn Target) -> TestResult {
    if !keeps_transactions(target) {
        println!(
            "{}: never times a transaction out; skipped (see the module docs)",
            target.name()
        );
        return Ok(());
    }
    let topic = target.create_unique_topic("txn-timeout", 1).await?;
    let producer = txn_producer(
        target,
        &unique_id("timeout-id"),
        &[("transaction.timeout.ms", "1000")],
    )
    .await?;
    producer.init_transactions().await?;
    producer.begin_transaction()?;
    send_all(&producer, &topic, 1, "late", 3).await?;
    // Wait until the coordinator's timer aborted the transaction (markers written).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let stored = target.read_partition(&topic, 0).await?;
        if aborted_values(&stored) == expected("late", 3, 1, 0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the coordinator did not abort the transaction: {stored:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    match producer.commit_transaction().await {
        Err(Error::Fatal { code, .. }) => assert_eq!(code, ErrorCode::ProducerFenced),
        other => panic!("commit after the timeout abort: {other:?}"),
    }
    producer.close(Duration::ZERO).await;
    Ok(())
}

macro_rules! on_every_target {
    ($($name:ident),* $(,)?) => {$(
        #[rstest]
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name(#[values(On::Kafkit, On::Librdkafka, On::External)] on: On) -> TestResult {
            match on.start().await? {
                Some(t) => super::$name(&*t).await,
                None => Ok(()),
            }
        }
    )*};
}

mod on_every {
    use super::*;

    on_every_target!(
        commits_and_aborts_are_what_read_committed_sees,
        a_second_instance_fences_the_first,
        offsets_commit_with_their_transaction,
        a_transaction_past_its_timeout_is_aborted,
    );
}
