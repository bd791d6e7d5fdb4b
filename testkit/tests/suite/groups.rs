//! Consumer groups through the test kit: librdkafka's consumer joins, reads and commits; the
//! test sees the group and its commits without a client of its own; faults on the group APIs
//! are answered as injected and the consumer recovers.

use std::time::{Duration, Instant};

use kafkit_testkit::{ApiKey, ErrorCode, Fault, GroupState, MockCluster};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;

use crate::common::{producer, send};

fn consumer(cluster: &MockCluster, group: &str) -> BaseConsumer {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("retry.backoff.ms", "50")
        .create()
        .expect("consumer");
    c.subscribe(&["orders"]).expect("subscribe");
    c
}

/// A KIP-848 member (`group.protocol=consumer`) of `group`, subscribed to `orders`.
fn kip848_consumer(cluster: &MockCluster, group: &str) -> BaseConsumer {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("group.id", group)
        .set("group.protocol", "consumer")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("reconnect.backoff.ms", "20")
        .set("reconnect.backoff.max.ms", "200")
        .create()
        .expect("consumer");
    c.subscribe(&["orders"]).expect("subscribe");
    c
}

/// Reads `n` records, committing each; returns their values.
fn read(c: &BaseConsumer, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let start = Instant::now();
    while out.len() < n {
        assert!(start.elapsed() < Duration::from_secs(30), "read only {out:?}");
        match c.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => {
                out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string());
                c.commit_message(&m, CommitMode::Sync).expect("commit");
            }
            // librdkafka reports a coordinator that moved (NOT_COORDINATOR) as an event and
            // goes on.
            Some(Err(e)) => eprintln!("consumer event: {e}"),
            None => {}
        }
    }
    out
}

/// The group as the coordinator holds it and the offsets the consumer committed are visible
/// to the test; a FindCoordinator and a JoinGroup answered with retriable errors only delay
/// the join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_group_is_inspected_and_survives_coordinator_faults() {
    let cluster = MockCluster::builder()
        .topic("orders", 2)
        .start()
        .await
        .expect("cluster");
    let p = producer(&cluster, &[]);
    for (i, partition) in [0, 1, 0].into_iter().enumerate() {
        send(&p, "orders", partition, &format!("v{i}")).await;
    }
    let find = cluster.fault(
        Fault::on(ApiKey::FindCoordinator)
            .respond_error(ErrorCode::CoordinatorNotAvailable)
            .times(2),
    );
    let join =
        cluster.fault(Fault::on(ApiKey::JoinGroup).respond_error(ErrorCode::CoordinatorLoadInProgress));
    let c = consumer(&cluster, "inspected");
    let mut values = tokio::task::block_in_place(|| read(&c, 3));
    values.sort();
    assert_eq!(values, ["v0", "v1", "v2"]);
    assert_eq!((find.hits(), join.hits()), (2, 1));

    let group = cluster.group("inspected").expect("state").expect("group");
    assert_eq!(group.state, GroupState::Stable);
    assert_eq!(group.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(group.members.len(), 1);
    assert_eq!(group.leader.as_deref(), Some(group.members[0].member_id.as_str()));
    assert_eq!(
        cluster.committed_offset("inspected", "orders", 0).expect("state"),
        Some(2)
    );
    assert_eq!(
        cluster.committed_offset("inspected", "orders", 1).expect("state"),
        Some(1)
    );
    assert_eq!(cluster.groups().expect("state"), ["inspected"]);
    send(&p, "orders", 1, "unread").await;
    let lag: Vec<(i32, i64, Option<i64>)> = cluster
        .committed_offsets("inspected")
        .expect("state")
        .iter()
        .map(|c| (c.partition, c.offset, c.lag))
        .collect();
    assert_eq!(
        lag,
        [(0, 2, Some(0)), (1, 1, Some(1))],
        "partition 1 has one unread record"
    );
    assert!(cluster
        .topics()
        .expect("topics")
        .iter()
        .any(|(t, _)| t == "__consumer_offsets"));

    // Closing leaves the group (LeaveGroup): it is Empty at once, its commits kept.
    tokio::task::block_in_place(|| {
        c.unsubscribe();
        drop(c);
    });
    cluster
        .wait_until(
            |c| {
                c.group("inspected")
                    .ok()
                    .flatten()
                    .is_some_and(|g| g.state == GroupState::Empty)
            },
            Duration::from_secs(10),
        )
        .await
        .expect("empty after leaving");
    assert_eq!(
        cluster.committed_offset("inspected", "orders", 0).expect("state"),
        Some(2)
    );
    cluster.assert_all_faults_fired();
}

/// Polls `c` (reading nothing in particular) until `done` holds or 30 s pass.
fn poll_until(c: &BaseConsumer, mut done: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        let _ = c.poll(Duration::from_millis(20));
    }
}

/// The test kit's group events and group-filtered faults: an injected REBALANCE_IN_PROGRESS
/// for one group only, an expired session, and a coordinator moved to another broker; the
/// consumer rejoins after each, in a new generation, and keeps committing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_events_and_faults_by_group() {
    let cluster = MockCluster::builder()
        .brokers(2)
        .topic("orders", 2)
        .start()
        .await
        .expect("cluster");
    let p = producer(&cluster, &[]);
    send(&p, "orders", 0, "first").await;
    let c = consumer(&cluster, "events");
    let other = consumer(&cluster, "bystander");
    tokio::task::block_in_place(|| {
        read(&c, 1);
        read(&other, 1);
    });
    let generation =
        |cluster: &MockCluster| cluster.group("events").expect("state").expect("group").generation;
    let stable_in = |cluster: &MockCluster, g: i32| {
        cluster
            .group("events")
            .ok()
            .flatten()
            .is_some_and(|info| info.state == GroupState::Stable && info.generation > g)
    };

    // A fault for this group only: the bystander's heartbeats are untouched.
    let g0 = generation(&cluster);
    let fault = cluster.fault(
        Fault::on(ApiKey::Heartbeat)
            .group("events")
            .respond_error(ErrorCode::RebalanceInProgress),
    );
    tokio::task::block_in_place(|| {
        poll_until(
            &c,
            || stable_in(&cluster, g0),
            "a rejoin after the injected error",
        );
        let _ = other.poll(Duration::from_millis(10));
    });
    assert_eq!(fault.hits(), 1);
    let heartbeats = cluster.journal().requests(ApiKey::Heartbeat);
    let of_group = |group: &str| {
        heartbeats
            .iter()
            .filter(|e| matches!(&e.request.body, kafkit_testkit::RequestBody::Heartbeat(r) if r.group_id.0.as_str() == group))
            .collect::<Vec<_>>()
    };
    assert!(of_group("events").iter().any(|e| e.faults.contains(&fault.id())));
    let bystander = of_group("bystander");
    assert!(!bystander.is_empty(), "the bystander heartbeats too");
    assert!(
        bystander.iter().all(|e| !e.faults.contains(&fault.id())),
        "only the group's heartbeat was hit"
    );

    // An expired session: the member learns UNKNOWN_MEMBER_ID and joins again.
    let g1 = generation(&cluster);
    let member = cluster.group("events").expect("state").expect("group").members[0]
        .member_id
        .clone();
    cluster.expire_group_member("events", &member).expect("expire");
    assert_eq!(
        cluster.group("events").expect("state").expect("group").state,
        GroupState::Empty
    );
    tokio::task::block_in_place(|| poll_until(&c, || stable_in(&cluster, g1), "a rejoin after expiry"));
    let rejoined = cluster.group("events").expect("state").expect("group");
    assert_ne!(rejoined.members[0].member_id, member, "a new member id");
    assert!(matches!(
        cluster.expire_group_member("events", "nobody"),
        Err(kafkit_testkit::Error::Kafka {
            code: ErrorCode::UnknownMemberId,
            ..
        })
    ));
    // A record read after the rejoin: the consumer has fetched its committed offsets. (Moving
    // the coordinator while it fetches them is another test: in our runs the librdkafka that
    // rdkafka 0.39 bundles did not ask again after an OffsetFetch answered NOT_COORDINATOR
    // and started partitions without a commit at the log end, skipping what was produced
    // meanwhile.)
    send(&p, "orders", 0, "between").await;
    tokio::task::block_in_place(|| read(&c, 1));

    // The coordinator moves: the old one answers NOT_COORDINATOR, the consumer finds the new
    // one and commits there.
    let coordinator = |cluster: &MockCluster| {
        let finds = cluster.journal().requests(ApiKey::FindCoordinator).len();
        let joins = cluster.journal().requests(ApiKey::JoinGroup);
        (finds, joins.last().map(|e| e.node_id))
    };
    let (finds_before, node_before) = coordinator(&cluster);
    let node_before = node_before.expect("joined somewhere");
    let target = 1 - node_before;
    cluster.move_group_coordinator("events", target).expect("move");
    send(&p, "orders", 1, "second").await;
    tokio::task::block_in_place(|| read(&c, 1));
    let (finds_after, _) = coordinator(&cluster);
    assert!(
        finds_after > finds_before,
        "the consumer looked the coordinator up again"
    );
    let commits_at_target = cluster
        .journal()
        .requests(ApiKey::OffsetCommit)
        .iter()
        .filter(|e| e.node_id == target)
        .count();
    assert!(commits_at_target >= 1, "commits go to the new coordinator");
    assert_eq!(
        cluster.committed_offset("events", "orders", 1).expect("state"),
        Some(1)
    );
    cluster.assert_all_faults_fired();
}

/// A KIP-848 member (`group.protocol=consumer`) of librdkafka as the test kit sees it: the
/// consumer group with its epochs, assignor and the member's partitions by topic name; an
/// injected FENCED_MEMBER_EPOCH on ConsumerGroupHeartbeat for this group, and an expired
/// session, each make the member rejoin and go on reading and committing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kip848_group_is_inspected_fenced_and_expired() {
    use kafkit_testkit::ConsumerGroupState;
    let cluster = MockCluster::builder()
        .topic("orders", 2)
        .start()
        .await
        .expect("cluster");
    let p = producer(&cluster, &[]);
    send(&p, "orders", 0, "first").await;
    let c = kip848_consumer(&cluster, "kip848");
    tokio::task::block_in_place(|| read(&c, 1));
    let group = cluster
        .consumer_group("kip848")
        .expect("state")
        .expect("a KIP-848 group");
    assert_eq!(group.state(), ConsumerGroupState::Stable);
    assert_eq!(group.assignor, "uniform");
    assert!(
        cluster.group("kip848").expect("state").is_none(),
        "not a classic group"
    );
    let (member, info) = group.members.iter().next().expect("one member");
    assert_eq!(info.epoch, group.assignment_epoch);
    assert_eq!(info.subscribed_topics, ["orders"]);
    assert_eq!(
        group.assigned_partitions(member),
        [("orders".to_string(), 0), ("orders".to_string(), 1)]
    );
    assert_eq!(
        cluster.committed_offset("kip848", "orders", 0).expect("state"),
        Some(1)
    );

    let epoch_now = |cluster: &MockCluster| {
        cluster
            .consumer_group("kip848")
            .ok()
            .flatten()
            .filter(|g| g.state() == ConsumerGroupState::Stable)
            .and_then(|g| g.members.values().next().map(|m| m.epoch))
            .unwrap_or(0)
    };
    // Fenced once: librdkafka gives up its partitions and joins again with epoch 0 (the
    // coordinator, which did not fence it, takes it back at the same epoch).
    let rejoins = |cluster: &MockCluster| {
        cluster
            .journal()
            .requests(ApiKey::ConsumerGroupHeartbeat)
            .into_iter()
            .filter(|e| matches!(&e.request.body, kafkit_testkit::RequestBody::ConsumerGroupHeartbeat(r) if r.member_epoch == 0))
            .count()
    };
    assert_eq!(rejoins(&cluster), 1, "the first join");
    let fault = cluster.fault(
        Fault::on(ApiKey::ConsumerGroupHeartbeat)
            .group("kip848")
            .respond_error(ErrorCode::FencedMemberEpoch)
            .times(1),
    );
    tokio::task::block_in_place(|| {
        poll_until(
            &c,
            || fault.hits() == 1 && rejoins(&cluster) == 2 && epoch_now(&cluster) > 0,
            "a rejoin after FENCED_MEMBER_EPOCH",
        )
    });
    send(&p, "orders", 1, "second").await;
    tokio::task::block_in_place(|| read(&c, 1));

    // An expired session: the next heartbeat is UNKNOWN_MEMBER_ID, and the member rejoins.
    let e1 = epoch_now(&cluster);
    let member = cluster
        .consumer_group("kip848")
        .expect("state")
        .and_then(|g| g.members.keys().next().cloned())
        .expect("member");
    cluster.expire_group_member("kip848", &member).expect("expire");
    assert_eq!(
        cluster
            .consumer_group("kip848")
            .expect("state")
            .map(|g| g.state()),
        Some(ConsumerGroupState::Empty)
    );
    tokio::task::block_in_place(|| poll_until(&c, || epoch_now(&cluster) > e1, "a rejoin after expiry"));
    send(&p, "orders", 0, "third").await;
    tokio::task::block_in_place(|| read(&c, 1));
    assert_eq!(
        cluster.committed_offset("kip848", "orders", 0).expect("state"),
        Some(2)
    );
    tokio::task::block_in_place(|| drop(c));
}

/// A KIP-848 member stays in its group across a broker restart (clean or crash): the
/// coordinator reads the group back from `__consumer_offsets` with the member, its epoch and
/// its partitions, so the member's heartbeats go on without a rejoin or a new group epoch,
/// and it reads and commits what is produced after the restart.
#[rstest::rstest]
#[case::clean(kafkit_testkit::RestartMode::Clean)]
#[case::crash(kafkit_testkit::RestartMode::Crash)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kip848_member_stays_in_its_group_across_a_restart(#[case] mode: kafkit_testkit::RestartMode) {
    let cluster = MockCluster::builder()
        .topic("orders", 2)
        .start()
        .await
        .expect("cluster");
    let p = producer(&cluster, &[]);
    send(&p, "orders", 0, "before").await;
    let c = kip848_consumer(&cluster, "survivor");
    tokio::task::block_in_place(|| read(&c, 1));
    let before = cluster.consumer_group("survivor").expect("state").expect("group");
    cluster.restart(mode).await.expect("restart");
    let after = cluster
        .consumer_group("survivor")
        .expect("state")
        .expect("group back");
    assert_eq!((after.epoch, after.members.len()), (before.epoch, 1));
    send(&p, "orders", 1, "after").await;
    tokio::task::block_in_place(|| read(&c, 1));
    let joins = cluster
        .journal()
        .requests(ApiKey::ConsumerGroupHeartbeat)
        .into_iter()
        .filter(|e| matches!(&e.request.body, kafkit_testkit::RequestBody::ConsumerGroupHeartbeat(r) if r.member_epoch == 0))
        .count();
    assert_eq!(joins, 1, "joined once, not again after the restart");
    let now = cluster.consumer_group("survivor").expect("state").expect("group");
    assert_eq!(now.epoch, before.epoch, "no rebalance");
    assert_eq!(
        cluster.committed_offset("survivor", "orders", 1).expect("state"),
        Some(1)
    );
    tokio::task::block_in_place(|| drop(c));
}
