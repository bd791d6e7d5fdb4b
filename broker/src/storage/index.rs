//! [`IndexFile`]: what Kafka's `AbstractIndex` does for both index kinds — a preallocated,
//! memory-mapped file of fixed-size big-endian entries, whose length *is* the entry count once
//! trimmed, searched with a cache-friendly "warm section" binary search.
//!
//! # Invariants
//! - `entries <= max_entries`, and `max_entries * entry_size` is the mapped length, which is the
//!   file length (rounded down to whole entries).
//! - The mapping is dropped before the file length changes, so no page ever maps past the end
//!   of the file.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use memmap2::{MmapMut, MmapOptions};

use crate::error::{Error, Result};

/// Bytes of index that Kafka's lookups keep "warm": the last 8 KiB of entries are searched
/// first, because nearly every lookup (fetches at the tail) lands there.
const WARM_SECTION_BYTES: usize = 8192;

/// A memory-mapped index file of fixed-size entries.
#[derive(Debug)]
pub(crate) struct IndexFile {
    path: PathBuf,
    /// Kept open for the file's lifetime: resizes and flushes go through it.
    file: File,
    /// `None` when the file is empty: mapping zero bytes is not portable.
    mmap: Option<MmapMut>,
    entry_size: usize,
    entries: usize,
    max_entries: usize,
}

impl IndexFile {
    /// Opens `path`, creating it preallocated to `max_index_size` (rounded down to whole
    /// entries) if it does not exist. An existing file is mapped whole and its length gives the
    /// entry count, as Kafka's `createMappedBuffer` does.
    pub(crate) fn open(path: PathBuf, max_index_size: usize, entry_size: usize) -> Result<Self> {
        let newly_created = !path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        let len = if newly_created {
            let len = round_down(max_index_size, entry_size);
            file.set_len(len as u64)
                .map_err(|e| Error::io("preallocate", &path, e))?;
            len
        } else {
            let len = file.metadata().map_err(|e| Error::io("stat", &path, e))?.len();
            round_down(usize::try_from(len).unwrap_or(usize::MAX), entry_size)
        };
        let mut index = IndexFile {
            path,
            file,
            mmap: None,
            entry_size,
            entries: 0,
            max_entries: 0,
        };
        index.map(len)?;
        index.entries = if newly_created { 0 } else { index.max_entries };
        Ok(index)
    }

    /// Maps the first `len` bytes (a multiple of the entry size) of the file.
    fn map(&mut self, len: usize) -> Result<()> {
        self.mmap = None;
        self.max_entries = len / self.entry_size;
        if len == 0 {
            return Ok(());
        }
        // SAFETY: the file belongs to this index and is only changed through it, under the
        // partition's lock; its length is at least `len` (set or measured just before), and the
        // mapping is dropped before any later length change.
        let mmap = unsafe { MmapOptions::new().len(len).map_mut(&self.file) }
            .map_err(|e| Error::io("mmap", &self.path, e))?;
        self.mmap = Some(mmap);
        Ok(())
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn entries(&self) -> usize {
        self.entries
    }

    pub(crate) fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// The file's length in bytes (the mapped length).
    pub(crate) fn length(&self) -> usize {
        self.max_entries * self.entry_size
    }

    /// The bytes of entry `n`. Callers pass `n < entries`.
    pub(crate) fn entry(&self, n: usize) -> &[u8] {
        debug_assert!(n < self.entries);
        match &self.mmap {
            Some(m) => &m[n * self.entry_size..(n + 1) * self.entry_size],
            // Invariant: entries <= max_entries == 0 when unmapped, so no caller gets here.
            None => &[],
        }
    }

    /// Writes the next entry. Callers check `entries < max_entries` first.
    pub(crate) fn push(&mut self, entry: &[u8]) -> Result<()> {
        debug_assert_eq!(entry.len(), self.entry_size);
        let at = self.entries * self.entry_size;
        match &mut self.mmap {
            Some(m) if self.entries < self.max_entries => {
                m[at..at + self.entry_size].copy_from_slice(entry);
                self.entries += 1;
                Ok(())
            }
            _ => Err(Error::CorruptIndex {
                path: self.path.clone(),
                reason: format!("attempt to append to a full index ({} entries)", self.max_entries),
            }),
        }
    }

    /// Drops entries from `n` on (zeroing them, so a later trim or rebuild leaves no stale
    /// bytes behind).
    pub(crate) fn truncate_to_entries(&mut self, n: usize) {
        if n >= self.entries {
            return;
        }
        if let Some(m) = &mut self.mmap {
            m[n * self.entry_size..self.entries * self.entry_size].fill(0);
        }
        self.entries = n;
    }

    /// Kafka's `resize`: sets the file length to `new_size` rounded down to whole entries and
    /// remaps it; entries past the new end are dropped. Returns whether the length changed.
    pub(crate) fn resize(&mut self, new_size: usize) -> Result<bool> {
        let rounded = round_down(new_size, self.entry_size);
        if rounded == self.length() {
            return Ok(false);
        }
        self.flush()?;
        // The mapping must go before the file shrinks (see the module invariants).
        self.mmap = None;
        self.file
            .set_len(rounded as u64)
            .map_err(|e| Error::io("resize", &self.path, e))?;
        self.map(rounded)?;
        self.entries = self.entries.min(self.max_entries);
        Ok(true)
    }

    /// Shrinks the file to its entries, so that reopening it counts them from its length.
    pub(crate) fn trim_to_valid_size(&mut self) -> Result<bool> {
        self.resize(self.entries * self.entry_size)
    }

    /// Writes dirty pages to disk.
    pub(crate) fn flush(&self) -> Result<()> {
        if let Some(m) = &self.mmap {
            m.flush().map_err(|e| Error::io("msync", &self.path, e))?;
        }
        Ok(())
    }

    /// Kafka's `largestLowerBoundSlotFor`: the slot of the last entry whose key is `<= target`,
    /// or `None` if every key is greater (or the index is empty). Searches the warm tail first.
    pub(crate) fn largest_lower_bound_slot(&self, target: i64, key: impl Fn(&[u8]) -> i64) -> Option<usize> {
        if self.entries == 0 {
            return None;
        }
        let key_at = |n: usize| key(self.entry(n));
        let warm_entries = WARM_SECTION_BYTES / self.entry_size;
        let first_hot = (self.entries - 1).saturating_sub(warm_entries);
        if key_at(first_hot) < target {
            return Some(binary_search(first_hot, self.entries - 1, target, key_at));
        }
        if key_at(0) > target {
            return None;
        }
        Some(binary_search(0, first_hot, target, key_at))
    }
}

/// The binary search of Kafka's `AbstractIndex` for the largest lower bound in `[lo, hi]`,
/// where `key(lo) <= target` is known.
fn binary_search(mut lo: usize, mut hi: usize, target: i64, key: impl Fn(usize) -> i64) -> usize {
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        let k = key(mid);
        if k > target {
            hi = mid - 1;
        } else if k < target {
            lo = mid;
        } else {
            return mid;
        }
    }
    lo
}

fn round_down(n: usize, multiple: usize) -> usize {
    n - n % multiple
}

#[inline]
pub(crate) fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
pub(crate) fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(x)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn index_with_keys(keys: &[i64]) -> (tempfile::TempDir, IndexFile) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut index = IndexFile::open(dir.path().join("i"), keys.len() * 8 + 8, 8).expect("open");
        for k in keys {
            index.push(&k.to_be_bytes()).expect("push");
        }
        (dir, index)
    }

    #[test]
    fn preallocates_rounded_down_and_counts_entries_from_length_on_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("i");
        let mut index = IndexFile::open(path.clone(), 100, 12).expect("open");
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), 96);
        assert_eq!((index.entries(), index.max_entries()), (0, 8));
        index.push(&[1; 12]).expect("push");
        index.push(&[2; 12]).expect("push");
        assert!(index.trim_to_valid_size().expect("trim"));
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), 24);
        drop(index);
        let mut index = IndexFile::open(path.clone(), 100, 12).expect("reopen");
        assert_eq!((index.entries(), index.max_entries()), (2, 2));
        assert_eq!(index.entry(1), &[2; 12]);
        index.resize(100).expect("resize");
        assert_eq!((index.entries(), index.max_entries()), (2, 8));
        assert_eq!(index.entry(0), &[1; 12]);
    }

    proptest! {
        #[test]
        fn largest_lower_bound_matches_a_linear_scan(
            mut keys in proptest::collection::vec(0i64..5000, 0..3000),
            target in -10i64..5100,
        ) {
            keys.sort_unstable();
            keys.dedup();
            let (_dir, index) = index_with_keys(&keys);
            let expected = keys.iter().rposition(|k| *k <= target);
            let found = index.largest_lower_bound_slot(target, |e| be_i64(e, 0));
            prop_assert_eq!(found, expected);
        }
    }
}
