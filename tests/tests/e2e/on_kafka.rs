//! The suite on Apache Kafka itself.
//!
//! Every scenario that needs nothing but a broker (the `everywhere` scenarios) runs here, one
//! after the other, on the Kafka target of the test kit ([`TargetKind::Kafka`]: a running
//! Kafka named by `KAFKIT_KAFKA_BOOTSTRAP`, or the process started from Kafka's jars). The test
//! prints a line per scenario, how many ran on Kafka, and which of the suite's scenarios do
//! not run there and why, so that nothing is left out silently. Without a Kafka it says why and
//! passes, unless `KAFKIT_REQUIRE_KAFKA` is set (CI sets it), when it fails.
//!
//! One test rather than a Kafka column in each scenario's matrix: the count and the list of
//! what does not run are the point, and a test cannot see the others' outcomes.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use kafkit_testkit::{Target, TargetKind};

use crate::everywhere;
use crate::TestResult;

type Scenario = for<'a> fn(&'a dyn Target) -> Pin<Box<dyn Future<Output = TestResult> + 'a>>;

macro_rules! scenarios {
    ($($module:ident :: $name:ident),* $(,)?) => {
        &[$((stringify!($name), |t| Box::pin($module::$name(t)))),*]
    };
}

/// Runs only the scenarios whose name contains its value (for debugging one on Kafka).
const ONLY_ENV: &str = "KAFKIT_KAFKA_SCENARIO";

/// The scenarios that run on Kafka: every one of `everywhere`.
const ON_KAFKA: &[(&str, Scenario)] = scenarios!(
    everywhere::keyed_records_land_on_javas_partitions,
    everywhere::offsets_are_contiguous_with_timestamps,
    everywhere::every_codec_round_trips,
    everywhere::nulls_empties_and_headers_survive,
    everywhere::records_larger_than_batch_size,
    everywhere::every_acks_setting_stores,
    everywhere::keyless_records_follow_the_sticky_rule,
    everywhere::record_over_max_request_size_fails_before_sending,
    everywhere::flush_covers_earlier_records_and_close_drains,
);

/// The suite's modules whose scenarios do not run on Kafka, and why.
const NOT_ON_KAFKA: &[(&str, &str)] = &[
    (
        "faults",
        "they inject faults (errors, lost responses, held requests) into the broker and move its leaders",
    ),
    (
        "randomized",
        "seeded schedules of the same faults and cluster events",
    ),
    (
        "unknown_fate",
        "they drop responses after the append, which only the kafkit mock can do",
    ),
    (
        "adaptive",
        "they need a broker that answers late or holds requests (faults)",
    ),
    (
        "held_broker",
        "they hold Produce requests at the broker and take brokers down",
    ),
    (
        "shaping",
        "they read the request journal and lower message.max.bytes",
    ),
    (
        "partitions_added",
        "they grow topics through the mock and run on the paused clock",
    ),
    ("librdkafka", "it is the librdkafka mock cluster target itself"),
    (
        "real_clients",
        "they check real clients against kafkit's broker, the other direction",
    ),
];

/// Every broker-only scenario on Apache Kafka, with the count and the list of what does not run.
#[tokio::test(flavor = "current_thread")]
async fn the_suite_on_apache_kafka() -> TestResult {
    // current_thread: the sticky-partitioner scenario needs the sender to run only while the
    // scenario waits (see its docs); the others do not mind.
    let Some(kafka) = TargetKind::Kafka.start().await? else {
        println!("0 scenarios ran on Apache Kafka: no Kafka here (the reason is printed above)");
        return Ok(());
    };
    println!("on {}", kafka.name());
    let only = std::env::var(ONLY_ENV).ok();
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, scenario) in ON_KAFKA {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            println!(
                "  left out {name} ({ONLY_ENV}={})",
                only.as_deref().unwrap_or_default()
            );
            continue;
        }
        ran += 1;
        let started = Instant::now();
        match scenario(&*kafka).await {
            Ok(()) => println!("  ok      {name} ({:?})", started.elapsed()),
            Err(e) => {
                println!("  FAILED  {name}: {e}");
                failed.push(format!("{name}: {e}"));
            }
        }
    }
    println!("{ran} scenarios ran on Apache Kafka, {} failed", failed.len());
    println!("not run on Apache Kafka:");
    for (module, why) in NOT_ON_KAFKA {
        println!("  {module}: {why}");
    }
    assert!(failed.is_empty(), "on Apache Kafka: {failed:#?}");
    Ok(())
}
