//! The one place a request's path is made canonical, before the ACL sees it.
//!
//! Handlers read names loosely, as Vault does: policy names are trimmed and lowercased, token
//! role and userpass user names lowercased, mount paths stripped of slashes. If the ACL checked
//! the path as sent, `PUT sys/policies/acl/ADMIN` would pass a `deny` on
//! `sys/policies/acl/admin` and then overwrite `admin`. So the path is rewritten here into the
//! form its handler acts on, and the ACL, the audit log and the handler all see that one form.
//! `sys/` has its rules here; every other backend (the token store too) says its own through
//! [`tresor_sdk::Backend::canonical_path`], from its path table.

use std::borrow::Cow;

use tresor_sdk::Backend;

use crate::policy::normalize_name;

/// `path` as its handler names what it acts on; borrowed when it is already canonical.
/// `served` is the backend that serves `path` and its mount point, if any.
pub(crate) fn canonical<'a>(path: &'a str, served: Option<(&dyn Backend, &str)>) -> Cow<'a, str> {
    if let Some(rest) = path.strip_prefix("sys/") {
        return rewritten(path, "sys/", rest, sys(rest));
    }
    match served {
        Some((backend, point)) => {
            let rel = path.strip_prefix(point).unwrap_or("");
            match backend.canonical_path(rel) {
                Cow::Borrowed(same) if same == rel => Cow::Borrowed(path),
                other => Cow::Owned(format!("{point}{other}")),
            }
        }
        None => Cow::Borrowed(path),
    }
}

fn rewritten<'a>(
    path: &'a str,
    prefix: &str,
    rest: &str,
    canonical: Option<String>,
) -> Cow<'a, str> {
    match canonical {
        Some(c) if c != rest => Cow::Owned(format!("{prefix}{c}")),
        _ => Cow::Borrowed(path),
    }
}

/// `sys/` routes that name something: policies, mounts, auth methods, audit devices.
fn sys(rest: &str) -> Option<String> {
    for prefix in ["policies/acl/", "policy/"] {
        if let Some(name) = rest.strip_prefix(prefix) {
            return Some(format!(
                "{prefix}{}",
                normalize_name(name.trim_end_matches('/'))
            ));
        }
    }
    for prefix in ["mounts/", "auth/"] {
        if let Some(mount) = rest.strip_prefix(prefix) {
            let mount = mount.trim_matches('/');
            // `<path>/tune` tunes the mount `<path>`.
            return Some(match mount.strip_suffix("/tune") {
                Some(m) => format!("{prefix}{}/tune", m.trim_matches('/')),
                None => format!("{prefix}{mount}"),
            });
        }
    }
    if let Some(device) = rest.strip_prefix("audit/") {
        return Some(format!("audit/{}", device.trim_matches('/')));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_names_are_canonical() {
        assert_eq!(
            sys("policies/acl/ Admin /").as_deref(),
            Some("policies/acl/admin")
        );
        assert_eq!(sys("policy/ADMIN").as_deref(), Some("policy/admin"));
        assert_eq!(sys("mounts//kv/").as_deref(), Some("mounts/kv"));
        assert_eq!(sys("mounts/kv/tune/").as_deref(), Some("mounts/kv/tune"));
        assert_eq!(sys("auth/up//tune").as_deref(), Some("auth/up/tune"));
        assert_eq!(sys("audit/file/").as_deref(), Some("audit/file"));
        assert_eq!(sys("seal"), None);
    }
}
