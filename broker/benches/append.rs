//! Leader append throughput for 16 KiB batches: `PartitionLog::append_as_leader` alone (stamp,
//! epoch check, roll check, write at the end of the active segment, sparse index entries), and
//! with the produce validation in front of it (`log_validator::validate_records`).
//!
//! Each sample appends into a fresh partition log in a temp dir (default config: 1 GiB
//! segments, 4 KiB index interval, no fsync per append), appending the same pre-built batch
//! each iteration: the log writes from the caller's bytes (a stamped header beside the
//! records), as the produce path hands it the request's own buffer.

// `criterion_group!` generates an undocumented function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kafkit_broker::log_validator::{validate_records, ValidationConfig};
use kafkit_broker::storage::{partition_dir, LogConfig, PartitionLog};
use kafkit_protocol::{Compression, RecordBatchBuilder};

const T0: i64 = 1_700_000_000_000;

/// An uncompressed batch of about 16 KiB: 16 records of 1 KiB values.
fn batch_16k() -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(Compression::None);
    let value = vec![0x61u8; 1000];
    for i in 0..16 {
        b.append(T0 + i, Some(format!("key-{i}").as_bytes()), Some(&value), &[]);
    }
    b.into_vec().expect("build")
}

fn append(c: &mut Criterion) {
    let batch = batch_16k();
    let mut group = c.benchmark_group("partition_log");
    group.throughput(Throughput::Bytes(batch.len() as u64));
    group.bench_function(format!("append_as_leader/{}B", batch.len()), |b| {
        b.iter_custom(|iters| {
            let data = tempfile::tempdir().expect("tempdir");
            let dir = partition_dir(data.path(), "bench", 0).expect("dir");
            let mut log = PartitionLog::open(dir, LogConfig::default(), true, 0).expect("open");
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                log.append_as_leader(&batch, 0, T0).expect("append");
                elapsed += start.elapsed();
            }
            drop(log);
            elapsed
        });
    });
    // The whole produce path for one partition: Kafka's validation (framing, CRC-32C, every
    // record) and then the append.
    group.bench_function(format!("validate_and_append/{}B", batch.len()), |b| {
        b.iter_custom(|iters| {
            let data = tempfile::tempdir().expect("tempdir");
            let dir = partition_dir(data.path(), "bench", 0).expect("dir");
            let mut log = PartitionLog::open(dir, LogConfig::default(), true, 0).expect("open");
            let config = ValidationConfig::default();
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let valid = validate_records(&batch, 9, &config, T0, "bench-0").expect("valid");
                log.append_as_leader(&batch[..valid.size], 0, T0).expect("append");
                elapsed += start.elapsed();
            }
            drop(log);
            elapsed
        });
    });
    group.finish();

    // Validation alone for a 1 MiB batch of 100-byte records, as librdkafka's defaults send
    // them: the per-record walk Kafka's LogValidator makes (timestamps, offset deltas, framing).
    let big = batch_of_small_records();
    let mut group = c.benchmark_group("log_validator");
    group.throughput(Throughput::Elements(RECORDS_PER_MIB as u64));
    group.bench_function(format!("validate_records/{RECORDS_PER_MIB}x100B"), |b| {
        let config = ValidationConfig::default();
        b.iter(|| validate_records(&big, 9, &config, T0, "bench-0").expect("valid"));
    });
    group.finish();
}

/// Records of 100 bytes (no key) in a batch of about 1 MiB.
const RECORDS_PER_MIB: usize = 9_300;

fn batch_of_small_records() -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(Compression::None);
    let value = [0x61u8; 100];
    for i in 0..RECORDS_PER_MIB {
        b.append(T0 + (i as i64 / 100), None, Some(&value), &[]);
    }
    b.into_vec().expect("build")
}

criterion_group!(benches, append);
criterion_main!(benches);
