//! Audit devices: every request is written to each enabled device before it is handled, and
//! its response after. The device table lives in the barrier (`core/audit`), each device with its
//! own random salt for the HMACs that replace secrets in the log. With at least one device
//! enabled, a request that no device could log is refused (fail closed).

mod format;
mod sink;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use format::Hasher;
pub use format::{MountInfo, Record, ResponseView, Stage};
use sink::Sink;

use crate::barrier::Barrier;
use crate::crypto;
use crate::error::CoreError;

const TABLE_PATH: &str = "core/audit";

/// A device as stored: what `sys/audit` shows, plus the salt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceEntry {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
    pub options: BTreeMap<String, String>,
    pub local: bool,
    /// Hex; the HMAC key of this device. Lives only inside the barrier.
    salt: String,
}

impl DeviceEntry {
    pub fn to_api(&self) -> Value {
        json!({
            "type": self.kind,
            "description": self.description,
            "options": self.options,
            "local": self.local,
            "path": self.path,
        })
    }
}

/// The entry format a device writes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Json,
    Jsonx,
}

struct Device {
    entry: DeviceEntry,
    salt: crypto::HmacKey,
    sink: Sink,
    format: Format,
    prefix: String,
    log_raw: bool,
    hmac_accessor: bool,
}

fn bool_option(
    options: &BTreeMap<String, String>,
    key: &str,
    default: bool,
) -> Result<bool, CoreError> {
    match options.get(key).map(String::as_str) {
        None | Some("") => Ok(default),
        Some("true" | "1" | "t" | "T" | "TRUE" | "True") => Ok(true),
        Some("false" | "0" | "f" | "F" | "FALSE" | "False") => Ok(false),
        Some(v) => Err(CoreError::invalid(format!(
            "unable to parse '{key}': invalid boolean \"{v}\""
        ))),
    }
}

impl Device {
    /// Builds the device. With `check`, its sink is opened now, so that an unwritable file or an
    /// unreachable socket is refused when the device is enabled.
    fn open(entry: DeviceEntry, check: bool) -> Result<Device, CoreError> {
        let o = &entry.options;
        let format = match o.get("format").map(String::as_str) {
            None | Some("") | Some("json") => Format::Json,
            Some("jsonx") => Format::Jsonx,
            Some(other) => {
                return Err(CoreError::invalid(format!(
                    "unknown format type \"{other}\""
                )))
            }
        };
        let sink = match entry.kind.as_str() {
            "file" => {
                let path = o
                    .get("file_path")
                    .or_else(|| o.get("path"))
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| CoreError::invalid("file_path is required"))?;
                match path.as_str() {
                    "stdout" => Sink::Stdout,
                    "discard" => Sink::Discard,
                    p => {
                        let mode = match o.get("mode") {
                            Some(m) if !m.is_empty() => u32::from_str_radix(m, 8)
                                .map_err(|_| CoreError::invalid(format!("invalid mode \"{m}\"")))?,
                            _ => 0o600,
                        };
                        Sink::file(p, mode, check).map_err(|e| {
                            CoreError::invalid(format!(
                                "sanity check failed; unable to open \"{p}\" for writing: {e}"
                            ))
                        })?
                    }
                }
            }
            "socket" => {
                let address = o
                    .get("address")
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| CoreError::invalid("address is required"))?;
                let timeout = match o.get("write_timeout") {
                    Some(t) if !t.is_empty() => tresor_sdk::ttl::parse(t)
                        .map_err(CoreError::invalid)?
                        .max(1),
                    _ => 2,
                };
                let socket_type = o.get("socket_type").map(String::as_str).unwrap_or("tcp");
                Sink::socket(address, socket_type, Duration::from_secs(timeout), check).map_err(
                    |e| {
                        CoreError::invalid(format!(
                            "failed to connect to audit socket {address}: {e}"
                        ))
                    },
                )?
            }
            other => {
                return Err(CoreError::invalid(format!(
                    "unknown backend type: \"{other}\""
                )))
            }
        };
        let salt = crypto::HmacKey::new(&Zeroizing::new(
            hex::decode(&entry.salt).map_err(|_| CoreError::internal("audit salt is corrupt"))?,
        ));
        Ok(Device {
            log_raw: bool_option(o, "log_raw", false)?,
            hmac_accessor: bool_option(o, "hmac_accessor", true)?,
            prefix: o.get("prefix").cloned().unwrap_or_default(),
            format,
            sink,
            salt,
            entry,
        })
    }

    fn hasher(&self) -> Hasher<'_> {
        Hasher {
            salt: &self.salt,
            log_raw: self.log_raw,
            hmac_accessor: self.hmac_accessor,
        }
    }

    fn log(&self, record: &Record<'_>, now_ms: i64) -> std::io::Result<()> {
        let mut line = Vec::with_capacity(1024);
        line.extend_from_slice(self.prefix.as_bytes());
        match self.format {
            Format::Json => format::write_entry(&mut line, &self.hasher(), record, now_ms),
            Format::Jsonx => line.extend_from_slice(
                format::jsonx(&format::entry(&self.hasher(), record, now_ms)).as_bytes(),
            ),
        }
        line.push(b'\n');
        self.sink.write_line(&line)
    }
}

/// The enabled devices. Reads (every request) take a read lock; enable/disable a write lock.
pub struct AuditBroker {
    barrier: Arc<Barrier>,
    devices: RwLock<Vec<Arc<Device>>>,
    table_lock: tokio::sync::Mutex<()>,
}

impl AuditBroker {
    pub async fn load(barrier: Arc<Barrier>) -> Result<AuditBroker, CoreError> {
        let table: Vec<DeviceEntry> = barrier.get_json(TABLE_PATH).await?.unwrap_or_default();
        let mut devices = Vec::new();
        for entry in table {
            // Opened lazily: a device that cannot write now still counts, and requests fail
            // closed until it can (its sink retries on every write) or it is disabled.
            devices.push(Arc::new(Device::open(entry, false)?));
        }
        Ok(AuditBroker {
            barrier,
            devices: RwLock::new(devices),
            table_lock: tokio::sync::Mutex::new(()),
        })
    }

    fn snapshot(&self) -> Vec<Arc<Device>> {
        self.devices
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn is_empty(&self) -> bool {
        self.devices
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    pub fn list(&self) -> Vec<DeviceEntry> {
        self.snapshot().iter().map(|d| d.entry.clone()).collect()
    }

    /// Writes `record` to every device. Fails (and the request with it) only when devices are
    /// enabled and not one of them could write.
    pub fn log(&self, record: &Record<'_>) -> Result<(), CoreError> {
        let devices = self.snapshot();
        if devices.is_empty() {
            return Ok(());
        }
        let now = self.barrier.clock().now_ms();
        let mut written = 0;
        for d in &devices {
            match d.log(record, now) {
                Ok(()) => written += 1,
                Err(e) => tracing::error!(path = %d.entry.path, "audit device failed to log: {e}"),
            }
        }
        if written == 0 {
            return Err(CoreError::internal("no audit device could log the request"));
        }
        Ok(())
    }

    /// The hash a device writes for `input` (`sys/audit-hash/:path`).
    pub fn hash(&self, path: &str, input: &str) -> Result<String, CoreError> {
        let path = normalize(path)?;
        let devices = self.snapshot();
        let d = devices
            .iter()
            .find(|d| d.entry.path == path)
            .ok_or_else(|| CoreError::invalid(format!("unknown audit backend \"{path}\"")))?;
        Ok(Hasher {
            salt: &d.salt,
            log_raw: false,
            hmac_accessor: true,
        }
        .hash(input))
    }

    pub async fn enable(
        &self,
        path: &str,
        kind: &str,
        description: &str,
        options: BTreeMap<String, String>,
        local: bool,
    ) -> Result<(), CoreError> {
        let path = normalize(path)?;
        let _guard = self.table_lock.lock().await;
        if self.snapshot().iter().any(|d| d.entry.path == path) {
            return Err(CoreError::invalid(format!("path already in use: {path}")));
        }
        let mut salt = Zeroizing::new([0u8; 32]);
        crypto::fill_random(salt.as_mut()).map_err(CoreError::internal)?;
        let entry = DeviceEntry {
            path: path.clone(),
            kind: kind.to_owned(),
            description: description.to_owned(),
            options,
            local,
            salt: tresor_sdk::ids::hex(salt.as_ref()),
        };
        let device = Arc::new(Device::open(entry, true)?);
        let mut table = self.list();
        table.push(device.entry.clone());
        self.barrier.put_json(TABLE_PATH, &table).await?;
        self.devices
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(device);
        Ok(())
    }

    pub async fn disable(&self, path: &str) -> Result<(), CoreError> {
        let path = normalize(path)?;
        let _guard = self.table_lock.lock().await;
        let table: Vec<DeviceEntry> = self.list().into_iter().filter(|e| e.path != path).collect();
        self.barrier.put_json(TABLE_PATH, &table).await?;
        self.devices
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|d| d.entry.path != path);
        Ok(())
    }

    /// Reopens every file and socket (SIGHUP), so that rotated logs are written afresh.
    pub fn reopen(&self) {
        for d in self.snapshot() {
            if let Err(e) = d.sink.reopen() {
                tracing::error!(path = %d.entry.path, "audit device failed to reopen: {e}");
            }
        }
    }
}

fn normalize(path: &str) -> Result<String, CoreError> {
    let p = path.trim_matches('/');
    if p.is_empty() {
        return Err(CoreError::invalid("missing audit path"));
    }
    Ok(format!("{p}/"))
}
