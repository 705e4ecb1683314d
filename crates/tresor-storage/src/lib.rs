//! The bottom layer: a plain, ordered key/value store of opaque bytes.
//!
//! **Invariant:** nothing here ever sees plaintext. The barrier above encrypts every value (the
//! seal's own header excepted) before it reaches a [`Storage`]. Backends plug in behind the one
//! trait and nothing above it can tell which one is running.

pub mod cluster;
mod file;
mod inmem;

use async_trait::async_trait;

pub use file::{open_private_db, FileStorage};
pub use inmem::InmemStorage;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage backend error: {0}")]
    Backend(String),
    #[error("storage is closed")]
    Closed,
    /// A write on a node that is not the active one (a Raft follower, or a node whose cluster is
    /// not running): the request belongs to the active node.
    #[error("cannot write to a read-only storage: this node is not the active node")]
    ReadOnly,
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// One write in an atomic batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    Put(String, Vec<u8>),
    Delete(String),
}

/// The storage contract. Keys are `/`-separated paths; `list` answers Vault's way: the immediate
/// children of `prefix` in byte order, each deeper level collapsed into one `name/` entry.
/// `batch` applies all of its operations or none, and is durable when it returns.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    async fn list(&self, prefix: &str) -> Result<Vec<String>>;
    async fn batch(&self, ops: Vec<BatchOp>) -> Result<()>;

    async fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.batch(vec![BatchOp::Put(key.to_owned(), value.to_vec())])
            .await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.batch(vec![BatchOp::Delete(key.to_owned())]).await
    }

    /// The name shown by `sys/seal-status` (`storage_type`).
    fn kind(&self) -> &'static str;

    /// The replication control of a backend shared by several servers (Raft), `None` for a
    /// backend only this process uses.
    fn cluster(&self) -> Option<&dyn cluster::Cluster> {
        None
    }
}

/// Folds full keys under `prefix` (in order) into Vault's list answer.
pub fn fold_children<'a>(prefix: &str, keys: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for key in keys {
        let Some(rest) = key.strip_prefix(prefix) else {
            continue;
        };
        let child = match rest.find('/') {
            Some(i) => &rest[..=i],
            None => rest,
        };
        if child.is_empty() {
            continue;
        }
        if out.last().map(String::as_str) != Some(child) {
            out.push(child.to_owned());
        }
    }
    out
}

#[doc(hidden)]
pub mod contract {
    //! The behaviour every backend must share; each backend's tests (in this crate and in the
    //! crates of the heavier backends) run it.
    use super::*;

    #[allow(clippy::missing_panics_doc)]
    pub async fn check(s: &dyn Storage) {
        assert_eq!(s.get("a").await.unwrap(), None);
        s.put("a", b"1").await.unwrap();
        s.put("dir/b", b"2").await.unwrap();
        s.put("dir/c/d", b"3").await.unwrap();
        s.put("dir/c/e", b"4").await.unwrap();
        s.put("dir0", b"5").await.unwrap();
        assert_eq!(s.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(s.list("").await.unwrap(), vec!["a", "dir/", "dir0"]);
        assert_eq!(s.list("dir/").await.unwrap(), vec!["b", "c/"]);
        assert_eq!(s.list("dir/c/").await.unwrap(), vec!["d", "e"]);
        assert!(s.list("nothing/").await.unwrap().is_empty());
        s.batch(vec![
            BatchOp::Delete("a".into()),
            BatchOp::Put("z".into(), b"6".to_vec()),
        ])
        .await
        .unwrap();
        assert_eq!(s.get("a").await.unwrap(), None);
        assert_eq!(s.get("z").await.unwrap().as_deref(), Some(&b"6"[..]));
        s.delete("missing").await.unwrap();
    }
}
