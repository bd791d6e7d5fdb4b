//! Throughput of kafkit's producer beside librdkafka's (rust-rdkafka's `BaseProducer` and
//! `FutureProducer`), in the same run, against the same broker: one librdkafka mock cluster.
//!
//! Each client sends `RECORDS` keyless records of `RECORD_SIZE` bytes to the same topic with
//! the same `acks`, `linger.ms` and `compression.type`; everything else stays at each client's
//! defaults (kafkit: Java's, `batch.size=16384`; librdkafka: its own, 1 MB batches). A run ends
//! when every record is acknowledged; records/s counts acknowledged records only. Each client
//! runs `ROUNDS` times, fresh producer each time, and the best round is reported, then the
//! ratio kafkit / librdkafka. `CLIENTS=kafkit` runs one client only (for profiling).
//!
//! `KEYS=N` (N > 0) sends keyed records instead, cycling through N keys (`key-0`, `key-1`, ...,
//! made before the clock starts); librdkafka is then set to `partitioner=murmur2_random`, Java's
//! key hash, so both clients put each key on the same partition.
//!
//! `RSS=1` also prints, per client, how much the process's peak resident memory grew during
//! its rounds (Linux: VmHWM, reset through `/proc/self/clear_refs`, minus VmRSS before). The
//! growth includes the mock broker storing the records (the same for every client) and, for
//! kafkit, the bench's vector of 24-byte `DeliveryFuture`s; each client keeps its default
//! limit (kafkit `buffer.memory` 32 MiB; librdkafka `queue.buffering.max.messages` 100000,
//! `queue.buffering.max.kbytes` 1 GiB).
//!
//! ```text
//! cargo bench -p kafkit-producer --bench throughput
//! RECORDS=200000 ACKS=1 LINGER_MS=5 COMPRESSION=lz4 PARTITIONS=3 cargo bench -p kafkit-producer --bench throughput
//! KEYS=1000 cargo bench -p kafkit-producer --bench throughput
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafkit_producer::{Producer, ProducerConfig, ProducerRecord};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, FutureProducer, FutureRecord, Producer as _, ProducerContext,
};
use rdkafka::ClientContext;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Debug, Clone)]
struct Setup {
    bootstrap: String,
    records: u64,
    record_size: usize,
    acks: String,
    linger_ms: u64,
    compression: String,
    /// Keys to cycle through; empty for keyless records.
    keys: Vec<Bytes>,
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench` absent: do a tiny smoke run.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let records = if smoke { 2_000 } else { env("RECORDS", 500_000u64) };
    let rounds = if smoke { 1 } else { env("ROUNDS", 3usize) };
    let partitions = env("PARTITIONS", 3i32);
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("bench", partitions, 1).expect("topic");
    let setup = Setup {
        bootstrap: cluster.bootstrap_servers(),
        records,
        record_size: env("RECORD_SIZE", 100usize),
        acks: env("ACKS", "all".to_string()),
        linger_ms: env("LINGER_MS", 5u64),
        compression: env("COMPRESSION", "none".to_string()),
        keys: (0..env("KEYS", 0usize))
            .map(|i| Bytes::from(format!("key-{i}")))
            .collect(),
    };
    println!(
        "{} records of {} B, {}, acks={}, linger.ms={}, compression={}, {} partitions, librdkafka mock cluster, best of {}",
        setup.records,
        setup.record_size,
        if setup.keys.is_empty() {
            "keyless".to_string()
        } else {
            format!("{} keys", setup.keys.len())
        },
        setup.acks,
        setup.linger_ms,
        setup.compression,
        partitions,
        rounds
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // CLIENTS=kafkit (for profiling one client) or any subset of kafkit,base,future.
    let clients = env("CLIENTS", "kafkit,base,future".to_string());
    let run = |name: &str| clients.split(',').any(|c| c == name);
    let mut best = [f64::NAN; 3];
    let rss = env("RSS", 0u8) == 1;
    let mut rss_growth = [0u64; 3];
    for _ in 0..rounds {
        if run("kafkit") {
            let before = rss_before(rss);
            best[0] = best[0].max(runtime.block_on(kafkit(&setup)));
            rss_growth[0] = rss_growth[0].max(rss_after(before));
        }
        if run("base") {
            let before = rss_before(rss);
            best[1] = best[1].max(rdkafka_base(&setup));
            rss_growth[1] = rss_growth[1].max(rss_after(before));
        }
        if run("future") {
            let before = rss_before(rss);
            best[2] = best[2].max(runtime.block_on(rdkafka_future(&setup)));
            rss_growth[2] = rss_growth[2].max(rss_after(before));
        }
    }
    if rss {
        let mib = |b: u64| b as f64 / f64::from(1 << 20);
        println!(
            "peak RSS growth per round (MiB): kafkit {:.1}, BaseProducer {:.1}, FutureProducer {:.1}",
            mib(rss_growth[0]),
            mib(rss_growth[1]),
            mib(rss_growth[2])
        );
    }
    let [kafkit, base, future] = best;
    println!("kafkit Producer           {:>12.0} records/s", kafkit);
    println!("rdkafka BaseProducer      {:>12.0} records/s", base);
    println!("rdkafka FutureProducer    {:>12.0} records/s", future);
    println!("ratio kafkit / BaseProducer   {:.2}", kafkit / base);
    println!("ratio kafkit / FutureProducer {:.2}", kafkit / future);
}

async fn kafkit(setup: &Setup) -> f64 {
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", setup.bootstrap.as_str()),
        ("acks", setup.acks.as_str()),
        ("linger.ms", &setup.linger_ms.to_string()),
        ("compression.type", setup.compression.as_str()),
    ])
    .expect("config");
    let producer = Producer::connect(config).await.expect("connect");
    let payload = Bytes::from(vec![b'x'; setup.record_size]);
    let start = Instant::now();
    let mut deliveries = Vec::with_capacity(setup.records as usize);
    for i in 0..setup.records {
        let record = match key_of(setup, i) {
            None => ProducerRecord::new("bench", payload.clone()),
            Some(key) => ProducerRecord::builder("bench")
                .key(key.clone())
                .value(payload.clone())
                .build(),
        };
        deliveries.push(producer.send(record).await.expect("accepted"));
    }
    let mut delivered = 0u64;
    for d in deliveries {
        if d.await.is_ok() {
            delivered += 1;
        }
    }
    let elapsed = start.elapsed();
    let metrics = producer.metrics();
    producer.close(Duration::from_secs(10)).await;
    assert_eq!(
        delivered, setup.records,
        "kafkit delivered everything: {metrics:?}"
    );
    rate(delivered, elapsed)
}

/// Counts delivery reports.
#[derive(Default)]
struct Counting {
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.delivered.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

fn rdkafka_config(setup: &Setup) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &setup.bootstrap)
        .set("acks", &setup.acks)
        .set("linger.ms", setup.linger_ms.to_string())
        .set("compression.type", &setup.compression);
    if !setup.keys.is_empty() {
        config.set("partitioner", "murmur2_random");
    }
    config
}

/// The key of record `i`, if the run is keyed.
fn key_of(setup: &Setup, i: u64) -> Option<&Bytes> {
    (!setup.keys.is_empty()).then(|| &setup.keys[(i % setup.keys.len() as u64) as usize])
}

fn rdkafka_base(setup: &Setup) -> f64 {
    let producer: BaseProducer<Counting> = rdkafka_config(setup)
        .create_with_context(Counting::default())
        .expect("producer");
    let payload = vec![b'x'; setup.record_size];
    let start = Instant::now();
    for i in 0..setup.records {
        let mut record = BaseRecord::<[u8], [u8]>::to("bench").payload(&payload);
        if let Some(key) = key_of(setup, i) {
            record = record.key(&key[..]);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => panic!("send: {e}"),
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    let elapsed = start.elapsed();
    let delivered = producer.context().delivered.load(Ordering::Relaxed);
    assert_eq!(delivered, setup.records, "librdkafka delivered everything");
    rate(delivered, elapsed)
}

async fn rdkafka_future(setup: &Setup) -> f64 {
    let producer: FutureProducer = rdkafka_config(setup).create().expect("producer");
    let payload = vec![b'x'; setup.record_size];
    let start = Instant::now();
    let mut deliveries = Vec::with_capacity(setup.records as usize);
    for i in 0..setup.records {
        let mut record = FutureRecord::<[u8], [u8]>::to("bench").payload(&payload);
        if let Some(key) = key_of(setup, i) {
            record = record.key(&key[..]);
        }
        loop {
            match producer.send_result(record) {
                Ok(d) => {
                    deliveries.push(d);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err((e, _)) => panic!("send: {e}"),
            }
        }
    }
    let mut delivered = 0u64;
    for d in deliveries {
        if matches!(d.await, Ok(Ok(_))) {
            delivered += 1;
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(delivered, setup.records, "librdkafka delivered everything");
    rate(delivered, elapsed)
}

/// With `on`: resets the peak RSS and returns the RSS now (bytes); `None` where /proc lacks them.
fn rss_before(on: bool) -> Option<u64> {
    if !on {
        return None;
    }
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    proc_status_kib("VmRSS:").map(|k| k * 1024)
}

/// Peak RSS since `rss_before`, minus the RSS then (bytes); 0 when unknown.
fn rss_after(before: Option<u64>) -> u64 {
    let Some(before) = before else { return 0 };
    proc_status_kib("VmHWM:").map_or(0, |k| (k * 1024).saturating_sub(before))
}

fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn rate(records: u64, elapsed: Duration) -> f64 {
    records as f64 / elapsed.as_secs_f64()
}
