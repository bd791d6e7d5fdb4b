//! The harness: the two peers, a case's context, and what a case observed.
//!
//! A case runs once on each peer, with topics of its own created on that peer, over one TCP
//! connection of [`WireClient`] (exact request versions, no retries, no negotiation). It
//! records what the peer answered as `field -> value` pairs in an [`Observation`], already
//! normalised so that equal behaviour gives equal text: topic names become the labels the case
//! gave them, the peer's own node id becomes `self`, broker timestamps near the wall clock
//! become `now`, ids the broker allocates become `set`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, BrokerId, CreateTopicsRequest, CreateTopicsResponse, ListOffsetsRequest,
    MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafkit_protocol::ErrorCode;
use kafkit_testkit::target::unique_topic;
use kafkit_testkit::WireClient;
use tokio::net::TcpStream;

/// What a case returns when the exchange itself failed (a peer closed the connection, a
/// response did not decode); that failure is recorded as the case's outcome.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A case's result.
pub type CaseResult = Result<(), BoxError>;
/// A case: runs on a peer's context and records what it saw.
pub type CaseFn = for<'a, 'p> fn(&'a mut Ctx<'p>) -> Pin<Box<dyn Future<Output = CaseResult> + 'a>>;

/// One named exchange.
pub struct Case {
    /// Names the case in failures and in the README's deviation table.
    pub name: &'static str,
    /// The exchange.
    pub run: CaseFn,
}

/// Defines a list of cases from `async fn name(ctx: &mut Ctx) -> CaseResult` functions.
#[macro_export]
macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        vec![$($crate::harness::Case { name: stringify!($name), run: |ctx| Box::pin($name(ctx)) }),*]
    };
}

/// A broker the cases run on.
pub struct Peer {
    /// Its only broker's address.
    pub addr: String,
    /// Its broker's node id.
    pub node_id: i32,
    /// The versions it serves, by ApiKey.
    pub versions: BTreeMap<i16, (i16, i16)>,
}

impl Peer {
    /// Connects to the one-broker cluster at `addr` and reads its versions and node id.
    pub async fn connect(addr: String) -> Result<Peer, BoxError> {
        let mut client = connect(&addr).await?;
        let versions = client.send(3, &api_versions_request()).await?;
        let versions = versions
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        let metadata = client
            .send(1, &MetadataRequest::default().with_topics(Some(vec![])))
            .await?;
        let node_id = metadata.brokers.first().map_or(-1, |b| b.node_id.0);
        Ok(Peer {
            addr,
            node_id,
            versions,
        })
    }
}

/// ApiVersions v3+ as a client sends it: with its software name and version (Kafka refuses
/// empty ones).
pub fn api_versions_request() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("kafkit-conformance"))
        .with_client_software_version(StrBytes::from_static_str("0.1.0"))
}

async fn connect(addr: &str) -> Result<WireClient<TcpStream>, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(WireClient::new(stream, "kafkit-conformance"))
}

/// The highest version of each API both peers serve.
pub fn common_versions(a: &Peer, b: &Peer) -> HashMap<i16, i16> {
    a.versions
        .iter()
        .filter_map(|(key, (min_a, max_a))| {
            let (min_b, max_b) = b.versions.get(key)?;
            let max = (*max_a).min(*max_b);
            (max >= (*min_a).max(*min_b)).then_some((*key, max))
        })
        .collect()
}

/// What a case observed on one peer: normalised field values, in field order.
pub type Observation = BTreeMap<String, String>;

/// A case's view of one peer.
pub struct Ctx<'p> {
    /// The peer.
    pub peer: &'p Peer,
    common: &'p HashMap<i16, i16>,
    observed: Observation,
    /// Topic names the case created, with the labels that stand for them.
    topics: Vec<(String, String)>,
    client: Option<WireClient<TcpStream>>,
}

impl<'p> Ctx<'p> {
    /// A fresh context for one case on `peer`.
    pub fn new(peer: &'p Peer, common: &'p HashMap<i16, i16>) -> Self {
        Ctx {
            peer,
            common,
            observed: Observation::new(),
            topics: Vec::new(),
            client: None,
        }
    }

    /// What the case observed, names of its topics replaced by their labels.
    pub fn into_observation(self) -> Observation {
        let topics = self.topics;
        self.observed
            .into_iter()
            .map(|(mut field, mut value)| {
                for (name, label) in &topics {
                    field = field.replace(name.as_str(), label);
                    value = value.replace(name.as_str(), label);
                }
                (field, value)
            })
            .collect()
    }

    /// Records `field = value`.
    pub fn see(&mut self, field: impl Into<String>, value: impl Display) {
        self.observed.insert(field.into(), value.to_string());
    }

    /// Records an error code as its name.
    pub fn code(&mut self, field: impl Into<String>, code: i16) {
        self.see(field, ErrorCode::from(code));
    }

    /// Records an optional string (an error message): `null` when absent; timestamps in it
    /// (runs of 13 or more digits) read `<ms>`, since the two brokers read their clocks at
    /// different instants.
    pub fn text(&mut self, field: impl Into<String>, text: Option<&str>) {
        self.see(
            field,
            text.map_or_else(|| "null".to_string(), |t| format!("{:?}", mask_timestamps(t))),
        );
    }

    /// Records a node id: `self` for the peer's broker, else the number.
    pub fn node(&mut self, field: impl Into<String>, node_id: i32) {
        let value = if node_id == self.peer.node_id && node_id >= 0 {
            "self".to_string()
        } else {
            node_id.to_string()
        };
        self.see(field, value);
    }

    /// Records a broker timestamp: `-1`, `now` (within ten minutes of the wall clock), or the
    /// value.
    pub fn time(&mut self, field: impl Into<String>, ts: i64) {
        let value = if ts != -1 && (ts - now_ms()).abs() < 600_000 {
            "now".to_string()
        } else {
            ts.to_string()
        };
        self.see(field, value);
    }

    /// A name for a new topic, standing as `label` in observations.
    pub fn topic_name(&mut self, label: &str) -> String {
        let name = unique_topic(&format!("conf-{label}"));
        self.topics.push((name.clone(), format!("<{label}>")));
        name
    }

    /// The version of `api` this case sends: the highest both peers serve, but below the
    /// versions that name topics by id for Produce and Fetch (v13), which have cases of their
    /// own ([`Ctx::top_version`]).
    pub fn version(&self, api: ApiKey) -> i16 {
        let top = self.top_version(api);
        match api {
            ApiKey::Produce | ApiKey::Fetch => top.min(12),
            _ => top,
        }
    }

    /// The highest version of `api` both peers serve.
    pub fn top_version(&self, api: ApiKey) -> i16 {
        self.common.get(&(api as i16)).copied().unwrap_or(0)
    }

    /// The id of `topic`, from Metadata.
    pub async fn topic_id(&mut self, topic: &str) -> Result<uuid::Uuid, BoxError> {
        let request = MetadataRequest::default()
            .with_topics(Some(vec![
                kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(topic_name(topic))),
            ]))
            .with_allow_auto_topic_creation(false);
        let response = self.client().await?.send(12, &request).await?;
        let id = response.topics.first().map(|t| t.topic_id).unwrap_or_default();
        if id.is_nil() {
            return Err(format!("no topic id for {topic}").into());
        }
        Ok(id)
    }

    /// The case's connection to the peer's broker (opened on first use).
    pub async fn client(&mut self) -> Result<&mut WireClient<TcpStream>, BoxError> {
        if self.client.is_none() {
            self.client = Some(connect(&self.peer.addr).await?);
        }
        self.client.as_mut().ok_or_else(|| "no connection".into())
    }

    /// A second connection (for exchanges that close theirs).
    pub async fn new_client(&self) -> Result<WireClient<TcpStream>, BoxError> {
        connect(&self.peer.addr).await
    }

    /// Creates a topic labelled `label` with `partitions` partitions and `configs`, waits until
    /// its leader serves every partition, and returns its name. Records nothing.
    pub async fn create_topic(
        &mut self,
        label: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> Result<String, BoxError> {
        let name = self.topic_name(label);
        let response = self.create_topics(&name, partitions, configs, false).await?;
        let code = response.topics.first().map_or(-1, |t| t.error_code);
        if code != 0 {
            return Err(format!("create topic {name}: {}", ErrorCode::from(code)).into());
        }
        self.wait_until_served(&name, partitions).await?;
        Ok(name)
    }

    /// Sends CreateTopics for one topic (replication factor 1) at the common version.
    pub async fn create_topics(
        &mut self,
        name: &str,
        partitions: i32,
        configs: &[(&str, &str)],
        validate_only: bool,
    ) -> Result<CreateTopicsResponse, BoxError> {
        let version = self.version(ApiKey::CreateTopics);
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_validate_only(validate_only)
            .with_topics(vec![CreatableTopic::default()
                .with_name(topic_name(name))
                .with_num_partitions(partitions)
                .with_replication_factor(1)
                .with_configs(
                    configs
                        .iter()
                        .map(|(k, v)| {
                            CreatableTopicConfig::default()
                                .with_name(StrBytes::from_string(k.to_string()))
                                .with_value(Some(StrBytes::from_string(v.to_string())))
                        })
                        .collect(),
                )]);
        Ok(self.client().await?.send(version, &request).await?)
    }

    /// Waits until each partition of `topic` answers ListOffsets without error (Kafka's
    /// metadata names a leader a moment before that leader serves the partition).
    pub async fn wait_until_served(&mut self, topic: &str, partitions: i32) -> Result<(), BoxError> {
        let version = self.version(ApiKey::ListOffsets);
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(
                    (0..partitions)
                        .map(|p| {
                            ListOffsetsPartition::default()
                                .with_partition_index(p)
                                .with_timestamp(-1)
                        })
                        .collect(),
                )]);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let response = self.client().await?.send(version, &request).await?;
            let served = response
                .topics
                .iter()
                .flat_map(|t| &t.partitions)
                .filter(|p| p.error_code == 0)
                .count();
            if served == partitions as usize {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("{topic} not served after 30 s").into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `text` with every run of 13 or more digits replaced by `<ms>`.
pub fn mask_timestamps(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 13 {
            out.push_str("<ms>");
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

/// A topic name for a request.
pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs `case` on `peer` and returns what it observed; a failed exchange is the observation
/// `outcome = <error>`.
pub async fn observe(case: &Case, peer: &Peer, common: &HashMap<i16, i16>) -> Observation {
    let mut ctx = Ctx::new(peer, common);
    match tokio::time::timeout(CASE_TIMEOUT, (case.run)(&mut ctx)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => ctx.see("outcome", e),
        Err(_) => ctx.see("outcome", format!("no answer within {CASE_TIMEOUT:?}")),
    }
    ctx.into_observation()
}

/// How long a case may take on one peer (a broker that never answers must not hang the suite).
const CASE_TIMEOUT: Duration = Duration::from_secs(60);

/// A field whose value differs between the peers: `(field, kafkit's, Kafka's)`; a field only
/// one peer has is `-` on the other.
pub fn differences(kafkit: &Observation, kafka: &Observation) -> Vec<(String, String, String)> {
    let mut fields: Vec<&String> = kafkit.keys().chain(kafka.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter_map(|field| {
            let a = kafkit.get(field).map_or("-", String::as_str);
            let b = kafka.get(field).map_or("-", String::as_str);
            (a != b).then(|| (field.clone(), a.to_string(), b.to_string()))
        })
        .collect()
}
