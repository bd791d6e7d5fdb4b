//! [`BufferPool`]: the `buffer.memory` budget, handed out per batch, FIFO-fair.
//!
//! Java's `BufferPool` hands out `batch.size` buffers (or a larger one for a larger record) and
//! queues the threads that wait for memory in arrival order. Here the budget is a tokio
//! [`Semaphore`] with one permit per byte: its waiters are served strictly in FIFO order, a
//! large request at the head is not overtaken by small ones, and a permit goes back to the pool
//! when the batch holding it drops. While anyone waits, the accumulator treats every batch as
//! ready, so the sender frees memory as fast as it can (Java's `exhausted` rule).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::error::{Error, Result};

/// The `buffer.memory` budget.
#[derive(Debug)]
pub(crate) struct BufferPool {
    semaphore: Arc<Semaphore>,
    total: usize,
    /// Sends waiting for memory right now.
    waiters: AtomicUsize,
}

/// Decrements the waiter count when a wait ends, however it ends (cancellation included).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl BufferPool {
    /// A pool of `total` bytes.
    pub(crate) fn new(total: usize) -> Self {
        let total = total.min(Semaphore::MAX_PERMITS);
        BufferPool {
            semaphore: Arc::new(Semaphore::new(total)),
            total,
            waiters: AtomicUsize::new(0),
        }
    }

    /// Reserves `size` bytes (at most the whole pool), waiting in FIFO order up to `max_wait`.
    /// A wait wakes the sender through `sender`: while anyone waits every batch is ready, and
    /// a sender asleep until a long `linger.ms` would otherwise free nothing meanwhile.
    /// Cancel safe: a cancelled wait leaves the queue and reserves nothing.
    pub(crate) async fn reserve(
        &self,
        size: usize,
        max_wait: Duration,
        sender: &Notify,
    ) -> Result<OwnedSemaphorePermit> {
        let n = self.permits(size);
        if let Ok(p) = self.semaphore.clone().try_acquire_many_owned(n) {
            return Ok(p);
        }
        self.waiters.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.waiters);
        // After the count: the sender's readiness check must see the waiter.
        sender.notify_one();
        match tokio::time::timeout(max_wait, self.semaphore.clone().acquire_many_owned(n)).await {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(_closed)) => Err(Error::Closed {
                may_have_been_persisted: false,
            }),
            Err(_elapsed) => Err(Error::BufferExhausted { waited: max_wait }),
        }
    }

    /// Reserves `size` bytes now or fails with [`Error::BufferExhausted`]. Does not overtake
    /// waiting sends.
    pub(crate) fn try_reserve(&self, size: usize) -> Result<OwnedSemaphorePermit> {
        match self.semaphore.clone().try_acquire_many_owned(self.permits(size)) {
            Ok(p) => Ok(p),
            Err(TryAcquireError::NoPermits) => Err(Error::BufferExhausted {
                waited: Duration::ZERO,
            }),
            Err(TryAcquireError::Closed) => Err(Error::Closed {
                may_have_been_persisted: false,
            }),
        }
    }

    fn permits(&self, size: usize) -> u32 {
        u32::try_from(size.min(self.total)).unwrap_or(u32::MAX)
    }

    /// Whether a send is waiting for memory.
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiters.load(Ordering::Relaxed) > 0
    }

    /// Bytes reserved by batches now.
    pub(crate) fn used(&self) -> usize {
        self.total.saturating_sub(self.semaphore.available_permits())
    }

    /// Wakes every waiter with [`Error::Closed`].
    pub(crate) fn close(&self) {
        self.semaphore.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waiters_are_served_in_arrival_order() {
        let pool = Arc::new(BufferPool::new(100));
        let held = pool
            .reserve(100, Duration::from_secs(1), &Notify::new())
            .await
            .expect("all of it");
        let big = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.reserve(80, Duration::from_secs(10), &Notify::new())
                    .await
                    .map(|p| p.num_permits())
            }
        });
        tokio::task::yield_now().await;
        assert!(pool.has_waiters());
        // A small request behind the big one must not overtake it.
        assert!(matches!(pool.try_reserve(10), Err(Error::BufferExhausted { .. })));
        drop(held);
        assert_eq!(big.await.expect("task").expect("served"), 80);
        assert!(!pool.has_waiters());
        assert_eq!(pool.used(), 0, "the task dropped its permit");
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_ends_with_buffer_exhausted_after_max_block() {
        let pool = BufferPool::new(10);
        let _held = pool.try_reserve(10).expect("free");
        let start = tokio::time::Instant::now();
        let err = pool
            .reserve(5, Duration::from_millis(250), &Notify::new())
            .await
            .expect_err("exhausted");
        assert_eq!(
            err,
            Error::BufferExhausted {
                waited: Duration::from_millis(250)
            }
        );
        assert_eq!(start.elapsed(), Duration::from_millis(250));
        assert!(!pool.has_waiters());
    }

    /// A send that starts waiting for memory wakes the sender (whose readiness check then
    /// sees the waiter); one that gets its memory at once does not.
    #[tokio::test(start_paused = true)]
    async fn a_wait_for_memory_wakes_the_sender() {
        let pool = Arc::new(BufferPool::new(10));
        let sender = Arc::new(Notify::new());
        let held = pool.reserve(4, Duration::ZERO, &sender).await.expect("free");
        assert!(
            tokio::time::timeout(Duration::from_millis(1), sender.notified())
                .await
                .is_err(),
            "no wait, no wakeup"
        );
        let waiting = tokio::spawn({
            let (pool, sender) = (pool.clone(), sender.clone());
            async move {
                pool.reserve(10, Duration::from_secs(10), &sender)
                    .await
                    .map(|p| p.num_permits())
            }
        });
        tokio::time::timeout(Duration::from_millis(1), sender.notified())
            .await
            .expect("woken");
        assert!(pool.has_waiters());
        drop(held);
        assert_eq!(waiting.await.expect("task").expect("served"), 10);
    }

    #[tokio::test]
    async fn requests_larger_than_the_pool_take_all_of_it() {
        let pool = BufferPool::new(10);
        let p = pool
            .reserve(1000, Duration::ZERO, &Notify::new())
            .await
            .expect("whole pool");
        assert_eq!((p.num_permits(), pool.used()), (10, 10));
    }
}
