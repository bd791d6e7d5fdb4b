//! Producer ids for InitProducerId, never handed out twice: not within a run, not after a clean
//! restart, not after a crash.
//!
//! Kafka's controller hands ids out in blocks of 1000 (`ProducerIdControlManager`) and records
//! the end of each block in the metadata log before any id of it is used; a broker that
//! restarts asks for a new block, so ids of a block it had not used up are skipped, never
//! reused. kafkit does the same with a checkpoint file in the data directory,
//! [`PRODUCER_ID_BLOCK_FILE`], written atomically (Kafka's checkpoint discipline) before the
//! first id of each block goes out. Deriving the next id from the logs alone would reuse an id
//! that was handed out but never written (or written only in a tail that recovery cut off),
//! and a second producer with that id, epoch 0 and sequence 0 would have its first batch
//! answered as a duplicate of the first producer's and silently not stored.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::storage::checkpoint::{format_checkpoint, read_checkpoint, write_atomically};

/// The checkpoint file, in the data directory: every id below the number it holds may have been
/// handed out.
pub const PRODUCER_ID_BLOCK_FILE: &str = "producer-id-block-checkpoint";

/// Ids reserved per write of the checkpoint (Kafka's block size).
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

/// The first id handed out by a new data directory.
const FIRST_PRODUCER_ID: i64 = 1000;

const CHECKPOINT_VERSION: u32 = 0;

/// Hands out producer ids; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct ProducerIdManager {
    path: PathBuf,
    /// `(next, end)`: the next id to hand out, and the end (exclusive) of the block recorded in
    /// the checkpoint. `next == end` means a new block must be recorded first. The lock is held
    /// across that write, so two requests cannot both start a block.
    block: Mutex<(i64, i64)>,
}

impl ProducerIdManager {
    /// Opens the manager of `data_dir`: the next id is past the block its checkpoint records.
    /// Call [`advance_past`](Self::advance_past) with the ids found in the logs (a data
    /// directory written before the checkpoint existed has only those).
    pub(crate) fn open(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(PRODUCER_ID_BLOCK_FILE);
        let recorded = match read_checkpoint(&path, CHECKPOINT_VERSION)? {
            None => FIRST_PRODUCER_ID,
            Some(entries) => {
                let end = entries
                    .first()
                    .and_then(|e| e.trim().parse::<i64>().ok())
                    .filter(|&end| end >= 0 && entries.len() == 1)
                    .ok_or_else(|| Error::CorruptCheckpoint {
                        path: path.clone(),
                        reason: format!("expected one non-negative block end, found {entries:?}"),
                    })?;
                end
            }
        };
        Ok(ProducerIdManager {
            path,
            block: Mutex::new((recorded, recorded)),
        })
    }

    /// Makes sure no id up to `id` is handed out (ids found in the logs at startup).
    pub(crate) fn advance_past(&self, id: i64) {
        let mut block = self.block.lock().unwrap_or_else(|p| p.into_inner());
        let floor = id.saturating_add(1);
        if floor > block.0 {
            // Within the recorded block nothing changes; beyond it (`end` raised to `floor`),
            // the next allocation records a new block first.
            *block = (floor, block.1.max(floor));
        }
    }

    /// A producer id no one had before. Fails only if the block checkpoint cannot be written,
    /// and then hands out nothing.
    pub(crate) fn allocate(&self) -> Result<i64> {
        // The block only moves forward under the lock, so a poisoned lock holds a valid block.
        let mut block = self.block.lock().unwrap_or_else(|p| p.into_inner());
        let (next, end) = *block;
        if next >= end {
            let new_end = next.checked_add(PRODUCER_ID_BLOCK_SIZE).ok_or_else(|| {
                Error::Config("producer ids are exhausted (the next id would overflow int64)".into())
            })?;
            let contents = format_checkpoint(CHECKPOINT_VERSION, &[new_end.to_string()]);
            write_atomically(&self.path, contents.as_bytes())?;
            tracing::debug!(first = next, end = new_end, "recorded a new producer id block");
            block.1 = new_end;
        }
        block.0 = next + 1;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allocate(m: &ProducerIdManager, n: usize) -> Vec<i64> {
        (0..n).map(|_| m.allocate().expect("id")).collect()
    }

    #[test]
    fn ids_are_consecutive_within_a_block_and_a_reopen_skips_the_rest_of_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let m = ProducerIdManager::open(dir.path()).expect("open");
        assert_eq!(allocate(&m, 3), [1000, 1001, 1002]);
        drop(m); // as a crash would: nothing but the checkpoint survives
        let m = ProducerIdManager::open(dir.path()).expect("reopen");
        assert_eq!(
            m.allocate().expect("id"),
            2000,
            "ids of the recorded block are skipped"
        );
    }

    #[test]
    fn a_block_is_recorded_before_its_first_id_goes_out() {
        let dir = tempfile::tempdir().expect("tmp");
        let m = ProducerIdManager::open(dir.path()).expect("open");
        assert!(
            !dir.path().join(PRODUCER_ID_BLOCK_FILE).exists(),
            "nothing handed out yet"
        );
        let ids = allocate(&m, 1001);
        assert_eq!((ids[0], ids[1000]), (1000, 2000));
        let text = std::fs::read_to_string(dir.path().join(PRODUCER_ID_BLOCK_FILE)).expect("file");
        assert_eq!(text, "0\n1\n3000\n", "the second block is recorded");
    }

    #[test]
    fn ids_found_in_the_logs_beyond_the_checkpoint_move_the_start() {
        let dir = tempfile::tempdir().expect("tmp");
        let m = ProducerIdManager::open(dir.path()).expect("open");
        m.advance_past(4321);
        assert_eq!(m.allocate().expect("id"), 4322);
        m.advance_past(10);
        assert_eq!(m.allocate().expect("id"), 4323, "never backwards");
        let text = std::fs::read_to_string(dir.path().join(PRODUCER_ID_BLOCK_FILE)).expect("file");
        assert_eq!(
            text, "0\n1\n5322\n",
            "a block from the id found in the logs is recorded"
        );
    }

    #[test]
    fn a_malformed_checkpoint_is_an_error_not_a_restart_from_scratch() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join(PRODUCER_ID_BLOCK_FILE), "0\n1\nbanana\n").expect("write");
        assert!(matches!(
            ProducerIdManager::open(dir.path()),
            Err(Error::CorruptCheckpoint { .. })
        ));
    }

    #[test]
    fn a_checkpoint_that_cannot_be_written_hands_out_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let m = ProducerIdManager::open(&dir.path().join("missing")).expect("open");
        assert!(m.allocate().is_err());
        assert!(
            m.allocate().is_err(),
            "still nothing: no id without a recorded block"
        );
    }
}
