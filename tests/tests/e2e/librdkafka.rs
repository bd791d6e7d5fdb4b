//! librdkafka's mock cluster as a [`Target`]: kafkit's producer against a broker nobody here
//! wrote, in process, on every run.
//!
//! `rdkafka::mocking::MockCluster` wraps librdkafka's mock broker (real TCP listeners on
//! loopback). It holds a raw pointer and is neither `Send` nor `Sync`, while a [`Target`] must
//! be both; so [`LibrdkafkaMock`] owns it on a dedicated thread and asks that thread for what
//! only the mock's own API can do (creating a topic: the mock does not serve CreateTopics).
//! Everything else goes over the wire: producers connect to its bootstrap address, and
//! partitions are read back by the test kit's fetch client ([`ExternalBroker`] pointed at that
//! address: Metadata, ListOffsets, Fetch).
//!
//! # Where the mock differs from Kafka (what scenarios must skip here)
//! Every scenario of `everywhere` runs here unchanged. What the `shaping` and `held_broker`
//! scenarios need is missing, so they run on the kafkit mock only:
//! - no broker configuration through the `rdkafka` crate: `message.max.bytes` cannot be
//!   lowered, so the broker's own MESSAGE_TOO_LARGE cannot be provoked (only injected);
//! - no request log reachable from Rust (librdkafka's request tracking is not wrapped), so
//!   request shapes cannot be checked;
//! - no way to park one request and release it later (only error stacks, broker down/up and
//!   round-trip delays), so the broker cannot be held.
//!
//! # References
//! - librdkafka `src/rdkafka_mock.h` (`rd_kafka_mock_topic_create`, the supported APIs),
//!   rust-rdkafka `src/mocking.rs`

use std::sync::mpsc;
use std::thread::JoinHandle;

use kafkit_testkit::inspect::StoredRecord;
use kafkit_testkit::target::TargetFuture;
use kafkit_testkit::{Error, ErrorCode, ExternalBroker, Target};
use rdkafka::mocking::MockCluster;
use tokio::sync::oneshot;

/// What the owning thread is asked to do with the mock.
enum Command {
    /// `rd_kafka_mock_topic_create` with one replica.
    CreateTopic {
        topic: String,
        partitions: i32,
        reply: oneshot::Sender<Result<(), Error>>,
    },
}

/// librdkafka's mock cluster (one broker), owned by its own thread; see the [module
/// docs](self). Dropping it stops the thread, which destroys the mock.
#[derive(Debug)]
pub struct LibrdkafkaMock {
    /// The mock's `host:port`.
    bootstrap: String,
    /// Reads partitions back over TCP.
    reader: ExternalBroker,
    /// To the owning thread; dropping it (in `Drop`) ends the thread's loop.
    commands: Option<mpsc::Sender<Command>>,
    /// The owning thread, joined on drop so the mock's listeners are gone when it returns.
    owner: Option<JoinHandle<()>>,
}

/// The mock's error as the test kit's, keeping librdkafka's code when it is a Kafka one.
fn mock_error(operation: String, error: &rdkafka::error::KafkaError) -> Error {
    let code = error
        .rdkafka_error_code()
        .map(|c| c as i32)
        .filter(|&c| c > 0)
        .and_then(|c| i16::try_from(c).ok())
        .map_or(ErrorCode::UnknownServerError, ErrorCode::from);
    Error::Kafka {
        operation,
        code,
        message: Some(error.to_string()),
    }
}

/// The owning thread: creates the mock, reports its address, serves commands until the
/// sender is dropped, then destroys the mock.
fn own_mock(ready: oneshot::Sender<Result<String, Error>>, commands: mpsc::Receiver<Command>) {
    let cluster = match MockCluster::new(1) {
        Ok(cluster) => cluster,
        Err(e) => {
            let _ = ready.send(Err(mock_error("start librdkafka's mock cluster".into(), &e)));
            return;
        }
    };
    if ready.send(Ok(cluster.bootstrap_servers())).is_err() {
        return;
    }
    while let Ok(command) = commands.recv() {
        match command {
            Command::CreateTopic {
                topic,
                partitions,
                reply,
            } => {
                let created = cluster
                    .create_topic(&topic, partitions, 1)
                    .map_err(|e| mock_error(format!("create topic {topic}"), &e));
                let _ = reply.send(created);
            }
        }
    }
}

impl LibrdkafkaMock {
    /// Starts the mock on its thread and waits until its listener answers ApiVersions.
    pub async fn start() -> Result<LibrdkafkaMock, Error> {
        let (ready_tx, ready_rx) = oneshot::channel();
        let (commands, commands_rx) = mpsc::channel();
        let owner = std::thread::Builder::new()
            .name("librdkafka-mock".into())
            .spawn(move || own_mock(ready_tx, commands_rx))
            .map_err(|source| Error::Io {
                what: "spawn the librdkafka mock's thread".into(),
                source,
            })?;
        let started = async {
            let bootstrap = ready_rx.await.map_err(|_| Error::NotRunning)??;
            let reader = ExternalBroker::connect(bootstrap.clone()).await?;
            Ok::<_, Error>((bootstrap, reader))
        };
        match started.await {
            Ok((bootstrap, reader)) => Ok(LibrdkafkaMock {
                bootstrap,
                reader,
                commands: Some(commands),
                owner: Some(owner),
            }),
            Err(e) => {
                drop(commands);
                let _ = owner.join();
                Err(e)
            }
        }
    }
}

impl Drop for LibrdkafkaMock {
    fn drop(&mut self) {
        drop(self.commands.take());
        if let Some(owner) = self.owner.take() {
            let _ = owner.join();
        }
    }
}

impl Target for LibrdkafkaMock {
    fn name(&self) -> String {
        format!("librdkafka mock cluster at {}", self.bootstrap)
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
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            let command = Command::CreateTopic {
                topic: topic.to_string(),
                partitions,
                reply,
            };
            let sent = self.commands.as_ref().map(|c| c.send(command));
            if !matches!(sent, Some(Ok(()))) {
                return Err(Error::NotRunning);
            }
            // librdkafka creates the topic before it answers: Metadata shows it from now on.
            answer.await.map_err(|_| Error::NotRunning)?
        })
    }

    fn read_partition<'a>(&'a self, topic: &'a str, partition: i32) -> TargetFuture<'a, Vec<StoredRecord>> {
        Box::pin(self.reader.read_partition(topic, partition))
    }
}
