//! The journal's filters and the inspection of stored records, against librdkafka and raw
//! requests; and the cluster from both runtime flavours.

use std::time::Duration;

use kafkit_testkit::{ApiKey, Compression, ErrorCode, MockCluster, RecordHeader, TimestampType, WireClient};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;

use crate::common::{producer, WAIT};

/// Produce requests with their batches, record counts and sizes, client ids and counts by API.
#[tokio::test]
async fn journal_answers_the_common_questions() {
    let cluster = MockCluster::builder()
        .topic("orders", 1)
        .start()
        .await
        .expect("cluster");
    let mut x = WireClient::new(cluster.connect_in_memory(0).expect("connect"), "client-x");
    let mut y = WireClient::new(cluster.connect_in_memory(0).expect("connect"), "client-y");
    assert_eq!(
        x.produce("orders", 0, &["a", "b", "c"]).await.expect("x"),
        (ErrorCode::None, 0)
    );
    assert_eq!(
        y.produce("orders", 0, &["d"]).await.expect("y"),
        (ErrorCode::None, 3)
    );
    assert_eq!(
        y.produce("nope", 0, &["e"]).await.expect("y").0,
        ErrorCode::UnknownTopicOrPartition
    );

    let journal = cluster.journal();
    let produced = journal.produce_requests();
    type Summary = (Option<String>, i64, Option<ErrorCode>, Option<i64>);
    let summary: Vec<Summary> = produced
        .iter()
        .map(|p| {
            (
                p.entry.client_id.clone(),
                p.record_count(),
                p.batches[0].error,
                p.batches[0].base_offset,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (Some("client-x".into()), 3, Some(ErrorCode::None), Some(0)),
            (Some("client-y".into()), 1, Some(ErrorCode::None), Some(3)),
            (
                Some("client-y".into()),
                1,
                Some(ErrorCode::UnknownTopicOrPartition),
                None
            ),
        ]
    );
    assert!(produced.iter().all(|p| p.acks == -1 && p.entry.api_version == 9));
    assert!(produced[0].batches[0].size_bytes > produced[1].batches[0].size_bytes);
    assert_eq!(produced[0].batches[0].compression, Some(Compression::None));
    assert_eq!(journal.produce_requests_to("orders", 0).len(), 2);
    assert_eq!(journal.count(ApiKey::Produce), 3);
    assert_eq!(journal.counts_by_api(), [(ApiKey::Produce, 3)]);
    let ids: Vec<String> = journal.client_ids().into_iter().collect();
    assert_eq!(ids, ["client-x", "client-y"]);
    assert_ne!(produced[0].entry.connection_id, produced[1].entry.connection_id);
    journal.clear();
    assert!(journal.is_empty());
}

/// Records as stored: key, value, repeated headers in order, timestamps, producer id and
/// per-record sequences, leader epoch and codec; and the producer state behind them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_as_stored_from_librdkafka() {
    let cluster = MockCluster::builder()
        .topic("orders", 1)
        .start()
        .await
        .expect("cluster");
    let producer = producer(&cluster, &[("compression.type", "zstd"), ("linger.ms", "50")]);
    let mut deliveries = Vec::new();
    for i in 0..3 {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "h",
                value: Some("first"),
            })
            .insert(Header {
                key: "h",
                value: Some("second"),
            })
            .insert(Header::<&str> {
                key: "null",
                value: None,
            });
        let value = format!("value-{i}");
        let record = FutureRecord::to("orders")
            .partition(0)
            .key("key")
            .payload(&value)
            .timestamp(1_700_000_000_000 + i)
            .headers(headers);
        deliveries.push(producer.send_result(record).expect("queued"));
    }
    for d in deliveries {
        tokio::time::timeout(WAIT, d)
            .await
            .expect("in time")
            .expect("sent")
            .expect("delivered");
    }

    let stored = cluster.records("orders", 0).expect("records");
    assert_eq!(stored.len(), 3);
    let producer_id = stored[0].producer_id.expect("idempotent");
    for (i, r) in stored.iter().enumerate() {
        assert_eq!(r.offset, i as i64);
        assert_eq!(
            (r.key_str(), r.value_str()),
            (Some("key"), Some(format!("value-{i}").as_str()))
        );
        assert_eq!(
            (r.timestamp, r.timestamp_type),
            (1_700_000_000_000 + i as i64, TimestampType::CreateTime)
        );
        assert_eq!(
            r.headers,
            [
                RecordHeader {
                    key: "h".into(),
                    value: Some("first".into())
                },
                RecordHeader {
                    key: "h".into(),
                    value: Some("second".into())
                },
                RecordHeader {
                    key: "null".into(),
                    value: None
                },
            ]
        );
        assert_eq!(
            (r.producer_id, r.producer_epoch, r.sequence),
            (Some(producer_id), Some(0), Some(i as i32))
        );
        assert_eq!((r.partition_leader_epoch, r.compression), (0, Compression::Zstd));
    }
    let producers = cluster.producer_state("orders", 0).expect("producers");
    assert_eq!(producers.len(), 1);
    assert_eq!(
        (
            producers[0].producer_id,
            producers[0].last_sequence,
            producers[0].last_offset
        ),
        (producer_id, 2, 2)
    );
    let state = cluster.partition_state("orders", 0).expect("state");
    assert_eq!(
        (state.log_start_offset, state.high_watermark, state.log_end_offset),
        (0, 3, 3)
    );
}

/// The cluster is `Send + Sync` and can be shared with spawned tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_across_tasks() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    let cluster = std::sync::Arc::new(
        MockCluster::builder()
            .topic("orders", 4)
            .start()
            .await
            .expect("cluster"),
    );
    send_sync(&*cluster);
    let tasks: Vec<_> = (0..4)
        .map(|p| {
            let cluster = cluster.clone();
            tokio::spawn(async move {
                let mut c = WireClient::new(cluster.connect_in_memory(0).expect("connect"), "task");
                c.produce("orders", p, &["x"]).await.expect("produce")
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("task"), (ErrorCode::None, 0));
    }
    cluster
        .wait_until(
            |c| c.journal().count(ApiKey::Produce) == 4,
            Duration::from_secs(1),
        )
        .await
        .expect("all journaled");
}
