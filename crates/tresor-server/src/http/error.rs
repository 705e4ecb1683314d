//! The one place where errors become HTTP statuses and Vault's `{"errors": [...]}` bodies.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tresor_core::CoreError;

use super::handler::envelope;

/// An error on its way out, with the status Vault would answer.
pub struct ApiError {
    pub status: StatusCode,
    pub errors: Vec<String>,
    /// KV v2 answers a deleted version with 404 and its metadata in a normal envelope.
    pub response: Option<Box<tresor_sdk::Response>>,
}

impl ApiError {
    pub fn new(status: StatusCode, msg: impl Into<String>) -> Self {
        ApiError {
            status,
            errors: vec![msg.into()],
            response: None,
        }
    }

    /// A status with Vault's empty error list, as for a missing secret.
    pub fn bare(status: StatusCode) -> Self {
        ApiError {
            status,
            errors: Vec::new(),
            response: None,
        }
    }

    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, msg)
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        use tresor_sdk::Error as B;
        match e {
            CoreError::Sealed => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "Vault is sealed"),
            CoreError::NotInitialized => ApiError::bad_request("Vault is not initialized"),
            CoreError::AlreadyInitialized => ApiError::bad_request("Vault is already initialized"),
            CoreError::PermissionDenied | CoreError::MissingToken => {
                ApiError::new(StatusCode::FORBIDDEN, "permission denied")
            }
            CoreError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, m),
            CoreError::InvalidRequest(m) => ApiError::bad_request(m),
            e @ CoreError::NoRoute(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            CoreError::Backend(b) => match b {
                B::InvalidRequest(m) | B::Conflict(m) => ApiError::bad_request(m),
                B::NotFound(response) => ApiError {
                    status: StatusCode::NOT_FOUND,
                    errors: Vec::new(),
                    response,
                },
                // Vault formats this one through its multi-error type; clients match the text.
                B::UnsupportedPath => ApiError::new(
                    StatusCode::NOT_FOUND,
                    "1 error occurred:\n\t* unsupported path\n\n",
                ),
                B::UnsupportedOperation => {
                    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "unsupported operation")
                }
                B::PermissionDenied => ApiError::new(StatusCode::FORBIDDEN, "permission denied"),
                B::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, m),
                // Vault returns a backend's own error through its multi-error type.
                B::External(m) => ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("1 error occurred:\n\t* {m}\n\n"),
                ),
                B::Internal(m) => internal(m),
                B::ReadOnly => standby(),
            },
            CoreError::Internal(m) => internal(m),
            CoreError::ReadOnly => standby(),
        }
    }
}

/// A write reached a standby and could not be forwarded to an active node (none is known, or
/// it did not answer): Vault's answer when no active node can be found.
fn standby() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no active Vault instance found",
    )
}

fn internal(detail: String) -> ApiError {
    // The detail is for the operator's log; the client learns only that it failed.
    tracing::error!(error = %detail, "internal error");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.response {
            Some(r) => {
                let body = envelope(&tresor_core::crypto::uuid_v4(), *r);
                (self.status, axum::Json(body)).into_response()
            }
            None => (self.status, axum::Json(json!({ "errors": self.errors }))).into_response(),
        }
    }
}
