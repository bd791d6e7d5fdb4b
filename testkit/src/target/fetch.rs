//! A small client that reads partitions back from any Kafka-compatible broker over TCP, and
//! creates topics there: what [`ExternalBroker`](super::ExternalBroker) is built on.
//!
//! One [`Connection`] per broker, typed requests through [`WireClient`] (so framing and
//! decoding are the protocol layer's), versions negotiated with ApiVersions v0 against the
//! ranges kafkit decodes. Reading a partition is what a consumer does at its simplest:
//! Metadata for the leader, ListOffsets for the log start and the end (the high watermark, so
//! only committed records), then Fetch from the start until the end, whole batches at a
//! time, each batch's CRC checked.
//!
//! # References
//! - Kafka protocol guide: ApiVersions, Metadata, ListOffsets (timestamps -2 earliest,
//!   -1 latest), Fetch (KIP-74 at least one batch per response), CreateTopics (KIP-464
//!   replication factor -1 for the broker default, v4+)

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, BrokerId, CreateTopicsRequest, FetchRequest, ListOffsetsRequest,
    MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::{Request, StrBytes};
use kafkit_protocol::record::Batches;
use kafkit_protocol::versions::client_range;
use kafkit_protocol::{ErrorCode, GuardedResponse};
use tokio::net::TcpStream;

use crate::inspect::{push_batch_records, StoredRecord};
use crate::{Error, Result, WireClient};

/// The client id of every request.
const CLIENT_ID: &str = "kafkit-testkit";
/// Bound of every connect and every request.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes asked for per partition in one Fetch (a larger batch still comes whole, KIP-74).
const FETCH_BYTES: i32 = 4 << 20;
/// ListOffsets timestamps.
const EARLIEST: i64 = -2;
pub(crate) const LATEST: i64 = -1;
/// The APIs this client uses.
const APIS: [ApiKey; 4] = [
    ApiKey::Metadata,
    ApiKey::ListOffsets,
    ApiKey::Fetch,
    ApiKey::CreateTopics,
];

/// A connection to one broker, with the versions agreed for [`APIS`].
#[derive(Debug)]
pub(crate) struct Connection {
    /// `host:port`, for messages.
    addr: String,
    client: WireClient<TcpStream>,
    /// Agreed version of each of [`APIS`], in that order; `None` when none is common.
    versions: [Option<i16>; APIS.len()],
}

fn io_error(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { what, source }
}

fn kafka_error(operation: String, code: ErrorCode, message: Option<StrBytes>) -> Error {
    Error::Kafka {
        operation,
        code,
        message: message.map(|m| m.to_string()),
    }
}

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

impl Connection {
    /// Connects to `addr` (`host:port`) and negotiates versions.
    pub(crate) async fn open(addr: &str) -> Result<Connection> {
        let connect = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| Error::Timeout {
                waited: IO_TIMEOUT,
                what: format!("a TCP connection to {addr}"),
            })?;
        let stream = connect.map_err(io_error(format!("connect to {addr}")))?;
        stream
            .set_nodelay(true)
            .map_err(io_error(format!("set TCP_NODELAY on {addr}")))?;
        let mut connection = Connection {
            addr: addr.to_string(),
            client: WireClient::new(stream, CLIENT_ID),
            versions: [None; APIS.len()],
        };
        let offered = connection.send(0, &ApiVersionsRequest::default()).await?;
        let code = ErrorCode::from(offered.error_code);
        if code != ErrorCode::None {
            return Err(kafka_error(format!("ApiVersions with {addr}"), code, None));
        }
        for (slot, api_key) in connection.versions.iter_mut().zip(APIS) {
            let theirs = offered.api_keys.iter().find(|k| k.api_key == api_key as i16);
            *slot = theirs.and_then(|k| {
                client_range(api_key).and_then(|ours| ours.negotiate(k.min_version, k.max_version))
            });
        }
        Ok(connection)
    }

    /// The agreed version of `api_key`.
    fn version(&self, api_key: ApiKey) -> Result<i16> {
        APIS.iter()
            .position(|&k| k == api_key)
            .and_then(|i| self.versions[i])
            .ok_or_else(|| Error::Kafka {
                operation: format!("agree on a {api_key:?} version with {}", self.addr),
                code: ErrorCode::UnsupportedVersion,
                message: None,
            })
    }

    async fn send<R>(&mut self, version: i16, body: &R) -> Result<R::Response>
    where
        R: Request,
        R::Response: GuardedResponse,
    {
        tokio::time::timeout(IO_TIMEOUT, self.client.send(version, body))
            .await
            .map_err(|_| Error::Timeout {
                waited: IO_TIMEOUT,
                what: format!("a response from {}", self.addr),
            })?
    }

    /// Metadata for `topics` (none: only brokers and controller), without creating them.
    pub(crate) async fn metadata(&mut self, topics: &[&str]) -> Result<MetadataResponse> {
        let version = self.version(ApiKey::Metadata)?;
        let request = MetadataRequest::default()
            .with_topics(Some(
                topics
                    .iter()
                    .map(|t| MetadataRequestTopic::default().with_name(Some(name(t))))
                    .collect(),
            ))
            .with_allow_auto_topic_creation(false);
        self.send(version, &request).await
    }

    /// The earliest or latest offset of a partition (only on its leader).
    pub(crate) async fn list_offset(&mut self, topic: &str, partition: i32, timestamp: i64) -> Result<i64> {
        let version = self.version(ApiKey::ListOffsets)?;
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_timestamp(timestamp)])]);
        let response = self.send(version, &request).await?;
        let operation = || format!("ListOffsets {topic}-{partition} on {}", self.addr);
        let p = response
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .find(|p| p.partition_index == partition)
            .ok_or_else(|| kafka_error(operation(), ErrorCode::UnknownTopicOrPartition, None))?;
        match ErrorCode::from(p.error_code) {
            ErrorCode::None => Ok(p.offset),
            code => Err(kafka_error(operation(), code, None)),
        }
    }

    /// The record bytes of one Fetch of `topic`/`partition` from `offset` (only on its leader).
    async fn fetch(&mut self, topic: &str, partition: i32, offset: i64) -> Result<Bytes> {
        let version = self.version(ApiKey::Fetch)?;
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(FETCH_BYTES)
            .with_topics(vec![FetchTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(FETCH_BYTES)])]);
        let response = self.send(version, &request).await?;
        let operation = || format!("Fetch {topic}-{partition} at {offset} on {}", self.addr);
        let top = ErrorCode::from(response.error_code);
        if top != ErrorCode::None {
            return Err(kafka_error(operation(), top, None));
        }
        let p = response
            .responses
            .into_iter()
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index == partition)
            .ok_or_else(|| kafka_error(operation(), ErrorCode::UnknownTopicOrPartition, None))?;
        match ErrorCode::from(p.error_code) {
            ErrorCode::None => Ok(p.records.unwrap_or_default()),
            code => Err(kafka_error(operation(), code, None)),
        }
    }

    /// Every record of `topic`/`partition` from the log start to the high watermark, this
    /// connection being to its leader, transaction markers included, each transactional
    /// record marked with its transaction's outcome (as the mock's inspection does).
    pub(crate) async fn read_partition(&mut self, topic: &str, partition: i32) -> Result<Vec<StoredRecord>> {
        let start = self.list_offset(topic, partition, EARLIEST).await?;
        let end = self.list_offset(topic, partition, LATEST).await?;
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        let mut offset = start;
        while offset < end {
            let records = self.fetch(topic, partition, offset).await?;
            let before = offset;
            for batch in Batches::new(&records) {
                let batch = batch?;
                if !batch.is_crc_valid() {
                    return Err(Error::Protocol(kafkit_protocol::Error::InvalidBatch {
                        code: ErrorCode::CorruptMessage,
                        reason: format!(
                            "fetched batch at offset {} of {topic}-{partition} fails its CRC",
                            batch.base_offset()
                        )
                        .into(),
                    }));
                }
                if batch.next_offset() <= offset {
                    continue;
                }
                push_batch_records(&records.slice_ref(batch.as_bytes()), &mut scratch, &mut out)?;
                offset = batch.next_offset();
            }
            if offset == before {
                return Err(Error::Kafka {
                    operation: format!("Fetch {topic}-{partition} at {offset} on {}", self.addr),
                    code: ErrorCode::CorruptMessage,
                    message: Some(format!(
                        "no complete batch below the end offset {end} in {} bytes",
                        records.len()
                    )),
                });
            }
        }
        // A batch read from the log start may begin before it; the last may end past `end`.
        out.retain(|r| r.offset >= start && r.offset < end);
        crate::inspect::mark_transactions(&mut out);
        Ok(out)
    }

    /// Creates `topic` with `partitions` partitions and the broker's default replication.
    pub(crate) async fn create_topic(&mut self, topic: &str, partitions: i32) -> Result<()> {
        let version = self.version(ApiKey::CreateTopics)?;
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(IO_TIMEOUT.as_millis() as i32)
            .with_topics(vec![CreatableTopic::default()
                .with_name(name(topic))
                .with_num_partitions(partitions)
                .with_replication_factor(if version >= 4 { -1 } else { 1 })]);
        let response = self.send(version, &request).await?;
        let result = response.topics.into_iter().find(|t| t.name.0.as_str() == topic);
        match result {
            Some(t) if t.error_code == 0 => Ok(()),
            Some(t) => Err(kafka_error(
                format!("create topic {topic} on {}", self.addr),
                ErrorCode::from(t.error_code),
                t.error_message,
            )),
            None => Err(kafka_error(
                format!("create topic {topic} on {}", self.addr),
                ErrorCode::UnknownServerError,
                Some(StrBytes::from_static_str("no result for the topic")),
            )),
        }
    }
}

/// Where Metadata says `topic`/`partition` is led: `Ok(None)` while that is not known yet
/// (a topic just created, a leader being elected), an error for what waiting cannot fix.
pub(crate) fn leader_address(
    response: &MetadataResponse,
    topic: &str,
    partition: i32,
) -> Result<Option<String>> {
    let Some(t) = response
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))
    else {
        return Ok(None);
    };
    let operation = || format!("find the leader of {topic}-{partition}");
    match ErrorCode::from(t.error_code) {
        ErrorCode::None => {}
        code if code.is_retriable() => return Ok(None),
        code => return Err(kafka_error(operation(), code, None)),
    }
    let Some(p) = t.partitions.iter().find(|p| p.partition_index == partition) else {
        return if t.partitions.is_empty() {
            Ok(None)
        } else {
            Err(kafka_error(operation(), ErrorCode::UnknownTopicOrPartition, None))
        };
    };
    match ErrorCode::from(p.error_code) {
        ErrorCode::None => {}
        code if code.is_retriable() => return Ok(None),
        code => return Err(kafka_error(operation(), code, None)),
    }
    Ok(broker_address(response, p.leader_id.0))
}

/// `host:port` of `node_id`, if Metadata lists it.
pub(crate) fn broker_address(response: &MetadataResponse, node_id: i32) -> Option<String> {
    response
        .brokers
        .iter()
        .find(|b| b.node_id.0 == node_id && node_id >= 0)
        .map(|b| format!("{}:{}", b.host.as_str(), b.port))
}

/// Whether Metadata shows `topic` with `partitions` partitions, each with a leader.
pub(crate) fn topic_ready(response: &MetadataResponse, topic: &str, partitions: i32) -> bool {
    response.topics.iter().any(|t| {
        t.name.as_ref().is_some_and(|n| n.0.as_str() == topic)
            && t.error_code == 0
            && t.partitions.len() == partitions.max(0) as usize
            && t.partitions
                .iter()
                .all(|p| p.error_code == 0 && p.leader_id.0 >= 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use rstest::rstest;

    /// Metadata for topic `t` with one partition whose error and leader are given, and
    /// broker 1 at `h1:9092`.
    fn metadata(topic_error: ErrorCode, partition_error: ErrorCode, leader: i32) -> MetadataResponse {
        MetadataResponse::default()
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(BrokerId(1))
                .with_host(StrBytes::from_static_str("h1"))
                .with_port(9092)])
            .with_topics(vec![MetadataResponseTopic::default()
                .with_name(Some(name("t")))
                .with_error_code(topic_error.into())
                .with_partitions(vec![MetadataResponsePartition::default()
                    .with_partition_index(0)
                    .with_error_code(partition_error.into())
                    .with_leader_id(BrokerId(leader))])])
    }

    /// A led partition gives its leader's address; what waiting can fix (a topic being
    /// created, a leader being elected, a leader not listed yet) is `None`; the rest is an
    /// error.
    #[rstest]
    #[case::led(ErrorCode::None, ErrorCode::None, 1, Ok(Some("h1:9092")))]
    #[case::topic_not_there_yet(ErrorCode::UnknownTopicOrPartition, ErrorCode::None, 1, Ok(None))]
    #[case::electing(ErrorCode::None, ErrorCode::LeaderNotAvailable, -1, Ok(None))]
    #[case::leader_not_listed(ErrorCode::None, ErrorCode::None, 7, Ok(None))]
    #[case::denied(
        ErrorCode::TopicAuthorizationFailed,
        ErrorCode::None,
        1,
        Err(ErrorCode::TopicAuthorizationFailed)
    )]
    fn leader_address_waits_only_for_what_time_fixes(
        #[case] topic_error: ErrorCode,
        #[case] partition_error: ErrorCode,
        #[case] leader: i32,
        #[case] expected: std::result::Result<Option<&str>, ErrorCode>,
    ) {
        let found = leader_address(&metadata(topic_error, partition_error, leader), "t", 0);
        match (found, expected) {
            (Ok(address), Ok(want)) => assert_eq!(address.as_deref(), want),
            (Err(Error::Kafka { code, .. }), Err(want)) => assert_eq!(code, want),
            (other, want) => panic!("got {other:?}, expected {want:?}"),
        }
    }

    #[test]
    fn a_topic_is_ready_when_every_partition_has_a_leader() {
        assert!(topic_ready(
            &metadata(ErrorCode::None, ErrorCode::None, 1),
            "t",
            1
        ));
        assert!(!topic_ready(
            &metadata(ErrorCode::None, ErrorCode::None, 1),
            "t",
            2
        ));
        assert!(!topic_ready(
            &metadata(ErrorCode::None, ErrorCode::LeaderNotAvailable, -1),
            "t",
            1
        ));
        assert!(!topic_ready(
            &metadata(ErrorCode::None, ErrorCode::None, 1),
            "other",
            1
        ));
    }
}
