//! [`DeliveryFuture`]: the second phase of a send, resolving when the record's batch is
//! acknowledged or fails.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::accumulator::batch::{BatchShared, Outcome};
use crate::error::Error;
use crate::record::RecordMetadata;

/// Resolves to where a record landed, or why it did not.
///
/// Returned by [`Producer::send`](crate::Producer::send) once the record is accepted. The
/// record is delivered whether or not this future is polled or kept; dropping it only gives up
/// the answer. Cancel safe.
#[must_use = "the future only reports the outcome; drop it explicitly if the outcome does not matter"]
pub struct DeliveryFuture {
    /// The batch holding the record (after a split: the piece holding it).
    batch: Arc<BatchShared>,
    /// The record's index in `batch`.
    index: i32,
    /// The timestamp the record was sent with (CreateTime).
    timestamp: i64,
}

impl fmt::Debug for DeliveryFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryFuture")
            .field("topic", &self.batch.topic)
            .field("partition", &self.batch.partition)
            .field("index", &self.index)
            .finish()
    }
}

impl DeliveryFuture {
    pub(crate) fn new(batch: Arc<BatchShared>, index: i32, timestamp: i64) -> Self {
        DeliveryFuture {
            batch,
            index,
            timestamp,
        }
    }

    /// The partition the record was assigned to.
    pub fn partition(&self) -> i32 {
        self.batch.partition
    }

    /// The outcome if it is known, without waiting.
    pub fn try_result(&self) -> Option<Result<RecordMetadata, Error>> {
        let (batch, index) = self.locate();
        batch.outcome().map(|o| self.resolve(batch, index, o))
    }

    /// The batch holding the record now (following splits) and the record's index in it.
    fn locate(&self) -> (&Arc<BatchShared>, i32) {
        let (mut batch, mut index) = (&self.batch, self.index);
        while let Some(Outcome::Split(children)) = batch.outcome() {
            let Some((first, child)) = children.iter().rev().find(|(first, _)| *first <= index) else {
                break;
            };
            index -= first;
            batch = child;
        }
        (batch, index)
    }

    fn resolve(&self, batch: &BatchShared, index: i32, outcome: &Outcome) -> Result<RecordMetadata, Error> {
        match outcome {
            Outcome::Done {
                base_offset,
                log_append_time,
            } => Ok(RecordMetadata {
                topic: batch.topic.clone(),
                partition: batch.partition,
                offset: if *base_offset < 0 {
                    -1
                } else {
                    base_offset + i64::from(index)
                },
                timestamp: if *log_append_time >= 0 {
                    *log_append_time
                } else {
                    self.timestamp
                },
            }),
            Outcome::Failed(e) => Err(e.clone()),
            // Invariant: `locate` ran first and a split always has a piece at index 0.
            Outcome::Split(_) => Err(Error::Protocol("record lost in a batch split".into())),
        }
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (batch, index) = this.locate();
        match batch.poll_outcome(cx) {
            Poll::Ready(Outcome::Split(_)) => {
                // Split between `locate` and the poll: look again at once.
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Ready(outcome) => Poll::Ready(this.resolve(batch, index, outcome)),
            Poll::Pending => Poll::Pending,
        }
    }
}
