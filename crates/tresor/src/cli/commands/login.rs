//! `vault login`: authenticate with a method, store the token in the token helper
//! (`~/.vault-token`), and show what was granted.

use serde_json::{json, Map, Value};

use super::operator::prompt_hidden;
use crate::cli::args::{parse_data, Stdin};
use crate::cli::output::{self, Format};
use crate::cli::{Ctx, Failure, Outcome};

fn store_token(token: &str) -> Result<(), Failure> {
    tresor_server::token_helper::store(token)
        .map_err(|e| Failure::Local(format!("Error storing token: {e}")))
}

/// A lookup answer turned into the `auth` block a login would have returned.
fn auth_from_lookup(token: &str, lookup: &Value) -> Value {
    let d = lookup.get("data").cloned().unwrap_or(Value::Null);
    let policies = d.get("policies").cloned().unwrap_or(json!([]));
    json!({
        "request_id": lookup.get("request_id").cloned().unwrap_or("".into()),
        "lease_id": "",
        "lease_duration": 0,
        "renewable": false,
        "data": null,
        "warnings": lookup.get("warnings").cloned().unwrap_or(Value::Null),
        "auth": {
            "client_token": token,
            "accessor": d.get("accessor").cloned().unwrap_or("".into()),
            "policies": policies,
            "token_policies": policies,
            "identity_policies": d.get("identity_policies").cloned().unwrap_or(Value::Null),
            "metadata": d.get("meta").cloned().unwrap_or(Value::Null),
            "orphan": d.get("orphan").cloned().unwrap_or(false.into()),
            "entity_id": d.get("entity_id").cloned().unwrap_or("".into()),
            "lease_duration": d.get("ttl").cloned().unwrap_or(0.into()),
            "renewable": d.get("renewable").cloned().unwrap_or(false.into()),
            "mfa_requirement": null,
        }
    })
}

/// Logs in with the token method: the token must be valid, and its lookup is the answer.
async fn token_login(ctx: &mut Ctx) -> Result<Value, Failure> {
    let args = ctx.args().to_vec();
    let token = match args.as_slice() {
        [] => prompt_hidden("Token (will be hidden): ", "a token").map_err(|e| match e {
            Failure::Local(m) | Failure::Remote(m) => {
                Failure::Remote(format!("Error authenticating: {}", m.replace('\n', " ")))
            }
        })?,
        [t] if t == "-" => Stdin::default().read()?.trim().to_owned(),
        [t] if !t.contains('=') => t.clone(),
        _ => {
            let data = parse_data(&args, &mut Stdin::default())?;
            data.get("token")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| Failure::Local("Error authenticating: token is required".into()))?
        }
    };
    ctx.client.set_token(Some(token.clone()));
    let lookup = ctx
        .client
        .get("auth/token/lookup-self")
        .await
        .map_err(|e| Failure::Remote(format!("Error authenticating: error looking up token: {e}")))?
        .ok_or_else(|| {
            Failure::Remote("Error authenticating: empty response from lookup-self".into())
        })?;
    Ok(auth_from_lookup(&token, &lookup))
}

/// Logs in with any other method: `auth/<path>/login[/<username>]` with the given data.
async fn method_login(ctx: &mut Ctx, method: &str) -> Result<Value, Failure> {
    let mount = ctx
        .flags
        .value("path")
        .unwrap_or(method)
        .trim_matches('/')
        .to_owned();
    let mut data: Map<String, Value> = parse_data(ctx.args(), &mut Stdin::default())?;
    let path = match method {
        "userpass" | "ldap" | "okta" | "radius" => {
            let user = data
                .remove("username")
                .and_then(|u| u.as_str().map(str::to_owned))
                .or_else(|| std::env::var("USER").ok())
                .ok_or_else(|| {
                    Failure::Local("Error authenticating: username is required".into())
                })?;
            if !data.contains_key("password") {
                let pw = prompt_hidden("Password (will be hidden): ", "a password")?;
                data.insert("password".into(), pw.into());
            }
            format!("auth/{mount}/login/{user}")
        }
        _ => format!("auth/{mount}/login"),
    };
    // A login needs no token; sending a stale one could only confuse the server's audit trail.
    ctx.client.set_token(None);
    let resp = ctx
        .client
        .put(&path, &Value::Object(data))
        .await
        .map_err(|e| Failure::Remote(format!("Error authenticating: {e}")))?
        .ok_or_else(|| {
            Failure::Remote("Error authenticating: empty response from credential provider".into())
        })?;
    if resp.get("auth").is_none_or(Value::is_null) {
        return Err(Failure::Remote(
            "Error authenticating: no auth information in the response".into(),
        ));
    }
    Ok(resp)
}

pub async fn login(ctx: &mut Ctx) -> Outcome {
    let token_only = ctx.flags.bool("token-only");
    let no_store = ctx.flags.bool("no-store") || token_only;
    let no_print = ctx.flags.bool("no-print");
    if ctx.flags.bool("no-store") && no_print {
        return Err(Failure::Local(
            "-no-store and -no-print cannot be used together".into(),
        ));
    }
    let method = ctx.flags.value("method").unwrap_or("token").to_owned();
    let secret = if method == "token" {
        token_login(ctx).await?
    } else {
        method_login(ctx, &method).await?
    };
    let token = secret
        .pointer("/auth/client_token")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if token_only {
        output::print_raw(ctx.format, &Value::String(token));
        return Ok(0);
    }
    if no_store {
        eprintln!("The token was not stored in token helper. Set the VAULT_TOKEN environment\nvariable or pass the token below with each request to Vault.\n");
    } else {
        store_token(&token)?;
        if std::env::var("VAULT_TOKEN").is_ok_and(|t| !t.is_empty()) {
            eprintln!("WARNING! The VAULT_TOKEN environment variable is set! The value of this variable\nwill take precedence; if this is unwanted please unset VAULT_TOKEN or update its\nvalue accordingly.\n");
        }
    }
    if no_print {
        return Ok(0);
    }
    if let Some(f) = &ctx.field {
        return output::print_field(ctx.format, &secret, f);
    }
    if ctx.format == Format::Table {
        println!("Success! You are now authenticated. The token information displayed below is\nalready stored in the token helper. You do NOT need to run \"vault login\" again.\nFuture Vault requests will automatically use this token.\n");
    }
    output::output_secret(ctx.format, &secret);
    Ok(0)
}
