//! What the auth methods share: a per-mount HMAC salt for what they store of credentials,
//! random identifiers, and times as Vault writes them.

use tresor_sdk::{Error, Result, StorageView};
use zeroize::Zeroizing;

const SALT_KEY: &str = "salt";

/// The mount's HMAC key, created at first use. Credentials (secret IDs, role IDs) are stored
/// only as HMACs under it, so the storage holds nothing that logs in.
pub async fn salt(view: &dyn StorageView) -> Result<aws_lc_rs::hmac::Key> {
    let bytes = Zeroizing::new(match view.get(SALT_KEY).await? {
        Some(b) => b,
        None => {
            let mut b = vec![0u8; 32];
            aws_lc_rs::rand::fill(&mut b).map_err(|_| Error::internal("no randomness"))?;
            view.put(SALT_KEY, &b).await?;
            b
        }
    });
    Ok(aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        &bytes,
    ))
}

pub fn hmac(key: &aws_lc_rs::hmac::Key, value: &str) -> String {
    tresor_sdk::ids::hex(aws_lc_rs::hmac::sign(key, value.as_bytes()).as_ref())
}

pub use tresor_sdk::ids::uuid_v4 as uuid;

/// RFC 3339 with nanoseconds, as Vault prints times; Go's zero time for "never".
pub fn rfc3339(ms: Option<i64>) -> String {
    ms.and_then(tresor_sdk::clock::rfc3339_ms)
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".into())
}
