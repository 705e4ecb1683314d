use std::sync::{Arc, RwLock};

use base64::Engine;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tresor_sdk::{Operation, Request, Response};
use tresor_storage::{BatchOp, Storage};
use zeroize::Zeroizing;

use crate::audit::ResponseView;
use crate::barrier::{Barrier, Keyring, KEYRING_PATH};
use crate::crypto;
use crate::error::CoreError;
use crate::expiration::{ExpirationManager, LeaseEntry, LeaseKind, Revoker};
use crate::mounts::{Mount, MountEntry, MountView, Router, AUTH_TABLE_PATH, MOUNT_TABLE_PATH};
use crate::policy::PolicyStore;
use crate::seal::{self, SealConfig, ROOT_KEY_PATH, SEAL_CONFIG_PATH};
use crate::tokens::{self, TokenEntry, TokenStore};

const CLUSTER_PATH: &str = "core/cluster";

/// Server-wide settings the core needs from the configuration file.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Seconds; Vault's default is 32 days.
    pub default_lease_ttl: u64,
    pub max_lease_ttl: u64,
    /// The time of the core and of every backend it mounts.
    pub clock: tresor_sdk::Clock,
    /// This server's advertised addresses (`api_addr`, `cluster_addr`), for `sys/ha-status`.
    pub api_addr: String,
    pub cluster_addr: String,
}

impl CoreConfig {
    /// A mount's effective lease TTLs: its own where set, capped by the system's.
    pub fn lease_limits(&self, mount: &crate::mounts::MountConfig) -> tresor_sdk::LeaseLimits {
        // A mount's own max replaces the system's, larger or not, as in Vault.
        let max = match mount.max_lease_ttl {
            0 => self.max_lease_ttl,
            m => m,
        };
        let default = match mount.default_lease_ttl {
            0 => self.default_lease_ttl,
            d => d,
        };
        tresor_sdk::LeaseLimits {
            default_ttl: default.min(max),
            max_ttl: max,
        }
    }
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            default_lease_ttl: 32 * 24 * 3600,
            max_lease_ttl: 32 * 24 * 3600,
            clock: tresor_sdk::Clock::system(),
            api_addr: String::new(),
            cluster_addr: String::new(),
        }
    }
}

/// A request as the server hands it to the core: HTTP is gone, the token is still raw.
#[derive(Debug, Clone)]
pub struct CoreRequest {
    pub id: String,
    pub operation: Operation,
    pub path: String,
    pub data: tresor_sdk::Map,
    pub token: Option<String>,
    pub client_addr: Option<std::net::IpAddr>,
    /// `X-Vault-Wrap-TTL`: answer with a wrapping token of this TTL instead of the data.
    pub wrap_ttl: Option<u64>,
}

impl CoreRequest {
    /// This request as an audit device records it.
    fn audit_record<'a>(
        &'a self,
        stage: crate::audit::Stage,
        token: &'a str,
        auth: Option<&'a TokenEntry>,
        mount: Option<&'a crate::audit::MountInfo>,
        response: Option<crate::audit::ResponseView<'a>>,
        error: Option<&'a str>,
    ) -> crate::audit::Record<'a> {
        crate::audit::Record {
            stage,
            request_id: &self.id,
            operation: self.operation,
            path: &self.path,
            data: &self.data,
            remote_addr: self.client_addr,
            token,
            auth,
            mount,
            response,
            error,
        }
    }
}

pub struct InitResult {
    pub keys: Vec<Zeroizing<Vec<u8>>>,
    pub root_token: Zeroizing<String>,
}

pub struct DevCredentials {
    pub unseal_key_base64: Zeroizing<String>,
    pub root_token: Zeroizing<String>,
}

/// What `sys/seal-status` and `sys/unseal` answer.
#[derive(Debug, Clone, Serialize)]
pub struct SealStatus {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub initialized: bool,
    pub sealed: bool,
    pub t: u32,
    pub n: u32,
    pub progress: u32,
    pub nonce: String,
    pub version: &'static str,
    pub build_date: &'static str,
    pub migration: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    pub recovery_seal: bool,
    pub storage_type: &'static str,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ClusterInfo {
    pub name: String,
    pub id: String,
}

/// Everything that exists only while unsealed.
pub(crate) struct Active {
    pub router: Router,
    pub expiration: Arc<ExpirationManager>,
    pub audit: crate::audit::AuditBroker,
    pub tokens: TokenStore,
    pub policies: PolicyStore,
    pub cluster: ClusterInfo,
    /// Serialises changes to the mount table so that concurrent mounts cannot lose each other.
    pub mount_lock: Mutex<()>,
    /// Finished `sys/remount` moves by migration id, for `sys/remount/status/:id`. Moves are
    /// immediate (data is keyed by the mount's uuid), so every entry is a success.
    pub migrations: std::sync::Mutex<std::collections::HashMap<String, (String, String)>>,
    /// `sys/rotate/config`, read by the barrier's upkeep; held while an update is stored, so
    /// that two updates cannot lose each other's fields.
    pub rotation: Mutex<crate::rotation::RotationConfig>,
    /// Built by a node that could write (a single server, or a cluster's leader): with its
    /// storage upgrades done, ready for the duties without being rebuilt.
    pub writable: bool,
}

#[derive(Default)]
struct UnsealProgress {
    shares: Vec<Zeroizing<Vec<u8>>>,
    nonce: String,
}

pub struct Core {
    /// Itself, which the system backend's requests carry (see `builtin`).
    me: std::sync::Weak<Core>,
    barrier: Arc<Barrier>,
    config: CoreConfig,
    /// The backends this server has, by mount type (handed in by the server).
    registry: tresor_sdk::Registry,
    /// The core's own mounts (`auth/token/`, `cubbyhole/`).
    builtins: Vec<crate::builtin::BuiltinMount>,
    active: RwLock<Option<Arc<Active>>>,
    /// Also serialises init, unseal and seal against each other.
    unseal: Mutex<UnsealProgress>,
    /// Cluster membership and roles (see `ha`); idle without replicated storage.
    pub(crate) ha: crate::ha::HaState,
}

impl Core {
    /// A core over `storage` whose mounts are built from `registry`.
    pub fn new(
        storage: Arc<dyn Storage>,
        config: CoreConfig,
        registry: tresor_sdk::Registry,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Core {
            me: me.clone(),
            barrier: Arc::new(Barrier::new(storage, config.clock.clone())),
            builtins: crate::builtin::mounts(&registry, &config.clock),
            config,
            registry,
            active: RwLock::new(None),
            unseal: Mutex::new(UnsealProgress::default()),
            ha: crate::ha::HaState::default(),
        })
    }

    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    pub(crate) fn me(&self) -> std::sync::Weak<Core> {
        self.me.clone()
    }

    pub(crate) fn registry(&self) -> &tresor_sdk::Registry {
        &self.registry
    }

    pub(crate) fn builtins(&self) -> &[crate::builtin::BuiltinMount] {
        &self.builtins
    }

    pub(crate) fn barrier(&self) -> &Arc<Barrier> {
        &self.barrier
    }

    pub fn storage_type(&self) -> &'static str {
        self.barrier.storage().kind()
    }

    pub(crate) fn active(&self) -> Result<Arc<Active>, CoreError> {
        self.active
            .read()
            .ok()
            .and_then(|a| a.clone())
            .ok_or(CoreError::Sealed)
    }

    pub fn is_sealed(&self) -> bool {
        self.active.read().map(|a| a.is_none()).unwrap_or(true)
    }

    /// The seal configuration in storage (absent until initialised).
    pub(crate) async fn stored_seal_config(&self) -> Result<Option<SealConfig>, CoreError> {
        match self.barrier.storage().get(SEAL_CONFIG_PATH).await? {
            None => Ok(None),
            Some(b) => Ok(Some(
                serde_json::from_slice(&b).map_err(CoreError::internal)?,
            )),
        }
    }

    /// Initialised, or joining a cluster that is (Vault counts a joined node as initialised).
    pub async fn is_initialized(&self) -> Result<bool, CoreError> {
        Ok(self.seal_config().await?.is_some())
    }

    async fn seal_config(&self) -> Result<Option<SealConfig>, CoreError> {
        Ok(match self.stored_seal_config().await? {
            Some(c) => Some(c),
            None => self.join_seal_config(),
        })
    }

    /// `sys/init`: creates the keys and the root token, and leaves the server sealed.
    pub async fn initialize(
        &self,
        config: SealConfig,
        root_token_id: Option<String>,
    ) -> Result<InitResult, CoreError> {
        config.validate()?;
        let _guard = self.unseal.lock().await;
        if self.is_initialized().await? {
            return Err(CoreError::AlreadyInitialized);
        }
        // A cluster node makes a cluster of itself first: every write below goes through it.
        let cluster_tls = match self.ha() {
            Some(c) => Some(c.bootstrap().await?),
            None => None,
        };
        let unseal_key = crypto::random_key()?;
        let root_key = crypto::random_key()?;
        let keyring = Keyring::generate(root_key.clone(), self.config.clock.now())?;
        let keys = seal::split_unseal_key(&unseal_key, config)?;
        let sealed_root = seal::seal_root_key(&unseal_key, &root_key)?;
        let sealed_ring = keyring.seal()?;
        self.barrier.install(keyring);
        let root_token = self
            .write_initial_state(root_token_id, cluster_tls.as_deref().map(|v| &v[..]))
            .await;
        self.barrier.seal();
        let root_token = root_token?;
        // The seal config goes last: until it is there, the server counts as uninitialised.
        self.barrier
            .storage()
            .batch(vec![
                BatchOp::Put(ROOT_KEY_PATH.into(), sealed_root),
                BatchOp::Put(KEYRING_PATH.into(), sealed_ring),
                BatchOp::Put(
                    SEAL_CONFIG_PATH.into(),
                    serde_json::to_vec(&config).map_err(CoreError::internal)?,
                ),
            ])
            .await?;
        tracing::info!("core: security barrier initialized");
        Ok(InitResult { keys, root_token })
    }

    async fn write_initial_state(
        &self,
        root_token_id: Option<String>,
        cluster_tls: Option<&[u8]>,
    ) -> Result<Zeroizing<String>, CoreError> {
        if let Some(tls) = cluster_tls {
            self.barrier.put(crate::ha::RAFT_TLS_PATH, tls).await?;
        }
        let mut id = [0u8; 4];
        crypto::fill_random(&mut id)?;
        let cluster = ClusterInfo {
            name: format!("vault-cluster-{}", tresor_sdk::ids::hex(&id)),
            id: crate::crypto::uuid_v4(),
        };
        self.barrier.put_json(CLUSTER_PATH, &cluster).await?;
        self.barrier
            .put_json(MOUNT_TABLE_PATH, &Vec::<MountEntry>::new())
            .await?;
        let expiration = Arc::new(ExpirationManager::new(Arc::clone(&self.barrier)));
        let tokens = TokenStore::load(Arc::clone(&self.barrier), expiration, true).await?;
        tokens.create_root(root_token_id).await
    }

    /// `sys/unseal` with one share (or `reset`).
    pub async fn unseal(&self, key: Option<&str>, reset: bool) -> Result<SealStatus, CoreError> {
        let config = self.seal_config().await?.ok_or(CoreError::NotInitialized)?;
        let mut progress = self.unseal.lock().await;
        if reset {
            *progress = UnsealProgress::default();
            drop(progress);
            return self.seal_status().await;
        }
        if !self.is_sealed() {
            drop(progress);
            return self.seal_status().await;
        }
        let key = key.ok_or_else(|| {
            CoreError::invalid(
                "'key' must be specified in request body as JSON, or 'reset' set to true",
            )
        })?;
        let share = seal::decode_share(key)?;
        // A share already given does not count twice (constant-time comparison of secrets).
        let repeated = progress.shares.iter().any(|s| {
            s.len() == share.len() && bool::from(subtle::ConstantTimeEq::ct_eq(&s[..], &share[..]))
        });
        if !repeated {
            if progress.shares.is_empty() {
                progress.nonce = crate::crypto::uuid_v4();
            }
            progress.shares.push(share);
        }
        if (progress.shares.len() as u32) < config.secret_threshold {
            drop(progress);
            return self.seal_status().await;
        }
        let shares = std::mem::take(&mut *progress);
        let result = self.open_with_shares(&shares.shares, config).await;
        drop(progress);
        result?;
        self.seal_status().await
    }

    async fn open_with_shares(
        &self,
        shares: &[Zeroizing<Vec<u8>>],
        config: SealConfig,
    ) -> Result<(), CoreError> {
        let unseal_key = seal::combine_shares(shares, config)?;
        self.complete_join(&unseal_key).await?;
        let storage = self.barrier.storage();
        let sealed_root = storage
            .get(ROOT_KEY_PATH)
            .await?
            .ok_or_else(|| CoreError::internal("root key missing from storage"))?;
        let root_key = seal::open_root_key(&unseal_key, &sealed_root)?;
        let sealed_ring = storage
            .get(KEYRING_PATH)
            .await?
            .ok_or_else(|| CoreError::internal("keyring missing from storage"))?;
        let keyring = Keyring::open(root_key, &sealed_ring)?;
        self.barrier.install(keyring);
        let loaded = match self.start_cluster(&unseal_key).await {
            Ok(()) => self.load_active().await,
            Err(e) => Err(e),
        };
        match loaded {
            Ok(active) => {
                let active = Arc::new(active);
                if let Ok(mut a) = self.active.write() {
                    *a = Some(Arc::clone(&active));
                }
                self.after_unseal(&active);
                tracing::info!("core: vault is unsealed");
                Ok(())
            }
            Err(e) => {
                self.ha.stop_all();
                if let Some(c) = self.ha() {
                    c.stop().await;
                }
                self.barrier.seal();
                Err(e)
            }
        }
    }

    /// Builds the unsealed state afresh from storage (keyring first) and puts it in place of
    /// the old one: a standby after a change under `core/`, a node that became the leader, the
    /// leader after a snapshot restore.
    pub(crate) async fn reload_active(&self) -> Result<Arc<Active>, CoreError> {
        // A change to the tables made while the new state was being built (a mount on the new
        // leader) would be missing from it: listen for such changes and build again if any came.
        let mut changes = self.ha().map(|c| c.changes());
        let mut active;
        let mut rounds = 0;
        loop {
            self.barrier.reload_keyring().await?;
            active = Arc::new(self.load_active().await?);
            if let Ok(mut a) = self.active.write() {
                if a.is_none() {
                    return Err(CoreError::Sealed);
                }
                *a = Some(Arc::clone(&active));
            }
            rounds += 1;
            let changed_meanwhile = changes.as_mut().is_some_and(|feed| {
                let mut changed = false;
                loop {
                    match feed.try_recv() {
                        Ok(keys) => {
                            changed |= keys.iter().any(|k| k.is_empty() || k.starts_with("core/"))
                        }
                        Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {
                            changed = true
                        }
                        Err(_) => break,
                    }
                }
                changed
            });
            if !changed_meanwhile || rounds >= 5 {
                break;
            }
        }
        // The duties held the old state and end with it: the leader starts them on the new.
        if self.may_write() {
            self.start_duties(&active);
        }
        Ok(active)
    }

    async fn load_active(&self) -> Result<Active, CoreError> {
        let may_write = self.may_write();
        let cluster: ClusterInfo = self
            .barrier
            .get_json(CLUSTER_PATH)
            .await?
            .ok_or_else(|| CoreError::internal("cluster info missing"))?;
        let expiration = Arc::new(ExpirationManager::new(Arc::clone(&self.barrier)));
        let tokens = TokenStore::load(
            Arc::clone(&self.barrier),
            Arc::clone(&expiration),
            may_write,
        )
        .await?;
        let policies = PolicyStore::load(Arc::clone(&self.barrier), may_write).await?;
        let router = Router::default();
        let mut table: Vec<MountEntry> = self
            .barrier
            .get_json(MOUNT_TABLE_PATH)
            .await?
            .unwrap_or_default();
        let auth: Vec<MountEntry> = self
            .barrier
            .get_json(AUTH_TABLE_PATH)
            .await?
            .unwrap_or_default();
        table.extend(auth);
        for entry in table {
            let mount = self.build_mount(entry)?;
            // Storage upgrades are once-per-cluster work: the active node runs them.
            if may_write {
                mount.backend.initialize(&mount.view).await?;
            }
            router.insert(mount);
        }
        let audit = crate::audit::AuditBroker::load(Arc::clone(&self.barrier)).await?;
        let rotation = crate::rotation::RotationConfig::load(&self.barrier).await?;
        Ok(Active {
            rotation: Mutex::new(rotation),
            writable: may_write,
            router,
            audit,
            expiration,
            tokens,
            policies,
            cluster,
            mount_lock: Mutex::new(()),
            migrations: Default::default(),
        })
    }

    pub(crate) fn build_mount(&self, entry: MountEntry) -> Result<Mount, CoreError> {
        let backend = self
            .registry
            .build(
                &entry.kind,
                &tresor_sdk::Setup {
                    options: &entry.options,
                    clock: &self.config.clock,
                },
            )
            .ok_or_else(|| {
                CoreError::invalid(format!("plugin not found in the catalog: {}", entry.kind))
            })?;
        let view = MountView::new(Arc::clone(&self.barrier), entry.storage_prefix());
        Ok(Mount::new(entry, backend, view))
    }

    /// Forgets every key; the server answers 503 until unsealed again.
    pub async fn seal(&self) {
        let mut progress = self.unseal.lock().await;
        *progress = UnsealProgress::default();
        self.ha.stop_all();
        if let Ok(mut a) = self.active.write() {
            *a = None;
        }
        // A sealed node takes no part in the cluster (its keyring is behind the barrier).
        if let Some(c) = self.ha() {
            c.stop().await;
        }
        self.barrier.seal();
        tracing::info!("core: vault is sealed");
    }

    pub async fn seal_status(&self) -> Result<SealStatus, CoreError> {
        let config = self.seal_config().await?;
        let (shares, nonce) = {
            let p = self.unseal.lock().await;
            (p.shares.len() as u32, p.nonce.clone())
        };
        let active = self.active().ok();
        Ok(SealStatus {
            kind: "shamir",
            initialized: config.is_some(),
            sealed: active.is_none(),
            t: config.map(|c| c.secret_threshold).unwrap_or(0),
            n: config.map(|c| c.secret_shares).unwrap_or(0),
            progress: if active.is_some() { 0 } else { shares },
            nonce: if active.is_some() {
                String::new()
            } else {
                nonce
            },
            version: crate::VAULT_VERSION,
            build_date: "",
            migration: false,
            cluster_name: active.as_ref().map(|a| a.cluster.name.clone()),
            cluster_id: active.as_ref().map(|a| a.cluster.id.clone()),
            recovery_seal: false,
            storage_type: self.storage_type(),
        })
    }

    /// The cluster's name and id, once unsealed.
    pub fn cluster(&self) -> Option<(String, String)> {
        self.active()
            .ok()
            .map(|a| (a.cluster.name.clone(), a.cluster.id.clone()))
    }

    /// Dev mode: initialise with one share, unseal, and mount KV v2 at `secret/`.
    pub async fn setup_dev(
        &self,
        root_token_id: Option<String>,
    ) -> Result<DevCredentials, CoreError> {
        let init = self
            .initialize(
                SealConfig {
                    secret_shares: 1,
                    secret_threshold: 1,
                },
                root_token_id,
            )
            .await?;
        let key_b64 =
            Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&init.keys[0][..]));
        self.unseal(Some(&key_b64), false).await?;
        let mut data = tresor_sdk::Map::new();
        data.insert("type".into(), "kv".into());
        data.insert("description".into(), "key/value secret storage".into());
        data.insert("options".into(), serde_json::json!({"version": "2"}));
        self.handle(CoreRequest {
            id: crate::crypto::uuid_v4(),
            operation: Operation::Update,
            path: "sys/mounts/secret".into(),
            data,
            token: Some(init.root_token.to_string()),
            client_addr: None,
            wrap_ttl: None,
        })
        .await?;
        Ok(DevCredentials {
            unseal_key_base64: key_b64,
            root_token: init.root_token,
        })
    }

    /// Every authenticated request, as a sequence of small steps: token, CIDR binding, the
    /// operation as the ACL sees it (create or update), ACL and sudo, use count, dispatch, and
    /// revocation of a token whose last use this was.
    pub async fn handle(&self, req: CoreRequest) -> Result<Option<Response>, CoreError> {
        let active = match self.active() {
            Ok(active) => active,
            // Sealing a sealed server is done already; Vault answers so without a token check.
            Err(CoreError::Sealed)
                if req.operation == Operation::Update && req.path == "sys/seal" =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let raw_token = req.token.clone().unwrap_or_default();
        // Only the audit log needs the mount's description.
        let mount = if active.audit.is_empty() {
            None
        } else {
            self.mount_info(&active, &req.path)
        };
        let audit = |stage,
                     entry: Option<&TokenEntry>,
                     req: &CoreRequest,
                     response: Option<crate::audit::ResponseView<'_>>,
                     error: Option<&str>| {
            active.audit.log(&req.audit_record(
                stage,
                &raw_token,
                entry,
                mount.as_ref(),
                response,
                error,
            ))
        };
        use crate::audit::Stage;
        let routed = active.router.route(&req.path);
        if let Some((mount, rel)) = routed
            .as_ref()
            .filter(|(m, rel)| m.entry.is_auth() && m.backend.flags(rel).login)
        {
            let (mount, rel) = (Arc::clone(mount), rel.clone());
            return Box::pin(self.login(&active, req, &mount, rel)).await;
        }
        // The ACL checks the name the handler will act on (see `canonical`); how the path is
        // protected (root-protected, open to any token) is its backend's word.
        let mut req = req;
        let (canonical, flags) =
            crate::canonical::resolve(&req.path, self.served_by(routed.as_ref(), &req.path));
        if let (std::borrow::Cow::Owned(path), false) =
            (canonical, req.operation == Operation::List)
        {
            req.path = path;
        }
        drop(routed);
        // A read that changes state (new database credentials) runs on the active node whole:
        // a standby that made the user and then failed to store its lease would leak it.
        if flags.forward && self.is_standby() {
            return Err(CoreError::ReadOnly);
        }
        if flags.wrapping_token {
            if let Err(e) =
                Box::pin(crate::wrapping::check_named(&active, &req.data, &raw_token)).await
            {
                audit(Stage::Request, None, &req, None, Some(&e.to_string()))?;
                return Err(e);
            }
        }
        let entry = match Box::pin(active.tokens.lookup(&raw_token)).await? {
            Some(e) if e.cidr_allows(req.client_addr) => e,
            _ => {
                audit(Stage::Request, None, &req, None, Some("permission denied"))?;
                return Err(CoreError::PermissionDenied);
            }
        };
        if req.operation == Operation::Update {
            req.operation = Box::pin(self.acl_operation(&active, &req, &entry, &raw_token)).await?;
        }
        let acl = active.policies.acl(&entry.policies);
        let decision = acl.check(req.operation, &req.path, &req.data);
        // A policy may insist on (or cap) wrapping of the answers it allows.
        let wrapping_ok = decision
            .max_wrapping_ttl
            .is_none_or(|max| req.wrap_ttl.is_some_and(|t| t <= max))
            && decision
                .min_wrapping_ttl
                .is_none_or(|min| req.wrap_ttl.is_some_and(|t| t >= min));
        // Paths open to any token (the CLI's mount preflight, the UI's mount list) judge access
        // themselves, as in Vault, where they need no policy.
        let allowed = decision.allowed && wrapping_ok && (!flags.sudo || decision.sudo);
        if !flags.any_token && !allowed {
            audit(
                Stage::Request,
                Some(&entry),
                &req,
                None,
                Some("permission denied"),
            )?;
            // Vault reports ACL denials through its multi-error type; clients see this text.
            return Err(CoreError::Forbidden(
                "1 error occurred:\n\t* permission denied\n\n".into(),
            ));
        }
        // Logged before anything happens: if no device can log it, nothing happens.
        audit(Stage::Request, Some(&entry), &req, None, None)?;
        let entry = Box::pin(active.tokens.use_token(entry))
            .await?
            .ok_or(CoreError::PermissionDenied)?;
        let last_use = entry.num_uses == -1;
        // The response entry repeats the request, which dispatch consumes.
        let logged = (!active.audit.is_empty()).then(|| CoreRequest {
            id: req.id.clone(),
            operation: req.operation,
            path: req.path.clone(),
            data: req.data.clone(),
            token: None,
            client_addr: req.client_addr,
            wrap_ttl: req.wrap_ttl,
        });
        let wrap_ttl = req.wrap_ttl;
        let creation_path = req.path.clone();
        // The rare, large paths below (sys/, auth/token/, login, wrapping, leases) are boxed,
        // so that the future of a plain read stays small: it is moved through several layers
        // on its way to the runtime, and a large one makes every request pay for the copy.
        let mut result = if flags.requires_wrapping && wrap_ttl.is_none() {
            // As Vault's handler answers: clients (the CLI) ask for wrapping themselves.
            Err(CoreError::invalid(
                "endpoint requires response wrapping to be used",
            ))
        } else {
            Box::pin(self.dispatch(&active, req, &entry, &raw_token, decision.sudo)).await
        };
        if let Ok(Some(resp)) = &mut result {
            if let Some(secret) = resp.secret.take() {
                let lease = Box::pin(crate::sys_leases::register_secret(
                    &active,
                    &self.config,
                    &creation_path,
                    &entry,
                    secret,
                ))
                .await?;
                resp.lease = Some(lease);
            }
        }
        if let (Some(ttl), Ok(Some(resp))) = (wrap_ttl, &result) {
            result = Box::pin(crate::wrapping::wrap(
                self,
                &active,
                resp,
                ttl,
                &creation_path,
            ))
            .await
            .map(Some);
        }
        if last_use {
            Box::pin(active.tokens.revoke_tree(&entry.id_hash)).await?;
        }
        if let Some(logged) = logged {
            match &result {
                Ok(resp) => {
                    let shown = resp.as_ref().map(ResponseView::of).unwrap_or_default();
                    audit(Stage::Response, Some(&entry), &logged, Some(shown), None)?;
                }
                Err(e) => {
                    audit(
                        Stage::Response,
                        Some(&entry),
                        &logged,
                        Some(ResponseView::default()),
                        Some(&e.to_string()),
                    )?;
                }
            }
        }
        result
    }

    /// A login (`auth/approle/login`, `auth/userpass/login/bob`): no token needed; the auth
    /// method checks the credentials and says what token to make, the core makes it.
    async fn login(
        &self,
        active: &Arc<Active>,
        req: CoreRequest,
        mount: &Arc<Mount>,
        rel: String,
    ) -> Result<Option<Response>, CoreError> {
        use crate::audit::Stage;
        let info = crate::audit::MountInfo {
            point: mount.entry.path.clone(),
            kind: mount.entry.kind.clone(),
            accessor: mount.entry.accessor.clone(),
        };
        let audit = |stage, response: Option<ResponseView<'_>>, error: Option<&str>| {
            active
                .audit
                .log(&req.audit_record(stage, "", None, Some(&info), response, error))
        };
        audit(Stage::Request, None, None)?;
        let backend_req = Request {
            id: req.id.clone(),
            operation: req.operation,
            path: rel,
            data: req.data.clone(),
            client_addr: req.client_addr,
            mount_point: mount.entry.path.clone(),
            display_name: String::new(),
            lease_limits: self.config.lease_limits(&mount.entry.config),
            system: None,
        };
        let mut result = mount
            .backend
            .handle(&backend_req, &mount.view)
            .await
            .map_err(CoreError::from);
        if let Ok(Some(resp)) = &mut result {
            if let Some(login) = resp.login.take() {
                resp.auth = Some(
                    tokens::api::login_token(
                        &active.tokens,
                        &self.config,
                        &mount.entry,
                        &req.path,
                        login,
                    )
                    .await?,
                );
            }
        }
        if let (Some(ttl), Ok(Some(resp))) = (req.wrap_ttl, &result) {
            result = crate::wrapping::wrap(self, active, resp, ttl, &req.path)
                .await
                .map(Some);
        }
        match &result {
            _ if active.audit.is_empty() => {}
            Ok(resp) => {
                let shown = resp.as_ref().map(ResponseView::of).unwrap_or_default();
                audit(Stage::Response, Some(shown), None)?;
            }
            Err(e) => audit(
                Stage::Response,
                Some(ResponseView::default()),
                Some(&e.to_string()),
            )?,
        }
        result
    }

    /// The backend that serves `path` and its mount point: a built-in mount's, or that of the
    /// router's mount `routed` (the router's answer for `path`).
    fn served_by<'a>(
        &'a self,
        routed: Option<&'a (Arc<Mount>, String)>,
        path: &str,
    ) -> Option<(&'a dyn tresor_sdk::Backend, &'a str)> {
        if let Some((b, _)) = crate::builtin::find(&self.builtins, path) {
            return Some((b.backend.as_ref(), b.path));
        }
        routed.map(|(m, _)| (m.backend.as_ref(), m.entry.path.as_str()))
    }

    /// What a request to one of the core's own mounts brings along (see `builtin`).
    fn builtin_context(
        &self,
        active: &Arc<Active>,
        entry: &TokenEntry,
        token: &str,
        sudo: bool,
    ) -> tresor_sdk::SystemContext {
        tresor_sdk::SystemContext::new(crate::builtin::Builtin {
            core: self.me.clone(),
            active: Arc::clone(active),
            config: self.config.clone(),
            entry: entry.clone(),
            token: token.to_owned(),
            sudo,
        })
    }

    /// The canonical form of a path named in a request's body (`sys/capabilities`), so that the
    /// capabilities reported are those the ACL will apply to a request on it. A path ending in
    /// `/` names a directory, as a list does, and is left as it is.
    pub(crate) fn canonical_of(&self, active: &Active, path: &str) -> String {
        if path.ends_with('/') {
            return path.to_owned();
        }
        let routed = active.router.route(path);
        crate::canonical::resolve(path, self.served_by(routed.as_ref(), path))
            .0
            .into_owned()
    }

    /// The mount a path reaches, for the audit log.
    fn mount_info(&self, active: &Active, path: &str) -> Option<crate::audit::MountInfo> {
        if let Some((b, _)) = crate::builtin::find(&self.builtins, path) {
            return Some(crate::audit::MountInfo {
                point: b.path.into(),
                kind: b.kind.into(),
                accessor: b.accessor.into(),
            });
        }
        let (mount, _) = active.router.route(path)?;
        Some(crate::audit::MountInfo {
            point: mount.entry.path.clone(),
            kind: mount.entry.kind.clone(),
            accessor: mount.entry.accessor.clone(),
        })
    }

    /// Reopens the audit devices' files and sockets (on SIGHUP).
    pub fn reopen_audit(&self) {
        if let Ok(active) = self.active() {
            active.audit.reopen();
        }
    }

    /// `vault path-help` (`GET path?help=1`): the help of whatever serves `path`. Vault lets
    /// every valid token read help on every path, so the ACL is not asked.
    pub async fn help(
        &self,
        token: Option<&str>,
        path: &str,
        client_addr: Option<std::net::IpAddr>,
    ) -> Result<String, CoreError> {
        let active = self.active()?;
        let entry = active
            .tokens
            .lookup(token.unwrap_or_default())
            .await?
            .ok_or(CoreError::PermissionDenied)?;
        if !entry.cidr_allows(client_addr) {
            return Err(CoreError::PermissionDenied);
        }
        let target = self
            .target(&active, path, &entry)
            .ok_or_else(|| CoreError::NoRoute(path.to_owned()))?;
        Ok(target.backend.help(&target.rel))
    }

    /// Vault's ACL tells a write to a new path (`create`) from one to an existing path
    /// (`update`); the backend that owns the path says which it is.
    async fn acl_operation(
        &self,
        active: &Arc<Active>,
        req: &CoreRequest,
        entry: &TokenEntry,
        token: &str,
    ) -> Result<Operation, CoreError> {
        if req.operation != Operation::Update {
            return Ok(req.operation);
        }
        let exists = match self.target(active, &req.path, entry) {
            Some(Target {
                backend,
                view,
                rel,
                mount_point,
                limits,
                builtin,
            }) => {
                let probe = Request {
                    id: req.id.clone(),
                    operation: Operation::Update,
                    path: rel,
                    data: tresor_sdk::Map::new(),
                    client_addr: req.client_addr,
                    mount_point,
                    display_name: entry.display_name.clone(),
                    lease_limits: limits,
                    system: builtin.then(|| self.builtin_context(active, entry, token, false)),
                };
                backend.exists(&probe, view.as_ref()).await?
            }
            None => None,
        };
        Ok(match exists {
            Some(false) => Operation::Create,
            _ => Operation::Update,
        })
    }

    /// The backend, storage view, relative path and mount point that serve `path`, for
    /// everything but the core's own `sys/` and `auth/token/` routes.
    fn target(&self, active: &Active, path: &str, entry: &TokenEntry) -> Option<Target> {
        if let Some((b, rel)) = crate::builtin::find(&self.builtins, path) {
            let prefix = match b.storage {
                crate::builtin::Storage::Shared(prefix) => prefix.to_owned(),
                crate::builtin::Storage::PerToken(prefix) => format!("{prefix}{}/", entry.id_hash),
            };
            return Some(Target {
                backend: Arc::clone(&b.backend),
                view: Arc::new(MountView::new(Arc::clone(&self.barrier), prefix)),
                rel: rel.to_owned(),
                mount_point: b.path.into(),
                limits: self.config.lease_limits(&Default::default()),
                builtin: true,
            });
        }
        let (mount, rel) = active.router.route(path)?;
        Some(Target {
            backend: Arc::clone(&mount.backend),
            view: Arc::new(mount.view.clone()),
            rel,
            mount_point: mount.entry.path.clone(),
            limits: self.config.lease_limits(&mount.entry.config),
            builtin: false,
        })
    }

    async fn dispatch(
        &self,
        active: &Arc<Active>,
        req: CoreRequest,
        entry: &TokenEntry,
        raw_token: &str,
        sudo: bool,
    ) -> Result<Option<Response>, CoreError> {
        let t = self
            .target(active, &req.path, entry)
            .ok_or_else(|| CoreError::NoRoute(req.path.clone()))?;
        let mut backend_req = backend_request(req, entry, t.rel, t.mount_point, t.limits);
        if t.builtin {
            backend_req.system = Some(self.builtin_context(active, entry, raw_token, sudo));
        }
        Ok(t.backend.handle(&backend_req, t.view.as_ref()).await?)
    }

    /// The ACL of a set of policies (for `sys/capabilities`).
    pub(crate) fn acl_for(active: &Active, policies: &[String]) -> Arc<crate::policy::Acl> {
        active.policies.acl(policies)
    }
}

/// The once-per-cluster work of the active node: lease expiry, backends' periodic work, the
/// barrier's upkeep. Each task also ends by itself once `active` is gone (sealed).
pub(crate) fn spawn_duties(
    barrier: &Arc<Barrier>,
    active: &Arc<Active>,
) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(run_expiry(Arc::downgrade(active))),
        tokio::spawn(run_periodic(Arc::downgrade(active))),
        tokio::spawn(crate::rotation::run_upkeep(
            Arc::clone(barrier),
            Arc::downgrade(active),
        )),
    ]
}

/// The expiry task of one unsealed period: rebuilds the lease queue from storage, then revokes
/// leases as they fall due. It holds the core only weakly and ends once it is sealed.
async fn run_expiry(active: std::sync::Weak<Active>) {
    let Some(expiration) = active.upgrade().map(|a| Arc::clone(&a.expiration)) else {
        return;
    };
    let started = std::time::Instant::now();
    match expiration.restore().await {
        Ok(n) => tracing::info!(
            leases = n,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "expiration: leases restored"
        ),
        Err(e) => tracing::error!("expiration: restoring leases failed: {e}"),
    }
    loop {
        let Some(a) = active.upgrade() else { return };
        expiration.expire_due(a.as_ref()).await;
        drop(a);
        // Wake for the next lease, for anything scheduled earlier, or at least every second
        // (to notice a seal).
        let wait = expiration
            .next_due()
            .map(|(t, _)| (t - expiration.clock().now_ms()).clamp(0, 1000) as u64)
            .unwrap_or(1000);
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(wait)) => {}
            _ = expiration.wake.notified() => {}
        }
    }
}

/// The background work of every mount (`Backend::periodic`), once a second while unsealed.
async fn run_periodic(active: std::sync::Weak<Active>) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let Some(a) = active.upgrade() else { return };
        for m in a.router.all().into_iter().filter(|m| !m.is_closing()) {
            if let Err(e) = m.backend.periodic(&m.view).await {
                tracing::warn!(mount = %m.entry.path, error = %e, "periodic work failed");
            }
        }
    }
}

#[async_trait::async_trait]
impl Revoker for Active {
    async fn revoke(&self, lease: &LeaseEntry) -> Result<(), CoreError> {
        match &lease.kind {
            LeaseKind::Token { id_hash } => self.tokens.revoke_tree(id_hash).await,
            LeaseKind::Secret {
                mount, internal, ..
            } => {
                let Some(m) = self.router.get(mount) else {
                    tracing::warn!(lease_id = %lease.lease_id, "the mount of this lease is gone");
                    return Ok(());
                };
                let rel = lease
                    .path
                    .strip_prefix(mount.as_str())
                    .unwrap_or(&lease.path)
                    .to_owned();
                let req = Request {
                    id: crate::crypto::uuid_v4(),
                    operation: Operation::Delete,
                    path: rel,
                    data: internal.clone(),
                    client_addr: None,
                    mount_point: mount.clone(),
                    display_name: String::new(),
                    lease_limits: Default::default(),
                    system: None,
                };
                Ok(m.backend.revoke(&req, &m.view).await?)
            }
        }
    }
}

/// Where a request goes: the backend, its storage view, and the path relative to its mount.
struct Target {
    backend: Arc<dyn tresor_sdk::Backend>,
    view: Arc<dyn tresor_sdk::StorageView>,
    rel: String,
    mount_point: String,
    limits: tresor_sdk::LeaseLimits,
    /// One of the core's own mounts, which get the caller's context.
    builtin: bool,
}

fn backend_request(
    req: CoreRequest,
    entry: &TokenEntry,
    path: String,
    mount_point: String,
    lease_limits: tresor_sdk::LeaseLimits,
) -> Request {
    Request {
        id: req.id,
        operation: req.operation,
        path,
        data: req.data,
        client_addr: req.client_addr,
        mount_point,
        display_name: entry.display_name.clone(),
        lease_limits,
        system: None,
    }
}
