//! `vault operator init|unseal|seal|key-status`.

use std::io::IsTerminal;

use serde_json::{json, Value};

use super::generic::print_seal_status;
use crate::cli::output::{self, wrap, Format};
use crate::cli::{Ctx, Failure, Outcome};

fn int_flag(ctx: &Ctx, name: &str, default: i64) -> Result<i64, Failure> {
    match ctx.flags.value(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            Failure::Local(format!(
                "invalid value \"{v}\" for flag -{name}: parse error"
            ))
        }),
    }
}

pub async fn init(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(0, Some(0))?;
    if ctx.flags.bool("status") {
        let status = ctx
            .client
            .get("sys/init")
            .await
            .map_err(|e| Failure::Remote(format!("Error checking init status: {e}")))?;
        let initialized = status
            .and_then(|s| s.get("initialized").and_then(Value::as_bool))
            .unwrap_or(false);
        return if initialized {
            println!("Vault is initialized");
            Ok(0)
        } else {
            println!("Vault is not initialized");
            Ok(2)
        };
    }
    let shares = int_flag(ctx, "key-shares", 5)?;
    let threshold = int_flag(ctx, "key-threshold", 3)?;
    let mut body = json!({ "secret_shares": shares, "secret_threshold": threshold });
    let pgp: Vec<String> = ctx
        .flags
        .values("pgp-keys")
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::to_owned)
        .collect();
    if !pgp.is_empty() {
        body["pgp_keys"] = json!(pgp);
    }
    if let Some(k) = ctx.flags.value("root-token-pgp-key") {
        body["root_token_pgp_key"] = json!(k);
    }
    let resp = ctx
        .client
        .put("sys/init", &body)
        .await
        .map_err(|e| Failure::Remote(format!("Error initializing: {e}")))?
        .ok_or_else(|| Failure::Remote("Error initializing: empty response".into()))?;
    let list = |k: &str| resp.get(k).cloned().unwrap_or(Value::Null);
    if ctx.format != Format::Table {
        let out = json!({
            "unseal_keys_b64": list("keys_base64"),
            "unseal_keys_hex": list("keys"),
            "unseal_shares": shares,
            "unseal_threshold": threshold,
            "recovery_keys_b64": resp.get("recovery_keys_base64").cloned().filter(|v| v.as_array().is_some_and(|a| !a.is_empty())).unwrap_or(Value::Null),
            "recovery_keys_hex": resp.get("recovery_keys").cloned().filter(|v| v.as_array().is_some_and(|a| !a.is_empty())).unwrap_or(Value::Null),
            "recovery_keys_shares": 0,
            "recovery_keys_threshold": 0,
            "root_token": list("root_token"),
        });
        output::print_structured(ctx.format, &out);
        return Ok(0);
    }
    let keys = resp
        .get("keys_base64")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, k) in keys.iter().enumerate() {
        println!("Unseal Key {}: {}", i + 1, k.as_str().unwrap_or_default());
    }
    println!(
        "\nInitial Root Token: {}\n",
        resp.get("root_token")
            .and_then(Value::as_str)
            .unwrap_or_default()
    );
    println!(
        "{}\n",
        wrap(&format!(
            "Vault initialized with {shares} key shares and a key threshold of {threshold}. Please securely distribute the key shares printed above. When the Vault is re-sealed, restarted, or stopped, you must supply at least {threshold} of these keys to unseal it before it can start servicing requests."
        ))
    );
    println!(
        "{}\n",
        wrap(&format!(
            "Vault does not store the generated root key. Without at least {threshold} keys to reconstruct the root key, Vault will remain permanently sealed!"
        ))
    );
    println!(
        "{}",
        wrap("It is possible to generate new unseal keys, provided you have a quorum of existing unseal keys shares. See \"vault operator rekey\" for more information.")
    );
    Ok(0)
}

/// Reads a secret typed at the terminal without echoing it, as Vault's prompts do; refuses
/// (with Vault's explanation) when standard input is not a terminal.
pub fn prompt_hidden(prompt: &str, what: &str) -> Result<String, Failure> {
    eprint!("{prompt}");
    if !std::io::stdin().is_terminal() {
        eprintln!();
        return Err(Failure::Local(format!(
            "{}\n\nThe raw error was:  file descriptor 0 is not a terminal",
            wrap(&format!(
                "An error occurred attempting to ask for {what}. The raw error message is shown below, but usually this is because you attempted to pipe a value into the command or you are executing outside of a terminal (tty). If this is not an option, the value can be provided as an argument to the command."
            ))
        )));
    }
    let value = rpassword::read_password()
        .map_err(|e| Failure::Local(format!("Error reading from the terminal: {e}")))?;
    eprintln!();
    Ok(value.trim().to_owned())
}

pub async fn unseal(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(0, Some(1))?;
    let body = if ctx.flags.bool("reset") {
        json!({ "reset": true })
    } else {
        let key = match ctx.args().first() {
            Some(k) => k.trim().to_owned(),
            None => prompt_hidden("Unseal Key (will be hidden): ", "an unseal key")?,
        };
        json!({ "key": key })
    };
    let what = if body.get("reset").is_some() {
        "Error resetting unseal process"
    } else {
        "Error unsealing"
    };
    let seal = ctx
        .client
        .put("sys/unseal", &body)
        .await
        .map_err(|e| Failure::Remote(format!("{what}: {e}")))?
        .unwrap_or(Value::Null);
    print_seal_status(ctx, &seal).await;
    Ok(0)
}

pub async fn seal(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(0, Some(0))?;
    ctx.client
        .put("sys/seal", &json!({}))
        .await
        .map_err(|e| Failure::Remote(format!("Error sealing: {e}")))?;
    println!("Success! Vault is sealed.");
    Ok(0)
}

pub async fn key_status(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(0, Some(0))?;
    let resp = ctx
        .client
        .get("sys/key-status")
        .await
        .map_err(|e| Failure::Remote(format!("Error reading key status: {e}")))?
        .unwrap_or(Value::Null);
    let data = resp.get("data").cloned().unwrap_or(resp.clone());
    if ctx.format != Format::Table {
        // Vault's struct order, not sorted.
        let out = json!({
            "term": data.get("term").cloned().unwrap_or(Value::Null),
            "install_time": data.get("install_time").cloned().unwrap_or(Value::Null),
            "encryptions": data.get("encryptions").cloned().unwrap_or(0.into()),
        });
        output::print_structured(ctx.format, &out);
        return Ok(0);
    }
    let install = data
        .get("install_time")
        .and_then(Value::as_str)
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .and_then(|t| {
            let f = time::macros::format_description!(
                "[day] [month repr:short] [year repr:last_two] [hour]:[minute] UTC"
            );
            t.to_offset(time::UtcOffset::UTC).format(&f).ok()
        })
        .unwrap_or_default();
    let mut rows = vec![
        vec![
            "Key Term".to_owned(),
            data.get("term").map(output::go_value).unwrap_or_default(),
        ],
        vec!["Install Time".to_owned(), install],
    ];
    if let Some(n) = data.get("encryptions") {
        rows.push(vec!["Encryption Count".to_owned(), output::go_value(n)]);
    }
    print!("{}", output::columns(&rows));
    Ok(0)
}
