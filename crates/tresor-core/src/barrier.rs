//! The encrypted barrier: everything above it reads and writes plaintext, everything below it
//! (storage) only ever sees ciphertext.
//!
//! Each value is sealed with AES-256-GCM under the keyring's active term; the term is stored in
//! front of the ciphertext so that after a rotation old entries still open with their own key.
//! The entry's path is the AEAD's associated data.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use tresor_sdk::clock::rfc3339;
use tresor_storage::{BatchOp, Storage};
use zeroize::Zeroizing;

use crate::crypto::{self, KEY_LEN};
use crate::error::CoreError;

/// Where the keyring lives, sealed by the root key.
pub const KEYRING_PATH: &str = "core/keyring";
const ENTRY_VERSION: u8 = 1;

/// The data encryption keys, one per term, and the root key that seals the keyring itself.
/// One write of an atomic batch through the barrier: a key and its new plaintext value, or
/// `None` to delete it.
pub type PlainOp = (String, Option<Vec<u8>>);

pub struct Keyring {
    root_key: Zeroizing<[u8; KEY_LEN]>,
    terms: BTreeMap<u32, Zeroizing<[u8; KEY_LEN]>>,
    /// The same keys, prepared for AES-GCM once rather than on every entry.
    prepared: BTreeMap<u32, crypto::AeadKey>,
    active: u32,
    /// When the active term was installed (RFC 3339), for `sys/key-status`.
    active_since: String,
    /// Entries sealed under the active term, counted so that the term is replaced long before
    /// random 96-bit nonces could repeat (see [`MAX_OPERATIONS`]).
    encryptions: AtomicU64,
}

/// Vault's bound on encryptions under one AES-GCM key with random nonces
/// (`absoluteOperationMaximum`): past it, the chance of a repeated nonce passes 2^-32.
pub const MAX_OPERATIONS: u64 = 3_865_470_566;
/// The least `max_operations` `sys/rotate/config` accepts, as Vault's.
pub const MIN_OPERATIONS: u64 = 1_000_000;

#[derive(Serialize, Deserialize)]
struct StoredKeyring {
    active_term: u32,
    #[serde(default)]
    active_since: String,
    /// Encryptions under the active term when this copy was written.
    #[serde(default)]
    encryptions: u64,
    keys: Vec<StoredKey>,
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    term: u32,
    value: String,
}

impl Keyring {
    /// A new keyring with one fresh term, active since `now`.
    pub fn generate(
        root_key: Zeroizing<[u8; KEY_LEN]>,
        now: time::OffsetDateTime,
    ) -> Result<Self, CoreError> {
        let mut terms = BTreeMap::new();
        terms.insert(1, crypto::random_key()?);
        Ok(Keyring::build(root_key, terms, 1, rfc3339(now), 0))
    }

    fn build(
        root_key: Zeroizing<[u8; KEY_LEN]>,
        terms: BTreeMap<u32, Zeroizing<[u8; KEY_LEN]>>,
        active: u32,
        active_since: String,
        encryptions: u64,
    ) -> Self {
        let prepared = terms
            .iter()
            .map(|(term, key)| (*term, crypto::AeadKey::new(key)))
            .collect();
        Keyring {
            root_key,
            terms,
            prepared,
            active,
            active_since,
            encryptions: AtomicU64::new(encryptions),
        }
    }

    /// Entries sealed under the active term so far.
    pub fn encryptions(&self) -> u64 {
        self.encryptions.load(Ordering::Relaxed)
    }

    pub fn active_term(&self) -> u32 {
        self.active
    }

    pub fn active_since(&self) -> &str {
        &self.active_since
    }

    /// Adds a new term, active from `now`; old terms stay to decrypt old entries.
    pub fn rotate(&self, now: time::OffsetDateTime) -> Result<Self, CoreError> {
        let mut terms = self.terms.clone();
        let next = self.active + 1;
        terms.insert(next, crypto::random_key()?);
        Ok(Keyring::build(
            self.root_key.clone(),
            terms,
            next,
            rfc3339(now),
            0,
        ))
    }

    /// The keyring encrypted under the root key, ready for storage.
    pub fn seal(&self) -> Result<Vec<u8>, CoreError> {
        let stored = StoredKeyring {
            active_term: self.active,
            active_since: self.active_since.clone(),
            encryptions: self.encryptions(),
            keys: self
                .terms
                .iter()
                .map(|(term, k)| StoredKey {
                    term: *term,
                    value: B64.encode(&k[..]),
                })
                .collect(),
        };
        let json = Zeroizing::new(serde_json::to_vec(&stored).map_err(CoreError::internal)?);
        for k in stored.keys {
            drop(Zeroizing::new(k.value));
        }
        Ok(crypto::seal(
            &self.root_key,
            KEYRING_PATH.as_bytes(),
            &json,
        )?)
    }

    /// Opens a stored keyring with the root key; fails if the root key is wrong.
    pub fn open(root_key: Zeroizing<[u8; KEY_LEN]>, sealed: &[u8]) -> Result<Self, CoreError> {
        let json = crypto::open(&root_key, KEYRING_PATH.as_bytes(), sealed)?;
        let stored: StoredKeyring = serde_json::from_slice(&json).map_err(CoreError::internal)?;
        let mut terms = BTreeMap::new();
        for k in stored.keys {
            let value = Zeroizing::new(k.value);
            let bytes = Zeroizing::new(B64.decode(value.as_bytes()).map_err(CoreError::internal)?);
            let mut key = Zeroizing::new([0u8; KEY_LEN]);
            if bytes.len() != KEY_LEN {
                return Err(CoreError::internal("keyring entry of the wrong length"));
            }
            key.copy_from_slice(&bytes);
            terms.insert(k.term, key);
        }
        if !terms.contains_key(&stored.active_term) {
            return Err(CoreError::internal("keyring has no active term"));
        }
        Ok(Keyring::build(
            root_key,
            terms,
            stored.active_term,
            stored.active_since,
            stored.encryptions,
        ))
    }

    fn encrypt(&self, path: &str, plaintext: &[u8]) -> Result<Vec<u8>, CoreError> {
        let mut out = Vec::with_capacity(5 + 12 + plaintext.len() + 16);
        out.extend_from_slice(&self.active.to_be_bytes());
        out.push(ENTRY_VERSION);
        self.encryptions.fetch_add(1, Ordering::Relaxed);
        self.prepared[&self.active].seal_into(&mut out, path.as_bytes(), plaintext)?;
        Ok(out)
    }

    fn decrypt(&self, path: &str, data: &[u8]) -> Result<Zeroizing<Vec<u8>>, CoreError> {
        if data.len() < 5 || data[4] != ENTRY_VERSION {
            return Err(CoreError::internal(format!("corrupt entry at {path}")));
        }
        let term = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
        let key = self
            .prepared
            .get(&term)
            .ok_or_else(|| CoreError::internal(format!("no key for term {term} at {path}")))?;
        key.open(path.as_bytes(), &data[5..])
            .map_err(|_| CoreError::internal(format!("entry at {path} failed authentication")))
    }
}

/// The barrier over a storage backend. Sealed until a keyring is installed.
pub struct Barrier {
    storage: Arc<dyn Storage>,
    clock: tresor_sdk::Clock,
    keyring: RwLock<Option<Arc<Keyring>>>,
    /// Serialises every write of the keyring (rotation, the count's checkpoint), so that two
    /// rotations make two terms and no write brings back an older keyring.
    keyring_writes: tokio::sync::Mutex<()>,
    /// The encryption count last stored with the keyring.
    stored_count: AtomicU64,
}

/// Why the barrier's upkeep rotated the key, if it did.
#[derive(Debug, PartialEq, Eq)]
pub enum AutoRotation {
    /// The active term sealed `max_operations` entries.
    MaxOperations,
    /// The active term is older than the configured interval.
    Interval,
}

impl Barrier {
    /// A sealed barrier over `storage`; `clock` dates key terms and is the time of every part
    /// of the core that shares this barrier.
    pub fn new(storage: Arc<dyn Storage>, clock: tresor_sdk::Clock) -> Self {
        Barrier {
            storage,
            clock,
            keyring: RwLock::new(None),
            keyring_writes: tokio::sync::Mutex::new(()),
            stored_count: AtomicU64::new(0),
        }
    }

    pub fn clock(&self) -> &tresor_sdk::Clock {
        &self.clock
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    pub fn install(&self, keyring: Keyring) {
        self.stored_count
            .store(keyring.encryptions(), Ordering::Relaxed);
        if let Ok(mut k) = self.keyring.write() {
            *k = Some(Arc::new(keyring));
        }
    }

    /// Reads the stored keyring again (another node of the cluster rotated it), opening it with
    /// the root key already held.
    pub async fn reload_keyring(&self) -> Result<(), CoreError> {
        let _writing = self.keyring_writes.lock().await;
        let current = self.keyring()?;
        let sealed = self
            .storage
            .get(KEYRING_PATH)
            .await?
            .ok_or_else(|| CoreError::internal("keyring missing from storage"))?;
        let fresh = Keyring::open(current.root_key.clone(), &sealed)?;
        self.install(fresh);
        Ok(())
    }

    /// Forgets the keys: every later read or write fails with `Sealed`.
    pub fn seal(&self) {
        if let Ok(mut k) = self.keyring.write() {
            *k = None;
        }
    }

    /// Adds a new key term: new writes use it, old entries still open with theirs. The new
    /// keyring is stored (sealed by the root key) before it is used.
    pub async fn rotate(&self) -> Result<(u32, String), CoreError> {
        let _writing = self.keyring_writes.lock().await;
        self.rotate_locked().await
    }

    async fn rotate_locked(&self) -> Result<(u32, String), CoreError> {
        let rotated = self.keyring()?.rotate(self.clock.now())?;
        self.storage.put(KEYRING_PATH, &rotated.seal()?).await?;
        let status = (rotated.active_term(), rotated.active_since().to_owned());
        self.install(rotated);
        Ok(status)
    }

    /// The barrier's upkeep, run about once a second while unsealed: stores the encryption
    /// count with the keyring when it has moved (so a restart resumes it), and rotates the key
    /// once the active term has sealed `max_operations` entries or is older than `interval`
    /// seconds (0: no interval).
    pub async fn upkeep(
        &self,
        max_operations: u64,
        interval: u64,
    ) -> Result<Option<AutoRotation>, CoreError> {
        let _writing = self.keyring_writes.lock().await;
        let ring = self.keyring()?;
        let count = ring.encryptions();
        let age = time::OffsetDateTime::parse(
            ring.active_since(),
            &time::format_description::well_known::Rfc3339,
        )
        .map(|t| (self.clock.now() - t).whole_seconds().max(0) as u64)
        .unwrap_or(0);
        let why = if count >= max_operations.min(MAX_OPERATIONS) {
            Some(AutoRotation::MaxOperations)
        } else if interval > 0 && age >= interval {
            Some(AutoRotation::Interval)
        } else {
            None
        };
        if why.is_some() {
            self.rotate_locked().await?;
        } else if count != self.stored_count.load(Ordering::Relaxed) {
            self.storage.put(KEYRING_PATH, &ring.seal()?).await?;
            self.stored_count.store(count, Ordering::Relaxed);
        }
        Ok(why)
    }

    /// The active term, when it was installed, and how many entries it has sealed.
    pub fn key_status(&self) -> Result<(u32, String, u64), CoreError> {
        let k = self.keyring()?;
        Ok((
            k.active_term(),
            k.active_since().to_owned(),
            k.encryptions(),
        ))
    }

    fn keyring(&self) -> Result<Arc<Keyring>, CoreError> {
        self.keyring
            .read()
            .ok()
            .and_then(|k| k.clone())
            .ok_or(CoreError::Sealed)
    }

    pub async fn get(&self, path: &str) -> Result<Option<Zeroizing<Vec<u8>>>, CoreError> {
        let keyring = self.keyring()?;
        match self.storage.get(path).await? {
            None => Ok(None),
            Some(ct) => Ok(Some(keyring.decrypt(path, &ct)?)),
        }
    }

    pub async fn put(&self, path: &str, value: &[u8]) -> Result<(), CoreError> {
        let ct = self.keyring()?.encrypt(path, value)?;
        Ok(self.storage.put(path, &ct).await?)
    }

    pub async fn delete(&self, path: &str) -> Result<(), CoreError> {
        self.keyring()?;
        Ok(self.storage.delete(path).await?)
    }

    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, CoreError> {
        self.keyring()?;
        Ok(self.storage.list(prefix).await?)
    }

    /// Writes several entries atomically (all encrypted, or none written).
    pub async fn batch(&self, ops: Vec<PlainOp>) -> Result<(), CoreError> {
        let keyring = self.keyring()?;
        let mut out = Vec::with_capacity(ops.len());
        for (path, value) in ops {
            out.push(match value {
                Some(v) => BatchOp::Put(path.clone(), keyring.encrypt(&path, &v)?),
                None => BatchOp::Delete(path),
            });
        }
        Ok(self.storage.batch(out).await?)
    }

    /// Reads and decodes a JSON entry.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Option<T>, CoreError> {
        match self.get(path).await? {
            None => Ok(None),
            Some(bytes) => Ok(Some(
                serde_json::from_slice(&bytes).map_err(CoreError::internal)?,
            )),
        }
    }

    pub async fn put_json<T: Serialize>(&self, path: &str, value: &T) -> Result<(), CoreError> {
        let bytes = Zeroizing::new(serde_json::to_vec(value).map_err(CoreError::internal)?);
        self.put(path, &bytes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tresor_storage::InmemStorage;

    #[tokio::test]
    async fn entries_are_ciphertext_and_survive_rotation() {
        let storage: Arc<dyn Storage> = Arc::new(InmemStorage::new());
        let barrier = Barrier::new(Arc::clone(&storage), tresor_sdk::Clock::system());
        assert!(matches!(barrier.get("x").await, Err(CoreError::Sealed)));
        let ring = Keyring::generate(
            crypto::random_key().unwrap(),
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
        let rotated = ring.rotate(time::OffsetDateTime::now_utc()).unwrap();
        barrier.install(ring);
        barrier.put("a/b", b"plaintext-secret").await.unwrap();
        let raw = storage.get("a/b").await.unwrap().unwrap();
        assert!(!raw.windows(6).any(|w| w == b"secret"));
        assert_eq!(u32::from_be_bytes(raw[..4].try_into().unwrap()), 1);

        barrier.install(rotated);
        barrier.put("a/c", b"second").await.unwrap();
        let raw_c = storage.get("a/c").await.unwrap().unwrap();
        assert_eq!(u32::from_be_bytes(raw_c[..4].try_into().unwrap()), 2);
        assert_eq!(
            &barrier.get("a/b").await.unwrap().unwrap()[..],
            b"plaintext-secret"
        );
        assert_eq!(&barrier.get("a/c").await.unwrap().unwrap()[..], b"second");

        // An entry copied to another path does not open there.
        storage.put("a/d", &raw).await.unwrap();
        assert!(barrier.get("a/d").await.is_err());
    }

    #[tokio::test]
    async fn encryptions_are_counted_kept_and_bound_the_term() {
        let storage: Arc<dyn Storage> = Arc::new(InmemStorage::new());
        let barrier = Barrier::new(Arc::clone(&storage), tresor_sdk::Clock::system());
        let root = crypto::random_key().unwrap();
        let ring = Keyring::generate(root.clone(), time::OffsetDateTime::now_utc()).unwrap();
        storage
            .put(KEYRING_PATH, &ring.seal().unwrap())
            .await
            .unwrap();
        barrier.install(ring);
        for i in 0..5 {
            barrier.put(&format!("k{i}"), b"v").await.unwrap();
        }
        assert_eq!(barrier.key_status().unwrap().2, 5);
        assert_eq!(barrier.upkeep(10, 0).await.unwrap(), None);
        // The count is stored with the keyring and survives a restart.
        let stored = storage.get(KEYRING_PATH).await.unwrap().unwrap();
        assert_eq!(
            Keyring::open(root.clone(), &stored).unwrap().encryptions(),
            5
        );
        for i in 0..5 {
            barrier.put(&format!("j{i}"), b"v").await.unwrap();
        }
        assert_eq!(
            barrier.upkeep(10, 0).await.unwrap(),
            Some(AutoRotation::MaxOperations)
        );
        let (term, _, count) = barrier.key_status().unwrap();
        assert_eq!((term, count), (2, 0));
        let stored = storage.get(KEYRING_PATH).await.unwrap().unwrap();
        assert_eq!(Keyring::open(root, &stored).unwrap().active_term(), 2);
        assert_eq!(&barrier.get("k0").await.unwrap().unwrap()[..], b"v");
    }

    #[tokio::test]
    async fn concurrent_rotations_each_add_a_term() {
        let storage: Arc<dyn Storage> = Arc::new(InmemStorage::new());
        let barrier = Arc::new(Barrier::new(
            Arc::clone(&storage),
            tresor_sdk::Clock::system(),
        ));
        barrier.install(
            Keyring::generate(
                crypto::random_key().unwrap(),
                time::OffsetDateTime::now_utc(),
            )
            .unwrap(),
        );
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let b = Arc::clone(&barrier);
                tokio::spawn(async move { b.rotate().await.unwrap() })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(barrier.key_status().unwrap().0, 9);
    }

    #[test]
    fn keyring_seals_under_the_root_key() {
        let root = crypto::random_key().unwrap();
        let ring = Keyring::generate(root.clone(), time::OffsetDateTime::now_utc())
            .unwrap()
            .rotate(time::OffsetDateTime::now_utc())
            .unwrap();
        let sealed = ring.seal().unwrap();
        let opened = Keyring::open(root, &sealed).unwrap();
        assert_eq!(opened.active_term(), 2);
        assert_eq!(opened.terms.len(), 2);
        assert!(Keyring::open(crypto::random_key().unwrap(), &sealed).is_err());
    }
}
