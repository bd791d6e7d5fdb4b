//! The group coordinator: classic consumer groups (JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup), KIP-848 consumer groups (ConsumerGroupHeartbeat, ConsumerGroupDescribe) and
//! committed offsets (OffsetCommit, OffsetFetch, OffsetDelete), with ListGroups,
//! DescribeGroups and DeleteGroups, kept in `__consumer_offsets` in Kafka's record schemas.
//!
//! # Design
//! - One [`GroupCoordinator`] per cluster, inside [`ClusterState`](crate::ClusterState). Its
//!   state (every group and every committed offset) sits behind one mutex; each operation takes
//!   it, changes plain data (`classic.rs`), writes what changed to `__consumer_offsets`
//!   (`store.rs`) and lets go. A JoinGroup or SyncGroup that must wait for the rest of the group
//!   gets a oneshot receiver and awaits it after the lock is released, so no lock is held across
//!   an `.await` (mini-redis's `Db` plus its purge task, rather than an actor: no command enum
//!   to keep in step with ten APIs, and operations that need no waiting stay plain calls).
//! - Time-driven transitions (session expiry, the end of a join or sync phase, the initial
//!   rebalance delay) are applied by one timer task ([`run_timers`]) that sleeps until the
//!   earliest group deadline and is woken whenever a deadline may have moved. Deadlines are
//!   `tokio::time::Instant`s, so tests with a paused clock drive them.
//! - The coordinator of a group is the leader of partition `abs(hash(group)) % n` of
//!   `__consumer_offsets` (Java's `String.hashCode`), as in Kafka; other nodes answer
//!   NOT_COORDINATOR. The topic is created at the first FindCoordinator for a group, with
//!   `offsets.topic.num.partitions` partitions (50, as Kafka).
//! - Every change is appended to that partition before it is answered (offsets) or right after
//!   (group metadata, whose waiting members are answered by the state change). At startup the
//!   topic is read back: the last record of each key wins, a null value deletes.
//!
//! # Deviations from Kafka
//! - All nodes share one log per partition (see [`crate::cluster`]), so a coordinator that
//!   moves with its partition's leader keeps its groups in memory instead of reloading them;
//!   members still learn of the move by NOT_COORDINATOR and rediscover it.
//! - A failure to write group metadata is logged, and the members keep the answers they
//!   got; Kafka answers SyncGroup with the write's error instead. Offset commits do fail when
//!   their write fails.
//! - KIP-848 groups are written to `__consumer_offsets` as Kafka writes them (group epoch,
//!   target epoch, each member's metadata, target and current assignment) except for the
//!   subscribed topics' metadata hash: a restart takes the subscribed topics as they are then,
//!   so a topic that grew while the broker was down is noticed at its next change. Classic
//!   members cannot join a consumer group with members, and a KIP-848
//!   member cannot join a classic group with members (Kafka 4 migrates such groups online;
//!   kafkit converts only empty groups). Server assignors: `uniform` and `range`, which may
//!   pick other partitions than Kafka's for the same members (see `assignor.rs`).
//!
//! # Layout
//! - `classic.rs`: one classic group's state machine.
//! - `consumer.rs`: one KIP-848 group: epochs, target assignment, incremental reconciliation.
//! - `assignor.rs`: the `uniform` and `range` server-side assignors.
//! - `coordinator.rs`: [`GroupCoordinator`], the checks around it, offsets, the timer task.
//! - `records.rs`: the `__consumer_offsets` record schemas.
//! - `store.rs`: appending to and reading back `__consumer_offsets`.

pub(crate) mod assignor;
pub(crate) mod classic;
pub mod consumer;
mod coordinator;
pub mod records;
pub(crate) mod store;

use std::time::Duration;

use bytes::Bytes;
use kafkit_protocol::ErrorCode;

pub use classic::GroupState;
pub use coordinator::{
    run_timers, CommitOffsets, DescribedGroup, DescribedMember, FetchedOffset, GroupCoordinator, GroupInfo,
    ListedGroup, MemberInfo,
};
pub use store::OFFSETS_TOPIC;

/// The group coordinator's settings, with Kafka's broker keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupsConfig {
    /// `group.min.session.timeout.ms` (6 s): shorter session timeouts are
    /// INVALID_SESSION_TIMEOUT.
    pub min_session_timeout: Duration,
    /// `group.max.session.timeout.ms` (30 min): longer ones are INVALID_SESSION_TIMEOUT.
    pub max_session_timeout: Duration,
    /// `group.initial.rebalance.delay.ms` (3 s): how long the first rebalance of an empty group
    /// waits for more members, pushed back by each join up to the rebalance timeout.
    pub initial_rebalance_delay: Duration,
    /// `group.max.size` (unbounded): members beyond it get GROUP_MAX_SIZE_REACHED.
    pub max_size: usize,
    /// `offset.metadata.max.bytes` (4096): longer commit metadata is
    /// OFFSET_METADATA_TOO_LARGE.
    pub offset_metadata_max_bytes: usize,
    /// `offsets.topic.num.partitions` (50): partitions of `__consumer_offsets` when it is
    /// created.
    pub offsets_topic_partitions: i32,
    /// `offsets.retention.minutes` (7 days): how long the offsets of a group without members
    /// are kept, counted from when it became empty (for a group that only ever committed
    /// outside group management, from each commit), and those of topics a consumer group with
    /// members does not subscribe to, from their commit (KIP-496).
    pub offsets_retention: Duration,
    /// `offsets.retention.check.interval.ms` (10 min): how often expired offsets are removed.
    pub offsets_retention_check_interval: Duration,
    /// `group.consumer.session.timeout.ms` (45 s): how long a KIP-848 member may go without
    /// a heartbeat.
    pub consumer_session_timeout: Duration,
    /// `group.consumer.heartbeat.interval.ms` (5 s): how often KIP-848 members heartbeat.
    pub consumer_heartbeat_interval: Duration,
    /// `group.consumer.max.size` (unbounded): KIP-848 members beyond it get
    /// GROUP_MAX_SIZE_REACHED.
    pub consumer_max_size: usize,
}

impl Default for GroupsConfig {
    fn default() -> Self {
        GroupsConfig {
            min_session_timeout: Duration::from_millis(6_000),
            max_session_timeout: Duration::from_millis(1_800_000),
            initial_rebalance_delay: Duration::from_millis(3_000),
            max_size: i32::MAX as usize,
            offset_metadata_max_bytes: 4096,
            offsets_topic_partitions: 50,
            offsets_retention: Duration::from_secs(7 * 24 * 3600),
            offsets_retention_check_interval: Duration::from_secs(600),
            consumer_session_timeout: Duration::from_millis(45_000),
            consumer_heartbeat_interval: Duration::from_millis(5_000),
            consumer_max_size: i32::MAX as usize,
        }
    }
}

/// Milliseconds since the Unix epoch on tokio's clock: the wall clock when first read, moved on
/// by tokio's monotonic clock since. Commit and state timestamps and offset retention use it,
/// so they follow a paused clock in tests as the group timers do.
pub(crate) fn now_ms() -> i64 {
    static BASE: std::sync::OnceLock<(i64, tokio::time::Instant)> = std::sync::OnceLock::new();
    let (wall, at) = *BASE.get_or_init(|| (crate::handlers::now_ms(), tokio::time::Instant::now()));
    let elapsed = tokio::time::Instant::now().saturating_duration_since(at);
    wall.saturating_add(i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
}

/// A JoinGroup, as the coordinator sees it (any version).
#[derive(Debug, Clone)]
pub struct JoinGroup {
    /// The request version (KIP-394's MEMBER_ID_REQUIRED from v4).
    pub version: i16,
    /// The group.
    pub group_id: String,
    /// Empty for a member joining for the first time.
    pub member_id: String,
    /// `group.instance.id` of a static member (v5+).
    pub instance_id: Option<String>,
    /// The client id of the request header.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// How long the member may go without a heartbeat.
    pub session_timeout: Duration,
    /// How long the group waits for the member to rejoin (v1+; the session timeout in v0).
    pub rebalance_timeout: Duration,
    /// `consumer` for consumers; any string for other protocols.
    pub protocol_type: String,
    /// The assignors the member supports, by preference, with its metadata for each.
    pub protocols: Vec<(String, Bytes)>,
}

/// A JoinGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinReply {
    /// NONE or the error.
    pub error: ErrorCode,
    /// The generation joined; -1 on error.
    pub generation: i32,
    /// The group's protocol type (v7+).
    pub protocol_type: Option<String>,
    /// The chosen protocol.
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: String,
    /// KIP-814: the leader is a static member that rejoined without a rebalance, so it must not
    /// compute a new assignment.
    pub skip_assignment: bool,
    /// The member's id (new members learn theirs here).
    pub member_id: String,
    /// For the leader: every member's id, instance id and metadata for the chosen protocol.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinReply {
    /// A failed join.
    pub fn error(code: ErrorCode, member_id: &str) -> Self {
        JoinReply {
            error: code,
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }
}

/// A SyncGroup, as the coordinator sees it.
#[derive(Debug, Clone)]
pub struct SyncGroup {
    /// The group.
    pub group_id: String,
    /// The member.
    pub member_id: String,
    /// Its `group.instance.id`, if static.
    pub instance_id: Option<String>,
    /// The generation it joined.
    pub generation: i32,
    /// v5+: must be the group's, if given.
    pub protocol_type: Option<String>,
    /// v5+: must be the group's, if given.
    pub protocol_name: Option<String>,
    /// From the leader: each member's assignment.
    pub assignments: Vec<(String, Bytes)>,
}

/// A SyncGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReply {
    /// NONE or the error.
    pub error: ErrorCode,
    /// The group's protocol type (v5+).
    pub protocol_type: Option<String>,
    /// The group's protocol (v5+).
    pub protocol_name: Option<String>,
    /// The member's assignment.
    pub assignment: Bytes,
}

impl SyncReply {
    /// A failed sync.
    pub fn error(code: ErrorCode) -> Self {
        SyncReply {
            error: code,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

#[cfg(test)]
mod tests;
