//! `vault policy list|read|write|delete|fmt`.

use std::io::Read;

use serde_json::{json, Value};

use crate::cli::output::{self, Format};
use crate::cli::{Ctx, Failure, Outcome};

/// Policy names are lower case; Vault's CLI converts them and says so when it had to.
fn name_arg(ctx: &Ctx) -> String {
    let given = ctx.args()[0].trim();
    let name = given.to_lowercase();
    if name != given {
        eprintln!("Policy name was converted from \"{given}\" to \"{name}\"");
    }
    name
}

pub async fn list(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(0, Some(0))?;
    let resp = ctx
        .client
        .request_strict("GET", "sys/policies/acl", &[("list".into(), "true".into())])
        .await
        .map_err(|e| Failure::Remote(format!("Error listing policies: {e}")))?
        .unwrap_or(Value::Null);
    let policies = resp.pointer("/data/keys").cloned().unwrap_or(json!([]));
    match ctx.format {
        Format::Table => {
            for p in policies.as_array().into_iter().flatten() {
                println!("{}", p.as_str().unwrap_or_default());
            }
        }
        f => output::print_structured(f, &policies),
    }
    Ok(0)
}

pub async fn read(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let name = name_arg(ctx);
    let resp = ctx
        .client
        .get(&format!("sys/policies/acl/{name}"))
        .await
        .map_err(|e| Failure::Remote(format!("Error reading policy named {name}: {e}")))?;
    let Some(resp) = resp else {
        return Err(Failure::Remote(format!("No policy named: {name}")));
    };
    match ctx.format {
        Format::Table => {
            let rules = resp
                .pointer("/data/policy")
                .and_then(Value::as_str)
                .unwrap_or_default();
            println!("{}", rules.trim());
        }
        f => {
            let rules = resp.pointer("/data/policy").cloned().unwrap_or(Value::Null);
            output::print_structured(f, &json!({ "policy": rules }));
        }
    }
    Ok(0)
}

/// Reads a policy file, or standard input for `-`.
fn read_source(source: &str) -> Result<String, Failure> {
    if source == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Failure::Local(format!("Error reading policy from stdin: {e}")))?;
        return Ok(s);
    }
    std::fs::read_to_string(source)
        .map_err(|e| Failure::Remote(format!("Error opening policy file: {e}")))
}

pub async fn write(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(2, Some(2))?;
    let name = name_arg(ctx);
    let rules = read_source(&ctx.args()[1])?;
    ctx.client
        .put(
            &format!("sys/policies/acl/{name}"),
            &json!({ "policy": rules }),
        )
        .await
        .map_err(|e| Failure::Remote(format!("Error uploading policy: {e}")))?;
    println!("Success! Uploaded policy: {name}");
    Ok(0)
}

pub async fn delete(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let name = name_arg(ctx);
    ctx.client
        .delete(&format!("sys/policies/acl/{name}"))
        .await
        .map_err(|e| Failure::Remote(format!("Error deleting {name}: {e}")))?;
    println!("Success! Deleted policy: {name}");
    Ok(0)
}

/// `policy fmt FILE`: checks the policy parses, then rewrites it with two-space indentation by
/// nesting depth, one blank line at most between blocks, comments kept.
pub async fn fmt(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let file = ctx.args()[0].clone();
    let text = std::fs::read_to_string(&file)
        .map_err(|e| Failure::Local(format!("Error reading source file: {e}")))?;
    tresor_core::policy::model::parse("fmt", &text)
        .map_err(|e| Failure::Local(format!("Error parsing policy: {e}")))?;
    std::fs::write(&file, reindent(&text))
        .map_err(|e| Failure::Local(format!("Error writing formatted policy: {e}")))?;
    println!("Success! Formatted policy: {file}");
    Ok(0)
}

fn reindent(text: &str) -> String {
    let mut out = String::new();
    let mut depth: usize = 0;
    let mut blank = false;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() {
            if !out.is_empty() {
                blank = true;
            }
            continue;
        }
        if blank {
            out.push('\n');
            blank = false;
        }
        let code = line.split('#').next().unwrap_or("");
        let opens = code.matches(['{', '[']).count();
        let closes = code.matches(['}', ']']).count();
        let leading_closes = line.chars().take_while(|c| matches!(c, '}' | ']')).count();
        let indent = depth.saturating_sub(leading_closes);
        out.push_str(&"  ".repeat(indent));
        out.push_str(line);
        out.push('\n');
        depth = (depth + opens).saturating_sub(closes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::reindent;

    #[test]
    fn reindents_by_depth() {
        let messy = "# c\npath \"a\" {\n        capabilities = [\"read\"]\n}\n\n\n\npath \"b\"\n{\ncapabilities = [\n\"list\",\n]\n}";
        assert_eq!(
            reindent(messy),
            "# c\npath \"a\" {\n  capabilities = [\"read\"]\n}\n\npath \"b\"\n{\n  capabilities = [\n    \"list\",\n  ]\n}\n"
        );
    }
}
