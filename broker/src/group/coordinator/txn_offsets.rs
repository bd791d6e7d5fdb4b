//! Offsets committed inside transactions (TxnOffsetCommit): held apart until the transaction
//! ends, then written and made visible on commit, or dropped on abort (Kafka's pending
//! transactional offsets).
//!
//! # Deviation from Kafka
//! Kafka writes them to `__consumer_offsets` at once, as transactional records that the
//! COMMIT or ABORT marker settles; kafkit writes them as plain offset records when the
//! transaction commits (before EndTxn is answered). A restart in between loses them with the
//! transaction, which kafkit's coordinator does not keep across restarts either. As in Kafka
//! (KIP-447), OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT for a partition
//! while a transaction holds an offset of it ([`GroupCoordinator::unstable_partitions`]).

use kafkit_protocol::ErrorCode;

use super::{check_member_of, check_offsets, GroupCoordinator, PartitionCodes};
use crate::cluster::ClusterState;
use crate::group::classic::ClassicGroup;
use crate::group::records::OffsetsKey;
use crate::group::{now_ms, store, CommitOffsets};

impl GroupCoordinator {
    /// TxnOffsetCommit: checks the group and the committing member as OffsetCommit does (when
    /// the request names a generation), then holds the offsets for `producer_id`'s
    /// transaction.
    pub fn txn_commit(
        &self,
        state: &ClusterState,
        node_id: i32,
        producer_id: i64,
        request: &CommitOffsets,
    ) -> PartitionCodes {
        let all = |code: ErrorCode| -> PartitionCodes {
            request
                .topics
                .iter()
                .map(|(t, ps)| (t.clone(), ps.iter().map(|p| (p.0, code)).collect()))
                .collect()
        };
        if request.group_id.is_empty() {
            return all(ErrorCode::InvalidGroupId);
        }
        if let Err(code) = self.coordinated_partition(state, node_id, &request.group_id) {
            return all(code);
        }
        let config = &state.config().groups;
        let mut inner = self.lock();
        if request.generation >= 0 {
            if let Err(code) = check_member_of(&inner, request) {
                return all(code);
            }
        }
        let (answers, held) = check_offsets(state, config, &request.topics, now_ms());
        inner
            .pending_txn
            .entry((request.group_id.clone(), producer_id))
            .or_default()
            .extend(held);
        answers
    }

    /// The partitions of `group` that an open transaction holds an offset for: OffsetFetch
    /// with `require_stable` answers them UNSTABLE_OFFSET_COMMIT (KIP-447).
    pub fn unstable_partitions(&self, group: &str) -> std::collections::BTreeSet<(String, i32)> {
        let inner = self.lock();
        inner
            .pending_txn
            .iter()
            .filter(|((g, _), _)| g == group)
            .flat_map(|(_, offsets)| offsets.keys().cloned())
            .collect()
    }

    /// The transaction of `producer_id` ended: its offsets of `group` are written and visible
    /// (`commit`), or dropped. A group that did not exist becomes an Empty group, as a simple
    /// commit makes one.
    pub(crate) fn complete_transaction(
        &self,
        state: &ClusterState,
        group: &str,
        producer_id: i64,
        commit: bool,
    ) {
        let mut inner = self.lock();
        let Some(pending) = inner.pending_txn.remove(&(group.to_string(), producer_id)) else {
            return;
        };
        if !commit || pending.is_empty() {
            return;
        }
        let Some(partitions) = store::partition_count(state) else {
            return;
        };
        let records: Vec<_> = pending
            .iter()
            .map(|((topic, partition), value)| {
                let key = OffsetsKey::Offset {
                    group: group.to_string(),
                    topic: topic.clone(),
                    partition: *partition,
                };
                (key.encode(), Some(value.encode()))
            })
            .collect();
        if let Err(code) = store::append(state, store::partition_for(group, partitions), &records) {
            tracing::error!(group, %code, "could not write a transaction's offsets");
            return;
        }
        if !inner.groups.contains_key(group) && !inner.consumers.contains_key(group) {
            inner
                .groups
                .insert(group.to_string(), ClassicGroup::new(group.to_string(), now_ms()));
        }
        inner
            .offsets
            .entry(group.to_string())
            .or_default()
            .extend(pending);
    }
}
