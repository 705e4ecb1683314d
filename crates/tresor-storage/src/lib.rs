//! The bottom layer: a plain, ordered key/value store of opaque bytes.
//!
//! **Invariant:** nothing here ever sees plaintext. The barrier above encrypts every value (the
//! seal's own header excepted) before it reaches a [`Storage`]. Backends plug in behind the one
//! trait and nothing above it can tell which one is running.

mod file;
mod inmem;

use async_trait::async_trait;

pub use file::FileStorage;
pub use inmem::InmemStorage;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage backend error: {0}")]
    Backend(String),
    #[error("storage is closed")]
    Closed,
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
}

/// Folds full keys under `prefix` (in order) into Vault's list answer.
pub(crate) fn fold_children<'a>(prefix: &str, keys: impl Iterator<Item = &'a str>) -> Vec<String> {
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

#[cfg(test)]
pub(crate) mod contract {
    //! The behaviour every backend must share, run against each of them.
    use super::*;

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
