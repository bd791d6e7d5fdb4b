//! kafkit's broker: a small Kafka-compatible broker that stores partitions in Kafka's own
//! on-disk format, so the test kit can run real producers against it in-process and read back
//! exactly what landed on disk.
//!
//! # Layout
//! - [`cluster`]: [`Cluster`] (N nodes on loopback ports, one shared set of logs) and its state.
//! - [`config`]: [`ClusterConfig`] and per-topic [`TopicConfig`](config::TopicConfig).
//! - [`server`]: listeners and the per-connection loop (any byte stream, not only TCP).
//! - [`auth`]: listeners' security (`listeners`, TLS, SASL PLAIN/SCRAM/OAUTHBEARER, principals);
//!   the connection loop answers SaslHandshake and SaslAuthenticate through it, not through
//!   the handlers or the interceptor.
//! - [`handlers`]: one module per API, in ApiKey order, and the frame-to-response path.
//! - [`txn`]: the transaction coordinator (transactional ids, markers).
//! - [`group`]: the group coordinator (classic consumer groups, committed offsets,
//!   `__consumer_offsets`); the group handlers are thin calls into it.
//! - [`response`]: [`Response`](response::Response), a handler's typed answer before encoding.
//! - [`intercept`]: the [`Interceptor`](intercept::Interceptor) hook on every request (faults,
//!   journals and counters are built on it in the test kit).
//! - [`log_validator`]: Kafka's produce validation and its error codes.
//! - [`storage`]: partition logs — segments, indexes, recovery, leader epochs, producer state.
//! - [`dump_log`]: the `kafkit-broker dump-log` report.
//! - [`error`]: the crate's [`error::Error`], each variant mapped to its Kafka error code.
//!
//! # Adding an API
//! Every place a new Kafka API touches, in the order a change goes through them (CreatePartitions,
//! ApiKey 37, went through all of them):
//! 1. `protocol/src/versions.rs`: its range in [`SUPPORTED_APIS`](kafkit_protocol::versions::SUPPORTED_APIS)
//!    (this also feeds ApiVersions), checked against what current clients send
//!    (reference/protocol-and-clients.md). Never advertise an API before it is served.
//! 2. `protocol/src/request.rs` and `protocol/src/response.rs`: the `RequestBody` variant and its
//!    decode arm; the response in `guarded_responses!`; the round-trip tests' lists; samples
//!    for every served version in `request/samples.rs` and `response/samples.rs`.
//! 3. `protocol/src/wire_shape/requests.rs` and `responses.rs`: the decode-guard shape, so a
//!    hostile array count is refused before kafka-protocol reserves memory for it.
//! 4. `broker/src/handlers/<api>.rs`: the handler, with the module header (versions,
//!    `# Behaviour` with every deviation from Kafka, `# Version notes`); its `pub mod` and its
//!    match arm in [`handlers::handle_request`]; tests in `handlers/tests.rs`. A new
//!    subsystem gets a module tree of its own and keeps the handler thin (as [`group`] does
//!    for the ten group APIs).
//! 5. `broker/src/response.rs`: the [`Response`](response::Response) variant and its arms
//!    (`api_key`, `set_throttle_time_ms`, `encode`).
//! 6. `broker/src/intercept/errors.rs` (a whole-request error answer of the right shape) and, if
//!    the API names partitions or topics, `intercept/partitions.rs` (per-partition faults).
//! 7. The test kit: what the request touches in `testkit/src/hook.rs` (`touched`, for faults
//!    by topic), and anything the journal should decode (`testkit/src/journal.rs`).
//! 8. A real client against it (`broker/tests/rdkafka_roundtrip.rs`) and the differential
//!    conformance suite against Apache Kafka; the README's client table and deviations.
//!
//! # Example
//! ```
//! use kafkit_broker::storage::{partition_dir, LogConfig, PartitionLog};
//! use kafkit_protocol::RecordBatchBuilder;
//! use kafkit_protocol::record::RecordBatch;
//! use kafkit_protocol::Compression;
//!
//! let data_dir = tempfile::tempdir()?;
//! let dir = partition_dir(data_dir.path(), "orders", 0)?;
//! let mut log = PartitionLog::open(dir, LogConfig::default(), true, 0)?;
//!
//! let mut builder = RecordBatchBuilder::new(Compression::None);
//! builder.append(1_700_000_000_000, None, Some(b"hi"), &[]);
//! let batch = builder.build()?.to_vec();
//! let info = log.append_as_leader(&batch, 0, 1_700_000_000_001)?;
//! assert_eq!((info.first_offset, log.log_end_offset()), (0, 1));
//!
//! let fetched = log.read(0, 1 << 20, true)?;
//! // Stored with its offset and leader epoch stamped, the records as sent.
//! let stored = RecordBatch::parse(&fetched.records)?;
//! assert_eq!((stored.base_offset(), stored.partition_leader_epoch()), (0, 0));
//! assert_eq!(stored.records_bytes(), RecordBatch::parse(&batch)?.records_bytes());
//! log.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod auth;
pub mod cluster;
pub mod config;
pub mod dump_log;
pub mod error;
pub mod group;
pub mod handlers;
pub mod intercept;
pub mod log_validator;
pub mod response;
pub mod server;
pub mod storage;
pub mod txn;

pub use cluster::{Cluster, ClusterState};
pub use config::ClusterConfig;
pub use error::{Error, Result};
