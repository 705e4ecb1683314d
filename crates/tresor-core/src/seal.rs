//! The Shamir seal: the unseal key is split into shares at init; a threshold of them rebuilds it;
//! it opens the root key, which opens the keyring.
//!
//! Storage layout (outside the barrier, because the barrier's keys are what they protect):
//! `core/seal-config` (plaintext JSON: shares and threshold — the one unencrypted header) and
//! `core/root-key` (the root key sealed by the unseal key).

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::{self, KEY_LEN};
use crate::error::CoreError;
use crate::shamir;

pub const SEAL_CONFIG_PATH: &str = "core/seal-config";
pub const ROOT_KEY_PATH: &str = "core/root-key";

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct SealConfig {
    pub secret_shares: u32,
    pub secret_threshold: u32,
}

impl SealConfig {
    pub fn validate(&self) -> Result<(), CoreError> {
        self.check()
            .map_err(|m| CoreError::invalid(format!("invalid seal configuration: {m}")))
    }

    fn check(&self) -> Result<(), &'static str> {
        let (n, t) = (self.secret_shares, self.secret_threshold);
        if n < 1 {
            return Err("shares must be at least one");
        }
        if t < 1 {
            return Err("threshold must be at least one");
        }
        if n > 1 && t < 2 {
            return Err("threshold must be greater than one for multiple shares");
        }
        if n > 255 {
            return Err("shares must be less than 256");
        }
        if t > n {
            return Err("threshold cannot be larger than shares");
        }
        Ok(())
    }
}

/// Splits a fresh unseal key into the configured shares. With one share, the share is the key.
pub fn split_unseal_key(
    unseal_key: &[u8; KEY_LEN],
    config: SealConfig,
) -> Result<Vec<Zeroizing<Vec<u8>>>, CoreError> {
    if config.secret_shares == 1 {
        return Ok(vec![Zeroizing::new(unseal_key.to_vec())]);
    }
    let mut rng_failed = false;
    let shares = shamir::split(
        unseal_key,
        config.secret_shares as usize,
        config.secret_threshold as usize,
        |buf| rng_failed |= crypto::fill_random(buf).is_err(),
    )
    .map_err(|e| CoreError::invalid(e.to_string()))?;
    if rng_failed {
        return Err(CoreError::internal("random number generator failed"));
    }
    Ok(shares)
}

/// Rebuilds the unseal key from `threshold` distinct shares.
pub fn combine_shares(
    shares: &[Zeroizing<Vec<u8>>],
    config: SealConfig,
) -> Result<Zeroizing<[u8; KEY_LEN]>, CoreError> {
    let bytes = if config.secret_threshold == 1 {
        shares[0].clone()
    } else {
        let parts: Vec<&[u8]> = shares.iter().map(|s| &s[..]).collect();
        shamir::combine(&parts)
            .map_err(|e| CoreError::invalid(format!("failed to recover unseal key: {e}")))?
    };
    if bytes.len() != KEY_LEN {
        return Err(CoreError::invalid(
            "Error unsealing: wrong key length: the given key shares do not form a valid unseal key",
        ));
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(&bytes);
    Ok(key)
}

pub fn seal_root_key(
    unseal_key: &[u8; KEY_LEN],
    root_key: &[u8; KEY_LEN],
) -> Result<Vec<u8>, CoreError> {
    Ok(crypto::seal(
        unseal_key,
        ROOT_KEY_PATH.as_bytes(),
        root_key,
    )?)
}

/// Opens the root key; a wrong unseal key is a 400, as Vault answers it.
pub fn open_root_key(
    unseal_key: &[u8; KEY_LEN],
    sealed: &[u8],
) -> Result<Zeroizing<[u8; KEY_LEN]>, CoreError> {
    let bytes = crypto::open(unseal_key, ROOT_KEY_PATH.as_bytes(), sealed).map_err(|_| {
        CoreError::invalid(
            "Error unsealing: failed to decrypt keys from storage: cipher: message authentication failed",
        )
    })?;
    if bytes.len() != KEY_LEN {
        return Err(CoreError::internal("stored root key has the wrong length"));
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(&bytes);
    Ok(key)
}

/// An unseal key share as typed by a person: hex (Vault's `keys`) or base64 (`keys_base64`).
/// Its length is checked here, so a mistyped share never counts towards the threshold.
pub fn decode_share(s: &str) -> Result<Zeroizing<Vec<u8>>, CoreError> {
    use base64::Engine;
    let s = s.trim();
    let bytes = match hex::decode(s) {
        Ok(b) => Zeroizing::new(b),
        Err(_) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(Zeroizing::new)
            .map_err(|_| CoreError::invalid("'key' must be a valid hex or base64 string"))?,
    };
    if bytes.len() < MIN_SHARE_LEN {
        return Err(CoreError::invalid(format!(
            "invalid key: key is shorter than minimum {MIN_SHARE_LEN} bytes"
        )));
    }
    if bytes.len() > MAX_SHARE_LEN {
        return Err(CoreError::invalid(format!(
            "invalid key: key is longer than maximum {MAX_SHARE_LEN} bytes"
        )));
    }
    Ok(bytes)
}

/// Vault's bounds on an unseal key or share: a 32-byte key, plus one byte for a share's x.
const MIN_SHARE_LEN: usize = 16;
const MAX_SHARE_LEN: usize = KEY_LEN + 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_reopen_the_root_key() {
        let config = SealConfig {
            secret_shares: 5,
            secret_threshold: 3,
        };
        let unseal = crypto::random_key().unwrap();
        let root = crypto::random_key().unwrap();
        let sealed = seal_root_key(&unseal, &root).unwrap();
        let shares = split_unseal_key(&unseal, config).unwrap();
        assert_eq!(shares.len(), 5);
        let picked = vec![shares[4].clone(), shares[0].clone(), shares[2].clone()];
        let key = combine_shares(&picked, config).unwrap();
        assert_eq!(&open_root_key(&key, &sealed).unwrap()[..], &root[..]);
        let too_few = vec![shares[0].clone(), shares[1].clone()];
        let wrong = combine_shares(&too_few, config).unwrap();
        assert!(matches!(
            open_root_key(&wrong, &sealed),
            Err(CoreError::InvalidRequest(_))
        ));
    }

    #[test]
    fn config_rules_match_vault() {
        let c = |n, t| SealConfig {
            secret_shares: n,
            secret_threshold: t,
        };
        assert!(c(1, 1).validate().is_ok());
        assert!(c(5, 3).validate().is_ok());
        assert!(c(0, 0).validate().is_err());
        assert!(c(3, 1).validate().is_err());
        assert!(c(3, 4).validate().is_err());
        assert!(c(256, 3).validate().is_err());
    }

    #[test]
    fn shares_decode_from_hex_and_base64() {
        let raw: Vec<u8> = (0..33).collect();
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        assert_eq!(&decode_share(&hex::encode(&raw)).unwrap()[..], &raw[..]);
        assert_eq!(&decode_share(&b64).unwrap()[..], &raw[..]);
        assert!(decode_share("not a key!").is_err());
        assert!(decode_share("0aff")
            .unwrap_err()
            .to_string()
            .contains("shorter"));
        assert!(decode_share(&hex::encode([1u8; 34]))
            .unwrap_err()
            .to_string()
            .contains("longer"));
    }
}
