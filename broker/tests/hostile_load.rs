//! Memory stays bounded under hostile load: the `kafkit-broker` binary is driven by peers that
//! send what a broken or malicious client would, phase by phase, and the growth of its resident
//! memory in each phase is measured (Linux: `/proc/<pid>/status`, peak reset through
//! `clear_refs` between phases) against a bound derived from the broker's limits. After every
//! phase the broker still serves a well-behaved client, and nothing invalid was appended.
//!
//! The bounds are far below what each attack costs a broker without the limit it tests: the
//! pipelined-fetch phase alone would buffer `CONNECTIONS x PIPELINED x 4 MiB` (gigabytes) if
//! responses piled up, a decompression bomb would inflate to 1 GiB per batch without the
//! decompressed-size cap, and a length prefix taken at its word would reserve 100 MiB per
//! connection.

#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, FetchRequest, ProduceRequest, ProduceResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafkit_producer::{Producer, ProducerConfig, ProducerRecord};
use kafkit_protocol::frame::{encode_request_frame, request_header, split_frame};
use kafkit_protocol::response::decode_response;
use kafkit_protocol::ErrorCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MIB: u64 = 1024 * 1024;
/// Records of 1000 bytes stored in the `data` topic before the attacks: 4 MiB and more.
const DATA_RECORDS: usize = 4_200;

/// The `kafkit-broker` binary, killed on drop.
struct Broker {
    child: Child,
    addr: String,
}

impl Broker {
    fn start() -> Broker {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kafkit-broker"))
            .args(["--listen", "127.0.0.1:0"])
            // A small decompressed-size cap keeps the bomb phase's bound tight; the default
            // (128 MiB) is enforced the same way.
            .args(["--config", "kafkit.max.decompressed.bytes=16777216"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn kafkit-broker");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("bootstrap line");
        Broker {
            child,
            addr: line.trim().to_string(),
        }
    }

    /// A field of `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`).
    fn status_bytes(&self, field: &str) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("read /proc status");
        let line = status
            .lines()
            .find(|l| l.starts_with(field))
            .unwrap_or_else(|| panic!("{field} in /proc status"));
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .expect("kB value");
        kib * 1024
    }

    /// Resets the peak resident size (`VmHWM`) to the current one; returns the current one.
    fn reset_peak(&self) -> u64 {
        std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/{}/clear_refs", self.child.id()))
            .and_then(|mut f| f.write_all(b"5"))
            .expect("reset the peak RSS through clear_refs");
        self.status_bytes("VmRSS")
    }

    /// Peak resident size since the last reset, minus `base`.
    fn peak_growth(&self, base: u64) -> u64 {
        self.status_bytes("VmHWM").saturating_sub(base)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn frame<B: kafka_protocol::protocol::Request>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &B,
) -> BytesMut {
    let mut out = BytesMut::new();
    let header = request_header(key, version, correlation_id, Some("hostile"));
    encode_request_frame(&mut out, &header, body).expect("encode");
    out
}

async fn read_frame(stream: &mut TcpStream, buf: &mut BytesMut) -> Option<Bytes> {
    loop {
        if let Some(frame) = split_frame(buf, 1 << 27).expect("frame") {
            return Some(frame);
        }
        let n = tokio::time::timeout(Duration::from_secs(20), stream.read_buf(buf))
            .await
            .expect("a reply within 20 s")
            .ok()?;
        if n == 0 {
            return None;
        }
    }
}

fn api_versions_request() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("hostile-test"))
        .with_client_software_version(StrBytes::from_static_str("1.0"))
}

/// A fresh connection answers ApiVersions: the broker is still serving.
async fn still_serves(addr: &str) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(&frame(ApiKey::ApiVersions, 3, 77, &api_versions_request()))
        .await
        .expect("write");
    let reply = read_frame(&mut s, &mut BytesMut::new()).await.expect("reply");
    let r = decode_response::<ApiVersionsResponse>(reply, 3).expect("decode");
    assert_eq!((r.header.correlation_id, r.body.error_code), (77, 0));
}

/// A v2 batch of one record whose zstd payload inflates to `inflated` zero bytes.
fn zstd_bomb(inflated: usize) -> Bytes {
    let mut encoder = zstd::stream::Encoder::new(Vec::new(), 3).expect("zstd");
    let chunk = vec![0u8; MIB as usize];
    let mut left = inflated;
    while left > 0 {
        let n = left.min(chunk.len());
        std::io::Write::write_all(&mut encoder, &chunk[..n]).expect("compress");
        left -= n;
    }
    let payload = encoder.finish().expect("finish");
    let mut b = BytesMut::new();
    b.put_i64(0); // base offset
    b.put_i32((49 + payload.len()) as i32); // batch length: from the leader epoch to the end
    b.put_i32(-1); // partition leader epoch
    b.put_i8(2); // magic
    b.put_u32(0); // crc, below
    b.put_i16(4); // attributes: zstd
    b.put_i32(0); // last offset delta
    b.put_i64(1_700_000_000_000); // base timestamp
    b.put_i64(1_700_000_000_000); // max timestamp
    b.put_i64(-1); // producer id
    b.put_i16(-1); // producer epoch
    b.put_i32(-1); // base sequence
    b.put_i32(1); // records count
    b.extend_from_slice(&payload);
    let crc = kafkit_protocol::record::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b.freeze()
}

fn produce_request(topic: &str, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])])
}

fn fetch_everything(topic: &str) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(i32::MAX)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(i32::MAX)])])
}

/// Log end offset of `topic`-0 as a producer sees it: the offset the next record gets.
async fn next_offset(producer: &Producer, topic: &str) -> i64 {
    producer
        .send(
            ProducerRecord::builder(topic.to_string())
                .partition(0)
                .value("probe")
                .build(),
        )
        .await
        .expect("accepted")
        .await
        .expect("delivered")
        .offset
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_under_hostile_load() {
    let broker = Broker::start();
    let addr = broker.addr.clone();
    let config = ProducerConfig::builder(addr.clone())
        .set("linger.ms", "5")
        .build()
        .expect("config");
    let producer = Producer::connect(config).await.expect("producer");
    let value = vec![b'x'; 1000];
    let mut deliveries = Vec::new();
    for _ in 0..DATA_RECORDS {
        let record = ProducerRecord::builder("data")
            .partition(0)
            .value(value.clone())
            .build();
        deliveries.push(producer.send(record).await.expect("accepted"));
    }
    for d in deliveries {
        d.await.expect("delivered");
    }
    let data_end = next_offset(&producer, "data").await;
    let bombed_end = next_offset(&producer, "bombed").await;
    still_serves(&addr).await;

    // Phase 1: connections that declare 100 MiB frames and send 1 MiB of each, then stall.
    // The broker holds what was sent (the frame is incomplete), never what was declared.
    let base = broker.reset_peak();
    let mut stalled = Vec::new();
    for _ in 0..32 {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        let mut bytes = BytesMut::new();
        bytes.put_i32(100 * MIB as i32);
        bytes.put_bytes(0, MIB as usize);
        s.write_all(&bytes).await.expect("write");
        stalled.push(s);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    still_serves(&addr).await;
    let grown = broker.peak_growth(base);
    eprintln!("RSS peak growth: {} KiB", grown / 1024);
    // 32 MiB sent; a growing read buffer may hold up to twice what it holds.
    assert!(grown < 96 * MIB, "partial frames: RSS grew {} MiB", grown / MIB);
    drop(stalled);

    // Phase 2: connections that pipeline hundreds of Fetch requests for all of `data` (4 MiB
    // each response) and never read a response.
    let base = broker.reset_peak();
    let mut pipelined = Vec::new();
    for c in 0..4 {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        let mut bytes = BytesMut::new();
        for i in 0..300 {
            bytes.extend_from_slice(&frame(ApiKey::Fetch, 11, c * 1000 + i, &fetch_everything("data")));
        }
        // The broker stops reading once it stops writing; the kernel's buffers take the rest.
        let _ = tokio::time::timeout(Duration::from_secs(2), s.write_all(&bytes)).await;
        pipelined.push(s);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    still_serves(&addr).await;
    let grown = broker.peak_growth(base);
    eprintln!("RSS peak growth: {} KiB", grown / 1024);
    // Per connection: one response being built and written (the records, the encoded frame)
    // and the 64 KiB write buffer.
    assert!(
        grown < 64 * MIB,
        "unread pipelined fetches: RSS grew {} MiB",
        grown / MIB
    );
    drop(pipelined);

    // Phase 3: decompression bombs (1 GiB of zeros in about 40 KiB of zstd), pipelined.
    let base = broker.reset_peak();
    let bomb = zstd_bomb(1024 * MIB as usize);
    assert!(bomb.len() < 1_000_000, "the bomb fits in message.max.bytes");
    let mut bombers = Vec::new();
    for c in 0..4 {
        let s = tokio::spawn({
            let addr = addr.clone();
            let bomb = bomb.clone();
            async move {
                let mut s = TcpStream::connect(&addr).await.expect("connect");
                let mut bytes = BytesMut::new();
                for i in 0..5 {
                    bytes.extend_from_slice(&frame(
                        ApiKey::Produce,
                        9,
                        c * 100 + i,
                        &produce_request("bombed", bomb.clone()),
                    ));
                }
                s.write_all(&bytes).await.expect("write");
                let mut buf = BytesMut::new();
                let mut codes = Vec::new();
                for _ in 0..5 {
                    let reply = read_frame(&mut s, &mut buf).await.expect("an error reply");
                    let r = decode_response::<ProduceResponse>(reply, 9).expect("decode");
                    codes.push(ErrorCode::from(
                        r.body.responses[0].partition_responses[0].error_code,
                    ));
                }
                codes
            }
        });
        bombers.push(s);
    }
    for b in bombers {
        let codes = b.await.expect("bomber");
        // kafkit's documented answer to a batch inflating past its cap (log_validator docs):
        // UNKNOWN_SERVER_ERROR, Kafka's answer to a batch that fails to decompress.
        assert_eq!(codes, [ErrorCode::UnknownServerError; 5], "every bomb is refused");
    }
    still_serves(&addr).await;
    let grown = broker.peak_growth(base);
    eprintln!("RSS peak growth: {} KiB", grown / 1024);
    // At most one bomb per runtime worker inflates at a time, each to the 16 MiB cap.
    assert!(
        grown < 64 * MIB,
        "decompression bombs: RSS grew {} MiB",
        grown / MIB
    );

    // Nothing invalid was appended, and well-behaved clients were served throughout.
    assert_eq!(next_offset(&producer, "bombed").await, bombed_end + 1);
    assert_eq!(next_offset(&producer, "data").await, data_end + 1);
    producer.close(Duration::from_secs(5)).await;
}
