use async_trait::async_trait;

use crate::{Request, Response, Result};

/// A mount's private slice of the encrypted store. Keys are relative to the mount; values are
/// plaintext here because the barrier below encrypts them. `list` answers Vault's way: the
/// immediate children of `prefix`, sub-folders with a trailing `/`, in order.
#[async_trait]
pub trait StorageView: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    async fn put(&self, key: &str, value: &[u8]) -> Result<()>;
    async fn delete(&self, key: &str) -> Result<()>;
    async fn list(&self, prefix: &str) -> Result<Vec<String>>;
    /// Applies every write or none: `Some(value)` puts, `None` deletes.
    async fn batch(&self, ops: Vec<(String, Option<Vec<u8>>)>) -> Result<()>;
}

/// A path as a backend serves it (see [`Backend::resolve`]).
#[derive(Debug, Clone)]
pub struct Resolved<'a> {
    /// The canonical name of what the path acts on.
    pub path: std::borrow::Cow<'a, str>,
    /// A login (answered without a client token, with a [`crate::LoginAuth`] the core turns
    /// into a token), root-protected (`sudo`), open to any valid token, ….
    pub flags: crate::framework::Flags,
}

/// Every secrets engine and auth method. `handle` answers `Ok(None)` when there is nothing to
/// return (HTTP 204, or 404 for a read).
#[async_trait]
pub trait Backend: Send + Sync {
    /// Runs once when the mount comes up (mount, unseal, tune): a place for upgrades of the
    /// backend's own storage layout.
    async fn initialize(&self, _view: &dyn StorageView) -> Result<()> {
        Ok(())
    }

    async fn handle(&self, req: &Request, view: &dyn StorageView) -> Result<Option<Response>>;

    /// Whether something exists at the request's path, so that the core can tell `create` from
    /// `update` for the ACL. `None`: the path makes no such distinction (always `update`).
    async fn exists(&self, _req: &Request, _view: &dyn StorageView) -> Result<Option<bool>> {
        Ok(None)
    }

    /// How this backend serves `path` (relative to the mount): the name it acts on, and how
    /// the path is reached. One call, as it runs for every request.
    ///
    /// The name: a backend that reads `users/CAROL/` as the user `carol` says so here. The core
    /// asks before the ACL, and both the ACL and `handle` then see this form, so a policy on the
    /// canonical name cannot be stepped around by spelling it differently. Not used for lists,
    /// whose trailing `/` names a directory.
    fn resolve<'a>(&self, path: &'a str) -> Resolved<'a> {
        Resolved {
            path: std::borrow::Cow::Borrowed(path),
            flags: crate::framework::Flags::default(),
        }
    }

    /// How `path` is reached (see [`Backend::resolve`]).
    fn flags(&self, path: &str) -> crate::framework::Flags {
        self.resolve(path).flags
    }

    /// Revokes a secret this backend handed out with a lease. `req.data` holds the lease's
    /// `internal` data, `req.path` the path the secret was read from. Called on expiry and on
    /// `sys/leases/revoke`; an error is retried with backoff.
    async fn revoke(&self, _req: &Request, _view: &dyn StorageView) -> Result<()> {
        Ok(())
    }

    /// Extends a leased secret (e.g. `VALID UNTIL` of a database user). `req.data` holds the
    /// lease's `internal` data and `increment` (seconds, 0 for the lease's own TTL). The core
    /// decides the new TTL; the backend only says whether it agrees.
    async fn renew(&self, _req: &Request, _view: &dyn StorageView) -> Result<()> {
        Err(crate::Error::invalid("lease is not renewable"))
    }

    /// Background work of the mount (rotating static database passwords), called by the core
    /// about once a second while unsealed. An error is logged and the call repeated next time.
    async fn periodic(&self, _view: &dyn StorageView) -> Result<()> {
        Ok(())
    }

    /// In a cluster, a replicated write changed `key` (relative to the mount) underneath this
    /// node: whatever the backend keeps in memory about it is stale. An empty key means any
    /// key may have changed.
    async fn invalidate(&self, _key: &str) {}

    /// The text of `vault path-help` for `path` (relative to the mount): the matching route's
    /// help, or what the backend is and its paths (for the mount itself).
    fn help(&self, _path: &str) -> String {
        "## DESCRIPTION\n\nNo help is available for this backend.\n".into()
    }

    /// The backend's entries of the OpenAPI document's `paths`, mounted at `mount`.
    fn openapi(&self, _mount: &str) -> crate::Map {
        crate::Map::new()
    }
}

/// Help text in Vault's layout: a description, then each path pattern with what it does.
pub fn help_text(description: &str, paths: &[(&str, &str)]) -> String {
    let mut s = format!(
        "## DESCRIPTION\n\n{}\n\n## PATHS\n\nThe following paths are supported by this backend. To view help for\nany of the paths below, use the help command with any route matching\nthe path pattern. Note that depending on the policy of your auth token,\nyou may or may not be able to access certain paths.\n",
        description.trim()
    );
    for (pattern, what) in paths {
        s.push_str(&format!("\n    {pattern}\n        {what}\n"));
    }
    s
}
