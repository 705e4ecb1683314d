//! Request fields as the database engine reads them, and `allowed_roles` matching.

use tresor_sdk::{Error, Request, Result};

/// `credential_type`: only `password` (the default) is made. `credential_config` (a password
/// policy) is refused until there are password policies.
pub fn credential_type(req: &Request, current: &mut String) -> Result<()> {
    if req
        .kv_field("credential_config")?
        .is_some_and(|m| !m.is_empty())
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
    allowed
        .iter()
        .any(|pattern| tresor_sdk::glob::matches(pattern, role))
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
