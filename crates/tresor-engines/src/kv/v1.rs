use tresor_sdk::framework::{Call, Path, Paths};
use tresor_sdk::{handler, Error, Map, Response, Result};

use super::check_path;

/// KV version 1: each path holds one JSON object, overwritten on write.
pub struct KvV1;

impl Paths for KvV1 {
    const HELP: &'static str = "The kv backend reads and writes arbitrary secrets to the storage backend. The secrets are\nencrypted/decrypted by Tresor: they are never stored unencrypted in the backend and the\nbackend never has an opportunity to see the unencrypted value.";

    fn paths() -> Vec<Path<Self>> {
        vec![Path::new("{path*}")
            .synopsis("Pass-through secret storage to the storage backend, allowing you to\nread/write arbitrary data into secret storage.")
            .description("The pass-through backend reads and writes arbitrary data into secret storage,\nencrypting it along the way.")
            .arbitrary_input()
            .exists(handler!(Self::exists))
            .read(handler!(Self::read))
            .write(handler!(Self::write))
            .delete(handler!(Self::delete))
            .list(handler!(Self::list))]
    }
}

impl KvV1 {
    /// The secret a path names: a mount's root is a directory, not a secret.
    fn key<'c>(c: &'c Call<'_>) -> Result<&'c str> {
        let key = c.param("path");
        check_path(key)?;
        if key.is_empty() {
            return Err(Error::UnsupportedOperation);
        }
        Ok(key)
    }

    async fn exists(&self, c: &Call<'_>) -> Result<bool> {
        Ok(c.view.get(Self::key(c)?).await?.is_some())
    }

    async fn read(&self, c: &Call<'_>) -> Result<Option<Response>> {
        match c.view.get(Self::key(c)?).await? {
            None => Ok(None),
            Some(bytes) => Ok(Some(Response::data(serde_json::from_slice::<Map>(&bytes)?))),
        }
    }

    async fn write(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let key = Self::key(c)?;
        if c.req.data.is_empty() {
            return Err(Error::invalid("missing data fields"));
        }
        c.view.put(key, &serde_json::to_vec(&c.req.data)?).await?;
        Ok(None)
    }

    async fn delete(&self, c: &Call<'_>) -> Result<Option<Response>> {
        c.view.delete(Self::key(c)?).await?;
        Ok(None)
    }

    async fn list(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let path = c.param("path");
        check_path(path)?;
        let prefix = if path.is_empty() || path.ends_with('/') {
            path.to_owned()
        } else {
            format!("{path}/")
        };
        let keys = c.view.list(&prefix).await?;
        Ok((!keys.is_empty()).then(|| Response::list(keys)))
    }
}
