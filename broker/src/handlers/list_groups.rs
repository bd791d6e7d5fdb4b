//! ListGroups (ApiKey 16), versions 0..=5.
//!
//! # Behaviour
//! The groups this node coordinates (as in Kafka, a client asks every broker and merges), with
//! their protocol types; groups known only by committed offsets are listed Empty. See
//! [`crate::group`].
//!
//! # Version notes
//! v3 is flexible; v4 filters by state (any case) and answers each group's state; v5 filters
//! by type (any case) and answers it: `classic` or `consumer` (KIP-848).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::{str_bytes, HandlerContext};

/// Handles a ListGroups request.
pub fn handle(ctx: &HandlerContext<'_>, version: i16, request: ListGroupsRequest) -> ListGroupsResponse {
    let states: Vec<String> = if version >= 4 {
        request.states_filter.iter().map(|s| s.to_string()).collect()
    } else {
        Vec::new()
    };
    let types: Vec<String> = if version >= 5 {
        request
            .types_filter
            .iter()
            .map(|t| t.to_ascii_lowercase())
            .collect()
    } else {
        Vec::new()
    };
    let groups = ctx
        .state
        .groups()
        .list(ctx.state, ctx.node_id, &states)
        .into_iter()
        .filter(|g| types.is_empty() || types.iter().any(|t| t == g.group_type))
        .map(|g| {
            let mut listed = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(&g.group_id)))
                .with_protocol_type(str_bytes(&g.protocol_type));
            if version >= 4 {
                listed.group_state = str_bytes(g.state);
            }
            if version >= 5 {
                listed.group_type = str_bytes(g.group_type);
            }
            listed
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
