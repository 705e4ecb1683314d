use async_trait::async_trait;
use tresor_sdk::{Backend, Error, Map, Operation, Request, Response, Result, StorageView};

use super::check_path;

/// KV version 1: each path holds one JSON object, overwritten on write.
pub struct KvV1;

#[async_trait]
impl Backend for KvV1 {
    fn help(&self) -> String {
        tresor_sdk::help_text(
            "The kv backend reads and writes arbitrary secrets to the storage backend. The secrets are\nencrypted/decrypted by Tresor: they are never stored unencrypted in the backend and the\nbackend never has an opportunity to see the unencrypted value.",
            &[("^.*$", "Pass-through secret storage to the storage backend, allowing you to\n        read/write arbitrary data into secret storage.")],
        )
    }

    async fn handle(&self, req: &Request, view: &dyn StorageView) -> Result<Option<Response>> {
        check_path(&req.path)?;
        if req.operation == Operation::List {
            let prefix = if req.path.is_empty() || req.path.ends_with('/') {
                req.path.clone()
            } else {
                format!("{}/", req.path)
            };
            let keys = view.list(&prefix).await?;
            return Ok((!keys.is_empty()).then(|| Response::list(keys)));
        }
        if req.path.is_empty() {
            return Err(Error::UnsupportedOperation);
        }
        match req.operation {
            Operation::Read => match view.get(&req.path).await? {
                None => Ok(None),
                Some(bytes) => Ok(Some(Response::data(serde_json::from_slice::<Map>(&bytes)?))),
            },
            Operation::Create | Operation::Update => {
                if req.data.is_empty() {
                    return Err(Error::invalid("no data provided"));
                }
                view.put(&req.path, &serde_json::to_vec(&req.data)?).await?;
                Ok(None)
            }
            Operation::Delete => {
                view.delete(&req.path).await?;
                Ok(None)
            }
            Operation::Patch | Operation::List => Err(Error::UnsupportedOperation),
        }
    }

    async fn exists(&self, req: &Request, view: &dyn StorageView) -> Result<Option<bool>> {
        Ok(Some(view.get(&req.path).await?.is_some()))
    }
}
