//! AddPartitionsToTxn (ApiKey 24), versions 0..=5.
//!
//! # Behaviour
//! Adds partitions to a transactional id's open transaction (opening it), as Kafka's
//! transaction coordinator does: INVALID_PRODUCER_ID_MAPPING for an unknown id or another
//! producer id, PRODUCER_FENCED for an older epoch, UNKNOWN_TOPIC_OR_PARTITION for a missing
//! partition (the others OPERATION_NOT_ATTEMPTED), NOT_COORDINATOR on another node. See
//! [`crate::txn`].
//!
//! # Version notes
//! v3 is flexible; v4 batches transactions, with `verify_only` (KIP-890 part 1: a broker asks
//! whether partitions are in a transaction); producers use v0-3.

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, TopicName};
use kafkit_protocol::ErrorCode;

use super::{str_bytes, HandlerContext};

/// Handles an AddPartitionsToTxn request.
pub fn handle(
    ctx: &HandlerContext<'_>,
    version: i16,
    request: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let add = |id: &str, pid: i64, epoch: i16, topics: &[AddPartitionsToTxnTopic], verify: bool| {
        let topics: Vec<(String, Vec<i32>)> = topics
            .iter()
            .map(|t| (t.name.0.to_string(), t.partitions.clone()))
            .collect();
        let results = ctx.state.transactions().add_partitions(
            ctx.state,
            ctx.node_id,
            id,
            (pid, epoch),
            &topics,
            verify,
        );
        results
            .into_iter()
            .map(|(topic, partitions)| {
                AddPartitionsToTxnTopicResult::default()
                    .with_name(TopicName(str_bytes(&topic)))
                    .with_results_by_partition(
                        partitions
                            .into_iter()
                            .map(|(p, code)| {
                                // Producers before v2 know PRODUCER_FENCED as INVALID_PRODUCER_EPOCH.
                                let code = if version < 2 && code == ErrorCode::ProducerFenced {
                                    ErrorCode::InvalidProducerEpoch
                                } else {
                                    code
                                };
                                AddPartitionsToTxnPartitionResult::default()
                                    .with_partition_index(p)
                                    .with_partition_error_code(code.code())
                            })
                            .collect(),
                    )
            })
            .collect::<Vec<_>>()
    };
    if version >= 4 {
        let results = request
            .transactions
            .iter()
            .map(|t| {
                AddPartitionsToTxnResult::default()
                    .with_transactional_id(t.transactional_id.clone())
                    .with_topic_results(add(
                        &t.transactional_id.0,
                        t.producer_id.0,
                        t.producer_epoch,
                        &t.topics,
                        t.verify_only,
                    ))
            })
            .collect();
        return AddPartitionsToTxnResponse::default().with_results_by_transaction(results);
    }
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(add(
        &request.v3_and_below_transactional_id.0,
        request.v3_and_below_producer_id.0,
        request.v3_and_below_producer_epoch,
        &request.v3_and_below_topics,
        false,
    ))
}
