//! SyncGroup (ApiKey 14), versions 0..=5.
//!
//! # Behaviour
//! The leader sends every member's assignment; each member (the leader too) gets its own once
//! the leader's arrives, and the group is Stable. A follower's request waits for it. See
//! [`crate::group`].
//!
//! # Version notes
//! v3 adds `group_instance_id`; v4 is flexible; v5 carries the protocol type and name, which
//! are mandatory and must be the group's (else INCONSISTENT_GROUP_PROTOCOL), and answers them.

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use kafkit_protocol::ErrorCode;

use super::{str_bytes, HandlerContext};
use crate::group::SyncGroup;

/// Handles a SyncGroup request; a follower's waits for the leader's.
pub async fn handle(ctx: &HandlerContext<'_>, version: i16, request: SyncGroupRequest) -> SyncGroupResponse {
    // From v5 both are mandatory; Kafka checks before anything else.
    if version >= 5 && (request.protocol_type.is_none() || request.protocol_name.is_none()) {
        return SyncGroupResponse::default().with_error_code(ErrorCode::InconsistentGroupProtocol.code());
    }
    let sync = SyncGroup {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        instance_id: request.group_instance_id.map(|i| i.to_string()),
        generation: request.generation_id,
        protocol_type: request
            .protocol_type
            .filter(|_| version >= 5)
            .map(|t| t.to_string()),
        protocol_name: request
            .protocol_name
            .filter(|_| version >= 5)
            .map(|n| n.to_string()),
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    let reply = ctx.state.groups().sync(ctx.state, ctx.node_id, sync).await;
    let mut response = SyncGroupResponse::default()
        .with_error_code(reply.error.code())
        .with_assignment(reply.assignment);
    if version >= 5 {
        response.protocol_type = reply.protocol_type.as_deref().map(str_bytes);
        response.protocol_name = reply.protocol_name.as_deref().map(str_bytes);
    }
    response
}
