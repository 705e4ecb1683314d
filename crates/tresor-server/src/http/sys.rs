//! The `sys/` routes Vault serves without a token: init, unseal, seal-status, health, leader.
//! Their answers are raw JSON, not the response envelope.

use axum::body::Body;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};
use tresor_core::SealConfig;

use super::error::ApiError;
use super::handler::json_body;
use super::AppState;

/// The routes (under `sys/`) answered here, before any token check.
pub const UNAUTHENTICATED: &[&str] = &[
    "init",
    "seal-status",
    "unseal",
    "health",
    "leader",
    "storage/raft/join",
    "storage/raft/bootstrap/challenge",
    "storage/raft/bootstrap/answer",
];

/// Writes a standby answers itself rather than forwarding: they concern this node.
pub const LOCAL_ONLY: &[&str] = &["init", "unseal", "seal", "storage/raft/join"];

pub async fn unauthenticated(
    state: &AppState,
    path: &str,
    method: &Method,
    uri: &Uri,
    body: Body,
    timeout: Option<std::time::Duration>,
    client: Option<std::net::IpAddr>,
) -> Result<Response, ApiError> {
    let m = method.as_str();
    let resp = match (path, m) {
        ("init", "GET") => json_ok(json!({ "initialized": state.core.is_initialized().await? })),
        ("init", "PUT" | "POST") => init(state, json_body(body, timeout).await?).await?,
        ("seal-status", "GET") => {
            json_ok(serde_json::to_value(state.core.seal_status().await?).unwrap_or_default())
        }
        ("unseal", "PUT" | "POST") => unseal(state, json_body(body, timeout).await?).await?,
        ("health", "GET" | "HEAD") => health(state, uri, m == "HEAD").await?,
        ("leader", "GET") => leader(state),
        ("storage/raft/join", "PUT" | "POST") => {
            join(state, json_body(body, timeout).await?).await?
        }
        ("storage/raft/bootstrap/challenge", "PUT" | "POST") => {
            challenge(state, json_body(body, timeout).await?, client).await?
        }
        ("storage/raft/bootstrap/answer", "PUT" | "POST") => {
            answer(state, json_body(body, timeout).await?, client).await?
        }
        _ => return Err(ApiError::bare(StatusCode::METHOD_NOT_ALLOWED)),
    };
    Ok(resp)
}

fn json_ok(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

fn u32_field(data: &tresor_sdk::Map, name: &str) -> Result<u32, ApiError> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| ApiError::bad_request(format!("{name} must be a non-negative integer"))),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| ApiError::bad_request(format!("{name} must be a non-negative integer"))),
        Some(_) => Err(ApiError::bad_request(format!(
            "{name} must be a non-negative integer"
        ))),
    }
}

async fn init(state: &AppState, data: tresor_sdk::Map) -> Result<Response, ApiError> {
    for unsupported in ["pgp_keys", "root_token_pgp_key"] {
        if data
            .get(unsupported)
            .is_some_and(|v| !v.is_null() && v != &json!([]) && v != &json!(""))
        {
            return Err(ApiError::bad_request(format!(
                "{unsupported} is not supported by Tresor yet"
            )));
        }
    }
    let config = SealConfig {
        secret_shares: u32_field(&data, "secret_shares")?,
        secret_threshold: u32_field(&data, "secret_threshold")?,
    };
    let result = state.core.initialize(config, None).await?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let keys: Vec<String> = result
        .keys
        .iter()
        .map(|k| tresor_sdk::ids::hex(&k[..]))
        .collect();
    let keys_b64: Vec<String> = result.keys.iter().map(|k| b64.encode(&k[..])).collect();
    Ok(json_ok(json!({
        "keys": keys,
        "keys_base64": keys_b64,
        "root_token": result.root_token.as_str(),
    })))
}

async fn unseal(state: &AppState, data: tresor_sdk::Map) -> Result<Response, ApiError> {
    let reset = match data.get("reset") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::bad_request("reset must be a boolean")),
    };
    let key = match data.get("key") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(ApiError::bad_request("'key' must be a string")),
    };
    let status = state.core.unseal(key, reset).await?;
    Ok(json_ok(serde_json::to_value(status).unwrap_or_default()))
}

/// `sys/health`: the status code tells the state; query parameters can change each code.
async fn health(state: &AppState, uri: &Uri, head: bool) -> Result<Response, ApiError> {
    let q: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|p| p.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let code = |name: &str, default: u16| -> Result<u16, ApiError> {
        match q.iter().find(|(k, _)| k == name) {
            None => Ok(default),
            Some((_, v)) => v
                .parse::<u16>()
                .ok()
                .filter(|c| (100..600).contains(c))
                .ok_or_else(|| ApiError::bad_request(format!("invalid value for {name}: {v}"))),
        }
    };
    let initialized = state.core.is_initialized().await?;
    let sealed = state.core.is_sealed();
    let standby = state.core.is_standby();
    let standby_ok = q.iter().any(|(k, v)| {
        k == "standbyok" && matches!(v.as_str(), "" | "true" | "1" | "t" | "True" | "TRUE")
    });
    let status = if !initialized {
        code("uninitcode", 501)?
    } else if sealed {
        code("sealedcode", 503)?
    } else if standby && !standby_ok {
        code("standbycode", 429)?
    } else {
        code("activecode", 200)?
    };
    let cluster = state.core.cluster();
    let mut body = json!({
        "initialized": initialized,
        "sealed": sealed,
        "standby": standby,
        "performance_standby": false,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": time::OffsetDateTime::now_utc().unix_timestamp(),
        "version": tresor_core::VAULT_VERSION,
        "enterprise": false,
        "echo_duration_ms": 0,
        "clock_skew_ms": 0,
    });
    if let (Some((name, id)), Value::Object(m)) = (cluster, &mut body) {
        m.insert("cluster_name".into(), name.into());
        m.insert("cluster_id".into(), id.into());
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if head {
        return Ok(status.into_response());
    }
    Ok((status, axum::Json(body)).into_response())
}

/// `sys/leader`: without a cluster OpenBao answers just `ha_enabled: false` (sealed or not).
fn leader(state: &AppState) -> Response {
    let Some(cluster) = state.core.ha() else {
        return json_ok(json!({ "ha_enabled": false }));
    };
    let s = cluster.state();
    let mut body = json!({
        "ha_enabled": true,
        "is_self": s.is_leader && !state.core.is_sealed(),
        "active_time": state.core.active_since().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        "leader_address": s.leader.as_ref().map(|l| l.api_addr.clone()).unwrap_or_default(),
        "leader_cluster_address": s
            .leader
            .as_ref()
            .map(|l| format!("https://{}", l.cluster_addr))
            .unwrap_or_default(),
        "performance_standby": false,
        "performance_standby_last_remote_wal": 0,
    });
    if s.running {
        body["raft_committed_index"] = s.committed_index.into();
        body["raft_applied_index"] = s.applied_index.into();
    }
    json_ok(body)
}

fn str_field<'a>(data: &'a tresor_sdk::Map, name: &str) -> Result<&'a str, ApiError> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::bad_request(format!("{name} must be a string"))),
    }
}

fn bool_field(data: &tresor_sdk::Map, name: &str) -> Result<bool, ApiError> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| ApiError::bad_request(format!("{name} must be a boolean"))),
        Some(_) => Err(ApiError::bad_request(format!("{name} must be a boolean"))),
    }
}

/// `sys/storage/raft/join`: raw JSON in and out, no token (the node has none yet).
async fn join(state: &AppState, data: tresor_sdk::Map) -> Result<Response, ApiError> {
    if state.core.ha().is_none() {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "raft backend not in use",
        ));
    }
    let info = crate::cluster::LeaderInfo {
        leader_api_addr: str_field(&data, "leader_api_addr")?.to_owned(),
        leader_ca_cert: Some(str_field(&data, "leader_ca_cert")?.to_owned())
            .filter(|s| !s.is_empty()),
        leader_client_cert: Some(str_field(&data, "leader_client_cert")?.to_owned())
            .filter(|s| !s.is_empty()),
        leader_client_key: Some(str_field(&data, "leader_client_key")?.to_owned())
            .filter(|s| !s.is_empty()),
        leader_tls_servername: Some(str_field(&data, "leader_tls_servername")?.to_owned())
            .filter(|s| !s.is_empty()),
    };
    if info.leader_api_addr.is_empty() {
        return Err(ApiError::bad_request(
            "must provide leader address or auto-join metadata",
        ));
    }
    let retry = bool_field(&data, "retry")?;
    let non_voter = bool_field(&data, "non_voter")?;
    if !state.core.is_sealed() {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "node must be sealed before joining",
        ));
    }
    if state.core.is_initialized().await? {
        return Ok(json_ok(json!({ "joined": true })));
    }
    if retry {
        crate::cluster::spawn_retry_join(Arc::clone(&state.core), vec![info], non_voter);
        return Ok(json_ok(json!({ "joined": false })));
    }
    match crate::cluster::join_once(&state.core, &info, non_voter).await {
        Ok(joined) => Ok(json_ok(json!({ "joined": joined }))),
        Err(e) if e.starts_with("invalid scheme") => Err(ApiError::bad_request(e)),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to join raft cluster: {e}"),
        )),
    }
}

/// `sys/storage/raft/bootstrap/challenge`, on the active node (audited).
async fn challenge(
    state: &AppState,
    data: tresor_sdk::Map,
    client: Option<std::net::IpAddr>,
) -> Result<Response, ApiError> {
    let request = tresor_core::ha::JoinRequest {
        server_id: str_field(&data, "server_id")?.to_owned(),
        public_key: base64::engine::general_purpose::STANDARD
            .decode(str_field(&data, "public_key")?)
            .map_err(|_| ApiError::bad_request("public_key must be base64"))?,
        cluster_addr: str_field(&data, "cluster_addr")?.to_owned(),
        api_addr: str_field(&data, "api_addr")?.to_owned(),
        non_voter: bool_field(&data, "non_voter")?,
    };
    let core = &state.core;
    let answer = core
        .audited_raft_bootstrap(
            "sys/storage/raft/bootstrap/challenge",
            &data,
            client,
            || async {
                let (challenge, config) = core.raft_challenge(request).await?;
                Ok(json!({
                    "challenge": challenge,
                    "seal_config": {
                        "type": "shamir",
                        "secret_shares": config.secret_shares,
                        "secret_threshold": config.secret_threshold,
                        "pgp_keys": null,
                        "nonce": "",
                        "backup": false,
                    },
                }))
            },
        )
        .await?;
    Ok(json_ok(json!({ "data": answer })))
}

/// `sys/storage/raft/bootstrap/answer`, on the active node (audited).
async fn answer(
    state: &AppState,
    data: tresor_sdk::Map,
    client: Option<std::net::IpAddr>,
) -> Result<Response, ApiError> {
    let (server_id, answer) = (str_field(&data, "server_id")?, str_field(&data, "answer")?);
    let core = &state.core;
    let grant = core
        .audited_raft_bootstrap("sys/storage/raft/bootstrap/answer", &data, client, || {
            core.raft_answer(server_id, answer)
        })
        .await?;
    Ok(json_ok(json!({ "data": grant })))
}
