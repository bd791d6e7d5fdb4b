//! Fetch and ListOffsets.

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, ListOffsetsRequest};
use kafkit_protocol::record::Batches;
use kafkit_protocol::Compression;

use crate::harness::{topic_name, Case, CaseResult, Ctx};
use crate::produce::produce;
use crate::records::batch;

pub fn cases() -> Vec<Case> {
    crate::cases![
        fetch_from_zero,
        fetch_at_the_high_watermark,
        fetch_out_of_range,
        fetch_negative_offset,
        fetch_partition_max_bytes_below_a_batch,
        fetch_max_bytes_two_partitions,
        fetch_read_committed,
        fetch_unknown_topic,
        fetch_unknown_partition,
        fetch_waits_for_min_bytes,
        list_offsets_earliest_latest,
        list_offsets_empty_partition,
        list_offsets_by_timestamp,
        list_offsets_timestamp_beyond_the_last,
        list_offsets_max_timestamp,
        list_offsets_read_committed,
        list_offsets_unknown_partition,
        list_offsets_unknown_topic,
        fetch_by_topic_id,
        list_offsets_local_and_tiered,
    ]
}

/// Three batches (2, 1 and 3 records) with timestamps 1000, 3000 and 2000..2002 (so the
/// largest timestamp is in the second).
async fn three_batches(ctx: &mut Ctx<'_>, partitions: i32) -> Result<String, crate::harness::BoxError> {
    let topic = ctx.create_topic("t", partitions, &[]).await?;
    let version = ctx.version(ApiKey::Produce);
    let stamp = 1_700_000_000_000;
    let batches = [
        batch(
            Compression::None,
            &[(stamp + 1000, "a".into()), (stamp + 1000, "b".into())],
        ),
        batch(Compression::Lz4, &[(stamp + 3000, "c".into())]),
        batch(
            Compression::None,
            &[
                (stamp + 2000, "d".into()),
                (stamp + 2001, "e".into()),
                (stamp + 2002, "f".into()),
            ],
        ),
    ];
    for (i, b) in batches.into_iter().enumerate() {
        produce(ctx, &format!("setup{i}"), &topic, 0, -1, Some(b), version).await?;
    }
    Ok(topic)
}

/// A Fetch of `partitions` (partition, offset, partition max bytes) and what it answered.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn fetch(
    ctx: &mut Ctx<'_>,
    prefix: &str,
    topic: &str,
    partitions: &[(i32, i64, i32)],
    max_bytes: i32,
    isolation_level: i8,
    min_bytes: i32,
    max_wait_ms: i32,
) -> CaseResult {
    let version = ctx.version(ApiKey::Fetch);
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(max_bytes)
        .with_isolation_level(isolation_level)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(
                partitions
                    .iter()
                    .map(|&(p, offset, max)| {
                        FetchPartition::default()
                            .with_partition(p)
                            .with_fetch_offset(offset)
                            .with_current_leader_epoch(-1)
                            .with_last_fetched_epoch(-1)
                            .with_log_start_offset(-1)
                            .with_partition_max_bytes(max)
                    })
                    .collect(),
            )]);
    let started = std::time::Instant::now();
    let response = ctx.client().await?.send(version, &request).await?;
    ctx.see(format!("{prefix}.throttle_time_ms"), response.throttle_time_ms);
    ctx.code(format!("{prefix}.error"), response.error_code);
    ctx.see(format!("{prefix}.session_id"), response.session_id);
    if min_bytes > 1 {
        let waited = started.elapsed().as_millis() as i32 >= max_wait_ms * 9 / 10;
        ctx.see(format!("{prefix}.waited_max_wait"), waited);
    }
    for t in &response.responses {
        for p in &t.partitions {
            let at = format!("{prefix}.p{}", p.partition_index);
            ctx.code(format!("{at}.error"), p.error_code);
            ctx.see(format!("{at}.high_watermark"), p.high_watermark);
            ctx.see(format!("{at}.last_stable_offset"), p.last_stable_offset);
            ctx.see(format!("{at}.log_start_offset"), p.log_start_offset);
            ctx.see(
                format!("{at}.aborted_transactions"),
                p.aborted_transactions
                    .as_ref()
                    .map_or("null".to_string(), |a| a.len().to_string()),
            );
            ctx.node(format!("{at}.preferred_read_replica"), p.preferred_read_replica.0);
            ctx.see(
                format!("{at}.diverging_epoch"),
                format!("{}/{}", p.diverging_epoch.epoch, p.diverging_epoch.end_offset),
            );
            let batches: Vec<String> = match p.records.as_ref() {
                None => vec!["null".to_string()],
                Some(r) => Batches::new(r)
                    .map(|b| match b {
                        Ok(b) => format!("{}+{}", b.base_offset(), b.records_count()),
                        Err(e) => format!("partial ({e})"),
                    })
                    .collect(),
            };
            ctx.see(format!("{at}.batches"), format!("{batches:?}"));
        }
    }
    Ok(())
}

async fn fetch_from_zero(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = three_batches(ctx, 1).await?;
    fetch(ctx, "fetch", &topic, &[(0, 0, 1 << 20)], 50 << 20, 0, 1, 0).await
}

async fn fetch_at_the_high_watermark(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = three_batches(ctx, 1).await?;
    fetch(ctx, "fetch", &topic, &[(0, 6, 1 << 20)], 50 << 20, 0, 1, 0).await
}

async fn fetch_out_of_range(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = three_batches(ctx, 1).await?;
    fetch(ctx, "fetch", &topic, &[(0, 100, 1 << 20)], 50 << 20, 0, 1, 0).await
}

async fn fetch_negative_offset(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = three_batches(ctx, 1).await?;
    fetch(ctx, "fetch", &topic, &[(0, -5, 1 << 20)], 50 << 20, 0, 1, 0).await
}

/// partition_max_bytes of 10: the first batch still comes whole (KIP-74).
async fn fetch_partition_max_bytes_below_a_batch(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = three_batches(ctx, 1).await?;
    fetch(ctx, "fetch", &topic, &[(0, 0, 10)], 50 << 20, 0, 1, 0).await?;
    fetch(ctx, "middle", &topic, &[(0, 2, 10)], 50 << 20, 0, 1, 0).await
}

/// max_bytes of 10 over two partitions: the first partition's first batch comes, the second's
/// nothing.
async fn fetch_max_bytes_two_partitions(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 2, &[]).await?;
    let version = ctx.version(ApiKey::Produce);
    for p in 0..2 {
        let b = batch(Compression::None, &[(1_700_000_000_000, format!("p{p}"))]);
        produce(ctx, &format!("setup{p}"), &topic, p, -1, Some(b), version).await?;
    }
    fetch(
        ctx,
        "fetch",
        &topic,
        &[(0, 0, 1 << 20), (1, 0, 1 << 20)],
        10,
        0,
        1,
        0,
    )
    .await
}

/// isolation_level READ_COMMITTED without transactions: everything up to the high watermark.
async fn fetch_read_committed(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = three_batches(ctx, 1).await?;
    fetch(ctx, "fetch", &topic, &[(0, 0, 1 << 20)], 50 << 20, 1, 1, 0).await
}

async fn fetch_unknown_topic(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.topic_name("missing");
    fetch(ctx, "fetch", &topic, &[(0, 0, 1 << 20)], 50 << 20, 0, 1, 0).await
}

async fn fetch_unknown_partition(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = three_batches(ctx, 1).await?;
    fetch(ctx, "fetch", &topic, &[(4, 0, 1 << 20)], 50 << 20, 0, 1, 0).await
}

/// min_bytes above what the partition has: the answer waits max_wait_ms (300 ms), then comes
/// with what there is.
async fn fetch_waits_for_min_bytes(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = three_batches(ctx, 1).await?;
    fetch(
        ctx,
        "fetch",
        &topic,
        &[(0, 6, 1 << 20)],
        50 << 20,
        0,
        1 << 20,
        300,
    )
    .await
}

/// ListOffsets of `(partition, timestamp)` at `isolation_level`.
pub(crate) async fn list_offsets(
    ctx: &mut Ctx<'_>,
    prefix: &str,
    topic: &str,
    queries: &[(i32, i64)],
    isolation_level: i8,
) -> CaseResult {
    let version = ctx.version(ApiKey::ListOffsets);
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation_level)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                queries
                    .iter()
                    .map(|&(p, ts)| {
                        ListOffsetsPartition::default()
                            .with_partition_index(p)
                            .with_timestamp(ts)
                            .with_current_leader_epoch(-1)
                    })
                    .collect(),
            )]);
    let response = ctx.client().await?.send(version, &request).await?;
    ctx.see(format!("{prefix}.throttle_time_ms"), response.throttle_time_ms);
    // Keyed by partition: Kafka does not answer in request order.
    for p in response.topics.iter().flat_map(|t| &t.partitions) {
        let at = format!("{prefix}.p{}", p.partition_index);
        ctx.code(format!("{at}.error"), p.error_code);
        ctx.see(format!("{at}.offset"), p.offset);
        ctx.see(format!("{at}.timestamp"), p.timestamp);
        ctx.see(format!("{at}.leader_epoch"), p.leader_epoch);
    }
    Ok(())
}

async fn list_offsets_earliest_latest(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = three_batches(ctx, 1).await?;
    list_offsets(ctx, "earliest", &topic, &[(0, -2)], 0).await?;
    list_offsets(ctx, "latest", &topic, &[(0, -1)], 0).await
}

async fn list_offsets_empty_partition(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    list_offsets(ctx, "earliest", &topic, &[(0, -2)], 0).await?;
    list_offsets(ctx, "latest", &topic, &[(0, -1)], 0).await?;
    list_offsets(ctx, "max", &topic, &[(0, -3)], 0).await?;
    list_offsets(ctx, "by_time", &topic, &[(0, 5)], 0).await
}

/// The first offset whose timestamp is at or after the one asked (timestamps are not in
/// offset order here).
async fn list_offsets_by_timestamp(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = three_batches(ctx, 1).await?;
    let stamp = 1_700_000_000_000;
    for (i, ts) in [
        stamp,
        stamp + 1000,
        stamp + 1001,
        stamp + 2001,
        stamp + 2500,
        stamp + 3000,
    ]
    .into_iter()
    .enumerate()
    {
        list_offsets(ctx, &format!("at{i}"), &topic, &[(0, ts)], 0).await?;
    }
    Ok(())
}

async fn list_offsets_timestamp_beyond_the_last(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = three_batches(ctx, 1).await?;
    list_offsets(ctx, "beyond", &topic, &[(0, 1_800_000_000_000)], 0).await
}

/// MAX_TIMESTAMP (-3, v7+): the offset of the record with the largest timestamp.
async fn list_offsets_max_timestamp(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = three_batches(ctx, 1).await?;
    list_offsets(ctx, "max", &topic, &[(0, -3)], 0).await
}

async fn list_offsets_read_committed(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = three_batches(ctx, 1).await?;
    list_offsets(ctx, "latest", &topic, &[(0, -1)], 1).await?;
    list_offsets(ctx, "earliest", &topic, &[(0, -2)], 1).await
}

async fn list_offsets_unknown_partition(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = three_batches(ctx, 1).await?;
    list_offsets(ctx, "latest", &topic, &[(0, -1), (7, -1)], 0).await
}

async fn list_offsets_unknown_topic(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.topic_name("missing");
    list_offsets(ctx, "latest", &topic, &[(0, -1)], 0).await
}

/// Fetch at the highest common version (v18, Kafka 4.1): topics named by id, a known and an
/// unknown one.
async fn fetch_by_topic_id(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = three_batches(ctx, 1).await?;
    let id = ctx.topic_id(&topic).await?;
    let unknown = uuid::Uuid::from_u128(0x6b61_666b_6974_0000_0000_0000_0000_0003);
    let version = ctx.top_version(ApiKey::Fetch);
    ctx.see("version", version);
    let topic_entry = |topic_id| {
        FetchTopic::default()
            .with_topic_id(topic_id)
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_current_leader_epoch(-1)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(1 << 20)])
    };
    let request = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(50 << 20)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![topic_entry(id), topic_entry(unknown)]);
    let response = ctx.client().await?.send(version, &request).await?;
    ctx.code("error", response.error_code);
    ctx.see("node_endpoints", response.node_endpoints.len());
    for t in &response.responses {
        let label = if t.topic_id == id {
            "known"
        } else if t.topic_id == unknown {
            "unknown"
        } else {
            "other"
        };
        ctx.see(format!("{label}.name"), t.topic.0.as_str());
        for p in &t.partitions {
            let at = format!("{label}.p{}", p.partition_index);
            ctx.code(format!("{at}.error"), p.error_code);
            ctx.see(format!("{at}.high_watermark"), p.high_watermark);
            ctx.see(format!("{at}.log_start_offset"), p.log_start_offset);
            let batches = p.records.as_ref().map_or(0, |r| Batches::new(r).count());
            ctx.see(format!("{at}.batches"), batches);
        }
    }
    Ok(())
}

/// ListOffsets v8+ sentinels without tiered storage: EARLIEST_LOCAL (-4, v8) and LATEST_TIERED
/// (-5, v9), at the highest common version.
async fn list_offsets_local_and_tiered(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = three_batches(ctx, 1).await?;
    ctx.see("version", ctx.version(ApiKey::ListOffsets));
    list_offsets(ctx, "earliest_local", &topic, &[(0, -4)], 0).await?;
    list_offsets(ctx, "latest_tiered", &topic, &[(0, -5)], 0).await
}
