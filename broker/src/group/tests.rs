//! The coordinator over a `ClusterState`, with the timer task running on a paused clock: joins,
//! rebalances, session expiry, the join and sync deadlines, the initial delay, KIP-394 ids,
//! offsets and what a restart reads back.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafkit_protocol::ErrorCode;
use tokio::sync::watch;

use super::*;
use crate::cluster::{BrokerInfo, ClusterState};
use crate::config::{ClusterConfig, TopicConfig};

const SESSION: Duration = Duration::from_secs(10);
const REBALANCE: Duration = Duration::from_secs(30);

pub(super) struct Fixture {
    pub(super) state: Arc<ClusterState>,
    _stop: watch::Sender<bool>,
}

pub(super) fn open(config: ClusterConfig) -> ClusterState {
    let infos = vec![BrokerInfo {
        node_id: 0,
        host: "127.0.0.1".into(),
        port: 9092,
        up: true,
    }];
    ClusterState::open(config, infos).expect("state")
}

pub(super) fn config(delay: Duration, data_dir: Option<std::path::PathBuf>) -> ClusterConfig {
    ClusterConfig {
        data_dir,
        groups: GroupsConfig {
            initial_rebalance_delay: delay,
            offsets_topic_partitions: 3,
            ..GroupsConfig::default()
        },
        ..ClusterConfig::default()
    }
}

/// A cluster state with topic `t` (4 partitions), `__consumer_offsets`, and the timer task.
pub(super) fn start(config: ClusterConfig) -> Fixture {
    let state = Arc::new(open(config));
    if !state.metadata().topics.contains_key("t") {
        state.create_topic("t", 4, TopicConfig::default()).expect("topic");
    }
    state.groups().locate(&state, "g").expect("coordinator");
    let (stop, rx) = watch::channel(false);
    tokio::spawn(run_timers(state.clone(), rx));
    Fixture { state, _stop: stop }
}

fn join_request(member: &str, protocols: &[&str]) -> JoinGroup {
    JoinGroup {
        version: 9,
        group_id: "g".into(),
        member_id: member.into(),
        instance_id: None,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout: SESSION,
        rebalance_timeout: REBALANCE,
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|p| ((*p).to_string(), Bytes::from(format!("meta-{p}"))))
            .collect(),
    }
}

impl Fixture {
    fn groups(&self) -> &GroupCoordinator {
        self.state.groups()
    }

    /// Joins as a new member (both KIP-394 steps) and returns the answer.
    async fn join_new(&self, protocols: &[&str]) -> JoinReply {
        let first = self
            .groups()
            .join(&self.state, 0, join_request("", protocols))
            .await;
        assert_eq!(first.error, ErrorCode::MemberIdRequired);
        self.groups()
            .join(&self.state, 0, join_request(&first.member_id, protocols))
            .await
    }

    /// Starts a join in the background (it waits for the rebalance).
    fn spawn_join(&self, member: &str) -> tokio::task::JoinHandle<JoinReply> {
        let state = self.state.clone();
        let request = join_request(member, &["range"]);
        tokio::spawn(async move { state.groups().join(&state, 0, request).await })
    }

    async fn sync(&self, member: &str, generation: i32, assignments: &[(&str, &str)]) -> SyncReply {
        let request = SyncGroup {
            group_id: "g".into(),
            member_id: member.into(),
            instance_id: None,
            generation,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments: assignments
                .iter()
                .map(|(m, a)| ((*m).to_string(), Bytes::from((*a).to_string())))
                .collect(),
        };
        self.groups().sync(&self.state, 0, request).await
    }

    fn heartbeat(&self, member: &str, generation: i32) -> ErrorCode {
        self.groups()
            .heartbeat(&self.state, 0, "g", member, None, generation)
    }

    fn info(&self) -> GroupInfo {
        self.groups().group("g").expect("group")
    }
}

/// One member joins, leads, syncs its own assignment; the group is Stable in generation 1.
#[tokio::test(start_paused = true)]
async fn a_single_member_leads_and_gets_its_assignment() {
    let f = start(config(Duration::ZERO, None));
    let joined = f.join_new(&["range", "roundrobin"]).await;
    assert_eq!(joined.error, ErrorCode::None);
    assert_eq!(joined.generation, 1);
    assert_eq!(joined.leader, joined.member_id);
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.members.len(), 1);
    assert!(joined.member_id.starts_with("client-"), "{}", joined.member_id);
    assert_eq!(f.info().state, GroupState::CompletingRebalance);
    let synced = f
        .sync(&joined.member_id, 1, &[(&joined.member_id, "p0,p1")])
        .await;
    assert_eq!(synced.error, ErrorCode::None);
    assert_eq!(synced.assignment, Bytes::from("p0,p1"));
    assert_eq!(f.info().state, GroupState::Stable);
    assert_eq!(f.heartbeat(&joined.member_id, 1), ErrorCode::None);
    assert_eq!(f.heartbeat(&joined.member_id, 2), ErrorCode::IllegalGeneration);
    assert_eq!(f.heartbeat("stranger", 1), ErrorCode::UnknownMemberId);
}

/// A second member's join starts a rebalance: the first learns of it by heartbeat, rejoins,
/// and both get generation 2; only the leader gets the member list; a follower's sync waits
/// for the leader's.
#[tokio::test(start_paused = true)]
async fn a_new_member_rebalances_the_group() {
    let f = start(config(Duration::ZERO, None));
    let a = f.join_new(&["range"]).await;
    f.sync(&a.member_id, 1, &[(&a.member_id, "all")]).await;

    let first = f.groups().join(&f.state, 0, join_request("", &["range"])).await;
    let b = f.spawn_join(&first.member_id);
    tokio::task::yield_now().await;
    assert_eq!(f.info().state, GroupState::PreparingRebalance);
    assert_eq!(f.heartbeat(&a.member_id, 1), ErrorCode::RebalanceInProgress);
    let a2 = f.spawn_join(&a.member_id);
    let (a2, b) = (a2.await.expect("a"), b.await.expect("b"));
    assert_eq!((a2.error, b.error), (ErrorCode::None, ErrorCode::None));
    assert_eq!((a2.generation, b.generation), (2, 2));
    assert_eq!(a2.leader, a.member_id, "the leader stays");
    assert_eq!((a2.members.len(), b.members.len()), (2, 0));

    let state = f.state.clone();
    let b_id = b.member_id.clone();
    let follower = tokio::spawn(async move {
        let request = SyncGroup {
            group_id: "g".into(),
            member_id: b_id,
            instance_id: None,
            generation: 2,
            protocol_type: None,
            protocol_name: None,
            assignments: Vec::new(),
        };
        state.groups().sync(&state, 0, request).await
    });
    tokio::task::yield_now().await;
    assert!(!follower.is_finished(), "the follower waits for the leader");
    let leader = f
        .sync(&a.member_id, 2, &[(&a.member_id, "p0"), (&b.member_id, "p1")])
        .await;
    assert_eq!(leader.assignment, Bytes::from("p0"));
    assert_eq!(follower.await.expect("follower").assignment, Bytes::from("p1"));
    assert_eq!(f.info().state, GroupState::Stable);
}

/// A member that stops heartbeating is removed when its session times out; the last one
/// leaving makes the group Empty (in a new generation), written to `__consumer_offsets`.
#[tokio::test(start_paused = true)]
async fn a_silent_member_is_removed_after_its_session_timeout() {
    let f = start(config(Duration::ZERO, None));
    let a = f.join_new(&["range"]).await;
    f.sync(&a.member_id, 1, &[(&a.member_id, "all")]).await;
    tokio::time::sleep(SESSION - Duration::from_millis(100)).await;
    assert_eq!(f.heartbeat(&a.member_id, 1), ErrorCode::None);
    tokio::time::sleep(SESSION - Duration::from_millis(100)).await;
    assert_eq!(f.info().state, GroupState::Stable, "the heartbeat kept it");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let info = f.info();
    assert_eq!(info.state, GroupState::Empty);
    assert_eq!(info.generation, 2);
    assert!(info.members.is_empty());
    assert_eq!(f.heartbeat(&a.member_id, 1), ErrorCode::UnknownMemberId);
}

/// A member that does not rejoin within the rebalance timeout is left out of the next
/// generation.
#[tokio::test(start_paused = true)]
async fn a_member_that_does_not_rejoin_is_left_out() {
    let f = start(config(Duration::ZERO, None));
    let a = f.join_new(&["range"]).await;
    f.sync(&a.member_id, 1, &[(&a.member_id, "all")]).await;
    let first = f.groups().join(&f.state, 0, join_request("", &["range"])).await;
    let b = f.spawn_join(&first.member_id);
    // `a` keeps heartbeating (so its session does not expire) but never rejoins.
    for _ in 0..7 {
        tokio::time::sleep(Duration::from_secs(4)).await;
        let code = f.heartbeat(&a.member_id, 1);
        if b.is_finished() {
            break;
        }
        assert_eq!(code, ErrorCode::RebalanceInProgress);
    }
    let b = b.await.expect("b");
    assert_eq!(b.error, ErrorCode::None);
    assert_eq!(b.generation, 2);
    assert_eq!(b.leader, b.member_id, "the only member left leads");
    assert_eq!(b.members.len(), 1);
    assert_eq!(f.heartbeat(&a.member_id, 1), ErrorCode::UnknownMemberId);
}

/// A group that was empty waits `group.initial.rebalance.delay.ms` for more members, and each
/// join pushes the end back (up to the rebalance timeout).
#[tokio::test(start_paused = true)]
async fn the_first_rebalance_waits_for_more_members() {
    let f = start(config(Duration::from_secs(3), None));
    let start = tokio::time::Instant::now();
    let first_a = f.groups().join(&f.state, 0, join_request("", &["range"])).await;
    let a = f.spawn_join(&first_a.member_id);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!a.is_finished());
    let first_b = f.groups().join(&f.state, 0, join_request("", &["range"])).await;
    let b = f.spawn_join(&first_b.member_id);
    let (a, b) = (a.await.expect("a"), b.await.expect("b"));
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
    assert_eq!((a.generation, b.generation), (1, 1));
    assert_eq!(a.members.len() + b.members.len(), 2);
}

/// A member id handed out with MEMBER_ID_REQUIRED holds the rebalance until it joins with it
/// or its session timeout passes.
#[tokio::test(start_paused = true)]
async fn an_unused_member_id_expires() {
    let f = start(config(Duration::ZERO, None));
    let a = f.join_new(&["range"]).await;
    f.sync(&a.member_id, 1, &[(&a.member_id, "all")]).await;
    let handed = f.groups().join(&f.state, 0, join_request("", &["range"])).await;
    assert_eq!(handed.error, ErrorCode::MemberIdRequired);
    assert_eq!(
        f.info().state,
        GroupState::Stable,
        "a handed-out id alone does not rebalance"
    );
    tokio::time::sleep(SESSION + Duration::from_millis(10)).await;
    let late = f
        .groups()
        .join(&f.state, 0, join_request(&handed.member_id, &["range"]))
        .await;
    assert_eq!(late.error, ErrorCode::UnknownMemberId);
}

/// JoinGroup's checks, in Kafka's order.
#[tokio::test(start_paused = true)]
async fn joins_are_checked() {
    let f = start(config(Duration::ZERO, None));
    let check = |mut request: JoinGroup, edit: &dyn Fn(&mut JoinGroup)| {
        edit(&mut request);
        request
    };
    let base = join_request("", &["range"]);
    let cases: Vec<(JoinGroup, ErrorCode)> = vec![
        (
            check(base.clone(), &|r| r.group_id.clear()),
            ErrorCode::InvalidGroupId,
        ),
        (
            check(base.clone(), &|r| r.session_timeout = Duration::from_millis(10)),
            ErrorCode::InvalidSessionTimeout,
        ),
        (
            check(base.clone(), &|r| r.session_timeout = Duration::from_secs(3600)),
            ErrorCode::InvalidSessionTimeout,
        ),
        (
            check(base.clone(), &|r| r.member_id = "made-up".into()),
            ErrorCode::UnknownMemberId,
        ),
        (
            check(base.clone(), &|r| r.protocol_type.clear()),
            ErrorCode::InconsistentGroupProtocol,
        ),
        (
            check(base.clone(), &|r| r.protocols.clear()),
            ErrorCode::InconsistentGroupProtocol,
        ),
    ];
    for (request, code) in cases {
        let answer = f.groups().join(&f.state, 0, request.clone()).await;
        assert_eq!(answer.error, code, "{request:?}");
    }
    // Another node is not the coordinator.
    let answer = f.groups().join(&f.state, 1, base).await;
    assert_eq!(answer.error, ErrorCode::NotCoordinator);
}

/// Offsets and the group's metadata are read back by a restart; offsets of a deleted topic
/// are gone, before and after it.
#[tokio::test(start_paused = true)]
async fn a_restart_reads_groups_and_offsets_back() {
    let dir = tempfile::tempdir().expect("dir");
    let f = start(config(Duration::ZERO, Some(dir.path().to_path_buf())));
    f.state
        .create_topic("doomed", 1, TopicConfig::default())
        .expect("topic");
    let a = f.join_new(&["range"]).await;
    f.sync(&a.member_id, 1, &[(&a.member_id, "all")]).await;
    let commit = CommitOffsets {
        version: 9,
        group_id: "g".into(),
        generation: 1,
        member_id: a.member_id.clone(),
        instance_id: None,
        topics: vec![
            ("t".into(), vec![(0, 10, 2, Some("m0".into())), (3, 30, -1, None)]),
            ("doomed".into(), vec![(0, 5, -1, None)]),
        ],
    };
    let codes = f.groups().commit(&f.state, 0, commit);
    assert!(
        codes
            .iter()
            .flat_map(|(_, ps)| ps)
            .all(|(_, c)| *c == ErrorCode::None),
        "{codes:?}"
    );
    f.state.delete_topic("doomed").expect("delete");
    assert_eq!(f.groups().committed("g", "doomed", 0), None);
    let simple = CommitOffsets {
        version: 9,
        group_id: "simple".into(),
        generation: -1,
        member_id: String::new(),
        instance_id: None,
        topics: vec![("t".into(), vec![(1, 7, -1, None)])],
    };
    f.groups().commit(&f.state, 0, simple);
    f.state.close().expect("close");
    drop(f);

    let reopened = open(config(Duration::ZERO, Some(dir.path().to_path_buf())));
    let groups = reopened.groups();
    let at = |group: &str, topic: &str, p| {
        groups
            .committed(group, topic, p)
            .map(|v| (v.offset, v.leader_epoch, v.metadata))
    };
    assert_eq!(at("g", "t", 0), Some((10, 2, "m0".to_string())));
    assert_eq!(at("g", "t", 3), Some((30, -1, String::new())));
    assert_eq!(at("g", "doomed", 0), None);
    assert_eq!(at("simple", "t", 1), Some((7, -1, String::new())));
    let info = groups.group("g").expect("group");
    assert_eq!((info.state, info.generation), (GroupState::Stable, 1));
    assert_eq!(info.members.len(), 1);
    assert_eq!(info.members[0].assignment, Bytes::from("all"));
    assert_eq!(groups.group("simple").map(|g| g.state), Some(GroupState::Empty));
}

/// Commits are checked against the member as Kafka checks them.
#[tokio::test(start_paused = true)]
async fn commits_are_checked_against_the_member() {
    let f = start(config(Duration::ZERO, None));
    let a = f.join_new(&["range"]).await;
    let commit = |generation: i32, member: &str, partition: i32, metadata: &str| CommitOffsets {
        version: 9,
        group_id: "g".into(),
        generation,
        member_id: member.into(),
        instance_id: None,
        topics: vec![("t".into(), vec![(partition, 1, -1, Some(metadata.into()))])],
    };
    let code = |c: CommitOffsets| f.groups().commit(&f.state, 0, c)[0].1[0].1;
    assert_eq!(
        code(commit(1, &a.member_id, 0, "")),
        ErrorCode::RebalanceInProgress,
        "CompletingRebalance"
    );
    f.sync(&a.member_id, 1, &[(&a.member_id, "all")]).await;
    assert_eq!(code(commit(1, &a.member_id, 0, "")), ErrorCode::None);
    assert_eq!(code(commit(2, &a.member_id, 0, "")), ErrorCode::IllegalGeneration);
    assert_eq!(code(commit(1, "other", 0, "")), ErrorCode::UnknownMemberId);
    assert_eq!(
        code(commit(-1, "", 0, "")),
        ErrorCode::UnknownMemberId,
        "simple commit to an active group"
    );
    assert_eq!(
        code(commit(1, &a.member_id, 4, "")),
        ErrorCode::UnknownTopicOrPartition
    );
    let big = "x".repeat(4097);
    assert_eq!(
        code(commit(1, &a.member_id, 0, &big)),
        ErrorCode::OffsetMetadataTooLarge
    );
}

/// The group settings by their Kafka names.
#[test]
fn group_settings_are_kafkas_keys() {
    let mut config = ClusterConfig::default();
    for (key, value) in [
        ("group.min.session.timeout.ms", "1000"),
        ("group.max.session.timeout.ms", "60000"),
        ("group.initial.rebalance.delay.ms", "0"),
        ("group.max.size", "10"),
        ("offset.metadata.max.bytes", "100"),
        ("offsets.topic.num.partitions", "7"),
        ("offsets.retention.minutes", "60"),
        ("offsets.retention.check.interval.ms", "1000"),
        ("group.consumer.session.timeout.ms", "20000"),
        ("group.consumer.heartbeat.interval.ms", "500"),
        ("group.consumer.max.size", "3"),
    ] {
        config.set(key, value).expect(key);
    }
    assert_eq!(
        config.groups,
        GroupsConfig {
            min_session_timeout: Duration::from_secs(1),
            max_session_timeout: Duration::from_secs(60),
            initial_rebalance_delay: Duration::ZERO,
            max_size: 10,
            offset_metadata_max_bytes: 100,
            offsets_topic_partitions: 7,
            offsets_retention: Duration::from_secs(3600),
            offsets_retention_check_interval: Duration::from_secs(1),
            consumer_session_timeout: Duration::from_secs(20),
            consumer_heartbeat_interval: Duration::from_millis(500),
            consumer_max_size: 3,
        }
    );
    for (key, value) in [
        ("group.max.size", "0"),
        ("group.consumer.max.size", "0"),
        ("group.consumer.heartbeat.interval.ms", "0"),
        ("offsets.topic.num.partitions", "-1"),
        ("group.initial.rebalance.delay.ms", "soon"),
        ("group.min.session.timeout.ms", "100000"),
    ] {
        let err = config.set(key, value).expect_err(key).to_string();
        assert!(err.contains(key), "{key}: {err}");
    }
}

/// The `consumer` protocol's subscription metadata (v0) for `topics`.
fn consumer_subscription(topics: &[&str]) -> Bytes {
    let mut out = Vec::new();
    out.extend_from_slice(&0i16.to_be_bytes());
    out.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for t in topics {
        out.extend_from_slice(&(t.len() as i16).to_be_bytes());
        out.extend_from_slice(t.as_bytes());
    }
    out.extend_from_slice(&(-1i32).to_be_bytes());
    Bytes::from(out)
}

/// Offsets of a group without members expire `offsets.retention.minutes` after it became
/// empty (a group that only committed: after each commit); then the group goes too. A group
/// with members keeps the offsets of the topics it subscribes to however old, and loses the
/// others' an hour after their commit (KIP-496).
#[tokio::test(start_paused = true)]
async fn offsets_of_empty_groups_expire_after_the_retention() {
    let mut config = config(Duration::ZERO, None);
    config.groups.offsets_retention = Duration::from_secs(3600);
    config.groups.offsets_retention_check_interval = Duration::from_secs(60);
    let f = start(config);
    let commit = |group: &str, generation: i32, member: &str| CommitOffsets {
        version: 9,
        group_id: group.into(),
        generation,
        member_id: member.into(),
        instance_id: None,
        topics: vec![("t".into(), vec![(0, 5, -1, None)])],
    };
    // "simple" only commits; "g" has a member, subscribed to "t", that commits and stays.
    f.groups().commit(&f.state, 0, commit("simple", -1, ""));
    f.state
        .create_topic("old", 1, TopicConfig::default())
        .expect("topic");
    let mut join = join_request("", &["range"]);
    join.protocols = vec![("range".into(), consumer_subscription(&["t"]))];
    let first = f.groups().join(&f.state, 0, join.clone()).await;
    join.member_id = first.member_id.clone();
    let a = f.groups().join(&f.state, 0, join).await;
    f.sync(&a.member_id, 1, &[(&a.member_id, "all")]).await;
    f.groups().commit(&f.state, 0, commit("g", 1, &a.member_id));
    let mut unsubscribed = commit("g", 1, &a.member_id);
    unsubscribed.topics = vec![("old".into(), vec![(0, 9, -1, None)])];
    f.groups().commit(&f.state, 0, unsubscribed);
    for _ in 0..(70 * 12) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(f.heartbeat(&a.member_id, 1), ErrorCode::None);
    }
    assert_eq!(
        f.groups().committed("simple", "t", 0),
        None,
        "expired an hour after its commit"
    );
    assert!(f.groups().group("simple").is_none(), "and the group with it");
    assert!(
        f.groups().committed("g", "t", 0).is_some(),
        "a group with members keeps the offsets of what it subscribes to"
    );
    assert_eq!(
        f.groups().committed("g", "old", 0),
        None,
        "and loses the others' (KIP-496)"
    );

    // The member leaves: the hour counts from then.
    f.groups()
        .leave(&f.state, 0, "g", &[(a.member_id.clone(), None)])
        .expect("leave");
    tokio::time::sleep(Duration::from_secs(50 * 60)).await;
    assert!(
        f.groups().committed("g", "t", 0).is_some(),
        "50 minutes after it emptied"
    );
    tokio::time::sleep(Duration::from_secs(12 * 60)).await;
    assert_eq!(
        f.groups().committed("g", "t", 0),
        None,
        "62 minutes after it emptied"
    );
    assert!(f.groups().group("g").is_none());
}
