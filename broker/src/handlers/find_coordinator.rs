//! FindCoordinator (ApiKey 10), versions 0..=6.
//!
//! # Behaviour
//! For a group (key type 0): the node leading the group's partition of `__consumer_offsets`,
//! which the first such request creates (as Kafka does); COORDINATOR_NOT_AVAILABLE while that
//! partition has no leader. See [`crate::group`].
//!
//! For a transactional id (key type 1): COORDINATOR_NOT_AVAILABLE (retriable), as a Kafka
//! cluster answers while its coordinator is not ready. Other key types are INVALID_REQUEST.
//!
//! # Deviations from Kafka
//! Transactions are not implemented, so a transaction coordinator is never found. Most
//! clients retry COORDINATOR_NOT_AVAILABLE for ever without telling their user, so the broker
//! logs a warning the first time each transactional id asks (up to 1,024 ids).
//!
//! # Version notes
//! v4 batches keys (`coordinator_keys` / `coordinators`); v0-3 carry one key; v6 adds share
//! group keys (type 2), which kafkit does not serve.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use kafkit_protocol::ErrorCode;

use super::{str_bytes, HandlerContext};

const NO_TRANSACTIONS: &str = "kafkit does not implement transaction coordinators";

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
    match key_type {
        0 => {
            let node = ctx
                .state
                .groups()
                .locate(ctx.state, key)
                .map_err(|code| (code, None))?;
            let metadata = ctx.state.metadata();
            let broker = metadata
                .broker(node)
                .ok_or((ErrorCode::CoordinatorNotAvailable, None))?;
            Ok((node, broker.host.clone(), broker.port))
        }
        1 => {
            if ctx.state.first_coordinator_request(key_type, key) {
                tracing::warn!(
                    connection = ctx.connection_id,
                    "FindCoordinator for transactional id {:?}: kafkit has no transaction \
                     coordinator and answers COORDINATOR_NOT_AVAILABLE, which clients retry \
                     without end: a transactional producer never starts",
                    key.as_str()
                );
            }
            Err((
                ErrorCode::CoordinatorNotAvailable,
                Some(NO_TRANSACTIONS.to_string()),
            ))
        }
        _ => Err((ErrorCode::InvalidRequest, None)),
    }
}
