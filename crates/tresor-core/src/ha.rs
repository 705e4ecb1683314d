//! The core's side of a cluster (integrated Raft storage): Vault's join handshake, the
//! active/standby roles, and keeping a standby's memory in step with replicated storage.
//!
//! - **Join.** The active node hands a joining node a random challenge sealed with the unseal
//!   key (`sys/storage/raft/bootstrap/challenge`); the joiner can open it only once an operator
//!   gives it the cluster's unseal keys, and trades it for the peers and the cluster's TLS
//!   keyring (`…/bootstrap/answer`). Then it replicates, and unseals like any node.
//! - **Roles.** Every unsealed node loads the same in-memory state (router, policies, tokens,
//!   audit devices) and answers reads from its replicated copy. Only the Raft leader writes, and
//!   only it runs the once-per-cluster duties (lease expiry, periodic backend work, barrier
//!   upkeep): they start when it gains leadership and stop when it loses it.
//! - **Caches follow storage.** A standby hears of every key a replicated batch changed and drops
//!   what it holds for it: a token from the cache, a policy and the ACLs built from it, a
//!   backend's cached object; a change under `core/` (mount tables, audit devices, keyring,
//!   rotation settings) rebuilds the whole unsealed state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::json;
use tokio::task::JoinHandle;
use tresor_storage::cluster::{Cluster, ClusterState, JoinGrant};
use zeroize::Zeroizing;

use crate::core::{Active, Core};
use crate::crypto::{self, KEY_LEN};
use crate::error::CoreError;
use crate::seal::{SealConfig, ROOT_KEY_PATH};

/// Where the barrier keeps the cluster's TLS keyring, as in Vault.
pub const RAFT_TLS_PATH: &str = "core/raft/tls";
/// Associated data of a sealed join challenge.
const CHALLENGE_AAD: &[u8] = b"tresor-raft-join-challenge";
/// Vault's limit on the length of a joining node's id.
const MAX_SERVER_ID: usize = 16_384;
/// Challenges pending at once, in all and per node name: joins are rare, and an unauthenticated
/// caller must not be able to fill the active node's memory with them.
const MAX_PENDING: usize = 64;
const MAX_PENDING_PER_NODE: usize = 4;
/// How long a challenge can be answered.
const CHALLENGE_TTL: std::time::Duration = std::time::Duration::from_secs(300);
/// How long a joined node waits for the keys to be replicated to it before giving up.
const REPLICATION_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Who asks to join, as the challenge is bound to it: the joining node's name, its addresses,
/// whether it is to vote, and the public key (X25519) the leader encrypts the cluster's keyring
/// to. The leader admits exactly what the challenge was made for, and a challenge relayed from a
/// request for another key does not open on the joining node, so a party in the middle learns
/// nothing and cannot change who joins.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub server_id: String,
    pub public_key: Vec<u8>,
    pub cluster_addr: String,
    pub api_addr: String,
    pub non_voter: bool,
}

impl JoinRequest {
    /// The associated data of the sealed challenge.
    pub fn binding(&self) -> Vec<u8> {
        let mut out = CHALLENGE_AAD.to_vec();
        for part in [
            self.server_id.as_bytes(),
            &self.public_key,
            self.cluster_addr.as_bytes(),
            self.api_addr.as_bytes(),
            &[u8::from(self.non_voter)],
        ] {
            out.extend_from_slice(&(part.len() as u64).to_be_bytes());
            out.extend_from_slice(part);
        }
        out
    }
}

/// The context both sides derive the keyring's encryption key with.
pub const KEYRING_CONTEXT: &[u8] = b"tresor-raft-join-keyring";

/// The joining node's way to reach the leader with its answer (the server's HTTP client).
#[async_trait::async_trait]
pub trait JoinLeader: Send + Sync {
    /// What this node asked the challenge for.
    fn request(&self) -> &JoinRequest;
    async fn answer(&self, answer: &[u8]) -> Result<JoinGrant, CoreError>;
}

/// A challenge handed out and not yet answered.
struct Pending {
    plain: Zeroizing<Vec<u8>>,
    request: JoinRequest,
    at: std::time::Instant,
}

/// A join begun (`sys/storage/raft/join`) and waiting for the unseal keys.
pub(crate) struct PendingJoin {
    pub seal_config: SealConfig,
    pub challenge: Vec<u8>,
    pub leader: Arc<dyn JoinLeader>,
}

/// The core's cluster state, all of it empty without a replicated storage.
#[derive(Default)]
pub(crate) struct HaState {
    /// The combined unseal key while unsealed: join challenges are sealed with it.
    pub seal_key: Mutex<Option<Zeroizing<[u8; KEY_LEN]>>>,
    pub join: Mutex<Option<PendingJoin>>,
    /// Challenges handed out by this (active) node, by server id.
    challenges: Mutex<HashMap<String, Vec<Pending>>>,
    /// The active node's duties, running while it leads.
    duties: Mutex<Vec<JoinHandle<()>>>,
    /// The tasks that follow the cluster (leadership, replicated changes) while unsealed.
    followers: Mutex<Vec<JoinHandle<()>>>,
    /// When this node last became active (RFC 3339), for `sys/leader`.
    pub active_since: Mutex<Option<String>>,
    /// The one background join (`retry_join`, `join -retry`) this node runs, if any.
    join_task: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl HaState {
    pub fn stop_all(&self) {
        for t in lock(&self.followers).drain(..) {
            t.abort();
        }
        if let Some(t) = lock(&self.join_task).take() {
            t.abort();
        }
        self.stop_duties();
        *lock(&self.seal_key) = None;
        *lock(&self.active_since) = None;
        lock(&self.challenges).clear();
    }

    fn stop_duties(&self) {
        for t in lock(&self.duties).drain(..) {
            t.abort();
        }
    }

    /// Whether the duties run (a duty ends by itself when the unsealed state it was started
    /// for is replaced; then they do not).
    fn duties_running(&self) -> bool {
        let duties = lock(&self.duties);
        !duties.is_empty() && duties.iter().all(|t| !t.is_finished())
    }
}

impl Core {
    /// The cluster this node's storage belongs to, if it is replicated.
    pub fn ha(&self) -> Option<&dyn Cluster> {
        self.barrier().storage().cluster()
    }

    /// The cluster as this node sees it, if it has one.
    pub fn ha_state(&self) -> Option<ClusterState> {
        self.ha().map(|c| c.state())
    }

    /// An unsealed node of a cluster that is not the active one: its writes go to the leader.
    pub fn is_standby(&self) -> bool {
        !self.is_sealed() && self.ha_state().is_some_and(|s| !s.is_leader)
    }

    /// When this node became the active node, if it is.
    pub fn active_since(&self) -> Option<String> {
        lock(&self.ha.active_since).clone()
    }

    /// `sys/storage/raft/bootstrap/challenge`, on the active node: a random secret sealed with
    /// the unseal key and bound to the request, which only a node given the unseal keys opens.
    pub async fn raft_challenge(
        &self,
        request: JoinRequest,
    ) -> Result<(String, SealConfig), CoreError> {
        self.ha()
            .ok_or_else(|| CoreError::invalid("raft storage is not in use"))?;
        if request.server_id.is_empty() {
            return Err(CoreError::invalid("no server id provided"));
        }
        if request.server_id.len() > MAX_SERVER_ID {
            return Err(CoreError::invalid("server id exceeds max length"));
        }
        if request.public_key.len() != 32 {
            return Err(CoreError::invalid(
                "no valid public_key provided (32 bytes of X25519, base64)",
            ));
        }
        if request.cluster_addr.is_empty() {
            return Err(CoreError::invalid("no cluster_addr provided"));
        }
        let key = lock(&self.ha.seal_key).clone().ok_or(CoreError::Sealed)?;
        let mut plain = Zeroizing::new(vec![0u8; 32]);
        crypto::fill_random(&mut plain)?;
        let sealed = crypto::seal(&key, &request.binding(), &plain)?;
        {
            let mut pending = lock(&self.ha.challenges);
            for list in pending.values_mut() {
                list.retain(|p| p.at.elapsed() < CHALLENGE_TTL);
            }
            pending.retain(|_, list| !list.is_empty());
            if pending.values().map(Vec::len).sum::<usize>() >= MAX_PENDING {
                return Err(CoreError::invalid(
                    "too many raft joins are pending; try again later",
                ));
            }
            let list = pending.entry(request.server_id.clone()).or_default();
            if list.len() >= MAX_PENDING_PER_NODE {
                list.remove(0);
            }
            list.push(Pending {
                plain,
                request,
                at: std::time::Instant::now(),
            });
        }
        let config = self
            .stored_seal_config()
            .await?
            .ok_or(CoreError::NotInitialized)?;
        Ok((B64.encode(sealed), config))
    }

    /// `sys/storage/raft/bootstrap/answer`, on the active node: admits the node that opened
    /// its challenge (as the challenge's request described it) and answers with the peers and
    /// the cluster's TLS keyring, encrypted to the key of that request.
    pub async fn raft_answer(
        &self,
        server_id: &str,
        answer_b64: &str,
    ) -> Result<serde_json::Value, CoreError> {
        let cluster = self
            .ha()
            .ok_or_else(|| CoreError::invalid("raft storage is not in use"))?;
        if server_id.is_empty() {
            return Err(CoreError::invalid("no server_id provided"));
        }
        if answer_b64.is_empty() {
            return Err(CoreError::invalid("no answer provided"));
        }
        let answer = Zeroizing::new(
            B64.decode(answer_b64)
                .map_err(|_| CoreError::invalid("could not base64 decode answer"))?,
        );
        // Found and taken in one step; a wrong answer spends nothing (the secret is 32 random
        // bytes: guessing it is hopeless, and a stranger cannot cancel someone's join).
        let request = {
            let mut pending = lock(&self.ha.challenges);
            let list = pending.get_mut(server_id);
            let found = list.as_ref().and_then(|l| {
                l.iter().position(|p| {
                    p.at.elapsed() < CHALLENGE_TTL
                        && p.plain.len() == answer.len()
                        && bool::from(subtle::ConstantTimeEq::ct_eq(&p.plain[..], &answer[..]))
                })
            });
            match (list, found) {
                (Some(l), Some(i)) => l.remove(i).request,
                _ => return Err(CoreError::invalid("invalid answer given")),
            }
        };
        let keyring = self
            .barrier()
            .get(RAFT_TLS_PATH)
            .await?
            .ok_or_else(|| CoreError::internal("could not find raft TLS configuration"))?;
        let ours = crypto::AgreementKey::generate()?;
        let key = ours.shared_key(&request.public_key, KEYRING_CONTEXT)?;
        let sealed_keyring = crypto::seal(&key, request.server_id.as_bytes(), &keyring)?;
        let addr = request
            .cluster_addr
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let peers = cluster
            .add_peer(
                &request.server_id,
                addr,
                &request.api_addr,
                !request.non_voter,
            )
            .await?;
        Ok(json!({
            "peers": peers.iter().map(|p| json!({
                "id": p.node_id,
                "address": p.cluster_addr,
                "api_address": p.api_addr,
                "suffrage": if p.voter { 0 } else { 1 },
            })).collect::<Vec<_>>(),
            "tls_keyring": B64.encode(sealed_keyring),
            "public_key": B64.encode(ours.public_key()?),
        }))
    }

    /// Runs one request of the join handshake on the active node through the audit log: a
    /// request entry before (failing closed, as every request does, when no device can write
    /// it) and a response entry after. These routes take no token, so the entries carry none.
    pub async fn audited_raft_bootstrap<F, Fut>(
        &self,
        path: &str,
        data: &tresor_sdk::Map,
        client: Option<std::net::IpAddr>,
        run: F,
    ) -> Result<serde_json::Value, CoreError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<serde_json::Value, CoreError>>,
    {
        use crate::audit::{Record, ResponseView, Stage};
        let Ok(active) = self.active() else {
            return run().await;
        };
        let id = crypto::uuid_v4();
        let record = |stage, response, error| Record {
            stage,
            request_id: &id,
            operation: tresor_sdk::Operation::Update,
            path,
            data,
            remote_addr: client,
            token: "",
            auth: None,
            mount: None,
            response,
            error,
        };
        active.audit.log(&record(Stage::Request, None, None))?;
        let answer = run().await;
        match &answer {
            Ok(v) => {
                let body = v.as_object().cloned().unwrap_or_default();
                let view = ResponseView {
                    data: Some(&body),
                    auth: None,
                    wrap_info: None,
                    warnings: &[],
                };
                active
                    .audit
                    .log(&record(Stage::Response, Some(view), None))?;
            }
            Err(e) => {
                let text = e.to_string();
                active
                    .audit
                    .log(&record(Stage::Response, None, Some(&text)))?;
            }
        }
        answer
    }

    /// `sys/storage/raft/join`, on the joining node: keeps the challenge until the unseal keys
    /// arrive. A node that is initialised already has nothing to join.
    pub async fn begin_join(
        &self,
        seal_config: SealConfig,
        challenge_b64: &str,
        leader: Arc<dyn JoinLeader>,
    ) -> Result<bool, CoreError> {
        if self.ha().is_none() {
            return Err(CoreError::internal("raft backend not in use"));
        }
        if !self.is_sealed() {
            return Err(CoreError::internal("node must be sealed before joining"));
        }
        if self.stored_seal_config().await?.is_some() {
            return Ok(true);
        }
        seal_config.validate()?;
        let challenge = B64
            .decode(challenge_b64)
            .map_err(|_| CoreError::internal("the leader sent a malformed challenge"))?;
        *lock(&self.ha.join) = Some(PendingJoin {
            seal_config,
            challenge,
            leader,
        });
        Ok(true)
    }

    /// The seal configuration this node answers with before it holds one: a joining node's is
    /// the leader's.
    pub(crate) fn join_seal_config(&self) -> Option<SealConfig> {
        lock(&self.ha.join).as_ref().map(|j| j.seal_config)
    }

    /// The joining node's unseal: opens the challenge with the combined key, trades it for the
    /// peers and keyring, starts replicating and waits for the keys to arrive. On return the
    /// node unseals as any initialised node does.
    pub(crate) async fn complete_join(&self, unseal_key: &[u8; KEY_LEN]) -> Result<(), CoreError> {
        let (challenge, leader) = {
            let join = lock(&self.ha.join);
            let Some(j) = join.as_ref() else {
                return Ok(());
            };
            (j.challenge.clone(), Arc::clone(&j.leader))
        };
        // Opens only if made for this node's own request (and with these unseal keys).
        let answer = crypto::open(unseal_key, &leader.request().binding(), &challenge).map_err(|_| {
            CoreError::invalid(
                "Error unsealing: failed to decrypt the raft join challenge: cipher: message authentication failed",
            )
        })?;
        let grant = leader.answer(&answer).await?;
        // The challenge is spent now: whatever happens next, a new join is needed to retry.
        *lock(&self.ha.join) = None;
        let cluster = self
            .ha()
            .ok_or_else(|| CoreError::internal("raft backend not in use"))?;
        let joined = async {
            cluster.start(&grant.tls_keyring, Some(&grant.peers)).await?;
            let started = std::time::Instant::now();
            while self.barrier().storage().get(ROOT_KEY_PATH).await?.is_none()
                || self.stored_seal_config().await?.is_none()
            {
                if started.elapsed() > REPLICATION_WAIT {
                    return Err(CoreError::internal(
                        "joined the cluster, but its keys were not replicated here in time; join again",
                    ));
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Ok(())
        }
        .await;
        if joined.is_err() {
            cluster.stop().await;
        } else {
            tracing::info!("core: joined the raft cluster");
        }
        joined
    }

    /// After the barrier opened: brings the cluster up with the keyring from the barrier and
    /// keeps the unseal key for join challenges.
    pub(crate) async fn start_cluster(
        &self,
        unseal_key: &Zeroizing<[u8; KEY_LEN]>,
    ) -> Result<(), CoreError> {
        let Some(cluster) = self.ha() else {
            return Ok(());
        };
        let keyring = self.barrier().get(RAFT_TLS_PATH).await?.ok_or_else(|| {
            CoreError::internal("the cluster's TLS keyring is missing from the barrier")
        })?;
        cluster.start(&keyring, None).await?;
        *lock(&self.ha.seal_key) = Some(unseal_key.clone());
        Ok(())
    }

    /// Whether this node may write (and so run the storage upgrades of a load): always without
    /// a cluster, only as its leader in one.
    pub(crate) fn may_write(&self) -> bool {
        self.ha().is_none_or(|c| c.state().is_leader)
    }

    /// Once unsealed: either the duties start now (single server), or the node follows the
    /// cluster's leadership and replicated changes.
    pub(crate) fn after_unseal(&self, active: &Arc<Active>) {
        let Some(cluster) = self.ha() else {
            self.start_duties(active);
            return;
        };
        let me = self.me();
        let leadership = tokio::spawn(follow_leadership(me.clone(), cluster.watch()));
        let changes = tokio::spawn(follow_changes(me, cluster.changes()));
        lock(&self.ha.followers).extend([leadership, changes]);
    }

    /// (Re)starts the active node's duties for `active`, the unsealed state now in place.
    pub(crate) fn start_duties(&self, active: &Arc<Active>) {
        let mut duties = lock(&self.ha.duties);
        for t in duties.drain(..) {
            t.abort();
        }
        duties.extend(crate::core::spawn_duties(self.barrier(), active));
        if self.ha().is_some() {
            duties.push(tokio::spawn(crate::autopilot::run(self.me())));
        }
        lock(&self.ha.active_since)
            .get_or_insert_with(|| tresor_sdk::clock::rfc3339(self.config().clock.now()));
    }

    /// Runs `task` as this node's one background join, ending any earlier one.
    pub fn set_join_task(&self, task: JoinHandle<()>) {
        if let Some(old) = lock(&self.ha.join_task).replace(task) {
            old.abort();
        }
    }

    /// What a replicated write to `key` means for this standby's memory.
    async fn invalidate(&self, key: &str) {
        let Ok(active) = self.active() else { return };
        if key == crate::barrier::KEYRING_PATH {
            // Rotated, or only its encryption count stored: new terms, same everything else.
            if let Err(e) = self.barrier().reload_keyring().await {
                tracing::error!(error = %e, "core: reloading the replicated keyring failed");
            }
        } else if rebuilds_everything(key) {
            if let Err(e) = self.reload_active().await {
                tracing::error!(error = %e, "core: reloading after a replicated change failed");
            }
        } else if let Some(name) = key.strip_prefix(crate::policy::POLICY_PREFIX) {
            if let Err(e) = active.policies.reload_one(name).await {
                tracing::error!(error = %e, "core: reloading a replicated policy failed");
            }
        } else if let Some(hash) = key.strip_prefix(crate::tokens::ID_PREFIX) {
            active.tokens.forget(hash);
        } else {
            for m in active.router.all() {
                if let Some(rel) = key.strip_prefix(m.view.prefix()) {
                    m.backend.invalidate(rel).await;
                }
            }
        }
    }
}

/// Starts the duties when this node becomes the leader and stops them when it is no longer.
/// Becoming the leader first rebuilds the unsealed state from storage (with the storage
/// upgrades a load makes), since the node may have been behind until its election.
async fn follow_leadership(
    core: Weak<Core>,
    mut state: tokio::sync::watch::Receiver<ClusterState>,
) {
    loop {
        let leading = state.borrow_and_update().is_leader;
        let Some(c) = core.upgrade() else { return };
        if leading && !c.ha.duties_running() {
            match c.active() {
                // Built as the leader already (this node led when it was unsealed).
                Ok(active) if active.writable => c.start_duties(&active),
                // A standby's state becomes the leader's: rebuilt, with the storage upgrades
                // only a writer runs, which starts the duties.
                _ => match c.reload_active().await {
                    Ok(_) => tracing::info!("core: this node is the active node"),
                    Err(e) => {
                        tracing::error!(error = %e, "core: taking over as active node failed")
                    }
                },
            }
        } else if !leading && c.ha.duties_running() {
            c.ha.stop_duties();
            *lock(&c.ha.active_since) = None;
            tracing::info!("core: this node is a standby");
        }
        drop(c);
        if state.changed().await.is_err() {
            return;
        }
    }
}

/// Drops what a standby holds for every key replication changed. The leader's own writes come
/// through here too; its caches are written through already, so it ignores them. A standby
/// that fell behind the feed reloads everything.
async fn follow_changes(
    core: Weak<Core>,
    mut changes: tokio::sync::broadcast::Receiver<Arc<Vec<String>>>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let keys = match changes.recv().await {
            Ok(keys) => keys,
            Err(RecvError::Lagged(_)) => Arc::new(vec![String::new()]),
            Err(RecvError::Closed) => return,
        };
        let Some(c) = core.upgrade() else { return };
        if !c.is_standby() {
            continue;
        }
        if keys.iter().any(|k| k.is_empty()) {
            // A restore: if the entries are another cluster's, this node's keys cannot open
            // them, and it seals itself until unsealed with the snapshot's keys.
            if let Err(e) = c.reload_active().await {
                tracing::warn!(error = %e, "core: replicated state does not open with this node's keys; sealing");
                c.seal().await;
            }
            continue;
        }
        let mut reloaded = false;
        for k in keys.iter() {
            let whole = rebuilds_everything(k);
            if whole && reloaded {
                continue;
            }
            c.invalidate(k).await;
            reloaded |= whole;
        }
    }
}

/// A change that the unsealed state is built from as a whole (mount tables, audit devices,
/// rotation settings), or any change at all (the empty key).
fn rebuilds_everything(key: &str) -> bool {
    key.is_empty()
        || (key.starts_with("core/")
            && key != crate::barrier::KEYRING_PATH
            && !key.starts_with("core/raft/"))
}

/// The cluster, for the `sys/storage/raft/*` paths: without integrated storage they do not
/// exist (OpenBao mounts them only with it), so a 404 "unsupported path".
fn raft_in_use(core: &Core) -> Result<&dyn Cluster, CoreError> {
    core.ha()
        .ok_or(CoreError::Backend(tresor_sdk::Error::UnsupportedPath))
}

fn data(v: serde_json::Value) -> tresor_sdk::Response {
    match v {
        serde_json::Value::Object(m) => tresor_sdk::Response::data(m),
        _ => tresor_sdk::Response::default(),
    }
}

/// `sys/storage/raft/configuration`: the peers as this node knows them.
pub(crate) async fn raft_configuration(core: &Core) -> Result<tresor_sdk::Response, CoreError> {
    let cluster = raft_in_use(core)?;
    let peers = cluster
        .peers()
        .await
        .map_err(|_| CoreError::invalid("raft storage is not initialized"))?;
    Ok(data(json!({
        "config": {
            "servers": peers.iter().map(|p| json!({
                "node_id": p.node_id,
                "address": p.cluster_addr,
                "leader": p.leader,
                "protocol_version": "3",
                "voter": p.voter,
            })).collect::<Vec<_>>(),
            "index": cluster.state().committed_index,
        }
    })))
}

/// `sys/storage/raft/remove-peer`, on the active node (a standby forwards it there).
pub(crate) async fn raft_remove_peer(
    core: &Core,
    server_id: Option<&serde_json::Value>,
) -> Result<(), CoreError> {
    let cluster = raft_in_use(core)?;
    let id = server_id
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| CoreError::invalid("no server id provided"))?;
    cluster.remove_peer(id).await?;
    Ok(())
}

/// `sys/ha-status`: every member, which one is active; a server alone is its own active node.
pub(crate) async fn ha_status(core: &Core) -> Result<tresor_sdk::Response, CoreError> {
    let Some(cluster) = core.ha() else {
        return Ok(data(json!({ "nodes": [{
            "hostname": hostname(),
            "api_address": core.config().api_addr,
            "cluster_address": core.config().cluster_addr,
            "active_node": true,
            "last_echo": null,
            "version": crate::VAULT_VERSION,
        }]})));
    };
    let mut peers = cluster.peers().await?;
    peers.sort_by(|a, b| a.api_addr.cmp(&b.api_addr));
    let hostname = hostname();
    let nodes: Vec<serde_json::Value> = peers
        .iter()
        .map(|p| {
            json!({
                "hostname": if p.node_id == cluster.node_id() { hostname.clone() } else { p.node_id.clone() },
                "node_id": p.node_id,
                "api_address": p.api_addr,
                "cluster_address": format!("https://{}", p.cluster_addr),
                "active_node": p.leader,
                "last_echo": null,
                "version": crate::VAULT_VERSION,
            })
        })
        .collect();
    Ok(data(json!({ "nodes": nodes })))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// What a snapshot archive starts with; then a MAC of the rest, then the stored entries.
const SNAPSHOT_MAGIC: &[u8] = b"TRESOR-RAFT-SNAPSHOT-1\n";
const SNAPSHOT_MAC_LEN: usize = 32;

/// The key of a snapshot's MAC, derived from the unseal key: a snapshot made by this cluster
/// verifies; one made under other unseal keys does not (and needs `snapshot-force`).
fn snapshot_mac_key(core: &Core) -> Result<Zeroizing<[u8; 32]>, CoreError> {
    let key = lock(&core.ha.seal_key).clone().ok_or(CoreError::Sealed)?;
    Ok(Zeroizing::new(crypto::hmac_sha256(
        &key[..],
        b"tresor raft snapshot",
    )))
}

impl Core {
    /// Every stored entry (ciphertext) as one archive, sealed with a MAC keyed from the unseal
    /// key: what `GET sys/storage/raft/snapshot` answers and a scheduled snapshot writes.
    pub async fn raft_snapshot_archive(&self) -> Result<Vec<u8>, CoreError> {
        let cluster = raft_in_use(self)?;
        let body = cluster.snapshot().await?;
        let mac = crypto::hmac_sha256(&snapshot_mac_key(self)?[..], &body);
        let mut archive = Vec::with_capacity(SNAPSHOT_MAGIC.len() + mac.len() + body.len());
        archive.extend_from_slice(SNAPSHOT_MAGIC);
        archive.extend_from_slice(&mac);
        archive.extend_from_slice(&body);
        Ok(archive)
    }
}

/// `GET sys/storage/raft/snapshot`.
pub(crate) async fn raft_snapshot(core: &Core) -> Result<tresor_sdk::Response, CoreError> {
    Ok(tresor_sdk::Response {
        binary: Some(core.raft_snapshot_archive().await?),
        ..Default::default()
    })
}

/// `POST sys/storage/raft/snapshot[-force]`: replaces every stored entry of the cluster. The
/// active node then rebuilds its state from the restored entries; if they were made under
/// other keys, it cannot, and seals itself (as every standby does), to be unsealed with the
/// snapshot's unseal keys.
pub(crate) async fn raft_restore(
    core: &Core,
    snapshot_b64: Option<&serde_json::Value>,
    force: bool,
) -> Result<(), CoreError> {
    let cluster = raft_in_use(core)?;
    let archive = snapshot_b64
        .and_then(|v| v.as_str())
        .and_then(|s| B64.decode(s).ok())
        .ok_or_else(|| CoreError::invalid("no snapshot provided"))?;
    let rest = archive
        .strip_prefix(SNAPSHOT_MAGIC)
        .filter(|r| r.len() >= SNAPSHOT_MAC_LEN)
        .ok_or_else(|| CoreError::invalid("the snapshot is not a Tresor raft snapshot"))?;
    let (mac, body) = rest.split_at(SNAPSHOT_MAC_LEN);
    if !force {
        let expected = crypto::hmac_sha256(&snapshot_mac_key(core)?[..], body);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&expected[..], mac)) {
            return Err(CoreError::invalid(
                "could not verify hash file, possibly the snapshot is using a different set of unseal keys; use the snapshot-force API to bypass this check",
            ));
        }
    }
    cluster
        .restore(body)
        .await
        .map_err(|e| CoreError::invalid(format!("error installing the snapshot: {e}")))?;
    if let Err(e) = core.reload_active().await {
        tracing::warn!(error = %e, "core: the restored snapshot does not open with this node's keys; sealing");
        core.seal().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(key: u8) -> JoinRequest {
        JoinRequest {
            server_id: "node2".into(),
            public_key: vec![key; 32],
            cluster_addr: "127.0.0.1:8201".into(),
            api_addr: "http://127.0.0.1:8200".into(),
            non_voter: false,
        }
    }

    /// A challenge made for one request (key, addresses, vote) does not open for another: a
    /// party relaying the handshake cannot swap in its own key or change who joins.
    #[test]
    fn a_challenge_opens_only_for_the_request_it_was_made_for() {
        let unseal_key = crypto::random_key().unwrap();
        let sealed = crypto::seal(&unseal_key, &request(1).binding(), b"secret").unwrap();
        assert_eq!(
            &crypto::open(&unseal_key, &request(1).binding(), &sealed).unwrap()[..],
            b"secret"
        );
        assert!(crypto::open(&unseal_key, &request(2).binding(), &sealed).is_err());
        let mut other_addr = request(1);
        other_addr.cluster_addr = "10.0.0.9:8201".into();
        assert!(crypto::open(&unseal_key, &other_addr.binding(), &sealed).is_err());
        let mut non_voter = request(1);
        non_voter.non_voter = true;
        assert!(crypto::open(&unseal_key, &non_voter.binding(), &sealed).is_err());
        let wrong_keys = crypto::random_key().unwrap();
        assert!(crypto::open(&wrong_keys, &request(1).binding(), &sealed).is_err());
    }
}
