//! Reads of a [`PartitionLog`]: Fetch ([`PartitionLog::read`]), ListOffsets
//! ([`PartitionLog::offset_for_timestamp`], [`PartitionLog::max_timestamp_and_offset`]) and the
//! stored-batch iteration the test kit shows ([`PartitionLog::batches_from`]).

use bytes::Bytes;

use super::file_records::FileBatches;
use super::partition_log::PartitionLog;
use super::segment::{LogSegment, TimestampAndOffset};
use crate::error::{Error, Result};

/// The answer to a fetch read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchData {
    /// Whole stored batches, starting with the one that contains the fetch offset.
    pub records: Bytes,
    /// High watermark at the time of the read.
    pub high_watermark: i64,
    /// Log start offset at the time of the read.
    pub log_start_offset: i64,
    /// Log end offset at the time of the read.
    pub log_end_offset: i64,
}

impl PartitionLog {
    /// Reads for Fetch: whole batches as stored, from the one containing `fetch_offset`, at
    /// most `max_bytes` of them, but at least one whole batch when `min_one_message` (KIP-74).
    /// A read stays within one segment, as Kafka's does. Empty at the LEO;
    /// `OFFSET_OUT_OF_RANGE` below the log start or above the LEO.
    pub fn read(&self, fetch_offset: i64, max_bytes: usize, min_one_message: bool) -> Result<FetchData> {
        let data = |records: Vec<u8>| FetchData {
            records: Bytes::from(records),
            high_watermark: self.high_watermark,
            log_start_offset: self.log_start_offset,
            log_end_offset: self.log_end_offset,
        };
        if fetch_offset == self.log_end_offset {
            return Ok(data(Vec::new()));
        }
        let mut segment = match self.segments.floor(fetch_offset) {
            Some(s) if fetch_offset >= self.log_start_offset && fetch_offset < self.log_end_offset => s,
            _ => return Err(self.out_of_range(fetch_offset)),
        };
        loop {
            if let Some(records) = segment.read(fetch_offset, max_bytes, min_one_message)? {
                return Ok(data(records));
            }
            match self.segments.higher(segment.base_offset()) {
                Some(next) => segment = next,
                None => return Ok(data(Vec::new())),
            }
        }
    }

    fn out_of_range(&self, offset: i64) -> Error {
        Error::OffsetOutOfRange {
            topic: self.topic.clone(),
            partition: self.partition,
            offset,
            log_start_offset: self.log_start_offset,
            log_end_offset: self.log_end_offset,
        }
    }

    /// ListOffsets by timestamp: the first record whose timestamp is `>= timestamp` (found via
    /// the first segment whose max timestamp reaches it, then its time index, offset index and
    /// a scan), or `None` if there is none. The sentinels are the caller's: earliest (-2) is
    /// [`log_start_offset`](Self::log_start_offset), latest (-1) is
    /// [`log_end_offset`](Self::log_end_offset), max timestamp (-3) is
    /// [`max_timestamp_and_offset`](Self::max_timestamp_and_offset).
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampAndOffset>> {
        match self
            .segments
            .iter()
            .find(|s| s.max_timestamp_and_offset_so_far().timestamp >= timestamp)
        {
            Some(segment) => segment.find_offset_by_timestamp(timestamp, self.log_start_offset),
            None => Ok(None),
        }
    }

    /// ListOffsets `MAX_TIMESTAMP` (-3, KIP-734): the first record carrying the log's largest
    /// timestamp, `None` for an empty log.
    pub fn max_timestamp_and_offset(&self) -> Result<Option<TimestampAndOffset>> {
        let mut best: Option<&LogSegment> = None;
        for segment in self.segments.iter() {
            let ts = segment.max_timestamp_and_offset_so_far().timestamp;
            if best.is_none_or(|b| ts > b.max_timestamp_and_offset_so_far().timestamp) {
                best = Some(segment);
            }
        }
        match best {
            Some(segment) => segment.max_timestamp_record(),
            None => Ok(None),
        }
    }

    /// The stored batches from the one containing `offset` to the end, each as its own bytes:
    /// what the test kit shows. Offsets below the log start begin at the first batch.
    pub fn batches_from(&self, offset: i64) -> StoredBatches<'_> {
        let segment = self.segments.floor(offset).or_else(|| self.segments.first());
        let current = segment.map(|s| {
            let position = s.offset_index().lookup(offset).position;
            (s.base_offset(), s.batches_from(u64::from(position)))
        });
        StoredBatches {
            log: self,
            current,
            from_offset: offset,
        }
    }
}

/// The batches of a partition from an offset on, read segment by segment (see
/// [`PartitionLog::batches_from`]).
pub struct StoredBatches<'a> {
    log: &'a PartitionLog,
    current: Option<(i64, FileBatches<'a>)>,
    from_offset: i64,
}

impl std::fmt::Debug for StoredBatches<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredBatches")
            .field("segment", &self.current.as_ref().map(|(base, _)| *base))
            .field("from_offset", &self.from_offset)
            .finish()
    }
}

impl Iterator for StoredBatches<'_> {
    type Item = Result<Bytes>;

    fn next(&mut self) -> Option<Result<Bytes>> {
        loop {
            let (base, batches) = self.current.as_mut()?;
            match batches.next_batch() {
                Ok(Some((_, batch))) => {
                    if batch.last_offset() >= self.from_offset {
                        return Some(Ok(Bytes::copy_from_slice(batch.as_bytes())));
                    }
                }
                Ok(None) => {
                    let base = *base;
                    self.current = self
                        .log
                        .segments
                        .higher(base)
                        .map(|s| (s.base_offset(), s.batches_from(0)));
                }
                Err(e) => {
                    self.current = None;
                    return Some(Err(e));
                }
            }
        }
    }
}
