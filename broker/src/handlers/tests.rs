//! Handler tests without sockets: each handler is a function over a `ClusterState`.

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiVersionsRequest, FetchRequest, InitProducerIdRequest, ListOffsetsRequest, MetadataRequest,
    ProduceRequest, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafkit_protocol::record::{Header, RecordBatchBuilder, TimestampType};
use kafkit_protocol::{Compression, ErrorCode};
use rstest::{fixture, rstest};

use super::*;
use crate::cluster::{self, BrokerInfo};
use crate::config::{ClusterConfig, TopicConfig};

fn now() -> i64 {
    now_ms()
}

fn state_with(brokers: usize, config: ClusterConfig) -> ClusterState {
    let infos = (0..brokers as i32)
        .map(|id| BrokerInfo {
            node_id: id,
            host: "127.0.0.1".into(),
            port: 9092 + id,
            up: true,
        })
        .collect();
    ClusterState::open(ClusterConfig { brokers, ..config }, infos).expect("state")
}

#[fixture]
fn state() -> ClusterState {
    let s = state_with(1, ClusterConfig::default());
    s.create_topic("orders", 2, TopicConfig::default())
        .expect("topic");
    s
}

fn ctx(state: &ClusterState, node_id: i32) -> HandlerContext<'_> {
    HandlerContext {
        state,
        node_id,
        connection_id: 1,
        client_id: "",
        client_host: "/127.0.0.1",
        listener: 0,
        principal: "User:ANONYMOUS",
    }
}

fn batch(records: usize, producer: Option<(i64, i16, i32)>) -> Bytes {
    let mut b = RecordBatchBuilder::new(Compression::None);
    if let Some((pid, epoch, seq)) = producer {
        b.set_producer_state(pid, epoch, seq);
    }
    for i in 0..records {
        b.append(
            now() + i as i64,
            Some(b"k"),
            Some(format!("v{i}").as_bytes()),
            &[Header::new("h", None)],
        );
    }
    Bytes::copy_from_slice(b.build().expect("build"))
}

fn produce_request(topic: &str, partition: i32, records: Option<Bytes>, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(records)])])
}

fn produce(state: &ClusterState, node: i32, version: i16, req: ProduceRequest) -> (ErrorCode, i64) {
    match produce::handle(&ctx(state, node), version, req) {
        produce::Outcome::Respond(r) => {
            let p = &r.responses[0].partition_responses[0];
            (ErrorCode::from(p.error_code), p.base_offset)
        }
        produce::Outcome::NoResponse { .. } => panic!("expected a response"),
    }
}

/// Offsets are assigned from the log end offset, per partition, from 0.
#[rstest]
fn produce_assigns_contiguous_offsets(state: ClusterState) {
    for expected in [0, 3, 6] {
        assert_eq!(
            produce(
                &state,
                0,
                9,
                produce_request("orders", 1, Some(batch(3, None)), -1)
            ),
            (ErrorCode::None, expected)
        );
    }
    assert_eq!(
        produce(
            &state,
            0,
            9,
            produce_request("orders", 0, Some(batch(1, None)), 1)
        ),
        (ErrorCode::None, 0)
    );
}

#[rstest]
#[case::unknown_topic("nope", 0, ErrorCode::UnknownTopicOrPartition)]
#[case::unknown_partition("orders", 7, ErrorCode::UnknownTopicOrPartition)]
#[case::internal_topic("__consumer_offsets", 0, ErrorCode::InvalidTopicException)]
fn produce_partition_errors(
    state: ClusterState,
    #[case] topic: &str,
    #[case] partition: i32,
    #[case] code: ErrorCode,
) {
    assert_eq!(
        produce(
            &state,
            0,
            9,
            produce_request(topic, partition, Some(batch(1, None)), -1)
        )
        .0,
        code
    );
}

#[rstest]
fn produce_rejects_invalid_acks_and_null_records(state: ClusterState) {
    assert_eq!(
        produce(
            &state,
            0,
            9,
            produce_request("orders", 0, Some(batch(1, None)), 2)
        )
        .0,
        ErrorCode::InvalidRequiredAcks
    );
    assert_eq!(
        produce(&state, 0, 9, produce_request("orders", 0, None, -1)).0,
        ErrorCode::InvalidRecord
    );
    let log_end = |s: &ClusterState| {
        cluster::lock_log(&s.metadata().partition("orders", 0).expect("p").log).log_end_offset()
    };
    assert_eq!(log_end(&state), 0, "nothing appended for failed partitions");
}

#[rstest]
fn acks_zero_sends_nothing_and_closes_on_failure(state: ClusterState) {
    let ok = produce::handle(
        &ctx(&state, 0),
        9,
        produce_request("orders", 0, Some(batch(1, None)), 0),
    );
    assert!(matches!(ok, produce::Outcome::NoResponse { failed: false }));
    let bad = produce::handle(
        &ctx(&state, 0),
        9,
        produce_request("missing", 0, Some(batch(1, None)), 0),
    );
    assert!(matches!(bad, produce::Outcome::NoResponse { failed: true }));
}

/// A retried idempotent batch is answered with its original offset and stored once.
#[rstest]
fn idempotent_duplicates_get_the_original_offset(state: ClusterState) {
    let first = batch(2, Some((1000, 0, 0)));
    assert_eq!(
        produce(
            &state,
            0,
            9,
            produce_request("orders", 0, Some(first.clone()), -1)
        ),
        (ErrorCode::None, 0)
    );
    assert_eq!(
        produce(
            &state,
            0,
            9,
            produce_request("orders", 0, Some(batch(1, Some((1000, 0, 2)))), -1)
        ),
        (ErrorCode::None, 2)
    );
    assert_eq!(
        produce(&state, 0, 9, produce_request("orders", 0, Some(first), -1)),
        (ErrorCode::None, 0)
    );
    let gap = batch(1, Some((1000, 0, 9)));
    assert_eq!(
        produce(&state, 0, 9, produce_request("orders", 0, Some(gap), -1)).0,
        ErrorCode::OutOfOrderSequenceNumber
    );
    let log = state.metadata().partition("orders", 0).expect("p").log.clone();
    assert_eq!(cluster::lock_log(&log).log_end_offset(), 3);
}

/// On a 2-node cluster, the non-leader answers NOT_LEADER_OR_FOLLOWER with the leader (v10+).
#[test]
fn produce_to_a_follower_names_the_leader() {
    let state = state_with(2, ClusterConfig::default());
    state.create_topic("t", 1, TopicConfig::default()).expect("topic");
    let resp = match produce::handle(
        &ctx(&state, 1),
        10,
        produce_request("t", 0, Some(batch(1, None)), -1),
    ) {
        produce::Outcome::Respond(r) => r,
        produce::Outcome::NoResponse { .. } => panic!("response expected"),
    };
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(ErrorCode::from(p.error_code), ErrorCode::NotLeaderOrFollower);
    assert_eq!(
        (p.current_leader.leader_id.0, p.current_leader.leader_epoch),
        (0, 0)
    );
    assert_eq!(resp.node_endpoints.len(), 1);
    assert_eq!(resp.node_endpoints[0].port, 9092);
}

#[rstest]
#[case::v0_empty_is_all(0, Some(vec![]), 1)]
#[case::v1_null_is_all(1, None, 1)]
#[case::v1_empty_is_none(1, Some(vec![]), 0)]
fn metadata_topic_lists(
    state: ClusterState,
    #[case] version: i16,
    #[case] topics: Option<Vec<&str>>,
    #[case] n: usize,
) {
    let topics = topics.map(|t| {
        t.into_iter()
            .map(|name| {
                MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_string(name.into()))))
            })
            .collect()
    });
    let resp = metadata::handle(
        &ctx(&state, 0),
        version,
        MetadataRequest::default().with_topics(topics),
    );
    assert_eq!(resp.topics.len(), n);
    assert_eq!(resp.brokers.len(), 1);
}

#[rstest]
fn metadata_auto_creates_and_reports_errors(state: ClusterState) {
    let ask = |names: &[&str], allow: bool| {
        let topics = names
            .iter()
            .map(|n| {
                MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(n.to_string()))))
            })
            .collect();
        metadata::handle(
            &ctx(&state, 0),
            12,
            MetadataRequest::default()
                .with_topics(Some(topics))
                .with_allow_auto_topic_creation(allow),
        )
    };
    let resp = ask(&["fresh", "bad/name", "nocreate"], false);
    let codes: Vec<ErrorCode> = resp
        .topics
        .iter()
        .map(|t| ErrorCode::from(t.error_code))
        .collect();
    assert_eq!(
        codes,
        [
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::InvalidTopicException,
            ErrorCode::UnknownTopicOrPartition
        ]
    );
    let resp = ask(&["fresh"], true);
    let t = &resp.topics[0];
    assert_eq!(ErrorCode::from(t.error_code), ErrorCode::None);
    assert_eq!(t.partitions.len(), 1, "num.partitions");
    assert!(!t.topic_id.is_nil());
    assert_eq!(t.partitions[0].leader_id.0, 0);
}

#[rstest]
fn api_versions_lists_the_table(state: ClusterState) {
    let resp = api_versions::handle(
        &ctx(&state, 0),
        3,
        ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("kafkit"))
            .with_client_software_version(StrBytes::from_static_str("1.0")),
    );
    assert_eq!(resp.error_code, 0);
    assert_eq!(
        resp.api_keys.len(),
        kafkit_protocol::versions::SUPPORTED_APIS.len()
    );
    let produce = resp.api_keys.iter().find(|k| k.api_key == 0).expect("produce");
    assert_eq!((produce.min_version, produce.max_version), (3, 13));
}

#[rstest]
fn init_producer_id_allocates_fresh_ids(state: ClusterState) {
    let a = init_producer_id::handle(
        &ctx(&state, 0),
        4,
        InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    );
    let b = init_producer_id::handle(
        &ctx(&state, 0),
        4,
        InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_producer_id(ProducerId(a.producer_id.0))
            .with_producer_epoch(0),
    );
    assert_eq!(
        (a.error_code, a.producer_epoch, b.error_code, b.producer_epoch),
        (0, 0, 0, 0)
    );
    assert!(b.producer_id.0 > a.producer_id.0);
    let bad = init_producer_id::handle(
        &ctx(&state, 0),
        4,
        InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_producer_id(ProducerId(5))
            .with_producer_epoch(-1),
    );
    assert_eq!(ErrorCode::from(bad.error_code), ErrorCode::InvalidRequest);
}

fn fetch_request(offset: i64, max: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("orders")))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(max)
                .with_current_leader_epoch(-1)])])
}

/// Fetch returns whole stored batches from the containing batch; at least one even when it is
/// larger than the limit; offsets past the high watermark are out of range.
#[rstest]
fn fetch_returns_whole_batches(state: ClusterState) {
    let b1 = batch(3, None);
    let b2 = batch(2, None);
    produce(&state, 0, 9, produce_request("orders", 0, Some(b1.clone()), -1));
    produce(&state, 0, 9, produce_request("orders", 0, Some(b2.clone()), -1));
    let read = |offset, max| {
        let out = fetch::handle(&ctx(&state, 0), 12, &fetch_request(offset, max));
        let p = out.response.responses[0].partitions[0].clone();
        (
            ErrorCode::from(p.error_code),
            p.records.unwrap_or_default(),
            p.high_watermark,
        )
    };
    let (code, records, hw) = read(0, 1 << 20);
    assert_eq!(
        (code, records.len(), hw),
        (ErrorCode::None, b1.len() + b2.len(), 5)
    );
    let (_, records, _) = read(4, 1 << 20);
    assert_eq!(records.len(), b2.len(), "offset 4 is inside the second batch");
    let (_, records, _) = read(0, 1);
    assert_eq!(
        records.len(),
        b1.len(),
        "one whole batch even above partition_max_bytes"
    );
    assert_eq!(read(6, 100).0, ErrorCode::OffsetOutOfRange);
    assert_eq!(read(5, 100).1.len(), 0, "at the high watermark: empty");
}

/// A batch is stored from the request's own bytes with only its header stamped; a header max
/// timestamp that disagrees with the records is corrected (CRC recomputed), as Kafka's
/// LogValidator does.
#[rstest]
fn produce_stores_the_records_as_sent_and_corrects_a_wrong_max_timestamp(state: ClusterState) {
    let sent = batch(3, None);
    let mut wrong = sent.to_vec();
    kafkit_protocol::record::RecordBatchMut::new(&mut wrong)
        .expect("batch")
        .set_max_timestamp(TimestampType::CreateTime, now() - 1);
    produce(&state, 0, 9, produce_request("orders", 0, Some(sent.clone()), -1));
    produce(
        &state,
        0,
        9,
        produce_request("orders", 0, Some(Bytes::from(wrong)), -1),
    );
    let out = fetch::handle(&ctx(&state, 0), 12, &fetch_request(0, 1 << 20));
    let records = out.response.responses[0].partitions[0]
        .records
        .clone()
        .unwrap_or_default();
    let stored: Vec<_> = kafkit_protocol::record::Batches::new(&records)
        .map(|b| b.expect("batch"))
        .collect();
    let original = kafkit_protocol::record::RecordBatch::parse(&sent).expect("parse");
    assert_eq!(stored.len(), 2);
    for (b, base) in stored.iter().zip([0, 3]) {
        assert!(b.is_crc_valid());
        assert_eq!((b.base_offset(), b.partition_leader_epoch()), (base, 0));
        assert_eq!(b.max_timestamp(), original.max_timestamp(), "the records' max");
        assert_eq!(b.records_bytes(), original.records_bytes());
    }
}

/// The broker's fetch.max.bytes caps a response whatever the request's max_bytes, as Kafka
/// does (min of the two); the first batch still comes whole.
#[test]
fn fetch_max_bytes_caps_the_response() {
    let b1 = batch(3, None);
    let config = ClusterConfig {
        fetch_max_bytes: b1.len() + 1,
        ..Default::default()
    };
    let state = state_with(1, config);
    state
        .create_topic("orders", 1, TopicConfig::default())
        .expect("topic");
    for _ in 0..3 {
        produce(
            &state,
            0,
            9,
            produce_request("orders", 0, Some(batch(3, None)), -1),
        );
    }
    let request = fetch_request(0, i32::MAX).with_max_bytes(i32::MAX);
    let out = fetch::handle(&ctx(&state, 0), 12, &request);
    let records = out.response.responses[0].partitions[0]
        .records
        .clone()
        .unwrap_or_default();
    assert_eq!(records.len(), b1.len(), "one batch fits under fetch.max.bytes");
    let small = ClusterConfig {
        fetch_max_bytes: 1,
        ..Default::default()
    };
    let state = state_with(1, small);
    state
        .create_topic("orders", 1, TopicConfig::default())
        .expect("topic");
    produce(
        &state,
        0,
        9,
        produce_request("orders", 0, Some(batch(3, None)), -1),
    );
    let out = fetch::handle(&ctx(&state, 0), 12, &request);
    let records = out.response.responses[0].partitions[0]
        .records
        .clone()
        .unwrap_or_default();
    assert_eq!(
        records.len(),
        b1.len(),
        "the first batch comes whole even above the cap"
    );
}

/// Broker settings by their Kafka names: parsed, validated, and a bad one names its key.
#[test]
fn cluster_config_set_names_the_key() {
    let mut config = ClusterConfig::default();
    for (key, value) in [
        ("socket.request.max.bytes", "1000"),
        ("max.connections", "7"),
        ("fetch.max.bytes", "5000"),
        ("message.max.bytes", "2000"),
        ("log.message.timestamp.type", "LogAppendTime"),
        ("log.segment.bytes", "100000"),
        ("log.flush.interval.messages", "1"),
        ("kafkit.max.decompressed.bytes", "4096"),
        ("num.partitions", "3"),
        ("auto.create.topics.enable", "false"),
    ] {
        config.set(key, value).expect(key);
    }
    assert_eq!(
        (
            config.socket_request_max_bytes,
            config.max_connections,
            config.fetch_max_bytes,
            config.validation.max_message_bytes,
            config.log.segment_bytes,
            config.log.flush_messages,
            config.validation.max_decompressed_bytes,
            config.num_partitions,
            config.auto_create_topics,
        ),
        (1000, 7, 5000, 2000, 100_000, Some(1), 4096, 3, false)
    );
    assert_eq!(config.validation.timestamp_type, TimestampType::LogAppendTime);
    for (key, value) in [
        ("max.connections", "0"),
        ("fetch.max.bytes", "lots"),
        ("log.message.timestamp.type", "Now"),
        ("log.segment.bytes", "3"),
        ("num.partitions", "-1"),
    ] {
        let err = config.set(key, value).expect_err(key).to_string();
        let segment = key == "log.segment.bytes";
        assert!(
            err.contains(if segment { "segment.bytes" } else { key }),
            "{key}: {err}"
        );
    }
    let err = config.set("no.such.key", "1").expect_err("unknown").to_string();
    assert!(err.contains("no.such.key"), "{err}");
}

#[rstest]
fn list_offsets_earliest_latest_and_by_timestamp(state: ClusterState) {
    let t0 = now();
    let mut b = RecordBatchBuilder::new(Compression::None);
    for i in 0..4 {
        b.append(t0 + i * 10, None, Some(b"x"), &[]);
    }
    let bytes = Bytes::copy_from_slice(b.build().expect("build"));
    produce(&state, 0, 9, produce_request("orders", 0, Some(bytes), -1));
    let ask = |ts: i64| {
        let req = ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("orders")))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(ts)
                .with_current_leader_epoch(-1)])]);
        let r = list_offsets::handle(&ctx(&state, 0), 7, req);
        let p = &r.topics[0].partitions[0];
        (ErrorCode::from(p.error_code), p.offset, p.timestamp)
    };
    assert_eq!(ask(-2), (ErrorCode::None, 0, -1));
    assert_eq!(ask(-1), (ErrorCode::None, 4, -1));
    assert_eq!(ask(-3), (ErrorCode::None, 3, t0 + 30));
    assert_eq!(ask(t0 + 15), (ErrorCode::None, 2, t0 + 20));
    assert_eq!(ask(t0 + 1000), (ErrorCode::None, -1, -1));
}

/// FindCoordinator: groups are placed on `__consumer_offsets` and transactional ids on
/// `__transaction_state`, each created by its first lookup with Kafka's 50 partitions (v4 per
/// key); other key types are refused.
#[rstest]
fn find_coordinator_finds_groups_and_transaction_coordinators(state: ClusterState) {
    use kafka_protocol::messages::FindCoordinatorRequest;
    let ctx = ctx(&state, 0);
    assert!(!state.metadata().topics.contains_key(crate::group::OFFSETS_TOPIC));
    let v4 = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![
            StrBytes::from_static_str("g1"),
            StrBytes::from_static_str("g2"),
        ]);
    let response = find_coordinator::handle(&ctx, 4, v4);
    assert_eq!(response.coordinators.len(), 2);
    // The first group lookup created __consumer_offsets, with Kafka's 50 partitions.
    let leaders: Vec<i32> = state.metadata().topics[crate::group::OFFSETS_TOPIC]
        .partitions
        .iter()
        .map(|p| p.leader.expect("leader"))
        .collect();
    assert_eq!(leaders.len(), 50);
    for c in &response.coordinators {
        assert_eq!(c.error_code, 0, "{c:?}");
        let partition = crate::group::store::partition_for(&c.key, 50);
        assert_eq!(c.node_id.0, leaders[partition as usize], "{c:?}");
        let broker = state.metadata().broker(c.node_id.0).cloned().expect("broker");
        assert_eq!((c.host.as_str(), c.port), (broker.host.as_str(), broker.port));
    }
    let v1 = FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g3"));
    let response = find_coordinator::handle(&ctx, 1, v1);
    assert_eq!(response.error_code, 0);
    assert_eq!(
        response.node_id.0,
        leaders[crate::group::store::partition_for("g3", 50) as usize]
    );

    // Transactional ids: on the leader of their __transaction_state partition.
    let txn = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![StrBytes::from_static_str("t1")]);
    let response = find_coordinator::handle(&ctx, 4, txn);
    assert_eq!(response.coordinators[0].error_code, 0);
    let txn_leaders: Vec<i32> = state.metadata().topics[crate::txn::TRANSACTION_STATE_TOPIC]
        .partitions
        .iter()
        .map(|p| p.leader.expect("leader"))
        .collect();
    assert_eq!(txn_leaders.len(), 50);
    assert_eq!(
        response.coordinators[0].node_id.0,
        txn_leaders[crate::group::store::partition_for("t1", 50) as usize]
    );

    // Other key types are refused.
    let share = FindCoordinatorRequest::default()
        .with_key_type(2)
        .with_coordinator_keys(vec![StrBytes::from_static_str("s")]);
    let response = find_coordinator::handle(&ctx, 6, share);
    assert_eq!(
        response.coordinators[0].error_code,
        ErrorCode::InvalidRequest.code()
    );
}

/// CreatePartitions: grows a topic (the new partitions take appends and keep the topic's id),
/// checks without creating under `validate_only`, and answers Kafka's error codes.
#[rstest]
fn create_partitions_grows_topics_and_answers_kafkas_errors(state: ClusterState) {
    use kafka_protocol::messages::create_partitions_request::{
        CreatePartitionsAssignment, CreatePartitionsTopic,
    };
    use kafka_protocol::messages::CreatePartitionsRequest;
    let ctx = ctx(&state, 0);
    let grow = |name: &'static str, count: i32| {
        CreatePartitionsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(name)))
            .with_count(count)
    };
    let codes = |response: kafka_protocol::messages::CreatePartitionsResponse| -> Vec<(String, i16)> {
        response
            .results
            .into_iter()
            .map(|r| (r.name.0.to_string(), r.error_code))
            .collect()
    };
    let id = state.metadata().topics["orders"].id;

    let checked = create_partitions::handle(
        &ctx,
        3,
        CreatePartitionsRequest::default()
            .with_topics(vec![grow("orders", 4)])
            .with_validate_only(true),
    );
    assert_eq!(codes(checked), [("orders".to_string(), 0)]);
    assert_eq!(
        state.metadata().topics["orders"].partitions.len(),
        2,
        "validate only"
    );

    let request = CreatePartitionsRequest::default().with_topics(vec![
        grow("orders", 4),
        grow("missing", 2),
        grow("dup", 3),
        grow("dup", 3),
        grow("orders-assigned", 3).with_assignments(Some(vec![CreatePartitionsAssignment::default()
            .with_broker_ids(vec![kafka_protocol::messages::BrokerId(0)])])),
    ]);
    let answered = codes(create_partitions::handle(&ctx, 3, request));
    assert_eq!(
        answered,
        [
            ("orders".to_string(), 0),
            ("missing".to_string(), ErrorCode::UnknownTopicOrPartition.code()),
            ("dup".to_string(), ErrorCode::InvalidRequest.code()),
            ("dup".to_string(), ErrorCode::InvalidRequest.code()),
            (
                "orders-assigned".to_string(),
                ErrorCode::InvalidReplicaAssignment.code()
            ),
        ]
    );
    let metadata = state.metadata();
    let topic = &metadata.topics["orders"];
    assert_eq!((topic.partitions.len(), topic.id), (4, id));
    drop(metadata);

    for count in [4, 3] {
        let request = CreatePartitionsRequest::default().with_topics(vec![grow("orders", count)]);
        let response = create_partitions::handle(&ctx, 3, request);
        assert_eq!(
            response.results[0].error_code,
            ErrorCode::InvalidPartitions.code()
        );
        assert!(response.results[0].error_message.is_some());
    }

    assert_eq!(
        produce(
            &state,
            0,
            9,
            produce_request("orders", 3, Some(batch(2, None)), -1)
        ),
        (ErrorCode::None, 0),
        "a new partition takes appends"
    );
}
