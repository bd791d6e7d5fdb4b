//! Each fault action and filter, with raw requests over in-memory connections: what the client
//! gets back, and what the cluster stored.

use std::time::Duration;

use kafkit_testkit::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafkit_testkit::kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use kafkit_testkit::kafka_protocol::messages::{
    FetchRequest, InitProducerIdRequest, ListOffsetsRequest, MetadataRequest, TopicName,
};
use kafkit_testkit::kafka_protocol::protocol::StrBytes;
use kafkit_testkit::wire::produce_request;
use kafkit_testkit::{ApiKey, Delivery, Error, ErrorCode, Fault, MockCluster, WireClient};
use tokio::io::DuplexStream;

use crate::common::{values, WAIT};

async fn cluster() -> MockCluster {
    MockCluster::builder()
        .topic("orders", 3)
        .start()
        .await
        .expect("cluster")
}

fn client(cluster: &MockCluster, client_id: &str) -> WireClient<DuplexStream> {
    WireClient::new(cluster.connect_in_memory(0).expect("connect"), client_id)
}

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// A per-partition error answers only that partition and does not append it; the other
/// partition of the same request is appended.
#[tokio::test]
async fn partition_error_skips_only_the_matched_partition() {
    let cluster = cluster().await;
    let fault = cluster.fault(
        Fault::on(ApiKey::Produce)
            .topic_partition("orders", 1)
            .respond_error(ErrorCode::NotLeaderOrFollower),
    );
    let mut request = produce_request("orders", 0, -1, &["zero"]).expect("request");
    let mut second = produce_request("orders", 1, -1, &["one"]).expect("request");
    request.topic_data[0]
        .partition_data
        .append(&mut second.topic_data[0].partition_data);

    let response = client(&cluster, "t").send(9, &request).await.expect("response");
    let mut codes: Vec<(i32, i16)> = response.responses[0]
        .partition_responses
        .iter()
        .map(|p| (p.index, p.error_code))
        .collect();
    codes.sort();
    assert_eq!(codes, [(0, 0), (1, ErrorCode::NotLeaderOrFollower.code())]);
    assert_eq!(values(&cluster, "orders", 0), ["zero"]);
    assert!(
        values(&cluster, "orders", 1).is_empty(),
        "the faulted partition was not appended"
    );
    assert_eq!(fault.hits(), 1);
    cluster.assert_all_faults_fired();
}

/// Without topic filters an error answers the whole request; with `respond_request_error` the
/// topic filter only selects the request.
#[tokio::test]
async fn request_errors_answer_everything() {
    let cluster = cluster().await;
    let whole = cluster.fault(Fault::on(ApiKey::Produce).respond_error(ErrorCode::NotEnoughReplicas));
    let selected = cluster.fault(
        Fault::on(ApiKey::Produce)
            .topic_partition("orders", 2)
            .respond_request_error(ErrorCode::RequestTimedOut)
            .after_requests(1),
    );
    let mut c = client(&cluster, "t");
    assert_eq!(
        c.produce("orders", 0, &["a"]).await.expect("produce"),
        (ErrorCode::NotEnoughReplicas, -1)
    );
    assert_eq!(
        c.produce("orders", 2, &["b"]).await.expect("produce"),
        (ErrorCode::None, 0),
        "the first matching request passes (after_requests(1))"
    );
    assert_eq!(
        c.produce("orders", 2, &["c"]).await.expect("produce"),
        (ErrorCode::RequestTimedOut, -1)
    );
    assert_eq!(values(&cluster, "orders", 2), ["b"]);
    assert_eq!((whole.hits(), selected.hits()), (1, 1));
    cluster.assert_all_faults_fired();
}

/// A request error on an API without partitions answers the request without handling it.
#[tokio::test]
async fn request_error_on_init_producer_id() {
    let cluster = cluster().await;
    let fault =
        cluster.fault(Fault::on(ApiKey::InitProducerId).respond_error(ErrorCode::CoordinatorNotAvailable));
    let body = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id((-1).into())
        .with_producer_epoch(-1);
    let mut c = client(&cluster, "t");
    let refused = c.send(4, &body).await.expect("response");
    assert_eq!(
        (refused.error_code, refused.producer_id.0),
        (ErrorCode::CoordinatorNotAvailable.code(), -1)
    );
    let granted = c.send(4, &body).await.expect("response");
    assert_eq!(granted.error_code, 0, "one-shot by default");
    assert_eq!(fault.hits(), 1);
    cluster.assert_all_faults_fired();
}

/// Client id and broker filters select requests; `times(2)` fires twice, `always()` keeps
/// firing.
#[tokio::test]
async fn filters_and_repetition() {
    let cluster = MockCluster::builder()
        .brokers(2)
        .topic("orders", 2)
        .start()
        .await
        .expect("cluster");
    let by_client = cluster.fault(
        Fault::on(ApiKey::Produce)
            .client_id("x")
            .respond_error(ErrorCode::NotLeaderOrFollower)
            .times(2),
    );
    let by_broker = cluster.fault(
        Fault::on(ApiKey::Metadata)
            .broker(1)
            .respond_error(ErrorCode::UnknownServerError)
            .always(),
    );
    let mut x = client(&cluster, "x");
    let mut y = client(&cluster, "y");
    assert_eq!(
        y.produce("orders", 0, &["y0"]).await.expect("y").0,
        ErrorCode::None
    );
    for _ in 0..2 {
        assert_eq!(
            x.produce("orders", 0, &["x"]).await.expect("x").0,
            ErrorCode::NotLeaderOrFollower
        );
    }
    assert_eq!(
        x.produce("orders", 0, &["x"]).await.expect("x").0,
        ErrorCode::None
    );
    assert!(by_client.is_exhausted());

    let all_topics = MetadataRequest::default().with_topics(None);
    let mut on_1 = WireClient::new(cluster.connect_in_memory(1).expect("connect"), "m");
    for _ in 0..3 {
        let m = on_1.send(12, &all_topics).await.expect("metadata");
        assert!(m
            .topics
            .iter()
            .all(|t| t.error_code == ErrorCode::UnknownServerError.code()));
    }
    let m = client(&cluster, "m")
        .send(12, &all_topics)
        .await
        .expect("metadata");
    assert!(
        m.topics.iter().all(|t| t.error_code == 0),
        "broker 0 is not faulted"
    );
    assert_eq!((by_client.hits(), by_broker.hits()), (2, 3));
    assert_eq!(values(&cluster, "orders", 0), ["y0", "x"]);
    cluster.assert_all_faults_fired();
}

/// Fetch and ListOffsets partition errors; a Metadata topic error keeps the topic from being
/// auto-created.
#[tokio::test]
async fn fetch_list_offsets_and_metadata_errors() {
    let cluster = cluster().await;
    let fetch = cluster.fault(
        Fault::on(ApiKey::Fetch)
            .topic_partition("orders", 0)
            .respond_error(ErrorCode::FencedLeaderEpoch),
    );
    let offsets = cluster.fault(
        Fault::on(ApiKey::ListOffsets)
            .topic("orders")
            .respond_error(ErrorCode::OffsetNotAvailable),
    );
    let metadata = cluster.fault(
        Fault::on(ApiKey::Metadata)
            .topic("fresh")
            .respond_error(ErrorCode::TopicAuthorizationFailed),
    );
    let mut c = client(&cluster, "t");
    c.produce("orders", 1, &["one"]).await.expect("produce");

    let partition = |p: i32| {
        FetchPartition::default()
            .with_partition(p)
            .with_partition_max_bytes(1 << 20)
    };
    let body = FetchRequest::default()
        .with_max_wait_ms(5_000)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name("orders"))
            .with_partitions(vec![partition(0), partition(1)])]);
    let response = tokio::time::timeout(WAIT, c.send(12, &body))
        .await
        .expect("no long poll")
        .expect("fetch");
    let parts = &response.responses[0].partitions;
    let by_index = |i: i32| parts.iter().find(|p| p.partition_index == i).expect("partition");
    assert_eq!(by_index(0).error_code, ErrorCode::FencedLeaderEpoch.code());
    assert_eq!(by_index(1).high_watermark, 1);

    let body = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name("orders"))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(1)
                .with_timestamp(-1)])]);
    let response = c.send(7, &body).await.expect("list offsets");
    assert_eq!(
        response.topics[0].partitions[0].error_code,
        ErrorCode::OffsetNotAvailable.code()
    );

    let body = MetadataRequest::default()
        .with_topics(Some(vec![
            kafkit_testkit::kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                .with_name(Some(name("fresh"))),
        ]))
        .with_allow_auto_topic_creation(true);
    let response = c.send(12, &body).await.expect("metadata");
    assert_eq!(
        response.topics[0].error_code,
        ErrorCode::TopicAuthorizationFailed.code()
    );
    assert!(cluster.partition_state("fresh", 0).is_err(), "not auto-created");
    assert_eq!((fetch.hits(), offsets.hits(), metadata.hits()), (1, 1, 1));
    cluster.assert_all_faults_fired();
}

/// Closing before handling appends nothing; closing after handling appends but never answers;
/// dropping the response appends and keeps the connection.
#[tokio::test]
async fn close_and_drop() {
    let cluster = cluster().await;
    let before = cluster.fault(Fault::on(ApiKey::Produce).topic("orders").close_connection());
    let mut c = client(&cluster, "t");
    assert!(matches!(
        c.produce("orders", 0, &["lost"]).await,
        Err(Error::ConnectionClosed)
    ));
    assert!(values(&cluster, "orders", 0).is_empty());

    let after = cluster.fault(Fault::on(ApiKey::Produce).close_connection_after_handling());
    let mut c = client(&cluster, "t");
    assert!(matches!(
        c.produce("orders", 0, &["kept"]).await,
        Err(Error::ConnectionClosed)
    ));
    assert_eq!(values(&cluster, "orders", 0), ["kept"]);

    let dropped = cluster.fault(Fault::on(ApiKey::Produce).drop_response_after_append());
    let mut c = client(&cluster, "t");
    let unanswered =
        tokio::time::timeout(Duration::from_millis(200), c.produce("orders", 0, &["silent"])).await;
    assert!(unanswered.is_err(), "no response");
    assert_eq!(values(&cluster, "orders", 0), ["kept", "silent"]);
    let m = c.send(12, &MetadataRequest::default().with_topics(None)).await;
    assert!(m.is_ok(), "the connection stays open and serves the next request");

    let deliveries: Vec<Delivery> = cluster
        .journal()
        .requests(ApiKey::Produce)
        .iter()
        .map(|e| e.delivery)
        .collect();
    assert_eq!(
        deliveries,
        [
            Delivery::ClosedBeforeHandling,
            Delivery::ClosedAfterHandling,
            Delivery::Dropped
        ]
    );
    assert_eq!((before.hits(), after.hits(), dropped.hits()), (1, 1, 1));
    cluster.assert_all_faults_fired();
}

/// A delay holds the response back by at least the delay, on this connection only.
#[tokio::test(start_paused = true)]
async fn delay_under_paused_clock() {
    let cluster = cluster().await;
    let slow = cluster.fault(Fault::on(ApiKey::Produce).delay(Duration::from_secs(30)));
    let started = tokio::time::Instant::now();
    let mut c = client(&cluster, "t");
    assert_eq!(
        c.produce("orders", 0, &["late"]).await.expect("produce").0,
        ErrorCode::None
    );
    assert!(
        started.elapsed() >= Duration::from_secs(30),
        "the paused clock advanced"
    );
    let entry = &cluster.journal().requests(ApiKey::Produce)[0];
    assert!(entry.elapsed.expect("answered") >= Duration::from_secs(30));
    assert_eq!(slow.hits(), 1);
    cluster.assert_all_faults_fired();
}

/// A throttle answers at once with `throttle_time_ms`, then the broker reads nothing more from
/// that connection until the throttle has passed (KIP-219, as Kafka); other connections are
/// served meanwhile.
#[tokio::test(start_paused = true)]
async fn throttle_reports_the_time_and_mutes_the_connection() {
    let cluster = cluster().await;
    let throttle = Duration::from_millis(800);
    let fault = cluster.fault(Fault::on(ApiKey::Metadata).throttle(throttle));
    assert_eq!(fault.to_string(), "fault 0 (Metadata: throttle 800ms), 0 hits");
    let mut c = client(&cluster, "t");
    let started = tokio::time::Instant::now();
    let first = c.send(12, &MetadataRequest::default()).await.expect("metadata");
    assert_eq!(first.throttle_time_ms, 800);
    assert!(
        started.elapsed() < throttle,
        "the throttled response comes at once"
    );
    let mut other = client(&cluster, "other");
    let elsewhere = other
        .send(12, &MetadataRequest::default())
        .await
        .expect("metadata");
    assert_eq!(elsewhere.throttle_time_ms, 0, "one-shot");
    assert!(
        started.elapsed() < throttle,
        "another connection is served meanwhile"
    );
    let second = c.send(12, &MetadataRequest::default()).await.expect("metadata");
    assert_eq!(second.throttle_time_ms, 0);
    assert!(
        started.elapsed() >= throttle,
        "the muted connection was read again only after the throttle"
    );
    assert_eq!(fault.hits(), 1);
}

/// A held request is parked before handling (nothing appended, journal pending) while other
/// connections are served, and goes on once released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_until_released() {
    let cluster = cluster().await;
    let hold = cluster.fault(Fault::on(ApiKey::Produce).topic_partition("orders", 0).hold());
    let mut held = client(&cluster, "held");
    let produce = tokio::spawn(async move { held.produce("orders", 0, &["parked"]).await });
    hold.wait_for_hits(1, WAIT).await.expect("parked");
    assert!(values(&cluster, "orders", 0).is_empty());
    assert_eq!(
        cluster.journal().requests(ApiKey::Produce)[0].delivery,
        Delivery::Pending
    );

    let mut other = client(&cluster, "other");
    assert_eq!(
        other.produce("orders", 1, &["free"]).await.expect("produce").0,
        ErrorCode::None
    );

    hold.release();
    let (code, offset) = produce.await.expect("task").expect("produce");
    assert_eq!((code, offset), (ErrorCode::None, 0));
    assert_eq!(values(&cluster, "orders", 0), ["parked"]);
    cluster.assert_all_faults_fired();
}

/// A fault that never fired is named by `assert_all_faults_fired`.
#[tokio::test]
#[should_panic(
    expected = "1 fault(s) never fired:\n  fault 1 (Fetch for orders-0: respond NOT_LEADER_OR_FOLLOWER (6))"
)]
async fn unfired_faults_are_named() {
    let cluster = cluster().await;
    let fired = cluster.fault(Fault::on(ApiKey::Produce).respond_error(ErrorCode::NotLeaderOrFollower));
    let _idle = cluster.fault(
        Fault::on(ApiKey::Fetch)
            .topic_partition("orders", 0)
            .respond_error(ErrorCode::NotLeaderOrFollower),
    );
    client(&cluster, "t")
        .produce("orders", 0, &["a"])
        .await
        .expect("produce");
    assert_eq!(fired.hits(), 1);
    cluster.assert_all_faults_fired();
}

/// A wait that cannot succeed ends with a timeout error, not a hang.
#[tokio::test(start_paused = true)]
async fn wait_until_is_bounded() {
    let cluster = cluster().await;
    let outcome = cluster
        .wait_until(|c| c.journal().count(ApiKey::Produce) > 0, Duration::from_secs(5))
        .await;
    assert!(matches!(outcome, Err(Error::Timeout { .. })), "{outcome:?}");
}
