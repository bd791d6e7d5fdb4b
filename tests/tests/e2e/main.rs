//! kafkit's end-to-end suite, one test binary (see the crate docs).
//!
//! - [`everywhere`]: the same scenarios against every target: kafkit's producer produces, the
//!   target's log is read back, and the records must be what Java's producer would have stored.
//! - [`guarantee`]: the record stream the fault scenarios send, and the check of the delivery
//!   guarantee (exactly once in order with idempotence, at least once without) against the log.
//! - [`faults`]: faults and cluster events on the in-process cluster while a stream is sent:
//!   retriable errors, lost responses, dropped connections, leader moves, a broker down and up,
//!   a slow broker; with and without idempotence.
//! - [`randomized`]: seeded schedules of those faults and events interleaved with sends, then
//!   the same delivery-guarantee check (a failure names its seed, replayable).
//! - [`adaptive`]: adaptive partitioning on the kafkit mock: keyless records drift away from a
//!   slow broker, and `partitioner.availability.timeout.ms` leaves out one that takes nothing.
//! - [`real_clients`]: librdkafka's idempotent producer and its consumer round-trip through
//!   kafkit's broker with every codec; the stored files pass `kafkit-broker dump-log`.
//! - [`on_kafka`]: every broker-only scenario on Apache Kafka itself, in one test that counts
//!   them and lists what does not run there and why.
//! - [`kafka_tools`]: Kafka's `DumpLogSegments` reads kafkit's segments (every codec,
//!   idempotent and not, after a clean shutdown and after crash recovery) and lists what
//!   `kafkit-broker dump-log` lists; Kafka's consumer-group tool lists, describes, resets and
//!   deletes a group on kafkit's broker, and its offsets decoder reads `__consumer_offsets`.
//! - [`unknown_fate`]: batches whose answers were lost: no duplicate under idempotence.
//! - [`partitions_added`]: topics grown while a producer runs.
//! - [`groups`]: librdkafka's consumers in consumer groups on every target and on Kafka:
//!   splitting partitions, resuming from commits, rebalances (eager and cooperative), static
//!   members.
//! - [`security`]: TLS and SASL (every mechanism) on Apache Kafka and on kafkit's broker side
//!   by side: the same successes, the same refusals, the same librdkafka error text.
//!
//! The differential conformance suite, which compares kafkit's broker with Kafka request by
//! request, is a test binary of its own (`tests/conformance/`): it needs no producer, and its
//! one test compares everything against the README's table of deviations.

use kafkit_producer::Producer;
use kafkit_testkit::{Target, TargetKind};

/// Kafka's jars, or `None` (the test says why and is skipped) when they are not at hand and
/// `KAFKIT_REQUIRE_KAFKA` is not set; an error when it is.
pub fn kafka_jars_or_skip() -> Result<Option<std::path::PathBuf>, Box<dyn std::error::Error>> {
    use kafkit_testkit::target::{kafka_libs, REQUIRE_KAFKA_ENV};
    match kafka_libs() {
        Ok(libs) => Ok(Some(libs)),
        Err(reason) if std::env::var(REQUIRE_KAFKA_ENV).is_ok_and(|v| !v.is_empty() && v != "0") => {
            Err(format!("{REQUIRE_KAFKA_ENV} is set but Kafka's jars are not at hand: {reason}").into())
        }
        Err(reason) => {
            eprintln!("skipped: Kafka's jars are not at hand: {reason}");
            Ok(None)
        }
    }
}

/// What every scenario returns.
pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Starts `kind`, or prints why it is skipped.
pub async fn target(kind: TargetKind) -> Result<Option<Box<dyn Target>>, Box<dyn std::error::Error>> {
    Ok(kind.start().await?)
}

/// A producer for `target` with its default configuration plus `props` (Java's keys).
pub async fn producer(
    target: &dyn Target,
    props: &[(&str, &str)],
) -> Result<Producer, Box<dyn std::error::Error>> {
    let mut config = target.producer_config();
    for (k, v) in props {
        config = config.set(k, v);
    }
    Ok(target.producer_with(config.build()?).await?)
}

mod adaptive;
mod everywhere;
mod faults;
mod groups;
mod guarantee;
mod held_broker;
mod kafka_tools;
mod librdkafka;
mod on_kafka;
mod partitions_added;
mod randomized;
mod real_clients;
mod security;
mod shaping;
mod transactions;
mod unknown_fate;
