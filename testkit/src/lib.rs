//! kafkit's test kit: an in-process Kafka cluster for Rust tests, with declarative fault
//! injection, a journal of every request and response, and direct inspection of what landed
//! on disk.
//!
//! A [`MockCluster`] starts in milliseconds, is `Send + Sync`, works from any
//! `#[tokio::test]` (current-thread or multi-thread) and stops when dropped. Its brokers speak
//! the real wire protocol on loopback ports, so any client (rdkafka, kafkit's producer, a raw
//! [`WireClient`]) can use it, and can also be reached without sockets through
//! [`MockCluster::connect_in_memory`].
//!
//! - **kafkit's producer** ([`MockCluster::producer`], [`MockCluster::producer_config`],
//!   [`InMemoryConnector`]): connected in memory, so under
//!   `#[tokio::test(start_paused = true)]` linger, retry backoff and request timeouts run on
//!   tokio's virtual clock: exact, and instant.
//! - **Security** ([`security`]): [`MockClusterBuilder::tls`](cluster::MockClusterBuilder::tls)
//!   and `mutual_tls` make a CA and certificates in memory ([`TestCa`]); `sasl_plain`,
//!   `sasl_scram` and `sasl_oauthbearer` add users; the journal and faults see each request's
//!   principal.
//! - **Faults** ([`Fault`]): match on ApiKey, broker, topic/partition, client id, principal and
//!   request count; answer an error code (for the whole request or just the matched partitions, which
//!   are then not handled), add latency, report a quota throttle (KIP-219), close the
//!   connection (before or after handling), drop the response after the request took effect,
//!   or hold the request until released. One-shot
//!   by default, `.times(n)` or `.always()`; each [`FaultHandle`] counts its hits, and
//!   [`MockCluster::assert_all_faults_fired`] fails a test whose faults never fired.
//! - **Journal** ([`Journal`]): every request and response decoded, with broker, connection,
//!   client id, principal, version, timing, and what became of the response.
//! - **Inspection**: [`MockCluster::records`] as stored (offsets, timestamps, keys, values,
//!   headers, producer ids and sequences, leader epochs, codec), [`MockCluster::partition_state`],
//!   [`MockCluster::producer_state`], and the bounded [`MockCluster::wait_until`].
//! - **Cluster events**: [`MockCluster::move_leader`], [`MockCluster::set_broker_down`] /
//!   [`set_broker_up`](MockCluster::set_broker_up), [`MockCluster::shuffle_leaders`],
//!   [`MockCluster::restart`] (clean or crash, same ports), topics created, grown
//!   ([`MockCluster::create_partitions`]) and deleted, and [`MockCluster::pin_api_versions`] to
//!   emulate an older broker.
//! - **Targets** ([`Target`]): one scenario, several brokers: the mock, an [`ExternalBroker`]
//!   at `KAFKIT_BOOTSTRAP`, Apache Kafka in Docker (feature `testcontainers`); chosen with
//!   [`TargetKind`] or the rstest [`fixtures`], skipped with a printed reason where
//!   unavailable.
//!
//! Worked examples of each (stored records, a retry after NOT_LEADER_OR_FOLLOWER, a lost
//! response and idempotence, a leader move, linger under paused time, the same test on a real
//! Kafka) are in the crate's `README-section.md`, and run as the `readme` integration tests.
//!
//! # Layout
//! - [`cluster`]: [`MockCluster`], its builder, restarts and cluster events.
//! - [`fault`]: [`Fault`] rules and their [`FaultHandle`]s.
//! - [`in_memory`]: kafkit's producer on in-memory connections ([`InMemoryConnector`],
//!   [`MockCluster::producer`]), deterministic under tokio's paused clock.
//! - [`journal`]: the [`Journal`] of requests and responses and its filters.
//! - [`inspect`]: [`StoredRecord`], [`PartitionInfo`], [`ProducerInfo`].
//! - [`wire`]: [`WireClient`], typed raw requests over any byte stream.
//! - [`target`]: [`Target`], [`TargetKind`], [`ExternalBroker`] and its fetch client, the
//!   Kafka container.
//! - [`fixtures`]: rstest fixtures for each target.
//! - [`security`]: [`TestCa`] and [`CertifiedKey`], the certificates of TLS clusters.
//! - [`error`]: the crate's [`Error`].
//! - `hook.rs`: the broker [`Interceptor`](kafkit_broker::intercept::Interceptor) that runs
//!   faults and writes the journal.
//!
//! # Example
//! kafkit's producer retries a produce that the leader answered with NOT_LEADER_OR_FOLLOWER;
//! the record is stored once, and the fault provably fired.
//! ```
//! use kafkit_producer::ProducerRecord;
//! use kafkit_testkit::{ApiKey, ErrorCode, Fault, MockCluster};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = MockCluster::builder().brokers(3).topic("orders", 6).start().await?;
//! let fault = cluster.fault(
//!     Fault::on(ApiKey::Produce)
//!         .topic_partition("orders", 0)
//!         .respond_error(ErrorCode::NotLeaderOrFollower),
//! );
//! let producer = cluster.producer().await?;
//!
//! let record = ProducerRecord::builder("orders").partition(0).key("k").value("v").build();
//! let sent = producer.send(record).await?.await?; // accepted, then acknowledged
//!
//! assert_eq!(sent.offset, 0);
//! let stored = cluster.records("orders", 0)?;
//! assert_eq!((stored.len(), stored[0].value_str()), (1, Some("v")));
//! assert_eq!(cluster.journal().count(ApiKey::Produce), 2);
//! cluster.assert_all_faults_fired();
//! # Ok(())
//! # }
//! ```
//!
//! The same exchange without a client, request by request, is [`WireClient`]'s example.

pub mod cluster;
pub mod error;
pub mod fault;
pub mod fixtures;
mod hook;
pub mod in_memory;
pub mod inspect;
pub mod journal;
pub mod security;
pub mod target;
pub mod wire;

pub use cluster::{MockCluster, MockClusterBuilder, RestartMode};
pub use error::{Error, Result};
pub use fault::{Fault, FaultHandle};
pub use in_memory::InMemoryConnector;
pub use inspect::{
    CommittedOffset, PartitionInfo, ProducerBatchInfo, ProducerInfo, RecordHeader, StoredRecord, TxnOutcome,
};
pub use journal::{Delivery, Journal, JournalEntry, ProduceRequestInfo, ProducedBatch};
pub use security::{CertifiedKey, TestCa};
pub use target::{ExternalBroker, Target, TargetKind};
pub use wire::WireClient;

pub use kafka_protocol::messages::ApiKey;
pub use kafkit_broker::group::consumer::{ConsumerGroup, ConsumerGroupState, ConsumerMember, MemberState};
pub use kafkit_broker::group::{GroupInfo, GroupState, MemberInfo};
pub use kafkit_broker::response::Response;
pub use kafkit_broker::txn::{TxnState, TxnSummary};
/// The message types, re-exported so tests need not pin the crate themselves.
pub use kafkit_protocol::kafka_protocol;
pub use kafkit_protocol::record::TimestampType;
pub use kafkit_protocol::{Compression, ErrorCode, Request, RequestBody};
