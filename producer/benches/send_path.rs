//! The cost of `Producer::send` itself (partition, accumulator append, batch builder), without
//! waiting for deliveries: the part of the throughput bench that runs on the caller's task.
//!
//! A producer connected to a librdkafka mock cluster, `linger.ms` long and `buffer.memory`
//! large enough that nothing waits for memory, sends `RECORDS` records of `RECORD_SIZE` bytes;
//! only the send loop is timed (ns per record, best of `ROUNDS`). Keyless records by default,
//! `KEYED=1` for keyed ones.
//!
//! ```text
//! cargo bench -p kafkit-producer --bench send_path
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafkit_producer::{Producer, ProducerConfig, ProducerRecord};
use rdkafka::mocking::MockCluster;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let records = if smoke {
        2_000
    } else {
        env("RECORDS", 200_000usize)
    };
    let rounds = if smoke { 1 } else { env("ROUNDS", 5usize) };
    let record_size = env("RECORD_SIZE", 100usize);
    let keyed = env("KEYED", 0u8) == 1;
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("bench", 3, 1).expect("topic");
    let bootstrap = cluster.bootstrap_servers();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let ns = runtime.block_on(async {
            let config = ProducerConfig::from_properties([
                ("bootstrap.servers", bootstrap.as_str()),
                ("linger.ms", "10000"),
                ("buffer.memory", "1073741824"),
                ("delivery.timeout.ms", "60000"),
            ])
            .expect("config");
            let producer = Producer::connect(config).await.expect("connect");
            producer.partition_count("bench").await.expect("metadata");
            let payload = Bytes::from(vec![b'x'; record_size]);
            let keys: Vec<Bytes> = (0..1024).map(|i| Bytes::from(format!("key-{i}"))).collect();
            let mut deliveries = Vec::with_capacity(records);
            let start = Instant::now();
            for i in 0..records {
                let mut record = ProducerRecord::new("bench", payload.clone());
                if keyed {
                    record.key = Some(keys[i % keys.len()].clone());
                }
                deliveries.push(producer.send(record).await.expect("accepted"));
            }
            let elapsed = start.elapsed();
            producer.close(Duration::from_secs(30)).await;
            drop(deliveries);
            elapsed.as_nanos() as f64 / records as f64
        });
        best = best.min(ns);
    }
    println!(
        "send path: {records} {} records of {record_size} B, best of {rounds}: {best:.0} ns/record",
        if keyed { "keyed" } else { "keyless" }
    );
}
