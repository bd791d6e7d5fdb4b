//! Produce: every validation rule of reference/broker-storage-spec.md, acks, and the
//! idempotent producer's sequence checks.

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TransactionalId};
use kafka_protocol::protocol::StrBytes;
use kafkit_protocol::record::{Header, RecordBatchBuilder, RecordBatchMut};
use kafkit_protocol::Compression;

use crate::harness::{mask_timestamps, now_ms, topic_name, Case, CaseResult, Ctx};
use crate::records::{batch, fetch_batches, with_offset_deltas};

pub fn cases() -> Vec<Case> {
    crate::cases![
        produce_acks_1,
        produce_acks_all,
        produce_acks_0_stores_without_answering,
        produce_invalid_acks,
        produce_gzip,
        produce_snappy,
        produce_lz4,
        produce_zstd,
        produce_zstd_below_v7,
        produce_bad_crc,
        produce_magic_1,
        produce_record_count_mismatch,
        produce_last_offset_delta_mismatch,
        produce_compressed_inner_offsets_not_sequential,
        produce_nonzero_base_offset,
        produce_two_batches,
        produce_no_records,
        produce_timestamp_after_max,
        produce_timestamp_before_max,
        produce_log_append_time_topic,
        produce_log_append_time_bit_under_create_time,
        produce_over_topic_max_message_bytes,
        produce_over_broker_message_max_bytes,
        produce_unknown_topic,
        produce_unknown_partition,
        produce_invalid_topic_name,
        produce_compacted_null_key,
        produce_transactional_id,
        produce_headers_and_nulls_round_trip,
        idempotent_first_batch,
        idempotent_duplicate,
        idempotent_out_of_order,
        idempotent_unknown_producer_any_sequence,
        idempotent_fenced_epoch,
        idempotent_new_epoch_nonzero_sequence,
        idempotent_no_sequence,
        idempotent_duplicate_outside_window,
        produce_by_topic_id,
    ]
}

/// Sends one partition's records and records the partition's answer as `<prefix>.*`.
pub async fn produce(
    ctx: &mut Ctx<'_>,
    prefix: &str,
    topic: &str,
    partition: i32,
    acks: i16,
    records: Option<Vec<u8>>,
    version: i16,
) -> CaseResult {
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(records.map(Bytes::from))])]);
    send_and_see(ctx, prefix, version, &request).await
}

async fn send_and_see(ctx: &mut Ctx<'_>, prefix: &str, version: i16, request: &ProduceRequest) -> CaseResult {
    let response: ProduceResponse = ctx.client().await?.send(version, request).await?;
    see_produce(ctx, prefix, version, &response);
    Ok(())
}

/// Records every field of a Produce response that the version carries.
pub fn see_produce(ctx: &mut Ctx<'_>, prefix: &str, version: i16, response: &ProduceResponse) {
    ctx.see(format!("{prefix}.throttle_time_ms"), response.throttle_time_ms);
    for topic in &response.responses {
        for p in &topic.partition_responses {
            let at = format!("{prefix}.p{}", p.index);
            ctx.code(format!("{at}.error"), p.error_code);
            ctx.see(format!("{at}.base_offset"), p.base_offset);
            ctx.time(format!("{at}.log_append_time_ms"), p.log_append_time_ms);
            if version >= 5 {
                ctx.see(format!("{at}.log_start_offset"), p.log_start_offset);
            }
            if version >= 8 {
                ctx.text(format!("{at}.error_message"), p.error_message.as_deref());
                let errors: Vec<String> = p
                    .record_errors
                    .iter()
                    .map(|e| {
                        let message = e.batch_index_error_message.as_deref().map_or("null", |m| m);
                        format!("{}: {}", e.batch_index, mask_timestamps(message))
                    })
                    .collect();
                ctx.see(format!("{at}.record_errors"), format!("{errors:?}"));
            }
            if version >= 10 {
                ctx.node(format!("{at}.current_leader.id"), p.current_leader.leader_id.0);
                ctx.see(
                    format!("{at}.current_leader.epoch"),
                    p.current_leader.leader_epoch,
                );
            }
        }
    }
    if version >= 10 {
        ctx.see(format!("{prefix}.node_endpoints"), response.node_endpoints.len());
    }
}

/// `n` records `v0`, `v1`, ... with keys `k0`, ... timestamped now.
fn values(n: usize, codec: Compression) -> Vec<u8> {
    let now = now_ms();
    let records: Vec<(i64, String)> = (0..n).map(|i| (now, format!("v{i}"))).collect();
    batch(codec, &records)
}

async fn one(ctx: &mut Ctx<'_>, acks: i16, codec: Compression) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let version = ctx.version(ApiKey::Produce);
    produce(ctx, "first", &topic, 0, acks, Some(values(3, codec)), version).await?;
    produce(ctx, "second", &topic, 0, acks, Some(values(2, codec)), version).await?;
    let stored = fetch_batches(ctx, &topic, 0).await?;
    ctx.see("stored", stored);
    Ok(())
}

/// acks=1, two batches: offsets 0 and 3.
async fn produce_acks_1(ctx: &mut Ctx<'_>) -> CaseResult {
    one(ctx, 1, Compression::None).await
}

/// acks=all.
async fn produce_acks_all(ctx: &mut Ctx<'_>) -> CaseResult {
    one(ctx, -1, Compression::None).await
}

/// acks=0: no response; the records are stored.
async fn produce_acks_0_stores_without_answering(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let version = ctx.version(ApiKey::Produce);
    let request = ProduceRequest::default()
        .with_acks(0)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(&topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from(values(4, Compression::None))))])]);
    ctx.client()
        .await?
        .send_without_response(version, &request)
        .await?;
    // The next answer on the connection is this ListOffsets': nothing came for the Produce.
    let stored = fetch_batches(ctx, &topic, 0).await?;
    ctx.see("stored", stored);
    Ok(())
}

/// acks=2: INVALID_REQUIRED_ACKS.
async fn produce_invalid_acks(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let version = ctx.version(ApiKey::Produce);
    produce(
        ctx,
        "produce",
        &topic,
        0,
        2,
        Some(values(1, Compression::None)),
        version,
    )
    .await
}

async fn produce_gzip(ctx: &mut Ctx<'_>) -> CaseResult {
    one(ctx, -1, Compression::Gzip).await
}

async fn produce_snappy(ctx: &mut Ctx<'_>) -> CaseResult {
    one(ctx, -1, Compression::Snappy).await
}

async fn produce_lz4(ctx: &mut Ctx<'_>) -> CaseResult {
    one(ctx, -1, Compression::Lz4).await
}

async fn produce_zstd(ctx: &mut Ctx<'_>) -> CaseResult {
    one(ctx, -1, Compression::Zstd).await
}

/// zstd in Produce v6: UNSUPPORTED_COMPRESSION_TYPE.
async fn produce_zstd_below_v7(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    produce(
        ctx,
        "produce",
        &topic,
        0,
        -1,
        Some(values(1, Compression::Zstd)),
        6,
    )
    .await
}

/// A flipped byte in the records: CORRUPT_MESSAGE.
async fn produce_bad_crc(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let mut b = values(2, Compression::None);
    let n = b.len();
    b[n - 3] ^= 0x55;
    let version = ctx.version(ApiKey::Produce);
    produce(ctx, "produce", &topic, 0, -1, Some(b), version).await
}

/// Magic 1 in a v2-sized batch.
async fn produce_magic_1(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let mut b = values(1, Compression::None);
    b[16] = 1;
    let version = ctx.version(ApiKey::Produce);
    produce(ctx, "produce", &topic, 0, -1, Some(b), version).await
}

/// records_count says 3, the batch holds 2 (CRC recomputed).
async fn produce_record_count_mismatch(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let mut b = values(2, Compression::None);
    b[57..61].copy_from_slice(&3i32.to_be_bytes());
    RecordBatchMut::new(&mut b)?.update_crc();
    let version = ctx.version(ApiKey::Produce);
    produce(ctx, "produce", &topic, 0, -1, Some(b), version).await
}

/// last_offset_delta says 5 for 2 records (CRC recomputed).
async fn produce_last_offset_delta_mismatch(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let mut b = values(2, Compression::None);
    b[23..27].copy_from_slice(&5i32.to_be_bytes());
    RecordBatchMut::new(&mut b)?.update_crc();
    let version = ctx.version(ApiKey::Produce);
    produce(ctx, "produce", &topic, 0, -1, Some(b), version).await
}

/// A gzip batch whose inner offset deltas are 0, 2, 3: accepted; the broker assigns the inner
/// offsets itself (what Fetch returns shows them).
async fn produce_compressed_inner_offsets_not_sequential(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let version = ctx.version(ApiKey::Produce);
    let b = with_offset_deltas(Compression::Gzip, &[0, 2, 3]);
    produce(ctx, "produce", &topic, 0, -1, Some(b), version).await?;
    let stored = fetch_batches(ctx, &topic, 0).await?;
    ctx.see("stored", stored);
    Ok(())
}

/// base offset 7: INVALID_RECORD.
async fn produce_nonzero_base_offset(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let mut b = values(1, Compression::None);
    RecordBatchMut::new(&mut b)?.set_base_offset(7);
    let version = ctx.version(ApiKey::Produce);
    produce(ctx, "produce", &topic, 0, -1, Some(b), version).await
}

/// Two batches in one partition's records.
async fn produce_two_batches(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let b = [values(1, Compression::None), values(1, Compression::None)].concat();
    let version = ctx.version(ApiKey::Produce);
    produce(ctx, "produce", &topic, 0, -1, Some(b), version).await
}

/// Empty records. (Null records are not a case: Kafka 4.1.1 fails on them with a
/// NullPointerException and leaves the request unanswered until the connection idles out; kafkit
/// answers INVALID_RECORD.)
async fn produce_no_records(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let version = ctx.version(ApiKey::Produce);
    produce(ctx, "empty", &topic, 0, -1, Some(Vec::new()), version).await
}

/// A record two hours ahead (message.timestamp.after.max.ms is one hour in Kafka 4).
async fn produce_timestamp_after_max(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let now = now_ms();
    let b = batch(
        Compression::Lz4,
        &[(now, "ok".into()), (now + 7_200_000, "late".into())],
    );
    let version = ctx.version(ApiKey::Produce);
    produce(ctx, "produce", &topic, 0, -1, Some(b), version).await
}

/// A record two hours old on a topic with message.timestamp.before.max.ms one hour.
async fn produce_timestamp_before_max(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx
        .create_topic("t", 1, &[("message.timestamp.before.max.ms", "3600000")])
        .await?;
    let now = now_ms();
    let b = batch(
        Compression::None,
        &[(now - 7_200_000, "old".into()), (now, "ok".into())],
    );
    let version = ctx.version(ApiKey::Produce);
    produce(ctx, "produce", &topic, 0, -1, Some(b), version).await
}

/// A LogAppendTime topic: any timestamp is accepted, the broker stamps its clock.
async fn produce_log_append_time_topic(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx
        .create_topic("t", 1, &[("message.timestamp.type", "LogAppendTime")])
        .await?;
    let b = batch(Compression::None, &[(1_000, "ancient".into())]);
    let version = ctx.version(ApiKey::Produce);
    produce(ctx, "produce", &topic, 0, -1, Some(b), version).await?;
    let stored = fetch_batches(ctx, &topic, 0).await?;
    ctx.see("stored", stored);
    Ok(())
}

/// The producer sets the LogAppendTime bit on a CreateTime topic.
async fn produce_log_append_time_bit_under_create_time(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let mut b = values(1, Compression::None);
    b[22] |= 0x08;
    RecordBatchMut::new(&mut b)?.update_crc();
    let version = ctx.version(ApiKey::Produce);
    produce(ctx, "produce", &topic, 0, -1, Some(b), version).await
}

/// A batch over the topic's max.message.bytes (200).
async fn produce_over_topic_max_message_bytes(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[("max.message.bytes", "200")]).await?;
    let b = batch(Compression::None, &[(now_ms(), "x".repeat(300))]);
    let version = ctx.version(ApiKey::Produce);
    produce(ctx, "produce", &topic, 0, -1, Some(b), version).await
}

/// A batch over the broker's message.max.bytes (1048588).
async fn produce_over_broker_message_max_bytes(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let b = batch(Compression::None, &[(now_ms(), "x".repeat(1_100_000))]);
    let version = ctx.version(ApiKey::Produce);
    produce(ctx, "produce", &topic, 0, -1, Some(b), version).await
}

/// A topic that does not exist (Produce never creates one).
async fn produce_unknown_topic(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.topic_name("missing");
    let version = ctx.version(ApiKey::Produce);
    produce(
        ctx,
        "produce",
        &topic,
        0,
        -1,
        Some(values(1, Compression::None)),
        version,
    )
    .await
}

/// Partition 3 of a one-partition topic.
async fn produce_unknown_partition(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let version = ctx.version(ApiKey::Produce);
    produce(
        ctx,
        "produce",
        &topic,
        3,
        -1,
        Some(values(1, Compression::None)),
        version,
    )
    .await
}

/// A name no topic can have.
async fn produce_invalid_topic_name(ctx: &mut Ctx<'_>) -> CaseResult {
    let version = ctx.version(ApiKey::Produce);
    produce(
        ctx,
        "produce",
        "bad/name",
        0,
        -1,
        Some(values(1, Compression::None)),
        version,
    )
    .await
}

/// A null key on a compacted topic: INVALID_RECORD with a record error.
async fn produce_compacted_null_key(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[("cleanup.policy", "compact")]).await?;
    let mut b = RecordBatchBuilder::new(Compression::None);
    b.append(now_ms(), Some(b"k"), Some(b"v"), &[]);
    b.append(now_ms(), None, Some(b"v"), &[]);
    let version = ctx.version(ApiKey::Produce);
    produce(ctx, "produce", &topic, 0, -1, Some(b.build()?.to_vec()), version).await
}

/// A transactional id on a plain batch.
async fn produce_transactional_id(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let version = ctx.version(ApiKey::Produce);
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str(
            "conformance-txn",
        ))))
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(&topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from(values(1, Compression::None))))])]);
    send_and_see(ctx, "produce", version, &request).await
}

/// Null and empty keys and values, repeated header keys, a null header value: stored as sent.
async fn produce_headers_and_nulls_round_trip(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let mut b = RecordBatchBuilder::new(Compression::Snappy);
    let h = [
        Header::new("a", Some(b"1")),
        Header::new("a", None),
        Header::new("", Some(b"")),
    ];
    b.append(1_700_000_000_000, None, None, &h);
    b.append(1_700_000_000_001, Some(b""), Some(b""), &[]);
    let version = ctx.version(ApiKey::Produce);
    produce(ctx, "produce", &topic, 0, -1, Some(b.build()?.to_vec()), version).await?;
    let stored = fetch_batches(ctx, &topic, 0).await?;
    ctx.see("stored", stored);
    Ok(())
}

/// An idempotent batch: `count` records, producer `(id, epoch)`, `sequence`.
fn idempotent(id: i64, epoch: i16, sequence: i32, count: usize) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(Compression::None);
    b.set_producer_state(id, epoch, sequence);
    for i in 0..count {
        b.append(
            now_ms(),
            None,
            Some(format!("s{}", sequence as usize + i).as_bytes()),
            &[],
        );
    }
    b.build().map(<[u8]>::to_vec).unwrap_or_default()
}

/// A producer id from the peer (InitProducerId, idempotent).
async fn producer_id(ctx: &mut Ctx<'_>) -> Result<i64, crate::harness::BoxError> {
    let version = ctx.version(ApiKey::InitProducerId);
    let request = kafka_protocol::messages::InitProducerIdRequest::default()
        .with_transaction_timeout_ms(60_000)
        .with_producer_id((-1).into())
        .with_producer_epoch(-1);
    let response = ctx.client().await?.send(version, &request).await?;
    Ok(response.producer_id.0)
}

async fn idempotent_steps(ctx: &mut Ctx<'_>, steps: &[(i16, i32, usize)]) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let id = producer_id(ctx).await?;
    let version = ctx.version(ApiKey::Produce);
    for (i, &(epoch, sequence, count)) in steps.iter().enumerate() {
        let b = idempotent(id, epoch, sequence, count);
        produce(ctx, &format!("step{i}"), &topic, 0, -1, Some(b), version).await?;
    }
    let stored = fetch_batches(ctx, &topic, 0).await?;
    ctx.see("stored", stored);
    Ok(())
}

/// Sequence 0 of a new producer.
async fn idempotent_first_batch(ctx: &mut Ctx<'_>) -> CaseResult {
    idempotent_steps(ctx, &[(0, 0, 2)]).await
}

/// The same batch twice: the second answered with the first's offset, not stored again.
async fn idempotent_duplicate(ctx: &mut Ctx<'_>) -> CaseResult {
    idempotent_steps(ctx, &[(0, 0, 2), (0, 2, 1), (0, 0, 2)]).await
}

/// A gap in the sequence.
async fn idempotent_out_of_order(ctx: &mut Ctx<'_>) -> CaseResult {
    idempotent_steps(ctx, &[(0, 0, 2), (0, 5, 1)]).await
}

/// A producer the broker has no state for may start at any sequence.
async fn idempotent_unknown_producer_any_sequence(ctx: &mut Ctx<'_>) -> CaseResult {
    idempotent_steps(ctx, &[(0, 17, 1), (0, 18, 1)]).await
}

/// Epoch 1 written, then epoch 0: fenced.
async fn idempotent_fenced_epoch(ctx: &mut Ctx<'_>) -> CaseResult {
    idempotent_steps(ctx, &[(0, 0, 1), (1, 0, 1), (0, 1, 1)]).await
}

/// A new epoch must start at sequence 0.
async fn idempotent_new_epoch_nonzero_sequence(ctx: &mut Ctx<'_>) -> CaseResult {
    idempotent_steps(ctx, &[(0, 0, 1), (1, 4, 1)]).await
}

/// A producer id without a sequence.
async fn idempotent_no_sequence(ctx: &mut Ctx<'_>) -> CaseResult {
    idempotent_steps(ctx, &[(0, -1, 1)]).await
}

/// A duplicate of the first of six batches (outside the five kept).
async fn idempotent_duplicate_outside_window(ctx: &mut Ctx<'_>) -> CaseResult {
    idempotent_steps(
        ctx,
        &[
            (0, 0, 1),
            (0, 1, 1),
            (0, 2, 1),
            (0, 3, 1),
            (0, 4, 1),
            (0, 5, 1),
            (0, 0, 1),
        ],
    )
    .await
}

/// Produce at the highest common version (v13, Kafka 4.1): topics named by id. A known id
/// appends; an unknown one is refused for each of its partitions.
async fn produce_by_topic_id(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.create_topic("t", 1, &[]).await?;
    let id = ctx.topic_id(&topic).await?;
    let version = ctx.top_version(ApiKey::Produce);
    ctx.see("version", version);
    let unknown = uuid::Uuid::from_u128(0x6b61_666b_6974_0000_0000_0000_0000_0002);
    for (label, topic_id) in [("known", id), ("unknown", unknown)] {
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_topic_id(topic_id)
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(Bytes::from(values(2, Compression::Lz4))))])]);
        let response: ProduceResponse = ctx.client().await?.send(version, &request).await?;
        see_produce(ctx, label, version, &response);
        for t in &response.responses {
            ctx.see(
                format!("{label}.topic_id"),
                if t.topic_id == id {
                    "the topic's"
                } else if t.topic_id == unknown {
                    "the unknown one"
                } else {
                    "other"
                },
            );
            ctx.see(format!("{label}.name"), t.name.0.as_str());
        }
    }
    let stored = fetch_batches(ctx, &topic, 0).await?;
    ctx.see("stored", stored);
    Ok(())
}
