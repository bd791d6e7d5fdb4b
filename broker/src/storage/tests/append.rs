//! Leader appends: stamping, file names, sparse indexing, rolls, epochs, limits.

use std::fs;
use std::time::Duration;

use kafkit_protocol::record::TimestampType;
use kafkit_protocol::{ErrorCode, RecordBatch};
use proptest::prelude::*;
use rstest::rstest;

use super::fixtures::*;
use crate::storage::{LogConfig, OffsetPosition, TimestampOffset};

/// The spec's §10 test vector: one record, key null, value "hi", CreateTime T0, as a
/// non-idempotent client sends it.
const GOLDEN_HEX: &str = "0000000000000000 0000003a ffffffff 02 bbcc4115 0000 00000000 0000018bcfe56800 \
    0000018bcfe56800 ffffffffffffffff ffff ffffffff 00000001 10 00 00 00 01 04 6869 00";

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).expect("ascii"), 16).expect("hex"))
        .collect()
}

#[rstest]
fn golden_batch_is_stored_as_the_spec_stamps_it(partition: Partition) {
    let golden = hex(GOLDEN_HEX);
    assert_eq!(golden.len(), 70);
    let mut log = open(&partition.dir, &LogConfig::default());
    append(&mut log, &batch(T0, 5, 3), 0);
    let info = append(&mut log, &golden, 0);
    assert_eq!(
        (info.first_offset, info.last_offset, info.log_append_time),
        (5, 5, None)
    );

    let mut expected = golden.clone();
    expected[..8].copy_from_slice(&hex("0000000000000005"));
    expected[12..16].copy_from_slice(&hex("00000000"));
    assert_eq!(&expected[17..21], &hex("bbcc4115")[..], "the CRC is unchanged");
    let stored = stored(&log);
    assert_eq!(stored[1], expected);
    let log_bytes = read(partition.dir.join("00000000000000000000.log"));
    assert_eq!(&log_bytes[log_bytes.len() - 70..], &expected[..]);
    assert_eq!(
        file_names(&partition.dir),
        [
            "00000000000000000000.index",
            "00000000000000000000.log",
            "00000000000000000000.timeindex",
            "leader-epoch-checkpoint"
        ]
    );
}

#[rstest]
fn first_batch_of_a_segment_is_never_indexed(partition: Partition) {
    let config = LogConfig {
        index_interval_bytes: 0,
        ..LogConfig::default()
    };
    let mut log = open(&partition.dir, &config);
    append(&mut log, &hex(GOLDEN_HEX), 0);
    let segment = log.log_segments().active().expect("active");
    assert_eq!(segment.offset_index().entries(), 0);
    assert_eq!(segment.time_index().entries(), 0);
    append(&mut log, &hex(GOLDEN_HEX), 0);
    let segment = log.log_segments().active().expect("active");
    assert_eq!(
        segment.offset_index().all_entries(),
        [OffsetPosition {
            offset: 1,
            position: 70
        }]
    );
}

/// What `LogSegment.append` indexes for batches of these sizes and last offsets, computed
/// independently of the implementation.
fn expected_index(
    interval: usize,
    batches: &[(usize, i64, i64)],
) -> (Vec<OffsetPosition>, Vec<TimestampOffset>) {
    let (mut offsets, mut times) = (Vec::new(), Vec::new());
    let (mut position, mut since_last) = (0usize, 0usize);
    let mut max = TimestampOffset {
        timestamp: -1,
        offset: 0,
    };
    for &(size, last_offset, max_ts) in batches {
        if max_ts > max.timestamp {
            max = TimestampOffset {
                timestamp: max_ts,
                offset: last_offset,
            };
        }
        if since_last > interval {
            offsets.push(OffsetPosition {
                offset: last_offset,
                position: position as u32,
            });
            if times
                .last()
                .is_none_or(|t: &TimestampOffset| max.timestamp > t.timestamp)
            {
                times.push(max);
            }
            since_last = 0;
        }
        since_last += size;
        position += size;
    }
    (offsets, times)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn sparse_index_entries_follow_log_segment_append(
        interval in prop_oneof![Just(0usize), 1usize..600, Just(4096)],
        shapes in proptest::collection::vec((1usize..4, 0usize..300, -5i64..20), 1..40),
    ) {
        let part = partition();
        let config = LogConfig { index_interval_bytes: interval, ..LogConfig::default() };
        let mut log = open(&part.dir, &config);
        let mut appended = Vec::new();
        let mut ts = T0;
        for (records, value_len, step) in shapes {
            ts += step;
            let info = append(&mut log, &batch(ts, records, value_len), 0);
            appended.push((info.valid_bytes, info.last_offset, info.max_timestamp));
        }
        let (offsets, times) = expected_index(interval, &appended);
        let segment = log.log_segments().active().expect("active");
        prop_assert_eq!(segment.offset_index().all_entries(), offsets);
        prop_assert_eq!(segment.time_index().all_entries(), times);
    }
}

fn assert_trimmed_and_active_preallocated(log: &crate::storage::PartitionLog, index_bytes: usize) {
    let segments: Vec<_> = log.log_segments().iter().collect();
    let (active, rolled) = segments.split_last().expect("segments");
    for s in rolled {
        let offset_len = fs::metadata(s.offset_index().path()).expect("stat").len() as usize;
        let time_len = fs::metadata(s.time_index().path()).expect("stat").len() as usize;
        assert_eq!(
            offset_len,
            s.offset_index().entries() * 8,
            "{:?}",
            s.offset_index().path()
        );
        assert_eq!(
            time_len,
            s.time_index().entries() * 12,
            "{:?}",
            s.time_index().path()
        );
    }
    let offset_len = fs::metadata(active.offset_index().path()).expect("stat").len() as usize;
    let time_len = fs::metadata(active.time_index().path()).expect("stat").len() as usize;
    assert_eq!(offset_len, index_bytes / 8 * 8);
    assert_eq!(time_len, index_bytes / 12 * 12);
}

#[rstest]
fn rolls_on_segment_bytes_and_names_segments_by_base_offset(partition: Partition) {
    let one = batch(T0, 2, 100).len();
    // Room for exactly three batches per segment.
    let config = LogConfig {
        segment_bytes: 3 * one,
        index_interval_bytes: 0,
        ..LogConfig::default()
    };
    let mut log = open(&partition.dir, &config);
    for _ in 0..7 {
        append(&mut log, &batch(T0, 2, 100), 0);
    }
    let bases: Vec<i64> = log.segments().iter().map(|s| s.base_offset).collect();
    assert_eq!(bases, [0, 6, 12]);
    let sizes: Vec<u64> = log.segments().iter().map(|s| s.size_in_bytes).collect();
    assert_eq!(sizes, [3 * one as u64, 3 * one as u64, one as u64]);
    let names = file_names(&partition.dir);
    for base in [
        "00000000000000000000",
        "00000000000000000006",
        "00000000000000000012",
    ] {
        for ext in ["log", "index", "timeindex"] {
            assert!(
                names.contains(&format!("{base}.{ext}")),
                "{base}.{ext} in {names:?}"
            );
        }
    }
    assert_trimmed_and_active_preallocated(&log, config.segment_index_bytes);
    assert_eq!(log.recovery_point(), 12, "rolled segments are flushed");
}

#[rstest]
fn rolls_on_segment_ms_measured_in_batch_timestamps(partition: Partition) {
    let config = LogConfig {
        segment_ms: Duration::from_millis(1000),
        ..LogConfig::default()
    };
    let mut log = open(&partition.dir, &config);
    for ts in [T0, T0 + 600, T0 + 1000, T0 + 1001, T0 + 1500, T0 + 2002] {
        let b = batch(ts, 1, 1);
        // The wall clock is far in the future: only batch timestamps count.
        log.append_as_leader(&b, 0, T0 + 1_000_000_000).expect("append");
    }
    let bases: Vec<i64> = log.segments().iter().map(|s| s.base_offset).collect();
    // T0+1001 is more than 1000 ms after the first batch (T0); T0+2002 after T0+1001.
    assert_eq!(bases, [0, 3, 5]);
}

#[rstest]
#[case::offset_index_full(false, 5)]
#[case::time_index_full(true, 3)]
fn rolls_when_an_index_is_full(
    partition: Partition,
    #[case] increasing_timestamps: bool,
    #[case] per_segment: i64,
) {
    // 36 bytes: 4 offset entries, 3 time entries of which 2 usable (the last is reserved).
    let config = LogConfig {
        segment_index_bytes: 36,
        index_interval_bytes: 0,
        ..LogConfig::default()
    };
    let mut log = open(&partition.dir, &config);
    for i in 0..12 {
        let ts = if increasing_timestamps { T0 + i } else { T0 };
        append(&mut log, &batch(ts, 1, 10), 0);
    }
    let bases: Vec<i64> = log.segments().iter().map(|s| s.base_offset).collect();
    let expected: Vec<i64> = (0..12).step_by(per_segment as usize).collect();
    assert_eq!(bases, expected);
    let first = log.log_segments().first().expect("segment");
    if increasing_timestamps {
        assert_eq!(first.time_index().entries(), 2);
    } else {
        assert_eq!(first.offset_index().entries(), 4);
        assert_eq!(first.time_index().entries(), 1);
    }
    assert_trimmed_and_active_preallocated(&log, 36);
}

#[rstest]
fn roll_writes_the_final_time_index_entry(partition: Partition) {
    let one = batch(T0, 1, 10).len();
    let config = LogConfig {
        segment_bytes: 3 * one,
        index_interval_bytes: 1_000_000,
        ..LogConfig::default()
    };
    let mut log = open(&partition.dir, &config);
    for ts in [T0, T0 + 7, T0 + 3, T0 + 1] {
        append(&mut log, &batch(ts, 1, 10), 0);
    }
    let first = log.log_segments().first().expect("segment");
    assert_eq!(first.offset_index().entries(), 0);
    assert_eq!(
        first.time_index().all_entries(),
        [TimestampOffset {
            timestamp: T0 + 7,
            offset: 1
        }]
    );
}

#[rstest]
fn leader_epoch_checkpoint_is_written_on_epoch_change_only(partition: Partition) {
    let mut log = open(&partition.dir, &LogConfig::default());
    let checkpoint = partition.dir.join("leader-epoch-checkpoint");
    append(&mut log, &batch(T0, 2, 1), 0);
    let written = fs::metadata(&checkpoint)
        .expect("stat")
        .modified()
        .expect("mtime");
    append(&mut log, &batch(T0, 2, 1), 0);
    assert_eq!(
        fs::metadata(&checkpoint)
            .expect("stat")
            .modified()
            .expect("mtime"),
        written
    );
    append(&mut log, &batch(T0, 1, 1), 3);
    assert_eq!(fs::read_to_string(&checkpoint).expect("read"), "0\n2\n0 0\n3 4\n");
    let last = stored(&log).pop().expect("batch");
    assert_eq!(
        RecordBatch::parse(&last).expect("parse").partition_leader_epoch(),
        3
    );

    let err = log
        .append_as_leader(&batch(T0, 1, 1), 2, T0)
        .expect_err("stale epoch");
    assert_eq!(err.error_code(), ErrorCode::FencedLeaderEpoch);
    assert_eq!(log.log_end_offset(), 5);
}

#[rstest]
fn batch_larger_than_segment_bytes_is_record_list_too_large_and_writes_nothing(partition: Partition) {
    let config = LogConfig {
        segment_bytes: 200,
        ..LogConfig::default()
    };
    let mut log = open(&partition.dir, &config);
    let err = log
        .append_as_leader(&batch(T0, 1, 300), 0, T0)
        .expect_err("too large");
    assert_eq!(err.error_code(), ErrorCode::RecordListTooLarge);
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(read(partition.dir.join("00000000000000000000.log")).len(), 0);
    assert!(
        !partition.dir.join("leader-epoch-checkpoint").exists(),
        "no epoch assigned either"
    );
}

#[rstest]
fn log_append_time_stamps_the_broker_clock(partition: Partition) {
    let config = LogConfig {
        message_timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mut log = open(&partition.dir, &config);
    let now = T0 + 42_000;
    let b = batch(T0, 3, 5);
    let info = log.append_as_leader(&b, 0, now).expect("append");
    assert_eq!((info.log_append_time, info.max_timestamp), (Some(now), now));
    let stored = stored(&log).pop().expect("batch");
    let view = RecordBatch::parse(&stored).expect("parse");
    assert_eq!(
        (view.timestamp_type(), view.max_timestamp()),
        (TimestampType::LogAppendTime, now)
    );
    assert!(view.is_crc_valid());
    let header = kafkit_protocol::record::BATCH_HEADER_LEN;
    assert_eq!(stored[header..], b[header..], "the records are stored as sent");
}

#[rstest]
fn create_time_clears_a_client_log_append_time_bit(partition: Partition) {
    let mut log = open(&partition.dir, &LogConfig::default());
    let mut b = batch(T0, 1, 5);
    kafkit_protocol::record::RecordBatchMut::new(&mut b)
        .expect("batch")
        .set_max_timestamp(TimestampType::LogAppendTime, T0);
    log.append_as_leader(&b, 0, T0 + 5).expect("append");
    let stored = stored(&log).pop().expect("batch");
    let view = RecordBatch::parse(&stored).expect("parse");
    assert_eq!(
        (view.timestamp_type(), view.max_timestamp()),
        (TimestampType::CreateTime, T0)
    );
    assert!(view.is_crc_valid());
}

#[rstest]
#[case::every_message(Some(1), [1, 2, 3])]
#[case::every_second_message(Some(2), [0, 2, 2])]
#[case::never(None, [0, 0, 0])]
fn flush_messages_moves_the_recovery_point(
    partition: Partition,
    #[case] flush_messages: Option<u64>,
    #[case] expected: [i64; 3],
) {
    let config = LogConfig {
        flush_messages,
        ..LogConfig::default()
    };
    let mut log = open(&partition.dir, &config);
    let mut points = [0; 3];
    for p in &mut points {
        append(&mut log, &batch(T0, 1, 1), 0);
        *p = log.recovery_point();
    }
    assert_eq!(points, expected);
}

#[rstest]
fn topic_id_is_written_once_to_partition_metadata(partition: Partition) {
    let mut log = open(&partition.dir, &LogConfig::default());
    assert_eq!(log.topic_id(), None);
    let id = uuid::Uuid::from_u64_pair(1, 2);
    log.assign_topic_id(id).expect("assign");
    assert_eq!(
        fs::read_to_string(partition.dir.join("partition.metadata")).expect("read"),
        "version: 0\ntopic_id: AAAAAAAAAAEAAAAAAAAAAg"
    );
    log.close().expect("close");
    let mut log = open(&partition.dir, &LogConfig::default());
    assert_eq!(log.topic_id(), Some(id));
    let err = log
        .assign_topic_id(uuid::Uuid::from_u64_pair(1, 3))
        .expect_err("different id");
    assert_eq!(err.error_code(), ErrorCode::InconsistentTopicId);
}

#[test]
fn open_rejects_a_directory_that_is_not_topic_dash_partition() {
    let data = tempfile::tempdir().expect("tempdir");
    for name in ["orders", "..-0", "a b-0"] {
        let err = crate::storage::PartitionLog::open(data.path().join(name), LogConfig::default(), true, 0)
            .expect_err(name);
        assert!(!data.path().join(name).exists(), "{err}");
    }
}
