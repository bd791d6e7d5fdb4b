//! Produce request frames that do not copy their record batches.
//!
//! Every other request is encoded whole into a buffer
//! ([`encode_request_frame`](kafkit_protocol::frame::encode_request_frame)). A Produce request
//! carries the producer's batches, which stay where they are: its frame is a list of parts, the
//! small encoded fields between the batches and the batches' own [`Bytes`] (reference counted,
//! shared with the batches the sender keeps until the response), written with vectored writes.
//! So the data in flight takes memory once, inside `buffer.memory` (Java's producer also writes
//! batches from their own buffers), and the writer does not copy it.
//!
//! The bytes on the wire are exactly `kafka-protocol`'s encoding of the same request: a test
//! compares the two at every version. Versions 3 to 12 (13 names topics by id); the producer
//! sets no tagged fields, so none are written.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ProduceRequest, RequestHeader};
use kafka_protocol::protocol::{Encodable, HeaderVersion};
use kafkit_protocol::Error;

/// Bytes to write, as a queue of parts; a [`Buf`] whose chunks are the parts, so a vectored
/// write sends several at once.
#[derive(Debug, Default)]
pub(crate) struct Parts {
    parts: VecDeque<Bytes>,
    remaining: usize,
}

impl Parts {
    /// Appends `part`.
    pub(crate) fn push(&mut self, part: Bytes) {
        if !part.is_empty() {
            self.remaining += part.len();
            self.parts.push_back(part);
        }
    }
}

impl Buf for Parts {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.parts.front().map_or(&[], |p| &p[..])
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of the parts");
        self.remaining -= cnt;
        while let Some(front) = self.parts.front_mut() {
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.parts.pop_front();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, part) in dst.iter_mut().zip(&self.parts) {
            *slot = IoSlice::new(part);
            n += 1;
        }
        n
    }
}

/// Appends the frame of `request` (at `header.request_api_version`) to `out`: the length
/// prefix, `header`, then the body, each record batch as its own part. On error nothing is
/// appended.
pub(crate) fn encode_produce_frame(
    out: &mut Parts,
    header: &RequestHeader,
    request: &ProduceRequest,
) -> Result<(), Error> {
    let version = header.request_api_version;
    let fail = |reason: String| Error::Encode {
        what: "ProduceRequest",
        version,
        reason,
    };
    if !(3..=12).contains(&version) {
        return Err(fail("versions 3 to 12 only".into()));
    }
    let flexible = version >= 9;
    // The encoded fields; `batches` says where, in them, each batch goes.
    let mut fields = BytesMut::with_capacity(64 + 32 * request.topic_data.len());
    let mut batches: Vec<(usize, &Bytes)> = Vec::new();
    let mut batch_bytes = 0usize;
    fields.put_i32(0); // the length prefix, filled in below
    header
        .encode(&mut fields, ProduceRequest::header_version(version))
        .map_err(|e| fail(e.to_string()))?;
    let transactional_id = request.transactional_id.as_ref().map(|id| id.0.as_bytes());
    put_string(&mut fields, transactional_id, flexible, &fail)?;
    fields.put_i16(request.acks);
    fields.put_i32(request.timeout_ms);
    put_len(&mut fields, Some(request.topic_data.len()), flexible, &fail)?;
    for topic in &request.topic_data {
        put_string(&mut fields, Some(topic.name.0.as_bytes()), flexible, &fail)?;
        put_len(&mut fields, Some(topic.partition_data.len()), flexible, &fail)?;
        for partition in &topic.partition_data {
            fields.put_i32(partition.index);
            put_len(
                &mut fields,
                partition.records.as_ref().map(Bytes::len),
                flexible,
                &fail,
            )?;
            if let Some(records) = &partition.records {
                batches.push((fields.len(), records));
                batch_bytes += records.len();
            }
            put_no_tagged_fields(&mut fields, flexible);
        }
        put_no_tagged_fields(&mut fields, flexible);
    }
    put_no_tagged_fields(&mut fields, flexible);
    let size = fields.len() - 4 + batch_bytes;
    let size = i32::try_from(size).map_err(|_| fail(format!("{size} bytes do not fit a frame")))?;
    fields[..4].copy_from_slice(&size.to_be_bytes());
    let mut fields = fields.freeze();
    let mut taken = 0;
    for (at, records) in batches {
        out.push(fields.split_to(at - taken));
        taken = at;
        out.push(records.clone());
    }
    out.push(fields);
    Ok(())
}

/// An array length or a `NULLABLE_BYTES` length: `INT32` (`-1` for null) in classic versions,
/// `UNSIGNED_VARINT` of length + 1 (`0` for null) in flexible ones.
fn put_len(
    buf: &mut BytesMut,
    len: Option<usize>,
    flexible: bool,
    fail: &impl Fn(String) -> Error,
) -> Result<(), Error> {
    if flexible {
        put_varint(buf, compact_len(len, fail)?);
    } else {
        let n = match len {
            None => -1,
            Some(n) => i32::try_from(n).map_err(|_| fail(format!("array of {n} elements")))?,
        };
        buf.put_i32(n);
    }
    Ok(())
}

/// A (nullable) string: `INT16` length or compact length, then the bytes.
fn put_string(
    buf: &mut BytesMut,
    s: Option<&[u8]>,
    flexible: bool,
    fail: &impl Fn(String) -> Error,
) -> Result<(), Error> {
    if flexible {
        put_varint(buf, compact_len(s.map(<[u8]>::len), fail)?);
    } else {
        let n = match s {
            None => -1,
            Some(s) => i16::try_from(s.len()).map_err(|_| fail(format!("string of {} bytes", s.len())))?,
        };
        buf.put_i16(n);
    }
    if let Some(s) = s {
        buf.put_slice(s);
    }
    Ok(())
}

fn compact_len(len: Option<usize>, fail: &impl Fn(String) -> Error) -> Result<u32, Error> {
    match len {
        None => Ok(0),
        Some(n) => u32::try_from(n)
            .ok()
            .and_then(|n| n.checked_add(1))
            .ok_or_else(|| fail(format!("length {n} does not fit"))),
    }
}

fn put_no_tagged_fields(buf: &mut BytesMut, flexible: bool) {
    if flexible {
        buf.put_u8(0);
    }
}

fn put_varint(buf: &mut BytesMut, mut n: u32) {
    while n >= 0x80 {
        buf.put_u8((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    buf.put_u8(n as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ApiKey, TopicName, TransactionalId};
    use kafka_protocol::protocol::StrBytes;
    use kafkit_protocol::frame::{encode_request_frame, request_header};
    use rstest::rstest;

    fn request(transactional: bool, records: &[Option<usize>]) -> ProduceRequest {
        let mut topics = Vec::new();
        for (t, chunk) in records.chunks(2).enumerate() {
            let partitions = chunk
                .iter()
                .enumerate()
                .map(|(p, len)| {
                    PartitionProduceData::default()
                        .with_index(p as i32 * 3 + 1)
                        .with_records(len.map(|n| Bytes::from((0..n).map(|i| i as u8).collect::<Vec<_>>())))
                })
                .collect();
            topics.push(
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(format!("topic-{t}"))))
                    .with_partition_data(partitions),
            );
        }
        ProduceRequest::default()
            .with_transactional_id(transactional.then(|| TransactionalId(StrBytes::from_static_str("tx"))))
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(topics)
    }

    fn flatten(mut parts: Parts) -> Vec<u8> {
        let mut out = Vec::new();
        while parts.has_remaining() {
            let chunk = parts.chunk();
            let n = chunk.len().min(7); // advance across part boundaries in odd steps
            out.extend_from_slice(&chunk[..n]);
            parts.advance(n);
        }
        out
    }

    /// The parts, put together, are `kafka-protocol`'s encoding of the same request.
    #[rstest]
    fn matches_kafka_protocol_at_every_version(
        #[values(3, 4, 5, 6, 7, 8, 9, 10, 11, 12)] version: i16,
        #[values(false, true)] transactional: bool,
        #[values(&[][..], &[Some(10)][..], &[Some(0), None, Some(300)][..], &[Some(200); 5][..])]
        records: &[Option<usize>],
    ) {
        let request = request(transactional, records);
        let header = request_header(ApiKey::Produce, version, 42, Some("client"));
        let mut expected = BytesMut::new();
        encode_request_frame(&mut expected, &header, &request).expect("kafka-protocol encodes");
        let mut parts = Parts::default();
        encode_produce_frame(&mut parts, &header, &request).expect("encodes");
        assert_eq!(flatten(parts), &expected[..]);
    }

    #[test]
    fn batches_are_not_copied() {
        let request = request(false, &[Some(1000), Some(2000)]);
        let header = request_header(ApiKey::Produce, 9, 1, None);
        let mut parts = Parts::default();
        encode_produce_frame(&mut parts, &header, &request).expect("encodes");
        let originals: Vec<*const u8> = request.topic_data[0]
            .partition_data
            .iter()
            .filter_map(|p| p.records.as_ref().map(|r| r.as_ptr()))
            .collect();
        let written: Vec<*const u8> = parts.parts.iter().map(|p| p.as_ptr()).collect();
        assert!(
            originals.iter().all(|o| written.contains(o)),
            "each batch is one of the parts"
        );
    }

    #[test]
    fn vectored_chunks_cover_the_parts_in_order() {
        let mut parts = Parts::default();
        for p in [&b"ab"[..], b"", b"cde", b"f"] {
            parts.push(Bytes::from_static(p));
        }
        parts.advance(1);
        let mut slices = [IoSlice::new(&[]); 4];
        let n = parts.chunks_vectored(&mut slices);
        let joined: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
        assert_eq!((n, &joined[..], parts.remaining()), (3, &b"bcdef"[..], 5));
    }

    #[test]
    fn unsupported_versions_are_refused() {
        let header = request_header(ApiKey::Produce, 13, 1, None);
        let mut parts = Parts::default();
        assert!(encode_produce_frame(&mut parts, &header, &request(false, &[Some(1)])).is_err());
        assert_eq!(parts.remaining(), 0, "nothing appended");
    }
}
