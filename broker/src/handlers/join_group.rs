//! JoinGroup (ApiKey 11), versions 0..=9.
//!
//! # Behaviour
//! The classic group protocol, as Kafka's coordinator runs it (see [`crate::group`]): the
//! request waits until the group's join phase ends, then answers the generation, the chosen
//! protocol, the leader and, to the leader only, every member's metadata. From v4 a member
//! without an id first gets MEMBER_ID_REQUIRED with its id (KIP-394); from v5 a
//! `group.instance.id` makes a static member (KIP-345).
//!
//! # Version notes
//! v0 has no rebalance timeout (the session timeout serves); v6 is flexible; v7 answers the
//! protocol type and a nullable protocol name; v9 adds `skip_assignment` (KIP-814) and a
//! reason.

use std::time::Duration;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::{str_bytes, HandlerContext};
use crate::group::{JoinGroup, JoinReply};

/// Handles a JoinGroup request; waits while the group rebalances.
pub async fn handle(ctx: &HandlerContext<'_>, version: i16, request: JoinGroupRequest) -> JoinGroupResponse {
    let session_timeout = millis(request.session_timeout_ms);
    let join = JoinGroup {
        version,
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        instance_id: request.group_instance_id.map(|i| i.to_string()),
        client_id: ctx.client_id.to_string(),
        client_host: ctx.client_host.to_string(),
        session_timeout,
        rebalance_timeout: if version >= 1 {
            millis(request.rebalance_timeout_ms)
        } else {
            session_timeout
        },
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
    };
    let reply = ctx.state.groups().join(ctx.state, ctx.node_id, join).await;
    response(version, reply)
}

/// The response for `reply` at `version`.
pub(crate) fn response(version: i16, reply: JoinReply) -> JoinGroupResponse {
    // Before v7 the protocol name is not nullable: "" stands for none.
    let protocol_name = match reply.protocol_name {
        Some(name) => Some(str_bytes(&name)),
        None if version < 7 => Some(str_bytes("")),
        None => None,
    };
    JoinGroupResponse::default()
        .with_error_code(reply.error.code())
        .with_generation_id(reply.generation)
        .with_protocol_type(if version >= 7 {
            reply.protocol_type.as_deref().map(str_bytes)
        } else {
            None
        })
        .with_protocol_name(protocol_name)
        .with_leader(str_bytes(&reply.leader))
        .with_skip_assignment(version >= 9 && reply.skip_assignment)
        .with_member_id(str_bytes(&reply.member_id))
        .with_members(
            reply
                .members
                .into_iter()
                .map(|(id, instance, metadata)| {
                    JoinGroupResponseMember::default()
                        .with_member_id(str_bytes(&id))
                        .with_group_instance_id(if version >= 5 {
                            instance.as_deref().map(str_bytes)
                        } else {
                            None
                        })
                        .with_metadata(metadata)
                })
                .collect(),
        )
}

/// A timeout in milliseconds; negative values are 0 (and so out of range).
pub(crate) fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
