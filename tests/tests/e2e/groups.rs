//! Consumer groups with librdkafka's consumers (the `rdkafka` crate's `StreamConsumer` and
//! `BaseConsumer`), on every target and on Apache Kafka (see [`crate::on_kafka`]): members
//! split a topic and read every record once between them, a successor resumes from their
//! commits, members joining and leaving rebalance the group with the eager and the cooperative
//! assignor, and a static member comes back without a rebalance.
//!
//! kafkit's producer writes the records; the consumers are clients nobody here wrote.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafkit_producer::ProducerRecord;
use kafkit_testkit::Target;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::ClientContext;
use rstest::rstest;

use crate::everywhere::On;
use crate::{producer, TestResult};

/// How long a scenario waits for a group to settle or records to arrive.
const PATIENCE: Duration = Duration::from_secs(60);

fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn consumer_config(target: &dyn Target, group: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", target.bootstrap_servers())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "300")
        .set("topic.metadata.refresh.interval.ms", "1000");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config
}

/// A KIP-848 member's settings (`group.protocol=consumer`, server-side `assignor`): the
/// session and heartbeat settings are the broker's under KIP-848, so none are set.
fn kip848_config(target: &dyn Target, group: &str, assignor: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", target.bootstrap_servers())
        .set("group.id", group)
        .set("group.protocol", "consumer")
        .set("group.remote.assignor", assignor)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("topic.metadata.refresh.interval.ms", "1000");
    config
}

/// A member's settings for a group id.
type Member<'a> = &'a dyn Fn(&str) -> ClientConfig;

/// Produces `values` to `topic` (keyed by value, so spread over the partitions).
async fn produce(target: &dyn Target, topic: &str, values: impl Iterator<Item = String>) -> TestResult {
    let producer = producer(target, &[("linger.ms", "2")]).await?;
    let mut deliveries = Vec::new();
    for v in values {
        let record = ProducerRecord::builder(topic.to_string())
            .key(v.clone())
            .value(v)
            .build();
        deliveries.push(producer.send(record).await?);
    }
    for d in deliveries {
        d.await?;
    }
    producer.close(Duration::from_secs(10)).await;
    Ok(())
}

fn partitions_of<X: ConsumerContext, C: Consumer<X>>(c: &C) -> BTreeSet<i32> {
    c.assignment()
        .map(|a| a.elements().iter().map(|e| e.partition()).collect())
        .unwrap_or_default()
}

/// Counts the rebalances a consumer goes through (assignments and revocations).
#[derive(Default)]
struct Counting {
    rebalances: Arc<AtomicUsize>,
}

impl ClientContext for Counting {}

impl ConsumerContext for Counting {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if !matches!(rebalance, Rebalance::Error(_)) {
            self.rebalances.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Two StreamConsumers of one group split a six-partition topic three and three; the records
/// produced once they have settled are each read exactly once between them, by the member
/// that owns the record's partition.
pub(crate) async fn members_split_partitions_and_read_each_record_once(target: &dyn Target) -> TestResult {
    split(target, &|group| consumer_config(target, group, &[])).await
}

/// [`members_split_partitions_and_read_each_record_once`] with KIP-848 members (the
/// coordinator's `uniform` assignor).
pub(crate) async fn kip848_members_split_partitions_and_read_each_record_once(
    target: &dyn Target,
) -> TestResult {
    split(target, &|group| kip848_config(target, group, "uniform")).await
}

async fn split(target: &dyn Target, member: Member<'_>) -> TestResult {
    let topic = target.create_unique_topic("group-split", 6).await?;
    let group = unique("split");
    let members: Vec<StreamConsumer> = (0..2)
        .map(|_| member(&group).create())
        .collect::<Result<_, _>>()?;
    for m in &members {
        m.subscribe(&[&topic])?;
    }
    // Polling drives the join; nothing is produced yet, so nothing arrives.
    let start = Instant::now();
    loop {
        for m in &members {
            let _ = tokio::time::timeout(Duration::from_millis(50), m.recv()).await;
        }
        let (a, b) = (partitions_of(&members[0]), partitions_of(&members[1]));
        if a.len() == 3 && b.len() == 3 && a.is_disjoint(&b) {
            break;
        }
        if start.elapsed() > PATIENCE {
            return Err(format!("the group did not split the partitions: {a:?} {b:?}").into());
        }
    }
    produce(target, &topic, (0..600).map(|i| format!("r{i}"))).await?;
    let mut read: Vec<(usize, i32, String)> = Vec::new();
    let start = Instant::now();
    while read.len() < 600 && start.elapsed() < PATIENCE {
        for (i, m) in members.iter().enumerate() {
            if let Ok(message) = tokio::time::timeout(Duration::from_millis(20), m.recv()).await {
                let message = message?;
                let value = String::from_utf8_lossy(message.payload().unwrap_or_default()).to_string();
                read.push((i, message.partition(), value));
            }
        }
    }
    let values: BTreeSet<&String> = read.iter().map(|(_, _, v)| v).collect();
    assert_eq!(read.len(), 600, "read {} records", read.len());
    assert_eq!(values.len(), 600, "each record once");
    let owned = [partitions_of(&members[0]), partitions_of(&members[1])];
    for (member, partition, value) in &read {
        assert!(
            owned[*member].contains(partition),
            "{value} read by member {member} from partition {partition}, which it does not own"
        );
    }
    for m in &members {
        m.commit_consumer_state(CommitMode::Sync)?;
    }
    Ok(())
}

/// Reads with `c` until `n` records arrived, committing after each; returns the values.
fn read_committing(c: &BaseConsumer<impl ConsumerContext>, n: usize) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let start = Instant::now();
    while out.len() < n {
        if start.elapsed() > PATIENCE {
            return Err(format!("read {} of {n} records", out.len()));
        }
        if let Some(message) = c.poll(Duration::from_millis(50)) {
            let message = message.map_err(|e| e.to_string())?;
            out.push(String::from_utf8_lossy(message.payload().unwrap_or_default()).to_string());
            c.commit_message(&message, CommitMode::Sync)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(out)
}

/// A member reads and commits, then closes; a member started later reads exactly what was
/// produced since, from the committed offsets.
pub(crate) async fn a_successor_resumes_from_committed_offsets(target: &dyn Target) -> TestResult {
    resume(target, &|group| consumer_config(target, group, &[])).await
}

/// [`a_successor_resumes_from_committed_offsets`] with KIP-848 members, committing at their
/// member epochs.
pub(crate) async fn kip848_a_successor_resumes_from_committed_offsets(target: &dyn Target) -> TestResult {
    resume(target, &|group| kip848_config(target, group, "uniform")).await
}

async fn resume(target: &dyn Target, member: Member<'_>) -> TestResult {
    let topic = target.create_unique_topic("group-resume", 3).await?;
    let group = unique("resume");
    produce(target, &topic, (0..90).map(|i| format!("old{i}"))).await?;
    let first: BaseConsumer = member(&group).create()?;
    first.subscribe(&[&topic])?;
    let old = tokio::task::spawn_blocking(move || {
        let read = read_committing(&first, 90);
        drop(first); // close: leaves the group
        read
    })
    .await??;
    assert_eq!(old.iter().collect::<BTreeSet<_>>().len(), 90);

    produce(target, &topic, (0..30).map(|i| format!("new{i}"))).await?;
    let second: BaseConsumer = member(&group).create()?;
    second.subscribe(&[&topic])?;
    let (new, extra) = tokio::task::spawn_blocking(move || {
        let read = read_committing(&second, 30);
        let extra = second
            .poll(Duration::from_millis(1500))
            .map(|m| m.map(|m| m.offset()));
        (read, extra)
    })
    .await?;
    let new = new?;
    assert!(extra.is_none(), "read past the new records: {extra:?}");
    let expected: BTreeSet<String> = (0..30).map(|i| format!("new{i}")).collect();
    assert_eq!(new.into_iter().collect::<BTreeSet<_>>(), expected);
    Ok(())
}

/// Polls every member until `settled` holds for their assignments; returns what they read
/// meanwhile (by value), committing each.
fn poll_until(
    members: &[&BaseConsumer<Counting>],
    mut settled: impl FnMut(&[BTreeSet<i32>], &BTreeMap<String, usize>) -> bool,
    read: &mut BTreeMap<String, usize>,
    what: &str,
) -> Result<(), String> {
    let start = Instant::now();
    loop {
        for m in members {
            if let Some(message) = m.poll(Duration::from_millis(20)) {
                let message = message.map_err(|e| e.to_string())?;
                let value = String::from_utf8_lossy(message.payload().unwrap_or_default()).to_string();
                *read.entry(value).or_default() += 1;
                // A commit racing a rebalance may fail (REBALANCE_IN_PROGRESS,
                // ILLEGAL_GENERATION); the record is then read again by its next owner.
                let _ = m.commit_message(&message, CommitMode::Sync);
            }
        }
        let assigned: Vec<BTreeSet<i32>> = members.iter().map(|m| partitions_of(*m)).collect();
        if settled(&assigned, read) {
            return Ok(());
        }
        if start.elapsed() > PATIENCE {
            return Err(format!("{what}: assignments {assigned:?}"));
        }
    }
}

/// One member holds all six partitions; a second joins and they split them; the second
/// leaves and the first holds all six again. Records produced in every phase are all read
/// (at least once: a rebalance may hand a partition over before its last commit).
pub(crate) async fn members_joining_and_leaving_rebalance(
    target: &dyn Target,
    member: Member<'_>,
) -> TestResult {
    let topic = target.create_unique_topic("group-rebalance", 6).await?;
    let group = unique("rebalance");
    let all: BTreeSet<i32> = (0..6).collect();
    let make = || -> Result<BaseConsumer<Counting>, rdkafka::error::KafkaError> {
        let c: BaseConsumer<Counting> = member(&group).create_with_context(Counting::default())?;
        c.subscribe(&[&topic])?;
        Ok(c)
    };
    let a = make()?;
    let mut read = BTreeMap::new();
    let (a, mut read) = tokio::task::spawn_blocking(move || {
        let alone = poll_until(&[&a], |s, _| s[0] == (0..6).collect(), &mut read, "alone");
        alone.map(|()| (a, read))
    })
    .await??;
    produce(target, &topic, (0..60).map(|i| format!("alone{i}"))).await?;
    let b = make()?;
    let (a, b, mut read) = tokio::task::spawn_blocking(move || {
        let split = poll_until(
            &[&a, &b],
            |s, _| s[0].len() == 3 && s[1].len() == 3 && s[0].is_disjoint(&s[1]),
            &mut read,
            "split",
        );
        split.map(|()| (a, b, read))
    })
    .await??;
    produce(target, &topic, (0..60).map(|i| format!("pair{i}"))).await?;
    let (a, mut read) = tokio::task::spawn_blocking(move || {
        let pair = poll_until(
            &[&a, &b],
            |_, read| read_all(read, "pair", 60) && read_all(read, "alone", 60),
            &mut read,
            "pair",
        );
        drop(b); // leaves the group
        pair.map(|()| (a, read))
    })
    .await??;
    produce(target, &topic, (0..60).map(|i| format!("after{i}"))).await?;
    let read = tokio::task::spawn_blocking(move || {
        let back = poll_until(
            &[&a],
            |s, read| s[0] == all && read_all(read, "after", 60),
            &mut read,
            "back",
        );
        back.map(|()| read)
    })
    .await??;
    for phase in ["alone", "pair", "after"] {
        assert!(read_all(&read, phase, 60), "{phase}: {read:?}");
    }
    Ok(())
}

fn read_all(read: &BTreeMap<String, usize>, phase: &str, n: usize) -> bool {
    (0..n).all(|i| read.contains_key(&format!("{phase}{i}")))
}

/// A static member (`group.instance.id`) that restarts within its session timeout gets its
/// partitions back, and the other member goes through no rebalance (KIP-345).
pub(crate) async fn a_static_member_restarts_without_a_rebalance(target: &dyn Target) -> TestResult {
    let topic = target.create_unique_topic("group-static", 4).await?;
    let group = unique("static");
    let make = |instance: &str| -> Result<BaseConsumer<Counting>, rdkafka::error::KafkaError> {
        let c: BaseConsumer<Counting> = consumer_config(target, &group, &[("group.instance.id", instance)])
            .create_with_context(Counting::default())?;
        c.subscribe(&[&topic])?;
        Ok(c)
    };
    let (a, b) = (make("a")?, make("b")?);
    let rebalances = a.context().rebalances.clone();
    let (a, b_partitions) = tokio::task::spawn_blocking(move || {
        let mut read = BTreeMap::new();
        poll_until(
            &[&a, &b],
            |s, _| s[0].len() == 2 && s[1].len() == 2 && s[0].is_disjoint(&s[1]),
            &mut read,
            "split",
        )?;
        let b_partitions = partitions_of(&b);
        drop(b); // a static member's close does not leave the group
        Ok::<_, String>((a, b_partitions))
    })
    .await??;
    let before = rebalances.load(Ordering::Relaxed);
    let b = make("b")?;
    let (a, b) = tokio::task::spawn_blocking(move || {
        let mut read = BTreeMap::new();
        poll_until(&[&a, &b], |s, _| s[1] == b_partitions, &mut read, "return")?;
        // Give a rebalance, were there one, time to reach `a`.
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            let _ = a.poll(Duration::from_millis(50));
            let _ = b.poll(Duration::from_millis(50));
        }
        Ok::<_, String>((a, b))
    })
    .await??;
    assert_eq!(
        rebalances.load(Ordering::Relaxed),
        before,
        "the other member rebalanced"
    );
    assert_eq!(partitions_of(&a).len(), 2);
    drop((a, b));
    Ok(())
}

pub(crate) async fn members_joining_and_leaving_rebalance_eager(target: &dyn Target) -> TestResult {
    let strategy = [("partition.assignment.strategy", "range")];
    members_joining_and_leaving_rebalance(target, &|group| consumer_config(target, group, &strategy)).await
}

pub(crate) async fn members_joining_and_leaving_rebalance_cooperative(target: &dyn Target) -> TestResult {
    let strategy = [("partition.assignment.strategy", "cooperative-sticky")];
    members_joining_and_leaving_rebalance(target, &|group| consumer_config(target, group, &strategy)).await
}

/// [`members_joining_and_leaving_rebalance`] with KIP-848 members and the coordinator's
/// `range` assignor: the coordinator revokes before it reassigns.
pub(crate) async fn kip848_members_joining_and_leaving_rebalance(target: &dyn Target) -> TestResult {
    members_joining_and_leaving_rebalance(target, &|group| kip848_config(target, group, "range")).await
}

mod on_every {
    use super::*;

    macro_rules! on_targets {
        ($targets:tt $($name:ident),* $(,)?) => {$(
            #[rstest]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name(#[values $targets] on: On) -> TestResult {
                match on.start().await? {
                    Some(t) => super::$name(&*t).await,
                    None => Ok(()), // unavailable here; the reason was printed
                }
            }
        )*};
    }

    on_targets!(
        (On::Kafkit, On::Librdkafka, On::External)
        members_split_partitions_and_read_each_record_once,
        a_successor_resumes_from_committed_offsets,
        members_joining_and_leaving_rebalance_eager,
        members_joining_and_leaving_rebalance_cooperative,
    );

    // KIP-848 (`group.protocol=consumer`).
    on_targets!(
        (On::Kafkit, On::Librdkafka, On::External)
        kip848_members_split_partitions_and_read_each_record_once,
        kip848_a_successor_resumes_from_committed_offsets,
        kip848_members_joining_and_leaving_rebalance,
    );

    // librdkafka's mock cluster rebalances the group when a static member comes back (it
    // does not implement KIP-345's rejoin without a rebalance); Kafka and kafkit do not.
    on_targets!(
        (On::Kafkit, On::External)
        a_static_member_restarts_without_a_rebalance,
    );
}
