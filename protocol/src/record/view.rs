//! [`RecordBatch`]: a zero-copy view of one v2 batch; [`Batches`]: the batches of a byte run;
//! [`RecordBatchMut`]: in-place stamping.
//!
//! Reading never trusts a length or a count from the bytes: every slice is bounds-checked, and
//! the only allocation is the caller's decompression buffer, capped by a limit the caller gives.
//! Failures carry the error code a Kafka broker answers for them
//! (reference/broker-storage-spec.md §1-2).

use super::varint::{get_varint, get_varlong};
use super::{
    attributes, crc32c, offsets, Header, TimestampType, BATCH_HEADER_LEN, LOG_OVERHEAD, MAGIC_V2,
    MIN_BATCH_LENGTH_FIELD, NO_PRODUCER_ID, NO_SEQUENCE,
};
use crate::{Compression, Error, ErrorCode, Result};

#[inline]
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
#[inline]
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
#[inline]
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(x)
}

/// A view of exactly one record batch v2: at least 61 bytes, magic 2, and as long as its
/// `batch_length` says. The CRC is not checked by [`parse`](Self::parse); see
/// [`is_crc_valid`](Self::is_crc_valid).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RecordBatch<'a> {
    /// Invariant: `buf.len() >= BATCH_HEADER_LEN` and `buf.len() == 12 + batch_length`, which
    /// makes every fixed-offset header read in bounds.
    buf: &'a [u8],
}

impl std::fmt::Debug for RecordBatch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordBatch")
            .field("base_offset", &self.base_offset())
            .field("size", &self.size_in_bytes())
            .field("records", &self.records_count())
            .field("compression", &self.compression())
            .field("producer_id", &self.producer_id())
            .field("base_sequence", &self.base_sequence())
            .finish()
    }
}

impl<'a> RecordBatch<'a> {
    /// Parses the batch at the start of `buf` (bytes after it are ignored). Errors with
    /// CORRUPT_MESSAGE for a length or magic Kafka's log reader rejects, and for a batch too short
    /// to hold the v2 header; with INVALID_RECORD for a complete batch of another magic; and a
    /// batch that `buf` holds only part of is CORRUPT_MESSAGE too.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        match Batches::new(buf).next() {
            Some(result) => result,
            None => Err(Error::batch(ErrorCode::CorruptMessage, "incomplete record batch")),
        }
    }

    /// The batch's bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Total size, `12 + batch_length`.
    pub fn size_in_bytes(&self) -> usize {
        self.buf.len()
    }

    /// `base_offset`: 0 as a producer sends it, the first offset once stored.
    pub fn base_offset(&self) -> i64 {
        be_i64(self.buf, offsets::BASE_OFFSET)
    }

    /// `batch_length`.
    pub fn batch_length(&self) -> i32 {
        be_i32(self.buf, offsets::BATCH_LENGTH)
    }

    /// `partition_leader_epoch`, `-1` if unset.
    pub fn partition_leader_epoch(&self) -> i32 {
        be_i32(self.buf, offsets::PARTITION_LEADER_EPOCH)
    }

    /// `magic`: always 2 for a parsed batch.
    pub fn magic(&self) -> i8 {
        self.buf[offsets::MAGIC] as i8
    }

    /// The stored CRC.
    pub fn crc(&self) -> u32 {
        be_i32(self.buf, offsets::CRC) as u32
    }

    /// The CRC-32C of bytes 21..end.
    pub fn compute_crc(&self) -> u32 {
        crc32c(&self.buf[offsets::ATTRIBUTES..])
    }

    /// Whether the stored CRC matches the bytes.
    pub fn is_crc_valid(&self) -> bool {
        self.crc() == self.compute_crc()
    }

    /// `attributes`.
    pub fn attributes(&self) -> i16 {
        be_i16(self.buf, offsets::ATTRIBUTES)
    }

    /// The codec, or `None` for codec ids 5-7.
    pub fn compression(&self) -> Option<Compression> {
        Compression::from_id((self.attributes() & attributes::COMPRESSION_MASK) as u8)
    }

    /// CreateTime or LogAppendTime (attributes bit 3).
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes() & attributes::TIMESTAMP_TYPE != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Attributes bit 4.
    pub fn is_transactional(&self) -> bool {
        self.attributes() & attributes::TRANSACTIONAL != 0
    }

    /// Attributes bit 5.
    pub fn is_control(&self) -> bool {
        self.attributes() & attributes::CONTROL != 0
    }

    /// `last_offset_delta`.
    pub fn last_offset_delta(&self) -> i32 {
        be_i32(self.buf, offsets::LAST_OFFSET_DELTA)
    }

    /// `base_offset + last_offset_delta`.
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .wrapping_add(i64::from(self.last_offset_delta()))
    }

    /// The offset after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// `base_timestamp`.
    pub fn base_timestamp(&self) -> i64 {
        be_i64(self.buf, offsets::BASE_TIMESTAMP)
    }

    /// `max_timestamp`.
    pub fn max_timestamp(&self) -> i64 {
        be_i64(self.buf, offsets::MAX_TIMESTAMP)
    }

    /// `producer_id`, `-1` if none.
    pub fn producer_id(&self) -> i64 {
        be_i64(self.buf, offsets::PRODUCER_ID)
    }

    /// Whether the batch carries a producer id (`producer_id >= 0`).
    pub fn has_producer_id(&self) -> bool {
        self.producer_id() > NO_PRODUCER_ID
    }

    /// `producer_epoch`.
    pub fn producer_epoch(&self) -> i16 {
        be_i16(self.buf, offsets::PRODUCER_EPOCH)
    }

    /// `base_sequence`, `-1` if none.
    pub fn base_sequence(&self) -> i32 {
        be_i32(self.buf, offsets::BASE_SEQUENCE)
    }

    /// The last record's sequence: `base_sequence + last_offset_delta`, wrapping past `i32::MAX`
    /// to 0 as Kafka's `incrementSequence` does.
    pub fn last_sequence(&self) -> i32 {
        let base = self.base_sequence();
        if base == NO_SEQUENCE {
            return NO_SEQUENCE;
        }
        increment_sequence(base, self.last_offset_delta())
    }

    /// `records_count`.
    pub fn records_count(&self) -> i32 {
        be_i32(self.buf, offsets::RECORDS_COUNT)
    }

    /// The bytes after the header: the records, raw or compressed.
    pub fn records_bytes(&self) -> &'a [u8] {
        &self.buf[BATCH_HEADER_LEN..]
    }

    /// The batch's header as a leader writes it, the records left where they are: base offset
    /// and partition leader epoch stamped (both outside the CRC), and the timestamp type and
    /// max timestamp set to `timestamp` when they differ, with the CRC recomputed from the new
    /// header bytes and the records' own CRC. Writing this header and then
    /// [`records_bytes`](Self::records_bytes) gives the bytes [`RecordBatchMut`] would have made
    /// in place, without copying the records.
    pub fn stamped_header(
        &self,
        base_offset: i64,
        partition_leader_epoch: i32,
        timestamp: (TimestampType, i64),
    ) -> [u8; BATCH_HEADER_LEN] {
        let mut head = [0u8; BATCH_HEADER_LEN];
        head.copy_from_slice(&self.buf[..BATCH_HEADER_LEN]);
        head[offsets::BASE_OFFSET..offsets::BATCH_LENGTH].copy_from_slice(&base_offset.to_be_bytes());
        head[offsets::PARTITION_LEADER_EPOCH..offsets::MAGIC]
            .copy_from_slice(&partition_leader_epoch.to_be_bytes());
        let (timestamp_type, max_timestamp) = timestamp;
        if self.timestamp_type() == timestamp_type && self.max_timestamp() == max_timestamp {
            return head;
        }
        let mut attrs = self.attributes() & 0x00ff & !attributes::TIMESTAMP_TYPE;
        if timestamp_type == TimestampType::LogAppendTime {
            attrs |= attributes::TIMESTAMP_TYPE;
        }
        head[offsets::ATTRIBUTES..offsets::LAST_OFFSET_DELTA].copy_from_slice(&attrs.to_be_bytes());
        head[offsets::MAX_TIMESTAMP..offsets::PRODUCER_ID].copy_from_slice(&max_timestamp.to_be_bytes());
        let records = self.records_bytes();
        let crc = crc_fast::checksum_combine(
            crc_fast::CrcAlgorithm::Crc32Iscsi,
            u64::from(crc32c(&head[offsets::ATTRIBUTES..])),
            u64::from(crc32c(records)),
            records.len() as u64,
        ) as u32;
        head[offsets::CRC..offsets::ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
        head
    }

    /// Kafka's `ensureValid`: the CRC matches (the size was checked by `parse`).
    pub fn ensure_valid(&self) -> Result<()> {
        if self.is_crc_valid() {
            Ok(())
        } else {
            Err(Error::batch(
                ErrorCode::CorruptMessage,
                format!(
                    "record batch crc {:#010x} does not match computed {:#010x}",
                    self.crc(),
                    self.compute_crc()
                ),
            ))
        }
    }

    /// The header checks of Kafka's `LogValidator.validateBatch` for a batch a client sent: all
    /// INVALID_RECORD. Unknown codec ids are UNKNOWN_SERVER_ERROR, as in Kafka.
    pub fn validate_header(&self) -> Result<()> {
        let count_from_offsets = i64::from(self.last_offset_delta()) + 1;
        if count_from_offsets <= 0 {
            return Err(Error::invalid_record(format!(
                "batch has an invalid offset range: last offset delta {}",
                self.last_offset_delta()
            )));
        }
        let count = self.records_count();
        if count <= 0 {
            return Err(Error::invalid_record(format!(
                "invalid reported count for record batch: {count}"
            )));
        }
        if i64::from(count) != count_from_offsets {
            return Err(Error::invalid_record(format!(
                "inconsistent batch offset range (last offset delta {}) and count of records {count}",
                self.last_offset_delta()
            )));
        }
        if self.is_control() {
            return Err(Error::invalid_record(
                "clients are not allowed to write control records",
            ));
        }
        if self.has_producer_id() && self.base_sequence() < 0 {
            return Err(Error::invalid_record(format!(
                "invalid sequence number {} for producer id {}",
                self.base_sequence(),
                self.producer_id()
            )));
        }
        if self.compression().is_none() {
            return Err(Error::batch(
                ErrorCode::UnknownServerError,
                format!(
                    "unknown compression type id {}",
                    self.attributes() & attributes::COMPRESSION_MASK
                ),
            ));
        }
        Ok(())
    }

    /// Iterates the records, decompressing into `scratch` first when the batch is compressed
    /// (at most `max_decompressed` bytes, else [`Error::DecompressedTooLarge`]). Uncompressed
    /// batches are read in place and `scratch` is untouched.
    pub fn records<'s>(
        &'s self,
        scratch: &'s mut Vec<u8>,
        max_decompressed: usize,
    ) -> Result<RecordIter<'s>> {
        let codec = self
            .compression()
            .ok_or_else(|| Error::batch(ErrorCode::UnknownServerError, "unknown compression type id"))?;
        let data: &'s [u8] = match codec {
            Compression::None => self.records_bytes(),
            codec => {
                scratch.clear();
                codec.decompress(self.records_bytes(), scratch, max_decompressed)?;
                scratch
            }
        };
        Ok(RecordIter {
            data,
            pos: 0,
            index: 0,
            count: self.records_count().max(0),
            base_offset: self.base_offset(),
            base_timestamp: self.base_timestamp(),
            log_append_time: (self.timestamp_type() == TimestampType::LogAppendTime)
                .then(|| self.max_timestamp()),
            done: false,
        })
    }
}

/// `base + delta` in Kafka's sequence space: wraps past `i32::MAX` to 0.
pub fn increment_sequence(base: i32, delta: i32) -> i32 {
    if base > i32::MAX - delta {
        delta - (i32::MAX - base) - 1
    } else {
        base + delta
    }
}

/// The batches in a run of bytes (a produce partition's `records`, a segment file), in order,
/// as Kafka's `ByteBufferLogInputStream` reads them: a trailing incomplete batch ends the
/// iteration quietly; a length below 14 or a magic outside 0..=2 is CORRUPT_MESSAGE; a complete
/// batch of magic 0 or 1 is INVALID_RECORD (kafkit reads only v2); a v2 batch shorter than its
/// header is CORRUPT_MESSAGE. After an error the iterator ends.
#[derive(Debug, Clone)]
pub struct Batches<'a> {
    rest: &'a [u8],
    position: usize,
    failed: bool,
}

impl<'a> Batches<'a> {
    /// Iterates the batches of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Batches {
            rest: buf,
            position: 0,
            failed: false,
        }
    }

    /// Byte position of the next batch relative to the start.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Bytes not consumed yet (a trailing partial batch stays here).
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for Batches<'a> {
    type Item = Result<RecordBatch<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.len() < LOG_OVERHEAD {
            return None;
        }
        let length = be_i32(self.rest, offsets::BATCH_LENGTH);
        let fail = |this: &mut Self, code, reason: String| {
            this.failed = true;
            Some(Err(Error::batch(code, reason)))
        };
        if length < MIN_BATCH_LENGTH_FIELD {
            return fail(
                self,
                ErrorCode::CorruptMessage,
                format!("record batch length {length} is below the minimum of 14"),
            );
        }
        if self.rest.len() <= offsets::MAGIC {
            return None;
        }
        let magic = self.rest[offsets::MAGIC] as i8;
        if !(0..=MAGIC_V2).contains(&magic) {
            return fail(
                self,
                ErrorCode::CorruptMessage,
                format!("invalid magic {magic} in record batch"),
            );
        }
        let size = LOG_OVERHEAD + length as usize;
        if self.rest.len() < size {
            return None;
        }
        if magic != MAGIC_V2 {
            return fail(
                self,
                ErrorCode::InvalidRecord,
                format!("record batch magic {magic} is not supported; only magic 2"),
            );
        }
        if size < BATCH_HEADER_LEN {
            return fail(
                self,
                ErrorCode::CorruptMessage,
                format!("record batch of {size} bytes is shorter than the 61-byte header"),
            );
        }
        let (batch, rest) = self.rest.split_at(size);
        self.rest = rest;
        self.position += size;
        Some(Ok(RecordBatch { buf: batch }))
    }
}

/// One record, borrowed from its batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// Position in the batch (`offset_delta`).
    pub offset_delta: i32,
    /// `base_offset + offset_delta`.
    pub offset: i64,
    /// The record's timestamp: base timestamp + delta, or the batch max timestamp under
    /// LogAppendTime.
    pub timestamp: i64,
    /// The key; `None` is null.
    pub key: Option<&'a [u8]>,
    /// The value; `None` is null.
    pub value: Option<&'a [u8]>,
    /// The headers, in order, keys possibly repeated.
    pub headers: Headers<'a>,
}

/// The headers of a record; validated when the record was read, so iteration cannot fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers<'a> {
    raw: &'a [u8],
    count: usize,
}

impl<'a> Headers<'a> {
    /// Number of headers.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl<'a> Iterator for Headers<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Header<'a>> {
        if self.count == 0 {
            return None;
        }
        let mut pos = 0;
        // Invariant: `read_headers` walked these exact bytes successfully.
        let key_len = get_varint(self.raw, &mut pos)? as usize;
        let key = self.raw.get(pos..pos + key_len)?;
        pos += key_len;
        let value = read_nullable(self.raw, &mut pos)?;
        self.raw = &self.raw[pos..];
        self.count -= 1;
        Some(Header { key, value })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.count, Some(self.count))
    }
}

/// Iterates the records of a batch; each item is a record or the INVALID_RECORD error Kafka
/// reports for it (premature end, lengths that disagree, trailing bytes). Stops after an error.
#[derive(Debug, Clone)]
pub struct RecordIter<'a> {
    data: &'a [u8],
    pos: usize,
    index: i32,
    count: i32,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
    done: bool,
}

impl<'a> RecordIter<'a> {
    #[inline(always)]
    fn read_record(&mut self) -> Result<Record<'a>> {
        let data = self.data;
        let start = self.pos;
        let mut pos = start;
        let structure = || Error::invalid_record("found invalid record structure");
        let length = get_varint(data, &mut pos).ok_or_else(structure)?;
        if length < 0 || (data.len() - pos) < length as usize {
            return Err(Error::invalid_record(format!(
                "invalid record size: expected {length} bytes in record payload, but the record payload has only {} bytes",
                data.len() - pos
            )));
        }
        let body_start = pos;
        let end = pos + length as usize;
        let body = &data[..end];
        let _attributes = *body.get(pos).ok_or_else(structure)?;
        pos += 1;
        let timestamp_delta = get_varlong(body, &mut pos).ok_or_else(structure)?;
        let offset_delta = get_varint(body, &mut pos).ok_or_else(structure)?;
        let key = read_nullable(body, &mut pos).ok_or_else(structure)?;
        let value = read_nullable(body, &mut pos).ok_or_else(structure)?;
        let header_count = get_varint(body, &mut pos).ok_or_else(structure)?;
        if header_count < 0 || header_count as usize > end - pos {
            return Err(Error::invalid_record(format!(
                "invalid number of record headers {header_count}"
            )));
        }
        let headers_start = pos;
        for _ in 0..header_count {
            let key_len = get_varint(body, &mut pos).ok_or_else(structure)?;
            if key_len < 0 {
                return Err(Error::invalid_record(format!(
                    "invalid negative header key size {key_len}"
                )));
            }
            if end - pos < key_len as usize {
                return Err(structure());
            }
            pos += key_len as usize;
            read_nullable(body, &mut pos).ok_or_else(structure)?;
        }
        if pos != end {
            return Err(Error::invalid_record(format!(
                "invalid record size: expected to read {length} bytes in record payload, but instead read {}",
                pos - body_start
            )));
        }
        self.pos = end;
        let timestamp = match self.log_append_time {
            Some(t) => t,
            None => self.base_timestamp.wrapping_add(timestamp_delta),
        };
        Ok(Record {
            offset_delta,
            offset: self.base_offset.wrapping_add(i64::from(offset_delta)),
            timestamp,
            key,
            value,
            headers: Headers {
                raw: &body[headers_start..end],
                count: header_count as usize,
            },
        })
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<Record<'a>>;

    // Inlined into callers in other crates (the broker's validation walks every record with
    // it): a call per record that returns the record through memory cost more than the parse.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.index >= self.count {
            self.done = true;
            if self.pos != self.data.len() {
                return Some(Err(Error::invalid_record(format!(
                    "incorrect declared batch size: {} bytes remain after {} records",
                    self.data.len() - self.pos,
                    self.count
                ))));
            }
            return None;
        }
        if self.pos >= self.data.len() {
            self.done = true;
            return Some(Err(Error::invalid_record(format!(
                "got a premature end of the batch: read {} of {} records",
                self.index, self.count
            ))));
        }
        match self.read_record() {
            Ok(r) => {
                self.index += 1;
                Some(Ok(r))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Reads a varint-length-prefixed byte string; a negative length is null. `None` if the bytes
/// end first.
#[inline(always)]
fn read_nullable<'a>(buf: &'a [u8], pos: &mut usize) -> Option<Option<&'a [u8]>> {
    let len = get_varint(buf, pos)?;
    if len < 0 {
        return Some(None);
    }
    let bytes = buf.get(*pos..*pos + len as usize)?;
    *pos += len as usize;
    Some(Some(bytes))
}

/// In-place edits of one batch's header, as a broker (or a retrying producer) makes them.
#[derive(Debug)]
pub struct RecordBatchMut<'a> {
    /// Invariant: a slice that `RecordBatch::parse` accepted.
    buf: &'a mut [u8],
}

impl<'a> RecordBatchMut<'a> {
    /// Wraps the batch at the start of `buf`, checked as [`RecordBatch::parse`] checks it; bytes
    /// after the batch are not touched.
    pub fn new(buf: &'a mut [u8]) -> Result<Self> {
        let size = RecordBatch::parse(buf)?.size_in_bytes();
        Ok(RecordBatchMut {
            buf: &mut buf[..size],
        })
    }

    /// A read-only view.
    pub fn view(&self) -> RecordBatch<'_> {
        RecordBatch { buf: self.buf }
    }

    /// Writes `base_offset` (outside the CRC: no recompute).
    pub fn set_base_offset(&mut self, base_offset: i64) {
        self.buf[offsets::BASE_OFFSET..offsets::BATCH_LENGTH].copy_from_slice(&base_offset.to_be_bytes());
    }

    /// Writes `partition_leader_epoch` (outside the CRC: no recompute).
    pub fn set_partition_leader_epoch(&mut self, epoch: i32) {
        self.buf[offsets::PARTITION_LEADER_EPOCH..offsets::MAGIC].copy_from_slice(&epoch.to_be_bytes());
    }

    /// Kafka's `setMaxTimestamp`: if the timestamp type and max timestamp already match, nothing
    /// changes; otherwise the attributes (timestamp-type bit; the high byte cleared, as Kafka
    /// rewrites the int16 from its low byte) and `max_timestamp` are rewritten and the CRC
    /// recomputed. Returns whether anything changed.
    pub fn set_max_timestamp(&mut self, timestamp_type: TimestampType, max_timestamp: i64) -> bool {
        let view = self.view();
        if view.timestamp_type() == timestamp_type && view.max_timestamp() == max_timestamp {
            return false;
        }
        let mut attrs = view.attributes() & 0x00ff & !attributes::TIMESTAMP_TYPE;
        if timestamp_type == TimestampType::LogAppendTime {
            attrs |= attributes::TIMESTAMP_TYPE;
        }
        self.buf[offsets::ATTRIBUTES..offsets::LAST_OFFSET_DELTA].copy_from_slice(&attrs.to_be_bytes());
        self.buf[offsets::MAX_TIMESTAMP..offsets::PRODUCER_ID].copy_from_slice(&max_timestamp.to_be_bytes());
        self.update_crc();
        true
    }

    /// Rewrites producer id, epoch and base sequence and recomputes the CRC: what a producer
    /// does to a batch it re-sends after an epoch bump.
    pub fn set_producer_state(&mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) {
        self.buf[offsets::PRODUCER_ID..offsets::PRODUCER_EPOCH].copy_from_slice(&producer_id.to_be_bytes());
        self.buf[offsets::PRODUCER_EPOCH..offsets::BASE_SEQUENCE]
            .copy_from_slice(&producer_epoch.to_be_bytes());
        self.buf[offsets::BASE_SEQUENCE..offsets::RECORDS_COUNT]
            .copy_from_slice(&base_sequence.to_be_bytes());
        self.update_crc();
    }

    /// Recomputes and stores the CRC.
    pub fn update_crc(&mut self) {
        let crc = crc32c(&self.buf[offsets::ATTRIBUTES..]);
        self.buf[offsets::CRC..offsets::ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
    }
}
