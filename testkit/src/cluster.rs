//! [`MockCluster`]: an in-process kafkit cluster for tests, with faults, a journal,
//! inspection and cluster events.
//!
//! # Layout
//! - this file: the builder, start, restart, connections, faults, journal and version pins.
//! - `events.rs`: leader moves, broker down/up, topic creation and deletion.
//! - `nodes.rs`: the running cluster and its addresses, shared (weakly) with the
//!   [`InMemoryConnector`](crate::InMemoryConnector).
//!
//! # Threads and runtimes
//! The cluster's listener and connection tasks are spawned on the tokio runtime that calls
//! [`MockClusterBuilder::start`] (current-thread or multi-thread), so they run whenever that
//! runtime runs: on a current-thread runtime, while the test awaits something. Every method
//! except `start`, `restart` and the `wait_*` helpers is synchronous and may be called from any
//! thread; `MockCluster` is `Send + Sync`. Dropping it stops every task and removes the
//! temporary data directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::messages::ApiKey;
use kafkit_broker::auth::{ClientAuth, ListenerConfig, SecurityProtocol, TlsConfig};
use kafkit_broker::config::TopicConfig;
use kafkit_broker::{Cluster, ClusterConfig, ClusterState};
use kafkit_protocol::sasl::scram::Hash;
use kafkit_protocol::ErrorCode;
use tokio::io::DuplexStream;
use tokio::net::TcpListener;

use crate::fault::{Fault, FaultHandle};
use crate::hook::Hook;
use crate::inspect::{self, CommittedOffset, PartitionInfo, ProducerInfo, StoredRecord};
use crate::journal::Journal;
use crate::security::{CertifiedKey, TestCa};
use crate::{Error, Result};

mod events;
mod nodes;

pub(crate) use nodes::Nodes;

/// How a [`MockCluster::restart`] stops the cluster before starting it again on the same data
/// directory and ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RestartMode {
    /// Close every log (indexes trimmed and flushed, producer state kept), mark the directory
    /// clean; the next start loads without recovery.
    Clean,
    /// Drop everything without closing, as a killed process would; the next start recovers
    /// (re-validates the log tail, rebuilds indexes and producer state).
    Crash,
}

/// Settings of a [`MockCluster`]; see [`MockCluster::builder`].
#[derive(Debug, Clone)]
#[must_use = "call .start().await to start the cluster"]
pub struct MockClusterBuilder {
    config: ClusterConfig,
    topics: Vec<(String, i32)>,
    tls: Option<ClientAuth>,
    sasl: bool,
}

impl MockClusterBuilder {
    /// Number of brokers (node ids `0..n`), each with its own listener on 127.0.0.1. Default 1.
    pub fn brokers(mut self, n: usize) -> Self {
        self.config.brokers = n;
        self
    }

    /// A topic created at start with `partitions` partitions (leaders spread round-robin
    /// over the brokers). Repeatable. Kept as is when it already exists in the data directory.
    pub fn topic(mut self, name: impl Into<String>, partitions: i32) -> Self {
        self.topics.push((name.into(), partitions));
        self
    }

    /// `auto.create.topics.enable`: whether Metadata creates the topics it is asked for.
    /// Default true.
    pub fn auto_create_topics(mut self, enabled: bool) -> Self {
        self.config.auto_create_topics = enabled;
        self
    }

    /// `num.partitions`: partitions of an auto-created topic. Default 1.
    pub fn default_partitions(mut self, n: i32) -> Self {
        self.config.num_partitions = n;
        self
    }

    /// Where the partition logs live; kept when the cluster drops (restart tests, a look with
    /// `kafkit-broker dump-log`). Default: a temporary directory removed on drop.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.data_dir = Some(dir.into());
        self
    }

    /// The cluster id Metadata reports.
    pub fn cluster_id(mut self, id: impl Into<String>) -> Self {
        self.config.cluster_id = id.into();
        self
    }

    /// Every broker setting at once, for what the other methods do not cover (segment sizes,
    /// validation defaults, `connections.max.reauth.ms`, ...). `host`, `port` and `brokers`
    /// keep their meaning. It replaces the whole configuration, SASL users included: call it
    /// before `sasl_plain`, `sasl_scram` and `sasl_oauthbearer` (`tls()` applies either way).
    pub fn config(mut self, config: ClusterConfig) -> Self {
        self.config = config;
        self
    }

    /// Serves TLS: a CA and a certificate for the brokers (valid for `127.0.0.1` and
    /// `localhost`) are made in memory; clients get the CA from
    /// [`MockCluster::ca_certificate_pem`] or [`MockCluster::client_properties`]. The listener
    /// is `SSL`, or `SASL_SSL` with a `sasl_*` option.
    pub fn tls(mut self) -> Self {
        self.tls.get_or_insert(ClientAuth::None);
        self
    }

    /// TLS that requires a client certificate signed by the cluster's CA
    /// ([`MockCluster::client_certificate`]); the principal is the certificate's subject.
    pub fn mutual_tls(mut self) -> Self {
        self.tls = Some(ClientAuth::Required);
        self
    }

    /// SASL PLAIN with these users and passwords (the listener becomes `SASL_PLAINTEXT`, or
    /// `SASL_SSL` with [`tls`](Self::tls)).
    pub fn sasl_plain(mut self, users: &[(&str, &str)]) -> Self {
        for (user, password) in users {
            self.config.security.sasl.add_plain_user(user, password);
        }
        self.sasl = true;
        self
    }

    /// SASL SCRAM-SHA-256 and SCRAM-SHA-512 with these users; only salted credentials are
    /// kept (4096 iterations, Kafka's default).
    pub fn sasl_scram(mut self, users: &[(&str, &str)]) -> Self {
        for (user, password) in users {
            for hash in [Hash::Sha256, Hash::Sha512] {
                // Invariant: 4096 is within Kafka's range, and the system's random
                // generator only fails on a broken machine (then the cluster starts without
                // the user, and authentication fails, as a test would notice).
                let _ = self
                    .config
                    .security
                    .sasl
                    .add_scram_user(hash, user, password, 4096);
            }
        }
        self.sasl = true;
        self
    }

    /// SASL OAUTHBEARER with unsecured JWTs (as Kafka's `OAuthBearerUnsecuredValidatorCallbackHandler`):
    /// a token must name one of `audience` (any, when empty) and not be expired.
    pub fn sasl_oauthbearer(mut self, audience: &[&str]) -> Self {
        self.config.security.sasl.oauth_enabled = true;
        self.config.security.sasl.oauth_allowed_audience = audience.iter().map(|a| a.to_string()).collect();
        self.sasl = true;
        self
    }

    /// Binds the listeners, opens (or recovers) the data directory, creates the seed topics
    /// and starts serving on the current tokio runtime.
    pub async fn start(self) -> Result<MockCluster> {
        let MockClusterBuilder {
            mut config,
            topics,
            tls,
            sasl,
        } = self;
        if config.brokers == 0 {
            return Err(Error::Config("brokers must be at least 1".to_string()));
        }
        let ca = match tls {
            Some(client_auth) => {
                let ca = TestCa::new()?;
                let server = ca.server_certificate(&[config.host.as_str(), "localhost"])?;
                config.security.tls = Some(TlsConfig {
                    certificate_chain_pem: server.certificate_pem,
                    private_key_pem: server.private_key_pem,
                    truststore_pem: (client_auth != ClientAuth::None).then(|| ca.certificate_pem()),
                    client_auth,
                });
                Some(Arc::new(ca))
            }
            None => None,
        };
        if (tls.is_some() || sasl) && config.security.listeners.is_empty() {
            let protocol = match (tls.is_some(), sasl) {
                (true, true) => SecurityProtocol::SaslSsl,
                (true, false) => SecurityProtocol::Ssl,
                _ => SecurityProtocol::SaslPlaintext,
            };
            config.security.listeners = vec![ListenerConfig {
                name: protocol.name().to_string(),
                protocol,
                host: config.host.clone(),
                port: 0,
                advertised: None,
            }];
        }
        let temp_dir = match &config.data_dir {
            Some(_) => None,
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("kafkit-testkit-")
                    .tempdir()
                    .map_err(|source| Error::Io {
                        what: "create a temporary data directory".to_string(),
                        source,
                    })?;
                config.data_dir = Some(dir.path().to_path_buf());
                Some(dir)
            }
        };
        let mut listeners = Vec::with_capacity(config.brokers);
        for _ in 0..config.brokers {
            listeners.push(bind(&config.host, 0).await?);
        }
        let addrs = listeners
            .iter()
            .map(|l| l.local_addr())
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|source| Error::Io {
                what: "read a listener's address".to_string(),
                source,
            })?;
        let cluster = Cluster::start_with_listeners(config.clone(), listeners)?;
        let hook = Arc::new(Hook::default());
        cluster.state().set_interceptor(Some(hook.clone()));
        let mock = MockCluster {
            nodes: Arc::new(Nodes::new(cluster, config.host.clone(), addrs)),
            config,
            hook,
            pins: Mutex::new(Vec::new()),
            restarting: tokio::sync::Mutex::new(()),
            ca,
            _temp_dir: temp_dir,
        };
        for (name, partitions) in topics {
            match mock.create_topic(&name, partitions) {
                Err(Error::Kafka {
                    code: ErrorCode::TopicAlreadyExists,
                    ..
                }) => {}
                other => other?,
            }
        }
        Ok(mock)
    }
}

async fn bind(host: &str, port: u16) -> Result<TcpListener> {
    TcpListener::bind((host, port)).await.map_err(|source| Error::Io {
        what: format!("listen on {host}:{port}"),
        source,
    })
}

/// An in-process Kafka cluster for tests. See the [crate docs](crate) for a tour.
///
/// Every node listens on its own loopback port (kept across [`restart`](Self::restart)s) and
/// can also be reached without sockets through [`connect_in_memory`](Self::connect_in_memory).
/// All nodes share one log per partition; leadership is metadata, so moving a leader or taking
/// a broker down moves no data.
#[derive(Debug)]
pub struct MockCluster {
    /// The running broker cluster and each node's address. The only strong reference:
    /// in-memory connectors hold it weakly, so dropping the `MockCluster` stops the cluster
    /// even while a producer still holds a connector.
    nodes: Arc<Nodes>,
    /// What every (re)start uses; `data_dir` is always set.
    config: ClusterConfig,
    /// Faults and journal; installed on every broker state this cluster starts.
    hook: Arc<Hook>,
    /// Version pins, re-applied after a restart.
    pins: Mutex<Vec<(ApiKey, i16, i16)>>,
    /// Serialises restarts.
    restarting: tokio::sync::Mutex<()>,
    /// The CA of a TLS cluster.
    ca: Option<Arc<TestCa>>,
    /// Removed after `nodes` (fields drop in order), when the cluster was given no data dir.
    _temp_dir: Option<tempfile::TempDir>,
}

impl MockCluster {
    /// A builder: 1 broker, no topics, topics auto-created with 1 partition, temporary data
    /// directory, and consumer groups that rebalance at once (`group.initial.rebalance.delay.ms`
    /// 0, where Kafka waits 3 s for more members) and KIP-848 members that heartbeat every
    /// 500 ms (`group.consumer.heartbeat.interval.ms`; Kafka: 5 s). The test kit's Kafka
    /// process is set up the same way; set them back with [`MockClusterBuilder::config`].
    pub fn builder() -> MockClusterBuilder {
        let mut config = ClusterConfig::default();
        config.groups.initial_rebalance_delay = std::time::Duration::ZERO;
        config.groups.consumer_heartbeat_interval = std::time::Duration::from_millis(500);
        MockClusterBuilder {
            config,
            topics: Vec::new(),
            tls: None,
            sasl: false,
        }
    }

    /// The listener's security protocol (`PLAINTEXT` unless built with TLS or SASL).
    pub fn security_protocol(&self) -> SecurityProtocol {
        self.config
            .security
            .effective_listeners(&self.config.host, 0)
            .first()
            .map_or(SecurityProtocol::Plaintext, |l| l.protocol)
    }

    /// The CA certificate (PEM) of a TLS cluster: what a client trusts.
    pub fn ca_certificate_pem(&self) -> Option<String> {
        self.ca.as_ref().map(|ca| ca.certificate_pem())
    }

    /// A client certificate signed by the cluster's CA, for mutual TLS: subject
    /// `CN=<common_name>,O=kafkit`, principal `User:CN=<common_name>,O=kafkit`. An error when
    /// the cluster has no TLS.
    pub fn client_certificate(&self, common_name: &str) -> Result<CertifiedKey> {
        self.ca
            .as_ref()
            .ok_or_else(|| Error::Config("the cluster was built without tls()".to_string()))?
            .client_certificate(common_name)
    }

    /// What any client needs besides its credentials: `security.protocol` and, with TLS,
    /// the CA as `ssl.truststore.type=PEM` + `ssl.truststore.certificates` (Java's and
    /// kafkit's keys).
    pub fn client_properties(&self) -> Vec<(String, String)> {
        let mut out = vec![(
            "security.protocol".to_string(),
            self.security_protocol().name().to_string(),
        )];
        if let Some(pem) = self.ca_certificate_pem() {
            out.push(("ssl.truststore.type".to_string(), "PEM".to_string()));
            out.push(("ssl.truststore.certificates".to_string(), pem));
        }
        out
    }

    /// The running cluster and its addresses, for in-memory connectors.
    pub(crate) fn nodes(&self) -> &Arc<Nodes> {
        &self.nodes
    }

    /// The broker state of the running cluster. Callers must not keep it across an `.await`
    /// (a crash restart waits for every holder to let go of the logs).
    pub(crate) fn state(&self) -> Result<Arc<ClusterState>> {
        self.nodes.state()
    }

    /// `host:port` of every broker, comma-separated: `bootstrap.servers` for any client.
    pub fn bootstrap_servers(&self) -> String {
        self.nodes
            .addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Each broker's address, by node id.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.nodes.addrs
    }

    /// Number of brokers.
    pub fn brokers(&self) -> usize {
        self.nodes.addrs.len()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        // Invariant: `start` always sets it (to the temporary directory when none was given).
        self.config.data_dir.as_deref().unwrap_or(Path::new("."))
    }

    /// A client connection to node `node_id` without a socket: the returned stream is served
    /// exactly like a TCP connection accepted by that node (faults, journal, closed when the
    /// node is down or the cluster stops or restarts). Must be called inside a tokio runtime.
    pub fn connect_in_memory(&self, node_id: i32) -> Result<DuplexStream> {
        self.nodes.connect(node_id)
    }

    /// The node advertised at `host:port` (as Metadata lists it, or as given in
    /// [`bootstrap_servers`](Self::bootstrap_servers)).
    pub fn node_id_of(&self, address: &str) -> Option<i32> {
        self.nodes.node_id_of(address)
    }

    /// [`connect_in_memory`](Self::connect_in_memory) to the node advertised at `host:port`:
    /// what an in-memory connector hands a client that asks for an address it read from
    /// Metadata.
    pub fn connect_in_memory_to(&self, address: &str) -> Result<DuplexStream> {
        self.nodes.connect_to(address)
    }

    /// Stops the cluster (see [`RestartMode`]) and starts it again on the same data directory
    /// and ports, so clients reconnect by themselves. Leaders stay where they were, each with
    /// its epoch bumped (a restarted leader is re-elected, as in Kafka); every broker is up;
    /// topic configs, faults, journal and version pins are kept. Open connections are closed;
    /// requests not answered by then are journaled as [`Delivery::Abandoned`](crate::Delivery::Abandoned).
    pub async fn restart(&self, mode: RestartMode) -> Result<()> {
        let _one_at_a_time = self.restarting.lock().await;
        let old = self.nodes.take().ok_or(Error::NotRunning)?;
        let snapshot = events::LeadershipSnapshot::take(old.state());
        let stopped = match mode {
            RestartMode::Clean => old.shutdown().await,
            RestartMode::Crash => {
                old.crash().await;
                Ok(())
            }
        };
        // Every connection task has ended: what they had not answered never will be.
        self.hook.journal.abandon_pending(None);
        stopped?;
        let mut listeners = Vec::with_capacity(self.nodes.addrs.len());
        for addr in &self.nodes.addrs {
            listeners.push(bind(&self.config.host, addr.port()).await?);
        }
        let cluster = Cluster::start_with_listeners(self.config.clone(), listeners)?;
        snapshot.restore(cluster.state());
        for &(api_key, min, max) in self.pins.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            cluster.state().pin_api_versions(api_key, min, max)?;
        }
        cluster.state().set_interceptor(Some(self.hook.clone()));
        self.nodes.put(cluster);
        Ok(())
    }

    /// Installs a fault; it applies from the next request on.
    pub fn fault(&self, fault: Fault) -> FaultHandle {
        self.hook.install(fault)
    }

    /// Every fault installed (including exhausted and removed ones), in installation order.
    pub fn faults(&self) -> Vec<FaultHandle> {
        self.hook.handles()
    }

    /// Removes every fault and releases every held request.
    pub fn clear_faults(&self) {
        self.hook.clear();
    }

    /// Panics, naming them, if any installed fault never fired: a test whose faults did not
    /// fire would pass without them and proves nothing.
    #[track_caller]
    pub fn assert_all_faults_fired(&self) {
        let idle: Vec<String> = self
            .faults()
            .iter()
            .filter(|f| f.hits() == 0)
            .map(ToString::to_string)
            .collect();
        assert!(
            idle.is_empty(),
            "{} fault(s) never fired:\n  {}",
            idle.len(),
            idle.join("\n  ")
        );
    }

    /// The journal of every request and response (a live view).
    pub fn journal(&self) -> Journal {
        self.hook.journal.clone()
    }

    /// Limits `api_key` to versions `min..=max` (within what kafkit serves), in ApiVersions and
    /// in what is accepted: emulates an older broker. Kept across restarts.
    pub fn pin_api_versions(&self, api_key: ApiKey, min: i16, max: i16) -> Result<()> {
        self.state()?.pin_api_versions(api_key, min, max)?;
        let mut pins = self.pins.lock().unwrap_or_else(|p| p.into_inner());
        pins.retain(|p| p.0 != api_key);
        pins.push((api_key, min, max));
        Ok(())
    }

    /// Removes every version pin.
    pub fn clear_api_version_pins(&self) -> Result<()> {
        self.state()?.clear_api_version_pins();
        self.pins.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Ok(())
    }

    /// Every record of `topic`/`partition` as stored, in offset order.
    pub fn records(&self, topic: &str, partition: i32) -> Result<Vec<StoredRecord>> {
        let state = self.state()?;
        inspect::records(&state, topic, partition)
    }

    /// Leadership and offsets of `topic`/`partition`.
    pub fn partition_state(&self, topic: &str, partition: i32) -> Result<PartitionInfo> {
        let state = self.state()?;
        inspect::partition_state(&state, topic, partition)
    }

    /// The idempotent producers `topic`/`partition` remembers, by producer id.
    pub fn producer_state(&self, topic: &str, partition: i32) -> Result<Vec<ProducerInfo>> {
        let state = self.state()?;
        inspect::producer_state(&state, topic, partition)
    }

    /// Consumer group `group_id` as the coordinator holds it (state, generation, protocol,
    /// leader, members with their assignments); `None` if no such group exists.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cluster = kafkit_testkit::MockCluster::builder().start().await?;
    /// assert!(cluster.group("payments")?.is_none());
    /// assert_eq!(cluster.committed_offset("payments", "orders", 0)?, None);
    /// # Ok::<(), kafkit_testkit::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn group(&self, group_id: &str) -> Result<Option<kafkit_broker::group::GroupInfo>> {
        Ok(self.state()?.groups().group(group_id))
    }

    /// KIP-848 consumer group `group_id` (members that joined with `group.protocol=consumer`)
    /// as the coordinator holds it: its state, group and assignment epochs, assignor, and
    /// members with their epochs, subscriptions and partitions
    /// ([`ConsumerGroup::assigned_partitions`](kafkit_broker::group::consumer::ConsumerGroup::assigned_partitions)
    /// gives them by topic name); `None` if there is no such KIP-848 group.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cluster = kafkit_testkit::MockCluster::builder().start().await?;
    /// assert!(cluster.consumer_group("payments")?.is_none());
    /// # Ok::<(), kafkit_testkit::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn consumer_group(
        &self,
        group_id: &str,
    ) -> Result<Option<kafkit_broker::group::consumer::ConsumerGroup>> {
        Ok(self.state()?.groups().consumer_group(group_id))
    }

    /// Transactional id `transactional_id` as the transaction coordinator holds it: producer
    /// id and epoch, state, timeout, and the partitions of its open transaction; `None` if
    /// the coordinator does not know it.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cluster = kafkit_testkit::MockCluster::builder().start().await?;
    /// assert!(cluster.transaction("payments-tx")?.is_none());
    /// # Ok::<(), kafkit_testkit::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn transaction(&self, transactional_id: &str) -> Result<Option<kafkit_broker::txn::TxnSummary>> {
        Ok(self.state()?.transactions().transaction(transactional_id))
    }

    /// The offset group `group_id` committed for `topic`/`partition`, if any.
    pub fn committed_offset(&self, group_id: &str, topic: &str, partition: i32) -> Result<Option<i64>> {
        Ok(self
            .state()?
            .groups()
            .committed(group_id, topic, partition)
            .map(|c| c.offset))
    }

    /// Every offset consumer group `group_id` committed, by topic and partition, with its lag
    /// behind the partition's high watermark.
    pub fn committed_offsets(&self, group_id: &str) -> Result<Vec<CommittedOffset>> {
        let state = self.state()?;
        Ok(inspect::committed_offsets(&state, group_id))
    }

    /// The ids of every consumer group, sorted.
    pub fn groups(&self) -> Result<Vec<String>> {
        Ok(self.state()?.groups().group_ids())
    }

    /// Every topic with its partition count, by name.
    pub fn topics(&self) -> Result<Vec<(String, i32)>> {
        let state = self.state()?;
        let metadata = state.metadata();
        Ok(metadata
            .topics
            .values()
            .map(|t| (t.name.clone(), t.partitions.len() as i32))
            .collect())
    }

    /// Waits until `condition` holds, checking it at once, after every request the cluster
    /// receives or answers, and every few milliseconds; errors after `timeout`. Cancel safe.
    pub async fn wait_until<F>(&self, mut condition: F, timeout: Duration) -> Result<()>
    where
        F: FnMut(&MockCluster) -> bool,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changes = self.hook.journal.subscribe();
        loop {
            if condition(self) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout {
                    waited: timeout,
                    what: "the condition".to_string(),
                });
            }
            // Requests cover most changes; the tick covers the rest (a test's own calls from
            // another task, a fetch answered without a new request).
            let tick = tokio::time::Instant::now() + Duration::from_millis(5);
            tokio::select! {
                _ = changes.changed() => {}
                _ = tokio::time::sleep_until(tick.min(deadline)) => {}
            }
        }
    }
}

/// A topic config from Kafka-style key/value pairs.
pub(crate) fn topic_config(configs: &[(&str, &str)]) -> Result<TopicConfig> {
    let mut config = TopicConfig::default();
    for (key, value) in configs {
        config.set(key, value).map_err(|message| Error::Kafka {
            operation: format!("set topic config {key}"),
            code: ErrorCode::InvalidConfig,
            message: Some(message),
        })?;
    }
    Ok(config)
}
