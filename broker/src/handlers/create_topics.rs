//! CreateTopics (ApiKey 19), versions 2..=7.
//!
//! # Behaviour
//! Creates each topic with the requested partition count (`-1`: the broker's `num.partitions`).
//! Replicas are every node (kafkit's nodes share one log per partition, so every node is in
//! sync); a replication factor above the node count is INVALID_REPLICATION_FACTOR, as in Kafka.
//! Topic configs `message.timestamp.type`, `message.timestamp.before.max.ms`,
//! `message.timestamp.after.max.ms`, `max.message.bytes` and `cleanup.policy` are applied;
//! others are accepted and ignored. `validate_only` checks without creating (and, as Kafka,
//! answers with a fresh topic id). Errors per topic, in Kafka's order and with its messages
//! (checked against Kafka by the conformance suite): INVALID_TOPIC_EXCEPTION,
//! TOPIC_ALREADY_EXISTS, INVALID_REPLICATION_FACTOR, INVALID_PARTITIONS, INVALID_CONFIG; a
//! name given twice is answered once, INVALID_REQUEST "Duplicate topic name.".
//!
//! # Deviations from Kafka
//! Manual replica assignments are not supported (INVALID_REPLICA_ASSIGNMENT). v5+ answers list
//! no configs (Kafka lists all of the topic's).
//!
//! # Version notes
//! v5 is flexible and returns partition count, replication factor and configs (kafkit returns the
//! counts and no configs); v7 returns the topic id.

use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, TopicName};
use kafkit_protocol::ErrorCode;

use super::{duplicate_names, str_bytes, HandlerContext};
use crate::cluster::{invalid_partition_count, topic_exists};
use crate::config::TopicConfig;

/// Handles a CreateTopics request.
pub fn handle(ctx: &HandlerContext<'_>, version: i16, request: CreateTopicsRequest) -> CreateTopicsResponse {
    let duplicates = duplicate_names(request.topics.iter().map(|t| t.name.0.as_str()));
    let brokers = ctx.state.metadata().brokers.len() as i16;
    let mut response = CreateTopicsResponse::default();
    // Kafka answers a name given twice once, before anything else.
    for name in &duplicates {
        let mut result = CreatableTopicResult::default()
            .with_name(TopicName(str_bytes(name)))
            .with_error_code(ErrorCode::InvalidRequest.code())
            .with_error_message(Some(str_bytes("Duplicate topic name.")));
        if version >= 5 {
            result.num_partitions = -1;
            result.replication_factor = -1;
        }
        response.topics.push(result);
    }
    for topic in request.topics {
        let name = topic.name.0.to_string();
        if duplicates.contains(&name) {
            continue;
        }
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
        // Kafka's order: the name, an existing topic, the counts, the configs, placement.
        let outcome = (|| {
            crate::storage::validate_topic_name(&name)
                .map_err(|e| (ErrorCode::InvalidTopicException, e.to_string()))?;
            if ctx.state.metadata().topics.contains_key(&name) {
                return Err(topic_exists(&name));
            }
            if !topic.assignments.is_empty() {
                return Err((
                    ErrorCode::InvalidReplicaAssignment,
                    "kafkit does not support manual replica assignment".to_string(),
                ));
            }
            if replication < 1 {
                return Err((
                    ErrorCode::InvalidReplicationFactor,
                    "Replication factor must be larger than 0, or -1 to use the default value.".to_string(),
                ));
            }
            if partitions < 1 {
                return Err(invalid_partition_count());
            }
            let mut config = TopicConfig::default();
            for c in &topic.configs {
                let value = c.value.as_ref().map(|v| v.as_str()).unwrap_or_default();
                config
                    .set(c.name.as_str(), value)
                    .map_err(|m| (ErrorCode::InvalidConfig, m))?;
            }
            if replication > brokers {
                return Err((
                    ErrorCode::InvalidReplicationFactor,
                    format!(
                        "Unable to replicate the partition {replication} time(s): The target replication factor of \
                         {replication} cannot be reached because only {brokers} broker(s) are registered."
                    ),
                ));
            }
            if request.validate_only {
                // Kafka allocates an id for the topic it would create.
                return Ok(uuid::Uuid::new_v4());
            }
            ctx.state.create_topic(&name, partitions, config)
        })();
        let mut result = CreatableTopicResult::default()
            .with_name(topic.name.clone())
            .with_error_message(None);
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
