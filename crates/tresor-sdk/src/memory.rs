//! A [`StorageView`] held in memory, for running a backend without a core: the framework's
//! tests and the `request` fuzz target. Lists as the real storage does (direct children,
//! folders with a trailing `/`); a batch is one step.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::{Result, StorageView};

#[derive(Default)]
pub struct MemoryView(Mutex<BTreeMap<String, Vec<u8>>>);

impl MemoryView {
    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        // A panic elsewhere while holding the lock leaves the map whole: every change is one
        // insert or remove.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl StorageView for MemoryView {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.entries().get(key).cloned())
    }
    async fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.entries().insert(key.into(), value.into());
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<()> {
        self.entries().remove(key);
        Ok(())
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for key in self.entries().keys() {
            if let Some(rest) = key.strip_prefix(prefix) {
                let child = match rest.find('/') {
                    Some(i) => &rest[..=i],
                    None => rest,
                };
                if out.last().map(String::as_str) != Some(child) {
                    out.push(child.to_owned());
                }
            }
        }
        Ok(out)
    }
    async fn batch(&self, ops: Vec<(String, Option<Vec<u8>>)>) -> Result<()> {
        let mut entries = self.entries();
        for (k, v) in ops {
            match v {
                Some(v) => entries.insert(k, v),
                None => entries.remove(&k),
            };
        }
        Ok(())
    }
}
