//! KV version 2: versioned secrets with per-key metadata, check-and-set, soft delete, undelete,
//! destroy, and automatic expiry of old versions.
//!
//! Storage layout inside the mount's view:
//! - `config`: the mount-wide settings;
//! - `metadata/<path>`: one [`KeyMetadata`] per secret (listing `metadata/` lists secrets);
//! - `versions/<path>/<n>`: the data of version `n` (the `/<digits>` suffix cannot collide with
//!   another secret's key because secret paths never end in a version number of another path);
//! - `upgraded`: marker that v1 data, if there was any, has been moved into this layout.
//!
//! Writes to one secret are serialised by a striped lock so concurrent writers never lose a
//! version; metadata and version data change together in one atomic batch.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::sync::Mutex;
use tresor_sdk::framework::{Call, Field, Kind, Path, Paths};
use tresor_sdk::{handler, ttl, Error, Map, Operation, Request, Response, Result, StorageView};

use super::check_path;

const CONFIG_KEY: &str = "config";
const UPGRADED_KEY: &str = "upgraded";
const DEFAULT_MAX_VERSIONS: u32 = 10;
const LOCK_STRIPES: usize = 64;
const MAX_CUSTOM_METADATA_KEYS: usize = 64;
const MAX_CUSTOM_METADATA_KEY_LEN: usize = 128;
const MAX_CUSTOM_METADATA_VALUE_LEN: usize = 512;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Config {
    max_versions: u32,
    cas_required: bool,
    /// Seconds; 0 disables.
    delete_version_after: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct VersionMeta {
    created_time: OffsetDateTime,
    deletion_time: Option<OffsetDateTime>,
    destroyed: bool,
}

impl VersionMeta {
    fn is_deleted(&self, now: OffsetDateTime) -> bool {
        self.deletion_time.is_some_and(|t| t <= now)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeyMetadata {
    current_version: u64,
    oldest_version: u64,
    created_time: OffsetDateTime,
    updated_time: OffsetDateTime,
    max_versions: u32,
    cas_required: bool,
    delete_version_after: u64,
    custom_metadata: BTreeMap<String, String>,
    versions: BTreeMap<u64, VersionMeta>,
}

impl KeyMetadata {
    fn new(now: OffsetDateTime) -> Self {
        KeyMetadata {
            current_version: 0,
            oldest_version: 0,
            created_time: now,
            updated_time: now,
            max_versions: 0,
            cas_required: false,
            delete_version_after: 0,
            custom_metadata: BTreeMap::new(),
            versions: BTreeMap::new(),
        }
    }

    fn custom_metadata_json(&self) -> Value {
        if self.custom_metadata.is_empty() {
            Value::Null
        } else {
            json!(self.custom_metadata)
        }
    }

    fn to_api(&self) -> Map {
        let mut versions = Map::new();
        for (n, v) in &self.versions {
            versions.insert(
                n.to_string(),
                json!({
                    "created_time": fmt_time(v.created_time),
                    "deletion_time": v.deletion_time.map(fmt_time).unwrap_or_default(),
                    "destroyed": v.destroyed,
                }),
            );
        }
        let mut m = Map::new();
        m.insert("cas_required".into(), self.cas_required.into());
        m.insert("created_time".into(), fmt_time(self.created_time).into());
        m.insert("current_version".into(), self.current_version.into());
        m.insert("custom_metadata".into(), self.custom_metadata_json());
        m.insert(
            "delete_version_after".into(),
            ttl::format_go(self.delete_version_after).into(),
        );
        m.insert("max_versions".into(), self.max_versions.into());
        m.insert("oldest_version".into(), self.oldest_version.into());
        m.insert("updated_time".into(), fmt_time(self.updated_time).into());
        m.insert("versions".into(), Value::Object(versions));
        m
    }

    /// The metadata block answered with a version's data.
    fn version_api(&self, n: u64) -> Map {
        let mut m = Map::new();
        let v = self.versions.get(&n);
        m.insert(
            "created_time".into(),
            v.map(|v| fmt_time(v.created_time))
                .unwrap_or_default()
                .into(),
        );
        m.insert("custom_metadata".into(), self.custom_metadata_json());
        m.insert(
            "deletion_time".into(),
            v.and_then(|v| v.deletion_time.map(fmt_time))
                .unwrap_or_default()
                .into(),
        );
        m.insert(
            "destroyed".into(),
            v.map(|v| v.destroyed).unwrap_or(false).into(),
        );
        m.insert("version".into(), n.into());
        m
    }
}

use tresor_sdk::clock::rfc3339 as fmt_time;

fn version_key(path: &str, n: u64) -> String {
    format!("versions/{path}/{n}")
}

fn metadata_key(path: &str) -> String {
    format!("metadata/{path}")
}

pub struct KvV2 {
    locks: Vec<Mutex<()>>,
    clock: tresor_sdk::Clock,
}

impl KvV2 {
    pub fn new(clock: tresor_sdk::Clock) -> Self {
        KvV2 {
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            clock,
        }
    }

    fn lock_for(&self, path: &str) -> &Mutex<()> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        path.hash(&mut h);
        &self.locks[(h.finish() as usize) % LOCK_STRIPES]
    }

    async fn config(&self, view: &dyn StorageView) -> Result<Config> {
        Ok(match view.get(CONFIG_KEY).await? {
            Some(b) => serde_json::from_slice(&b)?,
            None => Config::default(),
        })
    }

    async fn metadata(&self, view: &dyn StorageView, path: &str) -> Result<Option<KeyMetadata>> {
        match view.get(&metadata_key(path)).await? {
            Some(b) => Ok(Some(serde_json::from_slice(&b)?)),
            None => Ok(None),
        }
    }

    async fn save_metadata(
        &self,
        view: &dyn StorageView,
        path: &str,
        meta: &KeyMetadata,
        mut extra: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<()> {
        extra.push((metadata_key(path), Some(serde_json::to_vec(meta)?)));
        view.batch(extra).await
    }
}

const SECRET_PATH: Field = Field::new("path", Kind::Str, "Location of the secret.");
const MAX_VERSIONS: Field = Field::new(
    "max_versions",
    Kind::Int,
    "The number of versions to keep. If not set, the backend’s configured max version is used.",
);
const CAS_REQUIRED: Field = Field::new("cas_required", Kind::Bool, "If true the key will require the cas parameter to be set on all write requests. If false, the backend’s configuration will be used.");
const DELETE_VERSION_AFTER: Field = Field::new("delete_version_after", Kind::Duration, "The length of time before a version is deleted. If not set, the backend's configured delete_version_after is used. Cannot be greater than the backend's delete_version_after. A zero duration clears the current setting. A negative duration will cause an error.");
const VERSIONS: Field = Field::new("versions", Kind::CommaIntList, "The versions to be archived. The versioned data will not be deleted, but it will no longer be returned in normal get requests.");

#[async_trait]
impl Paths for KvV2 {
    const HELP: &'static str = "This backend provides a versioned key-value store. The kv backend reads and writes\narbitrary secrets to the storage backend. The secrets are encrypted/decrypted by Tresor:\nthey are never stored unencrypted in the backend and the backend never has an opportunity\nto see the unencrypted value. Each key can have a configured number of versions, and\nversions can be retrieved based on their version numbers.";

    fn paths() -> Vec<Path<Self>> {
        let secret = |pattern| Path::new(pattern).field(SECRET_PATH);
        vec![
            Path::new("config")
                .synopsis("Configures settings for the KV store")
                .field(MAX_VERSIONS)
                .field(CAS_REQUIRED)
                .field(DELETE_VERSION_AFTER)
                .read(handler!(Self::read_config))
                .write(handler!(Self::write_config)),
            secret("data/{path*}")
                .synopsis("Write, Patch, Read, and Delete data in the Key-Value Store.")
                .field(Field::new("data", Kind::Map, "The contents of the data map will be stored and returned on read."))
                .field(Field::new("options", Kind::Map, "Options for writing a KV entry. Set the \"cas\" value to use a Check-And-Set operation. If not set the write will be allowed. If set to 0 a write will only be allowed if the key doesn’t exist. If the index is non-zero the write will only be allowed if the key’s current version matches the version specified in the cas parameter."))
                .field(Field::new("version", Kind::Int, "If provided during a read, the value at the version number will be returned"))
                .exists(handler!(Self::secret_exists))
                .read(handler!(Self::read_data))
                .write(handler!(Self::write_data))
                .patch(handler!(Self::patch_data))
                .delete(handler!(Self::delete_latest)),
            secret("delete/{path*}")
                .synopsis("Marks one or more versions as deleted in the KV store.")
                .field(VERSIONS)
                .update(handler!(Self::delete_versions)),
            secret("undelete/{path*}")
                .synopsis("Undeletes one or more versions from the KV store.")
                .field(VERSIONS)
                .update(handler!(Self::undelete_versions)),
            secret("destroy/{path*}")
                .synopsis("Permanently removes one or more versions in the KV store")
                .field(VERSIONS)
                .update(handler!(Self::destroy_versions)),
            secret("metadata/{path*}")
                .synopsis("Allows interaction with key metadata and settings in the KV store.")
                .field(MAX_VERSIONS)
                .field(CAS_REQUIRED)
                .field(DELETE_VERSION_AFTER)
                .field(Field::new("custom_metadata", Kind::Map, "User-provided key-value pairs that are used to describe arbitrary and version-agnostic information about a secret."))
                .exists(handler!(Self::secret_exists))
                .read(handler!(Self::read_metadata))
                .write(handler!(Self::write_metadata))
                .patch(handler!(Self::write_metadata))
                .delete(handler!(Self::delete_metadata))
                .list(handler!(Self::list)),
            secret("subkeys/{path*}")
                .synopsis("Read the structure of a secret entry from the Key-Value store with the values removed.")
                .field(Field::new("version", Kind::Int, "Specifies which version to retrieve. If not provided, the current version will be used."))
                .field(Field::new("depth", Kind::Int, "Specifies the deepest nesting level to provide in the output. If non-zero, keys that reside at the specified depth value will be artificially treated as leaves and will thus be 'null' even if further underlying data exists."))
                .read(handler!(Self::subkeys)),
            // Anything else: Vault's hint that this is not a v1 mount.
            Path::new("{path*}")
                .hidden()
                .arbitrary_input()
                .read(handler!(Self::invalid))
                .write(handler!(Self::invalid))
                .patch(handler!(Self::invalid))
                .delete(handler!(Self::invalid))
                .list(handler!(Self::invalid)),
        ]
    }

    async fn initialize(&self, view: &dyn StorageView) -> Result<()> {
        if view.get(UPGRADED_KEY).await?.is_some() {
            return Ok(());
        }
        upgrade_from_v1(view, self.clock.now()).await?;
        view.put(UPGRADED_KEY, b"1").await
    }
}

/// The secret a path names: not empty, and not climbing out of the mount.
fn secret_key<'c>(c: &'c Call<'_>) -> Result<&'c str> {
    let key = c.param("path");
    check_path(key)?;
    if key.is_empty() {
        return Err(invalid_v2_path());
    }
    Ok(key)
}

#[derive(Clone, Copy, PartialEq)]
enum VersionChange {
    Delete,
    Undelete,
    Destroy,
}

impl KvV2 {
    async fn secret_exists(&self, c: &Call<'_>) -> Result<bool> {
        Ok(self.metadata(c.view, secret_key(c)?).await?.is_some())
    }

    async fn invalid(&self, _c: &Call<'_>) -> Result<Option<Response>> {
        Err(invalid_v2_path())
    }

    async fn delete_versions(&self, c: &Call<'_>) -> Result<Option<Response>> {
        self.change_versions(c, VersionChange::Delete).await
    }

    async fn undelete_versions(&self, c: &Call<'_>) -> Result<Option<Response>> {
        self.change_versions(c, VersionChange::Undelete).await
    }

    async fn destroy_versions(&self, c: &Call<'_>) -> Result<Option<Response>> {
        self.change_versions(c, VersionChange::Destroy).await
    }

    async fn read_config(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let c = self.config(c.view).await?;
        let mut m = Map::new();
        m.insert("cas_required".into(), c.cas_required.into());
        m.insert(
            "delete_version_after".into(),
            ttl::format_go(c.delete_version_after).into(),
        );
        m.insert("max_versions".into(), c.max_versions.into());
        Ok(Some(Response::data(m)))
    }

    async fn write_config(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let (req, view) = (c.req, c.view);
        let mut c = self.config(view).await?;
        if let Some(n) = req.int_field("max_versions")? {
            c.max_versions = u32::try_from(n)
                .map_err(|_| Error::invalid("max_versions must be a non-negative integer"))?;
        }
        if let Some(b) = req.bool_field("cas_required")? {
            c.cas_required = b;
        }
        if let Some(d) = req.duration_field("delete_version_after")? {
            c.delete_version_after = d;
        }
        view.put(CONFIG_KEY, &serde_json::to_vec(&c)?).await?;
        Ok(None)
    }

    async fn list(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let (prefix, view) = (c.param("path"), c.view);
        check_path(prefix)?;
        let prefix = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_owned()
        } else {
            format!("{prefix}/")
        };
        let keys = view.list(&metadata_key(&prefix)).await?;
        Ok((!keys.is_empty()).then(|| Response::list(keys)))
    }

    async fn read_data(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let (req, key, view) = (c.req, secret_key(c)?, c.view);
        let Some(meta) = self.metadata(view, key).await? else {
            return Ok(None);
        };
        let requested = req.int_field("version")?.unwrap_or(0);
        if requested < 0 {
            return Err(Error::invalid("version must be a non-negative integer"));
        }
        let n = if requested == 0 {
            meta.current_version
        } else {
            requested as u64
        };
        let Some(v) = meta.versions.get(&n) else {
            return Ok(None);
        };
        if v.destroyed || v.is_deleted(self.clock.now()) {
            let mut body = Map::new();
            body.insert("data".into(), Value::Null);
            body.insert("metadata".into(), Value::Object(meta.version_api(n)));
            return Err(Error::NotFound(Some(Box::new(Response::data(body)))));
        }
        let data: Value = match view.get(&version_key(key, n)).await? {
            Some(b) => serde_json::from_slice(&b)?,
            None => Value::Null,
        };
        let mut out = Map::new();
        out.insert("data".into(), data);
        out.insert("metadata".into(), Value::Object(meta.version_api(n)));
        Ok(Some(Response::data(out)))
    }

    /// Checks `options.cas` against the key; `cas_required` on key or mount makes it mandatory.
    fn check_cas(req: &Request, config: &Config, meta: Option<&KeyMetadata>) -> Result<()> {
        let options = req.map_field("options")?.unwrap_or_default();
        let cas = match options.get("cas") {
            None | Some(Value::Null) => None,
            // Any integer parses (Vault decodes it weakly); a negative one matches no version.
            Some(v) => Some(
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .ok_or_else(|| Error::invalid("error parsing check-and-set parameter"))?,
            ),
        };
        let required = config.cas_required || meta.is_some_and(|m| m.cas_required);
        match cas {
            None if required => Err(Error::invalid(
                "check-and-set parameter required for this call",
            )),
            None => Ok(()),
            Some(c)
                if u64::try_from(c).ok() != Some(meta.map(|m| m.current_version).unwrap_or(0)) =>
            {
                Err(Error::Conflict(
                    "check-and-set parameter did not match the current version".into(),
                ))
            }
            Some(_) => Ok(()),
        }
    }

    async fn write_data(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let (req, key, view) = (c.req, secret_key(c)?, c.view);
        let data = match req.get("data") {
            Some(Value::Object(m)) => m.clone(),
            Some(Value::String(s)) => serde_json::from_str::<Map>(s)
                .map_err(|_| Error::invalid("data must be a JSON object"))?,
            Some(_) => return Err(Error::invalid("data must be a JSON object")),
            None => return Err(Error::invalid("no data provided")),
        };
        let _guard = self.lock_for(key).lock().await;
        let config = self.config(view).await?;
        let existing = self.metadata(view, key).await?;
        Self::check_cas(req, &config, existing.as_ref())?;
        self.store_version(key, view, &config, existing, data).await
    }

    async fn store_version(
        &self,
        key: &str,
        view: &dyn StorageView,
        config: &Config,
        existing: Option<KeyMetadata>,
        data: Map,
    ) -> Result<Option<Response>> {
        let t = self.clock.now();
        let mut meta = existing.unwrap_or_else(|| KeyMetadata::new(t));
        let n = meta.current_version + 1;
        let dva = effective_delete_after(config, &meta);
        meta.current_version = n;
        meta.updated_time = t;
        meta.versions.insert(
            n,
            VersionMeta {
                created_time: t,
                // A delay past the end of time means never (and must not overflow).
                deletion_time: (dva > 0)
                    .then(|| {
                        t.checked_add(time::Duration::seconds(dva.min(i64::MAX as u64) as i64))
                    })
                    .flatten(),
                destroyed: false,
            },
        );
        let mut ops = vec![(version_key(key, n), Some(serde_json::to_vec(&data)?))];
        ops.extend(prune_versions(key, config, &mut meta));
        self.save_metadata(view, key, &meta, ops).await?;
        Ok(Some(Response::data(meta.version_api(n))))
    }

    async fn patch_data(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let (req, key, view) = (c.req, secret_key(c)?, c.view);
        let patch = match req.get("data") {
            Some(Value::Object(m)) => m.clone(),
            _ => return Err(Error::invalid("no data provided")),
        };
        let _guard = self.lock_for(key).lock().await;
        let config = self.config(view).await?;
        // PATCH of nothing is a 404, not a silent no-op.
        let Some(meta) = self.metadata(view, key).await? else {
            return Err(Error::NotFound(None));
        };
        let n = meta.current_version;
        let live = meta
            .versions
            .get(&n)
            .is_some_and(|v| !v.destroyed && !v.is_deleted(self.clock.now()));
        if !live {
            return Err(Error::NotFound(None));
        }
        Self::check_cas(req, &config, Some(&meta))?;
        let mut current: Value = match view.get(&version_key(key, n)).await? {
            Some(b) => serde_json::from_slice(&b)?,
            None => return Err(Error::NotFound(None)),
        };
        merge_patch(&mut current, &Value::Object(patch));
        let Value::Object(merged) = current else {
            return Err(Error::internal("patched secret is not an object"));
        };
        self.store_version(key, view, &config, Some(meta), merged)
            .await
    }

    async fn delete_latest(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let (key, view) = (secret_key(c)?, c.view);
        let _guard = self.lock_for(key).lock().await;
        let Some(mut meta) = self.metadata(view, key).await? else {
            return Ok(None);
        };
        let t = self.clock.now();
        let n = meta.current_version;
        if let Some(v) = meta.versions.get_mut(&n) {
            if !v.destroyed && !v.is_deleted(t) {
                v.deletion_time = Some(t);
                self.save_metadata(view, key, &meta, Vec::new()).await?;
            }
        }
        Ok(None)
    }

    async fn change_versions(
        &self,
        c: &Call<'_>,
        change: VersionChange,
    ) -> Result<Option<Response>> {
        let (req, key, view) = (c.req, secret_key(c)?, c.view);
        // Vault's words differ by path, down to the capital.
        let missing = match change {
            VersionChange::Destroy => "no version number provided",
            VersionChange::Delete | VersionChange::Undelete => "No version number provided",
        };
        let versions = parse_versions(req, missing)?;
        let _guard = self.lock_for(key).lock().await;
        let Some(mut meta) = self.metadata(view, key).await? else {
            return Ok(None);
        };
        let t = self.clock.now();
        let mut ops = Vec::new();
        for n in versions {
            let Some(v) = meta.versions.get_mut(&n) else {
                continue;
            };
            if v.destroyed {
                continue;
            }
            match change {
                VersionChange::Delete => {
                    if !v.is_deleted(t) {
                        v.deletion_time = Some(t);
                    }
                }
                VersionChange::Undelete => v.deletion_time = None,
                VersionChange::Destroy => {
                    v.destroyed = true;
                    ops.push((version_key(key, n), None));
                }
            }
        }
        self.save_metadata(view, key, &meta, ops).await?;
        Ok(None)
    }

    async fn read_metadata(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let (key, view) = (secret_key(c)?, c.view);
        Ok(self
            .metadata(view, key)
            .await?
            .map(|m| Response::data(m.to_api())))
    }

    async fn write_metadata(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let (req, key, view) = (c.req, secret_key(c)?, c.view);
        let patch = req.operation == Operation::Patch;
        let _guard = self.lock_for(key).lock().await;
        let existing = self.metadata(view, key).await?;
        if patch && existing.is_none() {
            return Err(Error::NotFound(None));
        }
        let config = self.config(view).await?;
        let t = self.clock.now();
        let mut meta = existing.unwrap_or_else(|| KeyMetadata::new(t));
        if let Some(n) = req.int_field("max_versions")? {
            meta.max_versions = u32::try_from(n)
                .map_err(|_| Error::invalid("max_versions must be a non-negative integer"))?;
        }
        if let Some(b) = req.bool_field("cas_required")? {
            meta.cas_required = b;
        }
        if let Some(d) = req.duration_field("delete_version_after")? {
            meta.delete_version_after = d;
        }
        if let Some(custom) = req.map_field("custom_metadata")? {
            let mut next = if patch {
                meta.custom_metadata.clone()
            } else {
                BTreeMap::new()
            };
            for (k, v) in custom {
                match v {
                    Value::Null if patch => {
                        next.remove(&k);
                    }
                    Value::String(s) => {
                        next.insert(k, s);
                    }
                    other => {
                        return Err(Error::invalid(format!(
                            "custom_metadata values must be strings; \"{k}\" is {other}"
                        )))
                    }
                }
            }
            validate_custom_metadata(&next)?;
            meta.custom_metadata = next;
        }
        meta.updated_time = t;
        let ops = prune_versions(key, &config, &mut meta);
        self.save_metadata(view, key, &meta, ops).await?;
        Ok(None)
    }

    async fn delete_metadata(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let (key, view) = (secret_key(c)?, c.view);
        let _guard = self.lock_for(key).lock().await;
        let Some(meta) = self.metadata(view, key).await? else {
            return Ok(None);
        };
        let mut ops: Vec<(String, Option<Vec<u8>>)> = meta
            .versions
            .keys()
            .map(|n| (version_key(key, *n), None))
            .collect();
        ops.push((metadata_key(key), None));
        view.batch(ops).await?;
        Ok(None)
    }

    async fn subkeys(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let req = c.req;
        let depth = req.int_field("depth")?.unwrap_or(0);
        if depth < 0 {
            return Err(Error::invalid("depth must be a non-negative integer"));
        }
        let resp = self.read_data(c).await?;
        let Some(resp) = resp else { return Ok(None) };
        let Some(mut data) = resp.data else {
            return Ok(None);
        };
        let secret = data.remove("data").unwrap_or(Value::Null);
        let mut out = Map::new();
        out.insert("subkeys".into(), subkeys_of(&secret, depth as usize, 1));
        out.insert(
            "metadata".into(),
            data.remove("metadata").unwrap_or(Value::Null),
        );
        Ok(Some(Response::data(out)))
    }
}

/// What Vault answers for a path outside the v2 API (often a v1-style path): 404 with a hint.
fn invalid_v2_path() -> Error {
    Error::NotFound(Some(Box::new(Response::default().with_warning(
        "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API \
         endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation.",
    ))))
}

fn effective_delete_after(config: &Config, meta: &KeyMetadata) -> u64 {
    match (meta.delete_version_after, config.delete_version_after) {
        (0, c) => c,
        (k, 0) => k,
        (k, c) => k.min(c),
    }
}

/// Drops the oldest versions beyond the effective `max_versions`; returns the deletions.
fn prune_versions(
    key: &str,
    config: &Config,
    meta: &mut KeyMetadata,
) -> Vec<(String, Option<Vec<u8>>)> {
    let max = match (meta.max_versions, config.max_versions) {
        (0, 0) => DEFAULT_MAX_VERSIONS,
        (0, c) => c,
        (k, 0) => k,
        (k, c) => k.min(c),
    } as usize;
    let mut ops = Vec::new();
    while meta.versions.len() > max {
        let Some((&n, _)) = meta.versions.iter().next() else {
            break;
        };
        meta.versions.remove(&n);
        ops.push((version_key(key, n), None));
    }
    // Like Vault, `oldest_version` stays 0 until versions have been pruned.
    if !ops.is_empty() {
        if let Some((&n, _)) = meta.versions.iter().next() {
            meta.oldest_version = n;
        }
    }
    ops
}

fn parse_versions(req: &Request, missing: &str) -> Result<Vec<u64>> {
    let versions = req
        .int_list_field("versions")?
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::invalid(missing))?;
    versions
        .into_iter()
        .map(|n| {
            u64::try_from(n)
                .map_err(|_| Error::invalid("versions must be a list of positive integers"))
        })
        .collect()
}

fn validate_custom_metadata(m: &BTreeMap<String, String>) -> Result<()> {
    if m.len() > MAX_CUSTOM_METADATA_KEYS {
        return Err(Error::invalid(format!(
            "custom_metadata may not have more than {MAX_CUSTOM_METADATA_KEYS} keys"
        )));
    }
    for (k, v) in m {
        if k.is_empty() || k.len() > MAX_CUSTOM_METADATA_KEY_LEN {
            return Err(Error::invalid(format!(
                "custom_metadata key \"{k}\" must be 1 to {MAX_CUSTOM_METADATA_KEY_LEN} bytes"
            )));
        }
        if v.len() > MAX_CUSTOM_METADATA_VALUE_LEN {
            return Err(Error::invalid(format!(
                "custom_metadata value of \"{k}\" is longer than {MAX_CUSTOM_METADATA_VALUE_LEN} bytes"
            )));
        }
    }
    Ok(())
}

/// RFC 7386 JSON merge patch, as Vault applies it to KV v2 data.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// The shape of a secret without its values: leaves become `null`.
fn subkeys_of(v: &Value, max_depth: usize, depth: usize) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let inner = if v.is_object() && (max_depth == 0 || depth < max_depth) {
                        subkeys_of(v, max_depth, depth + 1)
                    } else {
                        Value::Null
                    };
                    (k.clone(), inner)
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// Moves every v1 entry (a plain key at the mount's root) into the v2 layout as version 1.
async fn upgrade_from_v1(view: &dyn StorageView, t: OffsetDateTime) -> Result<()> {
    let mut pending = vec![String::new()];
    while let Some(dir) = pending.pop() {
        for child in view.list(&dir).await? {
            let full = format!("{dir}{child}");
            if dir.is_empty()
                && matches!(
                    child.as_str(),
                    "metadata/" | "versions/" | CONFIG_KEY | UPGRADED_KEY
                )
            {
                continue;
            }
            if child.ends_with('/') {
                pending.push(full);
                continue;
            }
            let Some(data) = view.get(&full).await? else {
                continue;
            };
            let mut meta = KeyMetadata::new(t);
            meta.current_version = 1;
            meta.oldest_version = 1;
            meta.versions.insert(
                1,
                VersionMeta {
                    created_time: t,
                    deletion_time: None,
                    destroyed: false,
                },
            );
            view.batch(vec![
                (version_key(&full, 1), Some(data)),
                (metadata_key(&full), Some(serde_json::to_vec(&meta)?)),
                (full.clone(), None),
            ])
            .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc7386() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}, "n": 1}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}, "n": 1}));
    }

    #[test]
    fn subkeys_respect_depth() {
        let v = json!({"a": {"b": {"c": 1}}, "d": 2});
        assert_eq!(
            subkeys_of(&v, 0, 1),
            json!({"a": {"b": {"c": null}}, "d": null})
        );
        assert_eq!(subkeys_of(&v, 1, 1), json!({"a": null, "d": null}));
    }
}
