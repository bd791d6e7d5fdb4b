//! [`RecordBatchBuilder`]: appends records into a reusable buffer and finishes a v2 batch.
//!
//! Records are written uncompressed straight after a reserved 61-byte header, so appending a
//! record costs its varints and two `memcpy`s and allocates nothing once the buffer has grown to
//! the batch size. [`RecordBatchBuilder::build`] fills in the header and the CRC in place; with a
//! codec it compresses the records into a second reusable buffer. [`RecordBatchBuilder::reset`]
//! keeps both buffers for the next batch.

use super::varint::{varint_len, varlong_len, write_uleb, zigzag32, zigzag64};
use super::{
    attributes, crc32c, offsets, Header, BATCH_HEADER_LEN, LOG_OVERHEAD, MAGIC_V2, NO_PARTITION_LEADER_EPOCH,
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP,
};
use crate::{Compression, Error, ErrorCode, Result};

/// Builds one record batch v2 at a time, reusing its buffers across batches.
///
/// ```
/// use kafkit_protocol::record::{Header, RecordBatch, RecordBatchBuilder};
/// use kafkit_protocol::Compression;
///
/// let mut b = RecordBatchBuilder::new(Compression::None);
/// b.append(1_700_000_000_000, None, Some(b"hi"), &[]);
/// let batch = b.build()?;
/// assert_eq!(batch.len(), 70);
/// assert!(RecordBatch::parse(batch)?.is_crc_valid());
/// # Ok::<(), kafkit_protocol::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RecordBatchBuilder {
    compression: Compression,
    /// The codec's level; `None` for its default.
    level: Option<i32>,
    /// Header space (61 bytes, filled by `build`) followed by the uncompressed records.
    buf: Vec<u8>,
    /// The compressed batch, built from `buf` when a codec is set; kept for reuse.
    compressed: Vec<u8>,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    control: bool,
}

impl RecordBatchBuilder {
    /// A builder for batches compressed with `compression`.
    pub fn new(compression: Compression) -> Self {
        Self::with_capacity(compression, 0)
    }

    /// A builder whose record buffer starts with room for `capacity` bytes.
    pub fn with_capacity(compression: Compression, capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(BATCH_HEADER_LEN + capacity);
        buf.resize(BATCH_HEADER_LEN, 0);
        RecordBatchBuilder {
            compression,
            level: None,
            buf,
            compressed: Vec::new(),
            count: 0,
            base_timestamp: NO_TIMESTAMP,
            max_timestamp: NO_TIMESTAMP,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            transactional: false,
            control: false,
        }
    }

    /// Compresses at `level` (KIP-390; `None`: the codec's default). A level outside
    /// [`Compression::level_range`] makes [`build`](Self::build) fail.
    pub fn with_level(mut self, level: Option<i32>) -> Self {
        self.level = level;
        self
    }

    /// Empties the builder for the next batch, keeping its buffers and codec. Producer state is
    /// cleared too.
    pub fn reset(&mut self) {
        self.buf.truncate(BATCH_HEADER_LEN);
        self.compressed.clear();
        self.count = 0;
        self.base_timestamp = NO_TIMESTAMP;
        self.max_timestamp = NO_TIMESTAMP;
        self.producer_id = NO_PRODUCER_ID;
        self.producer_epoch = NO_PRODUCER_EPOCH;
        self.base_sequence = NO_SEQUENCE;
        self.transactional = false;
        self.control = false;
    }

    /// The codec batches are built with.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Records appended so far.
    pub fn record_count(&self) -> i32 {
        self.count
    }

    /// Whether no record has been appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the batch if it were built uncompressed now: header plus records.
    pub fn uncompressed_size(&self) -> usize {
        self.buf.len()
    }

    /// Highest record timestamp so far, `-1` if none.
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    /// Sets the idempotent/transactional producer fields written by the next [`build`](Self::build).
    pub fn set_producer_state(&mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
    }

    /// Marks the batch transactional (attributes bit 4).
    pub fn set_transactional(&mut self, transactional: bool) {
        self.transactional = transactional;
    }

    /// Marks the batch a control batch (attributes bit 5): a transaction marker, whose one
    /// record's key and value are [`control_marker_key`](crate::record::control_marker_key) and
    /// [`control_marker_value`](crate::record::control_marker_value).
    pub fn set_control(&mut self, control: bool) {
        self.control = control;
    }

    /// The exact number of bytes a record takes in a batch (its length varint included), for a
    /// record at `offset_delta` whose timestamp is `timestamp_delta` from the base timestamp.
    pub fn record_size(
        offset_delta: i32,
        timestamp_delta: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> usize {
        let body = body_size(offset_delta, timestamp_delta, key, value, headers);
        varint_len(i32::try_from(body).unwrap_or(i32::MAX)) + body
    }

    /// An upper bound of the bytes a record takes in any batch, whatever its position and
    /// timestamp (Kafka's `estimateSizeInBytesUpperBound`): what a producer reserves before it
    /// knows which batch the record lands in.
    pub fn record_size_upper_bound(
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> usize {
        // Worst-case varints for the offset delta (5) and the timestamp delta (10).
        Self::record_size(i32::MAX, i64::MAX, key, value, headers)
    }

    /// Appends a record and returns the bytes it took. The first record's timestamp becomes the
    /// base timestamp; a `None` key or value is null, distinct from an empty slice.
    ///
    /// Header keys are written as given (Kafka expects UTF-8; see [`Header::new`]).
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> usize {
        if self.count == 0 {
            self.base_timestamp = timestamp;
        }
        if timestamp > self.max_timestamp {
            self.max_timestamp = timestamp;
        }
        let offset_delta = self.count;
        let timestamp_delta = timestamp.wrapping_sub(self.base_timestamp);
        // The body is written first and its length prefix after, so the layout is computed once,
        // by the writer. Space is reserved for the body at its widest (every varint at its
        // maximum width) behind a prefix wide enough for that bound; the actual prefix can only
        // be narrower, in which case the body moves down (only for bodies just under 64 or
        // 8192 bytes whose bound crosses that width).
        let mut bound =
            1 + MAX_VARLONG + MAX_VARINT + nullable_bound(key) + nullable_bound(value) + MAX_VARINT;
        for h in headers {
            bound += MAX_VARINT + h.key.len() + nullable_bound(h.value);
        }
        let mut prefix_room = varint_len(len_i32(bound));
        let start = self.buf.len();
        let mut room = bound;
        if self.buf.capacity() - start < prefix_room + bound {
            (prefix_room, room) =
                reserve_exact(&mut self.buf, offset_delta, timestamp_delta, key, value, headers);
        }
        let spare = &mut self.buf.spare_capacity_mut()[..prefix_room + room];
        let mut w = Cursor {
            dst: &mut spare[prefix_room..],
            pos: 0,
        };
        w.byte(0); // record attributes: unused
        w.varlong(timestamp_delta);
        w.varint(offset_delta);
        w.nullable(key);
        w.nullable(value);
        w.varint(len_i32(headers.len()));
        for h in headers {
            w.varint(len_i32(h.key.len()));
            w.bytes(h.key);
            w.nullable(h.value);
        }
        let body = w.pos;
        let body_len = len_i32(body);
        let prefix = varint_len(body_len);
        if prefix < prefix_room {
            spare.copy_within(prefix_room..prefix_room + body, prefix);
        }
        let mut p = Cursor {
            dst: &mut spare[..prefix],
            pos: 0,
        };
        p.varint(body_len);
        // Invariant for `set_len`: bytes `0..prefix` of the spare capacity hold the length
        // varint (its cursor wrote exactly `prefix` bytes, else the check fails) and bytes
        // `prefix..prefix + body` the body, written contiguously by the first cursor (moved
        // there if it was written further up). Both cursors are bounds-checked, so nothing was
        // written outside the reserved space.
        assert_eq!(p.pos, prefix, "length prefix width");
        let total = prefix + body;
        // SAFETY: `total <= prefix_room + room <= capacity - start` (reserved above) and bytes
        // `start..start + total` are initialised (see the invariant above).
        unsafe { self.buf.set_len(start + total) };
        self.count += 1;
        self.buf.len() - start
    }

    /// Finishes the batch and returns its bytes: base offset 0, partition leader epoch -1 (the
    /// broker assigns both), CreateTime, the producer fields set so far, and the CRC.
    ///
    /// The bytes stay valid until the builder is next changed; [`reset`](Self::reset) to start
    /// the next batch. Fails on an empty batch (Kafka rejects those) or a codec error.
    pub fn build(&mut self) -> Result<&[u8]> {
        if self.count == 0 {
            return Err(Error::batch(
                ErrorCode::InvalidRecord,
                "a batch needs at least one record",
            ));
        }
        let mut attrs = i16::from(self.compression.id());
        if self.transactional {
            attrs |= attributes::TRANSACTIONAL;
        }
        if self.control {
            attrs |= attributes::CONTROL;
        }
        let header = HeaderFields {
            attributes: attrs,
            last_offset_delta: self.count - 1,
            base_timestamp: self.base_timestamp,
            max_timestamp: self.max_timestamp,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
            records_count: self.count,
        };
        let out = if self.compression == Compression::None {
            &mut self.buf
        } else {
            self.compressed.clear();
            self.compressed.resize(BATCH_HEADER_LEN, 0);
            self.compression.compress_level(
                &self.buf[BATCH_HEADER_LEN..],
                &mut self.compressed,
                self.level,
            )?;
            &mut self.compressed
        };
        header.write(out)?;
        Ok(out)
    }

    /// Builds the batch and hands over its bytes, leaving the builder empty (its buffers go with
    /// the batch).
    pub fn into_vec(mut self) -> Result<Vec<u8>> {
        self.build()?;
        Ok(if self.compression == Compression::None {
            self.buf
        } else {
            self.compressed
        })
    }
}

/// The header fields a builder decides; the rest are constants or set by the broker.
struct HeaderFields {
    attributes: i16,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    records_count: i32,
}

impl HeaderFields {
    /// Writes the header into `batch[..61]` and the CRC over `batch[21..]`.
    fn write(&self, batch: &mut [u8]) -> Result<()> {
        let batch_length = i32::try_from(batch.len() - LOG_OVERHEAD)
            .map_err(|_| Error::batch(ErrorCode::MessageTooLarge, "batch exceeds 2 GiB"))?;
        let h = &mut batch[..BATCH_HEADER_LEN];
        h[offsets::BASE_OFFSET..8].copy_from_slice(&0i64.to_be_bytes());
        h[offsets::BATCH_LENGTH..12].copy_from_slice(&batch_length.to_be_bytes());
        h[offsets::PARTITION_LEADER_EPOCH..16].copy_from_slice(&NO_PARTITION_LEADER_EPOCH.to_be_bytes());
        h[offsets::MAGIC] = MAGIC_V2 as u8;
        h[offsets::ATTRIBUTES..23].copy_from_slice(&self.attributes.to_be_bytes());
        h[offsets::LAST_OFFSET_DELTA..27].copy_from_slice(&self.last_offset_delta.to_be_bytes());
        h[offsets::BASE_TIMESTAMP..35].copy_from_slice(&self.base_timestamp.to_be_bytes());
        h[offsets::MAX_TIMESTAMP..43].copy_from_slice(&self.max_timestamp.to_be_bytes());
        h[offsets::PRODUCER_ID..51].copy_from_slice(&self.producer_id.to_be_bytes());
        h[offsets::PRODUCER_EPOCH..53].copy_from_slice(&self.producer_epoch.to_be_bytes());
        h[offsets::BASE_SEQUENCE..57].copy_from_slice(&self.base_sequence.to_be_bytes());
        h[offsets::RECORDS_COUNT..61].copy_from_slice(&self.records_count.to_be_bytes());
        let crc = crc32c(&batch[offsets::ATTRIBUTES..]);
        batch[offsets::CRC..offsets::ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
        Ok(())
    }
}

/// Writes a record into spare capacity reserved for it (see `append`); every write is
/// bounds-checked against that space.
struct Cursor<'a> {
    dst: &'a mut [std::mem::MaybeUninit<u8>],
    pos: usize,
}

impl Cursor<'_> {
    #[inline]
    fn byte(&mut self, b: u8) {
        self.dst[self.pos].write(b);
        self.pos += 1;
    }

    #[inline]
    fn varint(&mut self, value: i32) {
        write_uleb(zigzag32(value), |b| self.byte(b));
    }

    #[inline]
    fn varlong(&mut self, value: i64) {
        write_uleb(zigzag64(value), |b| self.byte(b));
    }

    #[inline]
    fn bytes(&mut self, b: &[u8]) {
        let dst = &mut self.dst[self.pos..self.pos + b.len()];
        // SAFETY: `dst` (bounds-checked just above) and `b` have the same length,
        // `MaybeUninit<u8>` has the layout of `u8`, and they cannot overlap: `dst` is spare
        // capacity of the builder's own buffer, borrowed mutably here.
        unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), dst.as_mut_ptr().cast::<u8>(), b.len()) };
        self.pos += b.len();
    }

    #[inline]
    fn nullable(&mut self, b: Option<&[u8]>) {
        match b {
            None => self.varint(-1),
            Some(b) => {
                self.varint(len_i32(b.len()));
                self.bytes(b);
            }
        }
    }
}

/// Reserves exactly what a record takes in `buf` and returns its length prefix's width and its
/// body's size: the path of a buffer short of room for the record's bound, so that a buffer
/// sized to what its records need (the producer sizes batches to their share of
/// buffer.memory) is never grown past that. Out of line: it is rarely taken.
#[cold]
#[inline(never)]
fn reserve_exact(
    buf: &mut Vec<u8>,
    offset_delta: i32,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header<'_>],
) -> (usize, usize) {
    let body = body_size(offset_delta, timestamp_delta, key, value, headers);
    let prefix = varint_len(len_i32(body));
    buf.reserve(prefix + body);
    (prefix, body)
}

/// Size of a record's body (everything its length varint counts).
fn body_size(
    offset_delta: i32,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header<'_>],
) -> usize {
    let mut size = 1 + varlong_len(timestamp_delta) + varint_len(offset_delta);
    size += bytes_size(key) + bytes_size(value);
    size += varint_len(len_i32(headers.len()));
    for h in headers {
        size += varint_len(len_i32(h.key.len())) + h.key.len() + bytes_size(h.value);
    }
    size
}

/// Widest varint (5 bytes) and varlong (10 bytes).
const MAX_VARINT: usize = 5;
const MAX_VARLONG: usize = 10;

/// Most bytes a nullable key, value or header value takes: its length varint at its widest
/// plus its bytes.
#[inline]
fn nullable_bound(b: Option<&[u8]>) -> usize {
    MAX_VARINT + b.map_or(0, <[u8]>::len)
}

#[inline]
fn bytes_size(b: Option<&[u8]>) -> usize {
    match b {
        None => 1,
        Some(b) => varint_len(len_i32(b.len())) + b.len(),
    }
}

/// Lengths inside a batch are i32; a batch is far below 2 GiB (max.request.size), so this
/// saturates only for inputs the producer has already rejected.
#[inline]
fn len_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
