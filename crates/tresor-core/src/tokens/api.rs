//! The token store's HTTP surface, `auth/token/…`, served by the core (tokens are the core's
//! own business: creating one needs the caller's token, its policies and the system's TTLs).

use serde_json::Value;
use tresor_sdk::{Map, Operation, Request, Response};

use super::roles::{glob, TokenRole};
use super::{expiry, now, now_ms, parse_cidrs, NewToken, TokenEntry, TokenStore};
use crate::core::CoreConfig;
use crate::error::CoreError;

const ROLE_PREFIX: &str = "sys/token/roles/";

/// Who is asking.
pub struct Caller<'a> {
    pub entry: &'a TokenEntry,
    pub token: &'a str,
    /// Root, or `sudo` on the requested path.
    pub sudo: bool,
}

/// The token paths that need `sudo`, as Vault protects them.
pub fn is_root_path(rel: &str) -> bool {
    rel == "accessors" || rel.starts_with("accessors/") || rel.starts_with("revoke-orphan")
}

fn data(m: Map) -> Option<Response> {
    Some(Response::data(m))
}

fn auth_response(entry: &TokenEntry, token: &str, warnings: Vec<String>) -> Option<Response> {
    let mut r = Response {
        auth: Some(entry.auth_block(token, now_ms())),
        ..Response::default()
    };
    r.warnings = warnings;
    Some(r)
}

pub async fn handle(
    store: &TokenStore,
    config: &CoreConfig,
    path: &str,
    req: &Request,
    caller: Caller<'_>,
) -> Result<Option<Response>, CoreError> {
    use Operation::*;
    let op = req.operation;
    let write = op.is_write();
    match path {
        "create" if write => create(store, config, req, &caller, None, false).await,
        "create-orphan" if write => create(store, config, req, &caller, None, true).await,
        "lookup-self" if op == Read || write => {
            Ok(data(caller.entry.lookup_data(caller.token, now_ms())))
        }
        "lookup" if op == Read || write => {
            let token = required(req, "token")?;
            match store.lookup(&token).await? {
                Some(e) => Ok(data(e.lookup_data(&token, now_ms()))),
                None => Err(CoreError::Forbidden("bad token".into())),
            }
        }
        "lookup-accessor" if write => {
            let e = by_accessor(store, req).await?;
            Ok(data(e.lookup_data("", now_ms())))
        }
        "renew-self" if write => {
            let (e, w) = renew(store, config, caller.entry.clone(), req).await?;
            Ok(auth_response(&e, caller.token, w))
        }
        "renew" if write => {
            let token = required(req, "token")?;
            let e = store
                .lookup(&token)
                .await?
                .ok_or_else(|| CoreError::invalid("invalid token"))?;
            let (e, w) = renew(store, config, e, req).await?;
            Ok(auth_response(&e, &token, w))
        }
        "renew-accessor" if write => {
            let e = by_accessor(store, req).await?;
            let (e, w) = renew(store, config, e, req).await?;
            Ok(auth_response(&e, "", w))
        }
        "revoke-self" if write => {
            store.revoke_tree(&caller.entry.id_hash).await?;
            Ok(None)
        }
        "revoke" if write => {
            let token = required(req, "token")?;
            if let Some(e) = store.lookup(&token).await? {
                store.revoke_tree(&e.id_hash).await?;
            }
            Ok(None)
        }
        "revoke-accessor" if write => {
            let e = by_accessor(store, req).await?;
            store.revoke_tree(&e.id_hash).await?;
            Ok(None)
        }
        "revoke-orphan" if write => {
            let token = required(req, "token")?;
            if let Some(e) = store.lookup(&token).await? {
                store.revoke_orphan(&e.id_hash).await?;
            }
            Ok(None)
        }
        "accessors" | "accessors/" if op == List => {
            let keys = store.accessors().await?;
            Ok(Some(Response::list(keys)))
        }
        "roles" | "roles/" if op == List => {
            let keys: Vec<String> = store
                .barrier()
                .list(ROLE_PREFIX)
                .await?
                .into_iter()
                .filter(|k| !k.ends_with('/'))
                .collect();
            Ok((!keys.is_empty()).then(|| Response::list(keys)))
        }
        "tidy" if write => {
            let cleaned = store.tidy().await?;
            tracing::info!(cleaned, "token: tidy finished");
            let mut r = Response::default().with_warning(
                "Tidy operation successfully started. Any information from the operation will be printed to Vault's server logs.",
            );
            r.status = Some(202);
            Ok(Some(r))
        }
        _ => {
            if let Some(role) = path.strip_prefix("create/") {
                if write {
                    return create(store, config, req, &caller, Some(role), false).await;
                }
                return Err(tresor_sdk::Error::UnsupportedOperation.into());
            }
            if let Some(name) = path.strip_prefix("roles/") {
                return roles(store, name, req).await;
            }
            let known = [
                "create",
                "create-orphan",
                "lookup",
                "lookup-self",
                "lookup-accessor",
                "renew",
                "renew-self",
                "renew-accessor",
                "revoke",
                "revoke-self",
                "revoke-accessor",
                "revoke-orphan",
                "accessors",
                "roles",
                "tidy",
            ];
            if known.contains(&path.trim_end_matches('/')) {
                Err(tresor_sdk::Error::UnsupportedOperation.into())
            } else {
                Err(tresor_sdk::Error::UnsupportedPath.into())
            }
        }
    }
}

fn required(req: &Request, field: &str) -> Result<String, CoreError> {
    req.str_field(field)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| CoreError::invalid(format!("missing {field}")))
}

async fn by_accessor(store: &TokenStore, req: &Request) -> Result<TokenEntry, CoreError> {
    let accessor = required(req, "accessor")?;
    store
        .lookup_accessor(&accessor)
        .await?
        .ok_or_else(|| CoreError::invalid("invalid accessor"))
}

async fn load_role(store: &TokenStore, name: &str) -> Result<Option<TokenRole>, CoreError> {
    store
        .barrier()
        .get_json(&format!("{ROLE_PREFIX}{}", name.to_lowercase()))
        .await
}

/// The existence check of `auth/token/…` (relative path `rel`): a token role exists or not,
/// so that a write to a new role needs `create` and to an existing one `update`, as in
/// Vault. Other token paths make no such distinction.
pub async fn exists(store: &TokenStore, rel: &str) -> Result<Option<bool>, CoreError> {
    let Some(name) = rel.strip_prefix("roles/") else {
        return Ok(None);
    };
    let name = name.trim_end_matches('/').to_lowercase();
    if name.is_empty() || name.contains('/') {
        return Ok(None);
    }
    Ok(Some(load_role(store, &name).await?.is_some()))
}

async fn roles(
    store: &TokenStore,
    name: &str,
    req: &Request,
) -> Result<Option<Response>, CoreError> {
    let name = name.trim_end_matches('/').to_lowercase();
    if name.is_empty() || name.contains('/') {
        return Err(CoreError::invalid("invalid role name"));
    }
    let key = format!("{ROLE_PREFIX}{name}");
    match req.operation {
        Operation::Read => Ok(load_role(store, &name)
            .await?
            .map(|r| Response::data(r.to_api()))),
        Operation::Create | Operation::Update => {
            let mut role = load_role(store, &name)
                .await?
                .unwrap_or_else(|| TokenRole::new(&name));
            role.update(req)?;
            store.barrier().put_json(&key, &role).await?;
            Ok(None)
        }
        Operation::Delete => {
            store.barrier().delete(&key).await?;
            Ok(None)
        }
        _ => Err(tresor_sdk::Error::UnsupportedOperation.into()),
    }
}

fn display_name(requested: Option<String>) -> String {
    match requested.filter(|s| !s.is_empty()) {
        None => "token".into(),
        Some(n) => {
            let mut out = String::from("token-");
            let mut dash = false;
            for c in n.chars() {
                if c.is_ascii_alphanumeric() || c == '-' {
                    out.push(c);
                    dash = false;
                } else if !dash {
                    out.push('-');
                    dash = true;
                }
            }
            out.trim_end_matches('-').to_owned()
        }
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// Vault's `framework.CalculateTTL` for a token: returns the TTL and any warning.
fn calculate_ttl(
    config: &CoreConfig,
    requested: u64,
    period: u64,
    explicit_max: u64,
    elapsed: u64,
) -> Result<(u64, Option<String>), CoreError> {
    if period > 0 {
        if explicit_max > 0 && period > explicit_max.saturating_sub(elapsed) {
            let capped = explicit_max.saturating_sub(elapsed);
            return Ok((capped, Some(format!(
                "period of {period}s exceeded the effective max_ttl of {capped}s; period value is capped accordingly"
            ))));
        }
        return Ok((period, None));
    }
    let ttl = if requested == 0 {
        config.default_lease_ttl
    } else {
        requested
    };
    let mut max = config.max_lease_ttl;
    if explicit_max > 0 && explicit_max < max {
        max = explicit_max;
    }
    if elapsed >= max {
        return Err(CoreError::invalid("past the max TTL, cannot renew"));
    }
    let valid = max - elapsed;
    if ttl > valid {
        return Ok((valid, Some(format!(
            "TTL of \"{ttl}s\" exceeded the effective max_ttl of \"{valid}s\"; TTL value is capped accordingly"
        ))));
    }
    Ok((ttl, None))
}

async fn create(
    store: &TokenStore,
    config: &CoreConfig,
    req: &Request,
    caller: &Caller<'_>,
    role_name: Option<&str>,
    orphan_endpoint: bool,
) -> Result<Option<Response>, CoreError> {
    let parent = caller.entry;
    let parent_is_root = parent.is_root();
    // Vault's CLI always sends `entity_alias`, empty unless asked for.
    let asked = |v: &serde_json::Value| !(v.is_null() || v.as_str() == Some(""));
    if req.data.get("entity_alias").is_some_and(asked) {
        return Err(CoreError::invalid(
            "entity_alias is not supported by Tresor yet",
        ));
    }
    let role = match role_name {
        Some(name) => Some(
            load_role(store, name)
                .await?
                .ok_or_else(|| CoreError::invalid(format!("unknown role {name}")))?,
        ),
        None => None,
    };
    let token_type = req.str_field("type")?.unwrap_or_default();
    match token_type.as_str() {
        "" | "service" => {}
        "batch" => {
            return Err(CoreError::invalid(
                "batch tokens are not supported by Tresor yet",
            ))
        }
        other => {
            return Err(CoreError::invalid(format!(
                "unsupported token type \"{other}\""
            )))
        }
    }
    let id = req.str_field("id")?.filter(|s| !s.is_empty());
    if id.is_some() && !parent_is_root {
        return Err(CoreError::invalid(
            "root or sudo privileges required to specify token id",
        ));
    }
    let no_parent = req.bool_field("no_parent")?.unwrap_or(false);
    if no_parent && !caller.sudo {
        return Err(CoreError::invalid(
            "root or sudo privileges required to create orphan token",
        ));
    }
    let orphan = orphan_endpoint || no_parent || role.as_ref().is_some_and(|r| r.orphan);

    let requested = req.list_field("policies")?.map(|v| {
        v.into_iter()
            .map(|p| p.to_lowercase())
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
    });
    let no_default = req.bool_field("no_default_policy")?.unwrap_or(false)
        || role.as_ref().is_some_and(|r| r.token_no_default_policy);
    let mut policies = match &role {
        Some(r) => role_policies(r, requested, parent)?,
        None => {
            let explicit = requested.clone();
            let policies = explicit.unwrap_or_else(|| parent.policies.clone());
            // Whether the token may be root is the store's decision (`Issuer`).
            let outside = policies
                .iter()
                .any(|p| p != "default" && !parent.policies.contains(p));
            if !parent_is_root && !caller.sudo && outside {
                return Err(CoreError::invalid(
                    "child policies must be subset of parent",
                ));
            }
            policies
        }
    };
    if no_default {
        policies.retain(|p| p != "default");
    } else if !policies.iter().any(|p| p == "root" || p == "default") {
        policies.push("default".into());
    }
    let policies = sorted(policies);
    if policies.is_empty() {
        return Err(CoreError::invalid("token must have at least one policy"));
    }

    let meta: std::collections::BTreeMap<String, String> = match req.map_field("meta")? {
        None => Default::default(),
        Some(m) => m
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                other => Err(CoreError::invalid(format!(
                    "meta values must be strings; \"{k}\" is {other}"
                ))),
            })
            .collect::<Result<_, _>>()?,
    };
    let num_uses = match req.int_field("num_uses")? {
        Some(n) if n < 0 => return Err(CoreError::invalid("number of uses cannot be negative")),
        Some(n) => n,
        None => role.as_ref().map(|r| r.token_num_uses).unwrap_or(0),
    };
    let ttl_requested = match req.duration_field("ttl")? {
        Some(t) => t,
        None => req.duration_field("lease")?.unwrap_or(0),
    };
    let mut explicit_max = req.duration_field("explicit_max_ttl")?.unwrap_or(0);
    let mut period = req.duration_field("period")?.unwrap_or(0);
    if period > 0 && !caller.sudo && role.is_none() {
        return Err(CoreError::invalid(
            "root or sudo privileges required to create periodic token",
        ));
    }
    let mut renewable = req.bool_field("renewable")?.unwrap_or(true);
    let mut bound_cidrs = Vec::new();
    if let Some(r) = &role {
        if r.token_explicit_max_ttl > 0
            && (explicit_max == 0 || r.token_explicit_max_ttl < explicit_max)
        {
            explicit_max = r.token_explicit_max_ttl;
        }
        if r.token_period > 0 {
            period = r.token_period;
        }
        renewable &= r.renewable;
        bound_cidrs = r.token_bound_cidrs.clone();
    }
    if let Some(c) = req.list_field("bound_cidrs")? {
        bound_cidrs = parse_cidrs(&c)?;
    }

    let is_root_token = policies.iter().any(|p| p == "root");
    let (ttl, warning) = if period > 0 || ttl_requested > 0 || !is_root_token {
        calculate_ttl(config, ttl_requested, period, explicit_max, 0)?
    } else {
        (0, None)
    };
    if ttl == 0 {
        renewable = false;
    }
    let path = match &role {
        Some(r) if !r.path_suffix.is_empty() => {
            format!("auth/token/create/{}/{}", r.name, r.path_suffix)
        }
        Some(r) => format!("auth/token/create/{}", r.name),
        None if orphan_endpoint => "auth/token/create-orphan".into(),
        None => "auth/token/create".into(),
    };
    let (token, entry) = store
        .create(NewToken {
            id,
            parent: (!orphan).then(|| parent.id_hash.clone()),
            policies,
            meta,
            display_name: display_name(req.str_field("display_name")?),
            path,
            num_uses,
            ttl,
            explicit_max_ttl: explicit_max,
            period,
            renewable,
            token_type: "service".into(),
            bound_cidrs,
            role: role.as_ref().map(|r| r.name.clone()),
            max_ttl: 0,
            issuer: super::Issuer::Token { parent_is_root },
        })
        .await?;
    Ok(auth_response(&entry, &token, warning.into_iter().collect()))
}

/// The token of a successful login at `path` (`auth/approle/login`) through the auth method
/// mounted as `mount`: an orphan with the method's policies and TTLs, capped by the role's,
/// the mount's and the system's maximum.
pub async fn login_token(
    store: &TokenStore,
    config: &CoreConfig,
    mount: &crate::mounts::MountEntry,
    path: &str,
    login: tresor_sdk::LoginAuth,
) -> Result<Map, CoreError> {
    let system_max = config.max_lease_ttl;
    let mut max = match mount.config.max_lease_ttl {
        0 => system_max,
        m => m.min(system_max),
    };
    if login.max_ttl > 0 {
        max = max.min(login.max_ttl);
    }
    let default = match mount.config.default_lease_ttl {
        0 => config.default_lease_ttl,
        d => d,
    };
    let mut ttl = if login.period > 0 {
        login.period
    } else if login.ttl > 0 {
        login.ttl
    } else {
        default
    };
    if login.period == 0 {
        ttl = ttl.min(max);
    }
    if login.explicit_max_ttl > 0 {
        ttl = ttl.min(login.explicit_max_ttl);
    }
    let mut policies = login.policies;
    if !login.no_default_policy && !policies.iter().any(|p| p == "default") {
        policies.push("default".into());
    }
    policies.sort();
    policies.dedup();
    let method = mount.path.trim_start_matches("auth/").trim_end_matches('/');
    let display_name = if login.display_name.is_empty() {
        method.to_owned()
    } else {
        format!("{method}-{}", login.display_name)
    };
    let (token, entry) = store
        .create(NewToken {
            id: None,
            parent: None,
            policies,
            meta: login.metadata,
            display_name,
            path: path.to_owned(),
            num_uses: login.num_uses,
            ttl,
            explicit_max_ttl: login.explicit_max_ttl,
            period: login.period,
            renewable: true,
            token_type: "service".into(),
            bound_cidrs: login.bound_cidrs,
            role: None,
            max_ttl: if login.period > 0 { 0 } else { max },
            issuer: super::Issuer::AuthMethod,
        })
        .await?;
    Ok(entry.auth_block(&token, now_ms()))
}

/// Policies for `create/:role`, checked against the role rather than the parent.
fn role_policies(
    role: &TokenRole,
    requested: Option<Vec<String>>,
    parent: &TokenEntry,
) -> Result<Vec<String>, CoreError> {
    let allowed_set = !role.allowed_policies.is_empty() || !role.allowed_policies_glob.is_empty();
    let policies = match requested {
        Some(p) => p,
        None if allowed_set => role.allowed_policies.clone(),
        None => parent
            .policies
            .iter()
            .filter(|p| *p != "root")
            .cloned()
            .collect(),
    };
    let disallowed = |p: &String| {
        role.disallowed_policies.contains(p)
            || role.disallowed_policies_glob.iter().any(|g| glob(g, p))
    };
    if let Some(bad) = policies.iter().find(|p| disallowed(p)) {
        return Err(CoreError::invalid(format!(
            "token policies ({bad}) must not be in the role's disallowed policies"
        )));
    }
    if allowed_set {
        let allowed = |p: &String| {
            p == "default"
                || role.allowed_policies.contains(p)
                || role.allowed_policies_glob.iter().any(|g| glob(g, p))
        };
        if let Some(bad) = policies.iter().find(|p| !allowed(p)) {
            return Err(CoreError::invalid(format!(
                "token policies ({bad}) must be subset of the role's allowed policies"
            )));
        }
    } else if !parent.is_root() {
        if let Some(bad) = policies
            .iter()
            .find(|p| *p != "default" && !parent.policies.contains(p))
        {
            return Err(CoreError::invalid(format!(
                "token policies ({bad}) must be subset of the parent token's policies"
            )));
        }
    }
    Ok(policies)
}

async fn renew(
    store: &TokenStore,
    config: &CoreConfig,
    mut entry: TokenEntry,
    req: &Request,
) -> Result<(TokenEntry, Vec<String>), CoreError> {
    if !entry.renewable || entry.expire_at_ms.is_none() {
        return Err(CoreError::invalid("lease is not renewable"));
    }
    let increment = req.duration_field("increment")?.unwrap_or(0);
    let t = now();
    let elapsed = (t - entry.creation_time).max(0) as u64;
    let requested = if increment > 0 {
        increment
    } else {
        entry.creation_ttl
    };
    // A login token renews only up to its role's (or its mount's) max TTL.
    let limits = CoreConfig {
        default_lease_ttl: config.default_lease_ttl,
        max_lease_ttl: match entry.max_ttl {
            0 => config.max_lease_ttl,
            m => m.min(config.max_lease_ttl),
        },
    };
    let (ttl, warning) = calculate_ttl(
        &limits,
        requested,
        entry.period,
        entry.explicit_max_ttl,
        elapsed,
    )?;
    entry.expire_at_ms = Some(expiry(now_ms(), ttl));
    store.save_renewed(&entry).await?;
    Ok((entry, warning.into_iter().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_sanitised() {
        assert_eq!(display_name(None), "token");
        assert_eq!(display_name(Some("web app!".into())), "token-web-app");
    }

    #[test]
    fn ttls_follow_vault() {
        let c = CoreConfig {
            default_lease_ttl: 100,
            max_lease_ttl: 1000,
        };
        assert_eq!(calculate_ttl(&c, 0, 0, 0, 0).unwrap().0, 100);
        assert_eq!(calculate_ttl(&c, 50, 0, 0, 0).unwrap().0, 50);
        let (t, w) = calculate_ttl(&c, 5000, 0, 0, 0).unwrap();
        assert_eq!(t, 1000);
        assert!(w.is_some());
        assert_eq!(calculate_ttl(&c, 50, 0, 30, 0).unwrap().0, 30);
        assert_eq!(calculate_ttl(&c, 50, 0, 30, 20).unwrap().0, 10);
        assert!(calculate_ttl(&c, 50, 0, 30, 30).is_err());
        assert_eq!(
            calculate_ttl(&c, 0, 5000, 0, 0).unwrap().0,
            5000,
            "periodic ignores max TTL"
        );
        assert_eq!(calculate_ttl(&c, 0, 60, 100, 90).unwrap().0, 10);
    }
}
