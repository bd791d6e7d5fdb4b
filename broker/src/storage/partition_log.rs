//! [`PartitionLog`]: the log of one partition (Kafka's `UnifiedLog` + `LocalLog` for a
//! single-node leader): opening, appends as leader, rolls, flush and close; its reads are in
//! [`fetch`](super::fetch).
//!
//! Offsets: `log_start_offset` (first segment's base: kafkit deletes nothing yet),
//! `log_end_offset` (LEO, the next offset to assign), `high_watermark` (= LEO on a single-node
//! leader, whose ISR is itself), `recovery_point` (everything below it is fsynced).

use std::path::{Path, PathBuf};

use kafkit_protocol::record::{RecordBatchMut, TimestampType};
use kafkit_protocol::RecordBatch;
use uuid::Uuid;

use super::checkpoint::sync_dir;
use super::config::LogConfig;
use super::leader_epoch::LeaderEpochFileCache;
use super::loader::{load, LoadedLog};
use super::partition_metadata::PartitionMetadataFile;
use super::paths;
use super::producer_state::{ProducerStateEntry, ProducerStateManager};
use super::segment::{LogSegment, RollParams};
use super::segments::LogSegments;
use crate::error::{Error, Result};

/// The outcome of a successful leader append (Kafka's `LogAppendInfo`, reduced to what the
/// produce response and the caller need).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogAppendInfo {
    /// Offset of the batch's first record: the produce response's `base_offset`.
    pub first_offset: i64,
    /// Offset of its last record.
    pub last_offset: i64,
    /// The batch's max timestamp as stored.
    pub max_timestamp: i64,
    /// The produce response's `log_append_time_ms`: `Some(now)` on a LogAppendTime topic, the
    /// stored max timestamp for a duplicate (even on CreateTime topics, as Kafka answers),
    /// `None` (`-1` on the wire) otherwise.
    pub log_append_time: Option<i64>,
    /// Log start offset after the append.
    pub log_start_offset: i64,
    /// Bytes appended (0 for a duplicate).
    pub valid_bytes: usize,
    /// Whether the batch duplicated one of the producer's last five and was not written.
    pub duplicate: bool,
}

/// A summary of one segment, for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Base offset (the files' name).
    pub base_offset: i64,
    /// Bytes in `.log`.
    pub size_in_bytes: u64,
    /// Entries in `.index`.
    pub offset_index_entries: usize,
    /// Entries in `.timeindex`.
    pub time_index_entries: usize,
    /// Largest batch timestamp, `-1` if none.
    pub max_timestamp: i64,
    /// The `.log` file.
    pub log_path: PathBuf,
}

/// The log of one partition.
#[derive(Debug)]
pub struct PartitionLog {
    pub(super) dir: PathBuf,
    pub(super) topic: String,
    pub(super) partition: i32,
    config: LogConfig,
    pub(super) segments: LogSegments,
    pub(super) log_start_offset: i64,
    pub(super) log_end_offset: i64,
    pub(super) high_watermark: i64,
    recovery_point: i64,
    leader_epoch_cache: LeaderEpochFileCache,
    producer_state: ProducerStateManager,
    partition_metadata: PartitionMetadataFile,
    topic_id: Option<Uuid>,
}

impl PartitionLog {
    /// Opens (creating if needed) the partition log in `dir`, which must be named
    /// `<topic>-<partition>` (see [`paths::partition_dir`]), and loads it as Kafka's
    /// `LogLoader` does.
    ///
    /// `had_clean_shutdown` says whether the data dir's clean-shutdown marker was present: then
    /// the trimmed indexes are trusted (after a sanity check). Otherwise every segment from the
    /// one holding `recovery_point` on is re-validated and its indexes rebuilt, a torn or
    /// corrupt tail is truncated and later segments deleted. kafkit keeps no
    /// `recovery-point-offset-checkpoint` yet, so callers pass 0: full recovery.
    pub fn open(
        dir: impl Into<PathBuf>,
        config: LogConfig,
        had_clean_shutdown: bool,
        recovery_point: i64,
    ) -> Result<Self> {
        let dir = dir.into();
        config.validate()?;
        let (topic, partition) = paths::parse_partition_dir(&dir)?;
        let LoadedLog {
            segments,
            log_start_offset,
            log_end_offset,
            recovery_point,
            leader_epoch_cache,
            producer_state,
        } = load(
            &dir,
            &topic,
            partition,
            &config,
            had_clean_shutdown,
            recovery_point,
            now_ms(),
        )?;
        let partition_metadata = PartitionMetadataFile::new(&dir);
        let topic_id = partition_metadata.read()?;
        super::txn_index::rebuild(&dir, &segments.base_offsets(), producer_state.aborted())?;
        Ok(PartitionLog {
            dir,
            topic,
            partition,
            config,
            segments,
            log_start_offset,
            log_end_offset,
            high_watermark: log_end_offset,
            recovery_point,
            leader_epoch_cache,
            producer_state,
            partition_metadata,
            topic_id,
        })
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The configuration in force.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// First offset in the log.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The next offset to be assigned (LEO).
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }

    /// The high watermark: equal to the LEO on a single-node leader.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// Offsets below this are known to be fsynced.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    /// The leader-epoch cache.
    pub fn leader_epoch_cache(&self) -> &LeaderEpochFileCache {
        &self.leader_epoch_cache
    }

    /// The idempotent-producer state.
    pub fn producer_state(&self) -> &ProducerStateManager {
        &self.producer_state
    }

    /// A copy of every producer's state, for inspection.
    pub fn producer_state_snapshot(&self) -> Vec<ProducerStateEntry> {
        self.producer_state.snapshot()
    }

    /// The segments.
    pub fn log_segments(&self) -> &LogSegments {
        &self.segments
    }

    /// A summary of every segment, in offset order.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.segments
            .iter()
            .map(|s| SegmentInfo {
                base_offset: s.base_offset(),
                size_in_bytes: s.size(),
                offset_index_entries: s.offset_index().entries(),
                time_index_entries: s.time_index().entries(),
                max_timestamp: s.max_timestamp_and_offset_so_far().timestamp,
                log_path: s.log_path().to_path_buf(),
            })
            .collect()
    }

    /// The topic id from `partition.metadata`, if assigned.
    pub fn topic_id(&self) -> Option<Uuid> {
        self.topic_id
    }

    /// Records the topic id in `partition.metadata` (written once; a different id later is
    /// `INCONSISTENT_TOPIC_ID`).
    pub fn assign_topic_id(&mut self, topic_id: Uuid) -> Result<()> {
        match self.topic_id {
            Some(stored) if stored == topic_id => Ok(()),
            Some(stored) => Err(Error::InconsistentTopicId {
                topic: self.topic.clone(),
                assigned: topic_id,
                stored,
                path: self.partition_metadata.path().to_path_buf(),
            }),
            None => {
                self.partition_metadata.write(topic_id)?;
                self.topic_id = Some(topic_id);
                Ok(())
            }
        }
    }

    /// Appends one client batch as the leader in `leader_epoch`, in Kafka's order
    /// (`UnifiedLog.append`, reference/broker-storage-spec.md §2.4 and §9).
    ///
    /// `batch` holds exactly one batch (bytes after it are ignored) that has already passed the
    /// produce validator (structure, CRC, records, `max.message.bytes`). Its header is stamped
    /// in a copy written before the records, which are written from `batch` as they are (no copy
    /// of the batch): base offset = LEO and the partition leader epoch (both outside the CRC),
    /// and the max timestamp by the topic's `message.timestamp.type` (LogAppendTime: `now_ms`,
    /// with the CRC recomputed; CreateTime: the header's max timestamp is kept, only clearing a
    /// LogAppendTime bit). Then:
    /// `RECORD_LIST_TOO_LARGE` if it exceeds `segment.bytes`; the producer-state checks (a
    /// duplicate of one of the producer's last five batches is answered with the original
    /// offsets and not written); the leader-epoch cache; a roll if due; the write with sparse
    /// index entries; LEO, high watermark and producer state; an fsync if `flush.messages`
    /// says so.
    ///
    /// On any error nothing is written and no state changes. Unlike Kafka, which assigns the
    /// epoch and rolls before the producer checks, kafkit checks first, so a rejected or
    /// duplicate batch leaves the partition untouched. A `leader_epoch` below the latest
    /// recorded one is `FENCED_LEADER_EPOCH`: the epoch cache must never go backwards, since
    /// recovery checks stored epochs against it.
    pub fn append_as_leader(
        &mut self,
        batch: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<LogAppendInfo> {
        self.append_checked(batch, leader_epoch, now_ms, true)
    }

    /// [`append_as_leader`](Self::append_as_leader) for a batch the broker's own coordinator
    /// writes (Kafka's `AppendOrigin.COORDINATOR`): no producer sequence or duplicate checks,
    /// as for the group coordinator's transactional offset commits, which carry the producer's
    /// id and epoch and no sequence.
    pub fn append_as_coordinator(
        &mut self,
        batch: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<LogAppendInfo> {
        self.append_checked(batch, leader_epoch, now_ms, false)
    }

    fn append_checked(
        &mut self,
        batch: &[u8],
        leader_epoch: i32,
        now_ms: i64,
        check_producer: bool,
    ) -> Result<LogAppendInfo> {
        let latest_epoch = self.leader_epoch_cache.latest_epoch();
        if leader_epoch < 0 || latest_epoch.is_some_and(|latest| leader_epoch < latest) {
            return Err(Error::FencedLeaderEpoch {
                topic: self.topic.clone(),
                partition: self.partition,
                leader_epoch,
                latest_epoch,
            });
        }
        let first_offset = self.log_end_offset;
        // The batch stays where the request put it: only its header is stamped, in a copy
        // written before the records (a 1 MiB batch is not copied to change 16 bytes).
        let view = RecordBatch::parse(batch)?;
        let size = view.size_in_bytes();
        let max_timestamp = match self.config.message_timestamp_type {
            TimestampType::LogAppendTime => now_ms,
            TimestampType::CreateTime => view.max_timestamp(),
        };
        let last_offset = first_offset + i64::from(view.last_offset_delta());
        if size > self.config.segment_bytes {
            return Err(Error::RecordListTooLarge {
                topic: self.topic.clone(),
                partition: self.partition,
                size,
                segment_bytes: self.config.segment_bytes,
            });
        }
        let duplicate = if check_producer {
            self.producer_state.check_leader_append(&view, first_offset)?
        } else {
            None
        };
        if let Some(duplicate) = duplicate {
            tracing::debug!(
                topic = %self.topic, partition = self.partition, producer_id = view.producer_id(),
                first_offset = duplicate.first_offset(), "duplicate batch answered with its original offsets"
            );
            return Ok(LogAppendInfo {
                first_offset: duplicate.first_offset(),
                last_offset: duplicate.last_offset,
                max_timestamp: duplicate.timestamp,
                log_append_time: Some(duplicate.timestamp),
                log_start_offset: self.log_start_offset,
                valid_bytes: 0,
                duplicate: true,
            });
        }
        let header = view.stamped_header(
            first_offset,
            leader_epoch,
            (self.config.message_timestamp_type, max_timestamp),
        );
        self.leader_epoch_cache.assign(leader_epoch, first_offset)?;
        self.maybe_roll(size as u64, max_timestamp, first_offset, last_offset, now_ms)?;
        self.active_segment_mut()?.append(
            last_offset,
            max_timestamp,
            last_offset,
            &[&header, view.records_bytes()],
        )?;
        self.log_end_offset = last_offset + 1;
        self.high_watermark = self.log_end_offset;
        self.producer_state
            .update_appended(&view, first_offset, max_timestamp);
        if let Some(flush_messages) = self.config.flush_messages {
            let unflushed = u64::try_from(self.log_end_offset - self.recovery_point).unwrap_or(0);
            if unflushed >= flush_messages {
                self.flush()?;
            }
        }
        Ok(LogAppendInfo {
            first_offset,
            last_offset,
            max_timestamp,
            log_append_time: (self.config.message_timestamp_type == TimestampType::LogAppendTime)
                .then_some(now_ms),
            log_start_offset: self.log_start_offset,
            valid_bytes: size,
            duplicate: false,
        })
    }

    /// Appends a transaction marker for `producer_id` (a control batch of one COMMIT or ABORT
    /// record with `coordinator_epoch`), as the transaction coordinator does at the end of a
    /// transaction (Kafka's `appendAsLeader` with `AppendOrigin.COORDINATOR`): no sequence
    /// checks; the producer's open transaction here ends, an abort is remembered for
    /// read_committed fetches. Returns the marker's offset.
    pub fn append_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<i64> {
        let mut builder = kafkit_protocol::RecordBatchBuilder::new(kafkit_protocol::Compression::None);
        let key = kafkit_protocol::record::control_marker_key(commit);
        let value = kafkit_protocol::record::control_marker_value(coordinator_epoch);
        builder.append(now_ms, Some(&key), Some(&value), &[]);
        builder.set_producer_state(producer_id, producer_epoch, -1);
        builder.set_transactional(true);
        builder.set_control(true);
        let mut batch = builder.build()?.to_vec();
        let offset = self.log_end_offset;
        {
            let mut stamp = RecordBatchMut::new(&mut batch)?;
            stamp.set_base_offset(offset);
            stamp.set_partition_leader_epoch(leader_epoch);
        }
        let view = RecordBatch::parse(&batch)?;
        self.leader_epoch_cache.assign(leader_epoch, offset)?;
        self.maybe_roll(batch.len() as u64, now_ms, offset, offset, now_ms)?;
        self.active_segment_mut()?
            .append(offset, now_ms, offset, &[&batch])?;
        self.log_end_offset = offset + 1;
        self.high_watermark = self.log_end_offset;
        self.producer_state.update(&view);
        if !commit {
            let base = self.active_segment()?.base_offset();
            if let Some(aborted) = self
                .producer_state
                .aborted()
                .last()
                .filter(|a| a.last_offset == offset)
            {
                super::txn_index::append(&self.dir, base, aborted)?;
            }
        }
        Ok(offset)
    }

    /// The last stable offset: the first offset of the oldest open transaction, or the high
    /// watermark when none is open. read_committed fetches stop here.
    pub fn last_stable_offset(&self) -> i64 {
        self.producer_state
            .first_unstable_offset()
            .map_or(self.high_watermark, |o| o.min(self.high_watermark))
    }

    fn active_segment_mut(&mut self) -> Result<&mut LogSegment> {
        // Invariant: a loaded log always has an active segment (load creates one if none).
        self.segments
            .active_mut()
            .ok_or_else(|| Error::InvalidPartitionDir {
                path: self.dir.clone(),
                reason: "the log has no active segment".to_owned(),
            })
    }

    fn active_segment(&self) -> Result<&LogSegment> {
        self.segments.active().ok_or_else(|| Error::InvalidPartitionDir {
            path: self.dir.clone(),
            reason: "the log has no active segment".to_owned(),
        })
    }

    /// Kafka's `maybeRoll`.
    fn maybe_roll(
        &mut self,
        messages_size: u64,
        max_timestamp: i64,
        first_offset: i64,
        last_offset: i64,
        now_ms: i64,
    ) -> Result<()> {
        let params = RollParams {
            max_segment_ms: self.config.segment_ms_i64(),
            max_segment_bytes: self.config.segment_bytes as u64,
            max_timestamp_in_messages: max_timestamp,
            max_offset_in_messages: last_offset,
            messages_size,
            now_ms,
        };
        if self.active_segment()?.should_roll(&params) {
            self.roll(first_offset, now_ms)?;
        }
        Ok(())
    }

    /// Kafka's `roll`: the active segment gets its final time-index entry, trimmed indexes and
    /// an fsync (Kafka schedules that flush; kafkit does it inline, then moves the recovery
    /// point), and a new segment starts at `max(expected_next_offset, LEO)`.
    fn roll(&mut self, expected_next_offset: i64, now_ms: i64) -> Result<()> {
        let new_base = expected_next_offset.max(self.log_end_offset);
        let active = self.active_segment_mut()?;
        if active.base_offset() == new_base && active.size() == 0 {
            // Kafka replaces an empty active segment with an identical one; nothing to gain.
            tracing::warn!(
                base_offset = new_base,
                "not rolling an empty active segment onto itself"
            );
            return Ok(());
        }
        let old_base = active.base_offset();
        active.on_become_inactive()?;
        active.flush()?;
        let segment = LogSegment::create(
            &self.dir,
            new_base,
            self.config.segment_index_bytes,
            self.config.index_interval_bytes,
            now_ms,
        )?;
        self.segments.add(segment);
        sync_dir(&self.dir)?;
        self.recovery_point = new_base;
        tracing::info!(topic = %self.topic, partition = self.partition, old_base, new_base, "rolled new log segment");
        Ok(())
    }

    /// fsyncs the active segment (rolled segments were flushed when rolled) and moves the
    /// recovery point to the LEO.
    pub fn flush(&mut self) -> Result<()> {
        self.active_segment()?.flush()?;
        self.recovery_point = self.log_end_offset;
        Ok(())
    }

    /// Forgets producers idle for `expiration_ms` (Kafka's `producer.id.expiration.ms`, checked
    /// periodically by the caller). Returns how many were removed.
    pub fn remove_expired_producers(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        self.producer_state
            .remove_expired_producers(now_ms, expiration_ms)
    }

    /// Clean close: each segment gets its final time-index entry, trimmed indexes and an fsync.
    /// Dropping a `PartitionLog` without closing it is what a crash looks like to the next
    /// open. The log holds no segments afterwards: reopen it to use it again.
    pub fn close(&mut self) -> Result<()> {
        for segment in self.segments.take_all() {
            segment.close()?;
        }
        tracing::debug!(topic = %self.topic, partition = self.partition, leo = self.log_end_offset, "closed partition log");
        Ok(())
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
