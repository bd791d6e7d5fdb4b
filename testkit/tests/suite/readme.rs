//! The worked examples of the top-level README's "Testing with kafkit" section, verbatim: every Rust block of that
//! file must appear in this one ([`readme_blocks_are_these_tests`]), so each example runs in
//! `cargo test`.

use std::time::Duration;

use kafkit_producer::ProducerRecord;
use kafkit_testkit::{ApiKey, ErrorCode, Fault, MockCluster, Target, TargetKind};
use rstest::rstest;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[tokio::test]
async fn stores_what_was_produced() -> TestResult {
    let cluster = MockCluster::builder().topic("orders", 3).start().await?;
    let producer = cluster.producer().await?;

    let record = ProducerRecord::builder("orders")
        .key("customer-7")
        .value("{\"total\":12}")
        .build();
    let sent = producer.send(record).await?.await?;

    let stored = cluster.records("orders", sent.partition)?;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].key_str(), Some("customer-7"));
    assert_eq!(stored[0].value_str(), Some("{\"total\":12}"));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn retries_after_not_leader_and_stores_once() -> TestResult {
    let cluster = MockCluster::builder().topic("orders", 1).start().await?;
    let fault = cluster.fault(Fault::on(ApiKey::Produce).respond_error(ErrorCode::NotLeaderOrFollower));
    let producer = cluster.producer().await?;

    let record = ProducerRecord::new("orders", "once");
    producer.send(record).await?.await?;

    assert_eq!(fault.hits(), 1);
    assert_eq!(cluster.journal().count(ApiKey::Produce), 2);
    assert_eq!(cluster.records("orders", 0)?.len(), 1);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn lost_response_is_not_duplicated() -> TestResult {
    let cluster = MockCluster::builder().topic("orders", 1).start().await?;
    let fault = cluster.fault(Fault::on(ApiKey::Produce).drop_response_after_append());
    let producer = cluster.producer().await?; // idempotent by default

    let record = ProducerRecord::new("orders", "once");
    let sent = producer.send(record).await?.await?;

    assert_eq!((fault.hits(), sent.offset), (1, 0));
    assert_eq!(cluster.records("orders", 0)?.len(), 1, "no duplicate");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn follows_a_leader_move() -> TestResult {
    let cluster = MockCluster::builder()
        .brokers(2)
        .topic("orders", 1)
        .start()
        .await?;
    let producer = cluster.producer().await?;
    let before = ProducerRecord::new("orders", "before");
    producer.send(before).await?.await?;

    cluster.move_leader("orders", 0, 1)?;
    let after = ProducerRecord::new("orders", "after");
    producer.send(after).await?.await?;

    let stored = cluster.records("orders", 0)?;
    let epochs: Vec<i32> = stored.iter().map(|r| r.partition_leader_epoch).collect();
    assert_eq!(epochs, [0, 1]);
    Ok(())
}

use kafkit_producer::ProducerConfig;

/// The service under test: connects with the credentials it is given and reports a refused
/// login as such.
async fn start_publisher(
    bootstrap: &str,
    ca_pem: &str,
    user: &str,
    password: &str,
) -> Result<kafkit_producer::Producer, String> {
    let config = ProducerConfig::builder(bootstrap)
        .set("security.protocol", "SASL_SSL")
        .set("ssl.truststore.type", "PEM")
        .set("ssl.truststore.certificates", ca_pem)
        .set("sasl.mechanism", "SCRAM-SHA-512")
        .set("sasl.username", user)
        .set("sasl.password", password)
        .build()
        .map_err(|e| format!("bad configuration: {e}"))?;
    match kafkit_producer::Producer::connect(config).await {
        Ok(producer) => Ok(producer),
        Err(kafkit_producer::Error::Authentication { mechanism, .. }) => {
            Err(format!("login refused ({mechanism}): check the password"))
        }
        Err(e) => Err(format!("Kafka unavailable: {e}")),
    }
}

#[tokio::test]
async fn a_wrong_password_is_reported_not_retried() -> TestResult {
    let cluster = MockCluster::builder()
        .tls()
        .sasl_scram(&[("billing", "s3cret")])
        .start()
        .await?;
    let ca = cluster.ca_certificate_pem().expect("a TLS cluster has a CA");
    let bootstrap = cluster.bootstrap_servers();

    let refused = start_publisher(&bootstrap, &ca, "billing", "wrong").await;
    assert_eq!(
        refused.err().as_deref(),
        Some("login refused (SCRAM-SHA-512): check the password")
    );

    let producer = start_publisher(&bootstrap, &ca, "billing", "s3cret").await?;
    producer
        .send(ProducerRecord::new("invoices", "i-1"))
        .await?
        .await?;
    let produced = cluster.journal().requests(ApiKey::Produce);
    assert!(produced.iter().all(|request| request.principal == "User:billing"));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn linger_fills_one_batch_on_virtual_time() -> TestResult {
    let cluster = MockCluster::builder().topic("orders", 1).start().await?;
    let config = cluster.producer_config().linger(Duration::from_secs(5)).build()?;
    let producer = cluster.in_memory_producer(config).await?;

    let mut deliveries = Vec::new();
    for i in 0..10 {
        let record = ProducerRecord::new("orders", format!("{i}"));
        deliveries.push(producer.send(record).await?);
    }
    tokio::time::sleep(Duration::from_millis(4_999)).await; // returns at once
    assert_eq!(cluster.journal().count(ApiKey::Produce), 0);
    for delivery in deliveries {
        delivery.await?;
    }

    let produced = cluster.journal().produce_requests();
    assert_eq!((produced.len(), produced[0].record_count()), (1, 10));
    Ok(())
}

async fn orders_keep_their_order(target: &dyn Target) -> TestResult {
    let topic = target.create_unique_topic("orders", 1).await?;
    let producer = target.producer().await?;
    for i in 0..10 {
        let record = ProducerRecord::new(topic.clone(), format!("{i}"));
        producer.send(record).await?.await?;
    }

    let stored = target.read_partition(&topic, 0).await?;
    let values: Vec<&str> = stored.iter().filter_map(|r| r.value_str()).collect();
    assert_eq!(values, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    Ok(())
}

#[rstest]
#[tokio::test]
async fn orders_keep_their_order_everywhere(
    #[values(TargetKind::Mock, TargetKind::External, TargetKind::Kafka)] kind: TargetKind,
) -> TestResult {
    match kind.start().await? {
        Some(target) => orders_keep_their_order(&*target).await,
        None => Ok(()), // not available here: the reason is printed
    }
}

/// The ```rust blocks of `markdown`, in order.
fn rust_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```rust") => current = Some(Vec::new()),
            (Some(lines), "```") => {
                blocks.push(lines.join("\n"));
                current = None;
            }
            (Some(lines), _) => lines.push(line),
            (None, _) => {}
        }
    }
    blocks
}

/// Every Rust block of the README section is in this file verbatim, so the README shows
/// exactly what runs here.
use kafkit_testkit::{GroupState, RestartMode};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;

/// The service under test: for each order an invoice, then the order's offset is committed;
/// it runs until `until` invoices exist (a real service runs for ever).
async fn bill_orders(consumer: &StreamConsumer, cluster: &MockCluster, until: usize) -> TestResult {
    let producer = cluster.producer().await?;
    while invoices(cluster)?.len() < until {
        let Ok(order) = tokio::time::timeout(Duration::from_millis(100), consumer.recv()).await else {
            continue; // nothing new: keep polling, which also lets the consumer rebalance
        };
        let order = order?;
        let invoice = format!(
            "invoice for {}",
            std::str::from_utf8(order.payload().unwrap_or_default())?
        );
        producer
            .send(ProducerRecord::new("invoices", invoice))
            .await?
            .await?;
        consumer.commit_message(&order, CommitMode::Sync)?;
    }
    Ok(())
}

fn billing_member(cluster: &MockCluster) -> Result<StreamConsumer, rdkafka::error::KafkaError> {
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("group.id", "billing")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&["orders"])?;
    Ok(consumer)
}

fn invoices(cluster: &MockCluster) -> Result<Vec<String>, kafkit_testkit::Error> {
    let stored = cluster.records("invoices", 0)?;
    let mut values: Vec<String> = stored
        .iter()
        .filter_map(|r| r.value_str().map(String::from))
        .collect();
    values.sort();
    Ok(values)
}

#[tokio::test(flavor = "multi_thread")]
async fn billing_resumes_from_its_commits_after_a_restart() -> TestResult {
    let cluster = MockCluster::builder()
        .topic("orders", 2)
        .topic("invoices", 1)
        .start()
        .await?;
    let producer = cluster.producer().await?;
    for order in ["o1", "o2", "o3"] {
        producer.send(ProducerRecord::new("orders", order)).await?.await?;
    }
    let member = billing_member(&cluster)?;
    bill_orders(&member, &cluster, 3).await?;
    drop(member); // closes: leaves the group, its commits stay
    let billing = cluster.group("billing")?.expect("the group exists");
    assert_eq!(billing.state, GroupState::Empty);
    let lag: i64 = cluster
        .committed_offsets("billing")?
        .iter()
        .filter_map(|c| c.lag)
        .sum();
    assert_eq!(lag, 0);

    cluster.restart(RestartMode::Crash).await?;
    let producer = cluster.producer().await?;
    producer.send(ProducerRecord::new("orders", "o4")).await?.await?;
    let member = billing_member(&cluster)?;
    bill_orders(&member, &cluster, 4).await?; // reads only o4: o1-o3 were committed
    assert_eq!(
        invoices(&cluster)?,
        [
            "invoice for o1",
            "invoice for o2",
            "invoice for o3",
            "invoice for o4"
        ]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_joining_mid_stream_takes_over_half_the_partitions() -> TestResult {
    let cluster = MockCluster::builder()
        .topic("orders", 2)
        .topic("invoices", 1)
        .start()
        .await?;
    let producer = cluster.producer().await?;
    let order = |i: i32| {
        ProducerRecord::builder("orders")
            .partition(i % 2)
            .value(format!("o{i}"))
            .build()
    };
    for i in 0..4 {
        producer.send(order(i)).await?.await?;
    }
    let first = billing_member(&cluster)?;
    bill_orders(&first, &cluster, 4).await?;

    // A second member joins while the first keeps serving; once the group has rebalanced
    // (generation 2, two members), four more orders arrive.
    let second = billing_member(&cluster)?;
    let more_orders = async {
        let both = |c: &MockCluster| {
            let billing = c.group("billing").ok().flatten();
            billing.is_some_and(|g| g.state == GroupState::Stable && g.members.len() == 2)
        };
        cluster.wait_until(both, Duration::from_secs(30)).await?;
        for i in 4..8 {
            producer.send(order(i)).await?.await?;
        }
        TestResult::Ok(())
    };
    let (a, b, c) = tokio::join!(
        bill_orders(&first, &cluster, 8),
        bill_orders(&second, &cluster, 8),
        more_orders
    );
    a?;
    b?;
    c?;
    let billing = cluster.group("billing")?.expect("the group exists");
    assert_eq!((billing.generation, billing.members.len()), (2, 2));
    let expected: Vec<String> = (0..8).map(|i| format!("invoice for o{i}")).collect();
    assert_eq!(invoices(&cluster)?, expected);
    Ok(())
}

use kafkit_producer::{ConsumerGroupMetadata, OffsetAndMetadata, Producer};
use kafkit_testkit::TxnOutcome;

/// The exactly-once service under test: for each order, in one transaction, an invoice and
/// the order's offset. Stops after `count` orders.
async fn bill_exactly_once(consumer: &StreamConsumer, producer: &Producer, count: usize) -> TestResult {
    let group = ConsumerGroupMetadata::new("billing");
    for _ in 0..count {
        let order = consumer.recv().await?;
        let invoice = format!(
            "invoice for {}",
            std::str::from_utf8(order.payload().unwrap_or_default())?
        );
        producer.begin_transaction()?;
        let _delivered_by_the_commit = producer.send(ProducerRecord::new("invoices", invoice)).await?;
        let next = (
            (order.topic().to_string(), order.partition()),
            OffsetAndMetadata::new(order.offset() + 1),
        );
        producer.send_offsets_to_transaction([next], &group).await?;
        producer.commit_transaction().await?;
    }
    Ok(())
}

async fn billing_instance(
    cluster: &MockCluster,
) -> Result<(StreamConsumer, Producer), Box<dyn std::error::Error>> {
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("group.id", "billing")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create()?;
    consumer.subscribe(&["orders"])?;
    // The same transactional id in every instance: a new one fences the one before.
    let config = cluster
        .producer_config()
        .transactional_id(Some("billing-1".into()))
        .build()?;
    let producer = cluster.in_memory_producer(config).await?;
    producer.init_transactions().await?;
    Ok((consumer, producer))
}

#[tokio::test(flavor = "multi_thread")]
async fn billing_is_exactly_once_through_a_crash_mid_transaction() -> TestResult {
    let cluster = MockCluster::builder()
        .topic("orders", 1)
        .topic("invoices", 1)
        .start()
        .await?;
    let orders = cluster.producer().await?;
    for order in ["o1", "o2", "o3", "o4"] {
        orders.send(ProducerRecord::new("orders", order)).await?.await?;
    }

    let (consumer, first) = billing_instance(&cluster).await?;
    bill_exactly_once(&consumer, &first, 2).await?;
    // o3: the invoice is written, then the instance hangs before its commit.
    let o3 = consumer.recv().await?;
    assert_eq!(o3.payload(), Some(&b"o3"[..]));
    first.begin_transaction()?;
    first
        .send(ProducerRecord::new("invoices", "invoice for o3"))
        .await?
        .await?;
    drop(o3); // librdkafka: a consumer closes once its messages are gone
    drop(consumer); // its group session ends; o3's offset was never committed

    // A second instance takes over: same transactional id, so the first is fenced and its
    // open transaction aborted; it resumes from the last committed offset, o3.
    let (consumer, second) = billing_instance(&cluster).await?;
    bill_exactly_once(&consumer, &second, 2).await?;
    let zombie = first.commit_transaction().await;
    assert!(
        matches!(&zombie, Err(kafkit_producer::Error::Fatal { code, .. }) if *code == ErrorCode::ProducerFenced),
        "{zombie:?}"
    );

    // What a read_committed consumer sees: every invoice once. The first o3 invoice is in
    // the log, aborted.
    let stored = cluster.records("invoices", 0)?;
    let committed: Vec<&str> = stored
        .iter()
        .filter(|r| r.is_committed())
        .filter_map(|r| r.value_str())
        .collect();
    assert_eq!(
        committed,
        [
            "invoice for o1",
            "invoice for o2",
            "invoice for o3",
            "invoice for o4"
        ]
    );
    let aborted = stored
        .iter()
        .filter(|r| r.transaction == Some(TxnOutcome::Aborted));
    assert_eq!(
        aborted.filter_map(|r| r.value_str()).collect::<Vec<_>>(),
        ["invoice for o3"]
    );
    assert_eq!(cluster.committed_offset("billing", "orders", 0)?, Some(4));
    Ok(())
}

#[test]
fn readme_blocks_are_these_tests() {
    let this = include_str!("readme.rs");
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("## Testing with kafkit")
        .expect("the README has the section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |end| end + 3)];
    let blocks = rust_blocks(section);
    assert_eq!(blocks.len(), 10, "the prelude and nine examples");
    for block in blocks {
        assert!(
            this.contains(&block),
            "README block missing from tests/suite/readme.rs:\n{block}"
        );
    }
}
