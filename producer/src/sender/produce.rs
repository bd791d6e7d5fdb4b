//! Produce requests: building them from drained batches and acting on their responses.
//!
//! Each partition's result is classified as Java's `Sender.completeBatch` does
//! (producer-reference §1.7):
//!
//! - NONE, and DUPLICATE_SEQUENCE_NUMBER (the broker already has the batch; offset unknown):
//!   success;
//! - MESSAGE_TOO_LARGE on a batch of more than one record: split and re-enqueued without
//!   counting an attempt. Pieces are at most `batch.size` and at most half the rejected batch
//!   (Java splits at `batch.size` only, which cannot shrink a batch that was not over it);
//! - retriable (Java's `RetriableException`, plus the idempotence rules in
//!   [`IdempotenceManager::can_retry`](crate::idempotence::IdempotenceManager::can_retry)) while
//!   `retries` and `delivery.timeout.ms` allow: re-enqueued after the backoff. Codes that
//!   invalidate metadata first apply the KIP-951 leader hint of the response, else refresh
//!   metadata; a batch whose leader changed skips its backoff;
//! - CLUSTER_AUTHORIZATION_FAILED, UNSUPPORTED_VERSION, PRODUCER_FENCED,
//!   TRANSACTIONAL_ID_AUTHORIZATION_FAILED: fatal, the producer stops;
//! - anything else: the batch fails with [`Error::Broker`], or [`Error::Timeout`] when a
//!   retriable error met the end of `delivery.timeout.ms`.
//!
//! A request that gets no answer (connection lost: NETWORK_EXCEPTION; request.timeout.ms:
//! REQUEST_TIMED_OUT) goes through the same classification for each of its batches.

use std::collections::HashSet;
use std::sync::Arc;

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName, TransactionalId};
use kafka_protocol::protocol::StrBytes;
use kafkit_protocol::ErrorCode;
use tokio::time::Instant;

use super::{earliest, InFlight, Sender};
use crate::accumulator::batch::ProducerBatch;
use crate::accumulator::{NoIdempotence, TopicPartition};
use crate::config::Acks;
use crate::connection::{ConnId, RequestBody, ResponseBody};
use crate::error::Error;
use crate::metadata::NodeId;
use crate::metrics::Counters;
use crate::transaction::driver::TxnDrain;

/// A produce request awaiting its response.
#[derive(Debug)]
pub(crate) struct InFlightProduce {
    pub conn: ConnId,
    /// The batches, taken out one by one as their results arrive or they expire.
    pub batches: Vec<Option<ProducerBatch>>,
    /// The partitions of the request (idempotence and muting bookkeeping).
    pub partitions: Vec<TopicPartition>,
}

/// A KIP-951 hint: the partition's leader, its epoch, and its endpoint if the response has it.
type LeaderHint = (NodeId, i32, Option<(String, u16)>);

/// What a response (or its absence) says about one batch.
#[derive(Debug)]
struct PartitionResult {
    code: ErrorCode,
    base_offset: i64,
    log_append_time: i64,
    log_start_offset: i64,
    message: Option<String>,
    /// KIP-951: (leader, epoch, endpoint if the broker is new).
    leader_hint: Option<LeaderHint>,
}

impl PartitionResult {
    fn error(code: ErrorCode) -> Self {
        PartitionResult {
            code,
            base_offset: -1,
            log_append_time: -1,
            log_start_offset: -1,
            message: None,
            leader_hint: None,
        }
    }
}

impl Sender {
    /// Drains and sends one produce request to each ready broker that can take one; returns
    /// whether anything was sent and when a not-yet-ready partition becomes ready.
    pub(super) fn send_produce_requests(&mut self, now: Instant) -> (bool, Option<Instant>) {
        let shared = self.shared.clone();
        let acc = &shared.accumulator;
        let cluster = self.metadata.cluster().clone();
        let config = &shared.config;
        // Java tracks broker latency only with a timeout set, and it matters only to adaptive
        // partitioning (which a custom partitioner replaces).
        let availability = Some(config.partitioner_availability_timeout())
            .filter(|t| !t.is_zero() && config.partitioner_adaptive() && config.partitioner().is_none());
        let unavailable = availability.map_or_else(HashSet::new, |t| self.node_latency.unavailable(t));
        let check = acc.ready(&cluster, &self.muted, &unavailable, now);
        if check.unknown_leader {
            self.metadata.request_update();
        }
        let mut wake = check.next_ready_in.map(|d| now + d);
        let max_in_flight = config.max_in_flight_requests_per_connection();
        let mut nodes: Vec<NodeId> = check.ready_nodes.iter().copied().collect();
        nodes.sort_unstable();
        let mut sent = false;
        for node in nodes {
            if availability.is_some() {
                let can_drain = self
                    .nodes
                    .get(&node)
                    .is_some_and(|n| n.can_send_produce(max_in_flight, now));
                self.node_latency.update(node, now, can_drain);
            }
            match self.nodes.get(&node) {
                None => {
                    wake = earliest(wake, self.connect(node, now));
                    continue;
                }
                Some(n) if !n.can_send_produce(max_in_flight, now) => {
                    // A throttled node is looked at again when its throttle ends (a full one
                    // is woken by the response that frees a slot).
                    wake = earliest(wake, n.throttled_until.filter(|t| *t > now));
                    continue;
                }
                Some(_) => {}
            }
            let Some(partitions) = check.node_partitions.get(&node) else {
                continue;
            };
            let index = self.drain_index.entry(node).or_insert(0);
            let max_size = shared.config.max_request_size();
            let txn = self.txn.as_ref().map(|d| d.shared.clone());
            let batches = match (self.idempotence.as_mut(), txn) {
                (Some(idem), Some(txn)) => {
                    let inner = txn.lock();
                    let mut policy = TxnDrain {
                        idempotence: idem,
                        partitions: &inner.partitions,
                    };
                    acc.drain(node, partitions, &cluster, max_size, index, &mut policy, now)
                }
                (Some(idem), None) => acc.drain(node, partitions, &cluster, max_size, index, idem, now),
                (None, _) => acc.drain(
                    node,
                    partitions,
                    &cluster,
                    max_size,
                    index,
                    &mut NoIdempotence,
                    now,
                ),
            };
            if !batches.is_empty() {
                self.send_produce(node, batches);
                sent = true;
            }
        }
        (sent, wake)
    }

    fn send_produce(&mut self, node: NodeId, mut batches: Vec<ProducerBatch>) {
        let shared = self.shared.clone();
        let config = &shared.config;
        let mut topic_data: Vec<TopicProduceData> = Vec::new();
        let mut bytes = 0;
        for b in &batches {
            let data = PartitionProduceData::default()
                .with_index(b.partition())
                .with_records(b.bytes().cloned());
            bytes += b.size_in_bytes();
            match topic_data.iter_mut().find(|t| t.name.0.as_str() == &**b.topic()) {
                Some(t) => t.partition_data.push(data),
                None => topic_data.push(
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(b.topic().to_string())))
                        .with_partition_data(vec![data]),
                ),
            }
        }
        let transactional_id = shared
            .txn
            .as_ref()
            .map(|t| TransactionalId(StrBytes::from_string(t.transactional_id.clone())));
        let request = ProduceRequest::default()
            .with_transactional_id(transactional_id)
            .with_acks(config.acks().code())
            .with_timeout_ms(i32::try_from(config.request_timeout().as_millis()).unwrap_or(i32::MAX))
            .with_topic_data(topic_data);
        let expects_response = config.acks() != Acks::None;
        let Some((id, conn)) = self.send_request(node, RequestBody::Produce(request, expects_response))
        else {
            // The connection ended before the request left: nothing was sent, queue them again.
            for b in batches {
                self.shared.accumulator.reenqueue(b);
            }
            return;
        };
        tracing::trace!(node, batches = batches.len(), bytes, "produce request sent");
        Counters::add(&self.shared.counters.requests_sent, 1);
        let strict_order = config.max_in_flight_requests_per_connection() == 1;
        let mut partitions = Vec::with_capacity(batches.len());
        for b in &mut batches {
            b.sent = true;
            let tp = (b.topic().clone(), b.partition());
            if let Some(idem) = self.idempotence.as_mut() {
                idem.on_sent(&tp);
            }
            if strict_order {
                self.muted.insert(tp.clone());
            }
            partitions.push(tp);
        }
        let batches = batches.into_iter().map(Some).collect();
        self.in_flight.insert(
            id,
            InFlight::Produce(InFlightProduce {
                conn,
                batches,
                partitions,
            }),
        );
    }

    /// Bookkeeping common to every end of a produce request.
    fn request_done(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            if let Some(idem) = self.idempotence.as_mut() {
                idem.on_request_done(tp);
            }
            self.muted.remove(tp);
        }
    }

    pub(super) fn handle_produce_response(
        &mut self,
        mut p: InFlightProduce,
        body: ResponseBody,
        now: Instant,
    ) {
        self.request_done(&p.partitions);
        let response = match body {
            ResponseBody::Written => {
                // acks=0: written is all we will ever know.
                for batch in p.batches.into_iter().flatten() {
                    let result = PartitionResult {
                        code: ErrorCode::None,
                        ..PartitionResult::error(ErrorCode::None)
                    };
                    self.complete_batch(batch, result, now);
                }
                return;
            }
            ResponseBody::Produce(response) => response,
            _ => {
                for batch in p.batches.into_iter().flatten() {
                    self.complete_batch(batch, PartitionResult::error(ErrorCode::NetworkException), now);
                }
                return;
            }
        };
        let ProduceResponse {
            responses,
            node_endpoints,
            throttle_time_ms,
            ..
        } = response;
        if throttle_time_ms > 0 {
            let counters = &self.shared.counters;
            Counters::add(&counters.throttled_responses, 1);
            counters.throttle_time_max_ms.fetch_max(
                throttle_time_ms.unsigned_abs().into(),
                std::sync::atomic::Ordering::Relaxed,
            );
            self.throttle(p.conn, throttle_time_ms, now);
        }
        for topic in responses {
            for pr in topic.partition_responses {
                let slot = p.batches.iter_mut().find(|b| {
                    b.as_ref()
                        .is_some_and(|b| b.partition() == pr.index && **b.topic() == *topic.name.0.as_str())
                });
                let Some(batch) = slot.and_then(Option::take) else {
                    continue;
                };
                let leader_hint = (pr.current_leader.leader_id.0 >= 0).then(|| {
                    let id = pr.current_leader.leader_id.0;
                    let endpoint = node_endpoints
                        .iter()
                        .find(|e| e.node_id.0 == id)
                        .and_then(|e| Some((e.host.to_string(), u16::try_from(e.port).ok()?)));
                    (id, pr.current_leader.leader_epoch, endpoint)
                });
                let result = PartitionResult {
                    code: ErrorCode::from(pr.error_code),
                    base_offset: pr.base_offset,
                    log_append_time: pr.log_append_time_ms,
                    log_start_offset: pr.log_start_offset,
                    message: pr.error_message.map(|m| m.to_string()),
                    leader_hint,
                };
                self.complete_batch(batch, result, now);
            }
        }
        // A partition the broker did not answer for: retried as if the request was lost.
        for batch in p.batches.into_iter().flatten() {
            tracing::warn!(topic = %batch.topic(), partition = batch.partition(), "no result for partition in produce response");
            self.complete_batch(batch, PartitionResult::error(ErrorCode::NetworkException), now);
        }
    }

    /// A produce request got no answer (connection lost or timed out).
    pub(super) fn produce_failed(&mut self, p: InFlightProduce, code: ErrorCode, now: Instant) {
        self.request_done(&p.partitions);
        for mut batch in p.batches.into_iter().flatten() {
            batch.fate_unknown = true;
            self.complete_batch(batch, PartitionResult::error(code), now);
        }
    }

    fn complete_batch(&mut self, batch: ProducerBatch, result: PartitionResult, now: Instant) {
        let shared = self.shared.clone();
        let counters = &shared.counters;
        match result.code {
            ErrorCode::None | ErrorCode::DuplicateSequenceNumber => {
                let base_offset = if result.code == ErrorCode::DuplicateSequenceNumber {
                    -1
                } else {
                    result.base_offset
                };
                if let Some(idem) = self.idempotence.as_mut() {
                    idem.on_success(&batch, base_offset);
                }
                Counters::add(&counters.records_sent, batch.record_count as u64);
                Counters::add(&counters.bytes_sent, batch.size_in_bytes() as u64);
                Counters::add(&counters.batches_sent, 1);
                batch.complete(base_offset, result.log_append_time);
            }
            ErrorCode::MessageTooLarge if batch.record_count > 1 => self.split_and_reenqueue(batch),
            code if self.can_retry(&batch, code, result.log_start_offset, now) => {
                self.retry(batch, result, now)
            }
            code => self.fail_batch(batch, code, result.message, now),
        }
    }

    fn can_retry(
        &mut self,
        batch: &ProducerBatch,
        code: ErrorCode,
        log_start_offset: i64,
        now: Instant,
    ) -> bool {
        let config = &self.shared.config;
        if batch.age(now) >= config.delivery_timeout() || batch.attempts >= config.retries() {
            return false;
        }
        match self.idempotence.as_mut() {
            Some(idem) => idem.can_retry(batch, code, log_start_offset),
            None => code.is_retriable(),
        }
    }

    fn retry(&mut self, mut batch: ProducerBatch, result: PartitionResult, now: Instant) {
        if result.code.invalidates_metadata() {
            let applied = result.leader_hint.is_some_and(|(leader, epoch, endpoint)| {
                self.metadata
                    .apply_leader_hint(batch.topic(), batch.partition(), leader, epoch, endpoint)
            });
            if !applied {
                self.metadata.request_update();
            }
        }
        let backoff = self.retry_backoff.backoff(batch.attempts);
        batch.attempts += 1;
        batch.retry_at = Some(now + backoff);
        Counters::add(&self.shared.counters.retries, 1);
        tracing::warn!(
            topic = %batch.topic(),
            partition = batch.partition(),
            code = %result.code,
            attempt = batch.attempts,
            ?backoff,
            "retrying produce"
        );
        self.shared.accumulator.reenqueue(batch);
    }

    fn fail_batch(&mut self, batch: ProducerBatch, code: ErrorCode, message: Option<String>, now: Instant) {
        let topic = batch.topic().to_string();
        let partition = batch.partition();
        if Error::is_fatal_code(code) {
            let error = Error::Fatal {
                code,
                reason: format!("produce to {topic}-{partition} failed"),
            };
            Counters::add(&self.shared.counters.records_failed, batch.record_count as u64);
            // The producer is marked failed before any record learns of it, so a send that
            // follows a failed delivery sees the fatal error.
            self.fatal(error.clone());
            batch.fail(error);
            return;
        }
        if let Some(idem) = self.idempotence.as_mut() {
            // A request of this batch went unanswered: it may be in the log. That is not a
            // hole to bump the epoch over (its siblings would go again as new batches), but an
            // unresolved sequence that the batches behind it settle.
            if batch.fate_unknown {
                idem.on_fate_unknown(&batch);
            } else {
                idem.on_failed(&batch);
            }
        }
        let elapsed = batch.age(now);
        let error = if code.is_retriable() && elapsed >= self.shared.config.delivery_timeout() {
            Error::Timeout {
                topic,
                partition,
                elapsed,
                may_have_been_persisted: batch.fate_unknown,
            }
        } else {
            Error::Broker {
                topic,
                partition,
                code,
                message,
                may_have_been_persisted: batch.fate_unknown,
            }
        };
        tracing::warn!(%error, "produce failed");
        Counters::add(&self.shared.counters.records_failed, batch.record_count as u64);
        self.txn_batch_failed(&error);
        batch.fail(error);
    }

    fn split_and_reenqueue(&mut self, batch: ProducerBatch) {
        let shared = self.shared.clone();
        let config = &shared.config;
        let limit = config.batch_size().min(batch.size_in_bytes() / 2).max(1);
        let tp = (batch.topic().clone(), batch.partition());
        let state = batch.producer_state;
        match batch.split(limit, config.codec()) {
            Ok(pieces) => {
                let counts: Vec<i32> = pieces.iter().map(|p| p.record_count).collect();
                tracing::info!(topic = %tp.0, partition = tp.1, pieces = counts.len(), "MESSAGE_TOO_LARGE: split the batch");
                if let Some(idem) = self.idempotence.as_mut() {
                    idem.on_split(&tp, state, &counts);
                }
                for piece in pieces.into_iter().rev() {
                    self.shared.accumulator.reenqueue(piece);
                }
            }
            Err(failed) => {
                let (batch, error) = *failed;
                tracing::error!(%error, "could not split a batch");
                self.fail_batch(
                    batch,
                    ErrorCode::MessageTooLarge,
                    Some(error.to_string()),
                    Instant::now(),
                );
            }
        }
    }

    /// Fails batches past `delivery.timeout.ms`, queued or in flight; returns the next expiry.
    pub(super) fn expire(&mut self, now: Instant) -> Option<Instant> {
        let timeout = self.shared.config.delivery_timeout();
        let shared = Arc::clone(&self.shared);
        for batch in shared.accumulator.expired(timeout, now) {
            self.expire_batch(batch, false, now);
        }
        let mut next = shared.accumulator.next_expiry(timeout);
        let mut expired_in_flight = Vec::new();
        for request in self.in_flight.values_mut() {
            let InFlight::Produce(p) = request else { continue };
            for slot in &mut p.batches {
                match slot {
                    Some(b) if b.age(now) >= timeout => expired_in_flight.extend(slot.take()),
                    Some(b) => next = earliest(next, Some(b.created + timeout)),
                    None => {}
                }
            }
        }
        for batch in expired_in_flight {
            self.expire_batch(batch, true, now);
        }
        next
    }

    /// Fails an expired batch; `in_flight`: a request carrying it is awaiting its answer.
    fn expire_batch(&mut self, batch: ProducerBatch, in_flight: bool, now: Instant) {
        if let Some(idem) = self.idempotence.as_mut() {
            idem.on_fate_unknown(&batch);
        }
        let error = Error::Timeout {
            topic: batch.topic().to_string(),
            partition: batch.partition(),
            elapsed: batch.age(now),
            may_have_been_persisted: in_flight || batch.fate_unknown,
        };
        tracing::warn!(%error, "batch expired");
        Counters::add(&self.shared.counters.records_failed, batch.record_count as u64);
        self.txn_batch_failed(&error);
        batch.fail(error);
    }
}
