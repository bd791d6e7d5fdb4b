//! CreatePartitions (ApiKey 37), versions 0..=3.
//!
//! # Behaviour
//! Grows each named topic to the requested partition count; the new partitions get empty logs
//! and a leader spread over the nodes as at creation. Errors per topic, as Kafka answers them
//! (with Kafka's messages, checked by the conformance suite): UNKNOWN_TOPIC_OR_PARTITION (no
//! message), INVALID_PARTITIONS (a count not above the current one), INVALID_REQUEST (a topic
//! named twice). `validate_only` checks without creating.
//!
//! # Deviations from Kafka
//! Manual replica assignments are not supported (INVALID_REPLICA_ASSIGNMENT): every node
//! shares each partition's log. An empty assignment list is taken as none (Kafka would refuse
//! it for a count increase).
//!
//! # Version notes
//! v2 is flexible; v0-3 have the same fields.

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafkit_protocol::ErrorCode;

use super::{duplicate_names, str_bytes, HandlerContext};

/// Handles a CreatePartitions request.
pub fn handle(
    ctx: &HandlerContext<'_>,
    _version: i16,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let duplicates = duplicate_names(request.topics.iter().map(|t| t.name.0.as_str()));
    let mut response = CreatePartitionsResponse::default();
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let outcome = if duplicates.contains(&name) {
            Err((
                ErrorCode::InvalidRequest,
                format!("topic '{name}' appears more than once in the request"),
            ))
        } else if topic.assignments.as_ref().is_some_and(|a| !a.is_empty()) {
            Err((
                ErrorCode::InvalidReplicaAssignment,
                "kafkit does not take manual replica assignments: every node shares each partition's log"
                    .to_string(),
            ))
        } else {
            ctx.state
                .create_partitions(&name, topic.count, request.validate_only)
        };
        let mut result = CreatePartitionsTopicResult::default().with_name(topic.name);
        if let Err((code, message)) = outcome {
            result.error_code = code.code();
            result.error_message = (!message.is_empty()).then(|| str_bytes(&message));
        }
        response.results.push(result);
    }
    response
}
