//! The transaction coordinator (KIP-98, as Kafka's `TransactionCoordinator` does it for
//! transaction version 1): transactional ids, their producer ids and epochs, the partitions
//! each ongoing transaction wrote to, and the COMMIT or ABORT markers that end it.
//!
//! # Design
//! - One [`TransactionCoordinator`] per cluster, in [`ClusterState`](crate::ClusterState),
//!   its state behind one mutex, as the group coordinator's.
//! - The coordinator of a transactional id is the leader of partition
//!   `abs(hash(id)) % transaction.state.log.num.partitions` of `__transaction_state` (created
//!   at the first FindCoordinator for a transactional id), as in Kafka.
//! - A transaction that outlives its `transaction.timeout.ms` is aborted by a timer task
//!   ([`run_timers`], on tokio's clock), bumping the producer's epoch to fence it.
//! - Each change is written to `__transaction_state` in Kafka's record schemas (`log.rs`) and
//!   read back at startup; a decision (PrepareCommit/PrepareAbort) is written before its
//!   markers, so a restart in between completes it.
//! - EndTxn writes the markers into every partition of the transaction before it answers:
//!   all nodes share one log per partition, so PrepareCommit/PrepareAbort complete at once
//!   (Kafka sends WriteTxnMarkers to each partition leader and completes asynchronously).
//!
//! - Offsets committed in a transaction (AddOffsetsToTxn, TxnOffsetCommit) are written at once
//!   to `__consumer_offsets` as a transactional batch, held by the group coordinator, and
//!   settled by the transaction's marker there, as in Kafka; see
//!   `group/coordinator/txn_offsets.rs`.
//!
//! # Deviations from Kafka
//! - A transaction left open by a restart stays open, its timeout counted again from the
//!   restart.
//! - Idle transactional ids do not expire (`transactional.id.expiration.ms`).
//! - Transaction version 2 (KIP-890 part 2) is not served, nor advertised (no finalized
//!   `transaction.version` feature), so clients use version 1.
//! - The aborted ranges read_committed fetches need are kept per partition in memory and
//!   rebuilt from the log at startup; the `.txnindex` files (Kafka's layout, for Kafka's
//!   tools) are written beside them and rewritten at startup, never read.
//!
//! # Layout
//! - `coordinator.rs`: [`TransactionCoordinator`] and each transaction's state machine.
//! - `log.rs`: the `__transaction_state` record schemas.

mod coordinator;
mod log;

pub use coordinator::{run_timers, TransactionCoordinator, TxnState, TxnSummary};

/// The topic transactional ids are placed by.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

#[cfg(test)]
mod tests;
