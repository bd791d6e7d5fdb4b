//! kafkit's broker: a small Kafka-compatible broker that stores partitions in Kafka's own
//! on-disk format, so the test kit can run real producers against it in-process and read back
//! exactly what landed on disk.
//!
//! # Layout
//! - [`cluster`]: [`Cluster`] (N nodes on loopback ports, one shared set of logs) and its state.
//! - [`config`]: [`ClusterConfig`] and per-topic [`TopicConfig`](config::TopicConfig).
//! - [`server`]: listeners and the per-connection loop (any byte stream, not only TCP).
//! - [`handlers`]: one module per API, in ApiKey order, and the frame-to-response path.
//! - [`response`]: [`Response`](response::Response), a handler's typed answer before encoding.
//! - [`intercept`]: the [`Interceptor`](intercept::Interceptor) hook on every request (faults,
//!   journals and counters are built on it in the test kit).
//! - [`log_validator`]: Kafka's produce validation and its error codes.
//! - [`storage`]: partition logs — segments, indexes, recovery, leader epochs, producer state.
//! - [`dump_log`]: the `kafkit-broker dump-log` report.
//! - [`error`]: the crate's [`error::Error`], each variant mapped to its Kafka error code.
//!
//! # Example
//! ```
//! use kafkit_broker::storage::{partition_dir, LogConfig, PartitionLog};
//! use kafkit_protocol::RecordBatchBuilder;
//! use kafkit_protocol::Compression;
//!
//! let data_dir = tempfile::tempdir()?;
//! let dir = partition_dir(data_dir.path(), "orders", 0)?;
//! let mut log = PartitionLog::open(dir, LogConfig::default(), true, 0)?;
//!
//! let mut builder = RecordBatchBuilder::new(Compression::None);
//! builder.append(1_700_000_000_000, None, Some(b"hi"), &[]);
//! let mut batch = builder.build()?.to_vec();
//! let info = log.append_as_leader(&mut batch, 0, 1_700_000_000_001)?;
//! assert_eq!((info.first_offset, log.log_end_offset()), (0, 1));
//!
//! let fetched = log.read(0, 1 << 20, true)?;
//! assert_eq!(&fetched.records[..], &batch[..]);
//! log.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cluster;
pub mod config;
pub mod dump_log;
pub mod error;
pub mod handlers;
pub mod intercept;
pub mod log_validator;
pub mod response;
pub mod server;
pub mod storage;

pub use cluster::{Cluster, ClusterState};
pub use config::ClusterConfig;
pub use error::{Error, Result};
