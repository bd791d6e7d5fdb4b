//! The hook, version pins and leadership changes, through `handle_frame` without sockets.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, InitProducerIdRequest, InitProducerIdResponse,
    MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafkit_protocol::frame::{encode_request_frame, request_header, split_frame};
use kafkit_protocol::record::RecordBatchBuilder;
use kafkit_protocol::response::{decode_response, GuardedResponse};
use kafkit_protocol::{Compression, ErrorCode, Request};
use rstest::rstest;

use super::*;
use crate::cluster::{lock_log, BrokerInfo, ClusterState};
use crate::config::{ClusterConfig, TopicConfig};
use crate::handlers::{handle_frame, HandlerContext, Reply};

fn state(brokers: i32) -> ClusterState {
    let infos = (0..brokers)
        .map(|id| BrokerInfo {
            node_id: id,
            host: "127.0.0.1".into(),
            port: 9092 + id,
            up: true,
        })
        .collect();
    let state = ClusterState::open(
        ClusterConfig {
            brokers: brokers as usize,
            ..Default::default()
        },
        infos,
    )
    .expect("state");
    state
        .create_topic("orders", 2, TopicConfig::default())
        .expect("topic");
    state
}

/// Records what it saw and answers with a fixed decision and `after`.
#[derive(Debug, Default)]
struct Fixed {
    decision: Decision,
    after: After,
    seen: Mutex<Vec<(RequestContext, Option<Response>)>>,
}

impl Interceptor for Fixed {
    fn before<'a>(&'a self, _: &'a RequestContext, _: &'a Request) -> BoxFuture<'a, Decision> {
        Box::pin(async move { self.decision.clone() })
    }

    fn after(
        &self,
        ctx: &RequestContext,
        _: &Request,
        _: &Decision,
        response: Option<&mut Response>,
    ) -> After {
        let seen = response.map(|r| r.clone());
        self.seen.lock().expect("lock").push((ctx.clone(), seen));
        self.after
    }
}

fn install(state: &ClusterState, decision: Decision, after: After) -> Arc<Fixed> {
    let hook = Arc::new(Fixed {
        decision,
        after,
        ..Default::default()
    });
    state.set_interceptor(Some(hook.clone()));
    hook
}

fn frame<R: kafka_protocol::protocol::Request>(version: i16, body: &R) -> Bytes {
    let key = ApiKey::try_from(R::KEY).expect("key");
    let mut out = BytesMut::new();
    encode_request_frame(&mut out, &request_header(key, version, 7, Some("unit")), body).expect("encode");
    split_frame(&mut out, usize::MAX)
        .expect("frame")
        .expect("complete")
}

async fn send<R: kafka_protocol::protocol::Request>(
    state: &ClusterState,
    node: i32,
    version: i16,
    body: &R,
) -> Reply {
    let ctx = HandlerContext {
        state,
        node_id: node,
        connection_id: 99,
        client_id: "",
        client_host: "/127.0.0.1",
        listener: 0,
        principal: "User:ANONYMOUS",
    };
    handle_frame(&ctx, 0, frame(version, body))
        .await
        .expect("handled")
}

fn decode<T: GuardedResponse>(reply: &Reply, version: i16) -> T {
    let mut bytes = BytesMut::from(&reply.response.as_ref().expect("a response")[..]);
    let frame = split_frame(&mut bytes, usize::MAX)
        .expect("frame")
        .expect("complete");
    decode_response::<T>(frame, version).expect("decode").body
}

fn produce_both_partitions(acks: i16) -> ProduceRequest {
    let partition = |index: i32| {
        let mut b = RecordBatchBuilder::new(Compression::None);
        b.append(1_700_000_000_000, None, Some(b"v"), &[]);
        PartitionProduceData::default()
            .with_index(index)
            .with_records(Some(Bytes::copy_from_slice(b.build().expect("build"))))
    };
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("orders")))
            .with_partition_data(vec![partition(0), partition(1)])])
}

fn log_end(state: &ClusterState, partition: i32) -> i64 {
    let log = state
        .metadata()
        .partition("orders", partition)
        .expect("p")
        .log
        .clone();
    let end = lock_log(&log).log_end_offset();
    end
}

fn partition_codes(response: &ProduceResponse) -> Vec<(i32, ErrorCode)> {
    let mut codes: Vec<_> = response.responses[0]
        .partition_responses
        .iter()
        .map(|p| (p.index, ErrorCode::from(p.error_code)))
        .collect();
    codes.sort_by_key(|c| c.0);
    codes
}

fn not_leader(partition: Option<i32>) -> PartitionError {
    PartitionError {
        topic: "orders".into(),
        partition,
        error: ErrorCode::NotLeaderOrFollower,
    }
}

/// The hook sees the context and the typed response; a pass-through leaves both alone.
#[tokio::test]
async fn pass_through_sees_context_and_typed_response() {
    let state = state(1);
    let hook = install(&state, Decision::default(), After::Send);
    let reply = send(&state, 0, 9, &produce_both_partitions(-1)).await;
    let response: ProduceResponse = decode(&reply, 9);
    assert_eq!(
        partition_codes(&response),
        [(0, ErrorCode::None), (1, ErrorCode::None)]
    );
    let seen = hook.seen.lock().expect("lock");
    let (ctx, typed) = &seen[0];
    assert_eq!(
        (
            ctx.api_key,
            ctx.api_version,
            ctx.correlation_id,
            ctx.client_id.as_deref()
        ),
        (ApiKey::Produce, 9, 7, Some("unit"))
    );
    assert_eq!(
        (ctx.node_id, ctx.connection_id, ctx.cluster_request_index),
        (0, 99, 0)
    );
    assert_eq!(typed.as_ref(), Some(&Response::Produce(response)));
}

/// An injected partition error is answered without appending; the other partition is appended.
#[tokio::test]
async fn partition_error_skips_only_that_partition() {
    let state = state(1);
    install(
        &state,
        Decision {
            partition_errors: vec![not_leader(Some(1))],
            ..Default::default()
        },
        After::Send,
    );
    let response: ProduceResponse = decode(&send(&state, 0, 9, &produce_both_partitions(-1)).await, 9);
    assert_eq!(
        partition_codes(&response),
        [(0, ErrorCode::None), (1, ErrorCode::NotLeaderOrFollower)]
    );
    assert_eq!((log_end(&state, 0), log_end(&state, 1)), (1, 0));
}

/// A request error answers every partition and appends nothing; acks=0 closes instead.
#[rstest]
#[case::acks_all(-1)]
#[case::acks_none(0)]
#[tokio::test]
async fn request_error_appends_nothing(#[case] acks: i16) {
    let state = state(1);
    install(
        &state,
        Decision {
            request_error: Some(ErrorCode::NotEnoughReplicas),
            ..Default::default()
        },
        After::Send,
    );
    let reply = send(&state, 0, 9, &produce_both_partitions(acks)).await;
    if acks == 0 {
        assert!(reply.response.is_none() && reply.close);
    } else {
        let response: ProduceResponse = decode(&reply, 9);
        assert_eq!(
            partition_codes(&response),
            [
                (0, ErrorCode::NotEnoughReplicas),
                (1, ErrorCode::NotEnoughReplicas)
            ]
        );
    }
    assert_eq!((log_end(&state, 0), log_end(&state, 1)), (0, 0));
}

/// A request error on an API without partitions: no producer id is allocated.
#[tokio::test]
async fn request_error_on_init_producer_id() {
    let state = state(1);
    install(
        &state,
        Decision {
            request_error: Some(ErrorCode::CoordinatorLoadInProgress),
            ..Default::default()
        },
        After::Send,
    );
    let body = InitProducerIdRequest::default()
        .with_transaction_timeout_ms(1000)
        .with_producer_id((-1).into())
        .with_producer_epoch(-1);
    let response: InitProducerIdResponse = decode(&send(&state, 0, 4, &body).await, 4);
    assert_eq!(
        (ErrorCode::from(response.error_code), response.producer_id.0),
        (ErrorCode::CoordinatorLoadInProgress, -1)
    );
    assert_eq!(
        state.allocate_producer_id().expect("id"),
        1000,
        "no id was handed out"
    );
}

/// A request error on the group APIs answers where each carries its error, and changes
/// nothing: no offset is committed, no member joins.
#[tokio::test]
async fn request_errors_on_group_apis() {
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::{
        GroupId, JoinGroupRequest, JoinGroupResponse, OffsetCommitRequest, OffsetCommitResponse, TopicName,
    };
    let state = state(1);
    state.groups().locate(&state, "g").expect("coordinator");
    install(
        &state,
        Decision {
            request_error: Some(ErrorCode::NotCoordinator),
            ..Default::default()
        },
        After::Send,
    );
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("g")))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("events")))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(1)
                .with_committed_offset(5)])]);
    let response: OffsetCommitResponse = decode(&send(&state, 0, 8, &commit).await, 8);
    assert_eq!(response.topics[0].partitions[0].partition_index, 1);
    assert_eq!(
        ErrorCode::from(response.topics[0].partitions[0].error_code),
        ErrorCode::NotCoordinator
    );
    assert_eq!(state.groups().committed("g", "events", 1), None);
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("g")))
        .with_session_timeout_ms(10_000)
        .with_member_id(StrBytes::from_static_str("m-1"))
        .with_protocol_type(StrBytes::from_static_str("consumer"));
    let response: JoinGroupResponse = decode(&send(&state, 0, 5, &join).await, 5);
    assert_eq!(
        (
            ErrorCode::from(response.error_code),
            response.generation_id,
            response.member_id.as_str()
        ),
        (ErrorCode::NotCoordinator, -1, "m-1")
    );
    assert!(state.groups().group("g").is_none());
}

/// A Metadata topic error keeps the topic from being auto-created; a partition error marks
/// only that partition.
#[tokio::test]
async fn metadata_topic_and_partition_errors() {
    let state = state(1);
    install(
        &state,
        Decision {
            partition_errors: vec![
                PartitionError {
                    topic: "fresh".into(),
                    partition: None,
                    error: ErrorCode::UnknownTopicOrPartition,
                },
                PartitionError {
                    topic: "orders".into(),
                    partition: Some(1),
                    error: ErrorCode::LeaderNotAvailable,
                },
            ],
            ..Default::default()
        },
        After::Send,
    );
    let topic = |name: &'static str| {
        MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_static_str(name))))
    };
    let body = MetadataRequest::default()
        .with_topics(Some(vec![topic("fresh"), topic("orders")]))
        .with_allow_auto_topic_creation(true);
    let response: MetadataResponse = decode(&send(&state, 0, 12, &body).await, 12);
    assert!(!state.metadata().topics.contains_key("fresh"), "not auto-created");
    let by_name = |n: &str| {
        response
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|x| x.0.as_str() == n))
            .expect("listed")
    };
    assert_eq!(
        by_name("fresh").error_code,
        ErrorCode::UnknownTopicOrPartition.code()
    );
    let orders: Vec<i16> = by_name("orders")
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(orders, [0, ErrorCode::LeaderNotAvailable.code()]);
}

/// Closing before handling appends nothing; dropping after handling appended but sends
/// nothing; closing after handling appended and closes.
#[rstest]
#[case::close_before(Decision { close_before: true, ..Default::default() }, After::Send, 0, true)]
#[case::drop_after(Decision::default(), After::Drop, 1, false)]
#[case::close_after(Decision { after: After::Close, ..Default::default() }, After::Send, 1, true)]
#[tokio::test]
async fn close_and_drop(
    #[case] decision: Decision,
    #[case] after: After,
    #[case] appended: i64,
    #[case] close: bool,
) {
    let state = state(1);
    let hook = install(&state, decision, after);
    let reply = send(&state, 0, 9, &produce_both_partitions(-1)).await;
    assert!(reply.response.is_none());
    assert_eq!(reply.close, close);
    assert_eq!(log_end(&state, 0), appended);
    assert_eq!(
        hook.seen.lock().expect("lock").len(),
        1,
        "after is called either way"
    );
}

/// A pin narrows ApiVersions and is enforced: Produce above it closes the connection,
/// ApiVersions above it gets KIP-511 with the pinned range.
#[tokio::test]
async fn version_pins_are_advertised_and_enforced() {
    let state = state(1);
    state.pin_api_versions(ApiKey::Produce, 0, 7).expect("pin");
    state.pin_api_versions(ApiKey::ApiVersions, 0, 2).expect("pin");
    let body = ApiVersionsRequest::default();
    let response: ApiVersionsResponse = decode(&send(&state, 0, 2, &body).await, 2);
    let produce = response
        .api_keys
        .iter()
        .find(|k| k.api_key == 0)
        .expect("produce");
    assert_eq!((produce.min_version, produce.max_version), (3, 7));

    let fallback: ApiVersionsResponse = decode(&send(&state, 0, 3, &body).await, 3);
    assert_eq!(fallback.error_code, ErrorCode::UnsupportedVersion.code());
    assert_eq!(
        (fallback.api_keys[0].min_version, fallback.api_keys[0].max_version),
        (0, 2)
    );

    let ctx = HandlerContext {
        state: &state,
        node_id: 0,
        connection_id: 1,
        client_id: "",
        client_host: "/127.0.0.1",
        listener: 0,
        principal: "User:ANONYMOUS",
    };
    assert!(handle_frame(&ctx, 0, frame(9, &produce_both_partitions(-1)))
        .await
        .is_err());
    assert!(state.pin_api_versions(ApiKey::ApiVersions, 5, 9).is_err());
    state.clear_api_version_pins();
    assert!(handle_frame(&ctx, 0, frame(9, &produce_both_partitions(-1)))
        .await
        .is_ok());
}

/// Moving a leader bumps the epoch and fences the old leader.
#[tokio::test]
async fn move_leader_bumps_epoch() {
    let state = state(2);
    assert_eq!(state.move_leader("orders", 0, 1), Ok(1));
    let response: ProduceResponse = decode(&send(&state, 0, 9, &produce_both_partitions(-1)).await, 9);
    assert_eq!(partition_codes(&response)[0], (0, ErrorCode::NotLeaderOrFollower));
    assert_eq!(
        state.move_leader("orders", 9, 1),
        Err(ErrorCode::UnknownTopicOrPartition)
    );
    assert_eq!(
        state.move_leader("orders", 0, 5),
        Err(ErrorCode::BrokerNotAvailable)
    );
}

fn leader(state: &ClusterState, partition: i32) -> (Option<i32>, i32) {
    let m = state.metadata();
    let p = m.partition("orders", partition).expect("p");
    (p.leader, p.leader_epoch)
}

/// Down without re-election leaves partitions leaderless until the node returns; with
/// re-election another replica leads at once.
#[rstest]
#[case::no_reelect(false, (None, 1))]
#[case::reelect(true, (Some(1), 1))]
fn broker_down_and_up(#[case] reelect: bool, #[case] while_down: (Option<i32>, i32)) {
    let state = state(2);
    assert_eq!(leader(&state, 0), (Some(0), 0));
    state.set_broker_up(0, false, reelect).expect("down");
    assert_eq!(leader(&state, 0), while_down);
    assert_eq!(
        leader(&state, 1),
        (Some(1), 0),
        "partitions led elsewhere keep their epoch"
    );
    state.set_broker_up(0, true, false).expect("up");
    let expected = if reelect { (Some(1), 1) } else { (Some(0), 2) };
    assert_eq!(leader(&state, 0), expected);
    assert_eq!(
        state.set_broker_up(7, false, false),
        Err(ErrorCode::BrokerNotAvailable)
    );
}

/// Shuffling moves every leader to the next live replica.
#[test]
fn shuffle_rotates_every_leader() {
    let state = state(3);
    state.shuffle_leaders();
    assert_eq!(
        (leader(&state, 0), leader(&state, 1)),
        ((Some(1), 1), (Some(2), 1))
    );
}
