//! [`KafkaProcess`]: Apache Kafka run from its jars as a plain JVM process, no Docker: KRaft,
//! each node a combined broker and controller, on free loopback ports, in a temporary directory.
//!
//! The jars come from any Kafka distribution's `libs/` directory, or from the repository's
//! `kafka/kafka.sh fetch`, which copies a pinned release's jars from Maven Central into a
//! cache ([`default_libs_dir`]). Java 17 or later must be on the `PATH` (or in `JAVA_HOME`).
//!
//! Formatting the log directories and starting one node takes a few seconds, so tests share one
//! process-wide Kafka ([`KafkaProcess::shared`]), started the first time a test asks for it.
//! It outlives every test of the binary and stops when the test process ends, however it ends:
//! the JVM runs under a small shell that holds a pipe from the test process and stops the JVM
//! when that pipe closes. [`KafkaProcess::builder`] starts a private one (of up to a few
//! nodes, for leader moves), stopped when dropped.

use std::fmt;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{free_port, ExternalBroker, Target, TargetFuture};
use crate::inspect::StoredRecord;
use crate::security::CertifiedKey;
use crate::{Error, Result};

/// The Kafka release `kafka/kafka.sh` fetches unless told otherwise, and the version in
/// [`default_libs_dir`].
pub const KAFKA_VERSION: &str = "4.1.1";
/// Environment variable naming a directory of Kafka's jars (a distribution's `libs/`).
pub const KAFKA_LIBS_ENV: &str = "KAFKIT_KAFKA_LIBS";
/// Environment variable naming a running Apache Kafka (`host:port,...`) that
/// [`TargetKind::Kafka`](super::TargetKind::Kafka) should use instead of starting one.
pub const KAFKA_BOOTSTRAP_ENV: &str = "KAFKIT_KAFKA_BOOTSTRAP";
/// How long formatting and starting may take before the start is an error.
const START_TIMEOUT: Duration = Duration::from_secs(180);
/// Each node logs at INFO to its stdout, which goes to `server.log` (Kafka's slf4j lines need
/// log4j's slf4j binding among the jars; `kafka.sh fetch` adds it).
const LOG4J2: &str = "status = warn\n\
appender.out.type = Console\n\
appender.out.name = OUT\n\
appender.out.layout.type = PatternLayout\n\
appender.out.layout.pattern = [%d] %p %m (%c)%n\n\
rootLogger.level = info\n\
rootLogger.appenderRef.out.ref = OUT\n\
logger.request.name = kafka.request.logger\n\
logger.request.level = warn\n";
/// The KRaft cluster id every log directory is formatted with (16 bytes, base64url).
const CLUSTER_ID: &str = "a2Fma2l0LWthZmthLXByb2M";

/// `properties` with the SECURE listener added (see [`KafkaProcessBuilder::sasl_ssl`]).
fn secure_properties(
    properties: &str,
    secure: &SecureListener,
    port: u16,
    secure_port: u16,
    dir: &Path,
) -> String {
    let jaas_users: String = secure
        .users
        .iter()
        .map(|(u, p)| format!(" user_{u}=\"{p}\""))
        .collect();
    let replaced: Vec<(String, String)> = vec![
        (
            "advertised.listeners".into(),
            format!("PLAINTEXT://127.0.0.1:{port},SECURE://127.0.0.1:{secure_port}"),
        ),
        (
            "listener.security.protocol.map".into(),
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SECURE:SASL_SSL".into(),
        ),
    ];
    let mut out = String::new();
    for line in properties.lines() {
        let key = line.split('=').next().unwrap_or("");
        if let Some((k, v)) = replaced.iter().find(|(k, _)| k == key) {
            let _ = writeln!(out, "{k}={v}");
        } else if key == "listeners" {
            let _ = writeln!(out, "{line},SECURE://127.0.0.1:{secure_port}");
        } else {
            let _ = writeln!(out, "{line}");
        }
    }
    let extra = [
        (
            "sasl.enabled.mechanisms",
            "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER".to_string(),
        ),
        ("listener.name.secure.ssl.keystore.type", "PEM".to_string()),
        (
            "listener.name.secure.ssl.keystore.location",
            dir.join("broker.pem").display().to_string(),
        ),
        (
            "listener.name.secure.plain.sasl.jaas.config",
            format!("org.apache.kafka.common.security.plain.PlainLoginModule required{jaas_users};"),
        ),
        (
            "listener.name.secure.scram-sha-256.sasl.jaas.config",
            "org.apache.kafka.common.security.scram.ScramLoginModule required;".to_string(),
        ),
        (
            "listener.name.secure.scram-sha-512.sasl.jaas.config",
            "org.apache.kafka.common.security.scram.ScramLoginModule required;".to_string(),
        ),
        (
            "listener.name.secure.oauthbearer.sasl.jaas.config",
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             unsecuredLoginStringClaim_sub=\"admin\";"
                .to_string(),
        ),
    ];
    for (k, v) in extra {
        let _ = writeln!(out, "{k}={v}");
    }
    out
}

/// Where `kafka/kafka.sh fetch` puts the jars of `version`:
/// `$KAFKIT_KAFKA_CACHE` or `$XDG_CACHE_HOME/kafkit` or `~/.cache/kafkit`, then
/// `kafka-<version>/libs`.
pub fn default_libs_dir(version: &str) -> Option<PathBuf> {
    let env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let cache = env("KAFKIT_KAFKA_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("kafkit")))
        .or_else(|| env("HOME").map(|d| d.join(".cache").join("kafkit")))?;
    Some(cache.join(format!("kafka-{version}")).join("libs"))
}

/// The jars to run: `KAFKIT_KAFKA_LIBS` if set, else [`default_libs_dir`] for
/// `KAFKIT_KAFKA_VERSION` (default [`KAFKA_VERSION`]) if `kafka.sh fetch` filled it. `Err`
/// with the reason when neither has Kafka's server jar.
pub fn kafka_libs() -> std::result::Result<PathBuf, String> {
    let (dir, from) = match std::env::var_os(KAFKA_LIBS_ENV).filter(|v| !v.is_empty()) {
        Some(dir) => (PathBuf::from(dir), KAFKA_LIBS_ENV.to_string()),
        None => {
            let version = std::env::var("KAFKIT_KAFKA_VERSION").unwrap_or_else(|_| KAFKA_VERSION.to_string());
            let dir = default_libs_dir(&version).ok_or("no home or cache directory to look in")?;
            (dir, "the kafka/kafka.sh cache".to_string())
        }
    };
    let has_server = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("kafka_2.13-"))
        })
        .unwrap_or(false);
    if has_server {
        Ok(dir)
    } else {
        Err(format!(
            "no Kafka jars in {} ({from}); run `kafka/kafka.sh fetch` or set {KAFKA_LIBS_ENV} to a Kafka distribution's libs/",
            dir.display()
        ))
    }
}

/// Apache Kafka as JVM processes; see the `target::process` module docs.
#[derive(Clone)]
pub struct KafkaProcess {
    broker: ExternalBroker,
    running: Arc<Running>,
}

impl fmt::Debug for KafkaProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaProcess")
            .field("bootstrap", &self.broker.bootstrap_servers())
            .field("dir", &self.running.dir.path())
            .finish()
    }
}

/// The nodes and their directory: stopped and removed when the last handle drops.
struct Running {
    /// The shell that runs the JVMs; it stops them when its stdin closes.
    shell: Mutex<Option<(Child, ChildStdin)>>,
    dir: tempfile::TempDir,
    node_addrs: Vec<String>,
    /// The SASL_SSL listener's addresses, when there is one.
    secure_addrs: Vec<String>,
    libs: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let taken = self.shell.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((mut shell, stdin)) = taken {
            drop(stdin); // the shell stops the JVMs and waits for them
            let _ = shell.wait();
        }
    }
}

/// Settings of a [`KafkaProcess`] before it starts.
#[derive(Debug, Clone)]
pub struct KafkaProcessBuilder {
    libs: PathBuf,
    nodes: usize,
    heap: String,
    config: Vec<(String, String)>,
    secure: Option<SecureListener>,
}

/// A SASL_SSL listener beside the plaintext one.
#[derive(Debug, Clone)]
struct SecureListener {
    certificate: CertifiedKey,
    users: Vec<(String, String)>,
}

impl KafkaProcessBuilder {
    /// Adds a `SASL_SSL` listener (named `SECURE`) on each node, beside the plaintext one:
    /// `certificate` is the brokers' (PEM, from a [`TestCa`](crate::TestCa)), `users` get
    /// PLAIN passwords and SCRAM-SHA-256 and SCRAM-SHA-512 credentials (these added at
    /// format time, as `kafka-storage format --add-scram` does), and OAUTHBEARER takes
    /// unsecured JWTs (Kafka's default validator). The addresses are
    /// [`KafkaProcess::secure_bootstrap_servers`].
    pub fn sasl_ssl(mut self, certificate: CertifiedKey, users: &[(&str, &str)]) -> Self {
        self.secure = Some(SecureListener {
            certificate,
            users: users
                .iter()
                .map(|(u, p)| (u.to_string(), p.to_string()))
                .collect(),
        });
        self
    }

    /// Combined broker-controller nodes (1 by default). Each is a JVM of `heap`.
    pub fn nodes(mut self, nodes: usize) -> Self {
        self.nodes = nodes.max(1);
        self
    }

    /// `-Xmx` of each JVM (`512m` by default).
    pub fn heap(mut self, heap: impl Into<String>) -> Self {
        self.heap = heap.into();
        self
    }

    /// A broker setting (`server.properties` key), added after kafkit's defaults.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.push((key.into(), value.into()));
        self
    }

    /// Formats the log directories, starts every node and waits until each one serves and
    /// Metadata lists them all.
    pub async fn start(self) -> Result<KafkaProcess> {
        let started = Instant::now();
        let builder = self.clone();
        let running = tokio::task::spawn_blocking(move || builder.launch())
            .await
            .map_err(|e| Error::KafkaProcess(format!("the start task failed: {e}")))??;
        let running = Arc::new(running);
        let bootstrap = running.node_addrs.join(",");
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        let broker = loop {
            if let Some(exit) = running.exited() {
                return Err(running.failure(&format!("a node exited during its start ({exit})")));
            }
            if let Ok(broker) = ExternalBroker::connect(bootstrap.clone()).await {
                if broker.broker_count().await.unwrap_or(0) >= self.nodes {
                    break broker;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(running.failure(&format!("not serving after {START_TIMEOUT:?}")));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        tracing::info!(bootstrap, nodes = self.nodes, elapsed = ?started.elapsed(), "Kafka started");
        Ok(KafkaProcess { broker, running })
    }

    /// Writes each node's `server.properties`, formats its log directory, and starts the JVMs
    /// under a shell that stops them when its stdin closes.
    fn launch(&self) -> Result<Running> {
        let dir = tempfile::Builder::new()
            .prefix("kafkit-kafka-")
            .tempdir()
            .map_err(|source| Error::Io {
                what: "create the Kafka directory".to_string(),
                source,
            })?;
        let ports: Vec<(u16, u16)> = (0..self.nodes)
            .map(|_| Ok((free_port()?, free_port()?)))
            .collect::<Result<_>>()?;
        let secure_ports: Vec<u16> = match &self.secure {
            Some(_) => (0..self.nodes).map(|_| free_port()).collect::<Result<_>>()?,
            None => Vec::new(),
        };
        let voters: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, controller))| format!("{}@127.0.0.1:{controller}", i + 1))
            .collect();
        let java = java();
        let classpath = format!("{}/*", self.libs.display());
        let mut script = String::from("set -u\n");
        for (i, (port, controller)) in ports.iter().enumerate() {
            let node = i + 1;
            let node_dir = dir.path().join(format!("node-{node}"));
            let mut properties = self.properties(node, *port, *controller, &voters.join(","), &node_dir);
            let mut add_scram = Vec::new();
            if let (Some(secure), Some(secure_port)) = (&self.secure, secure_ports.get(i)) {
                properties = secure_properties(&properties, secure, *port, *secure_port, &node_dir);
                std::fs::create_dir_all(&node_dir)
                    .and_then(|()| {
                        std::fs::write(node_dir.join("broker.pem"), secure.certificate.keystore_pem())
                    })
                    .map_err(|source| Error::Io {
                        what: format!("write {}", node_dir.display()),
                        source,
                    })?;
                for (user, password) in &secure.users {
                    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
                        add_scram.push("--add-scram".to_string());
                        add_scram.push(format!("{mechanism}=[name={user},password={password}]"));
                    }
                }
            }
            std::fs::create_dir_all(&node_dir)
                .and_then(|()| std::fs::write(node_dir.join("server.properties"), properties))
                .and_then(|()| std::fs::write(node_dir.join("log4j2.properties"), LOG4J2))
                .map_err(|source| Error::Io {
                    what: format!("write {}", node_dir.display()),
                    source,
                })?;
            let format = Command::new(&java)
                .args([
                    "-cp",
                    &classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "--ignore-formatted",
                ])
                .args(["-t", CLUSTER_ID, "-c"])
                .arg(node_dir.join("server.properties"))
                .args(&add_scram)
                .output()
                .map_err(|source| Error::Io {
                    what: format!("run {} (is Java 17 or later installed?)", java.display()),
                    source,
                })?;
            if !format.status.success() {
                return Err(Error::KafkaProcess(format!(
                    "formatting node {node} failed: {}{}",
                    String::from_utf8_lossy(&format.stdout),
                    String::from_utf8_lossy(&format.stderr)
                )));
            }
            script.push_str(&format!(
                "'{java}' -Xmx{heap} -Xms{heap} -XX:+UseG1GC -Djava.awt.headless=true \
                 -Dlog4j2.configurationFile='{log4j}' -cp '{classpath}' \
                 kafka.Kafka '{props}' > '{log}' 2>&1 &\npids=\"${{pids:-}} $!\"\n",
                log4j = node_dir.join("log4j2.properties").display(),
                java = java.display(),
                heap = self.heap,
                props = node_dir.join("server.properties").display(),
                log = node_dir.join("server.log").display(),
            ));
        }
        // Ends when stdin closes (the test process ended or the handle dropped): stop the JVMs
        // and remove their directory (a shared Kafka's handle is never dropped).
        script.push_str(&format!(
            "while read -r _; do :; done\nkill $pids 2>/dev/null\nwait\nrm -rf '{}'\n",
            dir.path().display()
        ));
        let mut shell = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| Error::Io {
                what: "start the Kafka nodes".to_string(),
                source,
            })?;
        let Some(stdin) = shell.stdin.take() else {
            // Invariant: stdin was configured as a pipe above.
            return Err(Error::KafkaProcess("no pipe to the Kafka shell".to_string()));
        };
        Ok(Running {
            shell: Mutex::new(Some((shell, stdin))),
            node_addrs: ports.iter().map(|(p, _)| format!("127.0.0.1:{p}")).collect(),
            secure_addrs: secure_ports.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
            dir,
            libs: self.libs.clone(),
        })
    }

    fn properties(&self, node: usize, port: u16, controller: u16, voters: &str, dir: &Path) -> String {
        let replication = self.nodes.min(3);
        let mut lines = vec![
            ("process.roles".to_string(), "broker,controller".to_string()),
            ("node.id".into(), node.to_string()),
            ("controller.quorum.voters".into(), voters.to_string()),
            (
                "listeners".into(),
                format!("PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}"),
            ),
            (
                "advertised.listeners".into(),
                format!("PLAINTEXT://127.0.0.1:{port}"),
            ),
            ("controller.listener.names".into(), "CONTROLLER".into()),
            ("inter.broker.listener.name".into(), "PLAINTEXT".into()),
            (
                "listener.security.protocol.map".into(),
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT".into(),
            ),
            ("log.dirs".into(), dir.join("data").display().to_string()),
            ("num.partitions".into(), "1".into()),
            ("default.replication.factor".into(), replication.to_string()),
            ("min.insync.replicas".into(), "1".into()),
            ("auto.create.topics.enable".into(), "true".into()),
            ("offsets.topic.replication.factor".into(), replication.to_string()),
            ("offsets.topic.num.partitions".into(), "1".into()),
            (
                "transaction.state.log.replication.factor".into(),
                replication.to_string(),
            ),
            ("transaction.state.log.min.isr".into(), "1".into()),
            ("transaction.state.log.num.partitions".into(), "1".into()),
            ("group.initial.rebalance.delay.ms".into(), "0".into()),
            // KIP-848 members heartbeat every 500 ms, as on the test kit's mock (Kafka: 5 s).
            ("group.consumer.min.heartbeat.interval.ms".into(), "500".into()),
            ("group.consumer.heartbeat.interval.ms".into(), "500".into()),
            (
                "share.coordinator.state.topic.replication.factor".into(),
                replication.to_string(),
            ),
            ("share.coordinator.state.topic.min.isr".into(), "1".into()),
        ];
        lines.extend(self.config.iter().cloned());
        lines.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
    }
}

impl KafkaProcess {
    /// A builder for a private Kafka from the jars in `libs` (see [`kafka_libs`]).
    pub fn builder(libs: impl Into<PathBuf>) -> KafkaProcessBuilder {
        KafkaProcessBuilder {
            libs: libs.into(),
            nodes: 1,
            heap: "512m".to_string(),
            config: Vec::new(),
            secure: None,
        }
    }

    /// The test process's shared one-node Kafka, started on first use from [`kafka_libs`].
    /// `Ok(None)` with the reason when there are no jars; an error when Kafka would not start.
    pub async fn shared() -> Result<std::result::Result<KafkaProcess, String>> {
        static SHARED: tokio::sync::OnceCell<std::result::Result<KafkaProcess, String>> =
            tokio::sync::OnceCell::const_new();
        let shared = SHARED
            .get_or_init(|| async {
                let libs = kafka_libs()?;
                KafkaProcess::builder(libs)
                    .start()
                    .await
                    .map_err(|e| format!("start failed: {e}"))
            })
            .await;
        match shared {
            Ok(kafka) => Ok(Ok(kafka.clone())),
            Err(reason) if reason.starts_with("start failed") => Err(Error::KafkaProcess(reason.clone())),
            Err(reason) => Ok(Err(reason.clone())),
        }
    }

    /// The SASL_SSL listener's `host:port` list, when started with
    /// [`KafkaProcessBuilder::sasl_ssl`].
    pub fn secure_bootstrap_servers(&self) -> Option<String> {
        (!self.running.secure_addrs.is_empty()).then(|| self.running.secure_addrs.join(","))
    }

    /// The nodes' client addresses, in node id order (node `i + 1` at index `i`).
    pub fn node_addrs(&self) -> &[String] {
        &self.running.node_addrs
    }

    /// The directory of node `node_id`: `server.properties`, `server.log` and the log
    /// directory `data/` with its `<topic>-<partition>` directories.
    pub fn node_dir(&self, node_id: i32) -> PathBuf {
        self.running.dir.path().join(format!("node-{node_id}"))
    }

    /// The jars this Kafka runs from (Kafka's tools run from them too).
    pub fn libs(&self) -> &Path {
        &self.running.libs
    }
}

impl Running {
    /// `Some(status)` when the shell (and so the JVMs) ended.
    fn exited(&self) -> Option<String> {
        let mut shell = self.shell.lock().unwrap_or_else(|p| p.into_inner());
        let (child, _) = shell.as_mut()?;
        child.try_wait().ok().flatten().map(|s| s.to_string())
    }

    /// An error saying what went wrong, with the end of each node's log.
    fn failure(&self, what: &str) -> Error {
        let mut message = format!("Kafka in {}: {what}", self.dir.path().display());
        for node in 1..=self.node_addrs.len() {
            let log = self.dir.path().join(format!("node-{node}")).join("server.log");
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            let _ = write!(
                message,
                "\nnode {node} ({}), last lines:\n{}",
                log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Error::KafkaProcess(message)
    }
}

/// `$JAVA_HOME/bin/java` when `JAVA_HOME` is set, else `java` from the `PATH`.
fn java() -> PathBuf {
    std::env::var_os("JAVA_HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join("bin").join("java"))
        .unwrap_or_else(|| PathBuf::from("java"))
}

impl Target for KafkaProcess {
    fn name(&self) -> String {
        format!("Apache Kafka process at {}", self.broker.bootstrap_servers())
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
