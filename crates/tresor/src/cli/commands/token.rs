//! `vault token create|lookup|renew|revoke|capabilities`.

use serde_json::{json, Map, Value};

use crate::cli::output::{self, Format};
use crate::cli::{Ctx, Failure, Outcome};

/// Prints an answer as `-field`, or whole.
pub fn print_secret(ctx: &Ctx, resp: &Value) -> Outcome {
    if let Some(f) = &ctx.field {
        return output::print_field(ctx.format, resp, f);
    }
    output::output_secret(ctx.format, resp);
    Ok(0)
}

fn duration_flag(ctx: &Ctx, name: &str) -> Result<Option<String>, Failure> {
    match ctx.flags.value(name) {
        None => Ok(None),
        Some(v) => {
            tresor_sdk::ttl::parse(v).map_err(|e| {
                Failure::Local(format!("invalid value \"{v}\" for flag -{name}: {e}"))
            })?;
            Ok(Some(v.to_owned()))
        }
    }
}

pub async fn create(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(0, Some(0))?;
    let mut body = Map::new();
    if let Some(id) = ctx.flags.value("id") {
        body.insert("id".into(), id.into());
    }
    let policies: Vec<String> = ctx
        .flags
        .values("policy")
        .iter()
        .flat_map(|p| p.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    if !policies.is_empty() {
        body.insert("policies".into(), json!(policies));
    }
    let mut meta = Map::new();
    for kv in ctx.flags.values("metadata") {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            Failure::Local(format!(
                "invalid value \"{kv}\" for flag -metadata: missing '='"
            ))
        })?;
        meta.insert(k.to_owned(), v.into());
    }
    if !meta.is_empty() {
        body.insert("meta".into(), Value::Object(meta));
    }
    for (flag, field) in [
        ("ttl", "ttl"),
        ("explicit-max-ttl", "explicit_max_ttl"),
        ("period", "period"),
    ] {
        if let Some(v) = duration_flag(ctx, flag)? {
            body.insert(field.into(), v.into());
        }
    }
    if let Some(n) = ctx.flags.value("use-limit") {
        let n: i64 = n.parse().map_err(|_| {
            Failure::Local(format!(
                "invalid value \"{n}\" for flag -use-limit: parse error"
            ))
        })?;
        body.insert("num_uses".into(), n.into());
    }
    if let Some(d) = ctx.flags.value("display-name") {
        body.insert("display_name".into(), d.into());
    }
    if ctx.flags.value("renewable").is_some() {
        body.insert("renewable".into(), ctx.flags.bool("renewable").into());
    }
    if ctx.flags.bool("no-default-policy") {
        body.insert("no_default_policy".into(), true.into());
    }
    if let Some(t) = ctx.flags.value("type") {
        body.insert("type".into(), t.into());
    }
    if let Some(a) = ctx.flags.value("entity-alias") {
        body.insert("entity_alias".into(), a.into());
    }
    if ctx.flags.bool("orphan") {
        body.insert("no_parent".into(), true.into());
    }
    let path = match ctx.flags.value("role") {
        Some(role) => format!("auth/token/create/{role}"),
        None => "auth/token/create".into(),
    };
    let resp = ctx
        .client
        .request("POST", &path, &[], Some(&Value::Object(body)))
        .await
        .map_err(|e| Failure::Remote(format!("Error creating token: {e}")))?
        .unwrap_or(Value::Null);
    print_secret(ctx, &resp)
}

pub async fn lookup(ctx: &mut Ctx) -> Outcome {
    let accessor = ctx.flags.bool("accessor");
    let n = ctx.args().len();
    if accessor && n == 0 {
        return Err(Failure::Local(
            "Not enough arguments with -accessor (expected 1, got 0)".into(),
        ));
    }
    if accessor && n > 1 {
        return Err(Failure::Local(format!(
            "Too many arguments with -accessor (expected 1, got {n})"
        )));
    }
    ctx.expect_args(0, Some(1))?;
    let resp = match (ctx.args().first(), accessor) {
        (None, _) => ctx.client.get("auth/token/lookup-self").await,
        (Some(a), true) => {
            ctx.client
                .request(
                    "POST",
                    "auth/token/lookup-accessor",
                    &[],
                    Some(&json!({ "accessor": a })),
                )
                .await
        }
        (Some(t), false) => {
            ctx.client
                .request(
                    "POST",
                    "auth/token/lookup",
                    &[],
                    Some(&json!({ "token": t })),
                )
                .await
        }
    }
    .map_err(|e| Failure::Remote(format!("Error looking up token: {e}")))?
    .unwrap_or(Value::Null);
    print_secret(ctx, &resp)
}

pub async fn renew(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(0, Some(1))?;
    let increment = match duration_flag(ctx, "increment")?.or(duration_flag(ctx, "i")?) {
        Some(i) => Value::String(i),
        None => Value::from(0),
    };
    let accessor = ctx.flags.bool("accessor");
    let resp = match (ctx.args().first(), accessor) {
        (None, _) => {
            ctx.client
                .put("auth/token/renew-self", &json!({ "increment": increment }))
                .await
        }
        (Some(a), true) => {
            ctx.client
                .put(
                    "auth/token/renew-accessor",
                    &json!({ "accessor": a, "increment": increment }),
                )
                .await
        }
        (Some(t), false) => {
            ctx.client
                .put(
                    "auth/token/renew",
                    &json!({ "token": t, "increment": increment }),
                )
                .await
        }
    }
    .map_err(|e| Failure::Remote(format!("Error renewing token: {e}")))?
    .unwrap_or(Value::Null);
    print_secret(ctx, &resp)
}

pub async fn revoke(ctx: &mut Ctx) -> Outcome {
    let self_ = ctx.flags.bool("self");
    let accessor = ctx.flags.bool("accessor");
    let mode = ctx.flags.value("mode").unwrap_or("").to_owned();
    let n = ctx.args().len();
    let refuse = |m: String| Err(Failure::Local(m));
    match mode.as_str() {
        "" | "orphan" | "path" => {}
        other => return refuse(format!("Invalid mode: {other}")),
    }
    if self_ && n > 0 {
        return refuse(format!(
            "Too many arguments with -self (expected 0, got {n})"
        ));
    }
    if !self_ && n > 1 {
        return refuse(format!("Too many arguments (expected 1 or -self, got {n})"));
    }
    if !self_ && n == 0 {
        return refuse("Not enough arguments (expected 1 or -self, got 0)".into());
    }
    if self_ && accessor {
        return refuse("Cannot use -self with -accessor!".into());
    }
    if self_ && !mode.is_empty() {
        return refuse("Cannot use -self with -mode!".into());
    }
    if accessor && !mode.is_empty() {
        return refuse(format!("Cannot use -accessor with -mode={mode}!"));
    }
    let arg = ctx.args().first().cloned().unwrap_or_default();
    let result = if self_ {
        ctx.client.put("auth/token/revoke-self", &json!({})).await
    } else if accessor {
        ctx.client
            .request(
                "POST",
                "auth/token/revoke-accessor",
                &[],
                Some(&json!({ "accessor": arg })),
            )
            .await
    } else {
        match mode.as_str() {
            "orphan" => {
                ctx.client
                    .put("auth/token/revoke-orphan", &json!({ "token": arg }))
                    .await
            }
            "path" => {
                ctx.client
                    .put(&format!("sys/leases/revoke-prefix/{arg}"), &json!({}))
                    .await
            }
            _ => {
                ctx.client
                    .put("auth/token/revoke", &json!({ "token": arg }))
                    .await
            }
        }
    };
    result.map_err(|e| Failure::Remote(format!("Error revoking token: {e}")))?;
    println!("Success! Revoked token (if it existed)");
    Ok(0)
}

pub async fn capabilities(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, Some(2))?;
    let args = ctx.args().to_vec();
    let (endpoint, body, path) = match args.as_slice() {
        [path] => (
            "sys/capabilities-self",
            json!({ "path": path }),
            path.clone(),
        ),
        [token, path] if ctx.flags.bool("accessor") => (
            "sys/capabilities-accessor",
            json!({ "accessor": token, "path": path }),
            path.clone(),
        ),
        [token, path] => (
            "sys/capabilities",
            json!({ "token": token, "path": path }),
            path.clone(),
        ),
        _ => return Err(Failure::Local("Too many arguments".into())),
    };
    let resp = ctx
        .client
        .request("POST", endpoint, &[], Some(&body))
        .await
        .map_err(|e| Failure::Remote(format!("Error listing capabilities: {e}")))?
        .unwrap_or(Value::Null);
    let data = resp.get("data").cloned().unwrap_or(Value::Null);
    let caps = data
        .get(&path)
        .or_else(|| data.get("capabilities"))
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| Failure::Local("No capabilities found".into()))?;
    let mut names: Vec<String> = caps
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    names.sort();
    match ctx.format {
        Format::Table => println!("{}", names.join(", ")),
        f => output::print_structured(f, &json!(names)),
    }
    Ok(0)
}
