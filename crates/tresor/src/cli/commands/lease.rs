//! `vault lease lookup|renew|revoke`.

use serde_json::{json, Value};

use super::token::print_secret;
use crate::cli::{Ctx, Failure, Outcome};

pub async fn lookup(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let id = ctx.args()[0].trim().to_owned();
    let resp = ctx
        .client
        .put("sys/leases/lookup", &json!({ "lease_id": id }))
        .await
        .map_err(|e| Failure::Remote(format!("error looking up lease id {id}: {e}")))?
        .unwrap_or(Value::Null);
    print_secret(ctx, &resp)
}

pub async fn renew(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let id = ctx.args()[0].trim().to_owned();
    let increment = match ctx.flags.value("increment").or(ctx.flags.value("i")) {
        Some(v) => tresor_sdk::ttl::parse(v).map_err(|e| {
            Failure::Local(format!("invalid value \"{v}\" for flag -increment: {e}"))
        })?,
        None => 0,
    };
    let resp = ctx
        .client
        .put(
            "sys/leases/renew",
            &json!({ "lease_id": id, "increment": increment }),
        )
        .await
        .map_err(|e| Failure::Remote(format!("Error renewing {id}: {e}")))?
        .unwrap_or(Value::Null);
    print_secret(ctx, &resp)
}

pub async fn revoke(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let id = ctx.args()[0].trim().to_owned();
    let force = ctx.flags.bool("force") || ctx.flags.bool("f");
    let prefix = ctx.flags.bool("prefix");
    if force && !prefix {
        return Err(Failure::Local(
            "Specifying -force requires also specifying -prefix".into(),
        ));
    }
    if force {
        ctx.client
            .put(&format!("sys/leases/revoke-force/{id}"), &json!({}))
            .await
            .map_err(|e| {
                Failure::Remote(format!("Error force revoking leases with prefix {id}: {e}"))
            })?;
        println!("Success! Force revoked any leases with prefix: {id}");
    } else if prefix {
        ctx.client
            .put(&format!("sys/leases/revoke-prefix/{id}"), &json!({}))
            .await
            .map_err(|e| Failure::Remote(format!("Error revoking leases with prefix {id}: {e}")))?;
        if ctx.flags.bool("sync") {
            println!("Success! Revoked any leases with prefix: {id}");
        } else {
            println!("All revocation operations queued successfully!");
        }
    } else {
        ctx.client
            .put(
                "sys/leases/revoke",
                &json!({ "lease_id": id, "sync": true }),
            )
            .await
            .map_err(|e| Failure::Remote(format!("Error revoking lease {id}: {e}")))?;
        if ctx.flags.bool("sync") {
            println!("Success! Revoked lease: {id}");
        } else {
            println!("All revocation operations queued successfully!");
        }
    }
    Ok(0)
}
