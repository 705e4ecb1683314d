//! The `sys/` routes Vault serves without a token: init, unseal, seal-status, health, leader.
//! Their answers are raw JSON, not the response envelope.

use axum::body::Body;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{json, Value};
use tresor_core::SealConfig;

use super::error::ApiError;
use super::handler::json_body;
use super::AppState;

/// The routes (under `sys/`) answered here, before any token check.
pub const UNAUTHENTICATED: &[&str] = &["init", "seal-status", "unseal", "health", "leader"];

pub async fn unauthenticated(
    state: &AppState,
    path: &str,
    method: &Method,
    uri: &Uri,
    body: Body,
    timeout: Option<std::time::Duration>,
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
        ("leader", "GET") => leader(),
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
    let status = if !initialized {
        code("uninitcode", 501)?
    } else if sealed {
        code("sealedcode", 503)?
    } else {
        code("activecode", 200)?
    };
    let cluster = state.core.cluster();
    let mut body = json!({
        "initialized": initialized,
        "sealed": sealed,
        "standby": false,
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

/// `sys/leader`: the storage backends Tresor has are not HA, and OpenBao answers just this then
/// (sealed or not).
fn leader() -> Response {
    json_ok(json!({ "ha_enabled": false }))
}
