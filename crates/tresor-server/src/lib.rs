//! The server: Vault's configuration file, the listeners (TCP and TLS), and Vault's HTTP API.
//!
//! **Invariant:** this crate turns HTTP into [`tresor_core::CoreRequest`]s and core answers back
//! into HTTP; it never decides authorisation. Errors become HTTP statuses in exactly one place,
//! [`http::error`].

pub mod cluster;
pub mod config;
mod harden;
pub mod http;
pub mod limits;
pub mod listener;
mod run;
pub mod token_helper;

pub use run::{run, DevOptions, RunError, RunOptions};
