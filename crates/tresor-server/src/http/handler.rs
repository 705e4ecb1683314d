//! From an HTTP request to a core request and back.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Serialize;
use serde_json::Value;
use tresor_core::CoreRequest;
use tresor_sdk::{Map, Operation};

use super::error::ApiError;
use super::{sys, AppState, Connection, MAX_REQUEST_SIZE};

/// Vault's response envelope, serialized straight from the response it wraps.
#[derive(Serialize)]
struct Envelope<'a> {
    request_id: &'a str,
    lease_id: &'a str,
    renewable: bool,
    lease_duration: u64,
    data: &'a Option<Map>,
    wrap_info: &'a Option<Map>,
    warnings: Option<&'a [String]>,
    auth: &'a Option<Map>,
}

impl<'a> Envelope<'a> {
    fn new(request_id: &'a str, resp: &'a tresor_sdk::Response) -> Self {
        Envelope {
            request_id,
            lease_id: resp.lease.as_ref().map(|l| l.id.as_str()).unwrap_or(""),
            renewable: resp.lease.as_ref().is_some_and(|l| l.renewable),
            lease_duration: resp.lease.as_ref().map(|l| l.duration).unwrap_or(0),
            data: &resp.data,
            wrap_info: &resp.wrap_info,
            warnings: (!resp.warnings.is_empty()).then_some(&resp.warnings[..]),
            auth: &resp.auth,
        }
    }
}

/// Vault's response envelope, as a JSON value.
pub fn envelope(request_id: &str, resp: tresor_sdk::Response) -> Value {
    serde_json::to_value(Envelope::new(request_id, &resp)).unwrap_or(Value::Null)
}

/// A JSON answer from bytes already serialized.
fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

pub async fn not_found() -> ApiError {
    ApiError::bare(StatusCode::NOT_FOUND)
}

/// The client token: `X-Vault-Token`, else `Authorization: Bearer`.
fn token(headers: &HeaderMap) -> Option<String> {
    if let Some(t) = headers.get("x-vault-token").and_then(|v| v.to_str().ok()) {
        return Some(t.trim().to_owned());
    }
    let auth = headers.get("authorization")?.to_str().ok()?;
    let (scheme, rest) = auth.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim().to_owned())
}

/// `X-Vault-Wrap-TTL`: seconds or a Go duration.
fn wrap_ttl(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(v) = headers.get("x-vault-wrap-ttl") else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("");
    match tresor_sdk::ttl::parse(text) {
        Ok(0) => Ok(None),
        Ok(n) => Ok(Some(n)),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("error parsing X-Vault-Wrap-TTL header: {e}"),
        )),
    }
}

fn query_map(uri: &Uri) -> Map {
    let mut m = Map::new();
    if let Some(q) = uri.query() {
        for (k, v) in form_pairs(q) {
            m.insert(k, Value::String(v));
        }
    }
    m
}

/// `application/x-www-form-urlencoded` pairs, percent-decoded.
fn form_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn truthy(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::String(s)) if matches!(s.as_str(), "true" | "1" | "t" | "T" | "TRUE" | "True"))
}

/// Reads a JSON object body, within the listener's read timeout; empty means `{}`.
pub async fn json_body(body: Body, timeout: Option<std::time::Duration>) -> Result<Map, ApiError> {
    let bytes = body_bytes(body, timeout).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(ApiError::bad_request(
            "failed to decode JSON input: request body must be a JSON object",
        )),
        Err(e) => Err(ApiError::bad_request(format!(
            "failed to decode JSON input: {e}"
        ))),
    }
}

/// `sys/storage/raft/snapshot[-force]` takes the snapshot itself as the request body.
fn is_snapshot_upload(path: &str) -> bool {
    matches!(
        path,
        "sys/storage/raft/snapshot" | "sys/storage/raft/snapshot-force"
    )
}

fn path_injects_data(path: &str) -> bool {
    path.starts_with("sys/")
        && !path.starts_with("sys/internal/")
        && !path.starts_with("sys/tools/")
}

#[allow(clippy::too_many_arguments)]
pub async fn v1(
    State(state): State<Arc<AppState>>,
    conn: Option<Extension<Connection>>,
    forwarded: Option<Extension<super::Forwarded>>,
    Path(path): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let hop = Hop {
        conn: conn.map(|c| c.0),
        forwarded: forwarded.is_some(),
    };
    match handle(state, hop, path, method, uri, headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// How a request reached this node.
#[derive(Clone, Copy)]
struct Hop {
    conn: Option<Connection>,
    /// Forwarded by a standby: answered here, never forwarded again.
    forwarded: bool,
}

impl Hop {
    fn client(&self) -> Option<std::net::IpAddr> {
        self.conn.map(|c| c.peer.ip())
    }

    fn timeout(&self) -> Option<std::time::Duration> {
        self.conn.map(|c| c.read_timeout)
    }
}

/// Whether a standby hands this request to the active node instead of answering it: every
/// write, and the join handshake (its challenges live in the active node's memory).
fn for_the_active_node(method: &Method, path: &str) -> bool {
    !matches!(method.as_str(), "GET" | "HEAD" | "LIST")
        && !path
            .strip_prefix("sys/")
            .is_some_and(|p| sys::LOCAL_ONLY.contains(&p))
}

/// Reads a whole body, within the listener's read timeout.
async fn body_bytes(
    body: Body,
    timeout: Option<std::time::Duration>,
) -> Result<axum::body::Bytes, ApiError> {
    let read = axum::body::to_bytes(body, MAX_REQUEST_SIZE);
    match tokio::time::timeout(timeout.unwrap_or(std::time::Duration::MAX), read).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "http: request body too large",
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "http: request body not received in time",
        )),
    }
}

async fn handle(
    state: Arc<AppState>,
    hop: Hop,
    path: String,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if !hop.forwarded && state.core.is_standby() && for_the_active_node(&method, &path) {
        let bytes = body_bytes(body, hop.timeout()).await?;
        return super::forward::to_active(&state, hop.client(), &method, &uri, &headers, bytes)
            .await;
    }
    if let Some(sys_path) = path.strip_prefix("sys/") {
        if sys::UNAUTHENTICATED.contains(&sys_path) {
            return sys::unauthenticated(
                &state,
                sys_path,
                &method,
                &uri,
                body,
                hop.timeout(),
                hop.client(),
            )
            .await;
        }
    }
    match dispatch(&state, hop.conn, path, &method, &uri, &headers, body).await {
        // A read that had to write (a token's last use, a lease): the active node's to answer.
        Err(Refused::ReadOnly) if !hop.forwarded && state.core.is_standby() => {
            super::forward::to_active(
                &state,
                hop.client(),
                &method,
                &uri,
                &headers,
                Default::default(),
            )
            .await
        }
        Err(Refused::ReadOnly) => Err(tresor_core::CoreError::ReadOnly.into()),
        Err(Refused::Api(e)) => Err(e),
        Ok(r) => Ok(r),
    }
}

/// Why `dispatch` did not answer: an error for the client, or a write refused on a standby.
enum Refused {
    Api(ApiError),
    ReadOnly,
}

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Self {
        Refused::Api(e)
    }
}

impl From<tresor_core::CoreError> for Refused {
    fn from(e: tresor_core::CoreError) -> Self {
        if e.is_read_only() {
            Refused::ReadOnly
        } else {
            Refused::Api(e.into())
        }
    }
}

async fn dispatch(
    state: &AppState,
    conn: Option<Connection>,
    path: String,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refused> {
    let query = query_map(uri);
    if method == Method::GET && truthy(query.get("help")) {
        let help = state
            .core
            .help(token(headers).as_deref(), &path, conn.map(|c| c.peer.ip()))
            .await?;
        return Ok(
            axum::Json(serde_json::json!({ "help": help, "see_also": null })).into_response(),
        );
    }
    let (operation, data) = match method.as_str() {
        "GET" => {
            let mut data = query;
            if truthy(data.get("list")) {
                data.remove("list");
                (Operation::List, data)
            } else {
                (Operation::Read, data)
            }
        }
        "LIST" => (Operation::List, query),
        "POST" | "PUT" if is_snapshot_upload(&path) => {
            // The body is the snapshot's bytes, not JSON.
            let bytes = body_bytes(body, conn.map(|c| c.read_timeout)).await?;
            let mut data = Map::new();
            data.insert("snapshot".into(), Value::String(B64.encode(&bytes)));
            (Operation::Update, data)
        }
        "POST" | "PUT" => (
            Operation::Update,
            json_body(body, conn.map(|c| c.read_timeout)).await?,
        ),
        "PATCH" => {
            // Vault accepts only JSON merge patches, so a client cannot mistake the semantics.
            let header = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let ctype = media_type(header)
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_owned()))?;
            if ctype != "application/merge-patch+json" {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!("PATCH requires Content-Type of application/merge-patch+json, provided {ctype}"),
                )
                .into());
            }
            (
                Operation::Patch,
                json_body(body, conn.map(|c| c.read_timeout)).await?,
            )
        }
        "DELETE" => (Operation::Delete, query),
        _ => return Err(ApiError::bare(StatusCode::METHOD_NOT_ALLOWED).into()),
    };
    // As in Vault, a list names a directory: `LIST secret/metadata/app` is checked by the ACL
    // (and answered) as `secret/metadata/app/`, so a `secret/metadata/app/*` rule allows it.
    let mut path = path;
    if operation == Operation::List && !path.ends_with('/') {
        path.push('/');
    }
    let request_id = tresor_core::crypto::uuid_v4();
    let req = CoreRequest {
        id: request_id.clone(),
        operation,
        path,
        data,
        token: token(headers),
        client_addr: conn.map(|c| c.peer.ip()),
        wrap_ttl: wrap_ttl(headers)?,
    };
    // Vault copies the data of `sys/` answers to the top level too, for old clients.
    let inject = path_injects_data(&req.path);
    // Boxed: the core's future is large, and unboxed it would be copied at every layer the
    // handler's future passes through (axum, tower, hyper) — a few percent of a KV read.
    match Box::pin(state.core.handle(req)).await? {
        Some(resp) if resp.binary.is_some() => Ok((
            StatusCode::OK,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_static("attachment; filename=\"raft.snap\""),
                ),
            ],
            resp.binary.unwrap_or_default(),
        )
            .into_response()),
        Some(resp) if resp.raw.is_some() => {
            let body = serde_json::to_vec(&resp.raw)
                .map_err(|e| ApiError::from(tresor_core::CoreError::internal(e)))?;
            Ok(json_response(StatusCode::OK, body))
        }
        Some(resp) => {
            let top = if inject { resp.data.clone() } else { None };
            let status = resp
                .status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::OK);
            let Some(mut merged) = top else {
                let body = serde_json::to_vec(&Envelope::new(&request_id, &resp))
                    .map_err(|e| ApiError::from(tresor_core::CoreError::internal(e)))?;
                return Ok(json_response(status, body));
            };
            if let Value::Object(mut env) = envelope(&request_id, resp) {
                merged.append(&mut env);
            }
            Ok((status, axum::Json(merged)).into_response())
        }
        None if matches!(operation, Operation::Read | Operation::List) => {
            Err(ApiError::bare(StatusCode::NOT_FOUND).into())
        }
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// The media type of a `Content-Type` header, lowercased, or the error Go's
/// `mime.ParseMediaType` gives (Vault answers it as a 400). Parameters must be `key=value`,
/// the value a token or a quoted string; quoted strings holding `;` are not split correctly,
/// which only makes such a header fail.
fn media_type(header: &str) -> Result<String, &'static str> {
    let mut parts = header.split(';');
    let base = parts.next().unwrap_or("").trim().to_lowercase();
    let is_token = |c: char| c > ' ' && c < '\u{7f}' && !"()<>@,;:\\\"/[]?=".contains(c);
    let token_end = |s: &str| s.find(|c| !is_token(c)).unwrap_or(s.len());
    let first = token_end(&base);
    if first == 0 {
        return Err("mime: no media type");
    }
    let rest = &base[first..];
    if !rest.is_empty() {
        let Some(rest) = rest.strip_prefix('/') else {
            return Err("mime: expected slash after first token");
        };
        let second = token_end(rest);
        if second == 0 {
            return Err("mime: expected token after slash");
        }
        if second != rest.len() {
            return Err("mime: unexpected content after media subtype");
        }
    }
    let params: Vec<&str> = parts.map(str::trim).collect();
    for (i, param) in params.iter().enumerate() {
        // One trailing `;` is allowed, as in Go.
        if param.is_empty() && i + 1 == params.len() {
            break;
        }
        let valid = param.split_once('=').is_some_and(|(k, v)| {
            let (k, v) = (k.trim_end(), v.trim_start());
            !k.is_empty()
                && token_end(k) == k.len()
                && ((!v.is_empty() && token_end(v) == v.len())
                    || (v.len() >= 2 && v.starts_with('"') && v.ends_with('"')))
        });
        if !valid {
            return Err("mime: invalid media parameter");
        }
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_as_go_parses_them() {
        assert_eq!(
            media_type("Application/Merge-Patch+JSON; charset=utf-8"),
            Ok("application/merge-patch+json".to_owned())
        );
        assert_eq!(media_type("json"), Ok("json".to_owned()));
        assert_eq!(
            media_type("application/merge-patch+json; a=\"b c\";"),
            Ok("application/merge-patch+json".to_owned())
        );
        for bad in [
            "application/merge-patch+json; foo",
            "a/b; =x",
            "a/b;; c=d",
            "a/b; c=",
        ] {
            assert_eq!(
                media_type(bad),
                Err("mime: invalid media parameter"),
                "{bad}"
            );
        }
        assert_eq!(media_type(""), Err("mime: no media type"));
        assert_eq!(media_type("/json"), Err("mime: no media type"));
        assert_eq!(
            media_type("application json"),
            Err("mime: expected slash after first token")
        );
        assert_eq!(
            media_type("application/"),
            Err("mime: expected token after slash")
        );
        assert_eq!(
            media_type("a/b/c"),
            Err("mime: unexpected content after media subtype")
        );
    }

    #[test]
    fn query_strings_decode() {
        assert_eq!(
            form_pairs("a=1&b=x%2Fy&c=a+b&d"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x/y".into()),
                ("c".into(), "a b".into()),
                ("d".into(), "".into())
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%é"), "%zz%é");
    }

    #[test]
    fn bearer_tokens_are_read() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(token(&h).as_deref(), Some("abc"));
        h.insert("x-vault-token", "xyz".parse().unwrap());
        assert_eq!(token(&h).as_deref(), Some("xyz"));
    }
}
