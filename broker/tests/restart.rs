//! A cluster restarted on the same data directory, after a clean stop and after a crash-like
//! drop, serves what it had acknowledged.

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafkit_broker::cluster::lock_log;
use kafkit_broker::config::TopicConfig;
use kafkit_broker::handlers::{produce, HandlerContext};
use kafkit_broker::{Cluster, ClusterConfig};
use kafkit_protocol::record::RecordBatchBuilder;
use kafkit_protocol::{Compression, ErrorCode, RecordBatch};

fn produce_one(cluster: &Cluster, value: &str, producer: (i64, i32)) -> (ErrorCode, i64) {
    let mut b = RecordBatchBuilder::new(Compression::Snappy);
    b.set_producer_state(producer.0, 0, producer.1);
    b.append(1_700_000_000_000, Some(b"k"), Some(value.as_bytes()), &[]);
    let records = Bytes::copy_from_slice(b.build().expect("build"));
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("events")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])]);
    let ctx = HandlerContext {
        state: cluster.state(),
        node_id: 0,
        connection_id: 0,
        client_id: "",
        client_host: "/127.0.0.1",
        listener: 0,
        principal: "User:ANONYMOUS",
    };
    match produce::handle(&ctx, 9, request) {
        produce::Outcome::Respond(r) => {
            let p = &r.responses[0].partition_responses[0];
            (ErrorCode::from(p.error_code), p.base_offset)
        }
        produce::Outcome::NoResponse { .. } => unreachable!("acks=-1 always responds"),
    }
}

fn stored_values(cluster: &Cluster) -> Vec<String> {
    let log = cluster
        .state()
        .metadata()
        .partition("events", 0)
        .expect("partition")
        .log
        .clone();
    let log = lock_log(&log);
    let mut values = Vec::new();
    for batch in log.batches_from(0) {
        let bytes = batch.expect("batch");
        let view = RecordBatch::parse(&bytes).expect("parse");
        let mut scratch = Vec::new();
        for r in view.records(&mut scratch, 1 << 20).expect("records") {
            values.push(String::from_utf8(r.expect("record").value.expect("value").to_vec()).expect("utf8"));
        }
    }
    values
}

/// Records, the topic id and producer de-duplication survive a clean restart and a crash.
#[tokio::test]
async fn restart_keeps_acknowledged_records() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = || ClusterConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let cluster = Cluster::start(config()).await.expect("start");
    let topic_id = cluster
        .state()
        .create_topic("events", 1, TopicConfig::default())
        .expect("topic");
    let pid = cluster.state().allocate_producer_id().expect("id");
    assert_eq!(produce_one(&cluster, "a", (pid, 0)), (ErrorCode::None, 0));
    assert_eq!(produce_one(&cluster, "b", (pid, 1)), (ErrorCode::None, 1));
    cluster.shutdown().await.expect("clean stop");
    assert!(dir
        .path()
        .join(kafkit_broker::cluster::CLEAN_SHUTDOWN_FILE)
        .exists());

    let cluster = Cluster::start(config()).await.expect("restart");
    assert_eq!(cluster.state().metadata().topics["events"].id, topic_id);
    assert_eq!(stored_values(&cluster), ["a", "b"]);
    assert_eq!(
        produce_one(&cluster, "b", (pid, 1)),
        (ErrorCode::None, 1),
        "a retried batch is still a duplicate"
    );
    assert!(
        cluster.state().allocate_producer_id().expect("id") > pid,
        "producer ids are not reused"
    );
    assert_eq!(produce_one(&cluster, "c", (pid, 2)), (ErrorCode::None, 2));
    drop(cluster); // no clean shutdown: the next start recovers

    let cluster = Cluster::start(config()).await.expect("recover");
    assert_eq!(stored_values(&cluster), ["a", "b", "c"]);
    assert_eq!(produce_one(&cluster, "d", (pid, 3)), (ErrorCode::None, 3));
    cluster.shutdown().await.expect("clean stop");
}
