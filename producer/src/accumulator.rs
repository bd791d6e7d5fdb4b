//! [`RecordAccumulator`]: per-partition queues of batches between `send` and the sender.
//!
//! `send` appends to the last batch of its partition's queue, or opens a new batch (reserving
//! `max(batch.size, record size)` of `buffer.memory` first, waiting for it without holding the
//! queue's lock); the sender asks which brokers have sendable data ([`ready`]) and takes at most
//! one batch per partition per request ([`drain`]). Everything here mirrors Java's
//! `RecordAccumulator`:
//!
//! - a partition is sendable when its head batch is full (or not alone in the queue), has
//!   lingered `linger.ms`, or when a flush is in progress, a send waits for memory, or the
//!   producer is closing; a batch being retried waits out its backoff instead, unless its
//!   partition's leader changed;
//! - a drain walks the broker's partitions round-robin from where the last drain stopped, stops
//!   before `max.request.size` (a single larger batch still goes alone), and skips partitions
//!   the [`DrainPolicy`] holds back (idempotence ordering);
//! - a retried batch goes back to the front of its queue, in sequence order when it has one;
//! - batches past `delivery.timeout.ms` are taken out and failed by the sender;
//! - each readiness check also measures every topic's queues for adaptive partitioning and
//!   publishes the result on the [`LoadBoard`], where the sticky partitioner reads it.
//!
//! Locks: the topic map's `RwLock` is taken for lookups (write only to add a topic or
//! partition); each partition queue has its own `Mutex`, held only for the append or pop itself
//! (never across `.await`, never while compressing).
//!
//! # References
//! - `RecordAccumulator.java`, `ProducerBatch.java`, `BufferPool.java`; producer-reference §1.3,
//!   §1.4

pub(crate) mod batch;
pub(crate) mod buffer_pool;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use kafkit_protocol::record::{Header, BATCH_HEADER_LEN};
use kafkit_protocol::RecordBatchBuilder;
use tokio::sync::Notify;
use tokio::time::Instant;

use self::batch::{BatchShared, Incomplete, ProducerBatch, ProducerState};
use self::buffer_pool::BufferPool;
use crate::config::Codec;
use crate::error::{Error, Result};
use crate::metadata::{ClusterMetadata, NodeId, TopicMap};
use crate::partitioner::LoadStats;

/// A partition's queue of batches, oldest first; only the last one takes appends.
pub(crate) type Queue = Arc<Mutex<VecDeque<ProducerBatch>>>;

/// A topic-partition.
pub(crate) type TopicPartition = (Arc<str>, i32);

fn lock(queue: &Queue) -> MutexGuard<'_, VecDeque<ProducerBatch>> {
    queue.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the sender's idempotence state says about draining a partition.
pub(crate) trait DrainPolicy {
    /// Whether the partition's head batch may be sent now.
    fn can_drain(&self, batch: &ProducerBatch) -> bool;
    /// The producer state to stamp on a batch being drained that has none yet.
    fn assign(&mut self, batch: &ProducerBatch) -> Option<ProducerState>;
    /// Takes back what [`assign`](Self::assign) just handed `batch`: it could not be closed
    /// and fails without being sent, so its sequences must go to the next batch.
    fn unassign(&mut self, batch: &ProducerBatch, state: ProducerState);
}

/// The policy without idempotence: everything may be drained, nothing is stamped.
#[derive(Debug, Default)]
pub(crate) struct NoIdempotence;

impl DrainPolicy for NoIdempotence {
    fn can_drain(&self, _: &ProducerBatch) -> bool {
        true
    }
    fn assign(&mut self, _: &ProducerBatch) -> Option<ProducerState> {
        None
    }
    fn unassign(&mut self, _: &ProducerBatch, _: ProducerState) {}
}

/// A record appended: where it went and what the sender should know.
#[derive(Debug)]
pub(crate) struct Appended {
    /// The batch's completion cell.
    pub shared: Arc<BatchShared>,
    /// The record's index in the batch.
    pub index: i32,
    /// Bytes the append added to the partition's queue (Java's `appendedBytes`, which the
    /// sticky partitioner counts): the record, plus the batch header when it opened a batch.
    pub bytes: usize,
    /// The batch is now full or a new batch was opened: the sender has something to do.
    pub wake_sender: bool,
    /// The partition's last batch is full (for the sticky partitioner).
    pub last_batch_full: bool,
}

/// Each topic's [`LoadStats`] as of the sender's last readiness check (adaptive partitioning):
/// written by [`RecordAccumulator::ready`], read by the sticky partitioner when it draws a new
/// partition. A topic without an entry is drawn uniformly. Its lock is a leaf: nothing else is
/// taken while it is held.
#[derive(Debug, Default)]
pub(crate) struct LoadBoard(Mutex<TopicMap<Arc<str>, Arc<LoadStats>>>);

impl LoadBoard {
    /// `topic`'s stats, if it has any now.
    pub(crate) fn get(&self, topic: &str) -> Option<Arc<LoadStats>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic)
            .cloned()
    }

    /// Replaces `topic`'s stats (removes them with `None`); unchanged stats are left alone.
    pub(crate) fn publish(&self, topic: &Arc<str>, stats: Option<LoadStats>) {
        let mut board = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match stats {
            None => {
                board.remove(&**topic);
            }
            Some(stats) => {
                if board.get(&**topic).is_none_or(|old| **old != stats) {
                    board.insert(topic.clone(), Arc::new(stats));
                }
            }
        }
    }
}

/// The result of [`RecordAccumulator::ready`].
#[derive(Debug, Default)]
pub(crate) struct ReadyCheck {
    /// Brokers leading at least one sendable partition.
    pub ready_nodes: HashSet<NodeId>,
    /// Every broker's partitions that hold batches, in a stable order (the drain candidates).
    pub node_partitions: HashMap<NodeId, Vec<(TopicPartition, Queue)>>,
    /// When a partition that is not sendable yet will be (linger, backoff).
    pub next_ready_in: Option<Duration>,
    /// Some partition with data has no known leader: refresh metadata.
    pub unknown_leader: bool,
}

/// The accumulator.
#[derive(Debug)]
pub(crate) struct RecordAccumulator {
    /// `batch.size`.
    batch_size: usize,
    /// `linger.ms`.
    linger: Duration,
    /// `compression.type` and its level.
    codec: Codec,
    /// topic -> partition -> queue; `None` for a partition nothing was sent to yet (a gap below
    /// one that was). Grows only.
    queues: RwLock<TopicMap<Arc<str>, Vec<Option<Queue>>>>,
    /// `partitioner.adaptive.partitioning.enable`: measure queues for the partitioner.
    adaptive: bool,
    /// Where [`ready`](Self::ready) publishes each topic's load for the partitioner.
    pub load: Arc<LoadBoard>,
    /// `buffer.memory`.
    pub pool: BufferPool,
    /// Batches not yet complete, for `flush`.
    pub incomplete: Arc<Incomplete>,
    /// Flushes in progress: while non-zero every batch is sendable.
    flushes: AtomicUsize,
    /// Set by `close`: appends fail, every batch is sendable.
    closed: AtomicBool,
    /// Wakes the sender (new batch, full batch, flush, close). A stored permit means no wakeup
    /// is lost while the sender is busy.
    pub wakeup: Notify,
}

impl RecordAccumulator {
    pub(crate) fn new(
        batch_size: usize,
        linger: Duration,
        codec: impl Into<Codec>,
        buffer_memory: usize,
    ) -> Self {
        RecordAccumulator {
            batch_size,
            linger,
            codec: codec.into(),
            queues: RwLock::new(TopicMap::default()),
            adaptive: true,
            load: Arc::default(),
            pool: BufferPool::new(buffer_memory),
            incomplete: Arc::new(Incomplete::default()),
            flushes: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            wakeup: Notify::new(),
        }
    }

    /// Turns adaptive partitioning's measurements on or off (on by default, as in Java).
    pub(crate) fn with_adaptive(mut self, adaptive: bool) -> Self {
        self.adaptive = adaptive;
        self
    }

    /// Runs `f` on the queue of `topic`-`partition` if it exists (no reference counting: the
    /// fast path of every append).
    fn with_existing_queue<R>(
        &self,
        topic: &str,
        partition: i32,
        f: impl FnOnce(&mut VecDeque<ProducerBatch>) -> R,
    ) -> Option<R> {
        let queues = self.queues.read().unwrap_or_else(|e| e.into_inner());
        let queue = queues
            .get(topic)?
            .get(usize::try_from(partition).ok()?)?
            .as_ref()?;
        let mut deque = lock(queue);
        Some(f(&mut deque))
    }

    /// The queue of `topic`-`partition`, created on first use.
    pub(crate) fn queue(&self, topic: &str, partition: i32) -> Queue {
        self.queue_entry(topic, partition).1
    }

    /// The queue of `topic`-`partition`, created on first use, and the topic's name as the
    /// accumulator keeps it (shared by the partition's batches).
    pub(crate) fn queue_entry(&self, topic: &str, partition: i32) -> (Arc<str>, Queue) {
        let index = usize::try_from(partition).unwrap_or(0);
        if let Some((name, q)) = self
            .queues
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get_key_value(topic)
            .and_then(|(name, v)| Some((name, v.get(index)?.as_ref()?)))
        {
            return (name.clone(), q.clone());
        }
        let mut queues = self.queues.write().unwrap_or_else(|e| e.into_inner());
        let name: Arc<str> = match queues.get_key_value(topic) {
            Some((name, _)) => name.clone(),
            None => Arc::from(topic),
        };
        let partitions = queues.entry(name.clone()).or_default();
        if partitions.len() <= index {
            partitions.resize(index + 1, None);
        }
        let queue = partitions[index].get_or_insert_with(Queue::default);
        (name, queue.clone())
    }

    /// Appends a record to `topic`-`partition`. When a new batch needs memory, waits for it up
    /// to `max_wait` (FIFO-fair), then fails with [`Error::BufferExhausted`]. Cancel safe: a
    /// cancelled append has appended nothing.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn append(
        &self,
        topic: &str,
        partition: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
        max_wait: Duration,
    ) -> Result<Appended> {
        if let Some(appended) = self.try_append(topic, partition, timestamp, key, value, headers)? {
            return Ok(appended);
        }
        let memory = self
            .pool
            .reserve(self.new_batch_size(key, value, headers), max_wait, &self.wakeup)
            .await?;
        let (topic, queue) = self.queue_entry(topic, partition);
        self.append_new(&queue, &topic, partition, timestamp, key, value, headers, memory)
    }

    /// [`append`](Self::append) without waiting: fails at once with
    /// [`Error::BufferExhausted`] when a new batch is needed and memory is short.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn append_now(
        &self,
        topic: &str,
        partition: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> Result<Appended> {
        if let Some(appended) = self.try_append(topic, partition, timestamp, key, value, headers)? {
            return Ok(appended);
        }
        let memory = self.pool.try_reserve(self.new_batch_size(key, value, headers))?;
        let (topic, queue) = self.queue_entry(topic, partition);
        self.append_new(&queue, &topic, partition, timestamp, key, value, headers, memory)
    }

    /// Memory for a new batch holding this record: `max(batch.size, record size)` (Java).
    fn new_batch_size(&self, key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header<'_>]) -> usize {
        self.batch_size
            .max(RecordBatchBuilder::record_size_upper_bound(key, value, headers) + BATCH_HEADER_LEN)
    }

    #[allow(clippy::too_many_arguments)]
    fn append_new(
        &self,
        queue: &Queue,
        topic: &Arc<str>,
        partition: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
        memory: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<Appended> {
        let mut deque = lock(queue);
        // Another send may have opened a batch while this one waited for memory; the memory
        // then goes back to the pool.
        if let Some(appended) = Self::append_to_last(&mut deque, timestamp, key, value, headers) {
            return Ok(appended);
        }
        self.ensure_open()?;
        let mut batch = ProducerBatch::new(
            topic.clone(),
            partition,
            self.codec,
            self.batch_size,
            Instant::now(),
            Some(memory),
            self.incomplete.clone(),
        );
        // Invariant: an empty batch takes any record.
        let index = batch
            .try_append(timestamp, key, value, headers)
            .map_or(0, |(index, _)| index);
        // Java counts a new batch's whole estimated size, header included.
        let bytes = batch.size_in_bytes();
        let shared = batch.shared.clone();
        let last_batch_full = batch.is_full();
        deque.push_back(batch);
        Ok(Appended {
            shared,
            index,
            bytes,
            wake_sender: true,
            last_batch_full,
        })
    }

    /// `Closed` (nothing written) once the accumulator is closed: no append after that.
    fn ensure_open(&self) -> Result<()> {
        if self.is_closed() {
            return Err(Error::Closed {
                may_have_been_persisted: false,
            });
        }
        Ok(())
    }

    /// Appends to the partition's open batch, if it has one with room.
    fn try_append(
        &self,
        topic: &str,
        partition: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> Result<Option<Appended>> {
        self.ensure_open()?;
        let appended = self.with_existing_queue(topic, partition, |deque| {
            Self::append_to_last(deque, timestamp, key, value, headers)
        });
        Ok(appended.flatten())
    }

    /// Appends to the open batch of `queue` (a queue this accumulator handed out), if it has
    /// one with room: [`append`](Self::append)'s fast path for a caller that keeps the queue.
    pub(crate) fn try_append_to(
        &self,
        queue: &Queue,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> Result<Option<Appended>> {
        self.ensure_open()?;
        Ok(Self::append_to_last(
            &mut lock(queue),
            timestamp,
            key,
            value,
            headers,
        ))
    }

    fn append_to_last(
        deque: &mut VecDeque<ProducerBatch>,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> Option<Appended> {
        let batch = deque.back_mut()?;
        let (index, bytes) = batch.try_append(timestamp, key, value, headers)?;
        let full = batch.is_full();
        Some(Appended {
            shared: batch.shared.clone(),
            index,
            bytes,
            wake_sender: full,
            last_batch_full: full,
        })
    }

    /// Which brokers have sendable data, given the leaders in `cluster`; `muted` partitions are
    /// skipped (strict ordering with one request in flight).
    ///
    /// With adaptive partitioning on, also publishes each topic's [`LoadStats`] (Java's
    /// `partitionReady`): once every partition of the topic has a queue, the number of batches
    /// queued on each partition that has a leader, leaving out the partitions led by
    /// `unavailable` brokers (`partitioner.availability.timeout.ms`).
    pub(crate) fn ready(
        &self,
        cluster: &ClusterMetadata,
        muted: &HashSet<TopicPartition>,
        unavailable: &HashSet<NodeId>,
        now: Instant,
    ) -> ReadyCheck {
        let mut check = ReadyCheck::default();
        let force = self.pool.has_waiters() || self.is_closed() || self.flushes.load(Ordering::Relaxed) > 0;
        let queues = self.queues.read().unwrap_or_else(|e| e.into_inner());
        let (mut sizes, mut ids) = (Vec::new(), Vec::new());
        for (topic, partitions) in queues.iter() {
            let present = partitions.iter().filter(|q| q.is_some()).count();
            // Java measures only once every partition has had a batch: a partition without a
            // queue would otherwise never be drawn.
            let measure = self.adaptive
                && cluster
                    .topic(topic)
                    .is_some_and(|t| present >= t.partitions.len());
            sizes.clear();
            ids.clear();
            for (partition, queue) in (0..).zip(partitions) {
                let Some(queue) = queue else { continue };
                let deque = lock(queue);
                if measure {
                    let leader = cluster.partition(topic, partition).and_then(|i| i.leader);
                    if leader.is_some_and(|l| !unavailable.contains(&l)) {
                        sizes.push(u32::try_from(deque.len()).unwrap_or(u32::MAX));
                        ids.push(partition);
                    }
                }
                let Some(head) = deque.front() else { continue };
                let info = cluster.partition(topic, partition);
                let Some((leader, epoch)) = info.and_then(|i| Some((i.leader?, i.leader_epoch))) else {
                    check.unknown_leader = true;
                    continue;
                };
                let tp = (topic.clone(), partition);
                if muted.contains(&tp) {
                    continue;
                }
                let wait_left = if head.attempts > 0 {
                    Self::backoff_left(head, leader, epoch, now)
                } else {
                    let full = deque.len() > 1 || head.is_full();
                    if full || force {
                        Duration::ZERO
                    } else {
                        self.linger.saturating_sub(head.age(now))
                    }
                };
                drop(deque);
                if wait_left.is_zero() {
                    check.ready_nodes.insert(leader);
                } else {
                    check.next_ready_in = Some(check.next_ready_in.map_or(wait_left, |d| d.min(wait_left)));
                }
                check
                    .node_partitions
                    .entry(leader)
                    .or_default()
                    .push((tp, queue.clone()));
            }
            if self.adaptive {
                let stats = measure
                    .then(|| LoadStats::from_queue_sizes(&sizes, &ids, present))
                    .flatten();
                self.load.publish(topic, stats);
            }
        }
        check
    }

    /// Time left in a retried batch's backoff: none if the leader changed since it was sent.
    fn backoff_left(batch: &ProducerBatch, leader: NodeId, epoch: i32, now: Instant) -> Duration {
        let leader_changed = batch
            .sent_to
            .is_some_and(|(node, sent_epoch)| node != leader || epoch > sent_epoch);
        match batch.retry_at {
            Some(at) if !leader_changed => at.saturating_duration_since(now),
            _ => Duration::ZERO,
        }
    }

    /// Takes the batches for one request to `node`: at most one per partition, round-robin
    /// from `*drain_index` (left at the last partition visited), up to `max_request_size` bytes
    /// (one larger batch goes alone).
    /// Closes each batch (building its bytes) with the producer state `policy` assigns.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn drain(
        &self,
        node: NodeId,
        partitions: &[(TopicPartition, Queue)],
        cluster: &ClusterMetadata,
        max_request_size: usize,
        drain_index: &mut usize,
        policy: &mut dyn DrainPolicy,
        now: Instant,
    ) -> Vec<ProducerBatch> {
        let mut drained: Vec<ProducerBatch> = Vec::new();
        let mut size = 0;
        let n = partitions.len();
        if n == 0 {
            return drained;
        }
        let start = *drain_index % n;
        for step in 0..n {
            let i = (start + step) % n;
            // Java's `updateDrainIndex`: the partition being visited, so a partition whose batch
            // did not fit in this request leads the next one.
            *drain_index = i;
            let ((topic, partition), queue) = &partitions[i];
            let epoch = cluster
                .partition(topic, *partition)
                .map_or(-1, |p| p.leader_epoch);
            let mut deque = lock(queue);
            let Some(head) = deque.front() else { continue };
            if head.attempts > 0 && !Self::backoff_left(head, node, epoch, now).is_zero() {
                continue;
            }
            if !policy.can_drain(head) {
                continue;
            }
            if size + head.size_in_bytes() > max_request_size && !drained.is_empty() {
                break;
            }
            let state = if head.producer_state.is_none() {
                policy.assign(head)
            } else {
                None
            };
            let Some(mut batch) = deque.pop_front() else {
                continue;
            };
            drop(deque);
            if let Err(e) = batch.close(state) {
                // Never sent: the sequences it took would leave a hole that no retry fills,
                // and every later batch of the partition would wait behind it for ever.
                if let Some(state) = state {
                    policy.unassign(&batch, state);
                }
                batch.fail(e);
                continue;
            }
            batch.sent_to = Some((node, epoch));
            size += batch.size_in_bytes();
            drained.push(batch);
        }
        drained
    }

    /// Puts a batch back for a retry: at the front of its queue, after the batches with lower
    /// sequences when it has one.
    pub(crate) fn reenqueue(&self, batch: ProducerBatch) {
        let queue = self.queue(batch.topic(), batch.partition());
        let mut deque = lock(&queue);
        match batch.producer_state {
            Some(state) => {
                let at = deque
                    .iter()
                    .position(|b| {
                        b.producer_state
                            .is_none_or(|s| s.base_sequence > state.base_sequence)
                    })
                    .unwrap_or(deque.len());
                deque.insert(at, batch);
            }
            None => deque.push_front(batch),
        }
    }

    /// Takes out the batches past `delivery_timeout`, oldest first per partition (Java checks
    /// each queue from its head and stops at the first batch still in time).
    pub(crate) fn expired(&self, delivery_timeout: Duration, now: Instant) -> Vec<ProducerBatch> {
        let mut expired = Vec::new();
        self.for_each_queue(|deque| {
            while deque.front().is_some_and(|b| b.age(now) >= delivery_timeout) {
                expired.extend(deque.pop_front());
            }
        });
        expired
    }

    /// When the oldest queued batch reaches `delivery_timeout`.
    pub(crate) fn next_expiry(&self, delivery_timeout: Duration) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        self.for_each_queue(|deque| {
            if let Some(b) = deque.front() {
                let at = b.created + delivery_timeout;
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        });
        next
    }

    /// Re-stamps the queued batches of a partition that carry sequences, in queue order, with
    /// `producer_id`/`epoch` and sequences from 0 (an epoch bump); returns their record counts.
    pub(crate) fn resequence(
        &self,
        topic: &Arc<str>,
        partition: i32,
        producer_id: i64,
        epoch: i16,
    ) -> Vec<(i32, i32)> {
        let queue = self.queue(topic, partition);
        let mut deque = lock(&queue);
        let mut sequence = 0;
        let mut assigned = Vec::new();
        for batch in deque.iter_mut() {
            let Some(old) = batch.producer_state else { continue };
            batch.restamp(Some(ProducerState {
                producer_id,
                epoch,
                base_sequence: sequence,
                transactional: old.transactional,
            }));
            assigned.push((sequence, batch.record_count));
            sequence = kafkit_protocol::record::view::increment_sequence(sequence, batch.record_count);
        }
        assigned
    }

    /// Takes out every queued batch (a forced close).
    pub(crate) fn take_all(&self) -> Vec<ProducerBatch> {
        let mut all = Vec::new();
        self.for_each_queue(|deque| all.extend(deque.drain(..)));
        all
    }

    /// Takes out the queued batches that were never drained (no producer state yet): what a
    /// transaction that must abort fails at once (Java's `abortUndrainedBatches`).
    pub(crate) fn take_undrained(&self) -> Vec<ProducerBatch> {
        let mut taken = Vec::new();
        self.for_each_queue(|deque| {
            let mut kept = VecDeque::with_capacity(deque.len());
            for batch in deque.drain(..) {
                if batch.producer_state.is_none() && !batch.sent {
                    taken.push(batch);
                } else {
                    kept.push_back(batch);
                }
            }
            *deque = kept;
        });
        taken
    }

    /// Makes every batch sendable, as a flush does, while `on` (the transaction manager's
    /// commit); `set_flushing(false)` undoes one `set_flushing(true)`.
    pub(crate) fn set_flushing(&self, on: bool) {
        if on {
            self.flushes.fetch_add(1, Ordering::Relaxed);
            self.wakeup.notify_one();
        } else {
            self.flushes.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Whether any batch is queued.
    pub(crate) fn has_queued(&self) -> bool {
        let mut any = false;
        self.for_each_queue(|deque| any |= !deque.is_empty());
        any
    }

    fn for_each_queue(&self, mut f: impl FnMut(&mut VecDeque<ProducerBatch>)) {
        let queues = self.queues.read().unwrap_or_else(|e| e.into_inner());
        for partitions in queues.values() {
            for queue in partitions.iter().flatten() {
                f(&mut lock(queue));
            }
        }
    }

    /// Marks a flush in progress (every batch sendable) until the guard drops.
    pub(crate) fn begin_flush(&self) -> FlushGuard<'_> {
        self.flushes.fetch_add(1, Ordering::Relaxed);
        self.wakeup.notify_one();
        FlushGuard(self)
    }

    /// Closes the accumulator: appends fail from now on, every batch is sendable.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.wakeup.notify_one();
    }

    /// Whether `close` was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
}

/// Ends a flush's effect on readiness when dropped (so a cancelled flush does not leave every
/// batch sendable forever).
#[derive(Debug)]
pub(crate) struct FlushGuard<'a>(&'a RecordAccumulator);

impl Drop for FlushGuard<'_> {
    fn drop(&mut self) {
        self.0.flushes.fetch_sub(1, Ordering::Relaxed);
    }
}
