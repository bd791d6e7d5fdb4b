//! ListOffsets (ApiKey 2), versions 1..=10.
//!
//! # Behaviour
//! Per partition: `-2` (earliest) answers the log start offset, `-1` (latest) the high
//! watermark, `-3` (max timestamp, v7) the offset and timestamp of the record with the largest
//! timestamp, and any other timestamp the first offset whose batch's max timestamp is at least
//! that timestamp, found through the time index then the offset index (offset -1 when none).
//! Leader checks as Fetch (NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH).
//!
//! # Deviations from Kafka
//! No transactions: read_committed answers the same offsets as read_uncommitted.
//!
//! # Version notes
//! v2 isolation level; v4 `current_leader_epoch` and `leader_epoch`; v6 flexible; v7 max
//! timestamp (KIP-734); v8 `-4`, the earliest local offset, and v9 `-5`, the latest tiered one
//! (KIP-1005: kafkit tiers nothing, so `-4` is the log start and `-5` no offset, as Kafka
//! without remote storage answers); v10 `timeout_ms` (nothing here waits for it).

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafkit_protocol::ErrorCode;

use super::HandlerContext;
use crate::cluster::lock_log;

const EARLIEST: i64 = -2;
const LATEST: i64 = -1;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// Handles a ListOffsets request.
pub fn handle(ctx: &HandlerContext<'_>, version: i16, request: ListOffsetsRequest) -> ListOffsetsResponse {
    let mut response = ListOffsetsResponse::default();
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let mut topic_response = ListOffsetsTopicResponse::default().with_name(topic.name.clone());
        for p in topic.partitions {
            let mut r = ListOffsetsPartitionResponse::default()
                .with_partition_index(p.partition_index)
                .with_timestamp(-1)
                .with_offset(-1)
                .with_leader_epoch(-1);
            match lookup(
                ctx,
                version,
                &name,
                p.partition_index,
                p.current_leader_epoch,
                p.timestamp,
                version >= 2 && request.isolation_level == 1,
            ) {
                Ok((timestamp, offset, epoch)) => {
                    r.timestamp = timestamp;
                    r.offset = offset;
                    if version >= 4 {
                        r.leader_epoch = epoch;
                    }
                }
                Err(code) => r.error_code = code.code(),
            }
            topic_response.partitions.push(r);
        }
        response.topics.push(topic_response);
    }
    response
}

fn lookup(
    ctx: &HandlerContext<'_>,
    version: i16,
    topic: &str,
    partition: i32,
    current_leader_epoch: i32,
    timestamp: i64,
    read_committed: bool,
) -> Result<(i64, i64, i32), ErrorCode> {
    let (log, leader_epoch) = {
        let metadata = ctx.state.metadata();
        let p = metadata
            .partition(topic, partition)
            .ok_or(ErrorCode::UnknownTopicOrPartition)?;
        if p.leader != Some(ctx.node_id) || !metadata.is_up(ctx.node_id) {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        if version >= 4 && current_leader_epoch >= 0 {
            if current_leader_epoch < p.leader_epoch {
                return Err(ErrorCode::FencedLeaderEpoch);
            }
            if current_leader_epoch > p.leader_epoch {
                return Err(ErrorCode::UnknownLeaderEpoch);
            }
        }
        (p.log.clone(), p.leader_epoch)
    };
    let log = lock_log(&log);
    let found = |r: Option<crate::storage::TimestampAndOffset>| match r {
        Some(t) => (t.timestamp, t.offset, t.leader_epoch.unwrap_or(leader_epoch)),
        None => (-1, -1, -1),
    };
    // Without tiered storage the local log is the whole log.
    let timestamp = if timestamp == EARLIEST_LOCAL && version >= 8 {
        EARLIEST
    } else {
        timestamp
    };
    match timestamp {
        EARLIEST => Ok((
            -1,
            log.log_start_offset(),
            leader_epoch_at(&log, log.log_start_offset(), leader_epoch),
        )),
        // read_committed consumers start at the last stable offset.
        LATEST if read_committed => Ok((-1, log.last_stable_offset(), leader_epoch)),
        LATEST => Ok((-1, log.high_watermark(), leader_epoch)),
        // Nothing is tiered: Kafka answers no offset, without an error.
        LATEST_TIERED if version >= 9 => Ok((-1, -1, -1)),
        MAX_TIMESTAMP if version >= 7 => log
            .max_timestamp_and_offset()
            .map(found)
            .map_err(|e| e.error_code()),
        ts if ts < 0 => Err(ErrorCode::UnsupportedVersion),
        ts => log
            .offset_for_timestamp(ts)
            .map(found)
            .map_err(|e| e.error_code()),
    }
}

/// The leader epoch in which `offset` was written: the last epoch-cache entry starting at or
/// before it.
fn leader_epoch_at(log: &crate::storage::PartitionLog, offset: i64, current: i32) -> i32 {
    log.leader_epoch_cache()
        .entries()
        .iter()
        .rev()
        .find(|e| e.start_offset <= offset)
        .map_or(current, |e| e.epoch)
}
