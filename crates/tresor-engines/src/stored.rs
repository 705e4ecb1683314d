//! Records a backend keeps in its storage view as JSON. The raw bytes are wiped after use:
//! records may hold passwords (a database root password, a static role's password).

use serde::de::DeserializeOwned;
use serde::Serialize;
use tresor_sdk::{Error, Result, StorageView};
use zeroize::Zeroizing;

/// The record at `key`, if there is one.
pub async fn get_json<T: DeserializeOwned>(view: &dyn StorageView, key: &str) -> Result<Option<T>> {
    match view.get(key).await? {
        None => Ok(None),
        Some(raw) => Ok(Some(serde_json::from_slice(&Zeroizing::new(raw))?)),
    }
}

/// The bytes of a record, for a batch.
pub fn to_json<T: Serialize>(value: &T) -> Result<Zeroizing<Vec<u8>>> {
    serde_json::to_vec(value)
        .map(Zeroizing::new)
        .map_err(Error::internal)
}

/// Stores `value` at `key`.
pub async fn put_json<T: Serialize>(view: &dyn StorageView, key: &str, value: &T) -> Result<()> {
    view.put(key, &to_json(value)?).await
}
