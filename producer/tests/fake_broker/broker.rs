//! A scripted broker for the producer's tests: serves ApiVersions, Metadata, InitProducerId
//! and Produce on in-memory streams, checks idempotent sequence numbers as Kafka does, and
//! injects faults ([`Fault`]). Handed to the producer as its [`Connector`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use kafkit_producer::{ConnectFuture, Connector, Transport};
use kafkit_protocol::frame::encode_response_frame;
use kafkit_protocol::kafka_protocol::messages::api_versions_response::ApiVersion;
use kafkit_protocol::kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafkit_protocol::kafka_protocol::messages::produce_response::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use kafkit_protocol::kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, InitProducerIdResponse, MetadataResponse, ProduceRequest,
    ProduceResponse, ProducerId, TopicName,
};
use kafkit_protocol::kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};
use kafkit_protocol::versions::SUPPORTED_APIS;
use kafkit_protocol::{decode_request, split_frame, ErrorCode, RecordBatch, RequestBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What the broker does to the next produce request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Answer with this code without appending.
    Reject(ErrorCode),
    /// Append, then answer with this code (the client cannot know the records landed).
    AppendThenFail(ErrorCode),
    /// Forget every producer's state first (as retention would), then handle normally.
    ForgetProducers,
    /// Never answer.
    Hold,
}

#[derive(Debug, Default)]
struct ProducerEntry {
    epoch: i16,
    last_sequence: i32,
    /// (first sequence, last sequence, base offset) of the last five batches.
    batches: VecDeque<(i32, i32, i64)>,
}

#[derive(Debug, Default)]
pub struct State {
    /// Brokers 0..nodes, reached at port 9092 + id.
    pub nodes: i32,
    /// The leader of every partition, and its epoch.
    pub leader: i32,
    pub leader_epoch: i32,
    pub partitions: i32,
    /// Record values per partition, in offset order.
    pub logs: Vec<Vec<Vec<u8>>>,
    producers: HashMap<(i64, i32), ProducerEntry>,
    pub next_producer_id: i64,
    pub faults: VecDeque<Fault>,
    /// Batches with more records than this are refused with MESSAGE_TOO_LARGE.
    pub max_records_per_batch: Option<i32>,
    /// Every produce answer is delayed this long, so several requests are in flight.
    pub response_delay: Duration,
    /// Counters the tests assert on.
    pub produce_requests: usize,
    pub out_of_order: usize,
    pub duplicates: usize,
    pub too_large: usize,
    pub not_leader: usize,
    pub metadata_requests: usize,
    /// A hostile broker: Metadata also lists a partition with this index.
    pub bogus_partition_index: Option<i32>,
}

#[derive(Debug, Clone, Default)]
pub struct FakeBroker {
    state: Arc<Mutex<State>>,
}

impl FakeBroker {
    pub fn new(partitions: i32) -> Self {
        let state = State {
            nodes: 1,
            partitions,
            logs: vec![Vec::new(); partitions as usize],
            next_producer_id: 1000,
            ..State::default()
        };
        FakeBroker {
            state: Arc::new(Mutex::new(state)),
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().expect("lock"))
    }

    async fn serve(self, stream: DuplexStream, node: i32) {
        let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Option<BytesMut>)>();
        let (mut rd, mut wr) = tokio::io::split(stream);
        // Answers leave in request order, each no earlier than its due time.
        tokio::spawn(async move {
            while let Some((due, frame)) = rx.recv().await {
                tokio::time::sleep_until(due).await;
                match frame {
                    Some(frame) => {
                        if wr.write_all(&frame).await.is_err() {
                            return;
                        }
                    }
                    None => std::future::pending::<()>().await, // held: nothing after it either
                }
            }
        });
        let mut buf = BytesMut::new();
        loop {
            while let Ok(Some(frame)) = split_frame(&mut buf, 1 << 24) {
                let request = decode_request(frame).expect("a request kafkit's broker serves");
                let (id, version) = (request.header.correlation_id, request.header.request_api_version);
                let mut out = BytesMut::new();
                let mut due = Instant::now();
                match request.body {
                    RequestBody::ApiVersions(_) => respond(&mut out, id, version, &api_versions()),
                    RequestBody::Metadata(_) => respond(&mut out, id, version, &self.metadata()),
                    RequestBody::InitProducerId(_) => {
                        let pid = self.with(|s| {
                            s.next_producer_id += 1;
                            s.next_producer_id
                        });
                        let body = InitProducerIdResponse::default()
                            .with_producer_id(ProducerId(pid))
                            .with_producer_epoch(0);
                        respond(&mut out, id, version, &body);
                    }
                    RequestBody::Produce(produce) => {
                        let (body, held, delay) = self.produce(&produce, node, version);
                        if held {
                            let _ = tx.send((due, None));
                            continue;
                        }
                        due += delay;
                        if produce.acks == 0 {
                            continue;
                        }
                        respond(&mut out, id, version, &body);
                    }
                    other => panic!("unexpected request {other:?}"),
                }
                if tx.send((due, Some(out))).is_err() {
                    return;
                }
            }
            if rd.read_buf(&mut buf).await.map_or(true, |n| n == 0) {
                return;
            }
        }
    }

    fn metadata(&self) -> MetadataResponse {
        let (nodes, leader, epoch, partitions, bogus) = self.with(|s| {
            s.metadata_requests += 1;
            (
                s.nodes,
                s.leader,
                s.leader_epoch,
                s.partitions,
                s.bogus_partition_index,
            )
        });
        let brokers = (0..nodes)
            .map(|id| {
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(id))
                    .with_host(StrBytes::from_static_str("fake"))
                    .with_port(9092 + id)
            })
            .collect();
        let partitions = (0..partitions)
            .chain(bogus)
            .map(|i| {
                MetadataResponsePartition::default()
                    .with_partition_index(i)
                    .with_leader_id(BrokerId(leader))
                    .with_leader_epoch(epoch)
            })
            .collect();
        let topic = MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
            .with_partitions(partitions);
        MetadataResponse::default()
            .with_brokers(brokers)
            .with_topics(vec![topic])
    }

    /// Handles a produce request: (response, held, answer delay).
    fn produce(
        &self,
        request: &ProduceRequest,
        node: i32,
        version: i16,
    ) -> (ProduceResponse, bool, Duration) {
        let mut s = self.state.lock().expect("lock");
        s.produce_requests += 1;
        if node != s.leader {
            return (s.not_leader(request, version), false, s.response_delay);
        }
        let fault = s.faults.pop_front();
        if fault == Some(Fault::Hold) {
            return (ProduceResponse::default(), true, Duration::ZERO);
        }
        if fault == Some(Fault::ForgetProducers) {
            s.producers.clear();
        }
        let mut topics = Vec::new();
        for topic in &request.topic_data {
            let mut partitions = Vec::new();
            for p in &topic.partition_data {
                let records = p.records.as_ref().expect("records");
                let (code, base_offset) = match fault {
                    Some(Fault::Reject(code)) => (code, -1),
                    _ => s.append(p.index, records),
                };
                let code = match fault {
                    Some(Fault::AppendThenFail(fail)) if code.is_ok() => fail,
                    _ => code,
                };
                partitions.push(
                    PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_error_code(code.code())
                        .with_base_offset(if code.is_ok() { base_offset } else { -1 }),
                );
            }
            topics.push(
                TopicProduceResponse::default()
                    .with_name(topic.name.clone())
                    .with_partition_responses(partitions),
            );
        }
        (
            ProduceResponse::default().with_responses(topics),
            false,
            s.response_delay,
        )
    }
}

impl State {
    /// NOT_LEADER_OR_FOLLOWER for every partition, with KIP-951 hints from Produce v10.
    fn not_leader(&mut self, request: &ProduceRequest, version: i16) -> ProduceResponse {
        self.not_leader += 1;
        let hint = LeaderIdAndEpoch::default()
            .with_leader_id(BrokerId(self.leader))
            .with_leader_epoch(self.leader_epoch);
        let topics = request
            .topic_data
            .iter()
            .map(|t| {
                let partitions = t
                    .partition_data
                    .iter()
                    .map(|p| {
                        let r = PartitionProduceResponse::default()
                            .with_index(p.index)
                            .with_error_code(ErrorCode::NotLeaderOrFollower.code())
                            .with_base_offset(-1);
                        if version >= 10 {
                            r.with_current_leader(hint.clone())
                        } else {
                            r
                        }
                    })
                    .collect();
                TopicProduceResponse::default()
                    .with_name(t.name.clone())
                    .with_partition_responses(partitions)
            })
            .collect();
        let mut response = ProduceResponse::default().with_responses(topics);
        if version >= 10 {
            response.node_endpoints = vec![NodeEndpoint::default()
                .with_node_id(BrokerId(self.leader))
                .with_host(StrBytes::from_static_str("fake"))
                .with_port(9092 + self.leader)];
        }
        response
    }

    /// Kafka's idempotent append rules, for one batch.
    fn append(&mut self, partition: i32, bytes: &[u8]) -> (ErrorCode, i64) {
        let batch = RecordBatch::parse(bytes).expect("a batch");
        if self
            .max_records_per_batch
            .is_some_and(|max| batch.records_count() > max)
        {
            self.too_large += 1;
            return (ErrorCode::MessageTooLarge, -1);
        }
        let (pid, epoch, first) = (batch.producer_id(), batch.producer_epoch(), batch.base_sequence());
        let last = first + batch.records_count() - 1;
        if pid >= 0 {
            let entry = self.producers.entry((pid, partition)).or_insert(ProducerEntry {
                epoch,
                last_sequence: -1,
                batches: VecDeque::new(),
            });
            if epoch > entry.epoch {
                *entry = ProducerEntry {
                    epoch,
                    last_sequence: -1,
                    batches: VecDeque::new(),
                };
            }
            if let Some(&(_, _, offset)) = entry.batches.iter().find(|(f, l, _)| *f == first && *l == last) {
                self.duplicates += 1;
                return (ErrorCode::None, offset);
            }
            if first != entry.last_sequence + 1 {
                self.out_of_order += 1;
                return (ErrorCode::OutOfOrderSequenceNumber, -1);
            }
        }
        let log = &mut self.logs[partition as usize];
        let base_offset = log.len() as i64;
        let mut scratch = Vec::new();
        for record in batch.records(&mut scratch, 1 << 24).expect("records") {
            log.push(record.expect("record").value.expect("value").to_vec());
        }
        if let Some(entry) = self.producers.get_mut(&(pid, partition)) {
            entry.last_sequence = last;
            entry.batches.push_back((first, last, base_offset));
            if entry.batches.len() > 5 {
                entry.batches.pop_front();
            }
        }
        (ErrorCode::None, base_offset)
    }
}

fn respond<T: Encodable + HeaderVersion>(out: &mut BytesMut, id: i32, version: i16, body: &T) {
    encode_response_frame(out, id, version, body).expect("encodes");
}

fn api_versions() -> ApiVersionsResponse {
    let keys = SUPPORTED_APIS
        .iter()
        .filter(|r| {
            matches!(
                r.api_key,
                ApiKey::Produce | ApiKey::Metadata | ApiKey::ApiVersions | ApiKey::InitProducerId
            )
        })
        .map(|r| {
            ApiVersion::default()
                .with_api_key(r.api_key as i16)
                .with_min_version(r.min)
                .with_max_version(r.max)
        })
        .collect();
    ApiVersionsResponse::default().with_api_keys(keys)
}

impl Connector for FakeBroker {
    fn connect<'a>(&'a self, _host: &'a str, port: u16) -> ConnectFuture<'a> {
        let (client, server) = tokio::io::duplex(1 << 20);
        tokio::spawn(self.clone().serve(server, i32::from(port) - 9092));
        Box::pin(async move { Ok(Box::new(client) as Box<dyn Transport>) })
    }
}
