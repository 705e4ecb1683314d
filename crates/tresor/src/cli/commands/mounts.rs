//! `vault secrets …` and `vault auth enable|disable|list|tune`: the two mount tables, which
//! Vault's CLI treats alike.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::cli::output::{self, Format};
use crate::cli::{Ctx, Failure, Outcome};

/// Which table: secrets engines under `sys/mounts`, auth methods under `sys/auth`.
#[derive(Clone, Copy, PartialEq)]
enum Table {
    Secrets,
    Auth,
}

impl Table {
    fn api(self) -> &'static str {
        match self {
            Table::Secrets => "sys/mounts",
            Table::Auth => "sys/auth",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Table::Secrets => "secrets engine",
            Table::Auth => "auth method",
        }
    }
}

fn mount_path(p: &str) -> String {
    format!("{}/", p.trim_matches('/'))
}

/// `-options=k=v` flags, and `-version=N` as the `version` option.
fn options(ctx: &Ctx) -> Result<Map<String, Value>, Failure> {
    let mut out = Map::new();
    for kv in ctx.flags.values("options") {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            Failure::Local(format!(
                "invalid value \"{kv}\" for flag -options: missing '='"
            ))
        })?;
        out.insert(k.to_owned(), v.into());
    }
    if let Some(v) = ctx.flags.value("version").filter(|v| *v != "0") {
        out.insert("version".into(), v.into());
    }
    Ok(out)
}

/// The tunable settings the flags name (shared by enable and tune).
fn config(ctx: &Ctx) -> Result<Map<String, Value>, Failure> {
    let mut c = Map::new();
    for (flag, key) in [
        ("default-lease-ttl", "default_lease_ttl"),
        ("max-lease-ttl", "max_lease_ttl"),
    ] {
        if let Some(v) = ctx.flags.value(flag) {
            tresor_sdk::ttl::parse(v).map_err(|e| {
                Failure::Local(format!("invalid value \"{v}\" for flag -{flag}: {e}"))
            })?;
            c.insert(key.into(), v.into());
        }
    }
    if ctx.flags.bool("force-no-cache") {
        c.insert("force_no_cache".into(), true.into());
    }
    for (flag, key) in [
        ("audit-non-hmac-request-keys", "audit_non_hmac_request_keys"),
        (
            "audit-non-hmac-response-keys",
            "audit_non_hmac_response_keys",
        ),
        ("passthrough-request-headers", "passthrough_request_headers"),
        ("allowed-response-headers", "allowed_response_headers"),
    ] {
        let vals = ctx.flags.values(flag);
        if !vals.is_empty() {
            c.insert(key.into(), json!(vals));
        }
    }
    if let Some(v) = ctx.flags.value("listing-visibility") {
        c.insert("listing_visibility".into(), v.into());
    }
    Ok(c)
}

async fn enable(ctx: &mut Ctx, table: Table) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let kind = ctx.args()[0].trim_matches('/').to_owned();
    let path = mount_path(ctx.flags.value("path").unwrap_or(&kind));
    let mut body = json!({ "type": kind });
    if let Some(d) = ctx.flags.value("description") {
        body["description"] = d.into();
    }
    let cfg = config(ctx)?;
    if !cfg.is_empty() {
        body["config"] = Value::Object(cfg);
    }
    let opts = options(ctx)?;
    if !opts.is_empty() {
        body["options"] = Value::Object(opts);
    }
    if ctx.flags.bool("local") {
        body["local"] = true.into();
    }
    if ctx.flags.bool("seal-wrap") {
        body["seal_wrap"] = true.into();
    }
    let what = match table {
        Table::Secrets => "Error enabling".to_owned(),
        Table::Auth => format!("Error enabling {kind} auth"),
    };
    ctx.client
        .request(
            "POST",
            &format!("{}/{}", table.api(), path.trim_end_matches('/')),
            &[],
            Some(&body),
        )
        .await
        .map_err(|e| Failure::Remote(format!("{what}: {e}")))?;
    match table {
        Table::Secrets => println!("Success! Enabled the {kind} secrets engine at: {path}"),
        Table::Auth => println!("Success! Enabled {kind} auth method at: {path}"),
    }
    Ok(0)
}

async fn disable(ctx: &mut Ctx, table: Table) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let path = mount_path(&ctx.args()[0]);
    ctx.client
        .delete(&format!("{}/{}", table.api(), path.trim_end_matches('/')))
        .await
        .map_err(|e| Failure::Remote(format!("Error disabling {} at {path}: {e}", table.noun())))?;
    println!(
        "Success! Disabled the {} (if it existed) at: {path}",
        table.noun()
    );
    Ok(0)
}

async fn tune(ctx: &mut Ctx, table: Table) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let path = mount_path(&ctx.args()[0]);
    let mut body = config(ctx)?;
    if let Some(d) = ctx.flags.value("description") {
        body.insert("description".into(), d.into());
    }
    let opts = options(ctx)?;
    if !opts.is_empty() {
        body.insert("options".into(), Value::Object(opts));
    }
    let api = match table {
        Table::Secrets => format!("sys/mounts/{path}tune"),
        Table::Auth => format!("sys/auth/{path}tune"),
    };
    ctx.client
        .request("POST", &api, &[], Some(&Value::Object(body)))
        .await
        .map_err(|e| Failure::Remote(format!("Error tuning {} {path}: {e}", table.noun())))?;
    println!("Success! Tuned the {} at: {path}", table.noun());
    Ok(0)
}

/// The fields of Vault's `MountOutput` struct in their declared order (Go marshals structs in
/// field order), anything else after them.
fn mount_output(m: &Value) -> Value {
    const FIELDS: &[&str] = &[
        "uuid",
        "type",
        "description",
        "accessor",
        "config",
        "options",
        "local",
        "seal_wrap",
        "external_entropy_access",
        "plugin_version",
        "running_plugin_version",
        "running_sha256",
        "deprecation_status",
    ];
    const CONFIG: &[&str] = &["default_lease_ttl", "max_lease_ttl", "force_no_cache"];
    let reorder = |v: &Value, first: &[&str]| -> Value {
        let Some(obj) = v.as_object() else {
            return v.clone();
        };
        let mut out: Map<String, Value> = first
            .iter()
            .filter_map(|k| obj.get(*k).map(|x| (k.to_string(), x.clone())))
            .collect();
        for (k, x) in obj {
            if !out.contains_key(k) {
                out.insert(k.clone(), x.clone());
            }
        }
        Value::Object(out)
    };
    // Go's struct has every field, empty or not.
    let mut filled = m.as_object().cloned().unwrap_or_default();
    for k in FIELDS {
        filled.entry(k.to_string()).or_insert(match *k {
            "local" | "seal_wrap" | "external_entropy_access" => Value::Bool(false),
            "options" | "config" => Value::Null,
            _ => Value::String(String::new()),
        });
    }
    let mut out = reorder(&Value::Object(filled), FIELDS);
    if let Some(cfg) = out.get("config").map(|c| reorder(c, CONFIG)) {
        out["config"] = cfg;
    }
    out
}

/// Shows a TTL of a mount's config: `system` when it follows the system default, nothing for
/// the built-in mounts that have no leases.
fn ttl_cell(mount: &Value, v: Option<&Value>) -> String {
    if matches!(
        mount.get("type").and_then(Value::as_str),
        Some("system" | "cubbyhole")
    ) {
        return String::new();
    }
    match v.and_then(Value::as_u64) {
        None | Some(0) => "system".into(),
        Some(s) => output::human_duration(s),
    }
}

async fn list(ctx: &mut Ctx, table: Table) -> Outcome {
    ctx.expect_args(0, Some(0))?;
    let resp = ctx
        .client
        .request_strict("GET", table.api(), &[])
        .await
        .map_err(|e| Failure::Remote(format!("Error listing {}s: {e}", table.noun())))?
        .unwrap_or(Value::Null);
    let mounts = resp
        .get("data")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if ctx.format != Format::Table {
        let ordered: Map<String, Value> = output::sorted(&Value::Object(mounts))
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), mount_output(v)))
            .collect();
        output::print_structured(ctx.format, &Value::Object(ordered));
        return Ok(0);
    }
    let mut paths: Vec<&String> = mounts.keys().collect();
    paths.sort();
    let s = |m: &Value, k: &str| m.get(k).map(output::go_value).unwrap_or_default();
    let detailed = ctx.flags.bool("detailed");
    let rows: Vec<Vec<String>> = paths
        .iter()
        .map(|p| {
            let m = &mounts[p.as_str()];
            let cfg = m.get("config").cloned().unwrap_or(Value::Null);
            if !detailed {
                let mut row = vec![
                    p.to_string(),
                    s(m, "type"),
                    s(m, "accessor"),
                    s(m, "description"),
                ];
                if table == Table::Auth {
                    row.push(s(m, "plugin_version"));
                }
                return row;
            }
            let replication = if m.get("local").and_then(Value::as_bool) == Some(true) {
                "local"
            } else {
                "replicated"
            };
            let options = m
                .get("options")
                .cloned()
                .filter(|o| !o.is_null())
                .unwrap_or(json!({}));
            let mut row = vec![
                p.to_string(),
                s(m, "type"),
                s(m, "accessor"),
                ttl_cell(m, cfg.get("default_lease_ttl")),
                ttl_cell(m, cfg.get("max_lease_ttl")),
            ];
            if table == Table::Secrets {
                row.push(
                    cfg.get("force_no_cache")
                        .map(output::go_value)
                        .unwrap_or("false".into()),
                );
            } else {
                row.push(s(&cfg, "token_type"));
            }
            row.extend([
                replication.to_owned(),
                s(m, "seal_wrap"),
                s(m, "external_entropy_access"),
                output::go_value(&options),
                s(m, "description"),
                s(m, "uuid"),
                s(m, "plugin_version"),
                s(m, "running_plugin_version"),
                s(m, "running_sha256"),
                s(m, "deprecation_status"),
            ]);
            row
        })
        .collect();
    let header: Vec<&str> = match (table, detailed) {
        (Table::Secrets, false) => vec!["Path", "Type", "Accessor", "Description"],
        (Table::Auth, false) => vec!["Path", "Type", "Accessor", "Description", "Version"],
        (t, true) => vec![
            "Path",
            "Plugin",
            "Accessor",
            "Default TTL",
            "Max TTL",
            if t == Table::Secrets {
                "Force No Cache"
            } else {
                "Token Type"
            },
            "Replication",
            "Seal Wrap",
            "External Entropy Access",
            "Options",
            "Description",
            "UUID",
            "Version",
            "Running Version",
            "Running SHA256",
            "Deprecation Status",
        ],
    };
    print!("{}", output::table(&header, rows));
    Ok(0)
}

pub async fn secrets_enable(ctx: &mut Ctx) -> Outcome {
    enable(ctx, Table::Secrets).await
}
pub async fn secrets_disable(ctx: &mut Ctx) -> Outcome {
    disable(ctx, Table::Secrets).await
}
pub async fn secrets_list(ctx: &mut Ctx) -> Outcome {
    list(ctx, Table::Secrets).await
}
pub async fn secrets_tune(ctx: &mut Ctx) -> Outcome {
    tune(ctx, Table::Secrets).await
}
pub async fn auth_enable(ctx: &mut Ctx) -> Outcome {
    enable(ctx, Table::Auth).await
}
pub async fn auth_disable(ctx: &mut Ctx) -> Outcome {
    disable(ctx, Table::Auth).await
}
pub async fn auth_list(ctx: &mut Ctx) -> Outcome {
    list(ctx, Table::Auth).await
}
pub async fn auth_tune(ctx: &mut Ctx) -> Outcome {
    tune(ctx, Table::Auth).await
}

/// `secrets move SRC DST`: starts the remount and waits until the server reports it finished.
pub async fn secrets_move(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(2, Some(2))?;
    let from = mount_path(&ctx.args()[0]);
    let to = mount_path(&ctx.args()[1]);
    let resp = ctx
        .client
        .put("sys/remount", &json!({ "from": from, "to": to }))
        .await
        .map_err(|e| Failure::Remote(format!("Error moving secrets engine {from} to {to}: {e}")))?
        .unwrap_or(Value::Null);
    let id = resp
        .pointer("/data/migration_id")
        .or_else(|| resp.get("migration_id"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    println!("Started moving secrets engine {from} to {to}, with migration ID {id}");
    for _ in 0..600 {
        let status = ctx
            .client
            .get(&format!("sys/remount/status/{id}"))
            .await
            .map_err(|e| {
                Failure::Remote(format!(
                    "Error checking migration status of secrets engine {from} to {to}: {e}"
                ))
            })?
            .unwrap_or(Value::Null);
        let state = status
            .pointer("/data/migration_info/status")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match state {
            "success" => {
                println!("Success! Finished moving secrets engine {from} to {to}, with migration ID {id}");
                return Ok(0);
            }
            "failure" => {
                eprintln!("Failure! Error encountered moving secrets engine {from} to {to}, with migration ID {id}");
                return Ok(0);
            }
            _ => {
                println!("Waiting for terminal status in migration of secrets engine {from} to {to}, with migration ID {id}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    Err(Failure::Remote(format!(
        "Timed out waiting for the move of {from} to {to} (migration ID {id})"
    )))
}
