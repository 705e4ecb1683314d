//! `sys/leases/*` (and the old `sys/renew`, `sys/revoke`, `sys/revoke-prefix`,
//! `sys/revoke-force` spellings): look up, renew and revoke leases, and the registration of the
//! leases backends ask for.

use serde_json::Value;
use tresor_sdk::{LeaseInfo, Map, Operation, Request, Response, SecretLease};

use crate::core::{Active, CoreConfig};
use crate::error::CoreError;
use crate::expiration::{new_lease_id, LeaseEntry, LeaseKind};
use crate::tokens::{self, TokenEntry};

fn invalid_lease() -> CoreError {
    CoreError::invalid("invalid lease")
}

/// Registers the lease a backend asked for on a secret it returned at `path`; the TTL is
/// clamped by the mount's and the system's maximum.
pub async fn register_secret(
    active: &Active,
    config: &CoreConfig,
    path: &str,
    owner: &TokenEntry,
    secret: SecretLease,
) -> Result<LeaseInfo, CoreError> {
    let (mount, _) = active
        .router
        .route(path)
        .ok_or_else(|| CoreError::NoRoute(path.to_owned()))?;
    let limits = config.lease_limits(&mount.entry.config);
    let mount = mount.entry.path.clone();
    // The same rule a backend uses to foresee the lease (`LeaseLimits::grant`).
    let max_ttl = limits.cap(secret.max_ttl);
    let ttl = limits.grant(secret.ttl, secret.max_ttl);
    let now = active.expiration.clock().now_ms();
    let lease = LeaseEntry {
        lease_id: new_lease_id(path)?,
        path: path.to_owned(),
        owner: Some(owner.id_hash.clone()),
        kind: LeaseKind::Secret {
            mount,
            internal: secret.internal,
            max_ttl,
            ttl,
        },
        issue_ms: now,
        expire_ms: tokens::expiry(now, ttl),
        last_renewal_ms: None,
        renewable: secret.renewable,
        revoke_attempts: 0,
    };
    active.expiration.register(&lease).await?;
    Ok(LeaseInfo {
        id: lease.lease_id,
        duration: ttl,
        renewable: secret.renewable,
    })
}

fn field<'a>(req: &'a Request, url_part: &'a str) -> Result<&'a str, CoreError> {
    let from_body = match req.data.get("lease_id") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.as_str()),
        None | Some(Value::Null) | Some(Value::String(_)) => None,
        Some(_) => return Err(CoreError::invalid("lease_id must be a string")),
    };
    from_body
        .or(Some(url_part).filter(|p| !p.is_empty()))
        .ok_or_else(|| CoreError::invalid("lease_id must be specified"))
}

fn rfc3339(ms: i64) -> Value {
    tokens::rfc3339_ms(ms)
        .map(Value::String)
        .unwrap_or(Value::Null)
}

/// `sys/leases/lookup/<prefix>` (LIST): the lease ids and folders under a prefix.
pub(crate) async fn list(active: &Active, prefix: &str) -> Result<Option<Response>, CoreError> {
    let keys = active.expiration.children(prefix).await?;
    Ok((!keys.is_empty()).then(|| Response::list(keys)))
}

/// `sys/leases/lookup`: one lease, named in the body (or the URL).
pub(crate) async fn lookup(
    active: &Active,
    req: &Request,
    url_id: &str,
) -> Result<Option<Response>, CoreError> {
    let id = field(req, url_id)?;
    let lease = active.expiration.get(id).await?.ok_or_else(invalid_lease)?;
    let mut d = Map::new();
    d.insert("id".into(), lease.lease_id.clone().into());
    d.insert("issue_time".into(), rfc3339(lease.issue_ms));
    d.insert("expire_time".into(), rfc3339(lease.expire_ms));
    d.insert(
        "last_renewal".into(),
        lease.last_renewal_ms.map(rfc3339).unwrap_or(Value::Null),
    );
    d.insert("renewable".into(), lease.renewable.into());
    d.insert(
        "ttl".into(),
        lease.ttl_left(active.expiration.clock().now_ms()).into(),
    );
    Ok(Some(Response::data(d)))
}

/// `sys/leases/renew` (and the old `sys/renew`).
pub(crate) async fn renew_lease(
    active: &Active,
    config: &CoreConfig,
    req: &Request,
    url_id: &str,
) -> Result<Option<Response>, CoreError> {
    let id = field(req, url_id)?;
    let increment = req.duration_field("increment")?.unwrap_or(0);
    Ok(Some(renew(active, config, id, increment).await?))
}

/// `sys/leases/revoke` (and the old `sys/revoke`).
pub(crate) async fn revoke(
    active: &Active,
    req: &Request,
    url_id: &str,
) -> Result<Option<Response>, CoreError> {
    let id = field(req, url_id)?;
    if let Some(lease) = active.expiration.get(id).await? {
        active.expiration.revoke(lease, active, false).await?;
    }
    Ok(None)
}

/// `sys/leases/revoke-prefix/<prefix>` and `revoke-force/<prefix>` (which forgets leases
/// whose backend cannot revoke them).
pub(crate) async fn revoke_prefix(
    active: &Active,
    prefix: &str,
    force: bool,
) -> Result<Option<Response>, CoreError> {
    if prefix.is_empty() {
        return Err(CoreError::invalid("prefix is required"));
    }
    for id in active.expiration.ids_with_prefix(prefix).await? {
        if let Some(lease) = active.expiration.get(&id).await? {
            active.expiration.revoke(lease, active, force).await?;
        }
    }
    Ok(None)
}

/// `sys/leases/tidy`.
pub(crate) async fn tidy_leases(active: &Active) -> Result<Option<Response>, CoreError> {
    let cleaned = tidy(active).await?;
    tracing::info!(cleaned, "expiration: tidy done");
    Ok(Some(Response {
        status: Some(202),
        ..Response::default()
    }
    .with_warning("Tidy operation successfully started. Any information from the operation will be printed to Vault's server logs.")))
}

async fn renew(
    active: &Active,
    config: &CoreConfig,
    id: &str,
    increment: u64,
) -> Result<Response, CoreError> {
    // Vault's words: a lookup of an unknown lease is "invalid lease", a renewal "lease not found".
    let mut lease = active
        .expiration
        .get(id)
        .await?
        .ok_or_else(|| CoreError::invalid("lease not found"))?;
    let LeaseKind::Secret {
        mount,
        internal,
        max_ttl,
        ttl,
    } = &lease.kind
    else {
        return Err(CoreError::invalid(
            "tokens cannot be renewed through this endpoint",
        ));
    };
    if !lease.renewable {
        return Err(CoreError::invalid("lease is not renewable"));
    }
    let m = active
        .router
        .get(mount)
        .ok_or_else(|| CoreError::invalid("no secret engine mount for this lease"))?;
    let max_ttl = config.lease_limits(&m.entry.config).cap(*max_ttl);
    let wanted = if increment > 0 { increment } else { *ttl };
    let now = active.expiration.clock().now_ms();
    let hard_end = tokens::expiry(lease.issue_ms, max_ttl);
    let expire = tokens::expiry(now, wanted).min(hard_end);
    let mut data = internal.clone();
    data.insert("increment".into(), ((expire - now).max(0) / 1000).into());
    let req = Request {
        id: crate::crypto::uuid_v4(),
        operation: Operation::Update,
        path: lease
            .path
            .strip_prefix(mount.as_str())
            .unwrap_or(&lease.path)
            .to_owned(),
        data,
        client_addr: None,
        mount_point: mount.clone(),
        display_name: String::new(),
        lease_limits: config.lease_limits(&m.entry.config),
        system: None,
    };
    m.backend.renew(&req, &m.view).await?;
    lease.expire_ms = expire;
    lease.last_renewal_ms = Some(now);
    active.expiration.save(&lease).await?;
    let duration = lease.ttl_left(now);
    let mut resp = Response {
        lease: Some(LeaseInfo {
            id: lease.lease_id.clone(),
            duration,
            renewable: true,
        }),
        ..Response::default()
    };
    if expire == hard_end && duration < wanted {
        resp = resp.with_warning(format!(
            "TTL of \"{}\" exceeded the effective max_ttl of \"{}\"; TTL value is capped accordingly",
            tresor_sdk::ttl::format_human(wanted),
            tresor_sdk::ttl::format_human(duration)
        ));
    }
    Ok(resp)
}

/// Drops leases whose owning token is gone (the token was deleted without its leases, e.g. by
/// an older version): they are made due, so the expiry task revokes them.
async fn tidy(active: &Active) -> Result<usize, CoreError> {
    let mut cleaned = 0;
    for id in active.expiration.ids_with_prefix("").await? {
        let Some(mut lease) = active.expiration.get(&id).await? else {
            continue;
        };
        let owner_gone = match &lease.owner {
            Some(owner) => active.tokens.entry_by_hash(owner).await?.is_none(),
            None => false,
        };
        if owner_gone {
            lease.expire_ms = lease.expire_ms.min(active.expiration.clock().now_ms());
            active.expiration.save(&lease).await?;
            cleaned += 1;
        }
    }
    Ok(cleaned)
}

#[cfg(test)]
mod tests {
    //! Secret leases end to end through the core, with a backend that leases what it returns
    //! and records what it is asked to revoke and renew.

    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use crate::core::CoreRequest;
    use serde_json::json;
    use tresor_sdk::{Backend, StorageView};
    use tresor_storage::InmemStorage;

    use super::*;
    use crate::core::Core;
    use crate::mounts::{Mount, MountConfig, MountEntry, MountView};

    #[derive(Default)]
    struct Leaser {
        revoked: Mutex<Vec<String>>,
        renewed: Mutex<Vec<u64>>,
        fail_revoke: AtomicBool,
    }

    #[async_trait::async_trait]
    impl Backend for Leaser {
        async fn handle(
            &self,
            req: &Request,
            _view: &dyn StorageView,
        ) -> tresor_sdk::Result<Option<Response>> {
            let mut internal = Map::new();
            internal.insert("username".into(), format!("user-{}", req.id).into());
            let mut data = Map::new();
            data.insert("username".into(), internal["username"].clone());
            Ok(Some(Response {
                data: Some(data),
                secret: Some(SecretLease {
                    ttl: 120,
                    max_ttl: 0,
                    renewable: true,
                    internal,
                }),
                ..Response::default()
            }))
        }

        async fn revoke(&self, req: &Request, _view: &dyn StorageView) -> tresor_sdk::Result<()> {
            if self.fail_revoke.load(Ordering::SeqCst) {
                return Err(tresor_sdk::Error::invalid("database is down"));
            }
            let user = req.data["username"].as_str().unwrap_or_default().to_owned();
            self.revoked.lock().unwrap().push(user);
            Ok(())
        }

        async fn renew(&self, req: &Request, _view: &dyn StorageView) -> tresor_sdk::Result<()> {
            self.renewed
                .lock()
                .unwrap()
                .push(req.data["increment"].as_u64().unwrap_or(0));
            Ok(())
        }
    }

    fn request(op: Operation, path: &str, token: &str, data: serde_json::Value) -> CoreRequest {
        CoreRequest {
            id: crate::crypto::uuid_v4(),
            operation: op,
            path: path.into(),
            data: data.as_object().cloned().unwrap_or_default(),
            token: Some(token.into()),
            client_addr: None,
            wrap_ttl: None,
        }
    }

    #[tokio::test]
    async fn secret_leases_are_clamped_renewed_and_revoked_through_their_backend() {
        // The dev server mounts a KV store at `secret/`; any backend serves for that here.
        let registry = tresor_sdk::Registry::new().with("kv", tresor_sdk::Class::Secrets, |_| {
            Arc::new(Leaser::default())
        });
        let core = Core::new(
            Arc::new(InmemStorage::new()),
            CoreConfig {
                default_lease_ttl: 3600,
                max_lease_ttl: 7200,
                clock: tresor_sdk::Clock::system(),
                ..CoreConfig::default()
            },
            registry,
        );
        let creds = core.setup_dev(Some("root".into())).await.unwrap();
        let root = creds.root_token.to_string();
        let active = core.active().unwrap();
        let leaser = Arc::new(Leaser::default());
        let entry = MountEntry {
            path: "db/".into(),
            kind: "leaser".into(),
            description: String::new(),
            accessor: "leaser_1".into(),
            uuid: "u-1".into(),
            options: BTreeMap::new(),
            config: MountConfig {
                default_lease_ttl: 0,
                max_lease_ttl: 60,
            },
            local: false,
            seal_wrap: false,
        };
        let view = MountView::new(Arc::clone(core.barrier()), entry.storage_prefix());
        active.router.insert(Mount::new(
            entry,
            Arc::clone(&leaser) as Arc<dyn Backend>,
            view,
        ));

        // The backend asks for 120s; the mount allows 60.
        let resp = core
            .handle(request(Operation::Read, "db/creds/app", &root, json!({})))
            .await
            .unwrap()
            .unwrap();
        let lease = resp.lease.expect("a lease");
        assert_eq!(lease.duration, 60);
        assert!(lease.id.starts_with("db/creds/app/"));
        let user = resp.data.unwrap()["username"].as_str().unwrap().to_owned();

        // Renewal asks the backend, and stays within the max TTL from issue.
        let renewed = core
            .handle(request(
                Operation::Update,
                "sys/leases/renew",
                &root,
                json!({"lease_id": lease.id, "increment": 30}),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(renewed.lease.as_ref().unwrap().duration, 30);
        let capped = core
            .handle(request(
                Operation::Update,
                "sys/leases/renew",
                &root,
                json!({"lease_id": lease.id, "increment": "1h"}),
            ))
            .await
            .unwrap()
            .unwrap();
        assert!(capped.lease.as_ref().unwrap().duration <= 60);
        assert_eq!(capped.warnings.len(), 1, "capping is reported");
        assert_eq!(leaser.renewed.lock().unwrap().len(), 2);

        // Revocation goes through the backend, with the lease's internal data.
        core.handle(request(
            Operation::Update,
            "sys/leases/revoke",
            &root,
            json!({ "lease_id": lease.id }),
        ))
        .await
        .unwrap();
        assert_eq!(*leaser.revoked.lock().unwrap(), [user]);
        assert!(active.expiration.get(&lease.id).await.unwrap().is_none());

        // A lease owned by a token is revoked when the token is; a failing backend is retried.
        let child = core
            .handle(request(
                Operation::Update,
                "auth/token/create",
                &root,
                json!({"policies": ["root"]}),
            ))
            .await
            .unwrap()
            .unwrap();
        let child = child.auth.unwrap()["client_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let owned = core
            .handle(request(Operation::Read, "db/creds/app", &child, json!({})))
            .await
            .unwrap()
            .unwrap()
            .lease
            .unwrap();
        leaser.fail_revoke.store(true, Ordering::SeqCst);
        core.handle(request(
            Operation::Update,
            "auth/token/revoke-self",
            &child,
            json!({}),
        ))
        .await
        .unwrap();
        for _ in 0..50 {
            let l = active.expiration.get(&owned.id).await.unwrap().unwrap();
            if l.revoke_attempts > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let failed = active.expiration.get(&owned.id).await.unwrap().unwrap();
        assert!(
            failed.revoke_attempts >= 1,
            "the expiry task tried and failed"
        );
        leaser.fail_revoke.store(false, Ordering::SeqCst);
        core.handle(request(
            Operation::Update,
            "sys/leases/revoke-force/db/creds",
            &root,
            json!({}),
        ))
        .await
        .unwrap();
        assert!(active.expiration.get(&owned.id).await.unwrap().is_none());
        assert_eq!(leaser.revoked.lock().unwrap().len(), 2);
    }
}
