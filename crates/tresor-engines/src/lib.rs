//! Secrets engines and auth methods. Each is a [`Backend`] that sees only its own request
//! (relative to its mount) and its own storage view; none knows HTTP, tokens, or another mount.
//! An auth method answers a login with a `LoginAuth`; the core makes the token.

use std::collections::BTreeMap;
use std::sync::Arc;

use tresor_sdk::Backend;

pub mod approle;
mod auth_util;
pub mod database;
pub mod kv;
mod stored;
pub mod tools;
pub mod transit;
pub mod userpass;

/// The auth methods Tresor has (mounted under `auth/`, through `sys/auth`).
pub const AUTH_METHODS: &[&str] = &["approle", "userpass"];

pub fn is_auth_method(kind: &str) -> bool {
    AUTH_METHODS.contains(&kind)
}

/// The engine or auth method for a mount of type `kind` with the mount's `options`, if Tresor
/// has it.
pub fn new_backend(kind: &str, options: &BTreeMap<String, String>) -> Option<Arc<dyn Backend>> {
    match kind {
        "kv" => Some(match options.get("version").map(String::as_str) {
            Some("2") => Arc::new(kv::KvV2::new()) as Arc<dyn Backend>,
            _ => Arc::new(kv::KvV1),
        }),
        "transit" => Some(Arc::new(transit::Transit::default())),
        "database" => Some(Arc::new(database::Database::default())),
        "approle" => Some(Arc::new(approle::AppRole::default())),
        "userpass" => Some(Arc::new(userpass::UserPass::default())),
        _ => None,
    }
}
