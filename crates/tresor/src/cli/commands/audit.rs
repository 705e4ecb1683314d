//! `vault audit enable|disable|list`.

use serde_json::{json, Map, Value};

use crate::cli::args::{parse_data, Stdin};
use crate::cli::output::{self, Format};
use crate::cli::{Ctx, Failure, Outcome};

pub async fn enable(ctx: &mut Ctx) -> Outcome {
    let Some(kind) = ctx.args().first().cloned() else {
        return Err(Failure::Local(
            "Error enabling audit device: audit type missing. Valid types include 'file', 'socket' and 'syslog'.".into(),
        ));
    };
    let options: Map<String, Value> = parse_data(&ctx.args()[1..], &mut Stdin::default())?;
    let path = format!(
        "{}/",
        ctx.flags.value("path").unwrap_or(&kind).trim_matches('/')
    );
    let body = json!({
        "type": kind,
        "description": ctx.flags.value("description").unwrap_or(""),
        "options": options,
        "local": ctx.flags.bool("local"),
    });
    ctx.client
        .put(&format!("sys/audit/{}", path.trim_end_matches('/')), &body)
        .await
        .map_err(|e| Failure::Remote(format!("Error enabling audit device: {e}")))?;
    println!("Success! Enabled the {kind} audit device at: {path}");
    Ok(0)
}

pub async fn disable(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let path = format!("{}/", ctx.args()[0].trim_matches('/'));
    ctx.client
        .delete(&format!("sys/audit/{}", path.trim_end_matches('/')))
        .await
        .map_err(|e| Failure::Remote(format!("Error disabling audit device: {e}")))?;
    println!("Success! Disabled audit device (if it was enabled) at: {path}");
    Ok(0)
}

pub async fn list(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(0, Some(0))?;
    let resp = ctx
        .client
        .request_strict("GET", "sys/audit", &[])
        .await
        .map_err(|e| Failure::Remote(format!("Error listing audits: {e}")))?
        .unwrap_or(Value::Null);
    let devices = resp
        .get("data")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if ctx.format != Format::Table {
        output::print_structured(ctx.format, &output::sorted(&Value::Object(devices)));
        return Ok(0);
    }
    if devices.is_empty() {
        return Err(Failure::Remote("No audit devices are enabled.".into()));
    }
    let detailed = ctx.flags.bool("detailed");
    let s = |d: &Value, k: &str| d.get(k).map(output::go_value).unwrap_or_default();
    let rows = devices
        .iter()
        .map(|(path, d)| {
            let mut row = vec![path.clone(), s(d, "type"), s(d, "description")];
            if detailed {
                let local = d.get("local").and_then(Value::as_bool) == Some(true);
                row.push(if local { "local" } else { "replicated" }.into());
                let opts: Vec<String> = d
                    .get("options")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect();
                row.push(opts.join(" "));
            }
            row
        })
        .collect();
    let header: &[&str] = if detailed {
        &["Path", "Type", "Description", "Replication", "Options"]
    } else {
        &["Path", "Type", "Description"]
    };
    print!("{}", output::table(header, rows));
    Ok(0)
}
