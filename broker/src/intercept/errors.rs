//! Whole-request error answers for the APIs without partitions, built from the request alone
//! (nothing is handled: no producer id is allocated, no topic created or deleted).
//!
//! Produce, Fetch, ListOffsets and Metadata are answered through
//! [`strip_partition_errors`](super::strip_partition_errors) with every partition taken out,
//! so their responses keep the shape a handler gives them.

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{
    ApiVersionsResponse, BrokerId, CreatePartitionsResponse, CreateTopicsResponse, DeleteTopicsResponse,
    FindCoordinatorResponse, InitProducerIdResponse, ProducerId,
};
use kafkit_protocol::{ErrorCode, RequestBody};

use crate::response::Response;

/// The response answering every part of `body` with `code`; `None` for the APIs answered
/// through partition stripping, and for the KIP-511 ApiVersions fallback (which has its own
/// fixed answer).
pub(crate) fn request_error_response(body: &RequestBody, version: i16, code: ErrorCode) -> Option<Response> {
    let code = code.code();
    let response = match body {
        RequestBody::FindCoordinator(r) => {
            let mut response = FindCoordinatorResponse::default();
            if version >= 4 {
                response.coordinators = r
                    .coordinator_keys
                    .iter()
                    .map(|key| {
                        Coordinator::default()
                            .with_key(key.clone())
                            .with_node_id(BrokerId(-1))
                            .with_port(-1)
                            .with_error_code(code)
                    })
                    .collect();
            } else {
                response.error_code = code;
                response.node_id = BrokerId(-1);
                response.port = -1;
            }
            Response::FindCoordinator(response)
        }
        RequestBody::ApiVersions(_) => {
            Response::ApiVersions(ApiVersionsResponse::default().with_error_code(code))
        }
        RequestBody::CreateTopics(r) => Response::CreateTopics(
            CreateTopicsResponse::default().with_topics(
                r.topics
                    .iter()
                    .map(|t| {
                        CreatableTopicResult::default()
                            .with_name(t.name.clone())
                            .with_error_code(code)
                    })
                    .collect(),
            ),
        ),
        RequestBody::DeleteTopics(r) => {
            let responses = if version >= 6 {
                r.topics
                    .iter()
                    .map(|t| {
                        DeletableTopicResult::default()
                            .with_name(t.name.clone())
                            .with_topic_id(t.topic_id)
                            .with_error_code(code)
                    })
                    .collect()
            } else {
                r.topic_names
                    .iter()
                    .map(|name| {
                        DeletableTopicResult::default()
                            .with_name(Some(name.clone()))
                            .with_error_code(code)
                    })
                    .collect()
            };
            Response::DeleteTopics(DeleteTopicsResponse::default().with_responses(responses))
        }
        RequestBody::InitProducerId(_) => Response::InitProducerId(
            InitProducerIdResponse::default()
                .with_error_code(code)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        ),
        RequestBody::CreatePartitions(r) => Response::CreatePartitions(
            CreatePartitionsResponse::default().with_results(
                r.topics
                    .iter()
                    .map(|t| {
                        CreatePartitionsTopicResult::default()
                            .with_name(t.name.clone())
                            .with_error_code(code)
                    })
                    .collect(),
            ),
        ),
        _ => return None,
    };
    Some(response)
}
