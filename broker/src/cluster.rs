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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use kafkit_protocol::ErrorCode;
use uuid::Uuid;

use crate::config::{ClusterConfig, TopicConfig};
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

    /// The node `node_id`.
    pub fn broker(&self, node_id: i32) -> Option<&BrokerInfo> {
        self.brokers.iter().find(|b| b.node_id == node_id)
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
    /// The next producer id InitProducerId hands out; cluster-wide and monotonic.
    next_producer_id: AtomicI64,
    /// Woken after every successful append, for fetches waiting for data.
    appended: tokio::sync::Notify,
}

impl ClusterState {
    /// Creates the state, opening (and recovering) every partition log found in the data
    /// directory. `brokers` gives each node's advertised address.
    pub(crate) fn open(config: ClusterConfig, brokers: Vec<BrokerInfo>) -> Result<Self> {
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
        let state = ClusterState {
            config,
            data_dir,
            _temp_dir: temp_dir,
            metadata: RwLock::new(Metadata {
                brokers,
                topics: BTreeMap::new(),
            }),
            next_producer_id: AtomicI64::new(1000),
            appended: tokio::sync::Notify::new(),
        };
        state.load_topics(clean)?;
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
        self.next_producer_id
            .fetch_max(max_producer_id + 1, Ordering::Relaxed);
        Ok(())
    }

    /// The cluster's configuration.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// The directory partition logs live in.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
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

    /// Allocates a fresh producer id.
    pub fn allocate_producer_id(&self) -> i64 {
        self.next_producer_id.fetch_add(1, Ordering::Relaxed)
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
            return Err((
                ErrorCode::InvalidPartitions,
                format!("number of partitions must be at least 1, got {partitions}"),
            ));
        }
        let mut metadata = self.metadata_mut();
        if metadata.topics.contains_key(name) {
            return Err((
                ErrorCode::TopicAlreadyExists,
                format!("topic '{name}' already exists"),
            ));
        }
        let collides = metadata
            .topics
            .keys()
            .find(|t| t.replace('.', "_") == name.replace('.', "_"));
        if let Some(other) = collides {
            return Err((
                ErrorCode::InvalidTopicException,
                format!("topic '{name}' collides with existing topic '{other}'"),
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

/// A running cluster: the shared state plus one listener task per node.
///
/// Dropping it stops the listeners and connections without closing the logs cleanly (the next
/// start from the same data directory recovers them, as after a crash); call
/// [`Cluster::shutdown`] for a clean stop.
///
/// ```
/// # tokio_test_runtime(async {
/// use kafkit_broker::{Cluster, ClusterConfig};
/// let cluster = Cluster::start(ClusterConfig { brokers: 2, ..Default::default() }).await?;
/// assert_eq!(cluster.bootstrap_servers().split(',').count(), 2);
/// cluster.shutdown().await?;
/// # Ok::<(), kafkit_broker::Error>(())
/// # });
/// # fn tokio_test_runtime<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug)]
pub struct Cluster {
    state: Arc<ClusterState>,
    addrs: Vec<std::net::SocketAddr>,
    /// Turning it true stops every listener and connection; each holds a receiver.
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Cluster {
    /// Binds every node's listener, opens (or recovers) the data directory, and starts serving.
    pub async fn start(config: ClusterConfig) -> Result<Cluster> {
        if config.brokers == 0 {
            return Err(Error::Config("brokers must be at least 1".to_string()));
        }
        let mut listeners = Vec::with_capacity(config.brokers);
        for i in 0..config.brokers {
            let port = if config.port == 0 {
                0
            } else {
                config.port.saturating_add(i as u16)
            };
            let addr = format!("{}:{port}", config.host);
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .map_err(|e| Error::Config(format!("cannot listen on {addr}: {e}")))?;
            listeners.push(listener);
        }
        let mut addrs = Vec::with_capacity(listeners.len());
        for l in &listeners {
            addrs.push(
                l.local_addr()
                    .map_err(|e| Error::Config(format!("listener address: {e}")))?,
            );
        }
        let brokers = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| BrokerInfo {
                node_id: i as i32,
                host: config.host.clone(),
                port: i32::from(a.port()),
                up: true,
            })
            .collect();
        let state = Arc::new(ClusterState::open(config, brokers)?);
        let (shutdown, rx) = tokio::sync::watch::channel(false);
        let tasks = listeners
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                tokio::spawn(crate::server::run_listener(
                    state.clone(),
                    i as i32,
                    l,
                    rx.clone(),
                ))
            })
            .collect();
        tracing::info!(bootstrap = %addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(","), "cluster started");
        Ok(Cluster {
            state,
            addrs,
            shutdown,
            tasks,
        })
    }

    /// `host:port` of every node, comma-separated: what clients take as `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        self.addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Each node's listening address, by node id.
    pub fn addrs(&self) -> &[std::net::SocketAddr] {
        &self.addrs
    }

    /// The shared state: topics, leadership, logs.
    pub fn state(&self) -> &Arc<ClusterState> {
        &self.state
    }

    /// A receiver that turns true when the cluster stops, for connections served outside the
    /// listeners (in-memory transports).
    pub fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Stops serving, waits for the listeners, then closes every log cleanly and marks the data
    /// directory clean.
    pub async fn shutdown(mut self) -> Result<()> {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        self.state.close()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
