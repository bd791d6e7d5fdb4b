//! The bounded, in-CI form of the `log_recovery` fuzz target (fuzz/): recovery of a segment
//! holding arbitrary bytes, or valid batches with random damage, keeps exactly a prefix of valid
//! batches at contiguous offsets and never panics.

use kafkit_broker::storage::{partition_dir, LogConfig, PartitionLog};
use kafkit_protocol::record::{Batches, RecordBatchBuilder, RecordBatchMut};
use kafkit_protocol::Compression;
use proptest::prelude::*;

/// Writes `bytes` as the only segment (with the leader-epoch checkpoint a broker writes for
/// epoch 0) and recovers it; returns the kept batches' offsets.
fn recover(bytes: &[u8]) -> (Vec<(i64, i64)>, i64) {
    let root = tempfile::tempdir().expect("tmp");
    let dir = partition_dir(root.path(), "p", 0).expect("dir");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("00000000000000000000.log"), bytes).expect("write");
    std::fs::write(dir.join("leader-epoch-checkpoint"), "0\n1\n0 0\n").expect("write");
    let config = LogConfig {
        index_interval_bytes: 64,
        ..LogConfig::default()
    };
    let log = PartitionLog::open(&dir, config, false, 0).expect("recovery never fails on bad bytes");
    let mut kept = Vec::new();
    for chunk in log.batches_from(0) {
        let chunk = chunk.expect("read");
        for b in Batches::new(&chunk) {
            let b = b.expect("kept batches parse");
            assert!(b.is_crc_valid());
            kept.push((b.base_offset(), b.last_offset()));
        }
    }
    let _ = log.read(0, 1 << 20, true).expect("readable");
    (kept, log.log_end_offset())
}

/// A valid segment of `n` batches (offsets assigned as the broker would).
fn segment(n: usize, codec: Compression) -> (Vec<u8>, Vec<usize>) {
    let mut out = Vec::new();
    let mut ends = Vec::new();
    for i in 0..n {
        let mut b = RecordBatchBuilder::new(codec);
        for j in 0..=(i % 3) {
            b.append(
                1_700_000_000_000 + j as i64,
                Some(b"k"),
                Some(&[i as u8; 40]),
                &[],
            );
        }
        let mut bytes = b.build().expect("build").to_vec();
        let mut m = RecordBatchMut::new(&mut bytes).expect("batch");
        let base = out_offsets(&out);
        m.set_base_offset(base);
        m.set_partition_leader_epoch(0);
        out.extend_from_slice(&bytes);
        ends.push(out.len());
    }
    (out, ends)
}

fn out_offsets(bytes: &[u8]) -> i64 {
    Batches::new(bytes)
        .filter_map(Result::ok)
        .last()
        .map_or(0, |b| b.next_offset())
}

fn check_prefix(kept: &[(i64, i64)], leo: i64) {
    let mut next = 0;
    for &(base, last) in kept {
        assert_eq!(base, next, "contiguous");
        next = last + 1;
    }
    assert_eq!(next, leo);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bytes_recover_to_a_valid_prefix(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let (kept, leo) = recover(&bytes);
        check_prefix(&kept, leo);
    }

    #[test]
    fn damaged_segments_keep_the_batches_before_the_damage(
        n in 1usize..8,
        codec in 0u8..5,
        damage_at in any::<prop::sample::Index>(),
        mask in 1u8..=255,
        cut in any::<bool>(),
    ) {
        let (mut bytes, ends) = segment(n, Compression::from_id(codec).expect("codec"));
        let at = damage_at.index(bytes.len());
        if cut {
            bytes.truncate(at);
        } else {
            bytes[at] ^= mask;
        }
        let (kept, leo) = recover(&bytes);
        check_prefix(&kept, leo);
        // Exactly the batches that end before the damaged byte survive: the damaged batch and
        // everything after it are dropped (every byte of a batch is checked: framing, CRC, and
        // the base offset and leader epoch outside the CRC).
        let intact = ends.iter().filter(|&&end| end <= at).count();
        prop_assert_eq!(kept.len(), intact);
    }
}
