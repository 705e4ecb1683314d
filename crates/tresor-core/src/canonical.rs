//! The one place a request's path is made canonical, before the ACL sees it.
//!
//! Handlers read names loosely, as Vault does: policy names are trimmed and lowercased, token
//! role and userpass user names lowercased, mount paths stripped of slashes. If the ACL checked
//! the path as sent, `PUT sys/policies/acl/ADMIN` would pass a `deny` on
//! `sys/policies/acl/admin` and then overwrite `admin`. So the path is rewritten here into the
//! form its handler acts on, and the ACL, the audit log and the handler all see that one form.
//! Each backend (`sys/` and the token store too) says how it reads its paths through
//! [`tresor_sdk::Backend::resolve`], from its path table.

use std::borrow::Cow;

use tresor_sdk::framework::Flags;
use tresor_sdk::Backend;

/// `path` as its handler names what it acts on (borrowed when it is already canonical), and
/// the flags of its route. `served` is the backend that serves `path` and its mount point, if
/// any.
pub(crate) fn resolve<'a>(
    path: &'a str,
    served: Option<(&dyn Backend, &str)>,
) -> (Cow<'a, str>, Flags) {
    let Some((backend, point)) = served else {
        return (Cow::Borrowed(path), Flags::default());
    };
    let rel = path.strip_prefix(point).unwrap_or("");
    let resolved = backend.resolve(rel);
    let canonical = match resolved.path {
        Cow::Borrowed(same) if same == rel => Cow::Borrowed(path),
        other => Cow::Owned(format!("{point}{other}")),
    };
    (canonical, resolved.flags)
}
