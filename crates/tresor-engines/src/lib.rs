//! Secrets engines and auth methods. Each is a [`tresor_sdk::Backend`] that sees only its own request
//! (relative to its mount) and its own storage view; none knows HTTP, tokens, or another mount.
//! An auth method answers a login with a `LoginAuth`; the core makes the token.

use std::sync::Arc;

use tresor_sdk::framework::Routed;
use tresor_sdk::{Class, Registry};

pub mod approle;
mod auth_util;
pub mod database;
pub mod kv;
mod stored;
pub mod transit;
pub mod userpass;

/// Every backend of this crate, by mount type: what the server hands the core.
pub fn registry() -> Registry {
    Registry::new()
        .with("kv", Class::Secrets, |s| {
            match s.options.get("version").map(String::as_str) {
                Some("2") => Arc::new(Routed::new(kv::KvV2::new(s.clock.clone()))),
                _ => Arc::new(Routed::new(kv::KvV1)),
            }
        })
        .with("transit", Class::Secrets, |s| {
            Arc::new(Routed::new(transit::Transit::new(s.clock.clone())))
        })
        .with("database", Class::Secrets, |s| {
            Arc::new(Routed::new(database::Database::new(s.clock.clone())))
        })
        .with("approle", Class::Auth, |s| {
            Arc::new(Routed::new(approle::AppRole::new(s.clock.clone())))
        })
        .with("userpass", Class::Auth, |s| {
            Arc::new(Routed::new(userpass::UserPass::new(s.clock.clone())))
        })
        .with("cubbyhole", Class::Builtin, |_| {
            Arc::new(Routed::new(kv::KvV1))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Path tables are constants checked when built (a malformed pattern panics there), so
    /// every backend's table is built here, for every option that picks another table.
    #[test]
    fn every_backend_builds_its_table() {
        let r = registry();
        let clock = tresor_sdk::Clock::system();
        let v2: std::collections::BTreeMap<String, String> =
            [("version".to_owned(), "2".to_owned())].into();
        let plain = Default::default();
        for class in [Class::Secrets, Class::Auth, Class::Builtin] {
            for kind in r.kinds(class) {
                for options in [&plain, &v2] {
                    let setup = tresor_sdk::Setup {
                        options,
                        clock: &clock,
                    };
                    let backend = r.build(kind, &setup).expect("registered");
                    assert!(backend.help("").contains("## PATHS"), "{kind}");
                }
            }
        }
        assert_eq!(r.class("approle"), Some(Class::Auth));
        assert_eq!(r.class("cubbyhole"), Some(Class::Builtin));
        assert_eq!(r.class("nope"), None);
    }
}
