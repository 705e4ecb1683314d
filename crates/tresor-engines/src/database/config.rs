//! `config/:name`, `reset/:name`, `rotate-root/:name`: database connections, and the cache of
//! open ones.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tresor_sdk::{Error, Map, Request, Response, Result, StorageView};
use zeroize::Zeroizing;

use super::plugin::{self, Connection, Kind, Settings};
use super::template::Template;
use super::{fields, password, Database};

pub fn key(name: &str) -> String {
    format!("config/{name}")
}

/// Fields of `config/:name` that are the engine's own; every other field of the request is
/// part of `connection_details`, as in Vault.
const OWN_FIELDS: &[&str] = &[
    "name",
    "plugin_name",
    "plugin_version",
    "verify_connection",
    "allowed_roles",
    "root_rotation_statements",
    "password_policy",
];

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DbConfig {
    pub plugin_name: String,
    pub plugin_version: String,
    pub allowed_roles: Vec<String>,
    pub root_rotation_statements: Vec<String>,
    pub password_policy: String,
    /// As written, including the root `password` (never read back out).
    pub connection_details: Map,
    /// A root password being rotated to: set before the database is changed, cleared after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_password: Option<String>,
}

/// A config with its open connection.
pub struct Connected {
    pub config: DbConfig,
    pub conn: Box<dyn Connection>,
    pub username_template: Template,
}

fn not_found(name: &str) -> Error {
    Error::External(format!(
        "failed to find entry for connection with name: \"{name}\""
    ))
}

pub async fn load(view: &dyn StorageView, name: &str) -> Result<Option<DbConfig>> {
    match view.get(&key(name)).await? {
        Some(raw) => Ok(Some(serde_json::from_slice(&raw)?)),
        None => Ok(None),
    }
}

async fn store(view: &dyn StorageView, name: &str, c: &DbConfig) -> Result<()> {
    let raw = Zeroizing::new(serde_json::to_vec(c)?);
    view.put(&key(name), &raw).await
}

fn kind(c: &DbConfig) -> Result<Kind> {
    Kind::named(&c.plugin_name).ok_or_else(|| {
        Error::invalid(format!(
            "error creating database object: no such plugin \"{}\"",
            c.plugin_name
        ))
    })
}

/// Opens (lazily) the connection a config describes, and parses its username template.
fn open(c: &DbConfig) -> Result<Connected> {
    let kind = kind(c)?;
    let settings = Settings::from_details(&c.connection_details).map_err(creating)?;
    for v in [&settings.username, &*settings.password] {
        if v.contains("{{username}}") || v.contains("{{password}}") {
            return Err(Error::invalid(
                "error creating database object: username and/or password cannot contain the template variables",
            ));
        }
    }
    let template_src = match c.connection_details.get("username_template") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => Kind::default_username_template(&c.plugin_name).to_owned(),
    };
    let username_template = Template::parse(&template_src).map_err(|e| {
        Error::invalid(format!(
            "error creating database object: invalid username template: {e}"
        ))
    })?;
    let conn = plugin::connect(kind, settings).map_err(creating)?;
    Ok(Connected {
        config: c.clone(),
        conn,
        username_template,
    })
}

fn creating(e: plugin::DbError) -> Error {
    Error::invalid(format!("error creating database object: {e}"))
}

/// Whether a connection URL carries a literal password (`user:secret@host`).
fn url_has_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let userinfo = rest.split(['/', '?']).next().unwrap_or_default();
    match userinfo.rsplit_once('@') {
        Some((creds, _)) => creds
            .split_once(':')
            .is_some_and(|(_, p)| !p.is_empty() && p != "{{password}}"),
        None => false,
    }
}

pub async fn read(view: &dyn StorageView, name: &str) -> Result<Option<Response>> {
    let Some(c) = load(view, name).await? else {
        return Ok(None);
    };
    let mut details = c.connection_details.clone();
    details.remove("password");
    details.remove("private_key");
    let mut d = Map::new();
    d.insert("allowed_roles".into(), c.allowed_roles.clone().into());
    d.insert("connection_details".into(), Value::Object(details));
    d.insert("password_policy".into(), c.password_policy.clone().into());
    d.insert("plugin_name".into(), c.plugin_name.clone().into());
    d.insert("plugin_version".into(), c.plugin_version.clone().into());
    d.insert(
        "root_credentials_rotate_statements".into(),
        c.root_rotation_statements.clone().into(),
    );
    Ok(Some(Response::data(d)))
}

impl Database {
    /// The open connection of config `name`, opening it if needed.
    pub(super) async fn connection(
        &self,
        view: &dyn StorageView,
        name: &str,
    ) -> Result<Arc<Connected>> {
        let mut open_ones = self.connections.lock().await;
        if let Some(c) = open_ones.get(name) {
            return Ok(Arc::clone(c));
        }
        let mut config = load(view, name).await?.ok_or_else(|| not_found(name))?;
        if config.pending_password.is_some() {
            config = self.settle_root_rotation(view, name, config).await?;
        }
        let connected = Arc::new(open(&config)?);
        open_ones.insert(name.to_owned(), Arc::clone(&connected));
        Ok(connected)
    }

    /// Closes and forgets the open connection of `name`, if any.
    pub(super) async fn evict(&self, name: &str) {
        let old = self.connections.lock().await.remove(name);
        if let Some(old) = old {
            old.conn.close().await;
        }
    }

    pub(super) async fn write_config(
        &self,
        req: &Request,
        view: &dyn StorageView,
        name: &str,
    ) -> Result<Option<Response>> {
        let mut c = load(view, name).await?.unwrap_or_default();
        if let Some(p) = req.str_field("plugin_name")? {
            c.plugin_name = p;
        }
        if c.plugin_name.is_empty() {
            return Err(Error::invalid("empty plugin name"));
        }
        if let Some(v) = req.str_field("plugin_version")? {
            c.plugin_version = v;
        }
        if let Some(r) = tresor_sdk::token_params::string_list(req, "allowed_roles")? {
            c.allowed_roles = r;
        }
        if let Some(s) = fields::statements(req, "root_rotation_statements")? {
            c.root_rotation_statements = s;
        }
        if let Some(p) = req.str_field("password_policy")? {
            c.password_policy = p;
        }
        let verify = req.bool_field("verify_connection")?.unwrap_or(true);
        for (k, v) in &req.data {
            if !OWN_FIELDS.contains(&k.as_str()) {
                c.connection_details.insert(k.clone(), v.clone());
            }
        }
        c.pending_password = None;
        let connected = open(&c)?;
        if verify {
            if let Err(e) = connected.conn.verify().await {
                connected.conn.close().await;
                return Err(Error::invalid(format!(
                    "error creating database object: error verifying connection: {e}"
                )));
            }
        }
        store(view, name, &c).await?;
        let old = self
            .connections
            .lock()
            .await
            .insert(name.to_owned(), Arc::new(connected));
        if let Some(old) = old {
            old.conn.close().await;
        }
        let url = c
            .connection_details
            .get("connection_url")
            .and_then(Value::as_str)
            .unwrap_or_default();
        Ok(url_has_password(url).then(|| {
            Response::default().with_warning(
                "Password found in connection_url, use a templated url to enable root rotation and prevent read access to password information.",
            )
        }))
    }

    pub(super) async fn delete_config(
        &self,
        view: &dyn StorageView,
        name: &str,
    ) -> Result<Option<Response>> {
        view.delete(&key(name)).await?;
        self.evict(name).await;
        Ok(None)
    }

    pub(super) async fn reset(
        &self,
        view: &dyn StorageView,
        name: &str,
    ) -> Result<Option<Response>> {
        self.evict(name).await;
        let connected = self.connection(view, name).await?;
        connected.conn.verify().await?;
        Ok(None)
    }

    /// `rotate-root/:name`: a new root password, set in the database and then stored; the
    /// old one is useless afterwards.
    pub(super) async fn rotate_root(
        &self,
        view: &dyn StorageView,
        name: &str,
    ) -> Result<Option<Response>> {
        let _serial = self.rotations.lock().await;
        let connected = self.connection(view, name).await?;
        let mut c = connected.config.clone();
        let settings = Settings::from_details(&c.connection_details)?;
        if settings.username.is_empty() {
            return Err(Error::External(
                "unable to rotate root credentials: no username in configuration".into(),
            ));
        }
        if settings.password.is_empty() {
            return Err(Error::External(
                "unable to rotate root credentials: no password in configuration".into(),
            ));
        }
        let new = password::generate()?;
        c.pending_password = Some(new.to_string());
        store(view, name, &c).await?;
        let changed = connected
            .conn
            .set_password(&c.root_rotation_statements, &settings.username, &new)
            .await;
        self.evict(name).await;
        c.pending_password = None;
        if let Err(e) = changed {
            store(view, name, &c).await?;
            return Err(Error::External(format!("failed to update user: {e}")));
        }
        c.connection_details
            .insert("password".into(), Value::String(new.to_string()));
        store(view, name, &c).await?;
        Ok(None)
    }

    /// A root rotation that was interrupted: the database has either the stored password or
    /// the pending one. Keep whichever works.
    async fn settle_root_rotation(
        &self,
        view: &dyn StorageView,
        name: &str,
        mut c: DbConfig,
    ) -> Result<DbConfig> {
        let Some(pending) = c.pending_password.take() else {
            return Ok(c);
        };
        let current = open(&c)?;
        let current_works = current.conn.verify().await.is_ok();
        current.conn.close().await;
        if !current_works {
            let mut candidate = c.clone();
            candidate
                .connection_details
                .insert("password".into(), Value::String(pending));
            let next = open(&candidate)?;
            let next_works = next.conn.verify().await.is_ok();
            next.conn.close().await;
            if next_works {
                c = candidate;
            }
        }
        store(view, name, &c).await?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::url_has_password;

    #[test]
    fn literal_passwords_in_urls_are_noticed() {
        assert!(url_has_password("postgresql://root:secret@localhost/db"));
        assert!(!url_has_password(
            "postgresql://{{username}}:{{password}}@localhost/db"
        ));
        assert!(!url_has_password("postgresql://root@localhost/db"));
        assert!(!url_has_password(
            "{{username}}:{{password}}@tcp(127.0.0.1:3306)/"
        ));
    }
}
