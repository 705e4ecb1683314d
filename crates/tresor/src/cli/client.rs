//! The HTTP side of the CLI: where the server is, which token to send, and Vault's wording for
//! everything that can go wrong on the way.

use std::fmt;
use std::time::Duration;

use reqwest::{Certificate, Identity, Method};
use serde_json::Value;

use super::Failure;
use crate::flags::{Kind, Parsed};

/// The flags every command that talks to a server takes, as Vault's `FlagSetHTTP` has them.
pub const HTTP_FLAGS: &[(&str, Kind)] = &[
    ("address", Kind::Value),
    ("agent-address", Kind::Value),
    ("ca-cert", Kind::Value),
    ("ca-path", Kind::Value),
    ("client-cert", Kind::Value),
    ("client-key", Kind::Value),
    ("namespace", Kind::Value),
    ("ns", Kind::Value),
    ("tls-server-name", Kind::Value),
    ("tls-skip-verify", Kind::Bool),
    ("disable-redirects", Kind::Bool),
    ("header", Kind::Value),
    ("wrap-ttl", Kind::Value),
    ("policy-override", Kind::Bool),
    ("mfa", Kind::Value),
    ("non-interactive", Kind::Bool),
    ("output-curl-string", Kind::Bool),
    ("output-policy", Kind::Bool),
    ("unlock-key", Kind::Value),
];

pub const DEFAULT_ADDRESS: &str = "https://127.0.0.1:8200";

/// A server's refusal, or a failure to reach it, worded as Vault's API client words it.
#[derive(Debug)]
pub enum ApiError {
    /// The server answered with an error status.
    Response {
        method: String,
        url: String,
        code: u16,
        errors: Vec<String>,
        raw: String,
    },
    /// No answer: connection refused, TLS failure, timeout.
    Transport {
        method: String,
        url: String,
        cause: String,
    },
}

impl ApiError {
    pub fn code(&self) -> Option<u16> {
        match self {
            ApiError::Response { code, .. } => Some(*code),
            ApiError::Transport { .. } => None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Response {
                method,
                url,
                code,
                errors,
                raw,
            } => {
                write!(
                    f,
                    "Error making API request.\n\nURL: {method} {url}\nCode: {code}."
                )?;
                if errors.is_empty()
                    && !raw.trim().is_empty()
                    && serde_json::from_str::<Value>(raw).is_err()
                {
                    return write!(f, " Raw Message:\n\n{raw}");
                }
                // Vault's client writes the errors one after another, without separators.
                write!(f, " Errors:\n\n")?;
                for e in errors {
                    write!(f, "* {e}")?;
                }
                Ok(())
            }
            ApiError::Transport { method, url, cause } => {
                let verb = method[..1].to_string() + &method[1..].to_lowercase();
                write!(f, "{verb} \"{url}\": {cause}")
            }
        }
    }
}

/// A configured connection to one server.
pub struct Client {
    http: reqwest::Client,
    address: String,
    token: Option<String>,
    namespace: Option<String>,
    wrap_ttl: Option<String>,
    headers: Vec<(String, String)>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn env_bool(name: &str) -> bool {
    env(name).is_some_and(|v| matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"))
}

fn read_pem_certs(path: &std::path::Path) -> Result<Vec<Certificate>, Failure> {
    let pem = std::fs::read(path).map_err(|e| {
        Failure::Remote(format!(
            "Error loading CA certificate {}: {e}",
            path.display()
        ))
    })?;
    Certificate::from_pem_bundle(&pem).map_err(|e| {
        Failure::Remote(format!(
            "Error loading CA certificate {}: {e}",
            path.display()
        ))
    })
}

impl Client {
    /// Builds a client from the command's flags and the environment (flags win).
    pub fn from_flags(flags: &Parsed) -> Result<Client, Failure> {
        let address = flags
            .value("address")
            .map(str::to_owned)
            .or_else(|| env("VAULT_ADDR"))
            .unwrap_or_else(|| DEFAULT_ADDRESS.to_owned());
        let address = address.trim_end_matches('/').to_owned();
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                // As Vault's client: one redirect, and never from https down to http.
                let downgrade = attempt
                    .previous()
                    .first()
                    .is_some_and(|u| u.scheme() == "https")
                    && attempt.url().scheme() == "http";
                if downgrade {
                    attempt.error("redirect would cause protocol downgrade")
                } else if attempt.previous().len() > 1 {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(
                env("VAULT_CLIENT_TIMEOUT")
                    .and_then(|t| tresor_sdk::ttl::parse(&t).ok())
                    .unwrap_or(60),
            ));
        let ca_cert = flags
            .value("ca-cert")
            .map(str::to_owned)
            .or_else(|| env("VAULT_CACERT"));
        let ca_path = flags
            .value("ca-path")
            .map(str::to_owned)
            .or_else(|| env("VAULT_CAPATH"));
        let mut roots = Vec::new();
        if let Some(file) = ca_cert {
            roots.extend(read_pem_certs(file.as_ref())?);
        } else if let Some(dir) = ca_path {
            let entries = std::fs::read_dir(&dir)
                .map_err(|e| Failure::Remote(format!("Error loading CA path {dir}: {e}")))?;
            for entry in entries.flatten() {
                if entry.path().is_file() {
                    roots.extend(read_pem_certs(&entry.path())?);
                }
            }
        }
        if !roots.is_empty() || address.starts_with("http://") {
            // A plain-http address needs no trust store: loading the system's (a few hundred
            // certificates) would be most of a short command's run time.
            builder = builder.tls_certs_only(roots);
        }
        if flags.bool("tls-skip-verify") || env_bool("VAULT_SKIP_VERIFY") {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let cert = flags
            .value("client-cert")
            .map(str::to_owned)
            .or_else(|| env("VAULT_CLIENT_CERT"));
        let key = flags
            .value("client-key")
            .map(str::to_owned)
            .or_else(|| env("VAULT_CLIENT_KEY"));
        if let (Some(cert), Some(key)) = (cert, key) {
            let mut pem = std::fs::read(&cert).map_err(|e| {
                Failure::Remote(format!("Error loading client certificate {cert}: {e}"))
            })?;
            pem.extend(
                std::fs::read(&key)
                    .map_err(|e| Failure::Remote(format!("Error loading client key {key}: {e}")))?,
            );
            let identity = Identity::from_pem(&pem)
                .map_err(|e| Failure::Remote(format!("Error loading client certificate: {e}")))?;
            builder = builder.identity(identity);
        }
        let http = builder
            .build()
            .map_err(|e| Failure::Remote(format!("Error initializing client: {e}")))?;
        let mut headers = Vec::new();
        for h in flags.values("header") {
            let (k, v) = h.split_once('=').ok_or_else(|| {
                Failure::Remote(format!(
                    "invalid header format: \"{h}\", expected key=value"
                ))
            })?;
            headers.push((k.to_owned(), v.to_owned()));
        }
        Ok(Client {
            http,
            address,
            token: env("VAULT_TOKEN").or_else(tresor_server::token_helper::read),
            namespace: flags
                .value("namespace")
                .or(flags.value("ns"))
                .map(str::to_owned)
                .or_else(|| env("VAULT_NAMESPACE")),
            wrap_ttl: flags
                .value("wrap-ttl")
                .map(str::to_owned)
                .or_else(|| env("VAULT_WRAP_TTL")),
            headers,
        })
    }

    pub fn set_token(&mut self, token: Option<String>) {
        self.token = token;
    }

    fn url(&self, path: &str, query: &[(String, String)]) -> String {
        let mut url = format!(
            "{}/v1/{}",
            self.address,
            encode_path(path.trim_start_matches('/'))
        );
        if !query.is_empty() {
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            url.push('?');
            url.push_str(&q.join("&"));
        }
        url
    }

    /// Sends one request. `Ok(None)` is an empty answer (204, or a 404 without errors, which is
    /// how Vault says "nothing here").
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Option<Value>, ApiError> {
        self.send(method, path, query, body, true, true).await
    }

    /// A read that is never wrapped, whatever `-wrap-ttl` says (the KV preflight, as in Vault).
    pub async fn get_unwrapped(&self, path: &str) -> Result<Option<Value>, ApiError> {
        self.send("GET", path, &[], None, true, false).await
    }

    /// Like `request`, but a 404 is an error even for a read (as Vault's raw requests treat it).
    pub async fn request_strict(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Option<Value>, ApiError> {
        self.send(method, path, query, None, false, true).await
    }

    /// A request with the client's token, namespace, wrapping and headers set.
    fn prepare(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        wrap: bool,
    ) -> (reqwest::RequestBuilder, String) {
        let url = self.url(path, query);
        let m = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
        let mut req = self.http.request(m, &url);
        if let Some(t) = &self.token {
            req = req.header("X-Vault-Token", t);
        }
        if let Some(ns) = &self.namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        // `sys/wrapping/wrap` answers only wrapped: without a TTL of the user's, five minutes,
        // as Vault's API client asks.
        let wraps_by_default =
            matches!(method, "PUT" | "POST") && path.trim_matches('/') == "sys/wrapping/wrap";
        let wrap_ttl = match &self.wrap_ttl {
            Some(w) => Some(w.as_str()),
            None if wraps_by_default => Some("5m"),
            None => None,
        };
        if let Some(w) = wrap_ttl.filter(|_| wrap) {
            req = req.header("X-Vault-Wrap-TTL", w);
        }
        req = req.header("X-Vault-Request", "true");
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        (req, url)
    }

    /// A request whose body and answer are bytes, not JSON (raft snapshots).
    pub async fn bytes(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, ApiError> {
        let (mut req, url) = self.prepare(method, path, &[], false);
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/octet-stream")
                .body(b);
        }
        let resp = send_request(req, method, &url).await?;
        let code = resp.status().as_u16();
        let bytes = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        if (200..300).contains(&code) {
            return Ok(bytes);
        }
        let raw = String::from_utf8_lossy(&bytes).into_owned();
        let errors = errors_of(serde_json::from_str::<Value>(&raw).ok().as_ref());
        Err(ApiError::Response {
            method: method.to_owned(),
            url,
            code,
            errors,
            raw,
        })
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
        lenient_404: bool,
        wrap: bool,
    ) -> Result<Option<Value>, ApiError> {
        let (mut req, url) = self.prepare(method, path, query, wrap);
        if let Some(b) = body {
            let ctype = if method == "PATCH" {
                "application/merge-patch+json"
            } else {
                "application/json"
            };
            req = req.header("Content-Type", ctype).body(b.to_string());
        }
        let resp = send_request(req, method, &url).await?;
        let code = resp.status().as_u16();
        let raw = resp.text().await.unwrap_or_default();
        let parsed: Option<Value> = serde_json::from_str(&raw).ok();
        let only_errors = |v: &Value| {
            v.as_object()
                .is_some_and(|m| m.len() == 1 && m.contains_key("errors"))
        };
        if (200..400).contains(&code) {
            return Ok(parsed.filter(|v| !v.is_null() && !only_errors(v)));
        }
        // A read of nothing is not an error: Vault's client returns no secret for a 404, unless
        // the body carries data or warnings (a deleted KV v2 version does).
        if code == 404 && method == "GET" && lenient_404 {
            let has = |k: &str| {
                parsed
                    .as_ref()
                    .and_then(|v| v.get(k))
                    .is_some_and(|x| !x.is_null())
            };
            return Ok((has("data") || has("warnings")).then_some(parsed).flatten());
        }
        let errors = errors_of(parsed.as_ref());
        Err(ApiError::Response {
            method: method.to_owned(),
            url,
            code,
            errors,
            raw,
        })
    }

    pub async fn get(&self, path: &str) -> Result<Option<Value>, ApiError> {
        self.request("GET", path, &[], None).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Option<Value>, ApiError> {
        self.request("PUT", path, &[], Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Option<Value>, ApiError> {
        self.request("DELETE", path, &[], None).await
    }

    pub async fn list(&self, path: &str) -> Result<Option<Value>, ApiError> {
        self.request("GET", path, &[("list".into(), "true".into())], None)
            .await
    }
}

/// Escapes a path as Go's `URL.EscapedPath` does, so `#`, `?` and `%` in a secret's name stay
/// part of the path instead of starting a fragment or a query.
fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/$&+,:;=@!'()*".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Go's net/http words a refused connection as `dial tcp ADDR: connect: connection refused`;
/// scripts grep for it, so keep the words.
fn transport_cause(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    let mut chain = Vec::new();
    while let Some(s) = source {
        chain.push(s.to_string());
        source = s.source();
    }
    let text = chain.join(": ");
    if e.is_connect() && text.contains("Connection refused") {
        let host = e
            .url()
            .map(|u| {
                format!(
                    "{}:{}",
                    u.host_str().unwrap_or(""),
                    u.port_or_known_default().unwrap_or(0)
                )
            })
            .unwrap_or_default();
        return format!("dial tcp {host}: connect: connection refused");
    }
    if e.is_timeout() {
        return "context deadline exceeded (Client.Timeout exceeded while awaiting headers)".into();
    }
    chain.last().cloned().unwrap_or(text)
}

/// The `errors` of a Vault error body.
fn errors_of(body: Option<&Value>) -> Vec<String> {
    body.and_then(|v| v.get("errors"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| {
                    e.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| e.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Sends a prepared request; a failure to reach the server becomes Vault's transport error.
async fn send_request(
    req: reqwest::RequestBuilder,
    method: &str,
    url: &str,
) -> Result<reqwest::Response, ApiError> {
    req.send().await.map_err(|e| ApiError::Transport {
        method: method.to_owned(),
        url: url.to_owned(),
        cause: transport_cause(&e),
    })
}
