//! The embedded default: one crash-safe redb database file.
//!
//! Reads run on the caller's thread (redb's MVCC readers never block). Writes go to one writer
//! thread that drains every batch waiting in its queue into a single transaction, so concurrent
//! writers share one fsync (group commit) and each still returns only once its batch is durable.

use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, TableDefinition};
use tokio::sync::oneshot;

use crate::{fold_children, BatchOp, Result, Storage, StorageError};

const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("tresor");
const FILE_NAME: &str = "tresor.db";
/// redb's own page cache (its default is 1 GiB). Pages beyond it are read through the kernel's
/// page cache, which costs a system call but no resident memory of ours; 32 MiB holds the hot
/// part of a store of some 20,000 secrets.
const CACHE_BYTES: usize = 32 * 1024 * 1024;

type Reply = oneshot::Sender<Result<()>>;

pub struct FileStorage {
    db: Arc<Database>,
    // Both are `Option` only so that `Drop` can close the queue and wait for the writer, which
    // releases the database file before a reopen in the same process.
    writer: Option<std_mpsc::Sender<(Vec<BatchOp>, Reply)>>,
    writer_thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for FileStorage {
    fn drop(&mut self) {
        self.writer.take();
        if let Some(t) = self.writer_thread.take() {
            let _ = t.join();
        }
    }
}

fn backend_err(e: impl std::fmt::Display) -> StorageError {
    StorageError::Backend(e.to_string())
}

/// Opens (or creates) a redb database at `path`, its directory created if needed. Only
/// ciphertext is in these files, but nobody else has any business reading them either: the
/// directory and the file are made private from the start, never widened by a umask in between.
pub fn open_private_db(path: &Path) -> Result<Database> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| backend_err(format!("creating {}: {e}", dir.display())))?;
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .and_then(|_| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)))
        .map_err(|e| backend_err(format!("securing {}: {e}", path.display())))?;
    Database::builder()
        .set_cache_size(CACHE_BYTES)
        .create(path)
        .map_err(|e| backend_err(format!("opening {}: {e}", path.display())))
}

impl FileStorage {
    /// Opens (or creates) the database in the directory `dir`, creating the directory if needed.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let db = open_private_db(&dir.as_ref().join(FILE_NAME))?;
        let txn = db.begin_write().map_err(backend_err)?;
        txn.open_table(TABLE).map_err(backend_err)?;
        txn.commit().map_err(backend_err)?;
        let db = Arc::new(db);
        let (tx, rx) = std_mpsc::channel();
        let writer_db = Arc::clone(&db);
        let thread = std::thread::Builder::new()
            .name("tresor-storage-writer".into())
            .spawn(move || write_loop(&writer_db, rx))
            .map_err(backend_err)?;
        Ok(FileStorage {
            db,
            writer: Some(tx),
            writer_thread: Some(thread),
        })
    }

    fn read<T>(&self, f: impl FnOnce(&redb::ReadOnlyTable<&str, &[u8]>) -> Result<T>) -> Result<T> {
        let txn = self.db.begin_read().map_err(backend_err)?;
        let table = txn.open_table(TABLE).map_err(backend_err)?;
        f(&table)
    }
}

fn write_loop(db: &Database, rx: std_mpsc::Receiver<(Vec<BatchOp>, Reply)>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while let Ok(next) = rx.try_recv() {
            group.push(next);
        }
        let outcome = commit_group(db, group.iter().flat_map(|(ops, _)| ops.iter()));
        for (_, reply) in group {
            let _ = reply.send(outcome.as_ref().map(|_| ()).map_err(backend_err));
        }
    }
}

fn commit_group<'a>(db: &Database, ops: impl Iterator<Item = &'a BatchOp>) -> Result<()> {
    let txn = db.begin_write().map_err(backend_err)?;
    {
        let mut table = txn.open_table(TABLE).map_err(backend_err)?;
        for op in ops {
            match op {
                BatchOp::Put(k, v) => {
                    table
                        .insert(k.as_str(), v.as_slice())
                        .map_err(backend_err)?;
                }
                BatchOp::Delete(k) => {
                    table.remove(k.as_str()).map_err(backend_err)?;
                }
            }
        }
    }
    txn.commit().map_err(backend_err)
}

#[async_trait]
impl Storage for FileStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.read(|t| Ok(t.get(key).map_err(backend_err)?.map(|v| v.value().to_vec())))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.read(|t| {
            let mut keys = Vec::new();
            for entry in t.range(prefix..).map_err(backend_err)? {
                let (k, _) = entry.map_err(backend_err)?;
                let k = k.value();
                if !k.starts_with(prefix) {
                    break;
                }
                keys.push(k.to_owned());
            }
            Ok(fold_children(prefix, keys.iter().map(String::as_str)))
        })
    }

    async fn batch(&self, ops: Vec<BatchOp>) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.writer
            .as_ref()
            .ok_or(StorageError::Closed)?
            .send((ops, tx))
            .map_err(|_| StorageError::Closed)?;
        rx.await.map_err(|_| StorageError::Closed)?
    }

    fn kind(&self) -> &'static str {
        "file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn meets_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        crate::contract::check(&FileStorage::open(dir.path()).unwrap()).await;
    }

    #[tokio::test]
    async fn file_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let _s = FileStorage::open(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let fresh = dir.path().join("new/sub");
        drop(FileStorage::open(&fresh).unwrap());
        let dir_mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700, "the storage directory is private");
    }

    #[tokio::test]
    async fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = FileStorage::open(dir.path()).unwrap();
            s.put("k", b"v").await.unwrap();
        }
        let s = FileStorage::open(dir.path()).unwrap();
        assert_eq!(s.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(FileStorage::open(dir.path()).unwrap());
        let mut tasks = Vec::new();
        for i in 0..64 {
            let s = Arc::clone(&s);
            tasks.push(tokio::spawn(async move {
                s.put(&format!("k/{i:03}"), i.to_string().as_bytes()).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(s.list("k/").await.unwrap().len(), 64);
    }
}
