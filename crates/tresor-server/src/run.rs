//! Starting a server: storage from the configuration, the core, the listeners, dev mode, and
//! shutdown on SIGINT/SIGTERM.

use std::io::Write;
use std::sync::Arc;

use tokio::sync::watch;
use tresor_core::{Core, CoreConfig};
use tresor_storage::{FileStorage, InmemStorage, Storage};

use crate::config::{Config, ListenerConfig};
use crate::listener;

/// Dev mode's settings (`-dev`, `-dev-root-token-id`, `-dev-listen-address`).
#[derive(Debug, Clone, Default)]
pub struct DevOptions {
    pub root_token_id: Option<String>,
    pub listen_address: Option<String>,
    /// Leave the root token in `~/.vault-token` for the CLI, as Vault's dev mode does
    /// (off with `-dev-no-store-token`).
    pub store_token: bool,
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub config: Config,
    pub dev: Option<DevOptions>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("No storage backend specified in the configuration")]
    NoStorage,
    #[error("Unknown storage type {0}")]
    UnknownStorage(String),
    #[error("storage \"file\" requires a \"path\"")]
    FilePathMissing,
    #[error("error opening storage: {0}")]
    Storage(#[from] tresor_storage::StorageError),
    #[error("no listener configured")]
    NoListener,
    #[error(transparent)]
    Listener(#[from] listener::ListenerError),
    #[error("error setting up dev mode: {0}")]
    Dev(tresor_core::CoreError),
    #[error("Failed to lock memory: {0}\n\n{advice}", advice = crate::harden::MLOCK_ADVICE)]
    Mlock(std::io::Error),
    #[error("error in the raft storage configuration: {0}")]
    Raft(String),
}

/// The storage and, for integrated storage, this node's place in the cluster.
struct Opened {
    storage: Arc<dyn Storage>,
    cluster: Option<crate::cluster::Setup>,
}

/// The address clients are told to use for this node: `api_addr`, else the first listener's.
fn api_addr(opts: &RunOptions) -> String {
    opts.config.api_addr.clone().unwrap_or_else(|| {
        opts.config
            .listeners
            .first()
            .map(|l| {
                format!(
                    "{}://{}",
                    if l.tls_disable { "http" } else { "https" },
                    l.address
                )
            })
            .unwrap_or_default()
    })
}

fn open_storage(opts: &RunOptions) -> Result<Opened, RunError> {
    let alone = |storage: Arc<dyn Storage>| Opened {
        storage,
        cluster: None,
    };
    let Some(s) = &opts.config.storage else {
        return if opts.dev.is_some() {
            Ok(alone(Arc::new(InmemStorage::new())))
        } else {
            Err(RunError::NoStorage)
        };
    };
    match s.kind.as_str() {
        "inmem" => Ok(alone(Arc::new(InmemStorage::new()))),
        "raft" => {
            let setup = crate::cluster::setup(&opts.config, s, &api_addr(opts))?;
            Ok(Opened {
                storage: Arc::new(setup.raft.clone()),
                cluster: Some(setup),
            })
        }
        "file" => {
            let path = s
                .options
                .get("path")
                .and_then(|p| p.as_str())
                .filter(|p| !p.is_empty())
                .ok_or(RunError::FilePathMissing)?;
            Ok(alone(Arc::new(FileStorage::open(path)?)))
        }
        other => Err(RunError::UnknownStorage(other.to_owned())),
    }
}

/// Runs until a termination signal arrives.
pub async fn run(opts: RunOptions) -> Result<(), RunError> {
    // Before any key is in memory. Dev mode keeps everything in memory anyway and, as Vault's,
    // does not lock it.
    if let Err(e) = crate::harden::forbid_core_dumps() {
        tracing::warn!("could not disable core dumps: {e}");
    }
    if opts.dev.is_none() && !opts.config.disable_mlock {
        crate::harden::lock_memory().map_err(RunError::Mlock)?;
    }
    let Opened { storage, cluster } = open_storage(&opts)?;
    let mut core_config = CoreConfig::default();
    if let Some(m) = opts.config.max_lease_ttl {
        core_config.max_lease_ttl = m;
    }
    if let Some(d) = opts.config.default_lease_ttl {
        core_config.default_lease_ttl = d;
    }
    core_config.api_addr = api_addr(&opts);
    core_config.cluster_addr = opts.config.cluster_addr.clone().unwrap_or_default();
    let core = Core::new(
        Arc::clone(&storage),
        core_config,
        tresor_engines::registry(),
    );

    let mut listeners = opts.config.listeners.clone();
    if let Some(dev) = &opts.dev {
        listeners.insert(
            0,
            ListenerConfig {
                address: dev
                    .listen_address
                    .clone()
                    .unwrap_or_else(|| "127.0.0.1:8200".into()),
                tls_disable: true,
                ..ListenerConfig::default()
            },
        );
    }
    if listeners.is_empty() {
        return Err(RunError::NoListener);
    }

    // Dev mode is initialised and unsealed before the first connection is accepted, so no
    // client ever sees it sealed.
    let dev_creds = match &opts.dev {
        Some(dev) => Some(
            core.setup_dev(dev.root_token_id.clone())
                .await
                .map_err(RunError::Dev)?,
        ),
        None => None,
    };
    let raft = cluster.as_ref().map(|c| c.raft.clone());
    let app = crate::http::router(Arc::clone(&core), raft);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut bound = Vec::new();
    let mut tasks = Vec::new();
    for l in &listeners {
        let tcp = listener::bind(&l.address).await?;
        let addr = tcp
            .local_addr()
            .map_err(|source| listener::ListenerError::Bind {
                address: l.address.clone(),
                source,
            })?;
        let tls = if l.tls_disable {
            None
        } else {
            Some(Arc::new(listener::tls_config(l)?))
        };
        bound.push((addr, tls.is_some()));
        tasks.push(tokio::spawn(listener::serve(
            tcp,
            tls,
            app.clone(),
            l.http,
            stop_rx.clone(),
        )));
    }
    if let Some(c) = &cluster {
        // The cluster port: bound now, but it completes a handshake only while this node holds
        // the cluster's keyring (unsealed, or joining).
        let tcp = listener::bind(&c.listen).await?;
        tasks.push(tokio::spawn(listener::serve(
            tcp,
            Some(c.raft.server_tls()?),
            crate::cluster::router(c.raft.clone(), app.clone()),
            crate::limits::HttpLimits::default(),
            stop_rx.clone(),
        )));
        crate::cluster::spawn_retry_join(
            Arc::clone(&core),
            c.retry_join.clone(),
            c.retry_join_as_non_voter,
        );
        crate::cluster::spawn_scheduled_snapshots(
            Arc::clone(&core),
            opts.config.snapshot_auto.clone(),
        );
    } else if !opts.config.snapshot_auto.is_empty() {
        tracing::warn!("snapshot_auto is set, but only integrated (raft) storage takes snapshots");
    }

    for w in &opts.config.warnings {
        tracing::warn!("{w}");
    }
    print_configuration(&opts, storage.kind(), &bound);

    if let (Some(dev), Some(creds)) = (&opts.dev, &dev_creds) {
        if dev.store_token {
            if let Err(e) = crate::token_helper::store(&creds.root_token) {
                tracing::warn!("could not store the root token in ~/.vault-token: {e}");
            }
        }
        let (addr, _) = bound[0];
        print_dev_banner(
            &format!("http://{addr}"),
            &creds.unseal_key_base64,
            &creds.root_token,
        );
    }

    // SIGHUP reopens the audit files, so that logrotate can move them away.
    {
        let core = Arc::clone(&core);
        if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP: reopening audit devices");
                    core.reopen_audit();
                }
            });
        }
    }
    shutdown_signal().await;
    tracing::info!("shutdown triggered");
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

fn print_configuration(opts: &RunOptions, storage: &str, bound: &[(std::net::SocketAddr, bool)]) {
    let api = opts.config.api_addr.clone().unwrap_or_else(|| {
        bound
            .first()
            .map(|(a, tls)| format!("{}://{a}", if *tls { "https" } else { "http" }))
            .unwrap_or_default()
    });
    let mut out = String::from("==> Tresor server configuration:\n\n");
    let mut line = |k: &str, v: &str| out.push_str(&format!("{k:>24}: {v}\n"));
    line("Api Address", &api);
    if let Some(c) = &opts.config.cluster_addr {
        line("Cluster Address", c);
    }
    for (i, (addr, tls)) in bound.iter().enumerate() {
        line(
            &format!("Listener {}", i + 1),
            &format!(
                "tcp (addr: \"{addr}\", tls: \"{}\")",
                if *tls { "enabled" } else { "disabled" }
            ),
        );
    }
    line(
        "Log Level",
        opts.config.log_level.as_deref().unwrap_or("info"),
    );
    line("Mlock", "supported: false, enabled: false");
    line("Storage", storage);
    line("Version", &format!("Tresor v{}", env!("CARGO_PKG_VERSION")));
    out.push_str("\n==> Tresor server started! Log data will stream in below:\n\n");
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}

fn print_dev_banner(addr: &str, unseal_key: &str, root_token: &str) {
    let text = format!(
        "WARNING! dev mode is enabled! In this mode, Tresor runs entirely in-memory
and starts unsealed with a single unseal key. The root token is already
authenticated to the CLI, so you can immediately begin using Tresor.

You may need to set the following environment variables:

    $ export VAULT_ADDR='{addr}'

The unseal key and root token are displayed below in case you want to
seal/unseal the Vault or re-authenticate.

Unseal Key: {unseal_key}
Root Token: {root_token}

Development mode should NOT be used in production installations!

"
    );
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
