//! `sys/` routes about authorisation and small tools: policies, capabilities, random, hash.

use base64::Engine;
use serde_json::{json, Value};
use tresor_sdk::{Map, Operation, Response};

use crate::core::{Active, Core, CoreRequest};
use crate::error::CoreError;
use crate::sys::Caller;

type Answer = Option<Option<Response>>;

/// Answers the request if the path is one of these routes (`Some`), else lets it through.
pub(crate) async fn handle(
    core: &Core,
    active: &Active,
    path: &str,
    req: &CoreRequest,
    caller: &Caller<'_>,
) -> Result<Answer, CoreError> {
    use Operation::*;
    let op = req.operation;
    let write = op.is_write();
    let answer = match path {
        "policy" | "policy/" if op == Read || op == List => {
            let names = active.policies.names();
            let mut d = Map::new();
            d.insert("keys".into(), json!(names));
            d.insert("policies".into(), json!(names));
            Some(Response::data(d))
        }
        "policies/acl" | "policies/acl/" if op == List || op == Read => {
            Some(Response::list(active.policies.names()))
        }
        "capabilities" if write => {
            let token = str_field(req, "token")?.unwrap_or_default();
            let entry = active
                .tokens
                .lookup(&token)
                .await?
                .ok_or_else(|| CoreError::invalid("invalid token"))?;
            capabilities(core, active, &entry.policies, req)?
        }
        "capabilities-self" if write => capabilities(core, active, &caller.entry.policies, req)?,
        "capabilities-accessor" if write => {
            let accessor = str_field(req, "accessor")?.unwrap_or_default();
            let entry = active
                .tokens
                .lookup_accessor(&accessor)
                .await?
                .ok_or_else(|| CoreError::invalid("invalid accessor"))?;
            capabilities(core, active, &entry.policies, req)?
        }
        _ => {
            if let Some(name) = path.strip_prefix("policy/") {
                return policy(active, name, req, "rules").await.map(Some);
            }
            if let Some(name) = path.strip_prefix("policies/acl/") {
                return policy(active, name, req, "policy").await.map(Some);
            }
            if path == "tools/random" || path.starts_with("tools/random/") {
                return random(path, req).map(|r| Some(Some(r)));
            }
            if path == "tools/hash" || path.starts_with("tools/hash/") {
                return hash(path, req).map(|r| Some(Some(r)));
            }
            return Ok(None);
        }
    };
    let _ = caller.token;
    Ok(Some(answer))
}

fn str_field(req: &CoreRequest, name: &str) -> Result<Option<String>, CoreError> {
    match req.data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(CoreError::invalid(format!(
            "{name} must be a string, got {other}"
        ))),
    }
}

fn paths(req: &CoreRequest) -> Result<Vec<String>, CoreError> {
    let mut out = Vec::new();
    for name in ["paths", "path"] {
        match req.data.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => out.extend(s.split(',').map(|p| p.trim().to_owned())),
            Some(Value::Array(a)) => {
                for v in a {
                    match v {
                        Value::String(s) => out.push(s.clone()),
                        other => {
                            return Err(CoreError::invalid(format!(
                                "paths must be strings, got {other}"
                            )))
                        }
                    }
                }
            }
            Some(other) => {
                return Err(CoreError::invalid(format!(
                    "{name} must be a string or list, got {other}"
                )))
            }
        }
    }
    out.retain(|p| !p.is_empty());
    if out.is_empty() {
        return Err(CoreError::invalid("missing paths"));
    }
    Ok(out)
}

fn capabilities(
    core: &Core,
    active: &Active,
    policies: &[String],
    req: &CoreRequest,
) -> Result<Option<Response>, CoreError> {
    let acl = Core::acl_for(active, policies);
    let paths = paths(req)?;
    let mut d = Map::new();
    for p in &paths {
        let checked = core.canonical_of(active, p);
        d.insert(p.clone(), json!(acl.capabilities(&checked)));
    }
    if paths.len() == 1 {
        let first = d.get(&paths[0]).cloned().unwrap_or(Value::Null);
        d.insert("capabilities".into(), first);
    }
    Ok(Some(Response::data(d)))
}

async fn policy(
    active: &Active,
    name: &str,
    req: &CoreRequest,
    text_field: &str,
) -> Result<Option<Response>, CoreError> {
    let name = crate::policy::normalize_name(name.trim_end_matches('/'));
    match req.operation {
        Operation::Read => {
            let Some(p) = active.policies.get(&name) else {
                return Ok(None);
            };
            let mut d = Map::new();
            d.insert("name".into(), p.name.clone().into());
            d.insert(text_field.into(), p.text.clone().into());
            Ok(Some(Response::data(d)))
        }
        Operation::Create | Operation::Update => {
            let text = match str_field(req, "policy")?.or(str_field(req, "rules")?) {
                Some(t) if !t.trim().is_empty() => t,
                _ => {
                    return Err(CoreError::invalid(
                        "'policy' parameter not supplied or empty",
                    ))
                }
            };
            // Vault accepts the document base64-encoded too, to spare clients the escaping.
            let text = match base64::engine::general_purpose::STANDARD.decode(text.trim()) {
                Ok(b) if !text.contains('{') => String::from_utf8(b).unwrap_or(text),
                _ => text,
            };
            active.policies.put(&name, &text).await?;
            Ok(None)
        }
        Operation::Delete => {
            active.policies.delete(&name).await?;
            Ok(None)
        }
        _ => Err(tresor_sdk::Error::UnsupportedOperation.into()),
    }
}

/// `sys/tools/random[/:source][/:bytes]`.
fn random(path: &str, req: &CoreRequest) -> Result<Response, CoreError> {
    let url: Vec<&str> = path.split('/').skip(2).collect();
    Ok(Response::data(tresor_sdk::tools::random(&url, &req.data)?))
}

/// `sys/tools/hash[/:algorithm]`.
fn hash(path: &str, req: &CoreRequest) -> Result<Response, CoreError> {
    let alg = path.strip_prefix("tools/hash/");
    Ok(Response::data(tresor_sdk::tools::hash(alg, &req.data)?))
}
