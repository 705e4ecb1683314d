//! The backends a server has, by mount type. The server builds a [`Registry`] and hands it to
//! the core, which builds every mount's backend through it: the core knows no backend by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::Backend;

/// Where a mount type may be mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A secrets engine, enabled through `sys/mounts`.
    Secrets,
    /// An auth method, enabled through `sys/auth` under `auth/`.
    Auth,
    /// Mounted once by the server itself (`cubbyhole`); never enabled by a user.
    Builtin,
}

/// What a backend is made with: the mount's options (`version=2` for KV) and the core's clock.
pub struct Setup<'a> {
    pub options: &'a BTreeMap<String, String>,
    pub clock: &'a crate::Clock,
}

/// Makes a backend for a mount.
pub type Factory = fn(&Setup<'_>) -> Arc<dyn Backend>;

#[derive(Clone, Default)]
pub struct Registry {
    kinds: BTreeMap<&'static str, (Class, Factory)>,
}

impl Registry {
    pub fn new() -> Self {
        Registry::default()
    }

    /// Adds (or replaces) the backend of mount type `kind`.
    pub fn with(mut self, kind: &'static str, class: Class, factory: Factory) -> Self {
        self.kinds.insert(kind, (class, factory));
        self
    }

    pub fn class(&self, kind: &str) -> Option<Class> {
        self.kinds.get(kind).map(|(c, _)| *c)
    }

    /// A new backend for a mount of type `kind`, if the server has that type.
    pub fn build(&self, kind: &str, setup: &Setup<'_>) -> Option<Arc<dyn Backend>> {
        self.kinds.get(kind).map(|(_, f)| f(setup))
    }

    /// The mount types of `class`, in order.
    pub fn kinds(&self, class: Class) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds
            .iter()
            .filter(move |(_, (c, _))| *c == class)
            .map(|(k, _)| *k)
    }
}
