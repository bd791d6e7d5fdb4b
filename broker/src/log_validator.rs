//! Validation of a produced partition's records, in the order and with the error codes of
//! Kafka's `KafkaApis`/`ProduceRequest.validateRecords`, `UnifiedLog.analyzeAndValidateRecords`
//! and `LogValidator` (reference/broker-storage-spec.md §2).
//!
//! Nothing here touches the log: a batch that passes is handed to
//! [`PartitionLog::append_as_leader`](crate::storage::PartitionLog::append_as_leader) together
//! with the timestamp to stamp. A batch that fails is answered with the error and nothing is
//! appended.
//!
//! A compressed batch whose inner offset deltas are not 0, 1, 2, ... is rebuilt with
//! sequential ones (same codec, records, timestamps and producer fields), as Kafka's
//! `buildRecordsAndAssignOffsets` does; every other batch is stored as sent (the in-place path),
//! with only header fields stamped. Uncompressed batches never have their deltas checked
//! (Kafka neither).
//!
//! # Deviations from Kafka
//! - kafkit never re-compresses to another codec, because topics have no `compression.type`
//!   other than `producer`.
//! - Decompression is capped at [`ValidationConfig::max_decompressed_bytes`]; a batch that
//!   expands past it is answered like a batch that fails to decompress (UNKNOWN_SERVER_ERROR).

use kafkit_protocol::record::{Batches, Header, RecordBatch, TimestampType, MAGIC_V2, NO_TIMESTAMP};
use kafkit_protocol::{Compression, ErrorCode, RecordBatchBuilder};

/// The topic and broker settings validation depends on.
#[derive(Debug, Clone)]
pub struct ValidationConfig {
    /// `max.message.bytes`: the largest batch accepted (default 1048588).
    pub max_message_bytes: usize,
    /// `message.timestamp.type` (default CreateTime).
    pub timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms` (default: unlimited).
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms` (Kafka 4.x default: one hour).
    pub timestamp_after_max_ms: i64,
    /// `cleanup.policy` contains `compact`: records need keys.
    pub compacted: bool,
    /// kafkit's own cap on a batch's decompressed size, against decompression bombs.
    pub max_decompressed_bytes: usize,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig {
            max_message_bytes: 1_048_588,
            timestamp_type: TimestampType::CreateTime,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: 3_600_000,
            compacted: false,
            max_decompressed_bytes: 128 * 1024 * 1024,
        }
    }
}

/// Why a partition's records were rejected: the partition's response fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The partition error code.
    pub code: ErrorCode,
    /// `error_message` (v8+): set only for per-record failures, as Kafka does.
    pub message: Option<String>,
    /// `record_errors` (v8+): `(batch_index, message)` of each failing record.
    pub record_errors: Vec<(i32, String)>,
    /// For logs: what was wrong.
    pub reason: String,
    /// Whether the failure came from the log's own checks (`analyzeAndValidateRecords`,
    /// `LogValidator`), after which Kafka's answer carries the real log start offset; it is -1
    /// for the request's checks (`ProduceRequest.validateRecords`), a bad CRC and a batch over
    /// `max.message.bytes`.
    pub from_log_checks: bool,
}

impl ValidationError {
    fn new(code: ErrorCode, reason: impl Into<String>) -> Self {
        ValidationError {
            code,
            message: None,
            record_errors: Vec::new(),
            reason: reason.into(),
            from_log_checks: false,
        }
    }

    /// Marks an error of the log's own checks (see [`from_log_checks`](Self::from_log_checks)).
    fn in_log_checks(mut self) -> Self {
        self.from_log_checks = true;
        self
    }
}

impl From<kafkit_protocol::Error> for ValidationError {
    fn from(e: kafkit_protocol::Error) -> Self {
        ValidationError::new(e.error_code(), e.to_string())
    }
}

/// A batch that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedBatch {
    /// Size of the batch in bytes: the prefix of the partition's `records` to append (trailing
    /// bytes after the only complete batch are dropped, as Kafka's `trimInvalidBytes` does).
    pub size: usize,
    /// Records in the batch.
    pub records_count: i32,
    /// The timestamp type to stamp.
    pub timestamp_type: TimestampType,
    /// The max timestamp to stamp: `now` under LogAppendTime, else the records' maximum.
    pub max_timestamp: i64,
    /// The batch's codec.
    pub compression: Compression,
    /// The batch to append instead of the one sent, when it had to be rebuilt (a compressed
    /// batch with inner offsets that are not sequential).
    pub rebuilt: Option<Vec<u8>>,
}

/// Validates one partition's `records` from a ProduceRequest of `request_version`;
/// `topic_partition` (`orders-3`) names the partition in Kafka's record error messages.
pub fn validate_records(
    records: &[u8],
    request_version: i16,
    config: &ValidationConfig,
    now_ms: i64,
    topic_partition: &str,
) -> Result<ValidatedBatch, ValidationError> {
    // ProduceRequest.validateRecords: framing, one v2 batch, zstd needs v7+.
    let mut batches = Batches::new(records);
    let batch = match batches.next() {
        None => {
            return Err(ValidationError::new(
                ErrorCode::InvalidRecord,
                "produce request must have at least one record batch",
            ))
        }
        Some(result) => result?,
    };
    debug_assert_eq!(batch.magic(), MAGIC_V2);
    if request_version < 7 && batch.compression() == Some(Compression::Zstd) {
        return Err(ValidationError::new(
            ErrorCode::UnsupportedCompressionType,
            format!("zstd compression needs produce version 7 or later, got {request_version}"),
        ));
    }
    if let Some(second) = batches.next() {
        second?;
        return Err(ValidationError::new(
            ErrorCode::InvalidRecord,
            "produce request must contain exactly one record batch",
        ));
    }
    // UnifiedLog.analyzeAndValidateRecords.
    if batch.base_offset() != 0 {
        return Err(ValidationError::new(
            ErrorCode::InvalidRecord,
            format!(
                "the base offset of the record batch should be 0, but it is {}",
                batch.base_offset()
            ),
        )
        .in_log_checks());
    }
    if batch.size_in_bytes() > config.max_message_bytes {
        return Err(ValidationError::new(
            ErrorCode::MessageTooLarge,
            format!(
                "record batch of {} bytes exceeds max.message.bytes {}",
                batch.size_in_bytes(),
                config.max_message_bytes
            ),
        ));
    }
    batch.ensure_valid()?;
    // LogValidator.validateBatch, then every record.
    batch
        .validate_header()
        .map_err(|e| ValidationError::from(e).in_log_checks())?;
    let checked = validate_each_record(&batch, config, now_ms, topic_partition)?;
    let (timestamp_type, max_timestamp) = match config.timestamp_type {
        TimestampType::LogAppendTime => (TimestampType::LogAppendTime, now_ms),
        TimestampType::CreateTime => (TimestampType::CreateTime, checked.max_timestamp),
    };
    let compression = batch.compression().unwrap_or_default();
    let rebuilt = if compression != Compression::None && !checked.sequential_offsets {
        Some(rebuild_with_sequential_offsets(&batch, config)?)
    } else {
        None
    };
    Ok(ValidatedBatch {
        size: batch.size_in_bytes(),
        records_count: batch.records_count(),
        timestamp_type,
        max_timestamp,
        compression,
        rebuilt,
    })
}

/// What the walk over the records found.
struct CheckedRecords {
    /// The largest record timestamp.
    max_timestamp: i64,
    /// Whether every record's offset delta is its index (Kafka's `expectedInnerOffset`).
    sequential_offsets: bool,
}

/// Kafka's `buildRecordsAndAssignOffsets` for a compressed batch whose inner offsets are not
/// sequential: the same records (keys, values, headers, timestamps) in a new batch of the same
/// codec with offset deltas 0, 1, 2, ..., keeping the producer id, epoch, base sequence and
/// transactional flag. The new batch is checked against `max.message.bytes` again.
fn rebuild_with_sequential_offsets(
    batch: &RecordBatch<'_>,
    config: &ValidationConfig,
) -> Result<Vec<u8>, ValidationError> {
    let compression = batch.compression().unwrap_or_default();
    let mut builder = RecordBatchBuilder::new(compression);
    builder.set_producer_state(batch.producer_id(), batch.producer_epoch(), batch.base_sequence());
    builder.set_transactional(batch.is_transactional());
    let mut scratch = Vec::new();
    for record in batch.records(&mut scratch, config.max_decompressed_bytes)? {
        let record = record?;
        let headers: Vec<Header<'_>> = record.headers.clone().collect();
        builder.append(record.timestamp, record.key, record.value, &headers);
    }
    let rebuilt = builder.into_vec()?;
    if rebuilt.len() > config.max_message_bytes {
        return Err(ValidationError::new(
            ErrorCode::MessageTooLarge,
            format!(
                "rebuilt record batch of {} bytes exceeds max.message.bytes {}",
                rebuilt.len(),
                config.max_message_bytes
            ),
        ));
    }
    tracing::debug!(
        records = batch.records_count(),
        "rebuilt a compressed batch with sequential inner offsets"
    );
    Ok(rebuilt)
}

/// Walks every record: structural failures fail the batch at once (INVALID_RECORD, no record
/// errors); timestamp and key failures are collected per record, as `processRecordErrors` does.
fn validate_each_record(
    batch: &RecordBatch<'_>,
    config: &ValidationConfig,
    now_ms: i64,
    topic_partition: &str,
) -> Result<CheckedRecords, ValidationError> {
    let mut scratch = Vec::new();
    let mut max_ts = NO_TIMESTAMP;
    let mut sequential_offsets = true;
    let mut record_errors = Vec::new();
    let mut any_timestamp_error = false;
    let log_append_bit = batch.timestamp_type() == TimestampType::LogAppendTime;
    for (index, record) in batch
        .records(&mut scratch, config.max_decompressed_bytes)?
        .enumerate()
    {
        let record = record?;
        let index = index as i32;
        max_ts = max_ts.max(record.timestamp);
        sequential_offsets &= record.offset_delta == index;
        if config.compacted && record.key.is_none() {
            record_errors.push((
                index,
                format!(
                    "Compacted topic cannot accept message without key in topic partition {topic_partition}"
                ),
            ));
            continue;
        }
        if config.timestamp_type == TimestampType::CreateTime && record.timestamp != NO_TIMESTAMP {
            let ts = record.timestamp;
            let too_old = now_ms.saturating_sub(ts) > config.timestamp_before_max_ms;
            let too_new = ts.saturating_sub(now_ms) > config.timestamp_after_max_ms;
            if too_old || too_new {
                any_timestamp_error = true;
                record_errors.push((
                    index,
                    format!(
                        "Timestamp {ts} of message with offset {} is out of range. The timestamp should be within [{}, {}]",
                        record.offset_delta,
                        now_ms.saturating_sub(config.timestamp_before_max_ms),
                        now_ms.saturating_add(config.timestamp_after_max_ms)
                    ),
                ));
            }
        } else if config.timestamp_type == TimestampType::CreateTime && log_append_bit {
            any_timestamp_error = true;
            record_errors.push((
                index,
                "Invalid timestamp type in message. Producer should not set timestamp type to LogAppendTime."
                    .to_string(),
            ));
        }
    }
    if record_errors.is_empty() {
        return Ok(CheckedRecords {
            max_timestamp: max_ts,
            sequential_offsets,
        });
    }
    let (code, message) = if any_timestamp_error {
        (
            ErrorCode::InvalidTimestamp,
            "One or more records have been rejected due to invalid timestamp".to_string(),
        )
    } else {
        // Java's `RecordError.toString()` for each of the first three.
        let shown: Vec<String> = record_errors
            .iter()
            .take(3)
            .map(|(i, m)| format!("RecordError(batchIndex={i}, message='{m}')"))
            .collect();
        (
            ErrorCode::InvalidRecord,
            format!(
                "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
                record_errors.len(),
                shown.join(", ")
            ),
        )
    };
    Err(ValidationError {
        code,
        reason: message.clone(),
        message: Some(message),
        record_errors,
        from_log_checks: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafkit_protocol::record::{Header, RecordBatchBuilder, RecordBatchMut};
    use rstest::rstest;

    const NOW: i64 = 1_700_000_000_000;

    fn batch(codec: Compression, timestamps: &[i64]) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new(codec);
        for &ts in timestamps {
            b.append(ts, Some(b"k"), Some(b"v"), &[Header::new("h", None)]);
        }
        b.build().expect("build").to_vec()
    }

    fn check(records: &[u8]) -> Result<ValidatedBatch, ValidationError> {
        validate_records(records, 9, &ValidationConfig::default(), NOW, "t-0")
    }

    #[test]
    fn a_good_batch_passes_with_its_max_timestamp() {
        let ok = check(&batch(Compression::Lz4, &[NOW - 5, NOW - 1, NOW - 3])).expect("valid");
        assert_eq!(
            (ok.records_count, ok.max_timestamp, ok.timestamp_type),
            (3, NOW - 1, TimestampType::CreateTime)
        );
    }

    #[test]
    fn log_append_time_topics_stamp_now() {
        let config = ValidationConfig {
            timestamp_type: TimestampType::LogAppendTime,
            ..Default::default()
        };
        let ok = validate_records(&batch(Compression::None, &[5]), 9, &config, NOW, "t-0").expect("valid");
        assert_eq!(
            (ok.timestamp_type, ok.max_timestamp),
            (TimestampType::LogAppendTime, NOW)
        );
    }

    #[rstest]
    #[case::empty(vec![], ErrorCode::InvalidRecord)]
    #[case::partial_only(batch(Compression::None, &[NOW])[..40].to_vec(), ErrorCode::InvalidRecord)]
    #[case::two_batches([batch(Compression::None, &[NOW]), batch(Compression::None, &[NOW])].concat(), ErrorCode::InvalidRecord)]
    #[case::short_length(vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 2], ErrorCode::CorruptMessage)]
    fn framing_errors(#[case] records: Vec<u8>, #[case] code: ErrorCode) {
        assert_eq!(check(&records).expect_err("invalid").code, code);
    }

    #[test]
    fn zstd_needs_produce_v7() {
        let b = batch(Compression::Zstd, &[NOW]);
        let err = validate_records(&b, 6, &ValidationConfig::default(), NOW, "t-0").expect_err("v6");
        assert_eq!(err.code, ErrorCode::UnsupportedCompressionType);
        assert!(validate_records(&b, 7, &ValidationConfig::default(), NOW, "t-0").is_ok());
    }

    #[test]
    fn nonzero_base_offset_is_invalid_record() {
        let mut b = batch(Compression::None, &[NOW]);
        RecordBatchMut::new(&mut b).expect("batch").set_base_offset(3);
        assert_eq!(check(&b).expect_err("invalid").code, ErrorCode::InvalidRecord);
    }

    #[test]
    fn oversized_batch_is_message_too_large() {
        let b = batch(Compression::None, &[NOW]);
        let config = ValidationConfig {
            max_message_bytes: b.len() - 1,
            ..Default::default()
        };
        assert_eq!(
            validate_records(&b, 9, &config, NOW, "t-0")
                .expect_err("big")
                .code,
            ErrorCode::MessageTooLarge
        );
    }

    #[test]
    fn bad_crc_is_corrupt_message() {
        let mut b = batch(Compression::None, &[NOW]);
        let n = b.len();
        b[n - 2] ^= 1;
        assert_eq!(check(&b).expect_err("corrupt").code, ErrorCode::CorruptMessage);
    }

    #[test]
    fn timestamps_out_of_range_are_per_record_errors() {
        let b = batch(
            Compression::Gzip,
            &[NOW, NOW + 3_600_001, NOW - 10, NOW + 7_200_000],
        );
        let err = check(&b).expect_err("future timestamps");
        assert_eq!(err.code, ErrorCode::InvalidTimestamp);
        let indexes: Vec<i32> = err.record_errors.iter().map(|(i, _)| *i).collect();
        assert_eq!(indexes, [1, 3]);
        assert_eq!(
            err.message.as_deref(),
            Some("One or more records have been rejected due to invalid timestamp")
        );
    }

    #[test]
    fn compacted_topics_need_keys() {
        let mut b = RecordBatchBuilder::new(Compression::None);
        b.append(NOW, None, Some(b"v"), &[]);
        b.append(NOW, Some(b"k"), Some(b"v"), &[]);
        let config = ValidationConfig {
            compacted: true,
            ..Default::default()
        };
        let err = validate_records(b.build().expect("build"), 9, &config, NOW, "t-0").expect_err("null key");
        assert_eq!(err.code, ErrorCode::InvalidRecord);
        assert_eq!(err.record_errors.len(), 1);
        assert!(err
            .message
            .as_deref()
            .is_some_and(|m| m.contains("1 record errors")));
    }

    /// A batch of `deltas.len()` records (keys `k0`, `k1`, ...) whose offset deltas are
    /// `deltas` (each below 64), compressed with `codec` (or not): what no real producer sends,
    /// crafted from an uncompressed batch.
    fn with_offset_deltas(codec: Compression, deltas: &[i32]) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new(Compression::None);
        b.set_producer_state(7, 1, 40);
        for (i, _) in deltas.iter().enumerate() {
            b.append(NOW, Some(format!("k{i}").as_bytes()), Some(b"v"), &[]);
        }
        let plain = b.build().expect("build").to_vec();
        let mut records = plain[61..].to_vec();
        let mut pos = 0;
        for &delta in deltas {
            // length (1 byte here), attributes, timestamp delta (0), offset delta.
            let len = usize::from(records[pos] >> 1);
            records[pos + 3] = u8::try_from(delta << 1).expect("small delta");
            pos += 1 + len;
        }
        let mut out = plain[..61].to_vec();
        if codec == Compression::None {
            out.extend_from_slice(&records);
        } else {
            codec.compress(&records, &mut out).expect("compress");
        }
        let length = i32::try_from(out.len() - 12).expect("small");
        out[8..12].copy_from_slice(&length.to_be_bytes());
        out[21..23].copy_from_slice(&i16::from(codec.id()).to_be_bytes());
        RecordBatchMut::new(&mut out).expect("batch").update_crc();
        out
    }

    /// Kafka assigns a compressed batch's inner offsets itself: deltas that are not 0, 1, 2
    /// make it rebuild the batch (same codec, records and producer fields, sequential deltas).
    /// Sequential ones keep the batch as sent, and uncompressed batches are never rebuilt.
    #[rstest]
    #[case::gzip_gap(Compression::Gzip, vec![0, 2, 3], true)]
    #[case::lz4_repeat(Compression::Lz4, vec![0, 0, 1], true)]
    #[case::zstd_shifted(Compression::Zstd, vec![1, 2, 3], true)]
    #[case::snappy_sequential(Compression::Snappy, vec![0, 1, 2], false)]
    #[case::uncompressed_gap(Compression::None, vec![0, 5, 9], false)]
    fn compressed_batches_with_non_sequential_inner_offsets_are_rebuilt(
        #[case] codec: Compression,
        #[case] deltas: Vec<i32>,
        #[case] rebuilt: bool,
    ) {
        let sent = with_offset_deltas(codec, &deltas);
        let seen: Vec<i32> = {
            let view = RecordBatch::parse(&sent).expect("valid");
            let mut scratch = Vec::new();
            let deltas = view
                .records(&mut scratch, usize::MAX)
                .expect("records")
                .map(|r| r.expect("record").offset_delta)
                .collect();
            deltas
        };
        assert_eq!(seen, deltas, "the crafted batch has the deltas asked for");
        let ok = check(&sent).expect("valid");
        assert_eq!(ok.rebuilt.is_some(), rebuilt);
        let Some(new) = ok.rebuilt else { return };
        let view = RecordBatch::parse(&new).expect("valid");
        assert!(view.is_crc_valid());
        assert_eq!(view.compression(), Some(codec));
        assert_eq!(
            (view.producer_id(), view.producer_epoch(), view.base_sequence()),
            (7, 1, 40)
        );
        assert_eq!((view.records_count(), view.last_offset_delta()), (3, 2));
        let mut scratch = Vec::new();
        let records: Vec<(i32, i64, Option<Vec<u8>>)> = view
            .records(&mut scratch, usize::MAX)
            .expect("records")
            .map(|r| r.expect("record"))
            .map(|r| (r.offset_delta, r.timestamp, r.key.map(<[u8]>::to_vec)))
            .collect();
        assert_eq!(
            records,
            [
                (0, NOW, Some(b"k0".to_vec())),
                (1, NOW, Some(b"k1".to_vec())),
                (2, NOW, Some(b"k2".to_vec()))
            ]
        );
    }

    #[test]
    fn decompression_bombs_are_refused() {
        let mut b = RecordBatchBuilder::new(Compression::Zstd);
        let big = vec![0u8; 1 << 20];
        for _ in 0..8 {
            b.append(NOW, None, Some(&big), &[]);
        }
        let config = ValidationConfig {
            max_decompressed_bytes: 1 << 20,
            ..Default::default()
        };
        let err = validate_records(b.build().expect("build"), 9, &config, NOW, "t-0").expect_err("bomb");
        assert_eq!(err.code, ErrorCode::UnknownServerError);
    }
}
