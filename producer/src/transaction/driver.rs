//! The sender's side of transactions: which request goes to the coordinator next, and what
//! each answer does to the state (Java's `TransactionManager.nextRequest` and its
//! `TxnRequestHandler`s).
//!
//! One transaction request is in flight at a time, as in Java. Each turn of the sender's loop
//! calls [`Sender::poll_transactions`] before it drains batches:
//!
//! 1. ABORTABLE_ERROR and ABORTING: batches never drained fail at once; when aborting, so do
//!    batches waiting for a retry (their transaction is being aborted; the epoch is bumped
//!    afterwards, since their sequences are lost);
//! 2. the coordinator is looked up when unknown (FindCoordinator);
//! 3. then, in this order: InitProducerId (INITIALIZING), AddPartitionsToTxn (partitions sent
//!    to but not in the transaction yet), AddOffsetsToTxn and TxnOffsetCommit (offsets of
//!    `send_offsets_to_transaction`), EndTxn (committing once every batch completed; aborting
//!    once none is in flight).
//!
//! The drain skips partitions not in the transaction yet ([`TxnDrain`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, FindCoordinatorRequest, GroupId,
    InitProducerIdRequest, InitProducerIdResponse, ProducerId, TopicName, TransactionalId,
    TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::StrBytes;
use kafkit_protocol::ErrorCode;
use tokio::time::Instant;

use super::wire::{TxnRequest, TxnResponse};
use super::{Operation, State, TxnShared};
use crate::accumulator::batch::{ProducerBatch, ProducerState};
use crate::accumulator::{DrainPolicy, TopicPartition};
use crate::connection::{RequestBody, ResponseBody};
use crate::error::Error;
use crate::idempotence::IdempotenceManager;
use crate::metadata::NodeId;
use crate::metrics::Counters;
use crate::sender::{InFlight, Sender};

/// Which transaction request is in flight.
#[derive(Debug, Clone)]
pub(crate) enum Call {
    /// FindCoordinator for the transactional id (`None`) or a group.
    FindCoordinator(Option<String>),
    InitProducerId,
    AddPartitions(Vec<TopicPartition>),
    AddOffsets,
    TxnOffsetCommit,
    EndTxn {
        commit: bool,
    },
}

/// The sender's transaction bookkeeping.
#[derive(Debug)]
pub(crate) struct TxnDriver {
    pub shared: Arc<TxnShared>,
    /// The transaction coordinator, once found.
    coordinator: Option<NodeId>,
    /// The group coordinator of the offsets being sent, once found.
    group_coordinator: Option<(String, NodeId)>,
    /// The request in flight, if any.
    in_flight: Option<Call>,
    retry_at: Option<Instant>,
    failures: u32,
    /// Whether the accumulator is held in flush mode for a commit.
    flushing: bool,
    /// The producer id and epoch to bump from after an abort (KIP-360), set while
    /// INITIALIZING for that.
    bump_from: Option<(i64, i16)>,
    /// Set when the producer closes with a transaction open: how long its abort (or a commit
    /// in progress) may keep the sender running.
    closing_deadline: Option<Instant>,
}

impl TxnDriver {
    pub(crate) fn new(shared: Arc<TxnShared>) -> Self {
        TxnDriver {
            shared,
            coordinator: None,
            group_coordinator: None,
            in_flight: None,
            retry_at: None,
            failures: 0,
            flushing: false,
            bump_from: None,
            closing_deadline: None,
        }
    }
}

/// What to send next.
enum Next {
    Nothing,
    Send(NodeId, Call, Box<TxnRequestOrInit>),
}

enum TxnRequestOrInit {
    Txn(TxnRequest),
    Init(InitProducerIdRequest),
}

impl Sender {
    /// Fails batches of a transaction that must abort, and sends the next transaction request
    /// if one is due; returns when to look again (at the latest when a closing producer stops
    /// waiting for its transaction).
    pub(crate) fn poll_transactions(&mut self, now: Instant) -> Option<Instant> {
        let closing = self.txn.as_ref()?.closing_deadline.filter(|at| *at > now);
        let next = self.poll_transactions_inner(now);
        match (next, closing) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn poll_transactions_inner(&mut self, now: Instant) -> Option<Instant> {
        let driver = self.txn.as_mut()?;
        let shared = driver.shared.clone();
        let mut state = shared.state();
        if self.shared.accumulator.is_closed()
            && matches!(state, State::InTransaction | State::AbortableError)
        {
            // Java's close: "Aborting incomplete transaction due to shutdown".
            tracing::info!("the producer is closing with a transaction open: aborting it");
            shared.lock().state = State::Aborting;
            state = State::Aborting;
        }
        if matches!(state, State::AbortableError | State::Aborting) {
            self.fail_aborted_batches(state == State::Aborting);
        }
        let driver = self.txn.as_mut()?;
        if state != State::Committing && driver.flushing {
            driver.flushing = false;
            self.shared.accumulator.set_flushing(false);
        }
        let driver = self.txn.as_mut()?;
        if driver.in_flight.is_some() {
            return None;
        }
        if let Some(at) = driver.retry_at.filter(|at| now < *at) {
            return Some(at);
        }
        driver.retry_at = None;
        match self.next_transaction_request(now) {
            Ok(Next::Nothing) => None,
            Ok(Next::Send(node, call, request)) => {
                let body = match *request {
                    TxnRequestOrInit::Txn(r) => RequestBody::Txn(Box::new(r)),
                    TxnRequestOrInit::Init(r) => RequestBody::InitProducerId(r),
                };
                match self.send_request(node, body) {
                    Some((id, conn)) => {
                        tracing::debug!(?call, node, "transaction request sent");
                        if let Some(d) = self.txn.as_mut() {
                            d.in_flight = Some(call.clone());
                        }
                        self.in_flight.insert(id, InFlight::Txn { conn, call });
                        None
                    }
                    None => self.txn_retry_later(now, false),
                }
            }
            Err(at) => at,
        }
    }

    /// Whether the closing producer's sender must keep running for its transaction: an abort
    /// (or a commit) in progress, for at most `request.timeout.ms` after the close was first
    /// seen here; after that the transaction is left to the coordinator's timeout.
    pub(crate) fn transaction_ending_at_close(&mut self, now: Instant) -> bool {
        let timeout = self.shared.config.request_timeout();
        let Some(driver) = self.txn.as_mut() else {
            return false;
        };
        let state = driver.shared.state();
        if !matches!(
            state,
            State::InTransaction | State::AbortableError | State::Aborting | State::Committing
        ) {
            return false;
        }
        let deadline = *driver.closing_deadline.get_or_insert(now + timeout);
        if now >= deadline {
            tracing::warn!(
                state = state.name(),
                "the producer closed before its transaction ended; the coordinator aborts it at its timeout"
            );
            return false;
        }
        true
    }

    /// Fails what an aborting transaction will not send: batches never drained, and when
    /// `aborting`, batches waiting for a retry too (their sequences are lost, so the epoch is
    /// bumped after the abort).
    fn fail_aborted_batches(&mut self, aborting: bool) {
        let Some(driver) = self.txn.as_ref() else { return };
        let shared = driver.shared.clone();
        let acc = &self.shared.accumulator;
        let batches = if aborting {
            acc.take_all()
        } else {
            acc.take_undrained()
        };
        if batches.is_empty() {
            return;
        }
        let error = {
            let inner = shared.lock();
            match (&inner.last_error, inner.state) {
                (Some(e), State::AbortableError) => e.clone(),
                _ => Error::TransactionAborted,
            }
        };
        let mut failed = 0;
        let mut sequenced = false;
        for batch in batches {
            failed += batch.record_count as u64;
            if batch.producer_state.is_some() {
                sequenced = true;
                if let Some(idem) = self.idempotence.as_mut() {
                    idem.on_failed(&batch);
                }
            }
            batch.fail(error.clone());
        }
        if sequenced {
            shared.lock().epoch_bump_required = true;
        }
        Counters::add(&self.shared.counters.records_failed, failed);
    }

    /// Chooses the next request. `Err` carries when to look again (a connection is being set
    /// up, a backoff runs).
    fn next_transaction_request(&mut self, now: Instant) -> Result<Next, Option<Instant>> {
        let Some(driver) = self.txn.as_ref() else {
            return Ok(Next::Nothing);
        };
        let shared = driver.shared.clone();
        let mut inner = shared.lock();
        let (producer_id, epoch) = self
            .idempotence
            .as_ref()
            .and_then(IdempotenceManager::producer)
            .unwrap_or((-1, -1));
        let txn_id = || TransactionalId(StrBytes::from_string(shared.transactional_id.clone()));
        let state = inner.state;
        let call = match state {
            State::Uninitialized | State::Ready | State::Fatal => return Ok(Next::Nothing),
            State::Initializing => {
                let (pid, ep) = driver.bump_from.unwrap_or((-1, -1));
                let request = InitProducerIdRequest::default()
                    .with_transactional_id(Some(txn_id()))
                    .with_transaction_timeout_ms(shared.timeout_ms)
                    .with_producer_id(ProducerId(pid))
                    .with_producer_epoch(ep);
                drop(inner);
                let node = self.transaction_coordinator(now)?;
                return Ok(Next::Send(
                    node,
                    Call::InitProducerId,
                    Box::new(TxnRequestOrInit::Init(request)),
                ));
            }
            State::InTransaction | State::Committing if !inner.new_partitions.is_empty() => {
                let partitions: Vec<TopicPartition> = inner.new_partitions.iter().cloned().collect();
                let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
                for (topic, partition) in &partitions {
                    match topics.iter_mut().find(|t| t.name.0.as_str() == &**topic) {
                        Some(t) => t.partitions.push(*partition),
                        None => topics.push(
                            AddPartitionsToTxnTopic::default()
                                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                                .with_partitions(vec![*partition]),
                        ),
                    }
                }
                let request = AddPartitionsToTxnRequest::default()
                    .with_v3_and_below_transactional_id(txn_id())
                    .with_v3_and_below_producer_id(ProducerId(producer_id))
                    .with_v3_and_below_producer_epoch(epoch)
                    .with_v3_and_below_topics(topics);
                (
                    Call::AddPartitions(partitions),
                    TxnRequest::AddPartitions(request),
                )
            }
            State::InTransaction if inner.offsets.as_ref().is_some_and(|o| !o.added) => {
                let Some(offsets) = inner.offsets.as_ref() else {
                    return Ok(Next::Nothing);
                };
                let request = AddOffsetsToTxnRequest::default()
                    .with_transactional_id(txn_id())
                    .with_producer_id(ProducerId(producer_id))
                    .with_producer_epoch(epoch)
                    .with_group_id(GroupId(StrBytes::from_string(offsets.group.group_id.clone())));
                (Call::AddOffsets, TxnRequest::AddOffsets(request))
            }
            State::InTransaction if inner.offsets.is_some() => {
                let Some(offsets) = inner.offsets.clone() else {
                    return Ok(Next::Nothing);
                };
                drop(inner);
                let node = self.group_coordinator(&offsets.group.group_id, now)?;
                let mut topics: Vec<TxnOffsetCommitRequestTopic> = Vec::new();
                for ((topic, partition), offset) in &offsets.offsets {
                    let p = TxnOffsetCommitRequestPartition::default()
                        .with_partition_index(*partition)
                        .with_committed_offset(offset.offset)
                        .with_committed_leader_epoch(offset.leader_epoch.unwrap_or(-1))
                        .with_committed_metadata(Some(StrBytes::from_string(offset.metadata.clone())));
                    match topics.iter_mut().find(|t| t.name.0.as_str() == &**topic) {
                        Some(t) => t.partitions.push(p),
                        None => topics.push(
                            TxnOffsetCommitRequestTopic::default()
                                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                                .with_partitions(vec![p]),
                        ),
                    }
                }
                let group = &offsets.group;
                let request = TxnOffsetCommitRequest::default()
                    .with_transactional_id(txn_id())
                    .with_group_id(GroupId(StrBytes::from_string(group.group_id.clone())))
                    .with_producer_id(ProducerId(producer_id))
                    .with_producer_epoch(epoch)
                    .with_generation_id(group.generation_id)
                    .with_member_id(StrBytes::from_string(group.member_id.clone()))
                    .with_group_instance_id(group.group_instance_id.clone().map(StrBytes::from_string))
                    .with_topics(topics);
                return Ok(Next::Send(
                    node,
                    Call::TxnOffsetCommit,
                    Box::new(TxnRequestOrInit::Txn(TxnRequest::TxnOffsetCommit(request))),
                ));
            }
            State::Committing | State::Aborting => {
                let commit = state == State::Committing;
                let acc = &self.shared.accumulator;
                if commit {
                    if let Some(d) = self.txn.as_mut().filter(|d| !d.flushing) {
                        d.flushing = true;
                        acc.set_flushing(true);
                    }
                    if !acc.incomplete.is_empty() {
                        return Ok(Next::Nothing); // each completion wakes the loop
                    }
                } else if self.has_produce_in_flight() || acc.has_queued() {
                    return Ok(Next::Nothing);
                }
                if !inner.started {
                    // Nothing reached the coordinator: nothing to end (Java skips EndTxn too).
                    self.transaction_ended(&mut inner, commit);
                    return Ok(Next::Nothing);
                }
                let request = EndTxnRequest::default()
                    .with_transactional_id(txn_id())
                    .with_producer_id(ProducerId(producer_id))
                    .with_producer_epoch(epoch)
                    .with_committed(commit);
                (Call::EndTxn { commit }, TxnRequest::EndTxn(request))
            }
            State::InTransaction | State::AbortableError => return Ok(Next::Nothing),
        };
        let (call, request) = call;
        drop(inner);
        let node = self.transaction_coordinator(now)?;
        Ok(Next::Send(node, call, Box::new(TxnRequestOrInit::Txn(request))))
    }

    /// The transaction coordinator's node when it is connected; otherwise starts finding or
    /// connecting to it.
    fn transaction_coordinator(&mut self, now: Instant) -> Result<NodeId, Option<Instant>> {
        let known = self.txn.as_ref().and_then(|d| d.coordinator);
        self.coordinator_node(known, None, now)
    }

    fn group_coordinator(&mut self, group: &str, now: Instant) -> Result<NodeId, Option<Instant>> {
        let known = self
            .txn
            .as_ref()
            .and_then(|d| d.group_coordinator.as_ref())
            .filter(|(g, _)| g == group)
            .map(|(_, node)| *node);
        self.coordinator_node(known, Some(group.to_string()), now)
    }

    /// `known`'s node once connected and negotiated; a FindCoordinator for `group` (or the
    /// transactional id) when unknown.
    fn coordinator_node(
        &mut self,
        known: Option<NodeId>,
        group: Option<String>,
        now: Instant,
    ) -> Result<NodeId, Option<Instant>> {
        if let Some(node) = known {
            if self.address(node).is_none() {
                // Not in metadata (yet): refresh, and look the coordinator up again after.
                self.metadata.request_update();
                self.forget_coordinator(group.is_some());
                return Err(self.txn_retry_later(now, false));
            }
            return match self.nodes.get(&node) {
                Some(n) if n.versions.is_some() => Ok(node),
                Some(_) => Err(None), // connecting: its Ready event wakes us
                None => Err(self.connect(node, now)),
            };
        }
        let node = self.least_loaded_node(now)?;
        let key = match &group {
            Some(g) => g.clone(),
            None => self
                .txn
                .as_ref()
                .map(|d| d.shared.transactional_id.clone())
                .unwrap_or_default(),
        };
        let key_type = if group.is_some() { 0 } else { 1 };
        let key = StrBytes::from_string(key);
        let request = FindCoordinatorRequest::default()
            .with_key(key.clone())
            .with_key_type(key_type)
            .with_coordinator_keys(vec![key]);
        let call = Call::FindCoordinator(group);
        match self.send_request(
            node,
            RequestBody::Txn(Box::new(TxnRequest::FindCoordinator(request))),
        ) {
            Some((id, conn)) => {
                if let Some(d) = self.txn.as_mut() {
                    d.in_flight = Some(call.clone());
                }
                self.in_flight.insert(id, InFlight::Txn { conn, call });
                Err(None)
            }
            None => Err(self.txn_retry_later(now, false)),
        }
    }

    fn forget_coordinator(&mut self, group: bool) {
        if let Some(d) = self.txn.as_mut() {
            if group {
                d.group_coordinator = None;
            } else {
                d.coordinator = None;
            }
        }
    }

    /// Backs off before the next transaction request; `lookup`: find the coordinator again
    /// first. Returns when to look again.
    fn txn_retry_later(&mut self, now: Instant, lookup: bool) -> Option<Instant> {
        let backoff = self
            .retry_backoff
            .backoff(self.txn.as_ref().map_or(0, |d| d.failures));
        let d = self.txn.as_mut()?;
        d.failures = d.failures.saturating_add(1);
        if lookup {
            d.coordinator = None;
            d.group_coordinator = None;
        }
        let at = now + backoff;
        d.retry_at = Some(at);
        Some(at)
    }

    /// A transaction request ended without an answer (its connection closed): the coordinator
    /// is looked up again and the request retried.
    pub(crate) fn txn_request_lost(&mut self, call: Call) {
        tracing::debug!(?call, "transaction request got no answer, retrying");
        if let Some(d) = self.txn.as_mut() {
            d.in_flight = None;
        }
        self.txn_retry_later(Instant::now(), true);
    }

    /// A batch of the transaction failed for good: the transaction must abort.
    pub(crate) fn txn_batch_failed(&mut self, error: &Error) {
        if let Some(d) = self.txn.as_ref() {
            let wrapped = Error::TransactionAbortable {
                code: error.code().unwrap_or(ErrorCode::UnknownServerError),
                reason: error.to_string(),
            };
            d.shared.lock().abortable(wrapped);
        }
    }

    /// The idempotent numbering of some partitions broke: a transactional producer cannot bump
    /// its epoch locally; the transaction aborts and the epoch is bumped afterwards.
    pub(crate) fn txn_needs_epoch_bump(&mut self, partitions: &[TopicPartition]) {
        if let Some(d) = self.txn.as_ref() {
            let mut inner = d.shared.lock();
            inner.epoch_bump_required = true;
            let (topic, partition) = partitions.first().cloned().unwrap_or_else(|| ("?".into(), -1));
            inner.abortable(Error::TransactionAbortable {
                code: ErrorCode::OutOfOrderSequenceNumber,
                reason: format!("the producer's sequence numbers for {topic}-{partition} broke"),
            });
        }
    }

    /// Routes a transaction response.
    pub(crate) fn handle_txn_response(&mut self, call: Call, body: ResponseBody, now: Instant) {
        if let Some(d) = self.txn.as_mut() {
            d.in_flight = None;
        }
        match (call, body) {
            (Call::InitProducerId, ResponseBody::InitProducerId(r)) => self.on_init_producer_id(r, now),
            (call, ResponseBody::Txn(r)) => self.on_txn_response(call, r, now),
            (call, _) => self.txn_request_lost(call),
        }
    }

    fn on_init_producer_id(&mut self, r: InitProducerIdResponse, now: Instant) {
        let code = ErrorCode::from(r.error_code);
        let Some(shared) = self.txn.as_ref().map(|d| d.shared.clone()) else {
            return;
        };
        match code {
            ErrorCode::None => {
                tracing::info!(
                    transactional_id = %shared.transactional_id,
                    producer_id = r.producer_id.0,
                    epoch = r.producer_epoch,
                    "transactional producer initialized"
                );
                self.install_producer(r.producer_id.0, r.producer_epoch);
                if let Some(d) = self.txn.as_mut() {
                    d.failures = 0;
                    d.bump_from = None;
                }
                let mut inner = shared.lock();
                inner.epoch_bump_required = false;
                inner.completed();
                inner.finish_any(Ok(()));
            }
            code if self.txn_retriable(code, now) => {}
            ErrorCode::ProducerFenced | ErrorCode::InvalidProducerEpoch => self.txn_fatal(
                ErrorCode::ProducerFenced,
                "InitProducerId: another producer with the same transactional.id fenced this one",
            ),
            code => self.txn_fatal(code, "InitProducerId failed"),
        }
    }

    /// Retries the request after `code` if Java does; returns whether it will.
    fn txn_retriable(&mut self, code: ErrorCode, now: Instant) -> bool {
        match code {
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                self.txn_retry_later(now, true);
                true
            }
            ErrorCode::CoordinatorLoadInProgress | ErrorCode::ConcurrentTransactions => {
                self.txn_retry_later(now, false);
                true
            }
            code if code.is_retriable() => {
                self.txn_retry_later(now, false);
                true
            }
            _ => false,
        }
    }

    fn txn_fatal(&mut self, code: ErrorCode, reason: &str) {
        let error = Error::Fatal {
            code,
            reason: reason.to_string(),
        };
        if let Some(d) = self.txn.as_ref() {
            d.shared.lock().fatal(error.clone());
        }
        self.fatal(error);
    }

    fn txn_abortable(&mut self, code: ErrorCode, reason: String) {
        if let Some(d) = self.txn.as_ref() {
            let mut inner = d.shared.lock();
            if matches!(
                code,
                ErrorCode::UnknownProducerId | ErrorCode::InvalidProducerIdMapping
            ) {
                inner.epoch_bump_required = true;
            }
            inner.abortable(Error::TransactionAbortable { code, reason });
        }
    }

    fn on_txn_response(&mut self, call: Call, response: TxnResponse, now: Instant) {
        tracing::trace!(?call, ?response, "transaction response");
        match (call, response) {
            (Call::FindCoordinator(group), TxnResponse::FindCoordinator(r)) => {
                let (code, node) = match r.coordinators.first() {
                    Some(c) => (ErrorCode::from(c.error_code), c.node_id.0),
                    None => (ErrorCode::from(r.error_code), r.node_id.0),
                };
                match code {
                    ErrorCode::None => {
                        tracing::debug!(node, ?group, "found the coordinator");
                        if let Some(d) = self.txn.as_mut() {
                            match group {
                                Some(g) => d.group_coordinator = Some((g, node)),
                                None => d.coordinator = Some(node),
                            }
                        }
                    }
                    ErrorCode::GroupAuthorizationFailed => self.txn_abortable(
                        code,
                        format!("not authorized to the group {}", group.unwrap_or_default()),
                    ),
                    code if self.txn_retriable(code, now) => {}
                    code => self.txn_fatal(code, "FindCoordinator failed"),
                }
            }
            (Call::AddPartitions(partitions), TxnResponse::AddPartitions(r)) => {
                self.on_add_partitions(partitions, r, now)
            }
            (Call::AddOffsets, TxnResponse::AddOffsets(r)) => {
                let code = ErrorCode::from(r.error_code);
                match code {
                    ErrorCode::None => {
                        if let Some(d) = self.txn.as_ref() {
                            let mut inner = d.shared.lock();
                            inner.started = true;
                            if let Some(o) = inner.offsets.as_mut() {
                                o.added = true;
                            }
                        }
                    }
                    code => self.txn_error(code, "AddOffsetsToTxn", now),
                }
            }
            (Call::TxnOffsetCommit, TxnResponse::TxnOffsetCommit(r)) => {
                let mut worst = ErrorCode::None;
                for t in &r.topics {
                    for p in &t.partitions {
                        let code = ErrorCode::from(p.error_code);
                        if code != ErrorCode::None {
                            worst = code;
                        }
                    }
                }
                match worst {
                    ErrorCode::None => {
                        if let Some(d) = self.txn.as_ref() {
                            let mut inner = d.shared.lock();
                            inner.offsets = None;
                            inner.finish(Operation::SendOffsets, Ok(()));
                        }
                    }
                    ErrorCode::CoordinatorNotAvailable | ErrorCode::NotCoordinator | ErrorCode::RequestTimedOut => {
                        self.forget_coordinator(true);
                        self.txn_retry_later(now, false);
                    }
                    ErrorCode::UnknownTopicOrPartition
                    | ErrorCode::CoordinatorLoadInProgress
                    | ErrorCode::ConcurrentTransactions => {
                        self.txn_retry_later(now, false);
                    }
                    code @ (ErrorCode::UnknownMemberId
                    | ErrorCode::IllegalGeneration
                    | ErrorCode::FencedInstanceId
                    | ErrorCode::RebalanceInProgress
                    | ErrorCode::GroupAuthorizationFailed
                    | ErrorCode::TransactionAbortable) => self.txn_abortable(
                        code,
                        "TxnOffsetCommit: the group refused the offsets (the consumer may have been fenced by a rebalance)".into(),
                    ),
                    code => self.txn_error(code, "TxnOffsetCommit", now),
                }
            }
            (Call::EndTxn { commit }, TxnResponse::EndTxn(r)) => {
                let code = ErrorCode::from(r.error_code);
                match code {
                    ErrorCode::None => {
                        if let Some(d) = self.txn.as_ref() {
                            let shared = d.shared.clone();
                            let mut inner = shared.lock();
                            self.transaction_ended(&mut inner, commit);
                        }
                    }
                    code => {
                        self.txn_error(code, if commit { "EndTxn(commit)" } else { "EndTxn(abort)" }, now)
                    }
                }
            }
            (call, _) => self.txn_request_lost(call),
        }
    }

    /// The transaction ended: READY, or INITIALIZING to bump the epoch after an abort that
    /// broke the numbering (the abort's outcome is set once the bump is done).
    fn transaction_ended(&mut self, inner: &mut super::Inner, commit: bool) {
        if let Some(d) = self.txn.as_mut() {
            d.failures = 0;
        }
        if !commit && inner.epoch_bump_required {
            let producer = self.idempotence.as_ref().and_then(IdempotenceManager::producer);
            if let Some(d) = self.txn.as_mut() {
                d.bump_from = producer;
            }
            inner.partitions.clear();
            inner.new_partitions.clear();
            inner.sent_to.clear();
            inner.offsets = None;
            inner.started = false;
            inner.state = State::Initializing;
            tracing::info!("transaction aborted; bumping the producer epoch (KIP-360)");
            return;
        }
        inner.completed();
        inner.finish(
            if commit {
                Operation::Commit
            } else {
                Operation::Abort
            },
            Ok(()),
        );
    }

    /// An error answer that is not retried: abortable or fatal, by Java's rules.
    fn txn_error(&mut self, code: ErrorCode, what: &str, now: Instant) {
        match code {
            code if self.txn_retriable(code, now) => {}
            ErrorCode::ProducerFenced | ErrorCode::InvalidProducerEpoch => self.txn_fatal(
                ErrorCode::ProducerFenced,
                &format!("{what}: another producer with the same transactional.id fenced this one"),
            ),
            ErrorCode::TransactionalIdAuthorizationFailed
            | ErrorCode::ClusterAuthorizationFailed
            | ErrorCode::UnsupportedVersion
            | ErrorCode::InvalidTxnState
            | ErrorCode::UnsupportedForMessageFormat => self.txn_fatal(code, &format!("{what} failed")),
            ErrorCode::GroupAuthorizationFailed
            | ErrorCode::TopicAuthorizationFailed
            | ErrorCode::UnknownProducerId
            | ErrorCode::InvalidProducerIdMapping
            | ErrorCode::TransactionAbortable => self.txn_abortable(code, format!("{what} failed")),
            code => self.txn_fatal(code, &format!("{what} failed with an unexpected error")),
        }
    }

    fn on_add_partitions(
        &mut self,
        partitions: Vec<TopicPartition>,
        r: kafka_protocol::messages::AddPartitionsToTxnResponse,
        now: Instant,
    ) {
        let mut added = BTreeSet::new();
        let mut worst = ErrorCode::None;
        let mut failed_partition = None;
        for t in &r.results_by_topic_v3_and_below {
            for p in &t.results_by_partition {
                let code = ErrorCode::from(p.partition_error_code);
                let tp: TopicPartition = (t.name.0.as_str().into(), p.partition_index);
                if code == ErrorCode::None {
                    added.insert(tp);
                } else if code != ErrorCode::OperationNotAttempted {
                    worst = code;
                    failed_partition = Some(tp);
                }
            }
        }
        // A partition missing from the answer (or not attempted) is asked for again.
        let missing = added.len() < partitions.len();
        let Some(shared) = self.txn.as_ref().map(|d| d.shared.clone()) else {
            return;
        };
        {
            let mut inner = shared.lock();
            for tp in &added {
                inner.new_partitions.remove(tp);
                inner.partitions.insert(tp.clone());
            }
            if !added.is_empty() {
                inner.started = true;
            }
        }
        if !added.is_empty() {
            self.shared.accumulator.wakeup.notify_one();
        }
        let what = match &failed_partition {
            Some((t, p)) => format!("AddPartitionsToTxn for {t}-{p}"),
            None => "AddPartitionsToTxn".into(),
        };
        match (worst, missing) {
            (ErrorCode::None, false) => {
                if let Some(d) = self.txn.as_mut() {
                    d.failures = 0;
                }
            }
            (ErrorCode::None | ErrorCode::UnknownTopicOrPartition, _) => {
                self.txn_retry_later(now, false);
            }
            (code, _) => self.txn_error(code, &what, now),
        }
    }
}

/// The drain policy of a transactional producer: the idempotent producer's, and only
/// partitions already in the transaction.
pub(crate) struct TxnDrain<'a> {
    pub idempotence: &'a mut IdempotenceManager,
    pub partitions: &'a BTreeSet<TopicPartition>,
}

impl DrainPolicy for TxnDrain<'_> {
    fn can_drain(&self, batch: &ProducerBatch) -> bool {
        let tp = (batch.topic().clone(), batch.partition());
        self.partitions.contains(&tp) && self.idempotence.can_drain(batch)
    }

    fn assign(&mut self, batch: &ProducerBatch) -> Option<ProducerState> {
        self.idempotence.assign(batch)
    }

    fn unassign(&mut self, batch: &ProducerBatch, state: ProducerState) {
        self.idempotence.unassign(batch, state);
    }
}
