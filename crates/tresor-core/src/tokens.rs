//! The token store: tokens are random `hvs.` strings handed to clients once; the store keeps only
//! their salted HMAC, so a stolen storage file yields no usable token.
//!
//! Only root tokens exist so far; the entry already carries what policies and leases need.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use zeroize::Zeroizing;

use crate::barrier::Barrier;
use crate::crypto;
use crate::error::CoreError;

const SALT_PATH: &str = "sys/token/salt";
const ID_PREFIX: &str = "sys/token/id/";
const ACCESSOR_PREFIX: &str = "sys/token/accessor/";
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenEntry {
    pub accessor: String,
    pub policies: Vec<String>,
    pub path: String,
    pub display_name: String,
    pub creation_time: i64,
    pub ttl: u64,
    pub orphan: bool,
}

impl TokenEntry {
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }
}

/// `len` random characters from the base62 alphabet, without modulo bias.
pub fn random_base62(len: usize) -> Result<String, CoreError> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        crypto::fill_random(&mut buf)?;
        for b in buf {
            // 248 = 4 * 62: bytes above it would favour the first characters.
            if b < 248 && out.len() < len {
                out.push(BASE62[(b % 62) as usize] as char);
            }
        }
    }
    Ok(out)
}

pub struct TokenStore {
    barrier: Arc<Barrier>,
    salt: Zeroizing<Vec<u8>>,
}

impl TokenStore {
    /// Loads the salt, creating it on first use.
    pub async fn load(barrier: Arc<Barrier>) -> Result<Self, CoreError> {
        let salt = match barrier.get(SALT_PATH).await? {
            Some(s) => s,
            None => {
                let s = crypto::random_key()?;
                barrier.put(SALT_PATH, &s[..]).await?;
                Zeroizing::new(s.to_vec())
            }
        };
        Ok(TokenStore { barrier, salt })
    }

    fn hash(&self, token: &str) -> String {
        hex::encode(crypto::hmac_sha256(&self.salt, token.as_bytes()))
    }

    /// Creates a root token; `id` lets dev mode choose it (`-dev-root-token-id`).
    pub async fn create_root(&self, id: Option<String>) -> Result<Zeroizing<String>, CoreError> {
        let token = Zeroizing::new(match id {
            Some(id) if !id.is_empty() => id,
            _ => format!("hvs.{}", random_base62(24)?),
        });
        let entry = TokenEntry {
            accessor: random_base62(24)?,
            policies: vec!["root".into()],
            path: "auth/token/root".into(),
            display_name: "root".into(),
            creation_time: time::OffsetDateTime::now_utc().unix_timestamp(),
            ttl: 0,
            orphan: true,
        };
        let accessor_key = format!("{ACCESSOR_PREFIX}{}", self.hash(&entry.accessor));
        let id_hash = self.hash(&token);
        let entry_bytes = serde_json::to_vec(&entry).map_err(CoreError::internal)?;
        self.barrier
            .batch(vec![
                (format!("{ID_PREFIX}{id_hash}"), Some(entry_bytes)),
                (accessor_key, Some(id_hash.into_bytes())),
            ])
            .await?;
        Ok(token)
    }

    pub async fn lookup(&self, token: &str) -> Result<Option<TokenEntry>, CoreError> {
        if token.is_empty() {
            return Ok(None);
        }
        self.barrier
            .get_json(&format!("{ID_PREFIX}{}", self.hash(token)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base62_tokens_have_vaults_shape() {
        let t = random_base62(24).unwrap();
        assert_eq!(t.len(), 24);
        assert!(t.bytes().all(|b| BASE62.contains(&b)));
        assert_ne!(t, random_base62(24).unwrap());
    }
}
