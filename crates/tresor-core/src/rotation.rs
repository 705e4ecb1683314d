//! Rotation of the barrier's key: `sys/rotate` (by hand), `sys/key-status`, `sys/rotate/config`,
//! and the automatic rotation Vault does once a term has sealed too many entries (or, if asked,
//! has been in use too long).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tresor_sdk::{ttl, Map, Response};

use crate::barrier::{AutoRotation, Barrier, MAX_OPERATIONS, MIN_OPERATIONS};
use crate::core::Active;
use crate::error::CoreError;

/// Where `sys/rotate/config` is kept, in the barrier.
const CONFIG_PATH: &str = "core/rotation-config";
/// Vault's shortest automatic rotation interval.
const MIN_INTERVAL: u64 = 24 * 3600;

/// `sys/rotate/config`: Vault's defaults rotate at the nonce-safety bound and never by age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationConfig {
    pub max_operations: u64,
    /// Seconds; 0: no rotation by age.
    pub interval: u64,
    pub enabled: bool,
}

impl Default for RotationConfig {
    fn default() -> Self {
        RotationConfig {
            max_operations: MAX_OPERATIONS,
            interval: 0,
            enabled: true,
        }
    }
}

impl RotationConfig {
    pub async fn load(barrier: &Barrier) -> Result<Self, CoreError> {
        Ok(barrier.get_json(CONFIG_PATH).await?.unwrap_or_default())
    }

    /// The bound the upkeep applies. Disabling stops rotation by age and by a lowered count,
    /// never at the nonce-safety bound itself.
    fn effective(&self) -> (u64, u64) {
        if self.enabled {
            (self.max_operations, self.interval)
        } else {
            (MAX_OPERATIONS, 0)
        }
    }

    fn to_api(self) -> Map {
        let mut m = Map::new();
        m.insert("max_operations".into(), self.max_operations.into());
        m.insert("enabled".into(), self.enabled.into());
        m.insert(
            "interval".into(),
            match self.interval {
                0 => Value::from(0),
                s => Value::from(ttl::format_go(s)),
            },
        );
        m
    }

    fn update(mut self, data: &Map) -> Result<Self, CoreError> {
        if let Some(v) = data.get("max_operations").filter(|v| !v.is_null()) {
            let n = ttl::parse_value(v)
                .ok()
                .filter(|n| (MIN_OPERATIONS..=MAX_OPERATIONS).contains(n))
                .ok_or_else(|| {
                    CoreError::invalid(format!(
                        "max_operations must be in the range [{MIN_OPERATIONS},{MAX_OPERATIONS}]"
                    ))
                })?;
            self.max_operations = n;
        }
        if let Some(v) = data.get("interval").filter(|v| !v.is_null()) {
            let secs = ttl::parse_value(v)
                .map_err(|e| CoreError::invalid(format!("unable to parse interval: {e}")))?;
            if secs != 0 && secs < MIN_INTERVAL {
                return Err(CoreError::invalid(
                    "interval must be greater or equal to 24h0m0s",
                ));
            }
            self.interval = secs;
        }
        match data.get("enabled") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => self.enabled = *b,
            Some(Value::String(s)) if s == "true" || s == "false" => self.enabled = s == "true",
            Some(other) => {
                return Err(CoreError::invalid(format!(
                    "enabled must be a boolean, got {other}"
                )))
            }
        }
        Ok(self)
    }
}

/// `sys/key-status`: the active key term, when it was installed, and how much it sealed.
pub(crate) fn key_status(barrier: &Barrier) -> Result<Option<Response>, CoreError> {
    let (term, since, encryptions) = barrier.key_status()?;
    let mut m = Map::new();
    m.insert("term".into(), term.into());
    m.insert("install_time".into(), since.into());
    m.insert("encryptions".into(), encryptions.into());
    Ok(Some(Response::data(m)))
}

/// `sys/rotate`: a new key term.
pub(crate) async fn rotate(barrier: &Barrier) -> Result<Option<Response>, CoreError> {
    let (term, _) = barrier.rotate().await?;
    tracing::info!(term, "core: security barrier key rotated");
    Ok(None)
}

/// `sys/rotate/config` (read).
pub(crate) async fn read_config(active: &Active) -> Result<Option<Response>, CoreError> {
    let config = *active.rotation.lock().await;
    Ok(Some(Response::data(config.to_api())))
}

/// `sys/rotate/config` (write): the config is held while the update is stored, so that two
/// updates cannot lose each other's fields.
pub(crate) async fn write_config(
    barrier: &Barrier,
    active: &Active,
    data: &Map,
) -> Result<Option<Response>, CoreError> {
    let mut config = active.rotation.lock().await;
    let updated = config.update(data)?;
    barrier.put_json(CONFIG_PATH, &updated).await?;
    *config = updated;
    Ok(None)
}

/// The barrier's upkeep while unsealed: once a second, keep the encryption count and rotate
/// when the configuration says so. Ends when the server is sealed.
pub(crate) async fn run_upkeep(barrier: std::sync::Arc<Barrier>, active: std::sync::Weak<Active>) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let Some(config) = (match active.upgrade() {
            Some(a) => Some(*a.rotation.lock().await),
            None => None,
        }) else {
            return;
        };
        let (max_operations, interval) = config.effective();
        match barrier.upkeep(max_operations, interval).await {
            Ok(Some(why)) => {
                let reason = match why {
                    AutoRotation::MaxOperations => "reached max operations",
                    AutoRotation::Interval => "rotation interval reached",
                };
                tracing::info!(reason, "core: automatic barrier key rotation");
            }
            Ok(None) => {}
            Err(CoreError::Sealed) => return,
            Err(e) => tracing::warn!(error = %e, "core: barrier upkeep failed"),
        }
    }
}
