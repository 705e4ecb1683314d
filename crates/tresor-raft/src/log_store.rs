//! The Raft log and vote, in the node's `raft/raft.db` (redb). Every append and vote is durable
//! before openraft hears it is done: that is what lets the leader count this node towards a
//! quorum. Log entries hold the barrier's ciphertext only.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, RaftLogReader, StorageIOError};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::types::{decode, encode, Entry, LogId, StorageError, TypeConfig, Vote};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const VOTE: &str = "vote";
const PURGED: &str = "last_purged";
const COMMITTED: &str = "committed";

#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::read_logs(&e).into()
}

fn write_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_logs(&e).into()
}

fn join_err(e: tokio::task::JoinError) -> StorageError {
    StorageIOError::write_logs(&e).into()
}

impl LogStore {
    pub fn open(path: &Path) -> Result<Self, tresor_storage::StorageError> {
        let be = |e: redb::Error| tresor_storage::StorageError::Backend(e.to_string());
        let db = crate::open_db(path)?;
        let txn = db.begin_write().map_err(|e| be(e.into()))?;
        txn.open_table(LOG).map_err(|e| be(e.into()))?;
        txn.open_table(META).map_err(|e| be(e.into()))?;
        txn.commit().map_err(|e| be(e.into()))?;
        Ok(LogStore { db: Arc::new(db) })
    }

    fn meta<T: for<'a> serde::Deserialize<'a>>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StorageError> {
        let txn = self.db.begin_read().map_err(read_err)?;
        let table = txn.open_table(META).map_err(read_err)?;
        let Some(v) = table.get(key).map_err(read_err)? else {
            return Ok(None);
        };
        decode(v.value()).map(Some).map_err(read_err)
    }

    /// One durable write transaction, off the async threads.
    async fn write(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<(), StorageError> + Send + 'static,
    ) -> Result<(), StorageError> {
        self.write_with(redb::Durability::Immediate, f).await
    }

    async fn write_with(
        &self,
        durability: redb::Durability,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<(), StorageError> + Send + 'static,
    ) -> Result<(), StorageError> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let mut txn = db.begin_write().map_err(write_err)?;
            txn.set_durability(durability).map_err(write_err)?;
            f(&txn)?;
            txn.commit().map_err(write_err)
        })
        .await
        .map_err(join_err)?
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let txn = self.db.begin_read().map_err(read_err)?;
        let table = txn.open_table(LOG).map_err(read_err)?;
        let start = match range.start_bound() {
            Bound::Included(i) => Bound::Included(*i),
            Bound::Excluded(i) => Bound::Excluded(*i),
            Bound::Unbounded => Bound::Unbounded,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => Bound::Included(*i),
            Bound::Excluded(i) => Bound::Excluded(*i),
            Bound::Unbounded => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for item in table.range::<u64>((start, end)).map_err(read_err)? {
            let (_, v) = item.map_err(read_err)?;
            out.push(decode(v.value()).map_err(read_err)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self.meta(PURGED)?;
        let txn = self.db.begin_read().map_err(read_err)?;
        let table = txn.open_table(LOG).map_err(read_err)?;
        let last = match table.last().map_err(read_err)? {
            Some((_, v)) => Some(decode::<Entry>(v.value()).map_err(read_err)?.log_id),
            None => last_purged,
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let bytes = encode(vote);
        self.write(move |txn| {
            let mut t = txn.open_table(META).map_err(write_err)?;
            t.insert(VOTE, bytes.as_slice()).map_err(write_err)?;
            Ok(())
        })
        .await
        .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Lets a restarted node apply what it knows was committed before it hears a leader. Not
        // worth an fsync of its own: the next append's durable commit carries it.
        let bytes = encode(&committed);
        self.write_with(redb::Durability::None, move |txn| {
            let mut t = txn.open_table(META).map_err(write_err)?;
            t.insert(COMMITTED, bytes.as_slice()).map_err(write_err)?;
            Ok(())
        })
        .await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.meta::<Option<LogId>>(COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let encoded: Vec<(u64, Vec<u8>)> = entries
            .into_iter()
            .map(|e| (e.log_id.index, encode(&e)))
            .collect();
        let result = self
            .write(move |txn| {
                let mut t = txn.open_table(LOG).map_err(write_err)?;
                for (i, bytes) in &encoded {
                    t.insert(*i, bytes.as_slice()).map_err(write_err)?;
                }
                Ok(())
            })
            .await;
        match &result {
            Ok(()) => callback.log_io_completed(Ok(())),
            Err(e) => callback.log_io_completed(Err(std::io::Error::other(e.to_string()))),
        }
        result
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.write(move |txn| {
            let mut t = txn.open_table(LOG).map_err(write_err)?;
            t.retain_in::<u64, _>(log_id.index.., |_, _| false)
                .map_err(write_err)?;
            Ok(())
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // `last_purged` and the deletion in one transaction: the log never has a hole.
        let bytes = encode(&log_id);
        self.write(move |txn| {
            let mut meta = txn.open_table(META).map_err(write_err)?;
            meta.insert(PURGED, bytes.as_slice()).map_err(write_err)?;
            let mut t = txn.open_table(LOG).map_err(write_err)?;
            t.retain_in::<u64, _>(..=log_id.index, |_, _| false)
                .map_err(write_err)?;
            Ok(())
        })
        .await
    }
}
