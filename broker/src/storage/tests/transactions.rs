//! Transactions on a partition: transactional batches keep the last stable offset at the
//! first open transaction; COMMIT and ABORT markers (control batches) end them; aborted
//! ranges are remembered for read_committed fetches and written to `.txnindex` files, also
//! after a restart or a crash.

use kafkit_protocol::record::{control_marker_kind, RecordBatchBuilder};
use kafkit_protocol::{Compression, RecordBatch};
use rstest::rstest;

use super::fixtures::*;
use crate::storage::producer_state::AbortedTxn;
use crate::storage::{LogConfig, PartitionLog};

fn txn_batch(producer_id: i64, base_sequence: i32, records: usize) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(Compression::None);
    for i in 0..records {
        b.append(T0 + i as i64, None, Some(b"t"), &[]);
    }
    b.set_producer_state(producer_id, 0, base_sequence);
    b.set_transactional(true);
    b.into_vec().expect("build")
}

fn marker(log: &mut PartitionLog, producer_id: i64, commit: bool) -> i64 {
    log.append_marker(producer_id, 0, commit, 3, 0, T0)
        .expect("marker")
}

/// Two producers interleave; the LSO waits for the older open transaction; an abort is
/// remembered with its range; the marker is a control batch Kafka's way.
#[rstest]
fn markers_end_transactions_and_move_the_last_stable_offset(partition: Partition) {
    let mut log = open(&partition.dir, &LogConfig::default());
    append(&mut log, &batch(T0, 2, 3), 0); // 0-1, plain
    assert_eq!(log.last_stable_offset(), 2);
    append(&mut log, &txn_batch(7, 0, 2), 0); // 2-3, producer 7
    append(&mut log, &txn_batch(8, 0, 1), 0); // 4, producer 8
    append(&mut log, &txn_batch(7, 2, 1), 0); // 5, producer 7
    assert_eq!((log.last_stable_offset(), log.high_watermark()), (2, 6));
    assert_eq!(marker(&mut log, 7, false), 6); // 7 aborts
    assert_eq!(log.last_stable_offset(), 4, "producer 8 is still open");
    assert_eq!(marker(&mut log, 8, true), 7);
    assert_eq!(log.last_stable_offset(), 8);
    let aborted = vec![AbortedTxn {
        producer_id: 7,
        first_offset: 2,
        last_offset: 6,
        last_stable_offset: 4,
    }];
    assert_eq!(log.producer_state().aborted_between(0, 8), aborted);
    // Kafka's `.txnindex` of the segment: one 34-byte entry.
    let index = crate::storage::paths::txn_index_file(&partition.dir, 0);
    assert_eq!(std::fs::metadata(&index).expect("txnindex").len(), 34);
    assert_eq!(crate::storage::txn_index::read(&index).expect("read"), aborted);
    assert_eq!(log.producer_state().aborted_between(7, 8), vec![]);
    assert_eq!(log.producer_state().aborted_between(0, 2), vec![]);

    let stored: Vec<Vec<u8>> = log.batches_from(6).map(|b| b.expect("batch").to_vec()).collect();
    let view = RecordBatch::parse(&stored[0]).expect("marker batch");
    assert!(view.is_control() && view.is_transactional());
    assert_eq!(
        (view.producer_id(), view.base_sequence(), view.records_count()),
        (7, -1, 1)
    );
    let mut scratch = Vec::new();
    let record = view
        .records(&mut scratch, 1 << 20)
        .expect("records")
        .next()
        .expect("one")
        .expect("ok");
    assert_eq!(record.key.and_then(control_marker_kind), Some(false));
    assert_eq!(
        record.value,
        Some(&[0u8, 0, 0, 0, 0, 3][..]),
        "version 0, coordinator epoch 3"
    );
}

/// What the markers decided is read back from the log, after a clean restart and a crash.
#[rstest]
fn open_transactions_and_aborts_are_rebuilt_from_the_log(
    partition: Partition,
    #[values(true, false)] clean: bool,
) {
    let mut log = open(&partition.dir, &LogConfig::default());
    append(&mut log, &txn_batch(7, 0, 2), 0); // 0-1
    marker(&mut log, 7, false); // 2
    append(&mut log, &txn_batch(9, 0, 1), 0); // 3, left open
    log.close().expect("close");
    drop(log);
    let log = if clean {
        open(&partition.dir, &LogConfig::default())
    } else {
        open_unclean(&partition.dir, &LogConfig::default())
    };
    assert_eq!(log.last_stable_offset(), 3);
    assert!(log.producer_state().in_transaction(9));
    assert_eq!(
        log.producer_state().aborted_between(0, 4),
        vec![AbortedTxn {
            producer_id: 7,
            first_offset: 0,
            last_offset: 2,
            last_stable_offset: 3,
        }]
    );
    let index = crate::storage::paths::txn_index_file(&partition.dir, 0);
    assert_eq!(
        crate::storage::txn_index::read(&index).expect("rebuilt"),
        log.producer_state().aborted_between(0, 4)
    );
}

/// A segment without an aborted transaction has no `.txnindex`; an aborted transaction's
/// entry lands in the segment that holds its marker, also after a roll; a file left by a
/// segment that recovery cut short is rewritten from what the log still holds.
#[rstest]
fn txn_index_files_follow_the_markers_segment(partition: Partition) {
    let config = LogConfig {
        segment_bytes: 200,
        ..LogConfig::default()
    };
    let mut log = open(&partition.dir, &config);
    append(&mut log, &txn_batch(7, 0, 2), 0);
    marker(&mut log, 7, true);
    let files = |dir: &std::path::Path| -> Vec<String> {
        file_names(dir)
            .into_iter()
            .filter(|n| n.ends_with(".txnindex"))
            .collect()
    };
    assert!(files(&partition.dir).is_empty(), "a commit writes no entry");
    for i in 0..3 {
        append(&mut log, &txn_batch(8, 2 * i, 2), 0);
    }
    let at = marker(&mut log, 8, false);
    let segment = log
        .segments()
        .iter()
        .rev()
        .find(|s| s.base_offset <= at)
        .map(|s| s.base_offset);
    let segment = segment.expect("a segment");
    assert!(segment > 0, "the log rolled");
    assert_eq!(files(&partition.dir), [format!("{segment:020}.txnindex")]);
    log.close().expect("close");
    drop(log);
    // A stale file for the first segment is removed by the rebuild.
    std::fs::write(
        crate::storage::paths::txn_index_file(&partition.dir, 0),
        [0u8; 34],
    )
    .expect("stale");
    let log = open_unclean(&partition.dir, &config);
    assert_eq!(files(&partition.dir), [format!("{segment:020}.txnindex")]);
    drop(log);
}
