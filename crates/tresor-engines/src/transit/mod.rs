//! The transit secrets engine: encryption as a service. Keys never leave it (unless exported,
//! where allowed); callers send plaintext and get `vault:vN:` ciphertext back, and the other
//! way round.
//!
//! This first part serves the symmetric key types (`aes128-gcm96`, `aes256-gcm96`,
//! `chacha20-poly1305`) and `hmac` keys: key management, encrypt, decrypt, rewrap, data keys,
//! HMAC and its verification, random bytes and hashes, with batches.

mod asym;
mod keys;
mod paths;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::{json, Value};
use tokio::sync::Mutex;
use tresor_sdk::framework::{decode, Decoded, Kind};
use tresor_sdk::{Error, Map, Operation, Request, Response, Result, StorageView};

use keys::{decode64, encode64, KeyPolicy, KeyType};

fn policy_key(name: &str) -> String {
    format!("policy/{name}")
}

#[derive(Default)]
pub struct Transit {
    /// Parsed keys, so that encrypting does not re-read and re-parse the key every time; this
    /// backend is the only writer of its keys.
    cache: RwLock<HashMap<String, Arc<KeyPolicy>>>,
    /// Serialises changes to keys (create, rotate, config, trim, delete).
    writes: Mutex<()>,
    clock: tresor_sdk::Clock,
}

impl Transit {
    pub fn new(clock: tresor_sdk::Clock) -> Self {
        Transit {
            clock,
            ..Transit::default()
        }
    }
}

/// A field of a batch item (or of the request itself, its only item), through the one decoder.
fn item_field<'m>(m: &'m Map, field: &str, kind: Kind) -> Result<Option<Decoded<'m>>> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => decode(field, kind, v).map(Some),
    }
}

/// A batch item's or a single request's field, as text.
fn text(m: &Map, field: &str) -> Result<Option<String>> {
    Ok(match item_field(m, field, Kind::Str)? {
        Some(Decoded::Str(s)) => Some(s.into_owned()),
        _ => None,
    })
}

fn b64_field(m: &Map, field: &str) -> Result<Option<Vec<u8>>> {
    text(m, field)?.map(|s| decode64(&s)).transpose()
}

fn version_field(m: &Map, field: &str) -> Result<Option<u32>> {
    match item_field(m, field, Kind::Int)? {
        Some(Decoded::Int(n)) => u32::try_from(n)
            .map(Some)
            .map_err(|_| Error::invalid(format!("{field} must be a non-negative integer"))),
        _ => Ok(None),
    }
}

fn hmac_algorithm(name: &str) -> Result<aws_lc_rs::hmac::Algorithm> {
    Ok(match name {
        "" | "sha2-256" => aws_lc_rs::hmac::HMAC_SHA256,
        "sha2-384" => aws_lc_rs::hmac::HMAC_SHA384,
        "sha2-512" => aws_lc_rs::hmac::HMAC_SHA512,
        "sha2-224" => aws_lc_rs::hmac::HMAC_SHA224,
        other => return Err(Error::invalid(format!("unsupported algorithm {other}"))),
    })
}

/// The signing options of a batch item (or the request): hash, prehashing, RSA padding,
/// marshaling.
fn sign_options(
    req: &Request,
    item: &Map,
    p: &KeyPolicy,
    url_hash: Option<&str>,
) -> Result<asym::SignOptions> {
    let pick = |field: &str| -> Result<Option<String>> {
        Ok(text(item, field)?.or(text(&req.data, field)?))
    };
    let hash = pick("hash_algorithm")?
        .or(pick("algorithm")?)
        .or(url_hash.map(str::to_owned))
        .unwrap_or_else(|| asym::default_hash(p.kind).to_owned());
    let prehashed = match item_field(item, "prehashed", Kind::Bool)? {
        Some(Decoded::Bool(b)) => b,
        _ => req.bool_field("prehashed")?.unwrap_or(false),
    };
    Ok(asym::SignOptions {
        hash,
        prehashed,
        rsa_padding: pick("signature_algorithm")?.unwrap_or_else(|| "pss".into()),
        marshaling: pick("marshaling_algorithm")?.unwrap_or_else(|| "asn1".into()),
    })
}

/// Whether an encrypt request carries a context (in its first batch item, or itself), which
/// makes the key its upsert creates a derived one, as in Vault.
fn carries_context(req: &Request) -> bool {
    let first = match req.data.get("batch_input") {
        Some(Value::Array(a)) => a.first().and_then(Value::as_object),
        _ => Some(&req.data),
    };
    first
        .and_then(|m| m.get("context"))
        .and_then(Value::as_str)
        .is_some_and(|c| !c.is_empty())
}

/// The items of a request: its `batch_input`, or the request itself as the only one.
fn items(req: &Request) -> Result<(Vec<Map>, bool)> {
    match req.data.get("batch_input") {
        None | Some(Value::Null) => Ok((vec![req.data.clone()], false)),
        Some(Value::Array(a)) => {
            let items = a
                .iter()
                .map(|v| match v {
                    Value::Object(m) => Ok(m.clone()),
                    _ => Err(Error::invalid("batch_input items must be objects")),
                })
                .collect::<Result<Vec<_>>>()?;
            if items.is_empty() {
                return Err(Error::invalid("missing batch input to process"));
            }
            Ok((items, true))
        }
        Some(_) => Err(Error::invalid("batch_input must be a list")),
    }
}

/// Runs `f` on every item. A single request fails as a whole; a batch reports each item's
/// error in its place (with its `reference`) and answers 400 if any failed, as Vault does.
fn each(
    req: &Request,
    error_extra: &[(&str, Value)],
    mut f: impl FnMut(&Map) -> Result<Map>,
) -> Result<Option<Response>> {
    let (items, batch) = items(req)?;
    if !batch {
        return f(&items[0]).map(|d| Some(Response::data(d)));
    }
    let mut failed = false;
    let results: Vec<Value> = items
        .iter()
        .map(|item| {
            let reference = item.get("reference").cloned().unwrap_or(json!(""));
            let mut out = match f(item) {
                Ok(d) => d,
                Err(e) => {
                    failed = true;
                    let mut m: Map = error_extra
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .collect();
                    m.insert("error".into(), e.to_string().into());
                    m
                }
            };
            out.insert("reference".into(), reference);
            Value::Object(out)
        })
        .collect();
    let mut data = Map::new();
    data.insert("batch_results".into(), Value::Array(results));
    Ok(Some(Response {
        data: Some(data),
        status: failed.then_some(400),
        ..Response::default()
    }))
}

impl Transit {
    async fn load(&self, view: &dyn StorageView, name: &str) -> Result<Option<Arc<KeyPolicy>>> {
        if let Some(p) = self
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return Ok(Some(Arc::clone(p)));
        }
        let Some(raw) = view.get(&policy_key(name)).await? else {
            return Ok(None);
        };
        let p: Arc<KeyPolicy> = Arc::new(serde_json::from_slice(&raw)?);
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), Arc::clone(&p));
        Ok(Some(p))
    }

    async fn store(&self, view: &dyn StorageView, p: KeyPolicy) -> Result<Arc<KeyPolicy>> {
        view.put(
            &policy_key(&p.name),
            &serde_json::to_vec(&p).map_err(Error::internal)?,
        )
        .await?;
        let p = Arc::new(p);
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(p.name.clone(), Arc::clone(&p));
        Ok(p)
    }

    async fn existing(&self, view: &dyn StorageView, name: &str) -> Result<Arc<KeyPolicy>> {
        self.load(view, name)
            .await?
            .ok_or_else(|| Error::invalid("encryption key not found"))
    }

    /// Creates a key from the request's settings. The upsert of `encrypt` takes only what
    /// Vault's encrypt takes (`type`, `convergent_encryption`; the key is derived when the
    /// request carries a context): whether a key may ever leave the server is decided by
    /// `keys/:name` alone.
    async fn create(
        &self,
        req: &Request,
        view: &dyn StorageView,
        name: &str,
        upsert: bool,
    ) -> Result<Arc<KeyPolicy>> {
        let _w = self.writes.lock().await;
        if let Some(p) = self.load(view, name).await? {
            return Ok(p);
        }
        let kind = KeyType::parse(&req.str_field("type")?.unwrap_or_default())?;
        if upsert && (!kind.encrypts() || kind.is_rsa()) {
            return Err(Error::invalid(format!(
                "key type {} not supported for this operation",
                kind.name()
            )));
        }
        let mut p = KeyPolicy::new(name, kind, self.clock.now_secs())?;
        p.derived = if upsert {
            carries_context(req)
        } else {
            req.bool_field("derived")?.unwrap_or(false)
        };
        p.convergent_encryption = req.bool_field("convergent_encryption")?.unwrap_or(false);
        if p.convergent_encryption && !p.derived {
            return Err(Error::invalid(
                "convergent encryption requires derivation to be enabled, so context is required",
            ));
        }
        if (p.derived || p.convergent_encryption) && (!kind.encrypts() || kind.is_rsa()) {
            return Err(Error::invalid(format!(
                "key derivation and convergent encryption not supported for keys of type {}",
                kind.name()
            )));
        }
        if upsert {
            return self.store(view, p).await;
        }
        p.exportable = req.bool_field("exportable")?.unwrap_or(false);
        p.allow_plaintext_backup = req.bool_field("allow_plaintext_backup")?.unwrap_or(false);
        p.auto_rotate_period = req.duration_field("auto_rotate_period")?.unwrap_or(0);
        if p.auto_rotate_period != 0 && p.auto_rotate_period < 3600 {
            return Err(Error::invalid(
                "auto rotate period must be 0 to disable or at least an hour",
            ));
        }
        self.store(view, p).await
    }

    /// Changes a key under the write lock: `f` edits a copy, which is stored.
    async fn change(
        &self,
        view: &dyn StorageView,
        name: &str,
        f: impl FnOnce(&mut KeyPolicy) -> Result<()>,
    ) -> Result<Option<Response>> {
        let _w = self.writes.lock().await;
        let current = self.load(view, name).await?.ok_or_else(|| {
            Error::invalid(format!("no existing key named {name} could be found"))
        })?;
        let mut p = (*current).clone();
        f(&mut p)?;
        let p = self.store(view, p).await?;
        Ok(Some(Response::data(p.to_api())))
    }

    fn configure(p: &mut KeyPolicy, req: &Request) -> Result<()> {
        if let Some(v) = version_field(&req.data, "min_decryption_version")? {
            if v > p.latest_version {
                return Err(Error::invalid("cannot set min decryption version to a version greater than the latest version"));
            }
            p.min_decryption_version = v.max(1).max(p.min_available_version);
        }
        if let Some(v) = version_field(&req.data, "min_encryption_version")? {
            if v > p.latest_version {
                return Err(Error::invalid("cannot set min encryption version to a version greater than the latest version"));
            }
            p.min_encryption_version = v;
        }
        if p.min_encryption_version > 0 && p.min_encryption_version < p.min_decryption_version {
            return Err(Error::invalid(
                "min encryption version must not be less than min decryption version",
            ));
        }
        if let Some(b) = req.bool_field("deletion_allowed")? {
            p.deletion_allowed = b;
        }
        if let Some(b) = req.bool_field("exportable")? {
            if p.exportable && !b {
                return Err(Error::invalid(
                    "export cannot be disabled on a key that has it enabled",
                ));
            }
            p.exportable = b;
        }
        if let Some(b) = req.bool_field("allow_plaintext_backup")? {
            if p.allow_plaintext_backup && !b {
                return Err(Error::invalid(
                    "plaintext backup cannot be disabled on a key that has it enabled",
                ));
            }
            p.allow_plaintext_backup = b;
        }
        if let Some(t) = req.duration_field("auto_rotate_period")? {
            if t != 0 && t < 3600 {
                return Err(Error::invalid(
                    "auto rotate period must be 0 to disable or at least an hour",
                ));
            }
            p.auto_rotate_period = t;
        }
        Ok(())
    }

    async fn encrypt(
        &self,
        req: &Request,
        view: &dyn StorageView,
        name: &str,
    ) -> Result<Option<Response>> {
        // A missing key is made only when the ACL allowed `create` (the key may have gone
        // since the existence check said it was there).
        let p = match self.load(view, name).await? {
            Some(_) => self.in_use(view, name).await?,
            None if req.operation == Operation::Create => {
                self.create(req, view, name, true).await?
            }
            None => return Err(Error::invalid("encryption key not found")),
        };
        if !p.kind.encrypts() {
            return Err(Error::invalid(format!(
                "key type {} does not support encryption",
                p.kind.name()
            )));
        }
        let top_version = version_field(&req.data, "key_version")?;
        each(req, &[], |item| {
            let plaintext = b64_field(item, "plaintext")?
                .ok_or_else(|| Error::invalid("missing plaintext to encrypt"))?;
            let context = b64_field(item, "context")?;
            let nonce = b64_field(item, "nonce")?;
            let aad = b64_field(item, "associated_data")?.unwrap_or_default();
            let version = version_field(item, "key_version")?.or(top_version);
            let (ct, v) = p.encrypt(
                &plaintext,
                context.as_deref(),
                nonce.as_deref(),
                &aad,
                version,
            )?;
            let mut d = Map::new();
            d.insert("ciphertext".into(), ct.into());
            d.insert("key_version".into(), v.into());
            Ok(d)
        })
    }

    async fn decrypt(
        &self,
        req: &Request,
        view: &dyn StorageView,
        name: &str,
    ) -> Result<Option<Response>> {
        let p = self.existing(view, name).await?;
        each(req, &[("plaintext", json!(""))], |item| {
            let ct = text(item, "ciphertext")?
                .ok_or_else(|| Error::invalid("missing ciphertext to decrypt"))?;
            let context = b64_field(item, "context")?;
            let aad = b64_field(item, "associated_data")?.unwrap_or_default();
            let plain = p.decrypt(&ct, context.as_deref(), &aad)?;
            let mut d = Map::new();
            d.insert("plaintext".into(), encode64(&plain).into());
            Ok(d)
        })
    }

    async fn rewrap(
        &self,
        req: &Request,
        view: &dyn StorageView,
        name: &str,
    ) -> Result<Option<Response>> {
        let p = self.existing(view, name).await?;
        let top_version = version_field(&req.data, "key_version")?;
        each(req, &[], |item| {
            let ct = text(item, "ciphertext")?
                .ok_or_else(|| Error::invalid("missing ciphertext to decrypt"))?;
            let context = b64_field(item, "context")?;
            let nonce = b64_field(item, "nonce")?;
            let plain = p.decrypt(&ct, context.as_deref(), &[])?;
            let version = version_field(item, "key_version")?.or(top_version);
            let (ct, v) = p.encrypt(&plain, context.as_deref(), nonce.as_deref(), &[], version)?;
            let mut d = Map::new();
            d.insert("ciphertext".into(), ct.into());
            d.insert("key_version".into(), v.into());
            Ok(d)
        })
    }

    async fn datakey(
        &self,
        req: &Request,
        view: &dyn StorageView,
        kind: &str,
        name: &str,
    ) -> Result<Option<Response>> {
        let plaintext_too = match kind {
            "plaintext" => true,
            "wrapped" => false,
            _ => return Err(Error::invalid("invalid type")),
        };
        let p = self.existing(view, name).await?;
        let bits = req.int_field("bits")?.unwrap_or(256);
        if !matches!(bits, 128 | 256 | 512) {
            return Err(Error::invalid("invalid bit length"));
        }
        let mut key = zeroize::Zeroizing::new(vec![0u8; (bits / 8) as usize]);
        aws_lc_rs::rand::fill(&mut key).map_err(|_| Error::internal("no randomness"))?;
        let context = b64_field(&req.data, "context")?;
        let nonce = b64_field(&req.data, "nonce")?;
        let (ct, v) = p.encrypt(&key, context.as_deref(), nonce.as_deref(), &[], None)?;
        let mut d = Map::new();
        d.insert("ciphertext".into(), ct.into());
        d.insert("key_version".into(), v.into());
        if plaintext_too {
            d.insert("plaintext".into(), encode64(&key).into());
        }
        Ok(Some(Response::data(d)))
    }

    async fn hmac(
        &self,
        req: &Request,
        view: &dyn StorageView,
        name: &str,
        alg: &str,
    ) -> Result<Option<Response>> {
        let p = self.existing(view, name).await?;
        let alg = hmac_algorithm(
            &req.str_field("algorithm")?
                .unwrap_or_else(|| alg.to_owned()),
        )?;
        let top_version = version_field(&req.data, "key_version")?;
        each(req, &[], |item| {
            let input = b64_field(item, "input")?
                .ok_or_else(|| Error::invalid("missing input for HMAC"))?;
            let version = version_field(item, "key_version")?.or(top_version);
            let mut d = Map::new();
            d.insert("hmac".into(), p.hmac(&input, alg, version)?.into());
            Ok(d)
        })
    }

    async fn verify(
        &self,
        req: &Request,
        view: &dyn StorageView,
        name: &str,
        url_alg: Option<&str>,
    ) -> Result<Option<Response>> {
        let p = self.existing(view, name).await?;
        let hmac_alg = req
            .str_field("algorithm")?
            .or(url_alg.map(str::to_owned))
            .unwrap_or_default();
        each(req, &[], |item| {
            // What to verify is asked before the input, as Vault asks.
            let (hmac, signature) = match (text(item, "hmac")?, text(item, "signature")?) {
                (Some(_), Some(_)) => {
                    return Err(Error::invalid("provide one of 'signature' or 'hmac'"))
                }
                (None, None) => {
                    return Err(Error::invalid(
                        "neither a 'signature' nor an 'hmac' were given to verify",
                    ))
                }
                pair => pair,
            };
            let input = b64_field(item, "input")?.ok_or_else(|| Error::invalid("missing input"))?;
            let mac = match (hmac, signature) {
                (Some(h), _) => h,
                (None, sig) => {
                    let o = sign_options(req, item, &p, url_alg)?;
                    let mut d = Map::new();
                    let sig = sig.unwrap_or_default();
                    d.insert("valid".into(), p.verify_signature(&input, &sig, &o)?.into());
                    return Ok(d);
                }
            };
            let mut d = Map::new();
            let alg = hmac_algorithm(&hmac_alg)?;
            d.insert("valid".into(), p.verify_hmac(&input, &mac, alg)?.into());
            Ok(d)
        })
    }

    async fn sign(
        &self,
        req: &Request,
        view: &dyn StorageView,
        name: &str,
        url_hash: Option<&str>,
    ) -> Result<Option<Response>> {
        let p = self.in_use(view, name).await?;
        if !p.kind.signs() {
            return Err(Error::invalid(format!(
                "key type {} does not support signing",
                p.kind.name()
            )));
        }
        let top_version = version_field(&req.data, "key_version")?;
        each(req, &[], |item| {
            let input = b64_field(item, "input")?.ok_or_else(|| Error::invalid("missing input"))?;
            let o = sign_options(req, item, &p, url_hash)?;
            let version = version_field(item, "key_version")?.or(top_version);
            let (sig, v) = p.sign(&input, &o, version)?;
            let mut d = Map::new();
            d.insert("signature".into(), sig.into());
            d.insert("key_version".into(), v.into());
            Ok(d)
        })
    }

    /// `export/:type/:name[/:version]`: key material where the key was made exportable;
    /// public keys always.
    async fn export(
        &self,
        view: &dyn StorageView,
        kind: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<Option<Response>> {
        let p = self.existing(view, name).await?;
        if kind != "public-key" && !p.exportable {
            return Err(Error::invalid("private key material is not exportable"));
        }
        let versions: Vec<u32> = match version {
            None => p.versions.keys().copied().collect(),
            Some("latest") => vec![p.latest_version],
            Some(v) => vec![v
                .parse()
                .map_err(|_| Error::invalid("invalid key version"))?],
        };
        let mut keys = Map::new();
        for v in versions {
            keys.insert(v.to_string(), p.export(kind, v)?.into());
        }
        let mut d = Map::new();
        d.insert("name".into(), name.into());
        d.insert("type".into(), p.kind.name().into());
        d.insert("keys".into(), keys.into());
        Ok(Some(Response::data(d)))
    }

    async fn backup(&self, view: &dyn StorageView, name: &str) -> Result<Option<Response>> {
        // The key records its backup (time and version), and the backup carries that record.
        let p = {
            let _w = self.writes.lock().await;
            let mut p = KeyPolicy::clone(&*self.existing(view, name).await?);
            if !p.allow_plaintext_backup || !p.exportable {
                return Err(Error::invalid(
                    "plaintext backup is disallowed on the policy",
                ));
            }
            p.backup_info = Some(keys::Stamp {
                time_ms: self.clock.now_ms(),
                version: p.latest_version,
            });
            self.store(view, p).await?
        };
        let doc = json!({ "format": "tresor-transit-backup-v1", "policy": &*p });
        let mut d = Map::new();
        d.insert("backup".into(), encode64(doc.to_string().as_bytes()).into());
        Ok(Some(Response::data(d)))
    }

    async fn restore(
        &self,
        req: &Request,
        view: &dyn StorageView,
        url_name: Option<&str>,
    ) -> Result<Option<Response>> {
        let backup = req
            .str_field("backup")?
            .ok_or_else(|| Error::invalid("'backup' must be supplied"))?;
        let invalid = || Error::invalid("failed to restore the policy: invalid backup");
        let doc: Value = serde_json::from_slice(&decode64(&backup)?).map_err(|_| invalid())?;
        if doc["format"] != "tresor-transit-backup-v1" {
            return Err(invalid());
        }
        let mut p: KeyPolicy =
            serde_json::from_value(doc["policy"].clone()).map_err(|_| invalid())?;
        if let Some(n) = url_name
            .map(str::to_owned)
            .or(req.str_field("name")?)
            .filter(|n| !n.is_empty())
        {
            p.name = n;
        }
        p.restore_info = Some(keys::Stamp {
            time_ms: self.clock.now_ms(),
            version: p.latest_version,
        });
        let force = req.bool_field("force")?.unwrap_or(false);
        let _w = self.writes.lock().await;
        if !force && self.load(view, &p.name).await?.is_some() {
            return Err(Error::invalid(format!("key \"{}\" already exists", p.name)));
        }
        self.store(view, p).await?;
        Ok(None)
    }

    /// The RSA-4096 key that imported material is wrapped for (`wrapping_key`), made once.
    async fn wrapping_key(&self, view: &dyn StorageView) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        let _w = self.writes.lock().await;
        if let Some(k) = view.get("wrapping_key").await? {
            return Ok(zeroize::Zeroizing::new(k));
        }
        let k = asym::generate(KeyType::Rsa4096)?;
        view.put("wrapping_key", &k).await?;
        Ok(zeroize::Zeroizing::new(k))
    }

    /// `keys/:name/import` and `import_version`: material wrapped as Vault's BYOK expects,
    /// RSA-OAEP(SHA-256) of an ephemeral AES-256 key, then AES-KWP of the material under it.
    async fn import(
        &self,
        req: &Request,
        view: &dyn StorageView,
        name: &str,
        version: bool,
    ) -> Result<Option<Response>> {
        let ciphertext = req
            .str_field("ciphertext")?
            .ok_or_else(|| Error::invalid("ciphertext must be provided to import a key"))?;
        match req.str_field("hash_function")?.as_deref() {
            None | Some("SHA256") => {}
            Some(other) => {
                return Err(Error::invalid(format!(
                    "unsupported hash function {other}; Tresor unwraps with SHA256"
                )))
            }
        }
        let raw = decode64(&ciphertext)?;
        if raw.len() <= 512 {
            return Err(Error::invalid("the wrapped key is too short"));
        }
        let (wrapped_ephemeral, wrapped_key) = raw.split_at(512);
        let wrapping = self.wrapping_key(view).await?;
        let ephemeral = zeroize::Zeroizing::new(
            asym::rsa_decrypt(&wrapping, wrapped_ephemeral)
                .map_err(|_| Error::invalid("failed to unwrap the ephemeral key"))?,
        );
        use aws_lc_rs::key_wrap::{KeyEncryptionKey, KeyWrapPadded, AES_256};
        let kek = KeyEncryptionKey::new(&AES_256, &ephemeral)
            .map_err(|_| Error::invalid("the ephemeral key must be an AES-256 key"))?;
        let mut out = zeroize::Zeroizing::new(vec![0u8; wrapped_key.len()]);
        let material = kek
            .unwrap_with_padding(wrapped_key, &mut out)
            .map_err(|_| Error::invalid("failed to unwrap the imported key"))?
            .to_vec();
        let material = zeroize::Zeroizing::new(material);
        let _w = self.writes.lock().await;
        let existing = self.load(view, name).await?;
        let p = if version {
            let current = existing.ok_or_else(|| {
                Error::invalid(format!("no existing key named {name} could be found"))
            })?;
            if !current.imported_key {
                return Err(Error::invalid(
                    "the key was not imported; import_version is for imported keys",
                ));
            }
            let mut p = (*current).clone();
            p.add_version(&material, self.clock.now_secs())?;
            p
        } else {
            if existing.is_some() {
                return Err(Error::invalid("the import path cannot be used with an existing key; use import_version to update the existing key"));
            }
            let kind = KeyType::parse(&req.str_field("type")?.unwrap_or_default())?;
            let mut p = KeyPolicy::imported(
                name,
                kind,
                &material,
                req.bool_field("allow_rotation")?.unwrap_or(false),
                self.clock.now_secs(),
            )?;
            p.derived = req.bool_field("derived")?.unwrap_or(false);
            p.exportable = req.bool_field("exportable")?.unwrap_or(false);
            p.allow_plaintext_backup = req.bool_field("allow_plaintext_backup")?.unwrap_or(false);
            p.auto_rotate_period = req.duration_field("auto_rotate_period")?.unwrap_or(0);
            p
        };
        self.store(view, p).await?;
        Ok(None)
    }

    /// A key about to be used: rotated first if its `auto_rotate_period` has passed.
    async fn in_use(&self, view: &dyn StorageView, name: &str) -> Result<Arc<KeyPolicy>> {
        let p = self.existing(view, name).await?;
        let now = self.clock.now_secs();
        if p.rotation_due(now) {
            self.change(view, name, |k| {
                if k.rotation_due(now) {
                    k.rotate(now)
                } else {
                    Ok(())
                }
            })
            .await?;
            return self.existing(view, name).await;
        }
        Ok(p)
    }
}
