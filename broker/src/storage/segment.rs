//! [`LogSegment`]: one `.log` file of concatenated batches with its [`OffsetIndex`] and
//! [`TimeIndex`], named by the base offset (Kafka's `LogSegment`).
//!
//! Appends are plain writes at the end of the file (no fsync); every append of more than
//! `index.interval.bytes` since the last index entry adds one sparse entry to each index.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use kafkit_protocol::record::{Batches, Record};
use kafkit_protocol::RecordBatch;

use super::file_records::{read_at, FileBatches};
use super::offset_index::{relative_offset, OffsetIndex};
use super::paths;
use super::time_index::{TimeIndex, TimestampOffset};
use crate::error::{Error, Result};

/// Read chunk for short scans (from an index entry to the wanted batch: about
/// `index.interval.bytes` plus one batch).
const SCAN_CHUNK: usize = 16 * 1024;
/// Read chunk for scans over whole segments (recovery, state rebuilds).
pub(crate) const RECOVERY_CHUNK: usize = 1024 * 1024;
/// Cap on a decompressed batch when records must be read (timestamp search). The batch was
/// validated on the way in, so this only bounds damage from a corrupted file.
pub(crate) const MAX_DECOMPRESSED_BYTES: usize = 1 << 30;

/// A record located by timestamp (Kafka's `FileRecords.TimestampAndOffset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimestampAndOffset {
    /// The record's timestamp.
    pub timestamp: i64,
    /// The record's offset.
    pub offset: i64,
    /// The partition leader epoch of its batch, if set.
    pub leader_epoch: Option<i32>,
}

/// What [`LogSegment::should_roll`] weighs (Kafka's `RollParams`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RollParams {
    pub(crate) max_segment_ms: i64,
    pub(crate) max_segment_bytes: u64,
    pub(crate) max_timestamp_in_messages: i64,
    pub(crate) max_offset_in_messages: i64,
    pub(crate) messages_size: u64,
    pub(crate) now_ms: i64,
}

/// Why recovery stopped short of the end of a segment.
#[derive(Debug)]
pub(crate) enum RecoveryStop {
    /// The bytes past the valid prefix are a partial batch.
    TornTail,
    /// A batch failed validation.
    Corrupt(String),
}

/// A batch of at most this many bytes is written with one `pwrite` from a copy of its parts
/// (a stamped header and the records); a larger one part by part, where a second system call
/// costs less than copying the records (with 16 KiB batches, two writes cost more CPU than one
/// copy; with 1 MiB batches, the copy costs more than the second write).
const COALESCE_MAX: usize = 64 * 1024;

thread_local! {
    /// Where small batches' parts are put together; kept per thread, so no allocation per append.
    static WRITE_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Writes `parts` (`len` bytes in all) one after the other at `position`.
fn write_parts_at(file: &File, parts: &[&[u8]], len: usize, position: u64) -> std::io::Result<()> {
    if let [only] = parts {
        return file.write_all_at(only, position);
    }
    if len <= COALESCE_MAX {
        return WRITE_BUFFER.with_borrow_mut(|buffer| {
            buffer.clear();
            for part in parts {
                buffer.extend_from_slice(part);
            }
            file.write_all_at(buffer, position)
        });
    }
    let mut at = position;
    for part in parts {
        file.write_all_at(part, at)?;
        at += part.len() as u64;
    }
    Ok(())
}

/// One segment of a partition's log.
#[derive(Debug)]
pub struct LogSegment {
    base_offset: i64,
    log_path: PathBuf,
    log: File,
    /// Bytes in `.log`; appends go here.
    size: u64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    index_interval_bytes: usize,
    /// Bytes appended since the last index entry; starts at 0 for every opened segment, as in
    /// Kafka.
    bytes_since_last_index_entry: usize,
    /// Max timestamp of the segment's first batch: the start of `segment.ms`.
    rolling_based_timestamp: Option<i64>,
    /// Wall clock when this segment object was created: the fallback for `segment.ms`.
    created_ms: i64,
    /// Largest timestamp appended and the last offset of its batch.
    max_timestamp_and_offset_so_far: TimestampOffset,
}

impl LogSegment {
    /// Opens the segment at `base_offset` in `dir`, creating missing files (indexes
    /// preallocated to `max_index_size`).
    pub(crate) fn open(
        dir: &Path,
        base_offset: i64,
        max_index_size: usize,
        index_interval_bytes: usize,
        created_ms: i64,
    ) -> Result<Self> {
        let log_path = paths::log_file(dir, base_offset);
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&log_path)
            .map_err(|e| Error::io("open", &log_path, e))?;
        let size = log.metadata().map_err(|e| Error::io("stat", &log_path, e))?.len();
        let offset_index = OffsetIndex::open(
            paths::offset_index_file(dir, base_offset),
            base_offset,
            max_index_size,
        )?;
        let time_index = TimeIndex::open(
            paths::time_index_file(dir, base_offset),
            base_offset,
            max_index_size,
        )?;
        let mut segment = LogSegment {
            base_offset,
            log_path,
            log,
            size,
            max_timestamp_and_offset_so_far: time_index.last_entry(),
            offset_index,
            time_index,
            index_interval_bytes,
            bytes_since_last_index_entry: 0,
            rolling_based_timestamp: None,
            created_ms,
        };
        segment.rolling_based_timestamp = segment.first_batch_max_timestamp()?;
        Ok(segment)
    }

    /// Creates a fresh segment, replacing any files left under its names.
    pub(crate) fn create(
        dir: &Path,
        base_offset: i64,
        max_index_size: usize,
        index_interval_bytes: usize,
        created_ms: i64,
    ) -> Result<Self> {
        for path in [
            paths::log_file(dir, base_offset),
            paths::offset_index_file(dir, base_offset),
            paths::time_index_file(dir, base_offset),
            paths::txn_index_file(dir, base_offset),
        ] {
            match fs::remove_file(&path) {
                Ok(()) => {
                    tracing::warn!(path = %path.display(), "deleted a stale file in the way of a new segment")
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("delete", &path, e)),
            }
        }
        Self::open(dir, base_offset, max_index_size, index_interval_bytes, created_ms)
    }

    fn first_batch_max_timestamp(&self) -> Result<Option<i64>> {
        let mut batches = FileBatches::new(&self.log, &self.log_path, 0, self.size, SCAN_CHUNK);
        Ok(match batches.next_batch() {
            Ok(Some((_, batch))) => Some(batch.max_timestamp()),
            _ => None,
        })
    }

    /// The first offset this segment may hold; its files are named by it.
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Bytes in the `.log` file.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The `.log` file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The offset index.
    pub fn offset_index(&self) -> &OffsetIndex {
        &self.offset_index
    }

    /// The time index.
    pub fn time_index(&self) -> &TimeIndex {
        &self.time_index
    }

    /// Largest batch timestamp in the segment and the last offset of that batch
    /// (`(-1, base_offset)` for an empty segment).
    pub fn max_timestamp_and_offset_so_far(&self) -> TimestampOffset {
        self.max_timestamp_and_offset_so_far
    }

    /// Kafka's `shouldRoll`: size, time (`segment.ms` measured in batch timestamps), a full
    /// index, or an offset that no longer fits a relative int32.
    pub(crate) fn should_roll(&self, p: &RollParams) -> bool {
        let reached_roll_ms =
            self.time_waited_for_roll(p.now_ms, p.max_timestamp_in_messages) > p.max_segment_ms;
        let size_limit = p.max_segment_bytes.saturating_sub(p.messages_size);
        let over_size = self.size > size_limit || p.messages_size > p.max_segment_bytes;
        over_size
            || (self.size > 0 && reached_roll_ms)
            || self.offset_index.is_full()
            || self.time_index.is_full()
            || relative_offset(self.base_offset, p.max_offset_in_messages).is_none()
    }

    fn time_waited_for_roll(&self, now_ms: i64, message_timestamp: i64) -> i64 {
        match self.rolling_based_timestamp {
            Some(first) if first >= 0 => message_timestamp.saturating_sub(first),
            _ => now_ms.saturating_sub(self.created_ms),
        }
    }

    /// Kafka's `LogSegment.append` for one batch, given as consecutive `parts` (a stamped
    /// header and the records as sent): write at the end, then, if more than
    /// `index.interval.bytes` were appended since the last entry (checked before counting this
    /// batch), index the batch's last offset at its start position and the max timestamp so
    /// far. On error nothing remains written.
    pub(crate) fn append(
        &mut self,
        largest_offset: i64,
        largest_timestamp: i64,
        shallow_offset_of_max_timestamp: i64,
        parts: &[&[u8]],
    ) -> Result<()> {
        let position = self.size;
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if relative_offset(self.base_offset, largest_offset).is_none() {
            return Err(Error::InvalidOffset {
                path: self.log_path.clone(),
                base_offset: self.base_offset,
                offset: largest_offset,
                reason: "the largest offset of the batch does not fit a relative int32",
            });
        }
        let index_position = u32::try_from(position).map_err(|_| Error::InvalidOffset {
            path: self.log_path.clone(),
            base_offset: self.base_offset,
            offset: largest_offset,
            reason: "segment position does not fit int32",
        })?;
        if let Err(e) = write_parts_at(&self.log, parts, len, position) {
            // Leave no partial batch behind.
            let _ = self.log.set_len(position);
            return Err(Error::io("write", &self.log_path, e));
        }
        let max = if largest_timestamp > self.max_timestamp_and_offset_so_far.timestamp {
            TimestampOffset {
                timestamp: largest_timestamp,
                offset: shallow_offset_of_max_timestamp,
            }
        } else {
            self.max_timestamp_and_offset_so_far
        };
        let indexed = self.bytes_since_last_index_entry > self.index_interval_bytes;
        if indexed {
            // Rolling beforehand guarantees room in both indexes (neither is full). Should an
            // index refuse the entry anyway, the append did not happen: the bytes go again (the
            // log end offset does not move, so they must not stay for the next batch to follow),
            // and so does an offset index entry written for them.
            if let Err(e) = self.offset_index.append(largest_offset, index_position) {
                let _ = self.log.set_len(position);
                return Err(e);
            }
            if let Err(e) = self.time_index.maybe_append(max.timestamp, max.offset, false) {
                self.offset_index.truncate_last();
                let _ = self.log.set_len(position);
                return Err(e);
            }
        }
        self.size += len as u64;
        if position == 0 {
            self.rolling_based_timestamp = Some(largest_timestamp);
        }
        self.max_timestamp_and_offset_so_far = max;
        if indexed {
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += len;
        Ok(())
    }

    /// Kafka's `translateOffset`: position and size of the first batch at or after
    /// `starting_position` whose last offset is `>= offset`, found from the offset index entry
    /// below `offset` by scanning batch headers.
    pub(crate) fn translate_offset(
        &self,
        offset: i64,
        starting_position: u64,
    ) -> Result<Option<(u64, usize)>> {
        let mapping = self.offset_index.lookup(offset);
        let start = u64::from(mapping.position).max(starting_position);
        let mut batches = FileBatches::new(&self.log, &self.log_path, start, self.size, SCAN_CHUNK);
        while let Some((position, batch)) = batches.next_batch()? {
            if batch.last_offset() >= offset {
                return Ok(Some((position, batch.size_in_bytes())));
            }
        }
        Ok(None)
    }

    /// Whole batches from the one containing `start_offset`, at most `max_size` bytes of them;
    /// with `min_one_message` the first batch is returned even if it is larger (KIP-74).
    /// `None` if the segment holds no batch at or after `start_offset`.
    pub(crate) fn read(
        &self,
        start_offset: i64,
        max_size: usize,
        min_one_message: bool,
    ) -> Result<Option<Vec<u8>>> {
        let Some((position, first_size)) = self.translate_offset(start_offset, 0)? else {
            return Ok(None);
        };
        if first_size > max_size {
            return Ok(Some(if min_one_message {
                read_at(&self.log, &self.log_path, position, first_size)?
            } else {
                Vec::new()
            }));
        }
        let available = usize::try_from(self.size - position).unwrap_or(usize::MAX);
        let mut buf = read_at(&self.log, &self.log_path, position, available.min(max_size))?;
        let mut batches = Batches::new(&buf);
        for batch in batches.by_ref() {
            batch?;
        }
        let whole = batches.position();
        buf.truncate(whole);
        Ok(Some(buf))
    }

    /// Kafka's `findOffsetByTimestamp`: the first record at or after `starting_offset` whose
    /// timestamp is `>= timestamp`, located through the time index, then the offset index, then
    /// a scan.
    pub(crate) fn find_offset_by_timestamp(
        &self,
        timestamp: i64,
        starting_offset: i64,
    ) -> Result<Option<TimestampAndOffset>> {
        let from = self.time_index.lookup(timestamp);
        let position = self
            .offset_index
            .lookup(from.offset.max(starting_offset))
            .position;
        self.first_record_from(
            position,
            |batch| batch.max_timestamp() >= timestamp,
            |record| record.timestamp >= timestamp && record.offset >= starting_offset,
        )
    }

    /// The first record whose timestamp equals the segment's max timestamp (Kafka's
    /// `offsetOfMaxTimestamp` of the batch that holds it), for ListOffsets `MAX_TIMESTAMP`.
    pub(crate) fn max_timestamp_record(&self) -> Result<Option<TimestampAndOffset>> {
        let max = self.max_timestamp_and_offset_so_far.timestamp;
        if max < 0 {
            return Ok(None);
        }
        let position = self
            .offset_index
            .lookup(self.max_timestamp_and_offset_so_far.offset)
            .position;
        self.first_record_from(
            position,
            |batch| batch.max_timestamp() == max,
            |record| record.timestamp == max,
        )
    }

    /// Scans batches from `position` and returns the first record, in a batch that `batch_may_hold`
    /// accepts, that `wanted` accepts.
    fn first_record_from(
        &self,
        position: u32,
        batch_may_hold: impl Fn(&RecordBatch<'_>) -> bool,
        wanted: impl Fn(&Record<'_>) -> bool,
    ) -> Result<Option<TimestampAndOffset>> {
        let mut batches = FileBatches::new(
            &self.log,
            &self.log_path,
            u64::from(position),
            self.size,
            SCAN_CHUNK,
        );
        let mut scratch = Vec::new();
        while let Some((_, batch)) = batches.next_batch()? {
            if !batch_may_hold(&batch) {
                continue;
            }
            for record in batch.records(&mut scratch, MAX_DECOMPRESSED_BYTES)? {
                let record = record?;
                if wanted(&record) {
                    return Ok(Some(TimestampAndOffset {
                        timestamp: record.timestamp,
                        offset: record.offset,
                        leader_epoch: leader_epoch_of(&batch),
                    }));
                }
            }
        }
        Ok(None)
    }

    /// Kafka's `readNextOffset`: one past the last batch (scanning from the last index
    /// entry), or the base offset when empty.
    pub(crate) fn read_next_offset(&self) -> Result<i64> {
        let start = self.offset_index.lookup(self.offset_index.last_offset()).position;
        let mut batches =
            FileBatches::new(&self.log, &self.log_path, u64::from(start), self.size, SCAN_CHUNK);
        let mut next = self.base_offset;
        while let Some((_, batch)) = batches.next_batch()? {
            next = batch.next_offset();
        }
        Ok(next)
    }

    /// The batches of this segment from `position`, for full scans.
    pub(crate) fn batches_from(&self, position: u64) -> FileBatches<'_> {
        FileBatches::new(&self.log, &self.log_path, position, self.size, RECOVERY_CHUNK)
    }

    /// Kafka's `LogSegment.recover`: rebuilds both indexes from the batches, checking each
    /// batch (`check` adds the partition-level checks and side effects), and truncates the
    /// file after the last valid batch. Returns the bytes truncated and why.
    pub(crate) fn recover(
        &mut self,
        max_index_size: usize,
        check: &mut dyn FnMut(&RecordBatch<'_>) -> std::result::Result<(), String>,
    ) -> Result<(u64, Option<RecoveryStop>)> {
        self.offset_index.reset(max_index_size)?;
        self.time_index.reset(max_index_size)?;
        let mut valid_bytes: u64 = 0;
        let mut last_index_entry: u64 = 0;
        let mut max_ts = self.time_index.last_entry();
        let mut expected_offset = self.base_offset;
        let mut first_max_timestamp = None;
        let mut stop = None;
        let mut batches = FileBatches::new(&self.log, &self.log_path, 0, self.size, RECOVERY_CHUNK);
        loop {
            let (position, batch) = match batches.next_batch() {
                Ok(Some(next)) => next,
                Ok(None) => {
                    if batches.position() < self.size {
                        stop = Some(RecoveryStop::TornTail);
                    }
                    break;
                }
                Err(e) => {
                    stop = Some(RecoveryStop::Corrupt(e.to_string()));
                    break;
                }
            };
            debug_assert_eq!(position, valid_bytes);
            let verdict = if let Err(e) = batch.ensure_valid() {
                Err(e.to_string())
            } else if batch.base_offset() != expected_offset {
                // base_offset is outside the CRC: require the offsets to continue.
                Err(format!(
                    "batch base offset {} where {expected_offset} was expected",
                    batch.base_offset()
                ))
            } else if relative_offset(self.base_offset, batch.last_offset()).is_none() {
                Err(format!(
                    "last offset {} does not fit the segment",
                    batch.last_offset()
                ))
            } else {
                check(&batch)
            };
            if let Err(reason) = verdict {
                stop = Some(RecoveryStop::Corrupt(reason));
                break;
            }
            if batch.max_timestamp() > max_ts.timestamp {
                max_ts = TimestampOffset {
                    timestamp: batch.max_timestamp(),
                    offset: batch.last_offset(),
                };
            }
            if valid_bytes - last_index_entry > self.index_interval_bytes as u64 {
                let position = u32::try_from(valid_bytes).unwrap_or(u32::MAX);
                self.offset_index.append(batch.last_offset(), position)?;
                self.time_index
                    .maybe_append(max_ts.timestamp, max_ts.offset, false)?;
                last_index_entry = valid_bytes;
            }
            first_max_timestamp.get_or_insert(batch.max_timestamp());
            expected_offset = batch.next_offset();
            valid_bytes += batch.size_in_bytes() as u64;
        }
        let truncated = self.size - valid_bytes;
        if truncated > 0 {
            self.log
                .set_len(valid_bytes)
                .map_err(|e| Error::io("truncate", &self.log_path, e))?;
            self.size = valid_bytes;
        }
        self.offset_index.trim_to_valid_size()?;
        self.time_index
            .maybe_append(max_ts.timestamp, max_ts.offset, true)?;
        self.time_index.trim_to_valid_size()?;
        self.max_timestamp_and_offset_so_far = max_ts;
        self.rolling_based_timestamp = first_max_timestamp;
        Ok((truncated, stop))
    }

    /// Kafka's `onBecomeInactiveSegment`: the final time-index entry, then both indexes
    /// trimmed to their entries.
    pub(crate) fn on_become_inactive(&mut self) -> Result<()> {
        let max = self.max_timestamp_and_offset_so_far;
        self.time_index.maybe_append(max.timestamp, max.offset, true)?;
        self.offset_index.trim_to_valid_size()?;
        self.time_index.trim_to_valid_size()?;
        Ok(())
    }

    /// Sets both index files to `size` (the active segment's indexes go back to
    /// `segment.index.bytes` after load).
    pub(crate) fn resize_indexes(&mut self, size: usize) -> Result<()> {
        self.offset_index.resize(size)?;
        self.time_index.resize(size)?;
        Ok(())
    }

    /// Checks both indexes (Kafka's `sanityCheck`).
    pub(crate) fn sanity_check(&self) -> Result<()> {
        self.offset_index.sanity_check()?;
        self.time_index.sanity_check()
    }

    /// fsyncs the `.log` and msyncs the indexes.
    pub(crate) fn flush(&self) -> Result<()> {
        self.log
            .sync_all()
            .map_err(|e| Error::io("fsync", &self.log_path, e))?;
        self.offset_index.flush()?;
        self.time_index.flush()
    }

    /// Kafka's `LogSegment.close`: the final time-index entry, indexes trimmed, all flushed.
    pub(crate) fn close(mut self) -> Result<()> {
        self.on_become_inactive()?;
        self.flush()
    }

    /// Deletes the segment's files.
    pub(crate) fn delete(self) -> Result<()> {
        let paths = [
            self.log_path.clone(),
            self.offset_index.path().to_path_buf(),
            self.time_index.path().to_path_buf(),
        ];
        drop(self);
        for path in paths {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("delete", &path, e)),
            }
        }
        Ok(())
    }
}

fn leader_epoch_of(batch: &RecordBatch<'_>) -> Option<i32> {
    Some(batch.partition_leader_epoch()).filter(|e| *e >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends `len` filler bytes as the batch of `offset`, timestamp `offset`.
    fn append(segment: &mut LogSegment, offset: i64, len: usize) -> Result<()> {
        segment.append(offset, offset, offset, &[&vec![7u8; len]])
    }

    /// A batch given in parts (a stamped header and the records) lands as their concatenation,
    /// whether it is put together for one write (small) or written part by part (large).
    #[test]
    fn a_batch_in_parts_is_stored_as_one() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut segment = LogSegment::create(dir.path(), 0, 1 << 20, 4096, 0).expect("segment");
        let mut expected = Vec::new();
        for (offset, len) in [(0, 100), (1, COALESCE_MAX + 1), (2, 7)] {
            let head = [offset as u8; 61];
            let body = vec![offset as u8 + 100; len];
            segment
                .append(offset, offset, offset, &[&head, &body])
                .expect("append");
            expected.extend_from_slice(&head);
            expected.extend_from_slice(&body);
        }
        let stored = fs::read(paths::log_file(dir.path(), 0)).expect("read");
        assert_eq!(
            (segment.size(), stored.len()),
            (expected.len() as u64, expected.len())
        );
        assert!(stored == expected, "the parts were stored in order");
    }

    /// An index that refuses an entry after the batch was written leaves the segment as it was:
    /// the bytes are gone from the file and from its size, and an offset index entry written
    /// for them is taken back, so the next batch lands where the refused one would have.
    #[test]
    fn an_index_failure_after_the_write_takes_the_bytes_back() {
        let dir = tempfile::tempdir().expect("tmp");
        // Room for 3 offset index entries (8 bytes each) and 2 time index entries (12 bytes),
        // of which the last is kept for the roll: the time index is full after one entry.
        // Every batch after the first is indexed.
        let mut segment = LogSegment::create(dir.path(), 0, 24, 0, 0).expect("segment");
        append(&mut segment, 0, 100).expect("first, not indexed");
        append(&mut segment, 1, 100).expect("second, indexed in both");
        let file_len = || fs::metadata(paths::log_file(dir.path(), 0)).expect("stat").len();
        assert_eq!((segment.size(), file_len()), (200, 200));

        // The offset index takes the entry, the full time index refuses it.
        let err = append(&mut segment, 2, 100).expect_err("time index full");
        assert!(matches!(err, Error::InvalidOffset { .. }), "{err}");
        assert_eq!((segment.size(), file_len()), (200, 200), "the bytes went again");
        assert_eq!(segment.offset_index.entries(), 1, "its offset index entry too");
        assert_eq!(segment.time_index.entries(), 1);
        assert_eq!(segment.max_timestamp_and_offset_so_far.offset, 1);

        // The offset index itself refuses: an entry that does not increase.
        let err = append(&mut segment, 1, 50).expect_err("offset not increasing");
        assert!(matches!(err, Error::InvalidOffset { .. }), "{err}");
        assert_eq!((segment.size(), file_len()), (200, 200));
    }
}
