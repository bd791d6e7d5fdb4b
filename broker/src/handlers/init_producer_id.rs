//! InitProducerId (ApiKey 22), versions 0..=5.
//!
//! # Behaviour
//! For an idempotent producer (`transactional_id` null) a fresh producer id is allocated, epoch
//! 0, whatever producer id and epoch the request carries; this is what Kafka does. Ids are never
//! reused, across restarts and crashes too: they come in blocks recorded in the data directory
//! before use (`cluster/producer_ids.rs`); if a block cannot be recorded the answer is
//! COORDINATOR_LOAD_IN_PROGRESS, as Kafka's while it waits for a block. A request with exactly one of producer id / epoch set is INVALID_REQUEST; an empty
//! transactional id is INVALID_REQUEST.
//!
//! A transactional producer gets its transactional id's producer id and a bumped epoch from
//! the transaction coordinator ([`crate::txn`]), which fences the older producer and aborts
//! its open transaction; `transaction_timeout_ms` above 15 minutes is
//! INVALID_TRANSACTION_TIMEOUT; a node that does not coordinate the id answers NOT_COORDINATOR.
//!
//! # Version notes
//! v2 is flexible; v3 adds `producer_id`/`producer_epoch` (KIP-360).

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafkit_protocol::ErrorCode;

use super::HandlerContext;

/// Handles an InitProducerId request.
pub fn handle(
    ctx: &HandlerContext<'_>,
    _version: i16,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let fail = |code: ErrorCode| {
        InitProducerIdResponse::default()
            .with_error_code(code.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if (request.producer_id.0 == -1) != (request.producer_epoch == -1) {
        return fail(ErrorCode::InvalidRequest);
    }
    match request.transactional_id.as_ref().map(|t| t.0.as_str()) {
        Some("") => return fail(ErrorCode::InvalidRequest),
        Some(id) => {
            let expected =
                (request.producer_id.0 != -1).then_some((request.producer_id.0, request.producer_epoch));
            return match ctx.state.transactions().init_producer(
                ctx.state,
                ctx.node_id,
                id,
                request.transaction_timeout_ms,
                expected,
            ) {
                Ok((producer_id, epoch)) => InitProducerIdResponse::default()
                    .with_producer_id(ProducerId(producer_id))
                    .with_producer_epoch(epoch),
                Err(code) => fail(code),
            };
        }
        None => {}
    }
    let producer_id = match ctx.state.allocate_producer_id() {
        Ok(id) => id,
        Err(e) => {
            // Kafka answers so while its broker waits for a new block of ids; clients retry.
            tracing::error!(error = %e, "could not record a producer id block");
            return fail(ErrorCode::CoordinatorLoadInProgress);
        }
    };
    tracing::debug!(producer_id, "allocated producer id");
    InitProducerIdResponse::default()
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(0)
}
