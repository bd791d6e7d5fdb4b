//! [`ExternalBroker`]: a Kafka-compatible cluster that is already running somewhere, given by
//! its bootstrap address (`KAFKIT_BOOTSTRAP=host:port`), read back through a small fetch
//! client.

use std::time::Duration;

use super::fetch::{broker_address, leader_address, topic_ready, Connection, LATEST};
use super::{Target, TargetFuture, BOOTSTRAP_ENV};
use crate::inspect::StoredRecord;
use crate::{Error, Result};

/// How long a topic may take to show up with leaders after it is created, and a partition's
/// leader to be known.
const METADATA_WAIT: Duration = Duration::from_secs(30);
/// Pause between two Metadata requests while waiting.
const METADATA_POLL: Duration = Duration::from_millis(50);

/// A running cluster reached over TCP at its bootstrap servers: anything that speaks Kafka's
/// protocol (Apache Kafka, Redpanda, another kafkit broker, ...).
///
/// Records are read back as a consumer would (Metadata, ListOffsets, Fetch to the high
/// watermark), so they carry every field of a [`StoredRecord`] (producer ids, sequences,
/// leader epochs come from the fetched batches). Faults and the inspection of broker state
/// are not available. Topics persist on such a cluster across runs and tests, so scenarios
/// should use [`Target::create_unique_topic`].
///
/// Use it on a real clock: its I/O is real, so under tokio's paused clock its timeouts would
/// fire while a response is on its way.
#[derive(Debug, Clone)]
pub struct ExternalBroker {
    bootstrap: String,
}

impl ExternalBroker {
    /// The cluster at `bootstrap` (`host:port`, or a comma-separated list), once one of its
    /// servers answered ApiVersions.
    pub async fn connect(bootstrap: impl Into<String>) -> Result<ExternalBroker> {
        let broker = ExternalBroker {
            bootstrap: bootstrap.into(),
        };
        broker.bootstrap_connection().await?;
        Ok(broker)
    }

    /// The cluster `KAFKIT_BOOTSTRAP` names, or `None` when it is unset or empty.
    pub async fn from_env() -> Result<Option<ExternalBroker>> {
        Self::from_env_value(std::env::var(BOOTSTRAP_ENV).ok().as_deref()).await
    }

    /// As [`from_env`](Self::from_env), with `value` standing for `KAFKIT_BOOTSTRAP`: tests
    /// exercise the environment path without changing the process environment, which other
    /// tests running in parallel share.
    pub async fn from_env_value(value: Option<&str>) -> Result<Option<ExternalBroker>> {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            Some(bootstrap) => Self::connect(bootstrap).await.map(Some),
            None => Ok(None),
        }
    }

    /// The bootstrap servers, as given.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// A connection to the first bootstrap server that accepts one.
    async fn bootstrap_connection(&self) -> Result<Connection> {
        let mut last = Error::Config(format!("no bootstrap server in {:?}", self.bootstrap));
        for addr in self.bootstrap.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            match Connection::open(addr).await {
                Ok(connection) => return Ok(connection),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// How many brokers Metadata lists now.
    pub async fn broker_count(&self) -> Result<usize> {
        Ok(self
            .bootstrap_connection()
            .await?
            .metadata(&[])
            .await?
            .brokers
            .len())
    }

    /// Asks Metadata about `topic` until `ready` finds what it needs in an answer.
    async fn wait_for_metadata<T>(
        &self,
        topic: &str,
        what: impl Fn() -> String,
        mut ready: impl FnMut(&kafka_protocol::messages::MetadataResponse) -> Result<Option<T>>,
    ) -> Result<T> {
        let mut connection = self.bootstrap_connection().await?;
        let deadline = tokio::time::Instant::now() + METADATA_WAIT;
        loop {
            let response = connection.metadata(&[topic]).await?;
            if let Some(found) = ready(&response)? {
                return Ok(found);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout {
                    waited: METADATA_WAIT,
                    what: what(),
                });
            }
            tokio::time::sleep(METADATA_POLL).await;
        }
    }

    /// Every committed record of `topic`/`partition`, from the log start to the high
    /// watermark, in offset order, read uncommitted (records of aborted transactions are
    /// included); transaction markers are left out.
    pub async fn read_partition(&self, topic: &str, partition: i32) -> Result<Vec<StoredRecord>> {
        let leader = self
            .wait_for_metadata(
                topic,
                || format!("a leader for {topic}-{partition}"),
                |m| leader_address(m, topic, partition),
            )
            .await?;
        Connection::open(&leader)
            .await?
            .read_partition(topic, partition)
            .await
    }

    /// Creates `topic` with `partitions` partitions (the broker's default replication
    /// factor) through the controller when Metadata names one, and waits until every
    /// partition has a leader that serves it.
    ///
    /// Metadata names a leader before that broker acts as one: Apache Kafka's metadata cache
    /// learns of a new topic before its replica manager does, and a Produce in between is
    /// NOT_LEADER_OR_FOLLOWER. An idempotent producer whose first batch is refused so while
    /// its second is appended can never write the first (the broker takes any sequence from
    /// a producer it does not know yet), so the wait goes on until each leader answers
    /// ListOffsets, which it checks the same way.
    pub async fn create_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        if partitions < 1 {
            return Err(Error::Config(format!(
                "topic {topic} needs at least one partition, not {partitions}"
            )));
        }
        let mut connection = self.bootstrap_connection().await?;
        let cluster = connection.metadata(&[]).await?;
        // Kafka 2.x wants CreateTopics at the controller; KRaft brokers forward it.
        if let Some(controller) = broker_address(&cluster, cluster.controller_id.0) {
            if let Ok(c) = Connection::open(&controller).await {
                connection = c;
            }
        }
        connection.create_topic(topic, partitions).await?;
        self.wait_for_metadata(
            topic,
            || format!("topic {topic} with {partitions} led partitions"),
            |m| Ok(topic_ready(m, topic, partitions).then_some(())),
        )
        .await?;
        for partition in 0..partitions {
            self.wait_until_led(topic, partition).await?;
        }
        Ok(())
    }

    /// Waits until the leader of `topic`/`partition` answers ListOffsets for it.
    async fn wait_until_led(&self, topic: &str, partition: i32) -> Result<()> {
        let deadline = tokio::time::Instant::now() + METADATA_WAIT;
        loop {
            let leader = self
                .wait_for_metadata(
                    topic,
                    || format!("a leader for {topic}-{partition}"),
                    |m| leader_address(m, topic, partition),
                )
                .await?;
            let answer = match Connection::open(&leader).await {
                Ok(mut c) => c.list_offset(topic, partition, LATEST).await.map(drop),
                Err(e) => Err(e),
            };
            match answer {
                Ok(()) => return Ok(()),
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(METADATA_POLL).await,
            }
        }
    }
}

impl Target for ExternalBroker {
    fn name(&self) -> String {
        format!("external broker at {}", self.bootstrap)
    }

    fn bootstrap_servers(&self) -> String {
        self.bootstrap.clone()
    }

    fn supports_faults(&self) -> bool {
        false
    }

    fn supports_inspection(&self) -> bool {
        false
    }

    fn create_topic<'a>(&'a self, topic: &'a str, partitions: i32) -> TargetFuture<'a, ()> {
        Box::pin(ExternalBroker::create_topic(self, topic, partitions))
    }

    fn read_partition<'a>(&'a self, topic: &'a str, partition: i32) -> TargetFuture<'a, Vec<StoredRecord>> {
        Box::pin(ExternalBroker::read_partition(self, topic, partition))
    }
}
