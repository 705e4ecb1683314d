use std::collections::BTreeMap;
use std::sync::RwLock;

use async_trait::async_trait;

use crate::{fold_children, BatchOp, Result, Storage, StorageError};

/// Keeps everything in memory: dev mode and tests. Gone when the process ends.
#[derive(Default)]
pub struct InmemStorage {
    entries: RwLock<BTreeMap<String, Vec<u8>>>,
}

impl InmemStorage {
    pub fn new() -> Self {
        Self::default()
    }
}

fn poisoned<T>(_: T) -> StorageError {
    StorageError::Backend("in-memory store lock poisoned".into())
}

#[async_trait]
impl Storage for InmemStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.entries.read().map_err(poisoned)?.get(key).cloned())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let entries = self.entries.read().map_err(poisoned)?;
        let keys = entries
            .range(prefix.to_owned()..)
            .map(|(k, _)| k.as_str())
            .take_while(|k| k.starts_with(prefix));
        Ok(fold_children(prefix, keys))
    }

    async fn batch(&self, ops: Vec<BatchOp>) -> Result<()> {
        let mut entries = self.entries.write().map_err(poisoned)?;
        for op in ops {
            match op {
                BatchOp::Put(k, v) => {
                    entries.insert(k, v);
                }
                BatchOp::Delete(k) => {
                    entries.remove(&k);
                }
            }
        }
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "inmem"
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn meets_the_contract() {
        crate::contract::check(&super::InmemStorage::new()).await;
    }
}
