//! EndTxn (ApiKey 26), versions 0..=5.
//!
//! # Behaviour
//! Commits or aborts a transactional id's open transaction: the coordinator writes a COMMIT or
//! ABORT marker into each of its partitions before it answers (see [`crate::txn`]). A retry
//! of a transaction that already ended the same way is NONE; ending one that is not open
//! is INVALID_TXN_STATE; PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v2) for an older
//! epoch; INVALID_PRODUCER_ID_MAPPING for an unknown id; NOT_COORDINATOR on another node.
//!
//! # Version notes
//! v3 is flexible; v5 (transaction version 2, KIP-890 part 2) answers the producer id and
//! epoch, which kafkit returns unchanged: it does not bump epochs per transaction, and does
//! not advertise transaction version 2, so clients do not expect it.

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};
use kafkit_protocol::ErrorCode;

use super::HandlerContext;

/// Handles an EndTxn request.
pub fn handle(ctx: &HandlerContext<'_>, version: i16, request: EndTxnRequest) -> EndTxnResponse {
    let ended = ctx.state.transactions().end_transaction(
        ctx.state,
        ctx.node_id,
        &request.transactional_id.0,
        (request.producer_id.0, request.producer_epoch),
        request.committed,
    );
    match ended {
        Ok((producer_id, epoch)) => EndTxnResponse::default()
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(epoch),
        Err(code) => {
            let code = if version < 2 && code == ErrorCode::ProducerFenced {
                ErrorCode::InvalidProducerEpoch
            } else {
                code
            };
            EndTxnResponse::default()
                .with_error_code(code.code())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
        }
    }
}
