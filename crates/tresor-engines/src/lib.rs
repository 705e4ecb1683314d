//! Secrets engines. Each is a [`Backend`] that sees only its own request (relative to its mount)
//! and its own storage view; none knows HTTP, tokens, or another mount.

use std::collections::BTreeMap;
use std::sync::Arc;

use tresor_sdk::Backend;

pub mod kv;

/// The engine for a mount of type `kind` with the mount's `options`, if Tresor has it.
pub fn new_backend(kind: &str, options: &BTreeMap<String, String>) -> Option<Arc<dyn Backend>> {
    match kind {
        "kv" => Some(match options.get("version").map(String::as_str) {
            Some("2") => Arc::new(kv::KvV2::new()) as Arc<dyn Backend>,
            _ => Arc::new(kv::KvV1),
        }),
        _ => None,
    }
}
