use std::net::IpAddr;

use serde_json::Value;

use crate::framework::{decode, Decoded, Kind};
use crate::{Map, Result};

/// Vault's logical operations. HTTP methods map onto these in the server; the core may turn an
/// `Update` into a `Create` when nothing exists at the path yet (for the ACL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Read,
    Create,
    Update,
    Patch,
    Delete,
    List,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Patch => "patch",
            Operation::Delete => "delete",
            Operation::List => "list",
        }
    }

    /// Create and update reach the same handlers; only the ACL tells them apart.
    pub fn is_write(self) -> bool {
        matches!(self, Operation::Create | Operation::Update)
    }
}

/// One request as a backend sees it: the path is relative to the mount point.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: String,
    pub operation: Operation,
    pub path: String,
    pub data: Map,
    pub client_addr: Option<IpAddr>,
    /// Where the backend is mounted (e.g. `secret/`), for messages that name full paths.
    pub mount_point: String,
    /// The display name of the caller's token (`token`, `approle`, `userpass-alice`), as
    /// generated database usernames include it.
    pub display_name: String,
    /// The mount's effective lease TTLs, so that a backend can tell when a lease it asks for
    /// will end (a database user's `VALID UNTIL`).
    pub lease_limits: LeaseLimits,
    /// Set by the core for its own built-in backends only (see [`SystemContext`]).
    pub system: Option<SystemContext>,
}

/// What the core hands its own built-in backends (`auth/token/`, `cubbyhole/`) with each
/// request: the caller's token and the core's state. Its type is private to the core, so no
/// other backend can read it, and none is ever given one: backends never see tokens.
#[derive(Clone)]
pub struct SystemContext(std::sync::Arc<dyn std::any::Any + Send + Sync>);

impl SystemContext {
    pub fn new<T: std::any::Any + Send + Sync>(value: T) -> Self {
        SystemContext(std::sync::Arc::new(value))
    }

    pub fn get<T: std::any::Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl std::fmt::Debug for SystemContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SystemContext")
    }
}

/// A mount's effective default and maximum lease TTL, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaseLimits {
    pub default_ttl: u64,
    pub max_ttl: u64,
}

impl LeaseLimits {
    /// The TTL the core will grant a lease that asks for `ttl` (0: the default) and at most
    /// `max_ttl` (0: the mount's maximum), as `sys_leases` computes it.
    pub fn grant(&self, ttl: u64, max_ttl: u64) -> u64 {
        let max = self.cap(max_ttl);
        let ttl = if ttl == 0 { self.default_ttl } else { ttl };
        if max == 0 {
            ttl
        } else {
            ttl.min(max)
        }
    }

    /// The maximum TTL of a lease that asks for `max_ttl` (0: the mount's maximum).
    pub fn cap(&self, max_ttl: u64) -> u64 {
        match max_ttl {
            0 => self.max_ttl,
            m if self.max_ttl == 0 => m,
            m => m.min(self.max_ttl),
        }
    }
}

impl Request {
    pub fn new(operation: Operation, path: impl Into<String>) -> Self {
        Request {
            id: String::new(),
            operation,
            path: path.into(),
            data: Map::new(),
            client_addr: None,
            mount_point: String::new(),
            display_name: String::new(),
            lease_limits: LeaseLimits::default(),
            system: None,
        }
    }

    pub fn with_data(mut self, data: Map) -> Self {
        self.data = data;
        self
    }

    pub fn get(&self, field: &str) -> Option<&Value> {
        self.data.get(field).filter(|v| !v.is_null())
    }

    /// Decodes `field` as `kind` with the framework's one decoder (`framework::decode`).
    fn decoded<T>(
        &self,
        field: &str,
        kind: Kind,
        take: impl FnOnce(Decoded<'_>) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => Ok(take(decode(field, kind, v)?)),
        }
    }

    /// A string field; numbers and booleans are taken as their text.
    pub fn str_field(&self, field: &str) -> Result<Option<String>> {
        self.decoded(field, Kind::Str, |d| match d {
            Decoded::Str(s) => Some(s.into_owned()),
            _ => None,
        })
    }

    /// An integer field; strings of digits are accepted, as query parameters arrive as strings.
    pub fn int_field(&self, field: &str) -> Result<Option<i64>> {
        self.decoded(field, Kind::Int, |d| match d {
            Decoded::Int(n) => Some(n),
            _ => None,
        })
    }

    pub fn bool_field(&self, field: &str) -> Result<Option<bool>> {
        self.decoded(field, Kind::Bool, |d| match d {
            Decoded::Bool(b) => Some(b),
            _ => None,
        })
    }

    /// A duration field in seconds: integers, or Go-style strings ("30m", "1h30m", "90").
    pub fn duration_field(&self, field: &str) -> Result<Option<u64>> {
        self.decoded(field, Kind::Duration, |d| match d {
            Decoded::Seconds(n) => Some(n),
            _ => None,
        })
    }

    /// An object field (JSON object); Vault also accepts a JSON string holding an object.
    pub fn map_field(&self, field: &str) -> Result<Option<Map>> {
        self.decoded(field, Kind::Map, |d| match d {
            Decoded::Map(m) => Some(m.into_owned()),
            _ => None,
        })
    }

    /// A list field given as a JSON list or as one comma-separated string.
    pub fn list_field(&self, field: &str) -> Result<Option<Vec<String>>> {
        self.decoded(field, Kind::CommaList, |d| match d {
            Decoded::List(l) => Some(l),
            _ => None,
        })
    }

    /// A list field given as a JSON list or as one string (not split at commas).
    pub fn slice_field(&self, field: &str) -> Result<Option<Vec<String>>> {
        self.decoded(field, Kind::List, |d| match d {
            Decoded::List(l) => Some(l),
            _ => None,
        })
    }

    /// A list of integers: a JSON list, a number, or a comma-separated string.
    pub fn int_list_field(&self, field: &str) -> Result<Option<Vec<i64>>> {
        self.decoded(field, Kind::CommaIntList, |d| match d {
            Decoded::Ints(l) => Some(l),
            _ => None,
        })
    }

    /// Key/value pairs: an object of strings or a list of `key=value`.
    pub fn kv_field(&self, field: &str) -> Result<Option<Map>> {
        self.decoded(field, Kind::KvPairs, |d| match d {
            Decoded::Map(m) => Some(m.into_owned()),
            _ => None,
        })
    }
}
