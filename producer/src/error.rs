//! The producer's error type.
//!
//! One failed batch fails every record waiting on it, so [`Error`] is `Clone`: sources that are
//! not (I/O errors, protocol errors) are kept as text. Each variant is something a caller can act
//! on; [`Error::may_have_been_persisted`] says whether a failed record may nevertheless be in the
//! log (librdkafka's `POSSIBLY_PERSISTED`), which decides whether re-sending it risks a duplicate.
//!
//! # References
//! - producer-reference §1.7 (Java's classification of produce errors)
//! - librdkafka `rd_kafka_message_status()`

use std::time::Duration;

use kafkit_protocol::ErrorCode;

/// Everything that can go wrong while configuring the producer, accepting a record or
/// delivering it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is unknown, malformed or inconsistent with another one.
    #[error("invalid configuration `{key}`: {reason}")]
    Config {
        /// The Java config key at fault (`linger.ms`, ...).
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// `buffer.memory` stayed exhausted for `max.block.ms` (or, for `try_send`, at the moment of
    /// the call). Nothing was sent.
    #[error("buffer.memory exhausted: no room for the record after waiting {waited:?} (max.block.ms)")]
    BufferExhausted {
        /// How long the send waited for memory.
        waited: Duration,
    },

    /// The topic did not show up in metadata within `max.block.ms`. Nothing was sent.
    #[error("topic `{topic}` not present in metadata after {waited:?} (max.block.ms)")]
    MetadataTimeout {
        /// The topic.
        topic: String,
        /// How long the send waited.
        waited: Duration,
    },

    /// The record names a partition the topic does not have: a negative one at once, one
    /// beyond the topic's partitions once metadata refreshed for `max.block.ms` did not show
    /// it (Java's `waitOnMetadata`; a topic may just have grown).
    #[error("partition {partition} of topic `{topic}` does not exist (the topic has {partitions})")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The requested partition.
        partition: i32,
        /// The topic's partition count.
        partitions: i32,
    },

    /// The record is larger than `max.request.size` or `buffer.memory` allows. Nothing was sent.
    #[error("record of {size} bytes is larger than {limit_key} ({limit} bytes)")]
    RecordTooLarge {
        /// Upper bound of the record's size in a batch, with the batch header.
        size: usize,
        /// The limit it exceeds.
        limit: usize,
        /// The config key of that limit.
        limit_key: &'static str,
    },

    /// `delivery.timeout.ms` elapsed before the record was acknowledged.
    #[error(
        "record for {topic}-{partition} expired after {elapsed:?} (delivery.timeout.ms){}",
        if *may_have_been_persisted { ", it may have been written" } else { ", it was not sent" }
    )]
    Timeout {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// Time since the record's batch was created.
        elapsed: Duration,
        /// Whether a request carrying the record reached a broker, whose answer is unknown.
        may_have_been_persisted: bool,
    },

    /// The broker rejected the record with a non-retriable error, or retries are exhausted
    /// (`code` is then the last attempt's error; REQUEST_TIMED_OUT or NETWORK_EXCEPTION when
    /// it got no answer).
    #[error(
        "broker rejected the record for {topic}-{partition}: {code}{}{}",
        message.as_deref().map(|m| format!(": {m}")).unwrap_or_default(),
        if *may_have_been_persisted { " (an attempt got no answer: it may have been written)" } else { "" }
    )]
    Broker {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// Kafka's error code.
        code: ErrorCode,
        /// The broker's error message, if any.
        message: Option<String>,
        /// Whether an attempt reached a broker whose answer was lost (a request timeout or a
        /// connection lost after the request went out), so the record may be in the log.
        may_have_been_persisted: bool,
    },

    /// The producer hit an error after which it cannot continue (Java's fatal errors:
    /// CLUSTER_AUTHORIZATION_FAILED, UNSUPPORTED_VERSION, PRODUCER_FENCED,
    /// TRANSACTIONAL_ID_AUTHORIZATION_FAILED, or no common protocol version). Every pending and
    /// later record fails with this error; create a new producer.
    #[error("producer is unusable: {code}: {reason}")]
    Fatal {
        /// The error code behind it.
        code: ErrorCode,
        /// Context.
        reason: String,
    },

    /// The producer was closed: by `close`, or its sender task ended (the runtime shut down).
    #[error("producer closed{}", if *may_have_been_persisted { " while the record was in flight; it may have been written" } else { " before the record was sent" })]
    Closed {
        /// Whether a request carrying the record reached a broker, whose answer is unknown.
        may_have_been_persisted: bool,
    },

    /// A connection to a broker failed (connect, read or write). Used for requests that are not
    /// retried, such as the bootstrap; produce requests are retried.
    #[error("connection to {broker} failed: {reason}")]
    Connection {
        /// `host:port` of the broker.
        broker: String,
        /// The I/O error.
        reason: String,
    },

    /// The TLS handshake or SASL authentication with a broker failed (a wrong password, an
    /// unknown user, a certificate the truststore does not trust, a mechanism the broker does
    /// not enable). Fatal, as Java's `AuthenticationException` is for a producer: retrying with
    /// the same settings cannot succeed.
    #[error("authentication with {broker} failed ({mechanism}): {message}")]
    Authentication {
        /// `host:port` of the broker.
        broker: String,
        /// `SSL` for the TLS handshake, else the SASL mechanism (`SCRAM-SHA-512`, ...).
        mechanism: String,
        /// What the broker answered (Kafka's message) or the TLS layer reported.
        message: String,
    },

    /// A broker sent bytes that are not the response the producer expected.
    #[error("protocol error: {0}")]
    Protocol(String),

    /// The current transaction failed and must be aborted (Java's abortable errors): a record
    /// of it was refused or timed out, a partition or the offsets could not be added, the
    /// group refused the offsets (a rebalance fenced the consumer). Sends and commit fail with
    /// this error until [`abort_transaction`](crate::Producer::abort_transaction) succeeds;
    /// then the producer can begin a new transaction.
    #[error("the transaction must be aborted: {code}: {reason}")]
    TransactionAbortable {
        /// The error code behind it.
        code: ErrorCode,
        /// What failed.
        reason: String,
    },

    /// The record belonged to a transaction that was aborted before it was sent (Java's
    /// `TransactionAbortedException`). It was not written.
    #[error("the record's transaction was aborted before it was sent")]
    TransactionAborted,

    /// The call is not allowed in the transaction's current state (Java's
    /// `IllegalStateException`): `send` outside a transaction, `begin_transaction` twice,
    /// `commit_transaction` before `init_transactions`, a transactional call on a producer
    /// without `transactional.id`...
    #[error("cannot {operation} while the transaction is {state}")]
    InvalidTransactionState {
        /// What was called.
        operation: &'static str,
        /// The transaction's state (Java's names: READY, IN_TRANSACTION, ...).
        state: &'static str,
    },

    /// `init_transactions`, `send_offsets_to_transaction`, `commit_transaction` or
    /// `abort_transaction` did not finish within `max.block.ms`. The operation goes on: calling
    /// the same method again waits for it (Java's rule); calling another one is an
    /// [`Error::InvalidTransactionState`].
    #[error("{operation} did not finish within {waited:?} (max.block.ms); call it again to keep waiting")]
    TransactionTimeout {
        /// The operation still in progress.
        operation: &'static str,
        /// How long the call waited.
        waited: Duration,
    },
}

impl Error {
    /// Whether the record may be in the log even though it failed: its request reached a broker
    /// and the answer was lost (a timeout while in flight, a forced close while in flight, or
    /// retries used up after an attempt without an answer).
    /// `false` means the record was certainly not written, so re-sending it cannot duplicate it.
    pub fn may_have_been_persisted(&self) -> bool {
        match self {
            Error::Timeout {
                may_have_been_persisted,
                ..
            }
            | Error::Broker {
                may_have_been_persisted,
                ..
            }
            | Error::Closed {
                may_have_been_persisted,
            } => *may_have_been_persisted,
            _ => false,
        }
    }

    /// The Kafka error code behind this error, if a broker sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Broker { code, .. }
            | Error::Fatal { code, .. }
            | Error::TransactionAbortable { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether Java classifies `code` as fatal for a producer: after it the producer is unusable.
    pub fn is_fatal_code(code: ErrorCode) -> bool {
        matches!(
            code,
            ErrorCode::ClusterAuthorizationFailed
                | ErrorCode::UnsupportedVersion
                | ErrorCode::ProducerFenced
                | ErrorCode::TransactionalIdAuthorizationFailed
        )
    }

    pub(crate) fn config(key: &str, reason: impl Into<String>) -> Self {
        Error::Config {
            key: key.to_string(),
            reason: reason.into(),
        }
    }
}

impl From<kafkit_protocol::Error> for Error {
    fn from(e: kafkit_protocol::Error) -> Self {
        Error::Protocol(e.to_string())
    }
}

/// `Result` with the producer's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::timeout_sent(Error::Timeout { topic: "t".into(), partition: 0, elapsed: Duration::from_secs(1), may_have_been_persisted: true }, true)]
    #[case::timeout_unsent(Error::Timeout { topic: "t".into(), partition: 0, elapsed: Duration::from_secs(1), may_have_been_persisted: false }, false)]
    #[case::closed_in_flight(Error::Closed { may_have_been_persisted: true }, true)]
    #[case::broker(Error::Broker { topic: "t".into(), partition: 0, code: ErrorCode::InvalidRecord, message: None, may_have_been_persisted: false }, false)]
    #[case::broker_after_lost_answer(Error::Broker { topic: "t".into(), partition: 0, code: ErrorCode::RequestTimedOut, message: None, may_have_been_persisted: true }, true)]
    #[case::buffer(Error::BufferExhausted { waited: Duration::ZERO }, false)]
    fn persisted_status(#[case] error: Error, #[case] persisted: bool) {
        assert_eq!(error.may_have_been_persisted(), persisted);
    }

    #[rstest]
    #[case(ErrorCode::ClusterAuthorizationFailed, true)]
    #[case(ErrorCode::UnsupportedVersion, true)]
    #[case(ErrorCode::ProducerFenced, true)]
    #[case(ErrorCode::TransactionalIdAuthorizationFailed, true)]
    #[case(ErrorCode::TopicAuthorizationFailed, false)]
    #[case(ErrorCode::NotLeaderOrFollower, false)]
    fn fatal_codes_match_java(#[case] code: ErrorCode, #[case] fatal: bool) {
        assert_eq!(Error::is_fatal_code(code), fatal);
    }

    #[test]
    fn messages_name_their_context() {
        let e = Error::config("linger.ms", "expected a non-negative integer, got `x`");
        assert_eq!(
            e.to_string(),
            "invalid configuration `linger.ms`: expected a non-negative integer, got `x`"
        );
        let e = Error::Broker {
            topic: "orders".into(),
            partition: 3,
            code: ErrorCode::InvalidRecord,
            message: Some("bad".into()),
            may_have_been_persisted: false,
        };
        assert_eq!(
            e.to_string(),
            "broker rejected the record for orders-3: INVALID_RECORD (87): bad"
        );
    }
}
