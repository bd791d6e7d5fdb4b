//! Idempotent producer state through leader appends and restarts.

use kafkit_protocol::ErrorCode;
use rstest::rstest;

use super::fixtures::*;
use crate::storage::{LogConfig, PartitionLog};

const PID: i64 = 1000;

/// Seven 2-record batches from one producer in epoch 0: offsets 0..14, sequences 0..14.
fn seven_batches(log: &mut PartitionLog) -> Vec<Vec<u8>> {
    (0..7)
        .map(|i| {
            let b = producer_batch(PID, 0, 2 * i, 2);
            let info = append(log, &b, 0);
            assert_eq!((info.first_offset, info.duplicate), (i64::from(2 * i), false));
            b
        })
        .collect()
}

fn log_size(log: &PartitionLog) -> u64 {
    log.segments().iter().map(|s| s.size_in_bytes).sum()
}

#[rstest]
fn duplicates_of_the_last_five_batches_get_their_original_offsets(partition: Partition) {
    let mut log = open(&partition.dir, &LogConfig::default());
    let batches = seven_batches(&mut log);
    let (leo, size) = (log.log_end_offset(), log_size(&log));
    for (i, b) in batches.iter().enumerate().skip(2) {
        let again = b.clone();
        let info = log.append_as_leader(&again, 0, T0 + 999).expect("duplicate");
        assert!(info.duplicate);
        assert_eq!(
            (info.first_offset, info.last_offset),
            (2 * i as i64, 2 * i as i64 + 1)
        );
        assert_eq!(
            info.log_append_time,
            Some(T0 + 1),
            "the stored max timestamp, even for CreateTime"
        );
        assert_eq!(info.valid_bytes, 0);
    }
    assert_eq!(
        (log.log_end_offset(), log_size(&log)),
        (leo, size),
        "nothing appended"
    );
    let state = log.producer_state_snapshot();
    assert_eq!(state.len(), 1);
    assert_eq!(state[0].batch_metadata.len(), 5);
    assert_eq!(state[0].last_seq(), 13);
}

#[rstest]
#[case::sixth_oldest_duplicate(2, 0, ErrorCode::OutOfOrderSequenceNumber)]
#[case::seventh_oldest_duplicate(0, 0, ErrorCode::OutOfOrderSequenceNumber)]
#[case::gap(15, 0, ErrorCode::OutOfOrderSequenceNumber)]
#[case::older_epoch(14, -1, ErrorCode::InvalidProducerEpoch)]
#[case::new_epoch_not_at_zero(14, 1, ErrorCode::OutOfOrderSequenceNumber)]
fn producer_errors_write_nothing(
    partition: Partition,
    #[case] base_sequence: i32,
    #[case] epoch_delta: i16,
    #[case] expected: ErrorCode,
) {
    let mut log = open(&partition.dir, &LogConfig::default());
    // Epoch 1 so that "older epoch" is still a valid (non-negative) epoch.
    for i in 0..7 {
        append(&mut log, &producer_batch(PID, 1, 2 * i, 2), 0);
    }
    let (leo, size) = (log.log_end_offset(), log_size(&log));
    let b = producer_batch(PID, 1 + epoch_delta, base_sequence, 2);
    let err = log.append_as_leader(&b, 0, T0).expect_err("rejected");
    assert_eq!(err.error_code(), expected, "{err}");
    assert_eq!((log.log_end_offset(), log_size(&log)), (leo, size));
}

#[rstest]
fn new_epoch_starts_at_zero_and_unknown_producers_start_anywhere(partition: Partition) {
    let mut log = open(&partition.dir, &LogConfig::default());
    append(&mut log, &producer_batch(PID, 0, 0, 3), 0);
    append(&mut log, &producer_batch(PID, 1, 0, 1), 0);
    assert_eq!(
        log.producer_state()
            .entry(PID)
            .expect("entry")
            .batch_metadata
            .len(),
        1,
        "epoch bump clears"
    );
    append(&mut log, &producer_batch(PID + 1, 4, 777, 1), 0);
    append(&mut log, &producer_batch(PID + 1, 4, 778, 1), 0);
    let err = log
        .append_as_leader(&producer_batch(PID + 1, 4, 780, 1), 0, T0)
        .expect_err("gap");
    assert_eq!(err.error_code(), ErrorCode::OutOfOrderSequenceNumber);
    // Batches without a producer id are never checked.
    append(&mut log, &batch(T0, 1, 1), 0);
    append(&mut log, &batch(T0, 1, 1), 0);
    assert_eq!(log.log_end_offset(), 8);
}

#[rstest]
#[case::clean(true)]
#[case::unclean(false)]
fn producer_state_is_rebuilt_on_reopen(partition: Partition, #[case] clean: bool) {
    let config = LogConfig {
        segment_bytes: 300,
        ..LogConfig::default()
    };
    let mut log = open(&partition.dir, &config);
    let batches = seven_batches(&mut log);
    assert!(log.segments().len() > 1, "state spans segments");
    let before = log.producer_state_snapshot();
    if clean {
        log.close().expect("close");
    } else {
        log.flush().expect("flush");
        drop(log);
    }
    let mut log = PartitionLog::open(&partition.dir, config, clean, 0).expect("reopen");
    assert_eq!(log.producer_state_snapshot(), before);
    let leo = log.log_end_offset();
    for (i, b) in batches.iter().enumerate().skip(2) {
        let info = log.append_as_leader(&b.clone(), 0, T0).expect("duplicate");
        assert_eq!((info.duplicate, info.first_offset), (true, 2 * i as i64));
    }
    assert_eq!(log.log_end_offset(), leo);
    let err = log
        .append_as_leader(&batches[1].clone(), 0, T0)
        .expect_err("too old");
    assert_eq!(err.error_code(), ErrorCode::OutOfOrderSequenceNumber);
    append(&mut log, &producer_batch(PID, 0, 14, 1), 0);
}
