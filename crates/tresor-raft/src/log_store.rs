//! The Raft log and vote, in the node's `raft/raft.db` (redb). Log entries hold the barrier's
//! ciphertext only.
//!
//! Every append and vote is durable before openraft hears it is done: that is what lets the
//! leader count this node towards a quorum. Appends do not wait for the disk, though: `append`
//! puts the entries where readers find them (`unflushed`) and queues them for one writer thread,
//! which drains everything queued into a single transaction and a single fsync (group commit),
//! then reports each append flushed. Without that, openraft would hand the log one entry at a
//! time and every write of the cluster would wait for the previous one's fsync.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, RaftLogReader, StorageIOError};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

use crate::types::{decode, encode, Entry, LogId, StorageError, TypeConfig, Vote};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const VOTE: &str = "vote";
const PURGED: &str = "last_purged";
const COMMITTED: &str = "committed";

/// One change for the writer thread, applied in the order queued.
enum Op {
    Append {
        entries: Vec<(LogId, Vec<u8>)>,
        flushed: LogFlushed<TypeConfig>,
    },
    Meta {
        key: &'static str,
        value: Vec<u8>,
        /// Told once durable; `None` for a change that may wait for the next fsync.
        done: Option<oneshot::Sender<Result<(), String>>>,
    },
    /// Removes entries from `from` on.
    Truncate {
        from: u64,
        done: oneshot::Sender<Result<(), String>>,
    },
    /// Removes entries up to `upto` and records it as the last purged.
    Purge {
        upto: LogId,
        done: oneshot::Sender<Result<(), String>>,
    },
}

/// Entries appended but not yet in redb, by index: what readers see before the writer is done.
type Unflushed = Arc<Mutex<BTreeMap<u64, Entry>>>;

#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
    unflushed: Unflushed,
    writer: Arc<Writer>,
}

/// The writer thread's queue; the last `LogStore` dropped closes it and waits for the thread,
/// which releases the database file before a reopen in the same process.
struct Writer {
    queue: Mutex<Option<std_mpsc::Sender<Op>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::read_logs(&e).into()
}

fn write_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_logs(&std::io::Error::other(e.to_string())).into()
}

fn lock(u: &Unflushed) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
    u.lock().unwrap_or_else(|e| e.into_inner())
}

impl LogStore {
    pub fn open(path: &Path) -> Result<Self, tresor_storage::StorageError> {
        let be = |e: redb::Error| tresor_storage::StorageError::Backend(e.to_string());
        let db = crate::open_db(path)?;
        let txn = db.begin_write().map_err(|e| be(e.into()))?;
        txn.open_table(LOG).map_err(|e| be(e.into()))?;
        txn.open_table(META).map_err(|e| be(e.into()))?;
        txn.commit().map_err(|e| be(e.into()))?;
        let db = Arc::new(db);
        let unflushed: Unflushed = Arc::default();
        let (tx, rx) = std_mpsc::channel();
        let (writer_db, writer_unflushed) = (Arc::clone(&db), Arc::clone(&unflushed));
        let thread = std::thread::Builder::new()
            .name("tresor-raft-log".into())
            .spawn(move || write_loop(&writer_db, &writer_unflushed, rx))
            .map_err(|e| tresor_storage::StorageError::Backend(e.to_string()))?;
        Ok(LogStore {
            db,
            unflushed,
            writer: Arc::new(Writer {
                queue: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
            }),
        })
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

    fn queue(&self, op: Op) -> Result<(), StorageError> {
        self.writer
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .ok_or_else(|| write_err("the raft log writer has stopped"))?
            .send(op)
            .map_err(|_| write_err("the raft log writer has stopped"))
    }

    /// Queues `op` and waits until the writer made it durable.
    async fn queue_and_wait(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<(), String>>) -> Op,
    ) -> Result<(), StorageError> {
        let (tx, rx) = oneshot::channel();
        self.queue(op(tx))?;
        rx.await
            .map_err(|_| write_err("the raft log writer has stopped"))?
            .map_err(write_err)
    }
}

/// The writer thread: each round takes everything queued, applies it in order in one
/// transaction, commits once (durably if anything asked for it), then tells everyone.
fn write_loop(db: &Database, unflushed: &Unflushed, rx: std_mpsc::Receiver<Op>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while let Ok(next) = rx.try_recv() {
            group.push(next);
        }
        let durable = group
            .iter()
            .any(|op| !matches!(op, Op::Meta { done: None, .. }));
        let outcome = commit(db, &group, durable).map_err(|e| e.to_string());
        let mut written: Vec<(u64, LogId)> = Vec::new();
        for op in group {
            match op {
                Op::Append { entries, flushed } => match &outcome {
                    Ok(()) => {
                        written.extend(entries.iter().map(|(id, _)| (id.index, *id)));
                        flushed.log_io_completed(Ok(()));
                    }
                    Err(e) => flushed.log_io_completed(Err(std::io::Error::other(e.clone()))),
                },
                Op::Meta { done, .. } => {
                    if let Some(d) = done {
                        let _ = d.send(outcome.clone());
                    }
                }
                Op::Truncate { done, .. } | Op::Purge { done, .. } => {
                    let _ = done.send(outcome.clone());
                }
            }
        }
        // What is in redb now need not be kept in memory too (unless a later append replaced
        // it in the meantime: then the newer one stays).
        let mut pending = lock(unflushed);
        for (i, id) in written {
            if pending.get(&i).is_some_and(|e| e.log_id == id) {
                pending.remove(&i);
            }
        }
    }
}

fn commit(db: &Database, group: &[Op], durable: bool) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    if !durable {
        txn.set_durability(redb::Durability::None)
            .map_err(|e| redb::Error::Corrupted(e.to_string()))?;
    }
    {
        let mut log = txn.open_table(LOG)?;
        let mut meta = txn.open_table(META)?;
        for op in group {
            match op {
                Op::Append { entries, .. } => {
                    for (id, bytes) in entries {
                        log.insert(id.index, bytes.as_slice())?;
                    }
                }
                Op::Meta { key, value, .. } => {
                    meta.insert(*key, value.as_slice())?;
                }
                Op::Truncate { from, .. } => {
                    log.retain_in::<u64, _>(*from.., |_, _| false)?;
                }
                // `last_purged` and the deletion in one transaction: the log never has a hole.
                Op::Purge { upto, .. } => {
                    let bytes = encode(upto).map_err(|e| redb::Error::Corrupted(e.to_string()))?;
                    meta.insert(PURGED, bytes.as_slice())?;
                    log.retain_in::<u64, _>(..=upto.index, |_, _| false)?;
                }
            }
        }
    }
    txn.commit()?;
    Ok(())
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
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
        // redb first, then what is still on its way there (which wins: it is newer).
        let mut out: BTreeMap<u64, Entry> = BTreeMap::new();
        {
            let txn = self.db.begin_read().map_err(read_err)?;
            let table = txn.open_table(LOG).map_err(read_err)?;
            for item in table.range::<u64>((start, end)).map_err(read_err)? {
                let (k, v) = item.map_err(read_err)?;
                out.insert(k.value(), decode(v.value()).map_err(read_err)?);
            }
        }
        for (i, e) in lock(&self.unflushed).range((start, end)) {
            out.insert(*i, e.clone());
        }
        Ok(out.into_values().collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self.meta(PURGED)?;
        let in_memory = lock(&self.unflushed)
            .last_key_value()
            .map(|(_, e)| e.log_id);
        let stored = {
            let txn = self.db.begin_read().map_err(read_err)?;
            let table = txn.open_table(LOG).map_err(read_err)?;
            let last = match table.last().map_err(read_err)? {
                Some((_, v)) => Some(decode::<Entry>(v.value()).map_err(read_err)?.log_id),
                None => None,
            };
            last
        };
        let last = match (in_memory, stored) {
            (Some(m), Some(s)) => Some(if m.index >= s.index { m } else { s }),
            (m, s) => m.or(s).or(last_purged),
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
        let value = encode(vote).map_err(write_err)?;
        self.queue_and_wait(|done| Op::Meta {
            key: VOTE,
            value,
            done: Some(done),
        })
        .await
        .map_err(|e| StorageIOError::write_vote(&std::io::Error::other(e.to_string())).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Lets a restarted node apply what it knows was committed before it hears a leader. Not
        // worth an fsync of its own: the next append's durable commit carries it.
        self.queue(Op::Meta {
            key: COMMITTED,
            value: encode(&committed).map_err(write_err)?,
            done: None,
        })
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
        let entries: Vec<Entry> = entries.into_iter().collect();
        let encoded = entries
            .iter()
            .map(|e| encode(e).map(|bytes| (e.log_id, bytes)))
            .collect::<Result<_, _>>()
            .map_err(write_err)?;
        // Readable from now on; durable when the callback says so.
        {
            let mut pending = lock(&self.unflushed);
            for e in entries {
                pending.insert(e.log_id.index, e);
            }
        }
        self.queue(Op::Append {
            entries: encoded,
            flushed: callback,
        })
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        lock(&self.unflushed).retain(|i, _| *i < log_id.index);
        self.queue_and_wait(|done| Op::Truncate {
            from: log_id.index,
            done,
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        lock(&self.unflushed).retain(|i, _| *i > log_id.index);
        self.queue_and_wait(|done| Op::Purge { upto: log_id, done })
            .await
    }
}
