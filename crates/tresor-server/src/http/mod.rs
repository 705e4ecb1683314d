//! Vault's HTTP API over the core.

pub mod error;
mod forward;
mod handler;
mod sys;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::any;
use tresor_core::Core;

/// The largest request body accepted (Vault's default `max_request_size`, 32 MiB).
pub const MAX_REQUEST_SIZE: usize = 32 * 1024 * 1024;

/// Shared by every request handler.
pub struct AppState {
    pub core: Arc<Core>,
    /// This node's integrated storage, when it is in a cluster (join, forwarding).
    pub raft: Option<tresor_raft::RaftStorage>,
}

/// Set on a request a standby forwarded here over the cluster port.
#[derive(Clone, Copy, Debug)]
pub struct Forwarded;

/// The connection a request came in on, set by the listener.
#[derive(Clone, Copy, Debug)]
pub struct Connection {
    pub peer: SocketAddr,
    /// `http_read_timeout`: a request's body must arrive within it.
    pub read_timeout: std::time::Duration,
}

pub fn router(core: Arc<Core>, raft: Option<tresor_raft::RaftStorage>) -> axum::Router {
    let state = Arc::new(AppState { core, raft });
    axum::Router::new()
        .route("/v1/{*path}", any(handler::v1))
        .fallback(handler::not_found)
        .with_state(state)
        .layer(axum::middleware::map_response(no_store))
}

/// Answers carry secrets and tokens: no cache, proxy or browser may keep them (as Vault says on
/// every response).
async fn no_store(mut resp: axum::response::Response) -> axum::response::Response {
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    resp
}
