//! DescribeTransactions (ApiKey 65), version 0.
//!
//! # Behaviour
//! For each transactional id: its state (Kafka's names), timeout, the start of its open
//! transaction, producer id and epoch, and the partitions of its open transaction.
//! TRANSACTIONAL_ID_NOT_FOUND for an unknown id, NOT_COORDINATOR on another node. See
//! [`crate::txn`].

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};

use super::{str_bytes, HandlerContext};

/// Handles a DescribeTransactions request.
pub fn handle(
    ctx: &HandlerContext<'_>,
    _version: i16,
    request: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let states = request
        .transactional_ids
        .into_iter()
        .map(|id| {
            // An id that is not described keeps the zero defaults, as in Kafka's answer.
            let described = TransactionState::default().with_transactional_id(id.clone());
            match ctx.state.transactions().describe(ctx.state, ctx.node_id, &id.0) {
                Err(code) => described.with_error_code(code.code()),
                Ok(t) => {
                    let mut topics: Vec<TopicData> = Vec::new();
                    for (topic, partition) in &t.partitions {
                        match topics.last_mut() {
                            Some(last) if last.topic.0.as_str() == topic => last.partitions.push(*partition),
                            _ => topics.push(
                                TopicData::default()
                                    .with_topic(TopicName(str_bytes(topic)))
                                    .with_partitions(vec![*partition]),
                            ),
                        }
                    }
                    described
                        .with_transaction_state(str_bytes(t.state.name()))
                        .with_transaction_timeout_ms(t.timeout_ms)
                        .with_transaction_start_time_ms(t.start_ms)
                        .with_producer_id(ProducerId(t.producer_id))
                        .with_producer_epoch(t.producer_epoch)
                        .with_topics(topics)
                }
            }
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
