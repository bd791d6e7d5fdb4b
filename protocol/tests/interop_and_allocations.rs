//! Cross-checks against kafka-protocol's own record codec, and the builder's allocation count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression as CrateCompression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType as CrateTimestampType,
};
use kafkit_protocol::record::{Header, RecordBatchBuilder};
use kafkit_protocol::{Compression, RecordBatch};

/// Counts allocations per thread, so tests running in parallel do not see each other's.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

fn count_one() {
    // `try_with`: allocations during thread teardown, after the slot is gone, are not counted.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A reused builder appends records and builds uncompressed batches without allocating.
#[test]
fn builder_does_not_allocate_per_record_once_warm() {
    let value = vec![7u8; 100];
    let headers = [Header::new("trace", Some(b"abc")), Header::new("trace", None)];
    let mut builder = RecordBatchBuilder::new(Compression::None);
    let fill = |b: &mut RecordBatchBuilder| {
        b.reset();
        for i in 0..128 {
            b.append(1_700_000_000_000 + i, Some(b"key"), Some(&value), &headers);
        }
        b.build().map(<[u8]>::len)
    };
    fill(&mut builder).expect("warm-up");
    let before = allocations();
    for _ in 0..10 {
        fill(&mut builder).expect("build");
    }
    assert_eq!(allocations() - before, 0);
}

/// A builder given exactly the room its records take never allocates: the producer sizes each
/// batch's buffer to its share of buffer.memory and relies on this to stay within it.
#[test]
fn builder_with_exact_capacity_never_grows() {
    for len in [0usize, 40, 100, 8_170, 20_000] {
        let value = vec![7u8; len];
        let headers = [Header::new("h", Some(b"x"))];
        let exact: usize = (0..3)
            .map(|i| RecordBatchBuilder::record_size(i, i64::from(i), Some(b"k"), Some(&value), &headers))
            .sum();
        let mut builder = RecordBatchBuilder::with_capacity(Compression::None, exact);
        let before = allocations();
        for i in 0..3 {
            builder.append(1_000 + i64::from(i), Some(b"k"), Some(&value), &headers);
        }
        let built = builder.build().expect("build").len();
        assert_eq!(allocations() - before, 0, "value of {len} bytes");
        assert_eq!(built, 61 + exact);
    }
}

/// kafka-protocol's decoder reads kafkit's batches to the same records.
#[test]
fn crate_decoder_reads_our_batches() {
    let mut builder = RecordBatchBuilder::new(Compression::None);
    builder.set_producer_state(42, 3, 17);
    builder.append(1000, Some(b"k1"), Some(b"v1"), &[Header::new("h", Some(b"x"))]);
    builder.append(990, None, Some(b""), &[]);
    builder.append(1005, Some(b""), None, &[]);
    let mut buf = Bytes::copy_from_slice(builder.build().expect("build"));
    let set = RecordBatchDecoder::decode(&mut buf).expect("crate decodes");
    assert_eq!(set.records.len(), 3);
    let r = &set.records[0];
    assert_eq!(
        (r.producer_id, r.producer_epoch, r.sequence, r.timestamp),
        (42, 3, 17, 1000)
    );
    assert_eq!(r.key.as_deref(), Some(&b"k1"[..]));
    assert_eq!(r.headers.len(), 1);
    let r = &set.records[1];
    assert_eq!(
        (r.offset, r.sequence, r.timestamp, r.key.is_none()),
        (1, 18, 990, true)
    );
    assert_eq!(r.value.as_deref(), Some(&b""[..]));
    let r = &set.records[2];
    assert_eq!((r.key.as_deref(), r.value.is_none()), (Some(&b""[..]), true));
}

/// kafkit's view reads a batch written by kafka-protocol's encoder, byte-identical to our own.
#[test]
fn our_view_reads_crate_batches_and_bytes_match() {
    let records: Vec<Record> = (0..5)
        .map(|i| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: CrateTimestampType::Creation,
            offset: i,
            sequence: i as i32 - 1,
            timestamp: 2000 + i,
            key: Some(Bytes::from(format!("key{i}"))),
            value: Some(Bytes::from(vec![i as u8; 10])),
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: CrateCompression::None,
    };
    RecordBatchEncoder::encode(&mut out, records.iter(), &options).expect("encode");
    let batch = RecordBatch::parse(&out).expect("parse");
    assert!(batch.is_crc_valid());
    let mut scratch = Vec::new();
    let read: Vec<_> = batch
        .records(&mut scratch, 1 << 20)
        .expect("iter")
        .collect::<Result<_, _>>()
        .expect("ok");
    assert_eq!(read.len(), 5);
    assert_eq!(read[4].value, Some(&[4u8; 10][..]));

    let mut builder = RecordBatchBuilder::new(Compression::None);
    for r in &records {
        builder.append(r.timestamp, r.key.as_deref(), r.value.as_deref(), &[]);
    }
    assert_eq!(builder.build().expect("build"), &out[..]);
}
