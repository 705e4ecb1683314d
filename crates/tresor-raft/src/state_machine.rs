//! The replicated key/value store each node applies the log to, in its `state.db` (redb), with
//! the last applied log id and membership in the same transactions.
//!
//! Applying is not fsynced, with one exception: a crash may lose the last applied batches
//! (never part of one; redb commits are atomic), and openraft applies them again from the log,
//! which is durable. The exception is a batch that touches `core/` (the seal configuration, the
//! root key, the keyrings, the mount tables): those are durable before openraft hears they are
//! applied, because a node reads them from this state to unseal, before its cluster runs and
//! could re-apply anything. A durable commit also persists every lazier one before it, so what
//! survives a crash is always a prefix of the log. Building a snapshot (the only thing that lets
//! the log be purged) makes the state durable first.
use std::io::Cursor;
use std::path::Path;
use std::sync::{Arc, Mutex};

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, RaftSnapshotBuilder, StorageIOError};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::types::{
    decode, encode, Command, Entry, LogId, Op, Snapshot, SnapshotMeta, StorageError,
    StoredMembership, TypeConfig,
};

pub(crate) const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("sm_meta");
const APPLIED: &str = "applied";
const MEMBERSHIP: &str = "membership";

/// The key that stands for "every key" in a change notice (a restore or an installed snapshot).
pub const ALL_KEYS: &str = "";

fn sm_read_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::read_state_machine(&e).into()
}

fn sm_write_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_state_machine(&e).into()
}

/// What a snapshot carries besides openraft's metadata.
#[derive(Serialize, Deserialize)]
pub(crate) struct SnapshotBody {
    pub entries: Vec<(String, Vec<u8>)>,
}

type Built = (SnapshotMeta, Arc<Vec<u8>>);

#[derive(Clone)]
pub struct StateMachine {
    db: Arc<Database>,
    changes: broadcast::Sender<Arc<Vec<String>>>,
    /// The last snapshot built or installed, which a lagging follower is sent.
    current: Arc<Mutex<Option<Built>>>,
}

impl StateMachine {
    pub fn open(path: &Path) -> Result<Self, tresor_storage::StorageError> {
        let be = |e: redb::Error| tresor_storage::StorageError::Backend(e.to_string());
        let db = crate::open_db(path)?;
        let txn = db.begin_write().map_err(|e| be(e.into()))?;
        txn.open_table(KV).map_err(|e| be(e.into()))?;
        txn.open_table(META).map_err(|e| be(e.into()))?;
        txn.commit().map_err(|e| be(e.into()))?;
        Ok(StateMachine {
            db: Arc::new(db),
            changes: broadcast::channel(1024).0,
            current: Arc::new(Mutex::new(None)),
        })
    }

    pub fn db(&self) -> &Arc<Database> {
        &self.db
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Vec<String>>> {
        self.changes.subscribe()
    }

    fn meta<T: for<'a> Deserialize<'a>>(&self, key: &str) -> Result<Option<T>, StorageError> {
        let txn = self.db.begin_read().map_err(sm_read_err)?;
        let t = txn.open_table(META).map_err(sm_read_err)?;
        match t.get(key).map_err(sm_read_err)? {
            Some(v) => decode(v.value()).map(Some).map_err(sm_read_err),
            None => Ok(None),
        }
    }

    /// Every entry, in key order.
    pub(crate) fn all_entries(&self) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let txn = self.db.begin_read().map_err(sm_read_err)?;
        let t = txn.open_table(KV).map_err(sm_read_err)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(sm_read_err)? {
            let (k, v) = item.map_err(sm_read_err)?;
            out.push((k.value().to_owned(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn replace_all(
        txn: &redb::WriteTransaction,
        entries: &[(String, Vec<u8>)],
    ) -> Result<(), StorageError> {
        let mut t = txn.open_table(KV).map_err(sm_write_err)?;
        t.retain(|_, _| false).map_err(sm_write_err)?;
        for (k, v) in entries {
            t.insert(k.as_str(), v.as_slice()).map_err(sm_write_err)?;
        }
        Ok(())
    }

    fn build(&self) -> Result<Snapshot, StorageError> {
        // Durable first: the log up to this point may be purged once the snapshot exists.
        let txn = self.db.begin_write().map_err(sm_write_err)?;
        txn.commit().map_err(sm_write_err)?;
        let applied: Option<LogId> = self.meta(APPLIED)?;
        let membership: StoredMembership = self.meta(MEMBERSHIP)?.unwrap_or_default();
        let body = encode(&SnapshotBody {
            entries: self.all_entries()?,
        })
        .map_err(sm_write_err)?;
        let meta = SnapshotMeta {
            last_log_id: applied,
            last_membership: membership,
            snapshot_id: match applied {
                Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, body.len()),
                None => format!("0-0-{}", body.len()),
            },
        };
        let body = Arc::new(body);
        if let Ok(mut c) = self.current.lock() {
            *c = Some((meta.clone(), Arc::clone(&body)));
        }
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new((*body).clone())),
        })
    }

    fn notify(&self, keys: Vec<String>) {
        if !keys.is_empty() {
            let _ = self.changes.send(Arc::new(keys));
        }
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.build())
            .await
            .map_err(sm_write_err)?
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((
            self.meta(APPLIED)?,
            self.meta(MEMBERSHIP)?.unwrap_or_default(),
        ))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let db = Arc::clone(&self.db);
        let (replies, changed) = tokio::task::spawn_blocking(move || {
            let mut txn = db.begin_write().map_err(sm_write_err)?;
            if !entries.iter().any(needs_durability) {
                txn.set_durability(redb::Durability::None)
                    .map_err(sm_write_err)?;
            }
            let mut changed = Vec::new();
            let mut last = None;
            let mut membership = None;
            for e in &entries {
                last = Some(e.log_id);
                match &e.payload {
                    EntryPayload::Blank => {}
                    EntryPayload::Normal(Command::Batch(ops)) => {
                        let mut t = txn.open_table(KV).map_err(sm_write_err)?;
                        for op in ops {
                            match op {
                                Op::Put(k, v) => {
                                    t.insert(k.as_str(), v.as_slice()).map_err(sm_write_err)?;
                                    changed.push(k.clone());
                                }
                                Op::Delete(k) => {
                                    t.remove(k.as_str()).map_err(sm_write_err)?;
                                    changed.push(k.clone());
                                }
                            }
                        }
                    }
                    EntryPayload::Normal(Command::Restore(all)) => {
                        Self::replace_all(&txn, all)?;
                        changed = vec![ALL_KEYS.to_owned()];
                    }
                    EntryPayload::Membership(m) => {
                        membership = Some(StoredMembership::new(Some(e.log_id), m.clone()));
                    }
                }
            }
            {
                let mut meta = txn.open_table(META).map_err(sm_write_err)?;
                if let Some(l) = last {
                    meta.insert(APPLIED, encode(&l).map_err(sm_write_err)?.as_slice())
                        .map_err(sm_write_err)?;
                }
                if let Some(m) = membership {
                    meta.insert(MEMBERSHIP, encode(&m).map_err(sm_write_err)?.as_slice())
                        .map_err(sm_write_err)?;
                }
            }
            txn.commit().map_err(sm_write_err)?;
            Ok::<_, StorageError>((vec![(); entries.len()], changed))
        })
        .await
        .map_err(sm_write_err)??;
        self.notify(changed);
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let body: SnapshotBody = decode(&bytes).map_err(sm_read_err)?;
        let db = Arc::clone(&self.db);
        let m = meta.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_write().map_err(sm_write_err)?;
            Self::replace_all(&txn, &body.entries)?;
            {
                let mut t = txn.open_table(META).map_err(sm_write_err)?;
                t.retain(|_, _| false).map_err(sm_write_err)?;
                if let Some(l) = m.last_log_id {
                    t.insert(APPLIED, encode(&l).map_err(sm_write_err)?.as_slice())
                        .map_err(sm_write_err)?;
                }
                t.insert(
                    MEMBERSHIP,
                    encode(&m.last_membership).map_err(sm_write_err)?.as_slice(),
                )
                .map_err(sm_write_err)?;
            }
            txn.commit().map_err(sm_write_err)
        })
        .await
        .map_err(sm_write_err)??;
        if let Ok(mut c) = self.current.lock() {
            *c = Some((meta.clone(), Arc::new(bytes)));
        }
        self.notify(vec![ALL_KEYS.to_owned()]);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let cached = self.current.lock().ok().and_then(|c| c.clone());
        match cached {
            Some((meta, body)) => Ok(Some(Snapshot {
                meta,
                snapshot: Box::new(Cursor::new((*body).clone())),
            })),
            None => Ok(None),
        }
    }
}

/// Whether applying `e` must reach the disk before openraft hears of it: what a node needs to
/// unseal lives under `core/`, and a restore or a membership change is rare enough to pay for.
fn needs_durability(e: &Entry) -> bool {
    match &e.payload {
        EntryPayload::Blank => false,
        EntryPayload::Membership(_) => true,
        EntryPayload::Normal(Command::Restore(_)) => true,
        EntryPayload::Normal(Command::Batch(ops)) => ops.iter().any(|op| match op {
            Op::Put(k, _) | Op::Delete(k) => k.starts_with("core/"),
        }),
    }
}

/// Reads of the applied state, for the `Storage` trait: never through Raft, always local.
pub(crate) fn get(db: &Database, key: &str) -> Result<Option<Vec<u8>>, redb::Error> {
    let txn = db.begin_read()?;
    let t = txn.open_table(KV)?;
    Ok(t.get(key)?.map(|v| v.value().to_vec()))
}

pub(crate) fn keys_under(db: &Database, prefix: &str) -> Result<Vec<String>, redb::Error> {
    let txn = db.begin_read()?;
    let t = txn.open_table(KV)?;
    let mut keys = Vec::new();
    for item in t.range(prefix..)? {
        let (k, _) = item?;
        let k = k.value();
        if !k.starts_with(prefix) {
            break;
        }
        keys.push(k.to_owned());
    }
    Ok(keys)
}
