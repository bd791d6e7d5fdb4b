//! One KIP-848 consumer group: members that heartbeat (ConsumerGroupHeartbeat), a group epoch
//! bumped by every change of membership, subscription or subscribed topics, a target
//! assignment computed by a server-side assignor (`assignor`), and each member's
//! incremental reconciliation towards its target, as Kafka's `GroupMetadataManager` and
//! `CurrentAssignmentBuilder` do it.
//!
//! # The rules
//! - A member joins with epoch 0 and is answered with the group's assignment epoch; it
//!   heartbeats with the epoch it was given. A member whose epoch is behind (other than by the
//!   one step of a lost answer) or ahead is FENCED_MEMBER_EPOCH and must rejoin.
//! - Epoch -1 leaves (the group epoch is bumped, the member's partitions are freed); -2 is a
//!   static member's temporary leave: its assignment is kept for its instance id until its
//!   session ends or a member with the same instance id takes it over.
//! - Reconciliation: a member first gives up (revokes) the partitions no longer in its target
//!   (it keeps its epoch while it does; state UNREVOKED_PARTITIONS), then gets the new epoch
//!   with the partitions of its target that nobody else still holds (state
//!   UNRELEASED_PARTITIONS until the rest are released, STABLE once it has its whole target).
//! - Deadlines, on tokio's clock: a member's session (`group.consumer.session.timeout.ms`,
//!   from its last heartbeat) and, while it must revoke, its rebalance timeout. Either one
//!   expiring removes the member and bumps the group epoch.
//!
//! Plain state with explicit times, as in `classic.rs`: the coordinator calls these methods
//! under its lock; nothing here sleeps.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_protocol::messages::consumer_group_heartbeat_request::ConsumerGroupHeartbeatRequest;
use kafkit_protocol::ErrorCode;
use tokio::time::Instant;
use uuid::Uuid;

use bytes::Bytes;

use super::assignor::{self, Partitions, Subscriptions, ASSIGNORS};
use super::records::kip848::{self, CurrentAssignment, MemberMetadata, MemberRecord};
use super::records::{self as stored, OffsetsKey};

/// Partitions by topic id, as KIP-848 names them on the wire.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// A member's epoch in a request: joining.
const JOIN: i32 = 0;
/// A member's epoch in a request: leaving.
const LEAVE: i32 = -1;
/// A member's epoch in a request: a static member leaving for now.
const LEAVE_STATIC: i32 = -2;

/// The state of a consumer group (Kafka's `ConsumerGroupState`), as ConsumerGroupDescribe and
/// ListGroups name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerGroupState {
    /// No members.
    Empty,
    /// The group epoch moved on and the target assignment is not yet computed for it.
    Assigning,
    /// Some member has not reached its target yet.
    Reconciling,
    /// Every member has its whole target at the assignment epoch.
    Stable,
}

impl ConsumerGroupState {
    /// Kafka's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
        }
    }
}

/// A member's reconciliation state (Kafka's `MemberState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// It has its whole target at the assignment epoch.
    Stable,
    /// It must first give up partitions (still at its previous epoch).
    UnrevokedPartitions,
    /// It is at the assignment epoch and waits for partitions others still hold.
    UnreleasedPartitions,
}

/// One member of a consumer group.
#[derive(Debug, Clone)]
pub struct ConsumerMember {
    /// The member id (chosen by the client from ConsumerGroupHeartbeat v1, by the coordinator
    /// in v0).
    pub id: String,
    /// `group.instance.id` of a static member.
    pub instance_id: Option<String>,
    /// `client.rack`.
    pub rack_id: Option<String>,
    /// The client id of its last heartbeat.
    pub client_id: String,
    /// Its address.
    pub client_host: String,
    /// The topic names it subscribes to, sorted.
    pub subscribed_topics: Vec<String>,
    /// Its subscribed regular expression (v1), if any.
    pub subscribed_regex: Option<String>,
    /// The server assignor it asked for, if any.
    pub server_assignor: Option<String>,
    /// How long it may take to revoke partitions.
    pub rebalance_timeout: Duration,
    /// Its epoch.
    pub epoch: i32,
    /// Its epoch before the last bump (a heartbeat whose answer was lost carries it).
    pub previous_epoch: i32,
    /// Where its reconciliation stands.
    pub state: MemberState,
    /// The partitions it owns.
    pub assigned: Assignment,
    /// The partitions it must give up.
    pub pending_revocation: Assignment,
    /// A static member that left with epoch -2, whose assignment waits for its instance id.
    pub left_static: bool,
    session_deadline: Instant,
    revocation_deadline: Option<Instant>,
}

/// The subscribed topics that exist: name, id and partition count.
pub type TopicsView = BTreeMap<String, (Uuid, i32)>;

/// A compiled subscription regex (a full-name match, as Kafka's `Pattern.matches`).
fn compile(regex: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?:{regex})$"))
}

/// The KIP-848 settings of the coordinator.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerSettings {
    /// `group.consumer.session.timeout.ms`.
    pub session_timeout: Duration,
    /// `group.consumer.heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `group.consumer.max.size`.
    pub max_size: usize,
}

/// A heartbeat's answer: the error with its message, or the member's id, epoch and (when it
/// changed or the member needs it) its assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatAnswer {
    /// NONE or the error.
    pub error: ErrorCode,
    /// Kafka's message for the error.
    pub message: Option<String>,
    /// The member id.
    pub member_id: Option<String>,
    /// The member's epoch (-1 or -2 after a leave).
    pub epoch: i32,
    /// The assignment, when the member must (re)learn it.
    pub assignment: Option<Assignment>,
}

impl HeartbeatAnswer {
    pub(crate) fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        HeartbeatAnswer {
            error: code,
            message: Some(message.into()),
            member_id: None,
            epoch: 0,
            assignment: None,
        }
    }
}

/// What a heartbeat changed, for the coordinator.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Membership or subscriptions changed (the group epoch moved).
    pub bumped: bool,
}

/// A KIP-848 consumer group.
#[derive(Debug, Clone)]
pub struct ConsumerGroup {
    /// The group id.
    pub id: String,
    /// The group epoch.
    pub epoch: i32,
    /// The epoch the target assignment was computed for.
    pub assignment_epoch: i32,
    /// Members by id.
    pub members: BTreeMap<String, ConsumerMember>,
    /// Each member's target, by topic name.
    pub target: BTreeMap<String, Partitions>,
    /// The subscribed topics the target was computed for.
    pub topics: TopicsView,
    /// The assignor of the last target.
    pub assignor: &'static str,
    /// When the group last had no members (ms on the group clock), for offset retention.
    pub emptied_at_ms: i64,
}

impl ConsumerGroup {
    /// A new, empty group.
    pub fn new(id: String, now_ms: i64) -> Self {
        ConsumerGroup {
            id,
            epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            topics: TopicsView::new(),
            assignor: ASSIGNORS[0],
            emptied_at_ms: now_ms,
        }
    }

    /// The group's state.
    pub fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self
            .members
            .values()
            .any(|m| m.epoch != self.assignment_epoch || m.state != MemberState::Stable)
        {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// Every topic name some member subscribes to, by name or by regex, among `all`.
    pub fn subscribed_topics(&self, all: &BTreeMap<String, (Uuid, i32)>) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for member in self.members.values() {
            out.extend(member.subscribed_topics.iter().cloned());
            if let Some(re) = member.subscribed_regex.as_deref().and_then(|r| compile(r).ok()) {
                out.extend(all.keys().filter(|t| re.is_match(t)).cloned());
            }
        }
        out
    }

    /// ConsumerGroupHeartbeat for this group (validated by [`validate`] first). `all_topics`
    /// is every topic of the cluster (name, id, partition count).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn heartbeat(
        &mut self,
        request: &ConsumerGroupHeartbeatRequest,
        version: i16,
        client: (&str, &str),
        all_topics: &TopicsView,
        settings: &ConsumerSettings,
        now: Instant,
        now_ms: i64,
    ) -> (HeartbeatAnswer, Outcome) {
        let mut outcome = Outcome::default();
        let epoch = request.member_epoch;
        let requested_id = request.member_id.to_string();
        if epoch == LEAVE || epoch == LEAVE_STATIC {
            return (self.leave(request, now_ms, &mut outcome), outcome);
        }
        let instance_id = request.instance_id.as_ref().map(|s| s.to_string());
        let mut bump = false;
        let mut member = if epoch == JOIN {
            let member_id = if version == 0 && requested_id.is_empty() {
                Uuid::new_v4().simple().to_string()
            } else {
                requested_id.clone()
            };
            let static_holder = instance_id.as_deref().and_then(|instance| {
                self.members
                    .values()
                    .find(|m| m.instance_id.as_deref() == Some(instance))
                    .map(|m| (m.id.clone(), m.left_static))
            });
            match static_holder {
                Some((holder, left)) if holder != member_id => {
                    if !left {
                        let message = format!(
                            "Static member {holder} with instance id {} cannot be replaced because it is still in use.",
                            instance_id.as_deref().unwrap_or_default()
                        );
                        return (
                            HeartbeatAnswer::error(ErrorCode::UnreleasedInstanceId, message),
                            outcome,
                        );
                    }
                    // The new incarnation takes over the old one's epoch and assignment.
                    let Some(mut old) = self.members.remove(&holder) else {
                        return (
                            HeartbeatAnswer::error(ErrorCode::UnknownMemberId, "static member vanished"),
                            outcome,
                        );
                    };
                    if let Some(target) = self.target.remove(&holder) {
                        self.target.insert(member_id.clone(), target);
                    }
                    old.id = member_id.clone();
                    old.left_static = false;
                    old
                }
                _ => match self.members.remove(&member_id) {
                    // A member rejoining with its own id starts over.
                    Some(mut existing) => {
                        existing.epoch = 0;
                        existing.previous_epoch = 0;
                        existing.state = MemberState::Stable;
                        existing.assigned.clear();
                        existing.pending_revocation.clear();
                        existing.revocation_deadline = None;
                        existing.left_static = false;
                        existing
                    }
                    None => {
                        if self.members.len() >= settings.max_size {
                            let message = format!(
                                "The consumer group has reached its maximum capacity of {} members.",
                                settings.max_size
                            );
                            return (
                                HeartbeatAnswer::error(ErrorCode::GroupMaxSizeReached, message),
                                outcome,
                            );
                        }
                        bump = true;
                        ConsumerMember {
                            id: member_id.clone(),
                            instance_id: instance_id.clone(),
                            rack_id: None,
                            client_id: String::new(),
                            client_host: String::new(),
                            subscribed_topics: Vec::new(),
                            subscribed_regex: None,
                            server_assignor: None,
                            rebalance_timeout: Duration::ZERO,
                            epoch: 0,
                            previous_epoch: 0,
                            state: MemberState::Stable,
                            assigned: Assignment::new(),
                            pending_revocation: Assignment::new(),
                            left_static: false,
                            session_deadline: now,
                            revocation_deadline: None,
                        }
                    }
                },
            }
        } else {
            let Some(member) = self.members.get(&requested_id) else {
                let message = format!("Member {requested_id} is not a member of group {}.", self.id);
                return (
                    HeartbeatAnswer::error(ErrorCode::UnknownMemberId, message),
                    outcome,
                );
            };
            if let Err(message) = check_epoch(member, epoch, request) {
                return (
                    HeartbeatAnswer::error(ErrorCode::FencedMemberEpoch, message),
                    outcome,
                );
            }
            match self.members.remove(&requested_id) {
                Some(member) => member,
                None => {
                    return (
                        HeartbeatAnswer::error(ErrorCode::UnknownMemberId, "member vanished"),
                        outcome,
                    )
                }
            }
        };
        let before = (member.epoch, member.assigned.clone());
        // The member's fields as the request updates them (null: unchanged).
        member.client_id = client.0.to_string();
        member.client_host = client.1.to_string();
        if let Some(rack) = &request.rack_id {
            member.rack_id = Some(rack.to_string());
        }
        if request.rebalance_timeout_ms >= 0 {
            member.rebalance_timeout = Duration::from_millis(request.rebalance_timeout_ms as u64);
        }
        if let Some(names) = &request.subscribed_topic_names {
            let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            names.sort();
            names.dedup();
            if names != member.subscribed_topics {
                member.subscribed_topics = names;
                bump = true;
            }
        }
        if let Some(regex) = &request.subscribed_topic_regex {
            let regex = Some(regex.to_string()).filter(|r| !r.is_empty());
            if regex != member.subscribed_regex {
                member.subscribed_regex = regex;
                bump = true;
            }
        }
        if let Some(assignor) = &request.server_assignor {
            let assignor = Some(assignor.to_string());
            if assignor != member.server_assignor {
                member.server_assignor = assignor;
                bump = true;
            }
        }
        member.session_deadline = now + settings.session_timeout;
        self.members.insert(member.id.clone(), member.clone());
        // The subscribed topics as they are now: a change (created, deleted, grown) bumps too.
        let topics: TopicsView = self
            .subscribed_topics(all_topics)
            .into_iter()
            .filter_map(|t| all_topics.get(&t).map(|v| (t, *v)))
            .collect();
        if topics != self.topics {
            self.topics = topics;
            bump = true;
        }
        if bump {
            self.epoch += 1;
            outcome.bumped = true;
        }
        if self.epoch > self.assignment_epoch {
            self.compute_target();
        }
        let owned = request.topic_partitions.as_ref().map(|tps| {
            tps.iter()
                .map(|tp| {
                    (
                        tp.topic_id,
                        tp.partitions.iter().copied().collect::<BTreeSet<i32>>(),
                    )
                })
                .filter(|(_, p)| !p.is_empty())
                .collect::<Assignment>()
        });
        self.reconcile(&member.id, owned.as_ref(), now);
        let Some(member) = self.members.get(&member.id) else {
            return (
                HeartbeatAnswer::error(ErrorCode::UnknownMemberId, "member vanished"),
                outcome,
            );
        };
        // As Kafka: the assignment goes out with a full request (joining, or every field a
        // rejoin carries) or when the member's partitions changed.
        let full = epoch == JOIN
            || (request.rebalance_timeout_ms != -1
                && (request.subscribed_topic_names.is_some() || request.subscribed_topic_regex.is_some())
                && request.topic_partitions.is_some());
        let send = full || before.1 != member.assigned;
        let answer = HeartbeatAnswer {
            error: ErrorCode::None,
            message: None,
            member_id: Some(member.id.clone()),
            epoch: member.epoch,
            assignment: send.then(|| member.assigned.clone()),
        };
        (answer, outcome)
    }

    fn leave(
        &mut self,
        request: &ConsumerGroupHeartbeatRequest,
        now_ms: i64,
        outcome: &mut Outcome,
    ) -> HeartbeatAnswer {
        let id = request.member_id.to_string();
        let instance_id = request.instance_id.as_ref().map(|s| s.to_string());
        // A static member may leave by instance id under a new member id.
        let found = self.members.contains_key(&id).then(|| id.clone()).or_else(|| {
            instance_id.as_deref().and_then(|instance| {
                self.members
                    .values()
                    .find(|m| m.instance_id.as_deref() == Some(instance))
                    .map(|m| m.id.clone())
            })
        });
        let Some(found) = found else {
            let message = format!("Member {id} is not a member of group {}.", self.id);
            return HeartbeatAnswer::error(ErrorCode::UnknownMemberId, message);
        };
        if request.member_epoch == LEAVE_STATIC {
            if let Some(member) = self.members.get_mut(&found) {
                member.left_static = true;
                member.revocation_deadline = None;
            }
        } else {
            self.remove_member(&found, now_ms);
            outcome.bumped = true;
        }
        HeartbeatAnswer {
            error: ErrorCode::None,
            message: None,
            member_id: Some(id),
            epoch: request.member_epoch,
            assignment: None,
        }
    }

    /// Removes a member and bumps the group epoch (its partitions are free for the others).
    pub(crate) fn remove_member(&mut self, id: &str, now_ms: i64) {
        if self.members.remove(id).is_some() {
            self.target.remove(id);
            self.epoch += 1;
            if self.members.is_empty() {
                self.emptied_at_ms = now_ms;
            }
        }
    }

    /// Computes the target assignment for the group epoch.
    fn compute_target(&mut self) {
        let assignor = self.preferred_assignor();
        let subscriptions: Subscriptions<'_> = self
            .members
            .values()
            .map(|m| {
                let mut topics: BTreeSet<&str> = m
                    .subscribed_topics
                    .iter()
                    .map(String::as_str)
                    .filter(|t| self.topics.contains_key(*t))
                    .collect();
                if let Some(re) = m.subscribed_regex.as_deref().and_then(|r| compile(r).ok()) {
                    topics.extend(self.topics.keys().map(String::as_str).filter(|t| re.is_match(t)));
                }
                (m.id.as_str(), topics)
            })
            .collect();
        let counts: BTreeMap<String, i32> = self.topics.iter().map(|(t, (_, n))| (t.clone(), *n)).collect();
        let target = assignor::assign(assignor, &subscriptions, &counts, &self.target);
        self.target = target;
        self.assignor = assignor;
        self.assignment_epoch = self.epoch;
    }

    /// The assignor most members ask for (ties: the earlier in [`ASSIGNORS`]); `uniform` when
    /// none asks.
    fn preferred_assignor(&self) -> &'static str {
        let mut votes = [0usize; ASSIGNORS.len()];
        for m in self.members.values() {
            if let Some(i) = m
                .server_assignor
                .as_deref()
                .and_then(|a| ASSIGNORS.iter().position(|x| *x == a))
            {
                votes[i] += 1;
            }
        }
        let best = votes
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
            .map_or(0, |(i, _)| i);
        ASSIGNORS[best]
    }

    /// A member's target, by topic id.
    pub fn target_of(&self, member_id: &str) -> Assignment {
        let mut out = Assignment::new();
        for (topic, partitions) in self.target.get(member_id).into_iter().flatten() {
            if let Some((id, _)) = self.topics.get(topic) {
                if !partitions.is_empty() {
                    out.insert(*id, partitions.clone());
                }
            }
        }
        out
    }

    /// Member `member_id`'s partitions by topic name, sorted (for tests and the test kit).
    pub fn assigned_partitions(&self, member_id: &str) -> Vec<(String, i32)> {
        let Some(member) = self.members.get(member_id) else {
            return Vec::new();
        };
        let mut out: Vec<(String, i32)> = self
            .topics
            .iter()
            .flat_map(|(name, (id, _))| {
                member
                    .assigned
                    .get(id)
                    .into_iter()
                    .flatten()
                    .map(move |p| (name.clone(), *p))
            })
            .collect();
        out.sort();
        out
    }

    /// Moves member `id` towards its target (Kafka's `CurrentAssignmentBuilder`). `owned` is
    /// what the member says it owns (null in the request: unchanged).
    fn reconcile(&mut self, id: &str, owned: Option<&Assignment>, now: Instant) {
        let Some(member) = self.members.get(id) else {
            return;
        };
        let proceed = match member.state {
            MemberState::Stable => member.epoch != self.assignment_epoch,
            // It may go on once it no longer owns anything it had to give up.
            MemberState::UnrevokedPartitions => owned.is_some_and(|owned| {
                !member
                    .pending_revocation
                    .iter()
                    .any(|(t, ps)| owned.get(t).is_some_and(|o| !o.is_disjoint(ps)))
            }),
            MemberState::UnreleasedPartitions => true,
        };
        if !proceed {
            return;
        }
        let target = self.target_of(id);
        let held_by_others = self.held_by_others(id);
        let Some(member) = self.members.get_mut(id) else {
            return;
        };
        let mut retained = Assignment::new();
        let mut revoke = Assignment::new();
        let mut gained = Assignment::new();
        let mut unreleased = false;
        let topics: BTreeSet<Uuid> = member.assigned.keys().chain(target.keys()).copied().collect();
        for topic in topics {
            let current = member.assigned.get(&topic).cloned().unwrap_or_default();
            let wanted = target.get(&topic).cloned().unwrap_or_default();
            let keep: BTreeSet<i32> = current.intersection(&wanted).copied().collect();
            let give: BTreeSet<i32> = current.difference(&wanted).copied().collect();
            let mut take = BTreeSet::new();
            for p in wanted.difference(&current) {
                if held_by_others.contains(&(topic, *p)) {
                    unreleased = true;
                } else {
                    take.insert(*p);
                }
            }
            if !keep.is_empty() {
                retained.insert(topic, keep);
            }
            if !give.is_empty() {
                revoke.insert(topic, give);
            }
            if !take.is_empty() {
                gained.insert(topic, take);
            }
        }
        if !revoke.is_empty() {
            member.state = MemberState::UnrevokedPartitions;
            member.assigned = retained;
            member.pending_revocation = revoke;
            member.revocation_deadline = Some(now + member.rebalance_timeout);
            return;
        }
        for (topic, partitions) in gained {
            retained.entry(topic).or_default().extend(partitions);
        }
        if member.epoch != self.assignment_epoch {
            member.previous_epoch = member.epoch;
            member.epoch = self.assignment_epoch;
        }
        member.assigned = retained;
        member.pending_revocation.clear();
        member.revocation_deadline = None;
        member.state = if unreleased {
            MemberState::UnreleasedPartitions
        } else {
            MemberState::Stable
        };
    }

    /// Partitions other members own or still have to give up.
    fn held_by_others(&self, id: &str) -> BTreeSet<(Uuid, i32)> {
        self.members
            .values()
            .filter(|m| m.id != id)
            .flat_map(|m| m.assigned.iter().chain(m.pending_revocation.iter()))
            .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
            .collect()
    }

    /// The earliest member deadline (session or revocation).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.members
            .values()
            .flat_map(|m| std::iter::once(m.session_deadline).chain(m.revocation_deadline))
            .min()
    }

    /// Removes every member whose session or revocation deadline passed; true if any was.
    pub(crate) fn fire(&mut self, now: Instant, now_ms: i64) -> bool {
        let expired: Vec<(String, bool)> = self
            .members
            .values()
            .filter_map(|m| {
                if m.session_deadline <= now {
                    Some((m.id.clone(), true))
                } else if m.revocation_deadline.is_some_and(|d| d <= now) {
                    Some((m.id.clone(), false))
                } else {
                    None
                }
            })
            .collect();
        for (id, session) in &expired {
            if *session {
                tracing::info!(group = %self.id, member = %id, "consumer group member's session expired");
            } else {
                tracing::info!(group = %self.id, member = %id, "consumer group member did not revoke in its rebalance timeout");
            }
            self.remove_member(id, now_ms);
        }
        !expired.is_empty()
    }

    /// A member as its stored metadata record has it.
    fn stored_metadata(m: &ConsumerMember) -> MemberMetadata {
        MemberMetadata {
            instance_id: m.instance_id.clone(),
            rack_id: m.rack_id.clone(),
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            subscribed_topic_names: m.subscribed_topics.clone(),
            subscribed_topic_regex: m.subscribed_regex.clone(),
            rebalance_timeout_ms: i32::try_from(m.rebalance_timeout.as_millis()).unwrap_or(i32::MAX),
            server_assignor: m.server_assignor.clone(),
        }
    }

    /// A member's reconciliation as its stored current-assignment record has it.
    fn stored_current(m: &ConsumerMember) -> CurrentAssignment {
        CurrentAssignment {
            epoch: m.epoch,
            previous_epoch: m.previous_epoch,
            state: match m.state {
                MemberState::Stable => 0,
                MemberState::UnrevokedPartitions => 1,
                MemberState::UnreleasedPartitions => 2,
            },
            assigned: m.assigned.clone(),
            pending_revocation: m.pending_revocation.clone(),
        }
    }

    /// The `__consumer_offsets` records that take group `id` from `before` to `after` (`None`:
    /// no group): its epoch, its target's epoch, and each member's metadata, target and
    /// current assignment that changed; tombstones for what is gone.
    pub(crate) fn records_between(
        id: &str,
        before: Option<&ConsumerGroup>,
        after: Option<&ConsumerGroup>,
    ) -> Vec<(Bytes, Option<Bytes>)> {
        let mut out = Vec::new();
        if before.map(|g| g.epoch) != after.map(|g| g.epoch) {
            let key = OffsetsKey::ConsumerGroup {
                group: id.to_string(),
            }
            .encode();
            out.push((key, after.map(|g| stored::encode_consumer_group_epoch(g.epoch))));
        }
        if before.map(|g| g.assignment_epoch) != after.map(|g| g.assignment_epoch) {
            let value = after.map(|g| kip848::encode_assignment_epoch(g.assignment_epoch));
            out.push((kip848::target_metadata_key(id), value));
        }
        let members: BTreeSet<&String> = before
            .into_iter()
            .chain(after)
            .flat_map(|g| g.members.keys())
            .collect();
        for member in members {
            let was = before.and_then(|g| g.members.get(member));
            let is = after.and_then(|g| g.members.get(member));
            let metadata = |m: Option<&ConsumerMember>| m.map(Self::stored_metadata);
            if metadata(was) != metadata(is) {
                let value = metadata(is).map(|m| m.encode());
                out.push((MemberRecord::Metadata.key(id, member), value));
            }
            let target = |g: Option<&ConsumerGroup>, m: Option<&ConsumerMember>| {
                g.zip(m).map(|(g, m)| g.target_of(&m.id))
            };
            let (target_was, target_is) = (target(before, was), target(after, is));
            if target_was != target_is {
                let value = target_is.as_ref().map(kip848::encode_target);
                out.push((MemberRecord::Target.key(id, member), value));
            }
            let current = |m: Option<&ConsumerMember>| m.map(Self::stored_current);
            if current(was) != current(is) {
                let value = current(is).map(|c| c.encode());
                out.push((MemberRecord::Current.key(id, member), value));
            }
        }
        out
    }

    /// A group as its records left it (at startup): members with their metadata, targets
    /// (by topic id, named through `all_topics`) and current assignments, each with a new
    /// session from `now`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn restore(
        id: String,
        epoch: i32,
        assignment_epoch: i32,
        members: Vec<(
            String,
            MemberMetadata,
            Option<CurrentAssignment>,
            Option<Assignment>,
        )>,
        all_topics: &TopicsView,
        session_timeout: Duration,
        now: Instant,
        now_ms: i64,
    ) -> ConsumerGroup {
        let mut group = ConsumerGroup::new(id, now_ms);
        group.epoch = epoch;
        group.assignment_epoch = assignment_epoch.min(epoch);
        let name_of = |topic: &Uuid| {
            all_topics
                .iter()
                .find(|(_, (t, _))| t == topic)
                .map(|(n, _)| n.clone())
        };
        for (member_id, metadata, current, target) in members {
            let current = current.unwrap_or_default();
            let member = ConsumerMember {
                id: member_id.clone(),
                instance_id: metadata.instance_id,
                rack_id: metadata.rack_id,
                client_id: metadata.client_id,
                client_host: metadata.client_host,
                subscribed_topics: metadata.subscribed_topic_names,
                subscribed_regex: metadata.subscribed_topic_regex,
                server_assignor: metadata.server_assignor,
                rebalance_timeout: Duration::from_millis(
                    u64::try_from(metadata.rebalance_timeout_ms).unwrap_or(0),
                ),
                epoch: current.epoch,
                previous_epoch: current.previous_epoch,
                state: match current.state {
                    1 => MemberState::UnrevokedPartitions,
                    2 => MemberState::UnreleasedPartitions,
                    _ => MemberState::Stable,
                },
                assigned: current.assigned,
                pending_revocation: current.pending_revocation,
                left_static: false,
                session_deadline: now + session_timeout,
                revocation_deadline: None,
            };
            let target: Partitions = target
                .unwrap_or_default()
                .iter()
                .filter_map(|(topic, ps)| name_of(topic).map(|n| (n, ps.clone())))
                .collect();
            group.target.insert(member_id.clone(), target);
            group.members.insert(member_id, member);
        }
        // The subscribed topics as they are now; a difference from the target's is a change
        // the next heartbeat sees, as after any metadata change.
        group.topics = group
            .subscribed_topics(all_topics)
            .into_iter()
            .filter_map(|t| all_topics.get(&t).map(|v| (t, *v)))
            .collect();
        group.assignor = group.preferred_assignor();
        group
    }

    /// Whether `topic` is subscribed to by some member (by name or regex).
    pub fn is_subscribed(&self, topic: &str) -> bool {
        self.members.values().any(|m| {
            m.subscribed_topics.iter().any(|t| t == topic)
                || m.subscribed_regex
                    .as_deref()
                    .and_then(|r| compile(r).ok())
                    .is_some_and(|re| re.is_match(topic))
        })
    }
}

/// Kafka's epoch check of a heartbeat from a known member (`throwIfMemberEpochIsInvalid`).
fn check_epoch(
    member: &ConsumerMember,
    epoch: i32,
    request: &ConsumerGroupHeartbeatRequest,
) -> Result<(), String> {
    if epoch > member.epoch {
        return Err(format!(
            "The consumer group member has a greater member epoch ({epoch}) than the one known by the group coordinator ({}). The member must abandon all its partitions and rejoin.",
            member.epoch
        ));
    }
    if epoch < member.epoch {
        // The answer that gave it the new epoch may have been lost: it may go on if it owns
        // only partitions it still has.
        let owned_within = request.topic_partitions.as_ref().is_some_and(|tps| {
            tps.iter().all(|tp| {
                tp.partitions.is_empty()
                    || member
                        .assigned
                        .get(&tp.topic_id)
                        .is_some_and(|a| tp.partitions.iter().all(|p| a.contains(p)))
            })
        });
        if epoch != member.previous_epoch || !owned_within {
            return Err(format!(
                "The consumer group member has a smaller member epoch ({epoch}) than the one known by the group coordinator ({}). The member must abandon all its partitions and rejoin.",
                member.epoch
            ));
        }
    }
    Ok(())
}

/// Kafka's checks of a ConsumerGroupHeartbeat before the group is looked at
/// (`throwIfConsumerGroupHeartbeatRequestIsInvalid`): INVALID_REQUEST with Kafka's message,
/// UNSUPPORTED_ASSIGNOR, INVALID_REGULAR_EXPRESSION.
pub(crate) fn validate(
    request: &ConsumerGroupHeartbeatRequest,
    version: i16,
) -> Result<(), (ErrorCode, String)> {
    let invalid = |m: &str| Err((ErrorCode::InvalidRequest, m.to_string()));
    if request.group_id.is_empty() {
        return invalid("GroupId can't be empty.");
    }
    if version >= 1 && request.member_id.is_empty() {
        return invalid("MemberId can't be empty.");
    }
    if request.instance_id.as_ref().is_some_and(|i| i.is_empty()) {
        return invalid("InstanceId can't be empty.");
    }
    if request.rack_id.as_ref().is_some_and(|r| r.is_empty()) {
        return invalid("RackId can't be empty.");
    }
    match request.member_epoch {
        JOIN => {
            if request.rebalance_timeout_ms == -1 {
                return invalid("RebalanceTimeoutMs must be provided in first request.");
            }
            if request.topic_partitions.as_ref().is_none_or(|t| !t.is_empty()) {
                return invalid("TopicPartitions must be empty when (re-)joining.");
            }
            if request.subscribed_topic_names.is_none() && request.subscribed_topic_regex.is_none() {
                return invalid(
                    "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.",
                );
            }
        }
        LEAVE_STATIC if request.instance_id.is_none() => return invalid("InstanceId can't be null."),
        e if e < LEAVE_STATIC => return invalid("MemberEpoch is invalid."),
        _ => {}
    }
    if let Some(assignor) = request.server_assignor.as_deref() {
        if !ASSIGNORS.contains(&assignor) {
            return Err((
                ErrorCode::UnsupportedAssignor,
                format!("ServerAssignor {assignor} is not supported. Supported assignors: uniform, range."),
            ));
        }
    }
    if let Some(regex) = request
        .subscribed_topic_regex
        .as_deref()
        .filter(|r| !r.is_empty())
    {
        if let Err(e) = compile(regex) {
            // Kafka appends RE2J's reason; the regex crate's last line says the same in its
            // own words.
            let reason = e.to_string();
            let reason = reason
                .lines()
                .last()
                .unwrap_or_default()
                .trim_start_matches("error: ");
            return Err((
                ErrorCode::InvalidRegularExpression,
                format!("SubscribedTopicRegex `{regex}` is not a valid regular expression: {reason}."),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
