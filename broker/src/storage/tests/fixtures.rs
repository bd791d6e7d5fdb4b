//! Shared helpers: temp data dirs, batches, file inspection.

use std::fs;
use std::path::{Path, PathBuf};

use kafkit_protocol::record::RecordBatchMut;
use kafkit_protocol::{Compression, RecordBatch, RecordBatchBuilder};
use rstest::fixture;
use tempfile::TempDir;

use crate::storage::{partition_dir, LogConfig, PartitionLog};

/// 2023-11-14T22:13:20Z, the spec's golden timestamp.
pub(super) const T0: i64 = 1_700_000_000_000;

/// A temp data dir with the partition dir `orders-0` inside (not yet created).
pub(super) struct Partition {
    pub(super) _data: TempDir,
    pub(super) dir: PathBuf,
}

#[fixture]
pub(super) fn partition() -> Partition {
    let data = tempfile::tempdir().expect("tempdir");
    let dir = partition_dir(data.path(), "orders", 0).expect("valid name");
    Partition { _data: data, dir }
}

/// Opens as after a clean shutdown (nothing to recover).
pub(super) fn open(dir: &Path, config: &LogConfig) -> PartitionLog {
    PartitionLog::open(dir, config.clone(), true, 0).expect("open")
}

/// Opens as after a crash: full recovery.
pub(super) fn open_unclean(dir: &Path, config: &LogConfig) -> PartitionLog {
    PartitionLog::open(dir, config.clone(), false, 0).expect("open unclean")
}

/// An uncompressed batch of `records` records with `value_len`-byte values, record i at
/// `timestamp + i`.
pub(super) fn batch(timestamp: i64, records: usize, value_len: usize) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(Compression::None);
    let value = vec![b'x'; value_len];
    for i in 0..records {
        b.append(timestamp + i as i64, Some(b"k"), Some(&value), &[]);
    }
    b.into_vec().expect("build")
}

/// An idempotent batch.
pub(super) fn producer_batch(producer_id: i64, epoch: i16, base_sequence: i32, records: usize) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(Compression::None);
    for i in 0..records {
        b.append(T0 + i as i64, None, Some(b"v"), &[]);
    }
    b.set_producer_state(producer_id, epoch, base_sequence);
    b.into_vec().expect("build")
}

/// Appends `batch` (a copy) in `epoch` at `T0`.
pub(super) fn append(log: &mut PartitionLog, batch: &[u8], epoch: i32) -> crate::storage::LogAppendInfo {
    let bytes = batch.to_vec();
    log.append_as_leader(&bytes, epoch, T0).expect("append")
}

/// The batch as the leader stores it at `base_offset` in `epoch` (CreateTime topic).
pub(super) fn stamped(batch: &[u8], base_offset: i64, epoch: i32) -> Vec<u8> {
    let mut bytes = batch.to_vec();
    let mut m = RecordBatchMut::new(&mut bytes).expect("batch");
    m.set_base_offset(base_offset);
    m.set_partition_leader_epoch(epoch);
    bytes
}

/// The sorted file names in `dir`.
pub(super) fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

pub(super) fn read(path: impl AsRef<Path>) -> Vec<u8> {
    fs::read(path).expect("read file")
}

/// Copies every file of `from` into a new directory `to` (a crash image of a live log).
pub(super) fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("list") {
        let entry = entry.expect("entry");
        fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

/// Every stored batch as bytes.
pub(super) fn stored(log: &PartitionLog) -> Vec<Vec<u8>> {
    log.batches_from(0).map(|b| b.expect("batch").to_vec()).collect()
}

/// Base offsets of the stored batches.
pub(super) fn stored_offsets(log: &PartitionLog) -> Vec<i64> {
    stored(log)
        .iter()
        .map(|b| RecordBatch::parse(b).expect("parse").base_offset())
        .collect()
}
