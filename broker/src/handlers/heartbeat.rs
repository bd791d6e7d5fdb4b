//! Heartbeat (ApiKey 12), versions 0..=4.
//!
//! # Behaviour
//! Keeps a member's session alive. NONE while its generation is current and the group is not
//! rebalancing; REBALANCE_IN_PROGRESS tells it to rejoin; ILLEGAL_GENERATION,
//! UNKNOWN_MEMBER_ID and FENCED_INSTANCE_ID as Kafka answers them. See [`crate::group`].
//!
//! # Version notes
//! v3 adds `group_instance_id`; v4 is flexible.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::HandlerContext;

/// Handles a Heartbeat request.
pub fn handle(ctx: &HandlerContext<'_>, _version: i16, request: HeartbeatRequest) -> HeartbeatResponse {
    let code = ctx.state.groups().heartbeat(
        ctx.state,
        ctx.node_id,
        &request.group_id.0,
        &request.member_id,
        request.group_instance_id.as_deref(),
        request.generation_id,
    );
    HeartbeatResponse::default().with_error_code(code.code())
}
