//! Transactions (KIP-98): Java's transactional producer API and its state machine.
//!
//! With `transactional.id` set, the producer is transactional:
//!
//! ```text
//! init_transactions --> begin_transaction --> send* / send_offsets_to_transaction*
//!                                             --> commit_transaction | abort_transaction --> begin_transaction ...
//! ```
//!
//! The state machine is Java's `TransactionManager` (its state names show in errors):
//! UNINITIALIZED, INITIALIZING, READY, IN_TRANSACTION, COMMITTING_TRANSACTION,
//! ABORTING_TRANSACTION, ABORTABLE_ERROR, FATAL_ERROR. The calls change the state and hand the
//! work to the sender task (`driver`), which talks to the transaction coordinator one request
//! at a time, as Java's sender does:
//!
//! - `init_transactions`: FindCoordinator (key type 1), then InitProducerId with the
//!   transactional id and `transaction.timeout.ms`, which fences any older instance of the
//!   same id and aborts or completes its open transaction.
//! - `send` in a transaction: a partition new to the transaction is added with
//!   AddPartitionsToTxn (batched, as Java batches them) before any batch of it is drained;
//!   batches carry the transactional flag and the ProduceRequest the transactional id.
//! - `send_offsets_to_transaction`: AddOffsetsToTxn to the transaction coordinator, then
//!   TxnOffsetCommit to the group's coordinator (found with FindCoordinator, key type 0), with
//!   the consumer's generation, member id and group instance id, so a zombie consumer's
//!   offsets are refused (KIP-447).
//! - `commit_transaction`: sends are refused from the call on, lingering batches go at once
//!   (a flush), and EndTxn(commit) goes once every batch of the transaction has completed. A
//!   transaction in which a record failed cannot commit: the call returns that error and the
//!   transaction must be aborted.
//! - `abort_transaction`: batches not yet sent fail with [`Error::TransactionAborted`], the
//!   ones in flight are waited for, then EndTxn(abort). When the failure broke the idempotent
//!   numbering (a batch refused or lost after it took its sequence), the producer then bumps
//!   its epoch with InitProducerId (KIP-360), as Java does, and stays usable.
//!
//! `close` with a transaction open aborts it, as Java's close does ("Aborting incomplete
//! transaction due to shutdown"): the sender keeps running for the abort, for at most
//! `request.timeout.ms`, after which the coordinator's timeout is left to end it. Dropping the
//! last handle closes gracefully, so it aborts too; `close(Duration::ZERO)` leaves the
//! transaction open, as a crash would, for the coordinator's timeout or the next instance's
//! `init_transactions` to abort.
//!
//! Errors follow Java's three kinds:
//!
//! - retriable (COORDINATOR_LOAD_IN_PROGRESS, CONCURRENT_TRANSACTIONS, NOT_COORDINATOR, a lost
//!   response...): retried by the sender, after `retry.backoff.ms` and a new coordinator lookup
//!   where the code says so; the caller only sees the wait;
//! - abortable ([`Error::TransactionAbortable`]): a record of the transaction failed, a topic
//!   or group was not authorized, the group fenced the consumer's generation,
//!   TRANSACTION_ABORTABLE: sends and commit fail until `abort_transaction` succeeds;
//! - fatal ([`Error::Fatal`]): PRODUCER_FENCED (another instance took the transactional id),
//!   INVALID_PRODUCER_EPOCH from the coordinator, TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
//!   UNSUPPORTED_VERSION, INVALID_TXN_STATE: the producer stops, every later call fails.
//!
//! A call that does not finish within `max.block.ms` returns [`Error::TransactionTimeout`]; the
//! work goes on, and calling the same method again waits for it (Java's rule for
//! `initTransactions`, `commitTransaction` and `abortTransaction`).
//!
//! # Where kafkit differs from Java
//!
//! - Transactions are spoken as Kafka's transaction version 1 (KIP-98, with the server-side
//!   verification of KIP-890 part 1): AddPartitionsToTxn before the first batch of each
//!   partition. Java 4.x clients switch to version 2 (no AddPartitionsToTxn, an epoch bump at
//!   every EndTxn) when the cluster has it; brokers serve both.
//! - Calls are `async` and take `&self`: two tasks may race a `send` against a
//!   `commit_transaction`, as two Java threads may; a send that loses the race is refused.
//!
//! # References
//! - Java's `KafkaProducer` (transactional methods), `TransactionManager`,
//!   `TxnRequestHandler`s; KIP-98, KIP-360, KIP-447, KIP-588, KIP-890
//! - producer-reference §1.6; broker-storage-spec (transaction coordinator)

pub(crate) mod driver;
mod producer_api;
#[cfg(test)]
mod tests;
pub(crate) mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kafkit_protocol::ErrorCode;
use tokio::sync::watch;

use crate::accumulator::TopicPartition;
use crate::error::{Error, Result};

/// What Java's `KafkaConsumer.groupMetadata()` returns: the consumer's group, generation,
/// member id and group instance id, sent with the offsets of a transaction
/// ([`Producer::send_offsets_to_transaction`](crate::Producer::send_offsets_to_transaction))
/// so the group coordinator refuses a consumer that a rebalance has fenced (KIP-447).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    /// The group id.
    pub group_id: String,
    /// The generation the consumer joined (-1: unknown, no fencing by generation).
    pub generation_id: i32,
    /// The member id ("": unknown).
    pub member_id: String,
    /// The static member's `group.instance.id`, if any.
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// Metadata naming only the group (Java's `new ConsumerGroupMetadata(groupId)`): the
    /// coordinator checks no generation.
    pub fn new(group_id: impl Into<String>) -> Self {
        ConsumerGroupMetadata {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }

    /// The consumer's generation and member id, as its group assigned them.
    #[must_use]
    pub fn with_member(mut self, generation_id: i32, member_id: impl Into<String>) -> Self {
        self.generation_id = generation_id;
        self.member_id = member_id.into();
        self
    }

    /// The consumer's `group.instance.id` (static membership).
    #[must_use]
    pub fn with_group_instance_id(mut self, id: impl Into<String>) -> Self {
        self.group_instance_id = Some(id.into());
        self
    }
}

/// An offset to commit in a transaction: the next offset to consume, as Java's
/// `OffsetAndMetadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    /// The offset of the next record to consume.
    pub offset: i64,
    /// The leader epoch of the last record consumed, if known.
    pub leader_epoch: Option<i32>,
    /// Free-form metadata stored with the offset.
    pub metadata: String,
}

impl OffsetAndMetadata {
    /// An offset without leader epoch or metadata.
    pub fn new(offset: i64) -> Self {
        OffsetAndMetadata {
            offset,
            leader_epoch: None,
            metadata: String::new(),
        }
    }
}

/// Java's `TransactionManager.State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Uninitialized,
    Initializing,
    Ready,
    InTransaction,
    Committing,
    Aborting,
    AbortableError,
    Fatal,
}

impl State {
    /// Java's name for the state.
    pub(crate) fn name(self) -> &'static str {
        match self {
            State::Uninitialized => "UNINITIALIZED",
            State::Initializing => "INITIALIZING",
            State::Ready => "READY",
            State::InTransaction => "IN_TRANSACTION",
            State::Committing => "COMMITTING_TRANSACTION",
            State::Aborting => "ABORTING_TRANSACTION",
            State::AbortableError => "ABORTABLE_ERROR",
            State::Fatal => "FATAL_ERROR",
        }
    }
}

/// The calls that hand work to the sender and wait for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Init,
    SendOffsets,
    Commit,
    Abort,
}

impl Operation {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Operation::Init => "init_transactions",
            Operation::SendOffsets => "send_offsets_to_transaction",
            Operation::Commit => "commit_transaction",
            Operation::Abort => "abort_transaction",
        }
    }
}

/// The outcome of an operation, `None` until the sender sets it.
type Outcome = watch::Sender<Option<Result<()>>>;

/// Offsets waiting to go into the transaction.
#[derive(Debug, Clone)]
pub(crate) struct PendingOffsets {
    pub group: ConsumerGroupMetadata,
    pub offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
    /// AddOffsetsToTxn succeeded; TxnOffsetCommit is next.
    pub added: bool,
}

/// The transaction state both sides see: the producer handles (calls, sends) and the sender.
#[derive(Debug)]
pub(crate) struct TxnShared {
    /// `transactional.id`.
    pub transactional_id: String,
    /// `transaction.timeout.ms`.
    pub timeout_ms: i32,
    inner: Mutex<Inner>,
}

/// Guarded by [`TxnShared`]'s lock.
#[derive(Debug)]
pub(crate) struct Inner {
    pub state: State,
    /// The error behind ABORTABLE_ERROR or FATAL_ERROR.
    pub last_error: Option<Error>,
    /// The operation handed to the sender, kept (with its outcome) until a caller has seen the
    /// outcome, so a caller whose wait timed out can wait again.
    pub pending: Option<(Operation, Arc<Outcome>)>,
    /// Partitions in the transaction (AddPartitionsToTxn answered).
    pub partitions: BTreeSet<TopicPartition>,
    /// Partitions sent to in this transaction and not added yet.
    pub new_partitions: BTreeSet<TopicPartition>,
    /// Every partition sent to in this transaction (added or not), by topic: the send path's
    /// lookup, by `&str`.
    pub sent_to: BTreeMap<Arc<str>, BTreeSet<i32>>,
    /// `send_offsets_to_transaction` in progress.
    pub offsets: Option<PendingOffsets>,
    /// Something was added to the transaction on the coordinator (partitions or offsets): an
    /// EndTxn is needed to finish it.
    pub started: bool,
    /// The numbering broke (a sequenced batch failed or was dropped): after the abort, bump
    /// the epoch with InitProducerId (KIP-360).
    pub epoch_bump_required: bool,
}

impl TxnShared {
    pub(crate) fn new(transactional_id: String, timeout: Duration) -> Self {
        TxnShared {
            transactional_id,
            timeout_ms: i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX),
            inner: Mutex::new(Inner {
                state: State::Uninitialized,
                last_error: None,
                pending: None,
                partitions: BTreeSet::new(),
                new_partitions: BTreeSet::new(),
                sent_to: BTreeMap::new(),
                offsets: None,
                started: false,
                epoch_bump_required: false,
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The state now.
    pub(crate) fn state(&self) -> State {
        self.lock().state
    }

    /// Whether a record may be sent now (only in a transaction, Java's `maybeAddPartition`).
    pub(crate) fn check_send(&self) -> Result<()> {
        let inner = self.lock();
        match inner.state {
            State::InTransaction => Ok(()),
            State::AbortableError | State::Fatal => Err(inner.error()),
            state => Err(Error::InvalidTransactionState {
                operation: "send",
                state: state.name(),
            }),
        }
    }

    /// A record for `tp` was appended: the partition joins the transaction before its batches
    /// are drained. Returns whether it is new to the transaction (the sender must add it).
    /// Allocates nothing for a partition already in the transaction (every record but the
    /// first of each partition).
    pub(crate) fn add_partition(&self, topic: &str, partition: i32) -> bool {
        let mut inner = self.lock();
        if inner.sent_to.get(topic).is_some_and(|ps| ps.contains(&partition)) {
            return false;
        }
        let topic: Arc<str> = topic.into();
        inner.sent_to.entry(topic.clone()).or_default().insert(partition);
        inner.new_partitions.insert((topic, partition));
        true
    }

    /// `begin_transaction`: READY to IN_TRANSACTION, locally (Java's `beginTransaction`).
    pub(crate) fn begin(&self) -> Result<()> {
        let mut inner = self.lock();
        inner.forget_seen_outcome();
        match inner.state {
            State::Ready if inner.pending.is_none() => {
                inner.state = State::InTransaction;
                Ok(())
            }
            State::Fatal => Err(inner.error()),
            state => Err(Error::InvalidTransactionState {
                operation: "begin_transaction",
                state: state.name(),
            }),
        }
    }

    /// Starts `op` (or joins it, when a caller's earlier wait for the same `op` timed out);
    /// returns where its outcome will appear. `offsets` go with [`Operation::SendOffsets`].
    pub(crate) fn start(
        &self,
        op: Operation,
        offsets: Option<PendingOffsets>,
    ) -> Result<watch::Receiver<Option<Result<()>>>> {
        let mut inner = self.lock();
        if let Some((pending, outcome)) = &inner.pending {
            if *pending == op {
                return Ok(outcome.subscribe());
            }
            if outcome.borrow().is_none() {
                return Err(Error::InvalidTransactionState {
                    operation: op.name(),
                    state: inner.state.name(),
                });
            }
        }
        inner.pending = None;
        let next = match (op, inner.state) {
            (_, State::Fatal) => return Err(inner.error()),
            (Operation::Init, State::Uninitialized) => State::Initializing,
            (Operation::SendOffsets, State::InTransaction) => {
                inner.offsets = offsets;
                State::InTransaction
            }
            (Operation::Commit, State::InTransaction) => State::Committing,
            (Operation::Abort, State::InTransaction | State::AbortableError) => State::Aborting,
            // Java: "Cannot commit transaction because at least one previous transactional or
            // idempotent request has failed", with that failure as the cause.
            (Operation::Commit | Operation::SendOffsets, State::AbortableError) => return Err(inner.error()),
            (op, state) => {
                return Err(Error::InvalidTransactionState {
                    operation: op.name(),
                    state: state.name(),
                })
            }
        };
        inner.state = next;
        let outcome = Arc::new(watch::channel(None).0);
        let rx = outcome.subscribe();
        inner.pending = Some((op, outcome));
        Ok(rx)
    }

    /// A caller saw `op`'s outcome: the next call starts afresh.
    pub(crate) fn seen(&self, op: Operation) {
        let mut inner = self.lock();
        if inner
            .pending
            .as_ref()
            .is_some_and(|(p, o)| *p == op && o.borrow().is_some())
        {
            inner.pending = None;
        }
    }

    /// The sender stopped: every waiting call learns why.
    pub(crate) fn stopped(&self, error: &Error) {
        let mut inner = self.lock();
        if inner.state != State::Fatal {
            inner.state = State::Fatal;
            inner.last_error = Some(error.clone());
        }
        inner.finish_any(Err(error.clone()));
    }
}

impl Inner {
    /// The error behind ABORTABLE_ERROR or FATAL_ERROR.
    pub(crate) fn error(&self) -> Error {
        self.last_error.clone().unwrap_or(Error::Fatal {
            code: ErrorCode::UnknownServerError,
            reason: "the transaction failed".into(),
        })
    }

    /// Drops an outcome that was set and seen (or will never be looked at again).
    fn forget_seen_outcome(&mut self) {
        if self.pending.as_ref().is_some_and(|(_, o)| o.borrow().is_some()) {
            self.pending = None;
        }
    }

    /// The operation in progress, if its outcome is not set yet.
    pub(crate) fn operation(&self) -> Option<Operation> {
        self.pending
            .as_ref()
            .filter(|(_, o)| o.borrow().is_none())
            .map(|(op, _)| *op)
    }

    /// Sets the outcome of `op` if it is the operation in progress.
    pub(crate) fn finish(&mut self, op: Operation, result: Result<()>) {
        if let Some((pending, outcome)) = &self.pending {
            if *pending == op && outcome.borrow().is_none() {
                outcome.send_replace(Some(result));
            }
        }
    }

    /// Sets the outcome of whatever operation is in progress.
    pub(crate) fn finish_any(&mut self, result: Result<()>) {
        if let Some(op) = self.operation() {
            self.finish(op, result);
        }
    }

    /// The transaction must be aborted (Java's `transitionToAbortableError`). Does nothing once
    /// aborting or failed: the first error is the one reported.
    pub(crate) fn abortable(&mut self, error: Error) {
        match self.state {
            State::InTransaction | State::Committing => {
                tracing::warn!(%error, "transaction must be aborted");
                self.state = State::AbortableError;
                self.last_error = Some(error.clone());
                self.offsets = None;
                self.finish_any(Err(error));
            }
            State::Initializing if self.operation() == Some(Operation::Init) => {
                // Java's `initTransactions` has no abortable state: the call fails.
                self.finish_any(Err(error));
            }
            _ => {}
        }
    }

    /// The producer cannot go on (Java's `transitionToFatalError`).
    pub(crate) fn fatal(&mut self, error: Error) {
        self.state = State::Fatal;
        self.last_error = Some(error.clone());
        self.finish_any(Err(error));
    }

    /// The transaction ended (EndTxn answered, or nothing was started): READY again.
    pub(crate) fn completed(&mut self) {
        self.partitions.clear();
        self.new_partitions.clear();
        self.sent_to.clear();
        self.offsets = None;
        self.started = false;
        self.last_error = None;
        self.state = State::Ready;
    }
}
