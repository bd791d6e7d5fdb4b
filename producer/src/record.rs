//! What a caller sends ([`ProducerRecord`]) and what it gets back ([`RecordMetadata`]).
//!
//! Keys and values are [`Bytes`], so a `Vec<u8>` or a `&'static [u8]` moves in without a copy;
//! the producer copies them once, into the batch. A `None` key or value is Kafka's null, distinct
//! from an empty one: an empty key is hashed like any other key, only a null key goes to the
//! sticky partitioner.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;

/// A record header (KIP-82). Keys may repeat within a record; order is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    /// The key (UTF-8, as Kafka defines it).
    pub key: String,
    /// The value; `None` is null.
    pub value: Option<Bytes>,
}

/// A record to send.
///
/// ```
/// use kafkit_producer::ProducerRecord;
/// let record = ProducerRecord::builder("orders")
///     .key("customer-7")
///     .value(&b"{\"total\": 12}"[..])
///     .header("trace", Some("abc"))
///     .header("trace", Some("def")) // keys may repeat
///     .build();
/// assert_eq!(record.headers.len(), 2);
/// assert_eq!(record.partition, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    /// The topic.
    pub topic: Cow<'static, str>,
    /// The partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// The key; `None` is null.
    pub key: Option<Bytes>,
    /// The value; `None` is null (a tombstone on compacted topics).
    pub value: Option<Bytes>,
    /// The headers.
    pub headers: Vec<RecordHeader>,
    /// The timestamp in milliseconds since the Unix epoch; `None` means "now" at `send`.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record with a value and no key, partition, headers or timestamp.
    pub fn new(topic: impl Into<Cow<'static, str>>, value: impl Into<Bytes>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// A builder for a record of `topic` with everything else unset (a null value included).
    pub fn builder(topic: impl Into<Cow<'static, str>>) -> ProducerRecordBuilder {
        ProducerRecordBuilder {
            record: ProducerRecord {
                topic: topic.into(),
                partition: None,
                key: None,
                value: None,
                headers: Vec::new(),
                timestamp: None,
            },
        }
    }
}

/// Builds a [`ProducerRecord`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ProducerRecordBuilder {
    record: ProducerRecord,
}

impl ProducerRecordBuilder {
    /// Sends to this partition instead of asking the partitioner.
    pub fn partition(mut self, partition: i32) -> Self {
        self.record.partition = Some(partition);
        self
    }

    /// The key.
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.record.key = Some(key.into());
        self
    }

    /// The value.
    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.record.value = Some(value.into());
        self
    }

    /// Appends a header; a key may be added more than once.
    pub fn header(mut self, key: impl Into<String>, value: Option<impl Into<Bytes>>) -> Self {
        self.record.headers.push(RecordHeader {
            key: key.into(),
            value: value.map(Into::into),
        });
        self
    }

    /// The timestamp, in milliseconds since the Unix epoch.
    pub fn timestamp(mut self, timestamp: i64) -> Self {
        self.record.timestamp = Some(timestamp);
        self
    }

    /// The record.
    pub fn build(self) -> ProducerRecord {
        self.record
    }
}

/// Where a record landed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The record's offset; `-1` when unknown: with acks=0, or when the broker answered
    /// DUPLICATE_SEQUENCE_NUMBER without an offset.
    pub offset: i64,
    /// The record's timestamp: the one sent (CreateTime), or the broker's append time when the
    /// topic uses LogAppendTime.
    pub timestamp: i64,
}
