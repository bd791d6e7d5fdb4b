//! Fetch reads, offsets by timestamp, stored-batch iteration.

use kafkit_protocol::{ErrorCode, RecordBatch};
use rstest::rstest;

use super::fixtures::*;
use crate::storage::{LogConfig, PartitionLog, TimestampAndOffset};

/// Five 4-record batches (offsets 0..20), record timestamps T0 + 10*batch + record; a small
/// index interval so lookups go through the indexes.
fn five_batches(partition: &Partition) -> (PartitionLog, Vec<Vec<u8>>) {
    let config = LogConfig {
        index_interval_bytes: 150,
        ..LogConfig::default()
    };
    let mut log = open(&partition.dir, &config);
    let mut stored = Vec::new();
    for i in 0..5 {
        let b = batch(T0 + 10 * i, 4, 30);
        let info = append(&mut log, &b, 0);
        stored.push(stamped(&b, info.first_offset, 0));
    }
    assert!(
        log.log_segments()
            .active()
            .expect("active")
            .offset_index()
            .entries()
            > 0
    );
    (log, stored)
}

#[rstest]
fn max_bytes_limits_to_whole_batches(partition: Partition) {
    let (log, stored) = five_batches(&partition);
    let size = stored[0].len();
    let all = stored.concat();
    assert_eq!(&log.read(0, 1 << 20, false).expect("read").records[..], &all[..]);
    assert_eq!(
        &log.read(0, 2 * size, false).expect("read").records[..],
        &all[..2 * size]
    );
    assert_eq!(
        &log.read(0, 3 * size - 1, true).expect("read").records[..],
        &all[..2 * size]
    );
    let data = log.read(0, size - 1, false).expect("read");
    assert!(
        data.records.is_empty(),
        "no partial batch without min_one_message"
    );
    assert_eq!(
        (data.high_watermark, data.log_end_offset, data.log_start_offset),
        (20, 20, 0)
    );
}

#[rstest]
fn min_one_message_returns_a_whole_batch_larger_than_max_bytes(partition: Partition) {
    let (log, stored) = five_batches(&partition);
    assert_eq!(&log.read(8, 1, true).expect("read").records[..], &stored[2][..]);
    assert_eq!(&log.read(8, 0, true).expect("read").records[..], &stored[2][..]);
}

#[rstest]
#[case::batch_start(8, 2)]
#[case::middle_of_batch(10, 2)]
#[case::last_record(19, 4)]
#[case::first(0, 0)]
fn read_from_an_offset_starts_at_the_containing_batch(
    partition: Partition,
    #[case] offset: i64,
    #[case] first_batch: usize,
) {
    let (log, stored) = five_batches(&partition);
    let records = log.read(offset, 1 << 20, true).expect("read").records;
    assert_eq!(&records[..], &stored[first_batch..].concat()[..]);
}

#[rstest]
fn out_of_range_and_end_of_log(partition: Partition) {
    let (log, _) = five_batches(&partition);
    assert!(log.read(20, 100, true).expect("at LEO").records.is_empty());
    for offset in [21, -1, i64::MAX] {
        let err = log.read(offset, 100, true).expect_err("out of range");
        assert_eq!(err.error_code(), ErrorCode::OffsetOutOfRange, "{offset}");
    }
}

#[rstest]
fn reads_stay_within_one_segment(partition: Partition) {
    let one = batch(T0, 1, 10).len();
    let config = LogConfig {
        segment_bytes: 2 * one,
        ..LogConfig::default()
    };
    let mut log = open(&partition.dir, &config);
    let mut all = Vec::new();
    for _ in 0..5 {
        let b = batch(T0, 1, 10);
        let info = append(&mut log, &b, 0);
        all.push(stamped(&b, info.first_offset, 0));
    }
    assert_eq!(log.segments().len(), 3);
    assert_eq!(
        &log.read(1, 1 << 20, false).expect("read").records[..],
        &all[1][..]
    );
    assert_eq!(
        &log.read(2, 1 << 20, false).expect("read").records[..],
        &all[2..4].concat()[..]
    );
    assert_eq!(
        &log.read(4, 1 << 20, false).expect("read").records[..],
        &all[4][..]
    );
}

#[rstest]
#[case::before_everything(T0 - 100, Some((T0, 0)))]
#[case::exact_record(T0 + 21, Some((T0 + 21, 9)))]
#[case::between_batches(T0 + 35, Some((T0 + 40, 16)))]
#[case::last(T0 + 43, Some((T0 + 43, 19)))]
#[case::after_everything(T0 + 44, None)]
fn offset_for_timestamp_finds_the_first_record_at_or_after(
    partition: Partition,
    #[case] target: i64,
    #[case] expected: Option<(i64, i64)>,
) {
    let (log, _) = five_batches(&partition);
    let found = log.offset_for_timestamp(target).expect("lookup");
    let expected = expected.map(|(timestamp, offset)| TimestampAndOffset {
        timestamp,
        offset,
        leader_epoch: Some(0),
    });
    assert_eq!(found, expected);
}

#[rstest]
fn offset_for_timestamp_uses_the_time_index_across_segments(partition: Partition) {
    let one = batch(T0, 2, 10).len();
    let config = LogConfig {
        segment_bytes: 3 * one,
        index_interval_bytes: 0,
        ..LogConfig::default()
    };
    let mut log = open(&partition.dir, &config);
    for i in 0..10 {
        append(&mut log, &batch(T0 + 100 * i, 2, 10), 0);
    }
    assert!(log.segments().len() > 2);
    for i in 0..10 {
        let found = log
            .offset_for_timestamp(T0 + 100 * i + 1)
            .expect("lookup")
            .expect("found");
        assert_eq!((found.timestamp, found.offset), (T0 + 100 * i + 1, 2 * i + 1));
        let found = log
            .offset_for_timestamp(T0 + 100 * i - 50)
            .expect("lookup")
            .expect("found");
        assert_eq!((found.timestamp, found.offset), (T0 + 100 * i, 2 * i));
    }
}

#[rstest]
fn max_timestamp_and_offset_is_the_first_record_with_the_largest_timestamp(partition: Partition) {
    let mut log = open(&partition.dir, &LogConfig::default());
    assert_eq!(log.max_timestamp_and_offset().expect("empty"), None);
    append(&mut log, &batch(T0, 3, 1), 0); // 0..=2, max T0+2
    append(&mut log, &batch(T0 + 50, 2, 1), 0); // 3..=4, max T0+51
    append(&mut log, &batch(T0 + 10, 3, 1), 0); // 5..=7
    let max = log.max_timestamp_and_offset().expect("lookup").expect("found");
    assert_eq!((max.timestamp, max.offset), (T0 + 51, 4));
}

#[rstest]
fn batches_from_an_offset(partition: Partition) {
    let (log, stored) = five_batches(&partition);
    let from: Vec<Vec<u8>> = log.batches_from(9).map(|b| b.expect("batch").to_vec()).collect();
    assert_eq!(from, stored[2..]);
    assert_eq!(log.batches_from(20).count(), 0);
    let offsets: Vec<i64> = log
        .batches_from(0)
        .map(|b| {
            RecordBatch::parse(&b.expect("batch"))
                .expect("parse")
                .base_offset()
        })
        .collect();
    assert_eq!(offsets, [0, 4, 8, 12, 16]);
}
