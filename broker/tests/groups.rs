//! librdkafka's consumer (the `rdkafka` crate) in consumer groups on kafkit's broker: members
//! share partitions, commit, leave and resume where the group left off, across a restart too;
//! eager and cooperative assignors; static membership without a rebalance; KIP-848 members
//! (`group.protocol=consumer`) with both server-side assignors.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kafkit_broker::config::TopicConfig;
use kafkit_broker::group::{GroupState, GroupsConfig};
use kafkit_broker::{Cluster, ClusterConfig};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 6;

fn config(data_dir: Option<std::path::PathBuf>) -> ClusterConfig {
    ClusterConfig {
        brokers: 2,
        data_dir,
        groups: GroupsConfig {
            initial_rebalance_delay: Duration::ZERO,
            offsets_topic_partitions: 5,
            consumer_heartbeat_interval: Duration::from_millis(500),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn produce(bootstrap: &str, from: usize, count: usize) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .create()
        .expect("producer");
    let mut sends = Vec::new();
    for i in from..from + count {
        let value = format!("record-{i}");
        let record = FutureRecord::to(TOPIC)
            .partition(i as i32 % PARTITIONS)
            .key("k")
            .payload(&value);
        sends.push(producer.send_result(record).expect("enqueue"));
    }
    for s in sends {
        s.await.expect("delivery").expect("acknowledged");
    }
}

fn consumer(bootstrap: &str, group: &str, extra: &[(&str, &str)]) -> BaseConsumer {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "500");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    let c: BaseConsumer = config.create().expect("consumer");
    c.subscribe(&[TOPIC]).expect("subscribe");
    c
}

/// Polls every consumer in turn until `done` says so (or 60 s pass); returns what each read,
/// as values by partition and offset, committing synchronously after each message.
fn poll_until(
    consumers: &[&BaseConsumer],
    done: impl FnMut(&[BTreeMap<(i32, i64), String>]) -> bool,
) -> Vec<BTreeMap<(i32, i64), String>> {
    poll_more(consumers, vec![BTreeMap::new(); consumers.len()], done)
}

/// [`poll_until`], adding to what was `read` before.
fn poll_more(
    consumers: &[&BaseConsumer],
    mut read: Vec<BTreeMap<(i32, i64), String>>,
    mut done: impl FnMut(&[BTreeMap<(i32, i64), String>]) -> bool,
) -> Vec<BTreeMap<(i32, i64), String>> {
    let start = Instant::now();
    while !done(&read) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out; read so far: {:?}; assignments {:?}",
            read.iter().map(per_partition).collect::<Vec<_>>(),
            consumers.iter().map(|c| assigned(c)).collect::<Vec<_>>()
        );
        for (i, c) in consumers.iter().enumerate() {
            if let Some(m) = c.poll(Duration::from_millis(50)) {
                let m = m.expect("consume");
                let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
                read[i].insert((m.partition(), m.offset()), value);
                // A commit racing a rebalance fails as in Kafka (ILLEGAL_GENERATION,
                // REBALANCE_IN_PROGRESS): the record is read again by its next owner.
                if let Err(e) = c.commit_message(&m, CommitMode::Sync) {
                    eprintln!("commit during a rebalance: {e}");
                }
            }
        }
    }
    read
}

fn per_partition(read: &BTreeMap<(i32, i64), String>) -> BTreeMap<i32, usize> {
    let mut out = BTreeMap::new();
    for (p, _) in read.keys() {
        *out.entry(*p).or_default() += 1;
    }
    out
}

fn counts(read: &[BTreeMap<(i32, i64), String>]) -> Vec<usize> {
    read.iter().map(BTreeMap::len).collect()
}

fn assigned(c: &BaseConsumer) -> BTreeSet<i32> {
    c.assignment()
        .expect("assignment")
        .elements()
        .iter()
        .map(|e| e.partition())
        .collect()
}

/// Polls (reading and committing) until both consumers hold three partitions each, disjoint;
/// returns what each read meanwhile.
fn wait_for_split(a: &BaseConsumer, b: &BaseConsumer) -> Vec<BTreeMap<(i32, i64), String>> {
    poll_until(&[a, b], |_| {
        let (pa, pb) = (assigned(a), assigned(b));
        pa.len() == 3 && pb.len() == 3 && pa.is_disjoint(&pb)
    })
}

/// How a member joins: the classic protocol with a client-side assignor, or KIP-848's
/// (`group.protocol=consumer`) with a server-side one.
#[derive(Debug, Clone, Copy)]
enum Protocol {
    Classic(&'static str),
    Kip848(&'static str),
}

impl Protocol {
    fn member(self, bootstrap: &str, group: &str) -> BaseConsumer {
        match self {
            Protocol::Classic(assignor) => {
                consumer(bootstrap, group, &[("partition.assignment.strategy", assignor)])
            }
            Protocol::Kip848(assignor) => kip848_consumer(bootstrap, group, assignor),
        }
    }
}

/// Two members share six partitions three and three; every record is read; the commits are
/// in `__consumer_offsets`; a third member started after both left reads only what was
/// produced since. With KIP-848 the coordinator assigns (revoking before it moves a
/// partition) and members commit at their member epochs; the group is Stable with both
/// members at the assignment epoch while they share.
#[rstest::rstest]
#[case::range(Protocol::Classic("range"))]
#[case::cooperative_sticky(Protocol::Classic("cooperative-sticky"))]
#[case::kip848_uniform(Protocol::Kip848("uniform"))]
#[case::kip848_range(Protocol::Kip848("range"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_share_partitions_and_a_successor_resumes_from_their_commits(#[case] protocol: Protocol) {
    let cluster = Cluster::start(config(None)).await.expect("cluster");
    cluster
        .state()
        .create_topic(TOPIC, PARTITIONS, TopicConfig::default())
        .expect("topic");
    let bootstrap = cluster.bootstrap_servers();
    produce(&bootstrap, 0, 600).await;

    let b = bootstrap.clone();
    let state = cluster.state().clone();
    tokio::task::spawn_blocking(move || {
        let first = protocol.member(&b, "g1");
        let second = protocol.member(&b, "g1");
        let before = wait_for_split(&first, &second);
        let read = poll_more(&[&first, &second], before, |read| {
            let all: BTreeSet<_> = read.iter().flat_map(|r| r.keys().copied()).collect();
            all.len() == 600
        });
        // After the split, each reads only its own partitions.
        let (pa, pb) = (assigned(&first), assigned(&second));
        assert!(pa.is_disjoint(&pb), "{pa:?} {pb:?}");
        let union: BTreeSet<_> = pa.union(&pb).copied().collect();
        assert_eq!(union, (0..PARTITIONS).collect());
        assert!(
            read.iter().all(|r| !r.is_empty()),
            "both members read: {:?}",
            counts(&read)
        );
        if let Protocol::Kip848(assignor) = protocol {
            let group = state.groups().consumer_group("g1").expect("a consumer group");
            assert_eq!((group.assignor, group.state().name()), (assignor, "Stable"));
            assert_eq!(group.members.len(), 2);
            assert!(group.members.values().all(|m| m.epoch == group.assignment_epoch));
            // Partitions moved only after they were revoked: nothing was read twice.
            assert_eq!(
                read.iter().map(BTreeMap::len).sum::<usize>(),
                600,
                "{:?}",
                counts(&read)
            );
        }
        for c in [&first, &second] {
            let start = Instant::now();
            // NoOffset: everything read is committed already.
            while let Err(e) =
                c.commit_consumer_state(CommitMode::Sync)
                    .or_else(|e| match e.rdkafka_error_code() {
                        Some(rdkafka::types::RDKafkaErrorCode::NoOffset) => Ok(()),
                        _ => Err(e),
                    })
            {
                assert!(start.elapsed() < Duration::from_secs(30), "final commit: {e}");
                let _ = c.poll(Duration::from_millis(50));
            }
        }
        first.close_queue().ok();
        second.close_queue().ok();
    })
    .await
    .expect("members");

    let groups = cluster.state().groups();
    for p in 0..PARTITIONS {
        let committed = groups.committed("g1", TOPIC, p).expect("committed");
        assert_eq!(committed.offset, 100, "partition {p}");
    }
    if let Protocol::Classic(_) = protocol {
        let info = groups.group("g1").expect("group");
        assert_eq!(info.protocol_type.as_deref(), Some("consumer"));
    }

    produce(&bootstrap, 600, 60).await;
    let b = bootstrap.clone();
    let later = tokio::task::spawn_blocking(move || {
        let third = protocol.member(&b, "g1");
        let read = poll_until(&[&third], |read| read[0].len() >= 60);
        // Nothing more arrives: it started at the commits.
        let extra = third.poll(Duration::from_millis(500));
        assert!(
            extra.is_none(),
            "read past the new records: {:?}",
            extra.map(|m| m.map(|m| m.offset()))
        );
        read.into_iter().next().unwrap_or_default()
    })
    .await
    .expect("successor");
    assert_eq!(later.len(), 60);
    assert!(later.keys().all(|&(_, offset)| offset >= 100), "{later:?}");
    let values: BTreeSet<&String> = later.values().collect();
    let expected: Vec<String> = (600..660).map(|i| format!("record-{i}")).collect();
    assert_eq!(values, expected.iter().collect());
    cluster.shutdown().await.expect("shutdown");
}

/// A KIP-848 member (`group.protocol=consumer`) of librdkafka.
fn kip848_consumer(bootstrap: &str, group: &str, assignor: &str) -> BaseConsumer {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("group.protocol", "consumer")
        .set("group.remote.assignor", assignor)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    c.subscribe(&[TOPIC]).expect("subscribe");
    c
}

/// Committed offsets survive a clean restart and a crash: a member of the group after the
/// restart starts where the commits left off. A KIP-848 group comes back at its epoch.
#[rstest::rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_survive_a_restart(
    #[values(true, false)] clean: bool,
    #[values(Protocol::Classic("range"), Protocol::Kip848("uniform"))] protocol: Protocol,
) {
    let dir = tempfile::tempdir().expect("dir");
    let cluster = Cluster::start(config(Some(dir.path().to_path_buf())))
        .await
        .expect("cluster");
    cluster
        .state()
        .create_topic(TOPIC, PARTITIONS, TopicConfig::default())
        .expect("topic");
    let bootstrap = cluster.bootstrap_servers();
    produce(&bootstrap, 0, 120).await;
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let c = protocol.member(&b, "keeper");
        poll_until(&[&c], |read| read[0].len() == 120);
    })
    .await
    .expect("first member");
    let epoch = cluster.state().groups().consumer_group("keeper").map(|g| g.epoch);
    if clean {
        cluster.shutdown().await.expect("shutdown");
    } else {
        cluster.crash().await;
    }

    let cluster = Cluster::start(config(Some(dir.path().to_path_buf())))
        .await
        .expect("restart");
    let groups = cluster.state().groups();
    assert_eq!(groups.consumer_group("keeper").map(|g| g.epoch), epoch);
    for p in 0..PARTITIONS {
        assert_eq!(
            groups.committed("keeper", TOPIC, p).map(|c| c.offset),
            Some(20),
            "partition {p}"
        );
    }
    let bootstrap = cluster.bootstrap_servers();
    produce(&bootstrap, 120, 12).await;
    let b = bootstrap.clone();
    let read = tokio::task::spawn_blocking(move || {
        let c = protocol.member(&b, "keeper");
        poll_until(&[&c], |read| read[0].len() >= 12).remove(0)
    })
    .await
    .expect("second member");
    assert_eq!(read.len(), 12);
    assert!(read.keys().all(|&(_, o)| o == 20 || o == 21), "{read:?}");
    cluster.shutdown().await.expect("shutdown");
}

/// A static member (`group.instance.id`) that restarts within its session timeout takes its
/// old place without a rebalance: same generation, same partitions (KIP-345).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_returns_without_a_rebalance() {
    let cluster = Cluster::start(config(None)).await.expect("cluster");
    cluster
        .state()
        .create_topic(TOPIC, PARTITIONS, TopicConfig::default())
        .expect("topic");
    let bootstrap = cluster.bootstrap_servers();
    produce(&bootstrap, 0, 60).await;
    let state = cluster.state().clone();
    tokio::task::spawn_blocking(move || {
        let a = consumer(&bootstrap, "static", &[("group.instance.id", "a")]);
        let b = consumer(&bootstrap, "static", &[("group.instance.id", "b")]);
        wait_for_split(&a, &b);
        let before = state.groups().group("static").expect("group");
        assert_eq!(before.state, GroupState::Stable);
        let b_partitions = assigned(&b);
        // A static member's close does not leave the group.
        drop(b);
        let b = consumer(&bootstrap, "static", &[("group.instance.id", "b")]);
        let start = Instant::now();
        while assigned(&b).len() != 3 {
            let _ = a.poll(Duration::from_millis(20));
            let _ = b.poll(Duration::from_millis(20));
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the returning member got no partitions"
            );
        }
        assert_eq!(assigned(&b), b_partitions);
        let after = state.groups().group("static").expect("group");
        assert_eq!(after.generation, before.generation, "no rebalance");
        assert_eq!(after.state, GroupState::Stable);
        let instances: BTreeSet<_> = after
            .members
            .iter()
            .filter_map(|m| m.instance_id.clone())
            .collect();
        assert_eq!(
            instances,
            ["a".to_string(), "b".to_string()].into_iter().collect()
        );
    })
    .await
    .expect("members");
    cluster.shutdown().await.expect("shutdown");
}
