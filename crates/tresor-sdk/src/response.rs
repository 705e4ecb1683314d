use serde_json::Value;

use crate::Map;

/// A backend's answer. The server wraps it in Vault's envelope.
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub data: Option<Map>,
    pub warnings: Vec<String>,
    /// The envelope's `auth` block, when the answer hands out a token.
    pub auth: Option<Map>,
    /// A status other than 200, where Vault answers one (202 for background work).
    pub status: Option<u16>,
    /// Set by the core when the answer was wrapped: the envelope's `wrap_info`.
    pub wrap_info: Option<Map>,
    /// A backend that hands out something that must be revoked later (a database user) asks
    /// for a lease here; the core registers it and revokes through the backend on expiry.
    pub secret: Option<SecretLease>,
    /// Set by the core once the lease exists: the envelope's `lease_id`, `lease_duration`,
    /// `renewable`.
    pub lease: Option<LeaseInfo>,
    /// An auth method's answer to a successful login: the token the core is to create.
    pub login: Option<crate::LoginAuth>,
    /// A body answered as it is, without Vault's envelope (the OpenAPI document).
    pub raw: Option<Value>,
    /// Bytes answered as they are (a storage snapshot); never seen by the audit log.
    pub binary: Option<Vec<u8>>,
}

/// What a backend asks of the lease of a secret it returns.
#[derive(Debug, Clone, Default)]
pub struct SecretLease {
    /// Seconds; 0 means the mount's default TTL. Clamped by the mount's and the system's max.
    pub ttl: u64,
    /// Seconds the lease may be renewed up to; 0 means the mount's (or the system's) max TTL.
    pub max_ttl: u64,
    pub renewable: bool,
    /// Kept with the lease, encrypted, and given back to `Backend::revoke` and `renew`.
    pub internal: Map,
}

/// The lease the core registered for an answer.
#[derive(Debug, Clone, Default)]
pub struct LeaseInfo {
    pub id: String,
    pub duration: u64,
    pub renewable: bool,
}

impl Response {
    pub fn data(data: Map) -> Self {
        Response {
            data: Some(data),
            ..Response::default()
        }
    }

    /// The answer to a LIST: `{"keys": [...]}`.
    pub fn list(keys: Vec<String>) -> Self {
        let mut data = Map::new();
        data.insert(
            "keys".into(),
            Value::Array(keys.into_iter().map(Value::String).collect()),
        );
        Response::data(data)
    }

    pub fn with_warning(mut self, w: impl Into<String>) -> Self {
        self.warnings.push(w.into());
        self
    }
}
