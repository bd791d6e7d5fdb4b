//! KIP-848 groups through the coordinator, on a paused clock: joining, incremental
//! reconciliation (revoke first, then assign), fencing, session and revocation timeouts,
//! leaving (dynamic and static), the request checks with Kafka's messages, commits and
//! fetches by member epoch, classic/consumer conflicts, regex subscriptions and a restart.

use std::collections::BTreeSet;
use std::time::Duration;

use kafka_protocol::messages::consumer_group_heartbeat_request::{
    ConsumerGroupHeartbeatRequest, TopicPartitions,
};
use kafka_protocol::messages::{GroupId, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafkit_protocol::ErrorCode;
use uuid::Uuid;

use super::{Assignment, ConsumerGroupState, HeartbeatAnswer, MemberState};
use crate::config::TopicConfig;
use crate::group::tests::{config, open, start, Fixture};
use crate::group::{CommitOffsets, JoinGroup};

const REBALANCE_MS: i32 = 30_000;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn join(member: &str, topics: &[&str]) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_member_id(s(member))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(REBALANCE_MS)
        .with_subscribed_topic_names(Some(topics.iter().map(|t| TopicName(s(t))).collect()))
        .with_topic_partitions(Some(Vec::new()))
}

fn beat(member: &str, epoch: i32, owned: Option<&Assignment>) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_member_id(s(member))
        .with_member_epoch(epoch)
        .with_rebalance_timeout_ms(-1)
        .with_topic_partitions(owned.map(|o| {
            o.iter()
                .map(|(t, ps)| {
                    TopicPartitions::default()
                        .with_topic_id(*t)
                        .with_partitions(ps.iter().copied().collect())
                })
                .collect()
        }))
}

impl Fixture {
    fn hb(&self, request: &ConsumerGroupHeartbeatRequest) -> HeartbeatAnswer {
        self.state
            .groups()
            .consumer_heartbeat(&self.state, 0, 1, ("client", "/127.0.0.1"), request)
    }

    fn topic_id(&self, name: &str) -> Uuid {
        self.state.metadata().topics[name].id
    }

    fn partitions(&self, answer: &HeartbeatAnswer) -> BTreeSet<i32> {
        let id = self.topic_id("t");
        answer
            .assignment
            .as_ref()
            .expect("an assignment")
            .get(&id)
            .cloned()
            .unwrap_or_default()
    }

    fn owned(&self, partitions: &BTreeSet<i32>) -> Assignment {
        let mut owned = Assignment::new();
        if !partitions.is_empty() {
            owned.insert(self.topic_id("t"), partitions.clone());
        }
        owned
    }

    fn group_state(&self) -> ConsumerGroupState {
        self.state.groups().consumer_group("g").expect("group").state()
    }
}

fn fixture() -> Fixture {
    start(config(Duration::ZERO, None))
}

/// A second member joins: the first gives up two partitions before the second gets them, and
/// the second gets the new epoch at once but its partitions only once they are released.
#[tokio::test(start_paused = true)]
async fn partitions_are_revoked_before_they_are_assigned() {
    let f = fixture();
    let a = f.hb(&join("a", &["t"]));
    assert_eq!((a.error, a.epoch), (ErrorCode::None, 1));
    assert_eq!(f.partitions(&a), BTreeSet::from([0, 1, 2, 3]));
    assert_eq!(f.group_state(), ConsumerGroupState::Stable);

    let b = f.hb(&join("b", &["t"]));
    assert_eq!(b.epoch, 2);
    assert!(f.partitions(&b).is_empty(), "nothing is free yet");
    assert_eq!(f.group_state(), ConsumerGroupState::Reconciling);

    // a is told to keep two: it stays at epoch 1 until it says it gave the others up.
    let all = f.owned(&BTreeSet::from([0, 1, 2, 3]));
    let a2 = f.hb(&beat("a", 1, Some(&all)));
    assert_eq!(a2.epoch, 1);
    let kept = f.partitions(&a2);
    assert_eq!(kept.len(), 2);
    let member = &f.state.groups().consumer_group("g").expect("g").members["a"];
    assert_eq!(member.state, MemberState::UnrevokedPartitions);

    // b still waits: a has not revoked.
    let b2 = f.hb(&beat("b", 2, None));
    assert_eq!((b2.epoch, b2.assignment), (2, None));

    let a3 = f.hb(&beat("a", 1, Some(&f.owned(&kept))));
    assert_eq!(a3.epoch, 2);
    let b3 = f.hb(&beat("b", 2, None));
    let given = f.partitions(&b3);
    assert_eq!(given.len(), 2);
    assert!(given.is_disjoint(&kept));
    f.hb(&beat("b", 2, Some(&f.owned(&given))));
    assert_eq!(f.group_state(), ConsumerGroupState::Stable);
}

/// FENCED_MEMBER_EPOCH for an epoch ahead or behind; a member whose answer was lost may come
/// back with its previous epoch while it owns only what it still has.
#[tokio::test(start_paused = true)]
async fn stale_and_future_epochs_are_fenced_except_a_lost_answer() {
    let f = fixture();
    f.hb(&join("a", &["t"]));
    let ahead = f.hb(&beat("a", 5, None));
    assert_eq!(ahead.error, ErrorCode::FencedMemberEpoch);
    assert!(ahead
        .message
        .as_deref()
        .is_some_and(|m| m.contains("greater member epoch (5)")));

    // A new topic the member subscribes to bumps the epoch: a moves to epoch 2.
    f.state
        .create_topic("u", 2, TopicConfig::default())
        .expect("topic");
    let all = f.owned(&BTreeSet::from([0, 1, 2, 3]));
    let mut sub = beat("a", 1, Some(&all));
    sub.subscribed_topic_names = Some(vec![TopicName(s("t")), TopicName(s("u"))]);
    let moved = f.hb(&sub);
    assert_eq!(moved.epoch, 2);
    // The answer is lost: a heartbeats again with epoch 1 and what it owns.
    let again = f.hb(&beat("a", 1, Some(&all)));
    assert_eq!((again.error, again.epoch), (ErrorCode::None, 2));
    // Behind by one but owning a partition it does not have: fenced.
    let mut foreign = all.clone();
    foreign.insert(Uuid::from_u128(7), BTreeSet::from([0]));
    let fenced = f.hb(&beat("a", 1, Some(&foreign)));
    assert_eq!(fenced.error, ErrorCode::FencedMemberEpoch);
    assert!(fenced
        .message
        .as_deref()
        .is_some_and(|m| m.contains("smaller member epoch (1)")));
}

/// A member that stops heartbeating is removed after group.consumer.session.timeout.ms (45
/// s), the group epoch moves, and its next heartbeat is UNKNOWN_MEMBER_ID.
#[tokio::test(start_paused = true)]
async fn a_silent_member_expires_after_the_session_timeout() {
    let f = fixture();
    f.hb(&join("a", &["t"]));
    f.hb(&join("b", &["t"]));
    tokio::time::sleep(Duration::from_secs(30)).await;
    let b = f.hb(&beat("b", 2, None));
    assert_eq!(b.error, ErrorCode::None);
    tokio::time::sleep(Duration::from_secs(20)).await;
    tokio::task::yield_now().await;
    let group = f.state.groups().consumer_group("g").expect("g");
    assert_eq!(
        group.members.keys().collect::<Vec<_>>(),
        vec!["b"],
        "a expired at 45 s"
    );
    assert_eq!(group.epoch, 3);
    let a = f.hb(&beat("a", 1, None));
    assert_eq!(a.error, ErrorCode::UnknownMemberId);
    assert_eq!(a.message.as_deref(), Some("Member a is not a member of group g."));
    // b gets everything once it asks.
    let b = f.hb(&beat("b", 2, Some(&Assignment::new())));
    assert_eq!((b.epoch, f.partitions(&b).len()), (3, 4));
}

/// A member that does not revoke within its rebalance timeout is removed.
#[tokio::test(start_paused = true)]
async fn a_member_that_does_not_revoke_in_time_is_removed() {
    let f = fixture();
    f.hb(&join("a", &["t"]));
    f.hb(&join("b", &["t"]));
    let all = f.owned(&BTreeSet::from([0, 1, 2, 3]));
    f.hb(&beat("a", 1, Some(&all)));
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(10)).await;
        f.hb(&beat("b", 2, None));
        if !f
            .state
            .groups()
            .consumer_group("g")
            .expect("g")
            .members
            .contains_key("a")
        {
            break;
        }
        // a heartbeats but keeps owning everything.
        f.hb(&beat("a", 1, Some(&all)));
    }
    tokio::task::yield_now().await;
    let group = f.state.groups().consumer_group("g").expect("g");
    assert!(
        !group.members.contains_key("a"),
        "a outlived its rebalance timeout"
    );
}

/// Epoch -1 leaves and frees the partitions; epoch -2 keeps a static member's partitions for
/// the next member with its instance id, which takes them over without a new group epoch.
#[tokio::test(start_paused = true)]
async fn dynamic_and_static_members_leave() {
    let f = fixture();
    let mut a = join("a", &["t"]);
    a.instance_id = Some(s("instance-a"));
    let joined = f.hb(&a);
    assert_eq!(f.partitions(&joined).len(), 4);
    let mut leave = beat("a", -2, None);
    leave.instance_id = Some(s("instance-a"));
    let left = f.hb(&leave);
    assert_eq!((left.error, left.epoch), (ErrorCode::None, -2));
    let epoch = f.state.groups().consumer_group("g").expect("g").epoch;

    // Another instance with the same id while a is away takes its place.
    let mut a2 = join("a-restarted", &["t"]);
    a2.instance_id = Some(s("instance-a"));
    let back = f.hb(&a2);
    assert_eq!(back.error, ErrorCode::None);
    assert_eq!(f.partitions(&back).len(), 4);
    let group = f.state.groups().consumer_group("g").expect("g");
    assert_eq!(group.epoch, epoch, "no rebalance for a returning static member");
    assert!(!group.members.contains_key("a"));

    // A second incarnation while the first is in use is refused.
    let mut dup = join("a-third", &["t"]);
    dup.instance_id = Some(s("instance-a"));
    assert_eq!(f.hb(&dup).error, ErrorCode::UnreleasedInstanceId);

    let gone = f.hb(&beat("a-restarted", back.epoch, None).with_member_epoch(-1));
    assert_eq!((gone.error, gone.epoch), (ErrorCode::None, -1));
    assert_eq!(f.group_state(), ConsumerGroupState::Empty);
}

/// Kafka's request checks, with its messages.
#[tokio::test(start_paused = true)]
async fn requests_are_checked_as_kafka_checks_them() {
    let f = fixture();
    let cases: Vec<(ConsumerGroupHeartbeatRequest, ErrorCode, &str)> = vec![
        (
            join("a", &["t"]).with_group_id(GroupId(s(""))),
            ErrorCode::InvalidRequest,
            "GroupId can't be empty.",
        ),
        (
            join("", &["t"]),
            ErrorCode::InvalidRequest,
            "MemberId can't be empty.",
        ),
        (
            join("a", &["t"]).with_rebalance_timeout_ms(-1),
            ErrorCode::InvalidRequest,
            "RebalanceTimeoutMs must be provided in first request.",
        ),
        (
            join("a", &["t"]).with_topic_partitions(None),
            ErrorCode::InvalidRequest,
            "TopicPartitions must be empty when (re-)joining.",
        ),
        (
            join("a", &["t"]).with_subscribed_topic_names(None),
            ErrorCode::InvalidRequest,
            "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.",
        ),
        (
            join("a", &["t"]).with_server_assignor(Some(s("sticky"))),
            ErrorCode::UnsupportedAssignor,
            "ServerAssignor sticky is not supported. Supported assignors: uniform, range.",
        ),
        (
            beat("a", -2, None),
            ErrorCode::InvalidRequest,
            "InstanceId can't be null.",
        ),
        (
            beat("a", 3, None),
            ErrorCode::GroupIdNotFound,
            "Consumer group g not found.",
        ),
    ];
    for (request, code, message) in cases {
        let answer = f.hb(&request);
        assert_eq!((answer.error, answer.message.as_deref()), (code, Some(message)));
    }
}

/// Commits and fetches of a member go by its epoch: the current one commits (v9+), an older
/// or newer one is STALE_MEMBER_EPOCH (as Kafka 4.1 answers both), a v8 commit
/// UNSUPPORTED_VERSION; outside the group only while it is empty.
#[tokio::test(start_paused = true)]
async fn commits_and_fetches_check_the_member_epoch() {
    let f = fixture();
    f.hb(&join("a", &["t"]));
    let commit = |version, generation, member: &str| {
        let request = CommitOffsets {
            version,
            group_id: "g".into(),
            generation,
            member_id: member.into(),
            instance_id: None,
            topics: vec![("t".into(), vec![(0, 5, -1, None)])],
        };
        f.state.groups().commit(&f.state, 0, request)[0].1[0].1
    };
    assert_eq!(commit(9, 1, "a"), ErrorCode::None);
    assert_eq!(commit(9, 0, "a"), ErrorCode::StaleMemberEpoch);
    assert_eq!(commit(9, 2, "a"), ErrorCode::StaleMemberEpoch);
    assert_eq!(commit(8, 1, "a"), ErrorCode::UnsupportedVersion);
    assert_eq!(commit(9, 1, "nobody"), ErrorCode::UnknownMemberId);
    assert_eq!(commit(9, -1, ""), ErrorCode::UnknownMemberId);
    let fetch = |member: Option<(&str, i32)>| {
        f.state
            .groups()
            .fetch_offsets(&f.state, 0, "g", Some(vec![("t".into(), vec![0])]), member)
            .map(|t| t[0].1[0].committed.as_ref().map(|c| c.offset))
    };
    assert_eq!(fetch(Some(("a", 1))), Ok(Some(5)));
    assert_eq!(fetch(None), Ok(Some(5)));
    assert_eq!(fetch(Some(("a", 0))), Err(ErrorCode::StaleMemberEpoch));
    assert_eq!(fetch(Some(("x", 1))), Err(ErrorCode::UnknownMemberId));
    f.hb(&beat("a", 1, None).with_member_epoch(-1));
    assert_eq!(commit(9, -1, ""), ErrorCode::None);
}

/// A classic member cannot join a consumer group with members, nor a consumer member a
/// classic group with members; DescribeGroups says which it is; empty groups convert.
#[tokio::test(start_paused = true)]
async fn classic_and_consumer_groups_do_not_mix() {
    let f = fixture();
    f.hb(&join("a", &["t"]));
    let classic = JoinGroup {
        version: 9,
        group_id: "g".into(),
        member_id: String::new(),
        instance_id: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout: Duration::from_secs(10),
        rebalance_timeout: Duration::from_secs(10),
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), bytes::Bytes::new())],
    };
    let refused = f.state.groups().join(&f.state, 0, classic.clone()).await;
    assert_eq!(refused.error, ErrorCode::InconsistentGroupProtocol);
    let described = f.state.groups().describe(&f.state, 0, "g");
    assert!(described.not_classic && described.error == ErrorCode::GroupIdNotFound);
    let listed = f.state.groups().list(&f.state, 0, &[]);
    assert_eq!((listed[0].group_type, listed[0].state), ("consumer", "Stable"));

    // Emptied, the consumer group becomes classic at the next JoinGroup.
    f.hb(&beat("a", 1, None).with_member_epoch(-1));
    let classic_join = classic.clone();
    let first = f.state.groups().join(&f.state, 0, classic).await;
    assert_eq!(first.error, ErrorCode::MemberIdRequired);
    assert!(f.state.groups().consumer_group("g").is_none());
    let joined = f
        .state
        .groups()
        .join(
            &f.state,
            0,
            JoinGroup {
                member_id: first.member_id.clone(),
                ..classic_join
            },
        )
        .await;
    assert_eq!(joined.error, ErrorCode::None);
    let refused = f.hb(&join("b", &["t"]));
    assert_eq!(refused.error, ErrorCode::GroupIdNotFound);
    assert_eq!(
        refused.message.as_deref(),
        Some("Group g is not a consumer group.")
    );
}

/// Subscriptions by regular expression take every matching topic, also ones created later;
/// partitions added to a subscribed topic are assigned after the next heartbeat.
#[tokio::test(start_paused = true)]
async fn regex_subscriptions_and_new_partitions_are_followed() {
    let f = fixture();
    f.state
        .create_topic("orders-eu", 2, TopicConfig::default())
        .expect("topic");
    let request = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_member_id(s("a"))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(REBALANCE_MS)
        .with_subscribed_topic_regex(Some(s("orders-.*")))
        .with_topic_partitions(Some(Vec::new()));
    let a = f.hb(&request);
    let eu = f.topic_id("orders-eu");
    assert_eq!(
        a.assignment
            .as_ref()
            .map(|x| x.keys().copied().collect::<Vec<_>>()),
        Some(vec![eu])
    );
    f.state
        .create_topic("orders-us", 1, TopicConfig::default())
        .expect("topic");
    f.state.create_partitions("orders-eu", 3, false).expect("grow");
    let owned: Assignment = a.assignment.clone().unwrap_or_default();
    let b = f.hb(&beat("a", 1, Some(&owned)));
    assert_eq!(b.epoch, 2);
    let got = b.assignment.expect("assignment");
    assert_eq!(got[&eu], BTreeSet::from([0, 1, 2]));
    assert_eq!(got[&f.topic_id("orders-us")], BTreeSet::from([0]));
    let bad = f.hb(&request
        .with_member_id(s("z"))
        .with_subscribed_topic_regex(Some(s("(unclosed"))));
    assert_eq!(bad.error, ErrorCode::InvalidRegularExpression);
}

/// The group survives a restart as Kafka keeps it: its epochs, members, their targets and
/// assignments are read back, and a member goes on heartbeating at its epoch without a
/// rebalance; one that stays silent expires as before.
#[tokio::test(start_paused = true)]
async fn a_restart_keeps_the_group_its_members_and_their_assignments() {
    let dir = tempfile::tempdir().expect("dir");
    let f = start(config(Duration::ZERO, Some(dir.path().to_path_buf())));
    let a = f.hb(&join("a", &["t"]));
    let all = f.partitions(&a);
    f.hb(&join("b", &["t"]));
    let a2 = f.hb(&beat("a", 1, Some(&f.owned(&all))));
    let kept = f.partitions(&a2);
    f.hb(&beat("a", 1, Some(&f.owned(&kept))));
    let b = f.hb(&beat("b", 2, None));
    let given = f.partitions(&b);
    f.hb(&beat("b", 2, Some(&f.owned(&given))));
    let before = f.state.groups().consumer_group("g").expect("g");
    assert_eq!(before.state(), ConsumerGroupState::Stable);
    f.state.close().expect("close");
    drop(f);

    let reopened = open(config(Duration::ZERO, Some(dir.path().to_path_buf())));
    let group = reopened.groups().consumer_group("g").expect("the group is back");
    assert_eq!(
        (group.epoch, group.assignment_epoch),
        (before.epoch, before.assignment_epoch)
    );
    assert_eq!(group.state(), ConsumerGroupState::Stable);
    for id in ["a", "b"] {
        let (was, is) = (&before.members[id], &group.members[id]);
        assert_eq!(
            (is.epoch, &is.assigned, is.state),
            (was.epoch, &was.assigned, was.state)
        );
        assert_eq!(is.subscribed_topics, was.subscribed_topics);
        assert_eq!(group.target_of(id), before.target_of(id));
    }
    let answer =
        reopened
            .groups()
            .consumer_heartbeat(&reopened, 0, 1, ("c", "/127.0.0.1"), &beat("a", 2, None));
    assert_eq!(
        (answer.error, answer.epoch, answer.assignment),
        (ErrorCode::None, 2, None)
    );
    assert_eq!(
        reopened.groups().consumer_group("g").expect("g").epoch,
        before.epoch,
        "no rebalance"
    );
}

/// A restarted group with a member that left before the restart: the member is gone, its
/// records tombstoned; a deleted group leaves nothing behind.
#[tokio::test(start_paused = true)]
async fn leaving_and_deleting_are_kept_across_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let f = start(config(Duration::ZERO, Some(dir.path().to_path_buf())));
    f.hb(&join("a", &["t"]));
    f.hb(&join("b", &["t"]));
    f.hb(&beat("b", 2, None).with_member_epoch(-1));
    let mut other = join("x", &["t"]);
    other.group_id = GroupId(s("other"));
    f.hb(&other);
    let mut leave = beat("x", 1, None).with_member_epoch(-1);
    leave.group_id = GroupId(s("other"));
    f.hb(&leave);
    assert_eq!(f.state.groups().delete(&f.state, 0, "other"), ErrorCode::None);
    f.state.close().expect("close");
    drop(f);
    let reopened = open(config(Duration::ZERO, Some(dir.path().to_path_buf())));
    let group = reopened.groups().consumer_group("g").expect("g");
    assert_eq!(group.members.keys().collect::<Vec<_>>(), vec!["a"]);
    assert!(reopened.groups().consumer_group("other").is_none());
    assert!(!reopened.groups().group_ids().contains(&"other".to_string()));
}
