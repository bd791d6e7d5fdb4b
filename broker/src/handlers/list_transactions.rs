//! ListTransactions (ApiKey 66), versions 0..=2.
//!
//! # Behaviour
//! The transactional ids this node coordinates (a client asks every broker), with producer
//! ids and states, filtered as asked; state names kafkit does not know come back in
//! `unknown_state_filters`. See [`crate::txn`].
//!
//! # Version notes
//! v1 filters by how long a transaction has been open; v2 by a regular expression the whole
//! transactional id must match (INVALID_REGULAR_EXPRESSION when it does not compile).

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};
use kafkit_protocol::ErrorCode;

use super::{str_bytes, HandlerContext};

/// Handles a ListTransactions request.
pub fn handle(
    ctx: &HandlerContext<'_>,
    version: i16,
    request: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let pattern = match request
        .transactional_id_pattern
        .as_deref()
        .filter(|_| version >= 2)
    {
        None | Some("") => None,
        Some(p) => match regex::Regex::new(&format!("^(?:{p})$")) {
            Ok(re) => Some(re),
            Err(_) => {
                return ListTransactionsResponse::default()
                    .with_error_code(ErrorCode::InvalidRegularExpression.code())
            }
        },
    };
    let states: Vec<String> = request.state_filters.iter().map(|s| s.to_string()).collect();
    let producers: Vec<i64> = request.producer_id_filters.iter().map(|p| p.0).collect();
    let duration = if version >= 1 { request.duration_filter } else { -1 };
    let (listed, unknown) = ctx.state.transactions().list(
        ctx.state,
        ctx.node_id,
        &states,
        &producers,
        duration,
        pattern.as_ref(),
    );
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown.iter().map(|s| str_bytes(s)).collect())
        .with_transaction_states(
            listed
                .into_iter()
                .map(|(id, producer_id, state)| {
                    TransactionState::default()
                        .with_transactional_id(TransactionalId(str_bytes(&id)))
                        .with_producer_id(ProducerId(producer_id))
                        .with_transaction_state(str_bytes(state.name()))
                })
                .collect(),
        )
}
