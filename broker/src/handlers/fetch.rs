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
//! `rack_id` and follower fetching are ignored.
//!
//! # Transactions
//! Every answer carries the partition's last stable offset (the first offset of its oldest
//! open transaction, else the high watermark). A read_committed fetch returns batches below
//! it only, with the aborted transactions (producer id, first offset) in what it returns, for
//! the consumer to skip; control batches are returned as stored, as Kafka does.
//!
//! # Version notes
//! v5 `log_start_offset`; v7 sessions; v9 `current_leader_epoch`; v11 `preferred_read_replica`;
//! v12 flexible, `last_fetched_epoch`, and the KIP-951 `current_leader` of a partition answered
//! NOT_LEADER_OR_FOLLOWER; v13 names topics by id (UNKNOWN_TOPIC_ID for an id no topic has);
//! v15-v18 change only what followers send (`replica_state`, `replica_directory_id`,
//! `high_watermark`), which kafkit ignores; v16 adds the endpoints of the leaders named.

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, ProducerId};
use kafkit_protocol::record::Batches;
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
                Some(name) => read_partition(
                    ctx,
                    version,
                    name,
                    fp,
                    budget,
                    total == 0,
                    request.isolation_level == READ_COMMITTED,
                ),
                None => Err(ErrorCode::UnknownTopicId),
            };
            match read {
                Ok(read) => {
                    data.high_watermark = read.high_watermark;
                    data.last_stable_offset = read.last_stable_offset;
                    data.log_start_offset = read.log_start_offset;
                    budget = budget.saturating_sub(read.records.len());
                    total += read.records.len();
                    data.records = Some(read.records);
                    if request.isolation_level == READ_COMMITTED {
                        data.aborted_transactions = Some(
                            read.aborted
                                .into_iter()
                                .map(|a| {
                                    AbortedTransaction::default()
                                        .with_producer_id(ProducerId(a.producer_id))
                                        .with_first_offset(a.first_offset)
                                })
                                .collect(),
                        );
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
                let (host, port) = ctx.state.endpoint(b, ctx.listener);
                NodeEndpoint::default()
                    .with_node_id(BrokerId(b.node_id))
                    .with_host(super::str_bytes(host))
                    .with_port(port)
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

/// What one partition's read found.
struct PartitionRead {
    records: Bytes,
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
    aborted: Vec<crate::storage::producer_state::AbortedTxn>,
}

#[allow(clippy::too_many_arguments)]
fn read_partition(
    ctx: &HandlerContext<'_>,
    version: i16,
    topic: &str,
    fp: &kafka_protocol::messages::fetch_request::FetchPartition,
    budget: usize,
    first_with_data: bool,
    read_committed: bool,
) -> Result<PartitionRead, ErrorCode> {
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
    let lso = log.last_stable_offset();
    if read_committed && fp.fetch_offset >= lso {
        return Ok(PartitionRead {
            records: Bytes::new(),
            high_watermark: hw,
            last_stable_offset: lso,
            log_start_offset: log_start,
            aborted: Vec::new(),
        });
    }
    let mut records = log
        .read(fp.fetch_offset, max, first_with_data)
        .map_err(|e| {
            tracing::warn!(topic, partition = fp.partition, error = %e, "fetch read failed");
            e.error_code()
        })?
        .records;
    let mut aborted = Vec::new();
    if read_committed {
        // Whole batches below the last stable offset only.
        let mut end = 0;
        let mut upper = fp.fetch_offset;
        for batch in Batches::new(&records) {
            let Ok(batch) = batch else { break };
            if batch.base_offset() >= lso {
                break;
            }
            end += batch.size_in_bytes();
            upper = batch.last_offset() + 1;
        }
        records.truncate(end);
        aborted = log.producer_state().aborted_between(fp.fetch_offset, upper);
    }
    Ok(PartitionRead {
        records,
        high_watermark: hw,
        last_stable_offset: lso,
        log_start_offset: log_start,
        aborted,
    })
}
