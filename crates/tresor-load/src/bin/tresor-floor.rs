//! `tresor-floor ADDR`: the benchmark's reference point, a trivial axum server that answers any
//! request with a small JSON object. Driven by the same load generator on the same CPU as the
//! servers under test, it shows what the HTTP stack alone costs on this machine, so that
//! Tresor's rates can be read as a fraction of it.

use axum::Json;
use serde_json::json;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8300".into());
    let app = axum::Router::new()
        .fallback(|| async { Json(json!({"initialized": true, "sealed": false})) });
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
