//! The storage layer: partition logs in Kafka's on-disk format and with Kafka's names, so
//! Kafka's own tools (`kafka-dump-log.sh`, `kafka-run-class.sh kafka.tools.DumpLogSegments`)
//! read what kafkit writes and a Kafka user finds their way around the files.
//!
//! # Layout
//!
//! On disk, one directory per partition:
//!
//! ```text
//! <data-dir>/<topic>-<partition>/
//!     00000000000000000000.log        batches as the leader stamped them, byte for byte
//!     00000000000000000000.index      offset index: relativeOffset i32 | position i32
//!     00000000000000000000.timeindex  time index: timestamp i64 | relativeOffset i32
//!     00000000000000001257.log        the next segment, named by its base offset ...
//!     leader-epoch-checkpoint         "0\n<n>\n<epoch> <start offset>\n..."
//!     partition.metadata              "version: 0\ntopic_id: <base64url uuid>"
//! ```
//!
//! In code, outermost first:
//!
//! - [`partition_log`]: [`PartitionLog`] (Kafka's `UnifiedLog`/`LocalLog`): append as leader,
//!   roll, flush, close; [`LogAppendInfo`].
//! - [`fetch`]: reads for Fetch and ListOffsets, stored-batch iteration; [`FetchData`].
//! - `loader`: opening a partition directory, recovery after an unclean shutdown.
//! - [`segments`]: [`LogSegments`], the segments by base offset.
//! - [`segment`]: [`LogSegment`], one `.log` with its two indexes; sparse indexing, roll rules,
//!   per-segment recovery.
//! - `index`, [`offset_index`], [`time_index`]: the memory-mapped indexes ([`OffsetIndex`],
//!   [`TimeIndex`], [`OffsetPosition`], [`TimestampOffset`]).
//! - `file_records`: walking the batches of a `.log` file.
//! - [`producer_state`]: [`ProducerStateManager`], idempotent-producer deduplication.
//! - [`leader_epoch`]: [`LeaderEpochFileCache`] and its checkpoint file.
//! - [`partition_metadata`]: `partition.metadata` and Kafka's topic-id text.
//! - `checkpoint`: atomic replacement of small text files.
//! - [`paths`]: topic-name validation, partition directories, segment file names.
//! - [`config`]: [`LogConfig`], the per-topic settings with Kafka's keys and defaults.
//!
//! # Choices and deviations
//!
//! - **No producer snapshots.** kafkit writes no `.snapshot` files; producer state is rebuilt on
//!   every open by scanning the log's batch headers (all of it, clean shutdown or not), keeping
//!   five batches per producer instead of the one a Kafka snapshot keeps.
//! - **Recovery point.** There is no `recovery-point-offset-checkpoint` yet: the caller passes
//!   the recovery point to [`PartitionLog::open`] (0 = recover every segment after an unclean
//!   shutdown). In memory it advances on roll (the old segment is fsynced inline, where Kafka
//!   schedules it) and on [`PartitionLog::flush`].
//! - **Stricter recovery.** Besides size and CRC, recovery requires each batch's base offset to
//!   continue the previous batch and its partition leader epoch to match the leader-epoch
//!   checkpoint: both fields are outside the CRC, so a flipped byte there is caught too.
//! - **Checks before effects.** A leader append runs every check before it assigns an epoch,
//!   rolls or writes, so a rejected or duplicate batch leaves the partition untouched.
//! - **Single-segment reads.** A fetch read returns whole batches from one segment, as Kafka's
//!   `UnifiedLog.read` does, but never a partial trailing batch.
//! - Out of scope: retention and deletion, compaction, transactions (`.txnindex`), follower
//!   truncation, `.log` preallocation, `segment.jitter.ms`.
//!
//! # References
//!
//! - reference/broker-storage-spec.md §1 (batch format), §2.4 and §9 (leader append), §3
//!   (segments and indexes), §4 (recovery, checkpoints, leader epochs), §5 (producer state), §7
//!   (topic names), §8 (defaults).
//! - Kafka: `UnifiedLog`, `LocalLog`, `LogLoader`, `LogSegment`, `LogSegments`,
//!   `AbstractIndex`, `OffsetIndex`, `TimeIndex`, `FileRecords`, `ProducerStateManager`,
//!   `LeaderEpochFileCache`, `PartitionMetadataFile`, `CheckpointFile`.
//! - KIP-74 (fetch returns at least one message), KIP-98 (idempotent producer), KIP-101 and
//!   KIP-279 (leader epochs), KIP-734 (ListOffsets max timestamp).

pub(crate) mod checkpoint;
pub mod config;
pub mod fetch;
mod file_records;
mod index;
pub mod leader_epoch;
mod loader;
pub mod offset_index;
pub mod partition_log;
pub mod partition_metadata;
pub mod paths;
pub mod producer_state;
pub mod segment;
pub mod segments;
pub mod time_index;
pub mod txn_index;

#[cfg(test)]
mod tests;

pub use config::LogConfig;
pub use fetch::{FetchData, StoredBatches};
pub use leader_epoch::{EpochEntry, LeaderEpochFileCache};
pub use offset_index::{OffsetIndex, OffsetPosition};
pub use partition_log::{LogAppendInfo, PartitionLog, SegmentInfo};
pub use partition_metadata::PartitionMetadataFile;
pub use paths::{partition_dir, validate_topic_name};
pub use producer_state::{BatchMetadata, ProducerStateEntry, ProducerStateManager};
pub use segment::{LogSegment, TimestampAndOffset};
pub use segments::LogSegments;
pub use time_index::{TimeIndex, TimestampOffset};
