//! `vault kv …`: the KV commands, which learn each mount's version from the server
//! (`sys/internal/ui/mounts/<path>`) so that `kv get secret/foo` works on v1 and v2 alike.

use serde_json::{json, Map, Value};

use super::generic::{print_list, print_written, write_data};
use crate::cli::args::{parse_data, Stdin};
use crate::cli::output::{self, Format};
use crate::cli::{Ctx, Failure, Outcome};

/// Where a KV path lives: the mount's path (`secret/`) and whether it is version 2.
struct KvMount {
    mount: String,
    v2: bool,
}

/// The preflight: ask the server which mount serves `path` and its KV version. An old server
/// without the endpoint (404) means version 1, as in Vault.
async fn preflight(ctx: &Ctx, path: &str) -> Result<KvMount, Failure> {
    match ctx
        .client
        .get_unwrapped(&format!("sys/internal/ui/mounts/{path}"))
        .await
    {
        Ok(Some(resp)) => {
            let data = resp.get("data").cloned().unwrap_or(Value::Null);
            let mount = data
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let v2 = data
                .get("options")
                .and_then(|o| o.get("version"))
                .and_then(Value::as_str)
                == Some("2");
            Ok(KvMount { mount, v2 })
        }
        Ok(None) => Ok(KvMount {
            mount: String::new(),
            v2: false,
        }),
        Err(e) if e.code() == Some(404) => Ok(KvMount {
            mount: String::new(),
            v2: false,
        }),
        Err(e) => Err(Failure::Remote(e.to_string())),
    }
}

/// `path.Join` for our purposes: segments joined by one slash, no trailing slash.
fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .flat_map(|p| p.split('/'))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// `secret/foo` + `data` → `secret/data/foo` (Vault's `addPrefixToKVPath`).
fn with_prefix(path: &str, mount: &str, prefix: &str) -> String {
    let trimmed = mount.trim_end_matches('/');
    if path == mount || path == trimmed {
        return join(&[mount, prefix]);
    }
    let suffix = path.strip_prefix(trimmed).unwrap_or(path);
    join(&[trimmed, prefix, suffix])
}

/// The user's path, and the mount that serves it: `-mount=secret foo` or `secret/foo`.
async fn resolve(ctx: &Ctx) -> Result<(String, KvMount), Failure> {
    let arg = ctx.args()[0].trim_start_matches('/').to_owned();
    match ctx.flags.value("mount").filter(|m| !m.is_empty()) {
        Some(mount) => {
            let mount = format!("{}/", mount.trim_matches('/'));
            let kv = preflight(ctx, &mount).await?;
            let path = join(&[&kv.mount, &arg]);
            Ok((if kv.v2 { path } else { join(&[&mount, &arg]) }, kv))
        }
        None => {
            let kv = preflight(ctx, &arg).await?;
            Ok((arg, kv))
        }
    }
}

fn versions_flag(ctx: &Ctx) -> Vec<Value> {
    ctx.flags
        .values("versions")
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| Value::String(v.to_owned()))
        .collect()
}

fn cas_flag(ctx: &Ctx) -> Result<Option<i64>, Failure> {
    match ctx.flags.value("cas") {
        None => Ok(None),
        Some(v) => {
            let n: i64 = v.parse().map_err(|_| {
                Failure::Local(format!("invalid value \"{v}\" for flag -cas: parse error"))
            })?;
            Ok((n >= 0).then_some(n))
        }
    }
}

/// Prints `kv put`/`kv patch`'s answer on a v2 mount: the path, then the new version's metadata.
fn print_v2_write(ctx: &Ctx, full: &str, resp: Option<Value>) -> Outcome {
    let Some(resp) = resp else {
        return print_written(ctx, full, None);
    };
    if let Some(f) = &ctx.field {
        return output::print_field(ctx.format, &resp, f);
    }
    if ctx.format != Format::Table {
        output::output_secret(ctx.format, &resp);
        return Ok(0);
    }
    output_path(full, "Secret Path");
    let meta = resp
        .get("data")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    println!("{}", output::header_for_map("Metadata", &meta));
    output::output_data(ctx.format, &meta);
    Ok(0)
}

fn output_path(path: &str, title: &str) {
    println!("{}", output::pad_equal_signs(title, path.len()));
    println!("{path}\n");
}

/// The data arguments of `kv put` and `kv patch`, after the path (Vault's wording, ">1" and all).
fn data_args(ctx: &Ctx) -> Result<Map<String, Value>, Failure> {
    match ctx.args().len() {
        0 => Err(Failure::Local(
            "Not enough arguments (expected >1, got 0)".into(),
        )),
        1 => Err(Failure::Local("Must supply data".into())),
        _ => parse_data(&ctx.args()[1..], &mut Stdin::default()),
    }
}

pub async fn put(ctx: &mut Ctx) -> Outcome {
    let data = data_args(ctx)?;
    let (path, kv) = resolve(ctx).await?;
    if kv.v2 {
        let full = with_prefix(&path, &kv.mount, "data");
        let mut body = json!({ "data": data });
        if let Some(cas) = cas_flag(ctx)? {
            body["options"] = json!({ "cas": cas });
        }
        let resp = write_data(ctx, "PUT", &full, &body).await?;
        print_v2_write(ctx, &full, resp)
    } else {
        let resp = write_data(ctx, "PUT", &path, &Value::Object(data)).await?;
        print_written(ctx, &path, resp)
    }
}

pub async fn get(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let (path, kv) = resolve(ctx).await?;
    let (full, query) = if kv.v2 {
        let q = match ctx.flags.value("version") {
            Some(v) if v.parse::<u64>().is_ok_and(|n| n > 0) => {
                vec![("version".to_owned(), v.to_owned())]
            }
            _ => vec![],
        };
        (with_prefix(&path, &kv.mount, "data"), q)
    } else {
        (path, vec![])
    };
    let resp = ctx
        .client
        .request("GET", &full, &query, None)
        .await
        .map_err(|e| Failure::Remote(format!("Error reading {full}: {e}")))?;
    let Some(resp) = resp else {
        return Err(Failure::Remote(format!("No value found at {full}")));
    };
    if let Some(field) = &ctx.field {
        if kv.v2 {
            let data = resp.get("data").and_then(|d| d.get("data"));
            let Some(data) = data.filter(|d| !d.is_null()) else {
                return Err(Failure::Remote(format!("No data found at {full}")));
            };
            return output::print_map_field(ctx.format, data, field);
        }
        return output::print_field(ctx.format, &resp, field);
    }
    if resp.get("wrap_info").is_some_and(|w| !w.is_null()) || ctx.format != Format::Table {
        output::output_secret(ctx.format, &resp);
        return Ok(0);
    }
    let empty = Map::new();
    let body = resp
        .get("data")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if kv.v2 {
        output_path(&full, "Secret Path");
    }
    if let Some(meta) = body.get("metadata").and_then(Value::as_object) {
        println!("{}", output::header_for_map("Metadata", meta));
        output::output_data(ctx.format, meta);
        println!();
    }
    let data = if kv.v2 {
        body.get("data").and_then(Value::as_object)
    } else {
        Some(body)
    };
    if let Some(data) = data {
        println!("{}", output::header_for_map("Data", data));
        output::output_data(ctx.format, data);
    }
    Ok(0)
}

pub async fn list(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let (path, kv) = resolve(ctx).await?;
    let full = if kv.v2 {
        with_prefix(&path, &kv.mount, "metadata")
    } else {
        path
    };
    let resp = ctx
        .client
        .list(&full)
        .await
        .map_err(|e| Failure::Remote(format!("Error listing {full}: {e}")))?;
    print_list(ctx, &full, resp)
}

pub async fn delete(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let (path, kv) = resolve(ctx).await?;
    let versions = versions_flag(ctx);
    let (full, result) = if kv.v2 {
        let full = with_prefix(&path, &kv.mount, "data");
        let r = if versions.is_empty() {
            ctx.client.delete(&full).await
        } else {
            let p = with_prefix(&path, &kv.mount, "delete");
            ctx.client.put(&p, &json!({ "versions": versions })).await
        };
        (full, r)
    } else {
        let r = ctx.client.delete(&path).await;
        (path, r)
    };
    result.map_err(|e| Failure::Remote(format!("Error deleting {full}: {e}")))?;
    println!("Success! Data deleted (if it existed) at: {full}");
    Ok(0)
}

/// `kv undelete` and `kv destroy`: a version list sent to `undelete/` or `destroy/`.
async fn change_versions(ctx: &mut Ctx, verb: &str, what: &str) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let versions = versions_flag(ctx);
    if versions.is_empty() {
        return Err(Failure::Local(format!(
            "No versions provided, use the \"-versions\" flag to specify the version to {verb}."
        )));
    }
    let (path, kv) = resolve(ctx).await?;
    if !kv.v2 {
        return Err(Failure::Local(format!(
            "{what} not supported on KV Version 1"
        )));
    }
    let full = with_prefix(&path, &kv.mount, verb);
    let resp = write_data(ctx, "PUT", &full, &json!({ "versions": versions })).await?;
    print_written(ctx, &full, resp)
}

pub async fn undelete(ctx: &mut Ctx) -> Outcome {
    change_versions(ctx, "undelete", "Undelete").await
}

pub async fn destroy(ctx: &mut Ctx) -> Outcome {
    change_versions(ctx, "destroy", "Destroy").await
}

/// Reads the metadata of a v2 secret: `(current_version, versions)`.
async fn current_metadata(
    ctx: &Ctx,
    meta_path: &str,
) -> Result<(u64, Map<String, Value>), Failure> {
    let resp = ctx
        .client
        .get(meta_path)
        .await
        .map_err(|e| Failure::Remote(format!("Error accessing {meta_path}: {e}")))?
        .ok_or_else(|| Failure::Remote(format!("No value found at {meta_path}")))?;
    let data = resp.get("data").cloned().unwrap_or(Value::Null);
    let current = data
        .get("current_version")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let versions = data
        .get("versions")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    Ok((current, versions))
}

pub async fn rollback(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let target: u64 = match ctx.flags.value("version").map(str::parse::<u64>) {
        Some(Ok(v)) if v > 0 => v,
        _ => return Err(Failure::Local("Must specify a version to rollback".into())),
    };
    let (path, kv) = resolve(ctx).await?;
    if !kv.v2 {
        return Err(Failure::Remote(
            "K/V engine mount must be version 2 for rollback support".into(),
        ));
    }
    let meta_path = with_prefix(&path, &kv.mount, "metadata");
    let data_path = with_prefix(&path, &kv.mount, "data");
    let (current, versions) = current_metadata(ctx, &meta_path).await?;
    let Some(meta) = versions.get(&target.to_string()) else {
        return Err(Failure::Local(format!(
            "Error reading {data_path}: version {target} not found or is greater than the current version"
        )));
    };
    if meta.get("destroyed").and_then(Value::as_bool) == Some(true) {
        return Err(Failure::Local(
            "Cannot roll back to a version that has been destroyed".into(),
        ));
    }
    if meta
        .get("deletion_time")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty())
    {
        return Err(Failure::Local(
            "Cannot roll back to a version that has been deleted".into(),
        ));
    }
    let old = ctx
        .client
        .request(
            "GET",
            &data_path,
            &[("version".into(), target.to_string())],
            None,
        )
        .await
        .map_err(|e| Failure::Remote(format!("Error reading {data_path}: {e}")))?
        .and_then(|r| r.get("data").and_then(|d| d.get("data")).cloned())
        .ok_or_else(|| Failure::Remote(format!("No value found at {data_path}")))?;
    let resp = write_data(
        ctx,
        "PUT",
        &data_path,
        &json!({ "data": old, "options": { "cas": current } }),
    )
    .await?;
    print_written(ctx, &data_path, resp)
}

pub async fn patch(ctx: &mut Ctx) -> Outcome {
    let data = data_args(ctx)?;
    let (path, kv) = resolve(ctx).await?;
    if !kv.v2 {
        return Err(Failure::Remote(
            "K/V engine mount must be version 2 for patch support".into(),
        ));
    }
    let full = with_prefix(&path, &kv.mount, "data");
    let cas = cas_flag(ctx)?;
    let method = ctx.flags.value("method").unwrap_or("patch").to_owned();
    let resp = match method.as_str() {
        "" | "patch" => {
            let mut body = json!({ "data": data });
            if let Some(cas) = cas {
                body["options"] = json!({ "cas": cas });
            }
            write_data(ctx, "PATCH", &full, &body).await?
        }
        "rw" => {
            let current = ctx
                .client
                .get(&full)
                .await
                .map_err(|e| Failure::Remote(format!("Error doing pre-read at {full}: {e}")))?
                .ok_or_else(|| Failure::Remote(format!("No value found at {full}")))?;
            let version = current
                .pointer("/data/metadata/version")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let mut merged = current
                .pointer("/data/data")
                .and_then(Value::as_object)
                .cloned()
                .ok_or_else(|| Failure::Remote(format!("No data found at {full}")))?;
            merged.extend(data);
            let body =
                json!({ "data": merged, "options": { "cas": cas.unwrap_or(version as i64) } });
            write_data(ctx, "PUT", &full, &body).await?
        }
        other => {
            return Err(Failure::Local(format!(
                "Incorrect method provided: {other}, expected \"patch\" or \"rw\""
            )))
        }
    };
    print_v2_write(ctx, &full, resp)
}

/// The `metadata/` path of the secret named by the argument; metadata exists only on KV v2.
async fn metadata_path(ctx: &Ctx) -> Result<String, Failure> {
    let (path, kv) = resolve(ctx).await?;
    if !kv.v2 {
        return Err(Failure::Local(
            "Metadata not supported on KV Version 1".into(),
        ));
    }
    Ok(with_prefix(&path, &kv.mount, "metadata"))
}

pub async fn metadata_get(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let full = metadata_path(ctx).await?;
    let resp = ctx
        .client
        .get(&full)
        .await
        .map_err(|e| Failure::Remote(format!("Error reading {full}: {e}")))?
        .ok_or_else(|| Failure::Remote(format!("No value found at {full}")))?;
    if let Some(f) = &ctx.field {
        return output::print_field(ctx.format, &resp, f);
    }
    if ctx.format != Format::Table {
        output::output_secret(ctx.format, &resp);
        return Ok(0);
    }
    let mut meta = resp
        .get("data")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let versions = meta.remove("versions");
    output_path(&full, "Metadata Path");
    println!("{}", output::header_for_map("Metadata", &meta));
    output::output_data(ctx.format, &meta);
    if let Some(Value::Object(versions)) = versions {
        let mut numbers: Vec<(u64, &Value)> = versions
            .iter()
            .filter_map(|(k, v)| k.parse().ok().map(|n| (n, v)))
            .collect();
        numbers.sort_by_key(|(n, _)| *n);
        for (n, v) in numbers {
            let map = v.as_object().cloned().unwrap_or_default();
            println!(
                "\n{}",
                output::header_for_map(&format!("Version {n}"), &map)
            );
            output::output_data(ctx.format, &map);
        }
    }
    Ok(0)
}

/// The body of `kv metadata put|patch` from its flags; only flags given are sent.
fn metadata_body(ctx: &Ctx) -> Result<Map<String, Value>, Failure> {
    let mut body = Map::new();
    if let Some(v) = ctx.flags.value("max-versions") {
        let n: i64 = v.parse().map_err(|_| {
            Failure::Local(format!(
                "invalid value \"{v}\" for flag -max-versions: parse error"
            ))
        })?;
        if n >= 0 {
            body.insert("max_versions".into(), n.into());
        }
    }
    if ctx.flags.value("cas-required").is_some() {
        body.insert("cas_required".into(), ctx.flags.bool("cas-required").into());
    }
    if let Some(v) = ctx.flags.value("delete-version-after") {
        let secs = tresor_sdk::ttl::parse(v).map_err(|e| {
            Failure::Local(format!(
                "invalid value \"{v}\" for flag -delete-version-after: {e}"
            ))
        })?;
        body.insert(
            "delete_version_after".into(),
            tresor_sdk::ttl::format_go(secs).into(),
        );
    }
    let mut custom = Map::new();
    for kv in ctx.flags.values("custom-metadata") {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            Failure::Local(format!(
                "invalid value \"{kv}\" for flag -custom-metadata: missing '=' in key=value pair"
            ))
        })?;
        custom.insert(k.to_owned(), Value::String(v.to_owned()));
    }
    for k in ctx.flags.values("remove-custom-metadata") {
        custom.insert(k.clone(), Value::Null);
    }
    if !custom.is_empty() {
        body.insert("custom_metadata".into(), Value::Object(custom));
    }
    Ok(body)
}

async fn metadata_write(ctx: &mut Ctx, method: &str) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let body = metadata_body(ctx)?;
    let full = metadata_path(ctx).await?;
    let resp = write_data(ctx, method, &full, &Value::Object(body)).await?;
    print_written(ctx, &full, resp)
}

pub async fn metadata_put(ctx: &mut Ctx) -> Outcome {
    metadata_write(ctx, "PUT").await
}

pub async fn metadata_patch(ctx: &mut Ctx) -> Outcome {
    metadata_write(ctx, "PATCH").await
}

pub async fn metadata_delete(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let full = metadata_path(ctx).await?;
    ctx.client
        .delete(&full)
        .await
        .map_err(|e| Failure::Remote(format!("Error deleting {full}: {e}")))?;
    println!("Success! Data deleted (if it existed) at: {full}");
    Ok(0)
}

pub async fn enable_versioning(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let mount = format!("{}/", ctx.args()[0].trim_matches('/'));
    ctx.client
        .put(
            &format!("sys/mounts/{mount}tune"),
            &json!({ "options": { "version": "2" } }),
        )
        .await
        .map_err(|e| Failure::Remote(format!("Error tuning secrets engine {mount}: {e}")))?;
    println!("Success! Tuned the secrets engine at: {mount}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_paths_gain_their_api_prefix() {
        assert_eq!(
            with_prefix("secret/app/db", "secret/", "data"),
            "secret/data/app/db"
        );
        assert_eq!(
            with_prefix("secret/", "secret/", "metadata"),
            "secret/metadata"
        );
        assert_eq!(
            with_prefix("secret", "secret/", "metadata"),
            "secret/metadata"
        );
        assert_eq!(with_prefix("a/b/c/", "a/b/", "metadata"), "a/b/metadata/c");
    }
}
