//! Kafka's framing: every request and response travels as a 4-byte big-endian length followed
//! by that many bytes (a header, then the message body).
//!
//! Pure functions over `bytes` buffers, no I/O: the broker's connection task and the producer's
//! transport read into a [`BytesMut`] and call [`split_frame`] until it returns `Ok(None)`, and
//! build outgoing frames with [`encode_request_frame`] / [`encode_response_frame`]. As in
//! mini-redis, an incomplete frame is not an error, just a reason to read more.
//!
//! The length is checked as soon as its four bytes are in, before any of the body is buffered,
//! so a peer that announces a 2 GiB frame is refused at once rather than after we have buffered
//! it. Nothing here reserves memory on the peer's word either; the caller decides how to grow its
//! read buffer.
//!
//! # References
//! - Kafka protocol guide, "Common Request and Response Structure"
//! - Kafka's `socket.request.max.bytes` (100 MiB), the default for [`DEFAULT_MAX_FRAME_SIZE`]

use std::any::type_name;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Encodable, HeaderVersion, Request};

use crate::{Error, Result};

/// Kafka's default `socket.request.max.bytes`: the largest frame a broker accepts.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 104_857_600;

/// Size of the length prefix.
const PREFIX: usize = 4;

/// The most [`split_frame`] reserves ahead for an incomplete frame: a length prefix alone
/// (which costs a peer four bytes) cannot make the reader allocate more than this; a larger
/// frame grows the buffer as its bytes arrive.
pub const PREALLOCATE_MAX: usize = 4 * 1024 * 1024;

/// Splits the first complete frame off the front of `buf` and returns its body (without the
/// length prefix), zero-copy.
///
/// Returns `Ok(None)` while the frame is incomplete, leaving `buf`'s bytes untouched but with
/// room reserved for the rest of the frame (at most [`PREALLOCATE_MAX`] more), so a large frame
/// read in pieces is not copied again each time the buffer grows;
/// [`Error::InvalidFrameLength`] for a negative length and [`Error::FrameTooLarge`] for one
/// above `max`, as soon as the prefix has arrived. After an error the stream cannot be
/// resynchronised: close the connection.
///
/// ```
/// use bytes::BytesMut;
/// use kafkit_protocol::frame::{split_frame, DEFAULT_MAX_FRAME_SIZE};
///
/// let mut buf = BytesMut::from(&[0, 0, 0, 2, 0xaa][..]);
/// assert!(split_frame(&mut buf, DEFAULT_MAX_FRAME_SIZE)?.is_none());
/// buf.extend_from_slice(&[0xbb, 0, 0]);
/// let body = split_frame(&mut buf, DEFAULT_MAX_FRAME_SIZE)?.expect("complete");
/// assert_eq!(&body[..], &[0xaa, 0xbb]);
/// assert_eq!(&buf[..], &[0, 0]); // the start of the next frame stays
/// # Ok::<(), kafkit_protocol::Error>(())
/// ```
pub fn split_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>> {
    let Some(prefix) = buf.get(..PREFIX) else {
        return Ok(None);
    };
    let declared = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    let size = usize::try_from(declared).map_err(|_| Error::InvalidFrameLength(declared))?;
    if size > max {
        return Err(Error::FrameTooLarge { size, max });
    }
    if buf.len() < PREFIX + size {
        buf.reserve((PREFIX + size - buf.len()).min(PREALLOCATE_MAX));
        return Ok(None);
    }
    buf.advance(PREFIX);
    Ok(Some(buf.split_to(size).freeze()))
}

/// Appends `payload` to `dst` as one frame. For bytes that are already a header and a body,
/// such as [`crate::versions::unsupported_api_versions_response`].
pub fn encode_frame(dst: &mut BytesMut, payload: &[u8]) -> Result<()> {
    let size = i32::try_from(payload.len()).map_err(|_| Error::Encode {
        what: "frame",
        version: 0,
        reason: format!("{} bytes do not fit a frame", payload.len()),
    })?;
    dst.reserve(PREFIX + payload.len());
    dst.put_i32(size);
    dst.put_slice(payload);
    Ok(())
}

/// Appends a request frame to `dst`: length prefix, `header` (v1 or v2, as the API and version
/// require), `body` at `header.request_api_version`.
///
/// `header.request_api_key` must be `R`'s key. On error nothing is appended.
pub fn encode_request_frame<R: Request>(dst: &mut BytesMut, header: &RequestHeader, body: &R) -> Result<()> {
    let version = header.request_api_version;
    let what = short_type_name::<R>();
    if header.request_api_key != R::KEY {
        return Err(Error::Encode {
            what,
            version,
            reason: format!(
                "header has api key {}, body is {}",
                header.request_api_key,
                R::KEY
            ),
        });
    }
    let header_version = R::header_version(version);
    encode_with_prefix(dst, what, version, |dst| {
        header.encode(dst, header_version)?;
        body.encode(dst, version)
    })
}

/// Appends a response frame to `dst`: length prefix, response header (v0 or v1, as the crate's
/// `header_version` says for `T` at `version`; always v0 for ApiVersions) carrying
/// `correlation_id`, then `body` at `version`. On error nothing is appended.
pub fn encode_response_frame<T: Encodable + HeaderVersion>(
    dst: &mut BytesMut,
    correlation_id: i32,
    version: i16,
    body: &T,
) -> Result<()> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_version = T::header_version(version);
    encode_with_prefix(dst, short_type_name::<T>(), version, |dst| {
        header.encode(dst, header_version)?;
        body.encode(dst, version)
    })
}

/// Runs `encode` after a placeholder prefix, then fills the prefix in; rolls `dst` back if
/// encoding fails or the frame does not fit an `i32`.
fn encode_with_prefix<E: std::fmt::Display>(
    dst: &mut BytesMut,
    what: &'static str,
    version: i16,
    encode: impl FnOnce(&mut BytesMut) -> std::result::Result<(), E>,
) -> Result<()> {
    let start = dst.len();
    dst.put_i32(0);
    let outcome = encode(dst).map_err(|e| e.to_string()).and_then(|()| {
        let size = dst.len() - start - PREFIX;
        i32::try_from(size).map_err(|_| format!("{size} bytes do not fit a frame"))
    });
    match outcome {
        Ok(size) => {
            dst[start..start + PREFIX].copy_from_slice(&size.to_be_bytes());
            Ok(())
        }
        Err(reason) => {
            dst.truncate(start);
            Err(Error::Encode {
                what,
                version,
                reason,
            })
        }
    }
}

/// `ProduceRequest` rather than `kafka_protocol::messages::produce_request::ProduceRequest`.
fn short_type_name<T>() -> &'static str {
    let full = type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

/// The request header for `api_key` at `version`, for callers that do not need tagged fields.
pub fn request_header(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
) -> RequestHeader {
    RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(client_id.map(|id| id.to_owned().into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsResponse, MetadataRequest, ProduceResponse};
    use proptest::prelude::*;
    use rstest::rstest;

    const MAX: usize = 1024;

    #[rstest]
    #[case::empty(&[])]
    #[case::partial_prefix(&[0, 0, 0])]
    #[case::partial_body(&[0, 0, 0, 3, 1, 2])]
    fn incomplete_frames_wait_for_more(#[case] bytes: &[u8]) {
        let mut buf = BytesMut::from(bytes);
        assert!(split_frame(&mut buf, MAX).expect("no error").is_none());
        assert_eq!(&buf[..], bytes, "nothing consumed");
    }

    #[test]
    fn complete_frames_split_off_in_order() {
        let mut buf = BytesMut::from(&[0, 0, 0, 1, 7, 0, 0, 0, 0, 0, 0, 0, 2, 8, 9][..]);
        let frames: Vec<Bytes> = std::iter::from_fn(|| split_frame(&mut buf, MAX).expect("ok")).collect();
        assert_eq!(frames, [&[7][..], &[][..], &[8, 9][..]]);
        assert!(buf.is_empty());
    }

    #[test]
    fn split_is_zero_copy() {
        let mut buf = BytesMut::from(&[0, 0, 0, 2, 7, 8][..]);
        let base = buf.as_ptr() as usize;
        let body = split_frame(&mut buf, MAX).expect("ok").expect("complete");
        assert_eq!(body.as_ptr() as usize, base + PREFIX);
    }

    /// Once the prefix is in, room for the whole frame is reserved, so the rest arrives in
    /// place (the buffer never moves while it fills); a declared length past
    /// `PREALLOCATE_MAX` reserves only that much.
    #[test]
    fn an_incomplete_frame_gets_room_for_the_rest_up_to_a_cap() {
        let size = 1 << 20;
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&(size as i32).to_be_bytes());
        buf.extend_from_slice(&[1; 100]);
        assert!(split_frame(&mut buf, DEFAULT_MAX_FRAME_SIZE)
            .expect("ok")
            .is_none());
        assert!(buf.capacity() >= PREFIX + size, "{}", buf.capacity());
        let start = buf.as_ptr() as usize;
        let body = loop {
            let piece = (PREFIX + size - buf.len()).min(64 * 1024);
            buf.extend_from_slice(&vec![2; piece]);
            if let Some(body) = split_frame(&mut buf, DEFAULT_MAX_FRAME_SIZE).expect("ok") {
                break body;
            }
            assert_eq!(
                buf.as_ptr() as usize,
                start,
                "the frame was not moved while it arrived"
            );
        };
        assert_eq!((body.len(), body.as_ptr() as usize), (size, start + PREFIX));

        let mut buf = BytesMut::new();
        buf.extend_from_slice(&(100_000_000i32).to_be_bytes());
        assert!(split_frame(&mut buf, DEFAULT_MAX_FRAME_SIZE)
            .expect("ok")
            .is_none());
        assert!(
            buf.capacity() <= PREFIX + PREALLOCATE_MAX + 64,
            "{}",
            buf.capacity()
        );
    }

    #[rstest]
    #[case::negative(&[0xff, 0xff, 0xff, 0xff], "invalid frame length -1")]
    #[case::min(&[0x80, 0, 0, 0], "invalid frame length -2147483648")]
    #[case::over_max(&[0, 0, 4, 1], "frame of 1025 bytes exceeds the maximum of 1024 bytes")]
    #[case::huge(&[0x7f, 0xff, 0xff, 0xff], "frame of 2147483647 bytes")]
    fn bad_lengths_fail_before_the_body_arrives(#[case] prefix: &[u8], #[case] expected: &str) {
        let mut buf = BytesMut::from(prefix);
        let error = split_frame(&mut buf, MAX).expect_err("refused").to_string();
        assert!(error.starts_with(expected), "{error}");
    }

    #[test]
    fn frame_of_exactly_max_is_accepted() {
        let mut buf = BytesMut::new();
        encode_frame(&mut buf, &[0; MAX]).expect("encodes");
        assert_eq!(
            split_frame(&mut buf, MAX).expect("ok").expect("complete").len(),
            MAX
        );
    }

    #[test]
    fn request_frame_has_prefix_header_and_body() {
        let mut dst = BytesMut::from(&b"xy"[..]);
        let header = request_header(ApiKey::Metadata, 1, 9, Some("c"));
        encode_request_frame(&mut dst, &header, &MetadataRequest::default()).expect("encodes");
        let expected = [
            b'x', b'y', // what was there before
            0, 0, 0, 15, // length
            0, 3, 0, 1, 0, 0, 0, 9, 0, 1, b'c', // header v1
            0, 0, 0, 0, // topics: none
        ];
        assert_eq!(&dst[..], &expected);
    }

    #[test]
    fn request_frame_refuses_a_mismatched_header_and_appends_nothing() {
        let mut dst = BytesMut::new();
        let header = request_header(ApiKey::Produce, 9, 1, None);
        let error =
            encode_request_frame(&mut dst, &header, &MetadataRequest::default()).expect_err("mismatch");
        assert!(
            matches!(
                error,
                Error::Encode {
                    what: "MetadataRequest",
                    ..
                }
            ),
            "{error}"
        );
        assert!(dst.is_empty());
    }

    #[test]
    fn failed_body_encode_rolls_back() {
        let mut dst = BytesMut::from(&b"keep"[..]);
        // Produce v2 was removed from the crate (KIP-896), so encoding it fails.
        let error = encode_response_frame(&mut dst, 1, 2, &ProduceResponse::default())
            .expect_err("unsupported version");
        assert!(matches!(
            error,
            Error::Encode {
                what: "ProduceResponse",
                version: 2,
                ..
            }
        ));
        assert_eq!(&dst[..], b"keep");
    }

    #[rstest]
    #[case::produce_v8_header_v0(8, 4)]
    #[case::produce_v9_header_v1(9, 5)]
    fn response_header_version_follows_the_crate(#[case] version: i16, #[case] header_len: usize) {
        let mut dst = BytesMut::new();
        encode_response_frame(&mut dst, 7, version, &ProduceResponse::default()).expect("encodes");
        let body_len = ProduceResponse::default().compute_size(version).expect("size");
        assert_eq!(dst.len(), PREFIX + header_len + body_len);
        assert_eq!(&dst[PREFIX..PREFIX + 4], &7i32.to_be_bytes());
    }

    #[test]
    fn api_versions_response_header_is_always_v0() {
        let mut dst = BytesMut::new();
        encode_response_frame(&mut dst, 7, 3, &ApiVersionsResponse::default()).expect("encodes");
        // prefix, correlation id, then straight into the body: error_code 0.
        assert_eq!(&dst[PREFIX..PREFIX + 6], &[0, 0, 0, 7, 0, 0]);
    }

    proptest! {
        #[test]
        fn split_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = split_frame(&mut buf, 16) {}
        }
    }
}
