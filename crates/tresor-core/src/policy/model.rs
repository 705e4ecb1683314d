//! A policy as written (`path` rules with capabilities and parameter constraints), parsed from
//! HCL1 or JSON and checked. Compilation into something fast to evaluate is `acl.rs`'s job.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::hcl1;

pub mod cap {
    pub const DENY: u32 = 1;
    pub const CREATE: u32 = 1 << 1;
    pub const READ: u32 = 1 << 2;
    pub const UPDATE: u32 = 1 << 3;
    pub const DELETE: u32 = 1 << 4;
    pub const LIST: u32 = 1 << 5;
    pub const SUDO: u32 = 1 << 6;
    pub const PATCH: u32 = 1 << 8;

    /// Names in the order Vault sorts them (alphabetical).
    pub const NAMES: &[(&str, u32)] = &[
        ("create", CREATE),
        ("delete", DELETE),
        ("deny", DENY),
        ("list", LIST),
        ("patch", PATCH),
        ("read", READ),
        ("sudo", SUDO),
        ("update", UPDATE),
    ];

    pub fn from_name(name: &str) -> Option<u32> {
        NAMES.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
    }

    pub fn names(bits: u32) -> Vec<String> {
        if bits & DENY != 0 {
            return vec!["deny".into()];
        }
        NAMES
            .iter()
            .filter(|(_, b)| bits & b != 0)
            .map(|(n, _)| n.to_string())
            .collect()
    }
}

/// Parameter name → allowed (or denied) values; an empty list means "any value".
pub type ParamRules = BTreeMap<String, Vec<Value>>;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Permissions {
    pub capabilities: u32,
    pub allowed_parameters: ParamRules,
    pub denied_parameters: ParamRules,
    pub required_parameters: Vec<String>,
    pub min_wrapping_ttl: Option<u64>,
    pub max_wrapping_ttl: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PathRule {
    /// As written, without a leading `/` (may end in `*`, may contain `+` segments).
    pub path: String,
    pub permissions: Permissions,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: String,
    pub text: String,
    pub rules: Vec<PathRule>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("failed to parse policy: {0}")]
pub struct PolicyError(pub String);

fn fail<T>(msg: impl Into<String>) -> Result<T, PolicyError> {
    Err(PolicyError(msg.into()))
}

/// Parses policy text (HCL1, or JSON when it starts with `{`).
pub fn parse(name: &str, text: &str) -> Result<Policy, PolicyError> {
    let root = if text.trim_start().starts_with('{') {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return fail("policy must be an object"),
            Err(e) => return fail(format!("line {}: {e}", e.line())),
        }
    } else {
        hcl1::parse(text).map_err(|e| PolicyError(e.to_string()))?
    };
    let mut rules = Vec::new();
    for (key, value) in root {
        match key.as_str() {
            "path" => {
                for (path, body) in blocks(value)? {
                    rules.push(parse_rule(&path, body)?);
                }
            }
            // Older policies name themselves; the name in the request wins.
            "name" => {}
            other => return fail(format!("invalid key '{other}'")),
        }
    }
    Ok(Policy {
        name: name.to_owned(),
        text: text.to_owned(),
        rules,
    })
}

/// `{"a": {...}}`, `[{"a": {...}}, ...]` → `[(a, {...}), ...]`.
/// A `path` block: the quoted path and the block's body.
type PathBlock = (String, Map<String, Value>);

fn blocks(v: Value) -> Result<Vec<PathBlock>, PolicyError> {
    let items = match v {
        Value::Array(a) => a,
        other => vec![other],
    };
    let mut out = Vec::new();
    for item in items {
        let Value::Object(m) = item else {
            return fail("path must be followed by a quoted path and a block");
        };
        for (path, body) in m {
            let bodies = match body {
                Value::Array(a) => a,
                other => vec![other],
            };
            for b in bodies {
                match b {
                    Value::Object(b) => out.push((path.clone(), b)),
                    _ => return fail(format!("path \"{path}\": expected a block")),
                }
            }
        }
    }
    Ok(out)
}

fn parse_rule(path: &str, body: Map<String, Value>) -> Result<PathRule, PolicyError> {
    let path = path.trim_start_matches('/').to_owned();
    if let Some(i) = path.find('*') {
        if i != path.len() - 1 {
            return fail(format!(
                "path \"{path}\": the glob '*' may only be at the end"
            ));
        }
    }
    let mut p = Permissions::default();
    for (key, value) in body {
        match key.as_str() {
            "capabilities" => {
                let Value::Array(list) = value else {
                    return fail(format!("path \"{path}\": capabilities must be a list"));
                };
                for c in list {
                    let name = c.as_str().unwrap_or_default().to_lowercase();
                    let bit = cap::from_name(&name).ok_or_else(|| {
                        PolicyError(format!("path \"{path}\": invalid capability \"{name}\""))
                    })?;
                    p.capabilities |= bit;
                }
            }
            "policy" => {
                use cap::*;
                p.capabilities |= match value.as_str().unwrap_or_default() {
                    "deny" => DENY,
                    "read" => READ | LIST,
                    // As in Vault, the old forms predate `patch` and do not grant it.
                    "write" => CREATE | READ | UPDATE | DELETE | LIST,
                    "sudo" => CREATE | READ | UPDATE | DELETE | LIST | SUDO,
                    other => return fail(format!("path \"{path}\": invalid policy \"{other}\"")),
                };
            }
            "allowed_parameters" => p.allowed_parameters = param_rules(&path, &key, value)?,
            "denied_parameters" => p.denied_parameters = param_rules(&path, &key, value)?,
            "required_parameters" => {
                let Value::Array(list) = value else {
                    return fail(format!(
                        "path \"{path}\": required_parameters must be a list"
                    ));
                };
                p.required_parameters = list
                    .iter()
                    .map(|v| v.as_str().map(str::to_lowercase))
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        PolicyError(format!(
                            "path \"{path}\": required_parameters must be strings"
                        ))
                    })?;
            }
            "min_wrapping_ttl" => p.min_wrapping_ttl = Some(duration(&path, &key, &value)?),
            "max_wrapping_ttl" => p.max_wrapping_ttl = Some(duration(&path, &key, &value)?),
            // Enterprise-only keys Vault accepts and community editions ignore.
            "control_group" | "mfa_methods" | "subscribe_event_types" => {}
            other => return fail(format!("path \"{path}\": invalid key '{other}'")),
        }
    }
    if let (Some(min), Some(max)) = (p.min_wrapping_ttl, p.max_wrapping_ttl) {
        if min > max {
            return fail(format!(
                "path \"{path}\": max_wrapping_ttl cannot be less than min_wrapping_ttl"
            ));
        }
    }
    // A deny rule grants nothing else.
    if p.capabilities & cap::DENY != 0 {
        p.capabilities = cap::DENY;
    }
    Ok(PathRule {
        path,
        permissions: p,
    })
}

fn param_rules(path: &str, key: &str, v: Value) -> Result<ParamRules, PolicyError> {
    let Value::Object(m) = v else {
        return fail(format!("path \"{path}\": {key} must be a map"));
    };
    let mut out = ParamRules::new();
    for (name, values) in m {
        let values = match values {
            Value::Array(a) => a,
            Value::Null => Vec::new(),
            other => vec![other],
        };
        out.insert(name.to_lowercase(), values);
    }
    Ok(out)
}

fn duration(path: &str, key: &str, v: &Value) -> Result<u64, PolicyError> {
    tresor_sdk::ttl::parse_value(v).map_err(|e| PolicyError(format!("path \"{path}\": {key}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hcl_and_json_give_the_same_rules() {
        let hcl = "path \"secret/*\" {\n  capabilities = [\"read\", \"LIST\"]\n  denied_parameters = { \"Foo\" = [] }\n}\npath \"/sys/x\" { policy = \"write\" }\n";
        let json = r#"{"path": {"secret/*": {"capabilities": ["read", "list"], "denied_parameters": {"foo": []}}, "sys/x": {"policy": "write"}}}"#;
        let a = parse("p", hcl).unwrap();
        let b = parse("p", json).unwrap();
        assert_eq!(a.rules, b.rules);
        assert_eq!(a.rules[0].permissions.capabilities, cap::READ | cap::LIST);
        assert!(a.rules[0].permissions.denied_parameters.contains_key("foo"));
        assert_eq!(a.rules[1].path, "sys/x");
        assert_eq!(
            a.rules[1].permissions.capabilities,
            cap::CREATE | cap::READ | cap::UPDATE | cap::DELETE | cap::LIST
        );
    }

    #[test]
    fn the_default_policy_parses() {
        let p = parse("default", include_str!("default.hcl")).unwrap();
        assert_eq!(p.rules.len(), 18);
    }

    #[test]
    fn bad_policies_are_refused() {
        assert!(parse("p", "path \"a\" { capabilities = [\"fly\"] }").is_err());
        assert!(parse("p", "path \"a*b\" { capabilities = [\"read\"] }").is_err());
        assert!(parse("p", "paths \"a\" { capabilities = [\"read\"] }").is_err());
        assert!(parse(
            "p",
            "path \"a\" { min_wrapping_ttl = \"2m\"\n max_wrapping_ttl = \"1m\" }"
        )
        .is_err());
        let e = parse("p", "path \"a\" {\n capabilities = [\"read\"\n}").unwrap_err();
        assert!(e.0.contains("line"), "{e}");
    }

    #[test]
    fn deny_is_exclusive() {
        let p = parse("p", "path \"a\" { capabilities = [\"deny\", \"read\"] }").unwrap();
        assert_eq!(p.rules[0].permissions.capabilities, cap::DENY);
    }
}
