//! What both batch benchmarks build: kafka-protocol's `Record`s for the records kafkit's builder
//! appends (key `key-0001`, `value_len` bytes of `a`, consecutive timestamps, no headers).

use bytes::Bytes;
use kafka_protocol::records::{Record, TimestampType as CrateTimestampType};

/// `count` records of `value_len`-byte values, as kafka-protocol's encoder takes them.
pub fn crate_records(count: usize, value_len: usize) -> Vec<Record> {
    let value = Bytes::from(vec![0x61; value_len]);
    (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: CrateTimestampType::Creation,
            offset: i as i64,
            // offset - sequence constant keeps the encoder from splitting batches.
            sequence: i as i32 - 1,
            timestamp: 1_700_000_000_000 + i as i64,
            key: Some(Bytes::from_static(b"key-0001")),
            value: Some(value.clone()),
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect()
}
