//! The suite on Apache Kafka itself.
//!
//! Every scenario that needs nothing but a broker (the `everywhere`, `groups` and `transactions`
//! scenarios) runs here, one
//! after the other, on the Kafka target of the test kit ([`TargetKind::Kafka`]: a running
//! Kafka named by `KAFKIT_KAFKA_BOOTSTRAP`, or the process started from Kafka's jars). The test
//! prints a line per scenario, how many ran on Kafka, and which of the suite's scenarios do
//! not run there and why, so that nothing is left out silently. Without a Kafka it says why and
//! passes, unless `KAFKIT_REQUIRE_KAFKA` is set (CI sets it), when it fails.
//!
//! One test rather than a Kafka column in each scenario's matrix: the count and the list of
//! what does not run are the point, and a test cannot see the others' outcomes.
//!
//! A second test moves a partition's leader on a three-node Kafka, with Kafka's own
//! reassignment and leader-election tools, while kafkit's producer sends.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use kafkit_testkit::{Target, TargetKind};

use crate::TestResult;
use crate::{everywhere, groups, transactions};

type Scenario = for<'a> fn(&'a dyn Target) -> Pin<Box<dyn Future<Output = TestResult> + 'a>>;

macro_rules! scenarios {
    ($($module:ident :: $name:ident),* $(,)?) => {
        &[$((stringify!($name), |t| Box::pin($module::$name(t)))),*]
    };
}

/// Runs only the scenarios whose name contains its value (for debugging one on Kafka).
const ONLY_ENV: &str = "KAFKIT_KAFKA_SCENARIO";

/// The scenarios that run on Kafka: every one of `everywhere`, `groups` and `transactions`.
const ON_KAFKA: &[(&str, Scenario)] = scenarios!(
    everywhere::keyed_records_land_on_javas_partitions,
    everywhere::offsets_are_contiguous_with_timestamps,
    everywhere::every_codec_round_trips,
    everywhere::nulls_empties_and_headers_survive,
    everywhere::records_larger_than_batch_size,
    everywhere::every_acks_setting_stores,
    everywhere::keyless_records_follow_the_sticky_rule,
    everywhere::record_over_max_request_size_fails_before_sending,
    everywhere::flush_covers_earlier_records_and_close_drains,
    groups::members_split_partitions_and_read_each_record_once,
    groups::a_successor_resumes_from_committed_offsets,
    groups::members_joining_and_leaving_rebalance_eager,
    groups::members_joining_and_leaving_rebalance_cooperative,
    groups::a_static_member_restarts_without_a_rebalance,
    groups::kip848_members_split_partitions_and_read_each_record_once,
    groups::kip848_a_successor_resumes_from_committed_offsets,
    groups::kip848_members_joining_and_leaving_rebalance,
    transactions::commits_and_aborts_are_what_read_committed_sees,
    transactions::a_second_instance_fences_the_first,
    transactions::offsets_commit_with_their_transaction,
    transactions::a_transaction_past_its_timeout_is_aborted,
);

/// The suite's modules whose scenarios do not run on Kafka, and why.
const NOT_ON_KAFKA: &[(&str, &str)] = &[
    (
        "faults",
        "they inject faults (errors, lost responses, held requests) into the broker and move its leaders",
    ),
    (
        "randomized",
        "seeded schedules of the same faults and cluster events",
    ),
    (
        "unknown_fate",
        "they drop responses after the append, which only the kafkit mock can do",
    ),
    (
        "adaptive",
        "they need a broker that answers late or holds requests (faults)",
    ),
    (
        "held_broker",
        "they hold Produce requests at the broker and take brokers down",
    ),
    (
        "shaping",
        "they read the request journal and lower message.max.bytes",
    ),
    (
        "partitions_added",
        "they grow topics through the mock and run on the paused clock",
    ),
    ("librdkafka", "it is the librdkafka mock cluster target itself"),
    (
        "real_clients",
        "they check real clients against kafkit's broker, the other direction",
    ),
];

/// Every broker-only scenario on Apache Kafka, with the count and the list of what does not run.
#[tokio::test(flavor = "current_thread")]
async fn the_suite_on_apache_kafka() -> TestResult {
    // current_thread: the sticky-partitioner scenario needs the sender to run only while the
    // scenario waits (see its docs); the others do not mind.
    let Some(kafka) = TargetKind::Kafka.start().await? else {
        println!("0 scenarios ran on Apache Kafka: no Kafka here (the reason is printed above)");
        return Ok(());
    };
    println!("on {}", kafka.name());
    let only = std::env::var(ONLY_ENV).ok();
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, scenario) in ON_KAFKA {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            println!(
                "  left out {name} ({ONLY_ENV}={})",
                only.as_deref().unwrap_or_default()
            );
            continue;
        }
        ran += 1;
        let started = Instant::now();
        match scenario(&*kafka).await {
            Ok(()) => println!("  ok      {name} ({:?})", started.elapsed()),
            Err(e) => {
                println!("  FAILED  {name}: {e}");
                failed.push(format!("{name}: {e}"));
            }
        }
    }
    println!("{ran} scenarios ran on Apache Kafka, {} failed", failed.len());
    println!("not run on Apache Kafka:");
    for (module, why) in NOT_ON_KAFKA {
        println!("  {module}: {why}");
    }
    assert!(failed.is_empty(), "on Apache Kafka: {failed:#?}");
    Ok(())
}

/// The leader of `topic`/0 on the Kafka at `addr`, and its epoch.
async fn leader_of(addr: &str, topic: &str) -> Result<(i32, i32), Box<dyn std::error::Error>> {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::{MetadataRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let mut client = kafkit_testkit::WireClient::new(stream, "leader-probe");
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_string(topic.to_string()))))]))
        .with_allow_auto_topic_creation(false);
    let response = client.send(12, &request).await?;
    let p = response
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or("no partition in metadata")?;
    Ok((p.leader_id.0, p.leader_epoch))
}

/// A leader move on a real three-node Kafka, as an operator makes it (Kafka's own
/// kafka-reassign-partitions and kafka-leader-election tools), while kafkit's idempotent
/// producer sends: every record is stored exactly once, in send order, the later ones by the
/// new leader in its new epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_move_on_three_kafka_nodes_keeps_exactly_once_in_order() -> TestResult {
    use kafkit_producer::ProducerRecord;
    use kafkit_testkit::target::KafkaProcess;

    let Some(libs) = crate::kafka_jars_or_skip()? else {
        return Ok(());
    };
    let kafka = KafkaProcess::builder(libs.clone()).nodes(3).start().await?;
    let bootstrap = kafka.bootstrap_servers();
    let topic = kafka.create_unique_topic("moving", 1).await?;
    let (before, epoch_before) = leader_of(&kafka.node_addrs()[0], &topic).await?;
    let producer = crate::producer(&kafka, &[("linger.ms", "2")]).await?;
    let send = |from: usize, to: usize| {
        let (producer, topic) = (producer.clone(), topic.clone());
        async move {
            let mut deliveries = Vec::new();
            for i in from..to {
                let record = ProducerRecord::builder(topic.clone())
                    .partition(0)
                    .value(i.to_string())
                    .build();
                deliveries.push(producer.send(record).await?);
                if i % 100 == 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            }
            for d in deliveries {
                d.await?;
            }
            Ok::<(), kafkit_producer::Error>(())
        }
    };
    send(0, 1000).await?;
    // Move the leadership to another node while records keep coming.
    let during = tokio::spawn(send(1000, 3000));
    let to = [1, 2, 3]
        .into_iter()
        .find(|&n| n != before)
        .ok_or("no other node")?;
    let replicas: Vec<i32> = std::iter::once(to)
        .chain([1, 2, 3].into_iter().filter(|&n| n != to))
        .collect();
    let plan = format!(
        r#"{{"version":1,"partitions":[{{"topic":"{topic}","partition":0,"replicas":{replicas:?}}}]}}"#
    );
    let plan_file = kafka.node_dir(1).join("move.json");
    std::fs::write(&plan_file, plan)?;
    let plan_path = plan_file.display().to_string();
    crate::kafka_tools::kafka_class(
        &libs,
        "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
        &[
            "--bootstrap-server",
            &bootstrap,
            "--reassignment-json-file",
            &plan_path,
            "--execute",
        ],
    )?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let elected = crate::kafka_tools::kafka_class(
            &libs,
            "org.apache.kafka.tools.LeaderElectionCommand",
            &[
                "--bootstrap-server",
                &bootstrap,
                "--election-type",
                "PREFERRED",
                "--topic",
                &topic,
                "--partition",
                "0",
            ],
        );
        if leader_of(&kafka.node_addrs()[0], &topic).await?.0 == to {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("the leader did not move to {to}: {elected:?}").into());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    during.await??;
    send(3000, 4000).await?;
    producer.close(std::time::Duration::from_secs(10)).await;

    let (after, epoch_after) = leader_of(&kafka.node_addrs()[0], &topic).await?;
    assert_eq!(after, to);
    assert!(
        epoch_after > epoch_before,
        "a new leader epoch: {epoch_before} -> {epoch_after}"
    );
    let stored = kafka.read_partition(&topic, 0).await?;
    let values: Vec<usize> = stored
        .iter()
        .map(|r| r.value_str().unwrap_or_default().parse().unwrap_or(usize::MAX))
        .collect();
    assert_eq!(
        values,
        (0..4000).collect::<Vec<_>>(),
        "exactly once, in send order"
    );
    let last_epoch = stored.last().map(|r| r.partition_leader_epoch);
    assert_eq!(
        last_epoch,
        Some(epoch_after),
        "the last records were appended by the new leader"
    );
    println!(
        "leader moved {before} -> {after} (epoch {epoch_before} -> {epoch_after}) during 4000 sends; stored once each, in order"
    );
    Ok(())
}
