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
//! summary prints 0 for them): the benchmark compares throughput and CPU.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext};
use rdkafka::ClientContext;

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
    if failed > 0 {
        return Err(format!("{failed} records failed").into());
    }
    Ok(())
}
