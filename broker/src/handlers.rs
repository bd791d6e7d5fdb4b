//! Request handlers: one module per API, in ApiKey order. Each is a plain function from the
//! cluster state and a decoded request to a response, so it is tested without sockets. Every
//! requested topic/partition gets exactly one entry in the response.
//!
//! `Err` from [`handle_frame`] means the connection is unusable and is closed; everything else
//! is an error code inside a response. Handlers return typed responses; [`handle_frame`]
//! encodes them after the cluster's [`Interceptor`](crate::intercept::Interceptor) (if any)
//! has seen them.

use bytes::Bytes;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};
use kafka_protocol::protocol::StrBytes;
use kafkit_protocol::request::{decode_request, RequestBody};
use kafkit_protocol::ErrorCode;

use crate::cluster::ClusterState;
use crate::intercept::{self, After, Decision, RequestContext};
use crate::response::Response;
use crate::Result;

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod api_versions;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_topics;
pub mod describe_groups;
pub mod describe_transactions;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod produce;
pub mod sync_group;
pub mod txn_offset_commit;

/// What a handler needs to know about where a request arrived.
#[derive(Debug, Clone, Copy)]
pub struct HandlerContext<'a> {
    /// The cluster.
    pub state: &'a ClusterState,
    /// The node the connection is on.
    pub node_id: i32,
    /// The connection, for logs.
    pub connection_id: u64,
    /// The request header's client id ("" when null).
    pub client_id: &'a str,
    /// The client's address as Kafka shows it (`/127.0.0.1`).
    pub client_host: &'a str,
    /// The node's listener the connection came in on (0: the first), whose addresses the
    /// answers advertise.
    pub listener: usize,
    /// The connection's principal (`User:alice`, `User:ANONYMOUS`).
    pub principal: &'a str,
}

/// The outcome of one request frame.
#[derive(Debug, Default)]
pub struct Reply {
    /// The response frame, length prefix included; `None` for acks=0 produce, or when an
    /// interceptor dropped it.
    pub response: Option<Bytes>,
    /// Close the connection after writing the response.
    pub close: bool,
    /// Write the response, then read nothing more from the connection for this long (a
    /// throttled response, KIP-219).
    pub mute: Option<std::time::Duration>,
}

/// What a handler made of a request, before encoding.
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// Send this response.
    Respond(Response),
    /// Send nothing (Produce with acks=0); close the connection if `failed`.
    NoResponse {
        /// Whether any partition failed.
        failed: bool,
    },
}

impl Handled {
    /// The response, if there is one.
    pub fn response_mut(&mut self) -> Option<&mut Response> {
        match self {
            Handled::Respond(r) => Some(r),
            Handled::NoResponse { .. } => None,
        }
    }
}

/// Produce v13+ and Fetch v13+ name topics by id only: their names are filled in from the
/// cluster's topics (an unknown id stays nameless), so that the interceptor, faults by topic and
/// the journal see names whatever the version. Handlers of those versions go by the id.
fn name_topics_by_id(ctx: &HandlerContext<'_>, body: &mut RequestBody, version: i16) {
    if version < 13 {
        return;
    }
    let metadata = ctx.state.metadata();
    let name =
        |id| kafka_protocol::messages::TopicName(str_bytes(metadata.topic_name(id).unwrap_or_default()));
    match body {
        RequestBody::Produce(r) => r.topic_data.iter_mut().for_each(|t| t.name = name(t.topic_id)),
        RequestBody::Fetch(r) => r.topics.iter_mut().for_each(|t| t.topic = name(t.topic_id)),
        _ => {}
    }
}

/// The topic a Produce or Fetch entry is for: named by `id` from v13, by `name` before; `None`
/// for an id no topic has.
fn topic_of(
    ctx: &HandlerContext<'_>,
    version: i16,
    id: uuid::Uuid,
    name: &kafka_protocol::messages::TopicName,
) -> Option<String> {
    if version >= 13 {
        ctx.state.metadata().topic_name(id).map(str::to_string)
    } else {
        Some(name.0.to_string())
    }
}

/// Decodes and handles one request frame: decode, check the version against the served (and
/// pinned) ranges, run the interceptor's `before`, the handler (minus what the interceptor
/// answered itself), the interceptor's `after`, then encode.
///
/// `connection_request_index` counts the requests before this one on the connection.
pub async fn handle_frame(
    ctx: &HandlerContext<'_>,
    connection_request_index: u64,
    frame: Bytes,
) -> Result<Reply> {
    let mut request = decode_request(frame)?;
    name_topics_by_id(ctx, &mut request.body, request.header.request_api_version);
    let client_id = request.header.client_id.clone();
    let ctx = &HandlerContext {
        client_id: client_id.as_deref().unwrap_or_default(),
        ..*ctx
    };
    let header = &request.header;
    let version = header.request_api_version;
    let api_key = request.body.api_key();
    tracing::trace!(
        connection = ctx.connection_id,
        api_key = header.request_api_key,
        version,
        correlation_id = header.correlation_id,
        "request"
    );
    let unsupported = matches!(request.body, RequestBody::UnsupportedApiVersions)
        || !ctx
            .state
            .api_version_range(api_key)
            .is_some_and(|r| r.contains(version));
    if unsupported && api_key != ApiKey::ApiVersions {
        return Err(crate::Error::Protocol(
            kafkit_protocol::Error::UnsupportedVersion {
                api_key: header.request_api_key,
                version,
            },
        ));
    }
    let cluster_request_index = ctx.state.next_request_index();
    let Some(interceptor) = ctx.state.interceptor() else {
        let handled = if unsupported {
            Handled::Respond(Response::UnsupportedApiVersions(unsupported_api_versions(ctx)))
        } else {
            handle_request(ctx, request.body, version, false).await?
        };
        return finish(header.correlation_id, version, handled, After::Send);
    };

    let rctx = RequestContext {
        node_id: ctx.node_id,
        connection_id: ctx.connection_id,
        client_id: header.client_id.as_ref().map(|c| c.to_string()),
        api_key,
        api_version: version,
        correlation_id: header.correlation_id,
        connection_request_index,
        cluster_request_index,
        received_at: std::time::SystemTime::now(),
        received_instant: tokio::time::Instant::now(),
        principal: ctx.principal.to_string(),
    };
    let decision = interceptor.before(&rctx, &request).await;
    if decision.close_before {
        interceptor.after(&rctx, &request, &decision, None);
        return Ok(Reply {
            response: None,
            close: true,
            mute: None,
        });
    }
    let mut handled = if unsupported {
        Handled::Respond(Response::UnsupportedApiVersions(unsupported_api_versions(ctx)))
    } else {
        handle_intercepted(ctx, request.body.clone(), version, &decision).await?
    };
    let throttle_ms = decision
        .throttle
        .map(|t| i32::try_from(t.as_millis()).unwrap_or(i32::MAX));
    if let (Some(ms), Some(response)) = (throttle_ms, handled.response_mut()) {
        response.set_throttle_time_ms(ms);
    }
    let after = interceptor
        .after(&rctx, &request, &decision, handled.response_mut())
        .max(decision.after);
    let mut reply = finish(request.header.correlation_id, version, handled, after)?;
    if reply.response.is_some() {
        reply.mute = decision.throttle;
    }
    Ok(reply)
}

/// Runs a request through its handler with the interceptor's injected errors: a request
/// error answers everything without handling; partition errors take those partitions out
/// before the handler runs and answer them after.
async fn handle_intercepted(
    ctx: &HandlerContext<'_>,
    mut body: RequestBody,
    version: i16,
    decision: &Decision,
) -> Result<Handled> {
    let stripped = match decision.request_error {
        Some(code) => match intercept::request_error_response(&body, version, code) {
            Some(response) => return Ok(Handled::Respond(response)),
            None => intercept::strip_partition_errors(&mut body, version, &[], Some(code)),
        },
        None => intercept::strip_partition_errors(&mut body, version, &decision.partition_errors, None),
    };
    if stripped.is_empty() {
        return handle_request(ctx, body, version, false).await;
    }
    // A response carrying an error is answered at once, as Kafka does: no fetch long poll.
    Ok(match handle_request(ctx, body, version, true).await? {
        Handled::Respond(mut response) => {
            intercept::restore_partition_errors(&mut response, version, stripped);
            Handled::Respond(response)
        }
        Handled::NoResponse { .. } => Handled::NoResponse { failed: true },
    })
}

/// Runs the handler of `body`. `no_wait` skips the fetch long poll.
///
/// Errors: an API kafkit does not serve (the connection is closed).
pub async fn handle_request(
    ctx: &HandlerContext<'_>,
    body: RequestBody,
    version: i16,
    no_wait: bool,
) -> Result<Handled> {
    let response = match body {
        RequestBody::Produce(r) => match produce::handle(ctx, version, r) {
            produce::Outcome::Respond(resp) => Response::Produce(resp),
            produce::Outcome::NoResponse { failed } => return Ok(Handled::NoResponse { failed }),
        },
        RequestBody::Fetch(r) if no_wait => Response::Fetch(fetch::handle(ctx, version, &r).response),
        RequestBody::Fetch(r) => Response::Fetch(fetch_with_wait(ctx, version, &r).await),
        RequestBody::ListOffsets(r) => Response::ListOffsets(list_offsets::handle(ctx, version, r)),
        RequestBody::Metadata(r) => Response::Metadata(metadata::handle(ctx, version, r)),
        RequestBody::OffsetCommit(r) => Response::OffsetCommit(offset_commit::handle(ctx, version, r)),
        RequestBody::OffsetFetch(r) => Response::OffsetFetch(offset_fetch::handle(ctx, version, r)),
        RequestBody::FindCoordinator(r) => {
            Response::FindCoordinator(find_coordinator::handle(ctx, version, r))
        }
        RequestBody::JoinGroup(r) => Response::JoinGroup(join_group::handle(ctx, version, r).await),
        RequestBody::Heartbeat(r) => Response::Heartbeat(heartbeat::handle(ctx, version, r)),
        RequestBody::LeaveGroup(r) => Response::LeaveGroup(leave_group::handle(ctx, version, r)),
        RequestBody::SyncGroup(r) => Response::SyncGroup(sync_group::handle(ctx, version, r).await),
        RequestBody::DescribeGroups(r) => Response::DescribeGroups(describe_groups::handle(ctx, version, r)),
        RequestBody::ListGroups(r) => Response::ListGroups(list_groups::handle(ctx, version, r)),
        RequestBody::DeleteGroups(r) => Response::DeleteGroups(delete_groups::handle(ctx, version, r)),
        RequestBody::OffsetDelete(r) => Response::OffsetDelete(offset_delete::handle(ctx, version, r)),
        RequestBody::DescribeTransactions(r) => {
            Response::DescribeTransactions(describe_transactions::handle(ctx, version, r))
        }
        RequestBody::ListTransactions(r) => {
            Response::ListTransactions(list_transactions::handle(ctx, version, r))
        }
        RequestBody::ConsumerGroupHeartbeat(r) => {
            Response::ConsumerGroupHeartbeat(consumer_group_heartbeat::handle(ctx, version, r))
        }
        RequestBody::ConsumerGroupDescribe(r) => {
            Response::ConsumerGroupDescribe(consumer_group_describe::handle(ctx, version, r))
        }
        RequestBody::ApiVersions(r) => Response::ApiVersions(api_versions::handle(ctx, version, r)),
        RequestBody::CreateTopics(r) => Response::CreateTopics(create_topics::handle(ctx, version, r)),
        RequestBody::DeleteTopics(r) => Response::DeleteTopics(delete_topics::handle(ctx, version, r)),
        RequestBody::InitProducerId(r) => Response::InitProducerId(init_producer_id::handle(ctx, version, r)),
        RequestBody::CreatePartitions(r) => {
            Response::CreatePartitions(create_partitions::handle(ctx, version, r))
        }
        RequestBody::AddPartitionsToTxn(r) => {
            Response::AddPartitionsToTxn(add_partitions_to_txn::handle(ctx, version, r))
        }
        RequestBody::EndTxn(r) => Response::EndTxn(end_txn::handle(ctx, version, r)),
        RequestBody::AddOffsetsToTxn(r) => {
            Response::AddOffsetsToTxn(add_offsets_to_txn::handle(ctx, version, r))
        }
        RequestBody::TxnOffsetCommit(r) => {
            Response::TxnOffsetCommit(txn_offset_commit::handle(ctx, version, r))
        }
        RequestBody::UnsupportedApiVersions => {
            Response::UnsupportedApiVersions(unsupported_api_versions(ctx))
        }
        other => {
            return Err(crate::Error::Protocol(
                kafkit_protocol::Error::UnsupportedVersion {
                    api_key: other.api_key() as i16,
                    version,
                },
            ))
        }
    };
    Ok(Handled::Respond(response))
}

/// The KIP-511 answer (UNSUPPORTED_VERSION, v0) advertising the ApiVersions range served now.
fn unsupported_api_versions(ctx: &HandlerContext<'_>) -> ApiVersionsResponse {
    let mut response = ApiVersionsResponse::default().with_error_code(ErrorCode::UnsupportedVersion.code());
    // Invariant: ApiVersions cannot be pinned away (`pin_api_versions` refuses).
    if let Some(r) = ctx.state.api_version_range(ApiKey::ApiVersions) {
        response.api_keys.push(
            ApiVersion::default()
                .with_api_key(ApiKey::ApiVersions as i16)
                .with_min_version(r.min)
                .with_max_version(r.max),
        );
    }
    response
}

fn finish(correlation_id: i32, version: i16, handled: Handled, after: After) -> Result<Reply> {
    Ok(match (handled, after) {
        (Handled::Respond(response), After::Send) => Reply {
            response: Some(response.encode(correlation_id, version)?),
            close: false,
            mute: None,
        },
        (Handled::Respond(_), After::Drop) => Reply::default(),
        (Handled::NoResponse { failed }, after) => Reply {
            response: None,
            close: failed || after == After::Close,
            mute: None,
        },
        (Handled::Respond(_), After::Close) => Reply {
            response: None,
            close: true,
            mute: None,
        },
    })
}

/// Fetch with Kafka's long poll: when the first read returns fewer than `min_bytes` and no
/// partition failed, wait for appends (up to `max_wait_ms`) and read again.
async fn fetch_with_wait(
    ctx: &HandlerContext<'_>,
    version: i16,
    request: &kafka_protocol::messages::FetchRequest,
) -> kafka_protocol::messages::FetchResponse {
    let deadline =
        tokio::time::Instant::now() + std::time::Duration::from_millis(request.max_wait_ms.max(0) as u64);
    loop {
        // Registered before reading, so an append between the read and the wait is not missed.
        let appended = ctx.state.appended().notified();
        tokio::pin!(appended);
        appended.as_mut().enable();
        let outcome = fetch::handle(ctx, version, request);
        let failed = outcome
            .response
            .responses
            .iter()
            .flat_map(|t| &t.partitions)
            .any(|p| p.error_code != 0);
        let enough = outcome.bytes >= request.min_bytes.max(0) as usize && outcome.bytes > 0;
        if enough || failed || request.min_bytes <= 0 || tokio::time::Instant::now() >= deadline {
            return outcome.response;
        }
        if tokio::time::timeout_at(deadline, appended).await.is_err() {
            return fetch::handle(ctx, version, request).response;
        }
    }
}

/// A `StrBytes` from a string (allocation-free for `&'static str`).
pub(crate) fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Milliseconds since the Unix epoch: Kafka's `time.milliseconds()`.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The topic names that appear more than once in a request (CreateTopics and CreatePartitions
/// answer each of their entries INVALID_REQUEST, as Kafka does).
fn duplicate_names<'a>(names: impl Iterator<Item = &'a str>) -> std::collections::HashSet<String> {
    let mut seen = std::collections::HashSet::new();
    names.filter(|n| !seen.insert(*n)).map(str::to_string).collect()
}

#[cfg(test)]
mod tests;
