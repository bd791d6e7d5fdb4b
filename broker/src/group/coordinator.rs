//! [`GroupCoordinator`]: every group and committed offset of the cluster, the checks Kafka
//! makes before a group operation, and the timer task.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use kafkit_protocol::ErrorCode;
use tokio::sync::{oneshot, watch, Notify};
use tokio::time::Instant;

use super::classic::{ClassicGroup, GroupState};
use super::consumer::ConsumerGroup;
use super::now_ms;
use super::records::kip848 as stored848;
use super::records::{self, GroupValue, OffsetValue, OffsetsKey};

/// A KIP-848 member's records as read back: metadata, current assignment, target.
type StoredMember848 = (
    Option<stored848::MemberMetadata>,
    Option<stored848::CurrentAssignment>,
    Option<stored848::Partitions>,
);
use super::store::{self, OFFSETS_TOPIC};
use super::{JoinGroup, JoinReply, SyncGroup, SyncReply};
use crate::cluster::ClusterState;
use crate::Result;

mod kip848;
mod txn_offsets;

/// The cluster's groups and committed offsets.
#[derive(Debug, Default)]
pub struct GroupCoordinator {
    inner: Mutex<Groups>,
    /// Woken whenever a group deadline may have moved, for [`run_timers`].
    woken: Notify,
}

#[derive(Debug, Default)]
struct Groups {
    /// When expired offsets are next looked for.
    next_retention_check: Option<Instant>,
    groups: HashMap<String, ClassicGroup>,
    /// KIP-848 consumer groups. A group id is in `groups` or here, never in both.
    consumers: HashMap<String, ConsumerGroup>,
    /// Committed offsets by group, then topic and partition.
    offsets: HashMap<String, BTreeMap<(String, i32), OffsetValue>>,
    /// Offsets committed in transactions not yet ended (TxnOffsetCommit), by group and
    /// producer id.
    pending_txn: HashMap<(String, i64), BTreeMap<(String, i32), OffsetValue>>,
}

impl Groups {
    /// Every group id (classic, KIP-848, or known only by its offsets), sorted.
    fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .groups
            .keys()
            .chain(self.consumers.keys())
            .chain(self.offsets.keys())
            .cloned()
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// An OffsetCommit, as the coordinator sees it.
#[derive(Debug, Clone)]
pub struct CommitOffsets {
    /// The request version (from v9 a generation for an unknown group is GROUP_ID_NOT_FOUND).
    pub version: i16,
    /// The group.
    pub group_id: String,
    /// The committing member's generation; -1 for a commit outside group management.
    pub generation: i32,
    /// The committing member; empty outside group management.
    pub member_id: String,
    /// Its `group.instance.id`, if static.
    pub instance_id: Option<String>,
    /// By topic: partition, offset, leader epoch (-1 unknown), metadata.
    pub topics: Vec<(String, Vec<OffsetToCommit>)>,
}

/// One partition of an OffsetCommit: partition, offset, leader epoch (-1 unknown), metadata.
pub type OffsetToCommit = (i32, i64, i32, Option<String>);

/// One partition of an OffsetFetch answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedOffset {
    /// Partition index.
    pub partition: i32,
    /// The committed offset, or `None` when nothing is committed.
    pub committed: Option<OffsetValue>,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroup {
    /// NONE, or why the group is not described.
    pub error: ErrorCode,
    /// The group.
    pub group_id: String,
    /// Kafka's state name (`Dead` for a group that does not exist).
    pub state: &'static str,
    /// The protocol type (`consumer` for consumers), empty when unknown.
    pub protocol_type: String,
    /// The chosen protocol while Stable, else empty.
    pub protocol: String,
    /// The members (metadata and assignment only while Stable).
    pub members: Vec<DescribedMember>,
    /// GROUP_ID_NOT_FOUND because the group is a KIP-848 group, not a classic one.
    pub not_classic: bool,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedMember {
    /// Member id.
    pub member_id: String,
    /// `group.instance.id`.
    pub instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Its metadata for the chosen protocol.
    pub metadata: Bytes,
    /// Its assignment.
    pub assignment: Bytes,
}

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    /// The group.
    pub group_id: String,
    /// Its protocol type, empty when unknown.
    pub protocol_type: String,
    /// Kafka's state name.
    pub state: &'static str,
    /// `classic` or `consumer` (KIP-848).
    pub group_type: &'static str,
}

/// A group as the test kit sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// Its state.
    pub state: GroupState,
    /// Its generation (bumped by every completed rebalance).
    pub generation: i32,
    /// Its protocol type (`consumer` for consumers).
    pub protocol_type: Option<String>,
    /// The chosen protocol (assignor), once chosen.
    pub protocol: Option<String>,
    /// The leader's member id.
    pub leader: Option<String>,
    /// Members in join order.
    pub members: Vec<MemberInfo>,
}

/// A member as the test kit sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// Member id.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// The assignment the leader gave it (protocol-specific bytes).
    pub assignment: Bytes,
}

/// Per-topic, per-partition error codes (OffsetCommit, OffsetDelete).
pub type PartitionCodes = Vec<(String, Vec<(i32, ErrorCode)>)>;

impl GroupCoordinator {
    fn lock(&self) -> MutexGuard<'_, Groups> {
        // Every method leaves the maps consistent between statements, so a panic elsewhere
        // does not make them unusable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rebuilds groups and offsets from `__consumer_offsets` (at startup).
    pub(crate) fn load(&self, state: &ClusterState) -> Result<()> {
        let entries = store::read_all(state)?;
        let mut inner = self.lock();
        // Offsets of transactions, by partition and producer id, held until their marker.
        type Held = Vec<(String, (String, i32), OffsetValue)>;
        let mut held: HashMap<(i32, i64), Held> = HashMap::new();
        let now = Instant::now();
        let mut groups: HashMap<String, GroupValue> = HashMap::new();
        let mut consumer_epochs: HashMap<String, i32> = HashMap::new();
        let mut assignment_epochs: HashMap<String, i32> = HashMap::new();
        let mut consumer_members: HashMap<String, BTreeMap<String, StoredMember848>> = HashMap::new();
        for entry in entries {
            let record = match entry {
                store::LogEntry::Marker {
                    partition,
                    producer_id,
                    commit,
                } => {
                    let offsets = held.remove(&(partition, producer_id)).unwrap_or_default();
                    if commit {
                        for (group, tp, value) in offsets {
                            inner.offsets.entry(group).or_default().insert(tp, value);
                        }
                    }
                    continue;
                }
                store::LogEntry::Record {
                    record,
                    transaction: Some(producer_id),
                } => {
                    if let (
                        OffsetsKey::Offset {
                            group,
                            topic,
                            partition,
                        },
                        Some(value),
                    ) = (record.key, record.value)
                    {
                        if let Some(value) = OffsetValue::decode(&value) {
                            held.entry((record.partition, producer_id)).or_default().push((
                                group,
                                (topic, partition),
                                value,
                            ));
                        }
                    }
                    continue;
                }
                store::LogEntry::Record {
                    record,
                    transaction: None,
                } => record,
            };
            match (record.key, record.value) {
                (
                    OffsetsKey::Offset {
                        group,
                        topic,
                        partition,
                    },
                    Some(value),
                ) => {
                    if let Some(value) = OffsetValue::decode(&value) {
                        inner
                            .offsets
                            .entry(group)
                            .or_default()
                            .insert((topic, partition), value);
                    }
                }
                (
                    OffsetsKey::Offset {
                        group,
                        topic,
                        partition,
                    },
                    None,
                ) => {
                    if let Some(offsets) = inner.offsets.get_mut(&group) {
                        offsets.remove(&(topic, partition));
                    }
                }
                (OffsetsKey::Group { group }, Some(value)) => {
                    if let Some(value) = GroupValue::decode(&value) {
                        groups.insert(group, value);
                    }
                }
                (OffsetsKey::Group { group }, None) => {
                    groups.remove(&group);
                }
                (OffsetsKey::ConsumerGroup { group }, Some(value)) => {
                    if let Some(epoch) = records::decode_consumer_group_epoch(&value) {
                        consumer_epochs.insert(group, epoch);
                    }
                }
                (OffsetsKey::ConsumerGroup { group }, None) => {
                    consumer_epochs.remove(&group);
                }
                (OffsetsKey::ConsumerTarget { group }, value) => {
                    match value.and_then(|v| stored848::decode_assignment_epoch(&v)) {
                        Some(epoch) => assignment_epochs.insert(group, epoch),
                        None => assignment_epochs.remove(&group),
                    };
                }
                (
                    OffsetsKey::ConsumerMember {
                        group,
                        member,
                        record,
                    },
                    value,
                ) => {
                    let stored = consumer_members
                        .entry(group)
                        .or_default()
                        .entry(member)
                        .or_default();
                    match record {
                        stored848::MemberRecord::Metadata => {
                            stored.0 = value.and_then(|v| stored848::MemberMetadata::decode(&v));
                        }
                        stored848::MemberRecord::Current => {
                            stored.1 = value.and_then(|v| stored848::CurrentAssignment::decode(&v));
                        }
                        stored848::MemberRecord::Target => {
                            stored.2 = value.and_then(|v| stored848::decode_target(&v));
                        }
                    }
                }
            }
        }
        // Transactions without a marker yet: their offsets wait for EndTxn (or for the abort
        // at their timeout), as before the restart.
        for ((_, producer_id), offsets) in held {
            for (group, tp, value) in offsets {
                inner
                    .pending_txn
                    .entry((group, producer_id))
                    .or_default()
                    .insert(tp, value);
            }
        }
        inner.offsets.retain(|_, o| !o.is_empty());
        for (id, value) in groups {
            inner
                .groups
                .insert(id.clone(), ClassicGroup::restore(id, value, now));
        }
        // A consumer group comes back with its members, their targets and assignments; each
        // member's session starts anew.
        let all_topics = topics_view(state);
        let session = state.config().groups.consumer_session_timeout;
        for (id, epoch) in consumer_epochs {
            inner.groups.remove(&id);
            let members = consumer_members
                .remove(&id)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(member, (metadata, current, target))| {
                    Some((member, metadata?, current, target))
                })
                .collect();
            let assignment_epoch = assignment_epochs.get(&id).copied().unwrap_or(epoch);
            let group = ConsumerGroup::restore(
                id.clone(),
                epoch,
                assignment_epoch,
                members,
                &all_topics,
                session,
                now,
                now_ms(),
            );
            inner.consumers.insert(id, group);
        }
        // A group known only by its offsets (commits outside group management) is Empty.
        let offsets_only: Vec<String> = inner
            .offsets
            .keys()
            .filter(|g| !inner.groups.contains_key(*g) && !inner.consumers.contains_key(*g))
            .cloned()
            .collect();
        for id in offsets_only {
            inner.groups.insert(id.clone(), ClassicGroup::new(id, now_ms()));
        }
        if !inner.groups.is_empty() || !inner.offsets.is_empty() {
            tracing::info!(
                groups = inner.groups.len(),
                with_offsets = inner.offsets.len(),
                "loaded groups"
            );
        }
        Ok(())
    }

    /// The node coordinating `group` for FindCoordinator: the leader of its partition of
    /// `__consumer_offsets`, which is created first if needed.
    pub fn locate(&self, state: &ClusterState, group: &str) -> std::result::Result<i32, ErrorCode> {
        let partitions = store::ensure_topic(state)?;
        let index = store::partition_for(group, partitions);
        let metadata = state.metadata();
        metadata
            .partition(OFFSETS_TOPIC, index)
            .and_then(|p| p.leader)
            .filter(|&l| metadata.is_up(l))
            .ok_or(ErrorCode::CoordinatorNotAvailable)
    }

    /// The partition of `__consumer_offsets` keeping `group`, if node `node_id` coordinates it;
    /// NOT_COORDINATOR otherwise.
    fn coordinated_partition(
        &self,
        state: &ClusterState,
        node_id: i32,
        group: &str,
    ) -> std::result::Result<i32, ErrorCode> {
        let partitions = store::partition_count(state).ok_or(ErrorCode::NotCoordinator)?;
        let index = store::partition_for(group, partitions);
        let metadata = state.metadata();
        let leads = metadata
            .partition(OFFSETS_TOPIC, index)
            .is_some_and(|p| p.leader == Some(node_id));
        if leads && metadata.is_up(node_id) {
            Ok(index)
        } else {
            Err(ErrorCode::NotCoordinator)
        }
    }

    /// Writes a group's metadata after a change. A failure is logged (see the module docs).
    fn persist_group(state: &ClusterState, partition: i32, group: &ClassicGroup) {
        let record = (
            OffsetsKey::Group {
                group: group.id.clone(),
            }
            .encode(),
            Some(group.to_value().encode()),
        );
        if let Err(code) = store::append(state, partition, &[record]) {
            tracing::warn!(group = %group.id, %code, "could not write the group's metadata");
        }
    }

    /// JoinGroup: checks the request as Kafka does, then joins; waits (without holding any
    /// lock) until the group's join phase ends when the member must wait for it.
    pub async fn join(&self, state: &ClusterState, node_id: i32, request: JoinGroup) -> JoinReply {
        let member_id = request.member_id.clone();
        let waiting = self.start_join(state, node_id, request);
        match waiting {
            Ok(rx) => rx
                .await
                .unwrap_or_else(|_| JoinReply::error(ErrorCode::CoordinatorNotAvailable, &member_id)),
            Err(code) => JoinReply::error(code, &member_id),
        }
    }

    fn start_join(
        &self,
        state: &ClusterState,
        node_id: i32,
        request: JoinGroup,
    ) -> std::result::Result<oneshot::Receiver<JoinReply>, ErrorCode> {
        if request.group_id.is_empty() {
            return Err(ErrorCode::InvalidGroupId);
        }
        let partition = self.coordinated_partition(state, node_id, &request.group_id)?;
        let config = &state.config().groups;
        if request.session_timeout < config.min_session_timeout
            || request.session_timeout > config.max_session_timeout
        {
            return Err(ErrorCode::InvalidSessionTimeout);
        }
        let mut inner = self.lock();
        if let Some(consumer) = inner.consumers.get(&request.group_id) {
            if !consumer.members.is_empty() {
                // Kafka 4 lets classic members join a consumer group (KIP-848's online
                // migration); kafkit does not.
                return Err(ErrorCode::InconsistentGroupProtocol);
            }
            // An empty consumer group becomes a classic one.
            let tombstones = ConsumerGroup::records_between(&request.group_id, Some(consumer), None);
            store::append(state, partition, &tombstones)?;
            inner.consumers.remove(&request.group_id);
        }
        if !inner.groups.contains_key(&request.group_id) {
            if !request.member_id.is_empty() {
                return Err(ErrorCode::UnknownMemberId);
            }
            let group = ClassicGroup::new(request.group_id.clone(), now_ms());
            inner.groups.insert(request.group_id.clone(), group);
        }
        let Some(group) = inner.groups.get_mut(&request.group_id) else {
            return Err(ErrorCode::CoordinatorNotAvailable);
        };
        let (tx, rx) = oneshot::channel();
        let changed = group.join(request, tx, config, Instant::now(), now_ms());
        if changed.persist {
            Self::persist_group(state, partition, group);
        }
        drop(inner);
        self.woken.notify_one();
        Ok(rx)
    }

    /// SyncGroup; a follower waits (without holding any lock) for the leader's assignment.
    pub async fn sync(&self, state: &ClusterState, node_id: i32, request: SyncGroup) -> SyncReply {
        let waiting = (|| {
            if request.group_id.is_empty() {
                return Err(ErrorCode::InvalidGroupId);
            }
            let partition = self.coordinated_partition(state, node_id, &request.group_id)?;
            let mut inner = self.lock();
            let group = inner
                .groups
                .get_mut(&request.group_id)
                .ok_or(ErrorCode::UnknownMemberId)?;
            let (tx, rx) = oneshot::channel();
            let changed = group.sync(request.clone(), tx, Instant::now(), now_ms());
            if changed.persist {
                Self::persist_group(state, partition, group);
            }
            drop(inner);
            self.woken.notify_one();
            Ok(rx)
        })();
        match waiting {
            Ok(rx) => rx
                .await
                .unwrap_or_else(|_| SyncReply::error(ErrorCode::CoordinatorNotAvailable)),
            Err(code) => SyncReply::error(code),
        }
    }

    /// Heartbeat.
    pub fn heartbeat(
        &self,
        state: &ClusterState,
        node_id: i32,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> ErrorCode {
        if group_id.is_empty() {
            return ErrorCode::InvalidGroupId;
        }
        if let Err(code) = self.coordinated_partition(state, node_id, group_id) {
            return code;
        }
        let mut inner = self.lock();
        let Some(group) = inner.groups.get_mut(group_id) else {
            return ErrorCode::UnknownMemberId;
        };
        let code = group.heartbeat(member_id, instance_id, generation, Instant::now());
        drop(inner);
        self.woken.notify_one();
        code
    }

    /// LeaveGroup for `members` (member id, instance id): one code per member, or a
    /// request-level error.
    pub fn leave(
        &self,
        state: &ClusterState,
        node_id: i32,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> std::result::Result<Vec<ErrorCode>, ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::InvalidGroupId);
        }
        let partition = self.coordinated_partition(state, node_id, group_id)?;
        let config = &state.config().groups;
        let mut inner = self.lock();
        let Some(group) = inner.groups.get_mut(group_id) else {
            // Kafka answers each member, not the request.
            return Ok(vec![ErrorCode::UnknownMemberId; members.len()]);
        };
        let mut persist = false;
        let codes = members
            .iter()
            .map(|(member, instance)| {
                match group.leave(member, instance.as_deref(), config, Instant::now(), now_ms()) {
                    Ok(changed) => {
                        persist |= changed.persist;
                        ErrorCode::None
                    }
                    Err(code) => code,
                }
            })
            .collect();
        if persist {
            Self::persist_group(state, partition, group);
        }
        drop(inner);
        self.woken.notify_one();
        Ok(codes)
    }

    /// OffsetCommit: checks the member as Kafka does (a commit with generation -1 and no
    /// member id is accepted only while the group has no members), then writes every
    /// acceptable offset in one batch and answers each partition.
    pub fn commit(&self, state: &ClusterState, node_id: i32, request: CommitOffsets) -> PartitionCodes {
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
            Ok(p) => p,
            Err(code) => return all(code),
        };
        let config = &state.config().groups;
        let mut inner = self.lock();
        if let Err(code) = check_commit(&mut inner, &request) {
            return all(code);
        }
        let now = now_ms();
        let (mut answers, accepted) = check_offsets(state, config, request.topics.as_slice(), now);
        let records: Vec<_> = accepted
            .iter()
            .map(|((topic, index), value)| {
                let key = OffsetsKey::Offset {
                    group: request.group_id.clone(),
                    topic: topic.clone(),
                    partition: *index,
                };
                (key.encode(), Some(value.encode()))
            })
            .collect();
        if let Err(code) = store::append(state, partition, &records) {
            for (_, codes) in &mut answers {
                for (_, c) in codes.iter_mut().filter(|(_, c)| *c == ErrorCode::None) {
                    *c = code;
                }
            }
            return answers;
        }
        if !accepted.is_empty() {
            let offsets = inner.offsets.entry(request.group_id.clone()).or_default();
            offsets.extend(accepted);
        }
        answers
    }

    /// OffsetFetch: the committed offsets of `partitions` by topic (`None`: every committed
    /// offset of the group). Partitions without a commit come back with `committed: None`; a
    /// group that does not exist has none.
    pub fn fetch_offsets(
        &self,
        state: &ClusterState,
        node_id: i32,
        group_id: &str,
        partitions: Option<Vec<(String, Vec<i32>)>>,
        member: Option<(&str, i32)>,
    ) -> std::result::Result<Vec<(String, Vec<FetchedOffset>)>, ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::InvalidGroupId);
        }
        self.coordinated_partition(state, node_id, group_id)?;
        let inner = self.lock();
        // OffsetFetch v9 names the member of a KIP-848 group, whose epoch must be current
        // (`ConsumerGroup.validateOffsetFetch`); classic groups check nothing.
        if let (Some(group), Some((member_id, epoch))) = (inner.consumers.get(group_id), member) {
            let member = group.members.get(member_id).ok_or(ErrorCode::UnknownMemberId)?;
            if epoch != member.epoch {
                return Err(ErrorCode::StaleMemberEpoch);
            }
        }
        let committed = inner.offsets.get(group_id);
        Ok(match partitions {
            Some(topics) => topics
                .into_iter()
                .map(|(topic, indexes)| {
                    let fetched = indexes
                        .into_iter()
                        .map(|partition| FetchedOffset {
                            partition,
                            committed: committed
                                .and_then(|o| o.get(&(topic.clone(), partition)))
                                .cloned(),
                        })
                        .collect();
                    (topic, fetched)
                })
                .collect(),
            None => {
                let mut by_topic: Vec<(String, Vec<FetchedOffset>)> = Vec::new();
                for ((topic, partition), value) in committed.into_iter().flatten() {
                    let entry = FetchedOffset {
                        partition: *partition,
                        committed: Some(value.clone()),
                    };
                    match by_topic.last_mut() {
                        Some((t, list)) if t == topic => list.push(entry),
                        _ => by_topic.push((topic.clone(), vec![entry])),
                    }
                }
                by_topic
            }
        })
    }

    /// DescribeGroups for one group.
    pub fn describe(&self, state: &ClusterState, node_id: i32, group_id: &str) -> DescribedGroup {
        let mut described = DescribedGroup {
            error: ErrorCode::None,
            group_id: group_id.to_string(),
            state: GroupState::Dead.name(),
            protocol_type: String::new(),
            protocol: String::new(),
            members: Vec::new(),
            not_classic: false,
        };
        if let Err(code) = self.coordinated_partition(state, node_id, group_id) {
            described.error = code;
            return described;
        }
        let inner = self.lock();
        if inner.consumers.contains_key(group_id) {
            described.error = ErrorCode::GroupIdNotFound;
            described.not_classic = true;
            return described;
        }
        let Some(group) = inner.groups.get(group_id) else {
            described.error = ErrorCode::GroupIdNotFound;
            return described;
        };
        let stable = group.state == GroupState::Stable;
        described.state = group.state.name();
        described.protocol_type = group.protocol_type.clone().unwrap_or_default();
        if stable {
            described.protocol = group.protocol.clone().unwrap_or_default();
        }
        described.members = group
            .members
            .iter()
            .map(|m| DescribedMember {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.metadata_for(group.protocol.as_deref().unwrap_or_default())
                } else {
                    Bytes::new()
                },
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect();
        described
    }

    /// ListGroups: the groups node `node_id` coordinates, filtered by state names (any case;
    /// empty: all).
    pub fn list(&self, state: &ClusterState, node_id: i32, states: &[String]) -> Vec<ListedGroup> {
        let inner = self.lock();
        let mut listed: Vec<ListedGroup> = inner
            .groups
            .values()
            .filter(|g| g.state != GroupState::Dead)
            .filter(|g| states.is_empty() || states.iter().any(|s| s.eq_ignore_ascii_case(g.state.name())))
            .filter(|g| self.coordinated_partition(state, node_id, &g.id).is_ok())
            .map(|g| ListedGroup {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state.name(),
                group_type: "classic",
            })
            .collect();
        listed.extend(
            inner
                .consumers
                .values()
                .filter(|g| {
                    states.is_empty() || states.iter().any(|s| s.eq_ignore_ascii_case(g.state().name()))
                })
                .filter(|g| self.coordinated_partition(state, node_id, &g.id).is_ok())
                .map(|g| ListedGroup {
                    group_id: g.id.clone(),
                    protocol_type: "consumer".to_string(),
                    state: g.state().name(),
                    group_type: "consumer",
                }),
        );
        listed.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        listed
    }

    /// DeleteGroups for one group: only a group without members; its offsets and metadata are
    /// written away (tombstones).
    pub fn delete(&self, state: &ClusterState, node_id: i32, group_id: &str) -> ErrorCode {
        // An empty group id is simply not found (Kafka checks no name here).
        let partition = match self.coordinated_partition(state, node_id, group_id) {
            Ok(p) => p,
            Err(code) => return code,
        };
        let mut inner = self.lock();
        let group = inner.groups.get(group_id);
        let consumer = inner.consumers.get(group_id);
        if group.is_none() && consumer.is_none() && !inner.offsets.contains_key(group_id) {
            return ErrorCode::GroupIdNotFound;
        }
        if group.is_some_and(|g| !g.members.is_empty()) || consumer.is_some_and(|g| !g.members.is_empty()) {
            return ErrorCode::NonEmptyGroup;
        }
        let consumer_tombstones = consumer
            .map(|c| ConsumerGroup::records_between(group_id, Some(c), None))
            .unwrap_or_default();
        let mut records: Vec<(Bytes, Option<Bytes>)> = inner
            .offsets
            .get(group_id)
            .into_iter()
            .flatten()
            .map(|((topic, p), _)| {
                let key = OffsetsKey::Offset {
                    group: group_id.to_string(),
                    topic: topic.clone(),
                    partition: *p,
                };
                (key.encode(), None)
            })
            .collect();
        records.push((
            OffsetsKey::Group {
                group: group_id.to_string(),
            }
            .encode(),
            None,
        ));
        records.extend(consumer_tombstones);
        if let Err(code) = store::append(state, partition, &records) {
            return code;
        }
        inner.groups.remove(group_id);
        inner.consumers.remove(group_id);
        inner.offsets.remove(group_id);
        tracing::info!(group = group_id, "deleted group");
        ErrorCode::None
    }

    /// OffsetDelete: removes committed offsets of partitions the group is not subscribed to.
    /// Errors: GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP (members of a protocol other than
    /// `consumer`); per partition GROUP_SUBSCRIBED_TO_TOPIC.
    pub fn delete_offsets(
        &self,
        state: &ClusterState,
        node_id: i32,
        group_id: &str,
        topics: &[(String, Vec<i32>)],
    ) -> std::result::Result<PartitionCodes, ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::InvalidGroupId);
        }
        let partition = self.coordinated_partition(state, node_id, group_id)?;
        let mut inner = self.lock();
        let group = inner.groups.get(group_id);
        let consumer = inner.consumers.get(group_id);
        if group.is_none() && consumer.is_none() && !inner.offsets.contains_key(group_id) {
            return Err(ErrorCode::GroupIdNotFound);
        }
        let subscribed: Option<Vec<String>> = match (group, consumer) {
            (_, Some(c)) if !c.members.is_empty() => {
                let all = topics_view(state);
                Some(c.subscribed_topics(&all).into_iter().collect())
            }
            (group, _) => match group {
                Some(g) if !g.members.is_empty() => {
                    if g.protocol_type.as_deref() != Some("consumer") {
                        return Err(ErrorCode::NonEmptyGroup);
                    }
                    Some(g.subscribed_topics())
                }
                _ => None,
            },
        };
        let mut answers = Vec::with_capacity(topics.len());
        let mut records = Vec::new();
        let mut removed = Vec::new();
        for (topic, partitions) in topics {
            let busy = subscribed.as_ref().is_some_and(|s| s.contains(topic));
            let count = partition_count_of(state, topic);
            let codes = partitions
                .iter()
                .map(|&p| {
                    if !(0..count).contains(&p) {
                        return (p, ErrorCode::UnknownTopicOrPartition);
                    }
                    if busy {
                        return (p, ErrorCode::GroupSubscribedToTopic);
                    }
                    let key = (topic.clone(), p);
                    if inner.offsets.get(group_id).is_some_and(|o| o.contains_key(&key)) {
                        let record_key = OffsetsKey::Offset {
                            group: group_id.to_string(),
                            topic: topic.clone(),
                            partition: p,
                        };
                        records.push((record_key.encode(), None));
                        removed.push(key);
                    }
                    (p, ErrorCode::None)
                })
                .collect();
            answers.push((topic.clone(), codes));
        }
        store::append(state, partition, &records)?;
        if let Some(offsets) = inner.offsets.get_mut(group_id) {
            for key in removed {
                offsets.remove(&key);
            }
        }
        Ok(answers)
    }

    /// A topic was deleted: every group's offsets for it go too (Kafka's
    /// `onPartitionsDeleted`), with tombstones written where `__consumer_offsets` allows.
    pub(crate) fn topic_deleted(&self, state: &ClusterState, topic: &str) {
        if topic == OFFSETS_TOPIC {
            let mut inner = self.lock();
            inner.groups.clear();
            inner.consumers.clear();
            inner.offsets.clear();
            return;
        }
        let Some(partitions) = store::partition_count(state) else {
            return;
        };
        let mut inner = self.lock();
        for (group, offsets) in inner.offsets.iter_mut() {
            let gone: Vec<(String, i32)> = offsets.keys().filter(|(t, _)| t == topic).cloned().collect();
            if gone.is_empty() {
                continue;
            }
            let records: Vec<_> = gone
                .iter()
                .map(|(t, p)| {
                    let key = OffsetsKey::Offset {
                        group: group.clone(),
                        topic: t.clone(),
                        partition: *p,
                    };
                    (key.encode(), None)
                })
                .collect();
            let partition = store::partition_for(group, partitions);
            if let Err(code) = store::append(state, partition, &records) {
                tracing::warn!(%group, topic, %code, "could not write away the offsets of a deleted topic");
            }
            for key in gone {
                offsets.remove(&key);
            }
        }
        inner.offsets.retain(|_, o| !o.is_empty());
    }

    /// Applies every group deadline due now (and removes expired offsets when the retention
    /// check is due) and returns the next deadline.
    fn fire_due(&self, state: &ClusterState) -> Option<Instant> {
        let now = Instant::now();
        let config = &state.config().groups;
        let mut inner = self.lock();
        let check = *inner
            .next_retention_check
            .get_or_insert(now + config.offsets_retention_check_interval);
        if check <= now {
            expire_offsets(state, &mut inner, config.offsets_retention);
            inner.next_retention_check = Some(now + config.offsets_retention_check_interval);
        }
        let mut next = inner.next_retention_check;
        for group in inner.groups.values_mut() {
            if group.next_deadline().is_some_and(|d| d <= now) {
                let changed = group.fire(config, now, now_ms());
                if changed.persist {
                    if let Some(partitions) = store::partition_count(state) {
                        Self::persist_group(state, store::partition_for(&group.id, partitions), group);
                    }
                }
            }
            if let Some(d) = group.next_deadline() {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        for group in inner.consumers.values_mut() {
            if group.next_deadline().is_some_and(|d| d <= now) {
                let before = group.clone();
                if group.fire(now, now_ms()) {
                    Self::persist_consumer_change(state, &group.id, Some(&before), Some(group));
                }
            }
            if let Some(d) = group.next_deadline() {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        next
    }

    /// Writes what changed in KIP-848 group `id` from `before` to `after` (`None`: no group).
    /// A failure is logged (see the module docs).
    pub(super) fn persist_consumer_change(
        state: &ClusterState,
        id: &str,
        before: Option<&ConsumerGroup>,
        after: Option<&ConsumerGroup>,
    ) {
        let records = ConsumerGroup::records_between(id, before, after);
        if records.is_empty() {
            return;
        }
        let Some(partitions) = store::partition_count(state) else {
            return;
        };
        if let Err(code) = store::append(state, store::partition_for(id, partitions), &records) {
            tracing::warn!(group = %id, %code, "could not write the consumer group's records");
        }
    }

    /// Takes `member_id` out of `group_id` as an expired session does (for the test kit): its
    /// waiting JoinGroup or SyncGroup and its next request get UNKNOWN_MEMBER_ID, and the
    /// others rebalance (or the group becomes Empty).
    ///
    /// Errors: GROUP_ID_NOT_FOUND, UNKNOWN_MEMBER_ID.
    pub fn expire_member(
        &self,
        state: &ClusterState,
        group_id: &str,
        member_id: &str,
    ) -> std::result::Result<(), ErrorCode> {
        let config = &state.config().groups;
        let mut inner = self.lock();
        let group = inner.groups.get_mut(group_id).ok_or(ErrorCode::GroupIdNotFound)?;
        if !group.members.iter().any(|m| m.id == member_id) {
            return Err(ErrorCode::UnknownMemberId);
        }
        tracing::info!(
            group = group_id,
            member = member_id,
            "member expired by the test kit"
        );
        let changed = group.remove_member(
            member_id,
            ErrorCode::UnknownMemberId,
            config,
            Instant::now(),
            now_ms(),
        );
        if changed.persist {
            if let Some(partitions) = store::partition_count(state) {
                Self::persist_group(state, store::partition_for(group_id, partitions), group);
            }
        }
        drop(inner);
        self.woken.notify_one();
        Ok(())
    }

    /// The partition of `__consumer_offsets` that keeps `group_id` (its leader coordinates
    /// the group), if the topic exists.
    pub fn partition_of(&self, state: &ClusterState, group_id: &str) -> Option<i32> {
        store::partition_count(state).map(|n| store::partition_for(group_id, n))
    }

    /// A snapshot of group `group_id`, if it exists (for tests and the test kit).
    pub fn group(&self, group_id: &str) -> Option<GroupInfo> {
        let inner = self.lock();
        let g = inner.groups.get(group_id)?;
        Some(GroupInfo {
            state: g.state,
            generation: g.generation,
            protocol_type: g.protocol_type.clone(),
            protocol: g.protocol.clone(),
            leader: g.leader.clone(),
            members: g
                .members
                .iter()
                .map(|m| MemberInfo {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        })
    }

    /// Every offset `group_id` committed, by topic and partition.
    pub fn committed_offsets(&self, group_id: &str) -> Vec<((String, i32), OffsetValue)> {
        self.lock()
            .offsets
            .get(group_id)
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// The ids of every group, sorted.
    pub fn group_ids(&self) -> Vec<String> {
        self.lock().ids()
    }

    /// The committed offset of `group_id` for `topic`/`partition`, if any.
    pub fn committed(&self, group_id: &str, topic: &str, partition: i32) -> Option<OffsetValue> {
        self.lock()
            .offsets
            .get(group_id)
            .and_then(|o| o.get(&(topic.to_string(), partition)))
            .cloned()
    }
}

/// Removes the offsets that outlived `offsets.retention.minutes` (Kafka's
/// `cleanupGroupMetadata`): in a group without members, all of them once the group has been
/// empty that long (a group that never had members: each offset that long after its commit);
/// in a consumer group with members, those of topics no member subscribes to, that long after
/// their commit (KIP-496); a group left with neither members nor offsets is deleted. Tombstones are written first; a
/// failed write keeps the offsets for the next check.
fn expire_offsets(state: &ClusterState, inner: &mut Groups, retention: std::time::Duration) {
    let Some(partitions) = store::partition_count(state) else {
        return;
    };
    let now = now_ms();
    let retention = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let all_topics = topics_view(state);
    for id in inner.ids() {
        let group = inner.groups.get(&id);
        let consumer = inner.consumers.get(&id);
        let with_members =
            group.is_some_and(|g| !g.members.is_empty()) || consumer.is_some_and(|g| !g.members.is_empty());
        // KIP-496: in a group with members, the offsets of topics no member subscribes to
        // expire from their commit; only consumer groups say what they subscribe to (other
        // protocols keep every offset while they have members).
        let subscribed: Option<Vec<String>> = match (group, consumer) {
            (_, Some(c)) if with_members => Some(c.subscribed_topics(&all_topics).into_iter().collect()),
            (Some(g), _) if with_members => match g.protocol_type.as_deref() {
                Some("consumer") => Some(g.subscribed_topics()),
                _ => continue,
            },
            _ => None,
        };
        // A group that used group management counts from when it became empty.
        let empty_since = group
            .filter(|g| g.protocol_type.is_some())
            .map(|g| g.state_timestamp)
            .or(consumer.map(|g| g.emptied_at_ms));
        let expired: Vec<(String, i32)> = inner
            .offsets
            .get(&id)
            .into_iter()
            .flatten()
            .filter(|((topic, _), v)| match &subscribed {
                Some(topics) => {
                    !topics.contains(topic) && now.saturating_sub(v.commit_timestamp) >= retention
                }
                None => now.saturating_sub(empty_since.unwrap_or(v.commit_timestamp)) >= retention,
            })
            .map(|(k, _)| k.clone())
            .collect();
        let remaining = inner.offsets.get(&id).map_or(0, |o| o.len()) - expired.len();
        let delete_group = remaining == 0 && group.is_some() && !with_members;
        let delete_consumer = remaining == 0 && consumer.is_some() && !with_members;
        let mut records: Vec<(Bytes, Option<Bytes>)> = expired
            .iter()
            .map(|(topic, partition)| {
                let key = OffsetsKey::Offset {
                    group: id.clone(),
                    topic: topic.clone(),
                    partition: *partition,
                };
                (key.encode(), None)
            })
            .collect();
        if delete_group {
            records.push((OffsetsKey::Group { group: id.clone() }.encode(), None));
        }
        if delete_consumer {
            records.extend(ConsumerGroup::records_between(&id, consumer, None));
        }
        if records.is_empty() {
            continue;
        }
        if let Err(code) = store::append(state, store::partition_for(&id, partitions), &records) {
            tracing::warn!(group = %id, %code, "could not write away expired offsets");
            continue;
        }
        if !expired.is_empty() {
            tracing::info!(group = %id, offsets = expired.len(), "expired offsets");
        }
        if let Some(offsets) = inner.offsets.get_mut(&id) {
            for key in &expired {
                offsets.remove(key);
            }
            if offsets.is_empty() {
                inner.offsets.remove(&id);
            }
        }
        if delete_group || delete_consumer {
            tracing::info!(group = %id, "removed an empty group without offsets");
            inner.groups.remove(&id);
            inner.consumers.remove(&id);
        }
    }
}

/// Every topic but `__consumer_offsets`: name, id, partition count (what KIP-848 groups may
/// subscribe to).
pub(super) fn topics_view(state: &ClusterState) -> super::consumer::TopicsView {
    state
        .metadata()
        .topics
        .values()
        .filter(|t| t.name != OFFSETS_TOPIC)
        .map(|t| (t.name.clone(), (t.id, t.partitions.len() as i32)))
        .collect()
}

/// The partition count of `topic`, 0 if it does not exist.
fn partition_count_of(state: &ClusterState, topic: &str) -> i32 {
    state
        .metadata()
        .topics
        .get(topic)
        .map_or(0, |t| t.partitions.len() as i32)
}

/// Kafka's OffsetCommit checks of the committing member (`validateOffsetCommit`). A commit
/// outside group management to a group that does not exist creates it (Empty).
fn check_commit(inner: &mut Groups, request: &CommitOffsets) -> std::result::Result<(), ErrorCode> {
    if let Some(group) = inner.consumers.get(&request.group_id) {
        return check_consumer_commit(group, request);
    }
    let simple = request.generation < 0 && request.member_id.is_empty() && request.instance_id.is_none();
    let Some(group) = inner.groups.get(&request.group_id) else {
        if request.generation < 0 {
            let group = ClassicGroup::new(request.group_id.clone(), now_ms());
            inner.groups.insert(request.group_id.clone(), group);
            return Ok(());
        }
        return Err(if request.version >= 9 {
            ErrorCode::GroupIdNotFound
        } else {
            ErrorCode::IllegalGeneration
        });
    };
    match group.state {
        GroupState::Dead => return Err(ErrorCode::CoordinatorNotAvailable),
        GroupState::Empty if request.generation < 0 => return Ok(()),
        _ => {}
    }
    if simple {
        // Commits outside group management are only accepted while the group has no members.
        return Err(ErrorCode::UnknownMemberId);
    }
    group.check_member(
        &request.member_id,
        request.instance_id.as_deref(),
        request.generation,
    )?;
    if group.state == GroupState::CompletingRebalance {
        return Err(ErrorCode::RebalanceInProgress);
    }
    Ok(())
}

/// Offsets accepted for commit, checked per partition as Kafka does (the partition exists,
/// the metadata is within `offset.metadata.max.bytes`): each partition's code, and the
/// accepted values.
type AcceptedOffsets = Vec<((String, i32), OffsetValue)>;

pub(super) fn check_offsets(
    state: &ClusterState,
    config: &super::GroupsConfig,
    topics: &[(String, Vec<OffsetToCommit>)],
    now: i64,
) -> (PartitionCodes, AcceptedOffsets) {
    let mut answers: PartitionCodes = Vec::with_capacity(topics.len());
    let mut accepted = Vec::new();
    for (topic, partitions) in topics {
        let count = partition_count_of(state, topic);
        let mut codes = Vec::with_capacity(partitions.len());
        for (index, offset, leader_epoch, metadata) in partitions {
            let metadata = metadata.clone().unwrap_or_default();
            let code = if !(0..count).contains(index) {
                ErrorCode::UnknownTopicOrPartition
            } else if metadata.len() > config.offset_metadata_max_bytes {
                ErrorCode::OffsetMetadataTooLarge
            } else {
                let value = OffsetValue {
                    offset: *offset,
                    leader_epoch: *leader_epoch,
                    metadata,
                    commit_timestamp: now,
                };
                accepted.push(((topic.clone(), *index), value));
                ErrorCode::None
            };
            codes.push((*index, code));
        }
        answers.push((topic.clone(), codes));
    }
    (answers, accepted)
}

/// The member checks of a commit that names a generation (TxnOffsetCommit v3+): the member
/// must be in the group at that generation (classic) or member epoch (KIP-848).
fn check_member_of(inner: &Groups, request: &CommitOffsets) -> std::result::Result<(), ErrorCode> {
    if let Some(group) = inner.consumers.get(&request.group_id) {
        let member = group
            .members
            .get(&request.member_id)
            .ok_or(ErrorCode::UnknownMemberId)?;
        return if member.epoch == request.generation {
            Ok(())
        } else {
            Err(ErrorCode::StaleMemberEpoch)
        };
    }
    match inner.groups.get(&request.group_id) {
        Some(group) => group.check_member(
            &request.member_id,
            request.instance_id.as_deref(),
            request.generation,
        ),
        None => Err(ErrorCode::IllegalGeneration),
    }
}

/// Kafka's OffsetCommit checks for a KIP-848 group (`ConsumerGroup.validateOffsetCommit`):
/// epoch -1 commits while the group has no members; otherwise the member must exist, commit
/// with v9 or later, and at its current epoch (STALE_MEMBER_EPOCH otherwise, ahead or behind,
/// as Kafka 4.1 answers).
fn check_consumer_commit(
    group: &ConsumerGroup,
    request: &CommitOffsets,
) -> std::result::Result<(), ErrorCode> {
    if request.generation < 0 && group.members.is_empty() {
        return Ok(());
    }
    let member = group
        .members
        .get(&request.member_id)
        .ok_or(ErrorCode::UnknownMemberId)?;
    if request.version < 9 {
        return Err(ErrorCode::UnsupportedVersion);
    }
    if request.generation != member.epoch {
        return Err(ErrorCode::StaleMemberEpoch);
    }
    Ok(())
}

/// The timer task: applies group deadlines (session expiry, the ends of join and sync phases,
/// the initial rebalance delay) as they come due, until `shutdown` turns true.
pub async fn run_timers(state: Arc<ClusterState>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let next = state.groups().fire_due(&state);
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = sleep => {}
            () = state.groups().woken.notified() => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}
