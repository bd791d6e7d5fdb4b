//! librdkafka's transactional producer (the `rdkafka` crate) on kafkit's broker: committed
//! transactions are read by read_committed and read_uncommitted consumers; aborted ones only
//! by read_uncommitted; an open transaction holds read_committed consumers back at its first
//! offset (the last stable offset) until it ends; a second producer with the same
//! transactional id fences the first and aborts its open transaction.

use std::time::{Duration, Instant};

use kafkit_broker::config::TopicConfig;
use kafkit_broker::txn::TxnState;
use kafkit_broker::{Cluster, ClusterConfig};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::TopicPartitionList;

const TOPIC: &str = "payments";

fn producer(bootstrap: &str, transactional_id: &str) -> ThreadedProducer<DefaultProducerContext> {
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", transactional_id)
        .set("linger.ms", "1")
        .create()
        .expect("producer");
    p.init_transactions(Duration::from_secs(30))
        .expect("init_transactions");
    p
}

fn send(p: &ThreadedProducer<DefaultProducerContext>, partition: i32, value: &str) {
    p.send(BaseRecord::to(TOPIC).partition(partition).key("k").payload(value))
        .map_err(|(e, _)| e)
        .expect("send");
}

/// Every value a consumer with `isolation` reads from both partitions until it has seen the
/// log up to `until` per partition (by offset), or 20 s pass.
fn read_all(bootstrap: &str, isolation: &str, wait_for: usize) -> Vec<String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("reader-{isolation}-{wait_for}"))
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..2 {
        tpl.add_partition_offset(TOPIC, p, rdkafka::Offset::Beginning)
            .expect("partition");
    }
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string()),
            Some(Err(e)) => panic!("consume: {e}"),
            None if out.len() >= wait_for => break,
            None => {}
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_and_aborted_transactions_as_read_committed_and_uncommitted_consumers_see_them() {
    let cluster = Cluster::start(ClusterConfig {
        brokers: 2,
        ..ClusterConfig::default()
    })
    .await
    .expect("cluster");
    cluster
        .state()
        .create_topic(TOPIC, 2, TopicConfig::default())
        .expect("topic");
    let bootstrap = cluster.bootstrap_servers();
    let state = cluster.state().clone();
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let p = producer(&b, "payments-tx");
        // Committed: c0 c1 c2; aborted: a0 a1.
        p.begin_transaction().expect("begin");
        for (i, v) in ["c0", "c1", "c2"].into_iter().enumerate() {
            send(&p, i as i32 % 2, v);
        }
        p.commit_transaction(Duration::from_secs(30)).expect("commit");
        assert_eq!(
            state.transactions().transaction("payments-tx").map(|t| t.state),
            Some(TxnState::CompleteCommit)
        );
        p.begin_transaction().expect("begin");
        send(&p, 0, "a0");
        send(&p, 1, "a1");
        p.flush(Duration::from_secs(10)).expect("flush");
        p.abort_transaction(Duration::from_secs(30)).expect("abort");
        // A plain record after both.
        p.begin_transaction().expect("begin");
        send(&p, 0, "c3");
        p.commit_transaction(Duration::from_secs(30)).expect("commit");

        assert_eq!(read_all(&b, "read_committed", 4), ["c0", "c1", "c2", "c3"]);
        assert_eq!(
            read_all(&b, "read_uncommitted", 6),
            ["a0", "a1", "c0", "c1", "c2", "c3"]
        );

        // An open transaction holds read_committed readers back; a new producer with the same
        // transactional id fences the first one and aborts what it left open.
        p.begin_transaction().expect("begin");
        send(&p, 1, "open0");
        p.flush(Duration::from_secs(10)).expect("flush");
        let lso = {
            let metadata = state.metadata();
            let log = metadata.partition(TOPIC, 1).expect("partition").log.clone();
            let log = kafkit_broker::cluster::lock_log(&log);
            (log.last_stable_offset(), log.high_watermark())
        };
        assert!(
            lso.0 < lso.1,
            "the open transaction holds the last stable offset: {lso:?}"
        );
        assert_eq!(read_all(&b, "read_committed", 4), ["c0", "c1", "c2", "c3"]);
        let successor = producer(&b, "payments-tx");
        let fenced = p.commit_transaction(Duration::from_secs(10));
        assert!(fenced.is_err(), "the first producer is fenced");
        successor.begin_transaction().expect("begin");
        send(&successor, 1, "c4");
        successor
            .commit_transaction(Duration::from_secs(30))
            .expect("commit");
        assert_eq!(read_all(&b, "read_committed", 5), ["c0", "c1", "c2", "c3", "c4"]);
        assert_eq!(
            read_all(&b, "read_uncommitted", 8).len(),
            8,
            "open0 stays in the log, aborted"
        );
    })
    .await
    .expect("transactions");
    cluster.shutdown().await.expect("shutdown");
}

/// Exactly once, consume-process-produce: a read_committed member of a group reads the input,
/// a transactional producer writes one output record per input record and commits the
/// consumer's offsets in the same transaction (AddOffsetsToTxn, TxnOffsetCommit). An aborted
/// round leaves neither its output nor its offsets; the committed round leaves both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_commit_with_the_transaction_or_not_at_all() {
    let mut config = ClusterConfig::default();
    config.groups.initial_rebalance_delay = Duration::ZERO;
    let cluster = Cluster::start(config).await.expect("cluster");
    let state = cluster.state().clone();
    for name in ["input", "output"] {
        state
            .create_topic(name, 1, TopicConfig::default())
            .expect("topic");
    }
    let bootstrap = cluster.bootstrap_servers();
    tokio::task::spawn_blocking(move || {
        let plain: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()
            .expect("producer");
        for i in 0..10 {
            plain
                .send(BaseRecord::to("input").key("k").payload(&format!("in{i}")))
                .map_err(|(e, _)| e)
                .expect("send");
        }
        plain.flush(Duration::from_secs(10)).expect("flush");
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "eos")
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("consumer");
        consumer.subscribe(&["input"]).expect("subscribe");
        let p = producer(&bootstrap, "eos-tx");
        let round = |commit: bool, n: usize| {
            let mut read = Vec::new();
            let start = Instant::now();
            while read.len() < n && start.elapsed() < Duration::from_secs(30) {
                if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                    read.push(
                        m.expect("message")
                            .payload()
                            .map(|v| v.to_vec())
                            .unwrap_or_default(),
                    );
                }
            }
            assert_eq!(read.len(), n);
            p.begin_transaction().expect("begin");
            for v in &read {
                let out = format!("out-{}", String::from_utf8_lossy(v));
                p.send(BaseRecord::to("output").key("k").payload(&out))
                    .map_err(|(e, _)| e)
                    .expect("send");
            }
            let positions = consumer.position().expect("position");
            let metadata = consumer.group_metadata().expect("group metadata");
            p.send_offsets_to_transaction(&positions, &metadata, Duration::from_secs(30))
                .expect("send offsets");
            if commit {
                p.commit_transaction(Duration::from_secs(30)).expect("commit");
            } else {
                p.flush(Duration::from_secs(10)).expect("flush");
                p.abort_transaction(Duration::from_secs(30)).expect("abort");
                // The consumer goes back to the last committed offsets, as an application
                // does after an abort.
                let committed = consumer.committed(Duration::from_secs(10)).expect("committed");
                let mut rewind = TopicPartitionList::new();
                for e in committed.elements() {
                    let offset = match e.offset() {
                        rdkafka::Offset::Offset(o) => rdkafka::Offset::Offset(o),
                        _ => rdkafka::Offset::Beginning,
                    };
                    rewind
                        .add_partition_offset(e.topic(), e.partition(), offset)
                        .expect("rewind");
                }
                for e in rewind.elements() {
                    consumer
                        .seek(e.topic(), e.partition(), e.offset(), Duration::from_secs(10))
                        .expect("seek");
                }
            }
        };
        round(true, 4);
        assert_eq!(
            state.groups().committed("eos", "input", 0).map(|c| c.offset),
            Some(4)
        );
        round(false, 3);
        assert_eq!(
            state.groups().committed("eos", "input", 0).map(|c| c.offset),
            Some(4),
            "an aborted transaction commits no offsets"
        );
        round(true, 6);
        assert_eq!(
            state.groups().committed("eos", "input", 0).map(|c| c.offset),
            Some(10)
        );
        let output: Vec<String> = {
            let c: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", "checker")
                .set("isolation.level", "read_committed")
                .set("auto.offset.reset", "earliest")
                .create()
                .expect("consumer");
            c.subscribe(&["output"]).expect("subscribe");
            let mut out = Vec::new();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(20) {
                match c.poll(Duration::from_millis(200)) {
                    Some(Ok(m)) => {
                        out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string())
                    }
                    Some(Err(e)) => panic!("{e}"),
                    None if out.len() >= 10 => break,
                    None => {}
                }
            }
            out
        };
        let expected: Vec<String> = (0..10).map(|i| format!("out-in{i}")).collect();
        assert_eq!(
            output, expected,
            "every input once in the output, none of the aborted round"
        );
    })
    .await
    .expect("eos");
    cluster.shutdown().await.expect("shutdown");
}
