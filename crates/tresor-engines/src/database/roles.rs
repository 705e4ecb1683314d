//! Dynamic roles (`roles/:name`) and their credentials (`creds/:name`): a new database user
//! per request, with a lease; renewing the lease moves the user's expiry, revoking it (or its
//! expiry) drops the user.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::Duration;
use tresor_sdk::{Error, Map, Request, Response, Result, SecretLease, StorageView};

use super::template::{Fields, Template};
use super::{config, fields, password, static_roles, Database};

pub fn key(name: &str) -> String {
    format!("role/{name}")
}

/// Vault gives the database user a few seconds more than the lease, so the lease always ends
/// (and revokes) before the database would refuse the user on its own.
const EXPIRY_SLACK_SECS: i64 = 5;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Role {
    pub db_name: String,
    pub creation_statements: Vec<String>,
    pub revocation_statements: Vec<String>,
    pub rollback_statements: Vec<String>,
    pub renew_statements: Vec<String>,
    pub default_ttl: u64,
    pub max_ttl: u64,
    pub credential_type: String,
    /// Overrides the connection's `username_template` for this role (Vault has it on the
    /// connection only; the role is where teams want it).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username_template: String,
}

pub async fn load(view: &dyn StorageView, name: &str) -> Result<Option<Role>> {
    crate::stored::get_json(view, &key(name)).await
}

pub async fn read(view: &dyn StorageView, name: &str) -> Result<Option<Response>> {
    let Some(r) = load(view, name).await? else {
        return Ok(None);
    };
    let mut d = Map::new();
    d.insert("creation_statements".into(), r.creation_statements.into());
    d.insert("credential_type".into(), r.credential_type.into());
    d.insert("db_name".into(), r.db_name.into());
    d.insert("default_ttl".into(), r.default_ttl.into());
    d.insert("max_ttl".into(), r.max_ttl.into());
    d.insert("renew_statements".into(), r.renew_statements.into());
    d.insert(
        "revocation_statements".into(),
        r.revocation_statements.into(),
    );
    d.insert("rollback_statements".into(), r.rollback_statements.into());
    if !r.username_template.is_empty() {
        d.insert("username_template".into(), r.username_template.into());
    }
    Ok(Some(Response::data(d)))
}

pub async fn write(req: &Request, view: &dyn StorageView, name: &str) -> Result<Option<Response>> {
    if view.get(&static_roles::key(name)).await?.is_some() {
        return Err(Error::invalid("Role and Static Role names must be unique"));
    }
    let mut r = load(view, name).await?.unwrap_or_default();
    if let Some(db) = req.str_field("db_name")? {
        r.db_name = db;
    }
    if r.db_name.is_empty() {
        return Err(Error::invalid("database name is required"));
    }
    for (field, slot) in [
        ("creation_statements", &mut r.creation_statements),
        ("revocation_statements", &mut r.revocation_statements),
        ("rollback_statements", &mut r.rollback_statements),
        ("renew_statements", &mut r.renew_statements),
    ] {
        if let Some(s) = req.slice_field(field)? {
            *slot = s;
        }
    }
    if let Some(t) = req.duration_field("default_ttl")? {
        r.default_ttl = t;
    }
    if let Some(t) = req.duration_field("max_ttl")? {
        r.max_ttl = t;
    }
    if r.max_ttl > 0 && r.default_ttl > r.max_ttl {
        return Err(Error::invalid("ttl cannot be greater than max_ttl"));
    }
    if let Some(t) = req.str_field("username_template")? {
        if !t.is_empty() {
            Template::parse(&t)?;
        }
        r.username_template = t;
    }
    fields::credential_type(req, &mut r.credential_type)?;
    crate::stored::put_json(view, &key(name), &r).await?;
    Ok(None)
}

fn text(data: &Map, k: &str) -> String {
    data.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

impl Database {
    /// The config of a role's database, if the role may use it.
    pub(super) async fn allowed_connection(
        &self,
        view: &dyn StorageView,
        db_name: &str,
        role: &str,
        holds_rotations: bool,
    ) -> Result<std::sync::Arc<config::Connected>> {
        let connected = self.connection(view, db_name, holds_rotations).await?;
        if !fields::role_allowed(&connected.config.allowed_roles, role) {
            return Err(Error::External(format!(
                "\"{role}\" is not an allowed role"
            )));
        }
        Ok(connected)
    }

    pub(super) async fn creds(
        &self,
        req: &Request,
        view: &dyn StorageView,
        name: &str,
    ) -> Result<Option<Response>> {
        let role = load(view, name)
            .await?
            .ok_or_else(|| Error::invalid(format!("unknown role: {name}")))?;
        let connected = self
            .allowed_connection(view, &role.db_name, name, false)
            .await?;
        let ttl = req.lease_limits.grant(role.default_ttl, role.max_ttl);
        let now = self.clock.now();
        let expiration = now + Duration::seconds(ttl as i64 + EXPIRY_SLACK_SECS);
        let fields = Fields {
            display_name: &req.display_name,
            role_name: name,
            now,
        };
        let username = if role.username_template.is_empty() {
            connected.username_template.render(&fields)?
        } else {
            Template::parse(&role.username_template)?.render(&fields)?
        };
        let password = password::generate()?;
        connected
            .conn
            .create_user(
                &role.creation_statements,
                &role.rollback_statements,
                &username,
                &password,
                expiration,
            )
            .await?;
        let mut data = Map::new();
        data.insert("password".into(), password.as_str().into());
        data.insert("username".into(), username.clone().into());
        let mut internal = Map::new();
        internal.insert("username".into(), username.into());
        internal.insert("role".into(), name.into());
        internal.insert("db_name".into(), role.db_name.into());
        internal.insert(
            "revocation_statements".into(),
            role.revocation_statements.into(),
        );
        internal.insert("secret_type".into(), "creds".into());
        Ok(Some(Response {
            secret: Some(SecretLease {
                ttl: role.default_ttl,
                max_ttl: role.max_ttl,
                renewable: true,
                internal,
            }),
            ..Response::data(data)
        }))
    }

    /// A lease of `creds/` ended: drop its user, with the role's current revocation
    /// statements, or those kept with the lease when the role is gone.
    pub(super) async fn revoke_creds(&self, req: &Request, view: &dyn StorageView) -> Result<()> {
        let username = text(&req.data, "username");
        let role_name = text(&req.data, "role");
        if username.is_empty() {
            return Err(Error::invalid("secret is missing username internal data"));
        }
        let (db_name, statements) = match load(view, &role_name).await? {
            Some(r) => (r.db_name, r.revocation_statements),
            None => {
                let db_name = text(&req.data, "db_name");
                if db_name.is_empty() {
                    return Err(Error::External(format!(
                        "error during revoke: could not find role with name \"{role_name}\" or embedded revocation db name data"
                    )));
                }
                let statements = match req.data.get("revocation_statements") {
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                    _ => Vec::new(),
                };
                (db_name, statements)
            }
        };
        let connected = self.connection(view, &db_name, false).await?;
        connected.conn.delete_user(&statements, &username).await?;
        Ok(())
    }

    /// A lease of `creds/` was renewed to end `increment` seconds from now.
    pub(super) async fn renew_creds(&self, req: &Request, view: &dyn StorageView) -> Result<()> {
        let username = text(&req.data, "username");
        let role_name = text(&req.data, "role");
        let role = load(view, &role_name).await?.ok_or_else(|| {
            Error::External(format!(
                "error during renew: could not find role with name \"{role_name}\""
            ))
        })?;
        let increment = req
            .data
            .get("increment")
            .and_then(Value::as_i64)
            .unwrap_or_default();
        let connected = self.connection(view, &role.db_name, false).await?;
        let expiration = self.clock.now() + Duration::seconds(increment + EXPIRY_SLACK_SECS);
        connected
            .conn
            .set_expiration(&role.renew_statements, &username, expiration)
            .await?;
        Ok(())
    }
}
