//! A server in a cluster (integrated Raft storage): `storage "raft"` read into the backend's
//! settings, the cluster port (Raft's RPCs and requests forwarded by standbys, behind the
//! cluster's pinned-certificate TLS), and the joining side of Vault's join handshake, whether
//! asked for (`sys/storage/raft/join`) or configured (`retry_join`).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Map, Value};
use tresor_core::ha::{JoinLeader, JoinRequest, KEYRING_CONTEXT};
use tresor_core::{Core, CoreError, SealConfig};
use tresor_raft::{RaftConfig, RaftStorage};
use tresor_storage::cluster::{JoinGrant, Peer};

use crate::config::{Config, StorageConfig};
use crate::run::RunError;

/// How a node reaches a leader's API to join it (a `retry_join` block, or the join request).
/// Not `Debug`: it may hold a client key.
#[derive(Clone, Default)]
pub struct LeaderInfo {
    pub leader_api_addr: String,
    pub leader_ca_cert: Option<String>,
    pub leader_client_cert: Option<String>,
    pub leader_client_key: Option<String>,
    pub leader_tls_servername: Option<String>,
}

/// Everything `storage "raft"` and the listeners say about this node's place in a cluster.
pub struct Setup {
    pub raft: RaftStorage,
    /// Where the cluster port listens.
    pub listen: String,
    pub retry_join: Vec<LeaderInfo>,
    pub retry_join_as_non_voter: bool,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number(options: &Map<String, Value>, key: &str, default: u64) -> Result<u64, RunError> {
    match options.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => text(v)
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| RunError::Raft(format!("{key}: expected a number"))),
    }
}

/// `host:port` of an address given as a URL or as `host:port`.
pub fn host_port(addr: &str) -> String {
    let rest = addr.split_once("://").map(|(_, r)| r).unwrap_or(addr);
    rest.trim_end_matches('/').to_owned()
}

/// The port after a `host:port` (Vault's default cluster port: the API's plus one).
fn next_port(addr: &str) -> Option<String> {
    let (host, port) = addr.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    Some(format!("{host}:{}", port.checked_add(1)?))
}

fn retry_join_blocks(v: Option<&Value>) -> Result<Vec<LeaderInfo>, RunError> {
    let blocks: Vec<Value> = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Object(o)) => vec![Value::Object(o.clone())],
        // Vault's own flattening turns the list into JSON text.
        Some(Value::String(s)) => match serde_json::from_str(s) {
            Ok(Value::Array(a)) => a,
            _ => return Err(RunError::Raft("retry_join: expected blocks".into())),
        },
        Some(_) => return Err(RunError::Raft("retry_join: expected blocks".into())),
    };
    let mut out = Vec::new();
    for b in blocks {
        let Value::Object(b) = b else {
            return Err(RunError::Raft("retry_join: expected blocks".into()));
        };
        let get = |k: &str| b.get(k).and_then(text).filter(|s| !s.is_empty());
        // A file beats the same setting inline, as in Vault.
        let file_or_inline = |file: &str, inline: &str| -> Result<Option<String>, RunError> {
            match get(file) {
                Some(path) => std::fs::read_to_string(&path)
                    .map(Some)
                    .map_err(|e| RunError::Raft(format!("{file} {path}: {e}"))),
                None => Ok(get(inline)),
            }
        };
        let leader_api_addr = get("leader_api_addr").ok_or_else(|| {
            RunError::Raft(
                "retry_join: leader_api_addr must be set (auto_join is not supported)".into(),
            )
        })?;
        out.push(LeaderInfo {
            leader_api_addr,
            leader_ca_cert: file_or_inline("leader_ca_cert_file", "leader_ca_cert")?,
            leader_client_cert: file_or_inline("leader_client_cert_file", "leader_client_cert")?,
            leader_client_key: file_or_inline("leader_client_key_file", "leader_client_key")?,
            leader_tls_servername: get("leader_tls_servername"),
        });
    }
    Ok(out)
}

/// Reads `storage "raft"` (with `VAULT_RAFT_PATH` and `VAULT_RAFT_NODE_ID` overriding it, as in
/// Vault) and opens the node's storage.
pub fn setup(config: &Config, storage: &StorageConfig, api_addr: &str) -> Result<Setup, RunError> {
    let o = &storage.options;
    let path = std::env::var("VAULT_RAFT_PATH")
        .ok()
        .filter(|p| !p.is_empty())
        .or_else(|| o.get("path").and_then(text).filter(|p| !p.is_empty()))
        .ok_or_else(|| RunError::Raft("'path' must be set".into()))?;
    let cluster_addr = config
        .cluster_addr
        .as_deref()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            RunError::Raft("Cluster address must be set when using raft storage".into())
        })?;
    let mut raft = RaftConfig::new(&path, &host_port(cluster_addr), api_addr);
    raft.node_id = std::env::var("VAULT_RAFT_NODE_ID")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| o.get("node_id").and_then(text).filter(|s| !s.is_empty()));
    raft.performance_multiplier = number(o, "performance_multiplier", 5)?.max(1);
    raft.snapshot_threshold = number(o, "snapshot_threshold", 8192)?.max(1);
    raft.trailing_logs = number(o, "trailing_logs", 10_000)?;
    let retry_join = retry_join_blocks(o.get("retry_join"))?;
    let retry_join_as_non_voter = o
        .get("retry_join_as_non_voter")
        .and_then(text)
        .is_some_and(|s| s == "true");
    if retry_join_as_non_voter && retry_join.is_empty() {
        return Err(RunError::Raft(
            "retry_join_as_non_voter is set but no retry_join stanzas are given".into(),
        ));
    }
    let listen = config
        .listeners
        .iter()
        .find_map(|l| l.cluster_address.clone())
        .or_else(|| config.listeners.first().and_then(|l| next_port(&l.address)))
        .ok_or(RunError::NoListener)?;
    Ok(Setup {
        raft: RaftStorage::open(raft)?,
        listen,
        retry_join,
        retry_join_as_non_voter,
    })
}

/// The largest Raft message a node accepts: a batch of entries or a whole snapshot (axum's
/// default, 2 MiB, would stall replication at the first large batch). Only peers holding the
/// cluster's key reach this route.
const MAX_RPC_BYTES: usize = 1 << 30;

/// The cluster port's routes: Raft's RPCs, and the API for requests a standby forwards.
pub fn router(raft: RaftStorage, app: axum::Router) -> axum::Router {
    axum::Router::new()
        .route("/raft/{name}", axum::routing::post(rpc).with_state(raft))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_RPC_BYTES))
        .merge(app.layer(axum::middleware::from_fn(forwarded)))
}

async fn rpc(
    State(raft): State<RaftStorage>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Vec<u8>, (StatusCode, String)> {
    raft.handle_rpc(&name, &body)
        .await
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
}

/// The header a standby sends the client's address in; believed only on the cluster port,
/// whose every client proved it holds the cluster's key.
pub const FORWARDED_FOR: &str = "x-tresor-forwarded-for";

/// Marks a request as forwarded by a standby (it is not forwarded again) and restores the
/// client's address for the ACL's CIDR checks and the audit log.
async fn forwarded(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let client = req
        .headers()
        .get(FORWARDED_FOR)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<std::net::IpAddr>().ok());
    if let Some(conn) = req.extensions().get::<crate::http::Connection>().copied() {
        let peer = client
            .map(|ip| std::net::SocketAddr::new(ip, 0))
            .unwrap_or(conn.peer);
        req.extensions_mut()
            .insert(crate::http::Connection { peer, ..conn });
    }
    req.extensions_mut().insert(crate::http::Forwarded);
    next.run(req).await
}

/// An HTTP client for a leader's API, with the TLS settings of a join request.
fn leader_client(info: &LeaderInfo) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5));
    if let Some(ca) = &info.leader_ca_cert {
        for cert in reqwest::Certificate::from_pem_bundle(ca.as_bytes())
            .map_err(|e| format!("error parsing leader_ca_cert: {e}"))?
        {
            b = b.add_root_certificate(cert);
        }
    }
    if let (Some(cert), Some(key)) = (&info.leader_client_cert, &info.leader_client_key) {
        let pem = format!("{cert}\n{key}");
        b = b.identity(
            reqwest::Identity::from_pem(pem.as_bytes())
                .map_err(|e| format!("error parsing the client certificate: {e}"))?,
        );
    }
    if let Some(name) = &info.leader_tls_servername {
        // Connect to the address given but check the certificate for this name.
        let url = reqwest::Url::parse(&info.leader_api_addr).map_err(|e| e.to_string())?;
        if let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) {
            if let Ok(addrs) = std::net::ToSocketAddrs::to_socket_addrs(&(host, port)) {
                let addrs: Vec<_> = addrs.collect();
                b = b.resolve_to_addrs(name, &addrs);
            }
        }
    }
    b.build().map_err(|e| e.to_string())
}

fn leader_url(info: &LeaderInfo, path: &str) -> Result<String, String> {
    let mut url = reqwest::Url::parse(info.leader_api_addr.trim_end_matches('/'))
        .map_err(|e| format!("invalid leader address {:?}: {e}", info.leader_api_addr))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "invalid scheme {:?}; must either be http or https",
            url.scheme()
        ));
    }
    if let Some(name) = &info.leader_tls_servername {
        url.set_host(Some(name)).map_err(|e| e.to_string())?;
    }
    Ok(format!("{}/v1/{path}", url.as_str().trim_end_matches('/')))
}

async fn put_json(client: &reqwest::Client, url: &str, body: Value) -> Result<Value, String> {
    let resp = client
        .put(url)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("error reaching the leader: {e}"))?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let errors = body
            .get("errors")
            .and_then(Value::as_array)
            .map(|e| {
                e.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        return Err(format!("the leader answered {status}: {errors}"));
    }
    Ok(body)
}

/// The joining node's side of the handshake: its request (with a fresh X25519 key the leader
/// encrypts the keyring to), and the answer PUT to the leader.
struct HttpJoin {
    client: reqwest::Client,
    info: LeaderInfo,
    request: JoinRequest,
    key: tresor_core::crypto::AgreementKey,
}

#[async_trait::async_trait]
impl JoinLeader for HttpJoin {
    fn request(&self) -> &JoinRequest {
        &self.request
    }

    async fn answer(&self, answer: &[u8]) -> Result<JoinGrant, CoreError> {
        let url = leader_url(&self.info, "sys/storage/raft/bootstrap/answer")
            .map_err(CoreError::internal)?;
        let body = put_json(
            &self.client,
            &url,
            json!({
                "server_id": self.request.server_id,
                "answer": B64.encode(answer),
            }),
        )
        .await
        .map_err(|e| CoreError::internal(format!("failed to join raft cluster: {e}")))?;
        let data = body.get("data").unwrap_or(&Value::Null);
        let field = |k: &str| {
            data.get(k)
                .and_then(Value::as_str)
                .and_then(|v| B64.decode(v).ok())
                .ok_or_else(|| CoreError::internal(format!("the leader's answer has no {k}")))
        };
        let shared = self
            .key
            .shared_key(&field("public_key")?, KEYRING_CONTEXT)?;
        let keyring = tresor_core::crypto::open(
            &shared,
            self.request.server_id.as_bytes(),
            &field("tls_keyring")?,
        )
        .map_err(|_| {
            CoreError::internal("the leader's keyring does not open with this node's key")
        })?;
        let peers = data
            .get("peers")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .map(|p| Peer {
                        node_id: p["id"].as_str().unwrap_or_default().to_owned(),
                        cluster_addr: p["address"].as_str().unwrap_or_default().to_owned(),
                        api_addr: p["api_address"].as_str().unwrap_or_default().to_owned(),
                        leader: false,
                        voter: p["suffrage"].as_u64() == Some(0),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(JoinGrant {
            peers,
            tls_keyring: keyring,
        })
    }
}

/// One attempt to join the cluster led at `info`: fetch a challenge and keep it in the core
/// until the unseal keys arrive. `Ok(true)` once joined (or initialised already).
pub async fn join_once(core: &Core, info: &LeaderInfo, non_voter: bool) -> Result<bool, String> {
    let cluster = core.ha().ok_or("raft backend not in use")?;
    let client = leader_client(info)?;
    let url = leader_url(info, "sys/storage/raft/bootstrap/challenge")?;
    let key = tresor_core::crypto::AgreementKey::generate().map_err(|e| e.to_string())?;
    let request = JoinRequest {
        server_id: cluster.node_id().to_owned(),
        public_key: key.public_key().map_err(|e| e.to_string())?,
        cluster_addr: cluster.cluster_addr().to_owned(),
        api_addr: cluster.api_addr().to_owned(),
        non_voter,
    };
    let body = put_json(
        &client,
        &url,
        json!({
            "server_id": request.server_id,
            "public_key": B64.encode(&request.public_key),
            "cluster_addr": request.cluster_addr,
            "api_addr": request.api_addr,
            "non_voter": request.non_voter,
        }),
    )
    .await?;
    let data = body.get("data").unwrap_or(&Value::Null);
    let challenge = data
        .get("challenge")
        .and_then(Value::as_str)
        .ok_or("the leader sent no challenge")?;
    let sc = data.get("seal_config").unwrap_or(&Value::Null);
    if let Some(kind) = sc.get("type").and_then(Value::as_str) {
        if kind != "shamir" {
            return Err(format!(
                "mismatching seal types between raft leader ({kind}) and follower (shamir)"
            ));
        }
    }
    let field = |k: &str| sc.get(k).and_then(Value::as_u64).unwrap_or(0) as u32;
    let seal_config = SealConfig {
        secret_shares: field("secret_shares"),
        secret_threshold: field("secret_threshold"),
    };
    let leader = Arc::new(HttpJoin {
        client,
        info: info.clone(),
        request,
        key,
    });
    core.begin_join(seal_config, challenge, leader)
        .await
        .map_err(|e| e.to_string())
}

/// `retry_join` (and `join -retry`): tries each leader every 2 s until one gives a challenge
/// or the node turns out to be initialised.
pub fn spawn_retry_join(core: Arc<Core>, leaders: Vec<LeaderInfo>, non_voter: bool) {
    if leaders.is_empty() {
        return;
    }
    let joining = Arc::clone(&core);
    let task = tokio::spawn(async move {
        let core = joining;
        loop {
            if core.is_initialized().await.unwrap_or(false) {
                return;
            }
            for info in &leaders {
                match join_once(&core, info, non_voter).await {
                    Ok(true) => {
                        tracing::info!(leader = %info.leader_api_addr, "raft: join challenge received; unseal this node to finish joining");
                        return;
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(leader = %info.leader_api_addr, error = %e, "raft: join attempt failed")
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
    // One background join per node: a new one replaces the old.
    core.set_join_task(task);
}

/// Runs every `snapshot_auto` block: on the active node only, every `interval`, a snapshot
/// written to `<path_prefix>/<file_prefix>-<time>.snap` (0600, written aside and renamed into
/// place, so a crash leaves no half file under that name), keeping the newest `retain`.
pub fn spawn_scheduled_snapshots(core: Arc<Core>, schedules: Vec<crate::config::SnapshotAuto>) {
    for snap in schedules {
        let core = Arc::clone(&core);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(snap.interval));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let active = core.ha_state().is_some_and(|s| s.is_leader) && !core.is_sealed();
                if !active {
                    continue;
                }
                match take_scheduled_snapshot(&core, &snap).await {
                    Ok(path) => {
                        tracing::info!(name = %snap.name, path = %path.display(), "raft: scheduled snapshot written")
                    }
                    Err(e) => {
                        tracing::error!(name = %snap.name, error = %e, "raft: scheduled snapshot failed")
                    }
                }
            }
        });
    }
}

async fn take_scheduled_snapshot(
    core: &Core,
    snap: &crate::config::SnapshotAuto,
) -> Result<std::path::PathBuf, String> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let archive = core
        .raft_snapshot_archive()
        .await
        .map_err(|e| e.to_string())?;
    let dir = &snap.path_prefix;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("creating {}: {e}", dir.display()))?;
    // Sortable by name: the time in UTC down to the millisecond.
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    );
    let path = dir.join(format!("{}-{stamp}.snap", snap.file_prefix));
    let partial = dir.join(format!(".{}-{stamp}.partial", snap.file_prefix));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
            .map_err(|e| format!("writing {}: {e}", partial.display()))?;
        f.write_all(&archive)
            .and_then(|_| f.sync_all())
            .map_err(|e| format!("writing {}: {e}", partial.display()))?;
    }
    std::fs::rename(&partial, &path)
        .map_err(|e| format!("renaming into {}: {e}", path.display()))?;
    // Retention: the newest `retain` of this schedule's files stay.
    let prefix = format!("{}-", snap.file_prefix);
    let mut taken: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".snap"))
        })
        .collect();
    taken.sort();
    let excess = taken.len().saturating_sub(snap.retain);
    for old in &taken[..excess] {
        if let Err(e) = std::fs::remove_file(old) {
            tracing::warn!(path = %old.display(), error = %e, "raft: removing an old scheduled snapshot failed");
        }
    }
    Ok(path)
}
