//! [`LogConfig`]: the per-topic settings the storage layer obeys, with Kafka's keys and defaults.

use std::time::Duration;

use kafkit_protocol::record::TimestampType;

use crate::error::{Error, Result};

/// Kafka's `LogConfig`, reduced to what a single-node leader's log uses.
///
/// Construct with struct-update syntax over [`Default`], which holds Kafka's defaults:
///
/// ```
/// use kafkit_broker::storage::LogConfig;
/// let config = LogConfig { segment_bytes: 1 << 20, ..LogConfig::default() };
/// config.validate()?;
/// # Ok::<(), kafkit_broker::error::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll to a new segment before the active one would exceed this size.
    /// Default 1 GiB; at most `i32::MAX` (index positions are int32), at least 14.
    pub segment_bytes: usize,
    /// `segment.ms`: roll once the active segment spans this much time, measured with batch
    /// timestamps (or wall-clock age when its first batch has none). Default 7 days.
    pub segment_ms: Duration,
    /// `segment.index.bytes`: size each index file is preallocated to (rounded down to a whole
    /// number of entries). Default 10 MiB.
    pub segment_index_bytes: usize,
    /// `index.interval.bytes`: an index entry is added once more than this many bytes were
    /// appended since the last one. Default 4096.
    pub index_interval_bytes: usize,
    /// `max.message.bytes`: largest batch the validator accepts (checked there, not here).
    /// Default 1048588.
    pub max_message_bytes: usize,
    /// `message.timestamp.type`: CreateTime keeps the producer's timestamps, LogAppendTime
    /// stamps the broker's clock on every batch. Default CreateTime.
    pub message_timestamp_type: TimestampType,
    /// `flush.messages`: fsync once this many messages were appended since the last flush;
    /// `None` (Kafka's default `Long.MAX_VALUE`) leaves durability to rolls, `flush()` and the
    /// page cache.
    pub flush_messages: Option<u64>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: Duration::from_millis(7 * 24 * 60 * 60 * 1000),
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            max_message_bytes: 1024 * 1024 + 12,
            message_timestamp_type: TimestampType::CreateTime,
            flush_messages: None,
        }
    }
}

impl LogConfig {
    /// Checks the ranges Kafka's config definitions enforce (plus the ones the file format
    /// needs: positions and sizes are int32).
    pub fn validate(&self) -> Result<()> {
        let int32 = i32::MAX as usize;
        if !(14..=int32).contains(&self.segment_bytes) {
            return Err(invalid(
                "segment.bytes",
                format!("{} is outside 14..=2147483647", self.segment_bytes),
            ));
        }
        if !(4..=int32).contains(&self.segment_index_bytes) {
            return Err(invalid(
                "segment.index.bytes",
                format!("{} is outside 4..=2147483647", self.segment_index_bytes),
            ));
        }
        if self.index_interval_bytes > int32 {
            return Err(invalid(
                "index.interval.bytes",
                format!("{} exceeds int32", self.index_interval_bytes),
            ));
        }
        if self.segment_ms.is_zero() {
            return Err(invalid("segment.ms", "must be at least 1 ms".to_owned()));
        }
        if self.flush_messages == Some(0) {
            return Err(invalid("flush.messages", "must be at least 1".to_owned()));
        }
        Ok(())
    }

    /// `segment.ms` in milliseconds, saturated to `i64`.
    pub(crate) fn segment_ms_i64(&self) -> i64 {
        i64::try_from(self.segment_ms.as_millis()).unwrap_or(i64::MAX)
    }
}

fn invalid(key: &'static str, reason: String) -> Error {
    Error::InvalidConfig { key, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas() {
        let c = LogConfig::default();
        assert_eq!(c.segment_bytes, 1_073_741_824);
        assert_eq!(c.segment_ms_i64(), 604_800_000);
        assert_eq!(c.segment_index_bytes, 10_485_760);
        assert_eq!(c.index_interval_bytes, 4096);
        assert_eq!(c.max_message_bytes, 1_048_588);
        assert_eq!(c.message_timestamp_type, TimestampType::CreateTime);
        assert_eq!(c.flush_messages, None);
        c.validate().expect("defaults are valid");
    }

    #[test]
    fn rejects_out_of_range_values() {
        let bad = [
            LogConfig {
                segment_bytes: 13,
                ..LogConfig::default()
            },
            LogConfig {
                segment_bytes: 1 << 31,
                ..LogConfig::default()
            },
            LogConfig {
                segment_index_bytes: 3,
                ..LogConfig::default()
            },
            LogConfig {
                segment_ms: Duration::ZERO,
                ..LogConfig::default()
            },
            LogConfig {
                flush_messages: Some(0),
                ..LogConfig::default()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }
}
