//! `kafkit-perf`: kafka-producer-perf-test for kafkit's producer.
//!
//! Produces `--num-records` records of `--record-size` random uppercase letters to `--topic`
//! through [`kafkit_producer::Producer`], optionally paced to `--throughput` records per second,
//! and prints what kafka-producer-perf-test prints, in its formats: a line per 5-second window
//! and a summary line, with each record's latency measured from just before `send` to its
//! acknowledgement.
//!
//! ```text
//! kafkit-perf --topic perf --num-records 500000 --record-size 100 --throughput -1 \
//!     --producer-props acks=all linger.ms=5
//! ```
//!
//! Without `--bootstrap` (or `bootstrap.servers` in `--producer-props`) the records go to an
//! embedded kafkit broker started in the same process on 127.0.0.1 (data in a temporary
//! directory, removed at exit), whose topic gets `--partitions` partitions.
//!
//! # Where it differs from Kafka's tool
//! - Latencies are measured in microseconds, not whole milliseconds; the summary's percentiles
//!   are rounded to the nearest millisecond to keep Kafka's format, and a line before the
//!   summary gives them in microseconds. Every latency counts (Kafka samples 500,000).
//! - The payload of each record is a slice of a pool of random letters drawn once, not letters
//!   drawn afresh per record.
//! - A record that fails is counted, the first error is printed at the end, and the exit status
//!   is 1. A `send` that fails (the record was not accepted) stops the run.
//! - `--throughput 0` is refused (Kafka's tool would block forever); `--payload-file`,
//!   `--payload-monotonic`, `--producer.config` and `--print-metrics` are not implemented.
//! - Transactions are Kafka's tool's: `--transactional-id` (or `transactional.id` in
//!   `--producer-props`) makes the producer transactional, and a transaction is committed once
//!   `--transaction-duration-ms` (default 3000) has passed since it began, checked after each
//!   send; the last one is committed after the loop. The summary counts records as
//!   acknowledged, as Kafka's does; the CPU line adds the number of transactions committed.
//! - On a terminal, a progress bar runs below the window lines.
//! - After the summary, one more line gives the process's CPU seconds (user and system) per
//!   million records, the produce requests and batches that carried them and the batch bytes
//!   per request (with the embedded broker, its CPU is in the process's).
//! - The first Ctrl-C stops sending and the run ends as usual with the records sent so far;
//!   a second one exits at once.
//!
//! # Layout
//! - this file: arguments, the embedded broker, the send loop.
//! - `kafkit_perf/throttle.rs`: pacing, as Kafka's `ThroughputThrottler`.
//! - `kafkit_perf/payload.rs`: record values.
//! - `kafkit_perf/collector.rs`: acknowledgements, latencies, window lines, progress bar.
//! - `kafkit_perf/stats.rs`: the latency histogram and the printed lines.
//! - `kafkit_perf/cpu.rs`: the CPU line after the summary.

#[path = "kafkit_perf/collector.rs"]
mod collector;
#[path = "kafkit_perf/cpu.rs"]
mod cpu;
#[path = "kafkit_perf/payload.rs"]
mod payload;
#[path = "kafkit_perf/stats.rs"]
mod stats;
#[path = "kafkit_perf/throttle.rs"]
mod throttle;

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use kafkit_broker::config::TopicConfig;
use kafkit_broker::{Cluster, ClusterConfig};
use kafkit_producer::{Error, Producer, ProducerConfig, ProducerRecord};
use tokio::sync::mpsc;

use collector::{Outcome, Progress, Sent};
use payload::Payloads;
use throttle::Throttle;

/// The client id when `--producer-props` sets none (as Kafka's tool does).
const DEFAULT_CLIENT_ID: &str = "perf-producer-client";

#[derive(Parser, Debug)]
#[command(
    name = "kafkit-perf",
    version,
    about = "Producer performance test (kafka-producer-perf-test) for kafkit's producer",
    long_about = "Producer performance test (kafka-producer-perf-test) for kafkit's producer. \
                  Prints kafka-producer-perf-test's window and summary lines. Without --bootstrap \
                  (or bootstrap.servers in --producer-props) an embedded kafkit broker is started \
                  in-process on 127.0.0.1 and used."
)]
struct Cli {
    /// Produce messages to this topic.
    #[arg(long, value_name = "TOPIC")]
    topic: String,
    /// Number of messages to produce.
    #[arg(long, value_name = "NUM-RECORDS", value_parser = clap::value_parser!(u64).range(1..))]
    num_records: u64,
    /// Message size in bytes.
    #[arg(long, value_name = "RECORD-SIZE", value_parser = clap::value_parser!(u32).range(1..))]
    record_size: u32,
    /// Throttle the message throughput to about THROUGHPUT messages/sec; -1 disables throttling.
    #[arg(long, value_name = "THROUGHPUT", allow_negative_numbers = true)]
    throughput: f64,
    /// Producer configuration properties (Java's keys), e.g. acks=all linger.ms=5
    /// compression.type=lz4. An unknown key is an error.
    #[arg(long, value_name = "PROP-NAME=PROP-VALUE", num_args = 1..)]
    producer_props: Vec<String>,
    /// Records to treat as warmup: a second summary line covers only the records after them.
    #[arg(long, value_name = "WARMUP-RECORDS", default_value_t = 0)]
    warmup_records: u64,
    /// Broker to produce to (bootstrap.servers); without it, an embedded broker is started.
    #[arg(long, value_name = "HOST:PORT")]
    bootstrap: Option<String>,
    /// Partitions of the topic on the embedded broker (ignored with --bootstrap).
    #[arg(long, value_name = "PARTITIONS", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
    /// The transactional id: produce in transactions (as transactional.id in --producer-props).
    #[arg(long, value_name = "TRANSACTIONAL-ID")]
    transactional_id: Option<String>,
    /// The longest a transaction stays open: it is committed once this has passed since it
    /// began. Default 3000 when transactions are on; setting it turns them on (with Kafka's
    /// default transactional id).
    #[arg(long, value_name = "TRANSACTION-DURATION", value_parser = clap::value_parser!(u64).range(1..))]
    transaction_duration_ms: Option<u64>,
}

/// Kafka's tool's transactional id when only `--transaction-duration-ms` turns transactions on.
const DEFAULT_TRANSACTIONAL_ID: &str = "performance-producer-default-transactional-id";

/// Kafka's tool's `--transaction-duration-ms` default.
const DEFAULT_TRANSACTION_DURATION_MS: u64 = 3000;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = check(&cli) {
        eprintln!("kafkit-perf: {e}");
        return ExitCode::from(2);
    }
    // One thread for the tool and the producer's tasks, as kafka-producer-perf-test drives
    // Java's producer from one thread (which has its sender thread) and librdkafka's example
    // from one (librdkafka has its own): on tokio's multi-thread runtime each request costs
    // cross-thread wakeups (futex, eventfd). Measured against kafkit-broker, 1 M x 100 B,
    // acks=1, 16 KiB batches: 1.6-1.8 M records/s and 0.9-1.0 CPU s per million records on
    // the multi-thread runtime, 1.8-2.0 M and 0.55 on this one (issue #16).
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kafkit-perf: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kafkit-perf: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Checks what clap cannot.
fn check(cli: &Cli) -> Result<(), String> {
    if cli.throughput == 0.0 || cli.throughput.is_nan() {
        return Err("--throughput must be positive, or -1 to disable throttling".to_string());
    }
    if cli.warmup_records >= cli.num_records {
        return Err(format!(
            "--warmup-records ({}) must be fewer than --num-records ({})",
            cli.warmup_records, cli.num_records
        ));
    }
    Ok(())
}

/// Splits `--producer-props` into keys and values.
fn parse_props(props: &[String]) -> Result<Vec<(String, String)>, String> {
    props
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
            _ => Err(format!(
                "invalid property {p:?} in --producer-props: expected PROP-NAME=PROP-VALUE"
            )),
        })
        .collect()
}

/// Runs the test; the exit status is 1 when records failed, 130 when interrupted.
async fn run(cli: Cli) -> Result<ExitCode, String> {
    let mut props = parse_props(&cli.producer_props)?;
    let from_props = props.iter().any(|(k, _)| k == "bootstrap.servers");
    let embedded = match (&cli.bootstrap, from_props) {
        (Some(_), true) => {
            return Err(
                "bootstrap.servers is given twice: by --bootstrap and in --producer-props".to_string(),
            )
        }
        (Some(bootstrap), false) => {
            props.push(("bootstrap.servers".to_string(), bootstrap.clone()));
            None
        }
        (None, true) => None,
        (None, false) => {
            let cluster = start_embedded(&cli.topic, cli.partitions).await?;
            props.push(("bootstrap.servers".to_string(), cluster.bootstrap_servers()));
            Some(cluster)
        }
    };
    if embedded.is_none() && cli.partitions != 1 {
        eprintln!("kafkit-perf: --partitions applies to the embedded broker only; ignored");
    }
    if !props.iter().any(|(k, _)| k == "client.id") {
        props.push(("client.id".to_string(), DEFAULT_CLIENT_ID.to_string()));
    }
    // Kafka's tool: --transactional-id overrides the property; --transaction-duration-ms alone
    // turns transactions on with its default id.
    let id_from_props = props.iter().any(|(k, _)| k == "transactional.id");
    match (&cli.transactional_id, cli.transaction_duration_ms) {
        (Some(id), _) => {
            props.retain(|(k, _)| k != "transactional.id");
            props.push(("transactional.id".to_string(), id.clone()));
        }
        (None, Some(_)) if !id_from_props => {
            props.push((
                "transactional.id".to_string(),
                DEFAULT_TRANSACTIONAL_ID.to_string(),
            ));
        }
        _ => {}
    }
    let config = ProducerConfig::from_properties(props.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| e.to_string())?;
    let transactional = config.transactional_id().is_some();
    let producer = Producer::connect(config).await.map_err(|e| e.to_string())?;
    if transactional {
        producer.init_transactions().await.map_err(|e| e.to_string())?;
    }

    let result = produce(&cli, &producer, embedded.is_some()).await;
    if let Some(cluster) = embedded {
        if let Err(e) = cluster.shutdown().await {
            eprintln!("kafkit-perf: embedded broker: unclean shutdown: {e}");
        }
    }
    let Finished {
        outcome,
        send_error,
        interrupted,
    } = result?;
    let mut ok = true;
    if outcome.failed > 0 {
        ok = false;
        let first = outcome
            .first_error
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        eprintln!(
            "kafkit-perf: {} records failed; the first error: {first}",
            outcome.failed
        );
    }
    if let Some((index, e)) = send_error {
        ok = false;
        eprintln!(
            "kafkit-perf: record {index} was not accepted ({e}); the remaining {} records were not sent",
            cli.num_records - index
        );
    }
    Ok(if interrupted {
        ExitCode::from(130)
    } else if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Starts the in-process broker with the topic.
async fn start_embedded(topic: &str, partitions: i32) -> Result<Cluster, String> {
    let config = ClusterConfig {
        num_partitions: partitions,
        ..ClusterConfig::default()
    };
    let cluster = Cluster::start(config)
        .await
        .map_err(|e| format!("embedded broker: {e}"))?;
    cluster
        .state()
        .create_topic(topic, partitions, TopicConfig::default())
        .map_err(|(code, message)| {
            format!("embedded broker: cannot create topic {topic:?}: {code}: {message}")
        })?;
    Ok(cluster)
}

/// Turns the first Ctrl-C into a flag the send loop stops at (so what was sent is still
/// measured and the embedded broker's temporary directory removed); a second one exits at once.
fn watch_interrupt() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        set.store(true, Ordering::Relaxed);
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    });
    flag
}

/// How the send loop ended.
struct Finished {
    /// What was measured.
    outcome: Outcome,
    /// The record whose `send` failed (with its index), if one did.
    send_error: Option<(u64, Error)>,
    /// Whether Ctrl-C stopped the loop.
    interrupted: bool,
}

/// The send loop, then the summary.
async fn produce(cli: &Cli, producer: &Producer, embedded_broker: bool) -> Result<Finished, String> {
    if cli.warmup_records > 0 {
        println!(
            "Warmup first {} records. Steady state results will print after the complete test summary.",
            cli.warmup_records
        );
    }
    let progress = if std::io::stdout().is_terminal() {
        Progress::Bar
    } else {
        Progress::Lines
    };
    // A `&'static str` topic makes every record's topic a borrowed `Cow` instead of a String
    // allocated per record; leaked once, for the life of the process.
    let topic: &'static str = Box::leak(cli.topic.clone().into_boxed_str());
    let record_size = cli.record_size as usize;
    let mut payloads = Payloads::new(record_size, 0);
    let mut throttle = Throttle::new(cli.throughput);
    let warmup = cli.warmup_records;

    // The stats start here, right after the producer connected, as Kafka's do.
    let start = Instant::now();
    let cpu_start = cpu::process_cpu();
    let (tx, rx) = mpsc::unbounded_channel();
    let collector = tokio::spawn(collector::collect(
        rx,
        start,
        cli.num_records,
        record_size as u64,
        progress,
    ));
    let interrupted = watch_interrupt();
    let mut send_error = None;
    let transaction_duration = producer.config().transactional_id().map(|_| {
        Duration::from_millis(
            cli.transaction_duration_ms
                .unwrap_or(DEFAULT_TRANSACTION_DURATION_MS),
        )
    });
    let mut transaction_started: Option<Instant> = None;
    let mut transactions = 0u64;
    for i in 0..cli.num_records {
        if interrupted.load(Ordering::Relaxed) {
            eprintln!("kafkit-perf: interrupted after {i} records; finishing what was sent");
            break;
        }
        let value = payloads.next_value();
        if transaction_duration.is_some() && transaction_started.is_none() {
            producer
                .begin_transaction()
                .map_err(|e| format!("begin_transaction: {e}"))?;
            transaction_started = Some(Instant::now());
        }
        let send_start = Instant::now();
        if warmup > 0 && i == warmup {
            let _ = tx.send(Sent::SteadyStart(send_start));
        }
        match producer.send(ProducerRecord::new(topic, value)).await {
            Ok(delivery) => {
                // The collector outlives the loop (it ends once `tx` is dropped).
                let _ = tx.send(Sent::Record {
                    start: send_start,
                    steady: warmup > 0 && i >= warmup,
                    delivery,
                });
            }
            Err(e) => {
                send_error = Some((i, e));
                break;
            }
        }
        if let (Some(duration), Some(began)) = (transaction_duration, transaction_started) {
            if send_start.saturating_duration_since(began) >= duration {
                producer
                    .commit_transaction()
                    .await
                    .map_err(|e| format!("commit_transaction: {e}"))?;
                transactions += 1;
                transaction_started = None;
            }
        }
        if throttle.should_throttle(i, send_start.saturating_duration_since(start)) {
            if let Some(sleep) = throttle.throttle() {
                tokio::time::sleep(sleep).await;
            }
        }
    }
    if transaction_started.is_some() && send_error.is_none() {
        producer
            .commit_transaction()
            .await
            .map_err(|e| format!("commit_transaction: {e}"))?;
        transactions += 1;
    }
    // Kafka's tool closes the producer (waiting without a limit) before it prints the summary;
    // `flush` waits for every record (each ends by delivery.timeout.ms at the latest).
    producer.flush().await;
    producer.close(Duration::from_secs(30)).await;
    let end = Instant::now();
    drop(tx);
    let outcome = collector
        .await
        .map_err(|e| format!("collector task failed: {e}"))?;

    let cpu_end = cpu::process_cpu();
    println!("{}", outcome.total.detail_line());
    println!("{}", outcome.total.summary_line(end));
    if let Some(steady) = &outcome.steady {
        println!("{}", steady.detail_line());
        println!("{}", steady.summary_line(end));
    }
    let metrics = producer.metrics();
    let mut line = cpu::cpu_line(
        cpu_start,
        cpu_end,
        metrics.records_sent,
        metrics.requests_sent,
        metrics.batches_sent,
        metrics.bytes_sent,
        embedded_broker,
    );
    if transaction_duration.is_some() {
        line = format!("{line}, {transactions} transactions committed");
    }
    println!("{line}");
    Ok(Finished {
        outcome,
        send_error,
        interrupted: interrupted.load(Ordering::Relaxed),
    })
}
