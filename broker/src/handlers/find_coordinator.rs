//! FindCoordinator (ApiKey 10), versions 0..=4.
//!
//! # Behaviour
//! kafkit has no group or transaction coordinator yet; the API is advertised because librdkafka
//! enables LZ4 only when it is. Every key is answered COORDINATOR_NOT_AVAILABLE (retriable), which
//! is what a Kafka cluster answers while its coordinator is not ready.
//!
//! # Deviations from Kafka
//! Consumer groups and transactions are not implemented, so a coordinator is never found. Most
//! clients retry COORDINATOR_NOT_AVAILABLE for ever without telling their user, so the broker
//! logs a warning the first time each group or transactional id asks (up to
//! 1,024 keys).
//!
//! # Version notes
//! v4 batches keys (`coordinator_keys` / `coordinators`); v0-3 carry one key.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafkit_protocol::ErrorCode;

use super::{str_bytes, HandlerContext};

const MESSAGE: &str = "kafkit does not implement group or transaction coordinators";

/// Handles a FindCoordinator request.
pub fn handle(
    ctx: &HandlerContext<'_>,
    version: i16,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let keys: Vec<&str> = if version >= 4 {
        request.coordinator_keys.iter().map(|k| k.as_str()).collect()
    } else {
        vec![request.key.as_str()]
    };
    for key in keys {
        if ctx.state.first_coordinator_request(request.key_type, key) {
            let kind = if request.key_type == 1 {
                "transactional id"
            } else {
                "group"
            };
            tracing::warn!(
                connection = ctx.connection_id,
                "FindCoordinator for {kind} {key:?}: kafkit has no group or transaction \
                 coordinator and answers COORDINATOR_NOT_AVAILABLE, which clients retry without \
                 end: a consumer that subscribes with this group never receives records (an \
                 assigned consumer is unaffected), a transactional producer never starts"
            );
        }
    }
    let code = ErrorCode::CoordinatorNotAvailable.code();
    let mut response = FindCoordinatorResponse::default();
    if version >= 4 {
        response.coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| {
                Coordinator::default()
                    .with_key(key)
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
                    .with_error_code(code)
                    .with_error_message(Some(str_bytes(MESSAGE)))
            })
            .collect();
    } else {
        response.error_code = code;
        response.node_id = BrokerId(-1);
        response.port = -1;
        if version >= 1 {
            response.error_message = Some(str_bytes(MESSAGE));
        }
    }
    response
}
