//! Inspection: what a partition holds, read straight from the broker's state and segment
//! files, synchronously, with no client in between.
//!
//! [`StoredRecord`] is one record as stored: its offset, timestamp and timestamp type, key,
//! value, headers in order (keys may repeat), and the batch fields that explain how it got
//! there (producer id/epoch and the record's sequence, the partition leader epoch stamped at
//! append, the codec). [`PartitionInfo`] is leadership plus offsets; [`ProducerInfo`] is the
//! idempotent-producer state the partition keeps.

use bytes::Bytes;
use kafkit_broker::cluster::lock_log;
use kafkit_broker::ClusterState;
use kafkit_protocol::record::view::increment_sequence;
use kafkit_protocol::record::TimestampType;
use kafkit_protocol::{Compression, RecordBatch};

use crate::{Error, Result};

/// Decompressed size allowed per stored batch when reading it back.
const MAX_DECOMPRESSED: usize = 256 << 20;

/// A record header, in the order the producer sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    /// Key (UTF-8 in Kafka; other bytes are replaced lossily).
    pub key: String,
    /// Value; `None` is null, distinct from empty.
    pub value: Option<Bytes>,
}

/// One record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Offset.
    pub offset: i64,
    /// Timestamp (the broker's append time under LogAppendTime).
    pub timestamp: i64,
    /// What the timestamp means.
    pub timestamp_type: TimestampType,
    /// Key; `None` is null.
    pub key: Option<Bytes>,
    /// Value; `None` is null.
    pub value: Option<Bytes>,
    /// Headers in order.
    pub headers: Vec<RecordHeader>,
    /// Producer id; `None` without idempotence.
    pub producer_id: Option<i64>,
    /// Producer epoch; `None` without idempotence.
    pub producer_epoch: Option<i16>,
    /// The record's sequence (batch base sequence + position); `None` without idempotence.
    pub sequence: Option<i32>,
    /// The leader epoch the broker stamped on the batch when appending it.
    pub partition_leader_epoch: i32,
    /// The batch's codec.
    pub compression: Compression,
    /// Base offset of the batch the record is in.
    pub batch_base_offset: i64,
    /// Whether the batch is transactional.
    pub is_transactional: bool,
    /// Whether this is a control record (a transaction marker: COMMIT or ABORT in its key).
    pub is_control: bool,
    /// For a record of a transaction, how the transaction ended, as the marker its producer
    /// wrote next in the partition says; `None` outside transactions (and for markers).
    pub transaction: Option<TxnOutcome>,
}

/// How the transaction of a stored record ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOutcome {
    /// A COMMIT marker followed: `read_committed` consumers see the record.
    Committed,
    /// An ABORT marker followed: no `read_committed` consumer sees it.
    Aborted,
    /// No marker yet: the transaction is open, and the record is at or past the last stable
    /// offset.
    Open,
}

impl StoredRecord {
    /// Whether a `read_committed` consumer gets this record: a data record outside any
    /// transaction or of a committed one.
    pub fn is_committed(&self) -> bool {
        !self.is_control && matches!(self.transaction, None | Some(TxnOutcome::Committed))
    }

    /// For a marker, `Some(true)` for COMMIT and `Some(false)` for ABORT.
    pub fn marker(&self) -> Option<bool> {
        if !self.is_control {
            return None;
        }
        self.key
            .as_deref()
            .and_then(kafkit_protocol::record::control_marker_kind)
    }

    /// The key as UTF-8, if it is some and valid.
    pub fn key_str(&self) -> Option<&str> {
        std::str::from_utf8(self.key.as_deref()?).ok()
    }

    /// The value as UTF-8, if it is some and valid.
    pub fn value_str(&self) -> Option<&str> {
        std::str::from_utf8(self.value.as_deref()?).ok()
    }
}

/// An offset a consumer group committed, with its lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The committed offset: the next record the group will read.
    pub offset: i64,
    /// The leader epoch committed with it (-1 if none).
    pub leader_epoch: i32,
    /// The metadata committed with it.
    pub metadata: String,
    /// How far the group is behind: the partition's high watermark minus `offset` (0 when
    /// caught up; `None` when the partition no longer exists).
    pub lag: Option<i64>,
}

/// Every offset `group` committed, with its lag.
pub(crate) fn committed_offsets(state: &ClusterState, group: &str) -> Vec<CommittedOffset> {
    state
        .groups()
        .committed_offsets(group)
        .into_iter()
        .map(|((topic, partition), value)| {
            // The log's lock is taken after the metadata lock is released.
            let log = state
                .metadata()
                .partition(&topic, partition)
                .map(|p| p.log.clone());
            let high_watermark = log.map(|log| kafkit_broker::cluster::lock_log(&log).high_watermark());
            CommittedOffset {
                lag: high_watermark.map(|hw| (hw - value.offset).max(0)),
                topic,
                partition,
                offset: value.offset,
                leader_epoch: value.leader_epoch,
                metadata: value.metadata,
            }
        })
        .collect()
}

/// Leadership and offsets of one partition, as [`MockCluster::partition_state`](crate::MockCluster::partition_state) reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Leader node; `None` while leaderless.
    pub leader: Option<i32>,
    /// Current leader epoch.
    pub leader_epoch: i32,
    /// Replica node ids (every node holds every partition).
    pub replicas: Vec<i32>,
    /// The replicas that are up (kafkit's replicas share one log, so these are the ISR).
    pub live_replicas: Vec<i32>,
    /// First offset still in the log.
    pub log_start_offset: i64,
    /// High watermark (equal to the log end offset: every append is fully replicated).
    pub high_watermark: i64,
    /// Next offset to be assigned.
    pub log_end_offset: i64,
    /// Last stable offset: where read_committed consumers stop (the first offset of the
    /// oldest open transaction, else the high watermark).
    pub last_stable_offset: i64,
}

/// One batch the partition remembers of a producer, for duplicate detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatchInfo {
    /// Sequence of the first record.
    pub first_sequence: i32,
    /// Sequence of the last record.
    pub last_sequence: i32,
    /// Offset of the first record.
    pub first_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
}

/// The idempotent-producer state of one producer on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerInfo {
    /// Producer id.
    pub producer_id: i64,
    /// Current epoch.
    pub producer_epoch: i16,
    /// Last sequence appended (`-1` if none).
    pub last_sequence: i32,
    /// Last offset appended (`-1` if none).
    pub last_offset: i64,
    /// Max timestamp of the last batch.
    pub last_timestamp: i64,
    /// The retained batches (at most 5), oldest first.
    pub batches: Vec<ProducerBatchInfo>,
}

fn unknown(topic: &str, partition: i32) -> Error {
    Error::UnknownTopicOrPartition {
        topic: topic.to_string(),
        partition,
    }
}

fn log_of(
    state: &ClusterState,
    topic: &str,
    partition: i32,
) -> Result<std::sync::Arc<std::sync::Mutex<kafkit_broker::storage::PartitionLog>>> {
    let metadata = state.metadata();
    let p = metadata
        .partition(topic, partition)
        .ok_or_else(|| unknown(topic, partition))?;
    Ok(p.log.clone())
}

/// Every record of `topic`/`partition` from the log start, in offset order.
pub(crate) fn records(state: &ClusterState, topic: &str, partition: i32) -> Result<Vec<StoredRecord>> {
    let log = log_of(state, topic, partition)?;
    let batches: Vec<Bytes> = {
        let log = lock_log(&log);
        log.batches_from(log.log_start_offset())
            .collect::<std::result::Result<_, _>>()?
    };
    let mut out = Vec::new();
    let mut scratch = Vec::new();
    for bytes in &batches {
        push_batch_records(bytes, &mut scratch, &mut out)?;
    }
    mark_transactions(&mut out);
    Ok(out)
}

/// Appends the records of `bytes`, exactly one v2 batch, to `out` as [`StoredRecord`]s
/// (control batches included; see [`RecordBatch::is_control`]). Keys, values and headers of
/// an uncompressed batch are slices of `bytes`; a compressed one is decompressed into
/// `scratch` and copied out.
pub(crate) fn push_batch_records(
    bytes: &Bytes,
    scratch: &mut Vec<u8>,
    out: &mut Vec<StoredRecord>,
) -> Result<()> {
    let batch = RecordBatch::parse(bytes)?;
    let compression = batch.compression().ok_or_else(|| {
        Error::Protocol(kafkit_protocol::Error::InvalidBatch {
            code: kafkit_protocol::ErrorCode::CorruptMessage,
            reason: "stored batch names an unknown codec".into(),
        })
    })?;
    let idempotent = batch.has_producer_id();
    for record in batch.records(scratch, MAX_DECOMPRESSED)? {
        let record = record?;
        let copy = |b: &[u8]| {
            // Compressed batches yield slices of `scratch`, not of `bytes`.
            if bytes.as_ptr_range().contains(&b.as_ptr()) {
                bytes.slice_ref(b)
            } else {
                Bytes::copy_from_slice(b)
            }
        };
        out.push(StoredRecord {
            offset: record.offset,
            timestamp: record.timestamp,
            timestamp_type: batch.timestamp_type(),
            key: record.key.map(copy),
            value: record.value.map(copy),
            headers: record
                .headers
                .clone()
                .map(|h| RecordHeader {
                    key: String::from_utf8_lossy(h.key).into_owned(),
                    value: h.value.map(copy),
                })
                .collect(),
            producer_id: idempotent.then(|| batch.producer_id()),
            producer_epoch: idempotent.then(|| batch.producer_epoch()),
            sequence: (idempotent && batch.base_sequence() >= 0)
                .then(|| increment_sequence(batch.base_sequence(), record.offset_delta)),
            partition_leader_epoch: batch.partition_leader_epoch(),
            compression,
            batch_base_offset: batch.base_offset(),
            is_transactional: batch.is_transactional(),
            is_control: batch.is_control(),
            transaction: None,
        });
    }
    Ok(())
}

/// Sets each transactional record's [`TxnOutcome`] from the markers of `records` (one
/// partition, in offset order): the first marker of the same producer after it decides.
pub(crate) fn mark_transactions(records: &mut [StoredRecord]) {
    let mut decided: std::collections::HashMap<i64, TxnOutcome> = std::collections::HashMap::new();
    for record in records.iter_mut().rev() {
        let Some(producer_id) = record.producer_id else {
            continue;
        };
        if let Some(commit) = record.marker() {
            let outcome = if commit {
                TxnOutcome::Committed
            } else {
                TxnOutcome::Aborted
            };
            decided.insert(producer_id, outcome);
        } else if record.is_transactional && !record.is_control {
            record.transaction = Some(decided.get(&producer_id).copied().unwrap_or(TxnOutcome::Open));
        }
    }
}

/// Leadership and offsets of `topic`/`partition`.
pub(crate) fn partition_state(state: &ClusterState, topic: &str, partition: i32) -> Result<PartitionInfo> {
    let (leader, leader_epoch, replicas, live_replicas, log) = {
        let metadata = state.metadata();
        let p = metadata
            .partition(topic, partition)
            .ok_or_else(|| unknown(topic, partition))?;
        let live = p
            .replicas
            .iter()
            .copied()
            .filter(|&r| metadata.is_up(r))
            .collect();
        (p.leader, p.leader_epoch, p.replicas.clone(), live, p.log.clone())
    };
    let log = lock_log(&log);
    Ok(PartitionInfo {
        topic: topic.to_string(),
        partition,
        leader,
        leader_epoch,
        replicas,
        live_replicas,
        log_start_offset: log.log_start_offset(),
        high_watermark: log.high_watermark(),
        last_stable_offset: log.last_stable_offset(),
        log_end_offset: log.log_end_offset(),
    })
}

/// The producers `topic`/`partition` remembers, by producer id.
pub(crate) fn producer_state(state: &ClusterState, topic: &str, partition: i32) -> Result<Vec<ProducerInfo>> {
    let log = log_of(state, topic, partition)?;
    let snapshot = lock_log(&log).producer_state_snapshot();
    Ok(snapshot
        .into_iter()
        .map(|p| ProducerInfo {
            producer_id: p.producer_id,
            producer_epoch: p.producer_epoch,
            last_sequence: p.last_seq(),
            last_offset: p.last_data_offset(),
            last_timestamp: p.last_timestamp,
            batches: p
                .batch_metadata
                .iter()
                .map(|b| ProducerBatchInfo {
                    first_sequence: b.first_seq(),
                    last_sequence: b.last_seq,
                    first_offset: b.first_offset(),
                    last_offset: b.last_offset,
                })
                .collect(),
        })
        .collect())
}
