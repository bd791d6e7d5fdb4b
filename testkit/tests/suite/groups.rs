//! Consumer groups through the test kit: librdkafka's consumer joins, reads and commits; the
//! test sees the group and its commits without a client of its own; faults on the group APIs
//! are answered as injected and the consumer recovers.

use std::time::{Duration, Instant};

use kafkit_testkit::{ApiKey, ErrorCode, Fault, GroupState, MockCluster};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;

use crate::common::{producer, send};

fn consumer(cluster: &MockCluster, group: &str) -> BaseConsumer {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("retry.backoff.ms", "50")
        .create()
        .expect("consumer");
    c.subscribe(&["orders"]).expect("subscribe");
    c
}

/// Reads `n` records, committing each; returns their values.
fn read(c: &BaseConsumer, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let start = Instant::now();
    while out.len() < n {
        assert!(start.elapsed() < Duration::from_secs(30), "read only {out:?}");
        if let Some(m) = c.poll(Duration::from_millis(50)) {
            let m = m.expect("message");
            out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string());
            c.commit_message(&m, CommitMode::Sync).expect("commit");
        }
    }
    out
}

/// The group as the coordinator holds it and the offsets the consumer committed are visible
/// to the test; a FindCoordinator and a JoinGroup answered with retriable errors only delay
/// the join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_group_is_inspected_and_survives_coordinator_faults() {
    let cluster = MockCluster::builder()
        .topic("orders", 2)
        .start()
        .await
        .expect("cluster");
    let p = producer(&cluster, &[]);
    for (i, partition) in [0, 1, 0].into_iter().enumerate() {
        send(&p, "orders", partition, &format!("v{i}")).await;
    }
    let find = cluster.fault(
        Fault::on(ApiKey::FindCoordinator)
            .respond_error(ErrorCode::CoordinatorNotAvailable)
            .times(2),
    );
    let join =
        cluster.fault(Fault::on(ApiKey::JoinGroup).respond_error(ErrorCode::CoordinatorLoadInProgress));
    let c = consumer(&cluster, "inspected");
    let mut values = tokio::task::block_in_place(|| read(&c, 3));
    values.sort();
    assert_eq!(values, ["v0", "v1", "v2"]);
    assert_eq!((find.hits(), join.hits()), (2, 1));

    let group = cluster.group("inspected").expect("state").expect("group");
    assert_eq!(group.state, GroupState::Stable);
    assert_eq!(group.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(group.members.len(), 1);
    assert_eq!(group.leader.as_deref(), Some(group.members[0].member_id.as_str()));
    assert_eq!(
        cluster.committed_offset("inspected", "orders", 0).expect("state"),
        Some(2)
    );
    assert_eq!(
        cluster.committed_offset("inspected", "orders", 1).expect("state"),
        Some(1)
    );
    assert_eq!(cluster.groups().expect("state"), ["inspected"]);
    assert!(cluster
        .topics()
        .expect("topics")
        .iter()
        .any(|(t, _)| t == "__consumer_offsets"));

    // Closing leaves the group (LeaveGroup): it is Empty at once, its commits kept.
    tokio::task::block_in_place(|| {
        c.unsubscribe();
        drop(c);
    });
    cluster
        .wait_until(
            |c| {
                c.group("inspected")
                    .ok()
                    .flatten()
                    .is_some_and(|g| g.state == GroupState::Empty)
            },
            Duration::from_secs(10),
        )
        .await
        .expect("empty after leaving");
    assert_eq!(
        cluster.committed_offset("inspected", "orders", 0).expect("state"),
        Some(2)
    );
    cluster.assert_all_faults_fired();
}
