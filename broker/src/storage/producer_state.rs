//! [`ProducerStateManager`]: the idempotent-producer state of one partition (Kafka's
//! `ProducerStateManager`, `ProducerStateEntry`, `BatchMetadata` and the checks of
//! `ProducerAppendInfo`).
//!
//! Per producer id the partition keeps the producer epoch and the metadata of the last five
//! batches it appended. A leader append is checked against it before anything is written:
//!
//! 1. **duplicate**: same epoch, and one of the retained batches has exactly the incoming
//!    sequence range: answered with that batch's offsets, nothing written;
//! 2. epoch older than the stored one: `INVALID_PRODUCER_EPOCH`;
//! 3. new epoch: must start at sequence 0, unless the producer is unknown;
//! 4. same epoch: the base sequence must follow the last one (`i32::MAX` wraps to 0), unless
//!    the producer is unknown (no stored epoch), in which case any sequence is accepted.
//!
//! Transactions: a producer's first transactional batch opens its transaction on the
//! partition (its offset is the partition's first unstable offset until it ends); a control
//! batch (a COMMIT or ABORT marker) ends it, and an aborted transaction is remembered with its
//! offset range for read_committed fetches (Kafka's `ProducerStateManager.ongoingTxns` and the
//! aborted-transaction index). Markers are never checked as client batches are: the
//! coordinator writes them.

use std::collections::{BTreeMap, VecDeque};

use kafkit_protocol::record::control_marker_kind;

use kafkit_protocol::record::NO_PRODUCER_EPOCH;
use kafkit_protocol::RecordBatch;

use crate::error::{Error, Result};

/// Batches retained per producer for duplicate detection (Kafka's `NUM_BATCHES_TO_RETAIN`,
/// matching the producer's `max.in.flight.requests.per.connection` limit of 5).
pub const NUM_BATCHES_TO_RETAIN: usize = 5;

/// What the partition remembers of one appended batch (Kafka's `BatchMetadata`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchMetadata {
    /// Sequence of the batch's last record.
    pub last_seq: i32,
    /// Offset of the batch's last record.
    pub last_offset: i64,
    /// `last_offset - first_offset`.
    pub offset_delta: i32,
    /// The batch's max timestamp (what a duplicate is answered with as log append time).
    pub timestamp: i64,
}

impl BatchMetadata {
    /// Sequence of the first record (wrapping below 0 to `i32::MAX`).
    pub fn first_seq(&self) -> i32 {
        decrement_sequence(self.last_seq, self.offset_delta)
    }

    /// Offset of the first record.
    pub fn first_offset(&self) -> i64 {
        self.last_offset - i64::from(self.offset_delta)
    }
}

/// The state of one producer on this partition (Kafka's `ProducerStateEntry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerStateEntry {
    /// Producer id.
    pub producer_id: i64,
    /// Current epoch.
    pub producer_epoch: i16,
    /// The last appended batches, oldest first, at most [`NUM_BATCHES_TO_RETAIN`].
    pub batch_metadata: VecDeque<BatchMetadata>,
    /// Max timestamp of the last batch: the clock producer expiry is measured with.
    pub last_timestamp: i64,
}

impl ProducerStateEntry {
    /// Last sequence appended, `-1` if none.
    pub fn last_seq(&self) -> i32 {
        self.batch_metadata.back().map_or(-1, |b| b.last_seq)
    }

    /// Last offset appended, `-1` if none.
    pub fn last_data_offset(&self) -> i64 {
        self.batch_metadata.back().map_or(-1, |b| b.last_offset)
    }

    fn find_duplicate_batch(&self, batch: &RecordBatch<'_>) -> Option<BatchMetadata> {
        if batch.producer_epoch() != self.producer_epoch {
            return None;
        }
        let (first, last) = (batch.base_sequence(), batch.last_sequence());
        self.batch_metadata
            .iter()
            .find(|m| m.first_seq() == first && m.last_seq == last)
            .copied()
    }
}

/// A transaction that ended with an ABORT marker (Kafka's `AbortedTxn`), as Fetch's
/// `aborted_transactions` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer.
    pub producer_id: i64,
    /// Offset of its first batch in the transaction.
    pub first_offset: i64,
    /// Offset of the ABORT marker.
    pub last_offset: i64,
    /// The partition's last stable offset once this transaction ended (the oldest open
    /// transaction's first offset, else the offset after the marker), as Kafka's
    /// `.txnindex` entries record it.
    pub last_stable_offset: i64,
}

/// Idempotent-producer state of one partition.
#[derive(Debug)]
pub struct ProducerStateManager {
    topic: String,
    partition: i32,
    /// Ordered by producer id, so snapshots are deterministic.
    producers: BTreeMap<i64, ProducerStateEntry>,
    /// Open transactions: producer id to the offset of its first batch in them.
    ongoing: BTreeMap<i64, i64>,
    /// Aborted transactions, in marker order.
    aborted: Vec<AbortedTxn>,
}

impl ProducerStateManager {
    /// Empty state for a partition.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        ProducerStateManager {
            topic: topic.into(),
            partition,
            producers: BTreeMap::new(),
            ongoing: BTreeMap::new(),
            aborted: Vec::new(),
        }
    }

    /// The first offset of the oldest open transaction, if any: the last stable offset when
    /// it is below the high watermark.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.values().min().copied()
    }

    /// Whether producer `producer_id` has an open transaction here.
    pub fn in_transaction(&self, producer_id: i64) -> bool {
        self.ongoing.contains_key(&producer_id)
    }

    /// Every aborted transaction, in marker order.
    pub fn aborted(&self) -> &[AbortedTxn] {
        &self.aborted
    }

    /// The aborted transactions that overlap `[from, to)` (Kafka's
    /// `collectAbortedTransactions`), for a read_committed fetch.
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        self.aborted
            .iter()
            .filter(|a| a.last_offset >= from && a.first_offset < to)
            .copied()
            .collect()
    }

    /// The entry of a producer.
    pub fn entry(&self, producer_id: i64) -> Option<&ProducerStateEntry> {
        self.producers.get(&producer_id)
    }

    /// A copy of every entry, by producer id: what the test kit shows.
    pub fn snapshot(&self) -> Vec<ProducerStateEntry> {
        self.producers.values().cloned().collect()
    }

    /// Number of producers tracked.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// Whether no producer is tracked.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// The checks of a leader (client-origin) append of `batch` at `base_offset` (the batch as
    /// sent, its header not stamped yet): `Ok(Some(original))` for a duplicate of a retained
    /// batch, `Ok(None)` to append, or `INVALID_PRODUCER_EPOCH` /
    /// `OUT_OF_ORDER_SEQUENCE_NUMBER`. Batches without a producer id pass.
    pub fn check_leader_append(
        &self,
        batch: &RecordBatch<'_>,
        base_offset: i64,
    ) -> Result<Option<BatchMetadata>> {
        if !batch.has_producer_id() {
            return Ok(None);
        }
        let producer_id = batch.producer_id();
        let entry = self.producers.get(&producer_id);
        if let Some(duplicate) = entry.and_then(|e| e.find_duplicate_batch(batch)) {
            return Ok(Some(duplicate));
        }
        let epoch = batch.producer_epoch();
        let current_epoch = entry.map_or(NO_PRODUCER_EPOCH, |e| e.producer_epoch);
        let last_seq = entry.map_or(-1, ProducerStateEntry::last_seq);
        if epoch < current_epoch {
            return Err(Error::InvalidProducerEpoch {
                topic: self.topic.clone(),
                partition: self.partition,
                producer_id,
                epoch,
                current_epoch,
                offset: base_offset,
            });
        }
        let base_sequence = batch.base_sequence();
        let in_order = if epoch != current_epoch {
            // A new epoch starts over at 0; a producer seen for the first time may start anywhere.
            base_sequence == 0 || current_epoch == NO_PRODUCER_EPOCH
        } else {
            current_epoch == NO_PRODUCER_EPOCH || in_sequence(last_seq, base_sequence)
        };
        if !in_order {
            return Err(Error::OutOfOrderSequence {
                topic: self.topic.clone(),
                partition: self.partition,
                producer_id,
                epoch,
                base_sequence,
                last_sequence: last_seq,
                offset: base_offset,
            });
        }
        Ok(None)
    }

    /// Records an appended (or, during recovery, replayed) batch: a changed epoch clears the
    /// retained batches, then the batch is added and the oldest beyond five dropped. No checks:
    /// this is also Kafka's replication/recovery path. `batch` is a stored (stamped) batch.
    pub fn update(&mut self, batch: &RecordBatch<'_>) {
        self.update_appended(batch, batch.base_offset(), batch.max_timestamp());
    }

    /// [`update`](Self::update) for a batch appended at `base_offset` with `max_timestamp`
    /// (what the log stamped in the header it wrote; `batch` is the batch as sent).
    pub fn update_appended(&mut self, batch: &RecordBatch<'_>, base_offset: i64, max_timestamp: i64) {
        if !batch.has_producer_id() {
            return;
        }
        let producer_id = batch.producer_id();
        if batch.is_control() {
            self.end_transaction(batch, base_offset);
            return;
        }
        if batch.is_transactional() {
            self.ongoing.entry(producer_id).or_insert(base_offset);
        }
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerStateEntry {
                producer_id,
                producer_epoch: batch.producer_epoch(),
                batch_metadata: VecDeque::with_capacity(NUM_BATCHES_TO_RETAIN),
                last_timestamp: max_timestamp,
            });
        if entry.producer_epoch != batch.producer_epoch() {
            entry.producer_epoch = batch.producer_epoch();
            entry.batch_metadata.clear();
        }
        if entry.batch_metadata.len() == NUM_BATCHES_TO_RETAIN {
            entry.batch_metadata.pop_front();
        }
        entry.batch_metadata.push_back(BatchMetadata {
            last_seq: batch.last_sequence(),
            last_offset: base_offset + i64::from(batch.last_offset_delta()),
            offset_delta: batch.last_offset_delta(),
            timestamp: max_timestamp,
        });
        entry.last_timestamp = max_timestamp;
    }

    /// Forgets producers whose last batch timestamp is `expiration_ms` or more before `now_ms`
    /// (Kafka's `producer.id.expiration.ms`, default 1 day); afterwards such a producer is
    /// unknown and any sequence is accepted from it. Returns how many were removed.
    pub fn remove_expired_producers(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        let ongoing = &self.ongoing;
        self.producers.retain(|id, e| {
            ongoing.contains_key(id) || now_ms.saturating_sub(e.last_timestamp) < expiration_ms
        });
        before - self.producers.len()
    }

    /// A marker: the producer's transaction on this partition ends (an abort is remembered);
    /// its epoch moves to the marker's.
    fn end_transaction(&mut self, batch: &RecordBatch<'_>, base_offset: i64) {
        let producer_id = batch.producer_id();
        let mut scratch = Vec::new();
        let commit = batch
            .records(&mut scratch, usize::MAX)
            .ok()
            .and_then(|mut records| records.next())
            .and_then(|r| r.ok())
            .and_then(|r| r.key.and_then(control_marker_kind));
        let first = self.ongoing.remove(&producer_id);
        if commit == Some(false) {
            if let Some(first_offset) = first {
                let last_stable_offset = self.first_unstable_offset().unwrap_or(base_offset + 1);
                self.aborted.push(AbortedTxn {
                    producer_id,
                    first_offset,
                    last_offset: base_offset,
                    last_stable_offset,
                });
            }
        }
        if let Some(entry) = self.producers.get_mut(&producer_id) {
            if entry.producer_epoch != batch.producer_epoch() {
                entry.producer_epoch = batch.producer_epoch();
                entry.batch_metadata.clear();
            }
        }
    }

    /// Drops all state (before a rebuild).
    pub(crate) fn clear(&mut self) {
        self.producers.clear();
        self.ongoing.clear();
        self.aborted.clear();
    }
}

/// Kafka's `inSequence`: `next` follows `last`, including the wrap from `i32::MAX` to 0.
fn in_sequence(last: i32, next: i32) -> bool {
    i64::from(next) == i64::from(last) + 1 || (next == 0 && last == i32::MAX)
}

/// Kafka's `decrementSequence`: `sequence - decrement`, wrapping below 0 to `i32::MAX`.
fn decrement_sequence(sequence: i32, decrement: i32) -> i32 {
    if sequence < decrement {
        i32::MAX - (decrement - sequence) + 1
    } else {
        sequence - decrement
    }
}

#[cfg(test)]
mod tests {
    use kafkit_protocol::record::{RecordBatchBuilder, RecordBatchMut};
    use kafkit_protocol::{Compression, ErrorCode};
    use rstest::rstest;

    use super::*;

    fn batch(pid: i64, epoch: i16, seq: i32, records: i32, base_offset: i64) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new(Compression::None);
        for i in 0..records {
            b.append(1_000 + i64::from(i), None, Some(b"v"), &[]);
        }
        b.set_producer_state(pid, epoch, seq);
        let mut bytes = b.into_vec().expect("build");
        RecordBatchMut::new(&mut bytes)
            .expect("batch")
            .set_base_offset(base_offset);
        bytes
    }

    fn check(m: &ProducerStateManager, bytes: &[u8]) -> Result<Option<BatchMetadata>> {
        let b = RecordBatch::parse(bytes).expect("parse");
        m.check_leader_append(&b, b.base_offset())
    }

    fn append(m: &mut ProducerStateManager, bytes: &[u8]) {
        let b = RecordBatch::parse(bytes).expect("parse");
        assert_eq!(
            m.check_leader_append(&b, b.base_offset()).expect("accepted"),
            None
        );
        m.update(&b);
    }

    #[test]
    fn sequence_wraps_both_ways() {
        assert!(in_sequence(i32::MAX, 0));
        assert!(in_sequence(-1, 0));
        assert!(!in_sequence(i32::MAX, i32::MIN));
        assert_eq!(decrement_sequence(2, 5), i32::MAX - 2);
        let meta = BatchMetadata {
            last_seq: 1,
            last_offset: 10,
            offset_delta: 3,
            timestamp: 0,
        };
        assert_eq!((meta.first_seq(), meta.first_offset()), (i32::MAX - 1, 7));
    }

    #[test]
    fn sequence_wrap_at_int_max_is_in_order() {
        let mut m = ProducerStateManager::new("t", 0);
        append(&mut m, &batch(1, 0, i32::MAX - 1, 2, 0));
        assert_eq!(m.entry(1).expect("entry").last_seq(), i32::MAX);
        append(&mut m, &batch(1, 0, 0, 1, 2));
        // A batch whose range wraps: seq MAX-1.. over 3 records ends at 0.
        let mut m = ProducerStateManager::new("t", 0);
        append(&mut m, &batch(2, 0, i32::MAX - 1, 3, 0));
        assert_eq!(m.entry(2).expect("entry").last_seq(), 0);
        assert_eq!(
            check(&m, &batch(2, 0, i32::MAX - 1, 3, 9)).expect("dup"),
            m.entry(2).expect("e").batch_metadata.back().copied()
        );
    }

    #[rstest]
    #[case::gap(0, 7, Some(ErrorCode::OutOfOrderSequenceNumber))]
    #[case::repeat_last_but_different_range(0, 4, Some(ErrorCode::OutOfOrderSequenceNumber))]
    #[case::next(0, 6, None)]
    #[case::older_epoch(-1, 6, Some(ErrorCode::InvalidProducerEpoch))]
    #[case::new_epoch_not_zero(1, 6, Some(ErrorCode::OutOfOrderSequenceNumber))]
    #[case::new_epoch_zero(1, 0, None)]
    fn checks_for_a_known_producer(
        #[case] epoch_delta: i16,
        #[case] seq: i32,
        #[case] expected: Option<ErrorCode>,
    ) {
        let mut m = ProducerStateManager::new("t", 0);
        append(&mut m, &batch(7, 5, 0, 3, 0)); // seqs 0..=2
        append(&mut m, &batch(7, 5, 3, 3, 3)); // seqs 3..=5
        let result = check(&m, &batch(7, 5 + epoch_delta, seq, 1, 6));
        assert_eq!(
            result.as_ref().err().map(Error::error_code),
            expected,
            "{result:?}"
        );
    }

    #[test]
    fn unknown_producer_accepts_any_sequence_and_expiry_forgets() {
        let mut m = ProducerStateManager::new("t", 0);
        append(&mut m, &batch(9, 3, 1234, 1, 0));
        assert!(check(&m, &batch(9, 3, 1236, 1, 1)).is_err());
        assert_eq!(m.remove_expired_producers(1_000 + 86_400_000, 86_400_000), 1);
        assert!(m.is_empty());
        append(&mut m, &batch(9, 3, 1236, 1, 1));
    }
}
