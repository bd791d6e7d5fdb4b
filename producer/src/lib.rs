//! kafkit's async Kafka producer (work in progress: see issue 4).
//!
//! # Layout
//! - [`config`]: [`ProducerConfig`], Java's keys, defaults and validation.
//! - [`error`]: [`Error`], what can go wrong, cloneable.
//! - [`partitioner`]: Java-exact partitioning (murmur2 for keys, KIP-794 sticky for null keys).

mod accumulator;
mod backoff;
pub mod config;
pub mod connection;
pub mod error;
mod metadata;
pub mod partitioner;
mod record;

pub use config::{Acks, Compression, ProducerConfig, ProducerConfigBuilder};
pub use error::{Error, Result};
pub use partitioner::Partitioner;
pub use record::{ProducerRecord, ProducerRecordBuilder, RecordHeader, RecordMetadata};
