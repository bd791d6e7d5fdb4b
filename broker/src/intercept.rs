//! One hook point on every request: the [`Interceptor`].
//!
//! A cluster has at most one interceptor ([`ClusterState::set_interceptor`]), set and cleared
//! at runtime. The connection loop calls it twice per request, in the connection's order:
//!
//! 1. [`Interceptor::before`], after the request is decoded and its version checked, before any
//!    handler runs. It is async, so it may add latency or park the request until a test lets it
//!    go; only this connection waits (requests on one connection are answered in order, as in
//!    Kafka), every other connection keeps being served. It returns a [`Decision`]: proceed,
//!    close the connection, answer the whole request with an error code, or answer chosen
//!    topics/partitions with an error code without handling them (the others are handled
//!    normally; Produce, Fetch, ListOffsets and Metadata), plus what to do with the response.
//! 2. [`Interceptor::after`], with the typed [`Response`] (none for a Produce with acks=0, or
//!    when the decision closed the connection first). It may change the response, and decide
//!    to send it, drop it (the request took effect but the client never hears: the case that
//!    makes idempotence matter), or close the connection without sending it.
//!
//! Faults, journals and counters are built on this in the test kit; the broker itself only
//! carries them out, so no handler knows about faults.
//!
//! [`ClusterState::set_interceptor`]: crate::cluster::ClusterState::set_interceptor

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use kafka_protocol::messages::ApiKey;
use kafkit_protocol::{ErrorCode, Request};

use crate::response::Response;

mod errors;
mod partitions;

pub(crate) use errors::request_error_response;
pub(crate) use partitions::{restore_partition_errors, strip_partition_errors};

/// A boxed future, as [`Interceptor::before`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where and when a request arrived: what an [`Interceptor`] matches on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestContext {
    /// The node whose listener (or in-memory connection) received it.
    pub node_id: i32,
    /// The connection, unique within the process.
    pub connection_id: u64,
    /// The header's `client_id`.
    pub client_id: Option<String>,
    /// The API.
    pub api_key: ApiKey,
    /// The request's version.
    pub api_version: i16,
    /// The header's correlation id.
    pub correlation_id: i32,
    /// Requests before this one on the same connection (0 for the first).
    pub connection_request_index: u64,
    /// Requests before this one on any connection of the cluster since it started.
    pub cluster_request_index: u64,
    /// Wall-clock arrival time.
    pub received_at: SystemTime,
    /// Arrival time on tokio's clock (follows a paused clock in tests).
    pub received_instant: tokio::time::Instant,
    /// The connection's principal: `User:<name>` after SASL, `User:<DN>` for a TLS client
    /// certificate, `User:ANONYMOUS` otherwise.
    pub principal: String,
}

/// What happens to a request after [`Interceptor::before`].
///
/// `Decision::default()` handles the request normally. The fields compose: a request error
/// wins over partition errors, closing before handling wins over both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Close the connection without handling the request or answering it.
    pub close_before: bool,
    /// Do not handle the request; answer every topic/partition in it (or the whole response,
    /// for APIs without partitions) with this code.
    pub request_error: Option<ErrorCode>,
    /// Answer these topics/partitions with an error code without handling them; the rest of
    /// the request is handled normally. Used by Produce, Fetch, ListOffsets and Metadata.
    pub partition_errors: Vec<PartitionError>,
    /// What to do with the response once the request was handled.
    pub after: After,
    /// Report a quota violation (KIP-219): the response carries this as `throttle_time_ms`,
    /// and, as Kafka does, the broker reads nothing more from the connection until it has
    /// passed (clients from Produce v6 / Fetch v8 on are expected to wait by themselves).
    pub throttle: Option<std::time::Duration>,
}

impl Decision {
    /// Whether this decision leaves the request and its response alone.
    pub fn is_pass_through(&self) -> bool {
        *self == Decision::default()
    }

    /// Combines two decisions on the same request: closes if either closes, the first request
    /// error, every partition error (the first one for a partition wins), the stronger `after`.
    pub fn merge(mut self, other: Decision) -> Decision {
        self.close_before |= other.close_before;
        self.request_error = self.request_error.or(other.request_error);
        self.partition_errors.extend(other.partition_errors);
        self.after = self.after.max(other.after);
        self.throttle = self.throttle.max(other.throttle);
        self
    }
}

/// An error code injected for one topic, or one partition of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionError {
    /// The topic.
    pub topic: String,
    /// The partition; `None` for every partition of the topic in the request (and, for
    /// Metadata, the topic's own error code).
    pub partition: Option<i32>,
    /// The code answered.
    pub error: ErrorCode,
}

impl PartitionError {
    /// Whether this names `topic`/`partition`.
    pub fn matches(&self, topic: &str, partition: i32) -> bool {
        self.topic == topic && self.partition.is_none_or(|p| p == partition)
    }
}

/// What the connection does with a response, in increasing strength.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum After {
    /// Send it (the normal case).
    #[default]
    Send,
    /// Do not send it; keep the connection. The request took effect, and the client waits
    /// for an answer that never comes (until its request timeout).
    Drop,
    /// Do not send it; close the connection.
    Close,
}

/// The hook on every request of a cluster. See the [module docs](self).
pub trait Interceptor: Send + Sync + fmt::Debug {
    /// Called before the request is handled; may wait (latency, a test-controlled gate) and
    /// decides what happens to the request.
    ///
    /// Cancel safety: the future is dropped when the cluster shuts down; holding nothing that
    /// must be released by running to completion keeps it cancel safe.
    fn before<'a>(&'a self, ctx: &'a RequestContext, request: &'a Request) -> BoxFuture<'a, Decision>;

    /// Called after the request was handled (or refused by `decision`), with the response the
    /// client would get: `None` for a Produce with acks=0 or when `decision` closed the
    /// connection before handling. May change the response; returns what to do with it, which
    /// is combined with `decision.after` (the stronger wins).
    fn after(
        &self,
        ctx: &RequestContext,
        request: &Request,
        decision: &Decision,
        response: Option<&mut Response>,
    ) -> After {
        let _ = (ctx, request, decision, response);
        After::Send
    }
}

#[cfg(test)]
mod tests;
