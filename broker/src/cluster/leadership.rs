//! Leadership changes, as Kafka's controller makes them: every change of a partition's leader
//! (including to "no leader") bumps its leader epoch, so clients holding the old epoch are
//! fenced (FENCED_LEADER_EPOCH) and those that see the new one in Metadata follow it.
//!
//! Leadership is metadata only: all nodes share one log per partition, so no data moves.

use kafkit_protocol::ErrorCode;

use super::{ClusterState, Metadata, PartitionState};

impl ClusterState {
    /// Makes `node_id` the leader of `topic`/`partition` and bumps its leader epoch (also when
    /// it already leads, as a re-election would). Returns the new epoch.
    ///
    /// Errors: UNKNOWN_TOPIC_OR_PARTITION, BROKER_NOT_AVAILABLE for a node that does not exist
    /// or is down.
    pub fn move_leader(&self, topic: &str, partition: i32, node_id: i32) -> Result<i32, ErrorCode> {
        let mut metadata = self.metadata_mut();
        if !metadata.is_up(node_id) {
            return Err(ErrorCode::BrokerNotAvailable);
        }
        let p = partition_mut(&mut metadata, topic, partition).ok_or(ErrorCode::UnknownTopicOrPartition)?;
        if !p.replicas.contains(&node_id) {
            p.replicas.push(node_id);
        }
        p.leader = Some(node_id);
        p.leader_epoch += 1;
        tracing::info!(
            topic,
            partition,
            leader = node_id,
            epoch = p.leader_epoch,
            "moved leader"
        );
        Ok(p.leader_epoch)
    }

    /// Moves the leader of every partition to the next live replica after the current one (in
    /// replica order), bumping its epoch; deterministic, so tests can predict the result.
    /// Partitions with a single live replica keep their leader and their epoch.
    pub fn shuffle_leaders(&self) {
        let mut metadata = self.metadata_mut();
        let live = metadata.live_node_ids();
        for topic in metadata.topics.values_mut() {
            for p in &mut topic.partitions {
                let candidates: Vec<i32> = p.replicas.iter().copied().filter(|r| live.contains(r)).collect();
                let next = match p.leader.and_then(|l| candidates.iter().position(|&c| c == l)) {
                    Some(i) => candidates[(i + 1) % candidates.len()],
                    None => match candidates.first() {
                        Some(&c) => c,
                        None => continue,
                    },
                };
                if p.leader != Some(next) {
                    p.leader = Some(next);
                    p.leader_epoch += 1;
                }
            }
        }
        tracing::info!("shuffled leaders");
    }

    /// Takes node `node_id` down (`up = false`) or brings it back.
    ///
    /// Down: Metadata stops listing it, its listener closes every new connection and its open
    /// connections are closed. Each partition it led gets, when `reelect` is set, the first
    /// other live replica as leader, else no leader (Metadata says LEADER_NOT_AVAILABLE with
    /// leader -1); either way the epoch is bumped.
    ///
    /// Up: it serves again, and each partition without a leader elects its first live replica
    /// (epoch bumped), as a controller does when a replica returns. Partitions that moved away
    /// while it was down stay where they are (`move_leader` brings them back).
    ///
    /// Errors: BROKER_NOT_AVAILABLE for a node id that does not exist.
    pub fn set_broker_up(&self, node_id: i32, up: bool, reelect: bool) -> Result<(), ErrorCode> {
        {
            let mut metadata = self.metadata_mut();
            let broker = metadata
                .brokers
                .iter_mut()
                .find(|b| b.node_id == node_id)
                .ok_or(ErrorCode::BrokerNotAvailable)?;
            if broker.up == up {
                return Ok(());
            }
            broker.up = up;
            let live = metadata.live_node_ids();
            for topic in metadata.topics.values_mut() {
                for p in &mut topic.partitions {
                    let first_live = p.replicas.iter().copied().find(|r| live.contains(r));
                    if !up && p.leader == Some(node_id) {
                        p.leader = if reelect { first_live } else { None };
                        p.leader_epoch += 1;
                    } else if up && p.leader.is_none() && first_live.is_some() {
                        p.leader = first_live;
                        p.leader_epoch += 1;
                    }
                }
            }
        }
        tracing::info!(node_id, up, reelect, "broker liveness changed");
        self.node_changes.send_modify(|n| *n += 1);
        Ok(())
    }
}

fn partition_mut<'a>(
    metadata: &'a mut Metadata,
    topic: &str,
    partition: i32,
) -> Option<&'a mut PartitionState> {
    metadata
        .topics
        .get_mut(topic)?
        .partitions
        .get_mut(usize::try_from(partition).ok()?)
}
