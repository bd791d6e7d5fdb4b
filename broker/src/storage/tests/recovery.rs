//! Reopening: clean shutdown, crash recovery, torn and corrupt tails, damaged indexes.

use std::fs::{self, OpenOptions};
use std::path::Path;

use rstest::rstest;

use super::fixtures::*;
use crate::storage::{partition_dir, LogConfig, PartitionLog};

/// Small segments and a small index interval: several segments, each with index entries.
fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 2000,
        index_interval_bytes: 200,
        segment_index_bytes: 4096,
        ..LogConfig::default()
    }
}

/// Appends 40 batches of varying size and timestamps, in epochs 0 then 2.
fn fill(log: &mut PartitionLog) {
    for i in 0..40i64 {
        let epoch = if i < 25 { 0 } else { 2 };
        let ts = T0 + (i * 37) % 500;
        append(
            log,
            &batch(ts, 1 + (i as usize % 3), 20 + (i as usize * 13) % 90),
            epoch,
        );
    }
}

/// The segment files of a partition directory, name and bytes.
fn segment_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    file_names(dir)
        .into_iter()
        .filter(|n| {
            n.ends_with(".log")
                || n.ends_with(".index")
                || n.ends_with(".timeindex")
                || n == "leader-epoch-checkpoint"
        })
        .map(|n| {
            let bytes = read(dir.join(&n));
            (n, bytes)
        })
        .collect()
}

#[rstest]
fn reopen_after_clean_close_trusts_the_indexes(partition: Partition) {
    let mut log = open(&partition.dir, &config());
    fill(&mut log);
    let (leo, batches, segments) = (log.log_end_offset(), stored(&log), log.segments());
    log.close().expect("close");
    let closed = segment_files(&partition.dir);

    let mut log = open(&partition.dir, &config());
    assert_eq!(
        (log.log_end_offset(), log.high_watermark(), log.recovery_point()),
        (leo, leo, leo)
    );
    assert_eq!(stored(&log), batches);
    assert_eq!(log.segments(), segments);
    let active = log.log_segments().active().expect("active");
    assert_eq!(
        fs::metadata(active.offset_index().path()).expect("stat").len(),
        4096,
        "resized for appends"
    );
    assert_eq!(log.leader_epoch_cache().latest_epoch(), Some(2));
    log.close().expect("close");
    assert_eq!(
        segment_files(&partition.dir),
        closed,
        "indexes unchanged by a reopen"
    );

    let mut log = open(&partition.dir, &config());
    let info = append(&mut log, &batch(T0, 1, 1), 2);
    assert_eq!(info.first_offset, leo);
}

#[rstest]
fn recovery_after_a_crash_rebuilds_indexes_byte_for_byte(partition: Partition) {
    let mut log = open(&partition.dir, &config());
    fill(&mut log);
    log.flush().expect("flush");
    let crash_image = partition.dir.with_file_name("orders-1");
    copy_dir(&partition.dir, &crash_image);
    let (leo, batches) = (log.log_end_offset(), stored(&log));
    log.close().expect("close");

    // Stale index bytes must not survive recovery: scribble over the crash image's indexes.
    for name in file_names(&crash_image) {
        if name.ends_with("index") {
            let path = crash_image.join(&name);
            let len = fs::metadata(&path).expect("stat").len() as usize;
            fs::write(&path, vec![0x5a; len]).expect("scribble");
        }
    }
    let mut recovered = open_unclean(&crash_image, &config());
    assert_eq!(recovered.log_end_offset(), leo);
    assert_eq!(stored(&recovered), batches);
    assert_eq!(recovered.leader_epoch_cache().latest_epoch(), Some(2));
    recovered.close().expect("close");
    assert_eq!(segment_files(&crash_image), segment_files(&partition.dir));
}

/// A log of three batches closed cleanly; returns the .log path, the start of the last batch,
/// its size, and the batches.
fn three_batches(dir: &Path) -> (std::path::PathBuf, u64, usize, Vec<Vec<u8>>) {
    let mut log = open(dir, &LogConfig::default());
    for i in 0..3 {
        append(&mut log, &batch(T0 + i, 2, 10), 0);
    }
    let batches = stored(&log);
    log.close().expect("close");
    let last = batches[2].len();
    let start = (batches[0].len() + batches[1].len()) as u64;
    (dir.join("00000000000000000000.log"), start, last, batches)
}

fn assert_recovered_to_two_batches(dir: &Path, batches: &[Vec<u8>], start: u64, what: &str) {
    let log = open_unclean(dir, &LogConfig::default());
    assert_eq!(log.log_end_offset(), 4, "{what}");
    assert_eq!(stored(&log), batches[..2], "{what}");
    assert_eq!(log.segments()[0].size_in_bytes, start, "{what}");
    drop(log);
    assert_eq!(
        fs::metadata(dir.join("00000000000000000000.log"))
            .expect("stat")
            .len(),
        start,
        "{what}"
    );
}

#[rstest]
fn torn_tail_at_every_byte_of_the_last_batch_is_truncated() {
    let data = tempfile::tempdir().expect("tempdir");
    let original = partition_dir(data.path(), "t", 0).expect("dir");
    let (_, start, last, batches) = three_batches(&original);
    for cut in start..start + last as u64 {
        let dir = partition_dir(data.path(), "t", 1 + cut as i32).expect("dir");
        copy_dir(&original, &dir);
        let log_file = dir.join("00000000000000000000.log");
        OpenOptions::new()
            .write(true)
            .open(&log_file)
            .expect("open")
            .set_len(cut)
            .expect("truncate");
        assert_recovered_to_two_batches(&dir, &batches, start, &format!("cut at {cut}"));
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}

#[rstest]
fn a_flipped_byte_anywhere_in_the_last_batch_drops_it() {
    let data = tempfile::tempdir().expect("tempdir");
    let original = partition_dir(data.path(), "t", 0).expect("dir");
    let (_, start, last, batches) = three_batches(&original);
    for at in start..start + last as u64 {
        let dir = partition_dir(data.path(), "t", 1 + at as i32).expect("dir");
        copy_dir(&original, &dir);
        let log_file = dir.join("00000000000000000000.log");
        let mut bytes = read(&log_file);
        bytes[at as usize] ^= 0xff;
        fs::write(&log_file, bytes).expect("write");
        assert_recovered_to_two_batches(&dir, &batches, start, &format!("byte {} flipped", at - start));
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}

#[rstest]
fn a_corrupt_batch_in_a_middle_segment_deletes_later_segments(partition: Partition) {
    let mut log = open(&partition.dir, &config());
    fill(&mut log);
    let segments = log.segments();
    assert!(segments.len() >= 3);
    let middle = &segments[1];
    let offsets = stored_offsets(&log);
    log.close().expect("close");

    // Corrupt the middle segment's second batch (a byte inside its records).
    let mut bytes = read(&middle.log_path);
    let first_size = kafkit_protocol::RecordBatch::parse(&bytes)
        .expect("parse")
        .size_in_bytes();
    bytes[first_size + 70] ^= 0x01;
    fs::write(&middle.log_path, bytes).expect("write");

    let log = open_unclean(&partition.dir, &config());
    let after: Vec<i64> = log.segments().iter().map(|s| s.base_offset).collect();
    assert_eq!(after, [segments[0].base_offset, middle.base_offset]);
    let second_batch_offset = offsets[offsets
        .iter()
        .position(|o| *o == middle.base_offset)
        .expect("base")
        + 1];
    assert_eq!(log.log_end_offset(), second_batch_offset);
    assert_eq!(log.segments()[1].size_in_bytes, first_size as u64);
    for s in &segments[2..] {
        assert!(!s.log_path.exists(), "{:?} deleted", s.log_path);
        assert!(!s.log_path.with_extension("index").exists());
    }
    assert!(log
        .leader_epoch_cache()
        .entries()
        .iter()
        .all(|e| e.start_offset < second_batch_offset));
}

#[rstest]
fn clean_open_rebuilds_a_missing_or_corrupt_index_and_deletes_orphans(partition: Partition) {
    let mut log = open(&partition.dir, &config());
    fill(&mut log);
    log.close().expect("close");
    let closed = segment_files(&partition.dir);

    fs::remove_file(partition.dir.join("00000000000000000000.index")).expect("delete");
    let second = file_names(&partition.dir)
        .into_iter()
        .filter(|n| n.ends_with(".timeindex"))
        .nth(1)
        .expect("second");
    fs::write(partition.dir.join(&second), [1u8; 13]).expect("corrupt length");
    fs::write(partition.dir.join("00000000000000099999.index"), [0u8; 16]).expect("orphan");
    fs::write(partition.dir.join("00000000000000099999.timeindex"), [0u8; 24]).expect("orphan");

    let mut log = open(&partition.dir, &config());
    log.close().expect("close");
    assert_eq!(segment_files(&partition.dir), closed);
}

#[rstest]
fn recovery_rebuilds_a_lost_leader_epoch_checkpoint(partition: Partition) {
    let mut log = open(&partition.dir, &config());
    fill(&mut log);
    let entries = log.leader_epoch_cache().entries().to_vec();
    assert_eq!(entries.len(), 2);
    drop(log);
    fs::remove_file(partition.dir.join("leader-epoch-checkpoint")).expect("delete");
    let log = open_unclean(&partition.dir, &config());
    assert_eq!(log.leader_epoch_cache().entries(), entries);
    let text = fs::read_to_string(partition.dir.join("leader-epoch-checkpoint")).expect("read");
    assert_eq!(text, format!("0\n2\n0 0\n2 {}\n", entries[1].start_offset));
}

#[rstest]
fn recovery_from_a_recovery_point_trusts_earlier_segments(partition: Partition) {
    let mut log = open(&partition.dir, &config());
    fill(&mut log);
    let leo = log.log_end_offset();
    let recovery_point = log.recovery_point();
    assert!(recovery_point > 0, "rolls advanced it");
    drop(log);
    let log = PartitionLog::open(&partition.dir, config(), false, recovery_point).expect("open");
    assert_eq!(log.log_end_offset(), leo);
    assert_eq!(log.recovery_point(), recovery_point);
}

#[rstest]
fn an_empty_directory_opens_as_an_empty_log(partition: Partition) {
    let log = open_unclean(&partition.dir, &config());
    assert_eq!(
        (log.log_start_offset(), log.log_end_offset(), log.high_watermark()),
        (0, 0, 0)
    );
    assert_eq!(log.segments().len(), 1);
    assert!(log.read(0, 100, true).expect("read").records.is_empty());
    assert_eq!(log.dir(), partition.dir);
}
