use std::net::IpAddr;

use serde_json::Value;

use crate::error::type_error;
use crate::{Error, Map, Result};

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
        }
    }

    pub fn with_data(mut self, data: Map) -> Self {
        self.data = data;
        self
    }

    pub fn get(&self, field: &str) -> Option<&Value> {
        self.data.get(field).filter(|v| !v.is_null())
    }

    /// A string field; numbers are accepted as Vault's weak decoding does.
    pub fn str_field(&self, field: &str) -> Result<Option<String>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(type_error(field, "string", other)),
        }
    }

    /// An integer field; strings of digits are accepted, as query parameters arrive as strings.
    pub fn int_field(&self, field: &str) -> Result<Option<i64>> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => parse_int(v)
                .map(Some)
                .ok_or_else(|| type_error(field, "integer", v)),
        }
    }

    pub fn bool_field(&self, field: &str) -> Result<Option<bool>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v @ Value::String(s)) => match s.as_str() {
                "true" | "1" | "t" | "T" | "TRUE" | "True" => Ok(Some(true)),
                "false" | "0" | "f" | "F" | "FALSE" | "False" | "" => Ok(Some(false)),
                _ => Err(type_error(field, "bool", v)),
            },
            Some(v @ Value::Number(n)) => match n.as_i64() {
                Some(1) => Ok(Some(true)),
                Some(0) => Ok(Some(false)),
                _ => Err(type_error(field, "bool", v)),
            },
            Some(v) => Err(type_error(field, "bool", v)),
        }
    }

    /// A duration field in seconds: integers, or Go-style strings ("30m", "1h30m", "90").
    pub fn duration_field(&self, field: &str) -> Result<Option<u64>> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => crate::ttl::parse_value(v)
                .map(Some)
                .map_err(|e| Error::invalid(format!("error parsing field \"{field}\": {e}"))),
        }
    }

    /// An object field (JSON object); Vault also accepts a JSON string holding an object.
    pub fn map_field(&self, field: &str) -> Result<Option<Map>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            Some(v @ Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(m)) => Ok(Some(m)),
                _ => Err(type_error(field, "map", v)),
            },
            Some(v) => Err(type_error(field, "map", v)),
        }
    }
}

fn parse_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
