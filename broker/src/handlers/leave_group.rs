//! LeaveGroup (ApiKey 13), versions 0..=5.
//!
//! # Behaviour
//! Takes members out of their group at once (no session timeout to wait for); the rest
//! rebalance. A static member can be taken out by its instance id alone (KIP-345's admin
//! removal). See [`crate::group`].
//!
//! # Version notes
//! v0-2 carry one `member_id`; v3 a batch of members (member id, instance id), answered one by
//! one; v4 is flexible; v5 adds a reason per member.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};
use kafkit_protocol::ErrorCode;

use super::{str_bytes, HandlerContext};

/// Handles a LeaveGroup request.
pub fn handle(ctx: &HandlerContext<'_>, version: i16, request: LeaveGroupRequest) -> LeaveGroupResponse {
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|i| i.to_string()),
                )
            })
            .collect()
    } else {
        vec![(request.member_id.to_string(), None)]
    };
    let result = ctx
        .state
        .groups()
        .leave(ctx.state, ctx.node_id, &request.group_id.0, &members);
    match (result, version >= 3) {
        (Err(code), _) => LeaveGroupResponse::default().with_error_code(code.code()),
        (Ok(codes), false) => {
            let code = codes.first().copied().unwrap_or(ErrorCode::None);
            LeaveGroupResponse::default().with_error_code(code.code())
        }
        (Ok(codes), true) => LeaveGroupResponse::default().with_members(
            members
                .iter()
                .zip(codes)
                .map(|((member, instance), code)| {
                    MemberResponse::default()
                        .with_member_id(str_bytes(member))
                        .with_group_instance_id(instance.as_deref().map(str_bytes))
                        .with_error_code(code.code())
                })
                .collect(),
        ),
    }
}
