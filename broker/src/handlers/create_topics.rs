//! CreateTopics (ApiKey 19), versions 2..=7.
//!
//! # Behaviour
//! Creates each topic with the requested partition count (`-1`: the broker's `num.partitions`).
//! Replicas are every node (kafkit's nodes share one log per partition, so every node is in
//! sync); a replication factor above the node count is INVALID_REPLICATION_FACTOR, as in Kafka.
//! Topic configs `message.timestamp.type`, `max.message.bytes` and `cleanup.policy` are applied;
//! others are accepted and ignored. `validate_only` checks without creating. Errors per topic:
//! INVALID_TOPIC_EXCEPTION, TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS, INVALID_CONFIG,
//! INVALID_REQUEST (duplicate names in one request).
//!
//! # Deviations from Kafka
//! Manual replica assignments are not supported (INVALID_REPLICA_ASSIGNMENT).
//!
//! # Version notes
//! v5 is flexible and returns partition count, replication factor and configs (kafkit returns the
//! counts and no configs); v7 returns the topic id.

use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafkit_protocol::ErrorCode;

use super::{duplicate_names, str_bytes, HandlerContext};
use crate::config::TopicConfig;

/// Handles a CreateTopics request.
pub fn handle(ctx: &HandlerContext<'_>, version: i16, request: CreateTopicsRequest) -> CreateTopicsResponse {
    let duplicates = duplicate_names(request.topics.iter().map(|t| t.name.0.as_str()));
    let brokers = ctx.state.metadata().brokers.len() as i16;
    let mut response = CreateTopicsResponse::default();
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let partitions = if topic.num_partitions == -1 {
            ctx.state.config().num_partitions
        } else {
            topic.num_partitions
        };
        let replication = if topic.replication_factor == -1 {
            brokers
        } else {
            topic.replication_factor
        };
        let outcome = (|| {
            if duplicates.contains(&name) {
                return Err((
                    ErrorCode::InvalidRequest,
                    format!("topic '{name}' appears more than once in the request"),
                ));
            }
            if !topic.assignments.is_empty() {
                return Err((
                    ErrorCode::InvalidReplicaAssignment,
                    "kafkit does not support manual replica assignment".to_string(),
                ));
            }
            if replication < 1 || replication > brokers {
                return Err((
                    ErrorCode::InvalidReplicationFactor,
                    format!("replication factor {replication} is not between 1 and the {brokers} available brokers"),
                ));
            }
            let mut config = TopicConfig::default();
            for c in &topic.configs {
                let value = c.value.as_ref().map(|v| v.as_str()).unwrap_or_default();
                config
                    .set(c.name.as_str(), value)
                    .map_err(|m| (ErrorCode::InvalidConfig, m))?;
            }
            if request.validate_only {
                crate::storage::validate_topic_name(&name)
                    .map_err(|e| (ErrorCode::InvalidTopicException, e.to_string()))?;
                if partitions < 1 {
                    return Err((
                        ErrorCode::InvalidPartitions,
                        format!("number of partitions must be at least 1, got {partitions}"),
                    ));
                }
                if ctx.state.metadata().topics.contains_key(&name) {
                    return Err((
                        ErrorCode::TopicAlreadyExists,
                        format!("topic '{name}' already exists"),
                    ));
                }
                return Ok(uuid::Uuid::nil());
            }
            ctx.state.create_topic(&name, partitions, config)
        })();
        let mut result = CreatableTopicResult::default().with_name(topic.name.clone());
        match outcome {
            Ok(id) => {
                if version >= 5 {
                    result.num_partitions = partitions;
                    result.replication_factor = replication;
                }
                if version >= 7 {
                    result.topic_id = id;
                }
            }
            Err((code, message)) => {
                result.error_code = code.code();
                result.error_message = Some(str_bytes(&message));
                if version >= 5 {
                    result.num_partitions = -1;
                    result.replication_factor = -1;
                }
            }
        }
        response.topics.push(result);
    }
    response
}
