//! Counters a user can read: [`ProducerMetrics`], a snapshot of the producer's activity.
//!
//! Plain relaxed atomics, updated by the sender per batch and per request (never per record on
//! the hot path), read with [`Producer::metrics`](crate::Producer::metrics).

use std::sync::atomic::{AtomicU64, Ordering};

/// The live counters, shared by the producer handles and the sender.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub records_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub batches_sent: AtomicU64,
    pub requests_sent: AtomicU64,
    pub retries: AtomicU64,
    pub records_failed: AtomicU64,
    pub in_flight_requests: AtomicU64,
    pub metadata_refreshes: AtomicU64,
    pub epoch_bumps: AtomicU64,
    pub throttled_responses: AtomicU64,
    pub throttle_time_max_ms: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Ordering::Relaxed);
    }
}

/// A snapshot of the producer's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ProducerMetrics {
    /// Records acknowledged by a broker (or written, with acks=0).
    pub records_sent: u64,
    /// Bytes of acknowledged batches, as sent (compressed).
    pub bytes_sent: u64,
    /// Batches acknowledged.
    pub batches_sent: u64,
    /// Produce requests sent.
    pub requests_sent: u64,
    /// Batches re-enqueued for a retry.
    pub retries: u64,
    /// Records that failed (their `DeliveryFuture` resolved to an error).
    pub records_failed: u64,
    /// Requests awaiting a response now.
    pub in_flight_requests: u64,
    /// Bytes of `buffer.memory` held by batches now.
    pub buffer_used: u64,
    /// Bytes of `buffer.memory`.
    pub buffer_total: u64,
    /// Metadata responses applied.
    pub metadata_refreshes: u64,
    /// Idempotent epoch bumps.
    pub epoch_bumps: u64,
    /// Produce responses that reported quota throttling (`throttle_time_ms` > 0, KIP-219).
    pub throttled_responses: u64,
    /// The longest `throttle_time_ms` a Produce response reported (Java's
    /// `produce-throttle-time-max`, over the producer's life).
    pub throttle_time_max_ms: u64,
}

impl Counters {
    pub(crate) fn snapshot(&self, buffer_used: usize, buffer_total: usize) -> ProducerMetrics {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ProducerMetrics {
            records_sent: get(&self.records_sent),
            bytes_sent: get(&self.bytes_sent),
            batches_sent: get(&self.batches_sent),
            requests_sent: get(&self.requests_sent),
            retries: get(&self.retries),
            records_failed: get(&self.records_failed),
            in_flight_requests: get(&self.in_flight_requests),
            buffer_used: buffer_used as u64,
            buffer_total: buffer_total as u64,
            metadata_refreshes: get(&self.metadata_refreshes),
            epoch_bumps: get(&self.epoch_bumps),
            throttled_responses: get(&self.throttled_responses),
            throttle_time_max_ms: get(&self.throttle_time_max_ms),
        }
    }
}
