//! A fast hasher for the maps keyed by topic name, which `send` looks up for every record.
//!
//! std's SipHash resists collision attacks, which matters for keys an attacker picks; topic
//! names come from the application itself, so the producer trades that for speed with a
//! multiply-rotate hash over 8-byte words (the scheme of Firefox's and rustc's "Fx" hash).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map keyed by topic name.
pub(crate) type TopicMap<K, V> = HashMap<K, V, BuildHasherDefault<TopicHasher>>;

/// Multiply-rotate hashing of 8-byte words.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TopicHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl TopicHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for TopicHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn distinct_names_hash_apart_and_maps_work() {
        let build = BuildHasherDefault::<TopicHasher>::default();
        let names = [
            "orders",
            "orders-1",
            "orders-2",
            "a",
            "b",
            "",
            "a-much-longer-topic-name.v2",
        ];
        let hashes: std::collections::HashSet<u64> = names.iter().map(|n| build.hash_one(n)).collect();
        assert_eq!(hashes.len(), names.len());
        let mut map: TopicMap<String, usize> = TopicMap::default();
        for (i, n) in names.iter().enumerate() {
            map.insert(n.to_string(), i);
        }
        assert_eq!(map.get("orders-2"), Some(&2));
    }
}
