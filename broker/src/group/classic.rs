//! One classic consumer group (KIP-62/KIP-394/KIP-345): members, generations, the
//! Empty → PreparingRebalance → CompletingRebalance → Stable cycle, and the join, sync,
//! heartbeat and leave rules of Kafka's `ClassicGroup` and `GroupMetadataManager`.
//!
//! Plain state with explicit times: the coordinator task calls these methods with `now`, they
//! answer waiting requests through the oneshot senders the members hold, and they return what
//! the coordinator must persist. Nothing here sleeps.

use std::time::Duration;

use bytes::Bytes;
use kafkit_protocol::ErrorCode;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::records::{subscribed_topics, GroupValue, StoredMember};
use super::{GroupsConfig, JoinGroup, JoinReply, SyncGroup, SyncReply};

/// Kafka's group states (`ClassicGroupState`), with the names ListGroups and DescribeGroups use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members (offsets may still be committed).
    Empty,
    /// A rebalance is under way: members are (re)joining.
    PreparingRebalance,
    /// Members joined; the leader's assignment (SyncGroup) is awaited.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Deleted.
    Dead,
}

impl GroupState {
    /// Kafka's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A member of a classic group.
#[derive(Debug)]
pub(crate) struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    /// The protocols it supports, in its order of preference, with its metadata for each.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    /// When the member last showed it is alive (join, sync, heartbeat).
    pub last_heartbeat: Instant,
    /// Its JoinGroup waits here while the group rebalances.
    pub awaiting_join: Option<oneshot::Sender<JoinReply>>,
    /// Its SyncGroup waits here until the leader's assignment comes.
    pub awaiting_sync: Option<oneshot::Sender<SyncReply>>,
    /// Joined in the current rebalance and not yet synced once.
    pub is_new: bool,
}

impl Member {
    pub(crate) fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    fn same_protocols(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }
}

/// A classic group.
#[derive(Debug)]
pub(crate) struct ClassicGroup {
    pub id: String,
    pub state: GroupState,
    /// When the state last changed (ms since the epoch).
    pub state_timestamp: i64,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// In join order (the first member leads when the leader leaves).
    pub members: Vec<Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED (KIP-394), until they join with them or
    /// their session timeout passes.
    pub pending: Vec<(String, Instant)>,
    /// When the join phase ends at the latest (PreparingRebalance).
    pub join_deadline: Option<Instant>,
    /// The initial rebalance delay of a group that was empty: its current end and how far it
    /// may still be pushed back.
    pub initial_delay: Option<(Instant, Instant)>,
    /// When the sync phase ends at the latest (CompletingRebalance): members that did not sync
    /// by then are removed.
    pub sync_deadline: Option<Instant>,
}

/// What the coordinator must do after a group operation.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Changed {
    /// The group's metadata changed and must be written to `__consumer_offsets`.
    pub persist: bool,
}

impl ClassicGroup {
    pub fn new(id: String, now_ms: i64) -> Self {
        ClassicGroup {
            id,
            state: GroupState::Empty,
            state_timestamp: now_ms,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: Vec::new(),
            pending: Vec::new(),
            join_deadline: None,
            initial_delay: None,
            sync_deadline: None,
        }
    }

    /// Rebuilds a group from its stored metadata (after a restart): Stable with its members
    /// and their assignments if it had any, else Empty. Members must heartbeat within their
    /// session timeout from `now`, or they are removed.
    pub fn restore(id: String, value: GroupValue, now: Instant) -> Self {
        let members: Vec<Member> = value
            .members
            .into_iter()
            .map(|m| Member {
                id: m.member_id,
                instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout: Duration::from_millis(m.session_timeout_ms.max(0) as u64),
                rebalance_timeout: Duration::from_millis(m.rebalance_timeout_ms.max(0) as u64),
                protocols: value
                    .protocol
                    .clone()
                    .map(|p| vec![(p, m.subscription)])
                    .unwrap_or_default(),
                assignment: m.assignment,
                last_heartbeat: now,
                awaiting_join: None,
                awaiting_sync: None,
                is_new: false,
            })
            .collect();
        let state = if members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        ClassicGroup {
            id,
            state,
            state_timestamp: value.current_state_timestamp,
            generation: value.generation,
            protocol_type: Some(value.protocol_type).filter(|p| !p.is_empty()),
            protocol: value.protocol,
            leader: value.leader,
            members,
            pending: Vec::new(),
            join_deadline: None,
            initial_delay: None,
            sync_deadline: None,
        }
    }

    /// The group's metadata as stored.
    pub fn to_value(&self) -> GroupValue {
        GroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: self.state_timestamp,
            members: if self.state == GroupState::Stable || self.state == GroupState::CompletingRebalance {
                self.members
                    .iter()
                    .map(|m| StoredMember {
                        member_id: m.id.clone(),
                        group_instance_id: m.instance_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        rebalance_timeout_ms: millis(m.rebalance_timeout),
                        session_timeout_ms: millis(m.session_timeout),
                        subscription: self
                            .protocol
                            .as_deref()
                            .map(|p| m.metadata_for(p))
                            .unwrap_or_default(),
                        assignment: m.assignment.clone(),
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// The topics the members subscribe to (consumer protocol metadata for the chosen
    /// protocol); empty while no protocol is chosen.
    pub fn subscribed_topics(&self) -> Vec<String> {
        let Some(protocol) = self.protocol.as_deref() else {
            return Vec::new();
        };
        let mut topics: Vec<String> = self
            .members
            .iter()
            .flat_map(|m| subscribed_topics(&m.metadata_for(protocol)))
            .collect();
        topics.sort();
        topics.dedup();
        topics
    }

    fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    fn member_of_instance(&self, instance: &str) -> Option<&Member> {
        self.members
            .iter()
            .find(|m| m.instance_id.as_deref() == Some(instance))
    }

    fn set_state(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_timestamp = now_ms;
    }

    /// Whether members with `protocol_type` and `protocols` may join: the same type as the
    /// group's, and at least one protocol every member supports (Kafka's `supportsProtocols`).
    fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        protocols.iter().any(|(name, _)| {
            self.members
                .iter()
                .all(|m| m.protocols.iter().any(|(p, _)| p == name))
        })
    }

    /// Kafka's `selectProtocol`: among the protocols every member supports, the one most
    /// members list first among those candidates (ties: the first candidate in the first
    /// member's order).
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.first()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(p, _)| p)
            .filter(|p| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(q, _)| q == *p))
            })
            .collect();
        let mut votes: Vec<(&String, usize)> = candidates.iter().map(|c| (*c, 0)).collect();
        for m in &self.members {
            if let Some((name, _)) = m.protocols.iter().find(|(p, _)| candidates.contains(&p)) {
                if let Some(v) = votes.iter_mut().find(|(c, _)| *c == name) {
                    v.1 += 1;
                }
            }
        }
        let best = votes.iter().map(|(_, n)| *n).max()?;
        votes
            .into_iter()
            .find(|(_, n)| *n == best)
            .map(|(c, _)| c.clone())
    }

    /// JoinGroup for a request that already passed the coordinator's checks (the group id,
    /// the session timeout, the coordinator). `reply` is answered now or when the rebalance
    /// completes.
    pub fn join(
        &mut self,
        request: JoinGroup,
        reply: oneshot::Sender<JoinReply>,
        config: &GroupsConfig,
        now: Instant,
        now_ms: i64,
    ) -> Changed {
        let fail = |reply: oneshot::Sender<JoinReply>, code: ErrorCode, member_id: &str| {
            let _ = reply.send(JoinReply::error(code, member_id));
            Changed::default()
        };
        if self.state == GroupState::Dead {
            return fail(reply, ErrorCode::CoordinatorNotAvailable, &request.member_id);
        }
        if !self.supports(&request.protocol_type, &request.protocols) {
            return fail(reply, ErrorCode::InconsistentGroupProtocol, &request.member_id);
        }
        if request.member_id.is_empty() {
            return self.join_unknown(request, reply, config, now, now_ms);
        }
        // A member id the coordinator handed out (KIP-394): the member joins for real now.
        if let Some(i) = self.pending.iter().position(|(id, _)| *id == request.member_id) {
            self.pending.remove(i);
            if self.members.len() >= config.max_size {
                return fail(reply, ErrorCode::GroupMaxSizeReached, &request.member_id);
            }
            self.add_member(request, reply, now);
            return self.prepare_rebalance(config, now, now_ms);
        }
        let Some(member) = self.member(&request.member_id) else {
            // A static member replaced by a newer instance is fenced.
            let code = match request
                .instance_id
                .as_deref()
                .and_then(|i| self.member_of_instance(i))
            {
                Some(_) => ErrorCode::FencedInstanceId,
                None => ErrorCode::UnknownMemberId,
            };
            return fail(reply, code, &request.member_id);
        };
        if member.instance_id.is_some() && member.instance_id != request.instance_id {
            return fail(reply, ErrorCode::FencedInstanceId, &request.member_id);
        }
        let unchanged = member.same_protocols(&request.protocols);
        let is_leader = self.leader.as_deref() == Some(member.id.as_str());
        match self.state {
            GroupState::Empty | GroupState::Dead => {
                fail(reply, ErrorCode::UnknownMemberId, &request.member_id)
            }
            GroupState::PreparingRebalance => {
                self.update_member(&request, reply, now);
                self.maybe_complete_join(config, now, now_ms)
            }
            GroupState::CompletingRebalance if unchanged => {
                // It missed the join answer: give it again.
                let answer = self.join_answer(&request.member_id);
                let _ = reply.send(answer);
                Changed::default()
            }
            GroupState::Stable if unchanged && !is_leader => {
                let answer = self.join_answer(&request.member_id);
                let _ = reply.send(answer);
                Changed::default()
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member(&request, reply, now);
                self.prepare_rebalance(config, now, now_ms)
            }
        }
    }

    /// A JoinGroup without a member id.
    fn join_unknown(
        &mut self,
        request: JoinGroup,
        reply: oneshot::Sender<JoinReply>,
        config: &GroupsConfig,
        now: Instant,
        now_ms: i64,
    ) -> Changed {
        let prefix = request.instance_id.as_deref().unwrap_or(&request.client_id);
        let member_id = format!("{prefix}-{}", uuid::Uuid::new_v4());
        if let Some(instance) = request.instance_id.clone() {
            if let Some(old) = self.member_of_instance(&instance).map(|m| m.id.clone()) {
                return self.replace_static_member(old, member_id, request, reply, config, now, now_ms);
            }
        } else if request.version >= 4 {
            // KIP-394: the member must come back with this id before it counts.
            self.pending
                .push((member_id.clone(), now + request.session_timeout));
            let _ = reply.send(JoinReply::error(ErrorCode::MemberIdRequired, &member_id));
            return Changed::default();
        }
        if self.members.len() >= config.max_size {
            let _ = reply.send(JoinReply::error(ErrorCode::GroupMaxSizeReached, &member_id));
            return Changed::default();
        }
        let request = JoinGroup { member_id, ..request };
        self.add_member(request, reply, now);
        self.prepare_rebalance(config, now, now_ms)
    }

    /// A static member came back (a new instance with the same `group.instance.id`): it takes
    /// over the old member's place under a new member id, and the old id is fenced. If its
    /// protocols did not change, a stable group does not rebalance (KIP-345).
    #[allow(clippy::too_many_arguments)]
    fn replace_static_member(
        &mut self,
        old: String,
        new_id: String,
        request: JoinGroup,
        reply: oneshot::Sender<JoinReply>,
        config: &GroupsConfig,
        now: Instant,
        now_ms: i64,
    ) -> Changed {
        let was_leader = self.leader.as_deref() == Some(old.as_str());
        let Some(member) = self.member_mut(&old) else {
            return Changed::default();
        };
        // The old instance's waiting requests end: it is fenced.
        if let Some(join) = member.awaiting_join.take() {
            let _ = join.send(JoinReply::error(ErrorCode::FencedInstanceId, &old));
        }
        if let Some(sync) = member.awaiting_sync.take() {
            let _ = sync.send(SyncReply::error(ErrorCode::FencedInstanceId));
        }
        let unchanged = member.same_protocols(&request.protocols);
        member.id = new_id.clone();
        member.client_id = request.client_id.clone();
        member.client_host = request.client_host.clone();
        member.session_timeout = request.session_timeout;
        member.rebalance_timeout = request.rebalance_timeout;
        member.last_heartbeat = now;
        if was_leader {
            self.leader = Some(new_id.clone());
        }
        match self.state {
            GroupState::Stable if unchanged => {
                // No rebalance: the member gets the current generation (the leader, the
                // members and KIP-814's skip_assignment) and then its assignment at SyncGroup.
                let mut answer = self.join_answer(&new_id);
                answer.skip_assignment = was_leader;
                let _ = reply.send(answer);
                Changed { persist: true }
            }
            GroupState::PreparingRebalance => {
                if let Some(m) = self.member_mut(&new_id) {
                    m.protocols = request.protocols;
                    m.awaiting_join = Some(reply);
                }
                self.maybe_complete_join(config, now, now_ms)
            }
            _ => {
                if let Some(m) = self.member_mut(&new_id) {
                    m.protocols = request.protocols;
                    m.awaiting_join = Some(reply);
                }
                self.prepare_rebalance(config, now, now_ms)
            }
        }
    }

    fn add_member(&mut self, request: JoinGroup, reply: oneshot::Sender<JoinReply>, now: Instant) {
        if self.members.is_empty() {
            self.protocol_type = Some(request.protocol_type.clone());
        }
        self.members.push(Member {
            id: request.member_id,
            instance_id: request.instance_id,
            client_id: request.client_id,
            client_host: request.client_host,
            session_timeout: request.session_timeout,
            rebalance_timeout: request.rebalance_timeout,
            protocols: request.protocols,
            assignment: Bytes::new(),
            last_heartbeat: now,
            awaiting_join: Some(reply),
            awaiting_sync: None,
            is_new: true,
        });
    }

    fn update_member(&mut self, request: &JoinGroup, reply: oneshot::Sender<JoinReply>, now: Instant) {
        if let Some(m) = self.member_mut(&request.member_id) {
            m.protocols = request.protocols.clone();
            m.session_timeout = request.session_timeout;
            m.rebalance_timeout = request.rebalance_timeout;
            m.client_id = request.client_id.clone();
            m.client_host = request.client_host.clone();
            m.last_heartbeat = now;
            if let Some(old) = m.awaiting_join.replace(reply) {
                // A second join on top of one still waiting: the first is superseded.
                let _ = old.send(JoinReply::error(ErrorCode::UnknownMemberId, &request.member_id));
            }
        }
    }

    /// Starts a rebalance (or keeps the one under way): members must rejoin by the rebalance
    /// timeout; a group that was empty waits the initial rebalance delay first.
    fn prepare_rebalance(&mut self, config: &GroupsConfig, now: Instant, now_ms: i64) -> Changed {
        if self.state != GroupState::PreparingRebalance {
            // Members waiting for their assignment learn that a new rebalance began.
            for m in &mut self.members {
                if let Some(sync) = m.awaiting_sync.take() {
                    let _ = sync.send(SyncReply::error(ErrorCode::RebalanceInProgress));
                }
            }
            let was_empty = self.state == GroupState::Empty;
            self.set_state(GroupState::PreparingRebalance, now_ms);
            self.sync_deadline = None;
            let timeout = self.rebalance_timeout();
            self.join_deadline = Some(now + timeout);
            self.initial_delay = (was_empty && !config.initial_rebalance_delay.is_zero())
                .then(|| (now + config.initial_rebalance_delay, now + timeout));
        } else if let Some((end, max)) = self.initial_delay {
            // Another member joined during the initial delay: wait once more, up to the max.
            let pushed = (now + config.initial_rebalance_delay).min(max);
            self.initial_delay = Some((pushed.max(end), max));
        }
        self.maybe_complete_join(config, now, now_ms)
    }

    fn rebalance_timeout(&self) -> Duration {
        self.members
            .iter()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default()
    }

    /// Ends the join phase if every member rejoined (and no handed-out id is still out, and
    /// the initial delay is over).
    fn maybe_complete_join(&mut self, config: &GroupsConfig, now: Instant, now_ms: i64) -> Changed {
        if self.state != GroupState::PreparingRebalance {
            return Changed::default();
        }
        let all_joined = self.members.iter().all(|m| m.awaiting_join.is_some()) && self.pending.is_empty();
        let delaying = self.initial_delay.is_some_and(|(end, _)| now < end);
        if all_joined && !delaying {
            return self.complete_join(config, now, now_ms);
        }
        Changed::default()
    }

    /// The join phase ends: members that did not rejoin are out, the generation moves on, the
    /// protocol is chosen, and every waiting member gets its answer (the leader with every
    /// member's metadata).
    fn complete_join(&mut self, config: &GroupsConfig, now: Instant, now_ms: i64) -> Changed {
        let _ = config;
        self.members.retain(|m| m.awaiting_join.is_some());
        self.join_deadline = None;
        self.initial_delay = None;
        self.generation += 1;
        if self.members.is_empty() {
            self.protocol = None;
            self.leader = None;
            self.set_state(GroupState::Empty, now_ms);
            return Changed { persist: true };
        }
        self.protocol = self.select_protocol();
        if self.leader.as_ref().is_none_or(|l| self.member(l).is_none()) {
            self.leader = self.members.first().map(|m| m.id.clone());
        }
        self.set_state(GroupState::CompletingRebalance, now_ms);
        self.sync_deadline = Some(now + self.rebalance_timeout());
        let ids: Vec<String> = self.members.iter().map(|m| m.id.clone()).collect();
        for id in ids {
            let answer = self.join_answer(&id);
            if let Some(m) = self.member_mut(&id) {
                m.last_heartbeat = now;
                if let Some(reply) = m.awaiting_join.take() {
                    let _ = reply.send(answer);
                }
            }
        }
        Changed { persist: true }
    }

    /// The JoinGroup answer of the current generation for `member_id`.
    fn join_answer(&self, member_id: &str) -> JoinReply {
        let protocol = self.protocol.clone().unwrap_or_default();
        let members = if self.leader.as_deref() == Some(member_id) {
            self.members
                .iter()
                .map(|m| (m.id.clone(), m.instance_id.clone(), m.metadata_for(&protocol)))
                .collect()
        } else {
            Vec::new()
        };
        JoinReply {
            error: ErrorCode::None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members,
        }
    }

    /// Checks a member's identity for SyncGroup, Heartbeat and OffsetCommit: it exists (or a
    /// static member is fenced), and `generation` is the group's.
    pub fn check_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), ErrorCode> {
        let Some(member) = self.member(member_id) else {
            return Err(match instance_id.and_then(|i| self.member_of_instance(i)) {
                Some(_) => ErrorCode::FencedInstanceId,
                None => ErrorCode::UnknownMemberId,
            });
        };
        if member.instance_id.is_some()
            && instance_id.is_some()
            && member.instance_id.as_deref() != instance_id
        {
            return Err(ErrorCode::FencedInstanceId);
        }
        if generation != self.generation {
            return Err(ErrorCode::IllegalGeneration);
        }
        Ok(())
    }

    /// SyncGroup: a follower waits for the leader's assignment; the leader's makes the group
    /// Stable and answers everyone.
    pub fn sync(
        &mut self,
        request: SyncGroup,
        reply: oneshot::Sender<SyncReply>,
        now: Instant,
        now_ms: i64,
    ) -> Changed {
        if matches!(self.state, GroupState::Empty | GroupState::Dead) {
            let _ = reply.send(SyncReply::error(ErrorCode::UnknownMemberId));
            return Changed::default();
        }
        if let Err(code) = self.check_member(
            &request.member_id,
            request.instance_id.as_deref(),
            request.generation,
        ) {
            let _ = reply.send(SyncReply::error(code));
            return Changed::default();
        }
        let inconsistent = request
            .protocol_type
            .as_ref()
            .is_some_and(|t| Some(t) != self.protocol_type.as_ref())
            || request
                .protocol_name
                .as_ref()
                .is_some_and(|n| Some(n) != self.protocol.as_ref());
        if inconsistent {
            let _ = reply.send(SyncReply::error(ErrorCode::InconsistentGroupProtocol));
            return Changed::default();
        }
        match self.state {
            GroupState::PreparingRebalance => {
                let _ = reply.send(SyncReply::error(ErrorCode::RebalanceInProgress));
                Changed::default()
            }
            GroupState::Stable => {
                let answer = self.sync_answer(&request.member_id);
                if let Some(m) = self.member_mut(&request.member_id) {
                    m.last_heartbeat = now;
                }
                let _ = reply.send(answer);
                Changed::default()
            }
            _ => {
                let is_leader = self.leader.as_deref() == Some(request.member_id.as_str());
                if let Some(m) = self.member_mut(&request.member_id) {
                    m.last_heartbeat = now;
                    m.awaiting_sync = Some(reply);
                }
                if !is_leader {
                    return Changed::default();
                }
                for m in &mut self.members {
                    m.assignment = request
                        .assignments
                        .iter()
                        .find(|(id, _)| *id == m.id)
                        .map(|(_, a)| a.clone())
                        .unwrap_or_default();
                }
                self.set_state(GroupState::Stable, now_ms);
                self.sync_deadline = None;
                let ids: Vec<String> = self.members.iter().map(|m| m.id.clone()).collect();
                for id in ids {
                    let answer = self.sync_answer(&id);
                    if let Some(m) = self.member_mut(&id) {
                        m.is_new = false;
                        if let Some(reply) = m.awaiting_sync.take() {
                            let _ = reply.send(answer);
                        }
                    }
                }
                Changed { persist: true }
            }
        }
    }

    fn sync_answer(&self, member_id: &str) -> SyncReply {
        SyncReply {
            error: ErrorCode::None,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            assignment: self
                .member(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        }
    }

    /// Heartbeat: NONE while the member's generation is current and the group is not
    /// rebalancing; REBALANCE_IN_PROGRESS tells it to rejoin.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> ErrorCode {
        if matches!(self.state, GroupState::Empty | GroupState::Dead) {
            return ErrorCode::UnknownMemberId;
        }
        if let Err(code) = self.check_member(member_id, instance_id, generation) {
            return code;
        }
        if let Some(m) = self.member_mut(member_id) {
            m.last_heartbeat = now;
        }
        match self.state {
            GroupState::PreparingRebalance => ErrorCode::RebalanceInProgress,
            _ => ErrorCode::None,
        }
    }

    /// LeaveGroup for one member (by member id, or by instance id with an unknown member id).
    pub fn leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        config: &GroupsConfig,
        now: Instant,
        now_ms: i64,
    ) -> Result<Changed, ErrorCode> {
        let id = match (member_id, instance_id) {
            ("", Some(instance)) => self
                .member_of_instance(instance)
                .map(|m| m.id.clone())
                .ok_or(ErrorCode::UnknownMemberId)?,
            (id, instance) => {
                let member = self.member(id).ok_or(ErrorCode::UnknownMemberId)?;
                if instance.is_some() && member.instance_id.as_deref() != instance {
                    return Err(ErrorCode::FencedInstanceId);
                }
                id.to_string()
            }
        };
        Ok(self.remove_member(&id, ErrorCode::UnknownMemberId, config, now, now_ms))
    }

    /// Takes a member out (it left, or its session expired): waiting requests end with `code`,
    /// and the group rebalances (or becomes Empty).
    pub fn remove_member(
        &mut self,
        id: &str,
        code: ErrorCode,
        config: &GroupsConfig,
        now: Instant,
        now_ms: i64,
    ) -> Changed {
        let Some(i) = self.members.iter().position(|m| m.id == id) else {
            return Changed::default();
        };
        let mut member = self.members.remove(i);
        if let Some(join) = member.awaiting_join.take() {
            let _ = join.send(JoinReply::error(code, id));
        }
        if let Some(sync) = member.awaiting_sync.take() {
            let _ = sync.send(SyncReply::error(code));
        }
        if self.leader.as_deref() == Some(id) {
            self.leader = self.members.first().map(|m| m.id.clone());
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                if self.members.is_empty() {
                    self.generation += 1;
                    self.protocol = None;
                    self.leader = None;
                    self.sync_deadline = None;
                    self.set_state(GroupState::Empty, now_ms);
                    Changed { persist: true }
                } else {
                    self.prepare_rebalance(config, now, now_ms)
                }
            }
            GroupState::PreparingRebalance => {
                let changed = self.maybe_complete_join(config, now, now_ms);
                if self.members.is_empty()
                    && self.pending.is_empty()
                    && self.state == GroupState::PreparingRebalance
                {
                    return self.complete_join(config, now, now_ms);
                }
                changed
            }
            GroupState::Empty | GroupState::Dead => Changed::default(),
        }
    }

    /// The earliest time something in the group is due: a session expiry, a handed-out id's
    /// expiry, the end of the join or sync phase or of the initial delay.
    pub fn next_deadline(&self) -> Option<Instant> {
        let sessions = self
            .members
            .iter()
            .filter(|m| m.awaiting_join.is_none())
            .map(|m| m.last_heartbeat + m.session_timeout);
        let pending = self.pending.iter().map(|(_, at)| *at);
        sessions
            .chain(pending)
            .chain(self.join_deadline)
            .chain(self.sync_deadline)
            .chain(self.initial_delay.map(|(end, _)| end))
            .min()
    }

    /// Applies everything due at `now`: expired sessions and handed-out ids, the end of the
    /// initial delay, the end of the join phase (members that did not rejoin are removed), the
    /// end of the sync phase (members that did not sync are removed).
    pub fn fire(&mut self, config: &GroupsConfig, now: Instant, now_ms: i64) -> Changed {
        let mut changed = Changed::default();
        self.pending.retain(|(_, at)| *at > now);
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.awaiting_join.is_none() && m.last_heartbeat + m.session_timeout <= now)
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            tracing::info!(group = %self.id, member = %id, "member's session expired");
            changed.persist |= self
                .remove_member(&id, ErrorCode::UnknownMemberId, config, now, now_ms)
                .persist;
        }
        if self.initial_delay.is_some_and(|(end, _)| end <= now) {
            self.initial_delay = None;
            changed.persist |= self.maybe_complete_join(config, now, now_ms).persist;
        }
        if self.state == GroupState::PreparingRebalance && self.join_deadline.is_some_and(|d| d <= now) {
            self.pending.clear();
            changed.persist |= self.complete_join(config, now, now_ms).persist;
        }
        if self.state == GroupState::CompletingRebalance && self.sync_deadline.is_some_and(|d| d <= now) {
            let late: Vec<String> = self
                .members
                .iter()
                .filter(|m| m.awaiting_sync.is_none())
                .map(|m| m.id.clone())
                .collect();
            self.sync_deadline = None;
            for id in late {
                changed.persist |= self
                    .remove_member(&id, ErrorCode::UnknownMemberId, config, now, now_ms)
                    .persist;
            }
        }
        changed
    }
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}
