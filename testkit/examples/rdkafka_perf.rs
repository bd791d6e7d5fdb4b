//! librdkafka's producer (rust-rdkafka's `BaseProducer`) as a perf tool of its own process, with
//! kafka-producer-perf-test's flags and summary line, for the cross-process benchmark
//! (`bench/producers.py`).
//!
//! ```text
//! cargo run --release -p kafkit-testkit --example rdkafka_perf -- --topic t --num-records 1000000 \
//!     --record-size 100 --throughput -1 --producer-props bootstrap.servers=127.0.0.1:9092 acks=1
//! ```
//!
//! `--producer-props` go to librdkafka as they are (its keys match Java's for acks,
//! linger.ms, batch.size, compression.type, ...). Delivery reports count acknowledged records;
//! the summary comes once every record is acknowledged. Latencies are not measured (the
//! summary prints 0 for them): the benchmark compares throughput and CPU. With
//! `--print-metrics` (Java's tool has the flag too) librdkafka's statistics are on (every
//! 100 ms) and one more line gives the Produce requests sent and the bytes per request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext};
use rdkafka::{ClientContext, Statistics};

#[derive(Default)]
struct Counting {
    delivered: AtomicU64,
    failed: AtomicU64,
    /// From the last statistics (with `--print-metrics`): Produce requests sent, bytes sent to
    /// brokers (every request's, as librdkafka counts `txbytes`) and `tx`.
    produce_requests: AtomicU64,
    tx_bytes: AtomicU64,
    tx_requests: AtomicU64,
}

impl ClientContext for Counting {
    fn stats(&self, statistics: Statistics) {
        // Real brokers only (the bootstrap entries have node id -1 and repeat nothing).
        let brokers = statistics.brokers.values().filter(|b| b.nodeid >= 0);
        let (mut produce, mut bytes, mut requests) = (0u64, 0u64, 0u64);
        for b in brokers {
            produce += b.req.get("Produce").copied().unwrap_or(0).max(0) as u64;
            bytes += b.txbytes;
            requests += b.tx;
        }
        self.produce_requests.store(produce, Ordering::Relaxed);
        self.tx_bytes.store(bytes, Ordering::Relaxed);
        self.tx_requests.store(requests, Ordering::Relaxed);
    }
}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.delivered.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value_of = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .ok_or_else(|| format!("{flag} is required"))
    };
    let topic = value_of("--topic")?;
    let records: u64 = value_of("--num-records")?.parse()?;
    let record_size: usize = value_of("--record-size")?.parse()?;
    let mut config = ClientConfig::new();
    if let Some(at) = args.iter().position(|a| a == "--producer-props") {
        for prop in args[at + 1..].iter().take_while(|a| !a.starts_with("--")) {
            let (k, v) = prop
                .split_once('=')
                .ok_or_else(|| format!("not key=value: {prop}"))?;
            config.set(k, v);
        }
    }
    let print_metrics = args.iter().any(|a| a == "--print-metrics");
    if print_metrics {
        config.set("statistics.interval.ms", "100");
    }
    let producer: BaseProducer<Counting> = config.create_with_context(Counting::default())?;
    let payload = vec![b'x'; record_size];
    let start = Instant::now();
    for _ in 0..records {
        let mut record = BaseRecord::<[u8], [u8]>::to(&topic).payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(300))?;
    let elapsed = start.elapsed().as_secs_f64();
    let delivered = producer.context().delivered.load(Ordering::Relaxed);
    let failed = producer.context().failed.load(Ordering::Relaxed);
    println!(
        "{delivered} records sent, {:.6} records/sec ({:.2} MB/sec), 0.00 ms avg latency, 0.00 ms max latency, 0 ms 50th, 0 ms 95th, 0 ms 99th, 0 ms 99.9th.",
        delivered as f64 / elapsed,
        delivered as f64 * record_size as f64 / elapsed / (1024.0 * 1024.0),
    );
    if print_metrics {
        // Statistics come every 100 ms: wait for one taken after the last acknowledgement.
        let until = Instant::now() + Duration::from_millis(250);
        while Instant::now() < until {
            producer.poll(Duration::from_millis(50));
        }
        let ctx = producer.context();
        let (produce, bytes, requests) = (
            ctx.produce_requests.load(Ordering::Relaxed),
            ctx.tx_bytes.load(Ordering::Relaxed),
            ctx.tx_requests.load(Ordering::Relaxed),
        );
        // Per Produce request: the few Metadata/ApiVersions requests are small, and `tx` is
        // not a request count over TLS (it counts writes there).
        println!(
            "librdkafka statistics: {produce} produce requests, {} bytes per request ({requests} requests, {bytes} bytes sent to brokers)",
            bytes.checked_div(produce).unwrap_or(0)
        );
    }
    if failed > 0 {
        return Err(format!("{failed} records failed").into());
    }
    Ok(())
}
