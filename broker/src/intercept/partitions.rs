//! Injected per-partition errors: taking the named partitions out of a request before its
//! handler runs (so they are not appended, read or created), then putting an error entry for
//! each back into the handler's response.
//!
//! Covers Produce, Fetch and ListOffsets (partitions) and Metadata (topics, and the error code
//! of a listed partition). A request with nothing to strip passes through unchanged.

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{BrokerId, TopicName};
use kafkit_protocol::{ErrorCode, RequestBody};
use uuid::Uuid;

use super::PartitionError;
use crate::handlers::metadata::error_topic;
use crate::handlers::str_bytes;
use crate::response::Response;

/// What was taken out of a request, to be answered with error codes once the handler ran.
#[derive(Debug, Default)]
pub(crate) struct StrippedPartitions {
    /// Partitions taken out of a Produce, Fetch or ListOffsets request, in request order.
    partitions: Vec<(String, i32, ErrorCode)>,
    /// The ids of the topics taken out of Produce and Fetch requests that name topics by id
    /// (v13+), whose answers carry the id instead of the name.
    ids: Vec<(String, Uuid)>,
    /// Metadata: named topics taken out of the request.
    topics: Vec<(String, ErrorCode)>,
    /// Metadata: errors written over the handler's entries (topics not taken out: all-topics
    /// requests and partition-level errors).
    overwrite: Vec<PartitionError>,
    /// Metadata: a code for every topic the handler lists.
    overwrite_all: Option<ErrorCode>,
    /// Metadata: the request named topics and every one was taken out, so whatever the
    /// handler lists (v0 reads an empty list as "all topics") is dropped.
    emptied: bool,
}

impl StrippedPartitions {
    /// The id `topic` was named by, in a request that names topics by id.
    fn id_of(&self, topic: &str) -> Option<Uuid> {
        self.ids.iter().find(|(name, _)| name == topic).map(|&(_, id)| id)
    }

    /// Whether any error will be injected into the response.
    pub(crate) fn is_empty(&self) -> bool {
        self.partitions.is_empty()
            && self.topics.is_empty()
            && self.overwrite.is_empty()
            && self.overwrite_all.is_none()
    }
}

fn injected(
    errors: &[PartitionError],
    all: Option<ErrorCode>,
    topic: &str,
    partition: i32,
) -> Option<ErrorCode> {
    all.or_else(|| {
        errors
            .iter()
            .find(|e| e.matches(topic, partition))
            .map(|e| e.error)
    })
}

/// Takes out of `body` every partition named by `errors` (all of them when `all` is set) and
/// returns what was taken. Other APIs are left alone.
pub(crate) fn strip_partition_errors(
    body: &mut RequestBody,
    version: i16,
    errors: &[PartitionError],
    all: Option<ErrorCode>,
) -> StrippedPartitions {
    let mut out = StrippedPartitions::default();
    if errors.is_empty() && all.is_none() {
        return out;
    }
    let mut ids = Vec::new();
    let mut take = |topic: &str, partition: i32| match injected(errors, all, topic, partition) {
        Some(code) => {
            out.partitions.push((topic.to_string(), partition, code));
            false
        }
        None => true,
    };
    match body {
        RequestBody::Produce(r) => {
            for t in &mut r.topic_data {
                let name = t.name.0.to_string();
                t.partition_data.retain(|p| take(&name, p.index));
                if version >= 13 {
                    ids.push((name, t.topic_id));
                }
            }
        }
        RequestBody::Fetch(r) => {
            for t in &mut r.topics {
                let name = t.topic.0.to_string();
                t.partitions.retain(|p| take(&name, p.partition));
                if version >= 13 {
                    ids.push((name, t.topic_id));
                }
            }
        }
        RequestBody::ListOffsets(r) => {
            for t in &mut r.topics {
                let name = t.name.0.to_string();
                t.partitions.retain(|p| take(&name, p.partition_index));
            }
        }
        RequestBody::Metadata(r) => strip_metadata(r, version, errors, all, &mut out),
        _ => {}
    }
    out.ids = ids;
    out
}

fn strip_metadata(
    request: &mut kafka_protocol::messages::MetadataRequest,
    version: i16,
    errors: &[PartitionError],
    all: Option<ErrorCode>,
    out: &mut StrippedPartitions,
) {
    let named = match &mut request.topics {
        Some(list) if !(version == 0 && list.is_empty()) => list,
        _ => {
            // All topics: nothing to take out (an all-topics request never creates topics).
            out.overwrite = errors.to_vec();
            out.overwrite_all = all;
            return;
        }
    };
    named.retain(|t| {
        let Some(name) = t.name.as_ref().map(|n| n.0.as_str()) else {
            return true;
        };
        let code = all.or_else(|| {
            errors
                .iter()
                .find(|e| e.topic == name && e.partition.is_none())
                .map(|e| e.error)
        });
        match code {
            Some(code) => {
                out.topics.push((name.to_string(), code));
                false
            }
            None => true,
        }
    });
    out.emptied = named.is_empty() && !out.topics.is_empty();
    if version == 0 && out.emptied {
        // An empty v0 list means "all topics"; the handler's answer is dropped anyway.
        request.topics = Some(Vec::new());
    }
    out.overwrite = errors.iter().filter(|e| e.partition.is_some()).cloned().collect();
}

/// Adds an error entry to `response` for everything [`strip_partition_errors`] took out.
pub(crate) fn restore_partition_errors(
    response: &mut Response,
    version: i16,
    mut stripped: StrippedPartitions,
) {
    match response {
        Response::Produce(r) => {
            for (topic, partition, code) in std::mem::take(&mut stripped.partitions) {
                let entry = PartitionProduceResponse::default()
                    .with_index(partition)
                    .with_error_code(code.code())
                    .with_base_offset(-1)
                    .with_log_append_time_ms(-1)
                    .with_log_start_offset(-1);
                let id = stripped.id_of(&topic);
                let position = r
                    .responses
                    .iter()
                    .position(|t| id.map_or(t.name.0.as_str() == topic, |id| t.topic_id == id));
                let t = match position {
                    Some(i) => &mut r.responses[i],
                    None => {
                        r.responses.push(match id {
                            Some(id) => TopicProduceResponse::default().with_topic_id(id),
                            None => TopicProduceResponse::default().with_name(TopicName(str_bytes(&topic))),
                        });
                        last(&mut r.responses)
                    }
                };
                t.partition_responses.push(entry);
            }
        }
        Response::Fetch(r) => {
            for (topic, partition, code) in std::mem::take(&mut stripped.partitions) {
                let entry = PartitionData::default()
                    .with_partition_index(partition)
                    .with_error_code(code.code())
                    .with_high_watermark(-1)
                    .with_last_stable_offset(-1)
                    .with_log_start_offset(-1)
                    .with_aborted_transactions(None)
                    .with_preferred_read_replica(BrokerId(-1))
                    .with_records(Some(Bytes::new()));
                let id = stripped.id_of(&topic);
                let position = r
                    .responses
                    .iter()
                    .position(|t| id.map_or(t.topic.0.as_str() == topic, |id| t.topic_id == id));
                let t = match position {
                    Some(i) => &mut r.responses[i],
                    None => {
                        r.responses.push(match id {
                            Some(id) => FetchableTopicResponse::default().with_topic_id(id),
                            None => {
                                FetchableTopicResponse::default().with_topic(TopicName(str_bytes(&topic)))
                            }
                        });
                        last(&mut r.responses)
                    }
                };
                t.partitions.push(entry);
            }
        }
        Response::ListOffsets(r) => {
            for (topic, partition, code) in stripped.partitions {
                let entry = ListOffsetsPartitionResponse::default()
                    .with_partition_index(partition)
                    .with_error_code(code.code())
                    .with_timestamp(-1)
                    .with_offset(-1)
                    .with_leader_epoch(-1);
                let position = r.topics.iter().position(|t| t.name.0.as_str() == topic);
                let t = match position {
                    Some(i) => &mut r.topics[i],
                    None => {
                        r.topics.push(
                            ListOffsetsTopicResponse::default().with_name(TopicName(str_bytes(&topic))),
                        );
                        last(&mut r.topics)
                    }
                };
                t.partitions.push(entry);
            }
        }
        Response::Metadata(r) => {
            if stripped.emptied {
                r.topics.clear();
            }
            for t in &mut r.topics {
                let Some(name) = t.name.as_ref().map(|n| n.0.to_string()) else {
                    continue;
                };
                let topic_code = stripped.overwrite_all.or_else(|| {
                    stripped
                        .overwrite
                        .iter()
                        .find(|e| e.topic == name && e.partition.is_none())
                        .map(|e| e.error)
                });
                if let Some(code) = topic_code {
                    t.error_code = code.code();
                    t.partitions.clear();
                    continue;
                }
                for p in &mut t.partitions {
                    if let Some(e) = stripped
                        .overwrite
                        .iter()
                        .find(|e| e.matches(&name, p.partition_index))
                    {
                        p.error_code = e.error.code();
                    }
                }
            }
            for (topic, code) in stripped.topics {
                r.topics
                    .push(error_topic(Some(&topic), Uuid::nil(), code, version));
            }
        }
        _ => {}
    }
}

/// The element just pushed. Invariant: callers push before calling, so the vector is not empty.
fn last<T>(v: &mut [T]) -> &mut T {
    let n = v.len();
    &mut v[n - 1]
}
