//! `sys/` routes about authorisation and small tools: policies, capabilities, random, hash.

use base64::Engine;
use serde_json::{json, Value};
use tresor_sdk::{Map, Operation, Request, Response};

use crate::core::{Active, Core};
use crate::error::CoreError;

/// `sys/policy` (read or list): the policy names, as `keys` and `policies`.
pub(crate) fn names(active: &Active) -> Option<Response> {
    let names = active.policies.names();
    let mut d = Map::new();
    d.insert("keys".into(), json!(names));
    d.insert("policies".into(), json!(names));
    Some(Response::data(d))
}

/// `sys/policies/acl` (list).
pub(crate) fn acl_names(active: &Active) -> Option<Response> {
    Some(Response::list(active.policies.names()))
}

/// `sys/capabilities`: a token's capabilities on paths.
pub(crate) async fn of_token(
    core: &Core,
    active: &Active,
    req: &Request,
) -> Result<Option<Response>, CoreError> {
    let token = str_field(req, "token")?.unwrap_or_default();
    if token.is_empty() {
        return Err(CoreError::invalid("no token found"));
    }
    let entry = active
        .tokens
        .lookup(&token)
        .await?
        .ok_or_else(|| CoreError::invalid("invalid token"))?;
    capabilities(core, active, &entry.policies, req)
}

/// `sys/capabilities-accessor`: the capabilities of the token with an accessor.
pub(crate) async fn of_accessor(
    core: &Core,
    active: &Active,
    req: &Request,
) -> Result<Option<Response>, CoreError> {
    let accessor = str_field(req, "accessor")?.unwrap_or_default();
    if accessor.is_empty() {
        return Err(CoreError::invalid("missing accessor"));
    }
    let entry = active
        .tokens
        .lookup_accessor(&accessor)
        .await?
        .ok_or_else(|| CoreError::invalid("invalid accessor"))?;
    capabilities(core, active, &entry.policies, req)
}

fn str_field(req: &Request, name: &str) -> Result<Option<String>, CoreError> {
    match req.data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(CoreError::invalid(format!(
            "{name} must be a string, got {other}"
        ))),
    }
}

fn paths(req: &Request) -> Result<Vec<String>, CoreError> {
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
        return Err(CoreError::invalid("paths must be supplied"));
    }
    Ok(out)
}

pub(crate) fn capabilities(
    core: &Core,
    active: &Active,
    policies: &[String],
    req: &Request,
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

/// `sys/policy/<name>` (the text as `rules`) and `sys/policies/acl/<name>` (as `policy`).
pub(crate) async fn policy(
    active: &Active,
    name: &str,
    req: &Request,
    text_field: &str,
) -> Result<Option<Response>, CoreError> {
    let name = crate::policy::normalize_name(name);
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

/// `sys/tools/random[/:source][/:bytes]`: `url` holds the URL's segments after `random`.
pub(crate) fn random(url: &[&str], req: &Request) -> Result<Option<Response>, CoreError> {
    Ok(Some(Response::data(tresor_sdk::tools::random(
        url, &req.data,
    )?)))
}

/// `sys/tools/hash[/:algorithm]`.
pub(crate) fn hash(algorithm: Option<&str>, req: &Request) -> Result<Option<Response>, CoreError> {
    Ok(Some(Response::data(tresor_sdk::tools::hash(
        algorithm, &req.data, None,
    )?)))
}
