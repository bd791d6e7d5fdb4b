//! The coordinator's KIP-848 operations: ConsumerGroupHeartbeat and ConsumerGroupDescribe, and
//! the test kit's view of consumer groups. The group state machine is in
//! [`crate::group::consumer`].

use kafka_protocol::messages::consumer_group_heartbeat_request::ConsumerGroupHeartbeatRequest;
use kafkit_protocol::ErrorCode;
use tokio::time::Instant;

use super::{topics_view, GroupCoordinator, OffsetsKey};
use crate::cluster::ClusterState;
use crate::group::consumer::{self, ConsumerGroup, ConsumerSettings, HeartbeatAnswer};
use crate::group::{now_ms, store};

/// A KIP-848 group as ConsumerGroupDescribe shows it: the group (a snapshot), or the error
/// with Kafka's message.
pub type ConsumerDescription = std::result::Result<ConsumerGroup, (ErrorCode, String)>;

impl GroupCoordinator {
    /// ConsumerGroupHeartbeat: Kafka's request checks, then the group's heartbeat (joining
    /// creates the group, or turns an empty classic group into a consumer group). The group's
    /// epoch is written to `__consumer_offsets` whenever it moves.
    pub fn consumer_heartbeat(
        &self,
        state: &ClusterState,
        node_id: i32,
        version: i16,
        client: (&str, &str),
        request: &ConsumerGroupHeartbeatRequest,
    ) -> HeartbeatAnswer {
        if let Err((code, message)) = consumer::validate(request, version) {
            return HeartbeatAnswer::error(code, message);
        }
        let group_id = request.group_id.0.to_string();
        let partition = match self.coordinated_partition(state, node_id, &group_id) {
            Ok(p) => p,
            Err(code) => {
                let mut answer = HeartbeatAnswer::error(code, "");
                answer.message = None;
                return answer;
            }
        };
        let config = &state.config().groups;
        let settings = ConsumerSettings {
            session_timeout: config.consumer_session_timeout,
            heartbeat_interval: config.consumer_heartbeat_interval,
            max_size: config.consumer_max_size,
        };
        let topics = topics_view(state);
        let mut inner = self.lock();
        if !inner.consumers.contains_key(&group_id) {
            let joining = request.member_epoch == 0;
            match inner.groups.get(&group_id) {
                None if !joining => {
                    let message = format!("Consumer group {group_id} not found.");
                    return HeartbeatAnswer::error(ErrorCode::GroupIdNotFound, message);
                }
                Some(classic) if !joining || !classic.members.is_empty() => {
                    let message = format!("Group {group_id} is not a consumer group.");
                    return HeartbeatAnswer::error(ErrorCode::GroupIdNotFound, message);
                }
                Some(_) => {
                    // An empty classic group (committed offsets, no members) becomes a
                    // consumer group; its offsets stay.
                    let tombstone = (
                        OffsetsKey::Group {
                            group: group_id.clone(),
                        }
                        .encode(),
                        None,
                    );
                    if let Err(code) = store::append(state, partition, &[tombstone]) {
                        let mut answer = HeartbeatAnswer::error(code, "");
                        answer.message = None;
                        return answer;
                    }
                    inner.groups.remove(&group_id);
                    tracing::info!(group = %group_id, "converted an empty classic group to a consumer group");
                }
                None => {}
            }
            inner
                .consumers
                .insert(group_id.clone(), ConsumerGroup::new(group_id.clone(), now_ms()));
        }
        let Some(group) = inner.consumers.get_mut(&group_id) else {
            return HeartbeatAnswer::error(ErrorCode::CoordinatorNotAvailable, "");
        };
        let before = (group.epoch > 0 || !group.members.is_empty()).then(|| group.clone());
        let (mut answer, _outcome) = group.heartbeat(
            request,
            version,
            client,
            &topics,
            &settings,
            Instant::now(),
            now_ms(),
        );
        Self::persist_consumer_change(state, &group_id, before.as_ref(), Some(group));
        if answer.error == ErrorCode::None {
            answer.message = None;
        }
        drop(inner);
        self.woken.notify_one();
        answer
    }

    /// The heartbeat interval KIP-848 members are told.
    pub fn consumer_heartbeat_interval_ms(state: &ClusterState) -> i32 {
        i32::try_from(state.config().groups.consumer_heartbeat_interval.as_millis()).unwrap_or(i32::MAX)
    }

    /// ConsumerGroupDescribe for one group.
    pub fn consumer_describe(
        &self,
        state: &ClusterState,
        node_id: i32,
        group_id: &str,
    ) -> ConsumerDescription {
        if let Err(code) = self.coordinated_partition(state, node_id, group_id) {
            return Err((code, String::new()));
        }
        let inner = self.lock();
        match inner.consumers.get(group_id) {
            Some(group) => Ok(group.clone()),
            None if inner.groups.contains_key(group_id) => Err((
                ErrorCode::GroupIdNotFound,
                format!("Group {group_id} is not a consumer group."),
            )),
            None => Err((ErrorCode::GroupIdNotFound, format!("Group {group_id} not found."))),
        }
    }

    /// A snapshot of KIP-848 group `group_id`, if it is one (for tests and the test kit).
    pub fn consumer_group(&self, group_id: &str) -> Option<ConsumerGroup> {
        self.lock().consumers.get(group_id).cloned()
    }

    /// Takes `member_id` out of KIP-848 group `group_id` as an expired session does (for the
    /// test kit): the group epoch moves, the member's next heartbeat is UNKNOWN_MEMBER_ID and
    /// it rejoins.
    ///
    /// Errors: GROUP_ID_NOT_FOUND, UNKNOWN_MEMBER_ID.
    pub fn expire_consumer_member(
        &self,
        state: &ClusterState,
        group_id: &str,
        member_id: &str,
    ) -> std::result::Result<(), ErrorCode> {
        let mut inner = self.lock();
        let group = inner
            .consumers
            .get_mut(group_id)
            .ok_or(ErrorCode::GroupIdNotFound)?;
        if !group.members.contains_key(member_id) {
            return Err(ErrorCode::UnknownMemberId);
        }
        tracing::info!(
            group = group_id,
            member = member_id,
            "consumer group member expired by the test kit"
        );
        let before = group.clone();
        group.remove_member(member_id, now_ms());
        Self::persist_consumer_change(state, group_id, Some(&before), Some(group));
        drop(inner);
        self.woken.notify_one();
        Ok(())
    }
}
