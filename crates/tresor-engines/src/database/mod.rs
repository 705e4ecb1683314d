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
pub mod template;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Mutex;
use tresor_sdk::framework::{Call, DefaultValue, Field, Kind, Path, Paths, Secret};
use tresor_sdk::{handler, lease_handler, Error, Request, Response, Result, StorageView};

use config::Connected;

#[derive(Default)]
pub struct Database {
    /// Open connections by config name.
    connections: Mutex<HashMap<String, Arc<Connected>>>,
    /// When each static role is next due, by name; loaded on the first tick.
    schedule: Mutex<Option<HashMap<String, i64>>>,
    /// Serialises password changes (rotate-root, static rotations), so two never race.
    rotations: Mutex<()>,
    clock: tresor_sdk::Clock,
}

impl Database {
    pub fn new(clock: tresor_sdk::Clock) -> Self {
        Database {
            clock,
            ..Database::default()
        }
    }
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

const NAME: Field = Field::new("name", Kind::Str, "Name of this database connection");
const ROLE: Field = Field::new("name", Kind::Str, "Name of the role.");
const DB_NAME: Field = Field::new(
    "db_name",
    Kind::Str,
    "Name of the database this role acts on.",
);
const CREDENTIAL_FIELDS: [Field; 2] = [
    Field::new(
        "credential_type",
        Kind::Str,
        "The type of credential to manage. Options include: 'password'. Defaults to 'password'.",
    ),
    Field::new(
        "credential_config",
        Kind::KvPairs,
        "The configuration for the given credential_type.",
    ),
];
const LIST_FIELDS: [Field; 2] = [
    Field::new(
        "after",
        Kind::Str,
        "Optional entry to list begin listing after, not required to exist.",
    ),
    Field::new(
        "limit",
        Kind::Int,
        "Optional number of entries to return; defaults to all entries.",
    ),
];

#[async_trait]
impl Paths for Database {
    const HELP: &'static str = "The database backend makes database credentials on demand: users that are dropped when their lease ends, and passwords of existing users rotated on a schedule.";

    fn paths() -> Vec<Path<Self>> {
        vec![
            Path::new("config")
                .synopsis("Configure connection details to a database plugin.")
                .fields(&LIST_FIELDS)
                .list(handler!(Self::list_configs)),
            Path::new("config/{name}")
                .synopsis("Configure connection details to a database plugin.")
                .description("This path configures the connection details used to connect to a particular\ndatabase. This path runs the provided plugin name and passes the configured\nconnection details to the plugin. See the documentation for the plugin specified\nfor a full list of accepted connection details.")
                .arbitrary_input()
                .field(NAME)
                .field(Field::new("plugin_name", Kind::Str, "The name of a builtin or previously registered plugin known to vault. This endpoint will create an instance of that plugin type."))
                .field(Field::new("plugin_version", Kind::Str, "The version of the plugin to use."))
                .field(Field::new("verify_connection", Kind::Bool, "If true, the connection details are verified by actually connecting to the database. Defaults to true.").default(DefaultValue::Bool(true)))
                .field(Field::new("allowed_roles", Kind::CommaList, "Comma separated string or array of the role names allowed to get creds from this database connection. If empty no roles are allowed. If \"*\" all roles are allowed."))
                .field(Field::new("root_rotation_statements", Kind::List, "Specifies the database statements to be executed to rotate the root user's credentials. See the plugin's API page for more information on support and formatting for this parameter."))
                .field(Field::new("password_policy", Kind::Str, "Password policy to use when generating passwords."))
                // The plugin's settings (`connection_url`, `username`, `password`,
                // `max_open_connections`, …) are not the path's fields, as in Vault: the plugin
                // reads them, in its own words.
                .exists(handler!(Self::config_exists))
                .read(handler!(Self::read_config))
                .write(handler!(Self::write_config_path))
                .delete(handler!(Self::delete_config_path)),
            Path::new("reset/{name}")
                .synopsis("Resets a database plugin.")
                .field(NAME)
                .update(handler!(Self::reset_path)),
            Path::new("rotate-root/{name}")
                .synopsis("Request to rotate the root credentials for a certain database connection.")
                .field(NAME)
                .update(handler!(Self::rotate_root_path)),
            Path::new("roles")
                .synopsis("Manage the roles that can be created with this backend.")
                .fields(&LIST_FIELDS)
                .list(handler!(Self::list_roles)),
            Path::new("roles/{name}")
                .synopsis("Manage the roles that can be created with this backend.")
                .field(ROLE)
                .field(DB_NAME)
                .field(Field::new("default_ttl", Kind::Duration, "Default ttl for role."))
                .field(Field::new("max_ttl", Kind::Duration, "Maximum time a credential is valid for"))
                .field(Field::new("creation_statements", Kind::List, "Specifies the database statements executed to create and configure a user. See the plugin's API page for more information on support and formatting for this parameter."))
                .field(Field::new("revocation_statements", Kind::List, "Specifies the database statements to be executed to revoke a user. See the plugin's API page for more information on support and formatting for this parameter."))
                .field(Field::new("renew_statements", Kind::List, "Specifies the database statements to be executed to renew a user. Not every plugin type will support this functionality. See the plugin's API page for more information on support and formatting for this parameter."))
                .field(Field::new("rollback_statements", Kind::List, "Specifies the database statements to be executed to rollback a create operation in the event of an error. Not every plugin type will support this functionality. See the plugin's API page for more information on support and formatting for this parameter."))
                .field(Field::new("username_template", Kind::Str, "Template describing how dynamic usernames are generated."))
                .fields(&CREDENTIAL_FIELDS)
                .exists(handler!(Self::role_exists))
                .read(handler!(Self::read_role))
                .write(handler!(Self::write_role))
                .delete(handler!(Self::delete_role)),
            Path::new("creds/{name}")
                .synopsis("Request database credentials for a certain role.")
                .field(ROLE)
                .forward()
                .read(handler!(Self::creds_path)),
            Path::new("static-roles")
                .synopsis("Manage the static roles that can be created with this backend.")
                .fields(&LIST_FIELDS)
                .list(handler!(Self::list_static_roles)),
            Path::new("static-roles/{name}")
                .synopsis("Manage the static roles that can be created with this backend.")
                .field(ROLE)
                .field(DB_NAME)
                .field(Field::new("username", Kind::Str, "Name of the static user account for Vault to manage. Requires \"rotation_period\" to be specified"))
                .field(Field::new("rotation_period", Kind::Duration, "Period for automatic credential rotation of the given username. Not valid unless used with \"username\"."))
                .field(Field::new("rotation_statements", Kind::List, "Specifies the database statements to be executed to rotate the accounts credentials. Not every plugin type will support this functionality. See the plugin's API page for more information on support and formatting for this parameter."))
                .fields(&CREDENTIAL_FIELDS)
                .exists(handler!(Self::static_role_exists))
                .read(handler!(Self::read_static_role))
                .write(handler!(Self::write_static_role_path))
                .delete(handler!(Self::delete_static_role_path)),
            Path::new("static-creds/{name}")
                .synopsis("Request database credentials for a certain static role. These credentials are rotated periodically.")
                .field(ROLE)
                .read(handler!(Self::static_creds_path)),
            Path::new("rotate-role/{name}")
                .synopsis("Request to rotate the credentials for a static user account.")
                .field(ROLE)
                .update(handler!(Self::rotate_role_path)),
        ]
    }

    fn secrets() -> Vec<Secret<Self>> {
        vec![Secret {
            kind: "creds",
            renew: Some(lease_handler!(Self::renew_creds)),
            revoke: lease_handler!(Self::revoke_creds),
        }]
    }

    async fn periodic(&self, view: &dyn StorageView) -> Result<()> {
        self.rotate_due(view).await
    }

    /// Another node of the cluster changed a connection's configuration (or its root
    /// password): the open pool uses the old one.
    async fn invalidate(&self, key: &str) {
        if let Some(name) = key.strip_prefix("config/") {
            self.connections.lock().await.remove(name);
        } else if key.is_empty() {
            self.connections.lock().await.clear();
        }
    }
}

/// The config or role a path names, by Vault's name rule.
fn name<'c>(c: &'c Call<'_>) -> Result<&'c str> {
    let name = c.param("name");
    if !valid_name(name) {
        return Err(Error::UnsupportedPath);
    }
    Ok(name)
}

impl Database {
    async fn list_configs(&self, c: &Call<'_>) -> Result<Option<Response>> {
        list(c.req, c.view, "config/").await
    }

    async fn list_roles(&self, c: &Call<'_>) -> Result<Option<Response>> {
        list(c.req, c.view, "role/").await
    }

    async fn list_static_roles(&self, c: &Call<'_>) -> Result<Option<Response>> {
        list(c.req, c.view, "static-role/").await
    }

    async fn config_exists(&self, c: &Call<'_>) -> Result<bool> {
        Ok(c.view.get(&config::key(name(c)?)).await?.is_some())
    }

    async fn role_exists(&self, c: &Call<'_>) -> Result<bool> {
        Ok(c.view.get(&roles::key(name(c)?)).await?.is_some())
    }

    async fn static_role_exists(&self, c: &Call<'_>) -> Result<bool> {
        Ok(c.view.get(&static_roles::key(name(c)?)).await?.is_some())
    }

    async fn read_config(&self, c: &Call<'_>) -> Result<Option<Response>> {
        config::read(c.view, name(c)?).await
    }

    async fn write_config_path(&self, c: &Call<'_>) -> Result<Option<Response>> {
        self.write_config(c.req, c.view, name(c)?).await
    }

    async fn delete_config_path(&self, c: &Call<'_>) -> Result<Option<Response>> {
        self.delete_config(c.view, name(c)?).await
    }

    async fn reset_path(&self, c: &Call<'_>) -> Result<Option<Response>> {
        self.reset(c.view, name(c)?).await
    }

    async fn rotate_root_path(&self, c: &Call<'_>) -> Result<Option<Response>> {
        self.rotate_root(c.view, name(c)?).await
    }

    async fn read_role(&self, c: &Call<'_>) -> Result<Option<Response>> {
        roles::read(c.view, name(c)?).await
    }

    async fn write_role(&self, c: &Call<'_>) -> Result<Option<Response>> {
        roles::write(c.req, c.view, name(c)?).await
    }

    async fn delete_role(&self, c: &Call<'_>) -> Result<Option<Response>> {
        c.view.delete(&roles::key(name(c)?)).await?;
        Ok(None)
    }

    async fn creds_path(&self, c: &Call<'_>) -> Result<Option<Response>> {
        self.creds(c.req, c.view, name(c)?).await
    }

    async fn read_static_role(&self, c: &Call<'_>) -> Result<Option<Response>> {
        static_roles::read(c.view, name(c)?).await
    }

    async fn write_static_role_path(&self, c: &Call<'_>) -> Result<Option<Response>> {
        self.write_static_role(c.req, c.view, name(c)?).await
    }

    async fn delete_static_role_path(&self, c: &Call<'_>) -> Result<Option<Response>> {
        self.delete_static_role(c.view, name(c)?).await
    }

    async fn static_creds_path(&self, c: &Call<'_>) -> Result<Option<Response>> {
        self.static_creds(c.view, name(c)?).await
    }

    async fn rotate_role_path(&self, c: &Call<'_>) -> Result<Option<Response>> {
        self.rotate_role(c.view, name(c)?).await
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
