//! What a storage backend shared by several servers offers beyond the key/value contract: who
//! leads, who the peers are, joining and leaving, snapshots, and a feed of the keys replication
//! changed so that the layers above can drop what they cached.
//!
//! Only ciphertext crosses this interface too: the TLS keyring is handed up as opaque bytes to be
//! kept in the barrier, and snapshots are the stored (encrypted) entries.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{broadcast, watch};
use zeroize::Zeroizing;

use crate::Result;

/// One member of the cluster, as `sys/storage/raft/configuration` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub node_id: String,
    /// `host:port` of its cluster port.
    pub cluster_addr: String,
    /// The address clients reach its API at (`api_addr`).
    pub api_addr: String,
    pub leader: bool,
    pub voter: bool,
}

/// This node's view of the cluster at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterState {
    /// The consensus runs on this node (it was unsealed, bootstrapped or joined).
    pub running: bool,
    /// This node leads: it is the active node and the only one whose writes are accepted.
    pub is_leader: bool,
    /// The leader as this node knows it (itself included).
    pub leader: Option<Peer>,
    pub term: u64,
    pub committed_index: u64,
    pub applied_index: u64,
}

/// What the leader last heard from one member (autopilot's view of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberHealth {
    pub peer: Peer,
    /// Since the member last answered the leader; zero for the leader itself, `None` if it
    /// never has.
    pub last_contact: Option<std::time::Duration>,
    pub last_term: u64,
    pub last_index: u64,
}

/// Peers and the cluster's TLS keyring, as a leader answers a joining node.
pub struct JoinGrant {
    pub peers: Vec<Peer>,
    pub tls_keyring: Zeroizing<Vec<u8>>,
}

#[async_trait]
pub trait Cluster: Send + Sync {
    /// This node's name in the cluster (`node_id`).
    fn node_id(&self) -> &str;
    fn api_addr(&self) -> &str;
    fn cluster_addr(&self) -> &str;

    /// Makes a new cluster of this node alone and waits until it leads. Returns the cluster's
    /// new TLS keyring, which the caller keeps in the barrier and hands to [`Cluster::start`]
    /// after every unseal.
    async fn bootstrap(&self) -> Result<Zeroizing<Vec<u8>>>;

    /// Starts taking part in the cluster with the keyring kept in the barrier (or received when
    /// joining). `peers` is the membership a joining node learnt from the leader; a node that
    /// ran before finds its membership in its own log.
    async fn start(&self, tls_keyring: &[u8], peers: Option<&[Peer]>) -> Result<()>;

    /// Stops taking part (the node was sealed): no vote, no replication, no writes.
    async fn stop(&self);

    fn state(&self) -> ClusterState;

    /// Changes of [`ClusterState`], leadership first of all.
    fn watch(&self) -> watch::Receiver<ClusterState>;

    /// The keys each replicated batch changed, once it is applied on this node; a single empty
    /// key means every key may have changed (a snapshot was installed or restored).
    fn changes(&self) -> broadcast::Receiver<Arc<Vec<String>>>;

    /// On the leader: admits a new node (as a non-voter, promoted when it has caught up unless
    /// `voter` is false), and returns what the new node needs.
    async fn add_peer(
        &self,
        node_id: &str,
        cluster_addr: &str,
        api_addr: &str,
        voter: bool,
    ) -> Result<Vec<Peer>>;

    async fn remove_peer(&self, node_id: &str) -> Result<()>;

    async fn peers(&self) -> Result<Vec<Peer>>;

    /// On the leader: every member with what it last heard from it.
    async fn health(&self) -> Result<Vec<MemberHealth>>;

    /// Every stored entry, as one opaque archive.
    async fn snapshot(&self) -> Result<Vec<u8>>;

    /// Replaces every stored entry of the whole cluster by the archive's.
    async fn restore(&self, archive: &[u8]) -> Result<()>;
}
