//! [`Nodes`]: the running broker cluster and the address of each node, the part of a
//! [`MockCluster`](crate::MockCluster) that in-memory connections need.
//!
//! The `MockCluster` holds the only strong reference; an
//! [`InMemoryConnector`](crate::InMemoryConnector) holds a weak one, so a producer that
//! outlives its cluster gets refused connections instead of keeping the cluster alive.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use kafkit_broker::{Cluster, ClusterState};
use tokio::io::DuplexStream;

use crate::{Error, Result};

/// Buffer of each direction of an in-memory connection.
const IN_MEMORY_BUFFER: usize = 1 << 20;

/// The running cluster and its nodes' addresses.
#[derive(Debug)]
pub(crate) struct Nodes {
    /// The running broker cluster; `None` only while a restart is between stop and start.
    /// Never held across an `.await`.
    running: RwLock<Option<Cluster>>,
    /// The host every node listens on and advertises in Metadata.
    host: String,
    /// Each node's address by node id, fixed at the first start.
    pub(crate) addrs: Vec<SocketAddr>,
}

impl Nodes {
    pub(crate) fn new(cluster: Cluster, host: String, addrs: Vec<SocketAddr>) -> Nodes {
        Nodes {
            running: RwLock::new(Some(cluster)),
            host,
            addrs,
        }
    }

    fn running(&self) -> RwLockReadGuard<'_, Option<Cluster>> {
        // Writers only swap the whole value, so a poisoned lock still holds a usable one.
        self.running.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The broker state of the running cluster.
    pub(crate) fn state(&self) -> Result<Arc<ClusterState>> {
        self.running()
            .as_ref()
            .map(|c| c.state().clone())
            .ok_or(Error::NotRunning)
    }

    /// Takes the running cluster out (a restart stopping it).
    pub(crate) fn take(&self) -> Option<Cluster> {
        self.running.write().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Puts a (re)started cluster in.
    pub(crate) fn put(&self, cluster: Cluster) {
        *self.running.write().unwrap_or_else(|p| p.into_inner()) = Some(cluster);
    }

    /// A new in-memory connection to `node_id`, served like an accepted TCP connection.
    /// Must be called inside a tokio runtime.
    pub(crate) fn connect(&self, node_id: i32) -> Result<DuplexStream> {
        if usize::try_from(node_id).map_or(true, |i| i >= self.addrs.len()) {
            return Err(Error::UnknownBroker { node_id });
        }
        let running = self.running();
        let cluster = running.as_ref().ok_or(Error::NotRunning)?;
        let (client, server) = tokio::io::duplex(IN_MEMORY_BUFFER);
        cluster.spawn_connection(node_id, server);
        Ok(client)
    }

    /// The node advertised at `host:port`.
    pub(crate) fn node_id_of(&self, address: &str) -> Option<i32> {
        let (host, port) = address.rsplit_once(':')?;
        let port: u16 = port.parse().ok()?;
        if host != self.host && host != "localhost" {
            return None;
        }
        self.addrs.iter().position(|a| a.port() == port).map(|i| i as i32)
    }

    /// [`connect`](Self::connect) to the node advertised at `host:port`.
    pub(crate) fn connect_to(&self, address: &str) -> Result<DuplexStream> {
        let node_id = self
            .node_id_of(address)
            .ok_or_else(|| Error::Config(format!("no broker listens on {address}")))?;
        self.connect(node_id)
    }
}
