//! FindCoordinator (ApiKey 10), versions 0..=6.
//!
//! # Behaviour
//! For a group (key type 0): the node leading the group's partition of `__consumer_offsets`,
//! which the first such request creates (as Kafka does); COORDINATOR_NOT_AVAILABLE while that
//! partition has no leader. See [`crate::group`].
//!
//! For a transactional id (key type 1): the node leading the id's partition of
//! `__transaction_state`, created by the first such request. See [`crate::txn`]. Other key
//! types are INVALID_REQUEST.
//!
//! # Version notes
//! v4 batches keys (`coordinator_keys` / `coordinators`); v0-3 carry one key; v6 adds share
//! group keys (type 2), which kafkit does not serve.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use kafkit_protocol::ErrorCode;

use super::{str_bytes, HandlerContext};

/// One key's answer: the coordinator's node id, host and port, or an error and its message.
type Answer = Result<(i32, String, i32), (ErrorCode, Option<String>)>;

/// Handles a FindCoordinator request.
pub fn handle(
    ctx: &HandlerContext<'_>,
    version: i16,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let mut response = FindCoordinatorResponse::default();
    if version >= 4 {
        response.coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| {
                let coordinator = Coordinator::default().with_key(key.clone());
                match locate(ctx, request.key_type, key) {
                    Ok((node, host, port)) => coordinator
                        .with_node_id(BrokerId(node))
                        .with_host(str_bytes(&host))
                        .with_port(port),
                    Err((code, message)) => coordinator
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(code.code())
                        .with_error_message(message.as_deref().map(str_bytes)),
                }
            })
            .collect();
        return response;
    }
    match locate(ctx, request.key_type, &request.key) {
        Ok((node, host, port)) => {
            response.node_id = BrokerId(node);
            response.host = str_bytes(&host);
            response.port = port;
            if version >= 1 {
                response.error_message = None;
            }
        }
        Err((code, message)) => {
            response.error_code = code.code();
            response.node_id = BrokerId(-1);
            response.port = -1;
            if version >= 1 {
                response.error_message = message.as_deref().map(str_bytes);
            }
        }
    }
    response
}

fn locate(ctx: &HandlerContext<'_>, key_type: i8, key: &StrBytes) -> Answer {
    let node = match key_type {
        0 => ctx.state.groups().locate(ctx.state, key),
        1 => ctx.state.transactions().locate(ctx.state, key),
        _ => return Err((ErrorCode::InvalidRequest, None)),
    }
    .map_err(|code| (code, None))?;
    let metadata = ctx.state.metadata();
    let broker = metadata
        .broker(node)
        .ok_or((ErrorCode::CoordinatorNotAvailable, None))?;
    let (host, port) = ctx.state.endpoint(broker, ctx.listener);
    Ok((node, host.to_string(), port))
}
