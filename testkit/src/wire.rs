//! [`WireClient`]: a minimal Kafka client speaking raw, typed requests over any byte stream
//! (an in-memory connection from [`MockCluster::connect_in_memory`], or TCP), for tests that
//! need to send exactly one request of exactly one version.
//!
//! It does no version negotiation, no retries and no metadata: what is sent is what the test
//! wrote, and what comes back is decoded with the protocol layer's guarded decoder.
//!
//! A produce to a partition whose leader answers NOT_LEADER_OR_FOLLOWER once, then succeeds;
//! the first attempt was not appended.
//! ```
//! use kafkit_testkit::{ApiKey, ErrorCode, Fault, MockCluster, WireClient};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), kafkit_testkit::Error> {
//! let cluster = MockCluster::builder().brokers(3).topic("orders", 6).start().await?;
//! let fault = cluster.fault(
//!     Fault::on(ApiKey::Produce)
//!         .topic_partition("orders", 0)
//!         .respond_error(ErrorCode::NotLeaderOrFollower),
//! );
//! let leader = cluster.partition_state("orders", 0)?.leader.expect("a leader");
//! let mut client = WireClient::new(cluster.connect_in_memory(leader)?, "example");
//!
//! assert_eq!(client.produce("orders", 0, &["a"]).await?, (ErrorCode::NotLeaderOrFollower, -1));
//! assert_eq!(client.produce("orders", 0, &["a"]).await?, (ErrorCode::None, 0));
//!
//! assert_eq!(cluster.records("orders", 0)?.len(), 1);
//! assert_eq!(fault.hits(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! [`MockCluster::connect_in_memory`]: crate::MockCluster::connect_in_memory

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, TopicName};
use kafka_protocol::protocol::{Request, StrBytes};
use kafkit_protocol::frame::{encode_request_frame, request_header, split_frame};
use kafkit_protocol::record::RecordBatchBuilder;
use kafkit_protocol::response::{decode_response, GuardedResponse};
use kafkit_protocol::{Compression, ErrorCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{Error, Result};

/// Largest response frame accepted.
const MAX_RESPONSE: usize = 64 << 20;

/// A raw request/response client over `IO`; see the [module docs](self).
#[derive(Debug)]
pub struct WireClient<IO> {
    io: IO,
    input: BytesMut,
    client_id: String,
    next_correlation_id: i32,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> WireClient<IO> {
    /// A client sending `client_id` in every request header.
    pub fn new(io: IO, client_id: impl Into<String>) -> Self {
        WireClient {
            io,
            input: BytesMut::new(),
            client_id: client_id.into(),
            next_correlation_id: 0,
        }
    }

    async fn write<R: Request>(&mut self, version: i16, body: &R) -> Result<i32> {
        let api_key = ApiKey::try_from(R::KEY).map_err(|()| kafkit_protocol::Error::UnknownApiKey(R::KEY))?;
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let header = request_header(api_key, version, correlation_id, Some(&self.client_id));
        let mut out = BytesMut::new();
        encode_request_frame(&mut out, &header, body)?;
        self.io.write_all(&out).await.map_err(closed)?;
        Ok(correlation_id)
    }

    /// Sends `body` at `version` and waits for its response. Cancel safe only before the
    /// request is written.
    ///
    /// Errors: [`Error::ConnectionClosed`] when the broker closes the connection instead of
    /// answering; [`Error::Protocol`] for a response that does not decode.
    pub async fn send<R>(&mut self, version: i16, body: &R) -> Result<R::Response>
    where
        R: Request,
        R::Response: GuardedResponse,
    {
        let correlation_id = self.write(version, body).await?;
        let frame = loop {
            if let Some(frame) = split_frame(&mut self.input, MAX_RESPONSE)? {
                break frame;
            }
            if self.io.read_buf(&mut self.input).await.map_err(closed)? == 0 {
                return Err(Error::ConnectionClosed);
            }
        };
        let response = decode_response::<R::Response>(frame, version)?;
        if response.header.correlation_id != correlation_id {
            return Err(Error::Protocol(kafkit_protocol::Error::Malformed {
                what: "response header",
                api_key: R::KEY,
                version,
                reason: format!(
                    "correlation id {} answers no request in flight (expected {correlation_id})",
                    response.header.correlation_id
                ),
            }));
        }
        Ok(response.body)
    }

    /// Sends `body` without waiting for a response (a Produce with acks=0).
    pub async fn send_without_response<R: Request>(&mut self, version: i16, body: &R) -> Result<()> {
        self.write(version, body).await.map(|_| ())
    }

    /// Produces `values` (null keys, no headers, uncompressed, one batch) to
    /// `topic`/`partition` with Produce v9 and acks=-1, and returns the partition's answer:
    /// its error code and base offset.
    pub async fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        values: &[&str],
    ) -> Result<(ErrorCode, i64)> {
        let response = self
            .send(9, &produce_request(topic, partition, -1, values)?)
            .await?;
        let p = response
            .responses
            .iter()
            .flat_map(|t| &t.partition_responses)
            .find(|p| p.index == partition)
            .ok_or_else(|| {
                Error::Protocol(kafkit_protocol::Error::Malformed {
                    what: "Produce response",
                    api_key: 0,
                    version: 9,
                    reason: format!("no entry for {topic}-{partition}"),
                })
            })?;
        Ok((ErrorCode::from(p.error_code), p.base_offset))
    }

    /// Waits until the broker closes the connection, discarding anything it sends meanwhile.
    pub async fn closed(&mut self) {
        loop {
            match self.io.read_buf(&mut self.input).await {
                Ok(0) | Err(_) => return,
                Ok(_) => self.input.clear(),
            }
        }
    }
}

fn closed(e: std::io::Error) -> Error {
    use std::io::ErrorKind::*;
    match e.kind() {
        BrokenPipe | ConnectionReset | ConnectionAborted | UnexpectedEof => Error::ConnectionClosed,
        _ => Error::Io {
            what: "talk to the broker".to_string(),
            source: e,
        },
    }
}

/// A Produce request carrying one uncompressed batch of `values` (null keys, timestamps now)
/// for `topic`/`partition`.
pub fn produce_request(topic: &str, partition: i32, acks: i16, values: &[&str]) -> Result<ProduceRequest> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut builder = RecordBatchBuilder::new(Compression::None);
    for value in values {
        builder.append(now, None, Some(value.as_bytes()), &[]);
    }
    let batch = Bytes::copy_from_slice(builder.build()?);
    Ok(ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch))])]))
}
