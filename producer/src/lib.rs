//! kafkit's async Kafka producer, with the Java client's semantics.
//!
//! Java's configuration keys and 4.x defaults (`acks=all`, idempotence on, `linger.ms=5`,
//! `batch.size=16384`, ...), Java's partitioning bit for bit, Java's batching, retry,
//! ordering and error classification, on tokio, without C dependencies. Records go out in
//! record batch v2 built by [`kafkit_protocol`]; requests and responses are
//! [`kafka_protocol`] messages at versions negotiated with each broker.
//!
//! ```text
//! send(record) --> partitioner --> RecordAccumulator --(ready: full | linger | flush | memory pressure)-->
//!   Sender task --(one ProduceRequest per broker, <= max.in.flight pipelined)--> broker
//!   <-- response: success -> complete each record's DeliveryFuture; retriable -> re-enqueue in order
//!                 with backoff (refresh metadata when the code says so); fatal -> fail
//! ```
//!
//! Sending is two-phase: [`Producer::send`] returns once the record is *accepted* (partition
//! chosen, `buffer.memory` reserved, waiting FIFO-fairly up to `max.block.ms`), and the
//! [`DeliveryFuture`] it returns resolves once the record is *acknowledged*, to a
//! [`RecordMetadata`] or a cloneable [`Error`] that says whether the record may nevertheless
//! have been written ([`Error::may_have_been_persisted`]). Awaiting only the first phase per
//! record and the second phase later keeps many records in flight.
//!
//! # Where kafkit differs from Java's producer
//!
//! Decisions the architecture leaves open, written down:
//!
//! - **Config**: an unknown key is an [`Error::Config`] (Java logs a warning): a typo must not
//!   silently fall back to a default. Only the keys listed in [`config`] are accepted.
//! - **Connect**: [`Producer::connect`] waits (up to `max.block.ms`) for a first metadata
//!   answer, so an unreachable `bootstrap.servers` is reported at once rather than as a
//!   `send` timeout later.
//! - **Batch fullness** is measured on uncompressed bytes (Java estimates the compressed size),
//!   so compressed batches are at most `batch.size` before compression.
//! - **MESSAGE_TOO_LARGE** splits a batch into pieces of at most `batch.size` *and* at most half
//!   the rejected batch, so the split always makes progress (Java splits at `batch.size` only).
//! - **Epoch bumps** (idempotence) are applied once no request of the affected partition is on
//!   the wire, so an answer to the old numbering never meets the new one.
//! - **Partitioning** is Java's, KIP-794's adaptive weighting and
//!   `partitioner.availability.timeout.ms` included (see [`partitioner`]), except that the
//!   random draws can be seeded ([`ProducerConfigBuilder::partitioner_seed`]).
//! - **Metadata** for a topic the cluster lacks is re-requested only while a `send` waits for
//!   it; partitions without a leader trigger a refresh only when they hold records.
//! - **Quota throttling** (KIP-219): after a Produce response with `throttle_time_ms` (v6 and
//!   later), no produce request goes to that broker until the time has passed, as in Java;
//!   other requests (metadata, InitProducerId) are not held back.
//! - **Transactions** ([`transaction`]) are Java's API and rules, spoken as Kafka's transaction
//!   version 1 (AddPartitionsToTxn per partition) even where the cluster offers version 2.
//! - **Security** ([`security`]): TLS (rustls, PEM trust and key material, the platform's
//!   roots by default) and SASL PLAIN, SCRAM-SHA-256/512 and OAUTHBEARER with Java's keys; a
//!   refused handshake or login is the fatal [`Error::Authentication`], reported by
//!   [`Producer::connect`] at once. Both run over whatever the [`Connector`] opens. Sessions with a
//!   lifetime are renewed on the connection (KIP-368). Not implemented: GSSAPI (Kerberos),
//!   encrypted PEM keys, JKS and PKCS12 stores.
//!
//! # Performance
//!
//! `cargo bench -p kafkit-producer --bench throughput` sends 500,000 keyless 100-byte records
//! with kafkit and with librdkafka's `BaseProducer` (rust-rdkafka) to one librdkafka mock
//! cluster, in the same run. On a shared 2-core VM, 4 runs of each configuration with other
//! builds running (load average 1.7-2.2) and 4 on a quieter machine (0.4-1.3), best of 3
//! rounds per run, kafkit / librdkafka:
//!
//! | acks, compression | kafkit, records/s, loaded | ratio, loaded | ratio, quieter |
//! |---|---:|---:|---:|
//! | all, none | 2.44-2.79 M | 2.02-2.24x | 2.12-3.10x |
//! | 1, none | 2.43-2.63 M | 2.02-2.25x | 2.16-3.17x |
//! | all, lz4 | 2.16-2.68 M | 1.94-2.09x | 2.61-3.06x |
//! | 1, lz4 | 2.53-2.71 M | 2.00-2.12x | 2.83-3.07x |
//!
//! Keyed records (`KEYS=1000`, librdkafka with `partitioner=murmur2_random`, Java's hash),
//! acks=all, no compression: 2.08-2.16x over 3 runs.
//!
//! The caller's task runs `send` for every record, so its cost bounds throughput
//! (`cargo bench -p kafkit-producer --bench send_path` times it alone: about 300 ns for a
//! keyless record on that VM, 400 ns for a keyed one). A keyless record takes one lock for
//! the sticky partition choice, the append and KIP-794's byte count (as Java's accumulator
//! does under its deque lock), then its partition queue's lock; no allocation, no reference
//! count per record but the future's. Its timestamp is read from the wall clock per record,
//! as Java's `System.currentTimeMillis()` (about 33 ns, a tenth of the send): a cached clock
//! would be cheaper but could stamp a record earlier than a clock read the caller made before
//! sending it, which `offsetsForTimes`-style lookups would notice.
//!
//! # Memory
//!
//! `buffer.memory` bounds the record data: a batch reserves `batch.size` (or the size of a
//! larger record, which gets a batch of its own) before it is created, its buffer is exactly
//! that size, and the reservation is released only after the buffer is freed. Requests do not
//! copy batches: a Produce frame is written from the batches' own buffers (vectored writes),
//! as Java's network layer does. Besides `buffer.memory` the producer holds:
//!
//! - per batch, about 420 bytes of bookkeeping: its slot in the partition queue (256 B), its
//!   completion cell (136 B), its flush registration; about 2.6% of `batch.size` = 16 KiB;
//! - per broker connection, a 64 KiB read buffer (responses are decoded from their own copy,
//!   so none keeps it alive), two small tasks and their channels;
//! - metadata, the sender task, the keyless path's per-topic state: a few KB;
//! - while the sender compresses a batch (one at a time): its uncompressed and compressed
//!   buffers together, and the codec's working memory (lz4: about 145 KiB, `lz4_flex`'s
//!   64 KiB block buffers and 16 KiB hash table). A compressed batch keeps only what its
//!   output needs (a codec's output buffer grows by doubling; the rest is given back);
//! - nothing per record: a [`DeliveryFuture`] (24 bytes, the caller's) shares its batch's
//!   completion cell, which lives as long as the batch or its last future.
//!
//! `tests/memory.rs` measures it with a counting allocator: with `buffer.memory` = 1 MiB, one
//! broker and 50,000 to 200,000 records (5 to 20 times `buffer.memory`) under backpressure (a
//! broker answering 50 ms late, or a connection limited to 8 MB/s), the producer's peak heap is
//! 133-162 KB above `buffer.memory` (12 runs), about the same for 4 times as many records: 64
//! KiB of read buffer, 27 KiB of per-batch bookkeeping, the rest tasks, channels and maps.
//! Records larger than `batch.size` (20 KB) give the same picture (130-143 KB; before their
//! buffers were sized to their reservation, they grew past it by doubling: 800 KB above).
//! With lz4 on incompressible values: 317-341 KB (before compressed batches gave back their
//! unused output buffer: 545-553 KB). The test allows 256 KiB, plus 192 KiB with lz4.
//!
//! # Layout
//! - `accumulator` (private): per-partition batch queues, `buffer.memory`, readiness, drain.
//! - `backoff` (private): exponential backoff with jitter (KIP-580).
//! - [`config`]: [`ProducerConfig`], Java's keys, defaults and validation.
//! - `connection` (private): one task per broker connection, ApiVersions negotiation
//!   (KIP-511), pipelining; the public [`Connector`] seam chooses the transport.
//! - `delivery` (private): [`DeliveryFuture`].
//! - [`error`]: [`Error`], what can go wrong.
//! - `idempotence` (private): producer id, epoch and sequence numbers (KIP-98, KIP-360).
//! - `metadata` (private): brokers and partition leaders, refreshes, KIP-951 leader hints.
//! - [`metrics`]: [`ProducerMetrics`], counters.
//! - [`partitioner`]: Java-exact partitioning (murmur2 for keys, KIP-794 sticky for null keys),
//!   and the [`Partitioner`] trait for custom ones.
//! - `producer` (private): [`Producer`], the handle.
//! - `record` (private): [`ProducerRecord`], [`RecordMetadata`].
//! - `sender` (private): the I/O task: requests, responses, retries, expiry.
//! - [`transaction`]: Java's transactional API on [`Producer`], its state machine, and the
//!   sender's side (coordinator requests, one at a time).
//!
//! # Example
//! ```no_run
//! use std::time::Duration;
//! use kafkit_producer::{Producer, ProducerConfig, ProducerRecord};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), kafkit_producer::Error> {
//! let config = ProducerConfig::from_properties([
//!     ("bootstrap.servers", "localhost:9092"),
//!     ("compression.type", "lz4"),
//! ])?;
//! let producer = Producer::connect(config).await?;
//!
//! // Accept many records first, then collect their outcomes.
//! let mut deliveries = Vec::new();
//! for i in 0..1000 {
//!     let record = ProducerRecord::builder("orders").key(format!("customer-{}", i % 10)).value("{}").build();
//!     deliveries.push(producer.send(record).await?);
//! }
//! for delivery in deliveries {
//!     let metadata = delivery.await?;
//!     println!("{}-{}@{}", metadata.topic, metadata.partition, metadata.offset);
//! }
//! producer.close(Duration::from_secs(30)).await;
//! # Ok(())
//! # }
//! ```

mod accumulator;
mod backoff;
pub mod config;
mod connection;
mod delivery;
pub mod error;
mod idempotence;
mod metadata;
pub mod metrics;
pub mod partitioner;
mod producer;
mod record;
pub mod security;
mod sender;
pub mod transaction;

pub use config::{Acks, Compression, ProducerConfig, ProducerConfigBuilder};
pub use connection::connector::{BoxTransport, ConnectFuture, Connector, TcpConnector, Transport};
pub use delivery::DeliveryFuture;
pub use error::{Error, Result};
pub use metrics::ProducerMetrics;
pub use partitioner::Partitioner;
pub use producer::Producer;
pub use record::{ProducerRecord, ProducerRecordBuilder, RecordHeader, RecordMetadata};
pub use security::{SecurityProtocol, TokenProvider};
pub use transaction::{ConsumerGroupMetadata, OffsetAndMetadata};
