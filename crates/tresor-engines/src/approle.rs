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

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::Mutex;
use tresor_sdk::framework::{Call, DefaultValue, Field, Kind, Path, Paths};
use tresor_sdk::token_params::{self, check_cidrs, cidr_contains};
use tresor_sdk::{handler, Error, Map, Request, Response, Result, StorageView, TokenParams};

use crate::auth_util::{hmac, rfc3339, salt, uuid};

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

/// The metadata of a secret ID, a string read as Vault reads it: a JSON object of strings
/// (base64-encoded or not), or else comma-separated `key=value` pairs, which are lowercased.
fn metadata(req: &Request) -> Result<BTreeMap<String, String>> {
    let raw = req.str_field("metadata")?.unwrap_or_default();
    parse_metadata(&raw).map_err(|e| Error::invalid(format!("failed to parse metadata: {e}")))
}

fn parse_metadata(raw: &str) -> std::result::Result<BTreeMap<String, String>, String> {
    use base64::Engine;
    let input = raw.trim();
    if input.is_empty() {
        return Ok(BTreeMap::new());
    }
    // Go's base64 decoder skips line breaks.
    let unbroken: String = input
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n'))
        .collect();
    let input = match base64::engine::general_purpose::STANDARD.decode(unbroken) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => input.to_owned(),
    };
    let out = match serde_json::from_str::<BTreeMap<String, Option<String>>>(&input) {
        Ok(m) => m
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect(),
        Err(_) => key_values(&input).map_err(|e| format!("failed to parse the input: {e}"))?,
    };
    match out.iter().find(|(k, v)| !k.is_empty() && v.is_empty()) {
        Some((k, _)) => Err(format!("invalid value for key {k:?}")),
        None => Ok(out),
    }
}

/// `k=v,k2=v2`, lowercased, deduplicated and sorted first as Vault's `ParseKeyValues` does (so
/// of two values for one key, the greater wins).
fn key_values(input: &str) -> std::result::Result<BTreeMap<String, String>, String> {
    let pairs: std::collections::BTreeSet<String> = input
        .split(',')
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    let mut out = BTreeMap::new();
    for pair in pairs {
        let mut shards = pair.split('=');
        let (Some(k), Some(v), None) = (shards.next(), shards.next(), shards.next()) else {
            return Err("invalid <key,value> format".into());
        };
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() || v.is_empty() {
            return Err(format!("invalid <key,value> pair: key: {k:?} value: {v:?}"));
        }
        out.insert(k.to_owned(), v.to_owned());
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
    clock: tresor_sdk::Clock,
}

impl AppRole {
    pub fn new(clock: tresor_sdk::Clock) -> Self {
        AppRole {
            locks: (0..64).map(|_| Mutex::new(())).collect(),
            salt: tokio::sync::OnceCell::new(),
            clock,
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

    async fn write_role(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let (req, view, name) = (c.req, c.view, role_name(c)?);
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
        if let Some(c) = req
            .list_field("secret_id_bound_cidrs")?
            .or(req.list_field("bound_cidr_list")?)
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
        role.token.update(req, ROLE_LEGACY_FIELDS)?;
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

    async fn read_role(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let (view, name) = (c.view, role_name(c)?);
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

    async fn delete_role(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let (view, name) = (c.view, role_name(c)?);
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
    async fn new_secret_id(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let (req, view, name) = (c.req, c.view, role_name(c)?);
        let custom = match req.path.ends_with("custom-secret-id") {
            true => Some(req.str_field("secret_id")?.unwrap_or_default()),
            false => None,
        };
        let role = self
            .role(view, name)
            .await?
            .ok_or_else(|| Error::invalid(format!("role \"{name}\" does not exist")))?;
        if !role.bind_secret_id {
            return Err(Error::invalid("bind_secret_id is not set on the role"));
        }
        let cidr_list = req.list_field("cidr_list")?.unwrap_or_default();
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
        let token_bound_cidrs = req.list_field("token_bound_cidrs")?.unwrap_or_default();
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
            Some(s) if s.is_empty() => return Err(Error::invalid("missing secret_id")),
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
        let now = self.clock.now_ms();
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
    async fn locate(&self, c: &Call<'_>) -> Result<Option<String>> {
        let (req, view, name) = (c.req, c.view, role_name(c)?);
        let by_accessor = req.path.contains("/secret-id-accessor/");
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

    async fn login(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let (req, view) = (c.req, c.view);
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
            if entry.expire_ms.is_some_and(|t| t <= self.clock.now_ms()) {
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
                    entry.last_updated_ms = self.clock.now_ms();
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
    async fn tidy(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let view = c.view;
        let now = self.clock.now_ms();
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

/// The older token field names a role still takes (Vault's approle kept these two).
const ROLE_LEGACY_FIELDS: &[Field] =
    &[token_params::legacy::POLICIES, token_params::legacy::PERIOD];

const ROLE_NAME: Field = Field::new("role_name", Kind::Str, "Name of the role.");
const SECRET_ID: Field = Field::new("secret_id", Kind::Str, "SecretID attached to the role.");
const ACCESSOR: Field = Field::new("secret_id_accessor", Kind::Str, "Accessor of the SecretID");
const ROLE_ID: Field = Field::new("role_id", Kind::Str, "Identifier of the role.");
const SECRET_ID_FIELDS: &[Field] = &[
    Field::new("metadata", Kind::Str, "Metadata to be tied to the SecretID. This should be a JSON formatted string containing metadata in key value pairs."),
    Field::new("cidr_list", Kind::CommaList, "Comma separated string or list of CIDR blocks enforcing secret IDs to be used from specific set of IP addresses. If 'secret_id_bound_cidrs' is set on the role, then the list of CIDR blocks listed here should be a subset of the CIDR blocks listed on the role."),
    Field::new("token_bound_cidrs", Kind::CommaList, "Comma separated string or list of CIDR blocks. If set, specifies the blocks of IP addresses which can use the returned token. Should be a subset of the token CIDR blocks listed on the role, if any."),
    Field::new("num_uses", Kind::Int, "Number of times this SecretID can be used, after which the SecretID expires. Overrides secret_id_num_uses role option when supplied. May not be higher than role's secret_id_num_uses."),
    Field::new("ttl", Kind::Duration, "Duration in seconds after which this SecretID expires. Overrides secret_id_ttl role option when supplied. May not be longer than role's secret_id_ttl."),
];

#[async_trait::async_trait]
impl Paths for AppRole {
    const HELP: &'static str = "Any registered Role can authenticate itself with Tresor. The credentials that must be\nsupplied depend on the constraints set on the role: a role ID always, and a secret ID\nwhen bind_secret_id is set.";

    fn paths() -> Vec<Path<Self>> {
        let role = |pattern| Path::new(pattern).field(ROLE_NAME);
        vec![
            Path::new("login")
                .synopsis("Issue a token based on the credentials supplied")
                .login()
                .field(ROLE_ID)
                .field(SECRET_ID)
                .update(handler!(Self::login)),
            Path::new("role")
                .synopsis("Lists all the roles registered with the backend.")
                .list(handler!(Self::list_roles)),
            role("role/{role_name}")
                .synopsis("Register an role with the backend.")
                .description("A role can represent a service, a machine or anything that can be IDed.\nThe set of policies on the role defines access to the role, meaning, any\nVault token with a policy set that is a superset of the policies on the\nrole registered here will have access to the role. If a SecretID is desired\nto be generated against only this specific role, it can be done via\n'role/<role_name>/secret-id' and 'role/<role_name>/custom-secret-id' endpoints.\nThe properties of the SecretID created against the role and the properties\nof the token issued with the SecretID generated against the role, can be\nconfigured using the fields of this endpoint.")
                .field(Field::new("bind_secret_id", Kind::Bool, "Impose secret_id to be presented when logging in using this role. Defaults to 'true'.").default(DefaultValue::Bool(true)))
                .field(Field::new("secret_id_bound_cidrs", Kind::CommaList, "Comma separated string or list of CIDR blocks. If set, specifies the blocks of IP addresses which can perform the login operation."))
                .field(Field::new("bound_cidr_list", Kind::CommaList, "Use \"secret_id_bound_cidrs\" instead."))
                .field(Field::new("secret_id_num_uses", Kind::Int, "Number of times a SecretID can access the role, after which the SecretID will expire. Defaults to 0 meaning that the the secret_id is of unlimited use."))
                .field(Field::new("secret_id_ttl", Kind::Duration, "Duration in seconds after which the issued SecretID should expire. Defaults to 0, meaning no expiration."))
                .field(Field::new("local_secret_ids", Kind::Bool, "If set, the secret IDs generated using this role will be cluster local. This can only be set during role creation and once set, it can't be reset later."))
                .field(ROLE_ID)
                .fields(token_params::FIELDS)
                .fields(ROLE_LEGACY_FIELDS)
                .exists(handler!(Self::role_exists))
                .read(handler!(Self::read_role))
                .write(handler!(Self::write_role))
                .delete(handler!(Self::delete_role)),
            role("role/{role_name}/role-id")
                .synopsis("Returns the 'role_id' of the role.")
                .field(ROLE_ID)
                .read(handler!(Self::read_role_id))
                .update(handler!(Self::write_role_id)),
            role("role/{role_name}/secret-id")
                .synopsis("Generate a SecretID against this role.")
                .fields(SECRET_ID_FIELDS)
                .update(handler!(Self::new_secret_id))
                .list(handler!(Self::list_secret_ids)),
            role("role/{role_name}/custom-secret-id")
                .synopsis("Assign a SecretID of choice against the role.")
                .field(SECRET_ID)
                .fields(SECRET_ID_FIELDS)
                .update(handler!(Self::new_secret_id)),
            role("role/{role_name}/secret-id/lookup")
                .synopsis("Read the properties of an issued secret_id")
                .field(SECRET_ID)
                .update(handler!(Self::lookup_secret_id)),
            role("role/{role_name}/secret-id-accessor/lookup")
                .synopsis("Read an issued secret_id, using its accessor.")
                .field(ACCESSOR)
                .update(handler!(Self::lookup_secret_id)),
            role("role/{role_name}/secret-id/destroy")
                .synopsis("Invalidate an issued secret_id")
                .field(SECRET_ID)
                .update(handler!(Self::destroy_secret_id))
                .delete(handler!(Self::destroy_secret_id)),
            role("role/{role_name}/secret-id-accessor/destroy")
                .synopsis("Delete an issued secret_id, using its accessor.")
                .field(ACCESSOR)
                .update(handler!(Self::destroy_secret_id))
                .delete(handler!(Self::destroy_secret_id)),
            Path::new("tidy/secret-id")
                .synopsis("Trigger the clean-up of expired SecretID entries.")
                .update(handler!(Self::tidy)),
        ]
    }

    async fn initialize(&self, view: &dyn StorageView) -> Result<()> {
        self.hmac_key(view).await.map(|_| ())
    }
}

/// The role a path names, refused unless it is a valid role name.
fn role_name<'c>(c: &'c Call<'_>) -> Result<&'c str> {
    let name = c.param("role_name");
    valid_name(name)?;
    Ok(name)
}

impl AppRole {
    async fn list_roles(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let keys = c.view.list("role/").await?;
        Ok((!keys.is_empty()).then(|| Response::list(keys)))
    }

    async fn role_exists(&self, c: &Call<'_>) -> Result<bool> {
        Ok(self.role(c.view, role_name(c)?).await?.is_some())
    }

    async fn read_role_id(&self, c: &Call<'_>) -> Result<Option<Response>> {
        Ok(self.role(c.view, role_name(c)?).await?.map(|r| {
            let mut d = Map::new();
            d.insert("role_id".into(), r.role_id.into());
            Response::data(d)
        }))
    }

    async fn write_role_id(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let name = role_name(c)?;
        if self.role(c.view, name).await?.is_none() {
            return Err(Error::invalid(format!("role \"{name}\" does not exist")));
        }
        if c.req.str_field("role_id")?.is_none_or(|r| r.is_empty()) {
            return Err(Error::invalid("missing role_id"));
        }
        self.write_role(c).await
    }

    async fn list_secret_ids(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let (view, name) = (c.view, role_name(c)?);
        let key = self.hmac_key(view).await?;
        if self.role(view, name).await?.is_none() {
            return Err(Error::invalid(format!("role \"{name}\" does not exist")));
        }
        let dir = format!("secret_id/{}/", hmac(key, name));
        let mut keys = Vec::new();
        for h in view.list(&dir).await? {
            if let Some(s) = crate::stored::get_json::<SecretId>(view, &format!("{dir}{h}")).await?
            {
                keys.push(s.accessor);
            }
        }
        keys.sort();
        Ok((!keys.is_empty()).then(|| Response::list(keys)))
    }

    async fn lookup_secret_id(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let Some(k) = self.locate(c).await? else {
            return Ok(None);
        };
        match crate::stored::get_json::<SecretId>(c.view, &k).await? {
            Some(s) if s.expire_ms.is_none_or(|t| t > self.clock.now_ms()) => {
                Ok(Some(Self::describe(&s)))
            }
            _ => Ok(None),
        }
    }

    async fn destroy_secret_id(&self, c: &Call<'_>) -> Result<Option<Response>> {
        if let Some(k) = self.locate(c).await? {
            self.delete_secret(c.view, &k).await?;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_metadata;

    /// The answers OpenBao 2.7 gives to the same metadata strings.
    #[test]
    fn secret_id_metadata_as_vault_reads_it() {
        let ok = |s: &str| parse_metadata(s).unwrap().into_iter().collect::<Vec<_>>();
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(ok("A=B, c = d"), [pair("a", "b"), pair("c", "d")]);
        assert_eq!(ok(r#"{"K":"V"}"#), [pair("K", "V")]);
        assert_eq!(ok("eyJLIjoiViJ9"), [pair("K", "V")], "base64 of the JSON");
        assert_eq!(ok("b=1,a=2,a=3"), [pair("a", "3"), pair("b", "1")]);
        assert!(ok("").is_empty());
        assert_eq!(
            ok("eyJLIjoi\r\nViJ9"),
            [pair("K", "V")],
            "line breaks in base64"
        );
        let err = |s: &str| parse_metadata(s).unwrap_err();
        assert_eq!(
            err("a="),
            r#"failed to parse the input: invalid <key,value> pair: key: "a" value: """#
        );
        assert_eq!(
            err(r#"{"a":1}"#),
            "failed to parse the input: invalid <key,value> format"
        );
        assert_eq!(
            err("a=b=c"),
            "failed to parse the input: invalid <key,value> format"
        );
        assert_eq!(err(r#"{"a":""}"#), r#"invalid value for key "a""#);
    }
}
