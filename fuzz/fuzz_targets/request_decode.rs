//! Frame splitting and request decoding: whatever a peer sends, an error or a request, never a
//! panic, an abort or an allocation the bytes do not back.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // As a request body (after the length prefix).
    let _ = kafkit_protocol::request::decode_request(Bytes::copy_from_slice(data));
    // As a byte stream: split frames with a small maximum, decode each.
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = kafkit_protocol::frame::split_frame(&mut buf, 1 << 20) {
        let _ = kafkit_protocol::request::decode_request(frame);
    }
});
