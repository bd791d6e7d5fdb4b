//! Helpers shared by the suite.

use std::time::Duration;

use kafkit_testkit::MockCluster;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

/// Every wait in the suite is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);

/// A librdkafka producer for `cluster` with idempotence on, no linger and short backoffs, so
/// retries happen in milliseconds; `extra` overrides.
pub fn producer(cluster: &MockCluster, extra: &[(&str, &str)]) -> FutureProducer {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("client.id", "rdkafka-test")
        .set("enable.idempotence", "true")
        .set("linger.ms", "0")
        .set("message.timeout.ms", "15000")
        .set("retry.backoff.ms", "20")
        .set("retry.backoff.max.ms", "100")
        .set("reconnect.backoff.ms", "10")
        .set("reconnect.backoff.max.ms", "100")
        .set("topic.metadata.refresh.fast.interval.ms", "20");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config.create().expect("producer")
}

/// Sends `value` to `topic`/`partition` and waits for the delivery report: `(partition,
/// offset)`.
pub async fn send(producer: &FutureProducer, topic: &str, partition: i32, value: &str) -> (i32, i64) {
    let record = FutureRecord::<str, str>::to(topic)
        .partition(partition)
        .payload(value);
    match producer.send(record, WAIT).await {
        Ok(delivery) => (delivery.partition, delivery.offset),
        Err((e, _)) => panic!("delivery of {value:?} to {topic}-{partition} failed: {e}"),
    }
}

/// The values stored in `topic`/`partition`, in offset order.
pub fn values(cluster: &MockCluster, topic: &str, partition: i32) -> Vec<String> {
    cluster
        .records(topic, partition)
        .expect("records")
        .iter()
        .map(|r| r.value_str().expect("utf-8 value").to_string())
        .collect()
}
