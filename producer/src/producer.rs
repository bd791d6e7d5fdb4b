//! [`Producer`]: the handle applications send through.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafkit_protocol::record::{Header, BATCH_HEADER_LEN};
use kafkit_protocol::RecordBatchBuilder;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;

use crate::accumulator::{Appended, RecordAccumulator};
use crate::config::ProducerConfig;
use crate::connection::connector::{Connector, TcpConnector};
use crate::connection::ConnectionParams;
use crate::delivery::DeliveryFuture;
use crate::error::{Error, Result};
use crate::metadata::{ClusterMetadata, TopicMetadata};
use crate::metrics::{Counters, ProducerMetrics};
use crate::partitioner::partition_for_key;
use crate::record::ProducerRecord;
use crate::sender::{Sender, Shared};
use crate::transaction::TxnShared;

mod keyless;

use self::keyless::KeylessPath;

/// An async Kafka producer. Cheap to clone: clones share one sender task, one buffer and one
/// set of connections.
///
/// # Dropping
///
/// Dropping the last clone closes the producer gracefully: new sends are impossible, and the
/// sender task keeps running in the background until every accepted record is delivered or has
/// failed (at the latest after `delivery.timeout.ms`); each [`DeliveryFuture`] still resolves.
/// Nothing accepted is silently dropped. Two caveats: the task runs on the tokio runtime the
/// producer was created in, so if that runtime shuts down first, the records still pending fail
/// with [`Error::Closed`] (their futures resolve, nothing hangs); and nobody waits for the
/// background delivery, so a program that exits right after dropping the producer loses what
/// was still pending. Call [`close`](Producer::close) (or [`flush`](Producer::flush)) before
/// exiting to know the outcome.
#[derive(Debug, Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

/// The part shared by clones; dropping it (the last clone) closes the producer.
#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    /// Metadata as the sender last published it.
    metadata: watch::Receiver<Arc<ClusterMetadata>>,
    /// The path of keyless records (built-in partitioner), one lock per record.
    keyless: Mutex<KeylessPath>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Graceful: the sender delivers what was accepted, then stops.
        self.shared.accumulator.close();
    }
}

impl Producer {
    /// Starts a producer connecting over TCP, and waits (up to `max.block.ms`) until a broker
    /// from `bootstrap.servers` has answered a metadata request.
    pub async fn connect(config: ProducerConfig) -> Result<Producer> {
        Self::with_connector(config, Arc::new(TcpConnector)).await
    }

    /// Starts a producer whose connections are opened by `connector` (the test kit's in-memory
    /// transport, TLS, a proxy...), and waits as [`connect`](Self::connect) does.
    pub async fn with_connector(config: ProducerConfig, connector: Arc<dyn Connector>) -> Result<Producer> {
        let mut params = ConnectionParams::new(
            config.client_id().to_string(),
            config.request_timeout(),
            connector,
        );
        params.security = crate::security::ConnectionSecurity::new(config.security())?;
        let params = Arc::new(params);
        let shared = Arc::new(Shared {
            accumulator: RecordAccumulator::new(
                config.batch_size(),
                config.linger(),
                config.codec(),
                config.buffer_memory(),
            )
            // As Java: a custom partitioner turns the measurements off.
            .with_adaptive(config.partitioner_adaptive() && config.partitioner().is_none()),
            new_topics: Mutex::new(Vec::new()),
            counters: Counters::default(),
            fatal: Default::default(),
            force_close: Default::default(),
            stopped: watch::channel(false).0,
            txn: config
                .transactional_id()
                .map(|id| Arc::new(TxnShared::new(id.to_string(), config.transaction_timeout()))),
            config,
        });
        let (sender, mut metadata) = Sender::new(shared.clone(), params);
        let span = tracing::info_span!("kafkit_producer", client_id = %shared.config.client_id());
        // Detached: the task ends by itself (see `Sender::run`); `Shared::stopped` reports it.
        tokio::spawn(sender.run().instrument(span));
        let keyless = KeylessPath::new(
            shared.config.batch_size(),
            shared.config.partitioner_seed(),
            metadata.clone(),
            shared.accumulator.load.clone(),
        );
        let producer = Producer {
            inner: Arc::new(Inner {
                shared,
                metadata: metadata.clone(),
                keyless: Mutex::new(keyless),
            }),
        };
        let max_block = producer.inner.shared.config.max_block();
        // The watch guard `wait_for` returns is dropped at once: held across the `close`
        // below, it would make this future `!Send` (unusable in `tokio::spawn`).
        let bootstrapped = tokio::time::timeout(max_block, metadata.wait_for(|m| !m.brokers.is_empty()))
            .await
            .map(|waited| waited.map(drop));
        match bootstrapped {
            Ok(Ok(_)) => Ok(producer),
            Ok(Err(_)) => Err(producer.stopped_error()),
            Err(_) => {
                producer.close(Duration::ZERO).await;
                let servers = producer.inner.shared.config.bootstrap_servers();
                let list: Vec<String> = servers.iter().map(|(h, p)| format!("{h}:{p}")).collect();
                Err(Error::Connection {
                    broker: list.join(","),
                    reason: format!("no metadata from bootstrap.servers within {max_block:?} (max.block.ms)"),
                })
            }
        }
    }

    /// The error after the sender stopped: its fatal error, else `Closed`.
    fn stopped_error(&self) -> Error {
        self.inner.shared.fatal.get().cloned().unwrap_or(Error::Closed {
            may_have_been_persisted: false,
        })
    }

    /// The state shared with the sender task.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// The configuration in use (after validation).
    pub fn config(&self) -> &ProducerConfig {
        &self.inner.shared.config
    }

    /// Sends a record. Returns once the record is accepted: its partition is chosen (waiting for
    /// the topic's metadata if needed) and its batch has `buffer.memory` (waiting FIFO-fairly
    /// when memory is short). Both waits together are bounded by `max.block.ms`, after which the
    /// send fails with [`Error::MetadataTimeout`] or [`Error::BufferExhausted`] and nothing was
    /// sent. The returned [`DeliveryFuture`] resolves when the record is acknowledged.
    ///
    /// Cancel safe: if this future is dropped before it completes, the record was not accepted.
    /// Records sent one after another from one task to one partition are stored in that order,
    /// retries included, when idempotence is on (the default) or
    /// `max.in.flight.requests.per.connection` is 1; otherwise a retry can reorder them, as in
    /// Java.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        // A send that finds room returns without waiting, so a loop of sends would never give
        // the sender and connection tasks a turn on a current-thread runtime (records would
        // pile up to buffer.memory before the first request). Tokio's cooperative budget makes
        // the caller yield every so many sends (128 per turn): the caller, the sender and the
        // connections then share one thread without cross-thread wakeups.
        tokio::task::coop::consume_budget().await;
        let max_block = self.inner.shared.config.max_block();
        let headers = headers(&record);
        // The monotonic clock is read only when the send has to wait for metadata.
        let (prepared, waited) = match self.prepare_now(&record, &headers) {
            Ok(Route::Appended(future)) => return Ok(future),
            Ok(Route::Prepared(prepared)) => (prepared, Duration::ZERO),
            Err(Error::MetadataTimeout { .. }) => {
                let start = Instant::now();
                let prepared = self.prepare(&record, start + max_block).await?;
                (prepared, start.elapsed())
            }
            Err(e) => return Err(e),
        };
        let shared = &self.inner.shared;
        let appended = shared
            .accumulator
            .append(
                &record.topic,
                prepared.partition,
                prepared.timestamp,
                record.key.as_deref(),
                record.value.as_deref(),
                &headers,
                max_block.saturating_sub(waited),
            )
            .await?;
        Ok(self.accepted(&record.topic, &prepared, appended))
    }

    /// Sends a record without waiting: fails at once with [`Error::BufferExhausted`] when
    /// `buffer.memory` is short, and with [`Error::MetadataTimeout`] (zero wait) when the topic's
    /// metadata is not known yet (the producer starts fetching it, so a later call can succeed),
    /// or with [`Error::UnknownPartition`] for a partition beyond those known now (likewise).
    pub fn try_send(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        let headers = headers(&record);
        let prepared = match self.prepare_now(&record, &headers) {
            Ok(Route::Appended(future)) => return Ok(future),
            Ok(Route::Prepared(prepared)) => prepared,
            Err(e @ Error::MetadataTimeout { .. }) => {
                return Err(missing_partition(&record, &self.inner.metadata.borrow()).unwrap_or(e))
            }
            Err(e) => return Err(e),
        };
        let appended = self.inner.shared.accumulator.append_now(
            &record.topic,
            prepared.partition,
            prepared.timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            &headers,
        )?;
        Ok(self.accepted(&record.topic, &prepared, appended))
    }

    /// Waits until every record sent before the call has completed (delivered or failed; the
    /// outcome is in each record's [`DeliveryFuture`]). Records sent meanwhile are not waited
    /// for. Lingering batches are sent at once. Cancel safe.
    pub async fn flush(&self) {
        let acc = &self.inner.shared.accumulator;
        let upto = acc.incomplete.next_id();
        let _flushing = acc.begin_flush();
        acc.incomplete.wait_below(upto).await;
    }

    /// Closes the producer: new sends fail with [`Error::Closed`], everything accepted is sent
    /// at once, and the call returns when all of it completed or `timeout` elapsed; then what is
    /// left fails with [`Error::Closed`] (saying whether it may have been written). Every clone
    /// is closed. `Duration::ZERO` fails the pending records at once.
    ///
    /// A transactional producer with a transaction open aborts it first (see
    /// [`transaction`](crate::transaction)).
    ///
    /// Every caller waits (clones closing together all return once the producer has stopped).
    /// Cancel safe: dropping the future leaves the producer closing (gracefully, unless the
    /// timeout had already forced it).
    pub async fn close(&self, timeout: Duration) {
        let shared = &self.inner.shared;
        shared.accumulator.close();
        let mut stopped = shared.stopped.subscribe();
        if tokio::time::timeout(timeout, stopped.wait_for(|s| *s))
            .await
            .is_err()
        {
            shared
                .force_close
                .store(true, std::sync::atomic::Ordering::Relaxed);
            shared.accumulator.wakeup.notify_one();
            let _ = stopped.wait_for(|s| *s).await;
        }
    }

    /// The producer's counters now.
    pub fn metrics(&self) -> ProducerMetrics {
        let shared = &self.inner.shared;
        shared
            .counters
            .snapshot(shared.accumulator.pool.used(), shared.config.buffer_memory())
    }

    /// The number of partitions of `topic`, waiting up to `max.block.ms` for its metadata.
    pub async fn partition_count(&self, topic: &str) -> Result<i32> {
        let deadline = Instant::now() + self.inner.shared.config.max_block();
        let mut rx = self.inner.metadata.clone();
        loop {
            if let Some(t) = rx.borrow_and_update().topic(topic) {
                return Ok(t.partitions.len() as i32);
            }
            self.request_topic(topic);
            self.wait_for_metadata(&mut rx, topic, deadline).await?;
        }
    }

    fn check_open(&self) -> Result<()> {
        let shared = &self.inner.shared;
        if let Some(e) = shared.fatal.get() {
            return Err(e.clone());
        }
        if shared.accumulator.is_closed() {
            return Err(Error::Closed {
                may_have_been_persisted: false,
            });
        }
        if let Some(txn) = &shared.txn {
            txn.check_send()?;
        }
        Ok(())
    }

    fn check_size(&self, record: &ProducerRecord, headers: &[Header<'_>]) -> Result<()> {
        let size = RecordBatchBuilder::record_size_upper_bound(
            record.key.as_deref(),
            record.value.as_deref(),
            headers,
        ) + BATCH_HEADER_LEN;
        let config = &self.inner.shared.config;
        for (limit, limit_key) in [
            (config.max_request_size(), "max.request.size"),
            (config.buffer_memory(), "buffer.memory"),
        ] {
            if size > limit {
                return Err(Error::RecordTooLarge {
                    size,
                    limit,
                    limit_key,
                });
            }
        }
        Ok(())
    }

    /// Chooses the record's partition, waiting for its topic's metadata until `deadline`.
    async fn prepare(&self, record: &ProducerRecord, deadline: Instant) -> Result<Prepared> {
        let mut rx = self.inner.metadata.clone();
        loop {
            // An `Arc`, not the watch's guard: the keyless path may read the watch itself, and a
            // read lock taken twice by one thread deadlocks once the sender waits to write.
            let cluster = rx.borrow_and_update().clone();
            if let Some(prepared) = self.choose_partition(record, &cluster)? {
                return Ok(prepared);
            }
            self.request_topic(&record.topic);
            if let Err(e) = self.wait_for_metadata(&mut rx, &record.topic, deadline).await {
                return Err(missing_partition(record, &rx.borrow()).unwrap_or(e));
            }
            self.check_open()?;
        }
    }

    /// Validates the record and chooses its partition without waiting: a topic not in metadata
    /// yet is [`Error::MetadataTimeout`] (and its metadata is requested). A keyless record for
    /// the built-in partitioner is appended at once when its partition has an open batch with
    /// room (the common case).
    fn prepare_now(&self, record: &ProducerRecord, headers: &[Header<'_>]) -> Result<Route> {
        self.check_open()?;
        self.check_size(record, headers)?;
        let routed = if self.is_sticky(record) {
            self.keyless_append(record, headers)?
        } else {
            // Under the watch's read guard: `choose_partition` takes the keyless path (which
            // reads the watch too) only for sticky records, which do not come here.
            self.choose_partition(record, &self.inner.metadata.borrow())?
                .map(Route::Prepared)
        };
        if let Some(route) = routed {
            return Ok(route);
        }
        self.request_topic(&record.topic);
        Err(Error::MetadataTimeout {
            topic: record.topic.to_string(),
            waited: Duration::ZERO,
        })
    }

    /// Whether the built-in sticky partitioner chooses `record`'s partition.
    fn is_sticky(&self, record: &ProducerRecord) -> bool {
        let config = &self.inner.shared.config;
        record.partition.is_none()
            && config.partitioner().is_none()
            && (record.key.is_none() || config.partitioner_ignore_keys())
    }

    /// The fast path of a keyless record (see [`KeylessPath`]): under one lock, chooses the
    /// sticky partition, appends to its open batch and counts the bytes for KIP-794's switch.
    /// When the partition has no open batch with room, returns the choice for the general path
    /// (which may wait for memory); `None` when the topic is not in metadata yet.
    fn keyless_append(&self, record: &ProducerRecord, headers: &[Header<'_>]) -> Result<Option<Route>> {
        let accumulator = &self.inner.shared.accumulator;
        let mut path = self.keyless_path();
        let routed = path.with_topic(&record.topic, |mut topic| {
            let partition = topic.partition();
            let prepared = Prepared {
                partition,
                timestamp: record.timestamp.unwrap_or_else(now_ms),
                sticky: true,
            };
            let appended = topic.with_queue(accumulator, partition, |queue| {
                accumulator.try_append_to(
                    queue,
                    prepared.timestamp,
                    record.key.as_deref(),
                    record.value.as_deref(),
                    headers,
                )
            });
            match appended {
                Ok(Some(appended)) => {
                    topic.record_append(partition, appended.bytes, appended.last_batch_full);
                    Ok((prepared, Some(appended)))
                }
                Ok(None) => Ok((prepared, None)),
                Err(e) => Err(e),
            }
        })?;
        drop(path);
        Ok(match routed.transpose()? {
            None => None,
            Some((prepared, None)) => Some(Route::Prepared(prepared)),
            Some((prepared, Some(appended))) => Some(Route::Appended(self.handed_out(
                &record.topic,
                &prepared,
                appended,
            ))),
        })
    }

    fn keyless_path(&self) -> MutexGuard<'_, KeylessPath> {
        self.inner.keyless.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The partition for `record`, or `None` if its topic is not in metadata yet. For a sticky
    /// record it takes the keyless path's lock, which may read the metadata watch: the caller
    /// must not hold a guard of that watch then.
    fn choose_partition(
        &self,
        record: &ProducerRecord,
        cluster: &ClusterMetadata,
    ) -> Result<Option<Prepared>> {
        let Some(topic) = usable_topic(cluster, &record.topic)? else {
            return Ok(None);
        };
        let count = topic.partitions.len() as i32;
        let config = &self.inner.shared.config;
        let (partition, sticky) = match (record.partition, config.partitioner(), record.key.as_deref()) {
            (Some(p), _, _) => {
                if p < 0 {
                    return Err(Error::UnknownPartition {
                        topic: record.topic.to_string(),
                        partition: p,
                        partitions: count,
                    });
                }
                if p >= count {
                    // Java's `waitOnMetadata`: partitions may have been added since the last
                    // refresh (CreatePartitions), so refresh and wait rather than fail.
                    return Ok(None);
                }
                (p, false)
            }
            (None, Some(custom), key) => {
                let p = custom.partition(&record.topic, key, record.value.as_deref(), count);
                if p < 0 || p >= count {
                    return Err(Error::UnknownPartition {
                        topic: record.topic.to_string(),
                        partition: p,
                        partitions: count,
                    });
                }
                (p, false)
            }
            (None, None, Some(key)) if !config.partitioner_ignore_keys() => {
                (partition_for_key(key, count), false)
            }
            (None, None, _) => {
                let sticky = self.keyless_path().with_topic(&record.topic, |t| t.partition())?;
                match sticky {
                    Some(partition) => (partition, true),
                    None => return Ok(None),
                }
            }
        };
        let timestamp = record.timestamp.unwrap_or_else(now_ms);
        Ok(Some(Prepared {
            partition,
            timestamp,
            sticky,
        }))
    }

    /// Tells the sender to fetch `topic`'s metadata.
    fn request_topic(&self, topic: &str) {
        let shared = &self.inner.shared;
        let mut topics = shared.new_topics.lock().unwrap_or_else(|e| e.into_inner());
        if !topics.iter().any(|t| &**t == topic) {
            topics.push(Arc::from(topic));
        }
        drop(topics);
        shared.accumulator.wakeup.notify_one();
    }

    async fn wait_for_metadata(
        &self,
        rx: &mut watch::Receiver<Arc<ClusterMetadata>>,
        topic: &str,
        deadline: Instant,
    ) -> Result<()> {
        let waited = self.inner.shared.config.max_block();
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(self.stopped_error()),
            Err(_) => Err(Error::MetadataTimeout {
                topic: topic.to_string(),
                waited,
            }),
        }
    }

    /// After the append: feed the sticky partitioner, wake the sender, hand out the future.
    fn accepted(&self, topic: &str, prepared: &Prepared, appended: Appended) -> DeliveryFuture {
        if prepared.sticky {
            // The topic left metadata meanwhile (`Ok(None)`) or errs: nothing to count.
            let _ = self.keyless_path().with_topic(topic, |mut t| {
                t.record_append(prepared.partition, appended.bytes, appended.last_batch_full)
            });
        }
        self.handed_out(topic, prepared, appended)
    }

    /// Wakes the sender if the append asks for it and hands out the record's future. In a
    /// transaction, the partition joins it.
    fn handed_out(&self, topic: &str, prepared: &Prepared, appended: Appended) -> DeliveryFuture {
        if let Some(txn) = &self.inner.shared.txn {
            if txn.add_partition(topic, prepared.partition) {
                self.inner.shared.accumulator.wakeup.notify_one();
            }
        }
        if appended.wake_sender {
            self.inner.shared.accumulator.wakeup.notify_one();
        }
        DeliveryFuture::new(appended.shared, appended.index, prepared.timestamp)
    }
}

/// Where [`Producer::prepare_now`] left a record.
enum Route {
    /// Appended already (the keyless fast path).
    Appended(DeliveryFuture),
    /// Partition chosen; the append is still to do.
    Prepared(Prepared),
}

/// [`Error::UnknownPartition`] when `record` names a partition beyond those its topic has in
/// `cluster` (and the topic has some): what a send reports once waiting for metadata to show
/// the partition is over.
fn missing_partition(record: &ProducerRecord, cluster: &ClusterMetadata) -> Option<Error> {
    let partition = record.partition?;
    let count = cluster.topic(&record.topic)?.partitions.len() as i32;
    (count > 0 && partition >= count).then(|| Error::UnknownPartition {
        topic: record.topic.to_string(),
        partition,
        partitions: count,
    })
}

/// `topic`'s metadata if it has partitions; `None` if it is not known (yet); an error if the
/// last refresh reported a non-retriable error for it.
fn usable_topic<'a>(cluster: &'a ClusterMetadata, topic: &str) -> Result<Option<&'a TopicMetadata>> {
    if let Some(t) = cluster.topic(topic).filter(|t| !t.partitions.is_empty()) {
        return Ok(Some(t));
    }
    if let Some(&code) = cluster.topic_errors.get(topic) {
        if !code.is_retriable() {
            return Err(Error::Broker {
                topic: topic.to_string(),
                partition: -1,
                code,
                message: None,
                may_have_been_persisted: false,
            });
        }
    }
    Ok(None)
}

/// A record's destination, chosen before the append.
struct Prepared {
    partition: i32,
    timestamp: i64,
    /// Chosen by the sticky partitioner, which learns the appended bytes afterwards.
    sticky: bool,
}

fn headers(record: &ProducerRecord) -> Vec<Header<'_>> {
    record
        .headers
        .iter()
        .map(|h| Header {
            key: h.key.as_bytes(),
            value: h.value.as_deref(),
        })
        .collect()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: T) {}

    /// Every public future can be spawned: none keeps a non-`Send` guard across an `.await`.
    #[test]
    fn public_futures_are_send() {
        let config = ProducerConfig::builder("localhost:9092").build().expect("config");
        assert_send(Producer::with_connector(config.clone(), Arc::new(TcpConnector)));
        assert_send(Producer::connect(config));
        // Type-checked, never called: these need a running producer.
        let _ = |p: &Producer, record: ProducerRecord| {
            assert_send(p.send(record));
            assert_send(p.flush());
            assert_send(p.close(Duration::ZERO));
            assert_send(p.partition_count("t"));
            assert_send(p.init_transactions());
            assert_send(p.commit_transaction());
            assert_send(p.abort_transaction());
            let group = crate::ConsumerGroupMetadata::new("g");
            let offsets = [(("t".to_string(), 0), crate::OffsetAndMetadata::new(1))];
            assert_send(p.send_offsets_to_transaction(offsets, &group));
        };
    }
}
