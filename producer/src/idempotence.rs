//! The idempotent producer's bookkeeping (KIP-98, KIP-360): producer id and epoch, and per
//! partition the sequence numbers handed out and acknowledged.
//!
//! A plain state machine, driven by the sender and tested without I/O. The rules are Java's
//! (`TransactionManager`, idempotent part; producer-reference §1.6):
//!
//! - sequences are assigned when a batch is drained, never earlier, and a batch keeps its
//!   sequence across retries; up to five batches per partition may be in flight;
//! - a retried batch is sent only when it is the partition's first unacknowledged batch, and
//!   no new batch is drained behind a retry, so the broker sees sequences in order;
//! - OUT_OF_ORDER_SEQUENCE_NUMBER on a batch that is not the next expected one is retried as is
//!   (an earlier batch failed and will be retried first); on the next expected batch it means a
//!   real gap, and the partition's sequences are reset under a bumped epoch;
//! - UNKNOWN_PRODUCER_ID (the broker lost the producer's state, e.g. retention removed it) is
//!   retried, with an epoch bump unless the response has no log start offset or the batch was
//!   already re-sequenced;
//! - a batch that the broker refused for good leaves a hole: the epoch is bumped for its
//!   partition. One whose fate is unknown (it expired in flight, or its last attempt got no
//!   answer: retries used up, or delivery.timeout.ms passed) makes the partition
//!   "unresolved": no new batch is drained until the batches in flight come back; if they close
//!   the gap (the batch did land), nothing changes, else the epoch is bumped. Bumping at once
//!   would re-send its siblings under the new epoch from sequence 0, and a sibling that had
//!   landed too would be stored twice (Java's `adjustSequenceNumbers = attempts < retries`
//!   keeps it from bumping here as well).
//!
//! An epoch bump increments the producer epoch locally (no request; brokers accept epoch + 1
//! with sequence 0) and re-sequences, from 0, the affected partition's batches still waiting
//! to be retried. kafkit applies it only once no request for that partition is on the wire, so
//! a response to the old numbering never meets the new one. Other partitions move to the new
//! epoch (at sequence 0) the next time they have nothing in flight. At epoch `i16::MAX` the
//! producer asks for a new producer id instead.

use std::collections::{HashMap, VecDeque};

use kafkit_protocol::record::view::increment_sequence;
use kafkit_protocol::ErrorCode;

use crate::accumulator::batch::{ProducerBatch, ProducerState};
use crate::accumulator::{DrainPolicy, TopicPartition};

/// One partition's sequence state.
#[derive(Debug, Clone)]
struct PartitionState {
    /// The producer id and epoch this partition's sequences belong to.
    producer_id: i64,
    epoch: i16,
    /// The sequence the next new batch gets.
    next_sequence: i32,
    /// Last sequence the broker acknowledged, -1 if none under this epoch.
    last_acked_sequence: i32,
    /// Offset of the last acknowledged record, -1 if unknown.
    last_acked_offset: i64,
    /// Batches with a sequence and no final outcome: (base sequence, record count), in
    /// sequence order. Includes batches queued for a retry.
    in_flight: VecDeque<(i32, i32)>,
    /// Requests on the wire carrying a batch of this partition.
    awaiting: usize,
    /// An expired batch's last sequence, while it is unknown whether it landed.
    unresolved: Option<i32>,
    /// A real gap: re-sequence under a new epoch once nothing is on the wire.
    bump_requested: bool,
}

impl PartitionState {
    fn new(producer_id: i64, epoch: i16) -> Self {
        PartitionState {
            producer_id,
            epoch,
            next_sequence: 0,
            last_acked_sequence: -1,
            last_acked_offset: -1,
            in_flight: VecDeque::new(),
            awaiting: 0,
            unresolved: None,
            bump_requested: false,
        }
    }

    fn is_next_sequence(&self, sequence: i32) -> bool {
        increment_sequence(self.last_acked_sequence, 1) == sequence
            || (self.last_acked_sequence == -1 && sequence == 0)
    }

    fn remove(&mut self, base_sequence: i32) {
        if let Some(i) = self.in_flight.iter().position(|(s, _)| *s == base_sequence) {
            self.in_flight.remove(i);
        }
    }
}

/// The idempotent producer's state.
#[derive(Debug, Default)]
pub(crate) struct IdempotenceManager {
    /// Producer id and current epoch, once InitProducerId answered.
    producer: Option<(i64, i16)>,
    /// Batches are stamped transactional (the producer has a `transactional.id`).
    pub transactional: bool,
    partitions: HashMap<TopicPartition, PartitionState>,
}

impl IdempotenceManager {
    /// The producer id and epoch, if known.
    pub(crate) fn producer(&self) -> Option<(i64, i16)> {
        self.producer
    }

    /// Installs the producer id and epoch from InitProducerId; every partition starts over.
    /// Returns the partitions whose queued batches need new sequences (all that had some).
    pub(crate) fn set_producer(&mut self, producer_id: i64, epoch: i16) -> Vec<TopicPartition> {
        self.producer = Some((producer_id, epoch));
        let had_batches = self
            .partitions
            .iter()
            .filter(|(_, p)| !p.in_flight.is_empty())
            .map(|(tp, _)| tp.clone());
        let had_batches: Vec<_> = had_batches.collect();
        self.partitions.clear();
        had_batches
    }

    fn matches(state: &PartitionState, s: &ProducerState) -> bool {
        state.producer_id == s.producer_id && state.epoch == s.epoch
    }

    fn tp(batch: &ProducerBatch) -> TopicPartition {
        (batch.topic().clone(), batch.partition())
    }

    fn entry(&mut self, batch: &ProducerBatch) -> Option<&mut PartitionState> {
        self.partitions
            .get_mut(&(batch.topic().clone(), batch.partition()))
    }

    /// A request carrying a batch of `tp` was handed to a connection.
    pub(crate) fn on_sent(&mut self, tp: &TopicPartition) {
        if let Some(p) = self.partitions.get_mut(tp) {
            p.awaiting += 1;
        }
    }

    /// The request carrying a batch of `tp` was answered or lost (or the batch expired in
    /// flight); call before the outcome handlers.
    pub(crate) fn on_request_done(&mut self, tp: &TopicPartition) {
        if let Some(p) = self.partitions.get_mut(tp) {
            p.awaiting = p.awaiting.saturating_sub(1);
        }
    }

    /// A batch of `tp` numbered `state` was split into pieces of the given record counts,
    /// which keep its sequence range in order.
    pub(crate) fn on_split(&mut self, tp: &TopicPartition, state: Option<ProducerState>, counts: &[i32]) {
        let Some(state) = state else { return };
        let Some(p) = self.partitions.get_mut(tp) else {
            return;
        };
        let Some(at) = p.in_flight.iter().position(|(s, _)| *s == state.base_sequence) else {
            return;
        };
        p.in_flight.remove(at);
        let mut sequence = state.base_sequence;
        for (i, &n) in counts.iter().enumerate() {
            p.in_flight.insert(at + i, (sequence, n));
            sequence = increment_sequence(sequence, n);
        }
    }

    /// The broker acknowledged `batch` at `base_offset` (-1 if unknown).
    pub(crate) fn on_success(&mut self, batch: &ProducerBatch, base_offset: i64) {
        let Some(state) = batch.producer_state else { return };
        let Some(p) = self.entry(batch) else { return };
        if !Self::matches(p, &state) {
            return;
        }
        p.remove(state.base_sequence);
        let last = increment_sequence(state.base_sequence, batch.record_count - 1);
        if p.last_acked_sequence == -1 || last > p.last_acked_sequence || last < state.base_sequence {
            p.last_acked_sequence = last;
        }
        if base_offset >= 0 {
            p.last_acked_offset = p
                .last_acked_offset
                .max(base_offset + i64::from(batch.record_count) - 1);
        }
    }

    /// `batch` was refused for good after it was drained: the partition's numbering has a hole.
    pub(crate) fn on_failed(&mut self, batch: &ProducerBatch) {
        let Some(state) = batch.producer_state else { return };
        let Some(p) = self.entry(batch) else { return };
        if Self::matches(p, &state) {
            p.remove(state.base_sequence);
            p.bump_requested = true;
        }
    }

    /// `batch` failed after it was drained without the broker saying whether it was written
    /// (expired in flight, or its last attempt got no answer): it may or may not have landed.
    pub(crate) fn on_fate_unknown(&mut self, batch: &ProducerBatch) {
        let Some(state) = batch.producer_state else { return };
        let Some(p) = self.entry(batch) else { return };
        if Self::matches(p, &state) {
            p.remove(state.base_sequence);
            let last = increment_sequence(state.base_sequence, batch.record_count - 1);
            p.unresolved = Some(p.unresolved.map_or(last, |u| u.max(last)));
        }
    }

    /// Whether `batch`, which failed with `code`, may be retried (Java's `canRetry` for the
    /// idempotent producer); may request an epoch bump for its partition.
    pub(crate) fn can_retry(
        &mut self,
        batch: &ProducerBatch,
        code: ErrorCode,
        log_start_offset: i64,
    ) -> bool {
        let Some(state) = batch.producer_state else {
            return code.is_retriable();
        };
        let Some(p) = self.entry(batch) else { return false };
        if !Self::matches(p, &state) {
            return false; // stale numbering
        }
        match code {
            ErrorCode::UnknownProducerId => {
                if log_start_offset == -1 || batch.sequence_reset {
                    return true;
                }
                p.bump_requested = true;
                true
            }
            ErrorCode::OutOfOrderSequenceNumber => {
                if p.unresolved.is_none()
                    && (batch.sequence_reset || !p.is_next_sequence(state.base_sequence))
                {
                    return true; // an earlier batch failed and goes first
                }
                let after_unresolved = p
                    .unresolved
                    .is_some_and(|u| increment_sequence(u, 1) == state.base_sequence);
                if p.unresolved.is_none() || after_unresolved {
                    p.bump_requested = true;
                }
                true
            }
            other => other.is_retriable(),
        }
    }

    /// Partitions that must be re-sequenced under a new epoch now: a bump was requested (or an
    /// unresolved gap stayed open) and nothing of theirs is on the wire. Unresolved partitions
    /// whose gap closed are cleared.
    pub(crate) fn partitions_to_bump(&mut self) -> Vec<TopicPartition> {
        let mut bump = Vec::new();
        for (tp, p) in &mut self.partitions {
            if p.awaiting > 0 {
                continue;
            }
            if p.bump_requested {
                bump.push(tp.clone());
            } else if p.unresolved.is_some() && p.in_flight.is_empty() {
                if p.is_next_sequence(p.next_sequence) {
                    p.unresolved = None; // the expired batch did land
                } else {
                    bump.push(tp.clone());
                }
            }
        }
        bump
    }

    /// Bumps the epoch; returns `false` when the epoch is exhausted and a new producer id is
    /// needed instead (the producer is then unset).
    pub(crate) fn bump_epoch(&mut self) -> bool {
        match self.producer {
            Some((id, epoch)) if epoch < i16::MAX => {
                self.producer = Some((id, epoch + 1));
                tracing::info!(producer_id = id, epoch = epoch + 1, "bumped the producer epoch");
                true
            }
            _ => {
                self.producer = None;
                false
            }
        }
    }

    /// Puts `tp` on the current epoch with the given queued batches (base sequence, count), as
    /// re-stamped by the accumulator from sequence 0.
    pub(crate) fn resequenced(&mut self, tp: TopicPartition, batches: Vec<(i32, i32)>) {
        let Some((id, epoch)) = self.producer else { return };
        let mut p = PartitionState::new(id, epoch);
        p.next_sequence = batches.last().map_or(0, |&(s, n)| increment_sequence(s, n));
        p.in_flight = batches.into();
        self.partitions.insert(tp, p);
    }
}

impl DrainPolicy for IdempotenceManager {
    fn can_drain(&self, batch: &ProducerBatch) -> bool {
        let Some((id, epoch)) = self.producer else {
            return false;
        };
        let Some(p) = self.partitions.get(&Self::tp(batch)) else {
            return batch.producer_state.is_none();
        };
        if p.bump_requested {
            return false;
        }
        match batch.producer_state {
            None => {
                let stale = p.producer_id != id || p.epoch != epoch;
                p.unresolved.is_none() && (!stale || p.in_flight.is_empty())
            }
            // A retry goes only as the first unacknowledged batch.
            Some(s) => p
                .in_flight
                .front()
                .is_some_and(|&(first, _)| first == s.base_sequence),
        }
    }

    fn unassign(&mut self, batch: &ProducerBatch, state: ProducerState) {
        let Some(p) = self.partitions.get_mut(&Self::tp(batch)) else {
            return;
        };
        // `assign` just pushed this entry and moved `next_sequence` past it; nothing was
        // assigned on this partition in between (the drain holds the partition's turn).
        if Self::matches(p, &state) && p.in_flight.back() == Some(&(state.base_sequence, batch.record_count))
        {
            p.in_flight.pop_back();
            p.next_sequence = state.base_sequence;
        }
    }

    fn assign(&mut self, batch: &ProducerBatch) -> Option<ProducerState> {
        let (producer_id, epoch) = self.producer?;
        let p = self
            .partitions
            .entry(Self::tp(batch))
            .or_insert_with(|| PartitionState::new(producer_id, epoch));
        if p.producer_id != producer_id || p.epoch != epoch {
            // Nothing in flight (checked by can_drain): move to the new epoch at sequence 0.
            *p = PartitionState::new(producer_id, epoch);
        }
        let base_sequence = p.next_sequence;
        p.next_sequence = increment_sequence(base_sequence, batch.record_count);
        p.in_flight.push_back((base_sequence, batch.record_count));
        Some(ProducerState {
            producer_id,
            epoch,
            base_sequence,
            transactional: self.transactional,
        })
    }
}

#[cfg(test)]
mod tests;
