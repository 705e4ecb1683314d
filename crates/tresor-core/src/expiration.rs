//! Leases and their expiry. Every token with a TTL, and every secret a backend hands out with a
//! lease, has an entry at `sys/expire/id/<lease id>`; a lease owned by a token is indexed at
//! `sys/expire/token/<token hash>/<lease hash>` so that revoking the token revokes it.
//!
//! The manager keeps an in-memory queue ordered by expiry; the core's expiry task takes what is
//! due and revokes it through a [`Revoker`] (the token store, or the backend that made the
//! secret). A revocation that fails is retried with exponential backoff, up to five minutes
//! apart. At unseal the queue is rebuilt in the background from storage, so unsealing does not
//! wait for it; until then, leases still expire (the task simply starts later).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tresor_sdk::Map;

use crate::barrier::{Barrier, PlainOp};
use crate::crypto;
use crate::error::CoreError;

const ID_PREFIX: &str = "sys/expire/id/";
const TOKEN_PREFIX: &str = "sys/expire/token/";
const MAX_BACKOFF_SECS: i64 = 300;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LeaseKind {
    /// The lease of a token with a TTL: expiry revokes the token (and its children).
    Token { id_hash: String },
    /// A secret from the backend mounted at `mount`, revoked through it.
    Secret {
        mount: String,
        internal: Map,
        /// The longest the lease may live from its issue, in seconds (0: no limit of its own).
        max_ttl: u64,
        /// The TTL it was issued with, used when renewed without an increment.
        ttl: u64,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeaseEntry {
    pub lease_id: String,
    /// The request path that created it.
    pub path: String,
    /// The token whose revocation revokes this lease.
    pub owner: Option<String>,
    pub kind: LeaseKind,
    pub issue_ms: i64,
    pub expire_ms: i64,
    pub last_renewal_ms: Option<i64>,
    pub renewable: bool,
    #[serde(default)]
    pub revoke_attempts: u32,
}

impl LeaseEntry {
    pub fn ttl_left(&self, now: i64) -> u64 {
        ((self.expire_ms - now).max(0) as u64 + 500) / 1000
    }
}

/// Whoever can revoke what a lease stands for.
#[async_trait::async_trait]
pub trait Revoker: Send + Sync {
    async fn revoke(&self, lease: &LeaseEntry) -> Result<(), CoreError>;
}

#[derive(Default)]
struct Queue {
    by_time: BTreeSet<(i64, String)>,
    by_id: HashMap<String, i64>,
}

pub struct ExpirationManager {
    barrier: Arc<Barrier>,
    queue: Mutex<Queue>,
    /// Woken when something is scheduled earlier than what the expiry task waits for.
    pub wake: Notify,
}

fn lease_hash(id: &str) -> String {
    tresor_sdk::ids::hex(&crypto::hmac_sha256(b"tresor-lease-index", id.as_bytes()))
}

/// A random lease id under `path`, as Vault makes them (`database/creds/app/<24 chars>`).
pub fn new_lease_id(path: &str) -> Result<String, CoreError> {
    Ok(format!(
        "{}/{}",
        path.trim_end_matches('/'),
        crate::tokens::random_base62(24)?
    ))
}

impl ExpirationManager {
    pub fn new(barrier: Arc<Barrier>) -> ExpirationManager {
        ExpirationManager {
            barrier,
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
        }
    }

    /// The core's clock, by which leases fall due.
    pub fn clock(&self) -> &tresor_sdk::Clock {
        self.barrier.clock()
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The storage writes that record `lease` (to be batched with whatever creates it).
    pub fn write_ops(&self, lease: &LeaseEntry) -> Result<Vec<PlainOp>, CoreError> {
        let mut ops = vec![(
            format!("{ID_PREFIX}{}", lease.lease_id),
            Some(serde_json::to_vec(lease).map_err(CoreError::internal)?),
        )];
        if let Some(owner) = &lease.owner {
            ops.push((
                format!("{TOKEN_PREFIX}{owner}/{}", lease_hash(&lease.lease_id)),
                Some(lease.lease_id.as_bytes().to_vec()),
            ));
        }
        Ok(ops)
    }

    /// Puts `lease` in the queue (after its entry is stored).
    pub fn track(&self, lease: &LeaseEntry) {
        let earliest_before = {
            let mut q = self.queue();
            let before = q.by_time.first().map(|(t, _)| *t);
            if let Some(old) = q.by_id.insert(lease.lease_id.clone(), lease.expire_ms) {
                q.by_time.remove(&(old, lease.lease_id.clone()));
            }
            q.by_time.insert((lease.expire_ms, lease.lease_id.clone()));
            before
        };
        if earliest_before.is_none_or(|t| lease.expire_ms < t) {
            self.wake.notify_one();
        }
    }

    fn untrack(&self, lease_id: &str) {
        let mut q = self.queue();
        if let Some(t) = q.by_id.remove(lease_id) {
            q.by_time.remove(&(t, lease_id.to_owned()));
        }
    }

    pub async fn register(&self, lease: &LeaseEntry) -> Result<(), CoreError> {
        self.barrier.batch(self.write_ops(lease)?).await?;
        self.track(lease);
        Ok(())
    }

    pub async fn get(&self, lease_id: &str) -> Result<Option<LeaseEntry>, CoreError> {
        if lease_id.is_empty() || lease_id.contains("..") {
            return Ok(None);
        }
        self.barrier
            .get_json(&format!("{ID_PREFIX}{lease_id}"))
            .await
    }

    /// Stores a changed lease (renewed, rescheduled) and requeues it.
    pub async fn save(&self, lease: &LeaseEntry) -> Result<(), CoreError> {
        self.barrier
            .put_json(&format!("{ID_PREFIX}{}", lease.lease_id), lease)
            .await?;
        self.track(lease);
        Ok(())
    }

    /// Forgets a lease whose secret is gone.
    pub async fn remove(&self, lease: &LeaseEntry) -> Result<(), CoreError> {
        let mut ops = vec![(format!("{ID_PREFIX}{}", lease.lease_id), None)];
        if let Some(owner) = &lease.owner {
            ops.push((
                format!("{TOKEN_PREFIX}{owner}/{}", lease_hash(&lease.lease_id)),
                None,
            ));
        }
        self.barrier.batch(ops).await?;
        self.untrack(&lease.lease_id);
        Ok(())
    }

    /// A token was revoked: its own lease goes, and the secrets it owned become due now (the
    /// expiry task revokes them through their backends, durably, even across a crash).
    pub async fn token_revoked(&self, token_hash: &str) -> Result<(), CoreError> {
        let dir = format!("{TOKEN_PREFIX}{token_hash}/");
        for key in self.barrier.list(&dir).await? {
            let Some(raw) = self.barrier.get(&format!("{dir}{key}")).await? else {
                continue;
            };
            let id = String::from_utf8_lossy(&raw).into_owned();
            let Some(mut lease) = self.get(&id).await? else {
                self.barrier.delete(&format!("{dir}{key}")).await?;
                continue;
            };
            match &lease.kind {
                LeaseKind::Token { id_hash } if id_hash == token_hash => {
                    self.remove(&lease).await?
                }
                _ => {
                    lease.expire_ms = lease.expire_ms.min(self.barrier.clock().now_ms());
                    self.save(&lease).await?;
                }
            }
        }
        Ok(())
    }

    /// The earliest lease in the queue.
    pub fn next_due(&self) -> Option<(i64, String)> {
        self.queue().by_time.first().cloned()
    }

    /// Revokes `lease` now. On failure the lease stays, rescheduled with backoff (unless
    /// `force`, which forgets it anyway, as `revoke-force` does).
    pub async fn revoke(
        &self,
        mut lease: LeaseEntry,
        revoker: &dyn Revoker,
        force: bool,
    ) -> Result<(), CoreError> {
        match revoker.revoke(&lease).await {
            Ok(()) => self.remove(&lease).await,
            Err(e) if force => {
                tracing::warn!(lease_id = %lease.lease_id, "forced revocation ignores: {e}");
                self.remove(&lease).await
            }
            Err(e) => {
                lease.revoke_attempts = lease.revoke_attempts.saturating_add(1);
                let backoff = 1i64
                    .checked_shl(lease.revoke_attempts.min(20))
                    .unwrap_or(MAX_BACKOFF_SECS)
                    .min(MAX_BACKOFF_SECS);
                lease.expire_ms = self.barrier.clock().now_ms() + backoff * 1000;
                tracing::error!(
                    lease_id = %lease.lease_id,
                    attempts = lease.revoke_attempts,
                    "failed to revoke lease, retrying in {backoff}s: {e}"
                );
                self.save(&lease).await?;
                Err(e)
            }
        }
    }

    /// Revokes every lease due by now. Returns how many were revoked.
    pub async fn expire_due(&self, revoker: &dyn Revoker) -> usize {
        let now = self.barrier.clock().now_ms();
        let mut revoked = 0;
        loop {
            let due = match self.next_due() {
                Some((t, id)) if t <= now => id,
                _ => return revoked,
            };
            self.untrack(&due);
            match self.get(&due).await {
                Ok(Some(lease)) if lease.expire_ms <= now => {
                    if self.revoke(lease, revoker, false).await.is_ok() {
                        revoked += 1;
                    }
                }
                // Renewed meanwhile: back in the queue at its new time.
                Ok(Some(lease)) => self.track(&lease),
                Ok(None) => {}
                Err(e) => tracing::error!(lease_id = %due, "cannot load lease: {e}"),
            }
        }
    }

    /// Every lease id under `prefix` (`auth/token/create`, `database/creds/app/`).
    pub async fn ids_with_prefix(&self, prefix: &str) -> Result<Vec<String>, CoreError> {
        let dir = match prefix.rfind('/') {
            Some(i) => &prefix[..=i],
            None => "",
        };
        let mut out = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            for child in self.barrier.list(&format!("{ID_PREFIX}{d}")).await? {
                let full = format!("{d}{child}");
                if child.ends_with('/') {
                    if full.starts_with(prefix) || prefix.starts_with(&full) {
                        stack.push(full);
                    }
                } else if full.starts_with(prefix) {
                    out.push(full);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The immediate children of `prefix` (`LIST sys/leases/lookup/:prefix`).
    pub async fn children(&self, prefix: &str) -> Result<Vec<String>, CoreError> {
        self.barrier.list(&format!("{ID_PREFIX}{prefix}")).await
    }

    /// Rebuilds the queue from storage. Returns how many leases it found.
    pub async fn restore(&self) -> Result<usize, CoreError> {
        let ids = self.ids_with_prefix("").await?;
        let mut n = 0;
        for id in ids {
            if let Some(lease) = self.get(&id).await? {
                self.track(&lease);
                n += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    fn now_ms() -> i64 {
        tresor_sdk::Clock::system().now_ms()
    }

    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tresor_storage::InmemStorage;

    async fn manager() -> ExpirationManager {
        let barrier = Arc::new(Barrier::new(
            Arc::new(InmemStorage::new()),
            tresor_sdk::Clock::system(),
        ));
        let ring = crate::barrier::Keyring::generate(
            crypto::random_key().unwrap(),
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
        barrier.install(ring);
        ExpirationManager::new(barrier)
    }

    struct Flaky {
        failures_left: AtomicU32,
        calls: AtomicU32,
    }

    #[async_trait::async_trait]
    impl Revoker for Flaky {
        async fn revoke(&self, _lease: &LeaseEntry) -> Result<(), CoreError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.failures_left.load(Ordering::SeqCst) > 0 {
                self.failures_left.fetch_sub(1, Ordering::SeqCst);
                return Err(CoreError::internal("database is down"));
            }
            Ok(())
        }
    }

    fn secret(id: &str, owner: Option<&str>, expire_ms: i64) -> LeaseEntry {
        LeaseEntry {
            lease_id: id.into(),
            path: "db/creds/app".into(),
            owner: owner.map(str::to_owned),
            kind: LeaseKind::Secret {
                mount: "db/".into(),
                internal: Map::new(),
                max_ttl: 0,
                ttl: 60,
            },
            issue_ms: now_ms(),
            expire_ms,
            last_renewal_ms: None,
            renewable: true,
            revoke_attempts: 0,
        }
    }

    #[tokio::test]
    async fn failed_revocations_are_retried_with_backoff_then_forgotten_once_done() {
        let m = manager().await;
        let revoker = Flaky {
            failures_left: AtomicU32::new(2),
            calls: AtomicU32::new(0),
        };
        m.register(&secret("db/creds/app/a", None, now_ms() - 1))
            .await
            .unwrap();
        assert_eq!(m.expire_due(&revoker).await, 0);
        let after_one = m.get("db/creds/app/a").await.unwrap().unwrap();
        assert_eq!(after_one.revoke_attempts, 1);
        assert!(
            after_one.expire_ms > now_ms(),
            "rescheduled into the future"
        );
        // Pretend the backoff passed, twice.
        for expected_attempts in [2, 2] {
            let mut l = m.get("db/creds/app/a").await.unwrap().unwrap();
            l.expire_ms = now_ms() - 1;
            m.save(&l).await.unwrap();
            m.expire_due(&revoker).await;
            if let Some(l) = m.get("db/creds/app/a").await.unwrap() {
                assert_eq!(l.revoke_attempts, expected_attempts);
            }
        }
        assert_eq!(revoker.calls.load(Ordering::SeqCst), 3);
        assert!(
            m.get("db/creds/app/a").await.unwrap().is_none(),
            "gone once revoked"
        );
        assert!(m.next_due().is_none());
    }

    #[tokio::test]
    async fn revoking_the_owner_makes_its_leases_due_and_restore_finds_them() {
        let m = manager().await;
        let later = now_ms() + 3_600_000;
        m.register(&secret("db/creds/app/x", Some("owner1"), later))
            .await
            .unwrap();
        m.register(&secret("db/creds/app/y", Some("owner2"), later))
            .await
            .unwrap();
        m.token_revoked("owner1").await.unwrap();
        assert!(m.get("db/creds/app/x").await.unwrap().unwrap().expire_ms <= now_ms());
        assert_eq!(
            m.get("db/creds/app/y").await.unwrap().unwrap().expire_ms,
            later
        );

        let fresh = ExpirationManager::new(Arc::clone(&m.barrier));
        assert_eq!(fresh.restore().await.unwrap(), 2);
        assert_eq!(fresh.next_due().unwrap().1, "db/creds/app/x");
        assert_eq!(
            fresh.ids_with_prefix("db/creds/app/").await.unwrap(),
            ["db/creds/app/x", "db/creds/app/y"]
        );
        assert_eq!(
            fresh.ids_with_prefix("db/creds/other").await.unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(fresh.children("db/").await.unwrap(), ["creds/"]);
        let ok = Flaky {
            failures_left: AtomicU32::new(0),
            calls: AtomicU32::new(0),
        };
        assert_eq!(fresh.expire_due(&ok).await, 1);
        assert!(fresh.get("db/creds/app/x").await.unwrap().is_none());
    }
}
