//! The broker crate's error type.
//!
//! Every variant that a produce, fetch or list-offsets answer can carry names the Kafka error
//! code it maps to through [`Error::error_code`], so handlers never guess.

use std::io;
use std::path::PathBuf;

use kafkit_protocol::ErrorCode;

/// Everything that can go wrong in the broker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A topic name that Kafka rejects (`[a-zA-Z0-9._-]`, 1..=249 characters, not `.` or `..`);
    /// the message is Kafka's.
    #[error("Topic name is invalid: {reason}")]
    InvalidTopic {
        /// The rejected name.
        topic: String,
        /// What is wrong with it, in Kafka's words (`'..' is not allowed`).
        reason: String,
    },
    /// A partition directory whose name is not `<topic>-<partition>`.
    #[error("invalid partition directory {path}: {reason}")]
    InvalidPartitionDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file-system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`open`, `write`, `fsync`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A file-system error without a path to name (rare: most call sites add one).
    #[error("i/o error: {0}")]
    IoBare(#[from] io::Error),
    /// A record batch error from the protocol layer (a batch given to the log that does not
    /// parse, or a stored batch that no longer does).
    #[error(transparent)]
    Protocol(#[from] kafkit_protocol::Error),
    /// The batch is larger than `segment.bytes`: Kafka's `RecordBatchTooLargeException`.
    #[error("record batch of {size} bytes for {topic}-{partition} exceeds segment.bytes {segment_bytes}")]
    RecordListTooLarge {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Batch size in bytes.
        size: usize,
        /// The configured `segment.bytes`.
        segment_bytes: usize,
    },
    /// A fetch or lookup outside `[log_start_offset, log_end_offset]`.
    #[error(
        "offset {offset} is out of range for {topic}-{partition}: log start offset \
         {log_start_offset}, log end offset {log_end_offset}"
    )]
    OffsetOutOfRange {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The requested offset.
        offset: i64,
        /// Current log start offset.
        log_start_offset: i64,
        /// Current log end offset.
        log_end_offset: i64,
    },
    /// The batch's producer epoch is older than the one the partition has seen.
    #[error(
        "epoch {epoch} of producer {producer_id} at offset {offset} in {topic}-{partition} is \
         smaller than the last seen epoch {current_epoch}"
    )]
    InvalidProducerEpoch {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Producer id.
        producer_id: i64,
        /// The batch's epoch.
        epoch: i16,
        /// The epoch the partition knows.
        current_epoch: i16,
        /// The offset the batch would have been appended at.
        offset: i64,
    },
    /// The batch's sequence does not follow the producer's last one.
    #[error(
        "out of order sequence number for producer {producer_id} (epoch {epoch}) at offset \
         {offset} in {topic}-{partition}: {base_sequence} (incoming seq. number), \
         {last_sequence} (current end sequence number)"
    )]
    OutOfOrderSequence {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Producer id.
        producer_id: i64,
        /// The batch's producer epoch.
        epoch: i16,
        /// The batch's base sequence.
        base_sequence: i32,
        /// The last sequence the partition has for this producer (`-1` if none).
        last_sequence: i32,
        /// The offset the batch would have been appended at.
        offset: i64,
    },
    /// The leader epoch given for an append is negative or older than the newest one the
    /// partition has recorded; a stale leader must not write.
    #[error(
        "leader epoch {leader_epoch} for {topic}-{partition} is invalid: the latest recorded \
         leader epoch is {latest_epoch:?}"
    )]
    FencedLeaderEpoch {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The epoch given.
        leader_epoch: i32,
        /// The newest epoch in the leader-epoch cache.
        latest_epoch: Option<i32>,
    },
    /// An index file failed its sanity check, or an index operation broke its invariants.
    #[error("corrupt index {path}: {reason}")]
    CorruptIndex {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An offset that does not fit the segment (relative offset outside `0..=i32::MAX`) or an
    /// index append that is not monotonic.
    #[error("invalid offset {offset} for segment with base offset {base_offset} ({path}): {reason}")]
    InvalidOffset {
        /// The file involved.
        path: PathBuf,
        /// The segment's base offset.
        base_offset: i64,
        /// The offending offset.
        offset: i64,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// A checkpoint or metadata file that does not parse.
    #[error("malformed {path}: {reason}")]
    CorruptCheckpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `partition.metadata` names another topic id than the one assigned.
    #[error("topic id {assigned} for {topic} does not match {stored} stored in {path}")]
    InconsistentTopicId {
        /// Topic.
        topic: String,
        /// The id being assigned.
        assigned: uuid::Uuid,
        /// The id on disk.
        stored: uuid::Uuid,
        /// The `partition.metadata` file.
        path: PathBuf,
    },
    /// A configuration value outside what Kafka accepts.
    #[error("invalid configuration {key}: {reason}")]
    InvalidConfig {
        /// Kafka's key (`segment.bytes`, ...).
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// A setting that cannot work (no brokers, a port that cannot be bound, ...).
    #[error("invalid broker configuration: {0}")]
    Config(String),
    /// A data directory whose contents do not add up.
    #[error("corrupt data directory {path}: {reason}")]
    Corrupt {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// The Kafka error code a broker answers for this error.
    ///
    /// I/O and on-disk corruption are `KAFKA_STORAGE_ERROR`, as Kafka reports a failed log dir.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Error::InvalidTopic { .. } => ErrorCode::InvalidTopicException,
            Error::RecordListTooLarge { .. } => ErrorCode::RecordListTooLarge,
            Error::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
            Error::InvalidProducerEpoch { .. } => ErrorCode::InvalidProducerEpoch,
            Error::OutOfOrderSequence { .. } => ErrorCode::OutOfOrderSequenceNumber,
            Error::FencedLeaderEpoch { .. } => ErrorCode::FencedLeaderEpoch,
            Error::InconsistentTopicId { .. } => ErrorCode::InconsistentTopicId,
            Error::Protocol(e) => e.error_code(),
            Error::Io { .. }
            | Error::IoBare(_)
            | Error::CorruptIndex { .. }
            | Error::CorruptCheckpoint { .. }
            | Error::InvalidPartitionDir { .. } => ErrorCode::KafkaStorageError,
            Error::Corrupt { .. } => ErrorCode::KafkaStorageError,
            Error::InvalidOffset { .. } | Error::InvalidConfig { .. } | Error::Config(_) => {
                ErrorCode::UnknownServerError
            }
        }
    }

    /// An I/O error with the operation and path that failed.
    pub(crate) fn io(op: &'static str, path: &std::path::Path, source: io::Error) -> Error {
        Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::invalid_topic(Error::InvalidTopic { topic: "..".into(), reason: "dots".into() }, ErrorCode::InvalidTopicException)]
    #[case::too_large(
        Error::RecordListTooLarge { topic: "t".into(), partition: 0, size: 2, segment_bytes: 1 },
        ErrorCode::RecordListTooLarge
    )]
    #[case::out_of_range(
        Error::OffsetOutOfRange { topic: "t".into(), partition: 0, offset: 9, log_start_offset: 0, log_end_offset: 1 },
        ErrorCode::OffsetOutOfRange
    )]
    #[case::producer_epoch(
        Error::InvalidProducerEpoch { topic: "t".into(), partition: 0, producer_id: 1, epoch: 0, current_epoch: 1, offset: 0 },
        ErrorCode::InvalidProducerEpoch
    )]
    #[case::sequence(
        Error::OutOfOrderSequence {
            topic: "t".into(), partition: 0, producer_id: 1, epoch: 0, base_sequence: 5, last_sequence: 2, offset: 0
        },
        ErrorCode::OutOfOrderSequenceNumber
    )]
    #[case::io(
        Error::io("write", std::path::Path::new("/x"), io::Error::other("disk")),
        ErrorCode::KafkaStorageError
    )]
    fn error_codes(#[case] error: Error, #[case] code: ErrorCode) {
        assert_eq!(error.error_code(), code);
        let message = error.to_string();
        // Lowercase, except where the message is Kafka's own (clients compare it).
        let kafkas = matches!(error, Error::InvalidTopic { .. });
        assert!(
            kafkas || message.starts_with(|c: char| c.is_lowercase()),
            "{message}"
        );
    }

    #[test]
    fn messages_carry_context() {
        let e = Error::OffsetOutOfRange {
            topic: "orders".into(),
            partition: 3,
            offset: 42,
            log_start_offset: 0,
            log_end_offset: 10,
        };
        assert_eq!(
            e.to_string(),
            "offset 42 is out of range for orders-3: log start offset 0, log end offset 10"
        );
    }
}
