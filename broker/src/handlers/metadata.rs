//! Metadata (ApiKey 3), versions 0..=12.
//!
//! # Behaviour
//! Lists the nodes that are up, the cluster id, a controller (the lowest live node id), and the
//! requested topics (all of them for a null list, or an empty one in v0). Each partition reports
//! its leader and leader epoch; replicas and ISR are every node that holds the partition, and all
//! of them are in sync because kafkit's nodes share one log per partition. A partition whose
//! leader is down reports LEADER_NOT_AVAILABLE with leader -1.
//!
//! Unknown topics are created when both the broker (`auto.create.topics.enable`) and the request
//! (`allow_auto_topic_creation`, v4+; always in v0-3) allow it, with `num.partitions`
//! partitions, and are returned complete in the same response (Kafka returns
//! LEADER_NOT_AVAILABLE first and the partitions on a retry; clients accept both). Otherwise
//! UNKNOWN_TOPIC_OR_PARTITION; an invalid name is INVALID_TOPIC_EXCEPTION.
//!
//! # Version notes
//! v1 null topics = all; v2 cluster id; v4 auto-creation flag; v7 leader epoch; v9 flexible;
//! v10 topic ids (v12 may ask by id: an unknown id is UNKNOWN_TOPIC_ID).

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafkit_protocol::ErrorCode;
use uuid::Uuid;

use super::{str_bytes, HandlerContext};
use crate::cluster::{Metadata, TopicState};
use crate::config::TopicConfig;

/// Kafka's "authorized operations not requested" sentinel.
const OPERATIONS_OMITTED: i32 = i32::MIN;
/// Topics Kafka keeps for itself.
pub(crate) const INTERNAL_TOPICS: [&str; 3] =
    ["__consumer_offsets", "__transaction_state", "__share_group_state"];

/// Handles a Metadata request.
pub fn handle(ctx: &HandlerContext<'_>, version: i16, request: MetadataRequest) -> MetadataResponse {
    let all_topics = match &request.topics {
        None => true,
        Some(t) => version == 0 && t.is_empty(),
    };
    let allow_create =
        ctx.state.config().auto_create_topics && (version < 4 || request.allow_auto_topic_creation);
    if !all_topics && allow_create {
        create_missing(ctx, request.topics.as_deref().unwrap_or_default());
    }
    let metadata = ctx.state.metadata();
    let mut response = MetadataResponse::default();
    response.brokers = metadata
        .brokers
        .iter()
        .filter(|b| b.up)
        .map(|b| {
            let (host, port) = ctx.state.endpoint(b, ctx.listener);
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.node_id))
                .with_host(str_bytes(host))
                .with_port(port)
        })
        .collect();
    if version >= 2 {
        response.cluster_id = Some(str_bytes(&ctx.state.config().cluster_id));
    }
    response.controller_id = BrokerId(metadata.brokers.iter().find(|b| b.up).map_or(-1, |b| b.node_id));
    if (8..=10).contains(&version) {
        response.cluster_authorized_operations = OPERATIONS_OMITTED;
    }
    if all_topics {
        response.topics = metadata
            .topics
            .values()
            .map(|t| describe(&metadata, t, version))
            .collect();
    } else {
        for wanted in request.topics.unwrap_or_default() {
            let topic = match &wanted.name {
                Some(name) => describe_named(&metadata, name.0.as_str(), version),
                None => match metadata.topics.values().find(|t| t.id == wanted.topic_id) {
                    Some(t) => describe(&metadata, t, version),
                    None => error_topic(None, wanted.topic_id, ErrorCode::UnknownTopicId, version),
                },
            };
            response.topics.push(topic);
        }
    }
    response
}

/// Auto-creates the requested topics that do not exist and have valid names.
fn create_missing(
    ctx: &HandlerContext<'_>,
    wanted: &[kafka_protocol::messages::metadata_request::MetadataRequestTopic],
) {
    let missing: Vec<String> = {
        let metadata = ctx.state.metadata();
        wanted
            .iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
            .filter(|n| !metadata.topics.contains_key(n) && crate::storage::validate_topic_name(n).is_ok())
            .filter(|n| !INTERNAL_TOPICS.contains(&n.as_str()))
            .collect()
    };
    for name in missing {
        // Another connection may create it first: TOPIC_ALREADY_EXISTS is fine here.
        match ctx
            .state
            .create_topic(&name, ctx.state.config().num_partitions, TopicConfig::default())
        {
            Ok(_) => tracing::info!(topic = %name, "auto-created topic"),
            Err((code, message)) if code != ErrorCode::TopicAlreadyExists => {
                tracing::warn!(topic = %name, %code, %message, "auto-creation failed")
            }
            Err(_) => {}
        }
    }
}

fn describe_named(metadata: &Metadata, name: &str, version: i16) -> MetadataResponseTopic {
    match metadata.topics.get(name) {
        Some(topic) => describe(metadata, topic, version),
        None => {
            let code = if crate::storage::validate_topic_name(name).is_err() {
                ErrorCode::InvalidTopicException
            } else {
                ErrorCode::UnknownTopicOrPartition
            };
            error_topic(Some(name), Uuid::nil(), code, version)
        }
    }
}

pub(crate) fn error_topic(
    name: Option<&str>,
    id: Uuid,
    code: ErrorCode,
    version: i16,
) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default()
        .with_error_code(code.code())
        .with_name(name.map(|n| TopicName(str_bytes(n))));
    if version >= 10 {
        t.topic_id = id;
    }
    if version >= 8 {
        t.topic_authorized_operations = OPERATIONS_OMITTED;
    }
    t
}

fn describe(metadata: &Metadata, topic: &TopicState, version: i16) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(&topic.name))))
        .with_is_internal(INTERNAL_TOPICS.contains(&topic.name.as_str()));
    if version >= 10 {
        t.topic_id = topic.id;
    }
    if version >= 8 {
        t.topic_authorized_operations = OPERATIONS_OMITTED;
    }
    t.partitions = topic
        .partitions
        .iter()
        .map(|p| {
            let live: Vec<BrokerId> = p
                .replicas
                .iter()
                .copied()
                .filter(|&r| metadata.is_up(r))
                .map(BrokerId)
                .collect();
            let leader = p.leader.filter(|&l| metadata.is_up(l));
            let mut part = MetadataResponsePartition::default()
                .with_partition_index(p.index)
                .with_leader_id(BrokerId(leader.unwrap_or(-1)))
                .with_replica_nodes(p.replicas.iter().copied().map(BrokerId).collect())
                .with_isr_nodes(live);
            if leader.is_none() {
                part.error_code = ErrorCode::LeaderNotAvailable.code();
            }
            if version >= 7 {
                part.leader_epoch = p.leader_epoch;
            }
            if version >= 5 {
                part.offline_replicas = p
                    .replicas
                    .iter()
                    .copied()
                    .filter(|&r| !metadata.is_up(r))
                    .map(BrokerId)
                    .collect();
            }
            part
        })
        .collect();
    t
}
