//! The transport seam: how the producer opens a byte stream to a broker.
//!
//! The producer never names TCP outside [`TcpConnector`]; everything else talks to a
//! [`Transport`], so the test kit can hand the producer an in-memory stream (and run it under
//! tokio's paused clock) through [`Connector`].

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A byte stream to a broker: anything readable and writable that can move between tasks.
pub trait Transport: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Transport for T {}

/// A boxed [`Transport`].
pub type BoxTransport = Box<dyn Transport>;

/// The future [`Connector::connect`] returns.
pub type ConnectFuture<'a> = Pin<Box<dyn Future<Output = io::Result<BoxTransport>> + Send + 'a>>;

/// Opens streams to brokers. The producer calls it once per connection attempt, with the host
/// and port from `bootstrap.servers` or from metadata; a failed attempt is retried after
/// `reconnect.backoff.ms`.
pub trait Connector: Send + Sync + fmt::Debug + 'static {
    /// Opens a stream to `host:port`. The producer bounds the call with its own timeout, so
    /// the returned future is dropped when that expires (it must be cancel safe).
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> ConnectFuture<'a>;
}

/// The default [`Connector`]: plain TCP with Nagle's algorithm off.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpConnector;

impl Connector for TcpConnector {
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> ConnectFuture<'a> {
        Box::pin(async move {
            let stream = TcpStream::connect((host, port)).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream) as BoxTransport)
        })
    }
}
