//! [`LeaderEpochFileCache`]: which leader epoch started at which offset, kept in memory and in
//! the partition's `leader-epoch-checkpoint` (Kafka's `LeaderEpochFileCache` and
//! `LeaderEpochCheckpointFile`):
//!
//! ```text
//! 0          <- version
//! 2          <- number of entries
//! 0 0        <- "<epoch> <start offset>", ascending
//! 3 1257
//! ```
//!
//! The file is rewritten (tmp, fsync, rename) only when the cache changes, which on the leader
//! path happens once per new epoch; appends within an epoch never touch it. Because the rewrite
//! happens before the batch that caused it is written, every stored batch's epoch is in the
//! file, which recovery uses to check the (CRC-less) epoch field of each batch.

use std::path::{Path, PathBuf};

use super::checkpoint::{format_checkpoint, read_checkpoint, write_atomically};
use super::paths::LEADER_EPOCH_CHECKPOINT_FILE;
use crate::error::{Error, Result};

const CHECKPOINT_VERSION: u32 = 0;

/// One leader epoch and the first offset written in it (Kafka's `EpochEntry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EpochEntry {
    /// The leader epoch.
    pub epoch: i32,
    /// The first offset of the epoch.
    pub start_offset: i64,
}

/// The leader-epoch cache of one partition.
#[derive(Debug)]
pub struct LeaderEpochFileCache {
    path: PathBuf,
    /// Ascending in both epoch and start offset.
    entries: Vec<EpochEntry>,
}

impl LeaderEpochFileCache {
    /// Loads `<dir>/leader-epoch-checkpoint` (empty if the file does not exist).
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(LEADER_EPOCH_CHECKPOINT_FILE);
        let mut entries = Vec::new();
        for line in read_checkpoint(&path, CHECKPOINT_VERSION)?.unwrap_or_default() {
            let malformed = || Error::CorruptCheckpoint {
                path: path.clone(),
                reason: format!("malformed line {line:?}"),
            };
            let mut fields = line.split_whitespace();
            let epoch = fields.next().and_then(|f| f.parse().ok()).ok_or_else(malformed)?;
            let start_offset = fields.next().and_then(|f| f.parse().ok()).ok_or_else(malformed)?;
            if fields.next().is_some() {
                return Err(malformed());
            }
            entries.push(EpochEntry { epoch, start_offset });
        }
        let monotonic = entries
            .windows(2)
            .all(|w| w[0].epoch < w[1].epoch && w[0].start_offset <= w[1].start_offset);
        if !monotonic {
            return Err(Error::CorruptCheckpoint {
                path,
                reason: "entries are not ascending".to_owned(),
            });
        }
        Ok(LeaderEpochFileCache { path, entries })
    }

    /// The checkpoint file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All entries, ascending.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The newest entry.
    pub fn latest_entry(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    /// The newest epoch.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// The epoch that `offset` was written in: the entry with the largest start offset
    /// `<= offset`.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.start_offset <= offset)
            .map(|e| e.epoch)
    }

    /// Kafka's `assign`: records that `epoch` starts at `start_offset`. Nothing changes when
    /// `epoch` is the latest and `start_offset` is not before its start; otherwise every entry
    /// from the tail with an epoch `>= epoch` or a start offset `>= start_offset` is removed, the
    /// new entry added and the file rewritten. Returns whether the cache changed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> Result<bool> {
        if epoch < 0 || start_offset < 0 {
            return Err(Error::CorruptCheckpoint {
                path: self.path.clone(),
                reason: format!("invalid leader epoch entry: epoch {epoch}, start offset {start_offset}"),
            });
        }
        let update_needed = match self.latest_entry() {
            None => true,
            Some(latest) => epoch != latest.epoch || start_offset < latest.start_offset,
        };
        if !update_needed {
            return Ok(false);
        }
        while self
            .entries
            .last()
            .is_some_and(|e| e.epoch >= epoch || e.start_offset >= start_offset)
        {
            self.entries.pop();
        }
        self.entries.push(EpochEntry { epoch, start_offset });
        tracing::debug!(path = %self.path.display(), epoch, start_offset, "assigned leader epoch start offset");
        self.write()?;
        Ok(true)
    }

    /// Kafka's `endOffsetFor`: the requested epoch (or the largest epoch below it) and the
    /// offset where it ended: `log_end_offset` for the latest epoch, else the start of the next
    /// higher epoch. `None` (Kafka's undefined epoch and offset) when the cache is empty or no
    /// higher epoch exists.
    pub fn end_offset_for(&self, requested_epoch: i32, log_end_offset: i64) -> Option<(i32, i64)> {
        let latest = self.latest_entry()?;
        if requested_epoch == latest.epoch {
            return Some((requested_epoch, log_end_offset));
        }
        let higher = self.entries.iter().find(|e| e.epoch > requested_epoch)?;
        match self.entries.iter().rev().find(|e| e.epoch <= requested_epoch) {
            Some(floor) => Some((floor.epoch, higher.start_offset)),
            None => Some((requested_epoch, higher.start_offset)),
        }
    }

    /// Kafka's `truncateFromEnd`: removes entries whose start offset is `>= end_offset`.
    pub fn truncate_from_end(&mut self, end_offset: i64) -> Result<()> {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        if self.entries.len() != before {
            tracing::debug!(path = %self.path.display(), end_offset, "truncated leader epoch cache from the end");
            self.write()?;
        }
        Ok(())
    }

    /// Kafka's `truncateFromStart`: removes entries starting at or before `start_offset`,
    /// keeping the newest of them re-anchored at `start_offset`.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> Result<()> {
        let removed = self
            .entries
            .iter()
            .take_while(|e| e.start_offset <= start_offset)
            .count();
        if removed == 0 {
            return Ok(());
        }
        let newest_removed = self.entries[removed - 1];
        if removed == 1 && newest_removed.start_offset == start_offset {
            return Ok(());
        }
        self.entries.drain(..removed);
        self.entries.insert(
            0,
            EpochEntry {
                epoch: newest_removed.epoch,
                start_offset,
            },
        );
        self.write()
    }

    fn write(&self) -> Result<()> {
        let lines: Vec<String> = self
            .entries
            .iter()
            .map(|e| format!("{} {}", e.epoch, e.start_offset))
            .collect();
        write_atomically(
            &self.path,
            format_checkpoint(CHECKPOINT_VERSION, &lines).as_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> (tempfile::TempDir, LeaderEpochFileCache) {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = LeaderEpochFileCache::load(dir.path()).expect("load");
        (dir, cache)
    }

    fn file(dir: &tempfile::TempDir) -> String {
        std::fs::read_to_string(dir.path().join(LEADER_EPOCH_CHECKPOINT_FILE)).expect("read")
    }

    #[test]
    fn assign_follows_kafkas_rules() {
        let (dir, mut c) = cache();
        assert!(c.assign(0, 0).expect("assign"));
        assert_eq!(file(&dir), "0\n1\n0 0\n");
        assert!(!c.assign(0, 10).expect("same epoch, later offset"));
        assert!(c.assign(3, 1257).expect("new epoch"));
        assert_eq!(file(&dir), "0\n2\n0 0\n3 1257\n");
        assert!(c.assign(3, 1000).expect("same epoch, earlier offset"));
        assert_eq!(
            c.entries(),
            &[
                EpochEntry {
                    epoch: 0,
                    start_offset: 0
                },
                EpochEntry {
                    epoch: 3,
                    start_offset: 1000
                }
            ]
        );
        assert!(c.assign(2, 500).expect("older epoch removes newer"));
        assert_eq!(
            c.entries(),
            &[
                EpochEntry {
                    epoch: 0,
                    start_offset: 0
                },
                EpochEntry {
                    epoch: 2,
                    start_offset: 500
                }
            ]
        );
        assert!(c.assign(-1, 0).is_err());
        let reloaded = LeaderEpochFileCache::load(dir.path()).expect("reload");
        assert_eq!(reloaded.entries(), c.entries());
    }

    #[test]
    fn lookups_and_truncation() {
        let (_dir, mut c) = cache();
        c.assign(1, 0).expect("assign");
        c.assign(4, 100).expect("assign");
        c.assign(6, 200).expect("assign");
        assert_eq!(c.epoch_for_offset(99), Some(1));
        assert_eq!(c.epoch_for_offset(100), Some(4));
        assert_eq!(c.end_offset_for(6, 300), Some((6, 300)));
        assert_eq!(c.end_offset_for(5, 300), Some((4, 200)));
        assert_eq!(c.end_offset_for(0, 300), Some((0, 0)));
        assert_eq!(c.end_offset_for(7, 300), None);
        c.truncate_from_end(200).expect("truncate");
        assert_eq!(c.latest_epoch(), Some(4));
        c.truncate_from_start(150).expect("truncate");
        assert_eq!(
            c.entries(),
            &[EpochEntry {
                epoch: 4,
                start_offset: 150
            }]
        );
    }
}
