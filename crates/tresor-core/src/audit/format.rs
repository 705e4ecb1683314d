//! Vault's audit entry: `{"time", "type", "auth", "request", "response", "error"}`, with every
//! string, number and boolean in request and response data, and the tokens and accessors
//! (`wrapped_accessor` too), replaced by `hmac-sha256:<hex>` under
//! the device's salt (unless the device logs raw). `jsonx` is the same document as IBM JSONx XML.

use serde::Serialize;
use serde_json::{Map, Value};
use tresor_sdk::Operation;

use crate::crypto;
use crate::tokens::TokenEntry;

/// The mount a request reached, as the audit log names it.
#[derive(Debug, Clone, Default)]
pub struct MountInfo {
    pub point: String,
    pub kind: String,
    pub accessor: String,
}

/// Which of the two entries of a request this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Request,
    Response,
}

/// Everything the audit log says about one request or response.
pub struct Record<'a> {
    pub stage: Stage,
    pub request_id: &'a str,
    pub operation: Operation,
    pub path: &'a str,
    pub data: &'a Map<String, Value>,
    pub remote_addr: Option<std::net::IpAddr>,
    pub token: &'a str,
    pub auth: Option<&'a TokenEntry>,
    pub mount: Option<&'a MountInfo>,
    /// The answer, for response entries.
    pub response: Option<ResponseView<'a>>,
    pub error: Option<&'a str>,
}

/// What a response entry shows of the answer: data, auth block, wrap info, warnings. Borrowed
/// from the answer itself, which is not copied for the log.
#[derive(Clone, Copy, Default)]
pub struct ResponseView<'a> {
    pub data: Option<&'a Map<String, Value>>,
    pub auth: Option<&'a Map<String, Value>>,
    pub wrap_info: Option<&'a Map<String, Value>>,
    pub warnings: &'a [String],
}

impl<'a> ResponseView<'a> {
    pub fn of(r: &'a tresor_sdk::Response) -> Self {
        ResponseView {
            data: r.data.as_ref(),
            auth: r.auth.as_ref(),
            wrap_info: r.wrap_info.as_ref(),
            warnings: &r.warnings,
        }
    }
}

/// How one device writes entries.
pub struct Hasher<'a> {
    pub salt: &'a crypto::HmacKey,
    pub log_raw: bool,
    pub hmac_accessor: bool,
}

impl Hasher<'_> {
    pub fn hash(&self, s: &str) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mac = self.salt.sign(s.as_bytes());
        let mut out = String::with_capacity(12 + 64);
        out.push_str("hmac-sha256:");
        for b in mac {
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
        out
    }

    fn secret_str(&self, s: &str) -> String {
        if self.log_raw || s.is_empty() {
            s.to_owned()
        } else {
            self.hash(s)
        }
    }

    fn accessor_str(&self, s: &str) -> String {
        if self.hmac_accessor {
            self.secret_str(s)
        } else {
            s.to_owned()
        }
    }
}

fn rfc3339(ms: i64) -> Option<String> {
    crate::tokens::rfc3339_ms(ms)
}

/// A JSON value written with every string hashed (unless the device logs raw), without
/// building a copy of it first.
struct Hashed<'a> {
    h: &'a Hasher<'a>,
    v: &'a Value,
}

impl Serialize for Hashed<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self.v {
            Value::String(text) if !self.h.log_raw => s.serialize_str(&self.h.hash(text)),
            // Vault reads JSON numbers as `json.Number`, a string, and hashes them; a boolean
            // is hashed too (as `true`/`false`), so that no value of a secret is left readable.
            Value::Number(n) if !self.h.log_raw => s.serialize_str(&self.h.hash(&n.to_string())),
            Value::Bool(b) if !self.h.log_raw => {
                s.serialize_str(&self.h.hash(if *b { "true" } else { "false" }))
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&Hashed { h: self.h, v })?;
                }
                seq.end()
            }
            Value::Object(m) => HashedMap { h: self.h, m }.serialize(s),
            other => other.serialize(s),
        }
    }
}

struct HashedMap<'a> {
    h: &'a Hasher<'a>,
    m: &'a Map<String, Value>,
}

impl Serialize for HashedMap<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.m.len()))?;
        for (k, v) in self.m {
            map.serialize_entry(k, &Hashed { h: self.h, v })?;
        }
        map.end()
    }
}

/// A token or accessor inside an auth block or wrap info, hashed where the device says so.
fn replace_secrets(
    h: &Hasher<'_>,
    m: &Map<String, Value>,
    token_key: &str,
    accessor_key: &str,
) -> Map<String, Value> {
    let mut out = m.clone();
    if let Some(t) = m.get(token_key).and_then(Value::as_str) {
        out.insert(token_key.into(), Value::String(h.secret_str(t)));
    }
    if let Some(a) = m.get(accessor_key).and_then(Value::as_str) {
        out.insert(accessor_key.into(), Value::String(h.accessor_str(a)));
    }
    out
}

#[derive(Serialize)]
struct AuthOut<'a> {
    client_token: &'a str,
    accessor: &'a str,
    display_name: &'a str,
    policies: &'a [String],
    token_policies: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a std::collections::BTreeMap<String, String>>,
    token_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_ttl: Option<u64>,
    token_issue_time: Option<String>,
}

#[derive(Serialize)]
struct MountOut<'a> {
    mount_point: &'a str,
    mount_type: &'a str,
    mount_accessor: &'a str,
    mount_running_version: &'static str,
    mount_class: &'static str,
}

fn mount_out(mi: &MountInfo) -> MountOut<'_> {
    MountOut {
        mount_point: &mi.point,
        mount_type: &mi.kind,
        mount_accessor: &mi.accessor,
        mount_running_version: concat!("v", env!("CARGO_PKG_VERSION"), "+builtin.tresor"),
        mount_class: if mi.point.starts_with("auth/") {
            "auth"
        } else {
            "secret"
        },
    }
}

#[derive(Serialize)]
struct Namespace {
    id: &'static str,
}

#[derive(Serialize)]
struct RequestOut<'a> {
    id: &'a str,
    operation: &'static str,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    mount: Option<MountOut<'a>>,
    #[serde(skip_serializing_if = "str::is_empty")]
    client_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_token_accessor: Option<&'a str>,
    namespace: Namespace,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<HashedMap<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_address: Option<String>,
}

#[derive(Serialize)]
struct ResponseOut<'a> {
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    mount: Option<MountOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<HashedMap<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wrap_info: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<&'a [String]>,
}

#[derive(Serialize)]
struct EntryOut<'a> {
    time: Option<String>,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<AuthOut<'a>>,
    request: RequestOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<ResponseOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// Appends the entry for a request or its response to `out`, as one line of JSON (without the
/// newline).
pub fn write_entry(out: &mut Vec<u8>, h: &Hasher<'_>, r: &Record<'_>, now_ms: i64) {
    with_entry(h, r, now_ms, |entry| {
        // Serializing borrowed strings and maps into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, entry);
    })
}

/// The same entry as a JSON value (for `jsonx`, and tests).
pub fn entry(h: &Hasher<'_>, r: &Record<'_>, now_ms: i64) -> Value {
    with_entry(h, r, now_ms, |entry| {
        serde_json::to_value(entry).unwrap_or(Value::Null)
    })
}

fn with_entry<T>(
    h: &Hasher<'_>,
    r: &Record<'_>,
    now_ms: i64,
    f: impl FnOnce(&EntryOut<'_>) -> T,
) -> T {
    // The token and its accessor appear twice; hash them once.
    let token = h.secret_str(r.token);
    let accessor = r.auth.map(|e| h.accessor_str(&e.accessor));
    let out = EntryOut {
        time: rfc3339(now_ms),
        kind: match r.stage {
            Stage::Request => "request",
            Stage::Response => "response",
        },
        auth: r.auth.zip(accessor.as_deref()).map(|(e, acc)| {
            let ttl = e.ttl_left(now_ms);
            AuthOut {
                client_token: &token,
                accessor: acc,
                display_name: &e.display_name,
                policies: &e.policies,
                token_policies: &e.policies,
                metadata: (!e.meta.is_empty()).then_some(&e.meta),
                token_type: &e.token_type,
                token_ttl: (ttl > 0).then_some(ttl),
                token_issue_time: rfc3339(e.creation_time.saturating_mul(1000)),
            }
        }),
        request: RequestOut {
            id: r.request_id,
            operation: r.operation.as_str(),
            mount: r.mount.map(mount_out),
            client_token: &token,
            client_token_accessor: accessor.as_deref(),
            namespace: Namespace { id: "root" },
            path: r.path,
            data: (!r.data.is_empty()).then_some(HashedMap { h, m: r.data }),
            remote_address: r.remote_addr.map(|ip| ip.to_string()),
        },
        response: r.response.map(|resp| ResponseOut {
            mount: r.mount.map(mount_out),
            auth: resp
                .auth
                .map(|a| replace_secrets(h, a, "client_token", "accessor")),
            data: resp.data.map(|m| HashedMap { h, m }),
            wrap_info: resp.wrap_info.map(|w| {
                let mut out = replace_secrets(h, w, "token", "accessor");
                if let Some(a) = w.get("wrapped_accessor").and_then(Value::as_str) {
                    out.insert("wrapped_accessor".into(), Value::String(h.accessor_str(a)));
                }
                out
            }),
            warnings: (!resp.warnings.is_empty()).then_some(resp.warnings),
        }),
        error: r.error,
    };
    f(&out)
}

/// IBM JSONx, the XML form of a JSON document that Vault's `format=jsonx` writes.
pub fn jsonx(v: &Value) -> String {
    fn esc(s: &str) -> String {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&apos;")
    }
    fn node(out: &mut String, name: Option<&str>, v: &Value, root: bool) {
        let attr = match name {
            Some(n) => format!(" name=\"{}\"", esc(n)),
            None => String::new(),
        };
        let ns = if root {
            " xmlns:json=\"http://www.ibm.com/xmlns/prod/2009/jsonx\""
        } else {
            ""
        };
        match v {
            Value::Null => out.push_str(&format!("<json:null{attr}{ns}/>")),
            Value::Bool(b) => out.push_str(&format!("<json:boolean{attr}{ns}>{b}</json:boolean>")),
            Value::Number(n) => out.push_str(&format!("<json:number{attr}{ns}>{n}</json:number>")),
            Value::String(s) => {
                out.push_str(&format!("<json:string{attr}{ns}>{}</json:string>", esc(s)))
            }
            Value::Array(a) => {
                out.push_str(&format!("<json:array{attr}{ns}>"));
                for x in a {
                    node(out, None, x, false);
                }
                out.push_str("</json:array>");
            }
            Value::Object(m) => {
                out.push_str(&format!("<json:object{attr}{ns}>"));
                for (k, x) in m {
                    node(out, Some(k), x, false);
                }
                out.push_str("</json:object>");
            }
        }
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    node(&mut out, None, v, true);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_scalar_is_hashed() {
        let key = crypto::HmacKey::new(b"salt");
        let h = Hasher {
            salt: &key,
            log_raw: false,
            hmac_accessor: true,
        };
        let input = json!({"a": "x", "n": 5, "l": ["y", true], "m": {"z": "w"}});
        let v = serde_json::to_value(Hashed { h: &h, v: &input }).unwrap();
        let hx = h.hash("x");
        assert!(hx.starts_with("hmac-sha256:") && hx.len() == 12 + 64);
        assert_eq!(v["a"], hx);
        assert_eq!(v["n"], h.hash("5"));
        assert_eq!(v["l"][0], h.hash("y"));
        assert_eq!(v["l"][1], h.hash("true"));
        assert_eq!(v["m"]["z"], h.hash("w"));
        let raw = Hasher {
            salt: &key,
            log_raw: true,
            hmac_accessor: true,
        };
        let input = json!({"a": "x"});
        assert_eq!(
            serde_json::to_value(Hashed { h: &raw, v: &input }).unwrap()["a"],
            "x"
        );
    }

    #[test]
    fn jsonx_is_xml() {
        assert_eq!(
            jsonx(&json!({"a": "<b>", "n": [1, null]})),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><json:object xmlns:json=\"http://www.ibm.com/xmlns/prod/2009/jsonx\"><json:string name=\"a\">&lt;b&gt;</json:string><json:array name=\"n\"><json:number>1</json:number><json:null/></json:array></json:object>"
        );
    }
}
