//! The core's own mounts: `sys/`, `auth/token/` and `cubbyhole/`. They are backends on the path
//! framework like any other, found by the same lookup as the router's mounts; what sets them
//! apart is that each request to them carries a [`Builtin`] context (the caller's token and the
//! core's state, as `tresor_sdk::SystemContext`), because their business is the core itself
//! and the caller.

use std::sync::Arc;

use tresor_sdk::framework::Routed;
use tresor_sdk::{Backend, Registry};

use crate::core::{Active, Core, CoreConfig};
use crate::error::CoreError;
use crate::sys_paths::SystemBackend;
use crate::tokens::api::{Caller, TokenBackend};
use crate::tokens::{TokenEntry, CUBBYHOLE_PREFIX};

/// What a request to a built-in mount brings along.
pub(crate) struct Builtin {
    pub core: std::sync::Weak<Core>,
    pub active: Arc<Active>,
    pub config: CoreConfig,
    pub entry: TokenEntry,
    pub token: String,
    /// Root, or `sudo` on the requested path.
    pub sudo: bool,
}

impl Builtin {
    /// The core itself, for the system backend (alive for as long as it serves requests).
    pub fn core(&self) -> Result<Arc<Core>, CoreError> {
        self.core
            .upgrade()
            .ok_or_else(|| CoreError::internal("the core is gone"))
    }

    pub fn caller(&self) -> Caller<'_> {
        Caller {
            entry: &self.entry,
            sudo: self.sudo,
        }
    }
}

/// Where a built-in mount's storage view points.
pub(crate) enum Storage {
    /// One prefix for every request (the token store's records).
    Shared(&'static str),
    /// The caller's own store under this prefix, by token (cubbyhole).
    PerToken(&'static str),
}

pub(crate) struct BuiltinMount {
    pub path: &'static str,
    pub kind: &'static str,
    pub accessor: &'static str,
    pub backend: Arc<dyn Backend>,
    pub storage: Storage,
}

/// The built-in mounts of a server with these backends: the token store always, cubbyhole if
/// the registry has one.
pub(crate) fn mounts(registry: &Registry, clock: &tresor_sdk::Clock) -> Vec<BuiltinMount> {
    let mut mounts = vec![
        BuiltinMount {
            path: "sys/",
            kind: "system",
            accessor: "system",
            backend: Arc::new(Routed::new(SystemBackend)),
            // Unused: the system backend works on the core's own records through the core.
            storage: Storage::Shared("core/system-backend/"),
        },
        BuiltinMount {
            path: "auth/token/",
            kind: "token",
            accessor: "auth_token",
            backend: Arc::new(Routed::new(TokenBackend)),
            storage: Storage::Shared("sys/token/"),
        },
    ];
    let setup = tresor_sdk::Setup {
        options: &Default::default(),
        clock,
    };
    if let Some(backend) = registry.build("cubbyhole", &setup) {
        mounts.push(BuiltinMount {
            path: "cubbyhole/",
            kind: "cubbyhole",
            accessor: "cubbyhole",
            backend,
            storage: Storage::PerToken(CUBBYHOLE_PREFIX),
        });
    }
    mounts
}

/// The built-in mount serving `path`, and the path relative to it (`auth/token` reaches
/// `auth/token/`).
pub(crate) fn find<'a, 'p>(
    mounts: &'a [BuiltinMount],
    path: &'p str,
) -> Option<(&'a BuiltinMount, &'p str)> {
    // Byte compares: this runs several times for every request.
    mounts.iter().find_map(|m| {
        let point = m.path.as_bytes();
        if path.as_bytes().starts_with(point) {
            // `point` ends in `/`, an ASCII character: the rest starts on a char boundary.
            path.get(point.len()..).map(|rel| (m, rel))
        } else {
            // The mount point without its slash (`sys`).
            (path.len() + 1 == point.len() && point.starts_with(path.as_bytes())).then_some((m, ""))
        }
    })
}
