//! DeleteTopics (ApiKey 20), versions 1..=6.
//!
//! # Behaviour
//! Deletes each named topic and its partition directories at once. Unknown names get
//! UNKNOWN_TOPIC_OR_PARTITION; v6 requests by topic id are resolved to names, unknown ids get
//! UNKNOWN_TOPIC_ID (the id echoed, no name). Messages are Kafka's (the codes' defaults).
//!
//! # Version notes
//! v4 is flexible; v5 adds `error_message`; v6 takes `topics` (name or id) instead of
//! `topic_names`.

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafkit_protocol::ErrorCode;
use uuid::Uuid;

use super::{str_bytes, HandlerContext};

/// Handles a DeleteTopics request.
pub fn handle(ctx: &HandlerContext<'_>, version: i16, request: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let wanted: Vec<(Option<String>, Uuid)> = if version >= 6 {
        request
            .topics
            .into_iter()
            .map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .into_iter()
            .map(|n| (Some(n.0.to_string()), Uuid::nil()))
            .collect()
    };
    let mut response = DeleteTopicsResponse::default();
    for (name, id) in wanted {
        let name = name.or_else(|| ctx.state.metadata().topic_name(id).map(str::to_string));
        // Kafka's messages are its error codes' default ones.
        let mut result = DeletableTopicResult::default().with_name(None);
        match name {
            None => {
                result.error_code = ErrorCode::UnknownTopicId.code();
                result.topic_id = id;
                if version >= 5 {
                    result.error_message = Some(str_bytes("This server does not host this topic ID."));
                }
            }
            Some(name) => {
                result.name = Some(TopicName(str_bytes(&name)));
                match ctx.state.delete_topic(&name) {
                    Ok(deleted_id) => result.topic_id = deleted_id,
                    Err(code) => {
                        result.error_code = code.code();
                        if version >= 5 {
                            result.error_message =
                                Some(str_bytes("This server does not host this topic-partition."));
                        }
                    }
                }
            }
        }
        if version < 6 {
            result.topic_id = Uuid::nil();
        }
        response.responses.push(result);
    }
    response
}
