//! Broker and topic settings, with Kafka's names and defaults.

use std::path::PathBuf;

use kafkit_protocol::record::TimestampType;

use crate::log_validator::ValidationConfig;
use crate::storage::LogConfig;

/// Settings of a [`Cluster`](crate::Cluster).
///
/// ```
/// let config = kafkit_broker::ClusterConfig { brokers: 3, num_partitions: 6, ..Default::default() };
/// assert_eq!(config.host, "127.0.0.1");
/// ```
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Number of broker nodes (each with its own listener). At least 1.
    pub brokers: usize,
    /// Address every listener binds (Kafka's `listeners` host). Loopback unless told otherwise.
    pub host: String,
    /// Port of the first broker; broker `i` listens on `port + i`. `0`: any free port each.
    pub port: u16,
    /// Where partition logs live. `None`: a temporary directory removed when the cluster drops.
    pub data_dir: Option<PathBuf>,
    /// `num.partitions`: partitions of an auto-created topic.
    pub num_partitions: i32,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// The cluster id reported in Metadata.
    pub cluster_id: String,
    /// `socket.request.max.bytes`: the largest request frame accepted.
    pub socket_request_max_bytes: usize,
    /// `max.connections`: connections accepted per broker at once.
    pub max_connections: usize,
    /// Segment and index settings of every partition log.
    pub log: LogConfig,
    /// Defaults for produce validation (`max.message.bytes`, timestamps, ...).
    pub validation: ValidationConfig,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            brokers: 1,
            host: "127.0.0.1".to_string(),
            port: 0,
            data_dir: None,
            num_partitions: 1,
            auto_create_topics: true,
            cluster_id: "kafkit-cluster-0000000".to_string(),
            socket_request_max_bytes: kafkit_protocol::frame::DEFAULT_MAX_FRAME_SIZE,
            max_connections: 1024,
            log: LogConfig::default(),
            validation: ValidationConfig::default(),
        }
    }
}

/// Per-topic overrides, from CreateTopics configs (`message.timestamp.type`, `max.message.bytes`,
/// `cleanup.policy`, ...). Unset fields take the cluster's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicConfig {
    /// `message.timestamp.type`.
    pub timestamp_type: Option<TimestampType>,
    /// `max.message.bytes`.
    pub max_message_bytes: Option<usize>,
    /// `cleanup.policy` contains `compact`.
    pub compacted: bool,
}

impl TopicConfig {
    /// Applies one Kafka topic config entry; unknown keys are ignored (as kafkit does not
    /// implement them), invalid values are an error naming the key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "message.timestamp.type" => {
                self.timestamp_type = Some(match value {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    other => return Err(format!("invalid value {other:?} for message.timestamp.type")),
                })
            }
            "max.message.bytes" => {
                self.max_message_bytes = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid value {value:?} for max.message.bytes"))?,
                )
            }
            "cleanup.policy" => self.compacted = value.split(',').any(|p| p.trim() == "compact"),
            _ => {}
        }
        Ok(())
    }

    /// The validation settings of a topic with this config under the cluster's defaults.
    pub fn validation(&self, defaults: &ValidationConfig) -> ValidationConfig {
        ValidationConfig {
            timestamp_type: self.timestamp_type.unwrap_or(defaults.timestamp_type),
            max_message_bytes: self.max_message_bytes.unwrap_or(defaults.max_message_bytes),
            compacted: self.compacted || defaults.compacted,
            ..defaults.clone()
        }
    }
}
