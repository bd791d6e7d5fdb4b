//! Partitions added to a topic while a producer runs (CreatePartitions, as an admin would).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::faults::{cluster, producer, PARTITIONS, TOPIC};
use kafkit_producer::partitioner::partition_for_key;
use kafkit_producer::{Error, Producer, ProducerRecord};

/// Partitions added while a producer runs (CreatePartitions, as an admin would): the producer
/// sees them at its next metadata refresh (`metadata.max.age.ms`), and from then on each key
/// goes to `murmur2(key) % 8` instead of `% 4`, as Java's does; keyless records reach the new
/// partitions too. Every record is stored where it was acknowledged.
#[tokio::test(start_paused = true)]
async fn partitions_added_while_producing_are_used_after_a_refresh() {
    let cluster = cluster(2).await;
    // A small batch.size so that keyless records switch partitions every few records.
    let producer = producer(
        &cluster,
        &[("metadata.max.age.ms", "1000"), ("batch.size", "200")],
    )
    .await;
    let keys: Vec<String> = (0..64).map(|i| format!("customer-{i}")).collect();
    let send_keys = |producer: &Producer| {
        let producer = producer.clone();
        let keys = keys.clone();
        async move {
            let mut placed = Vec::new();
            for key in &keys {
                let record = ProducerRecord::builder(TOPIC).key(key.clone()).value("v").build();
                let meta = producer
                    .send(record)
                    .await
                    .expect("accepted")
                    .await
                    .expect("acked");
                placed.push((key.clone(), meta.partition));
            }
            placed
        }
    };
    for (key, partition) in send_keys(&producer).await {
        assert_eq!(partition, partition_for_key(key.as_bytes(), PARTITIONS), "{key}");
    }
    cluster.create_partitions(TOPIC, 2 * PARTITIONS).expect("grow");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        producer.partition_count(TOPIC).await.expect("metadata"),
        2 * PARTITIONS
    );
    let after = send_keys(&producer).await;
    for (key, partition) in &after {
        assert_eq!(
            *partition,
            partition_for_key(key.as_bytes(), 2 * PARTITIONS),
            "{key}"
        );
    }
    assert!(
        after.iter().any(|(_, p)| *p >= PARTITIONS),
        "some keys moved to the new partitions"
    );
    let mut keyless = BTreeSet::new();
    for i in 0..400 {
        let record = ProducerRecord::builder(TOPIC).value(format!("{i:0>100}")).build();
        keyless.insert(
            producer
                .send(record)
                .await
                .expect("accepted")
                .await
                .expect("acked")
                .partition,
        );
    }
    assert!(
        keyless.iter().any(|p| *p >= PARTITIONS),
        "keyless draws reach them: {keyless:?}"
    );
    let stored: usize = (0..2 * PARTITIONS)
        .map(|p| cluster.records(TOPIC, p).expect("records").len())
        .sum();
    assert_eq!(stored, 2 * keys.len() + 400);
    producer.close(Duration::from_secs(10)).await;
}

/// A record for a partition beyond the count the producer has cached, sent right after the
/// topic grew: the producer refreshes metadata and waits (up to max.block.ms) for the partition
/// to show, as Java's `waitOnMetadata` does, instead of failing at once. A partition the topic
/// still does not have after max.block.ms is UnknownPartition with the count then known.
#[tokio::test(start_paused = true)]
async fn an_explicit_partition_added_since_the_last_refresh_is_waited_for() {
    let cluster = cluster(1).await;
    let producer = producer(&cluster, &[("max.block.ms", "5000")]).await;
    assert_eq!(
        producer.partition_count(TOPIC).await.expect("metadata"),
        PARTITIONS
    );
    cluster.create_partitions(TOPIC, PARTITIONS + 2).expect("grow");
    let to_new = ProducerRecord::builder(TOPIC)
        .partition(PARTITIONS + 1)
        .value("v")
        .build();
    let meta = producer
        .send(to_new)
        .await
        .expect("accepted once metadata shows the partition")
        .await
        .expect("acked");
    assert_eq!((meta.partition, meta.offset), (PARTITIONS + 1, 0));
    assert_eq!(cluster.records(TOPIC, PARTITIONS + 1).expect("records").len(), 1);

    let started = tokio::time::Instant::now();
    let beyond = ProducerRecord::builder(TOPIC)
        .partition(PARTITIONS + 2)
        .value("v")
        .build();
    match producer.send(beyond).await {
        Err(Error::UnknownPartition {
            partition,
            partitions,
            ..
        }) => assert_eq!((partition, partitions), (PARTITIONS + 2, PARTITIONS + 2)),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_secs(5), "waited max.block.ms");
    let negative = ProducerRecord::builder(TOPIC).partition(-1).value("v").build();
    assert!(matches!(
        producer.send(negative).await,
        Err(Error::UnknownPartition { partition: -1, .. })
    ));
    producer.close(Duration::from_secs(10)).await;
}
