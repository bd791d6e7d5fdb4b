//! [`OffsetIndex`]: the `.index` file, a sparse map from offset to byte position in the
//! segment's `.log`. Entries are 8 bytes, big-endian: `relativeOffset i32 | position i32`,
//! where `relativeOffset = offset - baseOffset`.

use std::path::{Path, PathBuf};

use super::index::{be_i32, IndexFile};
use crate::error::{Error, Result};

/// Size of an offset index entry.
pub const OFFSET_INDEX_ENTRY_SIZE: usize = 8;

/// An offset and the byte position of its batch in the segment (Kafka's `OffsetPosition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OffsetPosition {
    /// Absolute offset.
    pub offset: i64,
    /// Byte position in the `.log` file.
    pub position: u32,
}

/// A segment's offset index (Kafka's `OffsetIndex`).
#[derive(Debug)]
pub struct OffsetIndex {
    file: IndexFile,
    base_offset: i64,
    /// Cached offset of the last entry (`base_offset` when empty), for the monotonicity check.
    last_offset: i64,
}

impl OffsetIndex {
    /// Opens or creates the index (see [`IndexFile`]'s preallocation rule).
    pub(crate) fn open(path: PathBuf, base_offset: i64, max_index_size: usize) -> Result<Self> {
        let file = IndexFile::open(path, max_index_size, OFFSET_INDEX_ENTRY_SIZE)?;
        let mut index = OffsetIndex {
            file,
            base_offset,
            last_offset: base_offset,
        };
        index.last_offset = index.last_entry().offset;
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

    /// Capacity in entries (file length / 8).
    pub fn max_entries(&self) -> usize {
        self.file.max_entries()
    }

    /// File length in bytes.
    pub fn size_in_bytes(&self) -> usize {
        self.file.length()
    }

    /// Whether no entry fits any more: a reason to roll.
    pub fn is_full(&self) -> bool {
        self.entries() >= self.max_entries()
    }

    /// Offset of the last entry, or the base offset when empty.
    pub fn last_offset(&self) -> i64 {
        self.last_offset
    }

    /// Entry `n` (`n < entries()`).
    pub fn entry(&self, n: usize) -> OffsetPosition {
        let e = self.file.entry(n);
        OffsetPosition {
            offset: self.base_offset + i64::from(be_i32(e, 0)),
            position: be_i32(e, 4) as u32,
        }
    }

    /// All entries, in order.
    pub fn all_entries(&self) -> Vec<OffsetPosition> {
        (0..self.entries()).map(|n| self.entry(n)).collect()
    }

    fn last_entry(&self) -> OffsetPosition {
        match self.entries() {
            0 => OffsetPosition {
                offset: self.base_offset,
                position: 0,
            },
            n => self.entry(n - 1),
        }
    }

    /// Kafka's `lookup`: the entry with the largest offset `<= target`, or
    /// `(base_offset, 0)` when there is none.
    pub fn lookup(&self, target: i64) -> OffsetPosition {
        let base = self.base_offset;
        match self
            .file
            .largest_lower_bound_slot(target, |e| base + i64::from(be_i32(e, 0)))
        {
            Some(slot) => self.entry(slot),
            None => OffsetPosition {
                offset: base,
                position: 0,
            },
        }
    }

    /// Appends `(offset, position)`. The offset must be greater than the last entry's, fit a
    /// relative int32, and the index must not be full.
    pub(crate) fn append(&mut self, offset: i64, position: u32) -> Result<()> {
        let invalid = |reason| Error::InvalidOffset {
            path: self.path().to_path_buf(),
            base_offset: self.base_offset,
            offset,
            reason,
        };
        if self.entries() > 0 && offset <= self.last_offset {
            return Err(invalid("offset index entries must be strictly increasing"));
        }
        let relative = relative_offset(self.base_offset, offset)
            .ok_or_else(|| invalid("relative offset does not fit int32"))?;
        let position = i32::try_from(position).map_err(|_| invalid("position does not fit int32"))?;
        let mut entry = [0u8; OFFSET_INDEX_ENTRY_SIZE];
        entry[..4].copy_from_slice(&relative.to_be_bytes());
        entry[4..].copy_from_slice(&position.to_be_bytes());
        self.file.push(&entry)?;
        self.last_offset = offset;
        Ok(())
    }

    /// Takes back the last entry: the append it was written for did not happen.
    pub(crate) fn truncate_last(&mut self) {
        if let Some(n) = self.entries().checked_sub(1) {
            self.file.truncate_to_entries(n);
            self.last_offset = self.last_entry().offset;
        }
    }

    /// Drops every entry and restores the full preallocated size (Kafka's `reset`).
    pub(crate) fn reset(&mut self, max_index_size: usize) -> Result<()> {
        self.file.truncate_to_entries(0);
        self.last_offset = self.base_offset;
        self.file.resize(max_index_size)?;
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

    /// Kafka's `sanityCheck`: the last offset is not below the base offset and the length is a
    /// whole number of entries.
    pub(crate) fn sanity_check(&self) -> Result<()> {
        let file_len = std::fs::metadata(self.path())
            .map_err(|e| Error::io("stat", self.path(), e))?
            .len();
        let corrupt = |reason: String| Error::CorruptIndex {
            path: self.path().to_path_buf(),
            reason,
        };
        if self.entries() != 0 && self.last_offset < self.base_offset {
            return Err(corrupt(format!(
                "last offset {} is below the base offset {}",
                self.last_offset, self.base_offset
            )));
        }
        if file_len % OFFSET_INDEX_ENTRY_SIZE as u64 != 0 {
            return Err(corrupt(format!(
                "{file_len} bytes is not a multiple of {OFFSET_INDEX_ENTRY_SIZE}"
            )));
        }
        Ok(())
    }
}

/// `offset - base_offset` if it lies in `0..=i32::MAX` (Kafka's `canConvertToRelativeOffset`).
pub(crate) fn relative_offset(base_offset: i64, offset: i64) -> Option<i32> {
    offset
        .checked_sub(base_offset)
        .and_then(|d| i32::try_from(d).ok())
        .filter(|d| *d >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_append_and_bounds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut index = OffsetIndex::open(dir.path().join("0.index"), 100, 32).expect("open");
        assert_eq!(index.max_entries(), 4);
        assert_eq!(
            index.lookup(150),
            OffsetPosition {
                offset: 100,
                position: 0
            }
        );
        index.append(110, 70).expect("append");
        index.append(120, 4300).expect("append");
        assert!(index.append(120, 9000).is_err(), "not increasing");
        assert!(
            index.append(100 + (1i64 << 31), 9000).is_err(),
            "relative overflow"
        );
        assert_eq!(
            index.lookup(105),
            OffsetPosition {
                offset: 100,
                position: 0
            }
        );
        assert_eq!(
            index.lookup(110),
            OffsetPosition {
                offset: 110,
                position: 70
            }
        );
        assert_eq!(
            index.lookup(119),
            OffsetPosition {
                offset: 110,
                position: 70
            }
        );
        assert_eq!(
            index.lookup(500),
            OffsetPosition {
                offset: 120,
                position: 4300
            }
        );
        index.append(130, 9000).expect("append");
        index.append(140, 9100).expect("append");
        assert!(index.is_full());
        assert!(index.append(150, 9200).is_err(), "full");
        index.sanity_check().expect("sane");

        let path = index.path().to_path_buf();
        index.trim_to_valid_size().expect("trim");
        drop(index);
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(&bytes[..8], &[0, 0, 0, 10, 0, 0, 0, 70]);
        let index = OffsetIndex::open(path, 100, 32).expect("reopen");
        assert_eq!((index.entries(), index.last_offset()), (4, 140));
    }
}
