//! Loading a partition directory at open (Kafka's `LogLoader.load` + `LogSegment.recover`).
//!
//! 1. Orphan index files (no matching `.log`) and leftover `*.tmp`, `*.deleted`, `*.cleaned`
//!    files are deleted.
//! 2. Every `.log` is opened in offset order with its indexes; a segment whose index is
//!    missing or fails the sanity check is marked for recovery.
//! 3. After an unclean shutdown, every segment from the one holding the recovery point on is
//!    recovered; after a clean one only the marked segments. Recovering a segment re-validates
//!    each batch (size, CRC, offsets continuing the previous batch, partition leader epoch
//!    matching the leader-epoch checkpoint — the last two are outside the CRC, checks Kafka does
//!    not make), rebuilds both indexes with Kafka's recovery rule, and truncates the file after
//!    the last valid batch; if it truncated anything, all later segments are deleted.
//! 4. No segment: an empty one at offset 0. LEO = one past the active segment's last batch.
//! 5. The active segment's indexes go back to `segment.index.bytes`; the epoch cache loses
//!    entries at or past the LEO.
//!
//! Producer state has no snapshot files in kafkit: it is rebuilt on every open by replaying
//! the batch headers of the whole log (recovered segments while they are recovered, the others
//! by a plain scan), keeping the last five batches per producer, so duplicate detection
//! survives a restart for all five (Kafka's snapshots keep one).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use kafkit_protocol::RecordBatch;

use super::config::LogConfig;
use super::leader_epoch::{EpochEntry, LeaderEpochFileCache};
use super::paths::{self, INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX, TXN_INDEX_FILE_SUFFIX};
use super::producer_state::ProducerStateManager;
use super::segment::{LogSegment, RecoveryStop};
use super::segments::LogSegments;
use crate::error::{Error, Result};

/// What loading produced.
pub(crate) struct LoadedLog {
    pub(crate) segments: LogSegments,
    pub(crate) log_start_offset: i64,
    pub(crate) log_end_offset: i64,
    pub(crate) recovery_point: i64,
    pub(crate) leader_epoch_cache: LeaderEpochFileCache,
    pub(crate) producer_state: ProducerStateManager,
}

/// Loads (or creates) the partition log in `dir`.
pub(crate) fn load(
    dir: &Path,
    topic: &str,
    partition: i32,
    config: &LogConfig,
    had_clean_shutdown: bool,
    recovery_point: i64,
    now_ms: i64,
) -> Result<LoadedLog> {
    fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    let log_bases = clean_directory(dir)?;

    let mut epoch_cache = LeaderEpochFileCache::load(dir)?;
    // The checkpoint as it was on disk: every stored batch's epoch must agree with it.
    let epochs_on_disk = epoch_cache.entries().to_vec();
    let mut producer_state = ProducerStateManager::new(topic, partition);

    let mut segments = LogSegments::default();
    let mut needs_recovery = BTreeSet::new();
    for &base in &log_bases {
        let index_missing =
            !paths::offset_index_file(dir, base).exists() || !paths::time_index_file(dir, base).exists();
        let segment = LogSegment::open(
            dir,
            base,
            config.segment_index_bytes,
            config.index_interval_bytes,
            now_ms,
        )?;
        if index_missing {
            tracing::warn!(dir = %dir.display(), base_offset = base, "index file missing: rebuilding the segment's indexes");
            needs_recovery.insert(base);
        } else if let Err(e) = segment.sanity_check() {
            tracing::warn!(dir = %dir.display(), base_offset = base, error = %e, "corrupt index: rebuilding it");
            needs_recovery.insert(base);
        }
        segments.add(segment);
    }

    let recover_from = if had_clean_shutdown {
        i64::MAX
    } else {
        segments
            .floor(recovery_point)
            .or_else(|| segments.first())
            .map_or(i64::MAX, LogSegment::base_offset)
    };
    if !had_clean_shutdown {
        tracing::info!(dir = %dir.display(), recovery_point, recover_from, "recovering log after an unclean shutdown");
    }

    producer_state.clear();
    let bases = segments.base_offsets();
    for (i, &base) in bases.iter().enumerate() {
        let Some(segment) = segments.get_mut(base) else {
            continue;
        };
        if base < recover_from && !needs_recovery.contains(&base) {
            replay_producer_state(segment, &mut producer_state);
            continue;
        }
        let mut new_epochs: Vec<EpochEntry> = Vec::new();
        let (truncated, stop) = segment.recover(config.segment_index_bytes, &mut |batch| {
            check_recovered_batch(
                batch,
                &epochs_on_disk,
                &mut new_epochs,
                epoch_cache.latest_epoch(),
            )?;
            producer_state.update(batch);
            Ok(())
        })?;
        for e in new_epochs {
            epoch_cache.assign(e.epoch, e.start_offset)?;
        }
        if truncated > 0 {
            let reason = match stop {
                Some(RecoveryStop::TornTail) => "a partial batch at the end".to_owned(),
                Some(RecoveryStop::Corrupt(reason)) => reason,
                None => "unknown".to_owned(),
            };
            tracing::warn!(
                dir = %dir.display(), base_offset = base, truncated_bytes = truncated, reason = %reason,
                "truncated invalid bytes at the end of a segment"
            );
            for &later in &bases[i + 1..] {
                if let Some(segment) = segments.remove(later) {
                    tracing::warn!(dir = %dir.display(), base_offset = later, "deleting segment after a truncated one");
                    segment.delete()?;
                }
            }
            break;
        }
    }

    if segments.is_empty() {
        segments.add(LogSegment::create(
            dir,
            0,
            config.segment_index_bytes,
            config.index_interval_bytes,
            now_ms,
        )?);
    }
    let log_start_offset = segments.first().map_or(0, LogSegment::base_offset);
    let active = segments.active_mut().ok_or_else(|| Error::InvalidPartitionDir {
        path: dir.to_path_buf(),
        reason: "no active segment after load".to_owned(),
    })?;
    let log_end_offset = active.read_next_offset()?;
    active.resize_indexes(config.segment_index_bytes)?;
    epoch_cache.truncate_from_end(log_end_offset)?;
    epoch_cache.truncate_from_start(log_start_offset)?;
    let recovery_point = if had_clean_shutdown {
        log_end_offset
    } else {
        recovery_point.clamp(0, log_end_offset)
    };
    tracing::debug!(dir = %dir.display(), log_start_offset, log_end_offset, segments = segments.len(), "loaded log");
    Ok(LoadedLog {
        segments,
        log_start_offset,
        log_end_offset,
        recovery_point,
        leader_epoch_cache: epoch_cache,
        producer_state,
    })
}

/// Step 1: deletes leftovers and orphan indexes; returns the base offsets of the `.log` files,
/// sorted.
fn clean_directory(dir: &Path) -> Result<Vec<i64>> {
    let mut logs = BTreeSet::new();
    let mut indexes = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if [".tmp", ".deleted", ".cleaned"].iter().any(|s| name.ends_with(s)) {
            remove(&entry.path())?;
        } else if let Some(base) = paths::offset_from_file_name(&name, LOG_FILE_SUFFIX) {
            logs.insert(base);
        } else if let Some(base) = [INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX, TXN_INDEX_FILE_SUFFIX]
            .iter()
            .find_map(|suffix| paths::offset_from_file_name(&name, suffix))
        {
            indexes.push((base, entry.path()));
        }
    }
    for (base, path) in indexes {
        if !logs.contains(&base) {
            tracing::warn!(path = %path.display(), "deleting orphan index file");
            remove(&path)?;
        }
    }
    Ok(logs.into_iter().collect())
}

fn remove(path: &Path) -> Result<()> {
    fs::remove_file(path).map_err(|e| Error::io("delete", path, e))
}

/// The partition-level checks of a recovered batch: its leader epoch must be the one the
/// on-disk checkpoint gives for its offset (when there is a checkpoint), and epochs newer than
/// the cache's are collected for assignment, as Kafka's recovery does.
fn check_recovered_batch(
    batch: &RecordBatch<'_>,
    epochs_on_disk: &[EpochEntry],
    new_epochs: &mut Vec<EpochEntry>,
    latest_cached: Option<i32>,
) -> std::result::Result<(), String> {
    let epoch = batch.partition_leader_epoch();
    if !epochs_on_disk.is_empty() {
        let expected = epochs_on_disk
            .iter()
            .rev()
            .find(|e| e.start_offset <= batch.base_offset())
            .map(|e| e.epoch);
        if expected != Some(epoch) {
            return Err(format!(
                "partition leader epoch {epoch} of the batch at offset {} does not match the leader-epoch checkpoint ({expected:?})",
                batch.base_offset()
            ));
        }
    }
    let latest = new_epochs.last().map(|e| e.epoch).or(latest_cached);
    if epoch >= 0 && latest.is_none_or(|l| epoch > l) {
        new_epochs.push(EpochEntry {
            epoch,
            start_offset: batch.base_offset(),
        });
    }
    Ok(())
}

/// Replays a trusted segment's batches into the producer state. A batch that does not parse
/// stops the replay of this segment with a warning (the segment itself is trusted as Kafka
/// trusts it after a clean shutdown).
fn replay_producer_state(segment: &LogSegment, producer_state: &mut ProducerStateManager) {
    let mut batches = segment.batches_from(0);
    loop {
        match batches.next_batch() {
            Ok(Some((_, batch))) => producer_state.update(&batch),
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(path = %segment.log_path().display(), error = %e, "stopped replaying producer state");
                break;
            }
        }
    }
}
