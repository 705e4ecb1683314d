//! The system backend: `sys/…` routes that change or show the core's own state.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tresor_sdk::{ttl, Map, Response};

use crate::core::{Active, Core};
use crate::crypto;
use crate::error::CoreError;
use crate::mounts::{
    normalize_mount_path, MountConfig, MountEntry, AUTH_TABLE_PATH, MOUNT_TABLE_PATH,
};
use crate::tokens::TokenEntry;

/// The token behind a request, for the routes that act on the caller itself.
pub(crate) struct Caller<'a> {
    pub entry: &'a TokenEntry,
    pub token: &'a str,
}

fn system_mount_api() -> Value {
    json!({
        "accessor": "system",
        "config": {"default_lease_ttl": 0, "force_no_cache": false, "max_lease_ttl": 0},
        "description": "system endpoints used for control, policy and debugging",
        "external_entropy_access": false,
        "local": false,
        "options": null,
        "plugin_version": "",
        "running_plugin_version": format!("v{}+builtin.tresor", env!("CARGO_PKG_VERSION")),
        "running_sha256": "",
        "seal_wrap": true,
        "type": "system",
        "uuid": "",
    })
}

/// The built-in mounts every server has, as `sys/mounts` shows them.
fn builtin_mounts(data: &mut Map) {
    let mut sys = system_mount_api();
    // As Vault shows it (Vault passes `Accept` through to `sys/` for its OpenAPI answers).
    sys["config"]["passthrough_request_headers"] = json!(["Accept"]);
    data.insert("sys/".into(), sys);
    let mut cubby = system_mount_api();
    if let Value::Object(m) = &mut cubby {
        m.insert("accessor".into(), "cubbyhole".into());
        m.insert(
            "description".into(),
            "per-token private secret storage".into(),
        );
        m.insert("type".into(), "cubbyhole".into());
        m.insert("local".into(), true.into());
        m.insert("seal_wrap".into(), false.into());
    }
    data.insert("cubbyhole/".into(), cubby);
}

fn token_auth_mount() -> Value {
    json!({
        "accessor": "auth_token",
        "config": {"default_lease_ttl": 0, "force_no_cache": false, "max_lease_ttl": 0, "token_type": "default-service"},
        "description": "token based credentials",
        "external_entropy_access": false,
        "local": false,
        "options": null,
        "plugin_version": "",
        "running_plugin_version": format!("v{}+builtin.tresor", env!("CARGO_PKG_VERSION")),
        "running_sha256": "",
        "seal_wrap": false,
        "type": "token",
        "uuid": "",
    })
}

pub(crate) fn list_mounts(active: &Active) -> Response {
    let mut data = Map::new();
    for e in active.router.entries().iter().filter(|e| !e.is_auth()) {
        data.insert(e.path.clone(), e.to_api());
    }
    builtin_mounts(&mut data);
    Response::data(data)
}

/// `sys/auth`: the token method and every enabled auth method, keyed without `auth/`.
pub(crate) fn auth_mounts(active: &Active) -> Map {
    let mut auth = Map::new();
    auth.insert("token/".into(), token_auth_mount());
    for e in active.router.entries().iter().filter(|e| e.is_auth()) {
        let mut api = e.to_api();
        if let Some(cfg) = api.get_mut("config").and_then(Value::as_object_mut) {
            cfg.insert("token_type".into(), "default-service".into());
        }
        auth.insert(e.path["auth/".len()..].to_owned(), api);
    }
    auth
}

/// `sys/internal/ui/mounts`: the mounts the caller has some access under, as Vault's
/// `hasMountAccess` decides; the others are not named.
pub(crate) fn ui_mounts(active: &Active, caller: &Caller<'_>) -> Response {
    let acl = active.policies.acl(&caller.entry.policies);
    let mut secret = Map::new();
    for e in active.router.entries().iter().filter(|e| !e.is_auth()) {
        secret.insert(e.path.clone(), e.to_api());
    }
    builtin_mounts(&mut secret);
    secret.retain(|path, _| acl.has_mount_access(path));
    let mut auth = auth_mounts(active);
    auth.retain(|path, _| acl.has_mount_access(&format!("auth/{path}")));
    let mut data = Map::new();
    data.insert("secret".into(), Value::Object(secret));
    data.insert("auth".into(), Value::Object(auth));
    Response::data(data)
}

/// `sys/internal/specs/openapi`: the OpenAPI 3 document of every mount the caller has some
/// access to (as `sys/internal/ui/mounts` lists them), each from its backend's path table.
pub(crate) fn openapi(core: &Core, active: &Active, caller: &Caller<'_>) -> Response {
    let acl = active.policies.acl(&caller.entry.policies);
    let mut paths = Map::new();
    for mount in active.router.all() {
        if acl.has_mount_access(&mount.entry.path) {
            paths.extend(mount.backend.openapi(&mount.entry.path));
        }
    }
    for builtin in core.builtins() {
        if acl.has_mount_access(builtin.path) {
            paths.extend(builtin.backend.openapi(builtin.path));
        }
    }
    Response {
        raw: Some(json!({
            "openapi": "3.0.2",
            "info": {
                "title": "Tresor API",
                "description": "HTTP API that gives you full access to Tresor. All API routes are prefixed with `/v1/`.",
                "version": crate::VAULT_VERSION,
                "license": {"name": "Mozilla Public License 2.0", "url": "https://www.mozilla.org/en-US/MPL/2.0"},
            },
            "paths": paths,
            "components": {"schemas": {}},
        })),
        ..Response::default()
    }
}

/// `sys/internal/ui/mounts/<path>`: the mount that serves `path`, with its path. This is the
/// CLI's preflight (is `secret/` KV v1 or v2?), so it is not checked against the path itself but
/// answered to any token with some access under the mount; anything else, an unknown mount
/// included (so that mounts cannot be probed), is Vault's 403.
pub(crate) fn ui_mount(
    active: &Active,
    path: &str,
    caller: &Caller<'_>,
) -> Result<Option<Response>, CoreError> {
    let asked = format!("{}/", path.trim_end_matches('/'));
    let denied = || {
        CoreError::Forbidden(format!(
            "preflight capability check returned 403, please ensure client's policies grant access to path \"{asked}\""
        ))
    };
    let (mount, _) = active.router.route(&asked).ok_or_else(denied)?;
    let acl = active.policies.acl(&caller.entry.policies);
    if !acl.has_mount_access(&mount.entry.path) {
        return Err(denied());
    }
    let mut api = mount.entry.to_api();
    if let Value::Object(m) = &mut api {
        m.insert("path".into(), Value::String(mount.entry.path.clone()));
    }
    match api {
        Value::Object(m) => Ok(Some(Response::data(m))),
        _ => Err(CoreError::internal("mount entry is not an object")),
    }
}

pub(crate) fn read_mount(active: &Active, path: &str) -> Result<Option<Response>, CoreError> {
    let path = normalize_mount_path(path)?;
    let mount = active.router.get(&path).ok_or_else(|| {
        CoreError::invalid(match path.strip_prefix("auth/") {
            Some(method) => format!("No auth engine at {method}"),
            None => format!("No secret engine mount at {path}"),
        })
    })?;
    match mount.entry.to_api() {
        Value::Object(m) => Ok(Some(Response::data(m))),
        _ => Err(CoreError::internal("mount entry is not an object")),
    }
}

/// `sys/audit`: the enabled audit devices.
pub(crate) fn list_audit(active: &Active) -> Option<Response> {
    let mut data = Map::new();
    for d in active.audit.list() {
        data.insert(d.path.clone(), d.to_api());
    }
    Some(Response::data(data))
}

/// `sys/audit/<path>` (write): enables an audit device.
pub(crate) async fn enable_audit(
    active: &Active,
    device: &str,
    req: &tresor_sdk::Request,
) -> Result<Option<Response>, CoreError> {
    let kind = req.str_field("type")?.unwrap_or_default();
    if kind.is_empty() {
        return Err(CoreError::invalid("type is required"));
    }
    let local = req.bool_field("local")?.unwrap_or(false);
    let options = string_map("options", req.data.get("options"))?;
    let description = req.str_field("description")?.unwrap_or_default();
    active
        .audit
        .enable(device, &kind, &description, options, local)
        .await?;
    Ok(None)
}

/// `sys/audit/<path>` (delete).
pub(crate) async fn disable_audit(
    active: &Active,
    device: &str,
) -> Result<Option<Response>, CoreError> {
    active.audit.disable(device).await?;
    Ok(None)
}

/// `sys/audit-hash/<path>`: what a device would log for `input`.
pub(crate) fn audit_hash(
    active: &Active,
    device: &str,
    req: &tresor_sdk::Request,
) -> Result<Option<Response>, CoreError> {
    let input = req.str_field("input")?.unwrap_or_default();
    if input.is_empty() {
        return Err(CoreError::invalid("the \"input\" parameter is empty"));
    }
    let hash = active.audit.hash(device, &input)?;
    let mut data = Map::new();
    data.insert("hash".into(), hash.into());
    Ok(Some(Response::data(data)))
}

/// A `key=value` pairs field (`options`), read by the framework's one decoder.
fn string_map(field: &str, v: Option<&Value>) -> Result<BTreeMap<String, String>, CoreError> {
    use tresor_sdk::framework::{decode, Decoded, Kind};
    match v {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(v) => match decode(field, Kind::KvPairs, v)? {
            Decoded::Map(m) => Ok(m
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()),
            _ => Ok(BTreeMap::new()),
        },
    }
}

fn duration(v: Option<&Value>, field: &str) -> Result<Option<u64>, CoreError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        // Vault's tune accepts "system" to mean "back to the default".
        Some(Value::String(s)) if s == "system" || s.is_empty() => Ok(Some(0)),
        Some(v) => ttl::parse_value(v)
            .map(Some)
            .map_err(|e| CoreError::invalid(format!("unable to parse {field}: {e}"))),
    }
}

fn parse_mount_config(config: Option<&Value>) -> Result<MountConfig, CoreError> {
    let config = match config {
        None | Some(Value::Null) => return Ok(MountConfig::default()),
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(CoreError::invalid(format!(
                "config must be an object, got {other}"
            )))
        }
    };
    Ok(MountConfig {
        default_lease_ttl: duration(config.get("default_lease_ttl"), "default lease TTL")?
            .unwrap_or(0),
        max_lease_ttl: duration(config.get("max_lease_ttl"), "max lease TTL")?.unwrap_or(0),
    })
}

/// The lease TTLs given when a mount is enabled, checked as Vault checks them: the default
/// within the given max, or within the system's when no max is given. A mount's max may exceed
/// the system's (it is an administrator's explicit choice, as in Vault).
fn check_ttls(core: &Core, c: &MountConfig) -> Result<(), CoreError> {
    if c.max_lease_ttl != 0 && c.default_lease_ttl > c.max_lease_ttl {
        return Err(CoreError::invalid(
            "given default lease TTL greater than given max lease TTL",
        ));
    }
    let system_max = core.config().max_lease_ttl;
    if c.max_lease_ttl == 0 && c.default_lease_ttl > system_max {
        return Err(CoreError::invalid(format!(
            "given default lease TTL greater than system max lease TTL of {system_max}"
        )));
    }
    Ok(())
}

/// The lease TTLs a tune leaves a mount with, checked as Vault's tune checks them.
fn check_tuned_ttls(c: &MountConfig) -> Result<(), CoreError> {
    if c.max_lease_ttl != 0 && c.default_lease_ttl > c.max_lease_ttl {
        return Err(CoreError::invalid(format!(
            "backend max lease TTL of {} would be less than backend default lease TTL of {}",
            c.max_lease_ttl, c.default_lease_ttl
        )));
    }
    Ok(())
}

async fn save_table(core: &Core, active: &Active) -> Result<(), CoreError> {
    let (auth, secrets): (Vec<MountEntry>, Vec<MountEntry>) = active
        .router
        .entries()
        .into_iter()
        .partition(MountEntry::is_auth);
    core.barrier()
        .batch(vec![
            (
                MOUNT_TABLE_PATH.to_owned(),
                Some(serde_json::to_vec(&secrets).map_err(CoreError::internal)?),
            ),
            (
                AUTH_TABLE_PATH.to_owned(),
                Some(serde_json::to_vec(&auth).map_err(CoreError::internal)?),
            ),
        ])
        .await
}

/// Which table a `sys/` route changes: `sys/mounts` mounts secrets engines, `sys/auth` (sudo)
/// auth methods, so that `sys/mounts/auth/…` cannot get around the sudo `sys/auth` needs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Secrets,
    Auth,
}

pub(crate) async fn enable(
    core: &Core,
    active: &Active,
    table: Table,
    path: &str,
    data: &Map,
) -> Result<Option<Response>, CoreError> {
    let path = normalize_mount_path(path)?;
    if table == Table::Secrets && crate::mounts::is_protected(&path) {
        return Err(CoreError::invalid(format!("cannot mount \"{path}\"")));
    }
    let mut kind = match data.get("type") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err(CoreError::invalid(
                "backend type must be specified as a string",
            ))
        }
    };
    let mut options = string_map("options", data.get("options"))?;
    // Vault's other names for kv: `kv-v2`, and `generic` (its name before 0.8).
    if kind == "kv-v2" {
        kind = "kv".into();
        options.insert("version".into(), "2".into());
    } else if kind == "generic" {
        kind = "kv".into();
    }
    let description = match data.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(CoreError::invalid(format!(
                "description must be a string, got {other}"
            )))
        }
    };
    let auth = path.starts_with("auth/");
    let class = core.registry().class(&kind);
    if class == Some(tresor_sdk::Class::Builtin) {
        return Err(CoreError::invalid(format!(
            "mount type of \"{kind}\" is not mountable"
        )));
    }
    if auth != (class == Some(tresor_sdk::Class::Auth)) {
        return Err(CoreError::invalid(if auth {
            format!("unknown auth method type: \"{kind}\"")
        } else {
            format!("plugin not found in the catalog: {kind}")
        }));
    }
    let config = parse_mount_config(data.get("config"))?;
    check_ttls(core, &config)?;
    let _guard = active.mount_lock.lock().await;
    if let Some(why) = active.router.conflict(&path) {
        return Err(CoreError::invalid(why));
    }
    let mut acc = [0u8; 4];
    crypto::fill_random(&mut acc)?;
    let entry = MountEntry {
        path: path.clone(),
        accessor: format!(
            "{}{}_{}",
            if auth { "auth_" } else { "" },
            kind.replace('-', "_"),
            tresor_sdk::ids::hex(&acc)
        ),
        kind,
        description,
        uuid: crate::crypto::uuid_v4(),
        options,
        config,
        local: matches!(data.get("local"), Some(Value::Bool(true))),
        seal_wrap: matches!(data.get("seal_wrap"), Some(Value::Bool(true))),
    };
    let mount = core.build_mount(entry)?;
    mount.backend.initialize(&mount.view).await?;
    active.router.insert(mount);
    if let Err(e) = save_table(core, active).await {
        active.router.remove(&path);
        return Err(e);
    }
    tracing::info!(path = %path, "core: successful mount");
    Ok(None)
}

pub(crate) async fn disable(
    core: &Core,
    active: &Active,
    table: Table,
    path: &str,
) -> Result<Option<Response>, CoreError> {
    let path = normalize_mount_path(path)?;
    let _guard = active.mount_lock.lock().await;
    if table == Table::Secrets
        && crate::mounts::is_protected(&path)
        && active.router.get(&path).is_some()
    {
        return Err(CoreError::invalid(format!("cannot unmount \"{path}\"")));
    }
    // Vault answers success for a path with nothing mounted.
    if let Some(mount) = active.router.get(&path) {
        use std::sync::atomic::Ordering;
        mount.closing.store(true, Ordering::Release);
        // What the mount handed out goes with it, through the backend while it is still
        // mounted: the tokens an auth method issued, the database users an engine made. As in
        // Vault, a secret that cannot be revoked stops the unmount (the error says why;
        // `sys/leases/revoke-force` gives up on it); tokens are always dropped.
        let force = path.starts_with("auth/");
        for id in active.expiration.ids_with_prefix(&path).await? {
            if let Some(lease) = active.expiration.get(&id).await? {
                if let Err(e) = active.expiration.revoke(lease, active, force).await {
                    mount.closing.store(false, Ordering::Release);
                    return Err(CoreError::Backend(tresor_sdk::Error::External(format!(
                        "failed to revoke \"{path}\" (leases remain): {e}"
                    ))));
                }
            }
        }
    }
    let Some(mount) = active.router.remove(&path) else {
        return Ok(None);
    };
    if let Err(e) = save_table(core, active).await {
        let entry = mount.entry.clone();
        active.router.insert(core.build_mount(entry)?);
        return Err(e);
    }
    mount.view.clear().await?;
    tracing::info!(path = %path, "core: successfully unmounted");
    Ok(None)
}

fn tune_answer(core: &Core, entry: &MountEntry) -> Response {
    let pick = |v: u64, d: u64| if v == 0 { d } else { v };
    let mut data = Map::new();
    data.insert("description".into(), entry.description.clone().into());
    data.insert(
        "default_lease_ttl".into(),
        pick(
            entry.config.default_lease_ttl,
            core.config().default_lease_ttl,
        )
        .into(),
    );
    data.insert(
        "max_lease_ttl".into(),
        pick(entry.config.max_lease_ttl, core.config().max_lease_ttl).into(),
    );
    data.insert("force_no_cache".into(), false.into());
    if !entry.options.is_empty() {
        data.insert("options".into(), json!(entry.options));
    }
    Response::data(data)
}

pub(crate) fn read_tune(
    core: &Core,
    active: &Active,
    path: &str,
) -> Result<Option<Response>, CoreError> {
    let path = normalize_mount_path(path)?;
    if path == "sys/" {
        let entry = MountEntry {
            path,
            kind: "system".into(),
            description: "system endpoints used for control, policy and debugging".into(),
            accessor: "system".into(),
            uuid: String::new(),
            options: BTreeMap::new(),
            config: MountConfig::default(),
            local: false,
            seal_wrap: true,
        };
        return Ok(Some(tune_answer(core, &entry)));
    }
    let mount = active
        .router
        .get(&path)
        .ok_or_else(|| CoreError::invalid(format!("cannot fetch sysview for path \"{path}\"")))?;
    Ok(Some(tune_answer(core, &mount.entry)))
}

pub(crate) async fn tune(
    core: &Core,
    active: &Active,
    path: &str,
    data: &Map,
) -> Result<Option<Response>, CoreError> {
    let path = normalize_mount_path(path)?;
    let _guard = active.mount_lock.lock().await;
    let mount = active.router.get(&path).ok_or_else(|| {
        CoreError::invalid(format!(
            "tune of path \"{path}\" failed: no mount entry found"
        ))
    })?;
    let mut entry = mount.entry.clone();
    if let Some(d) = duration(data.get("default_lease_ttl"), "default lease TTL")? {
        entry.config.default_lease_ttl = d;
    }
    if let Some(m) = duration(data.get("max_lease_ttl"), "max lease TTL")? {
        entry.config.max_lease_ttl = m;
    }
    check_tuned_ttls(&entry.config)?;
    match data.get("description") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => entry.description = s.clone(),
        Some(other) => {
            return Err(CoreError::invalid(format!(
                "description must be a string, got {other}"
            )))
        }
    }
    let new_options = string_map("options", data.get("options"))?;
    let mut rebuild = false;
    for (k, v) in new_options {
        if k == "version" {
            let old = entry
                .options
                .get("version")
                .map(String::as_str)
                .unwrap_or("1");
            if entry.kind == "kv" && old == "2" && v == "1" {
                return Err(CoreError::invalid("cannot downgrade mount from version 2"));
            }
            if entry.kind == "kv" && !matches!(v.as_str(), "1" | "2") {
                return Err(CoreError::invalid(format!("invalid version \"{v}\"")));
            }
            rebuild |= old != v;
        }
        entry.options.insert(k, v);
    }
    let previous = mount.entry.clone();
    let new_mount = core.build_mount(entry)?;
    if rebuild {
        // A version change rebuilds the backend; KV v2 upgrades v1 data in place on initialise.
        new_mount.backend.initialize(&new_mount.view).await?;
    }
    active.router.insert(new_mount);
    if let Err(e) = save_table(core, active).await {
        active.router.insert(core.build_mount(previous)?);
        return Err(e);
    }
    Ok(None)
}

pub(crate) async fn remount(
    core: &Core,
    active: &Active,
    data: &Map,
) -> Result<Option<Response>, CoreError> {
    let field = |name: &str| match data.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(CoreError::invalid(
            "both 'from' and 'to' path must be specified as a string",
        )),
    };
    let from = normalize_mount_path(&field("from")?)?;
    let to = normalize_mount_path(&field("to")?)?;
    // A mount keeps its table: an auth method's data and tokens live under `auth/`, a secrets
    // engine's elsewhere, and moving one across would cut it off from them.
    match (from.starts_with("auth/"), to.starts_with("auth/")) {
        (true, false) => {
            return Err(CoreError::invalid(format!(
                "cannot remount auth mount to non-auth mount \"{to}\""
            )))
        }
        (false, true) => {
            return Err(CoreError::invalid(format!(
                "cannot remount to destination {to}"
            )))
        }
        _ => {}
    }
    if from == "auth/token/" || (!from.starts_with("auth/") && crate::mounts::is_protected(&from)) {
        return Err(CoreError::invalid(format!("cannot remount \"{from}\"")));
    }
    let _guard = active.mount_lock.lock().await;
    let mount = active
        .router
        .get(&from)
        .ok_or_else(|| CoreError::invalid(format!("no matching mount at \"{from}\"")))?;
    active.router.remove(&from);
    if let Some(why) = active.router.conflict(&to) {
        active.router.insert(core.build_mount(mount.entry.clone())?);
        return Err(CoreError::invalid(why));
    }
    // The storage view is keyed by the mount's uuid, so moving the path moves no data.
    let mut entry = mount.entry.clone();
    entry.path = to.clone();
    active.router.insert(core.build_mount(entry)?);
    if let Err(e) = save_table(core, active).await {
        active.router.remove(&to);
        active.router.insert(core.build_mount(mount.entry.clone())?);
        return Err(e);
    }
    let id = crate::crypto::uuid_v4();
    if let Ok(mut m) = active.migrations.lock() {
        m.insert(id.clone(), (from, to));
    }
    let mut out = Map::new();
    out.insert("migration_id".into(), id.into());
    Ok(Some(Response::data(out).with_warning(
        "Mount move has been queued. Progress will be reported in Vault's server log, tagged with the returned migration_id",
    )))
}

pub(crate) fn remount_status(active: &Active, id: &str) -> Result<Option<Response>, CoreError> {
    let found = active
        .migrations
        .lock()
        .ok()
        .and_then(|m| m.get(id).cloned());
    // An unknown id reads as nothing (404), as in Vault.
    let Some((from, to)) = found else {
        return Ok(None);
    };
    let mut out = Map::new();
    out.insert("migration_id".into(), id.into());
    out.insert(
        "migration_info".into(),
        json!({"source_mount": from, "target_mount": to, "status": "success"}),
    );
    Ok(Some(Response::data(out)))
}
