//! KIP-848's consumer protocol: ConsumerGroupHeartbeat and ConsumerGroupDescribe, two members
//! driven by hand through a join, an incremental rebalance (revoke, then assign), commits and
//! fetches by member epoch, fencing, and leaving; Kafka's checks of malformed heartbeats; and
//! how the classic APIs see a consumer group.

use std::collections::BTreeSet;

use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
use kafka_protocol::messages::{
    ApiKey, ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
    DeleteGroupsRequest, DescribeGroupsRequest, GroupId, ListGroupsRequest, OffsetCommitRequest,
    OffsetFetchRequest, TopicName,
};
use uuid::Uuid;

use crate::groups::{coordinator, sb};
use crate::harness::{topic_name, Case, CaseResult, Ctx};

pub fn cases() -> Vec<Case> {
    crate::cases![
        kip848_two_members_rebalance_incrementally,
        kip848_malformed_heartbeats,
        kip848_fencing_and_unknown_members,
        kip848_commits_and_fetches_by_member_epoch,
        kip848_classic_apis_on_a_consumer_group,
    ]
}

/// A member id as a v1 client makes one (a UUID, base64 in Java; any non-empty string works).
fn member_id() -> String {
    Uuid::new_v4().simple().to_string()
}

fn join(group: &str, member: &str, topic: &str) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_member_id(sb(member))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![TopicName(sb(topic))]))
        .with_topic_partitions(Some(Vec::new()))
}

fn beat(
    group: &str,
    member: &str,
    epoch: i32,
    owned: Option<(Uuid, &BTreeSet<i32>)>,
) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_member_id(sb(member))
        .with_member_epoch(epoch)
        .with_rebalance_timeout_ms(-1)
        .with_topic_partitions(owned.map(|(id, ps)| {
            if ps.is_empty() {
                Vec::new()
            } else {
                vec![TopicPartitions::default()
                    .with_topic_id(id)
                    .with_partitions(ps.iter().copied().collect())]
            }
        }))
}

/// Sends a heartbeat and records its answer under `at`: error and message, epoch, interval,
/// whether the member id is echoed, and the assignment (its size, and whether it names only
/// `topic_id`). Returns the answer and the partitions assigned, if an assignment came.
async fn heartbeat(
    ctx: &mut Ctx<'_>,
    at: &str,
    request: &ConsumerGroupHeartbeatRequest,
    topic_id: Uuid,
) -> Result<(ConsumerGroupHeartbeatResponse, Option<BTreeSet<i32>>), crate::harness::BoxError> {
    let version = ctx.version(ApiKey::ConsumerGroupHeartbeat);
    let r = ctx.client().await?.send(version, request).await?;
    ctx.code(format!("{at}.error"), r.error_code);
    ctx.text(format!("{at}.error_message"), r.error_message.as_deref());
    ctx.see(format!("{at}.epoch"), r.member_epoch);
    ctx.see(format!("{at}.heartbeat_interval_ms"), r.heartbeat_interval_ms);
    ctx.see(
        format!("{at}.member_id_echoed"),
        r.member_id
            .as_deref()
            .map(|m| m == request.member_id.as_str())
            .unwrap_or(false),
    );
    let assigned = r.assignment.as_ref().map(|a| {
        a.topic_partitions
            .iter()
            .filter(|tp| tp.topic_id == topic_id)
            .flat_map(|tp| tp.partitions.iter().copied())
            .collect::<BTreeSet<i32>>()
    });
    match (&r.assignment, &assigned) {
        (Some(a), Some(ps)) => {
            ctx.see(format!("{at}.assignment.partitions"), ps.len());
            ctx.see(
                format!("{at}.assignment.only_the_topic"),
                a.topic_partitions.iter().all(|tp| tp.topic_id == topic_id),
            );
        }
        _ => ctx.see(format!("{at}.assignment"), "null"),
    }
    Ok((r, assigned))
}

async fn describe(ctx: &mut Ctx<'_>, at: &str, group: &str, topic_id: Uuid) -> CaseResult {
    let version = ctx.version(ApiKey::ConsumerGroupDescribe);
    let request = ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(sb(group))]);
    let r = ctx.client().await?.send(version, &request).await?;
    for (i, g) in r.groups.iter().enumerate() {
        let k = format!("{at}.{i}");
        ctx.code(format!("{k}.error"), g.error_code);
        ctx.text(format!("{k}.error_message"), g.error_message.as_deref());
        ctx.see(format!("{k}.state"), g.group_state.as_str());
        ctx.see(format!("{k}.group_epoch"), g.group_epoch);
        ctx.see(format!("{k}.assignment_epoch"), g.assignment_epoch);
        ctx.see(format!("{k}.assignor"), g.assignor_name.as_str());
        ctx.see(format!("{k}.members"), g.members.len());
        let mut members: Vec<_> = g.members.iter().collect();
        members.sort_by_key(|m| m.member_epoch);
        for (j, m) in members.iter().enumerate() {
            let km = format!("{k}.members.{j}");
            ctx.see(format!("{km}.epoch"), m.member_epoch);
            ctx.text(format!("{km}.instance"), m.instance_id.as_deref());
            ctx.see(format!("{km}.client_host"), m.client_host.as_str());
            let names: Vec<&str> = m.subscribed_topic_names.iter().map(|t| t.0.as_str()).collect();
            ctx.see(format!("{km}.subscribed"), names.join(","));
            ctx.text(format!("{km}.regex"), m.subscribed_topic_regex.as_deref());
            ctx.see(format!("{km}.type"), m.member_type);
            for (name, a) in [("assignment", &m.assignment), ("target", &m.target_assignment)] {
                let count: usize = a.topic_partitions.iter().map(|tp| tp.partitions.len()).sum();
                ctx.see(format!("{km}.{name}.partitions"), count);
                ctx.see(
                    format!("{km}.{name}.topic_ids_match"),
                    a.topic_partitions.iter().all(|tp| tp.topic_id == topic_id),
                );
                let names: Vec<&str> = a
                    .topic_partitions
                    .iter()
                    .map(|tp| tp.topic_name.0.as_str())
                    .collect();
                ctx.see(format!("{km}.{name}.topics"), names.join(","));
            }
        }
    }
    Ok(())
}

/// Member a joins and gets all four partitions; b joins; a is told to give two up and keeps
/// its epoch until it says it did; b gets the new epoch at once and its two partitions once
/// they are free; both are then at the assignment epoch.
async fn kip848_two_members_rebalance_incrementally(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 4, &[]).await?;
    let id = ctx.topic_id(&topic).await?;
    let group = ctx.topic_name("g");
    coordinator(ctx, &group).await?;
    let (a, b) = (member_id(), member_id());
    let (ra, all) = heartbeat(ctx, "a_join", &join(&group, &a, &topic), id).await?;
    let all = all.unwrap_or_default();
    describe(ctx, "describe_one", &group, id).await?;
    let (rb, _) = heartbeat(ctx, "b_join", &join(&group, &b, &topic), id).await?;
    describe(ctx, "describe_two", &group, id).await?;
    let (_, kept) = heartbeat(
        ctx,
        "a_told_to_revoke",
        &beat(&group, &a, ra.member_epoch, Some((id, &all))),
        id,
    )
    .await?;
    let kept = kept.unwrap_or_default();
    heartbeat(ctx, "b_waits", &beat(&group, &b, rb.member_epoch, None), id).await?;
    describe(ctx, "describe_revoking", &group, id).await?;
    let (ra2, _) = heartbeat(
        ctx,
        "a_revoked",
        &beat(&group, &a, ra.member_epoch, Some((id, &kept))),
        id,
    )
    .await?;
    let (rb2, given) = heartbeat(
        ctx,
        "b_gets_its_share",
        &beat(&group, &b, rb.member_epoch, None),
        id,
    )
    .await?;
    let given = given.unwrap_or_default();
    ctx.see("shares_are_disjoint", given.is_disjoint(&kept));
    heartbeat(
        ctx,
        "b_owns",
        &beat(&group, &b, rb2.member_epoch, Some((id, &given))),
        id,
    )
    .await?;
    heartbeat(ctx, "a_steady", &beat(&group, &a, ra2.member_epoch, None), id).await?;
    describe(ctx, "describe_stable", &group, id).await?;
    // Both leave; the group is Empty, then deleted.
    heartbeat(ctx, "a_leaves", &beat(&group, &a, -1, None), id).await?;
    heartbeat(ctx, "b_leaves", &beat(&group, &b, -1, None), id).await?;
    describe(ctx, "describe_empty", &group, id).await?;
    let dv = ctx.version(ApiKey::DeleteGroups);
    let r = ctx
        .client()
        .await?
        .send(
            dv,
            &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(sb(&group))]),
        )
        .await?;
    for (i, g) in r.results.iter().enumerate() {
        ctx.code(format!("delete.{i}.error"), g.error_code);
    }
    describe(ctx, "describe_deleted", &group, id).await?;
    Ok(())
}

/// Kafka's checks of a heartbeat, each with its message.
async fn kip848_malformed_heartbeats(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let id = ctx.topic_id(&topic).await?;
    let group = ctx.topic_name("g");
    coordinator(ctx, &group).await?;
    let m = member_id();
    let cases = [
        ("empty_group", join("", &m, &topic)),
        ("empty_member", join(&group, "", &topic)),
        (
            "no_rebalance_timeout",
            join(&group, &m, &topic).with_rebalance_timeout_ms(-1),
        ),
        (
            "owned_on_join",
            beat(&group, &m, 0, Some((id, &BTreeSet::from([0]))))
                .with_rebalance_timeout_ms(1000)
                .with_subscribed_topic_names(Some(vec![TopicName(sb(&topic))])),
        ),
        (
            "null_owned_on_join",
            join(&group, &m, &topic).with_topic_partitions(None),
        ),
        (
            "no_subscription",
            join(&group, &m, &topic).with_subscribed_topic_names(None),
        ),
        (
            "unknown_assignor",
            join(&group, &m, &topic).with_server_assignor(Some(sb("sticky"))),
        ),
        (
            "empty_instance",
            join(&group, &m, &topic).with_instance_id(Some(sb(""))),
        ),
        ("empty_rack", join(&group, &m, &topic).with_rack_id(Some(sb("")))),
        ("static_leave_without_instance", beat(&group, &m, -2, None)),
        ("epoch_below_minus_two", beat(&group, &m, -3, None)),
        (
            "bad_regex",
            join(&group, &m, &topic)
                .with_subscribed_topic_names(None)
                .with_subscribed_topic_regex(Some(sb("(unclosed"))),
        ),
    ];
    for (at, request) in cases {
        heartbeat(ctx, at, &request, id).await?;
    }
    Ok(())
}

/// Epochs ahead or behind are fenced; an unknown member of a known group, and any member of a
/// group that does not exist, are refused with Kafka's messages.
async fn kip848_fencing_and_unknown_members(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 2, &[]).await?;
    let id = ctx.topic_id(&topic).await?;
    let group = ctx.topic_name("g");
    coordinator(ctx, &group).await?;
    let missing = ctx.topic_name("missing");
    coordinator(ctx, &missing).await?;
    heartbeat(ctx, "missing_group", &beat(&missing, &member_id(), 3, None), id).await?;
    let a = member_id();
    let (ra, all) = heartbeat(ctx, "join", &join(&group, &a, &topic), id).await?;
    let all = all.unwrap_or_default();
    heartbeat(ctx, "ahead", &beat(&group, &a, ra.member_epoch + 3, None), id).await?;
    heartbeat(
        ctx,
        "behind",
        &beat(&group, &a, ra.member_epoch - 1, Some((id, &all))),
        id,
    )
    .await?;
    heartbeat(ctx, "unknown_member", &beat(&group, "nobody", 1, None), id).await?;
    heartbeat(
        ctx,
        "unknown_member_leaves",
        &beat(&group, "nobody", -1, None),
        id,
    )
    .await?;
    heartbeat(ctx, "same", &beat(&group, &a, ra.member_epoch, None), id).await?;
    // A full request (every field a rejoin carries) gets the assignment again.
    let full = beat(&group, &a, ra.member_epoch, Some((id, &all)))
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![TopicName(sb(&topic))]));
    heartbeat(ctx, "full_request", &full, id).await?;
    // A member rejoining with its id and epoch 0 starts over.
    heartbeat(ctx, "rejoin", &join(&group, &a, &topic), id).await?;
    describe(ctx, "describe", &group, id).await?;
    Ok(())
}

fn commit(group: &str, epoch: i32, member: &str, topic: &str) -> OffsetCommitRequest {
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    OffsetCommitRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_generation_id_or_member_epoch(epoch)
        .with_member_id(sb(member))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(3)
                .with_committed_leader_epoch(-1)])])
}

/// OffsetCommit (v9 and v8) and OffsetFetch (v9, with the member) of a KIP-848 member at its
/// epoch, behind it, ahead of it, as a stranger and outside the group.
async fn kip848_commits_and_fetches_by_member_epoch(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let id = ctx.topic_id(&topic).await?;
    let group = ctx.topic_name("g");
    coordinator(ctx, &group).await?;
    let a = member_id();
    let (ra, _) = heartbeat(ctx, "join", &join(&group, &a, &topic), id).await?;
    let epoch = ra.member_epoch;
    let cv = ctx.version(ApiKey::OffsetCommit);
    let cases = [
        ("commit", cv, commit(&group, epoch, &a, &topic)),
        ("commit_behind", cv, commit(&group, epoch - 1, &a, &topic)),
        ("commit_ahead", cv, commit(&group, epoch + 1, &a, &topic)),
        ("commit_v8", 8, commit(&group, epoch, &a, &topic)),
        ("commit_stranger", cv, commit(&group, epoch, "nobody", &topic)),
        ("commit_outside", cv, commit(&group, -1, "", &topic)),
    ];
    for (at, version, request) in cases {
        let r = ctx.client().await?.send(version, &request).await?;
        for t in &r.topics {
            for p in &t.partitions {
                ctx.code(format!("{at}.{}", p.partition_index), p.error_code);
            }
        }
    }
    let fv = ctx.version(ApiKey::OffsetFetch);
    let fetch = |member: Option<&str>, epoch: i32| {
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(sb(&group)))
            .with_member_id(member.map(sb))
            .with_member_epoch(epoch)
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(topic_name(&topic))
                .with_partition_indexes(vec![0])]))])
    };
    let cases = [
        ("fetch_member", fetch(Some(&a), epoch)),
        ("fetch_stale", fetch(Some(&a), epoch - 1)),
        ("fetch_stranger", fetch(Some("nobody"), epoch)),
        ("fetch_admin", fetch(None, -1)),
    ];
    for (at, request) in cases {
        let r = ctx.client().await?.send(fv, &request).await?;
        for g in &r.groups {
            ctx.code(format!("{at}.error"), g.error_code);
            for t in &g.topics {
                for p in &t.partitions {
                    ctx.see(format!("{at}.{}.offset", p.partition_index), p.committed_offset);
                    ctx.code(format!("{at}.{}.error", p.partition_index), p.error_code);
                }
            }
        }
    }
    Ok(())
}

/// DescribeGroups, ListGroups and JoinGroup on a consumer group, and ConsumerGroupDescribe
/// and ConsumerGroupHeartbeat on a classic one.
async fn kip848_classic_apis_on_a_consumer_group(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let id = ctx.topic_id(&topic).await?;
    let group = ctx.topic_name("g");
    coordinator(ctx, &group).await?;
    heartbeat(ctx, "join", &join(&group, &member_id(), &topic), id).await?;
    let dv = ctx.version(ApiKey::DescribeGroups);
    for version in [dv.min(5), dv] {
        let r = ctx
            .client()
            .await?
            .send(
                version,
                &DescribeGroupsRequest::default().with_groups(vec![GroupId(sb(&group))]),
            )
            .await?;
        for g in &r.groups {
            let k = format!("describe_groups_v{version}");
            ctx.code(format!("{k}.error"), g.error_code);
            ctx.text(format!("{k}.message"), g.error_message.as_deref());
            ctx.see(format!("{k}.state"), g.group_state.as_str());
            ctx.see(format!("{k}.protocol_type"), g.protocol_type.as_str());
            ctx.see(format!("{k}.members"), g.members.len());
        }
    }
    let lv = ctx.version(ApiKey::ListGroups);
    for (at, types) in [
        ("all", vec![]),
        ("consumer", vec![sb("consumer")]),
        ("classic", vec![sb("Classic")]),
    ] {
        let r = ctx
            .client()
            .await?
            .send(lv, &ListGroupsRequest::default().with_types_filter(types))
            .await?;
        match r.groups.iter().find(|g| g.group_id.0.as_str() == group) {
            Some(g) => {
                ctx.see(format!("list_{at}.protocol_type"), g.protocol_type.as_str());
                ctx.see(format!("list_{at}.state"), g.group_state.as_str());
                ctx.see(format!("list_{at}.type"), g.group_type.as_str());
            }
            None => ctx.see(format!("list_{at}"), "not listed"),
        }
    }
    // A classic group: ConsumerGroupDescribe and a consumer member's join are refused.
    let classic = ctx.topic_name("classic");
    coordinator(ctx, &classic).await?;
    let jv = ctx.version(ApiKey::JoinGroup);
    let join_classic = kafka_protocol::messages::JoinGroupRequest::default()
        .with_group_id(GroupId(sb(&classic)))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(sb("consumer"))
        .with_protocols(vec![
            kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol::default()
                .with_name(sb("range"))
                .with_metadata(bytes::Bytes::from_static(
                    b"\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff",
                )),
        ]);
    let first = ctx.client().await?.send(jv, &join_classic).await?;
    let joined = ctx
        .client()
        .await?
        .send(jv, &join_classic.clone().with_member_id(first.member_id.clone()))
        .await?;
    ctx.code("classic_join", joined.error_code);
    heartbeat(
        ctx,
        "consumer_join_on_classic",
        &join(&classic, &member_id(), &topic),
        id,
    )
    .await?;
    let version = ctx.version(ApiKey::ConsumerGroupDescribe);
    let request = ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(sb(&classic))]);
    let r = ctx.client().await?.send(version, &request).await?;
    for g in &r.groups {
        ctx.code("describe_classic.error", g.error_code);
        ctx.text("describe_classic.error_message", g.error_message.as_deref());
        ctx.see("describe_classic.members", g.members.len());
    }
    // And a classic member's join on the consumer group.
    let r = ctx
        .client()
        .await?
        .send(jv, &join_classic.clone().with_group_id(GroupId(sb(&group))))
        .await?;
    ctx.code("classic_join_on_consumer_group", r.error_code);
    Ok(())
}
