//! Choosing a partition, bit-exact with Java's producer.
//!
//! - A record with an explicit partition goes there.
//! - A record with a key (an empty key included) goes to `murmur2(key) & 0x7fffffff % n`, where
//!   `n` counts **all** partitions of the topic, available or not (Java's
//!   `BuiltInPartitioner.partitionForKey`). librdkafka's default partitioner differs; kafkit does
//!   not.
//! - A record without a key goes to the topic's sticky partition (KIP-794 uniform sticky): the
//!   partitioner stays on one partition until `batch.size` bytes were produced to it **and** its
//!   last batch is full, or unconditionally once `2 * batch.size` bytes were produced; the next
//!   partition is drawn at random among the partitions whose leader is known (all of them if none
//!   is). The random source is seeded, so tests can make it deterministic.
//! - A custom [`Partitioner`] replaces all of this for the records without an explicit partition.
//!
//! - Adaptive partitioning (`partitioner.adaptive.partitioning.enable`, on by default): once
//!   every partition of a topic has had a batch, each readiness check of the sender publishes
//!   the topic's [`LoadStats`], built from the number of batches queued per partition, and a
//!   new sticky partition is then drawn with weight `longest queue + 1 - queue` (a partition
//!   behind a slow broker is drawn less often). Stats are dropped, and the draw is uniform
//!   again, while all queues are equally long. With `partitioner.availability.timeout.ms` set,
//!   the partitions of a broker that has had sendable data it could not take for longer than
//!   that are left out of the weighted draw.
//!
//! # References
//! - `BuiltInPartitioner.java`, `Utils.murmur2`, `Utils.toPositive`; KIP-794, KIP-480

use std::fmt;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::metadata::TopicMap;

/// Kafka's murmur2 hash (`Utils.murmur2`): 32-bit MurmurHash2 with seed `0x9747b28c`, reading
/// little-endian words.
///
/// ```
/// assert_eq!(kafkit_producer::partitioner::murmur2(b"21"), -973932308);
/// ```
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        let mut k = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = words.remainder();
    // Java's switch falls through from 3 to 2 to 1.
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Java's producer picks for `key` among `num_partitions` partitions:
/// `toPositive(murmur2(key)) % num_partitions` (a mask, not `abs`).
///
/// ```
/// assert_eq!(kafkit_producer::partitioner::partition_for_key(b"foobar", 12), 6);
/// ```
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> i32 {
    debug_assert!(num_partitions > 0);
    (murmur2(key) & 0x7fff_ffff) % num_partitions.max(1)
}

/// A user-supplied partitioner (Java's `partitioner.class`).
pub trait Partitioner: Send + Sync + fmt::Debug {
    /// The partition, in `0..num_partitions`, for a record of `topic` that did not name one.
    fn partition(&self, topic: &str, key: Option<&[u8]>, value: Option<&[u8]>, num_partitions: i32) -> i32;
}

/// One topic's sticky state: its partition and the bytes produced to it since it was drawn.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sticky {
    /// The sticky partition.
    pub(crate) partition: i32,
    produced_bytes: usize,
}

impl Sticky {
    /// A fresh state on `partition`.
    pub(crate) fn new(partition: i32) -> Self {
        Sticky {
            partition,
            produced_bytes: 0,
        }
    }

    /// Counts `appended_bytes` produced to `partition` and says whether KIP-794 asks for a new
    /// partition now: `batch_size` bytes produced and the last batch full, or `2 * batch_size`
    /// bytes whatever the batch. Records appended to another partition (the sticky partition
    /// moved meanwhile) do not count.
    pub(crate) fn record_append(
        &mut self,
        batch_size: usize,
        partition: i32,
        appended_bytes: usize,
        last_batch_full: bool,
    ) -> bool {
        if self.partition != partition {
            return false;
        }
        self.produced_bytes += appended_bytes;
        let enough = self.produced_bytes >= batch_size && last_batch_full;
        let too_much = self.produced_bytes >= 2 * batch_size;
        enough || too_much
    }
}

/// The random source of the sticky partitioner, seeded with `seed` (random when `None`).
pub(crate) fn sticky_rng(seed: Option<u64>) -> StdRng {
    match seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => StdRng::from_entropy(),
    }
}

/// A new sticky partition: drawn with the weights of `stats` when the topic has them,
/// otherwise uniformly among `available` (all `num_partitions` if empty). One random number
/// either way, as in Java's `BuiltInPartitioner.nextPartition`.
pub(crate) fn draw(
    rng: &mut StdRng,
    num_partitions: i32,
    available: &[i32],
    stats: Option<&LoadStats>,
) -> i32 {
    let random = rng.gen::<u32>() & 0x7fff_ffff;
    if let Some(stats) = stats {
        return stats.pick(random);
    }
    match available.len() {
        0 => (random % num_partitions.max(1) as u32) as i32,
        1 => available[0],
        n => available[(random % n as u32) as usize],
    }
}

/// A topic's partition load for adaptive partitioning (KIP-794): a cumulative frequency table
/// over the partitions that have a leader (and are not left out by
/// `partitioner.availability.timeout.ms`), each weighted `longest queue + 1 - its queue`, where
/// a queue's length is its number of batches.
///
/// ```
/// use kafkit_producer::partitioner::LoadStats;
///
/// // Queues of 0, 3 and 1 batches weigh 4, 1 and 3: of the random numbers 0..8, four pick
/// // partition 0, one partition 1 and three partition 2.
/// let stats = LoadStats::from_queue_sizes(&[0, 3, 1], &[0, 1, 2], 3).expect("unequal queues");
/// let picks: Vec<i32> = (0..8).map(|r| stats.pick(r)).collect();
/// assert_eq!(picks, [0, 0, 0, 0, 1, 2, 2, 2]);
///
/// // Equal queues over every partition: no stats, the draw stays uniform.
/// assert!(LoadStats::from_queue_sizes(&[2, 2, 2], &[0, 1, 2], 3).is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadStats {
    /// Running sums of the weights; strictly increasing, the last one the range of the draw.
    cumulative: Vec<u32>,
    /// The partition of each entry.
    partitions: Vec<i32>,
}

impl LoadStats {
    /// The stats for the given queue lengths (batches queued) of `partitions`, the partitions
    /// that have a leader and were not left out, out of `all` partitions that have a queue.
    /// `None` where Java's partitioner has none and draws uniformly: fewer than two partitions
    /// in all, none given, or every partition given with queues of one length.
    pub fn from_queue_sizes(queue_sizes: &[u32], partitions: &[i32], all: usize) -> Option<Self> {
        let len = queue_sizes.len().min(partitions.len());
        if len < 1 || all < 2 {
            return None;
        }
        let sizes = &queue_sizes[..len];
        let longest = sizes.iter().copied().max().unwrap_or(0);
        if len == all && sizes.iter().all(|&q| q == longest) {
            return None;
        }
        let mut sum = 0u32;
        let cumulative = sizes
            .iter()
            .map(|&q| {
                sum = sum.saturating_add(longest - q + 1);
                sum
            })
            .collect();
        Some(LoadStats {
            cumulative,
            partitions: partitions[..len].to_vec(),
        })
    }

    /// The partition a non-negative random number picks: the first entry whose running sum
    /// exceeds `random % total`.
    pub fn pick(&self, random: u32) -> i32 {
        // Invariant (constructor): at least one entry, each weight at least 1.
        let total = self.cumulative.last().copied().unwrap_or(1).max(1);
        let r = random % total;
        let index = self.cumulative.partition_point(|&c| c <= r);
        self.partitions[index.min(self.partitions.len() - 1)]
    }

    /// The partitions in the draw, in order.
    pub fn partitions(&self) -> &[i32] {
        &self.partitions
    }
}

/// The built-in partitioner's state for keyless records: one sticky partition per topic.
#[derive(Debug)]
pub struct StickyPartitioner {
    /// `batch.size`: the switch threshold.
    batch_size: usize,
    rng: StdRng,
    topics: TopicMap<String, Sticky>,
}

impl StickyPartitioner {
    /// A partitioner switching after `batch_size` bytes, drawing from a generator seeded with
    /// `seed` (random when `None`).
    pub fn new(batch_size: usize, seed: Option<u64>) -> Self {
        StickyPartitioner {
            batch_size: batch_size.max(1),
            rng: sticky_rng(seed),
            topics: TopicMap::default(),
        }
    }

    /// The current sticky partition of `topic`, drawing one if there is none yet.
    /// `available` lists the partitions whose leader is known.
    pub fn partition(&mut self, topic: &str, num_partitions: i32, available: &[i32]) -> i32 {
        if let Some(s) = self.topics.get(topic) {
            if s.partition < num_partitions {
                return s.partition;
            }
        }
        let partition = draw(&mut self.rng, num_partitions, available, None);
        self.topics.insert(topic.to_string(), Sticky::new(partition));
        partition
    }

    /// Records `appended_bytes` produced to `partition` of `topic` and switches partitions when
    /// KIP-794 says to. `last_batch_full`: the partition's newest batch cannot take more records.
    pub fn update(
        &mut self,
        topic: &str,
        partition: i32,
        appended_bytes: usize,
        last_batch_full: bool,
        num_partitions: i32,
        available: &[i32],
    ) {
        if self.record_append(topic, partition, appended_bytes, last_batch_full) {
            self.switch(topic, num_partitions, available);
        }
    }

    /// The first half of [`update`](Self::update): counts the bytes and says whether KIP-794
    /// asks for a new partition now, which [`switch`](Self::switch) then draws. Split so that
    /// the caller fetches the available partitions only when they are needed.
    pub fn record_append(
        &mut self,
        topic: &str,
        partition: i32,
        appended_bytes: usize,
        last_batch_full: bool,
    ) -> bool {
        self.topics
            .get_mut(topic)
            .is_some_and(|s| s.record_append(self.batch_size, partition, appended_bytes, last_batch_full))
    }

    /// Moves `topic` to a new sticky partition, drawn among `available` (all partitions if
    /// empty).
    pub fn switch(&mut self, topic: &str, num_partitions: i32, available: &[i32]) {
        self.switch_weighted(topic, num_partitions, available, None);
    }

    /// [`switch`](Self::switch) for adaptive partitioning: with `stats`, the new partition is
    /// drawn with their weights.
    pub fn switch_weighted(
        &mut self,
        topic: &str,
        num_partitions: i32,
        available: &[i32],
        stats: Option<&LoadStats>,
    ) {
        let next = draw(&mut self.rng, num_partitions, available, stats);
        if let Some(sticky) = self.topics.get_mut(topic) {
            *sticky = Sticky::new(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// Kafka's `UtilsTest.testMurmur2` vectors, plus the empty key.
    #[rstest]
    #[case("21", -973932308)]
    #[case("foobar", -790332482)]
    #[case("a-little-bit-long-string", -985981536)]
    #[case("a-little-bit-longer-string", -1486304829)]
    #[case("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971)]
    #[case("abc", 479470107)]
    #[case("", 275646681)]
    fn murmur2_matches_kafka(#[case] key: &str, #[case] hash: i32) {
        assert_eq!(murmur2(key.as_bytes()), hash);
    }

    #[rstest]
    #[case("foobar", 12, 6)]
    #[case("abc", 6, 3)]
    #[case("", 6, 3)]
    #[case("21", 1, 0)]
    fn keyed_partitions_match_java(#[case] key: &str, #[case] n: i32, #[case] p: i32) {
        assert_eq!(partition_for_key(key.as_bytes(), n), p);
    }

    #[test]
    fn negative_hashes_are_masked_not_abs() {
        // murmur2("21") is negative: abs would give a different partition than the mask.
        let h = murmur2(b"21");
        assert!(h < 0);
        assert_eq!(partition_for_key(b"21", 7), (h & 0x7fff_ffff) % 7);
        assert_ne!(partition_for_key(b"21", 7), h.unsigned_abs() as i32 % 7);
    }

    #[test]
    fn sticky_switches_only_when_full_or_at_twice_batch_size() {
        let mut p = StickyPartitioner::new(100, Some(7));
        let all = [0, 1, 2, 3, 4, 5, 6, 7];
        let first = p.partition("t", 8, &all);
        p.update("t", first, 60, false, 8, &all);
        p.update("t", first, 60, false, 8, &all);
        assert_eq!(
            p.partition("t", 8, &all),
            first,
            "120 bytes, batch not full: stay"
        );
        p.update("t", first, 79, false, 8, &all);
        assert_eq!(
            (p.partition("t", 8, &all), p.topics["t"].produced_bytes),
            (first, 199),
            "below 2x: stay"
        );
        p.update("t", first, 1, false, 8, &all);
        assert_eq!(
            p.topics["t"].produced_bytes, 0,
            "2 * batch.size: a hard switch, even with the batch not full"
        );
    }

    #[test]
    fn sticky_switches_when_threshold_met_and_batch_full() {
        let mut p = StickyPartitioner::new(100, Some(1));
        let all: Vec<i32> = (0..16).collect();
        let mut switches = 0;
        let mut current = p.partition("t", 16, &all);
        for _ in 0..50 {
            p.update("t", current, 100, true, 16, &all);
            let next = p.partition("t", 16, &all);
            assert_eq!(p.topics["t"].produced_bytes, 0);
            if next != current {
                switches += 1;
            }
            current = next;
        }
        assert!(switches > 40, "a fresh draw each time: {switches}");
    }

    #[test]
    fn load_stats_follow_javas_rules() {
        // Java's worked example: queues 0 3 1 -> weights 4 1 3 -> table 4 5 8.
        let s = LoadStats::from_queue_sizes(&[0, 3, 1], &[0, 1, 2], 3).expect("unequal");
        assert_eq!(s.cumulative, [4, 5, 8]);
        // A random number is taken modulo the table's range.
        assert_eq!((s.pick(8), s.pick(12), s.pick(13)), (0, 1, 2));
        // Fewer than two partitions in all, or none given: uniform.
        assert_eq!(LoadStats::from_queue_sizes(&[5], &[0], 1), None);
        assert_eq!(LoadStats::from_queue_sizes(&[], &[], 3), None);
        // Equal queues are uniform only when no partition was left out.
        assert_eq!(LoadStats::from_queue_sizes(&[1, 1], &[0, 2], 2), None);
        let left_out = LoadStats::from_queue_sizes(&[1, 1], &[0, 2], 3).expect("one left out");
        assert_eq!(left_out.partitions(), [0, 2]);
        assert!((0..100).all(|r| left_out.pick(r) != 1));
        // One partition left of several: it takes every draw.
        let one = LoadStats::from_queue_sizes(&[7], &[4], 3).expect("one left");
        assert!((0..50).all(|r| one.pick(r) == 4));
    }

    #[test]
    fn weighted_draws_favour_short_queues() {
        let stats = LoadStats::from_queue_sizes(&[0, 9], &[0, 1], 2).expect("unequal");
        let mut rng = sticky_rng(Some(5));
        let picks: Vec<i32> = (0..1000)
            .map(|_| draw(&mut rng, 2, &[0, 1], Some(&stats)))
            .collect();
        let ones = picks.iter().filter(|&&p| p == 1).count();
        // Weights 10 and 1: partition 1 gets about 1 in 11.
        assert!((50..130).contains(&ones), "{ones}");
    }

    #[test]
    fn sticky_is_deterministic_with_a_seed_and_prefers_available_partitions() {
        let draw = |seed| {
            let mut p = StickyPartitioner::new(10, Some(seed));
            (0..20)
                .map(|_| {
                    let part = p.partition("t", 6, &[1, 4]);
                    p.update("t", part, 20, true, 6, &[1, 4]);
                    part
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
        assert!(draw(42).iter().all(|p| *p == 1 || *p == 4));
    }
}
