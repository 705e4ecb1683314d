//! ACL policies: parsing (HCL1 or JSON), storage, and compiled ACLs cached per set of policies.

pub mod acl;
mod hcl1;
pub mod model;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub use acl::{Acl, Decision};
pub use model::{Policy, PolicyError};

use crate::barrier::Barrier;
use crate::error::CoreError;

pub(crate) const POLICY_PREFIX: &str = "sys/policy/";
pub const DEFAULT_POLICY: &str = include_str!("default.hcl");

/// Policies by name, and ACLs compiled from them. Compiling happens once per distinct set of
/// policy names and again only after a policy changes, never per request.
pub struct PolicyStore {
    barrier: Arc<Barrier>,
    policies: RwLock<HashMap<String, Arc<Policy>>>,
    acls: RwLock<HashMap<Vec<String>, Arc<Acl>>>,
}

/// The built-in policy of response-wrapping tokens: read the wrapped response, unwrap it. Not
/// stored, listed or changeable, as in Vault.
pub const RESPONSE_WRAPPING: &str = "response-wrapping";
const RESPONSE_WRAPPING_POLICY: &str = r#"
path "cubbyhole/response" {
  capabilities = ["create", "read"]
}
path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}
"#;

fn root_policy() -> Policy {
    Policy {
        name: "root".into(),
        text: String::new(),
        rules: Vec::new(),
    }
}

pub fn normalize_name(name: &str) -> String {
    name.trim().to_lowercase()
}

impl PolicyStore {
    /// Loads every stored policy, writing the shipped `default` policy on first use (only where
    /// `may_write`: a standby keeps it in memory and the active node stores it).
    pub async fn load(barrier: Arc<Barrier>, may_write: bool) -> Result<Self, CoreError> {
        let mut policies = HashMap::new();
        for name in barrier.list(POLICY_PREFIX).await? {
            if name.ends_with('/') {
                continue;
            }
            if let Some(text) = barrier.get(&format!("{POLICY_PREFIX}{name}")).await? {
                let text = String::from_utf8_lossy(&text).into_owned();
                let p = model::parse(&name, &text).map_err(CoreError::internal)?;
                policies.insert(name, Arc::new(p));
            }
        }
        if !policies.contains_key("default") {
            let p = model::parse("default", DEFAULT_POLICY).map_err(CoreError::internal)?;
            if may_write {
                barrier
                    .put(
                        &format!("{POLICY_PREFIX}default"),
                        DEFAULT_POLICY.as_bytes(),
                    )
                    .await?;
            }
            policies.insert("default".into(), Arc::new(p));
        }
        policies.insert("root".into(), Arc::new(root_policy()));
        Ok(PolicyStore {
            barrier,
            policies: RwLock::new(policies),
            acls: RwLock::new(HashMap::new()),
        })
    }

    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .policies
            .read()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    pub fn get(&self, name: &str) -> Option<Arc<Policy>> {
        self.policies
            .read()
            .ok()?
            .get(&normalize_name(name))
            .cloned()
    }

    pub async fn put(&self, name: &str, text: &str) -> Result<(), CoreError> {
        let name = normalize_name(name);
        if name.is_empty() {
            return Err(CoreError::invalid("policy name must be provided"));
        }
        if name == "root" || name == RESPONSE_WRAPPING {
            return Err(CoreError::invalid(format!(
                "cannot update \"{name}\" policy"
            )));
        }
        if name.contains('/') || name.contains("..") {
            return Err(CoreError::invalid(format!(
                "invalid policy name \"{name}\""
            )));
        }
        let policy = model::parse(&name, text).map_err(|e| CoreError::invalid(e.to_string()))?;
        self.barrier
            .put(&format!("{POLICY_PREFIX}{name}"), text.as_bytes())
            .await?;
        if let Ok(mut p) = self.policies.write() {
            p.insert(name, Arc::new(policy));
        }
        self.invalidate();
        Ok(())
    }

    pub async fn delete(&self, name: &str) -> Result<(), CoreError> {
        let name = normalize_name(name);
        if name == "root" || name == "default" {
            return Err(CoreError::invalid(format!("cannot delete {name} policy")));
        }
        self.barrier
            .delete(&format!("{POLICY_PREFIX}{name}"))
            .await?;
        if let Ok(mut p) = self.policies.write() {
            p.remove(&name);
        }
        self.invalidate();
        Ok(())
    }

    fn invalidate(&self) {
        if let Ok(mut a) = self.acls.write() {
            a.clear();
        }
    }

    /// Another node changed the stored policy `name`: take storage's version (or its absence)
    /// and drop every ACL built from the old one.
    pub async fn reload_one(&self, name: &str) -> Result<(), CoreError> {
        let stored = self.barrier.get(&format!("{POLICY_PREFIX}{name}")).await?;
        let parsed = match stored {
            Some(text) => Some(Arc::new(
                model::parse(name, &String::from_utf8_lossy(&text)).map_err(CoreError::internal)?,
            )),
            None => None,
        };
        if let Ok(mut p) = self.policies.write() {
            match parsed {
                Some(policy) => p.insert(name.to_owned(), policy),
                None => p.remove(name),
            };
        }
        self.invalidate();
        Ok(())
    }

    /// The ACL for a set of policy names (unknown names contribute nothing, as in Vault).
    pub fn acl(&self, names: &[String]) -> Arc<Acl> {
        let mut key: Vec<String> = names.iter().map(|n| normalize_name(n)).collect();
        key.sort();
        key.dedup();
        if let Some(a) = self.acls.read().ok().and_then(|a| a.get(&key).cloned()) {
            return a;
        }
        let acl = {
            let policies = self.policies.read();
            let mut found: Vec<Arc<Policy>> = match &policies {
                Ok(p) => key.iter().filter_map(|n| p.get(n).cloned()).collect(),
                Err(_) => Vec::new(),
            };
            if key.iter().any(|n| n == RESPONSE_WRAPPING) {
                if let Ok(p) = model::parse(RESPONSE_WRAPPING, RESPONSE_WRAPPING_POLICY) {
                    found.push(Arc::new(p));
                }
            }
            Arc::new(Acl::new(found.iter().map(|p| p.as_ref())))
        };
        if let Ok(mut a) = self.acls.write() {
            a.insert(key, Arc::clone(&acl));
        }
        acl
    }
}
