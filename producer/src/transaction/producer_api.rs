//! The transactional methods of [`Producer`].

use std::time::Duration;

use tokio::sync::watch;

use super::{ConsumerGroupMetadata, OffsetAndMetadata, Operation, PendingOffsets, TxnShared};
use crate::error::{Error, Result};
use crate::producer::Producer;

impl Producer {
    /// The transaction state, or the error a non-transactional producer answers with.
    fn transactions(&self, operation: &'static str) -> Result<&TxnShared> {
        let shared = self.shared();
        if let Some(e) = shared.fatal.get() {
            return Err(e.clone());
        }
        shared.txn.as_deref().ok_or(Error::InvalidTransactionState {
            operation,
            state: "not transactional (no transactional.id)",
        })
    }

    /// Hands `op` to the sender and waits for it, up to `max.block.ms`.
    async fn run(&self, op: Operation, offsets: Option<PendingOffsets>) -> Result<()> {
        let txn = self.transactions(op.name())?;
        let rx = txn.start(op, offsets)?;
        self.shared().accumulator.wakeup.notify_one();
        let max_block = self.config().max_block();
        let result = wait(rx, max_block).await;
        match result {
            Some(result) => {
                txn.seen(op);
                result
            }
            None => Err(Error::TransactionTimeout {
                operation: op.name(),
                waited: max_block,
            }),
        }
    }

    /// Registers the `transactional.id` with its coordinator (Java's `initTransactions`): finds
    /// the coordinator, gets a producer id and epoch, fences any older producer with the same
    /// id and waits until the coordinator has finished that producer's open transaction.
    /// Called once, before the first transaction.
    ///
    /// Errors: [`Error::TransactionTimeout`] after `max.block.ms` (call again to keep waiting);
    /// [`Error::Fatal`] if the coordinator refuses the id (authorization, an invalid
    /// `transaction.timeout.ms`, no transaction support);
    /// [`Error::InvalidTransactionState`] on a producer without `transactional.id`, or after a
    /// successful init.
    ///
    /// ```no_run
    /// # async fn example() -> kafkit_producer::Result<()> {
    /// use kafkit_producer::{Producer, ProducerConfig, ProducerRecord};
    ///
    /// let config = ProducerConfig::builder("localhost:9092")
    ///     .transactional_id(Some("orders-writer-1".into()))
    ///     .build()?;
    /// let producer = Producer::connect(config).await?;
    /// producer.init_transactions().await?;
    ///
    /// producer.begin_transaction()?;
    /// producer.send(ProducerRecord::new("orders", "a")).await?;
    /// producer.send(ProducerRecord::new("orders", "b")).await?;
    /// match producer.commit_transaction().await {
    ///     Ok(()) => {}
    ///     // A record failed: the transaction cannot commit; abort it and start over.
    ///     Err(kafkit_producer::Error::TransactionAbortable { .. }) => producer.abort_transaction().await?,
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn init_transactions(&self) -> Result<()> {
        self.run(Operation::Init, None).await
    }

    /// Starts a transaction (Java's `beginTransaction`). Local: nothing is sent until the first
    /// record or offsets.
    ///
    /// Errors: [`Error::InvalidTransactionState`] before `init_transactions`, inside a
    /// transaction, or while one is committing or aborting; the fatal error after one.
    pub fn begin_transaction(&self) -> Result<()> {
        self.transactions("begin_transaction")?.begin()
    }

    /// Adds a consumer's offsets to the transaction (Java's `sendOffsetsToTransaction`): they
    /// are committed for `group` if and only if the transaction commits. `group` is the
    /// consumer's group metadata; with its generation and member id the coordinator refuses
    /// offsets from a consumer that a rebalance fenced (an abortable error).
    ///
    /// Offsets are the next offsets to consume, per partition.
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: impl IntoIterator<Item = ((String, i32), OffsetAndMetadata)>,
        group: &ConsumerGroupMetadata,
    ) -> Result<()> {
        let offsets: Vec<_> = offsets
            .into_iter()
            .map(|((topic, partition), offset)| ((topic.as_str().into(), partition), offset))
            .collect();
        if offsets.is_empty() {
            // Java sends nothing for an empty map, but checks the state.
            let txn = self.transactions(Operation::SendOffsets.name())?;
            return match txn.check_send() {
                Err(Error::InvalidTransactionState { state, .. }) => Err(Error::InvalidTransactionState {
                    operation: Operation::SendOffsets.name(),
                    state,
                }),
                other => other,
            };
        }
        let pending = PendingOffsets {
            group: group.clone(),
            offsets,
            added: false,
        };
        self.run(Operation::SendOffsets, Some(pending)).await
    }

    /// Commits the transaction (Java's `commitTransaction`): refuses further sends, sends what
    /// is lingering, waits until every record of the transaction is acknowledged, then asks
    /// the coordinator to commit. Returns once the commit is decided and written.
    ///
    /// Errors: [`Error::TransactionAbortable`] if a record or the offsets failed (call
    /// [`abort_transaction`](Self::abort_transaction)); [`Error::TransactionTimeout`] after
    /// `max.block.ms` (call again to keep waiting; the commit goes on); [`Error::Fatal`] if the
    /// producer was fenced.
    pub async fn commit_transaction(&self) -> Result<()> {
        self.run(Operation::Commit, None).await
    }

    /// Aborts the transaction (Java's `abortTransaction`): records not sent yet fail with
    /// [`Error::TransactionAborted`], records in flight are waited for, then the coordinator
    /// writes ABORT markers. Afterwards the producer can begin a new transaction.
    ///
    /// Errors: [`Error::TransactionTimeout`] after `max.block.ms` (call again); [`Error::Fatal`]
    /// if the producer was fenced.
    pub async fn abort_transaction(&self) -> Result<()> {
        self.run(Operation::Abort, None).await
    }
}

/// Waits for an operation's outcome, up to `max_block`; `None` on timeout.
async fn wait(mut rx: watch::Receiver<Option<Result<()>>>, max_block: Duration) -> Option<Result<()>> {
    let waited = tokio::time::timeout(max_block, rx.wait_for(Option::is_some)).await;
    match waited {
        Ok(Ok(outcome)) => outcome.clone(),
        // The sender dropped the outcome without setting it: it stopped.
        Ok(Err(_)) => Some(Err(Error::Closed {
            may_have_been_persisted: false,
        })),
        Err(_) => None,
    }
}
