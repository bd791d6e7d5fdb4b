//! The test kit's error type.

use std::time::Duration;

use kafkit_protocol::ErrorCode;

/// Everything a [`MockCluster`](crate::MockCluster) operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The broker failed (opening or recovering the data directory, closing logs, ...).
    #[error(transparent)]
    Broker(#[from] kafkit_broker::Error),
    /// kafkit's producer failed (a helper that builds or connects one).
    #[error(transparent)]
    Producer(#[from] kafkit_producer::Error),
    /// A stored batch or a response did not decode.
    #[error(transparent)]
    Protocol(#[from] kafkit_protocol::Error),
    /// A listener or the temporary data directory could not be set up.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The topic or partition does not exist.
    #[error("unknown topic or partition {topic}-{partition}")]
    UnknownTopicOrPartition {
        /// Topic.
        topic: String,
        /// Partition (`-1` when the topic itself is unknown).
        partition: i32,
    },
    /// No broker has this node id.
    #[error("unknown broker {node_id}")]
    UnknownBroker {
        /// The node id asked for.
        node_id: i32,
    },
    /// The cluster refused the operation with a Kafka error code (creating a topic that
    /// exists, moving a leader to a broker that is down, ...).
    #[error("{operation} failed: {code}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kafka {
        /// What was being done (`create topic orders`, ...).
        operation: String,
        /// The code.
        code: ErrorCode,
        /// The broker's explanation, if it gave one.
        message: Option<String>,
    },
    /// A bounded wait ran out.
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout {
        /// How long was waited.
        waited: Duration,
        /// What was waited for.
        what: String,
    },
    /// The peer closed the connection (a [`WireClient`](crate::WireClient) waiting for a
    /// response).
    #[error("the connection was closed")]
    ConnectionClosed,
    /// The cluster is between stopping and starting again (a restart failed half-way).
    #[error("the cluster is not running")]
    NotRunning,
    /// A container target could not be started (Docker refused, the image could not be
    /// pulled, the broker never reported it was up).
    #[error("container: {0}")]
    Container(String),
    /// A Kafka process target could not be started (no Java, formatting failed, a node exited
    /// or never served); the message has the end of each node's log.
    #[error("Kafka process: {0}")]
    KafkaProcess(String),
    /// A builder setting that cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// The test kit's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
