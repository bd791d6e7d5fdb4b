//! [`KeylessPath`]: what a keyless record for the built-in partitioner needs, behind one lock.

use std::sync::Arc;

use rand::rngs::StdRng;
use tokio::sync::watch;

use crate::accumulator::{LoadBoard, Queue, RecordAccumulator};
use crate::error::Result;
use crate::metadata::{ClusterMetadata, TopicMap};
use crate::partitioner::{draw, sticky_rng, Sticky};

use super::usable_topic;

/// The state keyless records share (KIP-794 sticky partitioning), taken once per record: the
/// sticky partition of each topic, the metadata it is drawn from and the queue of that
/// partition.
///
/// [`Producer`](super::Producer) holds the lock from the partition choice through the append
/// to the byte count that KIP-794's switch rule reads, so the three are one step. Keyless
/// records of a topic all go to its one sticky partition and are serialized by that queue's
/// lock anyway; holding this one as well spares each record the separate locks of the metadata,
/// the partitioner and the accumulator's topic map, and all but one lookup by topic name. Lock
/// order: this one, then the accumulator's (the sender never takes this one).
///
/// The partitioning is [`StickyPartitioner`](crate::partitioner::StickyPartitioner)'s, on the
/// same helpers.
#[derive(Debug)]
pub(super) struct KeylessPath {
    /// Its own receiver: `has_changed` is one atomic load, where `borrow` takes a lock.
    metadata: watch::Receiver<Arc<ClusterMetadata>>,
    /// The metadata as of the last refresh.
    cluster: Arc<ClusterMetadata>,
    /// `batch.size`: the switch threshold.
    batch_size: usize,
    rng: StdRng,
    topics: TopicMap<Arc<str>, KeylessTopic>,
    /// The accumulator's measure of each topic's queues (adaptive partitioning).
    load: Arc<LoadBoard>,
}

/// One topic on the keyless path.
#[derive(Debug)]
struct KeylessTopic {
    sticky: Sticky,
    /// The topic's partition count in metadata generation `generation`.
    count: i32,
    generation: u64,
    /// The queue last appended to, and its partition (the sticky one, mostly). Accumulator
    /// queues are never removed, so a kept queue stays its partition's queue.
    queue: Option<(i32, Queue)>,
}

/// One topic's entry, valid for the current metadata (see [`KeylessPath::with_topic`]).
pub(super) struct TopicCursor<'a> {
    name: &'a str,
    entry: &'a mut KeylessTopic,
    rng: &'a mut StdRng,
    batch_size: usize,
    cluster: &'a ClusterMetadata,
    load: &'a LoadBoard,
}

impl KeylessPath {
    pub(super) fn new(
        batch_size: usize,
        seed: Option<u64>,
        mut metadata: watch::Receiver<Arc<ClusterMetadata>>,
        load: Arc<LoadBoard>,
    ) -> Self {
        let cluster = metadata.borrow_and_update().clone();
        KeylessPath {
            cluster,
            metadata,
            batch_size: batch_size.max(1),
            rng: sticky_rng(seed),
            topics: TopicMap::default(),
            load,
        }
    }

    /// Runs `f` on `topic`'s entry under the latest metadata: `None` when the topic is not in
    /// metadata (yet), an error when the last refresh reported a non-retriable one for it. A
    /// topic seen for the first time gets a sticky partition drawn among its available ones; a
    /// metadata change that removed the sticky partition draws again.
    pub(super) fn with_topic<R>(
        &mut self,
        topic: &str,
        f: impl FnOnce(TopicCursor<'_>) -> R,
    ) -> Result<Option<R>> {
        // `Err`: the sender is gone; sends see that elsewhere, and the metadata kept is fine.
        if self.metadata.has_changed().unwrap_or(false) {
            self.cluster = self.metadata.borrow_and_update().clone();
        }
        let KeylessPath {
            cluster,
            batch_size,
            rng,
            topics,
            load,
            ..
        } = self;
        let generation = cluster.generation;
        if let Some(entry) = topics.get_mut(topic) {
            if entry.generation == generation {
                return Ok(Some(f(TopicCursor {
                    name: topic,
                    entry,
                    rng,
                    batch_size: *batch_size,
                    cluster,
                    load,
                })));
            }
        }
        let Some(meta) = usable_topic(cluster, topic)? else {
            return Ok(None);
        };
        let count = meta.partitions.len() as i32;
        match topics.get_mut(topic) {
            Some(entry) => {
                entry.count = count;
                entry.generation = generation;
                if entry.sticky.partition >= count {
                    let stats = load.get(topic);
                    entry.sticky = Sticky::new(draw(rng, count, &meta.available, stats.as_deref()));
                }
            }
            None => {
                let entry = KeylessTopic {
                    sticky: Sticky::new(draw(rng, count, &meta.available, load.get(topic).as_deref())),
                    count,
                    generation,
                    queue: None,
                };
                topics.insert(Arc::from(topic), entry);
            }
        }
        // Invariant: the entry was just updated or inserted.
        let Some(entry) = topics.get_mut(topic) else {
            return Ok(None);
        };
        Ok(Some(f(TopicCursor {
            name: topic,
            entry,
            rng,
            batch_size: *batch_size,
            cluster,
            load,
        })))
    }
}

impl TopicCursor<'_> {
    /// The sticky partition.
    pub(super) fn partition(&self) -> i32 {
        self.entry.sticky.partition
    }

    /// Runs `f` on the accumulator's queue of `partition`, kept for the next record.
    pub(super) fn with_queue<R>(
        &mut self,
        accumulator: &RecordAccumulator,
        partition: i32,
        f: impl FnOnce(&Queue) -> R,
    ) -> R {
        let kept = match &mut self.entry.queue {
            Some((p, queue)) if *p == partition => queue,
            slot => {
                &mut slot
                    .insert((partition, accumulator.queue(self.name, partition)))
                    .1
            }
        };
        f(kept)
    }

    /// Counts `appended_bytes` appended to `partition` and moves the topic to a new sticky
    /// partition when KIP-794 says so (see
    /// [`StickyPartitioner::update`](crate::partitioner::StickyPartitioner::update)).
    pub(super) fn record_append(&mut self, partition: i32, appended_bytes: usize, last_batch_full: bool) {
        if self
            .entry
            .sticky
            .record_append(self.batch_size, partition, appended_bytes, last_batch_full)
        {
            let available = self
                .cluster
                .topic(self.name)
                .map_or(&[][..], |t| &t.available[..]);
            let stats = self.load.get(self.name);
            self.entry.sticky = Sticky::new(draw(self.rng, self.entry.count, available, stats.as_deref()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kafkit_protocol::Compression;

    use super::*;
    use crate::metadata::{PartitionInfo, TopicMetadata};
    use crate::partitioner::{LoadStats, StickyPartitioner};

    /// Metadata with topic `t` of `n` partitions, those in `leaderless` without a leader.
    fn cluster(generation: u64, n: i32, leaderless: &[i32]) -> Arc<ClusterMetadata> {
        let partitions = (0..n)
            .map(|p| PartitionInfo {
                leader: (!leaderless.contains(&p)).then_some(0),
                leader_epoch: 0,
            })
            .collect();
        let available = (0..n).filter(|p| !leaderless.contains(p)).collect();
        let mut topics = TopicMap::default();
        topics.insert(
            Arc::from("t"),
            TopicMetadata {
                partitions,
                available,
            },
        );
        Arc::new(ClusterMetadata {
            topics,
            generation,
            ..ClusterMetadata::default()
        })
    }

    fn accumulator() -> RecordAccumulator {
        RecordAccumulator::new(100, Duration::ZERO, Compression::None, 1 << 20)
    }

    /// The keyless path draws and switches exactly as `StickyPartitioner` does with the same
    /// seed, batch size and appends.
    #[test]
    fn chooses_and_switches_as_the_sticky_partitioner() {
        let (tx, rx) = watch::channel(cluster(1, 8, &[2, 5]));
        let mut path = KeylessPath::new(100, Some(42), rx, Arc::default());
        let mut reference = StickyPartitioner::new(100, Some(42));
        let available = [0, 1, 3, 4, 6, 7];
        for i in 0..200usize {
            let (bytes, full) = (17 + i % 40, i % 3 == 0);
            let ours = path
                .with_topic("t", |mut c| {
                    let p = c.partition();
                    c.record_append(p, bytes, full);
                    p
                })
                .expect("no error")
                .expect("known topic");
            let theirs = reference.partition("t", 8, &available);
            reference.update("t", theirs, bytes, full, 8, &available);
            assert_eq!(ours, theirs, "record {i}");
        }
        drop(tx);
    }

    /// With load stats on the board, each new sticky partition is drawn with their weights,
    /// exactly as `StickyPartitioner::switch_weighted` draws with the same seed.
    #[test]
    fn draws_with_the_published_load_stats() {
        let (_tx, rx) = watch::channel(cluster(1, 8, &[]));
        let board = Arc::new(LoadBoard::default());
        let mut path = KeylessPath::new(100, Some(9), rx, board.clone());
        let mut reference = StickyPartitioner::new(100, Some(9));
        let all: Vec<i32> = (0..8).collect();
        let first = path.with_topic("t", |c| c.partition()).expect("no error");
        assert_eq!(
            first,
            Some(reference.partition("t", 8, &all)),
            "no stats: uniform"
        );
        // Partitions 0 and 3 only (the rest left out), 3 with the longer queue.
        let stats = LoadStats::from_queue_sizes(&[1, 4], &[0, 3], 8).expect("stats");
        board.publish(&Arc::from("t"), Some(stats.clone()));
        let mut seen = Vec::new();
        for _ in 0..100 {
            let ours = path
                .with_topic("t", |mut c| {
                    let p = c.partition();
                    c.record_append(p, 100, true);
                    p
                })
                .expect("no error")
                .expect("known");
            let theirs = reference.partition("t", 8, &all);
            reference.switch_weighted("t", 8, &all, Some(&stats));
            assert_eq!(ours, theirs);
            seen.push(ours);
        }
        let threes = seen[1..].iter().filter(|&&p| p == 3).count();
        assert!(seen[1..].iter().all(|p| [0, 3].contains(p)), "{seen:?}");
        // Weights 4 and 1: about a fifth of the draws go to partition 3.
        assert!((5..40).contains(&threes), "{threes} of 99");
    }

    #[test]
    fn unknown_topics_wait_and_fewer_partitions_draw_again() {
        let (tx, rx) = watch::channel(Arc::new(ClusterMetadata::default()));
        let mut path = KeylessPath::new(100, Some(1), rx, Arc::default());
        assert!(path
            .with_topic("t", |c| c.partition())
            .expect("no error")
            .is_none());
        tx.send_replace(cluster(1, 64, &[]));
        let mut first = 0;
        // Draw until the sticky partition is one that a shrink to 4 partitions removes.
        for _ in 0..1000 {
            first = path
                .with_topic("t", |mut c| {
                    let p = c.partition();
                    c.record_append(p, 200, true);
                    p
                })
                .expect("no error")
                .expect("known");
            if first >= 4 {
                break;
            }
        }
        assert!(first >= 4);
        tx.send_replace(cluster(2, 4, &[]));
        let now = path
            .with_topic("t", |c| c.partition())
            .expect("no error")
            .expect("known");
        assert!(now < 4, "redrawn among the 4 partitions left: {now}");
    }

    /// The queue kept for a topic follows the partition and is the accumulator's own.
    #[test]
    fn keeps_the_accumulators_queue_per_partition() {
        let (_tx, rx) = watch::channel(cluster(1, 3, &[]));
        let mut path = KeylessPath::new(100, Some(3), rx, Arc::default());
        let acc = accumulator();
        for p in [0, 0, 2, 1] {
            let same = path
                .with_topic("t", |mut c| {
                    c.with_queue(&acc, p, |q| Arc::ptr_eq(q, &acc.queue("t", p)))
                })
                .expect("no error")
                .expect("known");
            assert!(same, "partition {p}");
        }
    }
}
