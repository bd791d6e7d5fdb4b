//! The group coordinator: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
//! OffsetFetch, DescribeGroups, ListGroups, DeleteGroups and OffsetDelete, one classic member
//! driven by hand, at the highest version both brokers serve (and older layouts where they
//! differ).

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, DeleteGroupsRequest, DescribeGroupsRequest, GroupId, HeartbeatRequest, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, ListGroupsRequest, OffsetCommitRequest, OffsetCommitResponse,
    OffsetDeleteRequest, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest,
};
use kafka_protocol::protocol::StrBytes;

use crate::harness::{topic_name, Case, CaseResult, Ctx};

pub fn cases() -> Vec<Case> {
    crate::cases![
        group_member_lifecycle,
        group_join_needs_a_member_id,
        group_join_refused,
        group_unknown,
        group_simple_commits,
        group_offset_fetch_layouts,
        group_offset_delete,
        group_delete_with_members,
        group_list_filters,
        group_offsets_topic_is_internal,
    ]
}

/// Subscription metadata of the `consumer` protocol (v0: topics, no user data).
fn subscription(topics: &[&str]) -> Bytes {
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

/// Sends `request` at the highest version of `api` both peers serve.
async fn send<R>(ctx: &mut Ctx<'_>, api: ApiKey, request: &R) -> Result<R::Response, crate::harness::BoxError>
where
    R: kafka_protocol::protocol::Request,
    R::Response: kafkit_protocol::response::GuardedResponse,
{
    let version = ctx.version(api);
    Ok(ctx.client().await?.send(version, request).await?)
}

pub(crate) fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// A group name, standing as `<label>` in observations.
fn group_name(ctx: &mut Ctx<'_>, label: &str) -> String {
    ctx.topic_name(label)
}

/// Waits until the group's coordinator is found (Kafka creates `__consumer_offsets` first).
pub(crate) async fn coordinator(ctx: &mut Ctx<'_>, group: &str) -> CaseResult {
    let version = ctx.version(ApiKey::FindCoordinator);
    let request = kafka_protocol::messages::FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![sb(group)]);
    for _ in 0..80 {
        let response = ctx.client().await?.send(version, &request).await?;
        if response.coordinators.iter().all(|c| c.error_code == 0) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    Err(format!("no coordinator for {group}").into())
}

fn join_request(group: &str, member: &str, topics: &[&str]) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(sb(member))
        .with_protocol_type(sb("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(sb("range"))
                .with_metadata(subscription(topics)),
            JoinGroupRequestProtocol::default()
                .with_name(sb("roundrobin"))
                .with_metadata(subscription(topics)),
        ])
}

fn see_join(ctx: &mut Ctx<'_>, at: &str, response: &JoinGroupResponse, sent_metadata: &Bytes) {
    ctx.code(format!("{at}.error"), response.error_code);
    ctx.see(format!("{at}.generation"), response.generation_id);
    ctx.text(format!("{at}.protocol_type"), response.protocol_type.as_deref());
    ctx.text(format!("{at}.protocol_name"), response.protocol_name.as_deref());
    ctx.see(format!("{at}.member_id.empty"), response.member_id.is_empty());
    ctx.see(
        format!("{at}.member_id.is_client_id_dash_uuid"),
        member_id_shape(&response.member_id),
    );
    ctx.see(
        format!("{at}.leader_is_self"),
        response.leader == response.member_id,
    );
    ctx.see(format!("{at}.leader.empty"), response.leader.is_empty());
    ctx.see(format!("{at}.skip_assignment"), response.skip_assignment);
    ctx.see(format!("{at}.members"), response.members.len());
    for (i, m) in response.members.iter().enumerate() {
        ctx.see(
            format!("{at}.members.{i}.is_self"),
            m.member_id == response.member_id,
        );
        ctx.text(
            format!("{at}.members.{i}.instance"),
            m.group_instance_id.as_deref(),
        );
        ctx.see(
            format!("{at}.members.{i}.metadata_as_sent"),
            m.metadata == sent_metadata,
        );
    }
}

/// Kafka's member ids are `<client id>-<uuid>`.
fn member_id_shape(id: &str) -> bool {
    id.rsplit_once('-')
        .is_some_and(|(_, _)| id.len() > 37 && uuid::Uuid::parse_str(&id[id.len() - 36..]).is_ok())
}

/// Joins `group` as a new member (KIP-394's two steps) and syncs with `assignment`; returns
/// the member id and generation.
async fn join_and_sync(
    ctx: &mut Ctx<'_>,
    group: &str,
    topics: &[&str],
) -> Result<(String, i32), crate::harness::BoxError> {
    let version = ctx.version(ApiKey::JoinGroup);
    let first = ctx
        .client()
        .await?
        .send(version, &join_request(group, "", topics))
        .await?;
    let joined = ctx
        .client()
        .await?
        .send(version, &join_request(group, &first.member_id, topics))
        .await?;
    if joined.error_code != 0 {
        return Err(format!("join failed: {}", joined.error_code).into());
    }
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_generation_id(joined.generation_id)
        .with_member_id(joined.member_id.clone())
        .with_protocol_type(Some(sb("consumer")))
        .with_protocol_name(joined.protocol_name.clone())
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(joined.member_id.clone())
            .with_assignment(Bytes::from_static(b"assigned"))]);
    let synced = send(ctx, ApiKey::SyncGroup, &sync).await?;
    if synced.error_code != 0 {
        return Err(format!("sync failed: {}", synced.error_code).into());
    }
    Ok((joined.member_id.to_string(), joined.generation_id))
}

fn commit_request(
    group: &str,
    generation: i32,
    member: &str,
    topic: &str,
    offsets: &[(i32, i64)],
    metadata: &str,
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(sb(member))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                offsets
                    .iter()
                    .map(|&(p, o)| {
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(p)
                            .with_committed_offset(o)
                            .with_committed_leader_epoch(3)
                            .with_committed_metadata(Some(sb(metadata)))
                    })
                    .collect(),
            )])
}

/// Sends an OffsetCommit at `version` and records each partition's answer under `at`.
async fn commit(ctx: &mut Ctx<'_>, at: &str, version: i16, request: &OffsetCommitRequest) -> CaseResult {
    let response = ctx.client().await?.send(version, request).await?;
    see_commit(ctx, at, &response);
    Ok(())
}

fn see_commit(ctx: &mut Ctx<'_>, at: &str, response: &OffsetCommitResponse) {
    for t in &response.topics {
        for p in &t.partitions {
            ctx.code(format!("{at}.{}.{}", t.name.0, p.partition_index), p.error_code);
        }
    }
}

fn see_fetch(ctx: &mut Ctx<'_>, at: &str, response: &OffsetFetchResponse) {
    ctx.code(format!("{at}.error"), response.error_code);
    for t in &response.topics {
        for p in &t.partitions {
            let k = format!("{at}.{}.{}", t.name.0, p.partition_index);
            ctx.see(format!("{k}.offset"), p.committed_offset);
            ctx.see(format!("{k}.leader_epoch"), p.committed_leader_epoch);
            ctx.text(format!("{k}.metadata"), p.metadata.as_deref());
            ctx.code(format!("{k}.error"), p.error_code);
        }
    }
    for (g, group) in response.groups.iter().enumerate() {
        ctx.code(format!("{at}.groups.{g}.error"), group.error_code);
        for t in &group.topics {
            for p in &t.partitions {
                let k = format!("{at}.groups.{g}.{}.{}", t.name.0, p.partition_index);
                ctx.see(format!("{k}.offset"), p.committed_offset);
                ctx.see(format!("{k}.leader_epoch"), p.committed_leader_epoch);
                ctx.text(format!("{k}.metadata"), p.metadata.as_deref());
                ctx.code(format!("{k}.error"), p.error_code);
            }
        }
    }
}

fn fetch_request(version: i16, group: &str, topic: Option<(&str, Vec<i32>)>) -> OffsetFetchRequest {
    if version >= 8 {
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(sb(group)))
            .with_topics(topic.map(|(t, ps)| {
                vec![OffsetFetchRequestTopics::default()
                    .with_name(topic_name(t))
                    .with_partition_indexes(ps)]
            }))])
    } else {
        OffsetFetchRequest::default()
            .with_group_id(GroupId(sb(group)))
            .with_topics(topic.map(|(t, ps)| {
                vec![OffsetFetchRequestTopic::default()
                    .with_name(topic_name(t))
                    .with_partition_indexes(ps)]
            }))
    }
}

async fn describe(ctx: &mut Ctx<'_>, at: &str, group: &str) -> CaseResult {
    let version = ctx.version(ApiKey::DescribeGroups);
    let request = DescribeGroupsRequest::default().with_groups(vec![GroupId(sb(group))]);
    let response = ctx.client().await?.send(version, &request).await?;
    for (i, g) in response.groups.iter().enumerate() {
        let k = format!("{at}.{i}");
        ctx.code(format!("{k}.error"), g.error_code);
        ctx.text(format!("{k}.error_message"), g.error_message.as_deref());
        ctx.see(format!("{k}.state"), g.group_state.as_str());
        ctx.see(format!("{k}.protocol_type"), g.protocol_type.as_str());
        ctx.see(format!("{k}.protocol"), g.protocol_data.as_str());
        ctx.see(format!("{k}.members"), g.members.len());
        ctx.see(format!("{k}.authorized_operations"), g.authorized_operations);
        for (j, m) in g.members.iter().enumerate() {
            let km = format!("{k}.members.{j}");
            ctx.see(format!("{km}.member_id.shape"), member_id_shape(&m.member_id));
            ctx.text(format!("{km}.instance"), m.group_instance_id.as_deref());
            ctx.see(format!("{km}.client_id"), m.client_id.as_str());
            ctx.see(format!("{km}.client_host"), m.client_host.as_str());
            // Topic names differ in length between the peers: whether it is there, not its length.
            ctx.see(format!("{km}.metadata.empty"), m.member_metadata.is_empty());
            ctx.see(
                format!("{km}.assignment"),
                String::from_utf8_lossy(&m.member_assignment),
            );
        }
    }
    Ok(())
}

/// One member's whole life: join (two steps), sync, heartbeat, describe, list, commit and
/// fetch, leave; then the empty group's answers and its deletion.
async fn group_member_lifecycle(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 2, &[]).await?;
    let group = group_name(ctx, "g");
    coordinator(ctx, &group).await?;
    let version = ctx.version(ApiKey::JoinGroup);
    let metadata = subscription(&[&topic]);
    let first = ctx
        .client()
        .await?
        .send(version, &join_request(&group, "", &[&topic]))
        .await?;
    see_join(ctx, "join1", &first, &metadata);
    let joined = ctx
        .client()
        .await?
        .send(version, &join_request(&group, &first.member_id, &[&topic]))
        .await?;
    see_join(ctx, "join2", &joined, &metadata);
    ctx.see("join2.same_member_id", joined.member_id == first.member_id);
    let member = joined.member_id.to_string();
    let generation = joined.generation_id;

    let heartbeat = |generation: i32, member: &str| {
        HeartbeatRequest::default()
            .with_group_id(GroupId(sb(&group)))
            .with_generation_id(generation)
            .with_member_id(sb(member))
    };
    let hv = ctx.version(ApiKey::Heartbeat);
    // Before the sync: the group is CompletingRebalance.
    let r = ctx
        .client()
        .await?
        .send(hv, &heartbeat(generation, &member))
        .await?;
    ctx.code("heartbeat_before_sync", r.error_code);
    describe(ctx, "describe_completing", &group).await?;

    let sv = ctx.version(ApiKey::SyncGroup);
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(sb(&group)))
        .with_generation_id(generation)
        .with_member_id(sb(&member))
        .with_protocol_type(Some(sb("consumer")))
        .with_protocol_name(Some(sb("range")))
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(sb(&member))
            .with_assignment(Bytes::from_static(b"assigned"))]);
    let synced = ctx.client().await?.send(sv, &sync).await?;
    ctx.code("sync.error", synced.error_code);
    ctx.text("sync.protocol_type", synced.protocol_type.as_deref());
    ctx.text("sync.protocol_name", synced.protocol_name.as_deref());
    ctx.see("sync.assignment", String::from_utf8_lossy(&synced.assignment));
    let wrong = sync.clone().with_protocol_name(Some(sb("roundrobin")));
    let r = ctx.client().await?.send(sv, &wrong).await?;
    ctx.code("sync_wrong_protocol.error", r.error_code);

    let r = ctx
        .client()
        .await?
        .send(hv, &heartbeat(generation, &member))
        .await?;
    ctx.code("heartbeat", r.error_code);
    let r = ctx
        .client()
        .await?
        .send(hv, &heartbeat(generation + 1, &member))
        .await?;
    ctx.code("heartbeat_wrong_generation", r.error_code);
    let r = ctx
        .client()
        .await?
        .send(hv, &heartbeat(generation, "someone-else"))
        .await?;
    ctx.code("heartbeat_unknown_member", r.error_code);
    describe(ctx, "describe_stable", &group).await?;

    let lv = ctx.version(ApiKey::ListGroups);
    let listed = ctx
        .client()
        .await?
        .send(lv, &ListGroupsRequest::default())
        .await?;
    ctx.code("list.error", listed.error_code);
    if let Some(g) = listed.groups.iter().find(|g| g.group_id.0.as_str() == group) {
        ctx.see("list.protocol_type", g.protocol_type.as_str());
        ctx.see("list.state", g.group_state.as_str());
        ctx.see("list.type", g.group_type.as_str());
    } else {
        ctx.see("list", "group missing");
    }

    let cv = ctx.version(ApiKey::OffsetCommit);
    commit(
        ctx,
        "commit",
        cv,
        &commit_request(&group, generation, &member, &topic, &[(0, 5), (1, 7)], "meta"),
    )
    .await?;
    commit(
        ctx,
        "commit_wrong_generation",
        cv,
        &commit_request(&group, generation + 1, &member, &topic, &[(0, 6)], ""),
    )
    .await?;
    commit(
        ctx,
        "commit_simple_to_active_group",
        cv,
        &commit_request(&group, -1, "", &topic, &[(0, 6)], ""),
    )
    .await?;
    let fv = ctx.version(ApiKey::OffsetFetch);
    let r = ctx
        .client()
        .await?
        .send(fv, &fetch_request(fv, &group, Some((&topic, vec![0, 1, 2]))))
        .await?;
    see_fetch(ctx, "fetch", &r);

    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(sb(&group)))
        .with_members(vec![
            MemberIdentity::default().with_member_id(sb(&member)),
            MemberIdentity::default().with_member_id(sb("not-a-member")),
        ]);
    let r = send(ctx, ApiKey::LeaveGroup, &leave).await?;
    ctx.code("leave.error", r.error_code);
    for (i, m) in r.members.iter().enumerate() {
        ctx.code(format!("leave.{i}.error"), m.error_code);
        ctx.see(format!("leave.{i}.is_self"), m.member_id.as_str() == member);
    }
    let r = ctx
        .client()
        .await?
        .send(hv, &heartbeat(generation, &member))
        .await?;
    ctx.code("heartbeat_after_leave", r.error_code);
    describe(ctx, "describe_empty", &group).await?;
    commit(
        ctx,
        "commit_simple_to_empty_group",
        cv,
        &commit_request(&group, -1, "", &topic, &[(0, 9)], ""),
    )
    .await?;

    let dv = ctx.version(ApiKey::DeleteGroups);
    let delete = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(sb(&group))]);
    let r = ctx.client().await?.send(dv, &delete).await?;
    for (i, g) in r.results.iter().enumerate() {
        ctx.code(format!("delete.{i}.error"), g.error_code);
    }
    describe(ctx, "describe_deleted", &group).await?;
    let r = ctx
        .client()
        .await?
        .send(fv, &fetch_request(fv, &group, Some((&topic, vec![0]))))
        .await?;
    see_fetch(ctx, "fetch_deleted", &r);
    Ok(())
}

/// From v4 a member without an id must come back with the one it is given.
async fn group_join_needs_a_member_id(ctx: &mut Ctx<'_>) -> CaseResult {
    let group = group_name(ctx, "g");
    coordinator(ctx, &group).await?;
    let metadata = subscription(&["x"]);
    for version in [3, ctx.version(ApiKey::JoinGroup)] {
        let group = format!("{group}-v{version}");
        coordinator(ctx, &group).await?;
        let r = ctx
            .client()
            .await?
            .send(version, &join_request(&group, "", &["x"]))
            .await?;
        see_join(ctx, &format!("v{version}"), &r, &metadata);
    }
    Ok(())
}

/// JoinGroup's refusals: empty group id, session timeouts out of range, an unknown member id,
/// no protocol type, no protocols, a protocol the group's members do not share.
async fn group_join_refused(ctx: &mut Ctx<'_>) -> CaseResult {
    let group = group_name(ctx, "g");
    coordinator(ctx, &group).await?;
    let version = ctx.version(ApiKey::JoinGroup);
    let metadata = subscription(&["x"]);
    let cases = [
        ("empty_group_id", join_request("", "", &["x"])),
        (
            "session_too_short",
            join_request(&group, "", &["x"]).with_session_timeout_ms(10),
        ),
        (
            "session_too_long",
            join_request(&group, "", &["x"]).with_session_timeout_ms(2_000_000_000),
        ),
        (
            "unknown_member_new_group",
            join_request(&group, "made-up", &["x"]),
        ),
        (
            "no_protocol_type",
            join_request(&group, "", &["x"]).with_protocol_type(sb("")),
        ),
        (
            "no_protocols",
            join_request(&group, "", &["x"]).with_protocols(vec![]),
        ),
    ];
    for (name, request) in cases {
        let r = ctx.client().await?.send(version, &request).await?;
        see_join(ctx, name, &r, &metadata);
    }
    // A member of another protocol set cannot join a group with members.
    let (_, _) = join_and_sync(ctx, &group, &["x"]).await?;
    let other = join_request(&group, "", &["x"]).with_protocols(vec![JoinGroupRequestProtocol::default()
        .with_name(sb("sticky"))
        .with_metadata(metadata.clone())]);
    let first = ctx.client().await?.send(version, &other).await?;
    see_join(ctx, "other_protocol", &first, &metadata);
    let other_type = join_request(&group, "", &["x"]).with_protocol_type(sb("connect"));
    let r = ctx.client().await?.send(version, &other_type).await?;
    see_join(ctx, "other_protocol_type", &r, &metadata);
    Ok(())
}

/// Every group API on a group that does not exist.
async fn group_unknown(ctx: &mut Ctx<'_>) -> CaseResult {
    let group = group_name(ctx, "nobody");
    coordinator(ctx, &group).await?;
    let r = send(
        ctx,
        ApiKey::Heartbeat,
        &HeartbeatRequest::default()
            .with_group_id(GroupId(sb(&group)))
            .with_generation_id(1)
            .with_member_id(sb("m")),
    )
    .await?;
    ctx.code("heartbeat", r.error_code);
    let r = send(
        ctx,
        ApiKey::SyncGroup,
        &SyncGroupRequest::default()
            .with_group_id(GroupId(sb(&group)))
            .with_generation_id(1)
            .with_member_id(sb("m")),
    )
    .await?;
    ctx.code("sync", r.error_code);
    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(sb(&group)))
        .with_members(vec![MemberIdentity::default().with_member_id(sb("m"))]);
    let r = send(ctx, ApiKey::LeaveGroup, &leave).await?;
    ctx.code("leave.error", r.error_code);
    for (i, m) in r.members.iter().enumerate() {
        ctx.code(format!("leave.{i}.error"), m.error_code);
    }
    describe(ctx, "describe", &group).await?;
    // DescribeGroups before v6 has no GROUP_ID_NOT_FOUND.
    let request = DescribeGroupsRequest::default().with_groups(vec![GroupId(sb(&group))]);
    let r = ctx.client().await?.send(5, &request).await?;
    ctx.code("describe_v5.error", r.groups[0].error_code);
    ctx.see("describe_v5.state", r.groups[0].group_state.as_str());
    let delete = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(sb(&group))]);
    let r = send(ctx, ApiKey::DeleteGroups, &delete).await?;
    ctx.code("delete", r.results[0].error_code);
    let fv = ctx.version(ApiKey::OffsetFetch);
    let r = ctx
        .client()
        .await?
        .send(fv, &fetch_request(fv, &group, Some(("t", vec![0]))))
        .await?;
    see_fetch(ctx, "fetch", &r);
    let r = ctx
        .client()
        .await?
        .send(fv, &fetch_request(fv, &group, None))
        .await?;
    see_fetch(ctx, "fetch_all", &r);
    let offset_delete = OffsetDeleteRequest::default()
        .with_group_id(GroupId(sb(&group)))
        .with_topics(vec![OffsetDeleteRequestTopic::default()
            .with_name(topic_name("t"))
            .with_partitions(vec![
                OffsetDeleteRequestPartition::default().with_partition_index(0)
            ])]);
    let r = ctx.client().await?.send(0, &offset_delete).await?;
    ctx.code("offset_delete", r.error_code);
    let cv = ctx.version(ApiKey::OffsetCommit);
    let topic = ctx.create_topic("t", 1, &[]).await?;
    commit(
        ctx,
        "commit_with_generation",
        cv,
        &commit_request(&group, 4, "m", &topic, &[(0, 1)], ""),
    )
    .await?;
    commit(
        ctx,
        "commit_with_generation_v7",
        7,
        &commit_request(&group, 4, "m", &topic, &[(0, 1)], ""),
    )
    .await?;
    Ok(())
}

/// Commits outside group management: the group comes into being; unknown topics, oversized
/// metadata; what fetch answers for them.
async fn group_simple_commits(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 2, &[]).await?;
    let group = group_name(ctx, "g");
    coordinator(ctx, &group).await?;
    let cv = ctx.version(ApiKey::OffsetCommit);
    commit(
        ctx,
        "commit",
        cv,
        &commit_request(&group, -1, "", &topic, &[(0, 10), (1, 0)], "hello"),
    )
    .await?;
    commit(
        ctx,
        "commit_partition_beyond_topic",
        cv,
        &commit_request(&group, -1, "", &topic, &[(7, 10)], ""),
    )
    .await?;
    let missing = ctx.topic_name("missing");
    commit(
        ctx,
        "commit_unknown_topic",
        cv,
        &commit_request(&group, -1, "", &missing, &[(0, 1)], ""),
    )
    .await?;
    let big = "m".repeat(5000);
    commit(
        ctx,
        "commit_metadata_too_large",
        cv,
        &commit_request(&group, -1, "", &topic, &[(0, 11)], &big),
    )
    .await?;
    commit(
        ctx,
        "commit_negative_offset",
        cv,
        &commit_request(&group, -1, "", &topic, &[(0, -3)], ""),
    )
    .await?;
    let fv = ctx.version(ApiKey::OffsetFetch);
    let r = ctx
        .client()
        .await?
        .send(fv, &fetch_request(fv, &group, None))
        .await?;
    see_fetch(ctx, "fetch_all", &r);
    describe(ctx, "describe", &group).await?;
    let lv = ctx.version(ApiKey::ListGroups);
    let listed = ctx
        .client()
        .await?
        .send(lv, &ListGroupsRequest::default())
        .await?;
    match listed.groups.iter().find(|g| g.group_id.0.as_str() == group) {
        Some(g) => {
            ctx.see("list.protocol_type", g.protocol_type.as_str());
            ctx.see("list.state", g.group_state.as_str());
        }
        None => ctx.see("list", "group missing"),
    }
    Ok(())
}

/// OffsetFetch in its old layouts: v1 (no top-level error), v2-7 (one group), v8+ (groups).
async fn group_offset_fetch_layouts(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let group = group_name(ctx, "g");
    coordinator(ctx, &group).await?;
    let cv = ctx.version(ApiKey::OffsetCommit);
    commit(
        ctx,
        "commit",
        cv,
        &commit_request(&group, -1, "", &topic, &[(0, 42)], "m"),
    )
    .await?;
    for version in [1, 2, 5, 7, ctx.version(ApiKey::OffsetFetch)] {
        let r = ctx
            .client()
            .await?
            .send(
                version,
                &fetch_request(version, &group, Some((&topic, vec![0, 3]))),
            )
            .await?;
        see_fetch(ctx, &format!("v{version}"), &r);
    }
    Ok(())
}

/// OffsetDelete: an empty group's offsets go; a partition never committed is fine; a topic
/// its member subscribes to is refused.
async fn group_offset_delete(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 2, &[]).await?;
    let other = ctx.create_topic("other", 1, &[]).await?;
    let group = group_name(ctx, "g");
    coordinator(ctx, &group).await?;
    let cv = ctx.version(ApiKey::OffsetCommit);
    ctx.client()
        .await?
        .send(cv, &commit_request(&group, -1, "", &topic, &[(0, 1), (1, 2)], ""))
        .await?;
    ctx.client()
        .await?
        .send(cv, &commit_request(&group, -1, "", &other, &[(0, 3)], ""))
        .await?;
    let request = |topic: &str, partitions: &[i32]| {
        OffsetDeleteRequest::default()
            .with_group_id(GroupId(sb(&group)))
            .with_topics(vec![OffsetDeleteRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|&p| OffsetDeleteRequestPartition::default().with_partition_index(p))
                        .collect(),
                )])
    };
    let r = ctx.client().await?.send(0, &request(&topic, &[0, 5])).await?;
    ctx.code("delete.error", r.error_code);
    for t in &r.topics {
        for p in &t.partitions {
            ctx.code(format!("delete.{}.{}", t.name.0, p.partition_index), p.error_code);
        }
    }
    let fv = ctx.version(ApiKey::OffsetFetch);
    let r = ctx
        .client()
        .await?
        .send(fv, &fetch_request(fv, &group, None))
        .await?;
    see_fetch(ctx, "fetch_after_delete", &r);
    // A member subscribed to `other` joins: its offsets are in use.
    join_and_sync(ctx, &group, &[&other]).await?;
    let r = ctx.client().await?.send(0, &request(&other, &[0])).await?;
    ctx.code("delete_subscribed.error", r.error_code);
    for t in &r.topics {
        for p in &t.partitions {
            ctx.code(
                format!("delete_subscribed.{}.{}", t.name.0, p.partition_index),
                p.error_code,
            );
        }
    }
    let r = ctx.client().await?.send(0, &request(&topic, &[1])).await?;
    ctx.code("delete_unsubscribed.error", r.error_code);
    for t in &r.topics {
        for p in &t.partitions {
            ctx.code(
                format!("delete_unsubscribed.{}.{}", t.name.0, p.partition_index),
                p.error_code,
            );
        }
    }
    Ok(())
}

/// DeleteGroups refuses a group with members.
async fn group_delete_with_members(ctx: &mut Ctx<'_>) -> CaseResult {
    let group = group_name(ctx, "g");
    coordinator(ctx, &group).await?;
    join_and_sync(ctx, &group, &["x"]).await?;
    let delete = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(sb(&group)), GroupId(sb(""))]);
    let r = send(ctx, ApiKey::DeleteGroups, &delete).await?;
    // Kafka answers in its own order (by coordinator partition): keyed by group.
    for g in &r.results {
        ctx.code(format!("[{}].error", g.group_id.0), g.error_code);
    }
    Ok(())
}

/// ListGroups filtered by state (in any case) and by type.
async fn group_list_filters(ctx: &mut Ctx<'_>) -> CaseResult {
    let group = group_name(ctx, "g");
    coordinator(ctx, &group).await?;
    join_and_sync(ctx, &group, &["x"]).await?;
    let lv = ctx.version(ApiKey::ListGroups);
    let filters: [(&str, Vec<&str>, Vec<&str>); 5] = [
        ("stable", vec!["Stable"], vec![]),
        ("stable_lowercase", vec!["stable"], vec![]),
        ("empty", vec!["Empty"], vec![]),
        ("classic", vec![], vec!["classic"]),
        ("consumer_type", vec![], vec!["consumer"]),
    ];
    for (name, states, types) in filters {
        let request = ListGroupsRequest::default()
            .with_states_filter(states.into_iter().map(sb).collect())
            .with_types_filter(if lv >= 5 {
                types.into_iter().map(sb).collect()
            } else {
                vec![]
            });
        let r = ctx.client().await?.send(lv, &request).await?;
        ctx.code(format!("{name}.error"), r.error_code);
        ctx.see(
            format!("{name}.lists_group"),
            r.groups.iter().any(|g| g.group_id.0.as_str() == group),
        );
    }
    Ok(())
}

/// `__consumer_offsets` once a group was looked up: Metadata names it internal; a produce to it
/// is refused.
async fn group_offsets_topic_is_internal(ctx: &mut Ctx<'_>) -> CaseResult {
    let group = group_name(ctx, "g");
    coordinator(ctx, &group).await?;
    let request = kafka_protocol::messages::MetadataRequest::default()
        .with_topics(Some(vec![
            kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                .with_name(Some(topic_name("__consumer_offsets"))),
        ]))
        .with_allow_auto_topic_creation(false);
    let response = send(ctx, ApiKey::Metadata, &request).await?;
    for t in &response.topics {
        ctx.code("metadata.error", t.error_code);
        ctx.see("metadata.is_internal", t.is_internal);
        ctx.see("metadata.partitions", t.partitions.len());
    }
    let all = send(
        ctx,
        ApiKey::Metadata,
        &kafka_protocol::messages::MetadataRequest::default().with_topics(None),
    )
    .await?;
    ctx.see(
        "metadata_all.lists_it",
        all.topics.iter().any(|t| {
            t.name
                .as_ref()
                .is_some_and(|n| n.0.as_str() == "__consumer_offsets")
        }),
    );
    let (code, offset) = ctx
        .client()
        .await?
        .produce("__consumer_offsets", 0, &["x"])
        .await?;
    ctx.see("produce.error", code);
    ctx.see("produce.base_offset", offset);
    Ok(())
}
