/// Errors a backend (or the storage under it) reports. The HTTP status each maps to is decided in
/// one place, the server's error module; here we only say what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or breaks a rule of the backend (400).
    #[error("{0}")]
    InvalidRequest(String),
    /// Nothing at that path (404), optionally with a response Vault still returns in the
    /// envelope (KV v2: the metadata of a deleted version, or a warning about a wrong path).
    #[error("not found")]
    NotFound(Option<Box<crate::Response>>),
    /// The path is not served by this backend (404 "unsupported path").
    #[error("unsupported path")]
    UnsupportedPath,
    /// The path exists but not for this operation (405 "unsupported operation").
    #[error("unsupported operation")]
    UnsupportedOperation,
    /// Refused for who is asking (403 "permission denied"), e.g. a locked-out user.
    #[error("permission denied")]
    PermissionDenied,
    /// Refused with a message of its own (403 `bad token`).
    #[error("{0}")]
    Forbidden(String),
    /// A check-and-set or similar precondition failed (400 with Vault's message).
    #[error("{0}")]
    Conflict(String),
    /// A system the backend works on failed or refused (a database that is down, a statement
    /// it rejected): 500 with the message, which the caller needs to act on. The message must
    /// not contain secret material.
    #[error("{0}")]
    External(String),
    /// Storage or crypto failed underneath (500). The message must not contain secret material.
    #[error("internal error: {0}")]
    Internal(String),
    /// A write on a standby node of a cluster: the request belongs to the active node, which
    /// the server forwards it to.
    #[error("cannot write to a read-only storage: this node is not the active node")]
    ReadOnly,
}

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidRequest(msg.into())
    }
    pub fn internal(msg: impl std::fmt::Display) -> Self {
        Error::Internal(msg.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Internal(format!("malformed stored entry: {e}"))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
