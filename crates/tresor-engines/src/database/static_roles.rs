//! Static roles (`static-roles/:name`): an existing database user whose password Tresor owns
//! and changes every `rotation_period` (and on `rotate-role/:name`). Creating one rotates at
//! once; deleting one leaves the user in the database as it is.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tresor_sdk::{Error, Map, Request, Response, Result, StorageView};

use super::{fields, password, roles, Database};
use crate::auth_util::rfc3339;

pub fn key(name: &str) -> String {
    format!("static-role/{name}")
}

/// Vault's floor: the rotation queue ticks every 5 seconds.
const MIN_ROTATION_PERIOD: u64 = 5;
const MAX_ROTATION_PERIOD: u64 = 100 * 365 * 24 * 3600;
/// A failed rotation is tried again this much later.
const RETRY_MS: i64 = 10_000;

// Field-wise defaults: a struct-level `serde(default)` would move fields out of a value that
// zeroises itself on drop.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StaticRole {
    #[serde(default)]
    pub db_name: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub rotation_period: u64,
    #[serde(default)]
    pub rotation_statements: Vec<String>,
    #[serde(default)]
    pub credential_type: String,
    #[serde(default)]
    pub password: String,
    /// Unix milliseconds of the last successful rotation.
    #[serde(default)]
    pub last_rotation_ms: i64,
    /// A password being rotated to: set before the database is changed, cleared after. One
    /// found on start means the rotation was interrupted: the role is rotated again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_password: Option<String>,
}

impl StaticRole {
    fn next_due_ms(&self) -> i64 {
        if self.pending_password.is_some() {
            return 0;
        }
        self.last_rotation_ms
            .saturating_add((self.rotation_period as i64).saturating_mul(1000))
    }
}

impl Drop for StaticRole {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.password.zeroize();
        if let Some(p) = self.pending_password.as_mut() {
            p.zeroize();
        }
    }
}

pub async fn load(view: &dyn StorageView, name: &str) -> Result<Option<StaticRole>> {
    crate::stored::get_json(view, &key(name)).await
}

async fn store(view: &dyn StorageView, name: &str, r: &StaticRole) -> Result<()> {
    crate::stored::put_json(view, &key(name), r).await
}

fn rfc3339_nanos(ms: i64) -> Value {
    Value::String(rfc3339(Some(ms)))
}

pub async fn read(view: &dyn StorageView, name: &str) -> Result<Option<Response>> {
    let Some(r) = load(view, name).await? else {
        return Ok(None);
    };
    let mut d = Map::new();
    d.insert("credential_type".into(), r.credential_type.clone().into());
    d.insert("db_name".into(), r.db_name.clone().into());
    if r.last_rotation_ms > 0 {
        d.insert(
            "last_vault_rotation".into(),
            rfc3339_nanos(r.last_rotation_ms),
        );
    }
    d.insert("rotation_period".into(), r.rotation_period.into());
    d.insert(
        "rotation_statements".into(),
        r.rotation_statements.clone().into(),
    );
    d.insert("username".into(), r.username.clone().into());
    Ok(Some(Response::data(d)))
}

impl Database {
    pub(super) async fn write_static_role(
        &self,
        req: &Request,
        view: &dyn StorageView,
        name: &str,
    ) -> Result<Option<Response>> {
        if view.get(&roles::key(name)).await?.is_some() {
            return Err(Error::invalid("Role and Static Role names must be unique"));
        }
        // Held throughout: an update must not overwrite a password a rotation just stored.
        let _serial = self.rotations.lock().await;
        let existing = load(view, name).await?;
        let creating = existing.is_none();
        let mut r = existing.unwrap_or_default();
        if let Some(db) = req.str_field("db_name")? {
            r.db_name = db;
        }
        if r.db_name.is_empty() {
            return Err(Error::invalid("database name is a required field"));
        }
        let username = req.str_field("username")?.unwrap_or_default();
        if creating {
            if username.is_empty() {
                return Err(Error::invalid(
                    "username is a required field to create a static account",
                ));
            }
            r.username = username;
        } else if username != r.username {
            return Err(Error::invalid("cannot update static account username"));
        }
        match req.duration_field("rotation_period")? {
            Some(p) if p < MIN_ROTATION_PERIOD => {
                return Err(Error::invalid(format!(
                    "rotation_period must be {MIN_ROTATION_PERIOD} seconds or more"
                )))
            }
            Some(p) if p > MAX_ROTATION_PERIOD => {
                return Err(Error::invalid(format!(
                    "rotation_period must be at most {MAX_ROTATION_PERIOD} seconds (100 years)"
                )))
            }
            Some(p) => r.rotation_period = p,
            None if creating => {
                return Err(Error::invalid(
                    "rotation_period is required to create static accounts",
                ))
            }
            None => {}
        }
        if let Some(s) = req.slice_field("rotation_statements")? {
            r.rotation_statements = s;
        }
        fields::credential_type(req, &mut r.credential_type)?;
        if creating {
            // The password is Tresor's from the start: change it now, store only if that
            // worked.
            self.rotate(view, name, &mut r).await?;
        } else {
            store(view, name, &r).await?;
        }
        self.schedule_set(name, r.next_due_ms()).await;
        Ok(None)
    }

    pub(super) async fn delete_static_role(
        &self,
        view: &dyn StorageView,
        name: &str,
    ) -> Result<Option<Response>> {
        let _serial = self.rotations.lock().await;
        view.delete(&key(name)).await?;
        if let Some(s) = self.schedule.lock().await.as_mut() {
            s.remove(name);
        }
        Ok(None)
    }

    pub(super) async fn static_creds(
        &self,
        view: &dyn StorageView,
        name: &str,
    ) -> Result<Option<Response>> {
        let r = load(view, name)
            .await?
            .ok_or_else(|| Error::invalid(format!("unknown role: {name}")))?;
        self.allowed_connection(view, &r.db_name, name, false)
            .await?;
        let ttl = ((r.next_due_ms() - self.clock.now_ms()).max(0) + 500) / 1000;
        let mut d = Map::new();
        d.insert(
            "last_vault_rotation".into(),
            rfc3339_nanos(r.last_rotation_ms),
        );
        d.insert("password".into(), r.password.clone().into());
        d.insert("rotation_period".into(), r.rotation_period.into());
        d.insert("ttl".into(), ttl.into());
        d.insert("username".into(), r.username.clone().into());
        Ok(Some(Response::data(d)))
    }

    pub(super) async fn rotate_role(
        &self,
        view: &dyn StorageView,
        name: &str,
    ) -> Result<Option<Response>> {
        let _serial = self.rotations.lock().await;
        let mut r = load(view, name)
            .await?
            .ok_or_else(|| Error::invalid("no static role found for role name"))?;
        if let Err(e) = self.rotate(view, name, &mut r).await {
            self.schedule_set(name, self.clock.now_ms() + RETRY_MS)
                .await;
            return Err(Error::External(format!(
                "unable to finish rotating credentials; retries will continue in the background but it is also safe to retry manually: {e}"
            )));
        }
        self.schedule_set(name, r.next_due_ms()).await;
        Ok(None)
    }

    /// Sets a new password for the role's user in the database, then stores it. The caller
    /// holds `self.rotations`.
    async fn rotate(&self, view: &dyn StorageView, name: &str, r: &mut StaticRole) -> Result<()> {
        let connected = self
            .allowed_connection(view, &r.db_name, name, true)
            .await?;
        let new = password::generate()?;
        let was_stored = view.get(&key(name)).await?.is_some();
        if was_stored {
            r.pending_password = Some(new.to_string());
            store(view, name, r).await?;
            // Due at once until it is finished: a request dropped half-way leaves the rotation
            // to the periodic task.
            self.schedule_set(name, 0).await;
        }
        let changed = connected
            .conn
            .set_password(&r.rotation_statements, &r.username, &new)
            .await;
        if let Err(e) = changed {
            return Err(Error::External(format!("error setting credentials: {e}")));
        }
        r.pending_password = None;
        r.password = new.to_string();
        r.last_rotation_ms = self.clock.now_ms();
        store(view, name, r).await
    }

    async fn schedule_set(&self, name: &str, due_ms: i64) {
        if let Some(s) = self.schedule.lock().await.as_mut() {
            s.insert(name.to_owned(), due_ms);
        }
    }

    /// Rotates every static role that is due (the periodic task).
    pub(super) async fn rotate_due(&self, view: &dyn StorageView) -> Result<()> {
        let due: Vec<String> = {
            let mut schedule = self.schedule.lock().await;
            if schedule.is_none() {
                let mut s = HashMap::new();
                for name in view.list("static-role/").await? {
                    if let Some(r) = load(view, &name).await? {
                        s.insert(name, r.next_due_ms());
                    }
                }
                *schedule = Some(s);
            }
            let now = self.clock.now_ms();
            schedule
                .as_ref()
                .map(|s| {
                    s.iter()
                        .filter(|(_, due)| **due <= now)
                        .map(|(n, _)| n.clone())
                        .collect()
                })
                .unwrap_or_default()
        };
        for name in due {
            let _serial = self.rotations.lock().await;
            let Some(mut r) = load(view, &name).await? else {
                if let Some(s) = self.schedule.lock().await.as_mut() {
                    s.remove(&name);
                }
                continue;
            };
            if r.next_due_ms() > self.clock.now_ms() {
                // Rotated by hand meanwhile.
                self.schedule_set(&name, r.next_due_ms()).await;
                continue;
            }
            match self.rotate(view, &name, &mut r).await {
                Ok(()) => self.schedule_set(&name, r.next_due_ms()).await,
                Err(e) => {
                    tracing::warn!(role = %name, error = %e, "database: static role rotation failed");
                    self.schedule_set(&name, self.clock.now_ms() + RETRY_MS)
                        .await;
                }
            }
        }
        Ok(())
    }
}
