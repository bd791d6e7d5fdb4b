//! Produce (ApiKey 0), versions 3..=13.
//!
//! # Behaviour
//! Per partition, in Kafka's order (reference/broker-storage-spec.md §2): internal topic
//! (INVALID_TOPIC_EXCEPTION), unknown partition (UNKNOWN_TOPIC_OR_PARTITION; Produce never
//! creates topics), not the leader (NOT_LEADER_OR_FOLLOWER with the current leader, v10+), the
//! records' validation ([`crate::log_validator`]), then the append under the partition's lock:
//! offsets from the log end offset, base offset and leader epoch stamped in place, idempotent
//! producer checks (a duplicate of one of the last five batches is answered with its original
//! offset and not appended), the write. acks outside {-1, 0, 1} fail every partition with
//! INVALID_REQUIRED_ACKS. acks=0 appends as acks=1 and sends no response; the connection is
//! closed if any partition failed. With one copy of each log, acks=-1 completes as soon as the
//! append returns (the high watermark is the log end offset).
//!
//! A transactional batch is appended only if its producer's open transaction (by the request's
//! `transactional_id`) has the partition in it, as Kafka verifies it
//! (`transaction.partition.verification.enable`): TRANSACTION_ABORTABLE otherwise,
//! INVALID_PRODUCER_EPOCH for an older epoch, TRANSACTIONAL_ID_AUTHORIZATION_FAILED without a
//! `transactional_id` (Kafka's answer too). A `transactional_id` on plain batches is ignored,
//! as Kafka does.
//!
//! # Deviations from Kafka
//! `timeout_ms` is not used, because no append waits for replicas.
//!
//! # Version notes
//! v5 adds `log_start_offset`; v7 allows zstd; v8 `record_errors`/`error_message`; v9 flexible;
//! v10 `current_leader` and `node_endpoints` for NOT_LEADER_OR_FOLLOWER (KIP-951); v12 is v11
//! for non-transactional producers (KIP-890 changes transactional ones); v13 names topics by id
//! (UNKNOWN_TOPIC_ID for an id no topic has).

use std::borrow::Cow;
use std::collections::BTreeSet;

use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{BrokerId, ProduceRequest, ProduceResponse};
use kafkit_protocol::record::{Batches, RecordBatch, RecordBatchMut, TimestampType};
use kafkit_protocol::ErrorCode;

use super::metadata::INTERNAL_TOPICS;
use super::{now_ms, str_bytes, HandlerContext};
use crate::cluster::lock_log;
use crate::log_validator::{validate_records, ValidationError};

/// What the connection does with a produce request.
#[derive(Debug)]
pub enum Outcome {
    /// Send this response.
    Respond(ProduceResponse),
    /// acks=0: send nothing; close the connection if `failed`.
    NoResponse {
        /// Whether any partition failed.
        failed: bool,
    },
}

/// Handles a Produce request.
pub fn handle(ctx: &HandlerContext<'_>, version: i16, request: ProduceRequest) -> Outcome {
    let acks = request.acks;
    // Kafka checks the transactional id only of a request that carries transactional batches.
    let whole_request_error = if !matches!(acks, -1..=1) {
        Some(ErrorCode::InvalidRequiredAcks)
    } else {
        None
    };
    let now = now_ms();
    let mut failed = false;
    let mut leaders_named = BTreeSet::new();
    let mut response = ProduceResponse::default();
    let transactional_id = request.transactional_id.as_ref().map(|t| t.0.to_string());
    for topic in request.topic_data {
        // v13 names topics by id: an unknown id fails each of its partitions.
        let name = super::topic_of(ctx, version, topic.topic_id, &topic.name);
        let mut topic_response = if version >= 13 {
            TopicProduceResponse::default().with_topic_id(topic.topic_id)
        } else {
            TopicProduceResponse::default().with_name(topic.name.clone())
        };
        for partition in topic.partition_data {
            let mut p = match (whole_request_error, &name) {
                (Some(code), _) => error_partition(partition.index, code),
                (None, None) => error_partition(partition.index, ErrorCode::UnknownTopicId),
                (None, Some(name)) => produce_partition(
                    ctx,
                    version,
                    name,
                    partition.index,
                    partition.records.as_deref(),
                    transactional_id.as_deref(),
                    now,
                ),
            };
            if p.error_code != 0 {
                failed = true;
                if p.error_code == ErrorCode::NotLeaderOrFollower.code() && version >= 10 {
                    if p.current_leader.leader_id.0 >= 0 {
                        leaders_named.insert(p.current_leader.leader_id.0);
                    }
                } else {
                    p.current_leader = LeaderIdAndEpoch::default();
                }
            }
            if version < 8 {
                p.record_errors.clear();
                p.error_message = None;
            }
            if version < 5 {
                p.log_start_offset = -1;
            }
            topic_response.partition_responses.push(p);
        }
        response.responses.push(topic_response);
    }
    if acks == 0 {
        return Outcome::NoResponse { failed };
    }
    if version >= 10 {
        let metadata = ctx.state.metadata();
        response.node_endpoints = leaders_named
            .into_iter()
            .filter_map(|id| metadata.broker(id))
            .map(|b| {
                let (host, port) = ctx.state.endpoint(b, ctx.listener);
                NodeEndpoint::default()
                    .with_node_id(BrokerId(b.node_id))
                    .with_host(str_bytes(host))
                    .with_port(port)
            })
            .collect();
    }
    Outcome::Respond(response)
}

fn error_partition(index: i32, code: ErrorCode) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(code.code())
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
}

fn produce_partition(
    ctx: &HandlerContext<'_>,
    version: i16,
    topic: &str,
    index: i32,
    records: Option<&[u8]>,
    transactional_id: Option<&str>,
    now: i64,
) -> PartitionProduceResponse {
    if INTERNAL_TOPICS.contains(&topic) {
        return error_partition(index, ErrorCode::InvalidTopicException);
    }
    // Leadership and the log handle under the metadata lock; the append after releasing it.
    let (log, leader_epoch, validation) = {
        let metadata = ctx.state.metadata();
        let Some(t) = metadata.topics.get(topic) else {
            return error_partition(index, ErrorCode::UnknownTopicOrPartition);
        };
        let Some(p) = usize::try_from(index).ok().and_then(|i| t.partitions.get(i)) else {
            return error_partition(index, ErrorCode::UnknownTopicOrPartition);
        };
        if p.leader != Some(ctx.node_id) || !metadata.is_up(ctx.node_id) {
            let mut resp = error_partition(index, ErrorCode::NotLeaderOrFollower);
            if let Some(leader) = p.leader.filter(|&l| metadata.is_up(l)) {
                resp.current_leader = LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(leader))
                    .with_leader_epoch(p.leader_epoch);
            }
            return resp;
        }
        (
            p.log.clone(),
            p.leader_epoch,
            t.config.validation(&ctx.state.config().validation),
        )
    };
    let records = records.unwrap_or_default();
    let topic_partition = format!("{topic}-{index}");
    let validated = match validate_records(records, version, &validation, now, &topic_partition) {
        Ok(v) => v,
        Err(e) => return validation_failure(ctx, index, &log, e),
    };
    // The batch is appended from the request's own bytes; a copy is made only when the
    // validator rebuilt it, or when Kafka's LogValidator would correct a header max timestamp
    // that disagrees with the records (recomputing the CRC). LogAppendTime is stamped by the
    // log itself.
    let sent = &records[..validated.size];
    let batch: Cow<'_, [u8]> = match validated.rebuilt {
        Some(rebuilt) => Cow::Owned(rebuilt),
        None if validated.timestamp_type == TimestampType::CreateTime
            && RecordBatch::parse(sent).is_ok_and(|b| {
                b.max_timestamp() != validated.max_timestamp
                    || b.timestamp_type() != TimestampType::CreateTime
            }) =>
        {
            let mut copy = sent.to_vec();
            if let Ok(mut m) = RecordBatchMut::new(&mut copy) {
                m.set_max_timestamp(TimestampType::CreateTime, validated.max_timestamp);
            }
            Cow::Owned(copy)
        }
        None => Cow::Borrowed(sent),
    };
    let transactional = Batches::new(&batch)
        .next()
        .and_then(|b| b.ok())
        .filter(|b| b.is_transactional())
        .map(|b| (b.producer_id(), b.producer_epoch()));
    let appended = match (transactional, transactional_id) {
        (None, _) => Ok(lock_log(&log).append_as_leader(&batch, leader_epoch, now)),
        (Some(_), None) => Err(ErrorCode::TransactionalIdAuthorizationFailed),
        (Some(producer), Some(id)) => {
            ctx.state
                .transactions()
                .append_verified(id, producer, topic, index, || {
                    lock_log(&log).append_as_leader(&batch, leader_epoch, now)
                })
        }
    };
    let appended = match appended {
        Ok(appended) => appended,
        Err(code) => {
            tracing::debug!(topic, partition = index, %code, "transactional batch outside its transaction");
            return error_partition(index, code);
        }
    };
    let log = lock_log(&log);
    match appended {
        Ok(info) => {
            let log_start_offset = log.log_start_offset();
            drop(log);
            ctx.state.appended().notify_waiters();
            PartitionProduceResponse::default()
                .with_index(index)
                .with_base_offset(info.first_offset)
                .with_log_append_time_ms(info.log_append_time.unwrap_or(-1))
                .with_log_start_offset(log_start_offset)
        }
        Err(e) => {
            let code = e.error_code();
            tracing::debug!(topic, partition = index, %code, error = %e, "append failed");
            let mut resp = error_partition(index, code);
            if code != ErrorCode::RecordListTooLarge && code != ErrorCode::KafkaStorageError {
                resp.log_start_offset = log.log_start_offset();
            }
            resp
        }
    }
}

fn validation_failure(
    ctx: &HandlerContext<'_>,
    index: i32,
    log: &std::sync::Mutex<crate::storage::PartitionLog>,
    e: ValidationError,
) -> PartitionProduceResponse {
    tracing::debug!(connection = ctx.connection_id, partition = index, code = %e.code, reason = %e.reason, "produce rejected");
    let mut resp = error_partition(index, e.code);
    // Kafka reports the real log start offset only for failures of the log's own checks.
    if e.from_log_checks {
        resp.log_start_offset = lock_log(log).log_start_offset();
    }
    resp.error_message = e.message.as_deref().map(str_bytes);
    resp.record_errors = e
        .record_errors
        .into_iter()
        .map(|(batch_index, message)| {
            BatchIndexAndErrorMessage::default()
                .with_batch_index(batch_index)
                .with_batch_index_error_message(Some(str_bytes(&message)))
        })
        .collect();
    resp
}
