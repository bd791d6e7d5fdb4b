//! Transactions: a transactional producer driven by hand (FindCoordinator, InitProducerId,
//! AddPartitionsToTxn, transactional Produce, EndTxn), what read_committed and
//! read_uncommitted Fetch and ListOffsets see before and after the markers, and the
//! coordinator's errors.

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, ApiKey, EndTxnRequest, GroupId, InitProducerIdRequest,
    OffsetFetchRequest, ProduceRequest, ProducerId, TransactionalId, TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::StrBytes;
use kafkit_protocol::{Compression, RecordBatchBuilder};

use crate::admin::locate_coordinator;
use crate::fetch::{fetch, list_offsets};
use crate::harness::{now_ms, topic_name, Case, CaseResult, Ctx};
use crate::produce::see_produce;

pub fn cases() -> Vec<Case> {
    crate::cases![
        txn_commit_and_abort,
        txn_coordinator_errors,
        txn_offsets,
        txn_describe_and_list
    ]
}

/// The versions a transaction-version-1 producer (Java's before KIP-890 part 2, librdkafka)
/// sends.
const ADD_PARTITIONS_VERSION: i16 = 3;
const END_TXN_VERSION: i16 = 4;
const PRODUCE_VERSION: i16 = 11;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// InitProducerId for `id` (after FindCoordinator, as a client does it); records the answer
/// under `at` and returns the producer id and epoch.
async fn init(ctx: &mut Ctx<'_>, at: &str, id: &str) -> Result<(i64, i16), crate::harness::BoxError> {
    locate_coordinator(ctx, 1, id.to_string()).await?;
    let version = ctx.version(ApiKey::InitProducerId);
    let request = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(sb(id))))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let mut tries = 0;
    let r = loop {
        let r = ctx.client().await?.send(version, &request).await?;
        tries += 1;
        // Kafka answers NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS while it loads.
        if ![14, 15, 16].contains(&r.error_code) || tries == 20 {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    ctx.code(format!("{at}.error"), r.error_code);
    ctx.see(format!("{at}.epoch"), r.producer_epoch);
    Ok((r.producer_id.0, r.producer_epoch))
}

async fn add_partitions(
    ctx: &mut Ctx<'_>,
    at: &str,
    id: &str,
    producer: (i64, i16),
    topic: &str,
    partitions: Vec<i32>,
) -> CaseResult {
    let request = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(sb(id)))
        .with_v3_and_below_producer_id(ProducerId(producer.0))
        .with_v3_and_below_producer_epoch(producer.1)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(partitions)]);
    // CONCURRENT_TRANSACTIONS while Kafka still writes the last transaction's markers:
    // clients retry, so the answer recorded is the one after that (tried for 5 s).
    let mut tries = 0;
    let r = loop {
        let r = ctx.client().await?.send(ADD_PARTITIONS_VERSION, &request).await?;
        let concurrent = r
            .results_by_topic_v3_and_below
            .iter()
            .flat_map(|t| &t.results_by_partition)
            .any(|p| p.partition_error_code == CONCURRENT_TRANSACTIONS);
        tries += 1;
        if !concurrent || tries == 50 {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    for t in &r.results_by_topic_v3_and_below {
        for p in &t.results_by_partition {
            ctx.code(format!("{at}.p{}", p.partition_index), p.partition_error_code);
        }
    }
    Ok(())
}

const CONCURRENT_TRANSACTIONS: i16 = 51;

/// Waits until no transaction holds `topic`'s partitions back (read_committed and
/// read_uncommitted latest offsets agree): Kafka writes markers after it answers EndTxn.
async fn settle(ctx: &mut Ctx<'_>, topic: &str) -> CaseResult {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let version = ctx.version(ApiKey::ListOffsets);
    let latest = |isolation: i8| {
        kafka_protocol::messages::ListOffsetsRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_isolation_level(isolation)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(
                    (0..2)
                        .map(|p| {
                            ListOffsetsPartition::default()
                                .with_partition_index(p)
                                .with_timestamp(-1)
                        })
                        .collect(),
                )])
    };
    for _ in 0..50 {
        let offsets = |r: kafka_protocol::messages::ListOffsetsResponse| {
            let mut o: Vec<(i32, i64)> = r
                .topics
                .iter()
                .flat_map(|t| &t.partitions)
                .map(|p| (p.partition_index, p.offset))
                .collect();
            o.sort();
            o
        };
        let committed = offsets(ctx.client().await?.send(version, &latest(1)).await?);
        let uncommitted = offsets(ctx.client().await?.send(version, &latest(0)).await?);
        if committed == uncommitted {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(format!("{topic}: a transaction stays open").into())
}

async fn end(ctx: &mut Ctx<'_>, at: &str, id: &str, producer: (i64, i16), commit: bool) -> CaseResult {
    let request = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(sb(id)))
        .with_producer_id(ProducerId(producer.0))
        .with_producer_epoch(producer.1)
        .with_committed(commit);
    let mut tries = 0;
    let r = loop {
        let r = ctx.client().await?.send(END_TXN_VERSION, &request).await?;
        tries += 1;
        if r.error_code != CONCURRENT_TRANSACTIONS || tries == 50 {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    ctx.code(format!("{at}.error"), r.error_code);
    Ok(())
}

/// A transactional batch of `count` records, sequence `sequence`.
fn txn_batch(producer: (i64, i16), sequence: i32, count: usize) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(Compression::None);
    b.set_producer_state(producer.0, producer.1, sequence);
    b.set_transactional(true);
    for i in 0..count {
        b.append(now_ms(), None, Some(format!("t{i}").as_bytes()), &[]);
    }
    b.build().map(<[u8]>::to_vec).unwrap_or_default()
}

async fn produce_txn(
    ctx: &mut Ctx<'_>,
    at: &str,
    id: Option<&str>,
    topic: &str,
    partition: i32,
    batch: Vec<u8>,
) -> CaseResult {
    let request = ProduceRequest::default()
        .with_transactional_id(id.map(|i| TransactionalId(sb(i))))
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch.into()))])]);
    let r = ctx.client().await?.send(PRODUCE_VERSION, &request).await?;
    see_produce(ctx, at, PRODUCE_VERSION, &r);
    Ok(())
}

/// Fetch and ListOffsets (latest) of both partitions at both isolation levels, as `<at>.*`.
async fn both_isolations(ctx: &mut Ctx<'_>, at: &str, topic: &str) -> CaseResult {
    for isolation in [0, 1] {
        let partitions = [(0, 0, 1 << 20), (1, 0, 1 << 20)];
        fetch(
            ctx,
            &format!("{at}.fetch{isolation}"),
            topic,
            &partitions,
            1 << 20,
            isolation,
            0,
            0,
        )
        .await?;
        list_offsets(
            ctx,
            &format!("{at}.latest{isolation}"),
            topic,
            &[(0, -1), (1, -1)],
            isolation,
        )
        .await?;
    }
    Ok(())
}

/// Commit on one partition, abort on the other, then fetches and offset lookups at both
/// isolation levels: the open transaction holds the last stable offset, the markers are
/// control batches after the data, the aborted transaction is named to read_committed.
async fn txn_commit_and_abort(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 2, &[]).await?;
    let id = ctx.topic_name("txn");
    let producer = init(ctx, "init", &id).await?;
    add_partitions(ctx, "add", &id, producer, &topic, vec![0, 1]).await?;
    produce_txn(ctx, "produce0", Some(&id), &topic, 0, txn_batch(producer, 0, 2)).await?;
    produce_txn(ctx, "produce1", Some(&id), &topic, 1, txn_batch(producer, 0, 3)).await?;
    both_isolations(ctx, "open", &topic).await?;
    end(ctx, "commit", &id, producer, true).await?;
    settle(ctx, &topic).await?;
    end(ctx, "commit_again", &id, producer, true).await?;
    end(ctx, "abort_after_commit", &id, producer, false).await?;
    add_partitions(ctx, "add_again", &id, producer, &topic, vec![1]).await?;
    produce_txn(
        ctx,
        "produce_aborted",
        Some(&id),
        &topic,
        1,
        txn_batch(producer, 3, 1),
    )
    .await?;
    end(ctx, "abort", &id, producer, false).await?;
    settle(ctx, &topic).await?;
    both_isolations(ctx, "done", &topic).await?;
    // A new producer with the transactional id fences the first.
    let (_, epoch) = init(ctx, "reinit", &id).await?;
    ctx.see("reinit.epoch_bumped", epoch == producer.1 + 1);
    end(ctx, "fenced_end", &id, producer, true).await?;
    add_partitions(ctx, "fenced_add", &id, producer, &topic, vec![0]).await?;
    Ok(())
}

/// The coordinator's refusals: unknown transactional ids and producer ids, unknown
/// partitions, ending a transaction that was never opened, and transactional batches outside
/// a transaction.
async fn txn_coordinator_errors(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 2, &[]).await?;
    let id = ctx.topic_name("txn");
    let producer = init(ctx, "init", &id).await?;
    let unknown = ctx.topic_name("unknown");
    locate_coordinator(ctx, 1, unknown.clone()).await?;
    add_partitions(ctx, "add_unknown_id", &unknown, producer, &topic, vec![0]).await?;
    add_partitions(
        ctx,
        "add_wrong_producer",
        &id,
        (producer.0 + 1000, 0),
        &topic,
        vec![0],
    )
    .await?;
    end(ctx, "end_never_opened", &id, producer, true).await?;
    end(ctx, "end_unknown_id", &unknown, producer, true).await?;
    produce_txn(
        ctx,
        "produce_not_added",
        Some(&id),
        &topic,
        0,
        txn_batch(producer, 0, 1),
    )
    .await?;
    produce_txn(
        ctx,
        "produce_without_id",
        None,
        &topic,
        0,
        txn_batch(producer, 0, 1),
    )
    .await?;
    let missing = ctx.topic_name("missing");
    let request = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(sb(&id)))
        .with_v3_and_below_producer_id(ProducerId(producer.0))
        .with_v3_and_below_producer_epoch(producer.1)
        .with_v3_and_below_topics(vec![
            AddPartitionsToTxnTopic::default()
                .with_name(topic_name(&topic))
                .with_partitions(vec![0, 7]),
            AddPartitionsToTxnTopic::default()
                .with_name(topic_name(&missing))
                .with_partitions(vec![0]),
        ]);
    let r = ctx.client().await?.send(ADD_PARTITIONS_VERSION, &request).await?;
    for t in &r.results_by_topic_v3_and_below {
        for p in &t.results_by_partition {
            ctx.code(
                format!("add_missing.{}.p{}", t.name.0, p.partition_index),
                p.partition_error_code,
            );
        }
    }
    Ok(())
}

async fn add_offsets(ctx: &mut Ctx<'_>, at: &str, id: &str, producer: (i64, i16), group: &str) -> CaseResult {
    let request = AddOffsetsToTxnRequest::default()
        .with_transactional_id(TransactionalId(sb(id)))
        .with_producer_id(ProducerId(producer.0))
        .with_producer_epoch(producer.1)
        .with_group_id(GroupId(sb(group)));
    let mut tries = 0;
    let r = loop {
        let r = ctx.client().await?.send(3, &request).await?;
        tries += 1;
        if r.error_code != CONCURRENT_TRANSACTIONS || tries == 50 {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    ctx.code(format!("{at}.error"), r.error_code);
    Ok(())
}

async fn txn_offset_commit(
    ctx: &mut Ctx<'_>,
    at: &str,
    id: &str,
    producer: (i64, i16),
    group: &str,
    topic: &str,
    offset: i64,
) -> CaseResult {
    let request = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(sb(id)))
        .with_group_id(GroupId(sb(group)))
        .with_producer_id(ProducerId(producer.0))
        .with_producer_epoch(producer.1)
        .with_generation_id(-1)
        .with_member_id(sb(""))
        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![
                TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(offset)
                    .with_committed_leader_epoch(-1)
                    .with_committed_metadata(Some(sb("txn"))),
                TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(9)
                    .with_committed_offset(offset),
            ])]);
    let r = ctx.client().await?.send(3, &request).await?;
    for t in &r.topics {
        for p in &t.partitions {
            ctx.code(format!("{at}.p{}", p.partition_index), p.error_code);
        }
    }
    Ok(())
}

async fn fetch_offset(ctx: &mut Ctx<'_>, at: &str, group: &str, topic: &str) -> CaseResult {
    fetch_offset_with(ctx, at, group, topic, false).await
}

/// OffsetFetch v7 of partition 0, with `require_stable` as given (KIP-447).
async fn fetch_offset_with(
    ctx: &mut Ctx<'_>,
    at: &str,
    group: &str,
    topic: &str,
    require_stable: bool,
) -> CaseResult {
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_require_stable(require_stable)
        .with_topics(Some(vec![
            kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partition_indexes(vec![0]),
        ]));
    let r = ctx.client().await?.send(7, &request).await?;
    ctx.code(format!("{at}.error"), r.error_code);
    for t in &r.topics {
        for p in &t.partitions {
            ctx.see(format!("{at}.p{}.offset", p.partition_index), p.committed_offset);
            ctx.code(format!("{at}.p{}.error", p.partition_index), p.error_code);
            ctx.text(
                format!("{at}.p{}.metadata", p.partition_index),
                p.metadata.as_deref(),
            );
        }
    }
    Ok(())
}

/// Offsets committed in a transaction: invisible until the commit, then visible; an aborted
/// transaction's are never visible; TxnOffsetCommit without AddOffsetsToTxn.
async fn txn_offsets(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let id = ctx.topic_name("txn");
    let group = ctx.topic_name("g");
    crate::groups::coordinator(ctx, &group).await?;
    let producer = init(ctx, "init", &id).await?;
    add_offsets(ctx, "add_offsets", &id, producer, &group).await?;
    txn_offset_commit(ctx, "commit_offsets", &id, producer, &group, &topic, 5).await?;
    fetch_offset(ctx, "before_end", &group, &topic).await?;
    // KIP-447: a consumer asking for stable offsets is told to retry while the transaction
    // holds one.
    fetch_offset_with(ctx, "before_end_stable", &group, &topic, true).await?;
    end(ctx, "commit", &id, producer, true).await?;
    // Kafka materializes them once the marker is written: wait for it (up to 5 s).
    for _ in 0..50 {
        let request = OffsetFetchRequest::default()
            .with_group_id(GroupId(sb(&group)))
            .with_topics(Some(vec![
                kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic::default()
                    .with_name(topic_name(&topic))
                    .with_partition_indexes(vec![0]),
            ]));
        let r = ctx.client().await?.send(7, &request).await?;
        if r.topics
            .iter()
            .flat_map(|t| &t.partitions)
            .any(|p| p.committed_offset == 5)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    fetch_offset(ctx, "after_commit", &group, &topic).await?;
    fetch_offset_with(ctx, "after_commit_stable", &group, &topic, true).await?;
    add_offsets(ctx, "add_offsets_again", &id, producer, &group).await?;
    txn_offset_commit(ctx, "commit_offsets_aborted", &id, producer, &group, &topic, 8).await?;
    end(ctx, "abort", &id, producer, false).await?;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    fetch_offset(ctx, "after_abort", &group, &topic).await?;
    txn_offset_commit(ctx, "without_add_offsets", &id, producer, &group, &topic, 9).await?;
    Ok(())
}

async fn describe_txn(ctx: &mut Ctx<'_>, at: &str, ids: &[&str]) -> CaseResult {
    let request = kafka_protocol::messages::DescribeTransactionsRequest::default()
        .with_transactional_ids(ids.iter().map(|i| TransactionalId(sb(i))).collect());
    let r = ctx.client().await?.send(0, &request).await?;
    for (i, t) in r.transaction_states.iter().enumerate() {
        let k = format!("{at}.{i}");
        ctx.code(format!("{k}.error"), t.error_code);
        ctx.see(format!("{k}.state"), t.transaction_state.as_str());
        ctx.see(format!("{k}.timeout_ms"), t.transaction_timeout_ms);
        ctx.time(format!("{k}.start_ms"), t.transaction_start_time_ms);
        ctx.see(format!("{k}.producer_id_set"), t.producer_id.0 >= 0);
        ctx.see(format!("{k}.epoch"), t.producer_epoch);
        // Kafka lists partitions in hash-set order.
        let topics: Vec<String> = t
            .topics
            .iter()
            .map(|d| {
                let mut partitions = d.partitions.clone();
                partitions.sort();
                format!("{}:{partitions:?}", d.topic.0)
            })
            .collect();
        ctx.see(format!("{k}.topics"), topics.join(" "));
    }
    Ok(())
}

async fn list_txn(
    ctx: &mut Ctx<'_>,
    at: &str,
    states: &[&str],
    pattern: Option<&str>,
    id: &str,
) -> CaseResult {
    let version = ctx.version(ApiKey::ListTransactions);
    let request = kafka_protocol::messages::ListTransactionsRequest::default()
        .with_state_filters(states.iter().map(|s| sb(s)).collect())
        .with_duration_filter(-1)
        .with_transactional_id_pattern(pattern.map(sb));
    let r = ctx.client().await?.send(version, &request).await?;
    ctx.code(format!("{at}.error"), r.error_code);
    let unknown: Vec<&str> = r.unknown_state_filters.iter().map(|s| s.as_str()).collect();
    ctx.see(format!("{at}.unknown_state_filters"), unknown.join(","));
    match r
        .transaction_states
        .iter()
        .find(|t| t.transactional_id.0.as_str() == id)
    {
        Some(t) => ctx.see(format!("{at}.listed_state"), t.transaction_state.as_str()),
        None => ctx.see(format!("{at}.listed_state"), "not listed"),
    }
    Ok(())
}

/// DescribeTransactions and ListTransactions of an open, then committed, transaction; an
/// unknown id; state filters (one unknown) and an id pattern.
async fn txn_describe_and_list(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 2, &[]).await?;
    let id = ctx.topic_name("txn");
    let unknown = ctx.topic_name("unknown");
    let producer = init(ctx, "init", &id).await?;
    describe_txn(ctx, "empty", &[&id]).await?;
    add_partitions(ctx, "add", &id, producer, &topic, vec![0, 1]).await?;
    describe_txn(ctx, "open", &[&id, &unknown]).await?;
    list_txn(ctx, "list_ongoing", &["Ongoing", "Bogus"], None, &id).await?;
    list_txn(ctx, "list_by_pattern", &[], Some(&format!("{id}|nothing")), &id).await?;
    list_txn(ctx, "list_other_pattern", &[], Some("nothing-.*"), &id).await?;
    end(ctx, "commit", &id, producer, true).await?;
    settle(ctx, &topic).await?;
    // Kafka moves to CompleteCommit once the markers are acknowledged (up to 5 s).
    for _ in 0..50 {
        let request = kafka_protocol::messages::DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![TransactionalId(sb(&id))]);
        let r = ctx.client().await?.send(0, &request).await?;
        if r.transaction_states
            .iter()
            .all(|t| t.transaction_state.as_str() == "CompleteCommit")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    describe_txn(ctx, "committed", &[&id]).await?;
    list_txn(ctx, "list_committed", &["CompleteCommit"], None, &id).await?;
    Ok(())
}
