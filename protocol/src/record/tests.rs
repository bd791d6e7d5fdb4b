//! Tests of the record batch layer as a whole: golden bytes, round trips, stamping, and hostile
//! input at every byte position.

use proptest::prelude::*;
use rstest::rstest;

use super::*;
use crate::{Compression, ErrorCode};

/// The 70-byte batch of broker-storage-spec.md §10: key null, value "hi", CreateTime
/// 1700000000000, no producer, leader epoch -1.
const GOLDEN: &str = "0000000000000000 0000003a ffffffff 02 bbcc4115 0000 00000000 0000018bcfe56800 \
    0000018bcfe56800 ffffffffffffffff ffff ffffffff 00000001 10 00 00 00 01 04 6869 00";
/// The same batch after the leader assigned base offset 5 in leader epoch 0.
const GOLDEN_STAMPED: &str = "0000000000000005 0000003a 00000000 02 bbcc4115 0000 00000000 0000018bcfe56800 \
    0000018bcfe56800 ffffffffffffffff ffff ffffffff 00000001 10 00 00 00 01 04 6869 00";

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).expect("ascii"), 16).expect("hex"))
        .collect()
}

#[test]
fn builder_writes_the_golden_batch() {
    let mut b = RecordBatchBuilder::new(Compression::None);
    b.append(1_700_000_000_000, None, Some(b"hi"), &[]);
    assert_eq!(b.build().expect("build"), &hex(GOLDEN)[..]);
}

#[test]
fn view_reads_the_golden_batch() {
    let bytes = hex(GOLDEN);
    let batch = RecordBatch::parse(&bytes).expect("parse");
    assert_eq!(batch.size_in_bytes(), 70);
    assert_eq!(batch.batch_length(), 58);
    assert_eq!(batch.crc(), 0xbbcc_4115);
    assert!(batch.is_crc_valid());
    assert_eq!(batch.partition_leader_epoch(), -1);
    assert_eq!(
        (batch.base_timestamp(), batch.max_timestamp()),
        (1_700_000_000_000, 1_700_000_000_000)
    );
    assert_eq!(
        (batch.producer_id(), batch.producer_epoch(), batch.base_sequence()),
        (-1, -1, -1)
    );
    assert_eq!(batch.last_sequence(), -1);
    assert_eq!(batch.compression(), Some(Compression::None));
    assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
    batch.validate_header().expect("valid header");
    let mut scratch = Vec::new();
    let records: Vec<_> = batch
        .records(&mut scratch, 1 << 20)
        .expect("records")
        .collect::<Result<_, _>>()
        .expect("ok");
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(
        (r.offset, r.timestamp, r.key, r.value),
        (0, 1_700_000_000_000, None, Some(&b"hi"[..]))
    );
    assert!(r.headers.is_empty());
}

#[test]
fn stamping_offset_and_epoch_changes_only_their_bytes() {
    let mut bytes = hex(GOLDEN);
    let mut batch = RecordBatchMut::new(&mut bytes).expect("batch");
    batch.set_base_offset(5);
    batch.set_partition_leader_epoch(0);
    // Kafka's rule: same type and max timestamp, so nothing changes and the CRC stays.
    assert!(!batch.set_max_timestamp(TimestampType::CreateTime, 1_700_000_000_000));
    assert_eq!(bytes, hex(GOLDEN_STAMPED));
    let view = RecordBatch::parse(&bytes).expect("parse");
    assert!(view.is_crc_valid());
    assert_eq!(
        (
            view.base_offset(),
            view.last_offset(),
            view.partition_leader_epoch()
        ),
        (5, 5, 0)
    );
}

#[test]
fn log_append_time_rewrites_attributes_and_crc() {
    let mut bytes = hex(GOLDEN);
    let mut batch = RecordBatchMut::new(&mut bytes).expect("batch");
    assert!(batch.set_max_timestamp(TimestampType::LogAppendTime, 1_800_000_000_000));
    let view = RecordBatch::parse(&bytes).expect("parse");
    assert!(view.is_crc_valid());
    assert_ne!(view.crc(), 0xbbcc_4115);
    assert_eq!(view.timestamp_type(), TimestampType::LogAppendTime);
    let mut scratch = Vec::new();
    let r = view
        .records(&mut scratch, 1024)
        .expect("records")
        .next()
        .expect("one")
        .expect("ok");
    assert_eq!(
        r.timestamp, 1_800_000_000_000,
        "LogAppendTime records take the batch max timestamp"
    );
    let mut bytes2 = bytes.clone();
    let mut again = RecordBatchMut::new(&mut bytes2).expect("batch");
    assert!(again.set_max_timestamp(TimestampType::CreateTime, 1_700_000_000_000));
    assert_eq!(bytes2, hex(GOLDEN), "switching back restores the original bytes");
}

#[test]
fn producer_state_restamp_keeps_crc_valid() {
    let mut b = RecordBatchBuilder::new(Compression::Zstd);
    b.set_producer_state(7, 1, 0);
    for i in 0..10 {
        b.append(i, Some(b"k"), Some(b"v"), &[]);
    }
    let mut bytes = b.build().expect("build").to_vec();
    let mut m = RecordBatchMut::new(&mut bytes).expect("batch");
    m.set_producer_state(7, 2, 40);
    let v = m.view();
    assert!(v.is_crc_valid());
    assert_eq!(
        (
            v.producer_id(),
            v.producer_epoch(),
            v.base_sequence(),
            v.last_sequence()
        ),
        (7, 2, 40, 49)
    );
}

#[rstest]
#[case(0, 0, 0)]
#[case(5, 4, 9)]
#[case(i32::MAX, 0, i32::MAX)]
#[case(i32::MAX, 1, 0)]
#[case(i32::MAX - 1, 3, 1)]
fn sequences_wrap_like_kafka(#[case] base: i32, #[case] delta: i32, #[case] last: i32) {
    assert_eq!(view::increment_sequence(base, delta), last);
}

#[derive(Debug, Clone)]
struct TestRecord {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fn arb_bytes() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Vec::new())),
        4 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(Some),
    ]
}

fn arb_record() -> impl Strategy<Value = TestRecord> {
    let timestamp = prop_oneof![
        Just(-1i64),
        Just(0i64),
        -1_000_000i64..4_000_000_000_000,
        any::<i64>()
    ];
    let header_key = prop_oneof![Just("dup".to_string()), "[a-z]{0,8}"];
    let headers = proptest::collection::vec((header_key, arb_bytes()), 0..4);
    (timestamp, arb_bytes(), arb_bytes(), headers).prop_map(|(timestamp, key, value, headers)| TestRecord {
        timestamp,
        key,
        value,
        headers,
    })
}

fn build(codec: Compression, records: &[TestRecord]) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(codec);
    for r in records {
        let headers: Vec<Header<'_>> = r
            .headers
            .iter()
            .map(|(k, v)| Header::new(k, v.as_deref()))
            .collect();
        let before = b.uncompressed_size();
        let added = b.append(r.timestamp, r.key.as_deref(), r.value.as_deref(), &headers);
        assert_eq!(b.uncompressed_size() - before, added);
        assert!(
            added
                <= RecordBatchBuilder::record_size_upper_bound(
                    r.key.as_deref(),
                    r.value.as_deref(),
                    &headers
                )
        );
    }
    b.build().expect("build").to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The header a leader writes beside the untouched records is byte for byte what stamping
    /// the whole batch in place makes, for every timestamp outcome (unchanged, LogAppendTime,
    /// a corrected CreateTime max), so the stored batch's CRC holds.
    #[test]
    fn stamped_header_and_records_equal_the_batch_stamped_in_place(
        records in proptest::collection::vec(arb_record(), 1..20),
        codec in prop_oneof![Just(Compression::None), Just(Compression::Lz4)],
        base_offset in any::<i64>(),
        epoch in any::<i32>(),
        log_append in any::<bool>(),
        max_timestamp in prop_oneof![Just(None), any::<i64>().prop_map(Some)],
    ) {
        let sent = build(codec, &records);
        let view = RecordBatch::parse(&sent).expect("parse");
        let timestamp = if log_append {
            (TimestampType::LogAppendTime, max_timestamp.unwrap_or(1_800_000_000_000))
        } else {
            (TimestampType::CreateTime, max_timestamp.unwrap_or(view.max_timestamp()))
        };
        let head = view.stamped_header(base_offset, epoch, timestamp);

        let mut in_place = sent.clone();
        let mut m = RecordBatchMut::new(&mut in_place).expect("batch");
        m.set_base_offset(base_offset);
        m.set_partition_leader_epoch(epoch);
        m.set_max_timestamp(timestamp.0, timestamp.1);
        let written = [&head[..], view.records_bytes()].concat();
        prop_assert_eq!(&written, &in_place);
        prop_assert!(RecordBatch::parse(&written).expect("parse").is_crc_valid());
    }
}

/// The CRC used for batches agrees with the `crc32c` crate (an independent implementation) at
/// every length up to 600 bytes and every start alignment within 64 bytes: the SIMD folding
/// paths switch on length and the loads on alignment.
#[test]
fn crc32c_agrees_with_the_crc32c_crate_at_every_length_and_alignment() {
    let data: Vec<u8> = (0..700u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for start in 0..64 {
        for len in 0..=600 {
            let slice = &data[start..start + len];
            assert_eq!(crc32c(slice), ::crc32c::crc32c(slice), "start {start}, len {len}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn crc32c_agrees_with_the_crc32c_crate(data in proptest::collection::vec(any::<u8>(), 0..70_000), start in 0usize..64) {
        let slice = &data[start.min(data.len())..];
        prop_assert_eq!(crc32c(slice), ::crc32c::crc32c(slice));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn batches_round_trip(records in proptest::collection::vec(arb_record(), 1..20), id in 0u8..5) {
        let codec = Compression::from_id(id).expect("codec");
        let bytes = build(codec, &records);
        let batch = RecordBatch::parse(&bytes).expect("parse");
        prop_assert!(batch.is_crc_valid());
        batch.validate_header().expect("valid");
        prop_assert_eq!(batch.records_count() as usize, records.len());
        prop_assert_eq!(batch.compression(), Some(codec));
        let max_ts = records.iter().map(|r| r.timestamp).max().expect("non-empty");
        prop_assert_eq!(batch.max_timestamp(), max_ts.max(-1));
        let mut scratch = Vec::new();
        let read: Vec<_> = batch.records(&mut scratch, 1 << 24).expect("records").collect::<Result<_, _>>().expect("ok");
        prop_assert_eq!(read.len(), records.len());
        for (i, (got, want)) in read.iter().zip(&records).enumerate() {
            prop_assert_eq!(got.offset_delta as usize, i);
            prop_assert_eq!(got.timestamp, want.timestamp);
            prop_assert_eq!(got.key, want.key.as_deref());
            prop_assert_eq!(got.value, want.value.as_deref());
            let headers: Vec<(&[u8], Option<&[u8]>)> = got.headers.clone().map(|h| (h.key, h.value)).collect();
            let expected: Vec<(&[u8], Option<&[u8]>)> = want.headers.iter().map(|(k, v)| (k.as_bytes(), v.as_deref())).collect();
            prop_assert_eq!(headers, expected);
        }
    }
}

/// Cutting or flipping any byte of a batch yields an error or a different valid reading, never
/// a panic; the CRC catches every single flipped byte inside the checksummed range.
#[rstest]
fn every_truncation_and_flip_is_handled(#[values(0, 1, 2, 3, 4)] id: u8) {
    let codec = Compression::from_id(id).expect("codec");
    let records = vec![
        TestRecord {
            timestamp: 10,
            key: Some(b"key".to_vec()),
            value: None,
            headers: vec![("a".into(), None)],
        },
        TestRecord {
            timestamp: 5,
            key: None,
            value: Some(vec![7; 100]),
            headers: vec![],
        },
    ];
    let bytes = build(codec, &records);
    let drain = |bytes: &[u8]| {
        if let Ok(batch) = RecordBatch::parse(bytes) {
            let _ = batch.validate_header();
            let mut scratch = Vec::new();
            if let Ok(iter) = batch.records(&mut scratch, 1 << 16) {
                for r in iter.flatten() {
                    let _ = r.headers.count();
                }
            }
        }
    };
    for cut in 0..bytes.len() {
        assert!(
            RecordBatch::parse(&bytes[..cut]).is_err(),
            "a cut at {cut} must not parse"
        );
        drain(&bytes[..cut]);
    }
    for pos in 0..bytes.len() {
        for mask in [0x01, 0x80, 0xff] {
            let mut flipped = bytes.clone();
            flipped[pos] ^= mask;
            if pos >= offsets::ATTRIBUTES {
                if let Ok(batch) = RecordBatch::parse(&flipped) {
                    assert!(!batch.is_crc_valid(), "flip at {pos} must break the crc");
                }
            }
            drain(&flipped);
        }
    }
}

/// Record bodies that lie about their structure get Kafka's INVALID_RECORD, with a valid CRC
/// (so only the record parser can catch them).
#[rstest]
#[case::count_too_high(|b: &mut Vec<u8>| { b[60] = 2; })]
#[case::trailing_bytes(|b: &mut Vec<u8>| { b.push(0); })]
#[case::record_length_too_long(|b: &mut Vec<u8>| { b[61] = 0x12; })]
#[case::record_length_too_short(|b: &mut Vec<u8>| { b[61] = 0x0e; })]
#[case::negative_header_count(|b: &mut Vec<u8>| { let n = b.len(); b[n - 1] = 0x01; })]
fn malformed_records_are_invalid_record(#[case] damage: fn(&mut Vec<u8>)) {
    let mut bytes = hex(GOLDEN);
    damage(&mut bytes);
    let len = (bytes.len() - LOG_OVERHEAD) as i32;
    bytes[8..12].copy_from_slice(&len.to_be_bytes());
    let mut m = RecordBatchMut::new(&mut bytes).expect("frame still parses");
    m.update_crc();
    let batch = RecordBatch::parse(&bytes).expect("parse");
    let mut scratch = Vec::new();
    let err = batch
        .records(&mut scratch, 1024)
        .expect("iter")
        .find_map(Result::err)
        .expect("an error");
    assert_eq!(err.error_code(), ErrorCode::InvalidRecord, "{err}");
}

#[rstest]
#[case::zero_count(57, 0, ErrorCode::InvalidRecord)]
#[case::count_mismatch(57, 3, ErrorCode::InvalidRecord)]
#[case::negative_delta(23, -1, ErrorCode::InvalidRecord)]
fn header_checks_follow_log_validator(#[case] at: usize, #[case] value: i32, #[case] code: ErrorCode) {
    let mut bytes = hex(GOLDEN);
    bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
    let err = RecordBatch::parse(&bytes)
        .expect("parse")
        .validate_header()
        .expect_err("invalid");
    assert_eq!(err.error_code(), code);
}

#[test]
fn control_and_sequence_and_codec_checks() {
    let with_attr = |attr: i16| {
        let mut bytes = hex(GOLDEN);
        bytes[21..23].copy_from_slice(&attr.to_be_bytes());
        bytes
    };
    let b = with_attr(attributes::CONTROL);
    assert_eq!(
        RecordBatch::parse(&b)
            .expect("parse")
            .validate_header()
            .expect_err("control")
            .error_code(),
        ErrorCode::InvalidRecord
    );
    let b = with_attr(5);
    assert_eq!(
        RecordBatch::parse(&b)
            .expect("parse")
            .validate_header()
            .expect_err("codec")
            .error_code(),
        ErrorCode::UnknownServerError
    );
    let mut b = hex(GOLDEN);
    b[43..51].copy_from_slice(&9i64.to_be_bytes());
    assert_eq!(
        RecordBatch::parse(&b)
            .expect("parse")
            .validate_header()
            .expect_err("seq")
            .error_code(),
        ErrorCode::InvalidRecord
    );
}

#[rstest]
#[case::short_length(8, 13, ErrorCode::CorruptMessage)]
#[case::header_too_short(8, 40, ErrorCode::CorruptMessage)]
#[case::bad_magic(16, 7, ErrorCode::CorruptMessage)]
#[case::old_magic(16, 1, ErrorCode::InvalidRecord)]
fn batch_framing_errors(#[case] at: usize, #[case] value: i32, #[case] code: ErrorCode) {
    let mut bytes = hex(GOLDEN);
    if at == 16 {
        bytes[16] = value as u8;
    } else {
        bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
    }
    let err = Batches::new(&bytes).next().expect("an item").expect_err("error");
    assert_eq!(err.error_code(), code, "{err}");
}

#[test]
fn batches_iterates_a_log_and_stops_at_a_partial_tail() {
    let one = hex(GOLDEN);
    let mut log = Vec::new();
    for i in 0..3i64 {
        let mut b = one.clone();
        RecordBatchMut::new(&mut b).expect("batch").set_base_offset(i);
        log.extend_from_slice(&b);
    }
    log.extend_from_slice(&one[..30]);
    let mut it = Batches::new(&log);
    let offsets: Vec<i64> = it.by_ref().map(|b| b.expect("ok").base_offset()).collect();
    assert_eq!(offsets, [0, 1, 2]);
    assert_eq!(it.position(), 210);
    assert_eq!(it.remaining().len(), 30);
}

#[test]
fn decompression_is_capped_by_the_callers_limit() {
    let records: Vec<TestRecord> = (0..100)
        .map(|i| TestRecord {
            timestamp: i,
            key: None,
            value: Some(vec![0; 10_000]),
            headers: vec![],
        })
        .collect();
    let bytes = build(Compression::Zstd, &records);
    assert!(bytes.len() < 10_000, "compresses well: {}", bytes.len());
    let batch = RecordBatch::parse(&bytes).expect("parse");
    let mut scratch = Vec::new();
    let err = batch.records(&mut scratch, 100_000).expect_err("over the limit");
    assert_eq!(err.error_code(), ErrorCode::UnknownServerError);
}

#[test]
fn empty_builder_refuses_to_build_and_reset_reuses() {
    let mut b = RecordBatchBuilder::new(Compression::Gzip);
    assert!(b.build().is_err());
    b.set_producer_state(1, 0, 0);
    b.append(1, None, Some(b"x"), &[]);
    let first = b.build().expect("build").to_vec();
    b.reset();
    b.set_producer_state(1, 0, 0);
    b.append(1, None, Some(b"x"), &[]);
    assert_eq!(b.build().expect("build"), &first[..]);
}

/// Record bodies around the widths where the length varint grows (64 and 8192 bytes), where the
/// builder's reserved prefix is wider than the one it writes: every size is laid out as
/// `record_size` computes it independently and reads back intact, headers included.
#[test]
fn records_at_every_length_varint_boundary_read_back() {
    let lengths = (0..200).chain(8_100..8_250);
    for len in lengths {
        let value = vec![b'v'; len];
        for headers in [&[][..], &[Header::new("h", Some(b"x"))][..]] {
            let mut b = RecordBatchBuilder::new(Compression::None);
            let first = b.append(1_000, Some(b"k"), Some(&value), headers);
            let second = b.append(1_001, None, Some(&value[..len / 2]), &[]);
            assert_eq!(
                first,
                RecordBatchBuilder::record_size(0, 0, Some(b"k"), Some(&value), headers),
                "len {len}"
            );
            assert_eq!(
                second,
                RecordBatchBuilder::record_size(1, 1, None, Some(&value[..len / 2]), &[]),
                "len {len}"
            );
            let bytes = b.build().expect("build").to_vec();
            let view = RecordBatch::parse(&bytes).expect("parse");
            view.ensure_valid().expect("valid");
            let mut scratch = Vec::new();
            let records: Vec<_> = view
                .records(&mut scratch, usize::MAX)
                .expect("records")
                .collect::<std::result::Result<_, _>>()
                .expect("every record");
            assert_eq!(records.len(), 2);
            assert_eq!(records[0].value, Some(&value[..]), "len {len}");
            assert_eq!(records[0].headers.len(), headers.len(), "len {len}");
            assert_eq!(records[1].value, Some(&value[..len / 2]), "len {len}");
            assert_eq!(records[1].timestamp, 1_001);
        }
    }
}

/// The builder compresses at its level: gzip levels 1 and 9 give different batches that read
/// back the same records; a level outside the codec's range fails the build.
#[test]
fn builder_compresses_at_its_level() {
    let build = |level| {
        let mut b = RecordBatchBuilder::new(Compression::Gzip).with_level(level);
        for i in 0..200 {
            let value = format!("value {} of record {i}", i * 7 % 13);
            b.append(1_700_000_000_000 + i, None, Some(value.as_bytes()), &[]);
        }
        b.build().map(<[u8]>::to_vec)
    };
    let (fast, best) = (build(Some(1)).expect("level 1"), build(Some(9)).expect("level 9"));
    assert_ne!(fast.len(), best.len());
    for bytes in [&fast, &best] {
        let batch = RecordBatch::parse(bytes).expect("parse");
        assert!(batch.is_crc_valid());
        let mut scratch = Vec::new();
        let records: Vec<_> = batch
            .records(&mut scratch, 1 << 20)
            .expect("records")
            .collect::<crate::Result<_>>()
            .expect("every record");
        assert_eq!(records.len(), 200);
        assert_eq!(records[199].value, Some(&b"value 2 of record 199"[..]));
    }
    assert!(build(Some(10)).is_err(), "gzip has no level 10");
}
