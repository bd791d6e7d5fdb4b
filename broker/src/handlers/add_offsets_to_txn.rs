//! AddOffsetsToTxn (ApiKey 25), versions 0..=4.
//!
//! # Behaviour
//! The transaction will commit offsets of a group (TxnOffsetCommit, sent to the group's
//! coordinator next): the group's partition of `__consumer_offsets` joins the transaction,
//! which opens if it was not. Errors as AddPartitionsToTxn's (see [`crate::txn`]).
//!
//! # Version notes
//! v3 is flexible; v4 changes nothing kafkit sees.

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use kafkit_protocol::ErrorCode;

use super::HandlerContext;

/// Handles an AddOffsetsToTxn request.
pub fn handle(
    ctx: &HandlerContext<'_>,
    version: i16,
    request: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let added = ctx.state.transactions().add_offsets(
        ctx.state,
        ctx.node_id,
        &request.transactional_id.0,
        (request.producer_id.0, request.producer_epoch),
        &request.group_id.0,
    );
    let code = match added {
        Ok(()) => ErrorCode::None,
        Err(ErrorCode::ProducerFenced) if version < 2 => ErrorCode::InvalidProducerEpoch,
        Err(code) => code,
    };
    AddOffsetsToTxnResponse::default().with_error_code(code.code())
}
