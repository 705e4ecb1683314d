//! Vault's audit entry: `{"time", "type", "auth", "request", "response", "error"}`, with every
//! string in request and response data, and the tokens, replaced by `hmac-sha256:<hex>` under
//! the device's salt (unless the device logs raw). `jsonx` is the same document as IBM JSONx XML.

use serde_json::{json, Map, Value};
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
    /// The answer, for response entries: data, auth block, wrap info, warnings.
    pub response: Option<&'a Value>,
    pub error: Option<&'a str>,
}

/// How one device writes entries.
pub struct Hasher<'a> {
    pub salt: &'a [u8],
    pub log_raw: bool,
    pub hmac_accessor: bool,
}

impl Hasher<'_> {
    pub fn hash(&self, s: &str) -> String {
        format!(
            "hmac-sha256:{}",
            hex::encode(crypto::hmac_sha256(self.salt, s.as_bytes()))
        )
    }

    fn secret(&self, s: &str) -> Value {
        if self.log_raw || s.is_empty() {
            Value::String(s.to_owned())
        } else {
            Value::String(self.hash(s))
        }
    }

    fn accessor(&self, s: &str) -> Value {
        if self.hmac_accessor {
            self.secret(s)
        } else {
            Value::String(s.to_owned())
        }
    }

    /// Every string in `v`, however deep, hashed; numbers, booleans and keys kept.
    pub fn structure(&self, v: &Value) -> Value {
        if self.log_raw {
            return v.clone();
        }
        match v {
            Value::String(s) => Value::String(self.hash(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.structure(x)).collect()),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| (k.clone(), self.structure(x)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

fn rfc3339(unix_secs: i64) -> Value {
    crate::tokens::rfc3339_ms(unix_secs.saturating_mul(1000))
        .map(Value::String)
        .unwrap_or(Value::Null)
}

fn auth_block(h: &Hasher<'_>, token: &str, e: &TokenEntry, now_ms: i64) -> Value {
    let mut a = Map::new();
    a.insert("client_token".into(), h.secret(token));
    a.insert("accessor".into(), h.accessor(&e.accessor));
    a.insert("display_name".into(), e.display_name.clone().into());
    a.insert("policies".into(), json!(e.policies));
    a.insert("token_policies".into(), json!(e.policies));
    if !e.meta.is_empty() {
        a.insert("metadata".into(), json!(e.meta));
    }
    a.insert("token_type".into(), e.token_type.clone().into());
    let ttl = e.ttl_left(now_ms);
    if ttl > 0 {
        a.insert("token_ttl".into(), ttl.into());
    }
    a.insert("token_issue_time".into(), rfc3339(e.creation_time));
    Value::Object(a)
}

fn mount_fields(m: &mut Map<String, Value>, mount: Option<&MountInfo>) {
    if let Some(mi) = mount {
        m.insert("mount_point".into(), mi.point.clone().into());
        m.insert("mount_type".into(), mi.kind.clone().into());
        m.insert("mount_accessor".into(), mi.accessor.clone().into());
        m.insert(
            "mount_running_version".into(),
            format!("v{}+builtin.tresor", env!("CARGO_PKG_VERSION")).into(),
        );
        let class = if mi.point.starts_with("auth/") {
            "auth"
        } else {
            "secret"
        };
        m.insert("mount_class".into(), class.into());
    }
}

/// The entry for a request (`response == None`) or its response.
pub fn entry(h: &Hasher<'_>, r: &Record<'_>, now_ms: i64) -> Value {
    let kind = match r.stage {
        Stage::Request => "request",
        Stage::Response => "response",
    };
    let mut out = Map::new();
    out.insert(
        "time".into(),
        crate::tokens::rfc3339_ms(now_ms)
            .map(Value::String)
            .unwrap_or(Value::Null),
    );
    out.insert("type".into(), kind.into());
    if let Some(e) = r.auth {
        out.insert("auth".into(), auth_block(h, r.token, e, now_ms));
    }
    let mut req = Map::new();
    req.insert("id".into(), r.request_id.into());
    req.insert("operation".into(), r.operation.as_str().into());
    mount_fields(&mut req, r.mount);
    if !r.token.is_empty() {
        req.insert("client_token".into(), h.secret(r.token));
    }
    if let Some(e) = r.auth {
        req.insert("client_token_accessor".into(), h.accessor(&e.accessor));
    }
    req.insert("namespace".into(), json!({ "id": "root" }));
    req.insert("path".into(), r.path.into());
    if !r.data.is_empty() {
        req.insert("data".into(), h.structure(&Value::Object(r.data.clone())));
    }
    if let Some(ip) = r.remote_addr {
        req.insert("remote_address".into(), ip.to_string().into());
    }
    out.insert("request".into(), Value::Object(req));
    if let Some(resp) = r.response {
        let mut res = Map::new();
        mount_fields(&mut res, r.mount);
        if let Some(auth) = resp.get("auth").filter(|a| !a.is_null()) {
            let mut a = auth.as_object().cloned().unwrap_or_default();
            if let Some(t) = a.get("client_token").and_then(Value::as_str) {
                let hashed = h.secret(t);
                a.insert("client_token".into(), hashed);
            }
            if let Some(acc) = a.get("accessor").and_then(Value::as_str) {
                let hashed = h.accessor(acc);
                a.insert("accessor".into(), hashed);
            }
            res.insert("auth".into(), Value::Object(a));
        }
        if let Some(d) = resp.get("data").filter(|d| !d.is_null()) {
            res.insert("data".into(), h.structure(d));
        }
        if let Some(w) = resp.get("wrap_info").filter(|w| !w.is_null()) {
            let mut w = w.as_object().cloned().unwrap_or_default();
            if let Some(t) = w.get("token").and_then(Value::as_str) {
                let hashed = h.secret(t);
                w.insert("token".into(), hashed);
            }
            if let Some(a) = w.get("accessor").and_then(Value::as_str) {
                let hashed = h.accessor(a);
                w.insert("accessor".into(), hashed);
            }
            res.insert("wrap_info".into(), Value::Object(w));
        }
        if let Some(ws) = resp
            .get("warnings")
            .filter(|w| w.as_array().is_some_and(|a| !a.is_empty()))
        {
            res.insert("warnings".into(), ws.clone());
        }
        out.insert("response".into(), Value::Object(res));
    }
    if let Some(err) = r.error {
        out.insert("error".into(), err.into());
    }
    Value::Object(out)
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

    #[test]
    fn strings_are_hashed_everywhere_but_not_numbers() {
        let h = Hasher {
            salt: b"salt",
            log_raw: false,
            hmac_accessor: true,
        };
        let v = h.structure(&json!({"a": "x", "n": 5, "l": ["y", true], "m": {"z": "w"}}));
        let hx = h.hash("x");
        assert!(hx.starts_with("hmac-sha256:") && hx.len() == 12 + 64);
        assert_eq!(v["a"], hx);
        assert_eq!(v["n"], 5);
        assert_eq!(v["l"][0], h.hash("y"));
        assert_eq!(v["l"][1], true);
        assert_eq!(v["m"]["z"], h.hash("w"));
        let raw = Hasher {
            salt: b"salt",
            log_raw: true,
            hmac_accessor: true,
        };
        assert_eq!(raw.structure(&json!({"a": "x"}))["a"], "x");
    }

    #[test]
    fn jsonx_is_xml() {
        assert_eq!(
            jsonx(&json!({"a": "<b>", "n": [1, null]})),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><json:object xmlns:json=\"http://www.ibm.com/xmlns/prod/2009/jsonx\"><json:string name=\"a\">&lt;b&gt;</json:string><json:array name=\"n\"><json:number>1</json:number><json:null/></json:array></json:object>"
        );
    }
}
