//! [`Payloads`]: record values like kafka-producer-perf-test's: random uppercase letters,
//! from a fixed seed, different for every record.
//!
//! Kafka's tool fills the payload with fresh random letters before every send. kafkit draws
//! the letters once, into a pool much larger than a batch, and hands each record a zero-copy
//! slice at a random position, so producing stays cheap for the tool while consecutive records
//! still differ (a compressor sees random text, not repeats).

use bytes::Bytes;

/// Smallest pool of letters the slices are cut from.
const MIN_POOL: usize = 4 << 20;

/// Record values of one size.
#[derive(Debug)]
pub struct Payloads {
    pool: Bytes,
    size: usize,
    rng: SplitMix64,
}

impl Payloads {
    /// Values of `size` bytes, from the pseudo-random sequence of `seed`.
    pub fn new(size: usize, seed: u64) -> Self {
        let mut rng = SplitMix64(seed);
        let len = size + MIN_POOL.max(size.saturating_mul(16));
        let mut pool = Vec::with_capacity(len + 8);
        while pool.len() < len {
            for b in rng.next_u64().to_le_bytes() {
                // Multiply-shift maps a byte onto 0..26 without a division.
                pool.push(b'A' + ((u32::from(b) * 26) >> 8) as u8);
            }
        }
        pool.truncate(len);
        Payloads {
            pool: Bytes::from(pool),
            size,
            rng,
        }
    }

    /// The next value.
    pub fn next_value(&mut self) -> Bytes {
        let positions = (self.pool.len() - self.size + 1) as u64;
        let start = (self.rng.next_u64() % positions) as usize;
        self.pool.slice(start..start + self.size)
    }
}

/// Steele, Lea and Flood's SplitMix64 generator (the algorithm of Java's
/// `SplittableRandom`): tiny, fast, and good enough for payload letters.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_uppercase_letters_of_the_requested_size() {
        let mut payloads = Payloads::new(100, 0);
        let values: Vec<Bytes> = (0..1000).map(|_| payloads.next_value()).collect();
        assert!(values
            .iter()
            .all(|v| v.len() == 100 && v.iter().all(u8::is_ascii_uppercase)));
        let distinct: std::collections::HashSet<&Bytes> = values.iter().collect();
        assert!(distinct.len() > 990, "values repeat: {} distinct", distinct.len());
        let letters: std::collections::HashSet<u8> = values.iter().flat_map(|v| v.iter().copied()).collect();
        assert_eq!(letters.len(), 26);
    }

    #[test]
    fn the_seed_fixes_the_sequence() {
        let (mut a, mut b) = (Payloads::new(10, 0), Payloads::new(10, 0));
        assert_eq!(a.next_value(), b.next_value());
        assert_ne!(
            Payloads::new(10, 1).next_value(),
            Payloads::new(10, 0).next_value()
        );
    }

    #[test]
    fn large_records_fit() {
        let mut payloads = Payloads::new(1 << 20, 0);
        assert_eq!(payloads.next_value().len(), 1 << 20);
    }
}
