//! The cluster: N broker nodes in one process sharing one set of partition logs.
//!
//! Leadership is metadata. Every partition has one log, shared by all nodes; which node leads it
//! (and in which leader epoch) is a field of the cluster state, so moving a leader moves no data
//! and every node is always "in sync". Requests that need the leader (Produce, Fetch,
//! ListOffsets) are answered NOT_LEADER_OR_FOLLOWER by the other nodes, as in Kafka.
//!
//! # Locks
//! [`ClusterState::metadata`] guards brokers, topics and leadership; each partition log has its
//! own mutex, taken after the metadata lock is released, so appends to different partitions run
//! in parallel. Neither is held across an `.await`.
//!
//! # Layout
//! - this file: [`ClusterState`] (topics, logs, producer ids, the interceptor, API version pins).
//! - `leadership.rs`: leader moves and broker liveness (epochs bumped as Kafka's controller does).
//! - `producer_ids.rs`: producer ids, handed out in blocks recorded in the data directory.
//! - `running.rs`: [`Cluster`], the listeners and connection tasks over a [`ClusterState`].

mod leadership;
mod producer_ids;
mod running;

pub use producer_ids::{PRODUCER_ID_BLOCK_FILE, PRODUCER_ID_BLOCK_SIZE};
pub use running::Cluster;

use producer_ids::ProducerIdManager;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use kafka_protocol::messages::ApiKey;
use kafkit_protocol::versions::{ApiVersionRange, SUPPORTED_APIS};
use kafkit_protocol::ErrorCode;
use uuid::Uuid;

use crate::config::{ClusterConfig, TopicConfig};
use crate::group::GroupCoordinator;
use crate::intercept::Interceptor;
use crate::storage::{self, PartitionLog};
use crate::{Error, Result};

/// File in the data directory whose presence at startup means the last stop was clean.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafkit_cleanshutdown";

/// One broker node as Metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// `node.id`.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// Whether the node is serving (a test may take it down).
    pub up: bool,
}

/// A partition's leadership and log.
#[derive(Debug, Clone)]
pub struct PartitionState {
    /// Partition index.
    pub index: i32,
    /// The leader's node id; `None` while no replica is up to lead.
    pub leader: Option<i32>,
    /// The current leader epoch; never decreases.
    pub leader_epoch: i32,
    /// Replica node ids, leader first at creation.
    pub replicas: Vec<i32>,
    /// The partition's log, shared by every node.
    pub log: Arc<Mutex<PartitionLog>>,
}

/// A topic.
#[derive(Debug, Clone)]
pub struct TopicState {
    /// Name.
    pub name: String,
    /// Topic id (Metadata v10+, `partition.metadata`).
    pub id: Uuid,
    /// Overrides of the cluster's defaults.
    pub config: TopicConfig,
    /// Partitions, by index.
    pub partitions: Vec<PartitionState>,
}

/// Brokers and topics: the part of the state behind [`ClusterState::metadata`].
#[derive(Debug, Default)]
pub struct Metadata {
    /// Every node, by node id order.
    pub brokers: Vec<BrokerInfo>,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicState>,
}

impl Metadata {
    /// The partition `topic`/`partition`, if it exists.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionState> {
        self.topics
            .get(topic)?
            .partitions
            .get(usize::try_from(partition).ok()?)
    }

    /// The name of the topic with id `id` (requests that name topics by id: Produce v13+,
    /// Fetch v13+, DeleteTopics v6+). A nil id names no topic.
    pub fn topic_name(&self, id: Uuid) -> Option<&str> {
        if id.is_nil() {
            return None;
        }
        self.topics.values().find(|t| t.id == id).map(|t| t.name.as_str())
    }

    /// The node `node_id`.
    pub fn broker(&self, node_id: i32) -> Option<&BrokerInfo> {
        self.brokers.iter().find(|b| b.node_id == node_id)
    }

    /// Node ids of the brokers that are up, in node id order.
    pub fn live_node_ids(&self) -> Vec<i32> {
        self.brokers.iter().filter(|b| b.up).map(|b| b.node_id).collect()
    }

    /// Whether `node_id` exists and is up.
    pub fn is_up(&self, node_id: i32) -> bool {
        self.broker(node_id).is_some_and(|b| b.up)
    }
}

/// State shared by every node and connection of a cluster.
#[derive(Debug)]
pub struct ClusterState {
    config: ClusterConfig,
    data_dir: PathBuf,
    /// Keeps a temporary data directory alive; removed when the state drops.
    _temp_dir: Option<tempfile::TempDir>,
    metadata: RwLock<Metadata>,
    /// The producer ids InitProducerId hands out: cluster-wide, never reused.
    producer_ids: ProducerIdManager,
    /// Woken after every successful append, for fetches waiting for data.
    appended: tokio::sync::Notify,
    /// The hook every connection calls around each request; `None` costs one read lock.
    interceptor: RwLock<Option<Arc<dyn Interceptor>>>,
    /// Per-ApiKey version bounds a test set to emulate an older broker: `(min, max)`, applied
    /// within [`SUPPORTED_APIS`]; an empty intersection disables the API.
    version_pins: RwLock<BTreeMap<i16, (i16, i16)>>,
    /// Requests received on any connection since the state was opened.
    requests: AtomicU64,
    /// Bumped whenever a broker goes down or up; connections of a node that went down watch
    /// it to close themselves.
    node_changes: tokio::sync::watch::Sender<u64>,
    /// Consumer groups and committed offsets.
    groups: GroupCoordinator,
    /// Transactional ids and their transactions.
    transactions: crate::txn::TransactionCoordinator,
    /// Listeners (TLS acceptors) and SASL users.
    security: crate::auth::Security,
    /// Advertised `(host, port)` of each node's listeners beyond the first, by node id then
    /// listener number - 1 (the first is the node's [`BrokerInfo`] address).
    extra_endpoints: Vec<Vec<(String, i32)>>,
}

impl ClusterState {
    /// Creates the state, opening (and recovering) every partition log found in the data
    /// directory. `brokers` gives each node's advertised address.
    #[cfg(test)]
    pub(crate) fn open(config: ClusterConfig, brokers: Vec<BrokerInfo>) -> Result<Self> {
        Self::open_with_endpoints(config, brokers, Vec::new())
    }

    /// [`open`](Self::open) for nodes with several listeners: `extra_endpoints[node]` are the
    /// advertised addresses of the node's second, third, ... listener.
    pub(crate) fn open_with_endpoints(
        config: ClusterConfig,
        brokers: Vec<BrokerInfo>,
        extra_endpoints: Vec<Vec<(String, i32)>>,
    ) -> Result<Self> {
        let security = crate::auth::Security::build(&config.security, &config.host, config.port)?;
        let (data_dir, temp_dir) = match &config.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
                (dir.clone(), None)
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("kafkit-")
                    .tempdir()
                    .map_err(|e| Error::io("create", Path::new("temporary data dir"), e))?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let marker = data_dir.join(CLEAN_SHUTDOWN_FILE);
        let clean = marker.exists();
        if clean {
            // Deleted before loading: a crash while loading makes the next start unclean.
            std::fs::remove_file(&marker).map_err(|e| Error::io("remove", &marker, e))?;
        }
        let producer_ids = ProducerIdManager::open(&data_dir)?;
        let state = ClusterState {
            config,
            data_dir,
            _temp_dir: temp_dir,
            metadata: RwLock::new(Metadata {
                brokers,
                topics: BTreeMap::new(),
            }),
            producer_ids,
            appended: tokio::sync::Notify::new(),
            interceptor: RwLock::new(None),
            version_pins: RwLock::new(BTreeMap::new()),
            requests: AtomicU64::new(0),
            node_changes: tokio::sync::watch::Sender::new(0),
            groups: GroupCoordinator::default(),
            transactions: crate::txn::TransactionCoordinator::default(),
            security,
            extra_endpoints,
        };
        state.load_topics(clean)?;
        state.groups.load(&state)?;
        state.transactions.load(&state)?;
        Ok(state)
    }

    /// Re-opens every `<topic>-<partition>` directory of the data directory.
    fn load_topics(&self, clean: bool) -> Result<()> {
        let mut found: BTreeMap<String, BTreeMap<i32, PathBuf>> = BTreeMap::new();
        let entries = std::fs::read_dir(&self.data_dir).map_err(|e| Error::io("read", &self.data_dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("read", &self.data_dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some((topic, partition)) = name.rsplit_once('-') else {
                continue;
            };
            let Ok(partition) = partition.parse::<i32>() else {
                continue;
            };
            if storage::validate_topic_name(topic).is_err() || !entry.path().is_dir() {
                continue;
            }
            found
                .entry(topic.to_string())
                .or_default()
                .insert(partition, entry.path());
        }
        let mut metadata = self.metadata_mut();
        let brokers: Vec<i32> = metadata.brokers.iter().map(|b| b.node_id).collect();
        let mut max_producer_id = -1;
        for (topic, partitions) in found {
            // Partitions must be 0..n; a gap means a damaged directory, which is an error.
            let count = partitions.len();
            if partitions.keys().copied().ne(0..count as i32) {
                return Err(Error::Corrupt {
                    path: self.data_dir.clone(),
                    reason: format!(
                        "topic {topic} has partition directories {:?}, not 0..{count}",
                        partitions.keys()
                    ),
                });
            }
            let mut states = Vec::with_capacity(count);
            let mut topic_id = None;
            for (index, dir) in partitions {
                let log = PartitionLog::open(&dir, self.config.log.clone(), clean, 0)?;
                topic_id = topic_id.or(log.topic_id());
                let newest_producer = log.producer_state_snapshot().iter().map(|p| p.producer_id).max();
                max_producer_id = max_producer_id.max(newest_producer.unwrap_or(-1));
                let leader_epoch = log.leader_epoch_cache().latest_epoch().unwrap_or(0);
                states.push(new_partition(index, &brokers, leader_epoch, log));
            }
            let id = topic_id.unwrap_or_else(Uuid::new_v4);
            tracing::info!(%topic, partitions = count, "loaded topic");
            metadata.topics.insert(
                topic.clone(),
                TopicState {
                    name: topic,
                    id,
                    config: TopicConfig::default(),
                    partitions: states,
                },
            );
        }
        self.producer_ids.advance_past(max_producer_id);
        Ok(())
    }

    /// The cluster's configuration.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// The listeners and SASL settings.
    pub(crate) fn security(&self) -> &crate::auth::Security {
        &self.security
    }

    /// The address `broker` advertises on listener number `listener` (0: its first, the
    /// [`BrokerInfo`] address): what a client that came in on that listener is told.
    pub fn endpoint<'a>(&'a self, broker: &'a BrokerInfo, listener: usize) -> (&'a str, i32) {
        listener
            .checked_sub(1)
            .and_then(|extra| {
                self.extra_endpoints
                    .get(usize::try_from(broker.node_id).ok()?)?
                    .get(extra)
            })
            .map_or((broker.host.as_str(), broker.port), |(h, p)| (h.as_str(), *p))
    }

    /// The directory partition logs live in.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The group coordinator: consumer groups and committed offsets.
    pub fn groups(&self) -> &GroupCoordinator {
        &self.groups
    }

    /// The transaction coordinator.
    pub fn transactions(&self) -> &crate::txn::TransactionCoordinator {
        &self.transactions
    }

    /// Read access to brokers, topics and leadership.
    pub fn metadata(&self) -> RwLockReadGuard<'_, Metadata> {
        // A panic while holding the lock leaves consistent data (every write is a single field
        // or map update), so a poisoned lock is still usable.
        self.metadata.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Write access to brokers, topics and leadership.
    pub fn metadata_mut(&self) -> RwLockWriteGuard<'_, Metadata> {
        self.metadata.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Notified after every successful append.
    pub fn appended(&self) -> &tokio::sync::Notify {
        &self.appended
    }

    /// Installs (`Some`) or removes (`None`) the interceptor every connection calls around each
    /// request. Takes effect from the next request on.
    pub fn set_interceptor(&self, interceptor: Option<Arc<dyn Interceptor>>) {
        *self.interceptor.write().unwrap_or_else(|p| p.into_inner()) = interceptor;
    }

    /// The installed interceptor.
    pub fn interceptor(&self) -> Option<Arc<dyn Interceptor>> {
        self.interceptor.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Numbers a request: how many the state received before it.
    pub(crate) fn next_request_index(&self) -> u64 {
        self.requests.fetch_add(1, Ordering::Relaxed)
    }

    /// Limits `api_key` to versions `min..=max` (intersected with what kafkit serves), in
    /// ApiVersions and in what requests are accepted: a request outside the range closes its
    /// connection, except ApiVersions, which gets the KIP-511 answer. An empty intersection
    /// stops advertising the API. Replaces an earlier pin of the same key.
    ///
    /// Errors: an API kafkit does not serve, or an empty range for ApiVersions (a client could
    /// not even ask which versions are served).
    pub fn pin_api_versions(&self, api_key: ApiKey, min: i16, max: i16) -> Result<()> {
        let served = kafkit_protocol::versions::supported_range(api_key).ok_or_else(|| {
            Error::Config(format!(
                "api key {api_key:?} is not served, so it cannot be pinned"
            ))
        })?;
        if api_key == ApiKey::ApiVersions && min.max(served.min) > max.min(served.max) {
            return Err(Error::Config(format!(
                "ApiVersions cannot be pinned to {min}..={max}: no served version is left"
            )));
        }
        self.pins_mut().insert(api_key as i16, (min, max));
        Ok(())
    }

    /// Removes every version pin.
    pub fn clear_api_version_pins(&self) {
        self.pins_mut().clear();
    }

    fn pins_mut(&self) -> RwLockWriteGuard<'_, BTreeMap<i16, (i16, i16)>> {
        self.version_pins.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The versions of `api_key` served now: kafkit's range narrowed by a pin; `None` when the
    /// API is not served (or pinned away).
    pub fn api_version_range(&self, api_key: ApiKey) -> Option<ApiVersionRange> {
        let served = kafkit_protocol::versions::supported_range(api_key)?;
        let pins = self.version_pins.read().unwrap_or_else(|p| p.into_inner());
        let Some(&(min, max)) = pins.get(&(api_key as i16)) else {
            return Some(served);
        };
        let range = ApiVersionRange {
            api_key,
            min: served.min.max(min),
            max: served.max.min(max),
        };
        (range.min <= range.max).then_some(range)
    }

    /// Every API served now with its version range, in ApiKey order: what ApiVersions answers.
    pub fn api_version_ranges(&self) -> Vec<ApiVersionRange> {
        SUPPORTED_APIS
            .iter()
            .filter_map(|r| self.api_version_range(r.api_key))
            .collect()
    }

    /// A receiver that changes whenever a broker goes down or up.
    pub fn node_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.node_changes.subscribe()
    }

    /// Allocates a producer id no producer had before, in this run or an earlier one on the
    /// same data directory. Fails if the id block cannot be recorded (an I/O error).
    pub fn allocate_producer_id(&self) -> Result<i64> {
        self.producer_ids.allocate()
    }

    /// Creates a topic with `partitions` partitions, leaders spread round-robin over the nodes.
    /// Errors: INVALID_TOPIC_EXCEPTION for a bad name, TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        config: TopicConfig,
    ) -> Result<Uuid, (ErrorCode, String)> {
        storage::validate_topic_name(name).map_err(|e| (ErrorCode::InvalidTopicException, e.to_string()))?;
        if partitions < 1 {
            return Err(invalid_partition_count());
        }
        let mut metadata = self.metadata_mut();
        if metadata.topics.contains_key(name) {
            return Err(topic_exists(name));
        }
        let collides = metadata
            .topics
            .keys()
            .find(|t| t.replace('.', "_") == name.replace('.', "_"));
        if let Some(other) = collides {
            return Err((
                ErrorCode::InvalidTopicException,
                format!("Topic '{name}' collides with existing topic: {other}"),
            ));
        }
        let id = Uuid::new_v4();
        let brokers: Vec<i32> = metadata.brokers.iter().map(|b| b.node_id).collect();
        let mut states = Vec::with_capacity(partitions as usize);
        for index in 0..partitions {
            let dir = storage::partition_dir(&self.data_dir, name, index)
                .map_err(|e| (ErrorCode::InvalidTopicException, e.to_string()))?;
            let mut log_config = self.config.log.clone();
            if let Some(t) = config.timestamp_type {
                log_config.message_timestamp_type = t;
            }
            let log = PartitionLog::open(&dir, log_config, true, 0)
                .and_then(|mut log| log.assign_topic_id(id).map(|()| log))
                .map_err(|e| (ErrorCode::KafkaStorageError, e.to_string()))?;
            states.push(new_partition(index, &brokers, 0, log));
        }
        // Leaders that are down get replaced by the next replica that is up.
        for p in &mut states {
            if !p.leader.is_some_and(|l| metadata.is_up(l)) {
                p.leader = p.replicas.iter().copied().find(|&r| metadata.is_up(r));
            }
        }
        tracing::info!(topic = name, partitions, %id, "created topic");
        metadata.topics.insert(
            name.to_string(),
            TopicState {
                name: name.to_string(),
                id,
                config,
                partitions: states,
            },
        );
        Ok(id)
    }

    /// Grows topic `name` to `count` partitions (Kafka's CreatePartitions): the new partitions
    /// get empty logs, replicas and a leader as at creation, and keep the topic's id and
    /// configs. With `validate_only`, only checks. Partitions can only be added, as in Kafka.
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), (ErrorCode, String)> {
        let mut metadata = self.metadata_mut();
        let brokers: Vec<i32> = metadata.brokers.iter().map(|b| b.node_id).collect();
        // Kafka's messages; an unknown topic gets none.
        let topic = metadata
            .topics
            .get(name)
            .ok_or_else(|| (ErrorCode::UnknownTopicOrPartition, String::new()))?;
        let current = topic.partitions.len() as i32;
        if count <= current {
            let message = if count == current {
                format!("Topic already has {current} partition(s).")
            } else {
                format!("The topic {name} currently has {current} partition(s); {count} would not be an increase.")
            };
            return Err((ErrorCode::InvalidPartitions, message));
        }
        if validate_only {
            return Ok(());
        }
        let (id, timestamp_type) = (topic.id, topic.config.timestamp_type);
        let mut added = Vec::with_capacity((count - current) as usize);
        for index in current..count {
            let dir = storage::partition_dir(&self.data_dir, name, index)
                .map_err(|e| (ErrorCode::InvalidTopicException, e.to_string()))?;
            let mut log_config = self.config.log.clone();
            if let Some(t) = timestamp_type {
                log_config.message_timestamp_type = t;
            }
            let log = PartitionLog::open(&dir, log_config, true, 0)
                .and_then(|mut log| log.assign_topic_id(id).map(|()| log))
                .map_err(|e| (ErrorCode::KafkaStorageError, e.to_string()))?;
            let mut p = new_partition(index, &brokers, 0, log);
            if !p.leader.is_some_and(|l| metadata.is_up(l)) {
                p.leader = p.replicas.iter().copied().find(|&r| metadata.is_up(r));
            }
            added.push(p);
        }
        if let Some(topic) = metadata.topics.get_mut(name) {
            topic.partitions.extend(added);
        }
        tracing::info!(topic = name, from = current, to = count, "added partitions");
        Ok(())
    }

    /// Deletes a topic and its files.
    pub fn delete_topic(&self, name: &str) -> Result<Uuid, ErrorCode> {
        let topic = self
            .metadata_mut()
            .topics
            .remove(name)
            .ok_or(ErrorCode::UnknownTopicOrPartition)?;
        for p in &topic.partitions {
            let dir = lock_log(&p.log).dir().to_path_buf();
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(topic = name, partition = p.index, error = %e, "could not remove partition directory");
            }
        }
        self.groups.topic_deleted(self, name);
        tracing::info!(topic = name, "deleted topic");
        Ok(topic.id)
    }

    /// Closes every log cleanly and writes the clean-shutdown marker.
    pub fn close(&self) -> Result<()> {
        let metadata = self.metadata();
        for topic in metadata.topics.values() {
            for p in &topic.partitions {
                lock_log(&p.log).close()?;
            }
        }
        let marker = self.data_dir.join(CLEAN_SHUTDOWN_FILE);
        std::fs::write(&marker, b"{\"version\":0}\n").map_err(|e| Error::io("write", &marker, e))?;
        Ok(())
    }
}

/// Locks a partition log. A panic inside an append leaves the log as the last completed write
/// left it (appends write the file before they update in-memory offsets), so a poisoned lock is
/// still usable.
pub fn lock_log(log: &Mutex<PartitionLog>) -> MutexGuard<'_, PartitionLog> {
    log.lock().unwrap_or_else(|p| p.into_inner())
}

fn new_partition(index: i32, brokers: &[i32], leader_epoch: i32, log: PartitionLog) -> PartitionState {
    let n = brokers.len().max(1);
    let first = index as usize % n;
    let replicas: Vec<i32> = (0..brokers.len()).map(|i| brokers[(first + i) % n]).collect();
    PartitionState {
        index,
        leader: replicas.first().copied(),
        leader_epoch,
        replicas,
        log: Arc::new(Mutex::new(log)),
    }
}

/// TOPIC_ALREADY_EXISTS with Kafka's message.
pub(crate) fn topic_exists(name: &str) -> (ErrorCode, String) {
    (
        ErrorCode::TopicAlreadyExists,
        format!("Topic '{name}' already exists."),
    )
}

/// INVALID_PARTITIONS for a partition count below 1, with Kafka's message.
pub(crate) fn invalid_partition_count() -> (ErrorCode, String) {
    (
        ErrorCode::InvalidPartitions,
        "Number of partitions was set to an invalid non-positive value.".to_string(),
    )
}
