//! The protocol crate's error type.

use std::borrow::Cow;

use crate::{Compression, ErrorCode};

/// Everything that can go wrong while framing, decoding or encoding Kafka bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The 4-byte length prefix is negative.
    #[error("invalid frame length {0}")]
    InvalidFrameLength(i32),
    /// The frame is larger than the configured maximum (Kafka's `socket.request.max.bytes`).
    #[error("frame of {size} bytes exceeds the maximum of {max} bytes")]
    FrameTooLarge {
        /// Declared size.
        size: usize,
        /// Configured maximum.
        max: usize,
    },
    /// The frame cannot even hold a request header.
    #[error("frame of {size} bytes is shorter than a request header")]
    FrameTooShort {
        /// Declared size.
        size: usize,
    },
    /// A SASL exchange went wrong: a malformed or unexpected message, or a proof that does not
    /// verify. The text never contains a secret.
    #[error("SASL {mechanism}: {reason}")]
    Sasl {
        /// The mechanism (`PLAIN`, `SCRAM-SHA-256`, ...).
        mechanism: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The api key is not one Kafka defines.
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    /// The api key is known but kafkit does not serve this version of it.
    #[error("api key {api_key} version {version} is not supported")]
    UnsupportedVersion {
        /// The api key.
        api_key: i16,
        /// The requested version.
        version: i16,
    },
    /// The bytes do not decode as the message they claim to be.
    #[error("malformed {what} (api key {api_key}, version {version}): {reason}")]
    Malformed {
        /// What was being decoded (`request header`, `Produce request`, ...).
        what: &'static str,
        /// The api key.
        api_key: i16,
        /// The version.
        version: i16,
        /// Why it failed.
        reason: String,
    },
    /// A message could not be encoded.
    #[error("cannot encode {what} version {version}: {reason}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The version.
        version: i16,
        /// Why it failed.
        reason: String,
    },
    /// A record batch failed validation; `code` is what a Kafka broker answers for it.
    #[error("invalid record batch, {code}: {reason}")]
    InvalidBatch {
        /// Kafka's error code for this failure.
        code: ErrorCode,
        /// What is wrong.
        reason: Cow<'static, str>,
    },
    /// Compressing or decompressing a batch failed.
    #[error("{codec} codec failed: {reason}")]
    Compression {
        /// The codec.
        codec: Compression,
        /// Why.
        reason: String,
    },
    /// A compressed payload expands beyond the allowed size (a decompression bomb, or a batch
    /// larger than the limit).
    #[error("{codec} payload decompresses to more than {limit} bytes")]
    DecompressedTooLarge {
        /// The codec.
        codec: Compression,
        /// The limit that was hit.
        limit: usize,
    },
}

impl Error {
    /// The Kafka error code a broker answers for this error when it concerns a produced batch.
    ///
    /// Decompression failures are `UNKNOWN_SERVER_ERROR`, as in Kafka (its `KafkaException` is
    /// not an `ApiException`).
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Error::InvalidBatch { code, .. } => *code,
            Error::Compression { .. } | Error::DecompressedTooLarge { .. } => ErrorCode::UnknownServerError,
            Error::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
            _ => ErrorCode::InvalidRequest,
        }
    }

    pub(crate) fn batch(code: ErrorCode, reason: impl Into<Cow<'static, str>>) -> Self {
        Error::InvalidBatch {
            code,
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_record(reason: impl Into<Cow<'static, str>>) -> Self {
        Error::batch(ErrorCode::InvalidRecord, reason)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
