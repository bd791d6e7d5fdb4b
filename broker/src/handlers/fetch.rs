//! Fetch (ApiKey 1), versions 4..=18.
//!
//! # Behaviour
//! Reads whole batches, exactly as stored, from the segment files of each requested partition,
//! starting at the batch that contains `fetch_offset`, up to `partition_max_bytes` per partition
//! and `max_bytes` per response; the first partition that has data returns at least one whole
//! batch even when it is larger than both limits (KIP-74), so a consumer never stalls. An offset
//! below the log start or above the high watermark is OFFSET_OUT_OF_RANGE. A
//! `current_leader_epoch` (v9+) older than the partition's is FENCED_LEADER_EPOCH, a newer one
//! UNKNOWN_LEADER_EPOCH. Only the leader serves fetches (NOT_LEADER_OR_FOLLOWER elsewhere).
//!
//! When nothing is returned and `min_bytes > 0`, the connection waits up to `max_wait_ms` for an
//! append anywhere in the cluster and reads again (see [`crate::server`]).
//!
//! # Deviations from Kafka
//! Fetch sessions (KIP-227) are not kept: every request is a full fetch and `session_id` is 0.
//! No transactions, so the last stable offset is the high watermark and no aborted
//! transactions are reported. `rack_id` and follower fetching are ignored.
//!
//! # Version notes
//! v5 `log_start_offset`; v7 sessions; v9 `current_leader_epoch`; v11 `preferred_read_replica`;
//! v12 flexible, `last_fetched_epoch`, and the KIP-951 `current_leader` of a partition answered
//! NOT_LEADER_OR_FOLLOWER; v13 names topics by id (UNKNOWN_TOPIC_ID for an id no topic has);
//! v15-v18 change only what followers send (`replica_state`, `replica_directory_id`,
//! `high_watermark`), which kafkit ignores; v16 adds the endpoints of the leaders named.

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{
    FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};
use kafkit_protocol::ErrorCode;

use super::HandlerContext;
use crate::cluster::lock_log;

/// `isolation_level` of a read_committed fetch.
const READ_COMMITTED: i8 = 1;

/// A fetch response and how many record bytes it carries.
#[derive(Debug)]
pub struct FetchOutcome {
    /// The response.
    pub response: FetchResponse,
    /// Record bytes returned, over all partitions.
    pub bytes: usize,
}

/// Handles a Fetch request (one read; the connection decides whether to wait and read again).
pub fn handle(ctx: &HandlerContext<'_>, version: i16, request: &FetchRequest) -> FetchOutcome {
    // Kafka: min(request max_bytes, the broker's fetch.max.bytes); v0-v2 requests have no
    // max_bytes (0 here) and get the broker's cap.
    let cap = ctx.state.config().fetch_max_bytes;
    let mut budget = if request.max_bytes > 0 {
        (request.max_bytes as usize).min(cap)
    } else {
        cap
    };
    let mut total = 0usize;
    let mut response = FetchResponse::default();
    let mut leaders_named = std::collections::BTreeSet::new();
    for topic in &request.topics {
        // v13 names topics by id: an unknown id fails each of its partitions.
        let name = super::topic_of(ctx, version, topic.topic_id, &topic.topic);
        let mut topic_response = if version >= 13 {
            FetchableTopicResponse::default().with_topic_id(topic.topic_id)
        } else {
            FetchableTopicResponse::default().with_topic(topic.topic.clone())
        };
        for fp in &topic.partitions {
            let mut data = PartitionData::default()
                .with_partition_index(fp.partition)
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_log_start_offset(-1)
                .with_aborted_transactions(None)
                .with_preferred_read_replica(BrokerId(-1))
                .with_records(Some(Bytes::new()));
            // Kafka sends an empty list of aborted transactions, not null, to a read_committed
            // fetch and for a partition it refuses before reading (unknown topic or partition).
            let read = match &name {
                Some(name) => read_partition(ctx, version, name, fp, budget, total == 0),
                None => Err(ErrorCode::UnknownTopicId),
            };
            match read {
                Ok((records, hw, log_start)) => {
                    data.high_watermark = hw;
                    data.last_stable_offset = hw;
                    data.log_start_offset = log_start;
                    budget = budget.saturating_sub(records.len());
                    total += records.len();
                    data.records = Some(records);
                    if request.isolation_level == READ_COMMITTED {
                        data.aborted_transactions = Some(Vec::new());
                    }
                }
                Err(code) => {
                    data.error_code = code.code();
                    if matches!(
                        code,
                        ErrorCode::UnknownTopicOrPartition | ErrorCode::UnknownTopicId
                    ) {
                        data.aborted_transactions = Some(Vec::new());
                    }
                    // KIP-951: where the partition is led now (v12+), and how to reach that
                    // broker (v16+).
                    if code == ErrorCode::NotLeaderOrFollower && version >= 12 {
                        if let Some((leader, epoch)) =
                            name.as_deref().and_then(|n| current_leader(ctx, n, fp.partition))
                        {
                            data.current_leader = LeaderIdAndEpoch::default()
                                .with_leader_id(BrokerId(leader))
                                .with_leader_epoch(epoch);
                            leaders_named.insert(leader);
                        }
                    }
                }
            }
            if version < 5 {
                data.log_start_offset = -1;
            }
            topic_response.partitions.push(data);
        }
        response.responses.push(topic_response);
    }
    if version >= 16 {
        let metadata = ctx.state.metadata();
        response.node_endpoints = leaders_named
            .into_iter()
            .filter_map(|id| metadata.broker(id))
            .map(|b| {
                NodeEndpoint::default()
                    .with_node_id(BrokerId(b.node_id))
                    .with_host(super::str_bytes(&b.host))
                    .with_port(b.port)
            })
            .collect();
    }
    FetchOutcome {
        response,
        bytes: total,
    }
}

/// The leader of `topic`/`partition` and its epoch, when one is up.
fn current_leader(ctx: &HandlerContext<'_>, topic: &str, partition: i32) -> Option<(i32, i32)> {
    let metadata = ctx.state.metadata();
    let p = metadata.partition(topic, partition)?;
    p.leader
        .filter(|&l| metadata.is_up(l))
        .map(|l| (l, p.leader_epoch))
}

fn read_partition(
    ctx: &HandlerContext<'_>,
    version: i16,
    topic: &str,
    fp: &kafka_protocol::messages::fetch_request::FetchPartition,
    budget: usize,
    first_with_data: bool,
) -> Result<(Bytes, i64, i64), ErrorCode> {
    let log = {
        let metadata = ctx.state.metadata();
        let p = metadata
            .partition(topic, fp.partition)
            .ok_or(ErrorCode::UnknownTopicOrPartition)?;
        if p.leader != Some(ctx.node_id) || !metadata.is_up(ctx.node_id) {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        if version >= 9 && fp.current_leader_epoch >= 0 {
            if fp.current_leader_epoch < p.leader_epoch {
                return Err(ErrorCode::FencedLeaderEpoch);
            }
            if fp.current_leader_epoch > p.leader_epoch {
                return Err(ErrorCode::UnknownLeaderEpoch);
            }
        }
        p.log.clone()
    };
    let log = lock_log(&log);
    let (hw, log_start) = (log.high_watermark(), log.log_start_offset());
    if fp.fetch_offset < log_start || fp.fetch_offset > hw {
        return Err(ErrorCode::OffsetOutOfRange);
    }
    let max = (fp.partition_max_bytes.max(0) as usize).min(budget);
    let records = log.read(fp.fetch_offset, max, first_with_data).map_err(|e| {
        tracing::warn!(topic, partition = fp.partition, error = %e, "fetch read failed");
        e.error_code()
    })?;
    Ok((records.records, hw, log_start))
}
