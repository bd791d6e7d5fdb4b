//! DescribeGroups (ApiKey 15), versions 0..=6.
//!
//! # Behaviour
//! Each group's state, protocol type, and members (id, instance id, client id and host); while
//! the group is Stable also the chosen protocol and each member's metadata and assignment, as
//! Kafka shows them. A group that does not exist is `Dead`; from v6 it is also
//! GROUP_ID_NOT_FOUND. So is a KIP-848 group, which ConsumerGroupDescribe describes ("is not a
//! classic group", as Kafka says). See [`crate::group`].
//!
//! # Version notes
//! v3 adds authorized operations (kafkit has no authorizer: not reported); v4 the members'
//! instance ids; v5 is flexible; v6 an error message.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse, GroupId};
use kafkit_protocol::ErrorCode;

use super::{str_bytes, HandlerContext};

/// Handles a DescribeGroups request.
pub fn handle(
    ctx: &HandlerContext<'_>,
    version: i16,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let groups = request
        .groups
        .into_iter()
        .map(|id| {
            let d = ctx.state.groups().describe(ctx.state, ctx.node_id, &id.0);
            let mut error = d.error;
            let mut message = None;
            if error == ErrorCode::GroupIdNotFound {
                if version >= 6 {
                    message = Some(str_bytes(&if d.not_classic {
                        format!("Group {} is not a classic group.", d.group_id)
                    } else {
                        format!("Group {} not found.", d.group_id)
                    }));
                } else {
                    error = ErrorCode::None;
                }
            }
            DescribedGroup::default()
                .with_error_code(error.code())
                .with_error_message(message)
                .with_group_id(GroupId(str_bytes(&d.group_id)))
                .with_group_state(str_bytes(d.state))
                .with_protocol_type(str_bytes(&d.protocol_type))
                .with_protocol_data(str_bytes(&d.protocol))
                .with_members(
                    d.members
                        .into_iter()
                        .map(|m| {
                            DescribedGroupMember::default()
                                .with_member_id(str_bytes(&m.member_id))
                                .with_group_instance_id(if version >= 4 {
                                    m.instance_id.as_deref().map(str_bytes)
                                } else {
                                    None
                                })
                                .with_client_id(str_bytes(&m.client_id))
                                .with_client_host(str_bytes(&m.client_host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment)
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
