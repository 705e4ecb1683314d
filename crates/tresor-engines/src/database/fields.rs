//! Request fields as the database engine reads them, and `allowed_roles` matching.

use serde_json::Value;
use tresor_sdk::{Error, Request, Result};

/// A list of statements (Vault's string slice): a JSON list, or one string as a one-element
/// list (not split: a statement may contain commas). Entries are trimmed, blanks dropped.
pub fn statements(req: &Request, field: &str) -> Result<Option<Vec<String>>> {
    let items = match req.get(field) {
        None => return Ok(None),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(Error::invalid(format!(
                    "error converting input for field \"{field}\": expected a list of strings, got {other}"
                ))),
            })
            .collect::<Result<Vec<_>>>()?,
        Some(other) => {
            return Err(Error::invalid(format!(
                "error converting input for field \"{field}\": expected a list of strings, got {other}"
            )))
        }
    };
    Ok(Some(
        items
            .into_iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
    ))
}

/// `credential_type`: only `password` (the default) is made. `credential_config` (a password
/// policy) is refused until there are password policies.
pub fn credential_type(req: &Request, current: &mut String) -> Result<()> {
    if req
        .get("credential_config")
        .is_some_and(|v| !matches!(v, serde_json::Value::Object(m) if m.is_empty()))
    {
        return Err(Error::invalid(
            "credential_config is not supported yet: passwords follow the default policy",
        ));
    }
    match req.str_field("credential_type")? {
        None if current.is_empty() => *current = "password".into(),
        None => {}
        Some(t) if t == "password" => *current = t,
        Some(t) => {
            return Err(Error::invalid(format!(
                "invalid credential_type \"{t}\": Tresor makes password credentials only"
            )))
        }
    }
    Ok(())
}

/// Whether `role` is allowed by a config's `allowed_roles`: `*`, or a glob in which `*`
/// matches any run of characters (case-sensitive). An empty list allows nothing.
pub fn role_allowed(allowed: &[String], role: &str) -> bool {
    allowed.iter().any(|pattern| glob(pattern, role))
}

fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_roles_globs() {
        let allowed = |list: &[&str], role| {
            role_allowed(
                &list.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                role,
            )
        };
        assert!(allowed(&["*"], "anything"));
        assert!(allowed(&["ro", "app-*"], "app-web"));
        assert!(allowed(&["*-ro"], "db-ro"));
        assert!(allowed(&["my-*-role"], "my-x-role"));
        assert!(!allowed(&["my-*-role"], "my-role"));
        assert!(!allowed(&["App-*"], "app-web"));
        assert!(!allowed(&[], "x"));
        assert!(!allowed(&["ro"], "rw"));
    }
}
