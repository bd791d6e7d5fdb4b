//! The producer's heap stays within `buffer.memory` plus a constant, however many records go
//! through it.
//!
//! A counting global allocator tracks the live heap of this test binary. The broker is
//! librdkafka's mock cluster, whose memory (C `malloc`) is not counted, so the count is the
//! producer's own, plus the few bytes the test itself allocates. Each scenario makes the broker
//! the bottleneck so that `buffer.memory` fills up and sends wait for it (backpressure):
//!
//! - `slow_responses`: the broker answers every request 50 ms late (requests are written at
//!   once and held there, up to `max.in.flight.requests.per.connection` per connection);
//! - `slow_socket`: the connection to the broker takes 8 MB/s, so requests queue up in the
//!   producer's writer (a slow network or a broker that reads slowly);
//! - `lz4`: as `slow_responses`, compressed with lz4 (the values are noise, so batches keep
//!   their size);
//! - `large_records`: records of 20,000 bytes, more than `batch.size`, each in a batch of its
//!   own sized to it, with a broker answering 10 ms late.
//!
//! Each runs twice, with `n` and `4 * n` records (about 5 and 20 times `buffer.memory`), after
//! a warm-up run: the peak must stay under `buffer.memory + CONSTANT` (plus `LZ4_WORKSPACE`
//! with lz4) both times, and must not grow with the record count. Values are slices of one
//! buffer and futures are dropped as soon as `send` returns (records are delivered anyway;
//! `flush` waits for all of them), so the caller holds no per-record state.
//!
//! `CONSTANT` is what the producer keeps besides its batches; measured numbers and what they
//! are made of are in the crate docs ("Memory"). The test prints its measurements:
//!
//! ```text
//! cargo test -p kafkit-producer --test memory -- --nocapture
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use kafkit_producer::{BoxTransport, ConnectFuture, Connector, Producer, ProducerConfig, ProducerRecord};
use rdkafka::mocking::MockCluster;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; the counters are only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is `System::alloc`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation goes there).
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and `new_size` satisfies `realloc`'s contract (the caller's).
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const BUFFER_MEMORY: usize = 1 << 20;
/// Records of 100 bytes per run: about 5 times `buffer.memory`.
const RECORDS: usize = 50_000;
/// What the producer may hold besides `buffer.memory`: see the crate docs ("Memory").
const CONSTANT: usize = 256 << 10;
/// What compressing a batch with lz4 takes besides: `lz4_flex`'s frame encoder allocates a
/// 64 KiB input block, room for its compressed output and a 16 KiB hash table (about 145 KiB)
/// for each batch; the sender compresses one batch at a time.
const LZ4_WORKSPACE: usize = 192 << 10;
/// How much the peak may differ between 1x and 4x the records (allocator and timing noise).
const SLACK: usize = 64 << 10;

/// Connects over TCP; with `rate` set, writes to the broker go at most `rate` bytes/s.
#[derive(Debug)]
struct Throttled {
    rate: Option<usize>,
}

impl Connector for Throttled {
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> ConnectFuture<'a> {
        Box::pin(async move {
            let stream = TcpStream::connect((host, port)).await?;
            stream.set_nodelay(true)?;
            Ok(match self.rate {
                None => Box::new(stream) as BoxTransport,
                Some(rate) => Box::new(SlowWriter {
                    inner: stream,
                    rate,
                    budget: 0,
                    refill: Box::pin(tokio::time::sleep(Duration::ZERO)),
                }),
            })
        })
    }
}

/// Lets `rate` bytes per second through, in 1 ms slices.
struct SlowWriter {
    inner: TcpStream,
    rate: usize,
    budget: usize,
    refill: Pin<Box<Sleep>>,
}

impl AsyncRead for SlowWriter {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SlowWriter {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.budget == 0 {
            ready!(this.refill.as_mut().poll(cx));
            this.budget = (this.rate / 1000).max(1);
            let next = Instant::now() + Duration::from_millis(1);
            this.refill.as_mut().reset(next);
        }
        let n = buf.len().min(this.budget);
        let written = ready!(Pin::new(&mut this.inner).poll_write(cx, &buf[..n]))?;
        this.budget -= written;
        Poll::Ready(Ok(written))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Produces `records` records of the scenario's size with `buffer.memory` = 1 MiB and returns
/// the peak live heap above what was live before the producer started.
async fn peak_heap(bootstrap: &str, scenario: &Scenario, records: usize) -> usize {
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", bootstrap),
        ("buffer.memory", &BUFFER_MEMORY.to_string()),
        ("linger.ms", "5"),
        ("compression.type", scenario.compression),
    ])
    .expect("config");
    let connector = Throttled { rate: scenario.rate };
    // Values are slices of 1 MiB of noise (incompressible, and lz4's window is 64 KiB).
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Bytes = (0..1 << 20)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect::<Vec<u8>>()
        .into();
    let _ = noise.clone(); // the one allocation `Bytes` makes on its first clone
    let size = scenario.record_size;
    let base = settled_heap().await;
    PEAK.store(base, Ordering::Relaxed);
    let producer = Producer::with_connector(config, Arc::new(connector))
        .await
        .expect("connect");
    // Sends that found `buffer.memory` (nearly) full: backpressure engaged.
    let mut full = 0;
    for i in 0..records {
        let at = i * size % (noise.len() - size);
        let record = ProducerRecord::new("memory", noise.slice(at..at + size));
        drop(producer.send(record).await.expect("accepted"));
        let m = producer.metrics();
        full += usize::from(m.buffer_used + 16_384 > m.buffer_total);
    }
    producer.flush().await;
    let metrics = producer.metrics();
    producer.close(Duration::from_secs(10)).await;
    drop(producer);
    let peak = PEAK.load(Ordering::Relaxed) - base;
    assert_eq!(metrics.records_sent, records as u64, "{metrics:?}");
    assert!(full > 0, "buffer.memory never filled up: no backpressure");
    peak
}

/// The live heap once it has stopped changing: the tasks of the previous producer end
/// asynchronously after it closed, and what they free must not lower the next baseline.
async fn settled_heap() -> usize {
    let mut last = LIVE.load(Ordering::Relaxed);
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = LIVE.load(Ordering::Relaxed);
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A broker made slow in some way, and the records sent to it.
struct Scenario {
    name: &'static str,
    /// The broker answers this late.
    rtt: Duration,
    /// Writes to the broker go at most this many bytes/s.
    rate: Option<usize>,
    record_size: usize,
    /// Records in the first measured run; the second sends 4 times as many.
    records: usize,
    compression: &'static str,
    /// Allowed besides `CONSTANT` (the codec's working memory).
    codec: usize,
}

fn check(scenario: Scenario) {
    let name = scenario.name;
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("memory", 3, 1).expect("topic");
    cluster.broker_round_trip_time(-1, scenario.rtt).expect("rtt");
    let bootstrap = cluster.bootstrap_servers();
    let runtime = runtime();
    // A first run allocates what the process and the runtime keep afterwards (tokio's I/O
    // and timer slabs, thread locals...): not the producer's, so not measured.
    let n = scenario.records;
    runtime.block_on(peak_heap(&bootstrap, &scenario, n));
    let peaks: Vec<usize> = [n, 4 * n]
        .into_iter()
        .map(|n| runtime.block_on(peak_heap(&bootstrap, &scenario, n)))
        .collect();
    println!(
        "{name}: peak heap {} B ({} records), {} B ({} records); buffer.memory {BUFFER_MEMORY} B, \
         above it {} / {} B",
        peaks[0],
        n,
        peaks[1],
        4 * n,
        peaks[0] as i64 - BUFFER_MEMORY as i64,
        peaks[1] as i64 - BUFFER_MEMORY as i64,
    );
    let limit = BUFFER_MEMORY + CONSTANT + scenario.codec;
    for &peak in &peaks {
        assert!(
            peak <= limit,
            "{name}: peak heap {peak} B > {limit} B (buffer.memory {BUFFER_MEMORY} B + {} B)",
            limit - BUFFER_MEMORY
        );
    }
    assert!(
        peaks[1].abs_diff(peaks[0]) <= SLACK,
        "{name}: the peak grows with the record count: {peaks:?}"
    );
}

/// One test (the counters are global to the binary): the scenarios run one after the other.
#[test]
fn peak_heap_is_buffer_memory_plus_a_constant() {
    let small = Scenario {
        name: "slow_responses",
        rtt: Duration::from_millis(50),
        rate: None,
        record_size: 100,
        records: RECORDS,
        compression: "none",
        codec: 0,
    };
    check(Scenario {
        name: "slow_socket",
        rtt: Duration::ZERO,
        rate: Some(8_000_000),
        ..small
    });
    check(Scenario {
        name: "lz4",
        compression: "lz4",
        codec: LZ4_WORKSPACE,
        ..small
    });
    check(Scenario {
        name: "large_records",
        rtt: Duration::from_millis(10),
        record_size: 20_000,
        records: 250,
        ..small
    });
    check(small);
}
