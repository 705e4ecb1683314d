//! The token store's HTTP surface, `auth/token/…`, served by the core (tokens are the core's
//! own business: creating one needs the caller's token, its policies and the system's TTLs).

use tresor_sdk::framework::{Call, DefaultValue, Field, Kind, Path, Paths};
use tresor_sdk::ttl::format_human;
use tresor_sdk::{handler, Map, Request, Response};

use super::roles::{glob, TokenRole};
use super::{expiry, parse_cidrs, NewToken, TokenEntry, TokenStore};
use crate::builtin::Builtin;
use crate::core::CoreConfig;
use crate::error::CoreError;

const ROLE_PREFIX: &str = "sys/token/roles/";

/// Who is asking.
pub struct Caller<'a> {
    pub entry: &'a TokenEntry,
    /// Root, or `sudo` on the requested path.
    pub sudo: bool,
}

fn data(m: Map) -> Option<Response> {
    Some(Response::data(m))
}

fn auth_response(
    entry: &TokenEntry,
    token: &str,
    warnings: Vec<String>,
    now_ms: i64,
) -> Option<Response> {
    let mut r = Response {
        auth: Some(entry.auth_block(token, now_ms)),
        ..Response::default()
    };
    r.warnings = warnings;
    Some(r)
}

/// The token store mounted at `auth/token/`, as a path table. Its state is the core's: each
/// request brings it in a [`Builtin`] context (the caller's token, the token store, the
/// system's TTLs).
pub struct TokenBackend;

const TOKEN: Field = Field::new("token", Kind::Str, "Token to act on");
const ACCESSOR: Field = Field::new("accessor", Kind::Str, "Accessor of the token");
const INCREMENT: Field = Field::new(
    "increment",
    Kind::Duration,
    "The desired increment in seconds to the token expiration",
);
const ROLE_NAME: Field = Field::new("role_name", Kind::Str, "Name of the role");
const CREATE_FIELDS: &[Field] = &[
    Field::new("id", Kind::Str, "Value for the token (root may choose it)"),
    Field::new("policies", Kind::CommaList, "List of policies for the token"),
    Field::new("meta", Kind::KvPairs, "Arbitrary key=value metadata to associate with the token"),
    Field::new("no_parent", Kind::Bool, "Create the token with no parent"),
    Field::new("no_default_policy", Kind::Bool, "Do not include default policy for this token"),
    Field::new("renewable", Kind::Bool, "Allow token to be renewed past its initial TTL up to system/mount maximum TTL").default(DefaultValue::Bool(true)),
    Field::new("ttl", Kind::Duration, "Time to live for this token"),
    Field::new("lease", Kind::Duration, "Use 'ttl' instead"),
    Field::new("type", Kind::Str, "Token type"),
    Field::new("explicit_max_ttl", Kind::Duration, "Explicit Max TTL for this token"),
    Field::new("display_name", Kind::Str, "Name to associate with this token"),
    Field::new("num_uses", Kind::Int, "Max number of uses for this token"),
    Field::new("period", Kind::Duration, "Renew period"),
    Field::new("bound_cidrs", Kind::CommaList, "Comma separated string or JSON list of CIDR blocks. If set, specifies the blocks of IP addresses which are allowed to use the generated token."),
    Field::new("entity_alias", Kind::Str, "Name of the entity alias to associate with this token"),
];
const ROLE_FIELDS: &[Field] = &[
    Field::new("allowed_policies", Kind::CommaList, "If set, tokens can be created with any subset of the policies in this list, rather than the normal semantics of tokens being a subset of the calling token's policies. The parameter is a comma-delimited string of policy names."),
    Field::new("disallowed_policies", Kind::CommaList, "If set, successful token creation via this role will require that no policies in the given list are requested. The parameter is a comma-delimited string of policy names."),
    Field::new("allowed_policies_glob", Kind::CommaList, "If set, tokens can be created with any subset of glob matched policies in this list, rather than the normal semantics of tokens being a subset of the calling token's policies. The parameter is a comma-delimited string of policy name globs."),
    Field::new("disallowed_policies_glob", Kind::CommaList, "If set, successful token creation via this role will require that no requested policies glob match any of policies in this list. The parameter is a comma-delimited string of policy name globs."),
    Field::new("orphan", Kind::Bool, "If true, tokens created via this role will be orphan tokens (have no parent)"),
    Field::new("renewable", Kind::Bool, "Tokens created via this role will be renewable or not according to this value. Defaults to \"true\".").default(DefaultValue::Bool(true)),
    Field::new("path_suffix", Kind::Str, "If set, tokens created via this role will contain the given suffix as a part of their path. This can be used to assist use of the 'revoke-prefix' endpoint later on. The given suffix must match the regular expression.\\w[\\w-.]+\\w"),
    Field::new("explicit_max_ttl", Kind::Duration, "Use 'token_explicit_max_ttl' instead."),
    Field::new("period", Kind::Duration, "Use 'token_period' instead."),
    Field::new("bound_cidrs", Kind::CommaList, "Use 'token_bound_cidrs' instead."),
    Field::new("allowed_entity_aliases", Kind::CommaList, "String or JSON list of allowed entity aliases. If set, specifies the entity aliases which are allowed to be used during token generation. This field supports globbing."),
];

impl Paths for TokenBackend {
    const HELP: &'static str = "The token credential backend is always enabled and builtin to Tresor.\nClient tokens are used to identify a client and to allow Tresor to associate\npolicies and ACLs which are enforced on every request. This backend also allows\nfor generating sub-tokens as well as revocation of tokens. The tokens are renewable\nif associated with a lease.";

    fn paths() -> Vec<Path<Self>> {
        vec![
            Path::new("accessors")
                .synopsis("List token accessors, which can then be be used to iterate and discover their properties or revoke them. Because this can be used to cause a denial of service, this endpoint requires 'sudo' capability in addition to 'list'.")
                .sudo()
                .list(handler!(Self::accessors)),
            Path::new("create-orphan")
                .synopsis("The token create path is used to create new orphan tokens.")
                .fields(CREATE_FIELDS)
                .write(handler!(Self::create_orphan)),
            Path::new("create/{role_name}")
                .synopsis("This endpoint allows creating a token for a specific role.")
                .lowercase("role_name")
                .field(ROLE_NAME)
                .fields(CREATE_FIELDS)
                .write(handler!(Self::create_with_role)),
            Path::new("create")
                .synopsis("The token create path is used to create new tokens.")
                .fields(CREATE_FIELDS)
                .write(handler!(Self::create)),
            Path::new("lookup")
                .synopsis("This endpoint will lookup a token and its properties.")
                .field(TOKEN)
                .read(handler!(Self::lookup))
                .write(handler!(Self::lookup)),
            Path::new("lookup-accessor")
                .synopsis("This endpoint will lookup a token associated with the given accessor and its properties. Response will not contain the token ID.")
                .field(ACCESSOR)
                .write(handler!(Self::lookup_accessor)),
            Path::new("lookup-self")
                .synopsis("This endpoint will lookup a token associated with the calling token.")
                .field(TOKEN)
                .read(handler!(Self::lookup_self))
                .write(handler!(Self::lookup_self)),
            Path::new("revoke-accessor")
                .synopsis("This endpoint will delete the token associated with the accessor and all of its child tokens.")
                .field(ACCESSOR)
                .write(handler!(Self::revoke_accessor)),
            Path::new("revoke-self")
                .synopsis("This endpoint will delete the token used to call it and all of its child tokens.")
                .write(handler!(Self::revoke_self)),
            Path::new("revoke")
                .synopsis("This endpoint will delete the given token and all of its child tokens.")
                .field(TOKEN)
                .write(handler!(Self::revoke)),
            Path::new("revoke-orphan")
                .synopsis("This endpoint will delete the token and orphan its child tokens.")
                .sudo()
                .field(TOKEN)
                .write(handler!(Self::revoke_orphan)),
            Path::new("renew-accessor")
                .synopsis("This endpoint will renew a token associated with the given accessor and its properties. Response will not contain the token ID.")
                .fields(&[ACCESSOR, INCREMENT])
                .write(handler!(Self::renew_accessor)),
            Path::new("renew-self")
                .synopsis("This endpoint will renew the token used to call it and prevent expiration.")
                .fields(&[TOKEN, INCREMENT])
                .write(handler!(Self::renew_self)),
            Path::new("renew")
                .synopsis("This endpoint will renew the given token and prevent expiration.")
                .fields(&[TOKEN, INCREMENT])
                .write(handler!(Self::renew)),
            Path::new("roles")
                .synopsis("This endpoint lists configured roles.")
                .list(handler!(Self::list_roles)),
            Path::new("roles/{role_name}")
                .synopsis("This endpoint allows creating, reading, and deleting roles.")
                .lowercase("role_name")
                .field(ROLE_NAME)
                .fields(ROLE_FIELDS)
                .fields(tresor_sdk::token_params::ROLE_FIELDS)
                .exists(handler!(Self::role_exists))
                .read(handler!(Self::read_role))
                .write(handler!(Self::write_role))
                .delete(handler!(Self::delete_role)),
            Path::new("tidy")
                .synopsis("This endpoint performs cleanup tasks that can be run if certain error conditions have occurred.")
                .write(handler!(Self::tidy)),
        ]
    }
}

/// The core's state a token request brings along.
fn builtin<'c>(c: &'c Call<'_>) -> tresor_sdk::Result<&'c Builtin> {
    c.req
        .system
        .as_ref()
        .and_then(|s| s.get::<Builtin>())
        .ok_or_else(|| tresor_sdk::Error::internal("the token store needs the core's context"))
}

impl TokenBackend {
    async fn create_as(
        &self,
        c: &Call<'_>,
        role: Option<&str>,
        orphan: bool,
    ) -> tresor_sdk::Result<Option<Response>> {
        let b = builtin(c)?;
        let caller = b.caller();
        Ok(create(&b.active.tokens, &b.config, c.req, &caller, role, orphan).await?)
    }

    async fn create(&self, c: &Call<'_>) -> tresor_sdk::Result<Option<Response>> {
        self.create_as(c, None, false).await
    }

    async fn create_orphan(&self, c: &Call<'_>) -> tresor_sdk::Result<Option<Response>> {
        self.create_as(c, None, true).await
    }

    async fn create_with_role(&self, c: &Call<'_>) -> tresor_sdk::Result<Option<Response>> {
        self.create_as(c, Some(c.param("role_name")), false).await
    }

    async fn lookup_self(&self, c: &Call<'_>) -> tresor_sdk::Result<Option<Response>> {
        let b = builtin(c)?;
        Ok(data(b.entry.lookup_data(&b.token, b.config.clock.now_ms())))
    }

    async fn lookup(&self, c: &Call<'_>) -> tresor_sdk::Result<Option<Response>> {
        let b = builtin(c)?;
        // Without a token named, the caller's own, as in Vault.
        let token = match c.req.str_field("token")?.filter(|t| !t.is_empty()) {
            Some(t) => t,
            None => b.token.clone(),
        };
        match b.active.tokens.lookup(&token).await? {
            Some(e) => Ok(data(e.lookup_data(&token, b.config.clock.now_ms()))),
            None => Err(CoreError::Forbidden("bad token".into()).into()),
        }
    }

    async fn lookup_accessor(&self, c: &Call<'_>) -> tresor_sdk::Result<Option<Response>> {
        let b = builtin(c)?;
        let e = by_accessor(&b.active.tokens, c.req).await?;
        Ok(data(e.lookup_data("", b.config.clock.now_ms())))
    }

    async fn renew_self(&self, c: &Call<'_>) -> tresor_sdk::Result<Option<Response>> {
        let b = builtin(c)?;
        let (e, w) = renew(&b.active.tokens, &b.config, b.entry.clone(), c.req).await?;
        Ok(auth_response(&e, &b.token, w, b.config.clock.now_ms()))
    }

    async fn renew(&self, c: &Call<'_>) -> tresor_sdk::Result<Option<Response>> {
        let b = builtin(c)?;
        let token = required(c.req, "token", "missing token ID")?;
        let e = b
            .active
            .tokens
            .lookup(&token)
            .await?
            .ok_or_else(|| CoreError::invalid("invalid token"))?;
        let (e, w) = renew(&b.active.tokens, &b.config, e, c.req).await?;
        Ok(auth_response(&e, &token, w, b.config.clock.now_ms()))
    }

    async fn renew_accessor(&self, c: &Call<'_>) -> tresor_sdk::Result<Option<Response>> {
        let b = builtin(c)?;
        let e = by_accessor(&b.active.tokens, c.req).await?;
        let (e, w) = renew(&b.active.tokens, &b.config, e, c.req).await?;
        Ok(auth_response(&e, "", w, b.config.clock.now_ms()))
    }

    async fn revoke_self(&self, c: &Call<'_>) -> tresor_sdk::Result<Option<Response>> {
        let b = builtin(c)?;
        b.active.tokens.revoke_tree(&b.entry.id_hash).await?;
        Ok(None)
    }

    async fn revoke(&self, c: &Call<'_>) -> tresor_sdk::Result<Option<Response>> {
        let b = builtin(c)?;
        let token = required(c.req, "token", "missing token ID")?;
        if let Some(e) = b.active.tokens.lookup(&token).await? {
            b.active.tokens.revoke_tree(&e.id_hash).await?;
        }
        Ok(None)
    }

    async fn revoke_accessor(&self, c: &Call<'_>) -> tresor_sdk::Result<Option<Response>> {
        let b = builtin(c)?;
        let e = by_accessor(&b.active.tokens, c.req).await?;
        b.active.tokens.revoke_tree(&e.id_hash).await?;
        Ok(None)
    }

    async fn revoke_orphan(&self, c: &Call<'_>) -> tresor_sdk::Result<Option<Response>> {
        let b = builtin(c)?;
        let token = required(c.req, "token", "missing token ID")?;
        if let Some(e) = b.active.tokens.lookup(&token).await? {
            b.active.tokens.revoke_orphan(&e.id_hash).await?;
        }
        Ok(None)
    }

    async fn accessors(&self, c: &Call<'_>) -> tresor_sdk::Result<Option<Response>> {
        let keys = builtin(c)?.active.tokens.accessors().await?;
        Ok(Some(Response::list(keys)))
    }

    async fn list_roles(&self, c: &Call<'_>) -> tresor_sdk::Result<Option<Response>> {
        let keys: Vec<String> = builtin(c)?
            .active
            .tokens
            .barrier()
            .list(ROLE_PREFIX)
            .await?
            .into_iter()
            .filter(|k| !k.ends_with('/'))
            .collect();
        Ok((!keys.is_empty()).then(|| Response::list(keys)))
    }

    async fn role_exists(&self, c: &Call<'_>) -> tresor_sdk::Result<bool> {
        let store = &builtin(c)?.active.tokens;
        Ok(load_role(store, c.param("role_name")).await?.is_some())
    }

    async fn read_role(&self, c: &Call<'_>) -> tresor_sdk::Result<Option<Response>> {
        let store = &builtin(c)?.active.tokens;
        Ok(load_role(store, c.param("role_name"))
            .await?
            .map(|r| Response::data(r.to_api())))
    }

    async fn write_role(&self, c: &Call<'_>) -> tresor_sdk::Result<Option<Response>> {
        let store = &builtin(c)?.active.tokens;
        let name = c.param("role_name");
        let mut role = load_role(store, name)
            .await?
            .unwrap_or_else(|| TokenRole::new(name));
        role.update(c.req)?;
        store
            .barrier()
            .put_json(&format!("{ROLE_PREFIX}{name}"), &role)
            .await?;
        Ok(None)
    }

    async fn delete_role(&self, c: &Call<'_>) -> tresor_sdk::Result<Option<Response>> {
        let store = &builtin(c)?.active.tokens;
        let key = format!("{ROLE_PREFIX}{}", c.param("role_name"));
        store.barrier().delete(&key).await?;
        Ok(None)
    }

    async fn tidy(&self, c: &Call<'_>) -> tresor_sdk::Result<Option<Response>> {
        let cleaned = builtin(c)?.active.tokens.tidy().await?;
        tracing::info!(cleaned, "token: tidy finished");
        let mut r = Response::default().with_warning(
            "Tidy operation successfully started. Any information from the operation will be printed to Vault's server logs.",
        );
        r.status = Some(202);
        Ok(Some(r))
    }
}

/// A non-empty string field, or a 400 with `missing` (Vault's words differ by path).
fn required(req: &Request, field: &str, missing: &str) -> Result<String, CoreError> {
    req.str_field(field)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| CoreError::invalid(missing))
}

/// Vault reports a missing accessor through its multi-error type; clients see this text.
const MISSING_ACCESSOR: &str = "1 error occurred:\n\t* missing accessor\n\n";

async fn by_accessor(store: &TokenStore, req: &Request) -> Result<TokenEntry, CoreError> {
    let accessor = required(req, "accessor", MISSING_ACCESSOR)?;
    store
        .lookup_accessor(&accessor)
        .await?
        .ok_or_else(|| CoreError::invalid("invalid accessor"))
}

async fn load_role(store: &TokenStore, name: &str) -> Result<Option<TokenRole>, CoreError> {
    store
        .barrier()
        .get_json(&format!("{ROLE_PREFIX}{}", name.to_lowercase()))
        .await
}

fn display_name(requested: Option<String>) -> String {
    match requested.filter(|s| !s.is_empty()) {
        None => "token".into(),
        Some(n) => {
            let mut out = String::from("token-");
            let mut dash = false;
            for c in n.chars() {
                if c.is_ascii_alphanumeric() || c == '-' {
                    out.push(c);
                    dash = false;
                } else if !dash {
                    out.push('-');
                    dash = true;
                }
            }
            out.trim_end_matches('-').to_owned()
        }
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// Vault's `framework.CalculateTTL` for a token: returns the TTL and any warning.
fn calculate_ttl(
    config: &CoreConfig,
    requested: u64,
    period: u64,
    explicit_max: u64,
    elapsed: u64,
) -> Result<(u64, Option<String>), CoreError> {
    if period > 0 {
        if explicit_max > 0 && period > explicit_max.saturating_sub(elapsed) {
            let capped = explicit_max.saturating_sub(elapsed);
            return Ok((capped, Some(format!(
                "period of \"{}\" exceeded the effective max_ttl of \"{}\"; period value is capped accordingly",
                format_human(period),
                format_human(capped)
            ))));
        }
        return Ok((period, None));
    }
    let ttl = if requested == 0 {
        config.default_lease_ttl
    } else {
        requested
    };
    let mut max = config.max_lease_ttl;
    if explicit_max > 0 && explicit_max < max {
        max = explicit_max;
    }
    if elapsed >= max {
        return Err(CoreError::invalid("past the max TTL, cannot renew"));
    }
    let valid = max - elapsed;
    if ttl > valid {
        return Ok((valid, Some(format!(
            "TTL of \"{}\" exceeded the effective max_ttl of \"{}\"; TTL value is capped accordingly",
            format_human(ttl),
            format_human(valid)
        ))));
    }
    Ok((ttl, None))
}

async fn create(
    store: &TokenStore,
    config: &CoreConfig,
    req: &Request,
    caller: &Caller<'_>,
    role_name: Option<&str>,
    orphan_endpoint: bool,
) -> Result<Option<Response>, CoreError> {
    let parent = caller.entry;
    let parent_is_root = parent.is_root();
    // Vault's CLI always sends `entity_alias`, empty unless asked for.
    let asked = |v: &serde_json::Value| !(v.is_null() || v.as_str() == Some(""));
    if req.data.get("entity_alias").is_some_and(asked) {
        return Err(CoreError::invalid(
            "entity_alias is not supported by Tresor yet",
        ));
    }
    let role = match role_name {
        Some(name) => Some(
            load_role(store, name)
                .await?
                .ok_or_else(|| CoreError::invalid(format!("unknown role {name}")))?,
        ),
        None => None,
    };
    let token_type = req.str_field("type")?.unwrap_or_default();
    match token_type.as_str() {
        "" | "service" => {}
        "batch" => {
            return Err(CoreError::invalid(
                "batch tokens are not supported by Tresor yet",
            ))
        }
        other => {
            return Err(CoreError::invalid(format!(
                "unsupported token type \"{other}\""
            )))
        }
    }
    let id = req.str_field("id")?.filter(|s| !s.is_empty());
    if id.is_some() && !parent_is_root {
        return Err(CoreError::invalid(
            "root or sudo privileges required to specify token id",
        ));
    }
    let no_parent = req.bool_field("no_parent")?.unwrap_or(false);
    if no_parent && !caller.sudo {
        return Err(CoreError::invalid(
            "root or sudo privileges required to create orphan token",
        ));
    }
    let orphan = orphan_endpoint || no_parent || role.as_ref().is_some_and(|r| r.orphan);

    let requested = req.list_field("policies")?.map(|v| {
        v.into_iter()
            .map(|p| p.to_lowercase())
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
    });
    let no_default = req.bool_field("no_default_policy")?.unwrap_or(false)
        || role.as_ref().is_some_and(|r| r.token_no_default_policy);
    let mut policies = match &role {
        Some(r) => role_policies(r, requested, parent)?,
        None => {
            let explicit = requested.clone();
            let policies = explicit.unwrap_or_else(|| parent.policies.clone());
            // Whether the token may be root is the store's decision (`Issuer`).
            let outside = policies
                .iter()
                .any(|p| p != "default" && !parent.policies.contains(p));
            if !parent_is_root && !caller.sudo && outside {
                return Err(CoreError::invalid(
                    "child policies must be subset of parent",
                ));
            }
            policies
        }
    };
    if no_default {
        policies.retain(|p| p != "default");
    } else if !policies.iter().any(|p| p == "root" || p == "default") {
        policies.push("default".into());
    }
    let policies = sorted(policies);
    if policies.is_empty() {
        return Err(CoreError::invalid("token must have at least one policy"));
    }

    let meta: std::collections::BTreeMap<String, String> = req
        .kv_field("meta")?
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let num_uses = match req.int_field("num_uses")? {
        Some(n) if n < 0 => return Err(CoreError::invalid("number of uses cannot be negative")),
        Some(n) => n,
        None => role.as_ref().map(|r| r.token_num_uses).unwrap_or(0),
    };
    let ttl_requested = match req.duration_field("ttl")? {
        Some(t) => t,
        None => req.duration_field("lease")?.unwrap_or(0),
    };
    let mut explicit_max = req.duration_field("explicit_max_ttl")?.unwrap_or(0);
    let mut period = req.duration_field("period")?.unwrap_or(0);
    if period > 0 && !caller.sudo && role.is_none() {
        return Err(CoreError::invalid(
            "root or sudo privileges required to create periodic token",
        ));
    }
    let mut renewable = req.bool_field("renewable")?.unwrap_or(true);
    let mut bound_cidrs = Vec::new();
    if let Some(r) = &role {
        if r.token_explicit_max_ttl > 0
            && (explicit_max == 0 || r.token_explicit_max_ttl < explicit_max)
        {
            explicit_max = r.token_explicit_max_ttl;
        }
        if r.token_period > 0 {
            period = r.token_period;
        }
        renewable &= r.renewable;
        bound_cidrs = r.token_bound_cidrs.clone();
    }
    if let Some(c) = req.list_field("bound_cidrs")? {
        bound_cidrs = parse_cidrs(&c)?;
    }

    let is_root_token = policies.iter().any(|p| p == "root");
    let (ttl, warning) = if period > 0 || ttl_requested > 0 || !is_root_token {
        calculate_ttl(config, ttl_requested, period, explicit_max, 0)?
    } else {
        (0, None)
    };
    if ttl == 0 {
        renewable = false;
    }
    let path = match &role {
        Some(r) if !r.path_suffix.is_empty() => {
            format!("auth/token/create/{}/{}", r.name, r.path_suffix)
        }
        Some(r) => format!("auth/token/create/{}", r.name),
        None if orphan_endpoint => "auth/token/create-orphan".into(),
        None => "auth/token/create".into(),
    };
    let (token, entry) = store
        .create(NewToken {
            id,
            parent: (!orphan).then(|| parent.id_hash.clone()),
            policies,
            meta,
            display_name: display_name(req.str_field("display_name")?),
            path,
            num_uses,
            ttl,
            explicit_max_ttl: explicit_max,
            period,
            renewable,
            token_type: "service".into(),
            bound_cidrs,
            role: role.as_ref().map(|r| r.name.clone()),
            max_ttl: 0,
            issuer: super::Issuer::Token { parent_is_root },
        })
        .await?;
    Ok(auth_response(
        &entry,
        &token,
        warning.into_iter().collect(),
        config.clock.now_ms(),
    ))
}

/// The token of a successful login at `path` (`auth/approle/login`) through the auth method
/// mounted as `mount`: an orphan with the method's policies and TTLs, capped by the role's,
/// the mount's and the system's maximum.
pub async fn login_token(
    store: &TokenStore,
    config: &CoreConfig,
    mount: &crate::mounts::MountEntry,
    path: &str,
    login: tresor_sdk::LoginAuth,
) -> Result<Map, CoreError> {
    let system_max = config.max_lease_ttl;
    let mut max = match mount.config.max_lease_ttl {
        0 => system_max,
        m => m.min(system_max),
    };
    if login.max_ttl > 0 {
        max = max.min(login.max_ttl);
    }
    let default = match mount.config.default_lease_ttl {
        0 => config.default_lease_ttl,
        d => d,
    };
    let mut ttl = if login.period > 0 {
        login.period
    } else if login.ttl > 0 {
        login.ttl
    } else {
        default
    };
    if login.period == 0 {
        ttl = ttl.min(max);
    }
    if login.explicit_max_ttl > 0 {
        ttl = ttl.min(login.explicit_max_ttl);
    }
    let mut policies = login.policies;
    if !login.no_default_policy && !policies.iter().any(|p| p == "default") {
        policies.push("default".into());
    }
    policies.sort();
    policies.dedup();
    let method = mount.path.trim_start_matches("auth/").trim_end_matches('/');
    let display_name = if login.display_name.is_empty() {
        method.to_owned()
    } else {
        format!("{method}-{}", login.display_name)
    };
    let (token, entry) = store
        .create(NewToken {
            id: None,
            parent: None,
            policies,
            meta: login.metadata,
            display_name,
            path: path.to_owned(),
            num_uses: login.num_uses,
            ttl,
            explicit_max_ttl: login.explicit_max_ttl,
            period: login.period,
            renewable: true,
            token_type: "service".into(),
            bound_cidrs: login.bound_cidrs,
            role: None,
            max_ttl: if login.period > 0 { 0 } else { max },
            issuer: super::Issuer::AuthMethod,
        })
        .await?;
    Ok(entry.auth_block(&token, config.clock.now_ms()))
}

/// Policies for `create/:role`, checked against the role rather than the parent.
fn role_policies(
    role: &TokenRole,
    requested: Option<Vec<String>>,
    parent: &TokenEntry,
) -> Result<Vec<String>, CoreError> {
    let allowed_set = !role.allowed_policies.is_empty() || !role.allowed_policies_glob.is_empty();
    let policies = match requested {
        Some(p) => p,
        None if allowed_set => role.allowed_policies.clone(),
        None => parent
            .policies
            .iter()
            .filter(|p| *p != "root")
            .cloned()
            .collect(),
    };
    let disallowed = |p: &String| {
        role.disallowed_policies.contains(p)
            || role.disallowed_policies_glob.iter().any(|g| glob(g, p))
    };
    if let Some(bad) = policies.iter().find(|p| disallowed(p)) {
        return Err(CoreError::invalid(format!(
            "token policies ({bad}) must not be in the role's disallowed policies"
        )));
    }
    if allowed_set {
        let allowed = |p: &String| {
            p == "default"
                || role.allowed_policies.contains(p)
                || role.allowed_policies_glob.iter().any(|g| glob(g, p))
        };
        if let Some(bad) = policies.iter().find(|p| !allowed(p)) {
            return Err(CoreError::invalid(format!(
                "token policies ({bad}) must be subset of the role's allowed policies"
            )));
        }
    } else if !parent.is_root() {
        if let Some(bad) = policies
            .iter()
            .find(|p| *p != "default" && !parent.policies.contains(p))
        {
            return Err(CoreError::invalid(format!(
                "token policies ({bad}) must be subset of the parent token's policies"
            )));
        }
    }
    Ok(policies)
}

async fn renew(
    store: &TokenStore,
    config: &CoreConfig,
    mut entry: TokenEntry,
    req: &Request,
) -> Result<(TokenEntry, Vec<String>), CoreError> {
    if !entry.renewable || entry.expire_at_ms.is_none() {
        return Err(CoreError::invalid("lease is not renewable"));
    }
    let increment = req.duration_field("increment")?.unwrap_or(0);
    let t = config.clock.now_secs();
    let elapsed = (t - entry.creation_time).max(0) as u64;
    let requested = if increment > 0 {
        increment
    } else {
        entry.creation_ttl
    };
    // A login token renews only up to its role's (or its mount's) max TTL.
    let limits = CoreConfig {
        default_lease_ttl: config.default_lease_ttl,
        max_lease_ttl: match entry.max_ttl {
            0 => config.max_lease_ttl,
            m => m.min(config.max_lease_ttl),
        },
        clock: config.clock.clone(),
        ..CoreConfig::default()
    };
    let (ttl, warning) = calculate_ttl(
        &limits,
        requested,
        entry.period,
        entry.explicit_max_ttl,
        elapsed,
    )?;
    let now_ms = config.clock.now_ms();
    entry.expire_at_ms = Some(expiry(now_ms, ttl));
    entry.last_renewal_ms = Some(now_ms);
    store.save_renewed(&entry).await?;
    Ok((entry, warning.into_iter().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_sanitised() {
        assert_eq!(display_name(None), "token");
        assert_eq!(display_name(Some("web app!".into())), "token-web-app");
    }

    #[test]
    fn ttls_follow_vault() {
        let c = CoreConfig {
            default_lease_ttl: 100,
            max_lease_ttl: 1000,
            clock: tresor_sdk::Clock::system(),
            ..CoreConfig::default()
        };
        assert_eq!(calculate_ttl(&c, 0, 0, 0, 0).unwrap().0, 100);
        assert_eq!(calculate_ttl(&c, 50, 0, 0, 0).unwrap().0, 50);
        let (t, w) = calculate_ttl(&c, 5000, 0, 0, 0).unwrap();
        assert_eq!(t, 1000);
        assert!(w.is_some());
        assert_eq!(calculate_ttl(&c, 50, 0, 30, 0).unwrap().0, 30);
        assert_eq!(calculate_ttl(&c, 50, 0, 30, 20).unwrap().0, 10);
        assert!(calculate_ttl(&c, 50, 0, 30, 30).is_err());
        assert_eq!(
            calculate_ttl(&c, 0, 5000, 0, 0).unwrap().0,
            5000,
            "periodic ignores max TTL"
        );
        assert_eq!(calculate_ttl(&c, 0, 60, 100, 90).unwrap().0, 10);
    }
}
