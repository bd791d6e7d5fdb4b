//! Record batches for the cases, and what a peer stored, read back with Fetch and described
//! field by field.

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest};
use kafkit_protocol::record::{Batches, RecordBatchBuilder, RecordBatchMut};
use kafkit_protocol::Compression;

use crate::harness::{now_ms, topic_name, BoxError, Ctx};

/// A batch of `records` (timestamp, value) with keys `k0`, `k1`, ...
pub fn batch(codec: Compression, records: &[(i64, String)]) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(codec);
    for (i, (ts, value)) in records.iter().enumerate() {
        b.append(*ts, Some(format!("k{i}").as_bytes()), Some(value.as_bytes()), &[]);
    }
    b.build().map(<[u8]>::to_vec).unwrap_or_default()
}

/// A batch of `deltas.len()` records whose offset deltas are `deltas` (each below 64),
/// compressed with `codec`: crafted, since no producer sends it.
pub fn with_offset_deltas(codec: Compression, deltas: &[i32]) -> Vec<u8> {
    let now = now_ms();
    let mut b = RecordBatchBuilder::new(Compression::None);
    for i in 0..deltas.len() {
        b.append(now, Some(format!("k{i}").as_bytes()), Some(b"v"), &[]);
    }
    let plain = b.build().map(<[u8]>::to_vec).unwrap_or_default();
    let mut records = plain[61..].to_vec();
    let mut pos = 0;
    for &delta in deltas {
        // length (one byte here), attributes, timestamp delta (0), offset delta.
        let len = usize::from(records[pos] >> 1);
        records[pos + 3] = (delta << 1) as u8;
        pos += 1 + len;
    }
    let mut out = plain[..61].to_vec();
    if codec.compress(&records, &mut out).is_err() {
        return Vec::new();
    }
    let length = (out.len() - 12) as i32;
    out[8..12].copy_from_slice(&length.to_be_bytes());
    out[21..23].copy_from_slice(&i16::from(codec.id()).to_be_bytes());
    if let Ok(mut m) = RecordBatchMut::new(&mut out) {
        m.update_crc();
    }
    out
}

/// Everything stored in `topic`/`partition` from offset 0, as one line per batch and record:
/// batch fields (offsets, count, codec, timestamp type and max, producer fields, leader epoch,
/// CRC validity) and record fields (offset, timestamp, key, value, headers). Timestamps near
/// the wall clock read `now`, producer ids `set`.
pub async fn fetch_batches(ctx: &mut Ctx<'_>, topic: &str, partition: i32) -> Result<String, BoxError> {
    let version = ctx.version(ApiKey::Fetch);
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(4 << 20)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(0)
                .with_current_leader_epoch(-1)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(4 << 20)])]);
    let response = ctx.client().await?.send(version, &request).await?;
    let data = response
        .responses
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or("no partition in the Fetch response")?;
    let Some(records) = data.records.as_ref() else {
        return Ok("no records".to_string());
    };
    let time = |ts: i64| {
        if (ts - now_ms()).abs() < 600_000 {
            "now".to_string()
        } else {
            ts.to_string()
        }
    };
    let mut lines = Vec::new();
    let mut scratch = Vec::new();
    for b in Batches::new(records) {
        let b = b?;
        lines.push(format!(
            "batch base={} last_delta={} count={} codec={:?} ts_type={:?} max_ts={} pid={} epoch={} seq={} leader_epoch={} crc_ok={} txn={} control={}",
            b.base_offset(),
            b.last_offset_delta(),
            b.records_count(),
            b.compression(),
            b.timestamp_type(),
            time(b.max_timestamp()),
            if b.producer_id() >= 0 { "set".to_string() } else { b.producer_id().to_string() },
            b.producer_epoch(),
            b.base_sequence(),
            b.partition_leader_epoch(),
            b.is_crc_valid(),
            b.is_transactional(),
            b.is_control(),
        ));
        for r in b.records(&mut scratch, 64 << 20)? {
            let r = r?;
            let headers: Vec<String> = r
                .headers
                .clone()
                .map(|h| {
                    format!(
                        "{}={:?}",
                        String::from_utf8_lossy(h.key),
                        h.value.map(String::from_utf8_lossy)
                    )
                })
                .collect();
            lines.push(format!(
                "record offset={} delta={} ts={} key={:?} value={:?} headers={headers:?}",
                r.offset,
                r.offset_delta,
                time(r.timestamp),
                r.key.map(String::from_utf8_lossy),
                r.value.map(|v| if v.len() > 40 {
                    format!("{} bytes", v.len())
                } else {
                    String::from_utf8_lossy(v).to_string()
                }),
            ));
        }
    }
    Ok(lines.join(" / "))
}
