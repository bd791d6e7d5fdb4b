//! The Kafka wire layer that kafkit's broker and producer stand on.
//!
//! Request and response messages come from the [`kafka_protocol`] crate (generated from Kafka's
//! own JSON schemas); this crate adds what that crate does not do, or does not do safely or fast
//! enough:
//!
//! - framing with a maximum frame size, and a guard that walks every request and response
//!   before the crate decodes it, so no frame can make the decoder panic or reserve memory its
//!   bytes do not back;
//! - the advertised version table and the KIP-511 ApiVersions fallback;
//! - [`ErrorCode`], every Kafka error code with Java's retriable / metadata classification;
//! - a hand-written record batch v2 layer: an allocation-free [`RecordBatchBuilder`], a zero-copy
//!   [`RecordBatch`] view with Kafka's validation, in-place stamping, and the four codecs.
//!
//! # Layout
//! - [`error`]: this crate's [`Error`].
//! - [`error_code`]: [`ErrorCode`], every Kafka error code.
//! - [`frame`]: length-prefixed frames ([`split_frame`]), encoding request and response frames.
//! - [`request`]: [`decode_request`], the guarded decoder for the requests the broker serves.
//! - [`response`]: [`decode_response`], the guarded decoder for the responses the producer reads.
//! - [`versions`]: the API versions kafkit serves and negotiates, the KIP-511 reply.
//! - `wire_shape` (private): the shape of every served message, and the walk that checks a
//!   frame against it before the crate decodes it.
//! - [`record`]: record batch v2 (builder, view, stamping, varints, compression).
//!
//! # Performance
//! `cargo bench -p kafkit-protocol --bench batch` runs the builder and the view beside
//! kafka-protocol's `RecordBatchEncoder` / `RecordBatchDecoder` on the same uncompressed batches
//! in one run (2-core VM, criterion medians):
//!
//! | work | kafkit | kafka-protocol | ratio |
//! |---|---:|---:|---:|
//! | build 128 x 100 B (crate given ready `Record`s) | 2.77 µs | 10.78 µs | 3.9x |
//! | build 128 x 100 B (crate also builds its `Record`s) | 2.77 µs | 12.82 µs | 4.6x |
//! | build 1 x 16 KiB (ready `Record`s / with `Record`s) | 0.48 µs | 0.98 / 1.41 µs | 2.1x / 2.9x |
//! | read + CRC 128 x 100 B | 2.10 µs | 11.87 µs | 5.7x |
//! | read + CRC 1 x 16 KiB | 0.37 µs | 0.88 µs | 2.4x |
//!
//! Criterion times one benchmark after the other, and on this VM the whole machine's speed
//! drifts by 20-40% between them (the same code ran at 1.8 and at 2.9 µs within an hour), so a
//! single criterion ratio is only indicative. `cargo bench -p kafkit-protocol --bench
//! batch_ratio` interleaves the sides round by round (301 rounds of about 4 ms) and reports the
//! median per-round ratio. Over eight runs of the code as it is: 128 x 100 B, 3.30-3.59x
//! (quartiles within 3.1x-3.7x); 1 x 16 KiB, 1.74-2.03x.
//!
//! The batch's CRC-32C comes from `crc-fast` rather than the `crc32c` crate (which
//! kafka-protocol uses): on this machine it folds with VPCLMULQDQ at about 52 GB/s against
//! `crc32c`'s 24 GB/s, which took the first row from 2.8-3.0x to the figures above and the
//! 16 KiB row from 1.07x to about 2x; see [`record::crc32c`].
//!
//! A batch of one 16 KiB record is almost all copy and checksum. `batch_ratio` times that floor
//! too (copying the finished batch's bytes and taking their CRC-32C with the same function):
//! the builder runs within 10% of it, and kafka-protocol's time divided by the floor, the most
//! any builder writing a contiguous batch could show, was 1.88-2.24x in the same eight runs. A
//! 3x ratio there would need the value not to be copied at all (kept by reference and written
//! with vectored I/O, as librdkafka does above `message.copy.max.bytes`, 64 KiB by default), a
//! different kind of output from the encoder's. For 128 records of 100 bytes the floor is
//! under a fifth of the builder's time; the rest is the per-record work (varints and two
//! copies per record), which is where the builder's lead comes from. The builder makes no
//! allocation per record, and none at all in a buffer given exactly the room its records take
//! (`tests/interop_and_allocations.rs` counts them).
//!
//! # Example
//! ```
//! use kafkit_protocol::record::{Header, RecordBatch, RecordBatchBuilder};
//! use kafkit_protocol::Compression;
//!
//! let mut builder = RecordBatchBuilder::new(Compression::Lz4);
//! builder.append(1_700_000_000_000, Some(b"key"), Some(b"value"), &[Header::new("h", None)]);
//! let bytes = builder.build()?.to_vec();
//!
//! let batch = RecordBatch::parse(&bytes)?;
//! assert!(batch.is_crc_valid());
//! let mut scratch = Vec::new();
//! let record = batch.records(&mut scratch, 1 << 20)?.next().expect("one record")?;
//! assert_eq!(record.value, Some(&b"value"[..]));
//! # Ok::<(), kafkit_protocol::Error>(())
//! ```
//!
//! Framing and decoding a request, as the broker's connection task does:
//! ```
//! use bytes::BytesMut;
//! use kafkit_protocol::frame::{encode_request_frame, request_header};
//! use kafkit_protocol::kafka_protocol::messages::{ApiKey, MetadataRequest};
//! use kafkit_protocol::{decode_request, split_frame, RequestBody, DEFAULT_MAX_FRAME_SIZE};
//!
//! let mut read_buf = BytesMut::new();
//! let header = request_header(ApiKey::Metadata, 12, 1, Some("client"));
//! encode_request_frame(&mut read_buf, &header, &MetadataRequest::default())?;
//!
//! while let Some(frame) = split_frame(&mut read_buf, DEFAULT_MAX_FRAME_SIZE)? {
//!     let request = decode_request(frame)?;
//!     assert!(matches!(request.body, RequestBody::Metadata(_)));
//! }
//! # Ok::<(), kafkit_protocol::Error>(())
//! ```

pub mod error;
pub mod error_code;
pub mod frame;
pub mod record;
pub mod request;
pub mod response;
pub mod sasl;
pub mod versions;
mod wire_shape;

pub use error::{Error, Result};
pub use error_code::ErrorCode;
pub use frame::{split_frame, DEFAULT_MAX_FRAME_SIZE};
pub use record::compression::Compression;
pub use record::{RecordBatch, RecordBatchBuilder};
pub use request::{decode_request, Request, RequestBody};
pub use response::{decode_response, GuardedResponse, Response};

/// The message types, re-exported so that users of kafkit need not pin the crate themselves.
pub use kafka_protocol;
