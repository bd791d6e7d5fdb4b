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
//! Adaptive partitioning (weighting partitions by queue length) is not implemented; with uniform
//! sticky partitioning every available partition is equally likely.
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

/// A new sticky partition: drawn among `available` (all `num_partitions` if empty).
pub(crate) fn draw(rng: &mut StdRng, num_partitions: i32, available: &[i32]) -> i32 {
    let random = rng.gen::<u32>() & 0x7fff_ffff;
    match available.len() {
        0 => (random % num_partitions.max(1) as u32) as i32,
        1 => available[0],
        n => available[(random % n as u32) as usize],
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
        let partition = draw(&mut self.rng, num_partitions, available);
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
        let next = draw(&mut self.rng, num_partitions, available);
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
