//! A core in-process, for tests of backends' behaviour: in-memory storage, initialised and
//! unsealed as a dev server is, with a clock the test moves instead of sleeping. Requests go
//! through [`Core::handle`] exactly as the server sends them (token, ACL, audit, leases,
//! wrapping); only HTTP is missing. The black-box suites keep testing HTTP, CLI and clients.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tresor_sdk::clock::ClockHand;
use tresor_sdk::{Clock, Operation, Registry, Response};
use tresor_storage::InmemStorage;

use crate::core::{Core, CoreConfig, CoreRequest};
use crate::error::CoreError;

pub const ROOT: &str = "root";

pub struct Harness {
    pub core: Arc<Core>,
    hand: ClockHand,
}

impl Harness {
    /// A dev core (root token `root`, KV v2 at `secret/`) with the backends of `registry`.
    pub async fn new(registry: Registry) -> Result<Harness, CoreError> {
        let (clock, hand) = Clock::adjustable();
        let config = CoreConfig {
            clock,
            ..CoreConfig::default()
        };
        let core = Core::new(Arc::new(InmemStorage::new()), config, registry);
        core.setup_dev(Some(ROOT.into())).await?;
        Ok(Harness { core, hand })
    }

    /// A request with `token` (`None`: none, as a login).
    pub async fn call(
        &self,
        operation: Operation,
        path: &str,
        token: Option<&str>,
        data: Value,
    ) -> Result<Option<Response>, CoreError> {
        let mut path = path.to_owned();
        if operation == Operation::List && !path.ends_with('/') {
            path.push('/');
        }
        self.core
            .handle(CoreRequest {
                id: crate::crypto::uuid_v4(),
                operation,
                path,
                data: data.as_object().cloned().unwrap_or_default(),
                token: token.map(str::to_owned),
                client_addr: Some(std::net::Ipv4Addr::LOCALHOST.into()),
                wrap_ttl: None,
            })
            .await
    }

    pub async fn read(&self, path: &str) -> Result<Option<Response>, CoreError> {
        self.call(Operation::Read, path, Some(ROOT), Value::Null)
            .await
    }

    pub async fn write(&self, path: &str, data: Value) -> Result<Option<Response>, CoreError> {
        self.call(Operation::Update, path, Some(ROOT), data).await
    }

    pub async fn list(&self, path: &str) -> Result<Option<Response>, CoreError> {
        self.call(Operation::List, path, Some(ROOT), Value::Null)
            .await
    }

    pub async fn delete(&self, path: &str) -> Result<Option<Response>, CoreError> {
        self.call(Operation::Delete, path, Some(ROOT), Value::Null)
            .await
    }

    /// Moves the core's (and every backend's) clock forward.
    pub fn advance(&self, by: Duration) {
        self.hand.advance(by);
    }

    /// Revokes every lease that has fallen due by the clock now, as the expiry task would on
    /// its next tick. Answers how many.
    pub async fn expire(&self) -> Result<usize, CoreError> {
        let active = self.core.active()?;
        Ok(active.expiration.expire_due(active.as_ref()).await)
    }
}
