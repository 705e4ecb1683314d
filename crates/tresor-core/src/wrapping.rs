//! Response wrapping: instead of its answer, a request gets a single-use token whose cubbyhole
//! holds the answer (`cubbyhole/response`), so that only whoever unwraps it sees it, once.
//! `sys/wrapping/{wrap,unwrap,lookup,rewrap}` live here too.

use serde_json::{json, Value};
use tresor_sdk::{Map, Request, Response};

use crate::core::{Active, Core};
use crate::error::CoreError;
use crate::policy::RESPONSE_WRAPPING;
use crate::tokens::{self, NewToken, TokenEntry, CUBBYHOLE_PREFIX};

fn invalid_token() -> CoreError {
    CoreError::invalid("wrapping token is not valid or does not exist")
}

fn response_key(id_hash: &str) -> String {
    format!("{CUBBYHOLE_PREFIX}{id_hash}/response")
}

/// The answer as it will be handed back by `unwrap`.
fn stored_form(resp: &Response) -> Value {
    json!({
        "data": resp.data,
        "auth": resp.auth,
        "warnings": if resp.warnings.is_empty() { Value::Null } else { json!(resp.warnings) },
    })
}

/// Replaces `resp` by a wrapping token that holds it for `ttl` seconds.
pub async fn wrap(
    core: &Core,
    active: &Active,
    resp: &Response,
    ttl: u64,
    creation_path: &str,
) -> Result<Response, CoreError> {
    if ttl == 0 {
        return Err(CoreError::invalid("wrapping TTL must be greater than zero"));
    }
    // No wrapping token outlives the system's max TTL, whatever `X-Vault-Wrap-TTL` asked.
    let ttl = ttl.min(core.config().max_lease_ttl);
    let (token, entry) = active
        .tokens
        .create(NewToken {
            id: None,
            parent: None,
            policies: vec![RESPONSE_WRAPPING.into()],
            meta: Default::default(),
            display_name: String::new(),
            path: creation_path.to_owned(),
            num_uses: 1,
            ttl,
            explicit_max_ttl: 0,
            period: 0,
            renewable: false,
            token_type: "service".into(),
            bound_cidrs: Vec::new(),
            role: None,
            max_ttl: 0,
            issuer: tokens::Issuer::Core,
        })
        .await?;
    let stored = json!({ "response": stored_form(resp).to_string() });
    core.barrier()
        .put(&response_key(&entry.id_hash), stored.to_string().as_bytes())
        .await?;
    let mut info = Map::new();
    info.insert("token".into(), token.as_str().into());
    info.insert("accessor".into(), entry.accessor.clone().into());
    info.insert("ttl".into(), ttl.into());
    info.insert(
        "creation_time".into(),
        tokens::rfc3339_ms(core.config().clock.now_ms())
            .unwrap_or_default()
            .into(),
    );
    info.insert("creation_path".into(), creation_path.into());
    if let Some(acc) = resp
        .auth
        .as_ref()
        .and_then(|a| a.get("accessor"))
        .and_then(Value::as_str)
    {
        info.insert("wrapped_accessor".into(), acc.into());
    }
    Ok(Response {
        wrap_info: Some(info),
        ..Response::default()
    })
}

/// The live wrapping token `token`, or Vault's refusal. The caller's own token has already
/// been looked up (and its single use spent), so its entry is taken as is.
async fn wrapping_entry(
    active: &Active,
    token: &str,
    caller: &crate::sys::Caller<'_>,
) -> Result<TokenEntry, CoreError> {
    let found = if token == caller.token {
        Some(caller.entry.clone())
    } else {
        active.tokens.lookup(token).await?
    };
    wrapping_only(found)
}

/// Spends the single use of a wrapping token: of any number of concurrent requests, exactly
/// one gets it. The caller's own token has had its use spent by the core already (its entry
/// says so with `num_uses == -1`); one named in the body is spent here.
async fn claim(
    active: &Active,
    entry: TokenEntry,
    caller: &crate::sys::Caller<'_>,
) -> Result<TokenEntry, CoreError> {
    let spent = if entry.id_hash == caller.entry.id_hash {
        Some(entry)
    } else {
        active.tokens.use_token(entry).await?
    };
    match spent {
        Some(e) if e.num_uses == -1 => Ok(e),
        _ => Err(invalid_token()),
    }
}

/// Takes the wrapped answer out and destroys the token: a second unwrap finds nothing. The
/// token's use must have been claimed first.
async fn take(core: &Core, active: &Active, entry: &TokenEntry) -> Result<Value, CoreError> {
    let raw = core
        .barrier()
        .get(&response_key(&entry.id_hash))
        .await?
        .ok_or_else(invalid_token)?;
    active.tokens.revoke_tree(&entry.id_hash).await?;
    let outer: Value = serde_json::from_slice(&raw).map_err(CoreError::internal)?;
    let inner = outer
        .get("response")
        .and_then(Value::as_str)
        .ok_or_else(|| CoreError::internal("wrapped response is corrupt"))?;
    serde_json::from_str(inner).map_err(CoreError::internal)
}

fn as_response(v: &Value) -> Response {
    Response {
        data: v.get("data").and_then(Value::as_object).cloned(),
        auth: v.get("auth").and_then(Value::as_object).cloned(),
        warnings: v
            .get("warnings")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|w| w.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        ..Response::default()
    }
}

/// The token a `sys/wrapping/*` call is about: the `token` field, else the client token, with
/// Vault's refusals of a field that names none.
fn named_token<'a>(data: &'a Map, client_token: &'a str) -> Result<&'a str, CoreError> {
    let refuse = |why: &str| {
        Err(CoreError::Forbidden(format!(
            "error validating wrapping token: {why}"
        )))
    };
    let token = match data.get("token") {
        None | Some(Value::Null) => client_token,
        Some(Value::String(t)) if !t.is_empty() => t.as_str(),
        Some(Value::String(_)) => return refuse("empty token in request body"),
        Some(_) => return refuse("could not decode token in request body"),
    };
    if token.is_empty() {
        return refuse("token is empty");
    }
    Ok(token)
}

/// `found` if it is a wrapping token, else Vault's refusal.
fn wrapping_only(found: Option<TokenEntry>) -> Result<TokenEntry, CoreError> {
    match found {
        Some(e) if e.policies == [RESPONSE_WRAPPING] => Ok(e),
        _ => Err(invalid_token()),
    }
}

/// Vault's check on the paths that take a wrapping token (see `Flags::wrapping_token`), made
/// before the client token is looked up or the ACL asked: the token named in the body, else the
/// client token, must be a live wrapping token. A spent, expired or unknown one is a 400 that
/// clients test for, not the 403 of a bad client token.
pub(crate) async fn check_named(
    active: &Active,
    data: &Map,
    client_token: &str,
) -> Result<(), CoreError> {
    let token = named_token(data, client_token)?;
    wrapping_only(active.tokens.lookup(token).await?).map(|_| ())
}

/// `sys/wrapping/wrap`: the body itself, which the core then wraps. An empty body wraps an
/// empty answer, as in Vault.
pub(crate) fn wrap_body(req: &Request) -> Result<Option<Response>, CoreError> {
    Ok(Some(Response::data(req.data.clone())))
}

/// `sys/wrapping/unwrap`: the wrapped answer, once.
pub(crate) async fn unwrap(
    core: &Core,
    active: &Active,
    req: &Request,
    caller: &crate::sys::Caller<'_>,
) -> Result<Option<Response>, CoreError> {
    let (_, inner) = spend(core, active, req, caller).await?;
    Ok(Some(as_response(&inner)))
}

/// The wrapping token a request names, its single use spent and its answer taken out.
async fn spend(
    core: &Core,
    active: &Active,
    req: &Request,
    caller: &crate::sys::Caller<'_>,
) -> Result<(TokenEntry, Value), CoreError> {
    let entry = wrapping_entry(active, named_token(&req.data, caller.token)?, caller).await?;
    let entry = claim(active, entry, caller).await?;
    let inner = take(core, active, &entry).await?;
    Ok((entry, inner))
}

/// `sys/wrapping/lookup`: where and when a wrapping token was made.
pub(crate) async fn lookup(
    active: &Active,
    req: &Request,
    caller: &crate::sys::Caller<'_>,
) -> Result<Option<Response>, CoreError> {
    let entry = wrapping_entry(active, named_token(&req.data, caller.token)?, caller).await?;
    let mut d = Map::new();
    d.insert("creation_path".into(), entry.path.clone().into());
    d.insert(
        "creation_time".into(),
        tokens::rfc3339_ms(entry.creation_time.saturating_mul(1000))
            .unwrap_or_default()
            .into(),
    );
    d.insert("creation_ttl".into(), entry.creation_ttl.into());
    Ok(Some(Response::data(d)))
}

/// `sys/wrapping/rewrap`: the same answer under a new wrapping token; the old one is spent.
pub(crate) async fn rewrap(
    core: &Core,
    active: &Active,
    req: &Request,
    caller: &crate::sys::Caller<'_>,
) -> Result<Option<Response>, CoreError> {
    let (entry, inner) = spend(core, active, req, caller).await?;
    wrap(
        core,
        active,
        &as_response(&inner),
        entry.creation_ttl,
        &entry.path,
    )
    .await
    .map(Some)
}
