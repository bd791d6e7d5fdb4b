//! DeleteGroups (ApiKey 42), versions 0..=2.
//!
//! # Behaviour
//! Deletes groups without members, with their committed offsets (tombstones in
//! `__consumer_offsets`). GROUP_ID_NOT_FOUND for a group that does not exist,
//! NON_EMPTY_GROUP for one with members. See [`crate::group`].
//!
//! # Version notes
//! v2 is flexible.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::HandlerContext;

/// Handles a DeleteGroups request.
pub fn handle(ctx: &HandlerContext<'_>, _version: i16, request: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let results = request
        .groups_names
        .into_iter()
        .map(|id| {
            let code = ctx.state.groups().delete(ctx.state, ctx.node_id, &id.0);
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(code.code())
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
