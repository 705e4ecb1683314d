//! The AppRole auth method: machines log in with a role ID and a secret ID.
//!
//! Layout inside the mount's view:
//! - `salt`: the HMAC key of everything below (secret IDs and role IDs are stored only hashed);
//! - `role/<name>`: the role;
//! - `role_id/<hmac(role id)>`: which role a role ID names;
//! - `secret_id/<hmac(role name)>/<hmac(secret id)>`: one secret ID of a role;
//! - `accessor/<hmac(accessor)>`: where the secret ID of an accessor is.

use std::collections::BTreeMap;
use std::net::IpAddr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::Mutex;
use tresor_sdk::token_params::{check_cidrs, cidr_contains, string_list};
use tresor_sdk::{
    Backend, Error, Map, Operation, Request, Response, Result, StorageView, TokenParams,
};

use crate::auth_util::{hmac, now_ms, rfc3339, salt, uuid};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct Role {
    role_id: String,
    bind_secret_id: bool,
    secret_id_bound_cidrs: Vec<String>,
    secret_id_num_uses: i64,
    secret_id_ttl: u64,
    local_secret_ids: bool,
    token: TokenParams,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct SecretId {
    accessor: String,
    metadata: BTreeMap<String, String>,
    cidr_list: Vec<String>,
    token_bound_cidrs: Vec<String>,
    creation_ms: i64,
    last_updated_ms: i64,
    /// `None`: never expires.
    expire_ms: Option<i64>,
    /// Uses left; 0: unlimited.
    num_uses: i64,
    ttl: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct AccessorEntry {
    role_hmac: String,
    secret_hmac: String,
}

fn invalid_login() -> Error {
    Error::invalid("invalid role or secret ID")
}

fn role_key(name: &str) -> String {
    format!("role/{name}")
}

fn valid_name(name: &str) -> Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
    {
        return Err(Error::invalid(format!("invalid role name \"{name}\"")));
    }
    Ok(())
}

fn to_vec<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    crate::stored::to_json(v).map(|b| b.to_vec())
}

/// The metadata of a secret ID: a JSON object given as a string (the CLI's way) or as an object.
fn metadata(req: &Request) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if let Some(m) = req.map_field("metadata")? {
        for (k, v) in m {
            match v {
                Value::String(s) => {
                    out.insert(k, s);
                }
                other => {
                    return Err(Error::invalid(format!(
                        "metadata values must be strings; \"{k}\" is {other}"
                    )))
                }
            }
        }
    }
    Ok(out)
}

fn within(addr: Option<IpAddr>, cidrs: &[String]) -> bool {
    cidrs.is_empty() || addr.is_some_and(|a| cidrs.iter().any(|c| cidr_contains(c, a)))
}

/// Serialises the use of each secret ID, so that `num_uses` is exact under concurrency.
pub struct AppRole {
    locks: Vec<Mutex<()>>,
    /// The mount's salt as an HMAC key, read once: it never changes after it is made, and every
    /// login needs it.
    salt: tokio::sync::OnceCell<aws_lc_rs::hmac::Key>,
}

impl Default for AppRole {
    fn default() -> Self {
        AppRole {
            locks: (0..64).map(|_| Mutex::new(())).collect(),
            salt: tokio::sync::OnceCell::new(),
        }
    }
}

impl AppRole {
    fn lock(&self, key: &str) -> &Mutex<()> {
        let h = key
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        &self.locks[h % self.locks.len()]
    }

    async fn hmac_key(&self, view: &dyn StorageView) -> Result<&aws_lc_rs::hmac::Key> {
        self.salt.get_or_try_init(|| salt(view)).await
    }

    async fn role(&self, view: &dyn StorageView, name: &str) -> Result<Option<Role>> {
        crate::stored::get_json(view, &role_key(name)).await
    }

    async fn write_role(
        &self,
        req: &Request,
        view: &dyn StorageView,
        name: &str,
    ) -> Result<Option<Response>> {
        valid_name(name)?;
        let key = self.hmac_key(view).await?;
        let existing = self.role(view, name).await?;
        let creating = existing.is_none();
        let mut role = existing.unwrap_or(Role {
            bind_secret_id: true,
            ..Role::default()
        });
        let old_role_id = role.role_id.clone();
        if let Some(b) = req.bool_field("bind_secret_id")? {
            role.bind_secret_id = b;
        }
        if let Some(c) =
            string_list(req, "secret_id_bound_cidrs")?.or(string_list(req, "bound_cidr_list")?)
        {
            check_cidrs("secret_id_bound_cidrs", &c)?;
            role.secret_id_bound_cidrs = c;
        }
        if let Some(n) = req.int_field("secret_id_num_uses")? {
            if n < 0 {
                return Err(Error::invalid("secret_id_num_uses cannot be negative"));
            }
            role.secret_id_num_uses = n;
        }
        if let Some(t) = req.duration_field("secret_id_ttl")? {
            role.secret_id_ttl = t;
        }
        if let Some(l) = req.bool_field("local_secret_ids")? {
            if !creating && l != role.local_secret_ids {
                return Err(Error::invalid(
                    "local_secret_ids can only be modified during role creation",
                ));
            }
            role.local_secret_ids = l;
        }
        role.token.update(req)?;
        if let Some(id) = req.str_field("role_id")? {
            if id.is_empty() {
                return Err(Error::invalid("role_id cannot be empty"));
            }
            role.role_id = id;
        }
        if role.role_id.is_empty() {
            role.role_id = uuid();
        }
        if !role.bind_secret_id
            && role.secret_id_bound_cidrs.is_empty()
            && role.token.token_bound_cidrs.is_empty()
        {
            return Err(Error::invalid(
                "at least one constraint should be enabled on the role",
            ));
        }
        let new_index = format!("role_id/{}", hmac(key, &role.role_id));
        if role.role_id != old_role_id {
            if let Some(owner) = crate::stored::get_json::<Value>(view, &new_index).await? {
                if owner["name"] != name {
                    return Err(Error::invalid("role_id already in use"));
                }
            }
        }
        let mut ops = vec![
            (role_key(name), Some(to_vec(&role)?)),
            (new_index, Some(to_vec(&json!({ "name": name }))?)),
        ];
        if !old_role_id.is_empty() && old_role_id != role.role_id {
            ops.push((format!("role_id/{}", hmac(key, &old_role_id)), None));
        }
        view.batch(ops).await?;
        Ok(None)
    }

    async fn read_role(&self, view: &dyn StorageView, name: &str) -> Result<Option<Response>> {
        let Some(role) = self.role(view, name).await? else {
            return Ok(None);
        };
        let mut d = Map::new();
        d.insert("bind_secret_id".into(), role.bind_secret_id.into());
        d.insert("local_secret_ids".into(), role.local_secret_ids.into());
        d.insert(
            "secret_id_bound_cidrs".into(),
            if role.secret_id_bound_cidrs.is_empty() {
                Value::Null
            } else {
                json!(role.secret_id_bound_cidrs)
            },
        );
        d.insert("secret_id_num_uses".into(), role.secret_id_num_uses.into());
        d.insert("secret_id_ttl".into(), role.secret_id_ttl.into());
        role.token.write_to(&mut d);
        Ok(Some(Response::data(d)))
    }

    async fn delete_role(&self, view: &dyn StorageView, name: &str) -> Result<Option<Response>> {
        let Some(role) = self.role(view, name).await? else {
            return Ok(None);
        };
        let key = self.hmac_key(view).await?;
        let role_hmac = hmac(key, name);
        let dir = format!("secret_id/{role_hmac}/");
        let mut ops = vec![
            (role_key(name), None),
            (format!("role_id/{}", hmac(key, &role.role_id)), None),
        ];
        for h in view.list(&dir).await? {
            if let Some(s) = crate::stored::get_json::<SecretId>(view, &format!("{dir}{h}")).await?
            {
                ops.push((format!("accessor/{}", hmac(key, &s.accessor)), None));
            }
            ops.push((format!("{dir}{h}"), None));
        }
        view.batch(ops).await?;
        Ok(None)
    }

    /// `secret-id` and `custom-secret-id`: a new secret ID for the role.
    async fn new_secret_id(
        &self,
        req: &Request,
        view: &dyn StorageView,
        name: &str,
        custom: Option<String>,
    ) -> Result<Option<Response>> {
        let role = self
            .role(view, name)
            .await?
            .ok_or_else(|| Error::invalid(format!("role \"{name}\" does not exist")))?;
        if !role.bind_secret_id {
            return Err(Error::invalid("bind_secret_id is not set on the role"));
        }
        let cidr_list = string_list(req, "cidr_list")?.unwrap_or_default();
        check_cidrs("cidr_list", &cidr_list)?;
        if !role.secret_id_bound_cidrs.is_empty() {
            for c in &cidr_list {
                let net = c.split('/').next().unwrap_or(c);
                let inside = net.parse::<IpAddr>().is_ok_and(|a| {
                    role.secret_id_bound_cidrs
                        .iter()
                        .any(|r| cidr_contains(r, a))
                });
                if !inside {
                    return Err(Error::invalid(format!(
                        "failed to verify the CIDR restrictions set on the secret ID: \"{c}\" is not within the role's secret_id_bound_cidrs"
                    )));
                }
            }
        }
        let token_bound_cidrs = string_list(req, "token_bound_cidrs")?.unwrap_or_default();
        check_cidrs("token_bound_cidrs", &token_bound_cidrs)?;
        let ttl = match req.duration_field("ttl")? {
            Some(t) if role.secret_id_ttl > 0 && t > role.secret_id_ttl => {
                return Err(Error::invalid(
                    "ttl cannot be longer than the role's secret_id_ttl",
                ))
            }
            Some(t) if t > 0 => t,
            _ => role.secret_id_ttl,
        };
        let num_uses = match req.int_field("num_uses")? {
            Some(n) if n < 0 => return Err(Error::invalid("num_uses cannot be negative")),
            Some(n) if role.secret_id_num_uses > 0 && (n == 0 || n > role.secret_id_num_uses) => {
                return Err(Error::invalid(
                    "num_uses cannot be higher than the role's secret_id_num_uses",
                ))
            }
            Some(n) if n > 0 => n,
            _ => role.secret_id_num_uses,
        };
        let secret = match custom {
            Some(s) if s.is_empty() => return Err(Error::invalid("secret_id cannot be empty")),
            Some(s) => s,
            None => uuid(),
        };
        let key = self.hmac_key(view).await?;
        let role_hmac = hmac(key, name);
        let secret_hmac = hmac(key, &secret);
        let entry_key = format!("secret_id/{role_hmac}/{secret_hmac}");
        if view.get(&entry_key).await?.is_some() {
            return Err(Error::invalid("SecretID is already registered"));
        }
        let now = now_ms();
        let entry = SecretId {
            accessor: uuid(),
            metadata: metadata(req)?,
            cidr_list,
            token_bound_cidrs,
            creation_ms: now,
            last_updated_ms: now,
            expire_ms: (ttl > 0).then(|| now.saturating_add((ttl as i64).saturating_mul(1000))),
            num_uses,
            ttl,
        };
        view.batch(vec![
            (entry_key, Some(to_vec(&entry)?)),
            (
                format!("accessor/{}", hmac(key, &entry.accessor)),
                Some(to_vec(&AccessorEntry {
                    role_hmac,
                    secret_hmac,
                })?),
            ),
        ])
        .await?;
        let mut d = Map::new();
        d.insert("secret_id".into(), secret.into());
        d.insert("secret_id_accessor".into(), entry.accessor.into());
        d.insert("secret_id_num_uses".into(), num_uses.into());
        d.insert("secret_id_ttl".into(), ttl.into());
        Ok(Some(Response::data(d)))
    }

    fn describe(s: &SecretId) -> Response {
        let mut d = Map::new();
        d.insert("cidr_list".into(), json!(s.cidr_list));
        d.insert("creation_time".into(), rfc3339(Some(s.creation_ms)).into());
        d.insert("expiration_time".into(), rfc3339(s.expire_ms).into());
        d.insert(
            "last_updated_time".into(),
            rfc3339(Some(s.last_updated_ms)).into(),
        );
        d.insert("metadata".into(), json!(s.metadata));
        d.insert("secret_id_accessor".into(), s.accessor.clone().into());
        d.insert("secret_id_num_uses".into(), s.num_uses.into());
        d.insert("secret_id_ttl".into(), s.ttl.into());
        d.insert("token_bound_cidrs".into(), json!(s.token_bound_cidrs));
        Response::data(d)
    }

    /// The stored key of the secret ID named by `secret_id` or by `secret_id_accessor`.
    async fn locate(
        &self,
        req: &Request,
        view: &dyn StorageView,
        name: &str,
        by_accessor: bool,
    ) -> Result<Option<String>> {
        let key = self.hmac_key(view).await?;
        let role_hmac = hmac(key, name);
        if by_accessor {
            let acc = req
                .str_field("secret_id_accessor")?
                .filter(|a| !a.is_empty())
                .ok_or_else(|| Error::invalid("missing secret_id_accessor"))?;
            let entry: AccessorEntry =
                crate::stored::get_json(view, &format!("accessor/{}", hmac(key, &acc)))
                    .await?
                    .filter(|a: &AccessorEntry| a.role_hmac == role_hmac)
                    .ok_or_else(|| {
                        Error::invalid(format!(
                            "failed to find accessor entry for secret_id_accessor: \"{acc}\""
                        ))
                    })?;
            return Ok(Some(format!("secret_id/{role_hmac}/{}", entry.secret_hmac)));
        }
        let secret = req
            .str_field("secret_id")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::invalid("missing secret_id"))?;
        Ok(Some(format!(
            "secret_id/{role_hmac}/{}",
            hmac(key, &secret)
        )))
    }

    async fn delete_secret(&self, view: &dyn StorageView, entry_key: &str) -> Result<()> {
        let key = self.hmac_key(view).await?;
        let mut ops = vec![(entry_key.to_owned(), None)];
        if let Some(s) = crate::stored::get_json::<SecretId>(view, entry_key).await? {
            ops.push((format!("accessor/{}", hmac(key, &s.accessor)), None));
        }
        view.batch(ops).await
    }

    async fn login(&self, req: &Request, view: &dyn StorageView) -> Result<Option<Response>> {
        let role_id = req
            .str_field("role_id")?
            .filter(|r| !r.is_empty())
            .ok_or_else(|| Error::invalid("missing role_id"))?;
        let key = self.hmac_key(view).await?;
        let name =
            crate::stored::get_json::<Value>(view, &format!("role_id/{}", hmac(key, &role_id)))
                .await?
                .and_then(|v| v["name"].as_str().map(str::to_owned))
                .ok_or_else(invalid_login)?;
        let role = self.role(view, &name).await?.ok_or_else(invalid_login)?;
        let mut metadata = BTreeMap::new();
        let mut token_cidrs = role.token.token_bound_cidrs.clone();
        if role.bind_secret_id {
            let secret = req
                .str_field("secret_id")?
                .filter(|s| !s.is_empty())
                .ok_or_else(|| Error::invalid("missing secret_id"))?;
            let entry_key = format!("secret_id/{}/{}", hmac(key, &name), hmac(key, &secret));
            let _guard = self.lock(&entry_key).lock().await;
            let mut entry: SecretId = crate::stored::get_json(view, &entry_key)
                .await?
                .ok_or_else(invalid_login)?;
            if entry.expire_ms.is_some_and(|t| t <= now_ms()) {
                self.delete_secret(view, &entry_key).await?;
                return Err(invalid_login());
            }
            let source = req.client_addr.map(|a| a.to_string()).unwrap_or_default();
            if !within(req.client_addr, &role.secret_id_bound_cidrs) {
                return Err(Error::invalid(format!(
                    "source address \"{source}\" unauthorized through CIDR restrictions on the role"
                )));
            }
            if !within(req.client_addr, &entry.cidr_list) {
                return Err(Error::invalid(format!(
                    "source address \"{source}\" unauthorized by CIDR restrictions on the secret ID"
                )));
            }
            if entry.num_uses > 0 {
                entry.num_uses -= 1;
                if entry.num_uses == 0 {
                    self.delete_secret(view, &entry_key).await?;
                } else {
                    entry.last_updated_ms = now_ms();
                    view.put(&entry_key, &to_vec(&entry)?).await?;
                }
            }
            if !entry.token_bound_cidrs.is_empty() {
                token_cidrs = entry.token_bound_cidrs.clone();
            }
            metadata = entry.metadata.clone();
        } else if !within(req.client_addr, &role.secret_id_bound_cidrs) {
            return Err(Error::invalid(format!(
                "source address \"{}\" unauthorized through CIDR restrictions on the role",
                req.client_addr.map(|a| a.to_string()).unwrap_or_default()
            )));
        }
        metadata.insert("role_name".into(), name);
        let mut login = role.token.login("", metadata);
        login.bound_cidrs = token_cidrs;
        Ok(Some(Response {
            login: Some(login),
            ..Response::default()
        }))
    }

    /// `tidy/secret-id`: drops expired secret IDs and accessors pointing at nothing.
    async fn tidy(&self, view: &dyn StorageView) -> Result<Option<Response>> {
        let now = now_ms();
        for role in view.list("secret_id/").await? {
            let dir = format!("secret_id/{role}");
            for h in view.list(&dir).await? {
                let k = format!("{dir}{h}");
                if let Some(s) = crate::stored::get_json::<SecretId>(view, &k).await? {
                    if s.expire_ms.is_some_and(|t| t <= now) {
                        self.delete_secret(view, &k).await?;
                    }
                }
            }
        }
        for a in view.list("accessor/").await? {
            let k = format!("accessor/{a}");
            if let Some(entry) = crate::stored::get_json::<AccessorEntry>(view, &k).await? {
                let target = format!("secret_id/{}/{}", entry.role_hmac, entry.secret_hmac);
                if view.get(&target).await?.is_none() {
                    view.delete(&k).await?;
                }
            }
        }
        Ok(Some(Response {
            status: Some(202),
            ..Response::default()
        }
        .with_warning("Tidy operation successfully started. Any information from the operation will be printed to Vault's server logs.")))
    }
}

#[async_trait]
impl Backend for AppRole {
    async fn initialize(&self, view: &dyn StorageView) -> Result<()> {
        self.hmac_key(view).await.map(|_| ())
    }

    fn is_login_path(&self, path: &str) -> bool {
        path == "login"
    }

    fn help(&self) -> String {
        tresor_sdk::help_text(
            "Any registered Role can authenticate itself with Tresor. The credentials that must be\nsupplied depend on the constraints set on the role: a role ID always, and a secret ID\nwhen bind_secret_id is set.",
            &[
                ("^login$", "Issue a token based on the credentials supplied"),
                ("^role/?$", "Lists all the roles registered with the backend."),
                ("^role/(?P<role_name>\\w(([\\w-.@]+)?\\w)?)$", "Register an role with the backend."),
                ("^role/(?P<role_name>\\w(([\\w-.@]+)?\\w)?)/role-id$", "Returns the 'role_id' of the role."),
                ("^role/(?P<role_name>\\w(([\\w-.@]+)?\\w)?)/secret-id/?$", "Generate a SecretID against this role."),
                ("^tidy/secret-id$", "Trigger the clean-up of expired SecretID entries."),
            ],
        )
    }

    fn canonical_path<'a>(&self, path: &'a str) -> std::borrow::Cow<'a, str> {
        // `role/x/` is the role `x`: the ACL sees it without the slash too.
        std::borrow::Cow::Borrowed(path.trim_end_matches('/'))
    }

    async fn handle(&self, req: &Request, view: &dyn StorageView) -> Result<Option<Response>> {
        use Operation::*;
        let op = req.operation;
        let path = req.path.trim_end_matches('/');
        if path == "login" {
            return match op {
                Create | Update => self.login(req, view).await,
                _ => Err(Error::UnsupportedOperation),
            };
        }
        if path == "tidy/secret-id" {
            return match op {
                Create | Update => self.tidy(view).await,
                _ => Err(Error::UnsupportedOperation),
            };
        }
        if path == "role" {
            return match op {
                List => {
                    let keys = view.list("role/").await?;
                    Ok((!keys.is_empty()).then(|| Response::list(keys)))
                }
                _ => Err(Error::UnsupportedOperation),
            };
        }
        let Some(rest) = path.strip_prefix("role/") else {
            return Err(Error::UnsupportedPath);
        };
        let (name, sub) = match rest.split_once('/') {
            Some((n, s)) => (n, s),
            None => (rest, ""),
        };
        valid_name(name)?;
        match (sub, op) {
            ("", Read) => self.read_role(view, name).await,
            ("", Create | Update) => self.write_role(req, view, name).await,
            ("", Delete) => self.delete_role(view, name).await,
            ("role-id", Read) => Ok(self.role(view, name).await?.map(|r| {
                let mut d = Map::new();
                d.insert("role_id".into(), r.role_id.into());
                Response::data(d)
            })),
            ("role-id", Create | Update) => {
                if self.role(view, name).await?.is_none() {
                    return Err(Error::invalid(format!("role \"{name}\" does not exist")));
                }
                if req.str_field("role_id")?.is_none_or(|r| r.is_empty()) {
                    return Err(Error::invalid("missing role_id"));
                }
                self.write_role(req, view, name).await
            }
            ("secret-id", Create | Update) => self.new_secret_id(req, view, name, None).await,
            ("custom-secret-id", Create | Update) => {
                let custom = req.str_field("secret_id")?.unwrap_or_default();
                self.new_secret_id(req, view, name, Some(custom)).await
            }
            ("secret-id", List) => {
                let key = self.hmac_key(view).await?;
                if self.role(view, name).await?.is_none() {
                    return Err(Error::invalid(format!("role \"{name}\" does not exist")));
                }
                let dir = format!("secret_id/{}/", hmac(key, name));
                let mut keys = Vec::new();
                for h in view.list(&dir).await? {
                    if let Some(s) =
                        crate::stored::get_json::<SecretId>(view, &format!("{dir}{h}")).await?
                    {
                        keys.push(s.accessor);
                    }
                }
                keys.sort();
                Ok((!keys.is_empty()).then(|| Response::list(keys)))
            }
            ("secret-id/lookup" | "secret-id-accessor/lookup", Create | Update) => {
                let by_accessor = sub.starts_with("secret-id-accessor");
                let Some(k) = self.locate(req, view, name, by_accessor).await? else {
                    return Ok(None);
                };
                match crate::stored::get_json::<SecretId>(view, &k).await? {
                    Some(s) if s.expire_ms.is_none_or(|t| t > now_ms()) => {
                        Ok(Some(Self::describe(&s)))
                    }
                    _ => Ok(None),
                }
            }
            ("secret-id/destroy" | "secret-id-accessor/destroy", Create | Update | Delete) => {
                let by_accessor = sub.starts_with("secret-id-accessor");
                if let Some(k) = self.locate(req, view, name, by_accessor).await? {
                    self.delete_secret(view, &k).await?;
                }
                Ok(None)
            }
            (
                ""
                | "role-id"
                | "secret-id"
                | "custom-secret-id"
                | "secret-id/lookup"
                | "secret-id-accessor/lookup"
                | "secret-id/destroy"
                | "secret-id-accessor/destroy",
                _,
            ) => Err(Error::UnsupportedOperation),
            _ => Err(Error::UnsupportedPath),
        }
    }
}
