//! A standby hands a request to the active node over the cluster port and relays its answer
//! unchanged (OpenBao's request forwarding, over HTTPS with the cluster's own key rather than
//! gRPC). Writes go straight there; a read that turns out to write (a use count, a lease) is
//! replayed there.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::AppState;

/// Headers that describe one hop, not the request.
const HOP_BY_HOP: &[&str] = &[
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    crate::cluster::FORWARDED_FOR,
];

fn no_active() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no active Vault instance found",
    )
}

pub async fn to_active(
    state: &AppState,
    client: Option<std::net::IpAddr>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let leader = state
        .core
        .ha_state()
        .and_then(|s| s.leader)
        .ok_or_else(no_active)?;
    let http = state
        .raft
        .as_ref()
        .and_then(|r| r.peer_client())
        .ok_or_else(no_active)?;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut req = http.request(
        method.clone(),
        format!("https://{}{path}", leader.cluster_addr),
    );
    for (name, value) in headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            req = req.header(name, value);
        }
    }
    if let Some(ip) = client {
        req = req.header(crate::cluster::FORWARDED_FOR, ip.to_string());
    }
    let resp = req.body(body).send().await.map_err(|e| {
        tracing::warn!(leader = %leader.node_id, error = %e, "forwarding to the active node failed");
        no_active()
    })?;
    let status = resp.status();
    let mut out = Response::builder().status(status);
    for (name, value) in resp.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            out = out.header(name, value);
        }
    }
    let bytes = resp.bytes().await.map_err(|_| no_active())?;
    Ok(out
        .body(Body::from(bytes))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response()))
}
