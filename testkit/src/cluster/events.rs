//! Cluster events a test triggers: leader moves, brokers going down and up, topics created
//! and deleted; and the leadership carried over a restart.

use std::collections::BTreeMap;

use kafkit_broker::config::TopicConfig;
use kafkit_broker::ClusterState;
use kafkit_protocol::ErrorCode;

use super::{topic_config, MockCluster};
use crate::{Error, Result};

impl MockCluster {
    /// Makes `node_id` the leader of `topic`/`partition` and bumps its leader epoch. The old
    /// leader answers NOT_LEADER_OR_FOLLOWER from now on. Returns the new epoch.
    pub fn move_leader(&self, topic: &str, partition: i32, node_id: i32) -> Result<i32> {
        self.state()?
            .move_leader(topic, partition, node_id)
            .map_err(|code| match code {
                ErrorCode::UnknownTopicOrPartition => Error::UnknownTopicOrPartition {
                    topic: topic.to_string(),
                    partition,
                },
                code => Error::Kafka {
                    operation: format!("move leader of {topic}-{partition} to {node_id}"),
                    code,
                    message: None,
                },
            })
    }

    /// Moves every partition's leader to the next live replica (deterministically), each with
    /// its epoch bumped.
    pub fn shuffle_leaders(&self) -> Result<()> {
        self.state()?.shuffle_leaders();
        Ok(())
    }

    /// Takes broker `node_id` down without re-electing: Metadata stops listing it, its
    /// connections are closed and new ones refused (accepted and closed at once), and the
    /// partitions it led have no leader (LEADER_NOT_AVAILABLE, epoch bumped) until it returns
    /// or a leader is moved there. This is librdkafka's mock behaviour. Requests it had not
    /// answered yet are journaled as [`Delivery::Abandoned`](crate::Delivery::Abandoned).
    pub fn set_broker_down(&self, node_id: i32) -> Result<()> {
        self.set_liveness(node_id, false, false)
    }

    /// Takes broker `node_id` down, as [`set_broker_down`](Self::set_broker_down), and gives
    /// each partition it led to its next live replica (epoch bumped), as Kafka's controller
    /// does.
    pub fn set_broker_down_and_reelect(&self, node_id: i32) -> Result<()> {
        self.set_liveness(node_id, false, true)
    }

    /// Brings broker `node_id` back: it is listed and serves again, and partitions without a
    /// leader elect their first live replica (epoch bumped).
    pub fn set_broker_up(&self, node_id: i32) -> Result<()> {
        self.set_liveness(node_id, true, false)
    }

    fn set_liveness(&self, node_id: i32, up: bool, reelect: bool) -> Result<()> {
        self.state()?
            .set_broker_up(node_id, up, reelect)
            .map_err(|_| Error::UnknownBroker { node_id })?;
        if !up {
            // Its connections end without answering what they were still working on.
            self.hook.journal.abandon_pending(Some(node_id));
        }
        Ok(())
    }

    /// Expires the session of `member_id` in consumer group `group_id` now, as if it had
    /// stopped heartbeating: its next request (or the one it is waiting on) gets
    /// UNKNOWN_MEMBER_ID and the other members rebalance. For a KIP-848 group the group epoch
    /// moves and the member rejoins.
    pub fn expire_group_member(&self, group_id: &str, member_id: &str) -> Result<()> {
        let state = self.state()?;
        let groups = state.groups();
        let expired = if groups.consumer_group(group_id).is_some() {
            groups.expire_consumer_member(&state, group_id, member_id)
        } else {
            groups.expire_member(&state, group_id, member_id)
        };
        expired.map_err(|code| Error::Kafka {
            operation: format!("expire member {member_id} of group {group_id}"),
            code,
            message: None,
        })
    }

    /// Moves the coordinator of consumer group `group_id` to broker `node_id`: the leader of
    /// its `__consumer_offsets` partition moves there (epoch bumped), so the old coordinator
    /// answers NOT_COORDINATOR and clients look it up again with FindCoordinator. The group
    /// keeps its members and offsets. Returns the partition's new leader epoch.
    pub fn move_group_coordinator(&self, group_id: &str, node_id: i32) -> Result<i32> {
        let state = self.state()?;
        let partition = state
            .groups()
            .partition_of(&state, group_id)
            .ok_or_else(|| Error::Kafka {
                operation: format!("move the coordinator of group {group_id}"),
                code: ErrorCode::CoordinatorNotAvailable,
                message: Some("no group has been looked up yet: __consumer_offsets does not exist".into()),
            })?;
        drop(state);
        self.move_leader(kafkit_broker::group::OFFSETS_TOPIC, partition, node_id)
    }

    /// The broker coordinating `transactional_id` now (the leader of its `__transaction_state`
    /// partition), or `None` before any producer looked it up.
    pub fn transaction_coordinator(&self, transactional_id: &str) -> Result<Option<i32>> {
        let state = self.state()?;
        let Some(partition) = state.transactions().partition_of(&state, transactional_id) else {
            return Ok(None);
        };
        let metadata = state.metadata();
        Ok(metadata
            .partition(kafkit_broker::txn::TRANSACTION_STATE_TOPIC, partition)
            .and_then(|p| p.leader))
    }

    /// Moves the transaction coordinator of `transactional_id` to broker `node_id`: the leader
    /// of its `__transaction_state` partition moves there (epoch bumped), so the old
    /// coordinator answers NOT_COORDINATOR and producers look it up again. The transaction
    /// state stays (the new coordinator reads it from the same log). Returns the partition's
    /// new leader epoch.
    pub fn move_transaction_coordinator(&self, transactional_id: &str, node_id: i32) -> Result<i32> {
        let state = self.state()?;
        let partition = state
            .transactions()
            .partition_of(&state, transactional_id)
            .ok_or_else(|| Error::Kafka {
                operation: format!("move the coordinator of transactional id {transactional_id}"),
                code: ErrorCode::CoordinatorNotAvailable,
                message: Some(
                    "no transactional id has been looked up yet: __transaction_state does not exist".into(),
                ),
            })?;
        drop(state);
        self.move_leader(kafkit_broker::txn::TRANSACTION_STATE_TOPIC, partition, node_id)
    }

    /// Creates a topic with `partitions` partitions.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        self.create_topic_with_config(name, partitions, &[])
    }

    /// Creates a topic with Kafka topic configs (`message.timestamp.type`,
    /// `max.message.bytes`, `cleanup.policy`; others are accepted and ignored).
    pub fn create_topic_with_config(
        &self,
        name: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> Result<()> {
        let config = topic_config(configs)?;
        self.state()?
            .create_topic(name, partitions, config)
            .map(|_| ())
            .map_err(|(code, message)| Error::Kafka {
                operation: format!("create topic {name}"),
                code,
                message: Some(message),
            })
    }

    /// Grows topic `name` to `count` partitions, as Kafka's CreatePartitions does (partitions
    /// can only be added). Producers see the new partitions at their next metadata refresh.
    pub fn create_partitions(&self, name: &str, count: i32) -> Result<()> {
        self.state()?
            .create_partitions(name, count, false)
            .map_err(|(code, message)| Error::Kafka {
                operation: format!("create partitions of {name}"),
                code,
                message: Some(message),
            })
    }

    /// Deletes a topic and its files.
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        self.state()?
            .delete_topic(name)
            .map(|_| ())
            .map_err(|_| Error::UnknownTopicOrPartition {
                topic: name.to_string(),
                partition: -1,
            })
    }
}

/// Leaders, epochs and topic configs of a cluster about to stop, to give the restarted one.
pub(super) struct LeadershipSnapshot {
    partitions: BTreeMap<(String, i32), (Option<i32>, i32)>,
    configs: BTreeMap<String, TopicConfig>,
}

impl LeadershipSnapshot {
    pub(super) fn take(state: &ClusterState) -> LeadershipSnapshot {
        let metadata = state.metadata();
        let mut partitions = BTreeMap::new();
        let mut configs = BTreeMap::new();
        for topic in metadata.topics.values() {
            configs.insert(topic.name.clone(), topic.config.clone());
            for p in &topic.partitions {
                partitions.insert((topic.name.clone(), p.index), (p.leader, p.leader_epoch));
            }
        }
        LeadershipSnapshot { partitions, configs }
    }

    /// Puts each partition's leader back (when it had one) with a higher epoch than both the
    /// old one and the one recovered from its log, and each topic's config.
    pub(super) fn restore(self, state: &ClusterState) {
        let mut metadata = state.metadata_mut();
        for topic in metadata.topics.values_mut() {
            if let Some(config) = self.configs.get(&topic.name) {
                topic.config = config.clone();
            }
            for p in &mut topic.partitions {
                let Some(&(leader, epoch)) = self.partitions.get(&(topic.name.clone(), p.index)) else {
                    continue;
                };
                if let Some(leader) = leader.filter(|l| p.replicas.contains(l)) {
                    p.leader = Some(leader);
                }
                p.leader_epoch = p.leader_epoch.max(epoch) + 1;
            }
        }
    }
}
