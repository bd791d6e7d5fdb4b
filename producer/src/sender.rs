//! The [`Sender`] task: the producer's single I/O loop (Java's `Sender` thread).
//!
//! One tokio task owns everything that talks to brokers: the connections, the metadata state,
//! the idempotence state and the requests in flight. Each turn of its loop, as Java's
//! `runOnce`:
//!
//! 1. applies what the connections reported (responses, closed connections);
//! 2. refreshes metadata when due, asks for a producer id (idempotence) before any drain, and
//!    applies pending epoch bumps;
//! 3. fails batches past `delivery.timeout.ms`, queued or in flight;
//! 4. asks the accumulator which brokers have sendable data, connects to those it has no
//!    connection to, and sends each connected broker one ProduceRequest while it has fewer than
//!    `max.in.flight.requests.per.connection` outstanding;
//! 5. sleeps until a connection reports, a `send` opens or fills a batch, a flush or close
//!    begins, or the next linger / backoff / expiry / refresh deadline.
//!
//! Shutdown: after `close` (or the last producer handle drops) the accumulator refuses new
//! records and makes every batch sendable; the loop ends once nothing is queued or in flight.
//! A forced close fails whatever is left with [`Error::Closed`]. A fatal error fails everything
//! with [`Error::Fatal`] and ends the loop. If the task itself is dropped (its runtime shut
//! down), every batch it held fails with `Closed` as it drops.

mod produce;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};
use kafkit_protocol::ErrorCode;
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant};

use crate::accumulator::{RecordAccumulator, TopicPartition};
use crate::backoff::ExponentialBackoff;
use crate::config::ProducerConfig;
use crate::connection::{
    self, ApiVersions, ConnEvent, ConnId, ConnectionError, ConnectionHandle, ConnectionParams,
};
use crate::error::Error;
use crate::idempotence::IdempotenceManager;
use crate::metadata::{ClusterMetadata, Metadata, NodeId};
use crate::metrics::Counters;
use crate::transaction::driver::{Call, TxnDriver};
use crate::transaction::TxnShared;

use self::produce::InFlightProduce;

/// State shared by the producer handles and the sender task.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The validated configuration.
    pub config: ProducerConfig,
    /// Where `send` appends and the sender drains.
    pub accumulator: RecordAccumulator,
    /// Topics `send` met that metadata does not have yet; the sender adds them to its refreshes.
    pub new_topics: Mutex<Vec<Arc<str>>>,
    /// Counters for [`ProducerMetrics`](crate::ProducerMetrics).
    pub counters: Counters,
    /// Set once the producer hit a fatal error; every later send fails with it.
    pub fatal: OnceLock<Error>,
    /// Set by a close whose timeout expired: fail what is left and stop.
    pub force_close: AtomicBool,
    /// Becomes `true` when the sender task has ended; `close` waits for it.
    pub stopped: watch::Sender<bool>,
    /// The transaction state, with `transactional.id`.
    pub txn: Option<Arc<TxnShared>>,
}

/// A broker connection as the sender sees it.
#[derive(Debug)]
pub(crate) struct Node {
    /// Dropping the handle closes the connection.
    handle: ConnectionHandle,
    conn: ConnId,
    /// `None` while connecting and negotiating.
    pub versions: Option<ApiVersions>,
    /// Requests awaiting a response on this connection.
    in_flight: usize,
    /// KIP-219: the broker reported a quota violation; no produce request goes to it before
    /// this instant.
    throttled_until: Option<Instant>,
}

impl Node {
    /// Whether a produce request can go to this node now: connected and negotiated, below
    /// `max.in.flight.requests.per.connection`, and not throttled.
    fn can_send_produce(&self, max_in_flight: usize, now: Instant) -> bool {
        self.versions.is_some()
            && self.in_flight < max_in_flight
            && self.throttled_until.is_none_or(|t| t <= now)
    }
}

/// Where the non-produce requests in flight go back to.
#[derive(Debug)]
pub(crate) enum InFlight {
    Produce(InFlightProduce),
    Metadata {
        conn: ConnId,
    },
    InitProducerId {
        conn: ConnId,
    },
    /// A transaction request (see [`crate::transaction::driver`]).
    Txn {
        conn: ConnId,
        call: Call,
    },
}

impl InFlight {
    fn conn(&self) -> ConnId {
        match self {
            InFlight::Produce(p) => p.conn,
            InFlight::Metadata { conn } | InFlight::InitProducerId { conn } | InFlight::Txn { conn, .. } => {
                *conn
            }
        }
    }
}

/// The sender task's state.
pub(crate) struct Sender {
    pub(crate) shared: Arc<Shared>,
    pub(crate) metadata: Metadata,
    params: Arc<ConnectionParams>,
    /// Connections report here; the connection tasks hold the senders.
    events: mpsc::UnboundedReceiver<ConnEvent>,
    events_tx: mpsc::UnboundedSender<ConnEvent>,
    pub(crate) nodes: HashMap<NodeId, Node>,
    conn_nodes: HashMap<ConnId, NodeId>,
    next_conn: ConnId,
    /// Failed connection attempts per node and when the next may start.
    reconnect: HashMap<NodeId, (u32, Instant)>,
    /// Requests awaiting responses, by the sender's request id.
    pub(crate) in_flight: HashMap<u64, InFlight>,
    next_request: u64,
    /// Where the next drain for a node starts (round-robin over its partitions).
    drain_index: HashMap<NodeId, usize>,
    /// When each broker last had sendable data and last could take it
    /// (`partitioner.availability.timeout.ms`).
    node_latency: NodeLatency,
    /// `Some` when idempotence is on.
    pub(crate) idempotence: Option<IdempotenceManager>,
    /// `Some` with `transactional.id`.
    pub(crate) txn: Option<TxnDriver>,
    /// InitProducerId in flight, or not before this instant.
    init_in_flight: bool,
    init_retry_at: Option<Instant>,
    init_failures: u32,
    /// Partitions with a request in flight, muted when max.in.flight is 1 (strict ordering).
    muted: HashSet<TopicPartition>,
    pub(crate) retry_backoff: ExponentialBackoff,
    reconnect_backoff: ExponentialBackoff,
    /// Bootstrap addresses; their nodes get ids -1, -2, ...
    bootstrap: Vec<(String, u16)>,
    next_bootstrap: usize,
}

impl Sender {
    /// A sender for `shared`; returns it and the metadata receiver `send` reads.
    pub(crate) fn new(
        shared: Arc<Shared>,
        params: Arc<ConnectionParams>,
    ) -> (Self, watch::Receiver<Arc<ClusterMetadata>>) {
        let c = &shared.config;
        let (metadata, rx) = Metadata::new(c.metadata_max_age(), c.retry_backoff());
        let (events_tx, events) = mpsc::unbounded_channel();
        let sender = Sender {
            idempotence: c.enable_idempotence().then(|| {
                let mut idem = IdempotenceManager::default();
                idem.transactional = shared.txn.is_some();
                idem
            }),
            txn: shared.txn.clone().map(TxnDriver::new),
            retry_backoff: ExponentialBackoff::new(c.retry_backoff(), c.retry_backoff_max()),
            reconnect_backoff: ExponentialBackoff::new(c.reconnect_backoff(), c.reconnect_backoff_max()),
            bootstrap: c.bootstrap_servers().to_vec(),
            shared,
            metadata,
            params,
            events,
            events_tx,
            nodes: HashMap::new(),
            conn_nodes: HashMap::new(),
            next_conn: 0,
            reconnect: HashMap::new(),
            in_flight: HashMap::new(),
            next_request: 0,
            drain_index: HashMap::new(),
            node_latency: NodeLatency::default(),
            init_in_flight: false,
            init_retry_at: None,
            init_failures: 0,
            muted: HashSet::new(),
            next_bootstrap: 0,
        };
        (sender, rx)
    }

    /// Runs until closed (see the module docs).
    pub(crate) async fn run(mut self) {
        tracing::debug!("sender started");
        let _stopped = Stopped(self.shared.clone());
        loop {
            while let Ok(event) = self.events.try_recv() {
                self.handle_event(event);
            }
            if self.shared.fatal.get().is_some() {
                break;
            }
            if self.shared.force_close.load(Ordering::Relaxed) {
                self.abort_all(|sent| Error::Closed {
                    may_have_been_persisted: sent,
                });
                break;
            }
            let acc = &self.shared.accumulator;
            if acc.is_closed()
                && !acc.has_queued()
                && !self.has_produce_in_flight()
                && !self.transaction_ending_at_close(Instant::now())
            {
                break;
            }
            let now = Instant::now();
            self.take_new_topics();
            self.maybe_bump_epochs();
            let mut wake_at = self.expire(now);
            wake_at = earliest(wake_at, self.poll_transactions(now));
            let (sent, ready_at) = self.send_produce_requests(now);
            wake_at = earliest(wake_at, ready_at);
            // After the drain, which may have found partitions without a leader.
            wake_at = earliest(wake_at, self.maybe_update_metadata(now));
            wake_at = earliest(wake_at, self.maybe_init_producer_id(now));
            if sent {
                continue;
            }
            let deadline = wake_at.unwrap_or(now + Duration::from_secs(3600));
            tokio::select! {
                biased;
                event = self.events.recv() => {
                    if let Some(event) = event {
                        self.handle_event(event);
                    }
                }
                () = self.shared.accumulator.wakeup.notified() => {}
                () = sleep_until(deadline) => {}
            }
        }
        tracing::debug!("sender stopped");
    }

    pub(crate) fn has_produce_in_flight(&self) -> bool {
        self.in_flight.values().any(|r| matches!(r, InFlight::Produce(_)))
    }

    fn take_new_topics(&mut self) {
        let topics = std::mem::take(&mut *self.shared.new_topics.lock().unwrap_or_else(|e| e.into_inner()));
        if topics.is_empty() {
            return;
        }
        // The send that asked waits at most max.block.ms from about now.
        let waited_until = Instant::now() + self.shared.config.max_block();
        for topic in topics {
            self.metadata.add_topic(topic, waited_until);
        }
    }

    fn handle_event(&mut self, event: ConnEvent) {
        match event {
            ConnEvent::Ready { conn, versions } => {
                let Some(&node_id) = self.conn_nodes.get(&conn) else {
                    return;
                };
                if let Some(node) = self.nodes.get_mut(&node_id) {
                    node.versions = Some(versions);
                    self.reconnect.remove(&node_id);
                }
            }
            ConnEvent::Response { conn, id, body } => {
                let Some(request) = self.in_flight.remove(&id) else {
                    return;
                };
                if let Some(node) = self.conn_nodes.get(&conn).and_then(|n| self.nodes.get_mut(n)) {
                    node.in_flight = node.in_flight.saturating_sub(1);
                }
                crate::metrics::Counters::sub(&self.shared.counters.in_flight_requests, 1);
                self.handle_response(request, body);
            }
            ConnEvent::Closed { conn, error } => self.connection_closed(conn, error),
        }
    }

    fn handle_response(&mut self, request: InFlight, body: connection::ResponseBody) {
        use connection::ResponseBody as R;
        let now = Instant::now();
        match (request, body) {
            (InFlight::Produce(p), body) => self.handle_produce_response(p, body, now),
            (InFlight::Metadata { .. }, R::Metadata(response)) => {
                self.metadata.update(&response, now);
                Counters::add(&self.shared.counters.metadata_refreshes, 1);
                if self.bootstrap_done() {
                    self.drop_bootstrap_nodes();
                }
            }
            (InFlight::InitProducerId { .. }, R::InitProducerId(response)) => {
                self.handle_init_producer_id(response, now)
            }
            (InFlight::Txn { call, .. }, body) => self.handle_txn_response(call, body, now),
            (InFlight::Metadata { .. }, _) => self.metadata.update_failed(),
            (InFlight::InitProducerId { .. }, _) => self.init_in_flight = false,
        }
    }

    fn connection_closed(&mut self, conn: ConnId, error: ConnectionError) {
        let Some(node_id) = self.conn_nodes.remove(&conn) else {
            return;
        };
        if self.nodes.get(&node_id).is_some_and(|n| n.conn == conn) {
            self.nodes.remove(&node_id);
        }
        tracing::info!(node = node_id, %error, "connection to broker lost");
        if let ConnectionError::Authentication {
            broker,
            mechanism,
            message,
        } = &error
        {
            self.fatal(Error::Authentication {
                broker: broker.clone(),
                mechanism: mechanism.clone(),
                message: message.clone(),
            });
            return;
        }
        if let ConnectionError::Unsupported(reason) = &error {
            self.fatal(Error::Fatal {
                code: ErrorCode::UnsupportedVersion,
                reason: reason.clone(),
            });
            return;
        }
        let now = Instant::now();
        let failures = self.reconnect.get(&node_id).map_or(0, |r| r.0);
        let wait = self.reconnect_backoff.backoff(failures);
        self.reconnect.insert(node_id, (failures + 1, now + wait));
        let lost: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, r)| r.conn() == conn)
            .map(|(id, _)| *id)
            .collect();
        let code = match error {
            ConnectionError::Timeout => ErrorCode::RequestTimedOut,
            _ => ErrorCode::NetworkException,
        };
        for id in lost {
            let Some(request) = self.in_flight.remove(&id) else {
                continue;
            };
            Counters::sub(&self.shared.counters.in_flight_requests, 1);
            match request {
                InFlight::Produce(p) => self.produce_failed(p, code, now),
                InFlight::Metadata { .. } => self.metadata.update_failed(),
                InFlight::InitProducerId { .. } => self.init_in_flight = false,
                InFlight::Txn { call, .. } => self.txn_request_lost(call),
            }
        }
        if code.invalidates_metadata() {
            self.metadata.request_update();
        }
    }

    /// The address of a node: a broker from metadata, or a bootstrap address (negative ids).
    pub(crate) fn address(&self, node: NodeId) -> Option<(String, u16)> {
        if node < 0 {
            return self.bootstrap.get(usize::try_from(-node - 1).ok()?).cloned();
        }
        self.metadata.cluster().broker(node).cloned()
    }

    /// Opens a connection to `node` unless one exists or its reconnect backoff runs; returns
    /// when to try again if it cannot start now.
    pub(crate) fn connect(&mut self, node: NodeId, now: Instant) -> Option<Instant> {
        if self.nodes.contains_key(&node) {
            return None;
        }
        if let Some(&(_, at)) = self.reconnect.get(&node) {
            if now < at {
                return Some(at);
            }
        }
        let (host, port) = self.address(node)?;
        let conn = self.next_conn;
        self.next_conn += 1;
        tracing::debug!(node, %host, port, conn, "connecting");
        let handle = connection::spawn(conn, host, port, self.params.clone(), self.events_tx.clone());
        self.nodes.insert(
            node,
            Node {
                handle,
                conn,
                versions: None,
                in_flight: 0,
                throttled_until: None,
            },
        );
        self.conn_nodes.insert(conn, node);
        None
    }

    /// A connected node with the fewest requests in flight (Java's `leastLoadedNode`); starts a
    /// connection when there is none. `Err` carries when to look again.
    pub(crate) fn least_loaded_node(&mut self, now: Instant) -> Result<NodeId, Option<Instant>> {
        let ready = self
            .nodes
            .iter()
            .filter(|(_, n)| n.versions.is_some())
            .min_by_key(|(_, n)| n.in_flight);
        if let Some((&id, _)) = ready {
            return Ok(id);
        }
        if !self.nodes.is_empty() {
            return Err(None); // a connection is being set up; its event wakes us
        }
        let mut brokers: Vec<NodeId> = self.metadata.cluster().brokers.keys().copied().collect();
        if brokers.is_empty() {
            brokers = (0..self.bootstrap.len()).map(|i| -(i as NodeId) - 1).collect();
        }
        brokers.sort_unstable();
        let mut retry_at = None;
        for step in 0..brokers.len() {
            let node = brokers[(self.next_bootstrap + step) % brokers.len()];
            match self.connect(node, now) {
                None if self.nodes.contains_key(&node) => {
                    self.next_bootstrap += step + 1;
                    return Err(None);
                }
                at => retry_at = earliest(retry_at, at),
            }
        }
        Err(retry_at)
    }

    pub(crate) fn send_request(
        &mut self,
        node: NodeId,
        body: connection::RequestBody,
    ) -> Option<(u64, ConnId)> {
        let n = self.nodes.get_mut(&node)?;
        let id = self.next_request;
        self.next_request += 1;
        n.handle.send(id, body).ok()?;
        n.in_flight += 1;
        Counters::add(&self.shared.counters.in_flight_requests, 1);
        Some((id, n.conn))
    }

    /// Sends a metadata request when one is due; returns when to look again.
    fn maybe_update_metadata(&mut self, now: Instant) -> Option<Instant> {
        let due = self.metadata.time_to_next_update(now)?;
        if !due.is_zero() {
            return Some(now + due);
        }
        let node = match self.least_loaded_node(now) {
            Ok(node) => node,
            Err(at) => return at,
        };
        let request = self.metadata.begin_update(now);
        match self.send_request(node, connection::RequestBody::Metadata(request)) {
            Some((id, conn)) => {
                self.in_flight.insert(id, InFlight::Metadata { conn });
            }
            None => self.metadata.update_failed(),
        }
        None
    }

    fn bootstrap_done(&self) -> bool {
        !self.metadata.cluster().brokers.is_empty()
    }

    fn drop_bootstrap_nodes(&mut self) {
        let idle: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(id, n)| **id < 0 && n.in_flight == 0)
            .map(|(id, _)| *id)
            .collect();
        for id in idle {
            if let Some(n) = self.nodes.remove(&id) {
                self.conn_nodes.remove(&n.conn);
            }
        }
    }

    /// Asks for a producer id when idempotence needs one; returns when to look again.
    fn maybe_init_producer_id(&mut self, now: Instant) -> Option<Instant> {
        let idem = self.idempotence.as_ref()?;
        // A transactional producer gets its id from its coordinator (the transaction driver).
        if idem.producer().is_some() || self.init_in_flight || self.txn.is_some() {
            return None;
        }
        if let Some(at) = self.init_retry_at.filter(|at| now < *at) {
            return Some(at);
        }
        let node = match self.least_loaded_node(now) {
            Ok(node) => node,
            Err(at) => return at,
        };
        if self
            .nodes
            .get(&node)
            .and_then(|n| n.versions)
            .is_some_and(|v| v.init_producer_id.is_none())
        {
            self.fatal(Error::Fatal {
                code: ErrorCode::UnsupportedVersion,
                reason: "the broker does not support InitProducerId, which idempotence needs".into(),
            });
            return None;
        }
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000);
        if let Some((id, conn)) = self.send_request(node, connection::RequestBody::InitProducerId(request)) {
            self.in_flight.insert(id, InFlight::InitProducerId { conn });
            self.init_in_flight = true;
        }
        None
    }

    fn handle_init_producer_id(&mut self, response: InitProducerIdResponse, now: Instant) {
        self.init_in_flight = false;
        let code = ErrorCode::from(response.error_code);
        if code.is_ok() {
            tracing::info!(
                producer_id = response.producer_id.0,
                epoch = response.producer_epoch,
                "got a producer id"
            );
            self.install_producer(response.producer_id.0, response.producer_epoch);
            self.init_failures = 0;
        } else if code.is_retriable()
            || matches!(
                code,
                ErrorCode::CoordinatorLoadInProgress | ErrorCode::NotCoordinator
            )
        {
            tracing::debug!(%code, "InitProducerId failed, retrying");
            self.init_retry_at = Some(now + self.retry_backoff.backoff(self.init_failures));
            self.init_failures += 1;
            if code.invalidates_metadata() {
                self.metadata.request_update();
            }
        } else {
            self.fatal(Error::Fatal {
                code,
                reason: "InitProducerId failed".into(),
            });
        }
    }

    /// Installs a producer id and epoch from InitProducerId: every partition starts over,
    /// and queued batches that had sequences get new ones.
    pub(crate) fn install_producer(&mut self, producer_id: i64, epoch: i16) {
        let Some(idem) = self.idempotence.as_mut() else {
            return;
        };
        for tp in idem.set_producer(producer_id, epoch) {
            let batches = self
                .shared
                .accumulator
                .resequence(&tp.0, tp.1, producer_id, epoch);
            idem.resequenced(tp, batches);
        }
    }

    /// Applies the epoch bumps the idempotence state asks for.
    fn maybe_bump_epochs(&mut self) {
        let Some(idem) = self.idempotence.as_mut() else {
            return;
        };
        let partitions = idem.partitions_to_bump();
        if partitions.is_empty() {
            return;
        }
        if self.txn.is_some() {
            // Only the coordinator bumps a transactional producer's epoch: abort, then bump.
            self.txn_needs_epoch_bump(&partitions);
            return;
        }
        Counters::add(&self.shared.counters.epoch_bumps, 1);
        if !idem.bump_epoch() {
            tracing::info!("producer epoch exhausted, asking for a new producer id");
            return;
        }
        let Some((producer_id, epoch)) = idem.producer() else {
            return;
        };
        for tp in partitions {
            let batches = self
                .shared
                .accumulator
                .resequence(&tp.0, tp.1, producer_id, epoch);
            idem.resequenced(tp, batches);
        }
    }

    /// Fails everything with a fatal error and stops the producer.
    pub(crate) fn fatal(&mut self, error: Error) {
        tracing::error!(%error, "fatal producer error");
        let _ = self.shared.fatal.set(error.clone());
        if let Some(txn) = &self.shared.txn {
            txn.lock().fatal(error.clone());
        }
        self.shared.accumulator.close();
        self.abort_all(|_| error.clone());
    }

    /// Fails every queued and in-flight batch with the error `make` gives for it (by whether it
    /// was sent).
    fn abort_all(&mut self, make: impl Fn(bool) -> Error) {
        let mut failed = 0;
        for batch in self.shared.accumulator.take_all() {
            failed += batch.record_count as u64;
            let e = make(batch.sent);
            batch.fail(e);
        }
        for (_, request) in self.in_flight.drain() {
            if let InFlight::Produce(p) = request {
                for batch in p.batches.into_iter().flatten() {
                    failed += batch.record_count as u64;
                    batch.fail(make(true));
                }
            }
        }
        Counters::add(&self.shared.counters.records_failed, failed);
        self.nodes.clear();
    }
}

/// Runs when the sender task ends, however it ends (its loop finished, it panicked, or its
/// runtime dropped it): no send may be accepted after that, waiting sends wake with
/// [`Error::Closed`], and whatever is still queued fails rather than waiting forever.
struct Stopped(Arc<Shared>);

impl Drop for Stopped {
    fn drop(&mut self) {
        let acc = &self.0.accumulator;
        acc.close();
        acc.pool.close();
        let mut failed = 0;
        for batch in acc.take_all() {
            failed += batch.record_count as u64;
            let sent = batch.fate_unknown;
            batch.fail(Error::Closed {
                may_have_been_persisted: sent,
            });
        }
        Counters::add(&self.0.counters.records_failed, failed);
        if let Some(txn) = &self.0.txn {
            let error = self.0.fatal.get().cloned().unwrap_or(Error::Closed {
                may_have_been_persisted: false,
            });
            txn.stopped(&error);
        }
        self.0.stopped.send_replace(true);
    }
}

/// The earlier of two optional instants.
impl Sender {
    /// KIP-219: a response on `conn` reported `throttle_ms` of quota throttling. From Produce
    /// v6 on the broker answers at once and the client must hold back (Java's
    /// `NetworkClient.throttle`): no produce request goes to that broker until the time has
    /// passed. Before v6 the broker delayed the response itself, so there is nothing to do.
    pub(super) fn throttle(&mut self, conn: ConnId, throttle_ms: i32, now: Instant) {
        let Some(node_id) = self.conn_nodes.get(&conn).copied() else {
            return;
        };
        let Some(node) = self.nodes.get_mut(&node_id).filter(|n| n.conn == conn) else {
            return;
        };
        if throttle_ms > 0 && node.versions.as_ref().is_some_and(|v| v.produce >= 6) {
            let until = now + Duration::from_millis(throttle_ms.unsigned_abs().into());
            tracing::debug!(
                node = node_id,
                throttle_ms,
                "broker throttled this producer (quota)"
            );
            node.throttled_until = Some(node.throttled_until.map_or(until, |t| t.max(until)));
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Java's `NodeLatencyStats`, per broker: when it last had sendable data (`ready`) and when it
/// last could take a request for it (`drain`). A broker whose `ready` runs ahead of its `drain`
/// by more than `partitioner.availability.timeout.ms` has its partitions left out of adaptive
/// partitioning's draw until it drains again.
#[derive(Debug, Default)]
pub(crate) struct NodeLatency(HashMap<NodeId, (Instant, Instant)>);

impl NodeLatency {
    /// `node` had sendable data at `now`; `can_drain`: it could take a request.
    pub(crate) fn update(&mut self, node: NodeId, now: Instant, can_drain: bool) {
        let (ready, drain) = self.0.entry(node).or_insert((now, now));
        *ready = now;
        if can_drain {
            *drain = now;
        }
    }

    /// The brokers that have not been able to take their data for longer than `timeout`.
    pub(crate) fn unavailable(&self, timeout: Duration) -> HashSet<NodeId> {
        self.0
            .iter()
            .filter(|(_, (ready, drain))| ready.saturating_duration_since(*drain) > timeout)
            .map(|(node, _)| *node)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A broker is unavailable once it has had data it could not take for longer than the
    /// timeout, and available again as soon as it takes some.
    #[test]
    fn node_latency_marks_brokers_that_cannot_drain() {
        let start = Instant::now();
        let ms = |n| start + Duration::from_millis(n);
        let mut latency = NodeLatency::default();
        latency.update(1, ms(0), true);
        // First seen unable to drain: counted from then, as if it had drained then (Java).
        latency.update(2, ms(80), false);
        latency.update(1, ms(100), false);
        latency.update(2, ms(100), false);
        let timeout = Duration::from_millis(50);
        assert_eq!(latency.unavailable(timeout), HashSet::from([1]));
        assert!(
            latency.unavailable(Duration::from_millis(100)).is_empty(),
            "not longer than"
        );
        latency.update(1, ms(150), true);
        assert!(latency.unavailable(timeout).is_empty());
    }
}
