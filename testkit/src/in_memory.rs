//! kafkit's producer wired to a [`MockCluster`] without sockets: [`InMemoryConnector`] and the
//! `MockCluster::producer*` helpers.
//!
//! A producer built here opens every connection with
//! [`MockCluster::connect_in_memory_to`], mapping the `host:port` it read from
//! `bootstrap.servers` or Metadata to the node listening there. Nothing waits on the operating
//! system, so under `#[tokio::test(start_paused = true)]` the whole exchange (linger,
//! retry backoff, request timeouts, the broker's fault delays) runs on tokio's virtual clock:
//! when every task is idle the clock jumps to the next timer, and a test that waits out a
//! 30 s request timeout finishes in milliseconds, the same way every run.
//!
//! ```
//! use std::time::Duration;
//! use kafkit_testkit::{ApiKey, MockCluster};
//! use kafkit_producer::ProducerRecord;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), kafkit_testkit::Error> {
//! let cluster = MockCluster::builder().topic("orders", 1).start().await?;
//! let producer = cluster
//!     .in_memory_producer(cluster.producer_config().linger(Duration::from_secs(5)).build()?)
//!     .await?;
//! let start = tokio::time::Instant::now();
//! let mut deliveries = Vec::new();
//! for i in 0..3 {
//!     deliveries.push(producer.send(ProducerRecord::new("orders", format!("v{i}"))).await?);
//! }
//! for delivery in deliveries {
//!     delivery.await?;
//! }
//! // One request carried the three records, after 5 virtual seconds of linger.
//! assert_eq!(cluster.journal().produce_requests()[0].record_count(), 3);
//! assert!(start.elapsed() >= Duration::from_secs(5));
//! # Ok(())
//! # }
//! ```

use std::io;
use std::sync::{Arc, Weak};

use kafkit_producer::{
    BoxTransport, ConnectFuture, Connector, Producer, ProducerConfig, ProducerConfigBuilder,
};

use crate::cluster::Nodes;
use crate::{Error, MockCluster, Result};

/// Seed given to the sticky partitioner of producers configured by
/// [`MockCluster::producer_config`], so keyless records land on the same partitions in every
/// run.
pub const PARTITIONER_SEED: u64 = 0x6b61_666b_6974;

/// A producer [`Connector`] that reaches a [`MockCluster`]'s nodes through in-memory
/// connections instead of TCP; see the [module docs](self).
///
/// It holds the cluster weakly: once the `MockCluster` is dropped, connecting fails with
/// `ConnectionRefused`, as it would against a stopped broker. While the cluster restarts, or
/// while the node is down, a connection is refused or closed at once, and the producer retries
/// after `reconnect.backoff.ms`.
#[derive(Debug, Clone)]
pub struct InMemoryConnector {
    nodes: Weak<Nodes>,
}

impl InMemoryConnector {
    fn open(&self, host: &str, port: u16) -> io::Result<BoxTransport> {
        let refused = |reason: String| io::Error::new(io::ErrorKind::ConnectionRefused, reason);
        let nodes = self
            .nodes
            .upgrade()
            .ok_or_else(|| refused(format!("{host}:{port}: the mock cluster was dropped")))?;
        match nodes.connect_to(&format!("{host}:{port}")) {
            Ok(stream) => Ok(Box::new(stream)),
            Err(e) => Err(refused(format!("{host}:{port}: {e}"))),
        }
    }
}

impl Connector for InMemoryConnector {
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> ConnectFuture<'a> {
        // Opened when polled, so the connection task is spawned on the producer's runtime.
        Box::pin(async move { self.open(host, port) })
    }
}

impl MockCluster {
    /// A [`Connector`] for kafkit's producer (or any client built on that trait) that reaches
    /// this cluster without sockets; see [`InMemoryConnector`].
    pub fn in_memory_connector(&self) -> InMemoryConnector {
        InMemoryConnector {
            nodes: Arc::downgrade(self.nodes()),
        }
    }

    /// A producer configuration for this cluster: Java's defaults, `bootstrap.servers` set to
    /// [`bootstrap_servers`](Self::bootstrap_servers), and the sticky partitioner seeded with
    /// [`PARTITIONER_SEED`] so that keyless records are placed the same way in every run.
    /// Change anything before `.build()`; use it with [`in_memory_producer`](Self::in_memory_producer)
    /// or, over TCP, with [`Producer::connect`].
    ///
    /// Adaptive partitioning (Java's default) also weighs each new draw by how many batches
    /// the partitions have queued, which depends on when the producer's sender runs: exact
    /// under `#[tokio::test(start_paused = true)]` with the in-memory producer, timing-dependent
    /// on a real clock. Set `partitioner.adaptive.partitioning.enable=false` where keyless
    /// placement must depend on the records alone.
    ///
    /// On a cluster built with TLS or SASL it also carries
    /// [`client_properties`](Self::client_properties) (`security.protocol`, the CA); add the
    /// SASL credentials.
    pub fn producer_config(&self) -> ProducerConfigBuilder {
        let mut builder =
            ProducerConfig::builder(self.bootstrap_servers()).partitioner_seed(PARTITIONER_SEED);
        for (key, value) in self.client_properties() {
            builder = builder.set(&key, &value);
        }
        builder
    }

    /// A producer with [`producer_config`](Self::producer_config)'s settings, connected in
    /// memory; returns once it has read the cluster's metadata.
    pub async fn producer(&self) -> Result<Producer> {
        self.in_memory_producer(self.producer_config().build()?).await
    }

    /// A producer with `config`, connected in memory (whatever its `bootstrap.servers` names
    /// must be this cluster's addresses); returns once it has read the cluster's metadata.
    pub async fn in_memory_producer(&self, config: ProducerConfig) -> Result<Producer> {
        Producer::with_connector(config, Arc::new(self.in_memory_connector()))
            .await
            .map_err(Error::from)
    }
}
