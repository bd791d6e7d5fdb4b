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

use crate::cluster::ClusterState;
use crate::handlers::{self, HandlerContext};
use crate::Result;

/// Responses buffered on a connection before they are written out (see [`serve_connection`]).
const RESPONSE_BUFFER_BYTES: usize = 64 * 1024;

/// Identifies connections in logs and in the test kit's journal.
static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

/// Accepts connections on `listener` for node `node_id` until `shutdown` turns true.
pub(crate) async fn run_listener(
    state: Arc<ClusterState>,
    node_id: i32,
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
            if let Err(e) = serve_connection(state, node_id, socket, Some(peer), shutdown).await {
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
    let connection_id = NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed);
    // Kafka shows a member's host as Java's `InetAddress.toString()`: "/127.0.0.1".
    let client_host = match peer {
        Some(peer) => format!("/{}", peer.ip()),
        None => "/in-memory".to_string(),
    };
    let ctx = HandlerContext {
        state: &state,
        node_id,
        connection_id,
        client_id: "",
        client_host: &client_host,
    };
    let max_frame = state.config().socket_request_max_bytes;
    let mut ends = Ends {
        state: &state,
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
        while let Some(frame) = kafkit_protocol::frame::split_frame(&mut input, max_frame)? {
            if !state.metadata().is_up(node_id) {
                return Ok(());
            }
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
            writer.shutdown().await.ok();
            return Ok(());
        }
        // Cancel safety: `read_buf` appends only what it read, so dropping it loses nothing.
        let n = tokio::select! {
            n = reader.read_buf(&mut input) => n?,
            () = ends.reached() => return Ok(()),
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
