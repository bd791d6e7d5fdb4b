//! Request handlers: one module per API, in ApiKey order. Each is a plain function from the
//! cluster state and a decoded request to a response, so it is tested without sockets. Every
//! requested topic/partition gets exactly one entry in the response.
//!
//! `Err` from [`handle_frame`] means the connection is unusable and is closed; everything else
//! is an error code inside a response.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::RequestHeader;
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};
use kafkit_protocol::request::{decode_request, RequestBody};

use crate::cluster::ClusterState;
use crate::Result;

pub mod api_versions;
pub mod create_topics;
pub mod delete_topics;
pub mod fetch;
pub mod find_coordinator;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod produce;

/// What a handler needs to know about where a request arrived.
#[derive(Debug, Clone, Copy)]
pub struct HandlerContext<'a> {
    /// The cluster.
    pub state: &'a ClusterState,
    /// The node the connection is on.
    pub node_id: i32,
    /// The connection, for logs.
    pub connection_id: u64,
}

/// The outcome of one request frame.
#[derive(Debug, Default)]
pub struct Reply {
    /// The response frame, length prefix included; `None` for acks=0 produce.
    pub response: Option<Bytes>,
    /// Close the connection after writing the response.
    pub close: bool,
}

/// Decodes and handles one request frame.
pub async fn handle_frame(ctx: &HandlerContext<'_>, frame: Bytes) -> Result<Reply> {
    let request = decode_request(frame)?;
    let header = &request.header;
    let version = header.request_api_version;
    tracing::trace!(
        connection = ctx.connection_id,
        api_key = header.request_api_key,
        version,
        correlation_id = header.correlation_id,
        "request"
    );
    let response = match request.body {
        RequestBody::Produce(r) => match produce::handle(ctx, version, r) {
            produce::Outcome::Respond(resp) => encode(header, &resp)?,
            produce::Outcome::NoResponse { failed } => {
                return Ok(Reply {
                    response: None,
                    close: failed,
                })
            }
        },
        RequestBody::Fetch(r) => encode(header, &fetch_with_wait(ctx, version, &r).await)?,
        RequestBody::ListOffsets(r) => encode(header, &list_offsets::handle(ctx, version, r))?,
        RequestBody::Metadata(r) => encode(header, &metadata::handle(ctx, version, r))?,
        RequestBody::FindCoordinator(r) => encode(header, &find_coordinator::handle(ctx, version, r))?,
        RequestBody::ApiVersions(r) => encode(header, &api_versions::handle(ctx, version, r))?,
        RequestBody::CreateTopics(r) => encode(header, &create_topics::handle(ctx, version, r))?,
        RequestBody::DeleteTopics(r) => encode(header, &delete_topics::handle(ctx, version, r))?,
        RequestBody::InitProducerId(r) => encode(header, &init_producer_id::handle(ctx, version, r))?,
        RequestBody::UnsupportedApiVersions => {
            let body = kafkit_protocol::versions::unsupported_api_versions_response(header.correlation_id);
            let mut out = BytesMut::with_capacity(4 + body.len());
            kafkit_protocol::frame::encode_frame(&mut out, &body)?;
            out.freeze()
        }
        _ => {
            return Err(crate::Error::Protocol(
                kafkit_protocol::Error::UnsupportedVersion {
                    api_key: header.request_api_key,
                    version,
                },
            ))
        }
    };
    Ok(Reply {
        response: Some(response),
        close: false,
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

/// Encodes a response frame: length prefix, response header of the API's header version, body.
fn encode<R: Encodable + HeaderVersion>(request: &RequestHeader, body: &R) -> Result<Bytes> {
    let mut out = BytesMut::with_capacity(128);
    kafkit_protocol::frame::encode_response_frame(
        &mut out,
        request.correlation_id,
        request.request_api_version,
        body,
    )?;
    Ok(out.freeze())
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

#[cfg(test)]
mod tests;
