//! The Kafka wire layer that kafkit's broker and producer stand on.
//!
//! Request and response messages come from the [`kafka_protocol`] crate (generated from Kafka's
//! own JSON schemas); this crate adds what that crate does not do, or does not do safely or fast
//! enough:
//!
//! - framing with a maximum frame size, and a guard that walks a request before the crate decodes
//!   it, so no frame can make the decoder panic or reserve memory its bytes do not back;
//! - the advertised version table and the KIP-511 ApiVersions fallback;
//! - [`ErrorCode`], every Kafka error code with Java's retriable / metadata classification;
//! - a hand-written record batch v2 layer: an allocation-free [`RecordBatchBuilder`], a zero-copy
//!   [`RecordBatch`] view with Kafka's validation, in-place stamping, and the four codecs.
//!
//! # Layout
//! - [`error`]: this crate's [`Error`].
//! - [`error_code`]: [`ErrorCode`].
//! - [`versions`]: the API versions kafkit serves and negotiates, the KIP-511 reply.
//! - [`record`]: record batch v2 (builder, view, stamping, varints, compression).
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

pub mod error;
pub mod error_code;
pub mod record;
pub mod versions;

pub use error::{Error, Result};
pub use error_code::ErrorCode;
pub use record::compression::Compression;
pub use record::{RecordBatch, RecordBatchBuilder};

/// The message types, re-exported so that users of kafkit need not pin the crate themselves.
pub use kafka_protocol;
