//! Listeners and connections.
//!
//! One task per listener accepts connections; one task per connection reads frames, handles
//! each request in order and writes the responses in order. Requests a client pipelines are
//! decoded as they arrive and their responses written together. A Produce with acks=0 gets no
//! response; if it failed, the connection is closed (as Kafka does, so the client refreshes its
//! metadata). A frame that cannot be decoded, an unknown API, or a version kafkit does not serve
//! (other than ApiVersions, which gets the KIP-511 reply) closes that connection and nothing
//! else: the broker keeps serving every other connection.
//!
//! # Limits
//! A connection has one request in flight, as in Kafka (whose network layer mutes a connection
//! from reading a request until its response is sent): the next frame is decoded only once the
//! previous request was handled and its response queued, and queued responses are written out
//! once they exceed 64 KiB, so a client that pipelines requests without reading the responses
//! stalls on TCP backpressure instead of growing the broker's memory. Per connection, memory is
//! bounded by the frame being read (at most `socket.request.max.bytes`, and only as many bytes
//! as the peer actually sent: nothing is reserved on a length prefix's word) plus one response
//! (a Fetch response is capped by `fetch.max.bytes`); `max.connections` bounds the count.
//!
//! [`serve_connection`] works over any byte stream, so the test kit can connect a producer
//! through an in-memory pipe instead of a socket.
//!
//! # Security
//! Each listener has a security protocol ([`crate::auth`]). On a TLS listener the handshake
//! comes first; on a SASL listener only ApiVersions, SaslHandshake and SaslAuthenticate are
//! served until the client has authenticated, frames are capped at 512 KiB meanwhile, and TLS
//! plus SASL must be done within `kafkit.authentication.timeout.ms`. Any other request before
//! that closes the connection, as Kafka does. The principal goes with every request into the
//! handlers and the interceptor (the test kit's journal).
//!
//! A node a test took down ([`ClusterState::set_broker_up`]) closes every connection it accepts
//! and every connection it had, including one whose request is waiting in an interceptor.
//! Shutdown likewise ends a connection even mid-request: a request is only ever waiting in the
//! interceptor or a fetch's long poll, where dropping it changes nothing; and a write blocked by a
//! peer that does not read is abandoned with its connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};

use kafka_protocol::messages::ApiKey;
use kafkit_protocol::RequestBody;

use crate::auth::sasl::Authenticator;
use crate::cluster::ClusterState;
use crate::handlers::{self, HandlerContext};
use crate::Result;

/// How long a connection the broker closes keeps reading (and dropping) the peer's bytes
/// after its last response, so that the response is not lost to a TCP reset.
const LINGER_ON_CLOSE: std::time::Duration = std::time::Duration::from_millis(500);

/// The largest frame read from a connection that has not authenticated yet (Kafka's
/// `sasl.server.max.receive.size`).
const UNAUTHENTICATED_MAX_FRAME: usize = 512 * 1024;

/// Responses buffered on a connection before they are written out (see [`serve_connection`]).
const RESPONSE_BUFFER_BYTES: usize = 64 * 1024;

/// Identifies connections in logs and in the test kit's journal.
static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

/// Accepts connections on `listener` (the node's listener number `listener_index`) for node
/// `node_id` until `shutdown` turns true.
pub(crate) async fn run_listener(
    state: Arc<ClusterState>,
    node_id: i32,
    listener_index: usize,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    // Held by this task and cloned into every connection task, so the cluster can wait until
    // none is left.
    alive: mpsc::Sender<()>,
) {
    let permits = Arc::new(Semaphore::new(state.config().max_connections));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let (socket, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Accept errors (EMFILE and the like) are transient; keep serving.
                tracing::warn!(node_id, error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        if !state.metadata().is_up(node_id) {
            tracing::debug!(node_id, %peer, "node is down; closing new connection");
            continue;
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(node_id, %peer, "max.connections reached; closing new connection");
            continue;
        };
        let _ = socket.set_nodelay(true);
        let state = state.clone();
        let shutdown = shutdown.clone();
        let alive = alive.clone();
        tokio::spawn(async move {
            if let Err(e) =
                serve_on_listener(state, node_id, listener_index, socket, Some(peer), shutdown).await
            {
                tracing::debug!(node_id, %peer, error = %e, "connection closed");
            }
            drop(permit);
            drop(alive);
        });
    }
}

/// Serves one client connection on node `node_id` until the peer closes it, a request makes
/// it unusable, or `shutdown` turns true. `peer` is the client's address, shown as the
/// client host of group members (`None` for in-memory connections).
///
/// Returns `Ok` on an orderly close and `Err` when kafkit closed the connection because of what
/// the peer sent.
pub async fn serve_connection<IO>(
    state: Arc<ClusterState>,
    node_id: i32,
    io: IO,
    peer: Option<std::net::SocketAddr>,
    shutdown: watch::Receiver<bool>,
) -> Result<()>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    serve_on_listener(state, node_id, 0, io, peer, shutdown).await
}

/// [`serve_connection`] as a connection accepted by the node's listener number
/// `listener_index` (in `listeners` order): with its TLS and SASL, and answered with its
/// advertised addresses.
pub async fn serve_on_listener<IO>(
    state: Arc<ClusterState>,
    node_id: i32,
    listener_index: usize,
    io: IO,
    peer: Option<std::net::SocketAddr>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let security = state.security();
    let Some(listener) = security.listeners.get(listener_index) else {
        return Err(crate::Error::Config(format!(
            "node {node_id} has no listener {listener_index}"
        )));
    };
    let sasl = security.sasl.clone();
    let deadline = tokio::time::Instant::now() + sasl.authentication_timeout;
    let sasl_listener = listener.config.protocol.sasl();
    let Some(acceptor) = listener.tls.clone() else {
        let auth = Authenticator::new(sasl, sasl_listener, None);
        return serve_frames(
            &state,
            node_id,
            listener_index,
            io,
            peer,
            shutdown,
            auth,
            deadline,
        )
        .await;
    };
    let accepted = tokio::select! {
        accepted = tokio::time::timeout_at(deadline, acceptor.accept(io)) => accepted,
        _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
    };
    let tls = match accepted {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::info!(node_id, ?peer, error = %e, "TLS handshake failed");
            return Err(crate::Error::IoBare(e));
        }
        Err(_) => {
            tracing::info!(
                node_id,
                ?peer,
                "TLS handshake timed out (kafkit.authentication.timeout.ms)"
            );
            return Ok(());
        }
    };
    let principal = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|cert| crate::auth::tls::certificate_principal(cert));
    let auth = Authenticator::new(sasl, sasl_listener, principal);
    serve_frames(
        &state,
        node_id,
        listener_index,
        tls,
        peer,
        shutdown,
        auth,
        deadline,
    )
    .await
}

/// What a SASL-related frame did to the connection.
enum SaslFrame {
    /// Not a SASL frame: handle it as a request.
    NotSasl(bytes::Bytes),
    /// Answered; go on.
    Answered,
    /// A failed authentication, answered: close, after Kafka's
    /// `connection.failed.authentication.delay.ms`.
    Refused,
    /// Answered (or not); close the connection.
    Close,
}

/// Routes SASL tokens and requests to the connection's authenticator, and refuses requests
/// a connection that has not authenticated may not send.
fn sasl_frame(
    auth: &mut Authenticator,
    frame: bytes::Bytes,
    output: &mut BytesMut,
    connection_id: u64,
) -> Result<SaslFrame> {
    if auth.expects_raw_token() {
        let reply = auth.raw_token(&frame);
        output.extend_from_slice(&reply.response);
        return Ok(sasl_outcome(&reply));
    }
    let raw_key = frame.get(..2).map_or(-1, |k| i16::from_be_bytes([k[0], k[1]]));
    let api_key = ApiKey::try_from(raw_key).ok();
    match api_key {
        Some(ApiKey::SaslHandshake | ApiKey::SaslAuthenticate) => {
            let request = kafkit_protocol::decode_request(frame)?;
            let header = &request.header;
            let reply = match &request.body {
                RequestBody::SaslHandshake(body) => {
                    auth.handshake(header.correlation_id, header.request_api_version, body)?
                }
                RequestBody::SaslAuthenticate(body) => {
                    auth.authenticate(header.correlation_id, header.request_api_version, body)?
                }
                _ => return Ok(SaslFrame::Close),
            };
            output.extend_from_slice(&reply.response);
            Ok(sasl_outcome(&reply))
        }
        Some(ApiKey::ApiVersions) => Ok(SaslFrame::NotSasl(frame)),
        _ if !auth.authenticated() => {
            tracing::info!(
                connection = connection_id,
                api_key = raw_key,
                "Unexpected Kafka request of type {api_key:?} during SASL handshake; closing"
            );
            Ok(SaslFrame::Close)
        }
        _ if auth.session_expired(tokio::time::Instant::now()) => {
            tracing::info!(
                connection = connection_id,
                "SASL session expired without re-authentication; closing"
            );
            Ok(SaslFrame::Close)
        }
        _ => Ok(SaslFrame::NotSasl(frame)),
    }
}

/// What the connection does after a SASL answer.
fn sasl_outcome(reply: &crate::auth::sasl::SaslReply) -> SaslFrame {
    match (reply.close, reply.failed) {
        (true, true) => SaslFrame::Refused,
        (true, false) => SaslFrame::Close,
        _ => SaslFrame::Answered,
    }
}

#[allow(clippy::too_many_arguments)] // one call site each, all of them needed
async fn serve_frames<IO>(
    state: &Arc<ClusterState>,
    node_id: i32,
    listener: usize,
    io: IO,
    peer: Option<std::net::SocketAddr>,
    shutdown: watch::Receiver<bool>,
    mut auth: Authenticator,
    auth_deadline: tokio::time::Instant,
) -> Result<()>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let connection_id = NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed);
    // Kafka shows a member's host as Java's `InetAddress.toString()`: "/127.0.0.1".
    let client_host = match peer {
        Some(peer) => format!("/{}", peer.ip()),
        None => "/in-memory".to_string(),
    };
    let max_frame = state.config().socket_request_max_bytes;
    let mut ends = Ends {
        state,
        node_id,
        shutdown,
        node_changes: state.node_changes(),
    };
    let (mut reader, mut writer) = tokio::io::split(io);
    let mut input = BytesMut::with_capacity(64 * 1024);
    let mut output = BytesMut::with_capacity(64 * 1024);
    let mut requests = 0u64;
    loop {
        // Handle every complete frame already buffered, then write their responses at once.
        let mut close = false;
        loop {
            let limit = if auth.authenticated() {
                max_frame
            } else {
                max_frame.min(UNAUTHENTICATED_MAX_FRAME)
            };
            let Some(frame) = kafkit_protocol::frame::split_frame(&mut input, limit)? else {
                break;
            };
            if !state.metadata().is_up(node_id) {
                return Ok(());
            }
            let frame = match sasl_frame(&mut auth, frame, &mut output, connection_id)? {
                SaslFrame::NotSasl(frame) => frame,
                SaslFrame::Answered => continue,
                SaslFrame::Refused => {
                    // Kafka delays the answer to a failed login (slowing password guessing).
                    let delay = state.security().sasl.failed_authentication_delay;
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = ends.reached() => return Ok(()),
                    }
                    close = true;
                    break;
                }
                SaslFrame::Close => {
                    close = true;
                    break;
                }
            };
            let ctx = HandlerContext {
                state,
                node_id,
                connection_id,
                client_id: "",
                client_host: &client_host,
                listener,
                principal: auth.principal(),
            };
            // Cancel safety: see the module docs.
            let reply = tokio::select! {
                reply = handlers::handle_frame(&ctx, requests, frame) => reply?,
                () = ends.reached() => return Ok(()),
            };
            requests += 1;
            if let Some(bytes) = reply.response {
                output.extend_from_slice(&bytes);
            }
            if reply.close {
                close = true;
                break;
            }
            if let Some(mute) = reply.mute {
                // A throttled response (KIP-219): out at once, then nothing more is read or
                // handled from this connection until the throttle time has passed.
                if !ends.write_out(&mut writer, &mut output).await? {
                    return Ok(());
                }
                tokio::select! {
                    () = tokio::time::sleep(mute) => {}
                    () = ends.reached() => return Ok(()),
                }
            }
            // Pipelined responses are written together, but never pile up: past this much, write
            // before handling the next request. A peer that pipelines requests and does not
            // read the responses stalls here on TCP backpressure, with one response buffered.
            if output.len() >= RESPONSE_BUFFER_BYTES && !ends.write_out(&mut writer, &mut output).await? {
                return Ok(());
            }
        }
        if !output.is_empty() && !ends.write_out(&mut writer, &mut output).await? {
            return Ok(());
        }
        if close {
            // A lingering close: the last response is out; let the peer read it and close
            // first (reading and dropping what it still sends, briefly), then close. Closing at
            // once can destroy the response before the client reads it: a socket closed with
            // unread input sends a reset, and some clients (kafka-python over TLS) drop what
            // they read when a TLS close arrives in the same read.
            let mut scratch = [0u8; 4096];
            let drain = async { while matches!(reader.read(&mut scratch).await, Ok(n) if n > 0) {} };
            let _ = tokio::time::timeout(LINGER_ON_CLOSE, drain).await;
            writer.shutdown().await.ok();
            return Ok(());
        }
        // Cancel safety: `read_buf` appends only what it read, so dropping it loses nothing.
        let authenticated = auth.authenticated();
        let n = tokio::select! {
            n = reader.read_buf(&mut input) => n?,
            () = ends.reached() => return Ok(()),
            () = tokio::time::sleep_until(auth_deadline), if !authenticated => {
                tracing::info!(connection = connection_id, "not authenticated within kafkit.authentication.timeout.ms; closing");
                return Ok(());
            }
        };
        if n == 0 {
            return Ok(());
        }
    }
}

/// What ends a connection from the broker's side: the cluster shutting down, or the
/// connection's node going down.
struct Ends<'a> {
    state: &'a ClusterState,
    node_id: i32,
    shutdown: watch::Receiver<bool>,
    node_changes: watch::Receiver<u64>,
}

impl Ends<'_> {
    /// Resolves once the cluster shuts down or the node goes down (at once if either already
    /// happened). Cancel safe.
    async fn reached(&mut self) {
        tokio::select! {
            _ = self.shutdown.wait_for(|stop| *stop) => {}
            () = node_down(self.state, self.node_id, &mut self.node_changes) => {}
        }
    }

    /// Writes `output` out and clears it; `Ok(false)` when the connection ended first. A peer
    /// that never reads blocks the write, so it races the end (a partial write is lost with the
    /// connection).
    async fn write_out<W: AsyncWrite + Unpin>(
        &mut self,
        writer: &mut W,
        output: &mut BytesMut,
    ) -> Result<bool> {
        tokio::select! {
            written = writer.write_all(output) => written?,
            () = self.reached() => return Ok(false),
        }
        output.clear();
        Ok(true)
    }
}

/// Resolves once node `node_id` is down (at once if it already is). Cancel safe.
async fn node_down(state: &ClusterState, node_id: i32, changes: &mut watch::Receiver<u64>) {
    loop {
        if !state.metadata().is_up(node_id) {
            return;
        }
        if changes.changed().await.is_err() {
            // The state owns the sender and outlives this connection; never reached.
            std::future::pending::<()>().await;
        }
    }
}
