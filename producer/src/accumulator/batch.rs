//! [`ProducerBatch`]: the records of one partition that travel (and succeed or fail) together,
//! and [`BatchShared`], the completion cell their [`DeliveryFuture`](crate::DeliveryFuture)s
//! read.
//!
//! A batch is open while it sits last in its partition's queue and takes appends into a
//! [`RecordBatchBuilder`]; the sender closes it when it drains it (producer id, epoch and base
//! sequence are stamped then, never earlier), which builds and compresses the bytes once. A
//! retry re-sends the same bytes; an epoch bump re-stamps them in place.
//!
//! Completion is one allocation per batch, not per record: every record's future holds the
//! batch's `Arc<BatchShared>` and its index in the batch. Dropping a batch that was never
//! completed fails its records with [`Error::Closed`], so no future waits forever, whatever
//! happens to the task that held the batch.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use kafkit_protocol::record::{Header, RecordBatch, RecordBatchMut, BATCH_HEADER_LEN};
use kafkit_protocol::RecordBatchBuilder;
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::Instant;

use crate::config::Codec;
use crate::error::{Error, Result};
use crate::metadata::NodeId;

/// How a batch ended.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// Acknowledged: record `i` has offset `base_offset + i` (`-1` when unknown).
    Done {
        /// The first record's offset, `-1` when unknown (acks=0, duplicate).
        base_offset: i64,
        /// The broker's append time when the topic uses LogAppendTime, else `-1`.
        log_append_time: i64,
    },
    /// Failed; every record gets this error.
    Failed(Error),
    /// Split after MESSAGE_TOO_LARGE: record `i` now lives in the child whose first index is the
    /// greatest one `<= i`, at index `i - first`.
    Split(Vec<(i32, Arc<BatchShared>)>),
}

/// The completion cell of one batch, shared with the futures of its records.
#[derive(Debug)]
pub(crate) struct BatchShared {
    /// The topic, shared with every [`RecordMetadata`](crate::RecordMetadata).
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// Set once; read without a lock by futures polled after completion.
    outcome: OnceLock<Outcome>,
    /// Futures polled before completion, woken once by `complete`.
    wakers: Mutex<Vec<Waker>>,
}

impl BatchShared {
    fn new(topic: Arc<str>, partition: i32) -> Arc<Self> {
        Arc::new(BatchShared {
            topic,
            partition,
            outcome: OnceLock::new(),
            wakers: Mutex::new(Vec::new()),
        })
    }

    /// Sets the outcome (the first call wins) and wakes every waiting future.
    fn complete(&self, outcome: Outcome) -> bool {
        if self.outcome.set(outcome).is_err() {
            return false;
        }
        let wakers = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|e| e.into_inner()));
        for w in wakers {
            w.wake();
        }
        true
    }

    /// The outcome, registering `cx`'s waker if there is none yet.
    pub(crate) fn poll_outcome(&self, cx: &mut Context<'_>) -> Poll<&Outcome> {
        if let Some(o) = self.outcome.get() {
            return Poll::Ready(o);
        }
        let mut wakers = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
        // Checked again under the lock: `complete` sets the outcome before it takes the lock.
        if let Some(o) = self.outcome.get() {
            return Poll::Ready(o);
        }
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// The outcome, if set.
    pub(crate) fn outcome(&self) -> Option<&Outcome> {
        self.outcome.get()
    }
}

/// The ids of batches not yet complete, for `flush`: a flush waits until every batch created
/// before it has completed.
#[derive(Debug, Default)]
pub(crate) struct Incomplete {
    next_id: AtomicU64,
    /// id -> number of live batches with it (split children share their parent's id).
    ids: Mutex<BTreeMap<u64, usize>>,
    /// Notified whenever a batch completes.
    changed: Notify,
}

impl Incomplete {
    fn register(&self) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        *self.lock().entry(id).or_insert(0) += 1;
        id
    }

    fn add(&self, id: u64, n: usize) {
        *self.lock().entry(id).or_insert(0) += n;
    }

    fn remove(&self, id: u64) {
        let mut ids = self.lock();
        if let Some(n) = ids.get_mut(&id) {
            *n -= 1;
            if *n == 0 {
                ids.remove(&id);
            }
        }
        drop(ids);
        self.changed.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, usize>> {
        self.ids.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The id the next batch will get: a flush waits for every id below it.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.load(Ordering::Relaxed)
    }

    /// Waits until every batch with an id below `upto` has completed. Cancel safe.
    pub(crate) async fn wait_below(&self, upto: u64) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.lock().keys().next().is_none_or(|&first| first >= upto) {
                return;
            }
            notified.await;
        }
    }

    /// Whether every batch has completed.
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Number of incomplete batches.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().values().sum()
    }
}

/// Producer id, epoch and base sequence stamped on an idempotent batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerState {
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub epoch: i16,
    /// The first record's sequence.
    pub base_sequence: i32,
    /// The batch belongs to a transaction (the batch attribute's transactional bit).
    pub transactional: bool,
}

/// One batch of records for one partition.
#[derive(Debug)]
pub(crate) struct ProducerBatch {
    /// Completion shared with the records' futures.
    pub shared: Arc<BatchShared>,
    /// Flush bookkeeping; the batch deregisters itself when it completes or drops.
    incomplete: Arc<Incomplete>,
    id: u64,
    /// Appends go here while the batch is open; `None` once closed.
    builder: Option<RecordBatchBuilder>,
    /// The wire bytes, once closed.
    built: Option<Bytes>,
    /// Records in the batch.
    pub record_count: i32,
    /// `batch.size`: no append past it, unless the batch is empty.
    write_limit: usize,
    /// The first record's timestamp (the batch's base timestamp), for the exact size of the
    /// next record.
    base_timestamp: i64,
    /// When the first record arrived: linger and `delivery.timeout.ms` count from here.
    pub created: Instant,
    /// Sends so far.
    pub attempts: u32,
    /// No retry before this (exponential backoff), unless the leader changed.
    pub retry_at: Option<Instant>,
    /// Set when the batch is drained for an idempotent producer.
    pub producer_state: Option<ProducerState>,
    /// The sequence was rewritten by an epoch bump (Java's `sequenceHasBeenReset`).
    pub sequence_reset: bool,
    /// A request carrying the batch was handed to a connection.
    pub sent: bool,
    /// A request carrying the batch ended without an answer (connection lost, request timed
    /// out): the batch may be in the log even if it later fails.
    pub fate_unknown: bool,
    /// The leader (node, epoch) the batch was last sent to, to skip backoff on a leader change.
    pub sent_to: Option<(NodeId, i32)>,
    /// For a piece of a split batch: the index, in the parent, of its first record.
    split_first: i32,
    /// Tests: `close` fails as a codec error would.
    #[cfg(test)]
    pub fail_close: bool,
    /// `buffer.memory` held by the batch, released when it drops. The last field: it drops
    /// after the buffers.
    memory: Option<OwnedSemaphorePermit>,
}

impl ProducerBatch {
    pub(crate) fn new(
        topic: Arc<str>,
        partition: i32,
        codec: Codec,
        write_limit: usize,
        now: Instant,
        memory: Option<OwnedSemaphorePermit>,
        incomplete: Arc<Incomplete>,
    ) -> Self {
        let id = incomplete.register();
        Self::with_id(topic, partition, codec, write_limit, now, memory, incomplete, id)
    }

    /// A batch counted under flush id `id` (already registered by the caller).
    #[allow(clippy::too_many_arguments)]
    fn with_id(
        topic: Arc<str>,
        partition: i32,
        codec: Codec,
        write_limit: usize,
        now: Instant,
        memory: Option<OwnedSemaphorePermit>,
        incomplete: Arc<Incomplete>,
        id: u64,
    ) -> Self {
        // The buffer is what the batch reserved of `buffer.memory`, header included: that is
        // `batch.size`, or the size of a larger record that gets a batch of its own; appends
        // stay within it, so it never grows past the reservation (a doubling Vec would). A
        // large `batch.size` is thus allocated up front. A piece of a split batch, which
        // reserves nothing, starts at `batch.size` up to 1 MiB.
        let capacity = match &memory {
            Some(m) => m.num_permits(),
            None => write_limit.min(1 << 20),
        };
        let capacity = capacity.saturating_sub(BATCH_HEADER_LEN);
        ProducerBatch {
            shared: BatchShared::new(topic, partition),
            incomplete,
            id,
            builder: Some(
                RecordBatchBuilder::with_capacity(codec.compression, capacity).with_level(codec.level),
            ),
            built: None,
            record_count: 0,
            write_limit,
            base_timestamp: 0,
            created: now,
            attempts: 0,
            retry_at: None,
            producer_state: None,
            sequence_reset: false,
            sent: false,
            fate_unknown: false,
            sent_to: None,
            split_first: 0,
            #[cfg(test)]
            fail_close: false,
            memory,
        }
    }

    /// The topic.
    pub(crate) fn topic(&self) -> &Arc<str> {
        &self.shared.topic
    }

    /// The partition.
    pub(crate) fn partition(&self) -> i32 {
        self.shared.partition
    }

    /// Appends a record if the batch is open and has room (an empty batch always has);
    /// returns the record's index and the bytes it took.
    pub(crate) fn try_append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> Option<(i32, usize)> {
        let builder = self.builder.as_mut()?;
        if builder.is_empty() {
            self.base_timestamp = timestamp;
        } else {
            // Java's `MemoryRecordsBuilder.hasRoomFor`: the record's exact size at its offset
            // and timestamp deltas, so records that fill `batch.size` exactly all fit (and the
            // batch is then full, which the sticky partitioner waits for).
            let size = RecordBatchBuilder::record_size(
                builder.record_count(),
                timestamp.wrapping_sub(self.base_timestamp),
                key,
                value,
                headers,
            );
            if builder.uncompressed_size() + size > self.write_limit {
                return None;
            }
        }
        let index = self.record_count;
        let bytes = builder.append(timestamp, key, value, headers);
        self.record_count += 1;
        Some((index, bytes))
    }

    /// Whether the batch is closed to appends or has reached `batch.size` (Java's `isFull`).
    pub(crate) fn is_full(&self) -> bool {
        self.builder
            .as_ref()
            .is_none_or(|b| b.uncompressed_size() >= self.write_limit)
    }

    /// The batch's size on the wire (exact once closed, uncompressed estimate before).
    pub(crate) fn size_in_bytes(&self) -> usize {
        match (&self.built, &self.builder) {
            (Some(b), _) => b.len(),
            (None, Some(b)) => b.uncompressed_size(),
            (None, None) => 0,
        }
    }

    /// Closes the batch to appends and builds its bytes, stamping `state`. Building an open
    /// batch fails only if the codec fails.
    pub(crate) fn close(&mut self, state: Option<ProducerState>) -> Result<()> {
        #[cfg(test)]
        if self.fail_close {
            return Err(Error::Protocol("injected codec failure".into()));
        }
        if let Some(mut builder) = self.builder.take() {
            if let Some(s) = state {
                builder.set_producer_state(s.producer_id, s.epoch, s.base_sequence);
                builder.set_transactional(s.transactional);
                self.producer_state = Some(s);
            }
            let mut built = builder.into_vec()?;
            // A codec's output grows by doubling: what it did not use goes back at once rather
            // than stay with the batch, past its reservation, until the broker answers.
            built.shrink_to_fit();
            self.built = Some(Bytes::from(built));
        } else if state.is_some() && state != self.producer_state {
            self.restamp(state);
        }
        Ok(())
    }

    /// Rewrites producer id, epoch and base sequence of a closed batch (after an epoch bump).
    pub(crate) fn restamp(&mut self, state: Option<ProducerState>) {
        let (Some(s), Some(bytes)) = (state, self.built.as_ref()) else {
            return;
        };
        let mut copy = bytes.to_vec();
        if let Ok(mut batch) = RecordBatchMut::new(&mut copy) {
            batch.set_producer_state(s.producer_id, s.epoch, s.base_sequence);
            self.built = Some(Bytes::from(copy));
            self.producer_state = Some(s);
            self.sequence_reset = true;
        }
    }

    /// The wire bytes of a closed batch.
    pub(crate) fn bytes(&self) -> Option<&Bytes> {
        self.built.as_ref()
    }

    /// Completes every record successfully.
    pub(crate) fn complete(self, base_offset: i64, log_append_time: i64) {
        self.finish(Outcome::Done {
            base_offset,
            log_append_time,
        });
    }

    /// Fails every record with `error`.
    pub(crate) fn fail(self, error: Error) {
        self.finish(Outcome::Failed(error));
    }

    fn finish(mut self, outcome: Outcome) {
        self.shared.complete(outcome);
        // The buffers go before the memory they were reserved from, so that a send waiting
        // for that memory never allocates while they still exist.
        self.builder = None;
        self.built = None;
        self.memory.take();
        // Drop deregisters from `incomplete`.
    }

    /// Time since creation.
    pub(crate) fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.created)
    }

    /// Splits a closed batch into batches of at most `write_limit` bytes each (at least one
    /// record each), for a retry after MESSAGE_TOO_LARGE; the records' futures follow them. An
    /// idempotent batch's sequence range is handed on to the pieces in order. Returns the
    /// pieces, in order, and completes the batch itself as split; on error the batch comes back.
    pub(crate) fn split(
        mut self,
        write_limit: usize,
        codec: Codec,
    ) -> std::result::Result<Vec<ProducerBatch>, Box<(ProducerBatch, Error)>> {
        let mut pieces = match self.split_pieces(write_limit, codec) {
            Ok(pieces) => pieces,
            Err(e) => return Err(Box::new((self, e))),
        };
        // The pieces share the parent's memory; the first holds it until it completes.
        if let Some(first) = pieces.first_mut() {
            first.memory = self.memory.take();
        }
        let children = pieces.iter().map(|p| (p.split_first, p.shared.clone())).collect();
        self.finish(Outcome::Split(children));
        Ok(pieces)
    }

    fn split_pieces(&self, write_limit: usize, codec: Codec) -> Result<Vec<ProducerBatch>> {
        let bytes = self
            .built
            .clone()
            .ok_or_else(|| Error::Protocol("split of an open batch".into()))?;
        let view = RecordBatch::parse(&bytes)?;
        let mut scratch = Vec::new();
        let mut pieces: Vec<ProducerBatch> = Vec::new();
        let mut headers: Vec<Header<'_>> = Vec::new();
        for (index, record) in (0..).zip(view.records(&mut scratch, usize::MAX)?) {
            let record = record?;
            headers.clear();
            headers.extend(record.headers.clone());
            let appended = pieces
                .last_mut()
                .and_then(|p| p.try_append(record.timestamp, record.key, record.value, &headers));
            if appended.is_none() {
                // The piece keeps the parent's flush id: a flush waiting on the parent waits on it.
                self.incomplete.add(self.id, 1);
                let mut piece = ProducerBatch::with_id(
                    self.shared.topic.clone(),
                    self.shared.partition,
                    codec,
                    write_limit,
                    self.created,
                    None,
                    self.incomplete.clone(),
                    self.id,
                );
                piece.attempts = self.attempts;
                piece.sent = self.sent;
                piece.fate_unknown = self.fate_unknown;
                piece.sent_to = self.sent_to;
                piece.split_first = index;
                piece.try_append(record.timestamp, record.key, record.value, &headers);
                pieces.push(piece);
            }
        }
        let mut sequence = self.producer_state.map(|s| s.base_sequence);
        for piece in &mut pieces {
            let state = match (self.producer_state, sequence) {
                (Some(s), Some(seq)) => Some(ProducerState {
                    base_sequence: seq,
                    ..s
                }),
                _ => None,
            };
            piece.close(state)?;
            sequence =
                sequence.map(|s| kafkit_protocol::record::view::increment_sequence(s, piece.record_count));
        }
        Ok(pieces)
    }
}

impl Drop for ProducerBatch {
    fn drop(&mut self) {
        // A batch dropped without an outcome (the producer or its runtime went away) fails its
        // records rather than leave their futures pending forever.
        self.shared.complete(Outcome::Failed(Error::Closed {
            may_have_been_persisted: self.sent,
        }));
        self.incomplete.remove(self.id);
    }
}
