//! Offsets committed inside transactions (TxnOffsetCommit), as Kafka keeps them: written at
//! once to the group's `__consumer_offsets` partition as a transactional batch of the
//! producer's id and epoch (no sequence), and held apart until the transaction ends; the
//! COMMIT or ABORT marker the transaction coordinator writes to that partition settles them,
//! in memory here ([`GroupCoordinator::complete_transaction`]) and at the next startup (the
//! loader holds a transaction's offsets until its marker; one still without a marker stays
//! pending for the coordinator to end). As in Kafka (KIP-447), OffsetFetch with
//! `require_stable` answers UNSTABLE_OFFSET_COMMIT for a partition while a transaction holds
//! an offset of it ([`GroupCoordinator::unstable_partitions`]).

use kafkit_protocol::ErrorCode;

use super::{check_member_of, check_offsets, GroupCoordinator, PartitionCodes};
use crate::cluster::ClusterState;
use crate::group::classic::ClassicGroup;
use crate::group::records::OffsetsKey;
use crate::group::{now_ms, store, CommitOffsets};

impl GroupCoordinator {
    /// TxnOffsetCommit: checks the group and the committing member as OffsetCommit does (when
    /// the request names a generation), writes the offsets as a transactional batch of
    /// `producer` (id, epoch) and holds them for its transaction.
    pub fn txn_commit(
        &self,
        state: &ClusterState,
        node_id: i32,
        producer: (i64, i16),
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
        let partition = match self.coordinated_partition(state, node_id, &request.group_id) {
            Ok(partition) => partition,
            Err(code) => return all(code),
        };
        let config = &state.config().groups;
        let mut inner = self.lock();
        if request.generation >= 0 {
            if let Err(code) = check_member_of(&inner, request) {
                return all(code);
            }
        }
        let (answers, held) = check_offsets(state, config, &request.topics, now_ms());
        let records: Vec<_> = held
            .iter()
            .map(|((topic, partition), value)| {
                let key = OffsetsKey::Offset {
                    group: request.group_id.clone(),
                    topic: topic.clone(),
                    partition: *partition,
                };
                (key.encode(), Some(value.encode()))
            })
            .collect();
        if let Err(code) = store::append_transactional(state, partition, &records, producer) {
            tracing::warn!(group = %request.group_id, %code, "could not write a transaction's offsets");
            return all(code);
        }
        inner
            .pending_txn
            .entry((request.group_id.clone(), producer.0))
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

    /// The transaction of `producer_id` ended, its marker written: its offsets (of every
    /// group) become visible (`commit`) or are dropped. A group that did not exist becomes an
    /// Empty group, as a simple commit makes one.
    pub(crate) fn complete_transaction(&self, producer_id: i64, commit: bool) {
        let mut inner = self.lock();
        let keys: Vec<(String, i64)> = inner
            .pending_txn
            .keys()
            .filter(|(_, p)| *p == producer_id)
            .cloned()
            .collect();
        for key in keys {
            let Some(pending) = inner.pending_txn.remove(&key) else {
                continue;
            };
            let group = key.0;
            if !commit || pending.is_empty() {
                continue;
            }
            if !inner.groups.contains_key(&group) && !inner.consumers.contains_key(&group) {
                inner
                    .groups
                    .insert(group.clone(), ClassicGroup::new(group.clone(), now_ms()));
            }
            inner.offsets.entry(group).or_default().extend(pending);
        }
    }
}
