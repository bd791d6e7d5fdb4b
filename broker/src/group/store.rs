//! `__consumer_offsets`: which partition keeps a group, appending the coordinator's records to
//! it, and reading them back at startup.

use bytes::Bytes;
use kafkit_protocol::record::{RecordBatch, RecordBatchBuilder};
use kafkit_protocol::Compression;
use kafkit_protocol::ErrorCode;

use super::records::OffsetsKey;
use crate::cluster::{lock_log, ClusterState};
use crate::config::TopicConfig;
use crate::Result;

/// The topic groups and their offsets are kept in.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Java's `String.hashCode` (over UTF-16 code units), which Kafka places groups by.
pub(crate) fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(i32::from(unit)))
}

/// The partition of `__consumer_offsets` that keeps `group`: Kafka's
/// `Utils.abs(group.hashCode()) % partitions` (where `abs(i32::MIN)` is 0).
pub(crate) fn partition_for(group: &str, partitions: i32) -> i32 {
    let hash = java_string_hash(group);
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

/// The partition count of `__consumer_offsets`, creating the topic first if it does not exist
/// (Kafka does so at the first FindCoordinator for a group). Fails with
/// COORDINATOR_NOT_AVAILABLE if it cannot be created.
pub(crate) fn ensure_topic(state: &ClusterState) -> std::result::Result<i32, ErrorCode> {
    ensure_internal_topic(
        state,
        OFFSETS_TOPIC,
        state.config().groups.offsets_topic_partitions,
    )
}

/// The partition count of internal topic `name` (compacted), creating it with `partitions`
/// partitions first if it does not exist. Fails with COORDINATOR_NOT_AVAILABLE if it cannot be
/// created.
pub(crate) fn ensure_internal_topic(
    state: &ClusterState,
    name: &str,
    partitions: i32,
) -> std::result::Result<i32, ErrorCode> {
    if let Some(t) = state.metadata().topics.get(name) {
        return Ok(t.partitions.len() as i32);
    }
    let config = TopicConfig {
        compacted: true,
        ..TopicConfig::default()
    };
    match state.create_topic(name, partitions, config) {
        Ok(_) => Ok(partitions),
        Err((ErrorCode::TopicAlreadyExists, _)) => state
            .metadata()
            .topics
            .get(name)
            .map(|t| t.partitions.len() as i32)
            .ok_or(ErrorCode::CoordinatorNotAvailable),
        Err((code, message)) => {
            tracing::error!(%code, %message, "could not create {name}");
            Err(ErrorCode::CoordinatorNotAvailable)
        }
    }
}

/// The partition count of `__consumer_offsets`, if it exists.
pub(crate) fn partition_count(state: &ClusterState) -> Option<i32> {
    state
        .metadata()
        .topics
        .get(OFFSETS_TOPIC)
        .map(|t| t.partitions.len() as i32)
}

/// Appends `records` (key, value; a `None` value is a tombstone) to `partition` as one batch, in
/// the partition's current leader epoch.
///
/// Errors (Kafka's mapping for coordinator writes): a batch over the size limits is
/// INVALID_COMMIT_OFFSET_SIZE; a missing partition or a storage failure is NOT_COORDINATOR,
/// which sends clients to look the coordinator up again.
pub(crate) fn append(
    state: &ClusterState,
    partition: i32,
    records: &[(Bytes, Option<Bytes>)],
) -> std::result::Result<(), ErrorCode> {
    append_to(state, OFFSETS_TOPIC, partition, records)
}

/// [`append`] to coordinator topic `topic` (`__consumer_offsets` or `__transaction_state`).
pub(crate) fn append_to(
    state: &ClusterState,
    topic: &str,
    partition: i32,
    records: &[(Bytes, Option<Bytes>)],
) -> std::result::Result<(), ErrorCode> {
    append_batch(state, topic, partition, records, None)
}

/// [`append`] as a transactional batch of `producer` (id, epoch), without a sequence: the
/// offsets of a TxnOffsetCommit, which the transaction's COMMIT or ABORT marker in the same
/// partition settles (Kafka writes them so).
pub(crate) fn append_transactional(
    state: &ClusterState,
    partition: i32,
    records: &[(Bytes, Option<Bytes>)],
    producer: (i64, i16),
) -> std::result::Result<(), ErrorCode> {
    append_batch(state, OFFSETS_TOPIC, partition, records, Some(producer))
}

fn append_batch(
    state: &ClusterState,
    topic: &str,
    partition: i32,
    records: &[(Bytes, Option<Bytes>)],
    producer: Option<(i64, i16)>,
) -> std::result::Result<(), ErrorCode> {
    if records.is_empty() {
        return Ok(());
    }
    let (log, leader_epoch) = {
        let metadata = state.metadata();
        let p = metadata
            .partition(topic, partition)
            .ok_or(ErrorCode::NotCoordinator)?;
        (p.log.clone(), p.leader_epoch)
    };
    let now = super::now_ms();
    let mut builder = RecordBatchBuilder::new(Compression::None);
    for (key, value) in records {
        builder.append(now, Some(key), value.as_deref(), &[]);
    }
    if let Some((producer_id, epoch)) = producer {
        builder.set_producer_state(producer_id, epoch, -1);
        builder.set_transactional(true);
    }
    let batch = match builder.build() {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!(topic, error = %e, "could not build a coordinator batch");
            return Err(ErrorCode::UnknownServerError);
        }
    };
    if batch.len() > state.config().validation.max_message_bytes {
        return Err(ErrorCode::InvalidCommitOffsetSize);
    }
    let result = match producer {
        Some(_) => lock_log(&log).append_as_coordinator(batch, leader_epoch, now),
        None => lock_log(&log).append_as_leader(batch, leader_epoch, now),
    };
    match result {
        Ok(_) => {
            state.appended().notify_waiters();
            Ok(())
        }
        Err(e) => {
            tracing::error!(topic, partition, error = %e, "could not append to a coordinator topic");
            Err(match e.error_code() {
                ErrorCode::RecordListTooLarge => ErrorCode::InvalidCommitOffsetSize,
                _ => ErrorCode::NotCoordinator,
            })
        }
    }
}

/// One record read back from `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredRecord {
    /// The partition it was read from.
    pub partition: i32,
    /// Its key.
    pub key: OffsetsKey,
    /// Its value; `None` is a tombstone.
    pub value: Option<Bytes>,
}

/// What `__consumer_offsets` holds, in order: records, and the transaction markers that settle
/// the transactional ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LogEntry {
    /// A record; `transaction`: the producer id of the transaction it belongs to, if any.
    Record {
        record: StoredRecord,
        transaction: Option<i64>,
    },
    /// A COMMIT (`commit`) or ABORT marker of `producer_id`'s transaction, in `partition`.
    Marker {
        partition: i32,
        producer_id: i64,
        commit: bool,
    },
}

/// Every record and marker of `__consumer_offsets`, partition by partition, in offset order.
/// Records whose key is not one of the coordinator's schemas are skipped with a warning (Kafka
/// skips unknown key versions too).
pub(crate) fn read_all(state: &ClusterState) -> Result<Vec<LogEntry>> {
    let mut out = Vec::new();
    for entry in read_entries(state, OFFSETS_TOPIC)? {
        match entry {
            RawEntry::Marker {
                partition,
                producer_id,
                commit,
            } => out.push(LogEntry::Marker {
                partition,
                producer_id,
                commit,
            }),
            RawEntry::Record {
                record: (partition, offset, key, value),
                transaction,
            } => {
                let Some(key) = key.as_deref().and_then(OffsetsKey::decode) else {
                    tracing::warn!(partition, offset, "skipping a record with an unknown key");
                    continue;
                };
                out.push(LogEntry::Record {
                    record: StoredRecord {
                        partition,
                        key,
                        value,
                    },
                    transaction,
                });
            }
        }
    }
    Ok(out)
}

/// A record or marker of a coordinator topic.
enum RawEntry {
    Record {
        record: RawRecord,
        transaction: Option<i64>,
    },
    Marker {
        partition: i32,
        producer_id: i64,
        commit: bool,
    },
}

/// A record of a coordinator topic: partition, offset, key, value.
pub(crate) type RawRecord = (i32, i64, Option<Bytes>, Option<Bytes>);

/// Every data record of coordinator topic `topic` (control batches skipped), partition by
/// partition, in offset order.
pub(crate) fn read_topic(state: &ClusterState, topic: &str) -> Result<Vec<RawRecord>> {
    Ok(read_entries(state, topic)?
        .into_iter()
        .filter_map(|e| match e {
            RawEntry::Record { record, .. } => Some(record),
            RawEntry::Marker { .. } => None,
        })
        .collect())
}

fn read_entries(state: &ClusterState, topic: &str) -> Result<Vec<RawEntry>> {
    let logs: Vec<_> = match state.metadata().topics.get(topic) {
        Some(t) => t.partitions.iter().map(|p| (p.index, p.log.clone())).collect(),
        None => return Ok(Vec::new()),
    };
    let max_decompressed = state.config().validation.max_decompressed_bytes;
    let mut out = Vec::new();
    let mut scratch = Vec::new();
    for (partition, log) in logs {
        let log = lock_log(&log);
        for batch in log.batches_from(log.log_start_offset()) {
            let bytes = batch?;
            let view = RecordBatch::parse(&bytes)?;
            let transaction = view.is_transactional().then(|| view.producer_id());
            for record in view.records(&mut scratch, max_decompressed)? {
                let record = record?;
                if view.is_control() {
                    if let Some(commit) = record.key.and_then(kafkit_protocol::record::control_marker_kind) {
                        out.push(RawEntry::Marker {
                            partition,
                            producer_id: view.producer_id(),
                            commit,
                        });
                    }
                    continue;
                }
                out.push(RawEntry::Record {
                    record: (
                        partition,
                        record.offset,
                        record.key.map(Bytes::copy_from_slice),
                        record.value.map(Bytes::copy_from_slice),
                    ),
                    transaction,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_placed_as_kafka_places_them() {
        // Known Java hash codes.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        // Wraps as Java's int arithmetic does.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        assert_eq!(partition_for("hello", 50), 99_162_322 % 50);
        // Negative hashes are made positive before the modulo.
        let negative = "Aa-negative-probe-zzzzzzzz";
        let h = java_string_hash(negative);
        assert_eq!(partition_for(negative, 7), h.checked_abs().unwrap_or(0) % 7);
        // Outside the BMP: UTF-16 surrogate pairs count as two units, as in Java.
        assert_eq!(java_string_hash("😀"), 0xD83D * 31 + 0xDE00);
    }
}
