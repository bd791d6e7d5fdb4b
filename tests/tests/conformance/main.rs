//! The differential conformance suite: the same wire-level exchanges sent to kafkit's broker and
//! to Apache Kafka, their answers compared field by field.
//!
//! Each case (`produce`, `fetch`, `metadata`, `admin`) builds its requests with the
//! `kafka-protocol` types at an exact version (the highest both brokers serve, or each version
//! in turn), sends them over TCP with the test kit's [`WireClient`], and records every field of
//! the answers it cares about, normalised ([`harness`]): error codes and messages, offsets, log
//! start offsets, high watermarks and last stable offsets, leader epochs, timestamps and their
//! types, throttle times, per-record errors, what was stored (read back with Fetch), and the
//! versions a Kafka 4.1 client would negotiate.
//!
//! Every difference must be listed in the README's table of measured deviations
//! (between `conformance-deviations:begin` and `:end`), and every row of that table must still
//! happen: the suite fails on a new difference and on a listed one that went away, printing
//! the rows to add or remove. The table is kept exact so that it never lies.
//!
//! Kafka comes from the test kit's [`TargetKind::Kafka`] (a running one named by
//! `KAFKIT_KAFKA_BOOTSTRAP`, or the process started from its jars); without one the suite
//! says why and passes, unless `KAFKIT_REQUIRE_KAFKA` is set, as in CI.
//!
//! [`WireClient`]: kafkit_testkit::WireClient

mod admin;
mod fetch;
mod groups;
mod harness;
mod kip848;
mod metadata;
mod produce;
mod records;
mod txn;

use std::collections::BTreeSet;

use kafka_protocol::messages::*;
use kafka_protocol::protocol::Message;
use kafkit_broker::{Cluster, ClusterConfig};
use kafkit_testkit::TargetKind;

use harness::{common_versions, differences, observe, Peer};

/// The APIs a Kafka 4.1 client may use, with the versions it sends (kafka-protocol 0.18 is
/// generated from Kafka 4.1's schemas).
pub const CLIENT_APIS: &[(ApiKey, i16, i16)] = &[
    (
        ApiKey::Produce,
        ProduceRequest::VERSIONS.min,
        ProduceRequest::VERSIONS.max,
    ),
    (
        ApiKey::Fetch,
        FetchRequest::VERSIONS.min,
        FetchRequest::VERSIONS.max,
    ),
    (
        ApiKey::ListOffsets,
        ListOffsetsRequest::VERSIONS.min,
        ListOffsetsRequest::VERSIONS.max,
    ),
    (
        ApiKey::Metadata,
        MetadataRequest::VERSIONS.min,
        MetadataRequest::VERSIONS.max,
    ),
    (
        ApiKey::OffsetCommit,
        OffsetCommitRequest::VERSIONS.min,
        OffsetCommitRequest::VERSIONS.max,
    ),
    (
        ApiKey::OffsetFetch,
        OffsetFetchRequest::VERSIONS.min,
        OffsetFetchRequest::VERSIONS.max,
    ),
    (
        ApiKey::FindCoordinator,
        FindCoordinatorRequest::VERSIONS.min,
        FindCoordinatorRequest::VERSIONS.max,
    ),
    (
        ApiKey::JoinGroup,
        JoinGroupRequest::VERSIONS.min,
        JoinGroupRequest::VERSIONS.max,
    ),
    (
        ApiKey::Heartbeat,
        HeartbeatRequest::VERSIONS.min,
        HeartbeatRequest::VERSIONS.max,
    ),
    (
        ApiKey::LeaveGroup,
        LeaveGroupRequest::VERSIONS.min,
        LeaveGroupRequest::VERSIONS.max,
    ),
    (
        ApiKey::SyncGroup,
        SyncGroupRequest::VERSIONS.min,
        SyncGroupRequest::VERSIONS.max,
    ),
    (
        ApiKey::DescribeGroups,
        DescribeGroupsRequest::VERSIONS.min,
        DescribeGroupsRequest::VERSIONS.max,
    ),
    (
        ApiKey::ListGroups,
        ListGroupsRequest::VERSIONS.min,
        ListGroupsRequest::VERSIONS.max,
    ),
    (
        ApiKey::SaslHandshake,
        SaslHandshakeRequest::VERSIONS.min,
        SaslHandshakeRequest::VERSIONS.max,
    ),
    (
        ApiKey::ApiVersions,
        ApiVersionsRequest::VERSIONS.min,
        ApiVersionsRequest::VERSIONS.max,
    ),
    (
        ApiKey::CreateTopics,
        CreateTopicsRequest::VERSIONS.min,
        CreateTopicsRequest::VERSIONS.max,
    ),
    (
        ApiKey::DeleteTopics,
        DeleteTopicsRequest::VERSIONS.min,
        DeleteTopicsRequest::VERSIONS.max,
    ),
    (
        ApiKey::InitProducerId,
        InitProducerIdRequest::VERSIONS.min,
        InitProducerIdRequest::VERSIONS.max,
    ),
    (
        ApiKey::AddPartitionsToTxn,
        AddPartitionsToTxnRequest::VERSIONS.min,
        AddPartitionsToTxnRequest::VERSIONS.max,
    ),
    (
        ApiKey::AddOffsetsToTxn,
        AddOffsetsToTxnRequest::VERSIONS.min,
        AddOffsetsToTxnRequest::VERSIONS.max,
    ),
    (
        ApiKey::EndTxn,
        EndTxnRequest::VERSIONS.min,
        EndTxnRequest::VERSIONS.max,
    ),
    (
        ApiKey::TxnOffsetCommit,
        TxnOffsetCommitRequest::VERSIONS.min,
        TxnOffsetCommitRequest::VERSIONS.max,
    ),
    (
        ApiKey::SaslAuthenticate,
        SaslAuthenticateRequest::VERSIONS.min,
        SaslAuthenticateRequest::VERSIONS.max,
    ),
    (
        ApiKey::CreatePartitions,
        CreatePartitionsRequest::VERSIONS.min,
        CreatePartitionsRequest::VERSIONS.max,
    ),
    (
        ApiKey::DeleteGroups,
        DeleteGroupsRequest::VERSIONS.min,
        DeleteGroupsRequest::VERSIONS.max,
    ),
    (
        ApiKey::OffsetDelete,
        OffsetDeleteRequest::VERSIONS.min,
        OffsetDeleteRequest::VERSIONS.max,
    ),
    (
        ApiKey::DescribeTransactions,
        DescribeTransactionsRequest::VERSIONS.min,
        DescribeTransactionsRequest::VERSIONS.max,
    ),
    (
        ApiKey::ListTransactions,
        ListTransactionsRequest::VERSIONS.min,
        ListTransactionsRequest::VERSIONS.max,
    ),
    (
        ApiKey::ConsumerGroupHeartbeat,
        ConsumerGroupHeartbeatRequest::VERSIONS.min,
        ConsumerGroupHeartbeatRequest::VERSIONS.max,
    ),
    (
        ApiKey::ConsumerGroupDescribe,
        ConsumerGroupDescribeRequest::VERSIONS.min,
        ConsumerGroupDescribeRequest::VERSIONS.max,
    ),
];

/// One difference: `(case, field, kafkit's value, Kafka's value)`.
type Deviation = (String, String, String, String);

const BEGIN: &str = "<!-- conformance-deviations:begin -->";
const END: &str = "<!-- conformance-deviations:end -->";

/// The rows of the README's table of measured deviations.
fn listed_deviations() -> BTreeSet<Deviation> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let start = readme
        .find(BEGIN)
        .unwrap_or_else(|| panic!("README has no {BEGIN}"));
    let end = readme.find(END).unwrap_or_else(|| panic!("README has no {END}"));
    readme[start..end]
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().trim_matches('`').replace("\\|", "|"))
                .collect();
            assert!(
                cells.len() >= 4,
                "a deviation row needs case, field, kafkit, Kafka: {l}"
            );
            (
                cells[0].clone(),
                cells[1].clone(),
                cells[2].clone(),
                cells[3].clone(),
            )
        })
        .collect()
}

/// A README row for `d` (the last cell, why, is the writer's).
fn row(d: &Deviation) -> String {
    let cell = |s: &str| format!("`{}`", s.replace('|', "\\|"));
    format!(
        "| {} | {} | {} | {} | |",
        cell(&d.0),
        cell(&d.1),
        cell(&d.2),
        cell(&d.3)
    )
}

/// kafkit's broker answers every case as Apache Kafka does, except for the README's listed
/// deviations, exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkit_answers_as_kafka_does() -> Result<(), harness::BoxError> {
    let Some(kafka) = TargetKind::Kafka.start().await? else {
        println!("the conformance suite did not run: no Kafka here (the reason is printed above)");
        return Ok(());
    };
    // As the test kit configures its Kafka process: groups rebalance at once.
    let kafkit = Cluster::start(ClusterConfig {
        groups: kafkit_broker::group::GroupsConfig {
            initial_rebalance_delay: std::time::Duration::ZERO,
            // The test kit's Kafka process keeps __consumer_offsets to one partition.
            offsets_topic_partitions: 1,
            // ... and has KIP-848 members heartbeat every 500 ms.
            consumer_heartbeat_interval: std::time::Duration::from_millis(500),
            ..Default::default()
        },
        ..ClusterConfig::default()
    })
    .await?;
    let kafka_addr = kafka
        .bootstrap_servers()
        .split(',')
        .next()
        .unwrap_or_default()
        .to_string();
    let peers = [
        Peer::connect(kafkit.bootstrap_servers()).await?,
        Peer::connect(kafka_addr).await?,
    ];
    let common = common_versions(&peers[0], &peers[1]);
    let cases: Vec<harness::Case> = [
        produce::cases(),
        fetch::cases(),
        metadata::cases(),
        admin::cases(),
        groups::cases(),
        kip848::cases(),
        txn::cases(),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(cases.len() >= 60, "at least 60 cases, found {}", cases.len());
    let mut found = BTreeSet::new();
    let mut fields = 0;
    let mut broken = Vec::new();
    for case in &cases {
        let started = std::time::Instant::now();
        let on_kafkit = observe(case, &peers[0], &common).await;
        let on_kafka = observe(case, &peers[1], &common).await;
        if started.elapsed() > std::time::Duration::from_secs(5) {
            println!("slow case {}: {:?}", case.name, started.elapsed());
        }
        fields += on_kafkit.len().max(on_kafka.len());
        // A case that failed the same way on both brokers compared nothing: a case bug (say, a
        // field set that its version does not have), not agreement.
        if let (Some(a), Some(b)) = (on_kafkit.get("outcome"), on_kafka.get("outcome")) {
            if a == b && on_kafkit.len() == 1 {
                broken.push(format!("{}: {a}", case.name));
            }
        }
        for (field, a, b) in differences(&on_kafkit, &on_kafka) {
            found.insert((case.name.to_string(), field, a, b));
        }
    }
    assert!(broken.is_empty(), "cases that exchanged nothing: {broken:#?}");
    let listed = listed_deviations();
    let new: Vec<&Deviation> = found.difference(&listed).collect();
    let gone: Vec<&Deviation> = listed.difference(&found).collect();
    println!(
        "{} cases, {fields} fields compared on kafkit and {}: {} differences, {} listed in the README",
        cases.len(),
        kafka.name(),
        found.len(),
        listed.len()
    );
    if !new.is_empty() || !gone.is_empty() {
        println!("every difference found (README rows):");
        for d in &found {
            println!("{}", row(d));
        }
    }
    assert!(
        new.is_empty() && gone.is_empty(),
        "the README's deviation table is not exact.\nnot listed ({}):\n{}\nlisted but no longer found ({}):\n{}",
        new.len(),
        new.iter().map(|d| row(d)).collect::<Vec<_>>().join("\n"),
        gone.len(),
        gone.iter().map(|d| row(d)).collect::<Vec<_>>().join("\n"),
    );
    Ok(())
}
