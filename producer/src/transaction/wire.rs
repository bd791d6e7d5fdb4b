//! The transaction APIs on a producer connection: the requests the transaction manager sends
//! (FindCoordinator, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn), the
//! versions negotiated for them, and their encoding and decoding. InitProducerId, which the
//! idempotent producer uses too, stays with Produce and Metadata in the connection module.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse,
    ApiKey, EndTxnRequest, EndTxnResponse, FindCoordinatorRequest, FindCoordinatorResponse, RequestHeader,
    TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use kafkit_protocol::frame::encode_request_frame;
use kafkit_protocol::response::{decode_response, GuardedResponse};

/// A transaction request for one connection.
#[derive(Debug)]
pub(crate) enum TxnRequest {
    FindCoordinator(FindCoordinatorRequest),
    AddPartitions(AddPartitionsToTxnRequest),
    AddOffsets(AddOffsetsToTxnRequest),
    TxnOffsetCommit(TxnOffsetCommitRequest),
    EndTxn(EndTxnRequest),
}

/// The answer to a [`TxnRequest`].
#[derive(Debug)]
pub(crate) enum TxnResponse {
    FindCoordinator(FindCoordinatorResponse),
    AddPartitions(AddPartitionsToTxnResponse),
    AddOffsets(AddOffsetsToTxnResponse),
    TxnOffsetCommit(TxnOffsetCommitResponse),
    EndTxn(EndTxnResponse),
}

/// The versions negotiated with one broker for the transaction APIs; `None` where the broker
/// has no version in common with kafkit's producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct TxnVersions {
    pub find_coordinator: Option<i16>,
    pub add_partitions: Option<i16>,
    pub add_offsets: Option<i16>,
    pub txn_offset_commit: Option<i16>,
    pub end_txn: Option<i16>,
}

impl TxnVersions {
    /// Picks each version with `pick` (the connection's negotiation).
    pub(crate) fn negotiate(pick: impl Fn(ApiKey) -> Option<i16>) -> Self {
        TxnVersions {
            find_coordinator: pick(ApiKey::FindCoordinator),
            add_partitions: pick(ApiKey::AddPartitionsToTxn),
            add_offsets: pick(ApiKey::AddOffsetsToTxn),
            txn_offset_commit: pick(ApiKey::TxnOffsetCommit),
            end_txn: pick(ApiKey::EndTxn),
        }
    }

    /// The version for `api_key`, if negotiated.
    pub(crate) fn get(&self, api_key: ApiKey) -> Option<i16> {
        match api_key {
            ApiKey::FindCoordinator => self.find_coordinator,
            ApiKey::AddPartitionsToTxn => self.add_partitions,
            ApiKey::AddOffsetsToTxn => self.add_offsets,
            ApiKey::TxnOffsetCommit => self.txn_offset_commit,
            ApiKey::EndTxn => self.end_txn,
            _ => None,
        }
    }
}

impl TxnRequest {
    /// The request's API.
    pub(crate) fn api_key(&self) -> ApiKey {
        match self {
            TxnRequest::FindCoordinator(_) => ApiKey::FindCoordinator,
            TxnRequest::AddPartitions(_) => ApiKey::AddPartitionsToTxn,
            TxnRequest::AddOffsets(_) => ApiKey::AddOffsetsToTxn,
            TxnRequest::TxnOffsetCommit(_) => ApiKey::TxnOffsetCommit,
            TxnRequest::EndTxn(_) => ApiKey::EndTxn,
        }
    }

    /// Encodes the request after `header` (whose key and version it must match). The sender
    /// fills every version's fields; those the negotiated version lacks are left out here
    /// (the encoder refuses a non-default value in a field the version does not have).
    pub(crate) fn encode(&self, dst: &mut BytesMut, header: &RequestHeader) -> kafkit_protocol::Result<()> {
        let version = header.request_api_version;
        match self {
            TxnRequest::FindCoordinator(r) => {
                let mut r = r.clone();
                if version >= 4 {
                    r.key = Default::default();
                } else {
                    r.coordinator_keys.clear();
                    if version == 0 {
                        r.key_type = 0;
                    }
                }
                encode_request_frame(dst, header, &r)
            }
            TxnRequest::AddPartitions(r) => encode_request_frame(dst, header, r),
            TxnRequest::AddOffsets(r) => encode_request_frame(dst, header, r),
            TxnRequest::TxnOffsetCommit(r) if version < 3 => {
                // Before v3 (KIP-447) the group's generation and member are not sent.
                let mut r = r.clone();
                r.generation_id = -1;
                r.member_id = Default::default();
                r.group_instance_id = None;
                if version < 2 {
                    for p in r.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                        p.committed_leader_epoch = -1;
                    }
                }
                encode_request_frame(dst, header, &r)
            }
            TxnRequest::TxnOffsetCommit(r) => encode_request_frame(dst, header, r),
            TxnRequest::EndTxn(r) => encode_request_frame(dst, header, r),
        }
    }
}

/// Decodes `frame` as the `api_key` response at `version`; returns it with its correlation id.
pub(crate) fn decode(
    api_key: ApiKey,
    frame: Bytes,
    version: i16,
) -> kafkit_protocol::Result<Option<(i32, TxnResponse)>> {
    fn typed<T: GuardedResponse>(frame: Bytes, version: i16) -> kafkit_protocol::Result<(i32, T)> {
        let r = decode_response::<T>(frame, version)?;
        Ok((r.header.correlation_id, r.body))
    }
    Ok(Some(match api_key {
        ApiKey::FindCoordinator => {
            let (c, r) = typed(frame, version)?;
            (c, TxnResponse::FindCoordinator(r))
        }
        ApiKey::AddPartitionsToTxn => {
            let (c, r) = typed(frame, version)?;
            (c, TxnResponse::AddPartitions(r))
        }
        ApiKey::AddOffsetsToTxn => {
            let (c, r) = typed(frame, version)?;
            (c, TxnResponse::AddOffsets(r))
        }
        ApiKey::TxnOffsetCommit => {
            let (c, r) = typed(frame, version)?;
            (c, TxnResponse::TxnOffsetCommit(r))
        }
        ApiKey::EndTxn => {
            let (c, r) = typed(frame, version)?;
            (c, TxnResponse::EndTxn(r))
        }
        _ => return Ok(None),
    }))
}
