//! `config/:name`, `reset/:name`, `rotate-root/:name`: database connections, and the cache of
//! open ones.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tresor_sdk::{Error, Map, Request, Response, Result, StorageView};

use super::plugin::{self, Connection, Kind, Settings};
use super::template::Template;
use super::{password, Database};

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

// Field-wise defaults: a struct-level `serde(default)` would move fields out of a value that
// wipes its passwords on drop.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DbConfig {
    #[serde(default)]
    pub plugin_name: String,
    #[serde(default)]
    pub plugin_version: String,
    #[serde(default)]
    pub allowed_roles: Vec<String>,
    #[serde(default)]
    pub root_rotation_statements: Vec<String>,
    #[serde(default)]
    pub password_policy: String,
    /// As written, including the root `password` (never read back out).
    #[serde(default)]
    pub connection_details: Map,
    /// A root password being rotated to: set before the database is changed, cleared after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_password: Option<String>,
}

impl Drop for DbConfig {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        if let Some(Value::String(p)) = self.connection_details.get_mut("password") {
            p.zeroize();
        }
        if let Some(p) = self.pending_password.as_mut() {
            p.zeroize();
        }
    }
}

/// A config with its open connection.
pub struct Connected {
    pub config: DbConfig,
    pub conn: Box<dyn Connection>,
    pub username_template: Template,
}

/// A config nobody wrote: the caller's mistake, so a 400 (Vault answers 500).
fn not_found(name: &str) -> Error {
    Error::invalid(format!(
        "failed to find entry for connection with name: \"{name}\""
    ))
}

pub async fn load(view: &dyn StorageView, name: &str) -> Result<Option<DbConfig>> {
    crate::stored::get_json(view, &key(name)).await
}

async fn store(view: &dyn StorageView, name: &str, c: &DbConfig) -> Result<()> {
    crate::stored::put_json(view, &key(name), c).await
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

/// A URL with its literal password shown as `xxxxx`, as Vault's read does.
fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, pw)) if !pw.is_empty() && pw != "{{password}}" => {
            format!("{scheme}://{user}:xxxxx{}", &rest[at..])
        }
        _ => url.to_owned(),
    }
}

pub async fn read(view: &dyn StorageView, name: &str) -> Result<Option<Response>> {
    let Some(c) = load(view, name).await? else {
        return Ok(None);
    };
    let mut details = c.connection_details.clone();
    details.remove("password");
    details.remove("private_key");
    if let Some(Value::String(url)) = details.get_mut("connection_url") {
        *url = redact_url_password(url);
    }
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
    /// The open connection of config `name`, opening it if needed. Opening happens under
    /// `self.rotations` (taken here unless the caller `holds_rotations`), so that the stored
    /// config it opens is never one a rotation is half-way through changing, and an
    /// interrupted rotation is settled first.
    pub(super) async fn connection(
        &self,
        view: &dyn StorageView,
        name: &str,
        holds_rotations: bool,
    ) -> Result<Arc<Connected>> {
        if let Some(c) = self.connections.lock().await.get(name) {
            return Ok(Arc::clone(c));
        }
        let _serial = match holds_rotations {
            true => None,
            false => Some(self.rotations.lock().await),
        };
        if let Some(c) = self.connections.lock().await.get(name) {
            return Ok(Arc::clone(c));
        }
        let mut config = load(view, name).await?.ok_or_else(|| not_found(name))?;
        if config.pending_password.is_some() {
            config = self.settle_root_rotation(view, name, config).await?;
        }
        let connected = Arc::new(open(&config)?);
        self.connections
            .lock()
            .await
            .insert(name.to_owned(), Arc::clone(&connected));
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
        // Config changes and password changes are serialised: a write must not bring back a
        // root password that a rotation has just replaced.
        let _serial = self.rotations.lock().await;
        let mut c = match load(view, name).await? {
            Some(c) if c.pending_password.is_some() => {
                self.settle_root_rotation(view, name, c).await?
            }
            Some(c) => c,
            None => DbConfig::default(),
        };
        if let Some(p) = req.str_field("plugin_name")? {
            c.plugin_name = p;
        }
        if c.plugin_name.is_empty() {
            return Err(Error::invalid("empty plugin name"));
        }
        if let Some(v) = req.str_field("plugin_version")? {
            c.plugin_version = v;
        }
        if let Some(r) = req.list_field("allowed_roles")? {
            c.allowed_roles = r;
        }
        if let Some(s) = req.slice_field("root_rotation_statements")? {
            c.root_rotation_statements = s;
        }
        if let Some(p) = req.str_field("password_policy")? {
            if !p.is_empty() {
                // Refused rather than ignored: there are no password policies to apply yet.
                return Err(Error::invalid(
                    "password_policy is not supported yet: passwords follow the default policy",
                ));
            }
            c.password_policy = p;
        }
        let verify = req.bool_field("verify_connection")?.unwrap_or(true);
        for (k, v) in &req.data {
            if !OWN_FIELDS.contains(&k.as_str()) {
                c.connection_details.insert(k.clone(), v.clone());
            }
        }
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
        let _serial = self.rotations.lock().await;
        view.delete(&key(name)).await?;
        self.evict(name).await;
        Ok(None)
    }

    pub(super) async fn reset(
        &self,
        view: &dyn StorageView,
        name: &str,
    ) -> Result<Option<Response>> {
        let _serial = self.rotations.lock().await;
        self.evict(name).await;
        let connected = self.connection(view, name, true).await?;
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
        let connected = self.connection(view, name, true).await?;
        // What storage holds now (the cached copy may predate a write).
        let mut c = load(view, name).await?.ok_or_else(|| not_found(name))?;
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
        // Out of the cache before the database changes: if this request is dropped half-way,
        // the next use opens afresh and settles the pending password.
        self.connections.lock().await.remove(name);
        let changed = connected
            .conn
            .set_password(&c.root_rotation_statements, &settings.username, &new)
            .await;
        connected.conn.close().await;
        if let Err(e) = changed {
            // The change may or may not have reached the database (a timeout during commit):
            // find out which password works before forgetting either.
            if let Err(settle) = self.settle_root_rotation(view, name, c).await {
                tracing::warn!(config = %name, error = %settle, "database: root rotation left pending");
            }
            return Err(Error::External(format!("failed to update user: {e}")));
        }
        c.pending_password = None;
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
        c: DbConfig,
    ) -> Result<DbConfig> {
        let Some(pending) = c.pending_password.clone() else {
            return Ok(c);
        };
        // The config that connects, or why the candidate did not.
        let works = |config: DbConfig| async move {
            let connected = open(&config)?;
            let verified = connected.conn.verify().await;
            connected.conn.close().await;
            Ok::<_, Error>(verified.map(|()| config))
        };
        let mut current = c.clone();
        current.pending_password = None;
        let mut candidate = current.clone();
        candidate
            .connection_details
            .insert("password".into(), Value::String(pending));
        let settled = match works(current).await? {
            Ok(c) => c,
            Err(_) => works(candidate).await?.map_err(|e| {
                // Neither works (the database may be down): keep both, decide later.
                Error::External(format!(
                    "a root credential rotation of \"{name}\" is unfinished and neither password could be verified: {e}"
                ))
            })?,
        };
        store(view, name, &settled).await?;
        Ok(settled)
    }
}

#[cfg(test)]
mod tests {
    use super::{redact_url_password, url_has_password};

    #[test]
    fn literal_passwords_in_urls_are_noticed() {
        assert_eq!(
            redact_url_password("postgresql://root:secret@localhost/db?x=1"),
            "postgresql://root:xxxxx@localhost/db?x=1"
        );
        let templated = "postgresql://{{username}}:{{password}}@localhost/db";
        assert_eq!(redact_url_password(templated), templated);
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
