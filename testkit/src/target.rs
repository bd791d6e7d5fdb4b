//! Targets: one scenario, several brokers. A [`Target`] is somewhere a test can produce to and
//! read back from: the in-process [`MockCluster`], an [`ExternalBroker`] at a bootstrap
//! address (`KAFKIT_BOOTSTRAP`), or Apache Kafka itself ([`start_kafka`]: a running one, a
//! [`KafkaProcess`] started from its jars, or a `KafkaContainer` with the `testcontainers`
//! feature). A scenario written against `&dyn Target` runs unchanged on each;
//! what only the mock can do (faults, inspection of broker state) is asked for with
//! [`Target::supports_faults`] / [`Target::mock`], so the scenario skips it elsewhere.
//!
//! ```
//! use kafkit_producer::ProducerRecord;
//! use kafkit_testkit::target::{Target, TargetKind};
//!
//! /// Written once; runs on every target.
//! async fn keeps_order(target: &dyn Target) -> Result<(), Box<dyn std::error::Error>> {
//!     let topic = target.create_unique_topic("orders", 1).await?;
//!     let producer = target.producer().await?;
//!     for i in 0..5 {
//!         producer.send(ProducerRecord::new(topic.clone(), format!("{i}"))).await?;
//!     }
//!     producer.flush().await;
//!     let values: Vec<_> = target.read_partition(&topic, 0).await?
//!         .iter().map(|r| r.value_str().unwrap_or_default().to_string()).collect();
//!     assert_eq!(values, ["0", "1", "2", "3", "4"]);
//!     Ok(())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! for kind in [TargetKind::Mock, TargetKind::External, TargetKind::Kafka] {
//!     // None (with the reason printed) when KAFKIT_BOOTSTRAP is unset or no Kafka is at hand.
//!     if let Some(target) = kind.start().await? {
//!         keeps_order(&*target).await?;
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Why a trait
//! A trait object rather than an enum of the three: the set is open (a Redpanda container, a
//! cloud cluster behind TLS through a custom [`Connector`]), a scenario takes `&dyn Target`
//! whatever the test's fixture returns, and each implementation keeps its own state (the
//! container handle, the mock's faults). Its async methods return boxed futures so the trait
//! stays object safe; the boxing costs nothing that matters next to a network round trip.
//!
//! # Layout
//! - this file: [`Target`], [`TargetKind`], the [`MockCluster`] implementation.
//! - `external.rs`: [`ExternalBroker`].
//! - `fetch.rs`: the small TCP client that reads partitions back and creates topics.
//! - `process.rs`: [`KafkaProcess`], Apache Kafka from its jars as JVM processes.
//! - `container.rs` (feature `testcontainers`): `KafkaContainer`, `apache/kafka-native` in
//!   Docker.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use kafkit_producer::{Connector, Producer, ProducerConfig, ProducerConfigBuilder, TcpConnector};

use crate::in_memory::PARTITIONER_SEED;
use crate::inspect::StoredRecord;
use crate::{Error, MockCluster, Result};

#[cfg(feature = "testcontainers")]
mod container;
mod external;
mod fetch;
mod process;

#[cfg(feature = "testcontainers")]
pub use container::{docker_unavailable_reason, KafkaContainer, KAFKA_IMAGE, KAFKA_IMAGE_ENV};
pub use external::ExternalBroker;
pub use process::{
    default_libs_dir, kafka_libs, KafkaProcess, KafkaProcessBuilder, KAFKA_BOOTSTRAP_ENV, KAFKA_LIBS_ENV,
    KAFKA_VERSION,
};

/// The environment variable naming an external cluster's bootstrap servers.
pub const BOOTSTRAP_ENV: &str = "KAFKIT_BOOTSTRAP";

/// What the async methods of [`Target`] return.
pub type TargetFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Somewhere a scenario can run; see the [module docs](self).
pub trait Target: Send + Sync + fmt::Debug {
    /// What this target is, for messages (`kafkit mock cluster`, `external broker at ...`).
    fn name(&self) -> String;

    /// `host:port` list for `bootstrap.servers`.
    fn bootstrap_servers(&self) -> String;

    /// Whether [`Fault`](crate::Fault)s can be injected (through [`mock`](Self::mock)).
    fn supports_faults(&self) -> bool {
        self.mock().is_some()
    }

    /// Whether broker state can be inspected directly (partition state, producer state, the
    /// journal; through [`mock`](Self::mock)). Reading records back works on every target.
    fn supports_inspection(&self) -> bool {
        self.mock().is_some()
    }

    /// The in-process cluster, when this target is one: faults, journal, cluster events.
    fn mock(&self) -> Option<&MockCluster> {
        None
    }

    /// Creates `topic` with `partitions` partitions; resolves once every partition has a
    /// leader. An existing topic is an [`Error::Kafka`] with TOPIC_ALREADY_EXISTS.
    fn create_topic<'a>(&'a self, topic: &'a str, partitions: i32) -> TargetFuture<'a, ()>;

    /// Every committed record of `topic`/`partition` in offset order, with offsets, keys,
    /// values, headers and timestamps (and the batch fields of [`StoredRecord`]).
    fn read_partition<'a>(&'a self, topic: &'a str, partition: i32) -> TargetFuture<'a, Vec<StoredRecord>>;

    /// A topic named `prefix-<unique suffix>`, created with `partitions` partitions: what a
    /// scenario should use on a cluster that outlives the test.
    fn create_unique_topic<'a>(&'a self, prefix: &'a str, partitions: i32) -> TargetFuture<'a, String> {
        Box::pin(async move {
            let topic = unique_topic(prefix);
            self.create_topic(&topic, partitions).await?;
            Ok(topic)
        })
    }

    /// A producer configuration for this target: Java's defaults, `bootstrap.servers` set, and
    /// the sticky partitioner seeded with [`PARTITIONER_SEED`].
    fn producer_config(&self) -> ProducerConfigBuilder {
        ProducerConfig::builder(self.bootstrap_servers()).partitioner_seed(PARTITIONER_SEED)
    }

    /// How producers reach this target: TCP, or in memory for the mock.
    fn connector(&self) -> Arc<dyn Connector> {
        Arc::new(TcpConnector)
    }

    /// A producer with `config` connected through [`connector`](Self::connector).
    fn producer_with(&self, config: ProducerConfig) -> TargetFuture<'_, Producer> {
        let connector = self.connector();
        Box::pin(async move {
            Producer::with_connector(config, connector)
                .await
                .map_err(Error::from)
        })
    }

    /// A producer with [`producer_config`](Self::producer_config)'s settings.
    fn producer(&self) -> TargetFuture<'_, Producer> {
        match self.producer_config().build() {
            Ok(config) => self.producer_with(config),
            Err(e) => Box::pin(async move { Err(Error::from(e)) }),
        }
    }
}

/// `prefix-<pid>-<n>-<nanos>`: unique within the process and, in practice, across runs.
pub fn unique_topic(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl Target for MockCluster {
    fn name(&self) -> String {
        "kafkit mock cluster".to_string()
    }

    fn bootstrap_servers(&self) -> String {
        MockCluster::bootstrap_servers(self)
    }

    fn mock(&self) -> Option<&MockCluster> {
        Some(self)
    }

    fn create_topic<'a>(&'a self, topic: &'a str, partitions: i32) -> TargetFuture<'a, ()> {
        Box::pin(async move { MockCluster::create_topic(self, topic, partitions) })
    }

    fn read_partition<'a>(&'a self, topic: &'a str, partition: i32) -> TargetFuture<'a, Vec<StoredRecord>> {
        Box::pin(async move { self.records(topic, partition) })
    }

    fn producer_config(&self) -> ProducerConfigBuilder {
        MockCluster::producer_config(self)
    }

    /// In memory: deterministic under tokio's paused clock.
    fn connector(&self) -> Arc<dyn Connector> {
        Arc::new(self.in_memory_connector())
    }
}

/// The targets kafkit knows how to start, for tests that run one scenario on each
/// (`#[values(TargetKind::Mock, TargetKind::External, TargetKind::Kafka)]` with rstest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TargetKind {
    /// A fresh one-broker [`MockCluster`]: always available.
    Mock,
    /// The [`ExternalBroker`] that `KAFKIT_BOOTSTRAP` names: skipped when it is unset.
    External,
    /// Apache Kafka itself, the first of these that is there (see [`start_kafka`]): a running
    /// Kafka named by `KAFKIT_KAFKA_BOOTSTRAP`; the test process's shared [`KafkaProcess`]
    /// when Kafka's jars are at hand (`KAFKIT_KAFKA_LIBS`, or `kafka/kafka.sh fetch`'s cache);
    /// `apache/kafka-native` in Docker (`KafkaContainer`, with the `testcontainers` feature
    /// and a reachable Docker daemon). Skipped otherwise, or an error when
    /// `KAFKIT_REQUIRE_KAFKA` is set.
    Kafka,
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetKind::Mock => "mock",
            TargetKind::External => "external",
            TargetKind::Kafka => "kafka",
        })
    }
}

impl TargetKind {
    /// Starts (or reaches) the target. `Ok(None)` when it is not available here, after
    /// printing why (`skipped: ...`), so the test can return and pass; an error when it should
    /// be available and is not (`KAFKIT_BOOTSTRAP` set but unreachable, a container that
    /// fails to start).
    pub async fn start(self) -> Result<Option<Box<dyn Target>>> {
        self.start_with_bootstrap(std::env::var(BOOTSTRAP_ENV).ok().as_deref())
            .await
    }

    /// As [`start`](Self::start), with `kafkit_bootstrap` standing for the value of
    /// `KAFKIT_BOOTSTRAP` (see [`ExternalBroker::from_env_value`]).
    pub async fn start_with_bootstrap(
        self,
        kafkit_bootstrap: Option<&str>,
    ) -> Result<Option<Box<dyn Target>>> {
        match self {
            TargetKind::Mock => Ok(Some(Box::new(MockCluster::builder().start().await?))),
            TargetKind::External => match ExternalBroker::from_env_value(kafkit_bootstrap).await? {
                Some(broker) => Ok(Some(Box::new(broker))),
                None => Ok(skip(self, &format!("{BOOTSTRAP_ENV} is not set"))),
            },
            TargetKind::Kafka => start_kafka().await,
        }
    }
}

/// Environment variable that makes an unavailable Kafka target an error instead of a skip
/// (CI sets it: the suite must not pass there without having run on Kafka).
pub const REQUIRE_KAFKA_ENV: &str = "KAFKIT_REQUIRE_KAFKA";

/// Apache Kafka for [`TargetKind::Kafka`], the first that is there:
/// 1. `KAFKIT_KAFKA_BOOTSTRAP`: a Kafka already running there (started by `kafka/kafka.sh
///    start`, say), shared by every test;
/// 2. Kafka's jars ([`kafka_libs`]): the test process's shared [`KafkaProcess`], started on
///    first use (a few seconds) and stopped when the process ends;
/// 3. with the `testcontainers` feature and a reachable Docker daemon: a `KafkaContainer`
///    per call.
///
/// Otherwise `Ok(None)` after printing why, or, when `KAFKIT_REQUIRE_KAFKA` is set to anything
/// but `0`, an error saying why.
pub async fn start_kafka() -> Result<Option<Box<dyn Target>>> {
    if let Some(bootstrap) = std::env::var(KAFKA_BOOTSTRAP_ENV)
        .ok()
        .filter(|b| !b.trim().is_empty())
    {
        return Ok(Some(Box::new(ExternalBroker::connect(bootstrap.trim()).await?)));
    }
    let no_jars = match KafkaProcess::shared().await? {
        Ok(kafka) => return Ok(Some(Box::new(kafka))),
        Err(reason) => reason,
    };
    let no_docker = match start_container().await? {
        Ok(container) => return Ok(Some(container)),
        Err(reason) => reason,
    };
    let reason = format!("{KAFKA_BOOTSTRAP_ENV} is not set; {no_jars}; {no_docker}");
    if std::env::var(REQUIRE_KAFKA_ENV).is_ok_and(|v| !v.is_empty() && v != "0") {
        return Err(Error::KafkaProcess(format!(
            "{REQUIRE_KAFKA_ENV} is set but no Kafka is available: {reason}"
        )));
    }
    Ok(skip(TargetKind::Kafka, &reason))
}

#[cfg(feature = "testcontainers")]
async fn start_container() -> Result<std::result::Result<Box<dyn Target>, String>> {
    Ok(match docker_unavailable_reason().await {
        Some(reason) => Err(reason),
        None => Ok(Box::new(KafkaContainer::start().await?)),
    })
}

#[cfg(not(feature = "testcontainers"))]
async fn start_container() -> Result<std::result::Result<Box<dyn Target>, String>> {
    Ok(Err(
        "kafkit-testkit was built without its `testcontainers` feature (no Docker target)".to_string(),
    ))
}

/// Prints why a target is skipped; `None`.
pub(crate) fn skip<T>(kind: TargetKind, reason: &str) -> Option<T> {
    eprintln!("skipped: {kind} target unavailable: {reason}");
    None
}

/// A TCP port free on the loopback interface now (bound, read, released): for a server that
/// must know its port before it starts (a container's published port, a Kafka process's
/// listeners). Another process could take it first; starting again then picks another.
pub(crate) fn free_port() -> Result<u16> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| Error::Io {
            what: "find a free loopback port".to_string(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_topics_differ_and_are_valid_topic_names() {
        let (a, b) = (unique_topic("orders"), unique_topic("orders"));
        assert_ne!(a, b);
        for topic in [a, b] {
            assert!(topic.starts_with("orders-") && topic.len() <= 249, "{topic}");
            assert!(
                topic
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
                "{topic}"
            );
        }
    }
}
