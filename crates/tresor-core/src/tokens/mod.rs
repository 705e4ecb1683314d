//! The token store: tokens are random `hvs.` strings handed to clients once; the store keeps
//! only their salted HMAC (the "id hash"), so a stolen storage file yields no usable token.
//!
//! Storage (inside the barrier):
//! - `sys/token/id/<id hash>`: the [`TokenEntry`];
//! - `sys/token/accessor/<accessor hash>`: `{accessor, id_hash}`, for the accessor endpoints;
//! - `sys/token/parent/<parent hash>/<child hash>`: the tree that revocation walks;
//! - `sys/token/revoke/<id hash>`: a revocation in progress, resumed after a crash or restart;
//! - `sys/token/roles/<name>`: token roles.

pub mod api;
mod cache;
mod roles;

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::Mutex;
use tresor_sdk::Map;
use zeroize::Zeroizing;

use crate::barrier::Barrier;
use crate::crypto;
use crate::error::CoreError;
use crate::expiration::{ExpirationManager, LeaseEntry, LeaseKind};
use crate::mounts::delete_tree;

const SALT_PATH: &str = "sys/token/salt";
pub(crate) const ID_PREFIX: &str = "sys/token/id/";
const ACCESSOR_PREFIX: &str = "sys/token/accessor/";
const PARENT_PREFIX: &str = "sys/token/parent/";
const REVOKE_PREFIX: &str = "sys/token/revoke/";
/// Cubbyholes are keyed by the owner's id hash; revoking a token destroys its cubbyhole.
pub const CUBBYHOLE_PREFIX: &str = "logical/cubbyhole/";
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const USE_LOCK_STRIPES: usize = 64;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenEntry {
    pub id_hash: String,
    pub accessor: String,
    /// The parent's id hash; `None` for an orphan.
    pub parent: Option<String>,
    pub policies: Vec<String>,
    pub meta: BTreeMap<String, String>,
    pub display_name: String,
    pub path: String,
    /// Uses left; 0 means unlimited.
    pub num_uses: i64,
    /// Unix seconds.
    pub creation_time: i64,
    /// The TTL the token was created with, in seconds (0: never expires).
    pub creation_ttl: u64,
    pub explicit_max_ttl: u64,
    pub period: u64,
    pub renewable: bool,
    /// Unix milliseconds; `None`: never expires. Finer than the seconds Vault shows, so that a
    /// token lives its whole TTL whatever the fraction of the second it was made in.
    pub expire_at_ms: Option<i64>,
    pub token_type: String,
    pub bound_cidrs: Vec<String>,
    pub role: Option<String>,
    #[serde(default)]
    pub revoking: bool,
    /// Seconds from creation the token may be renewed up to (a login's role or mount max);
    /// 0: the system's max.
    #[serde(default)]
    pub max_ttl: u64,
    /// Unix milliseconds of the last renewal, if any (lookup shows it as Vault does).
    #[serde(default)]
    pub last_renewal_ms: Option<i64>,
}

impl TokenEntry {
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }

    pub fn is_orphan(&self) -> bool {
        self.parent.is_none()
    }

    pub fn expired(&self, now_ms: i64) -> bool {
        self.expire_at_ms.is_some_and(|t| now_ms >= t)
    }

    /// Seconds left, to the nearest second (a token made with `ttl=2s` reports 2, not 1).
    pub fn ttl_left(&self, now_ms: i64) -> u64 {
        self.expire_at_ms
            .map(|t| ((t - now_ms).max(0) as u64 + 500) / 1000)
            .unwrap_or(0)
    }

    /// Whether `addr` may use this token (an empty list binds nothing).
    pub fn cidr_allows(&self, addr: Option<IpAddr>) -> bool {
        if self.bound_cidrs.is_empty() {
            return true;
        }
        let Some(addr) = addr else { return false };
        self.bound_cidrs.iter().any(|c| cidr_contains(c, addr))
    }

    /// Vault's lookup answer. `id` is the raw token where the caller knows it.
    pub fn lookup_data(&self, id: &str, now_ms: i64) -> Map {
        let rfc3339 = |t: i64| {
            tresor_sdk::clock::rfc3339_secs(t)
                .map(Value::String)
                .unwrap_or(Value::Null)
        };
        let mut m = Map::new();
        m.insert("accessor".into(), self.accessor.clone().into());
        m.insert("creation_time".into(), self.creation_time.into());
        m.insert("creation_ttl".into(), self.creation_ttl.into());
        m.insert("display_name".into(), self.display_name.clone().into());
        m.insert("entity_id".into(), "".into());
        m.insert(
            "expire_time".into(),
            self.expire_at_ms
                .map(|ms| rfc3339_ms(ms).map(Value::String).unwrap_or(Value::Null))
                .unwrap_or(Value::Null),
        );
        m.insert("explicit_max_ttl".into(), self.explicit_max_ttl.into());
        m.insert("id".into(), id.into());
        // Vault shows the issue time of a token's lease, and registers one for every token but
        // those it makes as root tokens outright (init, generate-root: `auth/token/root`).
        if self.path != "auth/token/root" {
            m.insert("issue_time".into(), rfc3339(self.creation_time));
        }
        if let Some(ms) = self.last_renewal_ms {
            m.insert(
                "last_renewal".into(),
                rfc3339_ms(ms).map(Value::String).unwrap_or(Value::Null),
            );
            m.insert("last_renewal_time".into(), (ms / 1000).into());
        }
        m.insert(
            "meta".into(),
            if self.meta.is_empty() {
                Value::Null
            } else {
                json!(self.meta)
            },
        );
        m.insert("num_uses".into(), self.num_uses.into());
        m.insert("orphan".into(), self.is_orphan().into());
        m.insert("path".into(), self.path.clone().into());
        if self.period > 0 {
            m.insert("period".into(), self.period.into());
        }
        m.insert("policies".into(), json!(self.policies));
        if !self.bound_cidrs.is_empty() {
            m.insert("bound_cidrs".into(), json!(self.bound_cidrs));
        }
        if let Some(r) = &self.role {
            m.insert("role".into(), r.clone().into());
        }
        m.insert("renewable".into(), self.renewable.into());
        m.insert("ttl".into(), self.ttl_left(now_ms).into());
        m.insert("type".into(), self.token_type.clone().into());
        m
    }

    /// The `auth` block of a response that hands out this token.
    pub fn auth_block(&self, token: &str, now_ms: i64) -> Map {
        let mut m = Map::new();
        m.insert("client_token".into(), token.into());
        m.insert("accessor".into(), self.accessor.clone().into());
        m.insert("policies".into(), json!(self.policies));
        m.insert("token_policies".into(), json!(self.policies));
        m.insert(
            "metadata".into(),
            if self.meta.is_empty() {
                Value::Null
            } else {
                json!(self.meta)
            },
        );
        m.insert("lease_duration".into(), self.ttl_left(now_ms).into());
        m.insert("renewable".into(), self.renewable.into());
        m.insert("entity_id".into(), "".into());
        m.insert("token_type".into(), self.token_type.clone().into());
        m.insert("orphan".into(), self.is_orphan().into());
        m.insert("mfa_requirement".into(), Value::Null);
        m.insert("num_uses".into(), self.num_uses.into());
        m
    }
}

pub use tresor_sdk::token_params::cidr_contains;

/// `bound_cidrs` as given: trimmed, blanks dropped, each checked to be a CIDR block.
pub fn parse_cidrs(list: &[String]) -> Result<Vec<String>, CoreError> {
    let out: Vec<String> = list
        .iter()
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    tresor_sdk::token_params::check_cidrs("bound_cidrs", &out)?;
    Ok(out)
}

/// `len` random characters from the base62 alphabet, without modulo bias.
pub fn random_base62(len: usize) -> Result<String, CoreError> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        crypto::fill_random(&mut buf)?;
        for b in buf {
            // 248 = 4 * 62: bytes above it would favour the first characters.
            if b < 248 && out.len() < len {
                out.push(BASE62[(b % 62) as usize] as char);
            }
        }
    }
    Ok(out)
}

/// The expiry of a TTL of `ttl` seconds starting at `from_ms`, saturating for absurd TTLs.
pub fn expiry(from_ms: i64, ttl: u64) -> i64 {
    from_ms.saturating_add((ttl.min(i64::MAX as u64) as i64).saturating_mul(1000))
}

pub use tresor_sdk::clock::rfc3339_ms;

#[derive(Serialize, Deserialize)]
struct AccessorEntry {
    accessor: String,
    id_hash: String,
}

/// What a caller asks for when creating a token; the store fills in the rest.
#[derive(Debug, Clone, Default)]
pub struct NewToken {
    pub id: Option<String>,
    pub parent: Option<String>,
    pub policies: Vec<String>,
    pub meta: BTreeMap<String, String>,
    pub display_name: String,
    pub path: String,
    pub num_uses: i64,
    pub ttl: u64,
    pub explicit_max_ttl: u64,
    pub period: u64,
    pub renewable: bool,
    pub token_type: String,
    pub bound_cidrs: Vec<String>,
    pub role: Option<String>,
    pub max_ttl: u64,
    /// Who asks: decides whether the token may carry the `root` policy.
    pub issuer: Issuer,
}

/// Who is making a token. Whether a token may be root is decided here and nowhere else
/// ([`TokenStore::create`]): only the initialisation of the server and a root token make root
/// tokens; a token role, an auth method or anything else never does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Issuer {
    /// `sys/init` and dev mode.
    Init,
    /// `auth/token/create*` on behalf of a token; `parent_is_root` when that token is root.
    Token { parent_is_root: bool },
    /// A login through an auth method.
    AuthMethod,
    /// Tokens the core makes for itself (response wrapping).
    #[default]
    Core,
}

impl Issuer {
    /// Vault's refusal when this issuer asks for a root token.
    fn may_make_root(self) -> Result<(), CoreError> {
        match self {
            Issuer::Init
            | Issuer::Token {
                parent_is_root: true,
            } => Ok(()),
            Issuer::Token { .. } => Err(CoreError::invalid(
                "root tokens may not be created without parent token being root",
            )),
            Issuer::AuthMethod => Err(CoreError::invalid("auth methods cannot create root tokens")),
            Issuer::Core => Err(CoreError::internal("the core asked for a root token")),
        }
    }
}

pub struct TokenStore {
    barrier: Arc<Barrier>,
    /// Tokens with a TTL are leases; revoking a token revokes the leases it owns.
    expiration: Arc<ExpirationManager>,
    /// The salt of token hashes, prepared as an HMAC key.
    salt_key: crypto::HmacKey,
    use_locks: Vec<Mutex<()>>,
    /// Held while a child is added under a parent, while a token is marked revoked, and while a
    /// changed entry is written back: a child is either written before its parent's revocation
    /// lists the children, or sees the parent marked and is refused, and no write undoes a mark.
    /// Taken after a `use_locks` stripe, never before; never two at once.
    tree_locks: Vec<Mutex<()>>,
    /// Decoded entries; every write below goes to storage first, then here.
    cache: cache::EntryCache,
}

impl TokenStore {
    /// Loads the salt (creating it on first use) and, where `may_write`, finishes revocations a
    /// crash interrupted (on a standby, the active node does).
    pub async fn load(
        barrier: Arc<Barrier>,
        expiration: Arc<ExpirationManager>,
        may_write: bool,
    ) -> Result<Self, CoreError> {
        let salt = match barrier.get(SALT_PATH).await? {
            Some(s) => s,
            None => {
                let s = crypto::random_key()?;
                barrier.put(SALT_PATH, &s[..]).await?;
                Zeroizing::new(s.to_vec())
            }
        };
        let store = TokenStore {
            barrier,
            expiration,
            salt_key: crypto::HmacKey::new(&salt),
            use_locks: (0..USE_LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            tree_locks: (0..USE_LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            cache: cache::EntryCache::default(),
        };
        let pending = if may_write {
            store.barrier.list(REVOKE_PREFIX).await?
        } else {
            Vec::new()
        };
        for pending in pending {
            tracing::info!("token: resuming an interrupted revocation");
            store.revoke_tree(&pending).await?;
        }
        Ok(store)
    }

    /// Another node changed the stored entry of `id_hash`: the cached one is stale.
    pub fn forget(&self, id_hash: &str) {
        self.cache.removed(id_hash);
    }

    pub fn hash(&self, value: &str) -> String {
        tresor_sdk::ids::hex(self.salt_key.sign(value.as_bytes()).as_ref())
    }

    fn id_key(hash: &str) -> String {
        format!("{ID_PREFIX}{hash}")
    }

    /// Stores a new token and returns it with its entry.
    pub async fn create(
        &self,
        req: NewToken,
    ) -> Result<(Zeroizing<String>, TokenEntry), CoreError> {
        // Policy names as the ACL reads them (`" Root"` is `root` there), so that the root
        // check below sees what the ACL will grant.
        let mut policies: Vec<String> = req
            .policies
            .iter()
            .map(|p| crate::policy::normalize_name(p))
            .filter(|p| !p.is_empty())
            .collect();
        policies.sort();
        policies.dedup();
        if policies.iter().any(|p| p == "root") {
            req.issuer.may_make_root()?;
        }
        // Only the core makes wrapping tokens: a token with this policy and a cubbyhole of
        // its own making would pass for one.
        if req.issuer != Issuer::Core {
            if let Some(p) = policies
                .iter()
                .find(|p| *p == crate::policy::RESPONSE_WRAPPING)
            {
                return Err(CoreError::invalid(format!("cannot assign policy \"{p}\"")));
            }
        }
        let chosen = req.id.as_ref().is_some_and(|id| !id.is_empty());
        let token = Zeroizing::new(match req.id {
            Some(id) if !id.is_empty() => id,
            _ => format!("hvs.{}", random_base62(24)?),
        });
        let id_hash = self.hash(&token);
        // A generated token has 143 random bits: only a chosen one can already exist.
        if chosen && self.barrier.get(&Self::id_key(&id_hash)).await?.is_some() {
            return Err(CoreError::invalid(
                "cannot create a token with a duplicate ID",
            ));
        }
        let t = self.barrier.clock().now_secs();
        let entry = TokenEntry {
            id_hash: id_hash.clone(),
            accessor: random_base62(24)?,
            parent: req.parent.clone(),
            policies,
            meta: req.meta,
            display_name: req.display_name,
            path: req.path,
            num_uses: req.num_uses,
            creation_time: t,
            creation_ttl: req.ttl,
            explicit_max_ttl: req.explicit_max_ttl,
            period: req.period,
            renewable: req.renewable,
            expire_at_ms: (req.ttl > 0).then(|| expiry(self.barrier.clock().now_ms(), req.ttl)),
            token_type: if req.token_type.is_empty() {
                "service".into()
            } else {
                req.token_type
            },
            bound_cidrs: req.bound_cidrs,
            role: req.role,
            revoking: false,
            max_ttl: req.max_ttl,
            last_renewal_ms: None,
        };
        let accessor = AccessorEntry {
            accessor: entry.accessor.clone(),
            id_hash: id_hash.clone(),
        };
        let mut ops = vec![
            (
                Self::id_key(&id_hash),
                Some(serde_json::to_vec(&entry).map_err(CoreError::internal)?),
            ),
            (
                format!("{ACCESSOR_PREFIX}{}", self.hash(&entry.accessor)),
                Some(serde_json::to_vec(&accessor).map_err(CoreError::internal)?),
            ),
        ];
        if let Some(p) = &req.parent {
            ops.push((format!("{PARENT_PREFIX}{p}/{id_hash}"), Some(Vec::new())));
        }
        let lease = entry.expire_at_ms.map(|expire_ms| LeaseEntry {
            lease_id: Self::lease_id(&entry),
            path: entry.path.clone(),
            owner: Some(id_hash.clone()),
            kind: LeaseKind::Token {
                id_hash: id_hash.clone(),
            },
            issue_ms: self.barrier.clock().now_ms(),
            expire_ms,
            last_renewal_ms: None,
            renewable: entry.renewable,
            revoke_attempts: 0,
        });
        if let Some(l) = &lease {
            ops.extend(self.expiration.write_ops(l)?);
        }
        // A child is written only while its parent is live, checked under the parent's tree
        // lock (see `revoke_tree`).
        let _tree = match &req.parent {
            Some(p) => {
                let guard = stripe(&self.tree_locks, p).lock().await;
                match self.entry_by_hash(p).await? {
                    Some(e) if !e.revoking && !e.expired(self.barrier.clock().now_ms()) => {}
                    _ => {
                        return Err(CoreError::invalid(
                            "parent token lookup failed: no parent found",
                        ))
                    }
                }
                Some(guard)
            }
            None => None,
        };
        self.barrier.batch(ops).await?;
        self.cache.saved(&entry);
        if let Some(l) = &lease {
            self.expiration.track(l);
        }
        Ok((token, entry))
    }

    /// Creates a root token; `id` lets dev mode choose it (`-dev-root-token-id`).
    pub async fn create_root(&self, id: Option<String>) -> Result<Zeroizing<String>, CoreError> {
        // A chosen id (`-dev-root-token-id`) is a token Vault's dev mode makes through
        // `auth/token/create`, so it carries that path and the display name `token` (which
        // shows in generated database user names); the init root token is `root`.
        let (display_name, path) = match id {
            Some(_) => ("token", "auth/token/create"),
            None => ("root", "auth/token/root"),
        };
        let (token, _) = self
            .create(NewToken {
                id,
                policies: vec!["root".into()],
                display_name: display_name.into(),
                path: path.into(),
                token_type: "service".into(),
                issuer: Issuer::Init,
                ..NewToken::default()
            })
            .await?;
        Ok(token)
    }

    pub async fn entry_by_hash(&self, hash: &str) -> Result<Option<TokenEntry>, CoreError> {
        if let Some(e) = self.cache.get(hash) {
            return Ok(Some(TokenEntry::clone(&e)));
        }
        let epoch = self.cache.epoch();
        let entry: Option<TokenEntry> = self.barrier.get_json(&Self::id_key(hash)).await?;
        if let Some(e) = &entry {
            self.cache.fill(epoch, e);
        }
        Ok(entry)
    }

    /// The live entry of a token: `None` if unknown, expired, or being revoked. An expired token
    /// found here is revoked on the spot.
    pub async fn lookup(&self, token: &str) -> Result<Option<TokenEntry>, CoreError> {
        if token.is_empty() {
            return Ok(None);
        }
        self.live(self.entry_by_hash(&self.hash(token)).await?)
            .await
    }

    pub async fn lookup_hash(&self, hash: &str) -> Result<Option<TokenEntry>, CoreError> {
        self.live(self.entry_by_hash(hash).await?).await
    }

    async fn live(&self, entry: Option<TokenEntry>) -> Result<Option<TokenEntry>, CoreError> {
        match entry {
            Some(e) if e.revoking => Ok(None),
            Some(e) if e.expired(self.barrier.clock().now_ms()) => {
                self.revoke_tree(&e.id_hash).await?;
                Ok(None)
            }
            other => Ok(other),
        }
    }

    pub async fn lookup_accessor(&self, accessor: &str) -> Result<Option<TokenEntry>, CoreError> {
        let key = format!("{ACCESSOR_PREFIX}{}", self.hash(accessor));
        let Some(a): Option<AccessorEntry> = self.barrier.get_json(&key).await? else {
            return Ok(None);
        };
        self.lookup_hash(&a.id_hash).await
    }

    /// Every accessor (for `LIST auth/token/accessors`).
    pub async fn accessors(&self) -> Result<Vec<String>, CoreError> {
        let mut out = Vec::new();
        for k in self.barrier.list(ACCESSOR_PREFIX).await? {
            if let Some(a) = self
                .barrier
                .get_json::<AccessorEntry>(&format!("{ACCESSOR_PREFIX}{k}"))
                .await?
            {
                out.push(a.accessor);
            }
        }
        out.sort();
        Ok(out)
    }

    /// The lease id of a token with a TTL: its creation path and its hash, as Vault's
    /// `auth/token/create/<hash>`.
    pub fn lease_id(entry: &TokenEntry) -> String {
        format!("{}/{}", entry.path.trim_end_matches('/'), entry.id_hash)
    }

    /// Saves a renewed token and moves its lease to the new expiry, unless it is being revoked
    /// (then the revocation wins, and the caller is refused).
    pub async fn save_renewed(&self, entry: &TokenEntry) -> Result<(), CoreError> {
        let _tree = stripe(&self.tree_locks, &entry.id_hash).lock().await;
        self.save_live(entry).await?;
        if let (Some(expire_ms), Some(mut lease)) = (
            entry.expire_at_ms,
            self.expiration.get(&Self::lease_id(entry)).await?,
        ) {
            lease.expire_ms = expire_ms;
            // The entry's renewal time, so that the token and its lease tell the same.
            lease.last_renewal_ms = entry.last_renewal_ms;
            self.expiration.save(&lease).await?;
        }
        Ok(())
    }

    /// Writes a changed entry, unless the token has been revoked or marked for revocation since
    /// the entry was read: a write made from an earlier read never brings a token back (a mark,
    /// `revoking = true`, is always written).
    async fn save(&self, entry: &TokenEntry) -> Result<(), CoreError> {
        let _tree = stripe(&self.tree_locks, &entry.id_hash).lock().await;
        self.save_live(entry).await
    }

    /// [`TokenStore::save`] with the token's tree lock already held.
    async fn save_live(&self, entry: &TokenEntry) -> Result<(), CoreError> {
        match self.entry_by_hash(&entry.id_hash).await? {
            Some(current) if !current.revoking || entry.revoking => self.write_entry(entry).await,
            _ => Err(CoreError::PermissionDenied),
        }
    }

    async fn write_entry(&self, entry: &TokenEntry) -> Result<(), CoreError> {
        self.barrier
            .put_json(&Self::id_key(&entry.id_hash), entry)
            .await?;
        self.cache.saved(entry);
        Ok(())
    }

    /// Counts one use of a limited-use token. Returns the entry after the use, or `None` if the
    /// token has no uses left. A token whose last use this is comes back with `num_uses == -1`:
    /// the caller revokes it once the request is done.
    pub async fn use_token(&self, entry: TokenEntry) -> Result<Option<TokenEntry>, CoreError> {
        if entry.num_uses == 0 {
            return Ok(Some(entry));
        }
        let _g = stripe(&self.use_locks, &entry.id_hash).lock().await;
        let Some(mut fresh) = self.lookup_hash(&entry.id_hash).await? else {
            return Ok(None);
        };
        if fresh.num_uses <= 0 {
            return Ok(None);
        }
        fresh.num_uses -= 1;
        if fresh.num_uses == 0 {
            // Mark it so no concurrent request can use it, then hand out the last use.
            fresh.revoking = true;
            self.save(&fresh).await?;
            fresh.num_uses = -1;
            return Ok(Some(fresh));
        }
        self.save(&fresh).await?;
        Ok(Some(fresh))
    }

    /// Revokes a token and every descendant. First records the revocation and marks every
    /// token of the tree unusable (top-down), then deletes bottom-up; a crash at any point
    /// leaves the record, and [`TokenStore::load`] finishes the job.
    pub async fn revoke_tree(&self, id_hash: &str) -> Result<(), CoreError> {
        let record = format!("{REVOKE_PREFIX}{id_hash}");
        self.barrier.put(&record, b"").await?;
        let mut order = vec![id_hash.to_owned()];
        let mut i = 0;
        while i < order.len() {
            let h = order[i].clone();
            {
                let _tree = stripe(&self.tree_locks, &h).lock().await;
                if let Some(mut e) = self.entry_by_hash(&h).await? {
                    if !e.revoking {
                        e.revoking = true;
                        self.write_entry(&e).await?;
                    }
                }
            }
            // Marked: no child can be added from here on, so this list is complete.
            for child in self.barrier.list(&format!("{PARENT_PREFIX}{h}/")).await? {
                order.push(child);
            }
            i += 1;
        }
        for h in order.iter().rev() {
            self.delete_one(h).await?;
        }
        self.barrier.delete(&record).await
    }

    /// Revokes a token alone; its children become orphans. The token is marked first, so no
    /// child is added while the others are being re-parented.
    pub async fn revoke_orphan(&self, id_hash: &str) -> Result<(), CoreError> {
        {
            let _tree = stripe(&self.tree_locks, id_hash).lock().await;
            if let Some(mut e) = self.entry_by_hash(id_hash).await? {
                if !e.revoking {
                    e.revoking = true;
                    self.write_entry(&e).await?;
                }
            }
        }
        for child in self
            .barrier
            .list(&format!("{PARENT_PREFIX}{id_hash}/"))
            .await?
        {
            // Read and written under the child's lock, so a revocation of the child that
            // started meanwhile keeps its mark.
            let _tree = stripe(&self.tree_locks, &child).lock().await;
            if let Some(mut e) = self.entry_by_hash(&child).await? {
                e.parent = None;
                self.barrier
                    .batch(vec![
                        (
                            Self::id_key(&child),
                            Some(serde_json::to_vec(&e).map_err(CoreError::internal)?),
                        ),
                        (format!("{PARENT_PREFIX}{id_hash}/{child}"), None),
                    ])
                    .await?;
                self.cache.saved(&e);
            }
        }
        self.delete_one(id_hash).await
    }

    async fn delete_one(&self, id_hash: &str) -> Result<(), CoreError> {
        let mut ops = vec![(Self::id_key(id_hash), None)];
        if let Some(e) = self.entry_by_hash(id_hash).await? {
            ops.push((format!("{ACCESSOR_PREFIX}{}", self.hash(&e.accessor)), None));
            if let Some(p) = &e.parent {
                ops.push((format!("{PARENT_PREFIX}{p}/{id_hash}"), None));
            }
        }
        self.barrier.batch(ops).await?;
        self.cache.removed(id_hash);
        self.expiration.token_revoked(id_hash).await?;
        delete_tree(&self.barrier, &format!("{CUBBYHOLE_PREFIX}{id_hash}/")).await
    }

    /// `auth/token/tidy`: drops index entries that point at tokens no longer there, and
    /// revokes expired tokens. Returns how many entries were cleaned.
    pub async fn tidy(&self) -> Result<usize, CoreError> {
        let mut cleaned = 0;
        for k in self.barrier.list(ACCESSOR_PREFIX).await? {
            let key = format!("{ACCESSOR_PREFIX}{k}");
            if let Some(a) = self.barrier.get_json::<AccessorEntry>(&key).await? {
                match self.entry_by_hash(&a.id_hash).await? {
                    None => {
                        self.barrier.delete(&key).await?;
                        cleaned += 1;
                    }
                    Some(e) if e.expired(self.barrier.clock().now_ms()) => {
                        self.revoke_tree(&e.id_hash).await?;
                        cleaned += 1;
                    }
                    _ => {}
                }
            }
        }
        for parent in self.barrier.list(PARENT_PREFIX).await? {
            let parent = parent.trim_end_matches('/');
            let parent_gone = self.entry_by_hash(parent).await?.is_none();
            for child in self
                .barrier
                .list(&format!("{PARENT_PREFIX}{parent}/"))
                .await?
            {
                if parent_gone || self.entry_by_hash(&child).await?.is_none() {
                    if parent_gone {
                        if let Some(c) = self.entry_by_hash(&child).await? {
                            // The parent vanished without taking its child: finish the job.
                            self.revoke_tree(&c.id_hash).await?;
                        }
                    }
                    self.barrier
                        .delete(&format!("{PARENT_PREFIX}{parent}/{child}"))
                        .await?;
                    cleaned += 1;
                }
            }
        }
        Ok(cleaned)
    }

    pub fn barrier(&self) -> &Arc<Barrier> {
        &self.barrier
    }
}

/// The lock of `key`'s stripe.
fn stripe<'a>(locks: &'a [Mutex<()>], key: &str) -> &'a Mutex<()> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    &locks[(h.finish() as usize) % locks.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base62_tokens_have_vaults_shape() {
        let t = random_base62(24).unwrap();
        assert_eq!(t.len(), 24);
        assert!(t.bytes().all(|b| BASE62.contains(&b)));
        assert_ne!(t, random_base62(24).unwrap());
    }

    #[test]
    fn cidr_matching() {
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(cidr_contains("127.0.0.0/8", a));
        assert!(cidr_contains("127.0.0.1", a));
        assert!(!cidr_contains("10.0.0.0/8", a));
        assert!(cidr_contains("0.0.0.0/0", a));
        assert!(cidr_contains("::1/128", "::1".parse().unwrap()));
        assert!(!cidr_contains("garbage", a));
        assert!(parse_cidrs(&["10.0.0.0/8".into(), " 127.0.0.1 ".into()]).is_ok());
        assert!(parse_cidrs(&["10.0.0.0/33".into()]).is_err());
        assert!(parse_cidrs(&["nope".into()]).is_err());
    }
}
