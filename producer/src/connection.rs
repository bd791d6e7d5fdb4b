//! One connection to one broker: connect, negotiate versions, pipeline requests.
//!
//! Each connection is a tokio task spawned by the sender, which talks to it through a
//! [`ConnectionHandle`] (requests in) and the sender's event channel ([`ConnEvent`] out). The task:
//!
//! 1. opens a [`Transport`](connector::Transport) through the [`Connector`] (bounded by
//!    `request.timeout.ms`);
//! 2. negotiates versions: ApiVersions v3; if the broker answers UNSUPPORTED_VERSION (KIP-511)
//!    it retries at the highest version the broker advertises for ApiVersions (at most 3), or v0
//!    when the answer carries no range. Each API the producer uses gets Java's
//!    `min(our max, broker max)` from [`client_range`](kafkit_protocol::versions::client_range);
//!    no common Produce or Metadata version closes the connection with
//!    [`ConnectionError::Unsupported`]. Then it reports [`ConnEvent::Ready`];
//! 3. runs a writer and a reader concurrently. The writer encodes requests at the negotiated
//!    versions, several per write when they queue up, and tells the reader which correlation id
//!    to expect next; Kafka answers in order on a connection, so the reader matches each
//!    response frame against the oldest outstanding request. Pipelining depth is the sender's
//!    business (`max.in.flight.requests.per.connection`); the connection sends what it is given.
//!    A Produce with acks=0 gets no response: it is reported as answered once written.
//!
//! A request outstanding longer than `request.timeout.ms` closes the connection, as Java does:
//! every request on it then fails ([`ConnEvent::Closed`]), and the sender retries or fails
//! their batches. Dropping the handle closes the connection without an event.
//!
//! # References
//! - Kafka protocol guide, "Requests and responses"; KIP-511; Java's `NetworkClient`,
//!   `InFlightRequests`

pub mod connector;
mod produce_frame;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, InitProducerIdRequest, InitProducerIdResponse,
    MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafkit_protocol::frame::{encode_request_frame, request_header};
use kafkit_protocol::response::{decode_response, GuardedResponse};
use kafkit_protocol::versions::client_range;
use kafkit_protocol::{split_frame, DEFAULT_MAX_FRAME_SIZE};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout, Instant};
use tracing::Instrument;

use self::connector::{BoxTransport, Connector};
use self::produce_frame::{encode_produce_frame, Parts};
use crate::security::sasl::{Direct, Exchange, SaslTransport};
use crate::security::ConnectionSecurity;
use crate::transaction::wire::{TxnRequest, TxnResponse, TxnVersions};

/// Identifies one connection (one attempt) for the sender: node ids repeat across reconnects.
pub(crate) type ConnId = u64;

/// A request the sender hands to a connection.
#[derive(Debug)]
pub(crate) enum RequestBody {
    /// A produce request; `expects_response` is false for acks=0.
    Produce(ProduceRequest, bool),
    /// A metadata request.
    Metadata(MetadataRequest),
    /// An InitProducerId request.
    InitProducerId(InitProducerIdRequest),
    /// A transaction request (coordinator lookup, AddPartitionsToTxn, ..., EndTxn).
    Txn(Box<TxnRequest>),
}

/// A decoded response, or `Written` for a request that gets none (acks=0).
#[derive(Debug)]
pub(crate) enum ResponseBody {
    /// Answer to [`RequestBody::Produce`].
    Produce(ProduceResponse),
    /// Answer to [`RequestBody::Metadata`].
    Metadata(MetadataResponse),
    /// Answer to [`RequestBody::InitProducerId`].
    InitProducerId(InitProducerIdResponse),
    /// Answer to [`RequestBody::Txn`].
    Txn(TxnResponse),
    /// An acks=0 produce request was written to the socket.
    Written,
}

/// The versions negotiated with one broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ApiVersions {
    /// Produce version.
    pub produce: i16,
    /// Metadata version.
    pub metadata: i16,
    /// InitProducerId version, if the broker has a common one.
    pub init_producer_id: Option<i16>,
    /// The transaction APIs' versions.
    pub txn: TxnVersions,
    /// SaslHandshake and SaslAuthenticate versions, if the broker has common ones.
    pub sasl: Option<(i16, i16)>,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnectionError {
    /// Connect, read or write failed, or the broker closed the socket.
    Io(String),
    /// A request went unanswered for `request.timeout.ms` (or the connect did).
    Timeout,
    /// The broker sent something that is not the expected response.
    Protocol(String),
    /// No common version of an API the producer needs.
    Unsupported(String),
    /// The TLS layer failed (an alert from the broker, a bad record).
    Tls(String),
    /// The TLS handshake or SASL authentication failed: fatal for the producer.
    Authentication {
        /// `host:port` of the broker.
        broker: String,
        /// `SSL` for TLS, else the SASL mechanism.
        mechanism: String,
        /// What the broker (or the TLS layer) said.
        message: String,
    },
}

impl std::fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectionError::Io(e) => write!(f, "i/o error: {e}"),
            ConnectionError::Timeout => f.write_str("request timed out (request.timeout.ms)"),
            ConnectionError::Protocol(e) => write!(f, "protocol error: {e}"),
            ConnectionError::Unsupported(e) => write!(f, "no common version: {e}"),
            ConnectionError::Tls(e) => write!(f, "TLS error: {e}"),
            ConnectionError::Authentication {
                broker,
                mechanism,
                message,
            } => write!(f, "authentication with {broker} failed ({mechanism}): {message}"),
        }
    }
}

/// What a connection task reports to the sender.
#[derive(Debug)]
pub(crate) enum ConnEvent {
    /// Versions are negotiated; requests may be sent.
    Ready {
        /// The connection.
        conn: ConnId,
        /// The negotiated versions.
        versions: ApiVersions,
    },
    /// A request was answered (in send order).
    Response {
        /// The connection.
        conn: ConnId,
        /// The id the sender gave the request.
        id: u64,
        /// The response.
        body: ResponseBody,
    },
    /// The connection ended; requests without a response never get one.
    Closed {
        /// The connection.
        conn: ConnId,
        /// Why.
        error: ConnectionError,
    },
}

/// Settings shared by every connection of a producer.
#[derive(Debug)]
pub(crate) struct ConnectionParams {
    /// `client.id`, in every request header.
    pub client_id: String,
    /// `request.timeout.ms`, per request and for the connect.
    pub request_timeout: Duration,
    /// Largest response frame accepted.
    pub max_frame: usize,
    /// Opens the transport.
    pub connector: Arc<dyn Connector>,
    /// TLS and SASL, if `security.protocol` asks for them.
    pub security: ConnectionSecurity,
}

impl ConnectionParams {
    pub(crate) fn new(client_id: String, request_timeout: Duration, connector: Arc<dyn Connector>) -> Self {
        ConnectionParams {
            client_id,
            request_timeout,
            max_frame: DEFAULT_MAX_FRAME_SIZE,
            connector,
            security: ConnectionSecurity::default(),
        }
    }
}

/// The sender's end of a connection. Dropping it closes the connection.
#[derive(Debug)]
pub(crate) struct ConnectionHandle {
    /// Requests to write, each with the sender's id. The connection task holds the receiver;
    /// it is gone once the connection has ended.
    requests: mpsc::UnboundedSender<(u64, RequestBody)>,
    /// The task, aborted on drop so that a dropped connection stops at once.
    task: JoinHandle<()>,
}

impl ConnectionHandle {
    /// Queues a request. `Err` gives it back if the connection has already ended (a
    /// [`ConnEvent::Closed`] is then on its way, or the handle was replaced).
    pub(crate) fn send(&self, id: u64, body: RequestBody) -> Result<(), RequestBody> {
        self.requests.send((id, body)).map_err(|e| e.0 .1)
    }
}

impl Drop for ConnectionHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Spawns connection `conn` to `host:port`.
pub(crate) fn spawn(
    conn: ConnId,
    host: String,
    port: u16,
    params: Arc<ConnectionParams>,
    events: mpsc::UnboundedSender<ConnEvent>,
) -> ConnectionHandle {
    let (requests, requests_rx) = mpsc::unbounded_channel();
    let span = tracing::debug_span!("connection", conn, broker = %format!("{host}:{port}"));
    let task = tokio::spawn(
        async move {
            let result = run(conn, &host, port, &params, requests_rx, &events).await;
            if let Err(error) = result {
                tracing::debug!(%error, "connection closed");
                let _ = events.send(ConnEvent::Closed { conn, error });
            }
        }
        .instrument(span),
    );
    ConnectionHandle { requests, task }
}

async fn run(
    conn: ConnId,
    host: &str,
    port: u16,
    params: &ConnectionParams,
    requests: mpsc::UnboundedReceiver<(u64, RequestBody)>,
    events: &mpsc::UnboundedSender<ConnEvent>,
) -> Result<(), ConnectionError> {
    let stream = timeout(params.request_timeout, params.connector.connect(host, port))
        .await
        .map_err(|_| ConnectionError::Timeout)?
        .map_err(|e| ConnectionError::Io(e.to_string()))?;
    let broker = format!("{host}:{port}");
    let stream = match &params.security.tls {
        None => stream,
        Some(tls) => match timeout(params.request_timeout, tls.connect(host, stream)).await {
            Err(_) => return Err(ConnectionError::Timeout),
            Ok(Ok(stream)) => stream,
            // rustls reports certificate and protocol failures as InvalidData: the peer is not
            // the broker the config trusts, which retrying does not change (Java's
            // SslAuthenticationException). Anything else is the network's.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(ConnectionError::Authentication {
                    broker,
                    mechanism: "SSL".to_string(),
                    message: format!("TLS handshake failed: {e}"),
                })
            }
            Ok(Err(e)) => return Err(ConnectionError::Io(format!("TLS handshake: {e}"))),
        },
    };
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut read_buf = BytesMut::with_capacity(READ_CHUNK);
    // With TLS 1.3 the broker checks the client's certificate after the client's side of the
    // handshake is done: a refusal (an alert) arrives with the first response.
    let mut session = None;
    let versions = negotiate(&mut rd, &mut wr, &mut read_buf, params)
        .await
        .map_err(|e| match e {
            ConnectionError::Tls(message) => ConnectionError::Authentication {
                broker: broker.clone(),
                mechanism: "SSL".to_string(),
                message: format!("TLS handshake failed: {message}"),
            },
            other => other,
        })?;
    if let Some(settings) = &params.security.sasl {
        let mechanism = settings.mechanism.map_or("SASL", |m| m.name());
        let Some((handshake, authenticate)) = versions.sasl else {
            return Err(ConnectionError::Authentication {
                broker,
                mechanism: mechanism.to_string(),
                message: "the broker has no common SaslHandshake v1 / SaslAuthenticate version".to_string(),
            });
        };
        let direct = Direct {
            rd: &mut rd,
            wr: &mut wr,
            buf: &mut read_buf,
            params,
        };
        let lifetime = Exchange::new(direct, params, &broker, (handshake, authenticate))
            .run(settings)
            .await?;
        tracing::debug!(conn, mechanism, ?lifetime, "authenticated");
        session = lifetime.map(|lifetime| Session {
            broker: broker.clone(),
            versions: (handshake, authenticate),
            reauthenticate_at: reauthentication_time(lifetime),
        });
    }
    tracing::debug!(conn, ?versions, "connected");
    if events.send(ConnEvent::Ready { conn, versions }).is_err() {
        return Ok(()); // the sender is gone
    }
    let (pending_tx, pending_rx) = mpsc::unbounded_channel();
    let outstanding = Arc::new(Outstanding::default());
    let writer = write_loop(
        conn,
        wr,
        requests,
        pending_tx,
        versions,
        params,
        events,
        (outstanding.clone(), session),
    );
    let reader = read_loop(
        conn,
        rd,
        read_buf,
        pending_rx,
        params.max_frame,
        events,
        &outstanding,
    );
    tokio::select! {
        r = writer => r,
        r = reader => r,
    }
}

/// Read buffer growth step.
const READ_CHUNK: usize = 64 * 1024;
/// Stop coalescing queued requests into one write beyond this many bytes.
const WRITE_COALESCE: usize = 1024 * 1024;
/// The ApiVersions version tried first.
const API_VERSIONS_FIRST: i16 = 3;
/// UNSUPPORTED_VERSION (35) as it appears on the wire.
const UNSUPPORTED_VERSION: [u8; 2] = 35i16.to_be_bytes();

/// ApiVersions exchange with the KIP-511 fallback; returns the negotiated versions.
async fn negotiate(
    rd: &mut ReadHalf<BoxTransport>,
    wr: &mut WriteHalf<BoxTransport>,
    read_buf: &mut BytesMut,
    params: &ConnectionParams,
) -> Result<ApiVersions, ConnectionError> {
    let mut version = API_VERSIONS_FIRST;
    for correlation_id in 0.. {
        let mut request = ApiVersionsRequest::default();
        if version >= 3 {
            request.client_software_name = StrBytes::from_static_str("kafkit");
            request.client_software_version = StrBytes::from_static_str(env!("CARGO_PKG_VERSION"));
        }
        let header = request_header(
            ApiKey::ApiVersions,
            version,
            correlation_id,
            Some(&params.client_id),
        );
        let mut out = BytesMut::new();
        encode_request_frame(&mut out, &header, &request).map_err(protocol)?;
        wr.write_all(&out).await.map_err(io)?;
        wr.flush().await.map_err(io)?;
        let frame = timeout(params.request_timeout, read_frame(rd, read_buf, params.max_frame))
            .await
            .map_err(|_| ConnectionError::Timeout)??;
        // The response header of ApiVersions is always v0: the correlation id, then the body,
        // whose first field is the error code.
        let unsupported = frame.get(4..6) == Some(&UNSUPPORTED_VERSION[..]);
        let response = match decode_response::<ApiVersionsResponse>(frame, version) {
            Ok(response) => response,
            // Some brokers (librdkafka's mock) answer an unsupported version with a body that
            // is not a clean v0 one; like librdkafka, fall back to v0.
            Err(_) if unsupported && version > 0 => {
                tracing::debug!(
                    version,
                    "undecodable UNSUPPORTED_VERSION reply to ApiVersions, retrying at v0"
                );
                version = 0;
                continue;
            }
            Err(e) => return Err(protocol(e)),
        };
        if response.header.correlation_id != correlation_id {
            return Err(ConnectionError::Protocol(
                "ApiVersions answered with a wrong correlation id".into(),
            ));
        }
        let body = response.body;
        if body.error_code == kafkit_protocol::ErrorCode::UnsupportedVersion.code() && version > 0 {
            let advertised = body
                .api_keys
                .iter()
                .find(|k| k.api_key == ApiKey::ApiVersions as i16);
            let next = advertised.map_or(0, |k| k.max_version.min(version - 1)).max(0);
            tracing::debug!(
                version,
                next,
                "ApiVersions not supported at this version, retrying (KIP-511)"
            );
            version = next;
            continue;
        }
        if body.error_code != 0 {
            return Err(ConnectionError::Protocol(format!(
                "ApiVersions failed: {}",
                kafkit_protocol::ErrorCode::from(body.error_code)
            )));
        }
        let pick = |api: ApiKey| {
            let ours = client_range(api)?;
            let theirs = body.api_keys.iter().find(|k| k.api_key == api as i16)?;
            ours.negotiate(theirs.min_version, theirs.max_version)
        };
        let need = |api: ApiKey| {
            pick(api).ok_or_else(|| {
                ConnectionError::Unsupported(format!("the broker has no common {api:?} version"))
            })
        };
        return Ok(ApiVersions {
            produce: need(ApiKey::Produce)?,
            metadata: need(ApiKey::Metadata)?,
            init_producer_id: pick(ApiKey::InitProducerId),
            txn: TxnVersions::negotiate(pick),
            sasl: pick(ApiKey::SaslHandshake).zip(pick(ApiKey::SaslAuthenticate)),
        });
    }
    Err(ConnectionError::Protocol(
        "ApiVersions negotiation did not end".into(),
    ))
}

/// Reads until one whole frame is buffered and returns it.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    max_frame: usize,
) -> Result<Bytes, ConnectionError> {
    loop {
        if let Some(frame) = split_frame(buf, max_frame).map_err(protocol)? {
            return Ok(frame);
        }
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        if rd.read_buf(buf).await.map_err(io)? == 0 {
            return Err(ConnectionError::Io("connection closed by the broker".into()));
        }
    }
}

/// A request written and waiting for its response.
#[derive(Debug)]
struct Pending {
    id: u64,
    correlation_id: i32,
    api_key: ApiKey,
    version: i16,
    deadline: Instant,
    /// A re-authentication's SASL request: its response frame goes here, undecoded, instead
    /// of to the sender.
    sasl: Option<oneshot::Sender<Bytes>>,
}

/// Requests written and not answered yet, so a re-authentication can wait until none is.
#[derive(Debug, Default)]
struct Outstanding {
    count: std::sync::atomic::AtomicUsize,
    drained: tokio::sync::Notify,
}

impl Outstanding {
    fn add(&self) {
        self.count.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    fn answered(&self) {
        if self.count.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
            self.drained.notify_waiters();
        }
    }

    /// Resolves once no request is outstanding.
    async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count.load(std::sync::atomic::Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// A SASL session with a lifetime (KIP-368): when to re-authenticate, and how.
#[derive(Debug)]
struct Session {
    broker: String,
    versions: (i16, i16),
    reauthenticate_at: Instant,
}

/// When to re-authenticate a session of `lifetime`: at a random 85-95% of it, as Java's
/// client does, so that connections made together do not re-authenticate together.
fn reauthentication_time(lifetime: Duration) -> Instant {
    use rand::Rng as _;
    let share = rand::thread_rng().gen_range(0.85..0.95);
    Instant::now() + lifetime.mul_f64(share)
}

/// The connection's own reader and writer as a SASL transport, for re-authentication: each
/// frame goes out as a pipelined request whose answer the reader hands back.
struct Pipelined<'a> {
    wr: &'a mut WriteHalf<BoxTransport>,
    pending: &'a mpsc::UnboundedSender<Pending>,
    outstanding: &'a Outstanding,
    request_timeout: Duration,
}

impl SaslTransport for Pipelined<'_> {
    async fn round_trip(&mut self, frame: BytesMut) -> Result<Bytes, ConnectionError> {
        // The frame's header: api key, version, correlation id (after the length prefix).
        let field = |at: usize| frame.get(at..at + 4).map(|b| [b[0], b[1], b[2], b[3]]);
        let (Some(head), Some(correlation)) = (field(4), field(8)) else {
            return Err(ConnectionError::Protocol(
                "a SASL request frame without a header".into(),
            ));
        };
        let api_key = ApiKey::try_from(i16::from_be_bytes([head[0], head[1]]))
            .map_err(|()| ConnectionError::Protocol("a SASL request with an unknown api key".into()))?;
        let (tx, rx) = oneshot::channel();
        self.outstanding.add();
        let pending = Pending {
            id: u64::MAX,
            correlation_id: i32::from_be_bytes(correlation),
            api_key,
            version: i16::from_be_bytes([head[2], head[3]]),
            deadline: Instant::now() + self.request_timeout,
            sasl: Some(tx),
        };
        if self.pending.send(pending).is_err() {
            return Err(ConnectionError::Io("the connection's reader ended".into()));
        }
        self.wr.write_all(&frame).await.map_err(io)?;
        self.wr.flush().await.map_err(io)?;
        rx.await
            .map_err(|_| ConnectionError::Io("the connection ended during re-authentication".into()))
    }
}

#[allow(clippy::too_many_arguments)] // one call site; the parts of one connection
async fn write_loop(
    conn: ConnId,
    mut wr: WriteHalf<BoxTransport>,
    mut requests: mpsc::UnboundedReceiver<(u64, RequestBody)>,
    pending: mpsc::UnboundedSender<Pending>,
    versions: ApiVersions,
    params: &ConnectionParams,
    events: &mpsc::UnboundedSender<ConnEvent>,
    (outstanding, mut session): (Arc<Outstanding>, Option<Session>),
) -> Result<(), ConnectionError> {
    // 0.. were used by ApiVersions; ids only need to be distinct among outstanding requests.
    let mut correlation_id: i32 = 16;
    // Emptied by every write; Produce frames reference their batches instead of copying them.
    let mut out = Parts::default();
    let mut written_without_response = Vec::new();
    loop {
        let reauthenticate_at = session.as_ref().map(|s| s.reauthenticate_at);
        let first = tokio::select! {
            first = requests.recv() => match first {
                Some(first) => first,
                None => break,
            },
            () = sleep_until(reauthenticate_at.unwrap_or_else(Instant::now)), if reauthenticate_at.is_some() => {
                // KIP-368: no new request until the session is renewed on this connection;
                // what is in flight finishes first (as in Java).
                let Some(current) = session.take() else { continue };
                timeout(params.request_timeout, outstanding.drained())
                    .await
                    .map_err(|_| ConnectionError::Timeout)?;
                let Some(settings) = &params.security.sasl else { continue };
                let transport = Pipelined {
                    wr: &mut wr,
                    pending: &pending,
                    outstanding: &outstanding,
                    request_timeout: params.request_timeout,
                };
                let lifetime = Exchange::new(transport, params, &current.broker, current.versions)
                    .run(settings)
                    .await?;
                tracing::debug!(conn, ?lifetime, "re-authenticated (KIP-368)");
                session = lifetime.map(|lifetime| Session {
                    reauthenticate_at: reauthentication_time(lifetime),
                    ..current
                });
                continue;
            }
        };
        let mut next = Some(first);
        while let Some((id, body)) = next {
            correlation_id = correlation_id.checked_add(1).unwrap_or(16);
            let client_id = Some(params.client_id.as_str());
            let mut frame = BytesMut::new();
            let (api_key, version, expects_response) = match &body {
                RequestBody::Produce(r, expects) => {
                    let h = request_header(ApiKey::Produce, versions.produce, correlation_id, client_id);
                    encode_produce_frame(&mut out, &h, r).map_err(protocol)?;
                    (ApiKey::Produce, versions.produce, *expects)
                }
                RequestBody::Metadata(r) => {
                    let h = request_header(ApiKey::Metadata, versions.metadata, correlation_id, client_id);
                    encode_request_frame(&mut frame, &h, r).map_err(protocol)?;
                    (ApiKey::Metadata, versions.metadata, true)
                }
                RequestBody::InitProducerId(r) => {
                    let version = versions.init_producer_id.ok_or_else(|| {
                        ConnectionError::Unsupported("the broker has no common InitProducerId version".into())
                    })?;
                    let h = request_header(ApiKey::InitProducerId, version, correlation_id, client_id);
                    encode_request_frame(&mut frame, &h, r).map_err(protocol)?;
                    (ApiKey::InitProducerId, version, true)
                }
                RequestBody::Txn(r) => {
                    let api_key = r.api_key();
                    let version = versions.txn.get(api_key).ok_or_else(|| {
                        ConnectionError::Unsupported(format!("the broker has no common {api_key:?} version"))
                    })?;
                    let h = request_header(api_key, version, correlation_id, client_id);
                    r.encode(&mut frame, &h).map_err(protocol)?;
                    (api_key, version, true)
                }
            };
            out.push(frame.freeze());
            if expects_response {
                let deadline = Instant::now() + params.request_timeout;
                let p = Pending {
                    id,
                    correlation_id,
                    api_key,
                    version,
                    deadline,
                    sasl: None,
                };
                outstanding.add();
                if pending.send(p).is_err() {
                    return Ok(()); // the reader ended; its error is reported by the select
                }
            } else {
                written_without_response.push(id);
            }
            next = if out.remaining() < WRITE_COALESCE {
                requests.try_recv().ok()
            } else {
                None
            };
        }
        wr.write_all_buf(&mut out).await.map_err(io)?;
        wr.flush().await.map_err(io)?;
        for id in written_without_response.drain(..) {
            let _ = events.send(ConnEvent::Response {
                conn,
                id,
                body: ResponseBody::Written,
            });
        }
    }
    Ok(())
}

async fn read_loop(
    conn: ConnId,
    mut rd: ReadHalf<BoxTransport>,
    mut buf: BytesMut,
    mut pending_rx: mpsc::UnboundedReceiver<Pending>,
    max_frame: usize,
    events: &mpsc::UnboundedSender<ConnEvent>,
    outstanding: &Outstanding,
) -> Result<(), ConnectionError> {
    let mut queue: VecDeque<Pending> = VecDeque::new();
    loop {
        while let Some(frame) = split_frame(&mut buf, max_frame).map_err(protocol)? {
            // Decoded in a copy: a response (its strings) would otherwise keep the whole read
            // buffer alive while it waits for the sender, and the next read would need a new one.
            let frame = Bytes::copy_from_slice(&frame);
            while let Ok(p) = pending_rx.try_recv() {
                queue.push_back(p);
            }
            let mut p = queue.pop_front().ok_or_else(|| {
                ConnectionError::Protocol("a response arrived with no request outstanding".into())
            })?;
            outstanding.answered();
            if let Some(reply) = p.sasl.take() {
                let _ = reply.send(frame);
                continue;
            }
            let body = decode(frame, &p)?;
            if events.send(ConnEvent::Response { conn, id: p.id, body }).is_err() {
                return Ok(());
            }
        }
        let deadline = queue.front().map(|p| p.deadline);
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        tokio::select! {
            n = rd.read_buf(&mut buf) => {
                if n.map_err(io)? == 0 {
                    return Err(ConnectionError::Io("connection closed by the broker".into()));
                }
            }
            p = pending_rx.recv() => match p {
                Some(p) => queue.push_back(p),
                None => return Ok(()),
            },
            () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                return Err(ConnectionError::Timeout);
            }
        }
    }
}

/// Decodes `frame` as the response to `p`, checking the correlation id.
fn decode(frame: Bytes, p: &Pending) -> Result<ResponseBody, ConnectionError> {
    fn typed<T: GuardedResponse>(frame: Bytes, p: &Pending) -> Result<T, ConnectionError> {
        let response = decode_response::<T>(frame, p.version).map_err(protocol)?;
        if response.header.correlation_id != p.correlation_id {
            return Err(ConnectionError::Protocol(format!(
                "expected correlation id {} ({:?}), got {}",
                p.correlation_id, p.api_key, response.header.correlation_id
            )));
        }
        Ok(response.body)
    }
    Ok(match p.api_key {
        ApiKey::Produce => ResponseBody::Produce(typed(frame, p)?),
        ApiKey::Metadata => ResponseBody::Metadata(typed(frame, p)?),
        ApiKey::InitProducerId => ResponseBody::InitProducerId(typed(frame, p)?),
        other => match crate::transaction::wire::decode(other, frame, p.version).map_err(protocol)? {
            Some((correlation_id, _)) if correlation_id != p.correlation_id => {
                return Err(ConnectionError::Protocol(format!(
                    "expected correlation id {} ({other:?}), got {correlation_id}",
                    p.correlation_id
                )))
            }
            Some((_, response)) => ResponseBody::Txn(response),
            None => return Err(ConnectionError::Protocol(format!("no decoder for {other:?}"))),
        },
    })
}

fn io(e: std::io::Error) -> ConnectionError {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => ConnectionError::Tls(tls.to_string()),
        None => ConnectionError::Io(e.to_string()),
    }
}

fn protocol(e: kafkit_protocol::Error) -> ConnectionError {
    ConnectionError::Protocol(e.to_string())
}
