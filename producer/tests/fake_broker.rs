//! The producer against a small scripted broker on in-memory streams (through the
//! [`Connector`] seam), under tokio's paused clock: deterministic, and fast in wall time.
//!
//! Unlike librdkafka's mock, this broker checks an idempotent producer's sequence numbers as
//! Kafka does (OUT_OF_ORDER_SEQUENCE_NUMBER on a gap, the original offset for a duplicate of one
//! of the last five batches, sequence 0 required after an epoch bump), so it can prove ordering
//! with five requests in flight across retries, deduplication, and epoch bumps.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use kafkit_producer::{ConnectFuture, Connector, Error, Producer, ProducerConfig, ProducerRecord, Transport};
use kafkit_protocol::frame::encode_response_frame;
use kafkit_protocol::kafka_protocol::messages::api_versions_response::ApiVersion;
use kafkit_protocol::kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafkit_protocol::kafka_protocol::messages::produce_response::{
    PartitionProduceResponse, TopicProduceResponse,
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
enum Fault {
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
struct State {
    partitions: i32,
    /// Record values per partition, in offset order.
    logs: Vec<Vec<Vec<u8>>>,
    producers: HashMap<(i64, i32), ProducerEntry>,
    next_producer_id: i64,
    faults: VecDeque<Fault>,
    /// Batches with more records than this are refused with MESSAGE_TOO_LARGE.
    max_records_per_batch: Option<i32>,
    /// Every produce answer is delayed this long, so several requests are in flight.
    response_delay: Duration,
    /// Counters the tests assert on.
    produce_requests: usize,
    out_of_order: usize,
    duplicates: usize,
    too_large: usize,
}

#[derive(Debug, Clone, Default)]
struct FakeBroker {
    state: Arc<Mutex<State>>,
}

impl FakeBroker {
    fn new(partitions: i32) -> Self {
        let state = State {
            partitions,
            logs: vec![Vec::new(); partitions as usize],
            next_producer_id: 1000,
            ..State::default()
        };
        FakeBroker {
            state: Arc::new(Mutex::new(state)),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().expect("lock"))
    }

    async fn serve(self, stream: DuplexStream) {
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
                        let (body, held, delay) = self.produce(&produce);
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
        let partitions = self.with(|s| s.partitions);
        let broker = MetadataResponseBroker::default()
            .with_node_id(BrokerId(0))
            .with_host(StrBytes::from_static_str("fake"))
            .with_port(9092);
        let partitions = (0..partitions)
            .map(|i| {
                MetadataResponsePartition::default()
                    .with_partition_index(i)
                    .with_leader_id(BrokerId(0))
            })
            .collect();
        let topic = MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
            .with_partitions(partitions);
        MetadataResponse::default()
            .with_brokers(vec![broker])
            .with_topics(vec![topic])
    }

    /// Handles a produce request: (response, held, answer delay).
    fn produce(&self, request: &ProduceRequest) -> (ProduceResponse, bool, Duration) {
        let mut s = self.state.lock().expect("lock");
        s.produce_requests += 1;
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
    fn connect<'a>(&'a self, _host: &'a str, _port: u16) -> ConnectFuture<'a> {
        let (client, server) = tokio::io::duplex(1 << 20);
        tokio::spawn(self.clone().serve(server));
        Box::pin(async move { Ok(Box::new(client) as Box<dyn Transport>) })
    }
}

async fn producer(broker: &FakeBroker, properties: &[(&str, &str)]) -> Producer {
    let mut all = vec![("bootstrap.servers", "fake:9092")];
    all.extend_from_slice(properties);
    let config = ProducerConfig::from_properties(all).expect("config");
    Producer::with_connector(config, Arc::new(broker.clone()))
        .await
        .expect("connect")
}

fn value(i: usize) -> Vec<u8> {
    format!("value-{i:06}").into_bytes()
}

async fn send_all(producer: &Producer, n: usize) -> Vec<kafkit_producer::DeliveryFuture> {
    let mut futures = Vec::new();
    for i in 0..n {
        let record = ProducerRecord::builder("t").partition(0).value(value(i)).build();
        futures.push(producer.send(record).await.expect("accepted"));
    }
    futures
}

fn assert_log_is(broker: &FakeBroker, n: usize) {
    let log = broker.with(|s| s.logs[0].clone());
    assert_eq!(log.len(), n, "exactly once");
    assert!(log == (0..n).map(value).collect::<Vec<_>>(), "in order");
}

/// With five requests in flight, the first four rejected: the broker refuses the fifth as out
/// of order, the producer retries the four one by one first, and the log ends up exactly the
/// sequence sent.
#[tokio::test(start_paused = true)]
async fn keeps_order_with_five_in_flight_across_retries() {
    let broker = FakeBroker::new(1);
    broker.with(|s| {
        s.response_delay = Duration::from_millis(10);
        s.faults
            .extend([Fault::Reject(ErrorCode::NotLeaderOrFollower); 2]);
        s.faults.extend([Fault::Reject(ErrorCode::RequestTimedOut); 2]);
    });
    let producer = producer(
        &broker,
        &[
            ("batch.size", "500"),
            ("linger.ms", "0"),
            ("retry.backoff.ms", "5"),
        ],
    )
    .await;
    let futures = send_all(&producer, 1000).await;
    let mut offsets = Vec::new();
    for f in futures {
        offsets.push(f.await.expect("delivered").offset);
    }
    assert_eq!(
        offsets,
        (0..1000).collect::<Vec<i64>>(),
        "offsets follow send order"
    );
    assert_log_is(&broker, 1000);
    let out_of_order = broker.with(|s| s.out_of_order);
    assert!(out_of_order > 0, "requests were pipelined behind the failed ones");
    assert!(producer.metrics().retries >= 4);
    assert_eq!(producer.metrics().epoch_bumps, 0, "no real gap, no bump");
}

/// A request whose records landed but whose answer was an error is retried with the same
/// sequence numbers; the broker recognises the duplicate and the records are stored once.
#[tokio::test(start_paused = true)]
async fn a_retried_batch_that_had_landed_is_deduplicated() {
    let broker = FakeBroker::new(1);
    broker.with(|s| {
        s.faults
            .extend([Fault::AppendThenFail(ErrorCode::RequestTimedOut); 3])
    });
    let producer = producer(&broker, &[("linger.ms", "1")]).await;
    for f in send_all(&producer, 300).await {
        f.await.expect("delivered");
    }
    assert_log_is(&broker, 300);
    assert!(broker.with(|s| s.duplicates) >= 3, "the retries were duplicates");
}

/// The broker lost the producer's state: the head batch gets OUT_OF_ORDER_SEQUENCE_NUMBER, a
/// real gap, so the producer bumps its epoch, restarts the partition's sequences at 0 and
/// delivers.
#[tokio::test(start_paused = true)]
async fn a_real_sequence_gap_bumps_the_epoch() {
    let broker = FakeBroker::new(1);
    let producer = producer(&broker, &[("linger.ms", "1")]).await;
    for f in send_all(&producer, 50).await {
        f.await.expect("delivered");
    }
    broker.with(|s| s.faults.push_back(Fault::ForgetProducers));
    let mut futures = Vec::new();
    for i in 50..100 {
        let record = ProducerRecord::builder("t").partition(0).value(value(i)).build();
        futures.push(producer.send(record).await.expect("accepted"));
    }
    for f in futures {
        f.await.expect("delivered after the bump");
    }
    assert_eq!(producer.metrics().epoch_bumps, 1);
    assert!(broker.with(|s| s.out_of_order) >= 1);
    assert_log_is(&broker, 100);
}

/// MESSAGE_TOO_LARGE on a multi-record batch: the batch is split and every record delivered,
/// in order, with its own offset.
#[tokio::test(start_paused = true)]
async fn message_too_large_splits_the_batch() {
    let broker = FakeBroker::new(1);
    broker.with(|s| s.max_records_per_batch = Some(10));
    let producer = producer(&broker, &[("linger.ms", "50")]).await;
    let futures = send_all(&producer, 100).await;
    let mut offsets = Vec::new();
    for f in futures {
        offsets.push(f.await.expect("delivered").offset);
    }
    assert_eq!(offsets, (0..100).collect::<Vec<i64>>());
    assert!(
        broker.with(|s| s.too_large) >= 1,
        "the broker refused the big batch"
    );
    assert_log_is(&broker, 100);
}

/// A broker that never answers: requests time out (request.timeout.ms), are retried, and the
/// records fail after delivery.timeout.ms saying they may have been written.
#[tokio::test(start_paused = true)]
async fn unanswered_records_expire_as_possibly_persisted() {
    let broker = FakeBroker::new(1);
    let producer = producer(
        &broker,
        &[
            ("linger.ms", "0"),
            ("request.timeout.ms", "1000"),
            ("delivery.timeout.ms", "3000"),
        ],
    )
    .await;
    broker.with(|s| s.faults.extend([Fault::Hold; 100]));
    let start = Instant::now();
    let future = send_all(&producer, 1).await.remove(0);
    match future.await {
        Err(e @ Error::Timeout { .. }) => assert!(e.may_have_been_persisted(), "{e}"),
        other => panic!("expected a delivery timeout, got {other:?}"),
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(3000) && elapsed < Duration::from_millis(3100),
        "{elapsed:?}"
    );
    assert!(
        broker.with(|s| s.produce_requests) >= 2,
        "the timed-out request was retried"
    );
}

/// `buffer.memory` full: `send` waits up to max.block.ms and fails with BufferExhausted,
/// `try_send` fails at once; memory freed by deliveries lets sends through again.
#[tokio::test(start_paused = true)]
async fn a_full_buffer_blocks_send_then_fails_and_recovers() {
    let broker = FakeBroker::new(1);
    broker.with(|s| s.faults.push_back(Fault::Hold));
    let producer = producer(
        &broker,
        &[
            ("batch.size", "1000"),
            ("buffer.memory", "2000"),
            ("max.block.ms", "500"),
            ("linger.ms", "0"),
            ("request.timeout.ms", "2000"),
        ],
    )
    .await;
    let big = || {
        ProducerRecord::builder("t")
            .partition(0)
            .value(vec![7u8; 900])
            .build()
    };
    let first = producer.send(big()).await.expect("fits");
    let second = producer.send(big()).await.expect("fits");
    assert!(matches!(
        producer.try_send(big()),
        Err(Error::BufferExhausted { .. })
    ));
    let start = Instant::now();
    assert!(matches!(
        producer.send(big()).await,
        Err(Error::BufferExhausted { .. })
    ));
    assert_eq!(start.elapsed(), Duration::from_millis(500), "max.block.ms");
    assert!(producer.metrics().buffer_used >= 2000);
    // The held request times out and is retried; then memory frees up.
    first.await.expect("delivered");
    second.await.expect("delivered");
    producer
        .send(big())
        .await
        .expect("fits again")
        .await
        .expect("delivered");
}

/// `close` with a deadline: what cannot be delivered in time fails with Closed, and records in
/// flight say they may have been written.
#[tokio::test(start_paused = true)]
async fn close_fails_what_is_left_after_its_timeout() {
    let broker = FakeBroker::new(1);
    broker.with(|s| s.faults.extend([Fault::Hold; 10]));
    let producer = producer(&broker, &[("linger.ms", "0")]).await;
    let future = send_all(&producer, 1).await.remove(0);
    tokio::time::sleep(Duration::from_millis(10)).await; // the request is on the wire
    producer.close(Duration::from_millis(100)).await;
    assert_eq!(
        future.await,
        Err(Error::Closed {
            may_have_been_persisted: true
        })
    );
    assert!(matches!(
        producer.send(ProducerRecord::new("t", "late")).await,
        Err(Error::Closed { .. })
    ));
}

/// A topic the cluster does not have: `send` waits max.block.ms for its metadata, then fails;
/// `try_send` fails at once.
#[tokio::test(start_paused = true)]
async fn a_missing_topic_fails_after_max_block() {
    let broker = FakeBroker::new(1);
    let producer = producer(&broker, &[("max.block.ms", "300")]).await;
    assert!(matches!(
        producer.try_send(ProducerRecord::new("nope", "v")),
        Err(Error::MetadataTimeout { .. })
    ));
    let start = Instant::now();
    match producer.send(ProducerRecord::new("nope", "v")).await {
        Err(Error::MetadataTimeout { topic, .. }) => assert_eq!(topic, "nope"),
        other => panic!("{other:?}"),
    }
    assert_eq!(start.elapsed(), Duration::from_millis(300));
}

/// Records with an explicit partition go there; a custom partitioner decides for the others;
/// `partitioner.ignore.keys` sends keyed records through the sticky partitioner, which a seed
/// makes predictable.
#[tokio::test(start_paused = true)]
async fn partition_choice_explicit_custom_and_ignored_keys() {
    #[derive(Debug)]
    struct Last;
    impl kafkit_producer::Partitioner for Last {
        fn partition(&self, _topic: &str, _key: Option<&[u8]>, _value: Option<&[u8]>, n: i32) -> i32 {
            n - 1
        }
    }
    let broker = FakeBroker::new(4);
    let servers = "fake:9092";
    let config = ProducerConfig::builder(servers)
        .partitioner(Arc::new(Last))
        .build()
        .expect("config");
    let custom = Producer::with_connector(config, Arc::new(broker.clone()))
        .await
        .expect("connect");
    let keyed = ProducerRecord::builder("t").key("k").value("v").build();
    assert_eq!(
        custom
            .send(keyed.clone())
            .await
            .expect("accepted")
            .await
            .expect("delivered")
            .partition,
        3
    );
    let explicit = ProducerRecord::builder("t")
        .partition(1)
        .key("k")
        .value("v")
        .build();
    assert_eq!(
        custom
            .send(explicit)
            .await
            .expect("accepted")
            .await
            .expect("delivered")
            .partition,
        1
    );
    let bad = ProducerRecord::builder("t").partition(4).value("v").build();
    assert!(matches!(
        custom.send(bad).await,
        Err(Error::UnknownPartition {
            partition: 4,
            partitions: 4,
            ..
        })
    ));

    let sticky_partitions = |seed| {
        let broker = broker.clone();
        async move {
            let config = ProducerConfig::builder(servers)
                .partitioner_ignore_keys(true)
                .partitioner_seed(seed)
                .batch_size(200)
                .build()
                .expect("config");
            let producer = Producer::with_connector(config, Arc::new(broker))
                .await
                .expect("connect");
            let mut partitions = Vec::new();
            for i in 0..40 {
                let record = ProducerRecord::builder("t")
                    .key("same-key")
                    .value(value(i))
                    .build();
                partitions.push(producer.send(record).await.expect("accepted").partition());
            }
            producer.close(Duration::from_secs(5)).await;
            partitions
        }
    };
    let first = sticky_partitions(7).await;
    assert_eq!(first, sticky_partitions(7).await, "seeded: the same choices");
    let distinct: std::collections::BTreeSet<i32> = first.iter().copied().collect();
    assert!(
        distinct.len() > 1,
        "keys ignored: the sticky partitioner moved on after batch.size: {first:?}"
    );
}
