//! Decoded token entries kept in memory, so that the token check of every request does not
//! decrypt and parse the same entry again.
//!
//! The store writes through: every change of an entry (create, save, delete) goes to storage
//! first and then here, under the cache's lock. A reader that missed fills the cache only if no
//! change happened since it began its storage read (the `epoch`); otherwise the entry it read
//! may already be stale (a token revoked in between) and it is not kept. So the cache never
//! holds an entry older than storage's, and a revoked token is never found here.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::TokenEntry;

/// Enough for every live service token of a large deployment; beyond it, entries are evicted
/// and read from storage again.
const CAPACITY: usize = 50_000;

#[derive(Default)]
pub struct EntryCache {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    epoch: u64,
    entries: HashMap<String, Arc<TokenEntry>>,
}

/// Where a reader's storage read began, for [`EntryCache::fill`].
#[derive(Clone, Copy)]
pub struct Epoch(u64);

impl EntryCache {
    pub fn get(&self, id_hash: &str) -> Option<Arc<TokenEntry>> {
        self.read().entries.get(id_hash).cloned()
    }

    /// Taken before reading storage after a miss.
    pub fn epoch(&self) -> Epoch {
        Epoch(self.read().epoch)
    }

    /// Keeps what a reader found in storage, unless a change came in since `since`.
    pub fn fill(&self, since: Epoch, entry: &TokenEntry) {
        let mut inner = self.write();
        if inner.epoch == since.0 {
            inner.insert(entry.clone());
        }
    }

    /// After a write of `entry` to storage.
    pub fn saved(&self, entry: &TokenEntry) {
        let mut inner = self.write();
        inner.epoch += 1;
        inner.insert(entry.clone());
    }

    /// After a delete from storage.
    pub fn removed(&self, id_hash: &str) {
        let mut inner = self.write();
        inner.epoch += 1;
        inner.entries.remove(id_hash);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    fn insert(&mut self, entry: TokenEntry) {
        if self.entries.len() >= CAPACITY && !self.entries.contains_key(&entry.id_hash) {
            // Any victim will do: a miss costs one storage read, not correctness.
            if let Some(victim) = self.entries.keys().next().cloned() {
                self.entries.remove(&victim);
            }
        }
        self.entries.insert(entry.id_hash.clone(), Arc::new(entry));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(hash: &str, uses: i64) -> TokenEntry {
        serde_json::from_value(serde_json::json!({
            "id_hash": hash, "accessor": "a", "parent": null, "policies": [], "meta": {},
            "display_name": "", "path": "auth/token/create", "num_uses": uses,
            "creation_time": 0, "creation_ttl": 0, "explicit_max_ttl": 0, "period": 0,
            "renewable": false, "expire_at_ms": null, "token_type": "service",
            "bound_cidrs": [], "role": null
        }))
        .unwrap()
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let c = EntryCache::default();
        let before = c.epoch();
        c.removed("h"); // the token was revoked while the reader was reading storage
        c.fill(before, &entry("h", 0));
        assert!(c.get("h").is_none());
        let now = c.epoch();
        c.fill(now, &entry("h", 0));
        assert!(c.get("h").is_some());
    }

    #[test]
    fn writes_replace_and_deletes_remove() {
        let c = EntryCache::default();
        c.saved(&entry("h", 3));
        c.saved(&entry("h", 2));
        assert_eq!(c.get("h").unwrap().num_uses, 2);
        c.removed("h");
        assert!(c.get("h").is_none());
    }

    #[test]
    fn stays_within_capacity() {
        let c = EntryCache::default();
        for i in 0..CAPACITY + 10 {
            c.saved(&entry(&format!("h{i}"), 0));
        }
        assert_eq!(c.read().entries.len(), CAPACITY);
        assert!(c.get(&format!("h{}", CAPACITY + 9)).is_some());
    }
}
