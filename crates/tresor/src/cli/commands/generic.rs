//! The generic verbs: `read`, `write`, `delete`, `list`, `patch`, `path-help`, `status`,
//! `version`.

use serde_json::Value;

use crate::cli::args::{parse_data, Stdin};
use crate::cli::output::{self, Format};
use crate::cli::{Ctx, Failure, Outcome};

/// Vault's `sanitizePath`: no surrounding whitespace or slashes.
fn sanitize(path: &str) -> String {
    path.trim().trim_matches('/').to_owned()
}

/// Extra `key=value` arguments of a read or delete travel as query parameters.
fn query_of(data: serde_json::Map<String, Value>) -> Vec<(String, String)> {
    data.into_iter()
        .flat_map(|(k, v)| match v {
            Value::Array(items) => items
                .into_iter()
                .map(|i| (k.clone(), i.as_str().unwrap_or_default().to_owned()))
                .collect::<Vec<_>>(),
            other => vec![(k, other.as_str().unwrap_or_default().to_owned())],
        })
        .collect()
}

/// Prints a write's answer: nothing to show is "Success!", otherwise the field or the secret.
pub fn print_written(ctx: &Ctx, path: &str, resp: Option<Value>) -> Outcome {
    match resp {
        None => {
            if ctx.format == Format::Table {
                println!("Success! Data written to: {path}");
            }
            Ok(0)
        }
        Some(r) => match &ctx.field {
            Some(f) => output::print_field(ctx.format, &r, f),
            None => {
                output::output_secret(ctx.format, &r);
                Ok(0)
            }
        },
    }
}

pub async fn read(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, None)?;
    let path = sanitize(&ctx.args()[0]);
    let query = query_of(parse_data(&ctx.args()[1..], &mut Stdin::default())?);
    let resp = ctx
        .client
        .request("GET", &path, &query, None)
        .await
        .map_err(|e| Failure::Remote(format!("Error reading {path}: {e}")))?;
    let Some(resp) = resp else {
        return Err(Failure::Remote(format!("No value found at {path}")));
    };
    if let Some(f) = &ctx.field {
        return output::print_field(ctx.format, &resp, f);
    }
    output::output_secret(ctx.format, &resp);
    Ok(0)
}

/// `write` (PUT) and `patch` (PATCH): data from the arguments, `-force` to send none.
async fn send_data(ctx: &mut Ctx, method: &str) -> Outcome {
    ctx.expect_args(1, None)?;
    let path = sanitize(&ctx.args()[0]);
    let data = parse_data(&ctx.args()[1..], &mut Stdin::default())?;
    if data.is_empty() && !ctx.flags.bool("force") && !ctx.flags.bool("f") {
        return Err(Failure::Local("Must supply data or use -force".into()));
    }
    let resp = write_data(ctx, method, &path, &Value::Object(data)).await?;
    print_written(ctx, &path, resp)
}

/// Sends data to `path`; a failure reads "Error writing data to PATH: …", as in Vault.
pub async fn write_data(
    ctx: &Ctx,
    method: &str,
    path: &str,
    body: &Value,
) -> Result<Option<Value>, Failure> {
    ctx.client
        .request(method, path, &[], Some(body))
        .await
        .map_err(|e| Failure::Remote(format!("Error writing data to {path}: {e}")))
}

pub async fn write(ctx: &mut Ctx) -> Outcome {
    send_data(ctx, "PUT").await
}

pub async fn patch(ctx: &mut Ctx) -> Outcome {
    send_data(ctx, "PATCH").await
}

pub async fn delete(ctx: &mut Ctx) -> Outcome {
    if ctx.args().is_empty() {
        return Err(Failure::Local(
            "Not enough arguments (expected at least 1, got 0)".into(),
        ));
    }
    let path = sanitize(&ctx.args()[0]);
    let query = query_of(parse_data(&ctx.args()[1..], &mut Stdin::default())?);
    ctx.client
        .request("DELETE", &path, &query, None)
        .await
        .map_err(|e| Failure::Remote(format!("Error deleting {path}: {e}")))?;
    if ctx.format == Format::Table {
        println!("Success! Data deleted (if it existed) at: {path}");
    }
    Ok(0)
}

/// Prints a list answer, or Vault's words for an empty one.
pub fn print_list(ctx: &Ctx, path: &str, resp: Option<Value>) -> Outcome {
    let has_keys = resp
        .as_ref()
        .and_then(|r| r.get("data"))
        .and_then(|d| d.get("keys"))
        .is_some_and(Value::is_array);
    if ctx.format != Format::Table && !has_keys {
        output::print_structured(ctx.format, &serde_json::json!({}));
        return Ok(2);
    }
    let warnings = resp
        .as_ref()
        .and_then(|r| r.get("warnings"))
        .and_then(Value::as_array)
        .is_some_and(|w| !w.is_empty());
    let Some(resp) = resp.filter(|r| r.get("data").is_some_and(|d| !d.is_null()) || warnings)
    else {
        return Err(Failure::Remote(format!("No value found at {path}")));
    };
    if !has_keys && warnings {
        // Only warnings (e.g. a list of a KV v2 mount's root): shown, and not an error.
        output::output_list(ctx.format, &resp);
        return Ok(0);
    }
    if !has_keys {
        return Err(Failure::Remote(format!("No entries found at {path}")));
    }
    output::output_list(ctx.format, &resp);
    Ok(0)
}

pub async fn list(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let path = sanitize(&ctx.args()[0]);
    let resp = ctx
        .client
        .list(&path)
        .await
        .map_err(|e| Failure::Remote(format!("Error listing {path}: {e}")))?;
    print_list(ctx, &path, resp)
}

pub async fn path_help(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let path = sanitize(&ctx.args()[0]).trim_end_matches('/').to_owned();
    let resp = ctx
        .client
        .request_strict("GET", &path, &[("help".into(), "1".into())])
        .await
        .map_err(|e| Failure::Remote(format!("Error retrieving help: {e}")))?
        .unwrap_or(Value::Null);
    if ctx.format == Format::Table {
        println!(
            "{}",
            resp.get("help").and_then(Value::as_str).unwrap_or_default()
        );
    } else {
        output::print_structured(ctx.format, &output::sorted(&resp));
    }
    Ok(0)
}

pub async fn status(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(0, Some(0))?;
    let seal = ctx
        .client
        .get("sys/seal-status")
        .await
        .map_err(|e| Failure::Local(format!("Error checking seal status: {e}")))?
        .unwrap_or(Value::Null);
    let sealed = seal.get("sealed").and_then(Value::as_bool).unwrap_or(true);
    print_seal_status(ctx, &seal).await;
    Ok(if sealed { 2 } else { 0 })
}

/// Prints a seal status (`status`, and `operator unseal`'s answer) with the HA flag from
/// `sys/leader`.
pub async fn print_seal_status(ctx: &Ctx, seal: &Value) {
    let leader = ctx.client.get("sys/leader").await.ok().flatten();
    let ha = leader
        .as_ref()
        .and_then(|l| l.get("ha_enabled"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let leader = leader.unwrap_or(Value::Null);
    if ctx.format != Format::Table {
        let mut out = seal.as_object().cloned().unwrap_or_default();
        out.insert("ha_enabled".into(), ha.into());
        if ha && out.get("sealed") == Some(&Value::Bool(false)) {
            for k in [
                "is_self",
                "active_time",
                "leader_address",
                "leader_cluster_address",
                "raft_committed_index",
                "raft_applied_index",
            ] {
                if let Some(v) = leader.get(k) {
                    out.insert(k.into(), v.clone());
                }
            }
        }
        output::print_structured(ctx.format, &Value::Object(out));
    } else {
        print!(
            "{}",
            output::table(&["Key", "Value"], status_rows(seal, ha, &leader))
        );
    }
}

/// The rows of `vault status`, shared with `operator unseal`; an unsealed node of a cluster
/// adds its role and the active node as Vault prints them.
pub fn status_rows(seal: &Value, ha: bool, leader: &Value) -> Vec<Vec<String>> {
    let s = |k: &str| seal.get(k).map(output::go_value).unwrap_or_default();
    let sealed = seal.get("sealed").and_then(Value::as_bool).unwrap_or(true);
    let mut rows = vec![
        vec!["Seal Type".into(), s("type")],
        vec!["Initialized".into(), s("initialized")],
        vec!["Sealed".into(), s("sealed")],
        vec!["Total Shares".into(), s("n")],
        vec!["Threshold".into(), s("t")],
    ];
    if sealed {
        rows.push(vec![
            "Unseal Progress".into(),
            format!("{}/{}", s("progress"), s("t")),
        ]);
        rows.push(vec!["Unseal Nonce".into(), s("nonce")]);
    }
    rows.push(vec!["Version".into(), s("version")]);
    rows.push(vec!["Build Date".into(), s("build_date")]);
    rows.push(vec!["Storage Type".into(), s("storage_type")]);
    let name = s("cluster_name");
    let id = s("cluster_id");
    if !name.is_empty() && !id.is_empty() {
        rows.push(vec!["Cluster Name".into(), name]);
        rows.push(vec!["Cluster ID".into(), id]);
    }
    rows.push(vec!["HA Enabled".into(), ha.to_string()]);
    if ha && !sealed {
        let l = |k: &str| leader.get(k).map(output::go_value).unwrap_or_default();
        let is_self = leader
            .get("is_self")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        rows.push(vec!["HA Cluster".into(), l("leader_cluster_address")]);
        rows.push(vec![
            "HA Mode".into(),
            if is_self { "active" } else { "standby" }.into(),
        ]);
        if is_self {
            rows.push(vec!["Active Since".into(), l("active_time")]);
        } else {
            rows.push(vec!["Active Node Address".into(), l("leader_address")]);
        }
        if leader
            .get("raft_committed_index")
            .and_then(Value::as_u64)
            .is_some_and(|i| i > 0)
        {
            rows.push(vec![
                "Raft Committed Index".into(),
                l("raft_committed_index"),
            ]);
            rows.push(vec!["Raft Applied Index".into(), l("raft_applied_index")]);
        }
    }
    rows
}

/// `version`. Called through a link named `vault`, the line is Vault's (`Vault v<version>`),
/// because scripts and test suites (hvac's) read the version from its second word and gate
/// features on it; the version is the Vault API version Tresor serves.
pub async fn version(_ctx: &mut Ctx) -> Outcome {
    let called_as_vault = std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|p| p.file_stem().map(|s| s == "vault"))
        .unwrap_or(false);
    if called_as_vault {
        println!("Vault v{}", tresor_core::VAULT_VERSION);
    } else {
        println!(
            "Tresor v{} (Vault API {})",
            env!("CARGO_PKG_VERSION"),
            tresor_core::VAULT_VERSION
        );
    }
    Ok(0)
}

/// `vault unwrap [TOKEN]`: the wrapped answer, with the given wrapping token or, without one,
/// with the client's own token as the wrapping token.
pub async fn unwrap(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(0, Some(1))?;
    let body = match ctx.args().first() {
        Some(t) => serde_json::json!({ "token": t }),
        None => serde_json::json!({}),
    };
    let resp = ctx
        .client
        .put("sys/wrapping/unwrap", &body)
        .await
        .map_err(|e| Failure::Remote(format!("Error unwrapping: {e}")))?;
    let has_content = resp.as_ref().is_some_and(|r| {
        ["data", "auth"]
            .iter()
            .any(|k| r.get(*k).is_some_and(|v| !v.is_null()))
    });
    let Some(resp) = resp.filter(|_| has_content) else {
        println!("Successfully unwrapped. There was no data in the wrapped secret.");
        return Ok(0);
    };
    if let Some(f) = &ctx.field {
        return output::print_field(ctx.format, &resp, f);
    }
    output::output_secret(ctx.format, &resp);
    Ok(0)
}
