//! Cluster events (leader moves, brokers down and up, topics), version pinning and in-memory
//! connections.

use std::time::Duration;

use kafkit_testkit::kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
use kafkit_testkit::kafka_protocol::protocol::StrBytes;
use kafkit_testkit::{
    ApiKey, Delivery, Error, ErrorCode, Fault, MockCluster, Response, RestartMode, WireClient,
};
use rdkafka::producer::FutureRecord;

use crate::common::{producer, send, values, WAIT};

async fn two_brokers() -> MockCluster {
    MockCluster::builder()
        .brokers(2)
        .topic("orders", 1)
        .start()
        .await
        .expect("cluster")
}

/// After a leader move the old leader answers NOT_LEADER_OR_FOLLOWER and librdkafka follows
/// the new leader; the next batch is stamped with the new epoch.
#[tokio::test]
async fn producer_follows_a_moved_leader() {
    let cluster = two_brokers().await;
    let producer = producer(&cluster, &[]);
    assert_eq!(send(&producer, "orders", 0, "before").await, (0, 0));

    assert_eq!(cluster.move_leader("orders", 0, 1).expect("move"), 1);
    assert_eq!(send(&producer, "orders", 0, "after").await, (0, 1));

    let attempts = cluster.journal().produce_requests_to("orders", 0);
    let seen: Vec<(i32, Option<ErrorCode>)> = attempts
        .iter()
        .map(|p| (p.entry.node_id, p.batches[0].error))
        .collect();
    assert!(
        seen.contains(&(0, Some(ErrorCode::NotLeaderOrFollower))),
        "the old leader refused: {seen:?}"
    );
    assert_eq!(seen.last(), Some(&(1, Some(ErrorCode::None))), "{seen:?}");
    let stored = cluster.records("orders", 0).expect("records");
    let epochs: Vec<i32> = stored.iter().map(|r| r.partition_leader_epoch).collect();
    assert_eq!(epochs, [0, 1]);
    let state = cluster.partition_state("orders", 0).expect("state");
    assert_eq!(
        (state.leader, state.leader_epoch, state.high_watermark),
        (Some(1), 1, 2)
    );
}

/// A broker taken down with re-election: its connections close, Metadata omits it, the
/// producer moves to the new leader; after it comes back and leadership returns, it serves
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_with_reelection_and_back() {
    let cluster = two_brokers().await;
    let producer = producer(&cluster, &[]);
    assert_eq!(send(&producer, "orders", 0, "one").await, (0, 0));

    cluster.set_broker_down_and_reelect(0).expect("down");
    let state = cluster.partition_state("orders", 0).expect("state");
    assert_eq!(
        (state.leader, state.leader_epoch, state.live_replicas.clone()),
        (Some(1), 1, vec![1])
    );
    let mut on_1 = WireClient::new(cluster.connect_in_memory(1).expect("connect"), "raw");
    let metadata = on_1
        .send(12, &MetadataRequest::default().with_topics(None))
        .await
        .expect("metadata");
    let listed: Vec<i32> = metadata.brokers.iter().map(|b| b.node_id.0).collect();
    assert_eq!(listed, [1]);
    let mut on_0 = WireClient::new(
        tokio::net::TcpStream::connect(cluster.addrs()[0])
            .await
            .expect("tcp"),
        "raw",
    );
    assert!(
        matches!(
            on_0.produce("orders", 0, &["refused"]).await,
            Err(Error::ConnectionClosed)
        ),
        "a down broker closes new connections"
    );

    assert_eq!(send(&producer, "orders", 0, "two").await, (0, 1));

    cluster.set_broker_up(0).expect("up");
    cluster.move_leader("orders", 0, 0).expect("back");
    assert_eq!(send(&producer, "orders", 0, "three").await, (0, 2));
    assert_eq!(values(&cluster, "orders", 0), ["one", "two", "three"]);
    let last = cluster.journal().produce_requests_to("orders", 0);
    assert_eq!(last.last().map(|p| p.entry.node_id), Some(0));
}

/// A broker down without re-election leaves its partitions leaderless: the send waits, and
/// completes once the broker is back.
#[tokio::test]
async fn leaderless_partition_waits_for_the_broker() {
    let cluster = two_brokers().await;
    let producer = producer(&cluster, &[]);
    assert_eq!(send(&producer, "orders", 0, "one").await, (0, 0));

    cluster.set_broker_down(0).expect("down");
    assert_eq!(cluster.partition_state("orders", 0).expect("state").leader, None);
    let record = FutureRecord::<str, str>::to("orders").partition(0).payload("two");
    let delivery = producer.send_result(record).expect("queued");
    cluster
        .wait_until(
            |c| {
                c.journal().requests(ApiKey::Metadata).iter().any(|e| {
                    matches!(&e.response, Some(Response::Metadata(m))
                        if m.topics.iter().flat_map(|t| &t.partitions).any(|p| p.leader_id.0 == -1))
                })
            },
            WAIT,
        )
        .await
        .expect("the producer saw the partition leaderless");
    assert_eq!(values(&cluster, "orders", 0), ["one"]);

    cluster.set_broker_up(0).expect("up");
    let delivered = tokio::time::timeout(WAIT, delivery)
        .await
        .expect("in time")
        .expect("not cancelled")
        .expect("delivered");
    assert_eq!(delivered.offset, 1);
    let state = cluster.partition_state("orders", 0).expect("state");
    assert_eq!((state.leader, state.leader_epoch), (Some(0), 2));
}

/// Shuffling moves every leader and bumps every epoch; topics are created and deleted.
#[tokio::test]
async fn shuffle_create_and_delete() {
    let cluster = MockCluster::builder()
        .brokers(3)
        .topic("orders", 3)
        .auto_create_topics(false)
        .start()
        .await
        .expect("cluster");
    let before: Vec<_> = (0..3)
        .map(|p| cluster.partition_state("orders", p).expect("state"))
        .collect();
    cluster.shuffle_leaders().expect("shuffle");
    for b in &before {
        let after = cluster.partition_state("orders", b.partition).expect("state");
        assert_ne!(after.leader, b.leader);
        assert_eq!(after.leader_epoch, b.leader_epoch + 1);
    }
    cluster.create_topic("events", 2).expect("create");
    assert!(matches!(
        cluster.create_topic("events", 2),
        Err(Error::Kafka {
            code: ErrorCode::TopicAlreadyExists,
            ..
        })
    ));
    assert_eq!(
        cluster.topics().expect("topics"),
        [("events".to_string(), 2), ("orders".to_string(), 3)]
    );
    cluster.delete_topic("events").expect("delete");
    assert!(matches!(
        cluster.records("events", 0),
        Err(Error::UnknownTopicOrPartition { .. })
    ));
}

/// With Produce pinned to v7, ApiVersions advertises 7 and librdkafka produces with v7; a raw
/// v9 Produce is refused by closing the connection.
#[tokio::test]
async fn pinned_produce_version_is_used_and_enforced() {
    let cluster = two_brokers().await;
    cluster.pin_api_versions(ApiKey::Produce, 0, 7).expect("pin");
    let producer = producer(&cluster, &[]);
    assert_eq!(send(&producer, "orders", 0, "v7").await, (0, 0));

    let produce_versions: Vec<i16> = cluster
        .journal()
        .requests(ApiKey::Produce)
        .iter()
        .map(|e| e.api_version)
        .collect();
    assert!(
        !produce_versions.is_empty() && produce_versions.iter().all(|&v| v == 7),
        "{produce_versions:?}"
    );
    let advertised = cluster
        .journal()
        .requests(ApiKey::ApiVersions)
        .iter()
        .find_map(|e| match &e.response {
            Some(Response::ApiVersions(r)) if r.error_code == 0 => {
                r.api_keys.iter().find(|k| k.api_key == 0).map(|k| k.max_version)
            }
            _ => None,
        });
    assert_eq!(advertised, Some(7));

    let mut raw = WireClient::new(cluster.connect_in_memory(0).expect("connect"), "raw");
    let refused = raw
        .send(
            9,
            &kafkit_testkit::wire::produce_request("orders", 0, -1, &["v9"]).expect("request"),
        )
        .await;
    assert!(matches!(refused, Err(Error::ConnectionClosed)), "{refused:?}");
    cluster.clear_api_version_pins().expect("clear");
    let mut raw = WireClient::new(cluster.connect_in_memory(0).expect("connect"), "raw");
    assert_eq!(
        raw.produce("orders", 0, &["v9"]).await.expect("produce").0,
        ErrorCode::None
    );
}

/// An in-memory connection serves ApiVersions, Metadata and Produce like a socket, and is
/// journaled like one.
#[tokio::test]
async fn in_memory_connection_serves_requests() {
    let cluster = MockCluster::builder()
        .default_partitions(4)
        .start()
        .await
        .expect("cluster");
    let observe = cluster.fault(Fault::any_request().client_id("memory").always());
    let mut c = WireClient::new(cluster.connect_in_memory(0).expect("connect"), "memory");
    let versions = c
        .send(
            3,
            &ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("memory"))
                .with_client_software_version(StrBytes::from_static_str("1")),
        )
        .await
        .expect("api versions");
    assert_eq!(versions.error_code, 0);
    assert!(versions
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::Produce as i16));

    let topic = kafkit_testkit::kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
        .with_name(Some(kafkit_testkit::kafka_protocol::messages::TopicName(
            StrBytes::from_static_str("auto"),
        )));
    let metadata = c
        .send(
            12,
            &MetadataRequest::default()
                .with_topics(Some(vec![topic]))
                .with_allow_auto_topic_creation(true),
        )
        .await
        .expect("metadata");
    assert_eq!(
        metadata.topics[0].partitions.len(),
        4,
        "auto-created with default_partitions"
    );
    assert_eq!(
        c.produce("auto", 3, &["a", "b"]).await.expect("produce"),
        (ErrorCode::None, 0)
    );
    assert_eq!(values(&cluster, "auto", 3), ["a", "b"]);

    let apis: Vec<ApiKey> = cluster.journal().entries().iter().map(|e| e.api_key).collect();
    assert_eq!(apis, [ApiKey::ApiVersions, ApiKey::Metadata, ApiKey::Produce]);
    assert_eq!(
        observe.hits(),
        3,
        "an observing fault counts without changing anything"
    );
    assert!(matches!(
        cluster.connect_in_memory(5),
        Err(Error::UnknownBroker { node_id: 5 })
    ));
    let address = cluster.bootstrap_servers();
    assert_eq!(cluster.node_id_of(&address), Some(0));
    let mut by_address = WireClient::new(cluster.connect_in_memory_to(&address).expect("connect"), "memory");
    assert_eq!(
        by_address.produce("auto", 3, &["c"]).await.expect("produce"),
        (ErrorCode::None, 2)
    );
    assert!(cluster.connect_in_memory_to("127.0.0.1:1").is_err());
    cluster.assert_all_faults_fired();
}

/// Taking a broker down closes the connections it already had (TCP and in-memory); once it
/// is up again it accepts and serves new ones.
#[tokio::test]
async fn down_broker_closes_open_connections() {
    let cluster = two_brokers().await;
    let mut tcp = WireClient::new(
        tokio::net::TcpStream::connect(cluster.addrs()[0])
            .await
            .expect("tcp"),
        "tcp",
    );
    let mut memory = WireClient::new(cluster.connect_in_memory(0).expect("connect"), "memory");
    assert_eq!(
        tcp.produce("orders", 0, &["a"]).await.expect("produce").0,
        ErrorCode::None
    );
    assert_eq!(
        memory.produce("orders", 0, &["b"]).await.expect("produce").0,
        ErrorCode::None
    );

    cluster.set_broker_down(0).expect("down");
    tokio::time::timeout(WAIT, tcp.closed())
        .await
        .expect("tcp closed");
    tokio::time::timeout(WAIT, memory.closed())
        .await
        .expect("in-memory closed");

    cluster.set_broker_up(0).expect("up");
    let mut again = WireClient::new(
        tokio::net::TcpStream::connect(cluster.addrs()[0])
            .await
            .expect("tcp"),
        "tcp",
    );
    assert_eq!(
        again.produce("orders", 0, &["c"]).await.expect("produce"),
        (ErrorCode::None, 2)
    );
}

/// A request that a fault delays when its broker goes down, and one a fault holds when the
/// cluster restarts, are journaled as abandoned (not pending for ever), were not appended, and
/// their clients see the connection close.
#[tokio::test(start_paused = true)]
async fn requests_cut_off_by_a_down_broker_or_a_restart_are_abandoned() {
    let cluster = two_brokers().await;
    let slow = cluster.fault(Fault::on(ApiKey::Produce).delay(Duration::from_secs(10)));
    let mut c = WireClient::new(cluster.connect_in_memory(0).expect("connect"), "slow");
    let produce = tokio::spawn(async move { c.produce("orders", 0, &["slow"]).await });
    slow.wait_for_hits(1, WAIT).await.expect("delayed");
    cluster.set_broker_down(0).expect("down");
    let outcome = produce.await.expect("task");
    assert!(matches!(outcome, Err(Error::ConnectionClosed)), "{outcome:?}");
    tokio::time::sleep(Duration::from_secs(20)).await;
    cluster.set_broker_up(0).expect("up");

    let hold = cluster.fault(Fault::on(ApiKey::Produce).hold());
    let mut c = WireClient::new(cluster.connect_in_memory(0).expect("connect"), "held");
    let produce = tokio::spawn(async move { c.produce("orders", 0, &["held"]).await });
    hold.wait_for_hits(1, WAIT).await.expect("held");
    cluster.restart(RestartMode::Clean).await.expect("restart");
    let outcome = produce.await.expect("task");
    assert!(matches!(outcome, Err(Error::ConnectionClosed)), "{outcome:?}");

    let deliveries: Vec<Delivery> = cluster
        .journal()
        .requests(ApiKey::Produce)
        .iter()
        .map(|e| e.delivery)
        .collect();
    assert_eq!(deliveries, [Delivery::Abandoned, Delivery::Abandoned]);
    assert!(values(&cluster, "orders", 0).is_empty(), "neither was appended");
    cluster.assert_all_faults_fired();
}
