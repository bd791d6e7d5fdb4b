#![allow(missing_docs)] // a benchmark binary
//! The builder's speed as a ratio to kafka-protocol's `RecordBatchEncoder`, measured round by
//! round with the two interleaved: on a shared or virtual machine the speed of the whole
//! machine drifts by tens of percent between criterion's benchmarks (which run one after the
//! other), while within a round of a few milliseconds both sides see the same machine. Each
//! round times a block of kafkit builds and a block of kafka-protocol encodes of the same
//! records (order alternating between rounds); the report is the median and quartiles of the
//! per-round ratios. A third side, the floor, copies the same batch's bytes and takes their
//! CRC-32C: the work any builder of a contiguous batch must do, so `kafka-protocol / floor` is
//! the most any such builder could show.
//!
//! ```text
//! cargo bench -p kafkit-protocol --bench batch_ratio
//! ```
//!
//! Same work as `benches/batch.rs`: 128 records of 100-byte values (and 1 of 16 KiB), key
//! `key-0001`, no headers, uncompressed, output buffers reused; kafka-protocol is given ready
//! `Record`s (the comparison least favourable to kafkit).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use kafka_protocol::records::{Compression as CrateCompression, RecordBatchEncoder, RecordEncodeOptions};
mod common;

use common::crate_records;
use kafkit_protocol::record::{crc32c, RecordBatchBuilder};
use kafkit_protocol::Compression;

const ROUNDS: usize = 301;
const ROUND: Duration = Duration::from_millis(4);

/// Runs `f` repeatedly for about `ROUND`; returns nanoseconds per call.
fn time_block(mut f: impl FnMut() -> usize, iters: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(f());
    }
    start.elapsed().as_nanos() as f64 / iters as f64
}

fn main() {
    for (name, count, value_len) in [("128x100B", 128usize, 100usize), ("1x16KiB", 1, 16 * 1024)] {
        let value = vec![0x61u8; value_len];
        let mut builder = RecordBatchBuilder::with_capacity(Compression::None, count * (value_len + 32));
        let mut kafkit = || {
            builder.reset();
            for i in 0..count {
                builder.append(1_700_000_000_000 + i as i64, Some(b"key-0001"), Some(&value), &[]);
            }
            builder.build().map_or(0, <[u8]>::len)
        };
        let records = crate_records(count, value_len);
        let options = RecordEncodeOptions {
            version: 2,
            compression: CrateCompression::None,
        };
        let mut out = BytesMut::with_capacity(count * (value_len + 32) + 61);
        let mut encoder = || {
            out.clear();
            RecordBatchEncoder::encode(&mut out, records.iter(), &options).map_or(0, |()| out.len())
        };
        // The floor: the work no builder of a contiguous batch can skip, copying the batch's
        // bytes into a reused buffer and taking the CRC-32C of bytes 21..end with the same CRC
        // function as the builder.
        let batch: Vec<u8> = {
            let mut b = RecordBatchBuilder::new(Compression::None);
            for i in 0..count {
                b.append(1_700_000_000_000 + i as i64, Some(b"key-0001"), Some(&value), &[]);
            }
            b.build().expect("an uncompressed batch builds").to_vec()
        };
        let mut floor_buf: Vec<u8> = Vec::with_capacity(batch.len());
        let mut floor = || {
            floor_buf.clear();
            floor_buf.extend_from_slice(black_box(&batch));
            crc32c(&floor_buf[21..]) as usize
        };
        // Calibrate a block to about ROUND on the slowest side.
        let per_call = time_block(&mut encoder, 1000).max(1.0);
        let iters = ((ROUND.as_nanos() as f64 / per_call) as u64).max(10);
        let (mut ratios, mut floor_ratios, mut ours, mut theirs, mut floors) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            // Rotate the order so no side always runs first (or last) in a round.
            let mut t = [0.0f64; 3];
            for slot in 0..3 {
                match (round + slot) % 3 {
                    0 => t[0] = time_block(&mut kafkit, iters),
                    1 => t[1] = time_block(&mut encoder, iters),
                    _ => t[2] = time_block(&mut floor, iters),
                }
            }
            let [k, e, f] = t;
            ratios.push(e / k);
            floor_ratios.push(e / f);
            ours.push(k);
            theirs.push(e);
            floors.push(f);
        }
        let q = |v: &mut Vec<f64>, f: f64| {
            v.sort_by(f64::total_cmp);
            v[((v.len() - 1) as f64 * f) as usize]
        };
        println!(
            "build {name}: kafkit {:.0} ns, kafka-protocol {:.0} ns, copy+CRC floor {:.0} ns (medians); \
             ratio median {:.2}x, quartiles {:.2}x-{:.2}x over {ROUNDS} interleaved rounds; \
             a builder at the floor would be {:.2}x",
            q(&mut ours, 0.5),
            q(&mut theirs, 0.5),
            q(&mut floors, 0.5),
            q(&mut ratios, 0.5),
            q(&mut ratios, 0.25),
            q(&mut ratios, 0.75),
            q(&mut floor_ratios, 0.5),
        );
    }
}
