#![allow(missing_docs)] // criterion_group! generates undocumented items
//! The record batch builder and view beside kafka-protocol's `RecordBatchEncoder` and
//! `RecordBatchDecoder`, doing the same work in the same run:
//!
//! - build: 128 records of 100-byte values (and 1 record of 16 KiB) into one uncompressed v2
//!   batch, reusing the output buffer;
//! - read: check the CRC and walk every record of that batch.
//!
//! `kafka-protocol` is given its `Record`s ready-made (their construction is not timed);
//! `kafka-protocol+records` also builds them from the same inputs, which is the whole job a
//! producer using that crate does. Sequence fields are set so that it emits one batch, as ours
//! does.

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kafka_protocol::records::{
    Compression as CrateCompression, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
};
mod common;

use common::crate_records;
use kafkit_protocol::record::RecordBatchBuilder;
use kafkit_protocol::{Compression, RecordBatch};

struct Case {
    name: &'static str,
    count: usize,
    value_len: usize,
}

const CASES: [Case; 2] = [
    Case {
        name: "128x100B",
        count: 128,
        value_len: 100,
    },
    Case {
        name: "1x16KiB",
        count: 1,
        value_len: 16 * 1024,
    },
];

fn build(c: &mut Criterion) {
    let mut group = c.benchmark_group("build");
    for case in &CASES {
        group.throughput(Throughput::Elements(case.count as u64));
        let value = vec![0x61u8; case.value_len];
        let mut builder =
            RecordBatchBuilder::with_capacity(Compression::None, case.count * (case.value_len + 32));
        group.bench_function(BenchmarkId::new("kafkit", case.name), |b| {
            b.iter(|| {
                builder.reset();
                for i in 0..case.count {
                    builder.append(1_700_000_000_000 + i as i64, Some(b"key-0001"), Some(&value), &[]);
                }
                criterion::black_box(builder.build().expect("build").len())
            })
        });
        group.bench_function(BenchmarkId::new("kafka-protocol+records", case.name), |b| {
            let mut out = BytesMut::with_capacity(case.count * (case.value_len + 32) + 61);
            let options = RecordEncodeOptions {
                version: 2,
                compression: CrateCompression::None,
            };
            b.iter(|| {
                out.clear();
                let records = crate_records(case.count, case.value_len);
                RecordBatchEncoder::encode(&mut out, records.iter(), &options).expect("encode");
                criterion::black_box(out.len())
            })
        });
        let records = crate_records(case.count, case.value_len);
        let options = RecordEncodeOptions {
            version: 2,
            compression: CrateCompression::None,
        };
        let mut out = BytesMut::with_capacity(case.count * (case.value_len + 32) + 61);
        group.bench_function(BenchmarkId::new("kafka-protocol", case.name), |b| {
            b.iter(|| {
                out.clear();
                RecordBatchEncoder::encode(&mut out, records.iter(), &options).expect("encode");
                criterion::black_box(out.len())
            })
        });
    }
    group.finish();
}

fn read(c: &mut Criterion) {
    let mut group = c.benchmark_group("read");
    for case in &CASES {
        group.throughput(Throughput::Elements(case.count as u64));
        let value = vec![0x61u8; case.value_len];
        let mut builder = RecordBatchBuilder::new(Compression::None);
        for i in 0..case.count {
            builder.append(1_700_000_000_000 + i as i64, Some(b"key-0001"), Some(&value), &[]);
        }
        let batch = Bytes::copy_from_slice(builder.build().expect("build"));
        let mut scratch = Vec::new();
        group.bench_function(BenchmarkId::new("kafkit", case.name), |b| {
            b.iter(|| {
                let view = RecordBatch::parse(&batch).expect("parse");
                assert!(view.is_crc_valid());
                let mut total = 0usize;
                for r in view.records(&mut scratch, 1 << 24).expect("records") {
                    let r = r.expect("record");
                    total += r.value.map_or(0, <[u8]>::len) + r.key.map_or(0, <[u8]>::len);
                }
                criterion::black_box(total)
            })
        });
        group.bench_function(BenchmarkId::new("kafka-protocol", case.name), |b| {
            b.iter(|| {
                let mut buf = batch.clone();
                let set = RecordBatchDecoder::decode(&mut buf).expect("decode");
                let total: usize = set
                    .records
                    .iter()
                    .map(|r| r.value.as_ref().map_or(0, Bytes::len) + r.key.as_ref().map_or(0, Bytes::len))
                    .sum();
                criterion::black_box(total)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, build, read);
criterion_main!(benches);
