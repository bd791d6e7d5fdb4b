//! [`TransactionCoordinator`]: every transactional id of the cluster and its transaction.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kafkit_protocol::ErrorCode;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::log::{self, StoredTxn};
use super::TRANSACTION_STATE_TOPIC;
use crate::cluster::{lock_log, ClusterState};
use crate::group::store;

/// Kafka's transaction states (`TransactionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    /// No transaction yet, or the producer was just initialized.
    Empty,
    /// Partitions were added: a transaction is open.
    Ongoing,
    /// Markers are being written for a commit.
    PrepareCommit,
    /// Markers are being written for an abort.
    PrepareAbort,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted.
    CompleteAbort,
}

impl TxnState {
    /// Kafka's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }
}

#[derive(Debug, Clone)]
struct TxnMetadata {
    producer_id: i64,
    producer_epoch: i16,
    timeout_ms: i32,
    state: TxnState,
    partitions: BTreeSet<(String, i32)>,
    /// Groups whose offsets the transaction commits (AddOffsetsToTxn).
    groups: BTreeSet<String>,
    /// When the open transaction began (on tokio's clock).
    started: Option<Instant>,
    /// When it began, in ms since the epoch (as stored).
    start_ms: i64,
}

impl TxnMetadata {
    fn stored(&self) -> StoredTxn {
        StoredTxn {
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            timeout_ms: self.timeout_ms,
            state: self.state,
            partitions: self.partitions.clone(),
            last_update_ms: crate::handlers::now_ms(),
            start_ms: self.start_ms,
        }
    }
}

/// Writes `transactional_id`'s state to `__transaction_state`. A failure is logged: the
/// coordinator goes on from memory.
fn persist(state: &ClusterState, transactional_id: &str, meta: &TxnMetadata) {
    let Some(partitions) = state
        .metadata()
        .topics
        .get(TRANSACTION_STATE_TOPIC)
        .map(|t| t.partitions.len() as i32)
    else {
        return;
    };
    let record = (log::key(transactional_id), Some(meta.stored().encode()));
    let partition = store::partition_for(transactional_id, partitions);
    if let Err(code) = store::append_to(state, TRANSACTION_STATE_TOPIC, partition, &[record]) {
        tracing::warn!(transactional_id, %code, "could not write the transaction's state");
    }
}

/// A transactional id as the test kit sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnSummary {
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// State.
    pub state: TxnState,
    /// `transaction.timeout.ms` the producer asked for.
    pub timeout_ms: i32,
    /// The partitions of the open transaction.
    pub partitions: Vec<(String, i32)>,
    /// When the open transaction began (ms since the epoch; -1 if none has).
    pub start_ms: i64,
}

/// The cluster's transactional ids.
#[derive(Debug, Default)]
pub struct TransactionCoordinator {
    inner: Mutex<HashMap<String, TxnMetadata>>,
    /// Woken when a transaction opens, for [`run_timers`].
    woken: Notify,
}

/// `transaction.max.timeout.ms`: the longest `transaction.timeout.ms` a producer may ask for.
const MAX_TIMEOUT_MS: i32 = 900_000;

/// A per-partition answer of AddPartitionsToTxn.
pub type PartitionResults = Vec<(String, Vec<(i32, ErrorCode)>)>;

impl TransactionCoordinator {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, TxnMetadata>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The node coordinating `transactional_id`: the leader of its partition of
    /// `__transaction_state`, created first if needed.
    pub fn locate(&self, state: &ClusterState, transactional_id: &str) -> Result<i32, ErrorCode> {
        let partitions = store::ensure_internal_topic(
            state,
            TRANSACTION_STATE_TOPIC,
            state.config().transaction_state_partitions,
        )?;
        let index = store::partition_for(transactional_id, partitions);
        let metadata = state.metadata();
        metadata
            .partition(TRANSACTION_STATE_TOPIC, index)
            .and_then(|p| p.leader)
            .filter(|&l| metadata.is_up(l))
            .ok_or(ErrorCode::CoordinatorNotAvailable)
    }

    /// The partition of `__transaction_state` that keeps `transactional_id` (its leader
    /// coordinates it), if the topic exists.
    pub fn partition_of(&self, state: &ClusterState, transactional_id: &str) -> Option<i32> {
        let metadata = state.metadata();
        let partitions = metadata.topics.get(TRANSACTION_STATE_TOPIC)?.partitions.len();
        Some(store::partition_for(transactional_id, partitions as i32))
    }

    fn check_coordinator(
        state: &ClusterState,
        node_id: i32,
        transactional_id: &str,
    ) -> Result<(), ErrorCode> {
        let metadata = state.metadata();
        let Some(topic) = metadata.topics.get(TRANSACTION_STATE_TOPIC) else {
            return Err(ErrorCode::NotCoordinator);
        };
        let index = store::partition_for(transactional_id, topic.partitions.len() as i32);
        let leads = metadata
            .partition(TRANSACTION_STATE_TOPIC, index)
            .is_some_and(|p| p.leader == Some(node_id));
        if leads && metadata.is_up(node_id) {
            Ok(())
        } else {
            Err(ErrorCode::NotCoordinator)
        }
    }

    /// InitProducerId with a transactional id: a new producer id at epoch 0 for a new id;
    /// for a known one the epoch is bumped (fencing the older producer), after an open
    /// transaction is aborted. KIP-360: a producer id and epoch that are not the current ones
    /// are PRODUCER_FENCED.
    pub fn init_producer(
        &self,
        state: &ClusterState,
        node_id: i32,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ErrorCode> {
        if timeout_ms <= 0 || timeout_ms > MAX_TIMEOUT_MS {
            return Err(ErrorCode::InvalidTransactionTimeout);
        }
        Self::check_coordinator(state, node_id, transactional_id)?;
        let mut inner = self.lock();
        let Some(meta) = inner.get_mut(transactional_id) else {
            let producer_id = state
                .allocate_producer_id()
                .map_err(|_| ErrorCode::CoordinatorLoadInProgress)?;
            inner.insert(
                transactional_id.to_string(),
                TxnMetadata {
                    producer_id,
                    producer_epoch: 0,
                    timeout_ms,
                    state: TxnState::Empty,
                    partitions: BTreeSet::new(),
                    groups: BTreeSet::new(),
                    started: None,
                    start_ms: -1,
                },
            );
            if let Some(meta) = inner.get(transactional_id) {
                persist(state, transactional_id, meta);
            }
            return Ok((producer_id, 0));
        };
        if let Some((pid, epoch)) = expected {
            if pid != meta.producer_id || epoch != meta.producer_epoch {
                return Err(ErrorCode::ProducerFenced);
            }
        }
        if meta.producer_epoch >= i16::MAX - 1 {
            meta.producer_id = state
                .allocate_producer_id()
                .map_err(|_| ErrorCode::CoordinatorLoadInProgress)?;
            meta.producer_epoch = 0;
        } else {
            meta.producer_epoch += 1;
        }
        if meta.state == TxnState::Ongoing {
            tracing::info!(
                transactional_id,
                "aborting the open transaction of a fenced producer"
            );
            write_markers(state, meta, false)?;
            meta.state = TxnState::CompleteAbort;
        }
        meta.timeout_ms = timeout_ms;
        meta.partitions.clear();
        meta.groups.clear();
        if meta.state != TxnState::CompleteAbort {
            meta.state = TxnState::Empty;
        }
        persist(state, transactional_id, meta);
        Ok((meta.producer_id, meta.producer_epoch))
    }

    /// AddPartitionsToTxn for one transaction. With `verify_only` (KIP-890, from brokers)
    /// nothing is added: each partition is NONE if it is in the open transaction, else
    /// INVALID_TXN_STATE.
    pub fn add_partitions(
        &self,
        state: &ClusterState,
        node_id: i32,
        transactional_id: &str,
        producer: (i64, i16),
        topics: &[(String, Vec<i32>)],
        verify_only: bool,
    ) -> PartitionResults {
        let all = |code: ErrorCode| per_partition(topics, |_, _| code);
        if let Err(code) = Self::check_coordinator(state, node_id, transactional_id) {
            return all(code);
        }
        let mut inner = self.lock();
        let Some(meta) = inner.get_mut(transactional_id) else {
            return all(ErrorCode::InvalidProducerIdMapping);
        };
        if let Err(code) = check_producer(meta, producer) {
            return all(code);
        }
        if verify_only {
            let ongoing = meta.state == TxnState::Ongoing;
            return per_partition(topics, |t, p| {
                if ongoing && meta.partitions.contains(&(t.to_string(), p)) {
                    ErrorCode::None
                } else {
                    ErrorCode::InvalidTxnState
                }
            });
        }
        if matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            return all(ErrorCode::ConcurrentTransactions);
        }
        let unknown: Vec<(String, i32)> = {
            let metadata = state.metadata();
            topics
                .iter()
                .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)))
                .filter(|(t, p)| metadata.partition(t, *p).is_none())
                .collect()
        };
        if !unknown.is_empty() {
            return per_partition(topics, |t, p| {
                if unknown.contains(&(t.to_string(), p)) {
                    ErrorCode::UnknownTopicOrPartition
                } else {
                    ErrorCode::OperationNotAttempted
                }
            });
        }
        if meta.state != TxnState::Ongoing {
            meta.partitions.clear();
            meta.groups.clear();
        }
        for (t, ps) in topics {
            for p in ps {
                meta.partitions.insert((t.clone(), *p));
            }
        }
        if meta.state != TxnState::Ongoing {
            meta.started = Some(Instant::now());
            meta.start_ms = crate::handlers::now_ms();
            self.woken.notify_one();
        }
        meta.state = TxnState::Ongoing;
        persist(state, transactional_id, meta);
        all(ErrorCode::None)
    }

    /// AddOffsetsToTxn: the transaction will commit offsets of `group`; the group's partition
    /// of `__consumer_offsets` joins the transaction (and gets its marker).
    pub fn add_offsets(
        &self,
        state: &ClusterState,
        node_id: i32,
        transactional_id: &str,
        producer: (i64, i16),
        group: &str,
    ) -> Result<(), ErrorCode> {
        Self::check_coordinator(state, node_id, transactional_id)?;
        let offsets_partitions = store::ensure_topic(state)?;
        let mut inner = self.lock();
        let meta = inner
            .get_mut(transactional_id)
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        check_producer(meta, producer)?;
        if matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            return Err(ErrorCode::ConcurrentTransactions);
        }
        if meta.state != TxnState::Ongoing {
            meta.partitions.clear();
            meta.groups.clear();
        }
        let partition = store::partition_for(group, offsets_partitions);
        meta.partitions
            .insert((store::OFFSETS_TOPIC.to_string(), partition));
        meta.groups.insert(group.to_string());
        if meta.state != TxnState::Ongoing {
            meta.started = Some(Instant::now());
            meta.start_ms = crate::handlers::now_ms();
            self.woken.notify_one();
        }
        meta.state = TxnState::Ongoing;
        persist(state, transactional_id, meta);
        Ok(())
    }

    /// Whether `producer` has an open transaction that commits offsets of `group`
    /// (TxnOffsetCommit's check).
    pub fn commits_offsets_of(
        &self,
        transactional_id: &str,
        producer: (i64, i16),
        group: &str,
    ) -> Result<(), ErrorCode> {
        let inner = self.lock();
        let meta = inner
            .get(transactional_id)
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        check_producer(meta, producer)?;
        if meta.state == TxnState::Ongoing && meta.groups.contains(group) {
            Ok(())
        } else {
            Err(ErrorCode::InvalidTxnState)
        }
    }

    /// EndTxn: writes a COMMIT or ABORT marker into every partition of the open transaction.
    /// A retried EndTxn of a transaction that already ended the same way is NONE; any other
    /// state is INVALID_TXN_STATE.
    pub fn end_transaction(
        &self,
        state: &ClusterState,
        node_id: i32,
        transactional_id: &str,
        producer: (i64, i16),
        commit: bool,
    ) -> Result<(i64, i16), ErrorCode> {
        Self::check_coordinator(state, node_id, transactional_id)?;
        let mut inner = self.lock();
        let meta = inner
            .get_mut(transactional_id)
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        check_producer(meta, producer)?;
        match (meta.state, commit) {
            (TxnState::Ongoing, _) => {
                meta.state = if commit {
                    TxnState::PrepareCommit
                } else {
                    TxnState::PrepareAbort
                };
                // The decision is recorded before the markers, so a restart in between
                // completes it.
                persist(state, transactional_id, meta);
                let written = write_markers(state, meta, commit);
                meta.state = match (&written, commit) {
                    (Ok(()), true) => TxnState::CompleteCommit,
                    (Ok(()), false) => TxnState::CompleteAbort,
                    (Err(_), _) => TxnState::Ongoing,
                };
                written?;
                meta.partitions.clear();
                meta.groups.clear();
                persist(state, transactional_id, meta);
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => {}
            (TxnState::PrepareCommit | TxnState::PrepareAbort, _) => {
                return Err(ErrorCode::ConcurrentTransactions)
            }
            _ => return Err(ErrorCode::InvalidTxnState),
        }
        Ok((meta.producer_id, meta.producer_epoch))
    }

    /// Runs `append` if a transactional batch of `producer` for `topic`/`partition` may be
    /// appended: its producer has an open transaction with the partition in it (Kafka's
    /// verification, `transaction.partition.verification.enable`). TRANSACTION_ABORTABLE
    /// otherwise (INVALID_TXN_STATE for an unknown transactional id); INVALID_PRODUCER_EPOCH
    /// for an older epoch. The coordinator's lock is held
    /// while `append` runs, so no marker can end the transaction between the check and the
    /// append.
    pub fn append_verified<T>(
        &self,
        transactional_id: &str,
        producer: (i64, i16),
        topic: &str,
        partition: i32,
        append: impl FnOnce() -> T,
    ) -> Result<T, ErrorCode> {
        let inner = self.lock();
        let meta = inner.get(transactional_id).ok_or(ErrorCode::InvalidTxnState)?;
        if meta.producer_id != producer.0 {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if producer.1 < meta.producer_epoch {
            return Err(ErrorCode::InvalidProducerEpoch);
        }
        let added =
            meta.state == TxnState::Ongoing && meta.partitions.contains(&(topic.to_string(), partition));
        if added {
            Ok(append())
        } else {
            // Kafka 4's answer when verification finds the partition outside the transaction:
            // the producer aborts and goes on.
            Err(ErrorCode::TransactionAbortable)
        }
    }

    /// A transactional id's state (for tests and the test kit).
    pub fn transaction(&self, transactional_id: &str) -> Option<TxnSummary> {
        self.lock().get(transactional_id).map(|m| TxnSummary {
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
            state: m.state,
            timeout_ms: m.timeout_ms,
            partitions: m.partitions.iter().cloned().collect(),
            start_ms: m.start_ms,
        })
    }

    /// DescribeTransactions for one id: NOT_COORDINATOR on another node,
    /// TRANSACTIONAL_ID_NOT_FOUND for an id it does not know.
    pub fn describe(
        &self,
        state: &ClusterState,
        node_id: i32,
        transactional_id: &str,
    ) -> Result<TxnSummary, ErrorCode> {
        Self::check_coordinator(state, node_id, transactional_id)?;
        self.transaction(transactional_id)
            .ok_or(ErrorCode::TransactionalIdNotFound)
    }

    /// ListTransactions: the ids this node coordinates, with their producer ids and states,
    /// filtered by state names (unknown names are returned apart), producer ids, how long
    /// their transaction has been open (`min_duration_ms`, -1: any) and a regular expression
    /// the whole id must match.
    pub fn list(
        &self,
        state: &ClusterState,
        node_id: i32,
        states: &[String],
        producer_ids: &[i64],
        min_duration_ms: i64,
        pattern: Option<&regex::Regex>,
    ) -> (Vec<(String, i64, TxnState)>, Vec<String>) {
        const ALL: [TxnState; 6] = [
            TxnState::Empty,
            TxnState::Ongoing,
            TxnState::PrepareCommit,
            TxnState::PrepareAbort,
            TxnState::CompleteCommit,
            TxnState::CompleteAbort,
        ];
        let unknown: Vec<String> = states
            .iter()
            .filter(|s| !ALL.iter().any(|k| k.name() == s.as_str()))
            .cloned()
            .collect();
        let now = crate::handlers::now_ms();
        let inner = self.lock();
        let mut listed: Vec<(String, i64, TxnState)> = inner
            .iter()
            .filter(|(id, _)| Self::check_coordinator(state, node_id, id).is_ok())
            .filter(|(_, m)| states.is_empty() || states.iter().any(|s| s == m.state.name()))
            .filter(|(_, m)| producer_ids.is_empty() || producer_ids.contains(&m.producer_id))
            .filter(|(_, m)| {
                min_duration_ms < 0 || (m.state == TxnState::Ongoing && now - m.start_ms >= min_duration_ms)
            })
            .filter(|(id, _)| pattern.is_none_or(|p| p.is_match(id)))
            .map(|(id, m)| (id.clone(), m.producer_id, m.state))
            .collect();
        listed.sort_by(|a, b| a.0.cmp(&b.0));
        (listed, unknown)
    }
}

/// Each partition of `topics` with the code `code_of` gives it.
fn per_partition(
    topics: &[(String, Vec<i32>)],
    code_of: impl Fn(&str, i32) -> ErrorCode,
) -> PartitionResults {
    topics
        .iter()
        .map(|(t, ps)| (t.clone(), ps.iter().map(|p| (*p, code_of(t, *p))).collect()))
        .collect()
}

/// The producer id must be the transactional id's; an older epoch is fenced.
fn check_producer(meta: &TxnMetadata, (producer_id, epoch): (i64, i16)) -> Result<(), ErrorCode> {
    if producer_id != meta.producer_id {
        return Err(ErrorCode::InvalidProducerIdMapping);
    }
    if epoch < meta.producer_epoch {
        return Err(ErrorCode::ProducerFenced);
    }
    if epoch > meta.producer_epoch {
        return Err(ErrorCode::InvalidProducerEpoch);
    }
    Ok(())
}

/// Writes the transaction's marker into each of its partitions, in their current leader
/// epochs (coordinator epoch 0). NOT_COORDINATOR if a partition cannot be written.
fn write_markers(state: &ClusterState, meta: &TxnMetadata, commit: bool) -> Result<(), ErrorCode> {
    let now = crate::handlers::now_ms();
    for (topic, partition) in &meta.partitions {
        let (log, leader_epoch) = {
            let metadata = state.metadata();
            match metadata.partition(topic, *partition) {
                Some(p) => (p.log.clone(), p.leader_epoch),
                // A deleted topic has nothing to mark.
                None => continue,
            }
        };
        let written = lock_log(&log).append_marker(
            meta.producer_id,
            meta.producer_epoch,
            commit,
            0,
            leader_epoch,
            now,
        );
        if let Err(e) = written {
            tracing::error!(topic, partition, error = %e, "could not write a transaction marker");
            return Err(ErrorCode::NotCoordinator);
        }
    }
    // The offsets the transaction committed become visible (or are dropped), as the marker
    // in `__consumer_offsets` decides (also for a transaction reloaded after a restart, whose
    // groups the coordinator's own log does not name).
    state.groups().complete_transaction(meta.producer_id, commit);
    state.appended().notify_waiters();
    Ok(())
}

impl TransactionCoordinator {
    /// Aborts every open transaction older than its `transaction.timeout.ms`, bumping its
    /// producer's epoch so that the producer, if it is still alive, is fenced (Kafka's
    /// `abortTimedOutTransactions`). Returns when the next transaction would time out.
    fn abort_timed_out(&self, state: &ClusterState) -> Option<Instant> {
        let now = Instant::now();
        let mut inner = self.lock();
        let mut next: Option<Instant> = None;
        for (id, meta) in inner.iter_mut() {
            let Some(started) = meta.started.filter(|_| meta.state == TxnState::Ongoing) else {
                continue;
            };
            let deadline = started + Duration::from_millis(u64::try_from(meta.timeout_ms).unwrap_or(0));
            if deadline > now {
                next = Some(next.map_or(deadline, |n| n.min(deadline)));
                continue;
            }
            tracing::info!(transactional_id = %id, "aborting a transaction that outlived its timeout");
            meta.producer_epoch = meta.producer_epoch.saturating_add(1);
            if write_markers(state, meta, false).is_ok() {
                meta.state = TxnState::CompleteAbort;
                meta.partitions.clear();
                meta.groups.clear();
                meta.started = None;
                persist(state, id, meta);
            } else {
                next = Some(now + Duration::from_secs(1));
            }
        }
        next
    }
}

/// The timer task: aborts transactions when they outlive their timeout, until `shutdown`
/// turns true. Deadlines are on tokio's clock.
pub async fn run_timers(state: Arc<ClusterState>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let next = state.transactions().abort_timed_out(&state);
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = sleep => {}
            () = state.transactions().woken.notified() => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}

impl TransactionCoordinator {
    /// Rebuilds every transactional id from `__transaction_state` (at startup): the last
    /// record of each id wins. A transaction that was deciding (PrepareCommit, PrepareAbort)
    /// gets its markers now; an open one stays open, its timeout counted from now.
    pub(crate) fn load(&self, state: &ClusterState) -> crate::Result<()> {
        let mut latest: HashMap<String, Option<StoredTxn>> = HashMap::new();
        for (_, _, key, value) in store::read_topic(state, TRANSACTION_STATE_TOPIC)? {
            let Some(id) = key.as_deref().and_then(log::decode_key) else {
                continue;
            };
            latest.insert(id, value.as_deref().and_then(StoredTxn::decode));
        }
        let mut inner = self.lock();
        let now = Instant::now();
        for (id, stored) in latest {
            let Some(stored) = stored else { continue };
            let mut meta = TxnMetadata {
                producer_id: stored.producer_id,
                producer_epoch: stored.producer_epoch,
                timeout_ms: stored.timeout_ms,
                state: stored.state,
                partitions: stored.partitions,
                groups: BTreeSet::new(),
                started: (stored.state == TxnState::Ongoing).then_some(now),
                start_ms: stored.start_ms,
            };
            let deciding = match meta.state {
                TxnState::PrepareCommit => Some(true),
                TxnState::PrepareAbort => Some(false),
                _ => None,
            };
            if let Some(commit) = deciding {
                if write_markers(state, &meta, commit).is_ok() {
                    meta.state = if commit {
                        TxnState::CompleteCommit
                    } else {
                        TxnState::CompleteAbort
                    };
                    meta.partitions.clear();
                    persist(state, &id, &meta);
                }
            }
            inner.insert(id, meta);
        }
        if !inner.is_empty() {
            tracing::info!(transactional_ids = inner.len(), "loaded transactions");
        }
        Ok(())
    }
}
