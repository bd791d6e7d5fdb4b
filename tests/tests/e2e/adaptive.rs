//! Adaptive partitioning (KIP-794, Java's default) on the kafkit mock: keyless records drift
//! away from a broker that answers slowly, and with `partitioner.availability.timeout.ms` they
//! leave a broker that takes no requests at all.
//!
//! Two brokers lead a topic of four partitions (broker 0: partitions 0 and 2; broker 1:
//! partitions 1 and 3). A stream of keyless records, one every millisecond of tokio's paused
//! clock, with `batch.size` = 1000 bytes (nine records a batch), so the sticky partition is
//! drawn anew about every nine records. Broker 1's Produce requests are slowed (or held) by a
//! fault. Everything runs on a current-thread runtime under the paused clock with a seeded
//! partitioner, so each run makes the same draws.

use std::time::Duration;

use kafkit_producer::{DeliveryFuture, Producer, ProducerRecord};
use kafkit_testkit::{ApiKey, Fault, MockCluster};

use crate::TestResult;

const TOPIC: &str = "adaptive";
const PARTITIONS: i32 = 4;
/// The broker the faults slow down, and its partitions.
const SLOW_BROKER: i32 = 1;
const SLOW_PARTITIONS: [i32; 2] = [1, 3];

async fn cluster() -> Result<MockCluster, kafkit_testkit::Error> {
    MockCluster::builder()
        .brokers(2)
        .topic(TOPIC, PARTITIONS)
        .start()
        .await
}

/// Every Produce request to the slow broker.
fn slow_broker_produce() -> Fault {
    Fault::on(ApiKey::Produce).broker(SLOW_BROKER).always()
}

async fn producer(
    cluster: &MockCluster,
    props: &[(&str, &str)],
) -> Result<Producer, Box<dyn std::error::Error>> {
    let mut config = cluster.producer_config().set("batch.size", "1000");
    for (k, v) in props {
        config = config.set(k, v);
    }
    Ok(cluster.in_memory_producer(config.build()?).await?)
}

/// Sends `records` keyless 100-byte records, one per millisecond of virtual time.
async fn stream(
    producer: &Producer,
    records: usize,
) -> Result<Vec<DeliveryFuture>, Box<dyn std::error::Error>> {
    let mut deliveries = Vec::with_capacity(records);
    for i in 0..records {
        let record = ProducerRecord::builder(TOPIC).value(format!("{i:0>100}")).build();
        deliveries.push(producer.send(record).await?);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(deliveries)
}

/// The partition each record was acknowledged on.
async fn partitions(deliveries: Vec<DeliveryFuture>) -> Result<Vec<i32>, Box<dyn std::error::Error>> {
    let mut out = Vec::with_capacity(deliveries.len());
    for d in deliveries {
        out.push(d.await?.partition);
    }
    Ok(out)
}

/// The share of `partitions` on the slow broker.
fn slow_share(partitions: &[i32]) -> f64 {
    let slow = partitions.iter().filter(|p| SLOW_PARTITIONS.contains(p)).count();
    slow as f64 / partitions.len() as f64
}

/// With broker 1 answering every Produce 200 ms late, its partitions' queues grow, and
/// adaptive partitioning draws them less often: the same seeded stream puts clearly fewer
/// records there than with adaptive partitioning off (where the draws are uniform).
#[tokio::test(start_paused = true)]
async fn keyless_records_drift_away_from_a_slow_broker() -> TestResult {
    const RECORDS: usize = 3000;
    let mut shares = Vec::new();
    for adaptive in ["true", "false"] {
        let cluster = cluster().await?;
        let slow = cluster.fault(slow_broker_produce().delay(Duration::from_millis(200)));
        let producer = producer(
            &cluster,
            &[("partitioner.adaptive.partitioning.enable", adaptive)],
        )
        .await?;
        let deliveries = stream(&producer, RECORDS).await?;
        let placed = partitions(deliveries).await?;
        assert!(slow.hits() > 0);
        let stored: usize = (0..PARTITIONS)
            .map(|p| cluster.records(TOPIC, p).map(|r| r.len()))
            .sum::<Result<usize, _>>()?;
        assert_eq!(stored, RECORDS, "every record stored once");
        shares.push(slow_share(&placed));
        producer.close(Duration::from_secs(10)).await;
    }
    let (adaptive, uniform) = (shares[0], shares[1]);
    eprintln!("share of records on the slow broker: adaptive {adaptive:.3}, uniform {uniform:.3}");
    assert!(
        uniform > 0.4 && uniform < 0.6,
        "uniform draws split the stints about evenly: {uniform:.3}"
    );
    assert!(
        adaptive < uniform - 0.1,
        "adaptive partitioning avoids the slow broker: {adaptive:.3} vs {uniform:.3}"
    );
    Ok(())
}

/// With `partitioner.availability.timeout.ms` = 100, a broker that holds a Produce (so the
/// producer's connection to it reaches max.in.flight and can take nothing more) is left out of the draw
/// once it has had sendable data it could not take for 100 ms: from the end of the stint
/// running then, no record goes to its partitions. Without the timeout, adaptive partitioning
/// only draws it less often. Released at the end, the broker stores what it held.
#[tokio::test(start_paused = true)]
async fn availability_timeout_leaves_out_a_broker_that_takes_nothing() -> TestResult {
    const RECORDS: usize = 1500;
    let mut late_on_held = Vec::new();
    for timeout in ["100", "0"] {
        let cluster = cluster().await?;
        let held = cluster.fault(slow_broker_produce().after_requests(2).hold());
        let producer = producer(&cluster, &[("partitioner.availability.timeout.ms", timeout)]).await?;
        let deliveries = stream(&producer, RECORDS).await?;
        // The broker reads a connection's requests one at a time (as Kafka does), so one is
        // held and the producer's further requests (up to max.in.flight) wait behind it.
        assert_eq!(held.hits(), 1, "a Produce request was held");
        held.release();
        let placed = partitions(deliveries).await?;
        assert!(
            placed[..RECORDS / 3].iter().any(|p| SLOW_PARTITIONS.contains(p)),
            "the held broker was drawn before the timeout could leave it out"
        );
        // After the first 500 ms (500 records), and after the stint running then.
        let late = &placed[RECORDS / 3..];
        let first_fast = late
            .iter()
            .position(|p| !SLOW_PARTITIONS.contains(p))
            .unwrap_or(late.len());
        late_on_held.push(
            late[first_fast..]
                .iter()
                .filter(|p| SLOW_PARTITIONS.contains(p))
                .count(),
        );
        let stored: usize = (0..PARTITIONS)
            .map(|p| cluster.records(TOPIC, p).map(|r| r.len()))
            .sum::<Result<usize, _>>()?;
        assert_eq!(stored, RECORDS, "every record stored once, the held ones too");
        producer.close(Duration::from_secs(10)).await;
    }
    eprintln!(
        "late records on the held broker: with the timeout {}, without {}",
        late_on_held[0], late_on_held[1]
    );
    assert_eq!(late_on_held[0], 0, "left out once the timeout passed");
    assert!(
        late_on_held[1] > 0,
        "without the timeout it is still drawn now and then"
    );
    Ok(())
}
