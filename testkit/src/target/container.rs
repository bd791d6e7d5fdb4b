//! [`KafkaContainer`]: Apache Kafka (`apache/kafka-native`, the GraalVM build that starts in
//! about a second) in Docker through the `testcontainers` crate, as a [`Target`].
//!
//! One KRaft node (broker and controller in one process). The client listener is published
//! on a host port chosen before the container starts, so the broker can advertise the address
//! clients reach it at (`127.0.0.1:<port>`) from its first line of configuration; the
//! controller listener stays inside the container. Offsets and transaction topics have
//! replication factor 1, and group rebalances start at once.
//!
//! Docker must be reachable: [`docker_unavailable_reason`] tells tests when it is not, so they
//! skip instead of failing.

use std::time::Duration;

use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::{free_port, ExternalBroker, Target, TargetFuture};
use crate::inspect::StoredRecord;
use crate::{Error, Result};

/// The image run by default.
pub const KAFKA_IMAGE: &str = "apache/kafka-native:4.0.0";
/// Environment variable that replaces [`KAFKA_IMAGE`] (`name:tag`, e.g. `apache/kafka:4.0.0`).
pub const KAFKA_IMAGE_ENV: &str = "KAFKIT_KAFKA_IMAGE";
/// The client listener's port inside the container.
const KAFKA_PORT: u16 = 9092;
/// How long the image pull and the broker's start may take.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(180);
/// The KRaft cluster id the log directory is formatted with (16 bytes, base64url).
const CLUSTER_ID: &str = "a2Fma2l0LXRlc3RraXQtMA";
/// The line the broker logs once it serves.
const STARTED: &str = "Kafka Server started";

/// Apache Kafka in Docker (`apache/kafka-native` by default), one KRaft node, as a [`Target`];
/// stopped and removed when dropped.
///
/// The client listener is published on a host port chosen before the container starts, so
/// the broker advertises the address clients reach (`127.0.0.1:<port>`); internal topics have
/// replication factor 1 and group rebalances start at once. Needs a reachable Docker daemon
/// (see [`docker_unavailable_reason`]) and a real clock.
#[derive(Debug)]
pub struct KafkaContainer {
    /// Reads back and creates topics through the published port.
    broker: ExternalBroker,
    /// Kept for its drop, which stops and removes the container.
    _container: ContainerAsync<GenericImage>,
}

impl KafkaContainer {
    /// Starts [`KAFKA_IMAGE`] (or `KAFKIT_KAFKA_IMAGE`) and waits until it serves.
    pub async fn start() -> Result<KafkaContainer> {
        let image = std::env::var(KAFKA_IMAGE_ENV).unwrap_or_else(|_| KAFKA_IMAGE.to_string());
        Self::start_image(&image).await
    }

    /// Starts `image` (`name:tag`, an image of Apache Kafka's layout and environment
    /// variables) and waits until it serves.
    pub async fn start_image(image: &str) -> Result<KafkaContainer> {
        let (name, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
        let port = free_port()?;
        let container = GenericImage::new(name, tag)
            .with_wait_for(WaitFor::message_on_stdout(STARTED))
            .with_mapped_port(port, KAFKA_PORT.tcp())
            .with_startup_timeout(STARTUP_TIMEOUT)
            .with_env_var("CLUSTER_ID", CLUSTER_ID)
            .with_env_var("KAFKA_NODE_ID", "1")
            .with_env_var("KAFKA_PROCESS_ROLES", "broker,controller")
            .with_env_var("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
            .with_env_var("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
            .with_env_var("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093")
            .with_env_var(
                "KAFKA_ADVERTISED_LISTENERS",
                format!("PLAINTEXT://127.0.0.1:{port}"),
            )
            .with_env_var(
                "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            )
            .with_env_var("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
            .with_env_var("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
            .with_env_var("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
            .with_env_var("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
            .with_env_var("KAFKA_LOG_DIRS", "/tmp/kraft-combined-logs")
            .start()
            .await
            .map_err(|e| Error::Container(format!("start {image}: {e}")))?;
        let broker = ExternalBroker::connect(format!("127.0.0.1:{port}")).await?;
        Ok(KafkaContainer {
            broker,
            _container: container,
        })
    }
}

/// Why Docker cannot be used here, or `None` when its daemon accepts a connection. Looks
/// where the `testcontainers` crate looks first: `DOCKER_HOST` (`unix://` or `tcp://`), else
/// `/var/run/docker.sock`. Other `DOCKER_HOST` schemes are left for the crate to try.
pub async fn docker_unavailable_reason() -> Option<String> {
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let (endpoint, result) = if let Some(addr) = host.strip_prefix("tcp://") {
        let addr = addr.split('/').next().unwrap_or(addr).to_string();
        let connect = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr));
        (
            host.clone(),
            connect.await.map_or_else(
                |_| Err("timed out".to_string()),
                |r| r.map(drop).map_err(|e| e.to_string()),
            ),
        )
    } else if host.is_empty() || host.starts_with("unix://") {
        let path = host
            .strip_prefix("unix://")
            .unwrap_or("/var/run/docker.sock")
            .to_string();
        (format!("unix://{path}"), connect_unix(&path).await)
    } else {
        return None;
    };
    result
        .err()
        .map(|e| format!("no Docker daemon reachable at {endpoint} ({e}); set DOCKER_HOST to use another"))
}

#[cfg(unix)]
async fn connect_unix(path: &str) -> std::result::Result<(), String> {
    tokio::net::UnixStream::connect(path)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

#[cfg(not(unix))]
async fn connect_unix(path: &str) -> std::result::Result<(), String> {
    Err(format!("{path}: unix sockets are not available on this platform"))
}

impl Target for KafkaContainer {
    fn name(&self) -> String {
        format!("Kafka container at {}", self.broker.bootstrap_servers())
    }

    fn bootstrap_servers(&self) -> String {
        self.broker.bootstrap_servers().to_string()
    }

    fn supports_faults(&self) -> bool {
        false
    }

    fn supports_inspection(&self) -> bool {
        false
    }

    fn create_topic<'a>(&'a self, topic: &'a str, partitions: i32) -> TargetFuture<'a, ()> {
        Box::pin(self.broker.create_topic(topic, partitions))
    }

    fn read_partition<'a>(&'a self, topic: &'a str, partition: i32) -> TargetFuture<'a, Vec<StoredRecord>> {
        Box::pin(self.broker.read_partition(topic, partition))
    }
}
