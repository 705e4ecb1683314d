//! What every Tresor backend shares.
//!
//! A backend (secrets engine or auth method) sees a [`Request`] relative to its own mount and a
//! [`StorageView`] of its own keys, and answers with a [`Response`] or an [`Error`]. It never sees
//! HTTP, tokens, or another mount: the core has already authenticated and authorised the request.

mod backend;
pub mod clock;
mod error;
pub mod framework;
pub mod glob;
pub mod ids;
pub mod memory;
pub mod registry;
mod request;
mod response;
pub mod token_params;
pub mod tools;
pub mod ttl;

pub use backend::{help_text, Backend, Resolved, StorageView};
pub use clock::Clock;
pub use error::{Error, Result};
pub use registry::{Class, Registry, Setup};
pub use request::{LeaseLimits, Operation, Request, SystemContext};
pub use response::{LeaseInfo, Response, SecretLease};
pub use token_params::{LoginAuth, TokenParams};

/// A JSON object, the shape of every request body and response `data` in Vault's API.
pub type Map = serde_json::Map<String, serde_json::Value>;
