//! The core: the one place with the rules.
//!
//! It owns the seal state, the barrier, the token store, the mount table and the router. A request
//! arrives as a [`CoreRequest`] (already parsed from HTTP by the server), is checked (sealed?
//! token? allowed?), and is dispatched either to the system backend (`sys/…`, which lives here
//! because it changes the core's own state) or to the mount that owns the path.
//!
//! **Invariants:** the core never speaks HTTP; backends never see tokens or other mounts.

mod audit;
mod autopilot;
pub mod barrier;
mod builtin;
mod canonical;
mod core;
pub mod crypto;
mod error;
mod expiration;
pub mod ha;
pub mod harness;
mod mounts;
pub mod policy;
mod rotation;
mod seal;
pub mod shamir;
mod sys;
mod sys_leases;
mod sys_paths;
mod sys_policy;
mod tokens;
mod wrapping;

pub use crate::core::{Core, CoreConfig, CoreRequest, DevCredentials, InitResult, SealStatus};
pub use error::CoreError;
pub use seal::SealConfig;

/// The Vault version Tresor reports (`version` in seal-status and health). Clients such as the
/// `vault` CLI gate features on it, so it states the Vault API level Tresor implements; Tresor's
/// own version rides along as semver build metadata.
pub const VAULT_VERSION: &str = concat!("1.17.0+tresor.", env!("CARGO_PKG_VERSION"));
