//! FindCoordinator (ApiKey 10), versions 0..=4.
//!
//! # Behaviour
//! kafkit has no group or transaction coordinator yet; the API is advertised because librdkafka
//! enables LZ4 only when it is. Every key is answered COORDINATOR_NOT_AVAILABLE (retriable), which
//! is what a Kafka cluster answers while its coordinator is not ready.
//!
//! # Deviations from Kafka
//! Consumer groups and transactions are not implemented, so a coordinator is never found.
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
    _ctx: &HandlerContext<'_>,
    version: i16,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
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
