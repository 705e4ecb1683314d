//! The mount table and the router.
//!
//! The table is a JSON document inside the barrier (`core/mounts`). Each mount's backend gets a
//! [`MountView`]: the barrier under `logical/<uuid>/`, so it can never reach another mount's keys.
//! Routing picks the longest mount path that prefixes the request path.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tresor_sdk::{Backend, StorageView};

use crate::barrier::Barrier;
use crate::error::CoreError;

pub const MOUNT_TABLE_PATH: &str = "core/mounts";
/// Auth methods live in the same router under `auth/<path>/`, but in a table of their own.
pub const AUTH_TABLE_PATH: &str = "core/auth";

/// Mount paths no secrets engine may take: the system's own, and the auth methods' (which
/// only `sys/auth` mounts, under sudo).
const RESERVED: &[&str] = &["sys/", "auth/", "cubbyhole/", "identity/", "audit/"];

/// Whether `path` (normalised) lies where `sys/mounts` may not mount, unmount or move a
/// secrets engine.
pub fn is_protected(path: &str) -> bool {
    RESERVED.iter().any(|r| path.starts_with(r))
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountConfig {
    /// Seconds; 0 means "the system default".
    pub default_lease_ttl: u64,
    pub max_lease_ttl: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MountEntry {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
    pub accessor: String,
    pub uuid: String,
    pub options: BTreeMap<String, String>,
    pub config: MountConfig,
    pub local: bool,
    pub seal_wrap: bool,
}

impl MountEntry {
    pub fn storage_prefix(&self) -> String {
        if self.is_auth() {
            format!("auth/{}/", self.uuid)
        } else {
            format!("logical/{}/", self.uuid)
        }
    }

    /// An auth method's mount (`auth/approle/`), not a secrets engine's.
    pub fn is_auth(&self) -> bool {
        self.path.starts_with("auth/")
    }

    /// The shape `sys/mounts` and `sys/internal/ui/mounts` answer with.
    pub fn to_api(&self) -> Value {
        let mut v = json!({
            "accessor": self.accessor,
            "config": {
                "default_lease_ttl": self.config.default_lease_ttl,
                "force_no_cache": false,
                "max_lease_ttl": self.config.max_lease_ttl,
            },
            "description": self.description,
            "external_entropy_access": false,
            "local": self.local,
            "options": json!(self.options),
            "plugin_version": "",
            "running_plugin_version": format!("v{}+builtin.tresor", env!("CARGO_PKG_VERSION")),
            "running_sha256": "",
            "seal_wrap": self.seal_wrap,
            "type": self.kind,
            "uuid": self.uuid,
        });
        // Vault shows a deprecation status for the engines of its plugin registry only; the
        // core's own (cubbyhole, token) and `database`, which it wires in apart, have none.
        if matches!(
            self.kind.as_str(),
            "kv" | "transit" | "approle" | "userpass"
        ) {
            v["deprecation_status"] = "supported".into();
        }
        v
    }
}

/// Checks a path a user wants to mount at; returns it with exactly one trailing slash.
pub fn normalize_mount_path(path: &str) -> Result<String, CoreError> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return Err(CoreError::invalid("path cannot be empty"));
    }
    if trimmed
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(CoreError::invalid(format!("invalid mount path \"{path}\"")));
    }
    Ok(format!("{trimmed}/"))
}

/// A mounted backend with its entry.
pub struct Mount {
    pub entry: MountEntry,
    pub backend: Arc<dyn Backend>,
    pub view: MountView,
    /// Set while the mount is being disabled: requests no longer reach it (so nothing new is
    /// handed out while its leases are revoked), but revocations still do.
    pub closing: std::sync::atomic::AtomicBool,
}

impl Mount {
    pub fn new(entry: MountEntry, backend: Arc<dyn Backend>, view: MountView) -> Mount {
        Mount {
            entry,
            backend,
            view,
            closing: Default::default(),
        }
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::Acquire)
    }
}

#[derive(Default)]
pub struct Router {
    mounts: RwLock<BTreeMap<String, Arc<Mount>>>,
}

impl Router {
    pub fn insert(&self, mount: Mount) {
        if let Ok(mut m) = self.mounts.write() {
            m.insert(mount.entry.path.clone(), Arc::new(mount));
        }
    }

    pub fn remove(&self, path: &str) -> Option<Arc<Mount>> {
        self.mounts.write().ok()?.remove(path)
    }

    pub fn get(&self, mount_path: &str) -> Option<Arc<Mount>> {
        self.mounts.read().ok()?.get(mount_path).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Mount>> {
        self.mounts
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn entries(&self) -> Vec<MountEntry> {
        self.mounts
            .read()
            .map(|m| m.values().map(|m| m.entry.clone()).collect())
            .unwrap_or_default()
    }

    /// The mount serving `path` and the path relative to it. `secret` reaches `secret/` too.
    pub fn route(&self, path: &str) -> Option<(Arc<Mount>, String)> {
        let mounts = self.mounts.read().ok()?;
        let mut best: Option<&Arc<Mount>> = None;
        for (mount_path, mount) in mounts.iter() {
            let hit = path.starts_with(mount_path.as_str())
                || path == &mount_path[..mount_path.len() - 1];
            if hit
                && !mount.is_closing()
                && best.is_none_or(|b| b.entry.path.len() < mount_path.len())
            {
                best = Some(mount);
            }
        }
        let mount = best?.clone();
        let rel = path.get(mount.entry.path.len()..).unwrap_or("").to_owned();
        Some((mount, rel))
    }

    /// Why `path` cannot be mounted, if it cannot.
    pub fn conflict(&self, path: &str) -> Option<String> {
        // Auth methods are enabled under `auth/` (by `sys/auth`), next to the built-in token one.
        let reserved = if path.starts_with("auth/") {
            path.starts_with("auth/token/")
        } else {
            is_protected(path)
        };
        if reserved {
            return Some(format!("cannot mount \"{path}\""));
        }
        let mounts = self.mounts.read().ok()?;
        mounts
            .keys()
            .find(|existing| path.starts_with(existing.as_str()) || existing.starts_with(path))
            .map(|existing| format!("path is already in use at {existing}"))
    }
}

/// A backend's window on the barrier: every key is prefixed with the mount's own prefix.
#[derive(Clone)]
pub struct MountView {
    barrier: Arc<Barrier>,
    prefix: String,
}

impl MountView {
    pub fn new(barrier: Arc<Barrier>, prefix: String) -> Self {
        MountView { barrier, prefix }
    }

    /// The storage prefix of every key of this mount.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Deletes every key of the mount (on disable), depth first.
    pub async fn clear(&self) -> Result<(), CoreError> {
        delete_tree(&self.barrier, &self.prefix).await
    }
}

pub async fn delete_tree(barrier: &Barrier, prefix: &str) -> Result<(), CoreError> {
    let mut pending = vec![prefix.to_owned()];
    while let Some(dir) = pending.pop() {
        let mut batch = Vec::new();
        for child in barrier.list(&dir).await? {
            let full = format!("{dir}{child}");
            if child.ends_with('/') {
                pending.push(full);
            } else {
                batch.push((full, None));
            }
        }
        if !batch.is_empty() {
            barrier.batch(batch).await?;
        }
    }
    Ok(())
}

fn to_sdk(e: CoreError) -> tresor_sdk::Error {
    e.into()
}

#[async_trait]
impl StorageView for MountView {
    async fn get(&self, key: &str) -> tresor_sdk::Result<Option<Vec<u8>>> {
        let v = self
            .barrier
            .get(&format!("{}{key}", self.prefix))
            .await
            .map_err(to_sdk)?;
        Ok(v.map(|z| z.to_vec()))
    }

    async fn put(&self, key: &str, value: &[u8]) -> tresor_sdk::Result<()> {
        self.barrier
            .put(&format!("{}{key}", self.prefix), value)
            .await
            .map_err(to_sdk)
    }

    async fn delete(&self, key: &str) -> tresor_sdk::Result<()> {
        self.barrier
            .delete(&format!("{}{key}", self.prefix))
            .await
            .map_err(to_sdk)
    }

    async fn list(&self, prefix: &str) -> tresor_sdk::Result<Vec<String>> {
        self.barrier
            .list(&format!("{}{prefix}", self.prefix))
            .await
            .map_err(to_sdk)
    }

    async fn batch(&self, ops: Vec<(String, Option<Vec<u8>>)>) -> tresor_sdk::Result<()> {
        let ops = ops
            .into_iter()
            .map(|(k, v)| (format!("{}{k}", self.prefix), v))
            .collect();
        self.barrier.batch(ops).await.map_err(to_sdk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_are_normalised_and_checked() {
        assert_eq!(normalize_mount_path("secret").unwrap(), "secret/");
        assert_eq!(normalize_mount_path("/team/kv/").unwrap(), "team/kv/");
        assert!(normalize_mount_path("").is_err());
        assert!(normalize_mount_path("a//b").is_err());
        assert!(normalize_mount_path("a/../b").is_err());
    }
}
