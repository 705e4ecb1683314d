use crate::crypto::CryptoError;

/// Everything the core can refuse or fail with. The server maps each variant to an HTTP status
/// in exactly one place; messages never contain secret material.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("Vault is sealed")]
    Sealed,
    #[error("Vault is not initialized")]
    NotInitialized,
    #[error("Vault is already initialized")]
    AlreadyInitialized,
    #[error("permission denied")]
    PermissionDenied,
    /// A 403 with a message of its own (`bad token`).
    #[error("{0}")]
    Forbidden(String),
    #[error("missing client token")]
    MissingToken,
    #[error("{0}")]
    InvalidRequest(String),
    #[error("no handler for route \"{0}\". route entry not found.")]
    NoRoute(String),
    #[error(transparent)]
    Backend(#[from] tresor_sdk::Error),
    #[error("internal error: {0}")]
    Internal(String),
    /// A write on a standby: see [`tresor_sdk::Error::ReadOnly`].
    #[error("cannot write to a read-only storage: this node is not the active node")]
    ReadOnly,
}

impl CoreError {
    /// A write refused because this node is a standby, wherever it surfaced.
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            CoreError::ReadOnly | CoreError::Backend(tresor_sdk::Error::ReadOnly)
        )
    }

    pub fn invalid(msg: impl Into<String>) -> Self {
        CoreError::InvalidRequest(msg.into())
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        CoreError::Internal(e.to_string())
    }
}

impl From<tresor_storage::StorageError> for CoreError {
    fn from(e: tresor_storage::StorageError) -> Self {
        match e {
            tresor_storage::StorageError::ReadOnly => CoreError::ReadOnly,
            e => CoreError::Internal(e.to_string()),
        }
    }
}

impl From<CryptoError> for CoreError {
    fn from(e: CryptoError) -> Self {
        CoreError::Internal(e.to_string())
    }
}

impl From<CoreError> for tresor_sdk::Error {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Backend(b) => b,
            CoreError::InvalidRequest(m) => tresor_sdk::Error::InvalidRequest(m),
            CoreError::Forbidden(m) => tresor_sdk::Error::Forbidden(m),
            CoreError::PermissionDenied => tresor_sdk::Error::PermissionDenied,
            CoreError::ReadOnly => tresor_sdk::Error::ReadOnly,
            other => tresor_sdk::Error::Internal(other.to_string()),
        }
    }
}
