//! Broker and topic settings, with Kafka's names and defaults.

use std::path::PathBuf;

use kafkit_protocol::record::TimestampType;

use crate::group::GroupsConfig;
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
    /// `fetch.max.bytes`: the most record bytes one Fetch response carries, whatever the request
    /// asks (as in Kafka, the first batch found is returned whole even if it is larger).
    pub fetch_max_bytes: usize,
    /// Segment and index settings of every partition log.
    pub log: LogConfig,
    /// Defaults for produce validation (`max.message.bytes`, timestamps, ...).
    pub validation: ValidationConfig,
    /// The group coordinator's settings (`group.*`, `offset.metadata.max.bytes`,
    /// `offsets.topic.num.partitions`).
    pub groups: GroupsConfig,
    /// `transaction.state.log.num.partitions` (50): partitions of `__transaction_state`, which
    /// place transactional ids on coordinators.
    pub transaction_state_partitions: i32,
    /// Listeners, TLS and SASL (`listeners`, `ssl.*`, `sasl.*`; see [`crate::auth`]). By
    /// default one PLAINTEXT listener at `host:port`.
    pub security: crate::auth::SecurityConfig,
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
            fetch_max_bytes: 57_671_680,
            log: LogConfig::default(),
            validation: ValidationConfig::default(),
            groups: GroupsConfig::default(),
            transaction_state_partitions: 50,
            security: crate::auth::SecurityConfig::default(),
        }
    }
}

impl ClusterConfig {
    /// Applies one broker setting by its Kafka name (`server.properties` style), as the
    /// `kafkit-broker --config KEY=VALUE` flag does. Unknown keys and invalid values are an
    /// error naming the key.
    ///
    /// Keys: `num.partitions`, `auto.create.topics.enable`, `socket.request.max.bytes`,
    /// `max.connections`, `fetch.max.bytes`, `message.max.bytes`, `log.message.timestamp.type`,
    /// `log.message.timestamp.before.max.ms`, `log.message.timestamp.after.max.ms`,
    /// `log.segment.bytes`, `log.roll.ms`, `log.index.interval.bytes`,
    /// `log.index.size.max.bytes`, `log.flush.interval.messages`, and kafkit's own
    /// `kafkit.max.decompressed.bytes` (the cap on a batch's decompressed size); the listener
    /// and security keys of [`SecurityConfig::set`](crate::auth::SecurityConfig::set)
    /// (`listeners`, `advertised.listeners`, `listener.security.protocol.map`, `ssl.*`,
    /// `sasl.enabled.mechanisms`, JAAS users, `kafkit.scram.credentials`, ...).
    ///
    /// ```
    /// let mut config = kafkit_broker::ClusterConfig::default();
    /// config.set("message.max.bytes", "2000000")?;
    /// assert_eq!(config.validation.max_message_bytes, 2_000_000);
    /// let err = config.set("max.connections", "many").unwrap_err();
    /// assert!(err.to_string().contains("max.connections"));
    /// # Ok::<(), kafkit_broker::Error>(())
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> crate::Result<()> {
        if self.security.set(key, value)? {
            return Ok(());
        }
        match key {
            "num.partitions" => {
                self.num_partitions = parse("num.partitions", value)?;
                if self.num_partitions < 1 {
                    return Err(invalid("num.partitions", "must be at least 1"));
                }
            }
            "auto.create.topics.enable" => {
                self.auto_create_topics = parse("auto.create.topics.enable", value)?
            }
            "socket.request.max.bytes" => {
                self.socket_request_max_bytes = positive("socket.request.max.bytes", value)?
            }
            "max.connections" => self.max_connections = positive("max.connections", value)?,
            "fetch.max.bytes" => self.fetch_max_bytes = positive("fetch.max.bytes", value)?,
            "message.max.bytes" => {
                let bytes = positive("message.max.bytes", value)?;
                self.validation.max_message_bytes = bytes;
                self.log.max_message_bytes = bytes;
            }
            "log.message.timestamp.type" => {
                let kind = match value {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => {
                        return Err(invalid(
                            "log.message.timestamp.type",
                            &format!("{value:?} is neither CreateTime nor LogAppendTime"),
                        ))
                    }
                };
                self.validation.timestamp_type = kind;
                self.log.message_timestamp_type = kind;
            }
            "log.message.timestamp.before.max.ms" => {
                self.validation.timestamp_before_max_ms =
                    non_negative("log.message.timestamp.before.max.ms", value)?
            }
            "log.message.timestamp.after.max.ms" => {
                self.validation.timestamp_after_max_ms =
                    non_negative("log.message.timestamp.after.max.ms", value)?
            }
            "log.segment.bytes" => self.log.segment_bytes = positive("log.segment.bytes", value)?,
            "log.roll.ms" => {
                self.log.segment_ms = std::time::Duration::from_millis(positive("log.roll.ms", value)?)
            }
            "log.index.interval.bytes" => {
                self.log.index_interval_bytes = parse("log.index.interval.bytes", value)?
            }
            "log.index.size.max.bytes" => {
                self.log.segment_index_bytes = positive("log.index.size.max.bytes", value)?
            }
            "log.flush.interval.messages" => {
                self.log.flush_messages = Some(positive("log.flush.interval.messages", value)?)
            }
            "kafkit.max.decompressed.bytes" => {
                self.validation.max_decompressed_bytes = positive("kafkit.max.decompressed.bytes", value)?
            }
            "group.min.session.timeout.ms" => {
                self.groups.min_session_timeout = millis("group.min.session.timeout.ms", value)?
            }
            "group.max.session.timeout.ms" => {
                self.groups.max_session_timeout = millis("group.max.session.timeout.ms", value)?
            }
            "group.initial.rebalance.delay.ms" => {
                self.groups.initial_rebalance_delay = millis("group.initial.rebalance.delay.ms", value)?
            }
            "group.max.size" => self.groups.max_size = positive("group.max.size", value)?,
            "group.consumer.session.timeout.ms" => {
                self.groups.consumer_session_timeout =
                    std::time::Duration::from_millis(positive("group.consumer.session.timeout.ms", value)?)
            }
            "group.consumer.heartbeat.interval.ms" => {
                self.groups.consumer_heartbeat_interval =
                    std::time::Duration::from_millis(positive("group.consumer.heartbeat.interval.ms", value)?)
            }
            "transaction.state.log.num.partitions" => {
                self.transaction_state_partitions = positive("transaction.state.log.num.partitions", value)?
            }
            "group.consumer.max.size" => {
                self.groups.consumer_max_size = positive("group.consumer.max.size", value)?
            }
            "offset.metadata.max.bytes" => {
                self.groups.offset_metadata_max_bytes = parse("offset.metadata.max.bytes", value)?
            }
            "offsets.retention.minutes" => {
                let minutes: u64 = positive("offsets.retention.minutes", value)?;
                self.groups.offsets_retention = std::time::Duration::from_secs(minutes.saturating_mul(60))
            }
            "offsets.retention.check.interval.ms" => {
                self.groups.offsets_retention_check_interval =
                    std::time::Duration::from_millis(positive("offsets.retention.check.interval.ms", value)?)
            }
            "offsets.topic.num.partitions" => {
                self.groups.offsets_topic_partitions = positive("offsets.topic.num.partitions", value)?
            }
            _ => return Err(crate::Error::Config(format!("unknown broker setting {key:?}"))),
        }
        if self.groups.min_session_timeout > self.groups.max_session_timeout {
            return Err(invalid(
                "group.min.session.timeout.ms",
                "must not be above group.max.session.timeout.ms",
            ));
        }
        self.log.validate()
    }
}

fn millis(key: &'static str, value: &str) -> crate::Result<std::time::Duration> {
    Ok(std::time::Duration::from_millis(parse::<u64>(key, value)?))
}

fn invalid(key: &'static str, reason: &str) -> crate::Error {
    crate::Error::InvalidConfig {
        key,
        reason: reason.to_string(),
    }
}

fn parse<T: std::str::FromStr>(key: &'static str, value: &str) -> crate::Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(key, &format!("cannot parse {value:?}")))
}

fn positive<T: std::str::FromStr + Default + PartialOrd>(key: &'static str, value: &str) -> crate::Result<T> {
    let v: T = parse(key, value)?;
    if v <= T::default() {
        return Err(invalid(key, &format!("{value:?} must be positive")));
    }
    Ok(v)
}

fn non_negative(key: &'static str, value: &str) -> crate::Result<i64> {
    let v: i64 = parse(key, value)?;
    if v < 0 {
        return Err(invalid(key, &format!("{value:?} must not be negative")));
    }
    Ok(v)
}

/// Per-topic overrides, from CreateTopics configs (`message.timestamp.type`, `max.message.bytes`,
/// `cleanup.policy`, ...). Unset fields take the cluster's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicConfig {
    /// `message.timestamp.type`.
    pub timestamp_type: Option<TimestampType>,
    /// `message.timestamp.before.max.ms`.
    pub timestamp_before_max_ms: Option<i64>,
    /// `message.timestamp.after.max.ms`.
    pub timestamp_after_max_ms: Option<i64>,
    /// `max.message.bytes`.
    pub max_message_bytes: Option<usize>,
    /// `cleanup.policy` contains `compact`.
    pub compacted: bool,
}

impl TopicConfig {
    /// Applies one Kafka topic config entry; unknown keys are ignored (as kafkit does not
    /// implement them), invalid values are an error naming the key, in Kafka's words.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let invalid = |why: &str| format!("Invalid value {value} for configuration {key}: {why}");
        let long = |min: i64| {
            value
                .trim()
                .parse::<i64>()
                .map_err(|_| invalid("Not a number of type LONG"))
                .and_then(|n| {
                    if n >= min {
                        Ok(n)
                    } else {
                        Err(invalid(&format!("Value must be at least {min}")))
                    }
                })
        };
        match key {
            "message.timestamp.type" => {
                self.timestamp_type = Some(match value {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => return Err(invalid("String must be one of: CreateTime, LogAppendTime")),
                })
            }
            "message.timestamp.before.max.ms" => self.timestamp_before_max_ms = Some(long(0)?),
            "message.timestamp.after.max.ms" => self.timestamp_after_max_ms = Some(long(0)?),
            "max.message.bytes" => {
                let bytes: i32 = value
                    .trim()
                    .parse()
                    .map_err(|_| invalid("Not a number of type INT"))?;
                self.max_message_bytes =
                    Some(usize::try_from(bytes).map_err(|_| invalid("Value must be at least 0"))?)
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
            timestamp_before_max_ms: self
                .timestamp_before_max_ms
                .unwrap_or(defaults.timestamp_before_max_ms),
            timestamp_after_max_ms: self
                .timestamp_after_max_ms
                .unwrap_or(defaults.timestamp_after_max_ms),
            max_message_bytes: self.max_message_bytes.unwrap_or(defaults.max_message_bytes),
            compacted: self.compacted || defaults.compacted,
            ..defaults.clone()
        }
    }
}
