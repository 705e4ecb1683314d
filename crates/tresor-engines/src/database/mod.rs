//! The database secrets engine: credentials for PostgreSQL, MySQL/MariaDB and Redis, made on
//! demand (`creds/:role`, a user that lives as long as its lease) or rotated in place
//! (`static-creds/:role`, an existing user whose password Tresor changes on a schedule).
//!
//! Storage (all through the barrier): `config/<name>` (the connection, with the root
//! password), `role/<name>`, `static-role/<name>` (with the current password). The engine
//! keeps one pooled [`plugin::Connection`] per config, opened on first use and dropped when the
//! config is written, reset, rotated or deleted.
//!
//! Crash safety: a password change is recorded as `pending_password` before the database is
//! touched and promoted after; a restart finds the pending one and settles it (the root
//! password by trying both, a static role by rotating again), so no password is ever lost.

mod config;
mod fields;
mod password;
mod plugin;
mod roles;
mod static_roles;
mod template;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Mutex;
use tresor_sdk::{Backend, Error, Operation, Request, Response, Result, StorageView};

use config::Connected;

#[derive(Default)]
pub struct Database {
    /// Open connections by config name.
    connections: Mutex<HashMap<String, Arc<Connected>>>,
    /// When each static role is next due, by name; loaded on the first tick.
    schedule: Mutex<Option<HashMap<String, i64>>>,
    /// Serialises password changes (rotate-root, static rotations), so two never race.
    rotations: Mutex<()>,
}

/// Vault's name rule for configs and roles: `\w(([\w-.]+)?\w)?`.
fn valid_name(name: &str) -> bool {
    // Go's `\w` is ASCII only.
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = name.chars();
    match (chars.next(), name.chars().last()) {
        (Some(first), Some(last)) => {
            word(first) && word(last) && name.chars().all(|c| word(c) || c == '-' || c == '.')
        }
        _ => false,
    }
}

fn name_of<'a>(rest: &'a str, what: &str) -> Result<&'a str> {
    if rest.is_empty() {
        return Err(Error::invalid(format!("empty {what} attribute given")));
    }
    if !valid_name(rest) {
        return Err(Error::UnsupportedPath);
    }
    Ok(rest)
}

/// A LIST, with Vault's optional paging: names after `after`, at most `limit` of them.
async fn list(req: &Request, view: &dyn StorageView, prefix: &str) -> Result<Option<Response>> {
    let after = req.str_field("after")?.unwrap_or_default();
    let limit = match req.int_field("limit")? {
        Some(n) if n > 0 => n as usize,
        _ => usize::MAX,
    };
    let keys: Vec<String> = view
        .list(prefix)
        .await?
        .into_iter()
        .filter(|k| after.is_empty() || k.as_str() > after.as_str())
        .take(limit)
        .collect();
    Ok((!keys.is_empty()).then(|| Response::list(keys)))
}

#[async_trait]
impl Backend for Database {
    async fn handle(&self, req: &Request, view: &dyn StorageView) -> Result<Option<Response>> {
        use Operation::*;
        let op = req.operation;
        let path = req.path.as_str();
        let (head, rest) = path.split_once('/').unwrap_or((path, ""));
        match (head, rest, op) {
            ("config", "", List) => list(req, view, "config/").await,
            ("roles", "", List) => list(req, view, "role/").await,
            ("static-roles", "", List) => list(req, view, "static-role/").await,
            ("config", name, _) => {
                let name = name_of(name, "name")?;
                match op {
                    Read => config::read(view, name).await,
                    Create | Update => self.write_config(req, view, name).await,
                    Delete => self.delete_config(view, name).await,
                    _ => Err(Error::UnsupportedOperation),
                }
            }
            ("reset", name, Create | Update) => self.reset(view, name_of(name, "name")?).await,
            ("rotate-root", name, Create | Update) => {
                self.rotate_root(view, name_of(name, "name")?).await
            }
            ("roles", name, _) => {
                let name = name_of(name, "role name")?;
                match op {
                    Read => roles::read(view, name).await,
                    Create | Update => roles::write(req, view, name).await,
                    Delete => {
                        view.delete(&roles::key(name)).await?;
                        Ok(None)
                    }
                    _ => Err(Error::UnsupportedOperation),
                }
            }
            ("creds", name, Read) => self.creds(req, view, name_of(name, "role name")?).await,
            ("static-roles", name, _) => {
                let name = name_of(name, "role name")?;
                match op {
                    Read => static_roles::read(view, name).await,
                    Create | Update => self.write_static_role(req, view, name).await,
                    Delete => self.delete_static_role(view, name).await,
                    _ => Err(Error::UnsupportedOperation),
                }
            }
            ("static-creds", name, Read) => {
                self.static_creds(view, name_of(name, "role name")?).await
            }
            ("rotate-role", name, Create | Update) => {
                self.rotate_role(view, name_of(name, "role name")?).await
            }
            ("reset" | "rotate-root" | "creds" | "static-creds" | "rotate-role", _, _) => {
                Err(Error::UnsupportedOperation)
            }
            _ => Err(Error::UnsupportedPath),
        }
    }

    async fn exists(&self, req: &Request, view: &dyn StorageView) -> Result<Option<bool>> {
        let key = match req.path.split_once('/') {
            Some(("config", n)) => config::key(n),
            Some(("roles", n)) => roles::key(n),
            Some(("static-roles", n)) => static_roles::key(n),
            _ => return Ok(None),
        };
        Ok(Some(view.get(&key).await?.is_some()))
    }

    async fn revoke(&self, req: &Request, view: &dyn StorageView) -> Result<()> {
        self.revoke_creds(req, view).await
    }

    async fn renew(&self, req: &Request, view: &dyn StorageView) -> Result<()> {
        self.renew_creds(req, view).await
    }

    async fn periodic(&self, view: &dyn StorageView) -> Result<()> {
        self.rotate_due(view).await
    }

    fn help(&self) -> String {
        tresor_sdk::help_text(
            "The database backend makes database credentials on demand: users that are \
             dropped when their lease ends, and passwords of existing users rotated on a \
             schedule.",
            &[
                ("^config/(?P<name>\\w(([\\w-.]+)?\\w)?)$", "Configure connection details to a database plugin."),
                ("^reset/(?P<name>\\w(([\\w-.]+)?\\w)?)$", "Resets a database plugin."),
                ("^rotate-root/(?P<name>\\w(([\\w-.]+)?\\w)?)$", "Request to rotate the root credentials for a certain database connection."),
                ("^roles/(?P<name>\\w(([\\w-.]+)?\\w)?)$", "Manage the roles that can be created with this backend."),
                ("^creds/(?P<name>\\w(([\\w-.]+)?\\w)?)$", "Request database credentials for a certain role."),
                ("^static-roles/(?P<name>\\w(([\\w-.]+)?\\w)?)$", "Manage the static roles that can be created with this backend."),
                ("^static-creds/(?P<name>\\w(([\\w-.]+)?\\w)?)$", "Request database credentials for a certain static role. These credentials are rotated periodically."),
                ("^rotate-role/(?P<name>\\w(([\\w-.]+)?\\w)?)$", "Request to rotate the credentials for a static user account."),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn names_follow_vaults_rule() {
        for ok in ["a", "pg", "my-db.1", "x_y"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a/b", "a b", ".a"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
