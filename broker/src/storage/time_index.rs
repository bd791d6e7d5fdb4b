//! [`TimeIndex`]: the `.timeindex` file. An entry `(T, O)` says "the largest timestamp seen up
//! to offset `O` is `T`". Entries are 12 bytes, big-endian: `timestamp i64 | relativeOffset
//! i32`, strictly increasing in timestamp. The last slot is reserved for the entry written when
//! the segment is rolled or closed.

use std::path::{Path, PathBuf};

use kafkit_protocol::record::NO_TIMESTAMP;

use super::index::{be_i32, be_i64, IndexFile};
use super::offset_index::relative_offset;
use crate::error::{Error, Result};

/// Size of a time index entry.
pub const TIME_INDEX_ENTRY_SIZE: usize = 12;

/// A timestamp and an offset (Kafka's `TimestampOffset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimestampOffset {
    /// Timestamp in ms, `-1` if unknown.
    pub timestamp: i64,
    /// Absolute offset.
    pub offset: i64,
}

impl TimestampOffset {
    /// Kafka's `TimestampOffset.UNKNOWN`.
    pub const UNKNOWN: TimestampOffset = TimestampOffset {
        timestamp: NO_TIMESTAMP,
        offset: -1,
    };
}

/// A segment's time index (Kafka's `TimeIndex`).
#[derive(Debug)]
pub struct TimeIndex {
    file: IndexFile,
    base_offset: i64,
    /// Cached last entry; `(-1, base_offset)` when empty, so a `-1` timestamp is never indexed.
    last_entry: TimestampOffset,
}

impl TimeIndex {
    /// Opens or creates the index (see [`IndexFile`]'s preallocation rule).
    pub(crate) fn open(path: PathBuf, base_offset: i64, max_index_size: usize) -> Result<Self> {
        let file = IndexFile::open(path, max_index_size, TIME_INDEX_ENTRY_SIZE)?;
        let mut index = TimeIndex {
            file,
            base_offset,
            last_entry: TimestampOffset::UNKNOWN,
        };
        index.last_entry = index.last_entry_from_file();
        Ok(index)
    }

    /// The segment's base offset.
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// The file.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Number of entries.
    pub fn entries(&self) -> usize {
        self.file.entries()
    }

    /// Capacity in entries (file length / 12).
    pub fn max_entries(&self) -> usize {
        self.file.max_entries()
    }

    /// File length in bytes.
    pub fn size_in_bytes(&self) -> usize {
        self.file.length()
    }

    /// Kafka's `isFull` for the time index: one slot stays free for the roll-time entry.
    pub fn is_full(&self) -> bool {
        self.entries() >= self.max_entries().saturating_sub(1)
    }

    /// The last entry, `(-1, base_offset)` when empty.
    pub fn last_entry(&self) -> TimestampOffset {
        self.last_entry
    }

    /// Entry `n` (`n < entries()`).
    pub fn entry(&self, n: usize) -> TimestampOffset {
        let e = self.file.entry(n);
        TimestampOffset {
            timestamp: be_i64(e, 0),
            offset: self.base_offset + i64::from(be_i32(e, 8)),
        }
    }

    /// All entries, in order.
    pub fn all_entries(&self) -> Vec<TimestampOffset> {
        (0..self.entries()).map(|n| self.entry(n)).collect()
    }

    fn last_entry_from_file(&self) -> TimestampOffset {
        match self.entries() {
            0 => TimestampOffset {
                timestamp: NO_TIMESTAMP,
                offset: self.base_offset,
            },
            n => self.entry(n - 1),
        }
    }

    /// Kafka's `lookup`: the entry with the largest timestamp `<= target`, or
    /// `(-1, base_offset)` when there is none.
    pub fn lookup(&self, target_timestamp: i64) -> TimestampOffset {
        match self
            .file
            .largest_lower_bound_slot(target_timestamp, |e| be_i64(e, 0))
        {
            Some(slot) => self.entry(slot),
            None => TimestampOffset {
                timestamp: NO_TIMESTAMP,
                offset: self.base_offset,
            },
        }
    }

    /// Kafka's `maybeAppend`: appends `(timestamp, offset)` only if the timestamp is greater
    /// than the last entry's. Going backwards in offset or timestamp is an error; so is a full
    /// index unless `skip_full_check` (the roll/close entry, which uses the reserved slot).
    pub(crate) fn maybe_append(&mut self, timestamp: i64, offset: i64, skip_full_check: bool) -> Result<()> {
        let invalid = |reason| Error::InvalidOffset {
            path: self.path().to_path_buf(),
            base_offset: self.base_offset,
            offset,
            reason,
        };
        if !skip_full_check && self.is_full() {
            return Err(invalid("attempt to append to a full time index"));
        }
        if self.entries() > 0 && offset < self.last_entry.offset {
            return Err(invalid("time index offsets must not decrease"));
        }
        if self.entries() > 0 && timestamp < self.last_entry.timestamp {
            return Err(invalid("time index timestamps must not decrease"));
        }
        if timestamp > self.last_entry.timestamp {
            let relative = relative_offset(self.base_offset, offset)
                .ok_or_else(|| invalid("relative offset does not fit int32"))?;
            let mut entry = [0u8; TIME_INDEX_ENTRY_SIZE];
            entry[..8].copy_from_slice(&timestamp.to_be_bytes());
            entry[8..].copy_from_slice(&relative.to_be_bytes());
            self.file.push(&entry)?;
            self.last_entry = TimestampOffset { timestamp, offset };
        }
        Ok(())
    }

    /// Drops every entry and restores the full preallocated size (Kafka's `reset`).
    pub(crate) fn reset(&mut self, max_index_size: usize) -> Result<()> {
        self.file.truncate_to_entries(0);
        self.file.resize(max_index_size)?;
        self.last_entry = self.last_entry_from_file();
        Ok(())
    }

    /// Sets the file length (rounded down to whole entries).
    pub(crate) fn resize(&mut self, size: usize) -> Result<bool> {
        self.file.resize(size)
    }

    /// Shrinks the file to its entries.
    pub(crate) fn trim_to_valid_size(&mut self) -> Result<bool> {
        self.file.trim_to_valid_size()
    }

    /// msync.
    pub(crate) fn flush(&self) -> Result<()> {
        self.file.flush()
    }

    /// Kafka's `sanityCheck`: the last timestamp is not below the first, the last offset not
    /// below the base offset, and the length is a whole number of entries.
    pub(crate) fn sanity_check(&self) -> Result<()> {
        let file_len = std::fs::metadata(self.path())
            .map_err(|e| Error::io("stat", self.path(), e))?
            .len();
        let corrupt = |reason: String| Error::CorruptIndex {
            path: self.path().to_path_buf(),
            reason,
        };
        if self.entries() != 0 {
            let first = self.entry(0);
            if self.last_entry.timestamp < first.timestamp {
                return Err(corrupt(format!(
                    "last timestamp {} is below the first timestamp {}",
                    self.last_entry.timestamp, first.timestamp
                )));
            }
            if self.last_entry.offset < self.base_offset {
                return Err(corrupt(format!(
                    "last offset {} is below the base offset {}",
                    self.last_entry.offset, self.base_offset
                )));
            }
        }
        if file_len % TIME_INDEX_ENTRY_SIZE as u64 != 0 {
            return Err(corrupt(format!(
                "{file_len} bytes is not a multiple of {TIME_INDEX_ENTRY_SIZE}"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maybe_append_keeps_only_increasing_timestamps_and_reserves_the_last_slot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut index = TimeIndex::open(dir.path().join("0.timeindex"), 100, 40).expect("open");
        assert_eq!(index.max_entries(), 3);
        assert_eq!(
            index.last_entry(),
            TimestampOffset {
                timestamp: -1,
                offset: 100
            }
        );
        index.maybe_append(-1, 100, false).expect("ignored");
        assert_eq!(index.entries(), 0);
        index.maybe_append(1000, 105, false).expect("append");
        index
            .maybe_append(1000, 107, false)
            .expect("same timestamp: ignored");
        assert_eq!(index.entries(), 1);
        assert!(
            index.maybe_append(999, 108, false).is_err(),
            "timestamp went back"
        );
        assert!(index.maybe_append(2000, 104, false).is_err(), "offset went back");
        index.maybe_append(2000, 110, false).expect("append");
        assert!(index.is_full(), "2 of 3 slots used: the last is reserved");
        assert!(index.maybe_append(3000, 120, false).is_err());
        index
            .maybe_append(3000, 120, true)
            .expect("roll entry uses the reserved slot");
        assert_eq!(
            index.lookup(999),
            TimestampOffset {
                timestamp: -1,
                offset: 100
            }
        );
        assert_eq!(
            index.lookup(1500),
            TimestampOffset {
                timestamp: 1000,
                offset: 105
            }
        );
        assert_eq!(
            index.lookup(3000),
            TimestampOffset {
                timestamp: 3000,
                offset: 120
            }
        );
        index.sanity_check().expect("sane");
    }
}
