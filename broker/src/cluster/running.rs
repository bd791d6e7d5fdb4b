//! [`Cluster`]: the listeners and connection tasks serving one [`ClusterState`].

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{BrokerInfo, ClusterState};
use crate::config::ClusterConfig;
use crate::{Error, Result};

/// A running cluster: the shared state plus one listener task per node.
///
/// Dropping it stops the listeners and connections without closing the logs cleanly (the next
/// start from the same data directory recovers them, as after a crash); call
/// [`Cluster::shutdown`] for a clean stop, or [`Cluster::crash`] to stop without closing the
/// logs and wait until no connection holds them any more.
///
/// ```
/// # tokio_test_runtime(async {
/// use kafkit_broker::{Cluster, ClusterConfig};
/// let cluster = Cluster::start(ClusterConfig { brokers: 2, ..Default::default() }).await?;
/// assert_eq!(cluster.bootstrap_servers().split(',').count(), 2);
/// cluster.shutdown().await?;
/// # Ok::<(), kafkit_broker::Error>(())
/// # });
/// # fn tokio_test_runtime<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug)]
pub struct Cluster {
    state: Arc<ClusterState>,
    addrs: Vec<std::net::SocketAddr>,
    /// Every listener's bound address, by node then listener.
    listener_addrs: Vec<Vec<std::net::SocketAddr>>,
    /// Turning it true stops every listener and connection; each holds a receiver.
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Cloned into every listener and connection task; dropped (`None`) when stopping, so that
    /// `connections_done` yields `None` once the last task is gone.
    connections: Option<mpsc::Sender<()>>,
    /// Nothing is ever sent; `recv` returning `None` means no task holds the state any more.
    connections_done: mpsc::Receiver<()>,
}

impl Cluster {
    /// Binds every node's listener, opens (or recovers) the data directory, and starts serving.
    pub async fn start(config: ClusterConfig) -> Result<Cluster> {
        if config.brokers == 0 {
            return Err(Error::Config("brokers must be at least 1".to_string()));
        }
        let listener_configs = config.security.effective_listeners(&config.host, config.port);
        let mut nodes = Vec::with_capacity(config.brokers);
        for i in 0..config.brokers {
            let mut bound = Vec::with_capacity(listener_configs.len());
            for l in &listener_configs {
                let addr = format!("{}:{}", l.host, offset_port(l.port, i));
                let listener = TcpListener::bind(&addr)
                    .await
                    .map_err(|e| Error::Config(format!("cannot listen on {addr} ({}): {e}", l.name)))?;
                bound.push(listener);
            }
            nodes.push(bound);
        }
        Self::start_with_node_listeners(config, nodes)
    }

    /// Starts serving on listeners the caller bound (one per node, node id = index), so a
    /// restarted cluster can keep its ports. `config.brokers` is taken from `listeners`, and
    /// each node advertises `config.host` with its listener's port.
    pub fn start_with_listeners(config: ClusterConfig, listeners: Vec<TcpListener>) -> Result<Cluster> {
        Self::start_with_node_listeners(config, listeners.into_iter().map(|l| vec![l]).collect())
    }

    /// Starts serving on listeners the caller bound: `nodes[i]` are node `i`'s listeners, in
    /// the order of the config's `listeners` (one each when none are configured). Each
    /// listener advertises its `advertised.listeners` entry (the port offset by the node id)
    /// or else its host with the bound port; `config.brokers` is taken from `nodes`.
    pub fn start_with_node_listeners(
        mut config: ClusterConfig,
        nodes: Vec<Vec<TcpListener>>,
    ) -> Result<Cluster> {
        if nodes.is_empty() {
            return Err(Error::Config("brokers must be at least 1".to_string()));
        }
        let listener_configs = config.security.effective_listeners(&config.host, config.port);
        if let Some(bad) = nodes.iter().find(|n| n.len() != listener_configs.len()) {
            return Err(Error::Config(format!(
                "{} listeners bound for a node, {} configured",
                bad.len(),
                listener_configs.len()
            )));
        }
        config.brokers = nodes.len();
        let mut addrs = Vec::with_capacity(nodes.len());
        let mut endpoints: Vec<Vec<(String, i32)>> = Vec::with_capacity(nodes.len());
        let mut listener_addrs = Vec::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            let mut advertised = Vec::with_capacity(node.len());
            let mut bound_addrs = Vec::with_capacity(node.len());
            for (l, listener) in listener_configs.iter().zip(node) {
                let bound = listener
                    .local_addr()
                    .map_err(|e| Error::Config(format!("listener address: {e}")))?;
                if advertised.is_empty() {
                    addrs.push(bound);
                }
                bound_addrs.push(bound);
                advertised.push(match &l.advertised {
                    Some((host, port)) => (host.clone(), i32::from(offset_port(*port, i))),
                    None if l.host == "0.0.0.0" || l.host == "::" => {
                        (config.host.clone(), i32::from(bound.port()))
                    }
                    None => (l.host.clone(), i32::from(bound.port())),
                });
            }
            endpoints.push(advertised);
            listener_addrs.push(bound_addrs);
        }
        let brokers = endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| BrokerInfo {
                node_id: i as i32,
                host: e[0].0.clone(),
                port: e[0].1,
                up: true,
            })
            .collect();
        let extra = endpoints
            .into_iter()
            .map(|e| e.into_iter().skip(1).collect())
            .collect();
        let state = Arc::new(ClusterState::open_with_endpoints(config, brokers, extra)?);
        let (shutdown, rx) = watch::channel(false);
        let (connections, connections_done) = mpsc::channel(1);
        let mut tasks: Vec<JoinHandle<()>> = Vec::new();
        for (i, node) in nodes.into_iter().enumerate() {
            for (index, l) in node.into_iter().enumerate() {
                tasks.push(tokio::spawn(crate::server::run_listener(
                    state.clone(),
                    i as i32,
                    index,
                    l,
                    rx.clone(),
                    connections.clone(),
                )));
            }
        }
        tasks.push(tokio::spawn(crate::group::run_timers(state.clone(), rx.clone())));
        tasks.push(tokio::spawn(crate::txn::run_timers(state.clone(), rx.clone())));
        tracing::info!(bootstrap = %addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(","), "cluster started");
        Ok(Cluster {
            state,
            addrs,
            listener_addrs,
            shutdown,
            tasks,
            connections: Some(connections),
            connections_done,
        })
    }

    /// `host:port` of every node, comma-separated: what clients take as `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        self.addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Each node's listening address, by node id (its first listener's).
    pub fn addrs(&self) -> &[std::net::SocketAddr] {
        &self.addrs
    }

    /// Every listener's bound address: `listener_addrs()[node][listener]`, listeners in the
    /// config's `listeners` order.
    pub fn listener_addrs(&self) -> &[Vec<std::net::SocketAddr>] {
        &self.listener_addrs
    }

    /// The shared state: topics, leadership, logs.
    pub fn state(&self) -> &Arc<ClusterState> {
        &self.state
    }

    /// A receiver that turns true when the cluster stops, for connections served outside the
    /// listeners (in-memory transports).
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Serves `io` as a client connection to node `node_id` on a new task, exactly as a
    /// connection accepted by that node's listener (including being closed at once while the
    /// node is down). Stops with the cluster. Must be called inside a tokio runtime.
    pub fn spawn_connection<IO>(&self, node_id: i32, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let state = self.state.clone();
        let shutdown = self.shutdown.subscribe();
        let guard = self.connections.clone();
        tokio::spawn(async move {
            if !state.metadata().is_up(node_id) {
                return;
            }
            if let Err(e) = crate::server::serve_connection(state, node_id, io, None, shutdown).await {
                tracing::debug!(node_id, error = %e, "in-memory connection closed");
            }
            drop(guard);
        });
    }

    /// Stops serving, waits until every listener and connection task has finished, then
    /// closes every log cleanly and marks the data directory clean.
    pub async fn shutdown(mut self) -> Result<()> {
        self.stop().await;
        self.state.close()
    }

    /// Stops serving and waits until every listener and connection task has finished, without
    /// closing the logs: what a killed process leaves behind (unflushed indexes, no clean
    /// shutdown marker), for the next start on the same data directory to recover. The logs are
    /// released when the last reference to the state goes (normally when this returns).
    pub async fn crash(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        self.connections = None;
        // Cancel safety: only this method waits on the receiver; nothing is ever sent.
        while self.connections_done.recv().await.is_some() {}
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Broker `node`'s port for a listener whose broker-0 port is `port` (0 stays 0: any port).
fn offset_port(port: u16, node: usize) -> u16 {
    if port == 0 {
        0
    } else {
        port.saturating_add(u16::try_from(node).unwrap_or(u16::MAX))
    }
}
