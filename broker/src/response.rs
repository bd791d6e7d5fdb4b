//! Typed responses: what a handler answered, before it is encoded.
//!
//! [`handlers::handle_frame`](crate::handlers::handle_frame) runs a handler to a [`Response`],
//! lets the cluster's [`Interceptor`](crate::intercept::Interceptor) look at it (and change it),
//! then encodes it with [`Response::encode`]. Keeping the typed value this long is what lets the
//! test kit's journal record every response decoded and a fault rewrite one.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    AddOffsetsToTxnResponse, AddPartitionsToTxnResponse, ApiKey, ApiVersionsResponse,
    ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatResponse, CreatePartitionsResponse,
    CreateTopicsResponse, DeleteGroupsResponse, DeleteTopicsResponse, DescribeGroupsResponse,
    DescribeTransactionsResponse, EndTxnResponse, FetchResponse, FindCoordinatorResponse, HeartbeatResponse,
    InitProducerIdResponse, JoinGroupResponse, LeaveGroupResponse, ListGroupsResponse, ListOffsetsResponse,
    ListTransactionsResponse, MetadataResponse, OffsetCommitResponse, OffsetDeleteResponse,
    OffsetFetchResponse, ProduceResponse, SyncGroupResponse, TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::{Encodable, HeaderVersion};

use crate::Result;

/// A response of one of the APIs kafkit serves, in ApiKey order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Response {
    /// Produce (ApiKey 0).
    Produce(ProduceResponse),
    /// Fetch (ApiKey 1).
    Fetch(FetchResponse),
    /// ListOffsets (ApiKey 2).
    ListOffsets(ListOffsetsResponse),
    /// Metadata (ApiKey 3).
    Metadata(MetadataResponse),
    /// OffsetCommit (ApiKey 8).
    OffsetCommit(OffsetCommitResponse),
    /// OffsetFetch (ApiKey 9).
    OffsetFetch(OffsetFetchResponse),
    /// FindCoordinator (ApiKey 10).
    FindCoordinator(FindCoordinatorResponse),
    /// JoinGroup (ApiKey 11).
    JoinGroup(JoinGroupResponse),
    /// Heartbeat (ApiKey 12).
    Heartbeat(HeartbeatResponse),
    /// LeaveGroup (ApiKey 13).
    LeaveGroup(LeaveGroupResponse),
    /// SyncGroup (ApiKey 14).
    SyncGroup(SyncGroupResponse),
    /// DescribeGroups (ApiKey 15).
    DescribeGroups(DescribeGroupsResponse),
    /// ListGroups (ApiKey 16).
    ListGroups(ListGroupsResponse),
    /// ApiVersions (ApiKey 18) at the requested version.
    ApiVersions(ApiVersionsResponse),
    /// CreateTopics (ApiKey 19).
    CreateTopics(CreateTopicsResponse),
    /// DeleteTopics (ApiKey 20).
    DeleteTopics(DeleteTopicsResponse),
    /// InitProducerId (ApiKey 22).
    InitProducerId(InitProducerIdResponse),
    /// CreatePartitions (ApiKey 37).
    CreatePartitions(CreatePartitionsResponse),
    /// DeleteGroups (ApiKey 42).
    DeleteGroups(DeleteGroupsResponse),
    /// AddPartitionsToTxn (ApiKey 24).
    AddPartitionsToTxn(AddPartitionsToTxnResponse),
    /// EndTxn (ApiKey 26).
    EndTxn(EndTxnResponse),
    /// AddOffsetsToTxn (ApiKey 25).
    AddOffsetsToTxn(AddOffsetsToTxnResponse),
    /// TxnOffsetCommit (ApiKey 28).
    TxnOffsetCommit(TxnOffsetCommitResponse),
    /// OffsetDelete (ApiKey 47).
    OffsetDelete(OffsetDeleteResponse),
    /// DescribeTransactions (ApiKey 65).
    DescribeTransactions(DescribeTransactionsResponse),
    /// ListTransactions (ApiKey 66).
    ListTransactions(ListTransactionsResponse),
    /// ConsumerGroupHeartbeat (ApiKey 68).
    ConsumerGroupHeartbeat(ConsumerGroupHeartbeatResponse),
    /// ConsumerGroupDescribe (ApiKey 69).
    ConsumerGroupDescribe(ConsumerGroupDescribeResponse),
    /// The KIP-511 answer to an ApiVersions request of a version the broker does not serve:
    /// always encoded as version 0 (UNSUPPORTED_VERSION and the ApiVersions range), whatever
    /// version was asked for.
    UnsupportedApiVersions(ApiVersionsResponse),
}

impl Response {
    /// The API this answers.
    pub fn api_key(&self) -> ApiKey {
        match self {
            Response::Produce(_) => ApiKey::Produce,
            Response::Fetch(_) => ApiKey::Fetch,
            Response::ListOffsets(_) => ApiKey::ListOffsets,
            Response::Metadata(_) => ApiKey::Metadata,
            Response::FindCoordinator(_) => ApiKey::FindCoordinator,
            Response::ApiVersions(_) | Response::UnsupportedApiVersions(_) => ApiKey::ApiVersions,
            Response::CreateTopics(_) => ApiKey::CreateTopics,
            Response::DeleteTopics(_) => ApiKey::DeleteTopics,
            Response::InitProducerId(_) => ApiKey::InitProducerId,
            Response::CreatePartitions(_) => ApiKey::CreatePartitions,
            Response::OffsetCommit(_) => ApiKey::OffsetCommit,
            Response::OffsetFetch(_) => ApiKey::OffsetFetch,
            Response::JoinGroup(_) => ApiKey::JoinGroup,
            Response::Heartbeat(_) => ApiKey::Heartbeat,
            Response::LeaveGroup(_) => ApiKey::LeaveGroup,
            Response::SyncGroup(_) => ApiKey::SyncGroup,
            Response::DescribeGroups(_) => ApiKey::DescribeGroups,
            Response::ListGroups(_) => ApiKey::ListGroups,
            Response::DeleteGroups(_) => ApiKey::DeleteGroups,
            Response::OffsetDelete(_) => ApiKey::OffsetDelete,
            Response::AddPartitionsToTxn(_) => ApiKey::AddPartitionsToTxn,
            Response::EndTxn(_) => ApiKey::EndTxn,
            Response::AddOffsetsToTxn(_) => ApiKey::AddOffsetsToTxn,
            Response::TxnOffsetCommit(_) => ApiKey::TxnOffsetCommit,
            Response::DescribeTransactions(_) => ApiKey::DescribeTransactions,
            Response::ListTransactions(_) => ApiKey::ListTransactions,
            Response::ConsumerGroupHeartbeat(_) => ApiKey::ConsumerGroupHeartbeat,
            Response::ConsumerGroupDescribe(_) => ApiKey::ConsumerGroupDescribe,
        }
    }

    /// Sets the response's `throttle_time_ms` (a quota violation, KIP-219). Every served
    /// response has the field; versions that lack it on the wire leave it out when encoding.
    pub fn set_throttle_time_ms(&mut self, ms: i32) {
        match self {
            Response::Produce(r) => r.throttle_time_ms = ms,
            Response::Fetch(r) => r.throttle_time_ms = ms,
            Response::ListOffsets(r) => r.throttle_time_ms = ms,
            Response::Metadata(r) => r.throttle_time_ms = ms,
            Response::FindCoordinator(r) => r.throttle_time_ms = ms,
            Response::ApiVersions(r) | Response::UnsupportedApiVersions(r) => r.throttle_time_ms = ms,
            Response::CreateTopics(r) => r.throttle_time_ms = ms,
            Response::DeleteTopics(r) => r.throttle_time_ms = ms,
            Response::InitProducerId(r) => r.throttle_time_ms = ms,
            Response::CreatePartitions(r) => r.throttle_time_ms = ms,
            Response::OffsetCommit(r) => r.throttle_time_ms = ms,
            Response::OffsetFetch(r) => r.throttle_time_ms = ms,
            Response::JoinGroup(r) => r.throttle_time_ms = ms,
            Response::Heartbeat(r) => r.throttle_time_ms = ms,
            Response::LeaveGroup(r) => r.throttle_time_ms = ms,
            Response::SyncGroup(r) => r.throttle_time_ms = ms,
            Response::DescribeGroups(r) => r.throttle_time_ms = ms,
            Response::ListGroups(r) => r.throttle_time_ms = ms,
            Response::DeleteGroups(r) => r.throttle_time_ms = ms,
            Response::OffsetDelete(r) => r.throttle_time_ms = ms,
            Response::AddPartitionsToTxn(r) => r.throttle_time_ms = ms,
            Response::EndTxn(r) => r.throttle_time_ms = ms,
            Response::AddOffsetsToTxn(r) => r.throttle_time_ms = ms,
            Response::TxnOffsetCommit(r) => r.throttle_time_ms = ms,
            Response::DescribeTransactions(r) => r.throttle_time_ms = ms,
            Response::ListTransactions(r) => r.throttle_time_ms = ms,
            Response::ConsumerGroupHeartbeat(r) => r.throttle_time_ms = ms,
            Response::ConsumerGroupDescribe(r) => r.throttle_time_ms = ms,
        }
    }

    /// Encodes the whole response frame (length prefix, response header, body) answering a
    /// request with `correlation_id` at `version`.
    pub fn encode(&self, correlation_id: i32, version: i16) -> Result<Bytes> {
        match self {
            Response::Produce(r) => encode(correlation_id, version, r),
            Response::Fetch(r) => encode(correlation_id, version, r),
            Response::ListOffsets(r) => encode(correlation_id, version, r),
            Response::Metadata(r) => encode(correlation_id, version, r),
            Response::FindCoordinator(r) => encode(correlation_id, version, r),
            Response::ApiVersions(r) => encode(correlation_id, version, r),
            Response::CreateTopics(r) => encode(correlation_id, version, r),
            Response::DeleteTopics(r) => encode(correlation_id, version, r),
            Response::InitProducerId(r) => encode(correlation_id, version, r),
            Response::CreatePartitions(r) => encode(correlation_id, version, r),
            Response::OffsetCommit(r) => encode(correlation_id, version, r),
            Response::OffsetFetch(r) => encode(correlation_id, version, r),
            Response::JoinGroup(r) => encode(correlation_id, version, r),
            Response::Heartbeat(r) => encode(correlation_id, version, r),
            Response::LeaveGroup(r) => encode(correlation_id, version, r),
            Response::SyncGroup(r) => encode(correlation_id, version, r),
            Response::DescribeGroups(r) => encode(correlation_id, version, r),
            Response::ListGroups(r) => encode(correlation_id, version, r),
            Response::DeleteGroups(r) => encode(correlation_id, version, r),
            Response::OffsetDelete(r) => encode(correlation_id, version, r),
            Response::AddPartitionsToTxn(r) => encode(correlation_id, version, r),
            Response::EndTxn(r) => encode(correlation_id, version, r),
            Response::AddOffsetsToTxn(r) => encode(correlation_id, version, r),
            Response::TxnOffsetCommit(r) => encode(correlation_id, version, r),
            Response::DescribeTransactions(r) => encode(correlation_id, version, r),
            Response::ListTransactions(r) => encode(correlation_id, version, r),
            Response::ConsumerGroupHeartbeat(r) => encode(correlation_id, version, r),
            Response::ConsumerGroupDescribe(r) => encode(correlation_id, version, r),
            Response::UnsupportedApiVersions(r) => encode(correlation_id, 0, r),
        }
    }
}

fn encode<R: Encodable + HeaderVersion>(correlation_id: i32, version: i16, body: &R) -> Result<Bytes> {
    let mut out = BytesMut::with_capacity(128);
    kafkit_protocol::frame::encode_response_frame(&mut out, correlation_id, version, body)?;
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafkit_protocol::versions::unsupported_api_versions_response;
    use kafkit_protocol::ErrorCode;

    /// The typed KIP-511 answer encodes to exactly the bytes of the protocol crate's helper.
    #[test]
    fn unsupported_api_versions_encodes_as_v0() {
        let range = kafkit_protocol::versions::supported_range(ApiKey::ApiVersions).expect("served");
        let typed = Response::UnsupportedApiVersions(
            ApiVersionsResponse::default()
                .with_error_code(ErrorCode::UnsupportedVersion.code())
                .with_api_keys(vec![ApiVersion::default()
                    .with_api_key(ApiKey::ApiVersions as i16)
                    .with_min_version(range.min)
                    .with_max_version(range.max)]),
        );
        let frame = typed.encode(42, 4).expect("encode");
        assert_eq!(&frame[4..], &unsupported_api_versions_response(42)[..]);
    }
}
