//! kafkit's async Kafka producer (work in progress: see issue 4).
//!
//! # Layout
//! - [`partitioner`]: Java-exact partitioning (murmur2 for keys, KIP-794 sticky for null keys).

pub mod partitioner;
