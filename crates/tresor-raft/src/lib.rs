//! Integrated storage: the [`Storage`] contract replicated over a cluster of servers by Raft
//! (openraft), each node keeping its log (`raft/raft.db`) and the applied key/value state
//! (`state.db`) in redb files under its `path`.
//!
//! - **Reads** are served from this node's applied state, leader or not.
//! - **Writes** go through the Raft log and return once a quorum has them durably and this node
//!   has applied them. Only the leader accepts them; elsewhere `batch` answers
//!   [`StorageError::ReadOnly`], which the server turns into forwarding to the active node.
//! - **The cluster runs only while the node is unsealed**: its TLS keyring lives in the barrier,
//!   so a sealed node takes no part (as in Vault). Before the first unseal, [`Cluster::bootstrap`]
//!   (at `sys/init`) or [`Cluster::start`] with a joining node's grant brings it up.
//!
//! Nothing here sees plaintext: the log, the snapshots and the state hold the barrier's
//! ciphertext.

// openraft's traits fix the error type (`openraft::StorageError`, some 200 bytes); boxing it in
// our helpers would only move the allocation onto every error path.
#![allow(clippy::result_large_err)]

mod log_store;
mod network;
mod state_machine;
pub mod tls;
mod types;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use openraft::error::{ClientWriteError, InitializeError};
use openraft::ChangeMembers;
use tokio::sync::{broadcast, watch};
use tresor_storage::cluster::{Cluster, ClusterState, MemberHealth, Peer};
use tresor_storage::{BatchOp, Storage, StorageError};
use zeroize::Zeroizing;

use crate::log_store::LogStore;
use crate::network::{Client, Factory, SnapshotTransfer};
pub use crate::state_machine::ALL_KEYS;
use crate::state_machine::{SnapshotBody, StateMachine};
use crate::types::{decode, encode, node_number, Command, Member, NodeId, Op, Raft};

/// Errors of the cluster's own machinery (TLS material, node identity).
#[derive(Debug, thiserror::Error)]
pub enum RaftError {
    #[error("cluster TLS: {0}")]
    Tls(String),
}

impl From<RaftError> for StorageError {
    fn from(e: RaftError) -> Self {
        StorageError::Backend(e.to_string())
    }
}

/// `storage "raft"` as the server configuration gives it.
#[derive(Debug, Clone)]
pub struct RaftConfig {
    pub path: PathBuf,
    /// `node_id`; without it the node keeps a generated one in `<path>/node-id`.
    pub node_id: Option<String>,
    /// Vault's `performance_multiplier`: 1 is the fastest failover, 5 (Vault's default) the most
    /// tolerant of a slow network.
    pub performance_multiplier: u64,
    /// `host:port` peers reach this node's cluster port at.
    pub cluster_addr: String,
    /// The API address clients are told to use for this node (`api_addr`).
    pub api_addr: String,
    /// Take a snapshot (and allow the log to be purged) after this many entries.
    pub snapshot_threshold: u64,
    /// Entries kept in the log behind a snapshot, for peers that lag a little.
    pub trailing_logs: u64,
}

impl RaftConfig {
    pub fn new(path: impl Into<PathBuf>, cluster_addr: &str, api_addr: &str) -> Self {
        RaftConfig {
            path: path.into(),
            node_id: None,
            performance_multiplier: 5,
            cluster_addr: cluster_addr.to_owned(),
            api_addr: api_addr.to_owned(),
            snapshot_threshold: 8192,
            trailing_logs: 10_000,
        }
    }

    fn raft_config(&self) -> Result<openraft::Config, StorageError> {
        // At multiplier 1: a heartbeat every 150 ms and an election after 450-750 ms of silence,
        // so that a new leader serves within about 1.5 s of the old one's death.
        let m = self.performance_multiplier.clamp(1, 10);
        let config = openraft::Config {
            cluster_name: "tresor".into(),
            heartbeat_interval: 150 * m,
            election_timeout_min: 450 * m,
            election_timeout_max: 750 * m,
            install_snapshot_timeout: 30_000,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_threshold),
            max_in_snapshot_log_to_keep: self.trailing_logs,
            ..Default::default()
        };
        config
            .validate()
            .map_err(|e| StorageError::Backend(format!("raft configuration: {e}")))
    }
}

pub(crate) fn open_db(path: &Path) -> Result<redb::Database, StorageError> {
    tresor_storage::open_private_db(path)
}

fn backend(e: impl std::fmt::Display) -> StorageError {
    StorageError::Backend(e.to_string())
}

/// The node's name: `node_id` from the configuration, else the one kept in `<path>/node-id`,
/// else a new random one written there (never reused for an empty node: a new name for a new
/// node keeps two nodes from ever claiming one identity).
fn resolve_node_id(config: &RaftConfig) -> Result<String, StorageError> {
    if let Some(id) = config.node_id.as_ref().filter(|s| !s.is_empty()) {
        return Ok(id.clone());
    }
    let file = config.path.join("node-id");
    match std::fs::read_to_string(&file) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(backend(format!("reading {}: {e}", file.display()))),
    }
    let id = uuid_v4()?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .map_err(|e| backend(format!("writing {}: {e}", file.display())))?;
        f.write_all(id.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| backend(format!("writing {}: {e}", file.display())))?;
    }
    Ok(id)
}

/// One node of the cluster, and the [`Storage`] the core above it sees.
#[derive(Clone)]
pub struct RaftStorage {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    id: NodeId,
    me: Member,
    config: Arc<openraft::Config>,
    log: LogStore,
    sm: StateMachine,
    tls: Arc<tls::Current>,
    client: Client,
    raft: Mutex<Option<Raft>>,
    /// The queue of batches waiting to become one Raft entry together, while the cluster runs.
    batches: Mutex<Option<tokio::sync::mpsc::UnboundedSender<Queued>>>,
    /// What the leader last heard from each member: when, its term and applied index.
    contacts: Mutex<BTreeMap<NodeId, Contact>>,
    /// Serialises start, stop and bootstrap.
    lifecycle: tokio::sync::Mutex<()>,
    state: watch::Sender<ClusterState>,
}

impl RaftStorage {
    pub fn open(config: RaftConfig) -> Result<Self, StorageError> {
        std::fs::create_dir_all(&config.path)
            .map_err(|e| backend(format!("creating {}: {e}", config.path.display())))?;
        let name = resolve_node_id(&config)?;
        let log = LogStore::open(&config.path.join("raft").join("raft.db"))?;
        let sm = StateMachine::open(&config.path.join("state.db"))?;
        let me = Member {
            name: name.clone(),
            cluster_addr: config.cluster_addr.clone(),
            api_addr: config.api_addr.clone(),
        };
        Ok(RaftStorage {
            inner: Arc::new(Inner {
                id: node_number(&name),
                name,
                me,
                config: Arc::new(config.raft_config()?),
                log,
                sm,
                tls: Arc::new(tls::Current::default()),
                client: Client::default(),
                raft: Mutex::new(None),
                contacts: Mutex::new(BTreeMap::new()),
                batches: Mutex::new(None),
                lifecycle: tokio::sync::Mutex::new(()),
                state: watch::channel(ClusterState::default()).0,
            }),
        })
    }

    /// The cluster port's TLS configuration: bind the listener with it once; it accepts peers
    /// only while this node runs in the cluster.
    pub fn server_tls(&self) -> Result<Arc<rustls::ServerConfig>, StorageError> {
        Ok(tls::server_config(Arc::clone(&self.inner.tls))?)
    }

    /// The HTTPS client that reaches other nodes' cluster ports (for forwarded requests), while
    /// this node runs in the cluster.
    pub fn peer_client(&self) -> Option<reqwest::Client> {
        self.inner.client.get()
    }

    fn raft(&self) -> Option<Raft> {
        self.inner.raft.lock().ok().and_then(|r| r.clone())
    }

    fn running(&self) -> Result<Raft, StorageError> {
        self.raft().ok_or(StorageError::ReadOnly)
    }

    /// Answers one RPC from a peer (the body of a POST to `/raft/<name>` on the cluster port).
    pub async fn handle_rpc(&self, name: &str, body: &[u8]) -> Result<Vec<u8>, StorageError> {
        let raft = self
            .raft()
            .ok_or_else(|| backend("this node is not running in the cluster"))?;
        let malformed = |e: postcard::Error| backend(format!("malformed {name} request: {e}"));
        let answer = match name {
            network::APPEND => encode(&raft.append_entries(decode(body).map_err(malformed)?).await),
            network::VOTE => encode(&raft.vote(decode(body).map_err(malformed)?).await),
            network::PING => {
                let m = raft.metrics().borrow().clone();
                encode(&(m.current_term, m.last_applied.map(|l| l.index).unwrap_or(0)))
            }
            network::SNAPSHOT => {
                let t: SnapshotTransfer = decode(body).map_err(malformed)?;
                let snapshot = types::Snapshot {
                    meta: t.meta,
                    snapshot: Box::new(std::io::Cursor::new(t.data)),
                };
                encode(&raft.install_full_snapshot(t.vote, snapshot).await)
            }
            other => return Err(backend(format!("unknown cluster RPC {other:?}"))),
        };
        answer.map_err(backend)
    }

    async fn write(&self, command: Command) -> Result<(), StorageError> {
        propose(&self.running()?, command).await
    }

    async fn launch(&self, keyring: &[u8]) -> Result<Raft, StorageError> {
        let loaded = Arc::new(tls::Keyring::from_bytes(keyring)?.load()?);
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(loaded.client_config())
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(backend)?;
        self.inner.tls.set(Some(loaded));
        self.inner.client.set(Some(http));
        let raft = Raft::new(
            self.inner.id,
            Arc::clone(&self.inner.config),
            Factory {
                client: self.inner.client.clone(),
            },
            self.inner.log.clone(),
            self.inner.sm.clone(),
        )
        .await
        .map_err(backend)?;
        if let Ok(mut r) = self.inner.raft.lock() {
            *r = Some(raft.clone());
        }
        tokio::spawn(follow_metrics(
            raft.clone(),
            self.inner.state.clone(),
            self.inner.id,
        ));
        tokio::spawn(probe_members(raft.clone(), Arc::downgrade(&self.inner)));
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(group_commit(raft.clone(), rx));
        if let Ok(mut b) = self.inner.batches.lock() {
            *b = Some(tx);
        }
        Ok(raft)
    }

    /// Waits until this node leads (after bootstrap, there is nobody else to elect).
    async fn await_leadership(&self, raft: &Raft) -> Result<(), StorageError> {
        raft.wait(Some(Duration::from_secs(30)))
            .state(openraft::ServerState::Leader, "bootstrap")
            .await
            .map_err(backend)?;
        // The leader's first (blank) entry applied: every earlier write is visible here.
        raft.ensure_linearizable().await.map_err(backend)?;
        Ok(())
    }

    fn member_peers(&self, raft: &Raft) -> Vec<Peer> {
        let metrics = raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership().clone();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let mut peers: Vec<Peer> = membership
            .nodes()
            .map(|(id, m)| Peer {
                node_id: m.name.clone(),
                cluster_addr: m.cluster_addr.clone(),
                api_addr: m.api_addr.clone(),
                leader: metrics.current_leader == Some(*id),
                voter: voters.contains(id),
            })
            .collect();
        peers.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        peers
    }
}

#[derive(Clone, Copy)]
struct Contact {
    at: std::time::Instant,
    term: u64,
    index: u64,
}

/// How often the leader probes every member.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// While leading: asks every member once a second how it is, for autopilot. Ends with the Raft
/// instance it was started for.
async fn probe_members(raft: Raft, inner: std::sync::Weak<Inner>) {
    loop {
        tokio::time::sleep(PROBE_INTERVAL).await;
        let m = raft.metrics().borrow().clone();
        if m.running_state.is_err() {
            return;
        }
        let Some(inner) = inner.upgrade() else { return };
        if m.current_leader != Some(inner.id) {
            continue;
        }
        let members: Vec<(NodeId, Member)> = m
            .membership_config
            .membership()
            .nodes()
            .filter(|(id, _)| **id != inner.id)
            .map(|(id, n)| (*id, n.clone()))
            .collect();
        let client = inner.client.clone();
        let asked = members.into_iter().map(|(id, n)| {
            let client = client.clone();
            async move {
                let answer: Result<(u64, u64), _> = client
                    .call(&n.cluster_addr, network::PING, &(), PROBE_INTERVAL)
                    .await;
                (id, answer.ok())
            }
        });
        let answers = futures_join_all(asked).await;
        let Ok(mut contacts) = inner.contacts.lock() else {
            continue;
        };
        for (id, answer) in answers {
            if let Some((term, index)) = answer {
                let at = std::time::Instant::now();
                contacts.insert(id, Contact { at, term, index });
            }
        }
    }
}

/// Runs the futures concurrently and collects their outputs (in no particular order).
async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for f in futures {
        set.spawn(f);
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok(v) = r {
            out.push(v);
        }
    }
    out
}

/// One `Storage::batch` waiting for its Raft entry.
struct Queued {
    ops: Vec<Op>,
    done: tokio::sync::oneshot::Sender<Result<(), StorageError>>,
}

/// A group of batches stops growing past this many bytes of values (one batch larger than it
/// still goes, alone).
const MAX_GROUP_BYTES: usize = 4 << 20;

/// Proposes one entry and waits until it is committed and applied here.
async fn propose(raft: &Raft, command: Command) -> Result<(), StorageError> {
    match raft.client_write(command).await {
        Ok(_) => Ok(()),
        Err(e) => match e.api_error() {
            Some(ClientWriteError::ForwardToLeader(_)) => Err(StorageError::ReadOnly),
            _ => Err(backend(format!("raft write failed: {e}"))),
        },
    }
}

/// Group commit for the cluster: every batch that queued while the previous entry was on its
/// way becomes one Raft entry, applied in one transaction, in queue order. Each batch stays
/// atomic (an entry applies whole or not at all) and each caller hears the entry's outcome. A
/// Raft entry costs a fixed round of log flush, replication and apply; sharing it is what lets
/// many concurrent writers through.
async fn group_commit(raft: Raft, mut queue: tokio::sync::mpsc::UnboundedReceiver<Queued>) {
    let size = |q: &Queued| -> usize {
        q.ops
            .iter()
            .map(|op| match op {
                Op::Put(k, v) => k.len() + v.len(),
                Op::Delete(k) => k.len(),
            })
            .sum()
    };
    while let Some(first) = queue.recv().await {
        let mut bytes = size(&first);
        let mut group = vec![first];
        while bytes < MAX_GROUP_BYTES {
            match queue.try_recv() {
                Ok(next) => {
                    bytes += size(&next);
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        let mut ops = Vec::new();
        let mut waiting = Vec::with_capacity(group.len());
        for q in group {
            ops.extend(q.ops);
            waiting.push(q.done);
        }
        let outcome = propose(&raft, Command::Batch(ops)).await;
        for done in waiting {
            let _ = done.send(match &outcome {
                Ok(()) => Ok(()),
                Err(StorageError::ReadOnly) => Err(StorageError::ReadOnly),
                Err(e) => Err(backend(e)),
            });
        }
    }
}

/// Mirrors openraft's metrics into the [`ClusterState`] the core watches.
async fn follow_metrics(raft: Raft, state: watch::Sender<ClusterState>, me: NodeId) {
    let mut metrics = raft.metrics();
    loop {
        let m = metrics.borrow_and_update().clone();
        let stopped = m.running_state.is_err();
        let leader = m.current_leader.and_then(|id| {
            m.membership_config
                .membership()
                .get_node(&id)
                .map(|n| Peer {
                    node_id: n.name.clone(),
                    cluster_addr: n.cluster_addr.clone(),
                    api_addr: n.api_addr.clone(),
                    leader: true,
                    voter: true,
                })
        });
        let next = ClusterState {
            running: !stopped,
            is_leader: !stopped && m.current_leader == Some(me) && m.state.is_leader(),
            leader: if stopped { None } else { leader },
            term: m.current_term,
            committed_index: m.last_log_index.unwrap_or(0),
            applied_index: m.last_applied.map(|l| l.index).unwrap_or(0),
        };
        if state.borrow().leader.as_ref().map(|l| &l.node_id)
            != next.leader.as_ref().map(|l| &l.node_id)
        {
            match &next.leader {
                Some(l) => {
                    tracing::info!(leader = %l.node_id, term = next.term, "raft: leader elected")
                }
                None if !stopped => tracing::info!(term = next.term, "raft: no leader"),
                None => {}
            }
        }
        state.send_if_modified(|s| {
            if *s != next {
                *s = next;
                true
            } else {
                false
            }
        });
        if stopped || metrics.changed().await.is_err() {
            state.send_modify(|s| *s = ClusterState::default());
            return;
        }
    }
}

#[async_trait]
impl Storage for RaftStorage {
    async fn get(&self, key: &str) -> tresor_storage::Result<Option<Vec<u8>>> {
        state_machine::get(self.inner.sm.db(), key).map_err(backend)
    }

    async fn list(&self, prefix: &str) -> tresor_storage::Result<Vec<String>> {
        let keys = state_machine::keys_under(self.inner.sm.db(), prefix).map_err(backend)?;
        Ok(tresor_storage::fold_children(
            prefix,
            keys.iter().map(String::as_str),
        ))
    }

    async fn batch(&self, ops: Vec<BatchOp>) -> tresor_storage::Result<()> {
        let ops = ops
            .into_iter()
            .map(|op| match op {
                BatchOp::Put(k, v) => Op::Put(k, v),
                BatchOp::Delete(k) => Op::Delete(k),
            })
            .collect();
        let (done, answer) = tokio::sync::oneshot::channel();
        let queue = self.inner.batches.lock().ok().and_then(|b| b.clone());
        queue
            .ok_or(StorageError::ReadOnly)?
            .send(Queued { ops, done })
            .map_err(|_| StorageError::ReadOnly)?;
        answer.await.map_err(|_| StorageError::ReadOnly)?
    }

    fn kind(&self) -> &'static str {
        "raft"
    }

    fn cluster(&self) -> Option<&dyn Cluster> {
        Some(self)
    }
}

#[async_trait]
impl Cluster for RaftStorage {
    fn node_id(&self) -> &str {
        &self.inner.name
    }

    fn api_addr(&self) -> &str {
        &self.inner.me.api_addr
    }

    fn cluster_addr(&self) -> &str {
        &self.inner.me.cluster_addr
    }

    async fn bootstrap(&self) -> tresor_storage::Result<Zeroizing<Vec<u8>>> {
        let _guard = self.inner.lifecycle.lock().await;
        if self.raft().is_some() {
            return Err(backend("this node already runs in a cluster"));
        }
        let now = time_now();
        let keyring = tls::Keyring::generate(&uuid_v4()?, &now)?.to_bytes();
        let raft = self.launch(&keyring).await?;
        let members = BTreeMap::from([(self.inner.id, self.inner.me.clone())]);
        match raft.initialize(members).await {
            Ok(()) => {}
            Err(e) if matches!(e.api_error(), Some(InitializeError::NotAllowed(_))) => {
                return Err(backend(
                    "this node's raft log is not empty: it belonged to a cluster before",
                ))
            }
            Err(e) => return Err(backend(e)),
        }
        self.await_leadership(&raft).await?;
        Ok(keyring)
    }

    async fn start(
        &self,
        tls_keyring: &[u8],
        _peers: Option<&[Peer]>,
    ) -> tresor_storage::Result<()> {
        let _guard = self.inner.lifecycle.lock().await;
        if self.raft().is_some() {
            return Ok(());
        }
        // A joining node learns its membership from the leader's replication; a restarted one
        // from its own log. Either way there is nothing to initialise here.
        self.launch(tls_keyring).await.map(|_| ())
    }

    async fn stop(&self) {
        let _guard = self.inner.lifecycle.lock().await;
        if let Ok(mut b) = self.inner.batches.lock() {
            b.take();
        }
        let raft = self.inner.raft.lock().ok().and_then(|mut r| r.take());
        if let Some(raft) = raft {
            let _ = raft.shutdown().await;
        }
        self.inner.client.set(None);
        self.inner.tls.set(None);
        self.inner
            .state
            .send_modify(|s| *s = ClusterState::default());
    }

    fn state(&self) -> ClusterState {
        self.inner.state.borrow().clone()
    }

    fn watch(&self) -> watch::Receiver<ClusterState> {
        self.inner.state.subscribe()
    }

    fn changes(&self) -> broadcast::Receiver<Arc<Vec<String>>> {
        self.inner.sm.subscribe()
    }

    async fn add_peer(
        &self,
        node_id: &str,
        cluster_addr: &str,
        api_addr: &str,
        voter: bool,
    ) -> tresor_storage::Result<Vec<Peer>> {
        let raft = self.running()?;
        let id = node_number(node_id);
        let member = Member {
            name: node_id.to_owned(),
            cluster_addr: cluster_addr.to_owned(),
            api_addr: api_addr.to_owned(),
        };
        until_settled(|| raft.add_learner(id, member.clone(), false))
            .await
            .map_err(|e| backend(format!("adding {node_id}: {e}")))?;
        if voter {
            tokio::spawn(promote_when_caught_up(raft.clone(), id));
        }
        Ok(self.member_peers(&raft))
    }

    async fn remove_peer(&self, node_id: &str) -> tresor_storage::Result<()> {
        let raft = self.running()?;
        let id = node_number(node_id);
        let membership = raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .clone();
        if membership.get_node(&id).is_none() {
            return Ok(());
        }
        let change = if membership.voter_ids().any(|v| v == id) {
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        until_settled(|| raft.change_membership(change.clone(), false))
            .await
            .map_err(|e| backend(format!("removing {node_id}: {e}")))?;
        Ok(())
    }

    async fn peers(&self) -> tresor_storage::Result<Vec<Peer>> {
        let raft = self.running()?;
        Ok(self.member_peers(&raft))
    }

    async fn health(&self) -> tresor_storage::Result<Vec<MemberHealth>> {
        let raft = self.running()?;
        let peers = self.member_peers(&raft);
        let m = raft.metrics().borrow().clone();
        let contacts = self
            .inner
            .contacts
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default();
        Ok(peers
            .into_iter()
            .map(|peer| {
                let id = node_number(&peer.node_id);
                let (last_contact, last_term, last_index) = if id == self.inner.id {
                    (
                        Some(Duration::ZERO),
                        m.current_term,
                        m.last_applied.map(|l| l.index).unwrap_or(0),
                    )
                } else {
                    match contacts.get(&id) {
                        Some(c) => (Some(c.at.elapsed()), c.term, c.index),
                        None => (None, 0, 0),
                    }
                };
                MemberHealth {
                    peer,
                    last_contact,
                    last_term,
                    last_index,
                }
            })
            .collect())
    }

    async fn snapshot(&self) -> tresor_storage::Result<Vec<u8>> {
        let entries = self.inner.sm.all_entries().map_err(backend)?;
        encode(&SnapshotBody { entries }).map_err(backend)
    }

    async fn restore(&self, archive: &[u8]) -> tresor_storage::Result<()> {
        let body: SnapshotBody =
            decode(archive).map_err(|e| backend(format!("malformed snapshot: {e}")))?;
        self.write(Command::Restore(body.entries)).await
    }
}

/// Promotes a learner to voter once it has the log up to where the leader was when it was added
/// (Vault's autopilot does the same after its stabilisation time).
async fn promote_when_caught_up(raft: Raft, id: NodeId) {
    let target = raft.metrics().borrow().last_log_index.unwrap_or(0);
    let caught_up = raft
        .wait(Some(Duration::from_secs(300)))
        .metrics(
            |m| {
                m.replication
                    .as_ref()
                    .and_then(|r| r.get(&id))
                    .and_then(|matched| *matched)
                    .map(|l| l.index >= target)
                    .unwrap_or(false)
            },
            "learner caught up",
        )
        .await;
    if caught_up.is_err() {
        tracing::warn!(
            node = id,
            "raft: a joining node did not catch up; left as non-voter"
        );
        return;
    }
    let m = raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .clone();
    if m.get_node(&id).is_none() || m.voter_ids().any(|v| v == id) {
        return;
    }
    let promote = ChangeMembers::AddVoterIds(BTreeSet::from([id]));
    if let Err(e) = until_settled(|| raft.change_membership(promote.clone(), true)).await {
        tracing::warn!(node = id, error = %e, "raft: promoting a joined node failed");
    }
}

/// Runs a membership change, waiting its turn while another is under way (two nodes joining at
/// once, a promotion): openraft takes one change at a time and refuses the others meanwhile.
async fn until_settled<F, Fut>(
    mut change: F,
) -> Result<(), openraft::error::RaftError<NodeId, ClientWriteError<NodeId, Member>>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<
        Output = Result<
            openraft::raft::ClientWriteResponse<types::TypeConfig>,
            openraft::error::RaftError<NodeId, ClientWriteError<NodeId, Member>>,
        >,
    >,
{
    let mut attempt = 0;
    loop {
        match change().await {
            Ok(_) => return Ok(()),
            Err(e)
                if attempt < 150
                    && matches!(
                        e.api_error(),
                        Some(ClientWriteError::ChangeMembershipError(
                            openraft::error::ChangeMembershipError::InProgress(_)
                        ))
                    ) =>
            {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn uuid_v4() -> Result<String, StorageError> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| backend("no randomness for an id"))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

fn time_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    secs.to_string()
}

#[cfg(test)]
mod tests;
