//! Cluster metadata: which brokers exist and which one leads each partition.
//!
//! The sender owns [`Metadata`], the mutable state (topics of interest, when to refresh); after
//! every change it publishes an immutable [`ClusterMetadata`] snapshot through a `watch`
//! channel, which `send` reads to count a topic's partitions and waits on for a topic it has not
//! seen yet.
//!
//! A refresh is due when `metadata.max.age.ms` has passed since the last one, when a produce
//! error invalidates metadata (NOT_LEADER_OR_FOLLOWER, ...), when a partition with data has no
//! known leader, or when `send` meets a new topic; refreshes after errors are spaced by
//! `retry.backoff.ms`, a new topic is fetched at once. KIP-951 leader hints from produce
//! responses move a partition's leader immediately, without waiting for a refresh. A response
//! carrying an older leader epoch for a partition than the one known is ignored for that
//! partition (a lagging broker must not undo a newer leader).
//!
//! # References
//! - Java's `Metadata`, `ProducerMetadata`, `MetadataCache`; KIP-951 (leader discovery
//!   optimisations), KIP-320 (leader epochs in metadata)

mod hasher;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafkit_protocol::ErrorCode;
use tokio::sync::watch;
use tokio::time::Instant;

pub(crate) use self::hasher::TopicMap;

/// A broker's node id (negative for bootstrap addresses, as in Java).
pub(crate) type NodeId = i32;

/// An immutable view of the cluster, as last learnt.
#[derive(Debug, Clone, Default)]
pub struct ClusterMetadata {
    /// Broker addresses by node id.
    pub(crate) brokers: HashMap<NodeId, (String, u16)>,
    /// Topics with a usable answer.
    pub(crate) topics: TopicMap<Arc<str>, TopicMetadata>,
    /// Topics the last refresh reported with an error, and the error.
    pub(crate) topic_errors: TopicMap<Arc<str>, ErrorCode>,
    /// Incremented by every change.
    pub(crate) generation: u64,
}

/// One topic's partitions.
#[derive(Debug, Clone, Default)]
pub(crate) struct TopicMetadata {
    /// Every partition, by index.
    pub partitions: Vec<PartitionInfo>,
    /// Partitions whose leader is known: the sticky partitioner draws among these.
    pub available: Vec<i32>,
}

/// One partition's leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PartitionInfo {
    /// The leader, if known.
    pub leader: Option<NodeId>,
    /// The leader epoch, -1 if the broker does not say (Metadata < v7).
    pub leader_epoch: i32,
}

impl ClusterMetadata {
    /// The topic, if known.
    pub(crate) fn topic(&self, topic: &str) -> Option<&TopicMetadata> {
        self.topics.get(topic)
    }

    /// The partition's leader and epoch, if known.
    pub(crate) fn partition(&self, topic: &str, partition: i32) -> Option<PartitionInfo> {
        self.topics
            .get(topic)?
            .partitions
            .get(usize::try_from(partition).ok()?)
            .copied()
    }

    /// A broker's address.
    pub(crate) fn broker(&self, node: NodeId) -> Option<&(String, u16)> {
        self.brokers.get(&node)
    }
}

impl TopicMetadata {
    fn rebuild_available(&mut self) {
        self.available = (0..)
            .zip(&self.partitions)
            .filter(|(_, p)| p.leader.is_some())
            .map(|(i, _)| i)
            .collect();
    }
}

/// The sender's metadata state.
#[derive(Debug)]
pub(crate) struct Metadata {
    /// The current view; published after every change.
    current: Arc<ClusterMetadata>,
    /// Publishes `current` to `send`; the producer handles hold receivers.
    publish: watch::Sender<Arc<ClusterMetadata>>,
    /// Topics the producer has sent to (or is waiting for): what a refresh asks for; each with
    /// the time until which a `send` may be waiting for it (`max.block.ms` from its request).
    /// A topic error retries the refresh only while someone waits.
    topics: BTreeMap<Arc<str>, Instant>,
    /// A refresh was asked for (an error, an unknown leader).
    update_requested: bool,
    /// A new topic waits for its first metadata: refresh without backoff.
    new_topic: bool,
    /// When the last successful refresh arrived.
    last_refresh: Option<Instant>,
    /// When the last refresh was sent, for the backoff between attempts.
    last_attempt: Option<Instant>,
    /// A refresh is in flight.
    in_flight: bool,
    /// `metadata.max.age.ms`.
    max_age: Duration,
    /// `retry.backoff.ms`: the spacing of refreshes asked for by errors.
    backoff: Duration,
}

impl Metadata {
    pub(crate) fn new(max_age: Duration, backoff: Duration) -> (Self, watch::Receiver<Arc<ClusterMetadata>>) {
        let current = Arc::new(ClusterMetadata::default());
        let (publish, rx) = watch::channel(current.clone());
        let metadata = Metadata {
            current,
            publish,
            topics: BTreeMap::new(),
            update_requested: true,
            new_topic: false,
            last_refresh: None,
            last_attempt: None,
            in_flight: false,
            max_age,
            backoff,
        };
        (metadata, rx)
    }

    /// The current view.
    pub(crate) fn cluster(&self) -> &Arc<ClusterMetadata> {
        &self.current
    }

    /// Adds a topic of interest that a `send` waits for until `waited_until`; a refresh follows
    /// at once if the topic is new, after the backoff if it is known but still missing.
    pub(crate) fn add_topic(&mut self, topic: Arc<str>, waited_until: Instant) {
        match self.topics.get_mut(&topic) {
            Some(until) => {
                *until = (*until).max(waited_until);
                self.update_requested = true;
            }
            None => {
                self.topics.insert(topic, waited_until);
                self.new_topic = true;
            }
        }
    }

    /// Asks for a refresh (spaced by `retry.backoff.ms`).
    pub(crate) fn request_update(&mut self) {
        self.update_requested = true;
    }

    /// How long until a refresh is due: `Some(ZERO)` when one should be sent now, `None` while
    /// one is in flight.
    pub(crate) fn time_to_next_update(&self, now: Instant) -> Option<Duration> {
        if self.in_flight {
            return None;
        }
        let since = |t: Option<Instant>| t.map_or(Duration::MAX, |t| now.saturating_duration_since(t));
        if self.new_topic {
            return Some(Duration::ZERO);
        }
        let backoff_left = self.backoff.saturating_sub(since(self.last_attempt));
        if self.update_requested {
            return Some(backoff_left);
        }
        let age_left = self.max_age.saturating_sub(since(self.last_refresh));
        Some(age_left.max(backoff_left))
    }

    /// The request for a refresh, marking one in flight.
    pub(crate) fn begin_update(&mut self, now: Instant) -> MetadataRequest {
        self.in_flight = true;
        self.new_topic = false;
        self.update_requested = false;
        self.last_attempt = Some(now);
        let topics = self
            .topics
            .keys()
            .map(|t| {
                MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(t.to_string()))))
            })
            .collect();
        MetadataRequest::default().with_topics(Some(topics))
    }

    /// The refresh failed (connection lost); it will be retried after the backoff.
    pub(crate) fn update_failed(&mut self) {
        self.in_flight = false;
        self.update_requested = true;
    }

    /// Applies a metadata response and publishes the result.
    pub(crate) fn update(&mut self, response: &MetadataResponse, now: Instant) {
        self.in_flight = false;
        self.last_refresh = Some(now);
        let previous = self.current.clone();
        let mut next = ClusterMetadata {
            brokers: response
                .brokers
                .iter()
                .filter_map(|b| Some((b.node_id.0, (b.host.to_string(), u16::try_from(b.port).ok()?))))
                .collect(),
            topics: TopicMap::default(),
            topic_errors: TopicMap::default(),
            generation: previous.generation + 1,
        };
        for t in &response.topics {
            let Some(name) = t.name.as_ref() else { continue };
            let (name, waited_until) = match self.topics.get_key_value(name.0.as_str()) {
                Some((name, until)) => (name.clone(), Some(*until)),
                None => (Arc::from(name.0.as_str()), None),
            };
            let code = ErrorCode::from(t.error_code);
            if !code.is_ok() {
                // UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE (auto-creation under way):
                // ask again while a send waits for the topic.
                if code.is_retriable() && waited_until.is_some_and(|until| now < until) {
                    self.update_requested = true;
                }
                next.topic_errors.insert(name, code);
                continue;
            }
            // The partitions listed are the topic's partitions (Java's `Cluster` counts them
            // the same way): a broker lists every one, with an error for those without a
            // leader. An index outside 0..count is not trusted, so a hostile or broken answer
            // can neither size the table (an index near 2^31) nor overflow it.
            let count = t.partitions.len();
            let mut partitions = vec![
                PartitionInfo {
                    leader: None,
                    leader_epoch: -1
                };
                count
            ];
            let old = previous.topics.get(&name);
            for p in &t.partitions {
                let Some(index) = usize::try_from(p.partition_index).ok().filter(|&i| i < count) else {
                    tracing::warn!(topic = %name, partition = p.partition_index, count, "metadata lists a partition index beyond the partitions listed; ignored");
                    continue;
                };
                let leader = (p.leader_id.0 >= 0 && next.brokers.contains_key(&p.leader_id.0))
                    .then_some(p.leader_id.0);
                let mut info = PartitionInfo {
                    leader,
                    leader_epoch: p.leader_epoch,
                };
                // A lagging broker's answer must not undo a newer leader (KIP-320).
                if let Some(known) = old.and_then(|o| o.partitions.get(index)) {
                    if known.leader_epoch > info.leader_epoch
                        && info.leader_epoch >= 0
                        && known.leader.is_some_and(|l| next.brokers.contains_key(&l))
                    {
                        info = *known;
                    }
                }
                partitions[index] = info;
            }
            let mut topic = TopicMetadata {
                partitions,
                available: Vec::new(),
            };
            topic.rebuild_available();
            next.topics.insert(name, topic);
        }
        self.publish_next(next);
    }

    /// Applies a KIP-951 leader hint from a produce response: `partition` of `topic` is now led
    /// by `leader` at `leader_epoch`, reachable at `endpoint` if the broker is new. Returns
    /// whether anything changed.
    pub(crate) fn apply_leader_hint(
        &mut self,
        topic: &str,
        partition: i32,
        leader: NodeId,
        leader_epoch: i32,
        endpoint: Option<(String, u16)>,
    ) -> bool {
        let Some(known) = self.current.partition(topic, partition) else {
            return false;
        };
        if leader < 0 || leader_epoch <= known.leader_epoch {
            return false;
        }
        if !self.current.brokers.contains_key(&leader) && endpoint.is_none() {
            return false;
        }
        let mut next = (*self.current).clone();
        next.generation += 1;
        if let Some(endpoint) = endpoint {
            next.brokers.entry(leader).or_insert(endpoint);
        }
        if let Some(t) = next.topics.get_mut(topic) {
            if let Some(p) = usize::try_from(partition)
                .ok()
                .and_then(|i| t.partitions.get_mut(i))
            {
                *p = PartitionInfo {
                    leader: Some(leader),
                    leader_epoch,
                };
            }
            t.rebuild_available();
        }
        self.publish_next(next);
        true
    }

    fn publish_next(&mut self, next: ClusterMetadata) {
        self.current = Arc::new(next);
        self.publish.send_replace(self.current.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::BrokerId;

    fn response(leaders: &[(i32, i32)]) -> MetadataResponse {
        let brokers = (1..=3)
            .map(|id| {
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(id))
                    .with_host(StrBytes::from_string(format!("b{id}")))
                    .with_port(9092)
            })
            .collect();
        let partitions = (0..)
            .zip(leaders)
            .map(|(i, &(leader, epoch))| {
                MetadataResponsePartition::default()
                    .with_partition_index(i)
                    .with_leader_id(BrokerId(leader))
                    .with_leader_epoch(epoch)
            })
            .collect();
        let topic = MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
            .with_partitions(partitions);
        MetadataResponse::default()
            .with_brokers(brokers)
            .with_topics(vec![topic])
    }

    fn metadata() -> (Metadata, watch::Receiver<Arc<ClusterMetadata>>) {
        Metadata::new(Duration::from_secs(300), Duration::from_millis(100))
    }

    #[tokio::test(start_paused = true)]
    async fn response_publishes_leaders_and_available_partitions() {
        let (mut m, rx) = metadata();
        m.add_topic("t".into(), Instant::now() + Duration::from_secs(60));
        let _ = m.begin_update(Instant::now());
        m.update(&response(&[(1, 0), (-1, 0), (3, 2)]), Instant::now());
        let c = rx.borrow().clone();
        let t = c.topic("t").expect("known");
        assert_eq!(t.partitions.len(), 3);
        assert_eq!(t.available, vec![0, 2]);
        assert_eq!(
            c.partition("t", 2),
            Some(PartitionInfo {
                leader: Some(3),
                leader_epoch: 2
            })
        );
        assert_eq!(c.broker(3), Some(&("b3".to_string(), 9092)));
        assert_eq!(
            m.time_to_next_update(Instant::now()),
            Some(Duration::from_secs(300)),
            "a leaderless partition alone does not poll metadata (the sender asks when it has data for it)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn refresh_schedule() {
        let (mut m, _rx) = metadata();
        let now = Instant::now();
        assert_eq!(m.time_to_next_update(now), Some(Duration::ZERO), "bootstrap");
        let _ = m.begin_update(now);
        assert_eq!(m.time_to_next_update(now), None, "in flight");
        m.update(&response(&[(1, 0)]), now);
        assert_eq!(
            m.time_to_next_update(now),
            Some(Duration::from_secs(300)),
            "max age"
        );
        m.request_update();
        assert_eq!(
            m.time_to_next_update(now),
            Some(Duration::from_millis(100)),
            "backoff"
        );
        m.add_topic("new".into(), Instant::now() + Duration::from_secs(60));
        assert_eq!(
            m.time_to_next_update(now),
            Some(Duration::ZERO),
            "new topic: at once"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn leader_hints_move_leaders_forward_only() {
        let (mut m, rx) = metadata();
        m.add_topic("t".into(), Instant::now() + Duration::from_secs(60));
        m.update(&response(&[(1, 5)]), Instant::now());
        assert!(!m.apply_leader_hint("t", 0, 2, 5, None), "same epoch: ignored");
        assert!(
            !m.apply_leader_hint("t", 0, 9, 6, None),
            "unknown broker without endpoint"
        );
        assert!(m.apply_leader_hint("t", 0, 2, 6, None));
        assert_eq!(
            rx.borrow().partition("t", 0),
            Some(PartitionInfo {
                leader: Some(2),
                leader_epoch: 6
            })
        );
        assert!(m.apply_leader_hint("t", 0, 9, 7, Some(("b9".into(), 1))));
        assert_eq!(rx.borrow().broker(9), Some(&("b9".to_string(), 1)));
        // A lagging broker's metadata (epoch 5) does not undo it... unless the leader is gone.
        m.update(&response(&[(1, 5)]), Instant::now());
        assert_eq!(
            rx.borrow().partition("t", 0).and_then(|p| p.leader),
            Some(1),
            "b9 is not in the new broker list"
        );
        assert!(m.apply_leader_hint("t", 0, 2, 8, None));
        m.update(&response(&[(1, 5)]), Instant::now());
        assert_eq!(
            rx.borrow().partition("t", 0),
            Some(PartitionInfo {
                leader: Some(2),
                leader_epoch: 8
            })
        );
    }
}
